//! User namespaces through real Podman (issue #19 Phase 0 item 1): `podman exec` into a
//! `--uidmap` container runs in the container's user namespace. libcontainer 0.7's
//! tenant builder never joins `user`, so the exec'd process ran in the host's user
//! namespace as host uid 65532 (src/user_namespace_join.rs).

use std::fs;

use serde_json::json;

use crate::harness::{probe_report, Podman, BULWARK_CONFIG};

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

/// `baseline.user_namespace.mode = "auto"` through Podman (issue #19 Phase 1 item 4): a
/// container of an image whose non-root user owns a 0700 home runs in a user namespace
/// of its own, and that user reads its own files. Podman hands the runtime an overlay,
/// which bulwark rebuilds read-only from idmapped layers; the mount points Podman binds
/// and the image lacks (`/etc/hosts`, `/etc/hostname`, `/run/.containerenv`) are made
/// before. Before: "failed to prepare rootfs" (libcontainer could not make `/etc/hosts`
/// as the namespace's root: EACCES), so no Podman container ran in auto mode.
#[test]
fn podman_auto_mode_container_reads_its_image_users_own_files() {
    use std::os::unix::fs::PermissionsExt;
    let pm = Podman::new();
    // The state root under the test's directory: the namespace's root resolves the
    // view there (containerd's and bulwark's own roots are 0711).
    fs::set_permissions(pm.path(""), fs::Permissions::from_mode(0o711)).unwrap();
    let add = tempfile::tempdir().unwrap();
    let home = add.path().join("home/app");
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("secret"), "the image user's own\n").unwrap();
    fs::set_permissions(home.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    for path in [home.clone(), home.join("secret")] {
        std::os::unix::fs::chown(&path, Some(REMAPPED), Some(REMAPPED)).unwrap();
    }
    const OWN_FILES: &str = "localhost/bulwark-probe:own-files";
    pm.load_image_with(OWN_FILES, add.path());
    pm.set_bulwark_config(&format!(
        "{BULWARK_CONFIG}[baseline.user_namespace]\nmode = \"auto\"\n"
    ));
    let args = Podman::run_args(
        OWN_FILES,
        &["--rm"],
        &["read-each", "/home/app/secret", "/proc/self/uid_map"],
    );
    let out = pm.podman(&args);
    assert!(out.status.success(), "{}", pm.describe(&args, &out));
    let read = probe_report(&out);
    let context = || format!("{read}\n{}", pm.describe(&args, &out));
    assert_eq!(
        read["/home/app/secret"]["content"],
        "the image user's own\n",
        "{}",
        context()
    );
    let uid_map: Vec<&str> = read["/proc/self/uid_map"]["content"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(uid_map, ["0", "1073741824", "65536"], "{}", context());
    let rt = pm.path("rt");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(rt.to_str().unwrap()),
        "a mount left under {}",
        rt.display()
    );
    assert_eq!(fs::read_dir(rt.join("@bulwark")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(rt.join("@userns")).unwrap().count(), 0);
}

/// `baseline.user_namespace.mode = "auto"` under Podman (issue #19 Phase 1 item 4): a
/// pod's infra container gets a host range and user namespace of its own, and a member
/// joining the infra's network, ipc and uts namespaces runs in the infra's user
/// namespace on the same range, hardened, `podman exec` included. Removing the pod
/// leaves no lease.
#[test]
fn podman_pod_under_auto_mode_shares_the_infra_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let pm = Podman::new();
    // The state root under the test's directory: the namespace's root resolves the
    // view there (containerd's and bulwark's own roots are 0711).
    fs::set_permissions(pm.path(""), fs::Permissions::from_mode(0o711)).unwrap();
    pm.set_bulwark_config(
        "[baseline.apparmor]\nallow_missing = true\n\
         [admission.images]\napproved = [\"localhost/bulwark-probe\", \"localhost/podman-pause\"]\n\
         [baseline.user_namespace]\nmode = \"auto\"\nfirst_host_id = 1073741824\nranges = 8\n",
    );
    let member = pm.run_detached(&["--pod", "new:auto-pod"], &["sleep", "300"]);
    let pid_of = |container: &str| -> String {
        let out = pm.podman_ok(&["inspect", "--format", "{{.State.Pid}}", container]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let infra = pm.podman_ok(&[
        "pod",
        "inspect",
        "--format",
        "{{.InfraContainerID}}",
        "auto-pod",
    ]);
    let infra = String::from_utf8_lossy(&infra.stdout).trim().to_owned();
    let (infra_pid, member_pid) = (pid_of(&infra), pid_of(&member));
    let link = |pid: &str, ns: &str| fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
    assert_ne!(
        link(&infra_pid, "user"),
        fs::read_link("/proc/self/ns/user").unwrap()
    );
    for ns in ["user", "net", "ipc", "uts"] {
        assert_eq!(link(&member_pid, ns), link(&infra_pid, ns), "{ns}");
    }
    let uid_map = fs::read_to_string(format!("/proc/{member_pid}/uid_map")).unwrap();
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    assert_eq!(fields, ["0", "1073741824", "65536"]);

    let exec_args = ["exec", member.as_str(), "/probe", "report"];
    let out = pm.podman_ok(&exec_args);
    let exec = probe_report(&out);
    assert_eq!(exec["user_ns"].as_str(), link(&infra_pid, "user").to_str());
    assert_eq!(exec["uid"], json!(REMAPPED), "{exec}");
    assert_eq!(exec["no_new_privs"], json!(1), "{exec}");
    assert_eq!(exec["seccomp"], json!(2), "{exec}");
    assert_eq!(exec["caps"]["effective"], "0000000000000000", "{exec}");

    pm.podman_ok(&["pod", "rm", "--force", "--time", "0", "auto-pod"]);
    let rt = pm.path("rt");
    assert_eq!(fs::read_dir(rt.join("@bulwark")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(rt.join("@userns")).unwrap().count(), 0);
}

/// Podman's `--userns=auto` (issue #19 Phase 1 item 4): Podman picks a range from the
/// `containers` entries of /etc/subuid and /etc/subgid (bound in a private mount
/// namespace) and brings the user namespace itself; bulwark adds none. Podman sizes the
/// range to the image (container ids 0-65531 for the probe image), which leaves out the
/// baseline's 65532: refused at admission naming the mapping and the range, nothing
/// left (before Phase 0: libcontainer's late "failed syscall"). With room for it
/// (`--userns=auto:size=65536`) the process runs as 65532 in Podman's range, hardened.
#[test]
fn podman_userns_auto_is_refused_without_room_for_65532_and_runs_with_it() {
    let pm = Podman::new();
    let ids = "containers:2147483648:2147483648\n";
    let run = |userns: &str| {
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--pull",
            "never",
            "--memory",
            "128m",
            "--cpus",
            "1",
            "--pids-limit",
            "64",
        ];
        args.extend([userns, crate::harness::IMAGE, "report"]);
        (pm.podman_with_subids(&args, ids, ids), args.join(" "))
    };
    let (out, args) = run("--userns=auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args}: {stderr}");
    assert!(
        stderr.contains("namespaces.user-mapping")
            && stderr.contains("process.user.uid is 65532")
            && stderr.contains("container uids 0-65531"),
        "{stderr}"
    );
    let rt = pm.path("rt");
    assert_eq!(fs::read_dir(rt.join("@bulwark")).unwrap().count(), 0);

    let (out, args) = run("--userns=auto:size=65536");
    assert!(
        out.status.success(),
        "{args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = probe_report(&out);
    let fields: Vec<u64> = report["uid_map"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        fields.len() == 3 && fields[0] == 0 && fields[1] >= 1 << 31 && fields[2] == 65536,
        "{report}"
    );
    assert_ne!(
        report["user_ns"].as_str(),
        fs::read_link("/proc/self/ns/user").unwrap().to_str()
    );
    assert_eq!(report["uid"], json!(REMAPPED), "{report}");
    assert_eq!(report["no_new_privs"], json!(1), "{report}");
    assert_eq!(report["seccomp"], json!(2), "{report}");
    assert_eq!(report["caps"]["effective"], "0000000000000000", "{report}");
    assert_eq!(fs::read_dir(rt.join("@bulwark")).unwrap().count(), 0);
}
