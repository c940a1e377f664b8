//! The engine's own seccomp profile. bulwark loads it as a second filter after its own
//! (crate::executor), where the kernel takes the strictest answer of the two; what is
//! refused here are the parts that would let a decision leave the kernel or weaken the
//! filter process-wide, which stacking cannot undo.

use serde_json::Value;

use super::{show, Findings, Input};

pub const NOTIFY: &str = "seccomp.notify";
pub const FLAGS: &str = "seccomp.flags";

const NOTIFY_ACTION: &str = "SCMP_ACT_NOTIFY";

/// Flags that only add logging, synchronise threads or change how a notify waiter is
/// woken; SECCOMP_FILTER_FLAG_SPEC_ALLOW switches off the Speculative Store Bypass
/// mitigation the kernel otherwise enables for a filtered process (seccomp(2)).
const ALLOWED_FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// SCMP_ACT_NOTIFY wins over bulwark's SCMP_ACT_ALLOW and hands the syscall to the
/// agent at `listenerPath`, a host process that may perform it with its own privileges
/// (seccomp_unotify(2)): the decision would no longer be the kernel's.
pub fn host_agent(input: &Input, out: &mut Findings) {
    let Some(seccomp) = input.spec.pointer("/linux/seccomp") else {
        return;
    };
    let allowed = "a profile the kernel decides alone: no SCMP_ACT_NOTIFY and no \
                   listenerPath (bulwark hands no syscall to a host agent)";
    if let Some(path) = seccomp.get("listenerPath").filter(|p| !p.is_null()) {
        out.push("linux.seccomp.listenerPath", show(path), allowed);
    }
    if seccomp["defaultAction"] == NOTIFY_ACTION {
        out.push(
            "linux.seccomp.defaultAction",
            show(&seccomp["defaultAction"]),
            allowed,
        );
    }
    let syscalls = seccomp["syscalls"].as_array().into_iter().flatten();
    for (index, syscall) in syscalls.enumerate() {
        if syscall["action"] == NOTIFY_ACTION {
            out.push(
                format!("linux.seccomp.syscalls[{index}].action"),
                show(&syscall["action"]),
                allowed,
            );
        }
    }
}

pub fn flags(input: &Input, out: &mut Findings) {
    let flags = input
        .spec
        .pointer("/linux/seccomp/flags")
        .and_then(Value::as_array);
    for (index, flag) in flags.into_iter().flatten().enumerate() {
        if !flag.as_str().is_some_and(|f| ALLOWED_FLAGS.contains(&f)) {
            out.push(
                format!("linux.seccomp.flags[{index}]"),
                show(flag),
                format!(
                    "only {} (SECCOMP_FILTER_FLAG_SPEC_ALLOW turns off the Speculative \
                     Store Bypass mitigation)",
                    ALLOWED_FLAGS.join(", ")
                ),
            );
        }
    }
}
