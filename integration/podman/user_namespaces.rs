//! User namespaces through real Podman (issue #19 Phase 0 item 1): `podman exec` into a
//! `--uidmap` container runs in the container's user namespace. libcontainer 0.7's
//! tenant builder never joins `user`, so the exec'd process ran in the host's user
//! namespace as host uid 65532 (src/user_namespace_join.rs).

use std::fs;

use serde_json::json;

use crate::harness::{probe_report, Podman};

const HOST_BASE: u32 = 165_536;
/// The uid/gid the baseline runs a root process as (`baseline.non_root`, default).
const REMAPPED: u32 = 65532;

#[test]
fn podman_exec_into_a_uidmap_container_joins_its_user_namespace() {
    let pm = Podman::new();
    let map = format!("0:{HOST_BASE}:65536");
    let cid = pm.run_detached(&["--uidmap", &map, "--gidmap", &map], &["sleep", "300"]);
    let inspect = pm.podman_ok(&["inspect", "--format", "{{.State.Pid}}", &cid]);
    let init = String::from_utf8_lossy(&inspect.stdout).trim().to_owned();
    let init_ns = fs::read_link(format!("/proc/{init}/ns/user")).unwrap();
    assert_ne!(init_ns, fs::read_link("/proc/self/ns/user").unwrap());

    let exec_args = ["exec", cid.as_str(), "/probe", "report"];
    let out = pm.podman_ok(&exec_args);
    let exec = probe_report(&out);
    let context = || format!("exec: {exec}\n{}", pm.describe(&exec_args, &out));
    assert_eq!(
        exec["user_ns"].as_str(),
        init_ns.to_str(),
        "not the init's user namespace: {}",
        context()
    );
    let uid_map: Vec<&str> = exec["uid_map"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(uid_map, ["0", "165536", "65536"], "{}", context());
    assert_eq!(exec["uid"], json!(REMAPPED), "{}", context());
    assert_eq!(exec["gid"], json!(REMAPPED), "{}", context());
    for set in [
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
    ] {
        assert_eq!(
            exec["caps"][set],
            "0000000000000000",
            "{set}: {}",
            context()
        );
    }
    assert_eq!(exec["no_new_privs"], json!(1), "{}", context());
    assert_eq!(exec["seccomp"], json!(2), "{}", context());
    assert_eq!(exec["syscalls"]["setns"], "EPERM", "{}", context());

    pm.podman_ok(&["rm", "--force", &cid]);
}
