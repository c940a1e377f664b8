//! The command line as engines see it: runc's log format, exit codes and state shape
//! (compared with Debian's runc), clear errors, `features`, `spec` and `--version`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{describe, output_via_files, unique_id, Bundle, Runtime, BULWARK};
use serde_json::{json, Value};

#[test]
fn a_failed_create_logs_runc_json_and_a_plain_stderr_line() {
    let rt = Runtime::new();
    let log = tempfile::NamedTempFile::new().unwrap();
    let log_path = log.path().to_str().unwrap();
    let id = unique_id("nolog");
    // containerd's shim passes exactly these global flags.
    let stderr = rt.fails(&[
        "--log",
        log_path,
        "--log-format",
        "json",
        "create",
        "--bundle",
        "/nonexistent/bundle",
        &id,
    ]);
    assert!(stderr.starts_with("bulwark: "), "{stderr}");
    assert!(stderr.contains("/nonexistent/bundle"), "{stderr}");

    let text = fs::read_to_string(log.path()).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error", "{text}");
    assert!(
        last["msg"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/bundle"),
        "{text}"
    );
    assert!(last["time"].as_str().unwrap().ends_with('Z'), "{text}");
    assert_eq!(last.as_object().unwrap().len(), 3, "{text}");
    assert!(rt.leftovers(&id).is_empty());
}

#[test]
fn flags_accept_both_equals_and_space_forms() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "exit", "0"]);
    let id = unique_id("eq");
    let root = format!("--root={}", rt.root().display());
    let bundle_flag = format!("--bundle={}", bundle.path_str());
    let out = Command::new(BULWARK)
        .env("BULWARK_CONFIG", rt.config_path())
        .args([&root, "--log-format=text", "run", &bundle_flag, &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&["run"], &out));
}

#[test]
fn ignored_runc_flags_are_accepted() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "exit", "0"]);
    let id = unique_id("ign");
    let root = rt.root().to_str().unwrap();
    let out = Command::new(BULWARK)
        .env("BULWARK_CONFIG", rt.config_path())
        .args(["--root", root, "--rootless=false", "--criu", "/x"])
        .args(["run", "--no-new-keyring", "--no-subreaper", "--bundle"])
        .args([bundle.path_str(), &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&["run"], &out));
}

#[test]
fn invalid_ids_are_refused_before_touching_the_filesystem() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    for id in ["../escape", "a/b", ".", "..", "@bulwark", "sp ace"] {
        let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), id]);
        assert!(stderr.contains("invalid container id"), "{id}: {stderr}");
    }
    assert!(!rt.root().parent().unwrap().join("escape").exists());
    let entries: Vec<_> = fs::read_dir(rt.root()).unwrap().collect();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn a_create_that_fails_leaves_nothing_behind() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    // The process binary does not exist in the rootfs: libcontainer fails late, after
    // it created the container directory, cgroup and namespaces.
    bundle.set("/process/args", json!(["/missing-binary"]));
    let id = unique_id("late");
    rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
    // The id can be used again at once.
    let good = Bundle::new(&["/probe", "sleep", "300"]);
    rt.ok(&["create", "--bundle", good.path_str(), &id]);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn oversized_and_malformed_specs_are_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    fs::write(bundle.path().join("config.json"), "{ not json").unwrap();
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), "bad1"]);
    assert!(stderr.contains("not a valid OCI runtime spec"), "{stderr}");
    fs::write(bundle.path().join("config.json"), vec![b' '; 5 << 20]).unwrap();
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), "bad2"]);
    assert!(stderr.contains("at most"), "{stderr}");
    assert!(rt.leftovers("bad1").is_empty() && rt.leftovers("bad2").is_empty());
}

#[test]
fn features_are_truthful() {
    let rt = Runtime::new();
    let features: Value = serde_json::from_slice(&rt.ok(&["features"]).stdout).unwrap();
    assert_eq!(features["linux"]["seccomp"]["enabled"], true);
    let apparmor = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    assert_eq!(features["linux"]["apparmor"]["enabled"], apparmor);
    let namespaces = features["linux"]["namespaces"].as_array().unwrap();
    for ns in ["pid", "network", "mount", "ipc", "uts"] {
        assert!(namespaces.contains(&json!(ns)), "{namespaces:?}");
    }
    assert!(
        features["annotations"]["io.github.seccomp.libseccomp.version"]
            .as_str()
            .unwrap()
            .starts_with("2."),
        "{features}"
    );
    assert!(features["ociVersionMax"]
        .as_str()
        .unwrap()
        .starts_with("1."));
}

#[test]
fn version_and_spec() {
    let out = Command::new(BULWARK).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("bulwark "));

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().to_str().unwrap();
    let out = Command::new(BULWARK)
        .args(["spec", "--bundle", bundle])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&["spec"], &out));
    let spec: Value =
        serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert!(spec["ociVersion"].as_str().unwrap().starts_with("1."));
    // Never overwrites an existing config.json.
    let out = Command::new(BULWARK)
        .args(["spec", "--bundle", bundle])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Runs runc with its own temporary root.
fn runc(root: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("runc");
    cmd.arg("--root").arg(root).args(args);
    output_via_files(cmd)
}

#[test]
fn state_and_exit_codes_match_runc() {
    let runc_root = tempfile::tempdir().unwrap();
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("cmp");

    let out = runc(
        runc_root.path(),
        &["create", "--bundle", bundle.path_str(), &id],
    );
    assert!(out.status.success(), "{}", describe(&["runc create"], &out));
    let runc_state: Value =
        serde_json::from_slice(&runc(runc_root.path(), &["state", &id]).stdout).unwrap();
    runc(runc_root.path(), &["delete", "--force", &id]);
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let our_state = rt.state(&id);
    rt.ok(&["delete", "--force", &id]);

    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&our_state),
        keys(&runc_state),
        "ours {our_state}\nrunc {runc_state}"
    );
    for field in ["id", "status", "bundle", "rootfs", "owner"] {
        assert_eq!(our_state[field], runc_state[field], "{field}");
    }

    // Exit codes: the container's own code passes through; errors are 1.
    let exit_bundle = Bundle::new(&["/probe", "exit", "5"]);
    let runc_run = runc(
        runc_root.path(),
        &["run", "--bundle", exit_bundle.path_str(), &id],
    );
    let our_run = rt.run(&["run", "--bundle", exit_bundle.path_str(), &id]);
    assert_eq!(our_run.status.code(), runc_run.status.code());
    assert_eq!(our_run.status.code(), Some(5));
    for args in [
        vec!["state", "missing"],
        vec!["kill", "missing", "TERM"],
        vec!["delete", "missing"],
        vec!["start", "missing"],
    ] {
        let theirs = runc(runc_root.path(), &args).status.code();
        let ours = rt.run(&args).status.code();
        assert_eq!(ours, theirs, "{args:?}");
    }
    assert_eq!(
        rt.run(&["delete", "--force", "missing"]).status.code(),
        runc(runc_root.path(), &["delete", "--force", "missing"])
            .status
            .code()
    );
}

#[test]
fn validate_reports_every_violation_and_creates_nothing() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let out = rt.ok(&["validate", "--bundle", bundle.path_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ADMITTED"), "{text}");
    assert!(text.contains("[non-root] process.user"), "{text}");

    bundle.set("/linux/resources", json!({}));
    bundle.set("/linux/sysctl", json!({"kernel.core_pattern": "|/evil"}));
    let out = rt.run(&[
        "validate",
        "--format",
        "json",
        "--bundle",
        bundle.path_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe(&["validate"], &out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["admitted"], false);
    let rules: Vec<&str> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "resources.memory-limit",
            "resources.cpu-limit",
            "resources.pids-limit",
            "sysctls.unsafe"
        ]
    );
    assert_eq!(
        report["violations"][3]["path"],
        "linux.sysctl[\"kernel.core_pattern\"]"
    );
    let entries: Vec<_> = fs::read_dir(rt.root()).unwrap().collect();
    assert!(entries.is_empty(), "validate created {entries:?}");
}
