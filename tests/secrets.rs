//! File-based secrets through the built binary, asserted from inside real containers
//! with the probe: a secret from the `bulwark.io/secrets` annotation is a read-only
//! 0400 file on bulwark's tmpfs at /run/secrets, owned by the process's uid, never in
//! the environment, the effective spec, the log or an error; delete (also after
//! SIGKILL of the container) and failed creates leave no mount and no file; bad sources
//! and a target that crosses a link are refused. bulwark itself killed at each point of
//! a create with secrets: tests/faults.rs.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::{
    host_mounts, probe_mount, probe_report, unique_id, with_secrets, Bundle, Runtime, Sources,
};
use serde_json::{json, Value};

fn stat(rt: &Runtime, id: &str, path: &str) -> Value {
    probe_report(&rt.ok(&["exec", id, "/probe", "stat", path]).stdout)
}

#[test]
fn a_secret_is_a_read_only_0400_file_on_tmpfs_owned_by_the_process() {
    let sources = Sources::new();
    let (path, value) = sources.add("api_token");
    let rt = Runtime::with_config(&sources.config(""));
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    with_secrets(&mut bundle, json!({"api_token": path}));
    let id = unique_id("secret");
    let log = rt.root().with_extension("log");
    let log_str = log.to_str().unwrap();
    let run = rt.ok(&[
        "--debug",
        "--log",
        log_str,
        "--log-format",
        "json",
        "run",
        "--detach",
        "--bundle",
        bundle.path_str(),
        &id,
    ]);

    // Inside: the file, its owner and mode, the directory, the mount.
    let file = stat(&rt, &id, "/run/secrets/api_token");
    assert_eq!(file["file_type"], "file", "{file}");
    assert_eq!(file["mode"], "0400", "{file}");
    assert_eq!((&file["uid"], &file["gid"]), (&json!(65532), &json!(65532)));
    assert_eq!(file["size"], value.len(), "{file}");
    let dir = stat(&rt, &id, "/run/secrets");
    assert_eq!(dir["mode"], "0700", "{dir}");
    assert_eq!(dir["uid"], 65532, "{dir}");
    let cat = rt.ok(&["exec", &id, "/probe", "cat", "/run/secrets/api_token"]);
    assert_eq!(String::from_utf8_lossy(&cat.stdout), value);
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    let secrets = probe_mount(&report, "/run/secrets");
    assert_eq!(secrets["fs_type"], "tmpfs", "{secrets}");
    assert_eq!(secrets["source"], "bulwark-secrets", "{secrets}");
    let options: Vec<&str> = secrets["options"].as_str().unwrap().split(',').collect();
    for option in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(options.contains(&option), "{option}: {secrets}");
    }
    let write = rt.run(&["exec", &id, "/probe", "write", "/run/secrets/new", "x"]);
    assert_eq!(String::from_utf8_lossy(&write.stderr).trim(), "EROFS");

    // Not in the environment of the init process, nor of an exec'd one.
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&environ).contains(&value));
    let env = rt.ok(&["exec", &id, "/probe", "env"]);
    assert!(!String::from_utf8_lossy(&env.stdout).contains(&value));

    // On the host: bulwark's tmpfs is the only copy, under the private directory.
    let store = rt.root().join("@bulwark").join(&id).join("secrets");
    let store_str = store.to_str().unwrap();
    let mounts = host_mounts(store_str);
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert!(
        mounts[0].contains(" - tmpfs bulwark-secrets "),
        "{mounts:?}"
    );
    let spec =
        fs::read_to_string(rt.root().join("@bulwark").join(&id).join("config.json")).unwrap();
    assert!(!spec.contains(&value), "the value is in the effective spec");
    assert!(
        spec.contains(store_str),
        "the bind of the tmpfs is in the spec"
    );

    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
    assert!(!store.exists());
    let logged = fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("api_token"),
        "the debug log names the secret: {logged}"
    );
    assert!(!logged.contains(&value), "the value is in the log");
    assert!(!String::from_utf8_lossy(&run.stderr).contains(&value));
    // The source is copied, not moved.
    assert_eq!(fs::read_to_string(&path).unwrap(), value);
    let _ = fs::remove_file(log);
}

#[test]
fn inject_file_env_names_the_file_and_never_the_value() {
    let sources = Sources::new();
    let (path, value) = sources.add("db_password");
    let rt = Runtime::with_config(&sources.config("inject_file_env = true\n"));
    let mut bundle = Bundle::new(&["/probe", "env"]);
    with_secrets(&mut bundle, json!({"db_password": path}));
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("env")]);
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.lines()
            .any(|l| l == "db_password_FILE=/run/secrets/db_password"),
        "{env}"
    );
    assert!(!env.contains(&value), "{env}");
}

#[test]
fn kill_9_then_delete_force_leaves_no_mount_and_no_file() {
    let sources = Sources::new();
    let (path, _) = sources.add("token");
    let rt = Runtime::with_config(&sources.config(""));
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    with_secrets(&mut bundle, json!({"token": path}));

    // A started container whose init is SIGKILLed.
    let id = unique_id("kill9");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    rt.wait_for_status(&id, "stopped");
    assert_eq!(host_mounts(&id).len(), 1, "the tmpfs outlives the process");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);

    // A created, never started container deleted by force.
    let id = unique_id("created");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
}

#[test]
fn a_late_create_failure_after_the_tmpfs_was_mounted_leaves_no_mount() {
    let sources = Sources::new();
    let (path, value) = sources.add("token");
    let rt = Runtime::with_config(&sources.config(""));
    // libcontainer fails after bulwark delivered the secrets: no such binary.
    let mut bundle = Bundle::new(&["/missing-binary"]);
    with_secrets(&mut bundle, json!({"token": path}));
    let id = unique_id("late");
    let log = rt.root().with_extension("log");
    let out = rt.run(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "create",
        "--bundle",
        bundle.path_str(),
        &id,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        common::describe(&[], &out)
    );
    let logged = fs::read_to_string(&log).unwrap();
    assert!(logged.contains("secrets delivered"), "{logged}");
    assert!(!logged.contains(&value));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&value));
    rt.assert_no_leftovers_or_mounts(&id);
    let _ = fs::remove_file(log);
}

/// Runs a create that must be refused with `expected` in its error, without the value
/// anywhere in the output and with nothing left behind.
fn assert_refused(rt: &Runtime, bundle: &Bundle, expected: &str, value: &str) {
    let id = unique_id("refused");
    let out = rt.run(&["create", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        common::describe(&[], &out)
    );
    assert!(stderr.contains(expected), "expected {expected:?}: {stderr}");
    assert!(!stderr.contains(value), "{stderr}");
    rt.assert_no_leftovers_or_mounts(&id);
}

#[test]
fn sources_outside_the_allowed_directories_links_and_special_files_are_refused() {
    let sources = Sources::new();
    let (good, value) = sources.add("good");
    let other = Sources::new();
    let (outside, _) = other.add("outside");
    let rt = Runtime::with_config(&sources.config("max_bytes = 64\n"));
    let mut bundle = Bundle::new(&["/probe", "report"]);

    with_secrets(&mut bundle, json!({"outside": outside}));
    assert_refused(&rt, &bundle, "not a file under secrets.source_dirs", &value);
    let climbing = sources
        .path()
        .join("..")
        .join(other.path().file_name().unwrap())
        .join("outside");
    with_secrets(&mut bundle, json!({"outside": climbing}));
    assert_refused(&rt, &bundle, "not a file under secrets.source_dirs", &value);

    symlink(&good, sources.path().join("link")).unwrap();
    with_secrets(&mut bundle, json!({"link": sources.path().join("link")}));
    assert_refused(&rt, &bundle, "has a symbolic link in its path", &value);
    fs::create_dir(sources.path().join("real")).unwrap();
    fs::write(sources.path().join("real/file"), &value).unwrap();
    symlink("real", sources.path().join("dirlink")).unwrap();
    with_secrets(
        &mut bundle,
        json!({"file": sources.path().join("dirlink/file")}),
    );
    assert_refused(&rt, &bundle, "has a symbolic link in its path", &value);

    nix::unistd::mkfifo(&sources.path().join("fifo"), nix::sys::stat::Mode::S_IRUSR).unwrap();
    with_secrets(&mut bundle, json!({"fifo": sources.path().join("fifo")}));
    assert_refused(&rt, &bundle, "is a FIFO, not a regular file", &value);
    let device = sources.path().join("null");
    nix::sys::stat::mknod(
        &device,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::S_IRUSR,
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    with_secrets(&mut bundle, json!({ "null": device }));
    assert_refused(&rt, &bundle, "is a device, not a regular file", &value);
    with_secrets(&mut bundle, json!({"null": "/dev/null"}));
    assert_refused(&rt, &bundle, "not a file under secrets.source_dirs", &value);

    fs::write(sources.path().join("big"), vec![b'x'; 65]).unwrap();
    with_secrets(&mut bundle, json!({"big": sources.path().join("big")}));
    assert_refused(
        &rt,
        &bundle,
        "65 bytes; at most secrets.max_bytes = 64",
        &value,
    );

    // A good secret next to a bad one: nothing is delivered.
    with_secrets(
        &mut bundle,
        json!({"good": good, "big": sources.path().join("big")}),
    );
    assert_refused(&rt, &bundle, "at most secrets.max_bytes", &value);

    for name in ["..", "a/b", "", "sp ace"] {
        with_secrets(&mut bundle, json!({ name: good }));
        assert_refused(&rt, &bundle, "invalid secret name", &value);
    }
    with_secrets(&mut bundle, json!(["not", "an", "object"]));
    assert_refused(&rt, &bundle, "must be a JSON object", &value);
}

/// Issue #21 item 1 for `bulwark.io/secrets`: the policy decides on the secret's name,
/// so the name must be the source's own. research-agent is granted openai-api-key (the
/// shipped data), not signing-key; mapping the granted name to signing-key's file was
/// admitted before and the container read signing-key's value. Now refused naming both,
/// while the granted secret from its own file is read.
#[test]
fn a_secret_is_delivered_only_under_its_sources_name() {
    let sources = Sources::new();
    let (granted, granted_value) = sources.add("openai-api-key");
    let (other, other_value) = sources.add("signing-key");
    let rt = Runtime::with_config(&sources.shipped_policy_config(""));
    let mut bundle = Bundle::new(&["/probe", "cat", "/run/secrets/openai-api-key"]);
    bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));

    with_secrets(&mut bundle, json!({ "openai-api-key": other }));
    assert_refused(
        &rt,
        &bundle,
        "secrets: \"openai-api-key\" would be delivered from",
        &other_value,
    );
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &unique_id("alias")]);
    assert!(stderr.contains("signing-key"), "{stderr}");

    with_secrets(&mut bundle, json!({ "openai-api-key": granted }));
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("own")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), granted_value);
}

#[test]
fn the_annotation_is_refused_without_source_dirs() {
    let sources = Sources::new();
    let (path, value) = sources.add("token");
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    with_secrets(&mut bundle, json!({"token": path}));
    assert_refused(&rt, &bundle, "allows no source directory", &value);
}

/// The image's `/run` is a link, so the default target /run/secrets crosses it: to a
/// fresh host directory (by its absolute path, and by a relative path that climbs out of
/// the rootfs to it) and to a directory inside the rootfs. bulwark refuses each
/// (src/secrets/target.rs); the host directory stays empty with nothing mounted on it,
/// and nothing was created through the link inside the rootfs either.
#[test]
fn a_target_that_crosses_a_link_out_of_the_rootfs_is_refused() {
    let sources = Sources::new();
    let (path, value) = sources.add("token");
    let rt = Runtime::with_config(&sources.config(""));
    let host = tempfile::Builder::new()
        .prefix("bulwark-secrets-escape-")
        .tempdir()
        .unwrap();
    let climb = format!(
        "../../{}",
        host.path().file_name().unwrap().to_str().unwrap()
    );
    for link in [host.path().to_str().unwrap(), &climb, "/tmp"] {
        let mut bundle = Bundle::new(&["/probe", "report"]);
        // `climb` reaches the host directory from <bundle>/rootfs/run.
        assert_eq!(bundle.path().parent(), host.path().parent());
        with_secrets(&mut bundle, json!({"token": path}));
        let rootfs = bundle.path().join("rootfs");
        symlink(link, rootfs.join("run")).unwrap();
        assert_refused(
            &rt,
            &bundle,
            "crosses a symbolic link in the rootfs",
            &value,
        );
        let entries: Vec<_> = fs::read_dir(host.path()).unwrap().collect();
        assert!(entries.is_empty(), "{link}: {entries:?}");
        let host_dir = host.path().to_str().unwrap();
        assert!(
            host_mounts(host_dir).is_empty(),
            "{:?}",
            host_mounts(host_dir)
        );
        assert!(!rootfs.join("tmp/secrets").exists(), "{link}");
        assert!(
            !rootfs.join(host_dir.trim_start_matches('/')).exists(),
            "{link}"
        );
    }
}

#[test]
fn a_configured_target_is_honoured() {
    let sources = Sources::new();
    let (path, value) = sources.add("token");
    let rt = Runtime::with_config(&sources.config("target = \"/var/lib/app/secrets\"\n"));
    let mut bundle = Bundle::new(&["/probe", "cat", "/var/lib/app/secrets/token"]);
    with_secrets(&mut bundle, json!({"token": path}));
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("target")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), value);
}

#[test]
fn a_container_without_secrets_gets_no_secrets_mount() {
    let sources = Sources::new();
    let rt = Runtime::with_config(&sources.config(""));
    let bundle = Bundle::new(&["/probe", "report"]);
    let report = probe_report(
        &rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("none")])
            .stdout,
    );
    let mounts = report["mounts"].as_array().unwrap();
    assert!(
        !mounts.iter().any(|m| m["source"] == "bulwark-secrets"),
        "{report}"
    );
    // No mount point made for it either (/run itself is the baseline's scratch tmpfs).
    assert!(!Path::new(&bundle.path().join("rootfs/run/secrets")).exists());
}

/// Kubernetes secret volumes under containerd CRI are kubelet's tmpfs, bound from the
/// pod's directory: bulwark leaves them alone, and under the baseline's uid remapping
/// (root → 65532) a file is readable if it is world-readable or group-owned by the
/// process's gid (fsGroup), not if it is root's 0400.
#[test]
fn cri_secret_volumes_stay_kubelets_and_follow_file_permissions() {
    let kubelet = tempfile::Builder::new()
        .prefix("bulwark-kubelet-")
        .tempdir()
        .unwrap();
    let pod_uid = "5f0c6a2e-4b7f-4e3a-9c5d-2f1e0a9b8c7d";
    let volume = kubelet.path().join(format!(
        "kubelet/pods/{pod_uid}/volumes/kubernetes.io~secret/creds"
    ));
    fs::create_dir_all(&volume).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0755", "kubelet-secret"])
        .arg(&volume)
        .status()
        .unwrap();
    assert!(status.success());
    // Unmounted however the test ends.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _unmount = Unmount(volume.clone());
    use std::os::unix::fs::PermissionsExt;
    for (file, mode, gid) in [
        ("token", 0o644, 0),
        ("key", 0o440, 65532),
        ("root-only", 0o400, 0),
    ] {
        let path = volume.join(file);
        fs::write(&path, file).unwrap();
        std::os::unix::fs::chown(&path, Some(0), Some(gid)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    let rt = Runtime::new();
    // The pod's sandbox: a CRI container's claim holds only for a live one.
    let sandbox = unique_id("cri-volume-sandbox");
    let _sandbox_bundle = common::start_cri_sandbox(&rt, &sandbox, pod_uid);
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.set(
        "/annotations",
        json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": sandbox,
            "io.kubernetes.cri.sandbox-uid": pod_uid,
            "io.kubernetes.cri.image-name": common::TEST_IMAGE,
        }),
    );
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/var/run/secrets/app", "type": "bind",
                       "source": volume, "options": ["rbind", "rprivate", "ro"]}),
    );
    bundle.set("/mounts", Value::Array(mounts));
    let id = unique_id("cri-volume");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    for readable in ["token", "key"] {
        let path = format!("/var/run/secrets/app/{readable}");
        let out = rt.ok(&["exec", &id, "/probe", "cat", &path]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), readable);
    }
    let denied = rt.run(&[
        "exec",
        &id,
        "/probe",
        "cat",
        "/var/run/secrets/app/root-only",
    ]);
    assert_eq!(String::from_utf8_lossy(&denied.stderr).trim(), "EACCES");
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    let volume_mount = probe_mount(&report, "/var/run/secrets/app");
    assert_eq!(volume_mount["source"], "kubelet-secret", "{report}");
    assert!(
        !report["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["source"] == "bulwark-secrets"),
        "{report}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.ok(&["delete", "--force", &sandbox]);
    rt.assert_no_leftovers_or_mounts(&id);
}
