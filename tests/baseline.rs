//! The mandatory hardening baseline, asserted from inside real containers by the probe:
//! whatever the spec asked for, the init process and every exec'd process run with no
//! capabilities, no-new-privileges, bulwark's seccomp profile, a read-only rootfs, a
//! non-root user and runc's masked paths.

mod common;

use std::fs;

use common::{
    assert_hardened, probe_mount, probe_report, unique_id, Bundle, Runtime, TEST_CONFIG,
    TEST_IMAGES_CONFIG,
};
use serde_json::{json, Value};

/// A spec that forgot every control: no capabilities field, no seccomp, NNP unset, a
/// writable rootfs, uid 0, no masked paths.
fn careless_bundle(args: &[&str]) -> Bundle {
    let mut bundle = Bundle::new(args);
    let process = bundle.config["process"].as_object_mut().unwrap();
    process.remove("capabilities");
    process.remove("noNewPrivileges");
    let linux = bundle.config["linux"].as_object_mut().unwrap();
    linux.remove("seccomp");
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    bundle.set("/root/readonly", json!(false));
    bundle.set(
        "/process/user",
        json!({"uid": 0, "gid": 0, "additionalGids": [0]}),
    );
    bundle
}

#[test]
fn a_spec_without_controls_runs_hardened_in_init_and_exec() {
    let rt = Runtime::new();
    let bundle = careless_bundle(&["/probe", "sleep", "300"]);
    let id = unique_id("careless");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // The init process, seen from the host.
    for (field, expected) in [
        ("Seccomp", "2"),
        ("NoNewPrivs", "1"),
        ("CapEff", "0000000000000000"),
        ("CapBnd", "0000000000000000"),
    ] {
        assert_eq!(
            common::proc_status(pid, field).as_deref(),
            Some(expected),
            "{field}"
        );
    }
    // An exec'd process, seen from inside.
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_hardened(&report, 65532, 65532);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn the_init_process_of_a_careless_spec_reports_the_baseline() {
    let rt = Runtime::new();
    let bundle = careless_bundle(&["/probe", "report"]);
    let id = unique_id("careless-init");
    let report = probe_report(&rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout);
    assert_hardened(&report, 65532, 65532);
    // Writable tmpfs mounts carry nosuid and nodev.
    let tmp = probe_mount(&report, "/tmp");
    let options = tmp["options"].as_str().unwrap();
    assert!(
        options.contains("nosuid") && options.contains("nodev"),
        "{tmp}"
    );
    // sysfs is read-only even if the engine asked for it writable.
    assert!(probe_mount(&report, "/sys")["options"]
        .as_str()
        .unwrap()
        .starts_with("ro"));
}

/// libcontainer applies the recursive mount options (`rrw`, `rsuid`, `rdev`, `rexec`)
/// after the plain ones, through mount_setattr: a spec saying `["ro", "rrw"]` mounted a
/// writable sysfs. The baseline drops every option that undoes a flag it requires, so
/// inside the mounts keep them whatever the spec adds.
#[test]
fn mount_options_that_undo_a_required_flag_have_no_effect_inside() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    assert_eq!(bundle.config["mounts"][5]["destination"], "/sys");
    assert_eq!(bundle.config["mounts"][6]["destination"], "/tmp");
    bundle.config["mounts"][5]["options"] = json!(["ro", "rrw", "rw", "rsuid", "rdev", "rexec"]);
    bundle.config["mounts"][6]["options"] =
        json!(["size=16m", "nosuid", "nodev", "rsuid", "rdev", "suid", "dev"]);
    bundle.write();
    let id = unique_id("undo");
    let report = probe_report(&rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout);
    for (mount_point, flags) in [
        ("/sys", &["ro", "nosuid", "nodev", "noexec"][..]),
        ("/tmp", &["nosuid", "nodev"][..]),
    ] {
        let mount = probe_mount(&report, mount_point);
        let options: Vec<&str> = mount["options"].as_str().unwrap().split(',').collect();
        for flag in flags {
            assert!(options.contains(flag), "{flag} missing: {mount}");
        }
    }
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
}

#[test]
fn refuse_mode_refuses_root_and_leaves_nothing() {
    let rt = Runtime::with_config(&format!(
        "{TEST_CONFIG}[baseline.non_root]\nmode = \"refuse\"\n"
    ));
    let bundle = careless_bundle(&["/probe", "report"]);
    let id = unique_id("refuse");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("process.user.uid is 0"), "{stderr}");
    assert!(stderr.contains("baseline.non_root.mode"), "{stderr}");
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
}

#[test]
fn no_apparmor_is_refused_unless_the_config_accepts_it() {
    if common::host_apparmor_enabled() {
        eprintln!("skipped: this kernel has AppArmor; the refusal needs one without it");
        return;
    }
    let rt = Runtime::with_config(TEST_IMAGES_CONFIG);
    let bundle = Bundle::new(&["/probe", "report"]);
    let id = unique_id("noaa");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("this kernel has no AppArmor"), "{stderr}");
    assert!(stderr.contains("allow_missing = true"), "{stderr}");
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
}

#[test]
fn the_agent_profile_is_selectable_by_annotation_and_is_stricter() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let default = probe_report(
        &rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("dflt")])
            .stdout,
    );
    bundle.set("/annotations/bulwark.io~1seccomp-profile", json!("agent"));
    let agent = probe_report(
        &rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("agent")])
            .stdout,
    );
    assert_hardened(&agent, 65532, 65532);
    // personality(2) is allowed by the default profile and not by the agent profile.
    assert_eq!(default["syscalls"]["personality_query"], "ok", "{default}");
    assert_eq!(agent["syscalls"]["personality_query"], "EPERM", "{agent}");
}

#[test]
fn a_weaker_profile_cannot_be_selected() {
    let rt = Runtime::with_config(&format!(
        "{TEST_CONFIG}[baseline.seccomp]\nprofile = \"agent\"\n"
    ));
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set("/annotations/bulwark.io~1seccomp-profile", json!("default"));
    let id = unique_id("weaker");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("only select a stricter"), "{stderr}");
    assert!(rt.leftovers(&id).is_empty());
}

#[test]
fn a_bad_host_config_is_reported_and_nothing_runs() {
    let rt = Runtime::with_config("[baseline]\nalowed_capabilities = []\n");
    let bundle = Bundle::new(&["/probe", "report"]);
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), "badconf"]);
    assert!(stderr.contains("alowed_capabilities"), "{stderr}");
    let rt = Runtime::with_config("[baseline]\nallowed_capabilities = [\"CAP_SYS_ADMIN\"]\n");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), "badcap"]);
    assert!(stderr.contains("CAP_SYS_ADMIN"), "{stderr}");
}

#[test]
fn features_report_the_seccomp_profile_and_apparmor_state() {
    let rt = Runtime::new();
    let features: Value = serde_json::from_slice(&rt.ok(&["features"]).stdout).unwrap();
    let annotations = &features["annotations"];
    assert_eq!(annotations["io.github.bulwark.seccomp.profile"], "default");
    assert!(annotations["io.github.bulwark.seccomp.profile.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let apparmor = annotations["io.github.bulwark.apparmor"].as_str().unwrap();
    let enabled = features["linux"]["apparmor"]["enabled"].as_bool().unwrap();
    if enabled {
        assert!(!apparmor.starts_with("unavailable"), "{apparmor}");
    } else {
        assert!(apparmor.contains("allow_missing"), "{apparmor}");
        let strict = Runtime::with_config("");
        let features: Value = serde_json::from_slice(&strict.ok(&["features"]).stdout).unwrap();
        assert!(features["annotations"]["io.github.bulwark.apparmor"]
            .as_str()
            .unwrap()
            .contains("refused"));
    }
}

#[test]
fn apparmor_install_says_why_it_cannot_load_on_a_kernel_without_apparmor() {
    if common::host_apparmor_enabled() {
        eprintln!(
            "skipped: loading the profile into a real kernel is not a test-suite side effect"
        );
        return;
    }
    let rt = Runtime::new();
    let stderr = rt.fails(&["apparmor", "install"]);
    assert!(stderr.contains("this kernel has no AppArmor"), "{stderr}");
}

/// The supplementary groups a probe reports, as numbers.
fn groups_of(report: &Value) -> Vec<u64> {
    report["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups in {report}"))
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect()
}

/// Issue #16 item 9: engines give uid 0 the groups the image's `/etc/group` lists root
/// in (containerd's WithAdditionalGIDs: busybox's `wheel`); once bulwark runs the process
/// as 65532 those are root's groups, not its own. The groups the caller named by number
/// (Kubernetes supplementalGroups/fsGroup, here 2000) stay. Before the fix the init and
/// an exec kept `wheel` (groups [10, 2000]).
#[test]
fn remapped_root_loses_roots_supplementary_groups_from_the_image() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    fs::write(
        bundle.path().join("rootfs/etc/group"),
        "root:x:0:\nwheel:x:10:root\nstaff:x:50:alice\nfs:x:2000:\n",
    )
    .unwrap();
    bundle.set(
        "/process/user",
        json!({"uid": 0, "gid": 0, "additionalGids": [0, 10, 50, 2000]}),
    );
    bundle.write();
    let id = unique_id("root-groups");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // The init, seen from the host: `wheel` (10) is gone, `staff` (not root's) stays.
    assert_eq!(
        common::proc_status(pid, "Groups").as_deref(),
        Some("50 2000"),
        "the init's supplementary groups"
    );
    // An exec as root with the engine's groups for root, seen from inside.
    let process = bundle.path().join("exec-process.json");
    fs::write(
        &process,
        json!({
            "args": ["/probe", "report"], "cwd": "/",
            "user": {"uid": 0, "gid": 0, "additionalGids": [10, 2000]}
        })
        .to_string(),
    )
    .unwrap();
    let report = probe_report(
        &rt.ok(&["exec", "--process", process.to_str().unwrap(), &id])
            .stdout,
    );
    assert_eq!(groups_of(&report), vec![2000], "{report}");
    assert_eq!(
        (report["uid"].as_u64(), report["gid"].as_u64()),
        (Some(65532), Some(65532))
    );
    rt.ok(&["delete", "--force", &id]);
}

/// When the image's group file cannot be read (here a directory), bulwark cannot tell
/// root's groups from the caller's: the remapped process keeps none. A process that was
/// never root keeps the groups it was given.
#[test]
fn remapped_root_keeps_no_group_when_the_images_group_file_is_unreadable() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    fs::create_dir(bundle.path().join("rootfs/etc/group")).unwrap();
    let mut groups_as = |user: Value| {
        bundle.set("/process/user", user);
        bundle.write();
        let id = unique_id("groups");
        groups_of(&probe_report(
            &rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout,
        ))
    };
    let root = groups_as(json!({"uid": 0, "gid": 0, "additionalGids": [10, 2000]}));
    assert_eq!(root, Vec::<u64>::new());
    let user = groups_as(json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 2000]}));
    assert_eq!(user, vec![10, 2000]);
}

/// The capabilities of a 6.x kernel by number (CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE = 40).
const CAPABILITIES_BY_NUMBER: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The positive control for `assert_hardened` (issue #18 item 1): the same probe, run
/// by Debian's runc as uid 0 with every capability, no seccomp filter and
/// no-new-privileges off, either succeeds at each of the `MUST_FAIL` syscalls or fails
/// with another errno (a kernel without kexec or modules answers ENOSYS, a bogus
/// filesystem type ENODEV, ...). So the EPERM `assert_hardened` requires inside bulwark
/// comes from the baseline (seccomp, capabilities), not from the probe's arguments or
/// the kernel, and removing the baseline makes those assertions fail.
#[test]
fn without_the_baseline_no_must_fail_probe_answers_eperm() {
    let mut bundle = Bundle::new(&["/probe", "report"]);
    // Every capability the host's bounding set holds (this host lacks CAP_SYS_RESOURCE,
    // and runc cannot grant what it does not have).
    let host_bounding = common::proc_status(std::process::id().into(), "CapBnd").unwrap();
    let host_bounding = u64::from_str_radix(&host_bounding, 16).unwrap();
    let all: Vec<&str> = CAPABILITIES_BY_NUMBER
        .iter()
        .enumerate()
        .filter(|(bit, _)| host_bounding & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect();
    bundle.set(
        "/process/capabilities",
        json!({"bounding": all, "effective": all, "permitted": all, "inheritable": all,
               "ambient": all}),
    );
    bundle.set("/process/noNewPrivileges", json!(false));
    bundle.set("/process/user", json!({"uid": 0, "gid": 0}));
    bundle.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("seccomp");
    bundle.write();
    let runc_root = tempfile::tempdir().unwrap();
    let id = unique_id("control");
    let out = common::output_via_files({
        let mut cmd = std::process::Command::new("runc");
        cmd.arg("--root")
            .arg(runc_root.path())
            .args(["run", "--bundle", bundle.path_str(), &id]);
        cmd
    });
    assert!(
        out.status.success(),
        "{}",
        common::describe(&["runc run"], &out)
    );
    let report = probe_report(&out.stdout);
    assert_eq!(
        report["seccomp"], 0,
        "the control runs unfiltered: {report}"
    );
    assert_eq!(
        report["caps"]["effective"],
        format!("{host_bounding:016x}"),
        "the control holds every capability the host has: {report}"
    );
    let mut succeeded = 0;
    for name in common::MUST_FAIL {
        let result = report["syscalls"][name].as_str().unwrap_or_default();
        assert!(
            result == "ok" || (result.starts_with('E') && result != "EPERM"),
            "{name}: without the baseline it must succeed or fail otherwise than EPERM \
             (and run at all), got {result:?}: {report}"
        );
        succeeded += usize::from(result == "ok");
    }
    // Most of them really work unprotected (13 of 21 on this host's kernel).
    assert!(
        succeeded >= 10,
        "only {succeeded} probes succeeded: {report}"
    );
}

/// Issue #16 item 10: a web server as uid 65532 without capabilities binds :80 in a
/// container with its own network namespace, as under Docker: the baseline sets
/// `net.ipv4.ip_unprivileged_port_start=0` there and records it. An explicit value in
/// the spec stays (the bind then fails); a spec without a network namespace (the
/// host's) gets nothing and is refused. Before, every bind below 1024 failed with EACCES.
#[test]
fn a_container_with_its_own_network_namespace_binds_port_80_as_non_root() {
    const SYSCTL: &str = "net.ipv4.ip_unprivileged_port_start";
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "listen", "80", "0"]);
    let id = unique_id("port80");
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("listening 80"),
        "{}",
        common::describe(&["run", &id], &out)
    );
    let record = rt.audit_records().pop().unwrap();
    let change = record["baseline_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["control"] == "unprivileged-ports")
        .unwrap_or_else(|| panic!("no unprivileged-ports change: {record}"));
    assert_eq!(change["path"], format!("linux.sysctl[\"{SYSCTL}\"]"));
    rt.assert_nothing_left(&id);

    let mut explicit = Bundle::new(&["/probe", "listen", "80", "0"]);
    explicit.set("/linux/sysctl", json!({ SYSCTL: "1024" }));
    let id = unique_id("port80-explicit");
    let out = rt.run(&["run", "--bundle", explicit.path_str(), &id]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("EACCES"),
        "{}",
        common::describe(&["run", &id], &out)
    );
    let record = rt.audit_records().pop().unwrap();
    assert!(
        !record["baseline_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["control"] == "unprivileged-ports"),
        "{record}"
    );
    rt.ok(&["delete", "--force", &id]);

    let mut host = Bundle::new(&["/probe", "listen", "80", "0"]);
    let namespaces = host.config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "network");
    host.write();
    let id = unique_id("port80-hostnet");
    let stderr = rt.fails(&["run", "--bundle", host.path_str(), &id]);
    assert!(stderr.contains("namespaces.required"), "{stderr}");
    rt.assert_nothing_left(&id);
}

/// Issue #16 item 2: containers that join their pod's pid namespace
/// (`shareProcessNamespace`) on a cgroup v1 host. libcontainer 0.7 looked the container's
/// in-pod pid up in the host's /proc while mounting the cgroup hierarchies and failed
/// ("procfs failed … NotFound(/proc/<pid>)") whenever no host process had that pid; the
/// pod's next pids are made such pids, so every one of these containers failed before.
/// All twelve start, and each sees its own cgroup (its memory limit and pids.max) under
/// `/sys/fs/cgroup`, every hierarchy read-only (CVE-2022-0492).
#[test]
fn containers_joining_a_pods_pid_namespace_start_and_see_their_own_cgroups_read_only() {
    const COUNT: i64 = 12;
    const LIMIT: &str = "104857600";
    let rt = Runtime::new();
    let sandbox = unique_id("pidpod");
    let (_sandbox_bundle, sandbox_pid) =
        common::start_cri_sandbox(&rt, &sandbox, "0b5c1c1e-7d0a-4c4e-9a55-sharedpid001");
    common::pod_pids_unknown_to_the_host(sandbox_pid, COUNT);
    let path = |name: &str| format!("/proc/{sandbox_pid}/ns/{name}");
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.config["annotations"] = json!({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": sandbox,
        "io.kubernetes.cri.sandbox-uid": "0b5c1c1e-7d0a-4c4e-9a55-sharedpid001",
        "io.kubernetes.cri.image-name": common::TEST_IMAGE,
    });
    bundle.config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": path("pid")},
        {"type": "network", "path": path("net")},
        {"type": "ipc", "path": path("ipc")},
        {"type": "uts", "path": path("uts")},
        {"type": "mount"}
    ]);
    bundle.config["linux"]["resources"]["memory"]["limit"] = json!(104_857_600);
    bundle.config.as_object_mut().unwrap().remove("hostname");
    bundle.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    );
    bundle.write();

    let mut started = Vec::new();
    let mut failed = Vec::new();
    for n in 0..COUNT {
        let id = unique_id(&format!("pidpod-{n}"));
        let out = rt.run(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
        if out.status.success() {
            started.push(id);
        } else {
            failed.push(common::describe(&["run", &id], &out));
            rt.assert_nothing_left(&id);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {COUNT} containers in the shared pid namespace failed: {failed:#?}",
        failed.len()
    );
    for id in &started {
        let cat = |file: &str| {
            String::from_utf8_lossy(&rt.ok(&["exec", id, "/probe", "cat", file]).stdout)
                .trim()
                .to_owned()
        };
        assert_eq!(cat("/sys/fs/cgroup/memory/memory.limit_in_bytes"), LIMIT);
        assert_eq!(cat("/sys/fs/cgroup/pids/pids.max"), "64");
    }
    let report = probe_report(&rt.ok(&["exec", &started[0], "/probe", "report"]).stdout);
    common::assert_cgroup_mounts_read_only(&report);
    let writes = probe_report(
        &rt.ok(&[
            "exec",
            &started[0],
            "/probe",
            "write-each",
            "1",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/cgroup.procs",
        ])
        .stdout,
    );
    for (path, result) in writes.as_object().unwrap() {
        assert_ne!(result, "ok", "{path}: {writes}");
    }
    for id in started.iter().chain([&sandbox]) {
        rt.ok(&["delete", "--force", id]);
        rt.assert_nothing_left(id);
    }
}
