//! The proxies as child processes: start, readiness, memory and CPU from `/proc`, stop.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A child that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr in `log`, and appends its pid to `pids` (the
    /// script's trap ends what is left there).
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path, pids: &Path) -> Result<Proc> {
        let out = std::fs::File::create(log)?;
        cmd.stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(pids)?;
        writeln!(f, "{}", child.id())?;
        Ok(Proc {
            name,
            child,
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `addr` accepts a TCP connection (and `also` holds), failing when the child
    /// exits first.
    pub fn wait_ready(&mut self, addr: SocketAddr, also: impl Fn() -> bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() && also() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} is not ready after 60 s:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `VmRSS` in bytes.
    pub fn rss(&self) -> Option<u64> {
        status_kb(self.pid(), "VmRSS:").map(|kb| kb * 1024)
    }

    /// `VmHWM` (the kernel's peak RSS) in bytes.
    pub fn hwm(&self) -> Option<u64> {
        status_kb(self.pid(), "VmHWM:").map(|kb| kb * 1024)
    }

    /// User + system CPU seconds of the whole process.
    pub fn cpu_secs(&self) -> f64 {
        cpu_secs(self.pid()).unwrap_or(f64::NAN)
    }

    /// System CPU seconds and minor page faults of the whole process so far.
    pub fn kernel_side(&self) -> (f64, u64) {
        stat_fields(self.pid())
            .map(|f| (f.stime as f64 / 100.0, f.minflt))
            .unwrap_or((f64::NAN, 0))
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

struct StatFields {
    minflt: u64,
    utime: u64,
    stime: u64,
}

/// From `/proc/<pid>/stat`: minor faults, utime and stime (clock ticks of 1/100 s, the Linux
/// user ABI).
fn stat_fields(pid: u32) -> Option<StatFields> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields count from the last `)`.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i)?.parse().ok();
    Some(StatFields {
        minflt: field(7)?,
        utime: field(11)?,
        stime: field(12)?,
    })
}

/// utime + stime in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    stat_fields(pid).map(|f| (f.utime + f.stime) as f64 / 100.0)
}

/// Samples the RSS of some pids every 50 ms and keeps the peak of each since the last reset.
pub struct Sampler {
    peaks: Arc<Mutex<HashMap<u32, u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pids: Vec<u32>,
}

impl Sampler {
    pub fn start(pids: Vec<u32>) -> Sampler {
        let peaks = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peaks, stop, pids) = (peaks.clone(), stop.clone(), pids.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    sample(&peaks, &pids);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Sampler {
            peaks,
            stop,
            thread: Some(thread),
            pids,
        }
    }

    pub fn reset(&self) {
        self.peaks.lock().unwrap_or_else(|e| e.into_inner()).clear();
        sample(&self.peaks, &self.pids);
    }

    /// The peak RSS (bytes) of `pid` since the last reset, with one last sample now.
    pub fn peak(&self, pid: u32) -> u64 {
        sample(&self.peaks, &self.pids);
        let peaks = self.peaks.lock().unwrap_or_else(|e| e.into_inner());
        peaks.get(&pid).copied().unwrap_or(0)
    }
}

fn sample(peaks: &Mutex<HashMap<u32, u64>>, pids: &[u32]) {
    for &pid in pids {
        if let Some(kb) = status_kb(pid, "VmRSS:") {
            let mut peaks = peaks.lock().unwrap_or_else(|e| e.into_inner());
            let peak = peaks.entry(pid).or_insert(0);
            *peak = (*peak).max(kb * 1024);
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `addr` accepts a TCP connection.
pub fn wait_tcp(addr: SocketAddr, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
        if Instant::now() > deadline {
            bail!("{what} at {addr} does not accept connections after 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
