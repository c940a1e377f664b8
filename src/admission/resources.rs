//! Resource limits (seeds: "Reject any container config missing CPU/memory/disk
//! limits"). Disk: the rootfs is read-only (baseline) and tmpfs mounts are size-bounded
//! (baseline), so the writable space is bounded by memory.

use serde_json::{json, Value};

use super::{Findings, Input};
use crate::config::AdmissionConfig;

pub const MEMORY: &str = "resources.memory-limit";
pub const CPU: &str = "resources.cpu-limit";
pub const PIDS: &str = "resources.pids-limit";

/// CFS period the kernel uses when a spec sets a quota without one.
const DEFAULT_CPU_PERIOD: u64 = 100_000;

pub fn memory_limit(input: &Input, out: &mut Findings) {
    let max = input.config.resources.max_memory_bytes;
    let path = "linux.resources.memory.limit";
    match input.spec.pointer("/linux/resources/memory/limit").and_then(Value::as_i64) {
        Some(limit) if limit > 0 && limit as u64 <= max => {}
        Some(limit) => out.push(path, limit.to_string(), format!("a memory limit from 1 to {max} bytes (admission.resources.max_memory_bytes)")),
        None => out.push(path, "unset", format!("a memory limit is required, at most {max} bytes (e.g. podman --memory, a Kubernetes memory limit)")),
    }
}

pub fn cpu_limit(input: &Input, out: &mut Findings) {
    let max = input.config.resources.max_cpus;
    let path = "linux.resources.cpu.quota";
    let cpu = input.spec.pointer("/linux/resources/cpu");
    let quota = cpu.and_then(|c| c["quota"].as_i64());
    let period = cpu
        .and_then(|c| c["period"].as_u64())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_CPU_PERIOD);
    match quota {
        Some(quota) if quota > 0 && quota as f64 / period as f64 <= max => {}
        Some(quota) => out.push(path, quota.to_string(), format!("a CPU quota above 0 and at most {max} CPUs (quota/period; admission.resources.max_cpus)")),
        None => out.push(path, "unset", format!("a CPU quota is required, at most {max} CPUs (e.g. podman --cpus, a Kubernetes CPU limit)")),
    }
}

pub fn pids_limit(input: &Input, out: &mut Findings) {
    let max = input.config.resources.max_pids;
    let path = "linux.resources.pids.limit";
    match input
        .spec
        .pointer("/linux/resources/pids/limit")
        .and_then(Value::as_i64)
    {
        Some(limit) if limit > 0 && limit <= max => {}
        Some(limit) => out.push(
            path,
            limit.to_string(),
            format!("a pids limit from 1 to {max} (admission.resources.max_pids)"),
        ),
        None => out.push(
            path,
            "unset",
            format!("a pids limit is required, at most {max} (e.g. podman --pids-limit)"),
        ),
    }
}

/// `podman kube play` gives a pod's containers no pids limit (see
/// `admission.resources.pod_member_pids`); where the operator configured one, a
/// container libpod records as a pod member (`member`, never an annotation) that has
/// none gets it. Returns the JSON path it filled in.
pub fn fill_pod_member_pids(
    spec: &mut Value,
    member: bool,
    config: &AdmissionConfig,
) -> Option<&'static str> {
    let pids = config.resources.pod_member_pids.filter(|_| member)?;
    let pointer = "/linux/resources/pids/limit";
    if !spec.pointer(pointer).is_none_or(Value::is_null) {
        return None;
    }
    set_pointer(spec, pointer, json!(pids));
    Some("linux.resources.pids.limit")
}

/// containerd gives a pod's sandbox (pause) container no limits, and Podman its pod's
/// infra container. Rather than exempt it (an exemption keyed on an annotation anyone
/// can set), bulwark gives it the configured sandbox limits where it has none. `sandbox`:
/// the spec is a CRI sandbox's, or libpod records the container as its pod's infra
/// (crate::engine::binding). Returns the JSON paths it filled in.
pub fn fill_sandbox_limits(
    spec: &mut Value,
    sandbox: bool,
    config: &AdmissionConfig,
) -> Vec<&'static str> {
    if !sandbox {
        return Vec::new();
    }
    let limits = &config.resources;
    let defaults = [
        (
            "/linux/resources/memory/limit",
            "linux.resources.memory.limit",
            json!(limits.sandbox_memory_bytes),
        ),
        (
            "/linux/resources/cpu/quota",
            "linux.resources.cpu.quota",
            json!(limits.sandbox_cpu_quota),
        ),
        (
            "/linux/resources/cpu/period",
            "linux.resources.cpu.period",
            json!(DEFAULT_CPU_PERIOD),
        ),
        (
            "/linux/resources/pids/limit",
            "linux.resources.pids.limit",
            json!(limits.sandbox_pids),
        ),
    ];
    let mut filled = Vec::new();
    for (pointer, path, value) in defaults {
        if spec.pointer(pointer).is_none_or(Value::is_null) {
            set_pointer(spec, pointer, value);
            filled.push(path);
        }
    }
    filled
}

fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let mut target = doc;
    for key in pointer.trim_start_matches('/').split('/') {
        if !target.is_object() {
            *target = json!({});
        }
        target = target
            .as_object_mut()
            .expect("just made an object")
            .entry(key)
            .or_insert(Value::Null);
    }
    *target = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pod_member_without_a_pids_limit_gets_the_operators() {
        let mut config = AdmissionConfig::default();
        let mut unlimited = json!({"linux": {"resources": {}}});
        assert_eq!(fill_pod_member_pids(&mut unlimited, true, &config), None);
        config.resources.pod_member_pids = Some(256);
        assert_eq!(fill_pod_member_pids(&mut unlimited, false, &config), None);
        assert_eq!(
            fill_pod_member_pids(&mut unlimited, true, &config),
            Some("linux.resources.pids.limit")
        );
        assert_eq!(unlimited["linux"]["resources"]["pids"]["limit"], 256);
        let mut own = json!({"linux": {"resources": {"pids": {"limit": 64}}}});
        assert_eq!(fill_pod_member_pids(&mut own, true, &config), None);
        assert_eq!(own["linux"]["resources"]["pids"]["limit"], 64);
    }
}
