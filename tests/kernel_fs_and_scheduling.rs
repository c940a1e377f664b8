//! Issue #15, class 7, replayed with real containers through the built binary.
//!
//! Kernel filesystems elsewhere (`mounts.kernel-fs`): linux.maskedPaths and
//! readonlyPaths name paths under /proc and /sys only, so a second procfs or sysfs
//! shows every masked file; libcontainer 0.7 binds cgroup v1 hierarchies read-write
//! and the baseline covers them read-only only at /sys/fs/cgroup under a sysfs at /sys.
//!
//! Each refusal test, should the spec be admitted, reports what the container got
//! (the masked files it read, the read-write cgroup mounts) before failing.

mod common;

use std::fs;

use common::{
    assert_hardened, describe, probe_mount, probe_report, processes_in_cgroup, unique_id, Bundle,
    Runtime,
};
use serde_json::{json, Value};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bundle running `args` with its mounts edited by `edit`; the rootfs has a /mnt.
fn bundle_with_mounts(args: &[&str], edit: impl FnOnce(&mut Vec<Value>)) -> Bundle {
    let mut bundle = Bundle::new(args);
    fs::create_dir_all(bundle.path().join("rootfs/mnt")).unwrap();
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    edit(&mut mounts);
    bundle.set("/mounts", Value::Array(mounts));
    bundle
}

/// `run --detach` of `bundle`, which must be refused with exit 1 and `expected` in the
/// message, leaving nothing; returns what went wrong otherwise. Should the container
/// run, `evidence` describes what it got.
fn refusal_problem(
    rt: &Runtime,
    bundle: &Bundle,
    expected: &str,
    evidence: impl FnOnce(&str, i64) -> String,
) -> Option<String> {
    let id = unique_id("kinds");
    let args = ["run", "--detach", "--bundle", bundle.path_str(), &id];
    let out = rt.run(&args);
    if out.status.success() {
        let pid = rt.state(&id)["pid"].as_i64().unwrap();
        let seen = evidence(&id, pid);
        rt.ok(&["delete", "--force", &id]);
        return Some(format!(
            "admitted (wanted {expected}); the container got: {seen}"
        ));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(1) || !stderr.contains(expected) || !out.stdout.is_empty() {
        return Some(format!("wanted {expected}: {}", describe(&args, &out)));
    }
    let left = rt.leftovers(&id);
    let processes = processes_in_cgroup(&format!("/bulwark/{id}"));
    (!left.is_empty() || !processes.is_empty())
        .then(|| format!("{id} left {left:?}, processes {processes:?}"))
}

/// Fails naming every problem, so one run shows each case.
fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ---------------------------------------------------------------------------
// Class 7: a second procfs or sysfs, a cgroupfs elsewhere

/// Lines of a process's mountinfo for mount points under `prefix`: mount point and
/// per-mount options.
fn mounts_under(pid: i64, prefix: &str) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            fields[4]
                .starts_with(prefix)
                .then(|| format!("{} {}", fields[4], fields[5]))
        })
        .collect()
}

/// What a container with a kernel filesystem away from its place shows.
enum Leak {
    /// Files masked at their usual place, read through the second mount.
    Reads(&'static [&'static str]),
    /// cgroup v1 hierarchies mounted here, read-write.
    CgroupMount(&'static str),
}

impl Leak {
    /// What the container `id` (init `pid`) got: the files it read, or its mounts at
    /// the cgroup place and whether its own memory cgroup's `notify_on_release` takes
    /// a write through them (its current value, written back from the host through
    /// /proc/<pid>/root, so the container's uid cannot hide the mount's state).
    fn evidence(&self, rt: &Runtime, id: &str, pid: i64) -> String {
        match self {
            Leak::Reads(paths) => {
                let mut args = vec!["exec", id, "/probe", "read-each"];
                args.extend_from_slice(paths);
                stdout(&rt.run(&args))
            }
            Leak::CgroupMount(place) => {
                let notify = format!("/proc/{pid}/root{place}/memory/notify_on_release");
                let write = fs::read_to_string(&notify).and_then(|value| fs::write(&notify, value));
                format!(
                    "mounts {:?}; write {notify}: {write:?}",
                    mounts_under(pid, place)
                )
            }
        }
    }
}

/// A procfs at /mnt/proc shows /proc/interrupts, masked at /proc; a sysfs at /mnt/sys
/// shows /sys/firmware; a cgroup mount at /mnt/cg (also spelled
/// `/sys/fs/cgroup/../../../mnt/cg`, which libcontainer resolves to it), or at
/// /sys/fs/cgroup with no sysfs at /sys, gets libcontainer's read-write cgroup v1
/// binds. Each is refused naming the rule, the field and the destination, and nothing
/// is left.
#[test]
fn procfs_sysfs_and_cgroupfs_away_from_their_places_are_refused() {
    let rt = Runtime::new();
    let with_mount = |kind: &str, destination: &str| {
        let mount = json!({"destination": destination, "type": kind, "source": kind,
                           "options": ["nosuid", "noexec", "nodev", "ro"]});
        bundle_with_mounts(&["/probe", "sleep", "300"], |mounts| mounts.push(mount))
    };
    let no_sysfs = bundle_with_mounts(&["/probe", "sleep", "300"], |mounts| {
        mounts.retain(|m| m["type"] != "sysfs");
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup",
                           "source": "cgroup", "options": ["ro"]}));
    });
    let cases = [
        (
            with_mount("proc", "/mnt/proc"),
            r#"[mounts.kernel-fs] mounts[7].destination is "/mnt/proc": proc only at /proc"#,
            Leak::Reads(&["/proc/interrupts", "/mnt/proc/interrupts"]),
        ),
        (
            with_mount("sysfs", "/mnt/sys"),
            r#"[mounts.kernel-fs] mounts[7].destination is "/mnt/sys": sysfs only at /sys"#,
            Leak::Reads(&[
                "/sys/firmware/memmap/0/type",
                "/mnt/sys/firmware/memmap/0/type",
            ]),
        ),
        (
            with_mount("cgroup", "/mnt/cg"),
            r#"[mounts.kernel-fs] mounts[7].destination is "/mnt/cg": cgroup only at /sys/fs/cgroup"#,
            Leak::CgroupMount("/mnt/cg"),
        ),
        (
            with_mount("cgroup", "/sys/fs/cgroup/../../../mnt/cg"),
            r#"[mounts.kernel-fs] mounts[7].destination is "/sys/fs/cgroup/../../../mnt/cg": cgroup only at /sys/fs/cgroup, spelled without "..""#,
            Leak::CgroupMount("/mnt/cg"),
        ),
        (
            no_sysfs,
            r#"[mounts.kernel-fs] mounts[6].destination is "/sys/fs/cgroup": cgroup at /sys/fs/cgroup only after a sysfs mount at /sys"#,
            Leak::CgroupMount("/sys/fs/cgroup"),
        ),
    ];
    let problems = cases
        .iter()
        .filter_map(|(bundle, expected, leak)| {
            refusal_problem(&rt, bundle, expected, |id, pid| leak.evidence(&rt, id, pid))
        })
        .collect();
    assert_no_problems(problems);
}

/// The mounts every engine sends (procfs at /proc, a read-only sysfs at /sys, cgroupfs
/// at /sys/fs/cgroup after it) are admitted, also spelled `/proc/`, `//sys` and
/// `/sys/fs/cgroup/.`: the container runs hardened, with /proc's masked paths and a
/// read-only cgroupfs down to every hierarchy.
#[test]
fn the_standard_kernel_mounts_are_admitted_and_read_only_however_spelled() {
    let rt = Runtime::new();
    for (proc, sys, cgroup) in [
        ("/proc", "/sys", "/sys/fs/cgroup"),
        ("/proc/", "//sys", "/sys/fs/cgroup/."),
    ] {
        let bundle = bundle_with_mounts(&["/probe", "report"], |mounts| {
            for mount in mounts.iter_mut() {
                match mount["type"].as_str() {
                    Some("proc") => mount["destination"] = json!(proc),
                    Some("sysfs") => mount["destination"] = json!(sys),
                    _ => {}
                }
            }
            mounts.push(
                json!({"destination": cgroup, "type": "cgroup", "source": "cgroup",
                               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
            );
        });
        let id = unique_id("kinds-std");
        let report = probe_report(&rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout);
        assert_hardened(&report, 65532, 65532);
        for place in [
            "/sys",
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/systemd",
        ] {
            let mount = probe_mount(&report, place);
            let options: Vec<&str> = mount["options"].as_str().unwrap().split(',').collect();
            assert!(
                options.contains(&"ro"),
                "{place} is writable ({proc} {sys} {cgroup}): {mount}"
            );
        }
        rt.assert_nothing_left(&id);
    }
}
