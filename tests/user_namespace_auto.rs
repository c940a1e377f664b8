//! `baseline.user_namespace.mode = "auto"` (issue #19 Phase 1): every container whose
//! spec brings no user namespace gets one of its own, on a host id range leased to it
//! alone. Each test runs real containers through the built binary and looks at their
//! processes from the host (`/proc/<pid>/status`, `uid_map`) and from inside (the probe).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use common::{
    assert_hardened, describe, probe_report, proc_status, processes_in_cgroup, unique_id, Bundle,
    Runtime, TEST_CONFIG,
};
use serde_json::{json, Value};

/// The uid/gid the baseline runs a root process as (`baseline.non_root`, default).
const REMAPPED: u32 = 65532;
const FIRST_HOST_ID: u32 = 1 << 30;
const RANGE: u32 = 65536;

fn auto_config(ranges: u32) -> String {
    format!(
        "{TEST_CONFIG}[baseline.user_namespace]\nmode = \"auto\"\nfirst_host_id = \
         {FIRST_HOST_ID}\nranges = {ranges}\n"
    )
}

/// A runtime whose root and bundles the namespace's root can cross (containerd's runc
/// roots are 0711): libcontainer resolves the rootfs and mounts as that host uid.
fn runtime(config: &str) -> Runtime {
    let rt = Runtime::with_config(config);
    fs::set_permissions(rt.root(), fs::Permissions::from_mode(0o711)).unwrap();
    rt
}

fn bundle(args: &[&str]) -> Bundle {
    let mut bundle = Bundle::new(args);
    // The cgroup mount engines add: the baseline covers it with a read-only bind from
    // inside the rootfs (crate::baseline::mounts).
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    );
    bundle.set("/mounts", Value::Array(mounts));
    fs::set_permissions(bundle.path(), fs::Permissions::from_mode(0o755)).unwrap();
    bundle
}

/// Creates `bundle` as `id`, which must be refused with every one of `needles` in its
/// stderr, leaving nothing (no mount either) and no lease.
fn assert_refused_leaving_nothing(rt: &Runtime, bundle: &Bundle, id: &str, needles: &[&str]) {
    let out = rt.run(&["create", "--bundle", bundle.path_str(), id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&["create"], &out));
    for needle in needles {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    rt.assert_nothing_left(id);
    rt.assert_no_leftovers_or_mounts(id);
    assert!(leases(rt).is_empty(), "{:?}", leases(rt));
}

/// Real, effective, saved and filesystem uids of `pid` as the host sees them.
fn host_uids(pid: i64) -> Vec<u32> {
    proc_status(pid, "Uid")
        .unwrap_or_default()
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect()
}

fn uid_map(pid: i64) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/uid_map"))
        .unwrap()
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect()
}

/// The leases held under the runtime's root.
fn leases(rt: &Runtime) -> BTreeSet<String> {
    match fs::read_dir(rt.root().join("@userns")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Two containers get disjoint host ranges: each init runs as the host uid of 65532 in
/// its own range, in its own user namespace, hardened inside; host uid 65532 runs none
/// of their processes; delete gives each range back and leaves nothing.
#[test]
fn each_container_gets_a_host_range_of_its_own() {
    let rt = runtime(&auto_config(8));
    let bundle = bundle(&["/probe", "sleep", "60"]);
    let ids = [unique_id("auto-a"), unique_id("auto-b")];
    let mut namespaces = BTreeSet::new();
    let mut ranges = BTreeSet::new();
    for id in &ids {
        rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), id]);
        let pid = rt.state(id)["pid"].as_i64().unwrap();
        let map = uid_map(pid);
        assert_eq!((map[0], map[2]), (0, RANGE), "{map:?}");
        let host = map[1];
        assert!(
            host >= FIRST_HOST_ID && (host - FIRST_HOST_ID) % RANGE == 0,
            "{host}"
        );
        assert_eq!(host_uids(pid), [host + REMAPPED; 4]);
        ranges.insert(host);
        namespaces.insert(fs::read_link(format!("/proc/{pid}/ns/user")).unwrap());
        for process in processes_in_cgroup(&format!("/bulwark/{id}")) {
            let uids = host_uids(i64::from(process));
            assert!(
                !uids.contains(&REMAPPED),
                "{id}: {process} runs as {uids:?}"
            );
        }
        let report = probe_report(&rt.ok(&["exec", id, "/probe", "report"]).stdout);
        assert_hardened(&report, REMAPPED, REMAPPED);
    }
    assert_eq!(ranges.len(), 2, "one range each: {ranges:?}");
    assert_eq!(namespaces.len(), 2, "{namespaces:?}");
    assert!(!namespaces.contains(&fs::read_link("/proc/self/ns/user").unwrap()));
    assert_eq!(leases(&rt).len(), 2);
    for id in &ids {
        rt.ok(&["delete", "--force", id]);
        rt.assert_no_leftovers_or_mounts(id);
    }
    assert!(leases(&rt).is_empty(), "{:?}", leases(&rt));
}

/// RLIMIT_NPROC counts a host uid's processes across the host. Without user namespaces
/// every container's 65532 is the same host uid: one container's processes use up a
/// second's limit, whose init cannot even execve (EAGAIN: the kernel flags a setuid to
/// a user over its limit). That is the control, mode "off". In auto mode the second
/// container is another host uid: it starts and forks freely.
#[test]
fn one_containers_processes_do_not_count_against_anothers_rlimit_nproc() {
    let run_limited = |config: &str| -> std::process::Output {
        let rt = runtime(config);
        let dir = tempfile::tempdir().unwrap();
        let busy = unique_id("nproc-busy");
        let sleeper = bundle(&["/probe", "sleep", "60"]);
        rt.ok(&["run", "--detach", "--bundle", sleeper.path_str(), &busy]);
        for _ in 0..3 {
            rt.exec_detached(dir.path(), &busy, &["/probe", "sleep", "60"]);
        }
        let mut limited = bundle(&["/probe", "report"]);
        limited.set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NPROC", "hard": 3, "soft": 3},
                   {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]),
        );
        let id = unique_id("nproc-limited");
        let out = rt.run(&["run", "--bundle", limited.path_str(), &id]);
        rt.ok(&["delete", "--force", &id]);
        rt.ok(&["delete", "--force", &busy]);
        rt.assert_no_leftovers_or_mounts(&busy);
        out
    };
    let shared = run_limited(TEST_CONFIG);
    let stderr = String::from_utf8_lossy(&shared.stderr);
    assert!(
        !shared.status.success() && stderr.contains("EAGAIN"),
        "control: the shared host uid 65532 should be over the limit\n{}",
        describe(&["run"], &shared)
    );
    let own = run_limited(&auto_config(8));
    assert!(own.status.success(), "{}", describe(&["run"], &own));
    let report = probe_report(&own.stdout);
    let refused: Vec<String> = report["syscalls"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, answer)| {
            answer
                .as_str()
                .is_some_and(|a| a.starts_with("fork_failed"))
        })
        .map(|(syscall, answer)| format!("{syscall}: {answer}"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert_hardened(&report, REMAPPED, REMAPPED);
}

/// A pool with every range leased refuses the next container with the reason and
/// leaves nothing of it; a delete frees a range for it.
#[test]
fn an_exhausted_pool_refuses_with_the_reason_and_leaves_nothing() {
    let rt = runtime(&auto_config(1));
    let bundle = bundle(&["/probe", "sleep", "60"]);
    let holder = unique_id("auto-holder");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &holder]);
    let refused = unique_id("auto-refused");
    let out = rt.run(&["create", "--bundle", bundle.path_str(), &refused]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&["create"], &out));
    assert!(
        stderr.contains("every one of the 1 host id ranges of baseline.user_namespace"),
        "{stderr}"
    );
    rt.assert_nothing_left(&refused);
    assert_eq!(leases(&rt), BTreeSet::from(["0".to_owned()]));
    rt.ok(&["delete", "--force", &holder]);
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &refused]);
    rt.ok(&["delete", "--force", &refused]);
    rt.assert_no_leftovers_or_mounts(&refused);
}

/// The spec's namespaces with the given types joined at `paths` (the others kept).
fn joining(bundle: &mut Bundle, paths: &[(&str, PathBuf)]) {
    let mut namespaces: Vec<Value> = bundle.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| !paths.iter().any(|(typ, _)| n["type"] == *typ))
        .cloned()
        .collect();
    for (typ, path) in paths {
        namespaces.push(json!({"type": typ, "path": path}));
    }
    bundle.set("/linux/namespaces", Value::Array(namespaces));
}

fn ns_link(pid: i64, ns: &str) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap()
}

/// A network interface of the host's network namespace other than `lo`.
fn host_interface() -> String {
    fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|name| name != "lo")
        .expect("the host has an interface besides lo")
}

/// A network namespace the host's user namespace owns (as CNI makes a pod's) is joined
/// by bulwark before the container's own user namespace exists: the container runs in
/// it, on its leased range, hardened; its /sys is a sysfs of that namespace (its `lo`,
/// not the host's interfaces), read-only; an unprivileged process binds port 80 there
/// (the baseline's `ip_unprivileged_port_start`, written in that namespace). Before,
/// libcontainer joined it from inside the new user namespace: the create was refused.
#[test]
fn a_network_namespace_of_the_host_is_joined_before_the_user_namespace() {
    let rt = runtime(&auto_config(8));
    let cni = common::PauseProcess::spawn(&["--net"], &["net"]);
    let mut bundle = bundle(&["/probe", "sleep", "60"]);
    joining(&mut bundle, &[("network", cni.ns("net"))]);
    let id = unique_id("auto-cni");
    let out = rt.run(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    assert!(out.status.success(), "{}", describe(&["run"], &out));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // The staged sysfs left the host's mount table once the init had its copy.
    assert_eq!(common::host_mounts(&id), Vec::<String>::new());
    assert_eq!(ns_link(pid, "net"), fs::read_link(cni.ns("net")).unwrap());
    assert_ne!(
        ns_link(pid, "user"),
        fs::read_link("/proc/self/ns/user").unwrap()
    );
    assert_eq!(uid_map(pid), [0, FIRST_HOST_ID, RANGE]);
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_hardened(&report, REMAPPED, REMAPPED);
    let sys = common::probe_mount(&report, "/sys");
    assert!(
        sys["options"]
            .as_str()
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{sys}"
    );
    rt.ok(&["exec", &id, "/probe", "stat", "/sys/class/net/lo"]);
    let host = format!("/sys/class/net/{}", host_interface());
    let out = rt.run(&["exec", &id, "/probe", "stat", &host]);
    assert!(
        !out.status.success(),
        "{host} visible: {}",
        describe(&["exec"], &out)
    );
    rt.ok(&["exec", &id, "/probe", "listen", "80", "0"]);
    // exec joins the init's network namespace (as host root, before the user one).
    let dir = tempfile::tempdir().unwrap();
    let exec = rt.exec_detached(dir.path(), &id, &["/probe", "sleep", "60"]);
    assert_eq!(ns_link(exec, "net"), fs::read_link(cni.ns("net")).unwrap());
    assert_eq!(ns_link(exec, "user"), ns_link(pid, "user"));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
    assert!(leases(&rt).is_empty(), "{:?}", leases(&rt));
}

/// A create killed once the joined namespace's sysfs is staged (the failpoint after the
/// effective spec) leaves that mount for `delete --force`, which removes it with the
/// rest: nothing is left, no lease either.
#[test]
fn a_create_killed_with_the_sysfs_staged_is_cleaned_up_by_delete() {
    use std::os::unix::process::ExitStatusExt;
    let rt = runtime(&auto_config(8));
    let cni = common::PauseProcess::spawn(&["--net"], &["net"]);
    let mut bundle = bundle(&["/probe", "sleep", "60"]);
    joining(&mut bundle, &[("network", cni.ns("net"))]);
    let id = unique_id("auto-killed");
    let mut cmd = rt.command(&["create", "--bundle", bundle.path_str(), &id]);
    cmd.env("BULWARK_FAILPOINT", "after-effective-spec");
    let out = common::output_via_files(cmd);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "{}",
        describe(&["create"], &out)
    );
    let staged = rt.root().join("@bulwark").join(&id).join("binds/sysfs");
    let mounts = common::host_mounts(staged.to_str().unwrap());
    assert!(mounts.iter().any(|m| m.contains(" - sysfs ")), "{mounts:?}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
    assert!(leases(&rt).is_empty(), "{:?}", leases(&rt));
}

/// A pod under auto: the sandbox gets its range and user namespace and joins the pod's
/// network namespace (the host's user namespace owns it, as CNI's); a member joining
/// the sandbox's ipc, uts and network namespaces runs in the sandbox's user namespace,
/// on the sandbox's range, hardened (exec too). The member holds the range with the
/// sandbox: deleting the sandbox first leaves the lease, deleting the member frees it.
/// Before, the member was refused (`baseline.user-namespace`).
#[test]
fn a_pod_member_runs_in_its_sandboxs_user_namespace_and_range() {
    let rt = runtime(&auto_config(8));
    let cni = common::PauseProcess::spawn(&["--net"], &["net"]);
    let mut sandbox_bundle = bundle(&["/probe", "sleep", "60"]);
    joining(&mut sandbox_bundle, &[("network", cni.ns("net"))]);
    let sandbox = unique_id("auto-sandbox");
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        sandbox_bundle.path_str(),
        &sandbox,
    ]);
    let sandbox_pid = rt.state(&sandbox)["pid"].as_i64().unwrap();
    let mut member_bundle = bundle(&["/probe", "sleep", "60"]);
    let of_sandbox = |ns: &str| PathBuf::from(format!("/proc/{sandbox_pid}/ns/{ns}"));
    joining(
        &mut member_bundle,
        &[
            ("ipc", of_sandbox("ipc")),
            ("uts", of_sandbox("uts")),
            ("network", of_sandbox("net")),
        ],
    );
    let member = unique_id("auto-member");
    let out = rt.run(&[
        "run",
        "--detach",
        "--bundle",
        member_bundle.path_str(),
        &member,
    ]);
    assert!(out.status.success(), "{}", describe(&["run"], &out));
    let member_pid = rt.state(&member)["pid"].as_i64().unwrap();
    for ns in ["user", "ipc", "uts", "net"] {
        assert_eq!(ns_link(member_pid, ns), ns_link(sandbox_pid, ns), "{ns}");
    }
    assert_eq!(
        ns_link(member_pid, "net"),
        fs::read_link(cni.ns("net")).unwrap()
    );
    assert_eq!(uid_map(member_pid), uid_map(sandbox_pid));
    assert_eq!(host_uids(member_pid), [FIRST_HOST_ID + REMAPPED; 4]);
    let report = probe_report(&rt.ok(&["exec", &member, "/probe", "report"]).stdout);
    assert_hardened(&report, REMAPPED, REMAPPED);
    assert_eq!(leases(&rt), BTreeSet::from(["0".to_owned()]));
    rt.ok(&["delete", "--force", &sandbox]);
    rt.assert_no_leftovers_or_mounts(&sandbox);
    assert_eq!(
        leases(&rt),
        BTreeSet::from(["0".to_owned()]),
        "the member still runs on the range"
    );
    rt.ok(&["delete", "--force", &member]);
    rt.assert_no_leftovers_or_mounts(&member);
    assert!(leases(&rt).is_empty(), "{:?}", leases(&rt));
}

/// Namespaces of a user namespace no lease accounts for (a tenant's own `unshare -U`)
/// are refused, naming the entry: joining would put the container on ids bulwark never
/// leased. Nothing is left and no range stays leased.
#[test]
fn namespaces_of_a_user_namespace_bulwark_did_not_lease_are_refused() {
    let rt = runtime(&auto_config(8));
    let foreign =
        common::PauseProcess::spawn(&["--user", "--map-root-user", "--ipc"], &["user", "ipc"]);
    let mut bundle = bundle(&["/probe", "sleep", "60"]);
    joining(&mut bundle, &[("ipc", foreign.ns("ipc"))]);
    assert_refused_leaving_nothing(
        &rt,
        &bundle,
        &unique_id("auto-foreign"),
        &[
            "baseline.user-namespace",
            "joins the ipc namespace at its path",
            "not one bulwark leased",
        ],
    );
}

/// A container joining an ipc namespace of the host's user namespace cannot get a user
/// namespace of its own under libcontainer 0.7 (it would join after unsharing, without
/// the capability; only network namespaces are joined by bulwark first): refused naming
/// the namespace and the choices, not run without the control the host asked for. Its
/// lease is given back.
#[test]
fn a_container_joining_an_ipc_namespace_of_the_host_is_refused_in_auto_mode() {
    let rt = runtime(&auto_config(8));
    let holder = common::PauseProcess::spawn(&["--ipc"], &["ipc"]);
    let mut bundle = bundle(&["/probe", "sleep", "60"]);
    joining(&mut bundle, &[("ipc", holder.ns("ipc"))]);
    assert_refused_leaving_nothing(
        &rt,
        &bundle,
        &unique_id("auto-joins"),
        &[
            "baseline.user-namespace",
            "joins the ipc namespace at its path",
            "mode = \"off\"",
        ],
    );
}

/// What an image's own non-root user keeps to itself: a 0700 home with a 0600 file, owned
/// by the uid the baseline runs the process as.
const HOME: &str = "home/app";
const SECRET: &str = "home/app/secret";
const SECRET_TEXT: &str = "only the image's user reads this";

/// Puts the image user's private files into `rootfs` (host ids, as an engine unpacks an
/// image without a user namespace).
fn add_private_files(rootfs: &std::path::Path) {
    let home = rootfs.join(HOME);
    fs::create_dir_all(&home).unwrap();
    fs::write(rootfs.join(SECRET), SECRET_TEXT).unwrap();
    fs::set_permissions(rootfs.join(SECRET), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    for path in [home.clone(), rootfs.join(SECRET)] {
        std::os::unix::fs::chown(&path, Some(REMAPPED), Some(REMAPPED)).unwrap();
    }
}

/// A filesystem the test mounts (an overlay as an engine hands one, a ramfs), detached
/// when the test ends however it ends.
struct TestMount(std::path::PathBuf);

impl TestMount {
    fn new(fstype: &str, options: &str, at: &std::path::Path) -> Self {
        let out = std::process::Command::new("mount")
            .args(["-t", fstype, "-o", options, fstype])
            .arg(at)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&["mount"], &out));
        Self(at.to_owned())
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Runs a sleeping container on `bundle` and checks, from inside, that the image user's
/// private files are its own: owned by its uid, readable, and the host's root files
/// owned by the container's root. Deletes it and checks nothing is left.
fn assert_private_files_readable(rt: &Runtime, bundle: &Bundle, extra: &[&str]) {
    let id = unique_id("auto-own-files");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    // The container's own cgroup, through the baseline's read-only cover of the
    // cgroup mounts, which binds them from inside the rootfs (here the view).
    let mut paths = vec!["/home/app/secret", "/sys/fs/cgroup/pids/pids.max"];
    paths.extend_from_slice(extra);
    let mut args = vec!["exec", &id, "/probe", "read-each"];
    args.extend(paths.iter().copied());
    let read = probe_report(&rt.ok(&args).stdout);
    for path in &paths {
        assert_eq!(read[path]["result"], "ok", "{path}: {read}");
    }
    assert_eq!(read["/home/app/secret"]["content"], SECRET_TEXT, "{read}");
    assert_eq!(
        read["/sys/fs/cgroup/pids/pids.max"]["content"], "64\n",
        "{read}"
    );
    let home = probe_report(&rt.ok(&["exec", &id, "/probe", "stat", "/home/app"]).stdout);
    assert_eq!(
        (&home["uid"], &home["gid"], &home["mode"]),
        (&json!(REMAPPED), &json!(REMAPPED), &json!("0700")),
        "{home}"
    );
    let probe = probe_report(&rt.ok(&["exec", &id, "/probe", "stat", "/probe"]).stdout);
    assert_eq!(
        (&probe["uid"], &probe["gid"]),
        (&json!(0), &json!(0)),
        "{probe}"
    );
    // Still read-only, as the baseline makes every rootfs.
    let write = probe_report(
        &rt.ok(&["exec", &id, "/probe", "write-each", "x", "/home/app/secret"])
            .stdout,
    );
    assert_eq!(write["/home/app/secret"], json!("EROFS"), "{write}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
    assert!(leases(rt).is_empty(), "{:?}", leases(rt));
}

/// The image's own non-root user reads its own 0700 files. The engine unpacked them owned
/// by host uid 65532; the container's 65532 is another host uid, so without a view of the
/// rootfs mapped to the container's range they showed as the overflow uid and were
/// closed to it (EACCES). bulwark stages the rootfs as an idmapped, read-only mount.
///
/// A mount point the image lacks is made in the engine's rootfs before the read-only
/// view covers it, root's and 0755, as libcontainer makes it without a user namespace
/// (before the view the namespace's root could not make it either: EACCES).
#[test]
fn the_image_users_own_0700_files_stay_readable() {
    let rt = runtime(&auto_config(8));
    let mut bundle = bundle(&["/probe", "sleep", "60"]);
    add_private_files(&bundle.path().join("rootfs"));
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/data/scratch", "type": "tmpfs",
                       "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]}));
    bundle.set("/mounts", Value::Array(mounts));
    assert_private_files_readable(&rt, &bundle, &[]);
    let made = fs::metadata(bundle.path().join("rootfs/data/scratch")).unwrap();
    assert!(made.is_dir());
    assert_eq!((made.uid(), made.permissions().mode() & 0o7777), (0, 0o755));
}

/// Where the engine hands an overlay (Podman, containerd), the overlay itself cannot be
/// idmapped: bulwark rebuilds it read-only from idmapped layers, the upper directory on
/// top. A file only the upper directory holds and one only the lower holds are both
/// the image user's own.
#[test]
fn an_overlay_rootfs_is_rebuilt_from_idmapped_layers() {
    let rt = runtime(&auto_config(8));
    let bundle = bundle(&["/probe", "sleep", "60"]);
    let dir = bundle.path();
    fs::rename(dir.join("rootfs"), dir.join("lower")).unwrap();
    add_private_files(&dir.join("lower"));
    for sub in ["rootfs", "upper/home/app", "work"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("upper/home/app/written"), "upper").unwrap();
    fs::set_permissions(
        dir.join("upper/home/app"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    for path in ["upper/home/app", "upper/home/app/written"] {
        std::os::unix::fs::chown(dir.join(path), Some(REMAPPED), Some(REMAPPED)).unwrap();
    }
    fs::set_permissions(
        dir.join("upper/home/app/written"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        dir.join("lower").display(),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    let _overlay = TestMount::new("overlay", &options, &dir.join("rootfs"));
    assert_private_files_readable(&rt, &bundle, &["/home/app/written"]);
}

/// A rootfs on a filesystem the kernel cannot idmap (ramfs) is refused before
/// libcontainer runs, naming the rootfs, its filesystem and what is needed; nothing of
/// the container is left and its range is given back. A container that gets no user
/// namespace from bulwark (mode "off") runs from it as before.
#[test]
fn a_rootfs_the_kernel_cannot_idmap_is_refused_and_leaves_nothing() {
    let rt = runtime(&auto_config(8));
    let bundle = bundle(&["/probe", "exit", "0"]);
    let rootfs = bundle.path().join("rootfs");
    fs::rename(&rootfs, bundle.path().join("image")).unwrap();
    fs::create_dir(&rootfs).unwrap();
    let _ramfs = TestMount::new("ramfs", "mode=755", &rootfs);
    for sub in ["proc", "dev", "sys", "tmp", "etc"] {
        fs::create_dir(rootfs.join(sub)).unwrap();
    }
    fs::copy(bundle.path().join("image/probe"), rootfs.join("probe")).unwrap();
    let id = unique_id("auto-ramfs");
    let ramfs = format!("{} (ramfs)", rootfs.display());
    assert_refused_leaving_nothing(
        &rt,
        &bundle,
        &id,
        &["baseline.user-namespace", &ramfs, "idmapped"],
    );
    let off = Runtime::new();
    off.ok(&["run", "--bundle", bundle.path_str(), &id]);
    off.assert_no_leftovers_or_mounts(&id);
}

/// A create that fails once the view is staged (libcontainer cannot make a mount point
/// below a file), or is killed there, leaves no mount under the state root;
/// `delete --force` of the killed one removes its view.
#[test]
fn a_failed_or_killed_create_leaves_no_view_behind() {
    let rt = runtime(&auto_config(8));
    let mut bundle = bundle(&["/probe", "sleep", "60"]);
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    // Below a regular file of the image: neither bulwark nor libcontainer can make it.
    mounts.push(json!({"destination": "/probe/mount/point", "type": "tmpfs",
                       "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]}));
    bundle.set("/mounts", Value::Array(mounts));
    let failed = unique_id("auto-failed");
    let out = rt.run(&["create", "--bundle", bundle.path_str(), &failed]);
    assert!(!out.status.success(), "{}", describe(&["create"], &out));
    rt.assert_nothing_left(&failed);
    rt.assert_no_leftovers_or_mounts(&failed);
    assert!(leases(&rt).is_empty(), "{:?}", leases(&rt));

    let bundle = self::bundle(&["/probe", "sleep", "60"]);
    let killed = unique_id("auto-killed");
    let mut create = rt.command(&["create", "--bundle", bundle.path_str(), &killed]);
    create.env("BULWARK_FAILPOINT", "after-effective-spec");
    let out = common::output_via_files(create);
    assert!(!out.status.success(), "{}", describe(&["create"], &out));
    let staged = rt.root().join("@bulwark").join(&killed).join("rootfs");
    assert_eq!(
        common::host_mounts(staged.to_str().unwrap()).len(),
        1,
        "the view is staged before libcontainer runs"
    );
    rt.ok(&["delete", "--force", &killed]);
    rt.assert_no_leftovers_or_mounts(&killed);
    assert!(leases(&rt).is_empty(), "{:?}", leases(&rt));
}

/// `doctor` says whether idmapped rootfs views work here, on `/` and the engines' image
/// stores: required in auto mode (a rootfs without one is refused), informational off.
#[test]
fn doctor_reports_whether_idmapped_rootfs_views_work() {
    for (config, required) in [(auto_config(8), true), (TEST_CONFIG.to_owned(), false)] {
        let rt = runtime(&config);
        let out = rt.run(&["doctor", "--format", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", describe(&["doctor"], &out)));
        let idmap = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "idmap")
            .unwrap_or_else(|| panic!("no idmap check: {report}"))
            .clone();
        assert_eq!(idmap["ok"], true, "{idmap}");
        assert_eq!(idmap["required"], required, "{idmap}");
        let detail = idmap["detail"].as_str().unwrap();
        assert!(
            detail.contains("idmapped rootfs views work on / ("),
            "{detail}"
        );
    }
}
