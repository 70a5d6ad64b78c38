//! `bot-bottle`: the thin wrapper that composes the bb-* stages through their libraries, so that
//! a hand-written pipeline and `bot-bottle start` behave the same.

pub mod cli;
pub mod info;
pub mod list;
pub mod start;
