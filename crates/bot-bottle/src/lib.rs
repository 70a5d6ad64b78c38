//! `bot-bottle`: the thin wrapper that composes the bb-* stages through their libraries, so that
//! a hand-written pipeline and `bot-bottle start` behave the same.

pub mod active;
pub mod bottles;
pub mod cleanup;
pub mod cli;
pub mod commit;
pub mod docs;
pub mod engine_record;
pub mod info;
pub mod init;
pub mod kube_bottles;
pub mod list;
pub mod logs;
pub mod reload;
pub mod resume;
pub mod sidecar_files;
pub mod start;
pub mod stop;
pub mod supervise;
pub mod supervise_save;
pub mod supervise_tui;
pub mod tty;
