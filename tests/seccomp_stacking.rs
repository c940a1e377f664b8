//! An engine's own seccomp profile stacks on bulwark's (issue #16 item 8): bulwark's
//! profile is always loaded, and the engine's runs as a second filter, so where the
//! engine is stricter (a Kubernetes `seccompProfile: Localhost` that denies chmod) its
//! denial holds, and where bulwark is stricter, bulwark's does (seccomp(2): with several
//! filters the kernel returns the action of highest precedence). Profiles that hand
//! syscall decisions to a host agent, or flags that weaken the filter, are refused.

mod common;

use common::{assert_hardened, describe, probe_report, proc_status, unique_id, Bundle, Runtime};
use serde_json::{json, Value};

/// An engine's profile that allows everything but chmod, denied with an errno nothing
/// else answers (ENOTBLK): the probe's chmod shows whose filter decided. LOG is a flag
/// that weakens nothing.
fn denies_chmod() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTBLK}]
    })
}

fn bundle_with_seccomp(args: &[&str], seccomp: Value) -> Bundle {
    let mut bundle = Bundle::new(args);
    bundle.set("/linux/seccomp", seccomp);
    bundle
}

#[test]
fn the_engines_denial_holds_beside_bulwarks_own() {
    let rt = Runtime::new();
    let bundle = bundle_with_seccomp(&["/probe", "report"], denies_chmod());
    let id = unique_id("stack");
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let report = probe_report(&out.stdout);
    assert_eq!(report["syscalls"]["chmod"], "ENOTBLK", "{report}");
    // bulwark's own denials (and its clone3 ENOSYS marker) are all still in force.
    assert_hardened(&report, 65532, 65532);
}

#[test]
fn without_an_engine_profile_only_bulwarks_filter_decides() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("seccomp");
    bundle.write();
    let id = unique_id("stack");
    let report = probe_report(&rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout);
    // bulwark's profile allows chmod: the read-only rootfs answers.
    assert_eq!(report["syscalls"]["chmod"], "EROFS", "{report}");
    assert_hardened(&report, 65532, 65532);
}

#[test]
fn an_exec_runs_under_both_filters() {
    let rt = Runtime::new();
    let bundle = bundle_with_seccomp(&["/probe", "sleep", "300"], denies_chmod());
    let id = unique_id("stack");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_eq!(report["syscalls"]["chmod"], "ENOTBLK", "{report}");
    assert_hardened(&report, 65532, 65532);
    // From the host: the init and an exec'd process each hold exactly the two filters.
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let exec = rt.exec_detached(bundle.path(), &id, &["/probe", "sleep", "300"]);
    for pid in [init, exec] {
        let filters = proc_status(pid, "Seccomp_filters");
        assert_eq!(filters.as_deref(), Some("2"), "pid {pid}");
    }
    rt.ok(&["delete", "--force", &id]);
}

/// A profile libseccomp cannot build (a syscall has at most six arguments) fails the
/// create: the container never runs with only one of the two filters.
#[test]
fn an_engine_profile_that_cannot_be_loaded_fails_the_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let seccomp = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]
    });
    let bundle = bundle_with_seccomp(&["/probe", "report"], seccomp);
    let id = unique_id("stack");
    let args = ["create", "--bundle", bundle.path_str(), &id];
    let out = rt.run(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the engine's seccomp filter"),
        "{}",
        describe(&args, &out)
    );
    rt.assert_nothing_left(&id);
}

/// Each refused profile: the violation names the rule, the JSON path and what is allowed,
/// and the refusal leaves nothing behind.
#[test]
fn profiles_that_hand_decisions_to_a_host_agent_or_weaken_are_refused() {
    let notify_chmod = json!({"names": ["chmod"], "action": "SCMP_ACT_NOTIFY"});
    let cases = [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [notify_chmod]}),
            "[seccomp.notify] linux.seccomp.syscalls[0].action is \"SCMP_ACT_NOTIFY\"",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY",
                   "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ALLOW"}]}),
            "[seccomp.notify] linux.seccomp.defaultAction is \"SCMP_ACT_NOTIFY\"",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                   "syscalls": [denies_chmod()["syscalls"][0]]}),
            "[seccomp.notify] linux.seccomp.listenerPath is \"/run/agent.sock\"",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                   "syscalls": [denies_chmod()["syscalls"][0]]}),
            "[seccomp.flags] linux.seccomp.flags[1] is \"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"",
        ),
    ];
    let rt = Runtime::new();
    for (seccomp, expected) in cases {
        let bundle = bundle_with_seccomp(&["/probe", "report"], seccomp);
        let id = unique_id("stack");
        let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
        assert!(stderr.contains(expected), "want {expected}, got: {stderr}");
        rt.assert_nothing_left(&id);
    }
}
