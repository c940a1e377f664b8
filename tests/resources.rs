//! `linux.resources` and `process.rlimits` as requested: every resource setting is
//! applied or refused by name (none silently dropped), for create and `update`, and an
//! rlimit the runtime cannot grant is refused before anything is made, naming it.
//!
//! Needs root and a cgroup v1 (or hybrid) host for the v1 cases, like the other tests.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{describe, unique_id, Bundle, Runtime};
use serde_json::{json, Value};

/// Whether the host mounts cgroup v1 controllers (this project's CI host: hybrid).
fn cgroup_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists()
}

fn oom_control(id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup/memory/bulwark")
        .join(id)
        .join("memory.oom_control")
}

fn oom_kill_disable(id: &str) -> String {
    fs::read_to_string(oom_control(id))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill_disable ").map(str::to_owned))
        .unwrap()
}

#[test]
fn disable_oom_killer_reaches_the_cgroup_on_v1_and_survives_update() {
    if !cgroup_v1() {
        eprintln!("skipped: no cgroup v1 memory controller");
        return;
    }
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.set("/linux/resources/memory/disableOOMKiller", json!(true));
    let id = unique_id("oom-off");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    assert_eq!(oom_kill_disable(&id), "1", "after create");

    // An update that does not mention it keeps it (libcgroups rewrites oom_control on
    // every memory update).
    rt.ok(&["update", "--memory", "96m", &id]);
    assert_eq!(
        oom_kill_disable(&id),
        "1",
        "after an update of the memory limit"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);

    // Left unset, the kernel's default (OOM killer on) stays.
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("oom-on");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    assert_eq!(oom_kill_disable(&id), "0");
    rt.ok(&["delete", "--force", &id]);
}

/// Settings libcontainer 0.7's cgroup manager for this host's cgroup version never
/// writes, each with the JSON path the refusal must name.
fn unapplied_settings() -> Vec<(&'static str, Value, &'static str)> {
    let mut settings = vec![
        (
            "/linux/resources/memory/useHierarchy",
            json!(true),
            "linux.resources.memory.useHierarchy",
        ),
        (
            "/linux/resources/memory/checkBeforeUpdate",
            json!(true),
            "linux.resources.memory.checkBeforeUpdate",
        ),
        (
            "/linux/resources/rdma",
            json!({"mlx5_0": {"hcaHandles": 3}}),
            "linux.resources.rdma",
        ),
        (
            "/linux/resources/memory/highWatermark",
            json!(1),
            "linux.resources.memory.highWatermark",
        ),
        (
            "/linux/resources/cpu/weight",
            json!(100),
            "linux.resources.cpu.weight",
        ),
    ];
    if cgroup_v1() {
        settings.extend([
            (
                "/linux/resources/unified",
                json!({"memory.high": "100000000"}),
                "linux.resources.unified",
            ),
            (
                "/linux/resources/blockIO/weightDevice",
                json!([{"major": 8, "minor": 0, "weight": 500}]),
                "linux.resources.blockIO.weightDevice",
            ),
            (
                "/linux/resources/blockIO/leafWeight",
                json!(500),
                "linux.resources.blockIO.leafWeight",
            ),
        ]);
    } else {
        settings.extend([
            (
                "/linux/resources/memory/disableOOMKiller",
                json!(true),
                "linux.resources.memory.disableOOMKiller",
            ),
            (
                "/linux/resources/memory/swappiness",
                json!(10),
                "linux.resources.memory.swappiness",
            ),
            (
                "/linux/resources/memory/kernel",
                json!(1 << 26),
                "linux.resources.memory.kernel",
            ),
            (
                "/linux/resources/network/classID",
                json!(1048577),
                "linux.resources.network.classID",
            ),
        ]);
    }
    settings
}

#[test]
fn create_refuses_every_resource_setting_it_would_not_apply() {
    let rt = Runtime::new();
    for (pointer, value, path) in unapplied_settings() {
        let mut bundle = Bundle::new(&["/probe", "report"]);
        bundle.set(pointer, value);
        let id = unique_id("unapplied");
        let args = ["create", "--bundle", bundle.path_str(), &id];
        let out = rt.run(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{path}: {}",
            describe(&args, &out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("[resources.unsupported]") && stderr.contains(path),
            "{path}: {stderr}"
        );
        rt.assert_nothing_left(&id);
    }
}

#[test]
fn update_refuses_every_resource_setting_it_would_not_apply() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("update-unapplied");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pids_max = Path::new("/sys/fs/cgroup/pids/bulwark")
        .join(&id)
        .join("pids.max");
    for (pointer, value, path) in unapplied_settings() {
        // With a setting that would apply: a refused update applies nothing.
        let mut request = json!({"pids": {"limit": 50}});
        let mut target = &mut request;
        for key in pointer.trim_start_matches("/linux/resources/").split('/') {
            target = target
                .as_object_mut()
                .unwrap()
                .entry(key)
                .or_insert(json!({}));
        }
        *target = value;
        let args = ["update", "--resources", "-", &id];
        let out = rt.run_with_stdin(&args, request.to_string().as_bytes());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{path}: {}",
            describe(&args, &out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("[resources.unsupported]") && stderr.contains(path),
            "{path}: {stderr}"
        );
    }
    if cgroup_v1() {
        assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "64");
    }
    rt.ok(&["delete", "--force", &id]);
}

/// The runtime's own hard limit for open files (setrlimit(2): raising a hard limit needs
/// CAP_SYS_RESOURCE, and fs.nr_open bounds RLIMIT_NOFILE for everyone).
fn own_nofile_hard() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_max
}

fn nr_open() -> u64 {
    fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// CAP_SYS_RESOURCE is capability 24 (linux/capability.h).
fn has_cap_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    u64::from_str_radix(eff, 16).unwrap() & (1 << 24) != 0
}

#[test]
fn an_rlimit_the_runtime_cannot_grant_is_refused_by_name_before_anything_is_made() {
    let rt = Runtime::new();
    // Above what bulwark could set: past fs.nr_open always, past its own hard limit
    // when it lacks CAP_SYS_RESOURCE (this host).
    let mut too_high = vec![(nr_open() + 1, "fs.nr_open")];
    if !has_cap_sys_resource() {
        too_high.push((own_nofile_hard() + 1, "CAP_SYS_RESOURCE"));
    }
    for (hard, reason) in too_high {
        let mut bundle = Bundle::new(&["/probe", "report"]);
        bundle.set(
            "/process/rlimits",
            json!([
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                {"type": "RLIMIT_NOFILE", "hard": hard, "soft": 1024}
            ]),
        );
        let id = unique_id("rlimit");
        let args = ["create", "--bundle", bundle.path_str(), &id];
        let out = rt.run(&args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("[process.rlimits]")
                && stderr.contains("process.rlimits[1]")
                && stderr.contains("RLIMIT_NOFILE")
                && stderr.contains(reason),
            "hard {hard}: {stderr}"
        );
        rt.assert_nothing_left(&id);
    }

    // soft above hard: setrlimit(2) says EINVAL.
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set(
        "/process/rlimits",
        json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 1024}]),
    );
    let id = unique_id("rlimit-soft");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains("[process.rlimits]") && stderr.contains("process.rlimits[0]"),
        "{stderr}"
    );
    rt.assert_nothing_left(&id);
}

/// cgroup v2 files a spec could set in `linux.resources.unified`, which libcgroups
/// writes after the typed limits: each would lift an admitted limit or write into the
/// cgroup tree (issue #21 item 3).
const LIMIT_LIFTING_UNIFIED_KEYS: [(&str, &str); 5] = [
    ("memory.max", "max"),
    ("cpu.max", "max 100000"),
    ("pids.max", "max"),
    ("io.max", "8:0 rbps=max"),
    ("cgroup.procs", "1"),
];

#[test]
fn unified_keys_that_would_lift_a_limit_are_refused_at_create_and_update_by_name() {
    let rt = Runtime::new();
    let running = Bundle::new(&["/probe", "sleep", "300"]);
    let running_id = unique_id("unified-update");
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        running.path_str(),
        &running_id,
    ]);
    for (key, value) in LIMIT_LIFTING_UNIFIED_KEYS {
        let path = format!("linux.resources.unified[{key:?}]");
        let mut bundle = Bundle::new(&["/probe", "report"]);
        bundle.set("/linux/resources/unified", json!({ key: value }));
        let id = unique_id("unified");
        let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
        assert!(
            stderr.contains("[resources.unified]")
                && stderr.contains(&path)
                && stderr.contains("admission.resources.unified_allowed"),
            "{key}: {stderr}"
        );
        rt.assert_nothing_left(&id);

        let request = json!({"pids": {"limit": 50}, "unified": { key: value }});
        let args = ["update", "--resources", "-", &running_id];
        let out = rt.run_with_stdin(&args, request.to_string().as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
        assert!(
            stderr.contains("[resources.unified]") && stderr.contains(&path),
            "{key}: {stderr}"
        );
    }
    if cgroup_v1() {
        let pids_max = Path::new("/sys/fs/cgroup/pids/bulwark")
            .join(&running_id)
            .join("pids.max");
        assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "64");
    }
    // The key kubelet sets on v2 lifts no limit: this rule lets it pass (on a v1 host
    // `resources.unsupported` still refuses every unified key).
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set("/linux/resources/unified", json!({"memory.oom.group": "1"}));
    let id = unique_id("unified-oom-group");
    let out = rt.run(&["create", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("[resources.unified]"), "{stderr}");
    assert_eq!(out.status.success(), !cgroup_v1(), "{stderr}");
    rt.ok(&["delete", "--force", &id]);
    rt.ok(&["delete", "--force", &running_id]);
}
