//! `limits: {processes, memory, cpus}` of a bottle: what its agent container may use.

use bb_contract::InputError;
use bb_contract::plan::ResourceLimits;

use super::bottle::{At, at};
use super::walk::{Ctx, get, join};
use super::yaml::{Node, Value};

/// `limits`, every key optional so that layers merge per key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitsSpec {
    pub processes: Option<At<u32>>,
    pub memory: Option<At<u64>>,
    pub cpus: Option<At<f64>>,
}

impl LimitsSpec {
    /// `top` wins per key.
    pub fn overlay(&mut self, top: LimitsSpec) {
        if top.processes.is_some() {
            self.processes = top.processes;
        }
        if top.memory.is_some() {
            self.memory = top.memory;
        }
        if top.cpus.is_some() {
            self.cpus = top.cpus;
        }
    }
}

pub fn parse(ctx: &Ctx, node: &Node) -> Result<LimitsSpec, InputError> {
    let entries = ctx.map(node, "limits")?;
    ctx.check_keys(entries, "limits", ResourceLimits::KEYS)?;
    let mut spec = LimitsSpec::default();
    if let Some(n) = get(entries, "processes") {
        let value = match &n.value {
            Value::Int(i) if (64..=1 << 22).contains(i) => *i as u32,
            _ => {
                return Err(ctx
                    .error(n.line, &join("limits", "processes"), "not a process count")
                    .fix("write a whole number from 64 up, for example `processes: 1024`"));
            }
        };
        spec.processes = Some(at(ctx, n, value));
    }
    if let Some(n) = get(entries, "memory") {
        let text = match &n.value {
            Value::Int(i) => i.to_string(),
            Value::Str(s) => s.clone(),
            _ => String::new(),
        };
        match crate::limits::parse_memory(&text).filter(|b| *b >= 64 << 20) {
            Some(bytes) => spec.memory = Some(at(ctx, n, bytes)),
            None => {
                return Err(ctx
                    .error(
                        n.line,
                        &join("limits", "memory"),
                        "not a memory size of 64m or more",
                    )
                    .fix("write a size such as `memory: 4g` or `memory: 512m`"));
            }
        }
    }
    if let Some(n) = get(entries, "cpus") {
        let value = match &n.value {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            _ => 0.0,
        };
        if !(0.1..=1024.0).contains(&value) {
            return Err(ctx
                .error(n.line, &join("limits", "cpus"), "not a CPU count")
                .fix("write a number such as `cpus: 2` or `cpus: 0.5`"));
        }
        spec.cpus = Some(at(ctx, n, value));
    }
    Ok(spec)
}
