//! `bb-plan`: stage 1 of bot-bottle. Resolves the manifest (bottles and agents, see
//! [`manifest`]) and the operator's intent into the v1 plan ([`planner`]), and writes the
//! bottle's state folder ([`state`]). [`report`] renders the preflight and `info` text.

pub mod cli;
pub mod limits;
pub mod manifest;
pub mod planner;
pub mod provider;
pub mod report;
pub mod state;

pub use planner::{Host, Planned, Request, Resolution};
