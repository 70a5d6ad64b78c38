//! A terminal session in tmux, driven as a person would: type lines, read the screen.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A private tmux server running `sh` on a 200x50 screen; killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(socket: &str) -> Tmux {
        let tmux = Tmux {
            socket: socket.to_string(),
        };
        let started = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            socket,
            "-x",
            "200",
            "-y",
            "50",
            "sh",
        ]);
        assert!(
            started.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux")
    }

    /// The screen and 200 lines of scrollback.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(
            &self
                .run(&["capture-pane", "-p", "-t", &self.socket, "-S", "-200"])
                .stdout,
        )
        .into_owned()
    }

    /// Types `line` and Enter.
    pub fn type_line(&self, line: &str) {
        self.type_text(line);
        self.keys(&["Enter"]);
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.socket, "-l", text]);
    }

    /// Sends tmux key names (`Enter`, `C-c`, `Escape`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.socket];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits until the screen shows `what`; panics with the screen after `secs`.
    pub fn wait_for(&self, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.screen().contains(what) {
            assert!(
                Instant::now() < deadline,
                "waiting for {what:?}; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the last non-blank line is the shell's `$` prompt.
    pub fn wait_for_prompt(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.screen().lines().rfind(|l| !l.trim().is_empty()) != Some("$") {
            assert!(
                Instant::now() < deadline,
                "no shell prompt: {}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
