//! `linux.resources` settings the container would not get: refused by name rather than
//! dropped. libcontainer 0.7 hands `linux.resources` to libcgroups 0.7, whose v1 and v2
//! managers write some fields and skip others without a word (and serde drops fields
//! the runtime spec does not define). runc 1.1 applies most of them, so a spec written
//! for runc would run with a limit it asked for missing.
//!
//! What libcgroups 0.7 does with each field (v1/*.rs, v2/*.rs of libcgroups-0.7.0):
//! - memory.kernel, kernelTCP, swappiness: written on v1 (v1/memory.rs); v2 has no
//!   such files and v2/memory.rs skips them.
//! - memory.disableOOMKiller: v1 has `memory.oom_control`, but libcontainer always
//!   passes `false` (container_intermediate_process.rs:341); bulwark writes it itself
//!   after create (crate::cgroups::disable_oom_killer). v2 has no such knob.
//! - memory.useHierarchy, checkBeforeUpdate: never read.
//! - blockIO.weightDevice: written on v2 only (v2/io.rs); v1/blkio.rs skips it.
//!   blockIO.leafWeight: skipped on v1, an error on v2 (runc 1.1 writes both on v1).
//! - network.classID, priorities: v1 net_cls/net_prio only; v2 has no such controllers.
//! - rdma: no rdma controller in libcgroups 0.7 (runc 1.1 has one on v1 and v2).
//! - unified: v2 only (v1/manager.rs never reads it; runc 1.1 refuses it on v1).
//!
//! Not silent, so not here: fields a v1 host lacks the controller for (hugetlb,
//! net_cls, net_prio) make libcgroups fail the create (`CGroupRequired`), and v2/cpu.rs
//! fails on a realtime CPU time (which process.scheduling refuses anyway).

use serde_json::Value;

use super::{show, Findings, Input};
use crate::cgroups::{self, Version};

pub const UNSUPPORTED: &str = "resources.unsupported";

/// Where libcgroups 0.7 applies a field: on cgroup v1, on v2.
struct Applied {
    v1: bool,
    v2: bool,
    /// Why it is not applied where it is not (completes "not applied on cgroup vN ...").
    why: &'static str,
}

const BOTH: Applied = Applied {
    v1: true,
    v2: true,
    why: "",
};
const V1_ONLY: Applied = Applied {
    v1: true,
    v2: false,
    why: "cgroup v2 has no such setting (libcgroups 0.7 v2 skips it)",
};
const V2_ONLY: Applied = Applied {
    v1: false,
    v2: true,
    why: "libcgroups 0.7's v1 manager never writes it",
};
const NEITHER: Applied = Applied {
    v1: false,
    v2: false,
    why: "libcgroups 0.7 never writes it",
};

/// A section's fields and where each is applied.
type Fields = &'static [(&'static str, Applied)];

/// The fields of `linux.resources` (runtime-spec config-linux.md "Control groups") and
/// where they are applied. `devices` is bulwark's own (crate::devices).
const TOP: &[(&str, Option<Fields>, Applied)] = &[
    ("devices", None, BOTH),
    ("memory", Some(MEMORY), BOTH),
    ("cpu", Some(CPU), BOTH),
    ("pids", Some(PIDS), BOTH),
    ("blockIO", Some(BLOCK_IO), BOTH),
    ("hugepageLimits", None, BOTH),
    ("network", Some(NETWORK), BOTH),
    ("rdma", None, NEITHER),
    ("unified", None, V2_ONLY),
];

const MEMORY: Fields = &[
    ("limit", BOTH),
    ("reservation", BOTH),
    ("swap", BOTH),
    ("kernel", V1_ONLY),
    ("kernelTCP", V1_ONLY),
    ("swappiness", V1_ONLY),
    (
        "disableOOMKiller",
        Applied {
            v1: true,
            v2: false,
            why: "cgroup v2 has no way to disable the OOM killer",
        },
    ),
    ("useHierarchy", NEITHER),
    ("checkBeforeUpdate", NEITHER),
];

const PIDS: Fields = &[("limit", BOTH)];

const NETWORK: Fields = &[("classID", V1_ONLY), ("priorities", V1_ONLY)];

const CPU: Fields = &[
    ("shares", BOTH),
    ("quota", BOTH),
    ("burst", BOTH),
    ("period", BOTH),
    ("realtimeRuntime", BOTH),
    ("realtimePeriod", BOTH),
    ("cpus", BOTH),
    ("mems", BOTH),
    ("idle", BOTH),
];

const BLOCK_IO: Fields = &[
    ("weight", BOTH),
    ("leafWeight", NEITHER),
    ("weightDevice", V2_ONLY),
    ("throttleReadBpsDevice", BOTH),
    ("throttleWriteBpsDevice", BOTH),
    ("throttleReadIOPSDevice", BOTH),
    ("throttleWriteIOPSDevice", BOTH),
];

pub fn unapplied(input: &Input, out: &mut Findings) {
    let Some(Value::Object(resources)) = input.spec.pointer("/linux/resources") else {
        return;
    };
    // Unknown (unreadable mounts): only what both versions apply passes.
    let version = cgroups::version().ok();
    for (key, value) in resources {
        let path = format!("linux.resources.{key}");
        let Some((_, fields, applied)) = TOP.iter().find(|(name, _, _)| *name == key.as_str())
        else {
            out.push(path, show(value), not_in_spec());
            continue;
        };
        if !requested(key, value) {
            continue;
        }
        if let Some(why) = unapplied_here(applied, version) {
            out.push(path, show(value), why);
            continue;
        }
        let (Some(fields), Value::Object(section)) = (fields, value) else {
            continue;
        };
        for (field, value) in section {
            let path = format!("{path}.{field}");
            match fields.iter().find(|(name, _)| *name == field.as_str()) {
                None => out.push(path, show(value), not_in_spec()),
                Some((_, applied)) if requested(field, value) => {
                    if let Some(why) = unapplied_here(applied, version) {
                        out.push(path, show(value), why);
                    }
                }
                Some(_) => {}
            }
        }
    }
}

/// Whether a value asks for anything: null, an empty list or map, and `false` for the
/// switches whose default it is, ask for nothing.
fn requested(field: &str, value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(false) => !matches!(field, "disableOOMKiller" | "checkBeforeUpdate"),
        _ => true,
    }
}

/// What is allowed instead, if the field is not applied on this host's cgroup version.
fn unapplied_here(applied: &Applied, version: Option<Version>) -> Option<String> {
    let (applies, name) = match version {
        Some(Version::V1) => (applied.v1, "cgroup v1"),
        Some(Version::V2) => (applied.v2, "cgroup v2"),
        None => (applied.v1 && applied.v2, "an unknown cgroup version"),
    };
    (!applies).then(|| {
        format!(
            "leave it unset: bulwark cannot apply it on this host ({name}; {})",
            applied.why
        )
    })
}

fn not_in_spec() -> String {
    "a field of the runtime spec's linux.resources (runtime-spec config-linux.md); \
     libcontainer would drop this one without applying it"
        .to_owned()
}
