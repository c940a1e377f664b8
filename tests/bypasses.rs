//! Enforcement bypasses (issue #15): each test is an attack a spec author can make on
//! admission or the baseline, run through the built binary with real containers. Each
//! decides on what the kernel uses (the device a node is, the cgroup a container
//! joins, the directory a bind mounts) rather than on what the spec names, and each was
//! seen to succeed against bulwark before the fix.

mod common;

use std::fs;

use common::{probe_report, unique_id, Bundle, Runtime};
use serde_json::{json, Value};

/// `create` of `bundle` as `id`, asserting a refusal that names every `expected`
/// fragment (rule ids, JSON paths) and leaves nothing behind.
fn assert_refused(rt: &Runtime, bundle: &Bundle, id: &str, expected: &[&str]) -> String {
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), id]);
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "missing {fragment:?} in: {stderr}"
        );
    }
    rt.assert_nothing_left(id);
    stderr
}

// ---------------------------------------------------------------------------
// Devices are decided by type and major:minor, and the device cgroup denies by default.

/// A loop device (block 7:0) created *as* `/dev/zero`, the way `podman run --device
/// /dev/loop0:/dev/zero` writes it, with the allow rule Podman adds. bulwark checked
/// the path only: the container got a readable block device. Refused now, naming the
/// node and the rule.
#[test]
fn a_block_device_named_like_a_standard_node_is_refused() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "stat", "/dev/zero"]);
    bundle.set(
        "/linux/devices",
        json!([{"path": "/dev/zero", "type": "b", "major": 7, "minor": 0,
                "fileMode": 438, "uid": 0, "gid": 0}]),
    );
    bundle.set(
        "/linux/resources/devices",
        json!([{"allow": false, "access": "rwm"},
               {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rwm"}]),
    );
    let id = unique_id("dev-as-zero");
    assert_refused(
        &rt,
        &bundle,
        &id,
        &[
            "[privileged.devices] linux.devices[0]",
            "[privileged.devices] linux.resources.devices[1]",
        ],
    );
}

/// `c *:* rwm` and `b *:* rwm` are allow-all in two rules (the old check caught only
/// type `a`); refused at create and at `update`.
#[test]
fn allow_all_split_into_char_and_block_rules_is_refused_at_create_and_update() {
    let rt = Runtime::new();
    let split = json!([{"allow": true, "type": "c", "access": "rwm"},
                       {"allow": true, "type": "b", "access": "rwm"}]);
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    bundle.set("/linux/resources/devices", split.clone());
    let id = unique_id("dev-split");
    assert_refused(
        &rt,
        &bundle,
        &id,
        &[
            "[privileged.devices] linux.resources.devices[0]",
            "[privileged.devices] linux.resources.devices[1]",
        ],
    );

    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    bundle.set("/linux/resources/devices", json!([]));
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let resources = json!({"devices": split});
    let out = rt.run_with_stdin(
        &["update", "--resources", "-", &id],
        resources.to_string().as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[privileged.devices] linux.resources.devices[0]"),
        "{stderr}"
    );
    assert_eq!(device_cgroup(&id), standard_device_list(), "after update");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// runc's device cgroup as the kernel reports it (`devices.list`) for the baseline's
/// rules: the standard character devices, and libcontainer's own defaults
/// (mknod-only wildcards, /dev/net/tun), and never `a *:* rwm`.
fn standard_device_list() -> Vec<String> {
    let mut list: Vec<String> = [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
        "c 10:200 rwm",
    ]
    .map(str::to_owned)
    .to_vec();
    list.sort();
    list
}

/// The container's cgroup v1 device list, sorted.
fn device_cgroup(id: &str) -> Vec<String> {
    let path = format!("/sys/fs/cgroup/devices/bulwark/{id}/devices.list");
    let mut list: Vec<String> = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect();
    list.sort();
    list
}

/// A spec without device rules (or with only an allow for a standard device) left the
/// v1 device cgroup at its parent's `a *:* rwm`: libcontainer writes no deny of its
/// own. The baseline always starts with deny-all, so the kernel's list is the standard
/// one, and from inside the container a standard node works.
#[test]
fn the_device_cgroup_denies_every_device_but_the_standard_ones() {
    let rt = Runtime::new();
    for (case, rules) in [
        ("none", Value::Null),
        ("empty", json!([])),
        (
            "allow-null",
            json!([{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]),
        ),
    ] {
        let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
        bundle.set("/linux/resources/devices", rules);
        let id = unique_id(&format!("dev-{case}"));
        rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
        let list = device_cgroup(&id);
        assert!(!list.contains(&"a *:* rwm".to_owned()), "{case}: {list:?}");
        assert_eq!(list, standard_device_list(), "{case}");
        // Positive control: a standard node is usable from inside.
        let out = rt.ok(&["exec", &id, "/probe", "read-each", "/dev/zero"]);
        let report = probe_report(&out.stdout);
        assert_eq!(report["/dev/zero"]["result"], "ok", "{case}: {report}");
        rt.ok(&["delete", "--force", &id]);
        rt.assert_nothing_left(&id);
    }
}

/// The standard nodes, spelled as engines write them (Podman's fileMode carries the
/// S_IFCHR bits), are admitted and present inside.
#[test]
fn standard_nodes_by_identity_are_admitted() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "stat", "/dev/full"]);
    bundle.set(
        "/linux/devices",
        json!([{"path": "/dev/full", "type": "c", "major": 1, "minor": 7,
                "fileMode": 8630, "uid": 0, "gid": 0}]),
    );
    let id = unique_id("dev-standard");
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    let node = probe_report(&out.stdout);
    assert_eq!(node["file_type"], "char", "{node}");
    assert_eq!(node["rdev"], "1:7", "{node}");
    rt.assert_nothing_left(&id);
}
