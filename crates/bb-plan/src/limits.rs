//! The agent container's limits: the bottle's `limits` over the defaults of the engine.

use bb_contract::plan::ResourceLimits;
use bb_core::docker::EngineInfo;

use crate::manifest::limits::LimitsSpec;

/// Memory assumed when the engine cannot be asked (the limit then only stops a runaway).
const FALLBACK_MEMORY: u64 = 8 << 30;

/// The defaults for `engine` (or a fallback when it could not be asked), overridden per key by
/// the bottle.
pub fn resolve(spec: &LimitsSpec, engine: Option<&EngineInfo>) -> ResourceLimits {
    let (cpus, memory) = engine.map_or((2, FALLBACK_MEMORY), |e| (e.cpus, e.memory));
    let mut limits = ResourceLimits::defaults_for(cpus, memory);
    if let Some(n) = &spec.processes {
        limits.processes = n.value;
        limits.set_by_bottle.push("processes".into());
    }
    if let Some(n) = &spec.memory {
        limits.memory_bytes = n.value;
        limits.set_by_bottle.push("memory".into());
    }
    if let Some(n) = &spec.cpus {
        limits.cpus = n.value;
        limits.set_by_bottle.push("cpus".into());
    }
    limits
}

/// `512m`, `4g`, `4GiB`, `1073741824` (binary units: k, m, g, with or without `i`/`b`).
pub fn parse_memory(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// `1.5 GiB`, `512 MiB`: for the preflight.
pub fn human_bytes(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::bottle::At;

    fn bare<T>(value: T) -> At<T> {
        At {
            value,
            loc: Default::default(),
        }
    }

    fn engine(cpus: u32, memory: u64) -> EngineInfo {
        EngineInfo {
            runtimes: vec!["runc".into()],
            cpus,
            memory,
        }
    }

    #[test]
    fn defaults_leave_the_host_a_cpu_and_half_its_memory() {
        let l = resolve(&LimitsSpec::default(), Some(&engine(8, 16 << 30)));
        assert_eq!(l.processes, ResourceLimits::DEFAULT_PROCESSES);
        assert_eq!(l.memory_bytes, 8 << 30);
        assert_eq!(l.cpus, 7.0);
        assert!(l.set_by_bottle.is_empty());
        assert_eq!(
            resolve(&LimitsSpec::default(), Some(&engine(1, 1 << 30))).cpus,
            1.0
        );
    }

    #[test]
    fn the_bottle_overrides_each_key() {
        let spec = LimitsSpec {
            processes: Some(bare(256)),
            memory: Some(bare(512 << 20)),
            cpus: None,
        };
        let l = resolve(&spec, Some(&engine(4, 8 << 30)));
        assert_eq!((l.processes, l.memory_bytes, l.cpus), (256, 512 << 20, 3.0));
        assert_eq!(l.set_by_bottle, ["processes", "memory"]);
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512m"), Some(512 << 20));
        assert_eq!(parse_memory("4GiB"), Some(4 << 30));
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(parse_memory("4 tb"), None);
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
