//! User namespaces (issue #15 class 6, issue #16 item 6): a spec's `linux.uidMappings`
//! decide which *host* ids the container's "non-root" process runs as. Each test runs a
//! real container through the built binary and looks at the process from the host
//! (`/proc/<pid>/status`) as well as from inside (the probe).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::console::ConsoleSocket;
use common::{
    assert_hardened, describe, output_via_files, probe_report, proc_status, unique_id,
    with_user_namespace, Bundle, Runtime, BULWARK,
};
use serde_json::{json, Value};

/// The uid/gid the baseline runs a root process as (`baseline.non_root`, default).
const REMAPPED: u32 = 65532;

fn one_range(container: u32, host: u32, size: u32) -> Value {
    json!([{"containerID": container, "hostID": host, "size": size}])
}

/// `create` + `start` of `bundle`.
fn start(rt: &Runtime, bundle: &Bundle, id: &str) -> Output {
    started(
        rt,
        id,
        rt.run(&["create", "--bundle", bundle.path_str(), id]),
    )
}

/// Starts the container `create` made (when it did) and waits until it runs.
fn started(rt: &Runtime, id: &str, create: Output) -> Output {
    if create.status.success() {
        rt.ok(&["start", id]);
        rt.wait_for_status(id, "running");
    }
    create
}

/// `create` + `start` on a host where root owns the subordinate ids 100000..165536, as
/// on hosts set up for rootful Podman's `--userns=auto`. libcontainer writes more than
/// one range through newuidmap/newgidmap, which allow root such a range and, like any
/// caller, a one-id range of its own uid (0). The subordinate id files are bound over
/// /etc in a private mount namespace of this one `create`, so the host's stay as they are.
fn start_with_subordinate_ids(rt: &Runtime, bundle: &Bundle, id: &str) -> Output {
    let ids = bundle.path().join("subordinate-ids");
    fs::write(&ids, "root:100000:65536\n").unwrap();
    let mut create = Command::new("unshare");
    create
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/subuid && mount --bind "$1" /etc/subgid && shift && exec "$@""#)
        .arg("sh")
        .arg(&ids)
        .arg(BULWARK)
        .arg("--root")
        .arg(rt.root())
        .args(["create", "--bundle", bundle.path_str(), id])
        .env("BULWARK_CONFIG", rt.config_path())
        .stdin(Stdio::null());
    started(rt, id, output_via_files(create))
}

/// The real, effective, saved and filesystem ids of `pid` as the host sees them.
fn host_ids(pid: i64, field: &str) -> Vec<u32> {
    proc_status(pid, field)
        .unwrap_or_else(|| panic!("no {field} for {pid}"))
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect()
}

/// Asserts `create` was refused by `namespaces.user-mapping` naming each of `paths`,
/// and, when bulwark let the container run instead, shows the host ids it ran as.
fn assert_refused(rt: &Runtime, id: &str, out: Output, paths: &[&str]) -> String {
    if out.status.success() {
        let pid = rt.state(id)["pid"].as_i64().unwrap();
        let (uids, gids) = (host_ids(pid, "Uid"), host_ids(pid, "Gid"));
        rt.ok(&["delete", "--force", id]);
        panic!("admitted: the container's init runs as host Uid {uids:?} Gid {gids:?}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe(&["create"], &out)
    );
    for path in paths {
        assert!(
            stderr.contains(&format!("[namespaces.user-mapping] {path} is ")),
            "{path} not named: {stderr}"
        );
    }
    rt.assert_nothing_left(id);
    stderr
}

/// The escape: the baseline runs root as 65532, and the spec maps 65532 to host uid 0
/// (gid likewise; container 0, which libcontainer sets up the container as, to a high
/// range). The "non-root" process would be host root, owner of every root-owned file a
/// second procfs or a cgroup mount exposes (host sysctls, its own limits). Refused.
#[test]
fn mapping_the_remapped_uid_to_host_root_is_refused_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    let to_host_root = json!([
        {"containerID": 0, "hostID": 100_000, "size": REMAPPED},
        {"containerID": REMAPPED, "hostID": 0, "size": 1}
    ]);
    with_user_namespace(&mut bundle, to_host_root.clone(), to_host_root);
    let id = unique_id("userns-root");
    let out = start_with_subordinate_ids(&rt, &bundle, &id);
    let stderr = assert_refused(
        &rt,
        &id,
        out,
        &["linux.uidMappings[1].hostID", "linux.gidMappings[1].hostID"],
    );
    assert!(stderr.contains("host uid 0"), "{stderr}");
}

/// Host ids below the floor belong to the host's system and human accounts: a range
/// starting at host uid 1000 is refused even though 65532 lands above the floor
/// (`exec --user 1000` would run as host uid 2000, a human account on most hosts).
#[test]
fn a_mapping_below_the_floor_is_refused() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    with_user_namespace(
        &mut bundle,
        one_range(0, 1000, 65536),
        one_range(0, 100_000, 65536),
    );
    let id = unique_id("userns-floor");
    let out = start(&rt, &bundle, &id);
    let stderr = assert_refused(&rt, &id, out, &["linux.uidMappings[0].hostID"]);
    assert!(
        stderr.contains("admission.user_namespaces.min_host_id (65536)"),
        "{stderr}"
    );
}

/// A mapping that leaves out the uid the baseline runs the process as was admitted and
/// failed late inside libcontainer ("failed syscall"). It is refused at admission,
/// naming the uid and gid that must be mapped.
#[test]
fn a_mapping_without_the_processs_ids_is_refused_at_admission() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    with_user_namespace(
        &mut bundle,
        one_range(0, 100_000, 1000),
        one_range(0, 100_000, 1000),
    );
    let id = unique_id("userns-unmapped");
    let out = start(&rt, &bundle, &id);
    let stderr = assert_refused(&rt, &id, out, &["process.user.uid", "process.user.gid"]);
    assert!(stderr.contains("refused by admission"), "{stderr}");
    assert!(!stderr.contains("failed syscall"), "{stderr}");
    assert!(stderr.contains("65532"), "{stderr}");
}

/// The mapping containerd gives a pod without host users: container 0..65536 to host
/// 100000..165536. Admitted; the process is 65532 inside and hardened, host uid 165532.
#[test]
fn a_safe_mapping_runs_as_a_high_host_uid_and_hardened() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    // runc's tmpcopyup cannot be done under a user namespace (crate::scratch): the tmpfs
    // is mounted empty, not staged where the namespace's root cannot reach it (EACCES in
    // libcontainer's canonicalize before).
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "tmpcopyup", "size=1m"]}),
    );
    bundle.set("/mounts", Value::Array(mounts));
    // The namespace's root cannot make the mount point in the host root's rootfs.
    fs::create_dir(bundle.path().join("rootfs/data")).unwrap();
    with_user_namespace(
        &mut bundle,
        one_range(0, 100_000, 65536),
        one_range(0, 100_000, 65536),
    );
    let id = unique_id("userns-safe");
    let out = start(&rt, &bundle, &id);
    assert!(out.status.success(), "{}", describe(&["create"], &out));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let host = 100_000 + REMAPPED;
    assert_eq!(host_ids(pid, "Uid"), [host; 4]);
    assert_eq!(host_ids(pid, "Gid"), [host; 4]);

    let exec = rt.ok(&["exec", &id, "/probe", "report"]);
    let report = probe_report(&exec.stdout);
    assert_hardened(&report, REMAPPED, REMAPPED);
    assert_eq!(common::probe_mount(&report, "/data")["fs_type"], "tmpfs");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// Host uid of container uid 0 in the exec tests' mapping.
const EXEC_HOST_BASE: u32 = 165_536;

/// A running container mapping container 0..65536 to host 165536..: its id and the
/// user namespace of its init as the host reads it (`user:[<inode>]`).
fn running_in_user_namespace(rt: &Runtime, bundle: &mut Bundle) -> (String, PathBuf) {
    let map = one_range(0, EXEC_HOST_BASE, 65536);
    with_user_namespace(bundle, map.clone(), map);
    let id = unique_id("userns-exec");
    let out = start(rt, bundle, &id);
    assert!(out.status.success(), "{}", describe(&["create"], &out));
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    let init_ns = fs::read_link(format!("/proc/{init}/ns/user")).unwrap();
    assert_ne!(init_ns, fs::read_link("/proc/self/ns/user").unwrap());
    (id, init_ns)
}

/// The exec'd process `pid` as the host sees it: in `init_ns`, as the host uid/gid of
/// container 65532, without capabilities, with no-new-privileges and a seccomp filter.
fn assert_joined_from_the_host(pid: i64, init_ns: &Path) {
    let host = EXEC_HOST_BASE + REMAPPED;
    assert_eq!(host_ids(pid, "Uid"), [host; 4]);
    assert_eq!(host_ids(pid, "Gid"), [host; 4]);
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/ns/user")).unwrap(),
        init_ns
    );
    for (field, expected) in [
        ("CapInh", "0000000000000000"),
        ("CapPrm", "0000000000000000"),
        ("CapEff", "0000000000000000"),
        ("CapBnd", "0000000000000000"),
        ("CapAmb", "0000000000000000"),
        ("NoNewPrivs", "1"),
        ("Seccomp", "2"),
    ] {
        assert_eq!(
            proc_status(pid, field).as_deref(),
            Some(expected),
            "{field}"
        );
    }
}

/// Issue #19 Phase 0 item 1: libcontainer 0.7's tenant builder joins every namespace of
/// the init but its user namespace, so an exec'd process ran in the host's user
/// namespace as host uid 65532 (the identity map, "65532" from inside too, which is why
/// the test above could not tell). The exec'd process must be in the init's user
/// namespace, as the mapped uid, with the baseline's controls intact: seen from inside
/// (the probe) and from the host (/proc/<exec pid>).
#[test]
fn exec_joins_the_containers_user_namespace_hardened() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let (id, init_ns) = running_in_user_namespace(&rt, &mut bundle);

    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_eq!(
        report["user_ns"].as_str(),
        init_ns.to_str(),
        "the exec'd process is not in the init's user namespace: {report}"
    );
    let uid_map: Vec<&str> = report["uid_map"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(uid_map, ["0", "165536", "65536"], "{report}");
    assert_hardened(&report, REMAPPED, REMAPPED);
    // The rootfs has no /etc/passwd, so no HOME for uid 65532, as without a user
    // namespace: nothing of the uid-0 stand-in bulwark hands libcontainer shows.
    assert_eq!(report["env_names"], json!(["PATH"]), "{report}");

    // Another user and a supplementary group: set inside the namespace, and no group of
    // host root's (which would show as the overflow gid 65534) is kept.
    let args = [
        "exec",
        "--user",
        "1000:1001",
        "-g",
        "1002",
        &id,
        "/probe",
        "report",
    ];
    let report = probe_report(&rt.ok(&args).stdout);
    assert_eq!(report["user_ns"].as_str(), init_ns.to_str(), "{report}");
    assert_hardened(&report, 1000, 1001);
    assert_eq!(report["groups"], json!([1002]), "{report}");

    let pid = rt.exec_detached(bundle.path(), &id, &["/probe", "sleep", "300"]);
    assert_joined_from_the_host(pid, &init_ns);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// A terminal exec (`podman exec -it`, `kubectl exec -it`): libcontainer sets the pty
/// up while the process is still the uid-0 stand-in, before bulwark's executor joins the
/// namespace; the process still runs in the init's user namespace, hardened, its stdin
/// the pty.
#[test]
fn a_terminal_exec_joins_the_containers_user_namespace() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let (id, init_ns) = running_in_user_namespace(&rt, &mut bundle);
    let console = ConsoleSocket::new();
    let pid_file = bundle.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        console.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "/probe",
        "sleep",
        "300",
    ]);
    // Held until the checks are done: a closed master hangs the process up.
    let _master = console
        .master(Duration::from_secs(5))
        .expect("no pty master sent");
    let pid = common::read_pid_file(&pid_file);
    assert_joined_from_the_host(pid, &init_ns);
    let stdin = fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert!(stdin.starts_with("/dev/pts/"), "{stdin:?}");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// A container in its own user namespace with a bind from the host and a secret: the
/// secrets tmpfs and the staged bind live under the state root, and libcontainer 0.7
/// resolves a mount's source *inside* the new user namespace (rootfs/mount.rs
/// `canonicalize`), where host root's 0700 directories are closed to the namespace's
/// root: create failed with EACCES before. Both reach the container with their content,
/// the staging directory is the namespace root's alone, and nothing is left.
#[test]
fn binds_and_secrets_reach_a_container_in_its_own_user_namespace() {
    let sources = common::Sources::new();
    let (secret, value) = sources.add("api_token");
    let data = tempfile::Builder::new()
        .prefix("bulwark-userns-bind-")
        .tempdir()
        .unwrap();
    let data_path = fs::canonicalize(data.path()).unwrap();
    fs::create_dir(data_path.join("data")).unwrap();
    fs::write(data_path.join("data/marker"), "volume").unwrap();
    let config = format!(
        "{}[admission.mounts]\nallowed_host_paths = [{:?}]\n",
        sources.config(""),
        data_path.display().to_string()
    );
    let rt = Runtime::with_config(&config);
    traversable_root(&rt);
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/mnt", "type": "bind",
                       "source": data_path.join("data"), "options": ["rbind", "ro"]}));
    bundle.set("/mounts", Value::Array(mounts));
    common::with_secrets(&mut bundle, json!({"api_token": secret}));
    // The namespace's root cannot make mount points in the host root's rootfs.
    for point in ["rootfs/mnt", "rootfs/run/secrets"] {
        fs::create_dir_all(bundle.path().join(point)).unwrap();
    }
    let map = one_range(0, EXEC_HOST_BASE, 65536);
    with_user_namespace(&mut bundle, map.clone(), map);
    let id = unique_id("userns-binds");
    let out = start(&rt, &bundle, &id);
    assert!(out.status.success(), "{}", describe(&["create"], &out));

    let read = rt.ok(&[
        "exec",
        &id,
        "/probe",
        "read-each",
        "/mnt/marker",
        "/run/secrets/api_token",
    ]);
    let report = probe_report(&read.stdout);
    assert_eq!(report["/mnt/marker"]["content"], "volume", "{report}");
    assert_eq!(report["/run/secrets/api_token"]["content"], value.as_str());
    // libcontainer's directory, crossable under the 0711 root, is closed once created.
    assert_eq!(mode_of(&rt.root().join(&id)), (0, 0, 0o700));
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);

    // A create killed once the binds are staged shows where they are: in a directory of
    // the namespace's root alone, below directories others may cross but not list.
    let killed = unique_id("userns-binds-killed");
    let mut create = rt.command(&["create", "--bundle", bundle.path_str(), &killed]);
    create.env("BULWARK_FAILPOINT", "after-effective-spec");
    let out = output_via_files(create);
    assert!(!out.status.success(), "{}", describe(&["create"], &out));
    let private = rt.root().join("@bulwark").join(&killed);
    assert_eq!(
        mode_of(&private.join("binds")),
        (EXEC_HOST_BASE, EXEC_HOST_BASE, 0o700)
    );
    assert_eq!(mode_of(&private), (0, 0, 0o711));
    assert_eq!(mode_of(&rt.root().join("@bulwark")), (0, 0, 0o711));
    rt.ok(&["delete", "--force", &killed]);
    rt.assert_no_leftovers_or_mounts(&killed);
}

/// Owner uid, gid and permission bits of `path`.
fn mode_of(path: &Path) -> (u32, u32, u32) {
    let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

/// A state root the namespace's root cannot traverse (0700, as runc makes /run/runc):
/// the container is refused before libcontainer runs, naming the root and what to do,
/// instead of libcontainer's bare EACCES. Nothing is left.
#[test]
fn a_state_root_closed_to_the_user_namespace_is_refused_with_the_reason() {
    let sources = common::Sources::new();
    let (secret, _) = sources.add("api_token");
    let rt = Runtime::with_config(&sources.config(""));
    fs::set_permissions(rt.root(), fs::Permissions::from_mode(0o700)).unwrap();
    let mut bundle = Bundle::new(&["/probe", "sleep", "60"]);
    common::with_secrets(&mut bundle, json!({"api_token": secret}));
    let map = one_range(0, EXEC_HOST_BASE, 65536);
    with_user_namespace(&mut bundle, map.clone(), map);
    let id = unique_id("userns-closed");
    let out = rt.run(&["create", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{}", describe(&["create"], &out));
    let root = rt.root().display().to_string();
    assert!(
        stderr.contains(&format!("{root} (mode 0700,"))
            && stderr.contains(&format!("host uid {EXEC_HOST_BASE}"))
            && stderr.contains("chmod o+x"),
        "{stderr}"
    );
    rt.assert_no_leftovers_or_mounts(&id);
}

/// Containerd's runc roots are 0711: traversable, not listable. A root the user
/// namespace's root can cross, as a state root for user-namespaced containers must be.
fn traversable_root(rt: &Runtime) {
    fs::set_permissions(rt.root(), fs::Permissions::from_mode(0o711)).unwrap();
}
