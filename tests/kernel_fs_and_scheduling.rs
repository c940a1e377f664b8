//! Issue #15, classes 7 and 8, replayed with real containers through the built binary.
//!
//! Kernel filesystems elsewhere (`mounts.kernel-fs`): linux.maskedPaths and
//! readonlyPaths name paths under /proc and /sys only, so a second procfs or sysfs
//! shows every masked file; libcontainer 0.7 binds cgroup v1 hierarchies read-write
//! and the baseline covers them read-only only at /sys/fs/cgroup under a sysfs at /sys.
//!
//! Privileged scheduling (`process.scheduling`): libcontainer sets `process.scheduler`
//! and `process.ioPriority` before it drops privileges, for the init and for an exec.
//!
//! Each refusal test, should the spec be admitted, reports what the container got
//! (the masked files it read, the read-write cgroup mounts, the policy, nice value
//! and I/O priority its process runs with) before failing.

mod common;

use std::fs;
use std::path::Path;

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

// ---------------------------------------------------------------------------
// Class 8: realtime and deadline scheduling, realtime I/O, limits that allow them

/// A process's scheduling from the host: nice value, realtime priority and policy
/// (/proc/<pid>/stat fields 19, 40, 41), I/O priority (class, data) and its
/// realtime-priority and nice limits.
fn scheduling_of(pid: i64) -> String {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis start at field 3.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let field = |n: usize| fields[n - 3];
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, pid) only reads.
    let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    let limits: Vec<String> = fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("Max nice") || l.starts_with("Max realtime priority"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    format!(
        "nice {}, rt_priority {}, policy {}, ioprio class {} data {}, {limits:?}",
        field(19),
        field(40),
        field(41),
        ioprio >> 13,
        ioprio & 0x1fff
    )
}

/// The scheduling requests libcontainer would grant with the runtime's privileges:
/// SCHED_FIFO, SCHED_DEADLINE (outside the CFS quota), a negative nice value,
/// IOPRIO_CLASS_RT, RLIMIT_RTPRIO above 0 and RLIMIT_NICE above 20 (the process could
/// raise itself later), realtime CPU time for the cgroup. Each is refused at create
/// naming the rule, the JSON path and the value, and nothing is left.
#[test]
fn realtime_scheduling_io_priority_and_the_limits_allowing_them_are_refused_at_create() {
    let rt = Runtime::new();
    let cases: [(&str, Value, &str); 7] = [
        (
            "/process/scheduler",
            json!({"policy": "SCHED_FIFO", "priority": 1}),
            r#"[process.scheduling] process.scheduler.policy is "SCHED_FIFO": one of SCHED_OTHER, SCHED_BATCH, SCHED_IDLE"#,
        ),
        (
            "/process/scheduler",
            json!({"policy": "SCHED_DEADLINE", "runtime": 10_000_000u64,
                   "deadline": 100_000_000u64, "period": 100_000_000u64}),
            r#"[process.scheduling] process.scheduler.policy is "SCHED_DEADLINE""#,
        ),
        (
            "/process/scheduler",
            json!({"policy": "SCHED_OTHER", "nice": -10}),
            "[process.scheduling] process.scheduler.nice is -10: 0 to 19",
        ),
        (
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_RT", "priority": 0}),
            r#"[process.scheduling] process.ioPriority.class is "IOPRIO_CLASS_RT": IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE"#,
        ),
        (
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                   {"type": "RLIMIT_RTPRIO", "hard": 1, "soft": 1}]),
            "[process.scheduling] process.rlimits[1] is {\"hard\":1,\"soft\":1,\"type\":\"RLIMIT_RTPRIO\"}: RLIMIT_RTPRIO at most 0",
        ),
        (
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                   {"type": "RLIMIT_NICE", "hard": 40, "soft": 20}]),
            "[process.scheduling] process.rlimits[1] is {\"hard\":40,\"soft\":20,\"type\":\"RLIMIT_NICE\"}: RLIMIT_NICE at most 20",
        ),
        (
            "/linux/resources/cpu",
            json!({"quota": 50000, "period": 100000,
                   "realtimeRuntime": 10000, "realtimePeriod": 1_000_000}),
            "[process.scheduling] linux.resources.cpu.realtimeRuntime is 10000: unset or 0",
        ),
    ];
    let problems = cases
        .into_iter()
        .filter_map(|(pointer, value, expected)| {
            let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
            bundle.set(pointer, value);
            refusal_problem(&rt, &bundle, expected, |_, pid| scheduling_of(pid))
        })
        .collect();
    assert_no_problems(problems);
}

/// A running container and a process.json for an exec of `/probe sleep` with `extra`
/// fields.
fn exec_process(bundle: &Bundle, extra: Value) -> String {
    let mut process = json!({"args": ["/probe", "sleep", "300"], "cwd": "/",
                             "env": ["PATH=/bin"], "user": {"uid": 65532, "gid": 65532}});
    process
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let path = bundle.path().join("process.json");
    fs::write(&path, process.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `exec --process` with SCHED_FIFO, SCHED_DEADLINE, a negative nice value or
/// IOPRIO_CLASS_RT (libcontainer applies them in the exec'd process as in the init) is
/// refused naming the rule and the JSON path; no process is added to the container.
#[test]
fn an_exec_with_realtime_scheduling_or_io_priority_is_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("kinds-exec");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let processes = || -> Value {
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap()
    };
    let before = processes();
    let pid_file = bundle.path().join("exec.pid");
    let mut problems = Vec::new();
    for (extra, expected) in [
        (
            json!({"scheduler": {"policy": "SCHED_FIFO", "priority": 1}}),
            r#"[process.scheduling] process.scheduler.policy is "SCHED_FIFO""#,
        ),
        (
            json!({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10_000_000u64,
                                 "deadline": 100_000_000u64, "period": 100_000_000u64}}),
            r#"[process.scheduling] process.scheduler.policy is "SCHED_DEADLINE""#,
        ),
        (
            json!({"scheduler": {"policy": "SCHED_BATCH", "nice": -5}}),
            "[process.scheduling] process.scheduler.nice is -5",
        ),
        (
            json!({"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 0}}),
            r#"[process.scheduling] process.ioPriority.class is "IOPRIO_CLASS_RT""#,
        ),
    ] {
        let process = exec_process(&bundle, extra);
        let _ = fs::remove_file(&pid_file);
        let args = [
            "exec",
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--process",
            &process,
            &id,
        ];
        let out = rt.run(&args);
        if out.status.success() {
            let pid = common::read_pid_file(&pid_file);
            let seen = scheduling_of(pid);
            // SAFETY: kill(2) of the process the admitted exec started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            problems.push(format!(
                "exec admitted (wanted {expected}); it ran with {seen}"
            ));
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) || !stderr.contains(expected) || pid_file.exists() {
            problems.push(format!("wanted {expected}: {}", describe(&args, &out)));
        }
    }
    assert_no_problems(problems);
    assert_eq!(processes(), before, "a refused exec left a process");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// `update` giving the container's cgroup realtime CPU time is refused before the
/// cgroup is touched: its cpu.rt_runtime_us and cpu.rt_period_us stay as they were.
#[test]
fn an_update_with_realtime_cpu_time_is_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("kinds-update");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let cgroup = Path::new("/sys/fs/cgroup/cpu/bulwark").join(&id);
    let rt_files = || -> Vec<String> {
        ["cpu.rt_runtime_us", "cpu.rt_period_us"]
            .iter()
            .map(|file| fs::read_to_string(cgroup.join(file)).unwrap_or_default())
            .collect()
    };
    let before = rt_files();
    let resources = bundle.path().join("resources.json");
    fs::write(
        &resources,
        json!({"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1_000_000}}).to_string(),
    )
    .unwrap();
    let stderr = rt.fails(&["update", "--resources", resources.to_str().unwrap(), &id]);
    for expected in [
        "[process.scheduling] linux.resources.cpu.realtimeRuntime is 10000: unset or 0",
        "[process.scheduling] linux.resources.cpu.realtimePeriod is 1000000: unset or 0",
    ] {
        assert!(stderr.contains(expected), "wanted {expected}: {stderr}");
    }
    assert_eq!(rt_files(), before, "{stderr}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// What an unprivileged process may choose for itself is admitted and applied, at
/// create and for an exec: SCHED_BATCH with nice 5 and IOPRIO_CLASS_IDLE, SCHED_IDLE,
/// SCHED_OTHER with nice 0 and IOPRIO_CLASS_BE 4, RLIMIT_RTPRIO 0.
#[test]
fn unprivileged_scheduling_is_admitted_and_applied() {
    let rt = Runtime::new();
    // (process fields, policy, nice, I/O class and data, as the host reads them)
    let cases = [
        (
            json!({"scheduler": {"policy": "SCHED_BATCH", "nice": 5},
                   "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}}),
            "nice 5, rt_priority 0, policy 3, ioprio class 3 data 0",
        ),
        (
            json!({"scheduler": {"policy": "SCHED_IDLE"}}),
            "nice 0, rt_priority 0, policy 5, ioprio class 0 data 0",
        ),
        (
            json!({"scheduler": {"policy": "SCHED_OTHER", "nice": 0},
                   "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
                   "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                               {"type": "RLIMIT_RTPRIO", "hard": 0, "soft": 0}]}),
            "nice 0, rt_priority 0, policy 0, ioprio class 2 data 4",
        ),
    ];
    for (fields, expected) in cases {
        let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
        for (key, value) in fields.as_object().unwrap() {
            bundle.set(&format!("/process/{key}"), value.clone());
        }
        let id = unique_id("kinds-sched");
        rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
        let init = rt.state(&id)["pid"].as_i64().unwrap();
        let seen = scheduling_of(init);
        assert!(seen.starts_with(expected), "init: {seen}");

        let process = exec_process(&bundle, fields.clone());
        let pid_file = bundle.path().join("exec.pid");
        rt.ok(&[
            "exec",
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "--process",
            &process,
            &id,
        ]);
        let pid = common::read_pid_file(&pid_file);
        let seen = scheduling_of(pid);
        assert!(seen.starts_with(expected), "exec: {seen}");
        rt.ok(&["delete", "--force", &id]);
        rt.assert_nothing_left(&id);
    }
}
