//! `linux.resources.unified`: raw cgroup v2 files libcgroups 0.7 writes verbatim,
//! *after* the typed fields (v2/manager.rs `apply`: the controllers, then `unified`).
//! `{"memory.max": "max"}` there undoes the memory limit `resources.memory-limit`
//! admitted and the policy approved; `cpu.max`, `pids.max`, `io.max` likewise, and a
//! key such as `cgroup.procs` or `cgroup.subtree_control` is no limit at all but a
//! write into the cgroup tree (issue #21 item 3). Only keys the operator lists pass:
//! Kubernetes sets `memory.oom.group` there on cgroup v2 nodes (kill the whole
//! container on OOM), which lifts no limit.

use serde_json::Value;

use super::{show, Findings, Input};

pub const UNIFIED: &str = "resources.unified";

pub fn unified(input: &Input, out: &mut Findings) {
    let Some(entries) = input.spec.pointer("/linux/resources/unified") else {
        return;
    };
    let allowed = &input.config.resources.unified_allowed;
    let allowed_text = || {
        let list = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.join(", ")
        };
        format!(
            "only cgroup v2 files that lift no limit: {list} (admission.resources.unified_allowed); \
             set memory, CPU and pids limits with the typed linux.resources fields"
        )
    };
    let Value::Object(entries) = entries else {
        if !entries.is_null() {
            out.push("linux.resources.unified", show(entries), allowed_text());
        }
        return;
    };
    for (key, value) in entries {
        if !allowed.iter().any(|a| a == key) {
            out.push(
                format!("linux.resources.unified[{key:?}]"),
                show(value),
                allowed_text(),
            );
        }
    }
}
