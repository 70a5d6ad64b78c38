//! `bb-bench-egress`: the tool behind `scripts/bench egress`.
//!
//! - `certs`: a bench CA with a leaf for the benchmark host (the upstream fixture's), and a
//!   bottle CA for the sidecar (minted the way `bb-ca` does);
//! - `upstream`: the HTTPS fixture (rustls, HTTP/1.1 keep-alive): `GET` answers a small body,
//!   `POST`/`PUT` consume a body of any size and answer its length;
//! - `run`: starts `bb-sidecar` and `mitmdump`, drives the same client through the direct path
//!   and both proxies, samples their RSS and prints the comparison table.
//!
//! The script owns the Docker network, the fixture container, the virtualenv and the temp dir.

mod certs;
mod client;
mod fixture;
mod procs;
mod run;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bb-bench-egress")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the bench CA, the leaf of the benchmark host and a bottle CA into DIR
    Certs {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, default_value = run::DEFAULT_HOST)]
        host: String,
    },
    /// Serve the upstream fixture until killed
    Upstream {
        #[arg(long, default_value = "0.0.0.0:8443")]
        listen: SocketAddr,
        /// The directory `certs` wrote
        #[arg(long, value_name = "DIR")]
        certs: PathBuf,
        /// Accepting threads (one current-thread runtime each)
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Run the benchmark and print the table
    Run(run::Args),
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bb-bench-egress: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    match Cli::parse().command {
        Command::Certs { dir, host } => certs::write_all(&dir, &host),
        Command::Upstream {
            listen,
            certs,
            threads,
        } => fixture::serve(listen, &certs, threads),
        Command::Run(args) => run::run(args),
    }
}
