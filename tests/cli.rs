//! The command line as engines see it: runc's log format, exit codes and state shape
//! (compared with Debian's runc), clear errors, `features`, `spec` and `--version`; bad
//! input (bundles and config.json files that are missing, special, huge, malformed or
//! of the wrong types, unknown fields, bad ids, an unwritable pid file) each refused
//! with one clear error and nothing left behind.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    // NUL cannot reach bulwark: argv strings end at it.
    let long = "a".repeat(256);
    for id in [
        "../escape",
        "a/b",
        ".",
        "..",
        "@bulwark",
        "sp ace",
        "",
        &long,
    ] {
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
    let apparmor = common::host_apparmor_enabled();
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

/// Runs `bulwark --log FILE --log-format json <args>` (as containerd's shim does) for a
/// create of `id` that must fail: exit 1, one plain `bulwark: …` line on stderr and
/// runc's JSON error line in the log, both containing `expected`; nothing of `id` left
/// (state, private dir, cgroups, mounts, processes). Returns the message.
fn refused_cleanly(rt: &Runtime, args: &[&str], id: &str, expected: &str) -> String {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut full = vec![
        "--log",
        log.path().to_str().unwrap(),
        "--log-format",
        "json",
    ];
    full.extend_from_slice(args);
    let out = run_within(rt, &full, Duration::from_secs(20));
    let what = describe(&full, &out);
    assert_eq!(out.status.code(), Some(1), "{what}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}");
    assert!(lines[0].starts_with("bulwark: "), "{what}");
    assert!(lines[0].contains(expected), "expected {expected:?}: {what}");
    let logged = fs::read_to_string(log.path()).unwrap();
    let last: Value = serde_json::from_str(logged.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error", "{logged}");
    assert!(last["msg"].as_str().unwrap().contains(expected), "{logged}");
    rt.assert_nothing_left(id);
    lines[0].to_owned()
}

/// Runs bulwark, killing it (and failing the test) if it takes longer than `limit`.
fn run_within(rt: &Runtime, args: &[&str], limit: Duration) -> std::process::Output {
    use std::io::{Read, Seek};
    let stdout = tempfile::tempfile().unwrap();
    let stderr = tempfile::tempfile().unwrap();
    let mut child = rt
        .command(args)
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bulwark {} hung for {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |mut file: fs::File| {
        let mut bytes = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    };
    std::process::Output {
        status,
        stdout: read(stdout),
        stderr: read(stderr),
    }
}

#[test]
fn a_missing_bundle_or_config_json_is_named_in_the_error() {
    let rt = Runtime::new();
    let id = unique_id("nobundle");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    refused_cleanly(
        &rt,
        &["create", "--bundle", missing.to_str().unwrap(), &id],
        &id,
        missing.to_str().unwrap(),
    );
    // A bundle directory without config.json.
    let msg = refused_cleanly(
        &rt,
        &["create", "--bundle", dir.path().to_str().unwrap(), &id],
        &id,
        "config.json",
    );
    assert!(msg.contains("No such file"), "{msg}");
}

#[test]
fn a_config_json_that_is_a_directory_fifo_or_device_is_refused_without_blocking() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let config = bundle.path().join("config.json");
    type Make<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Make); 3] = [
        ("a directory", &|p| fs::create_dir(p).unwrap()),
        // Opening a FIFO without a writer blocks: bulwark must not wait for one.
        ("a FIFO", &|p| {
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
        }),
        // Endless and sizeless: a size check on it means nothing.
        ("a character device", &|p| symlink("/dev/zero", p).unwrap()),
    ];
    for (kind, make) in cases {
        let _ = fs::remove_file(&config);
        let _ = fs::remove_dir(&config);
        make(&config);
        let id = unique_id("special");
        let msg = refused_cleanly(
            &rt,
            &["create", "--bundle", bundle.path_str(), &id],
            &id,
            &format!("it is {kind}, not a regular file"),
        );
        assert!(msg.contains(config.to_str().unwrap()), "{msg}");
    }
}

#[test]
fn a_huge_sparse_config_json_is_refused_by_its_size_without_reading_it() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    // 64 GiB, sparse: reading it through would take minutes and exhaust memory.
    let file = fs::File::create(bundle.path().join("config.json")).unwrap();
    file.set_len(64 << 30).unwrap();
    let id = unique_id("huge");
    let started = Instant::now();
    let msg = refused_cleanly(
        &rt,
        &["create", "--bundle", bundle.path_str(), &id],
        &id,
        "is 68719476736 bytes; at most 4194304 bytes are accepted",
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{msg}");
}

#[test]
fn wrong_types_are_refused_as_an_invalid_spec_naming_the_field() {
    let rt = Runtime::new();
    for (pointer, value, expected) in [
        (
            "/process/args",
            json!("sh"),
            "invalid type: string \"sh\", expected a sequence",
        ),
        (
            "/ociVersion",
            json!(1),
            "invalid type: integer `1`, expected a string",
        ),
        (
            "/mounts",
            json!({"a": 1}),
            "invalid type: map, expected a sequence",
        ),
    ] {
        let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
        bundle.set(pointer, value.clone());
        let id = unique_id("types");
        let msg = refused_cleanly(
            &rt,
            &["create", "--bundle", bundle.path_str(), &id],
            &id,
            expected,
        );
        assert!(msg.contains("config.json"), "{pointer}: {msg}");
    }
    // serde reads a struct from an array as well (its fields in order, here none): an
    // empty `linux` is every default, which admission refuses for what is missing.
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.set("/linux", json!([]));
    let id = unique_id("types");
    let msg = refused_cleanly(
        &rt,
        &["create", "--bundle", bundle.path_str(), &id],
        &id,
        "refused by admission",
    );
    assert!(msg.contains("[resources.memory-limit]"), "{msg}");
    assert!(msg.contains("[namespaces.required]"), "{msg}");
    // An empty file, a top level that is not an object, a trailing comma.
    for text in ["", "null", "\"spec\"", "{\"ociVersion\": \"1.0.2\",}"] {
        let bundle = Bundle::new(&["/probe", "sleep", "300"]);
        fs::write(bundle.path().join("config.json"), text).unwrap();
        let id = unique_id("types");
        refused_cleanly(
            &rt,
            &["create", "--bundle", bundle.path_str(), &id],
            &id,
            "not a valid OCI runtime spec",
        );
    }
}

#[test]
fn unknown_fields_are_ignored_like_runc_and_never_reach_the_effective_spec() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    // runc ignores fields it does not know (Go's encoding/json); so does bulwark. None
    // of these may loosen anything: "privileged" and "unconfined" mean nothing to the
    // spec, and the baseline still decides the capabilities.
    bundle.set("/x-vendor", json!({"privileged": true}));
    bundle.set("/process/unconfined", json!(true));
    bundle.set("/process/capabilities/extra", json!(["CAP_KILL"]));
    bundle.set("/linux/privileged", json!(true));
    let id = unique_id("unknown");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let effective = rt.root().join("@bulwark").join(&id).join("config.json");
    let text = fs::read_to_string(&effective).unwrap();
    // As keys: the baseline's `net.ipv4.ip_unprivileged_port_start` sysctl holds the
    // word "privileged" and is no unknown field.
    for field in [
        "\"x-vendor\"",
        "\"unconfined\"",
        "\"extra\"",
        "\"privileged\"",
        "CAP_SYS_ADMIN",
    ] {
        assert!(!text.contains(field), "{field} in {text}");
    }
    let spec: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        spec["process"]["capabilities"]["bounding"],
        json!([]),
        "{text}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);

    // Admission reads the raw document: a capability under a set name the spec does
    // not know is still judged, though it would be dropped anyway.
    bundle.set("/process/capabilities/extra", json!(["CAP_SYS_ADMIN"]));
    let id = unique_id("unknown");
    refused_cleanly(
        &rt,
        &["create", "--bundle", bundle.path_str(), &id],
        &id,
        "[privileged.capabilities] process.capabilities.extra",
    );
}

#[test]
fn a_duplicate_key_is_judged_as_it_runs_last_one_wins() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    // Go's encoding/json and serde_json both keep the last of duplicate keys.
    // Admission and the effective spec come from the one parsed document, so a first
    // "resources" that passes cannot hide a second, unlimited one.
    let text = serde_json::to_string(&bundle.config).unwrap();
    let limited = serde_json::to_string(&bundle.config["linux"]["resources"]).unwrap();
    let duplicated = text.replacen(
        &format!("\"resources\":{limited}"),
        &format!("\"resources\":{limited},\"resources\":{{}}"),
        1,
    );
    assert_ne!(duplicated, text);
    fs::write(bundle.path().join("config.json"), duplicated).unwrap();
    let id = unique_id("dupkey");
    refused_cleanly(
        &rt,
        &["create", "--bundle", bundle.path_str(), &id],
        &id,
        "[resources.memory-limit]",
    );
}

#[test]
fn a_pid_file_that_cannot_be_written_fails_the_create_and_kills_the_init() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    // A read-only tmpfs, and /proc (no new files there): libcontainer writes the pid
    // file after the init started, so the create must kill it again.
    let dir = tempfile::tempdir().unwrap();
    let read_only = dir.path().join("ro");
    fs::create_dir(&read_only).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=16k", "tmpfs"])
        .arg(&read_only)
        .status()
        .unwrap();
    assert!(status.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&read_only);
    for pid_file in [read_only.join("init.pid"), "/proc/bulwark-init.pid".into()] {
        let id = unique_id("pidfile");
        let pid_file = pid_file.to_str().unwrap();
        let msg = refused_cleanly(
            &rt,
            &[
                "create",
                "--pid-file",
                pid_file,
                "--bundle",
                bundle.path_str(),
                &id,
            ],
            &id,
            &format!("cannot write the pid file {pid_file}"),
        );
        assert!(msg.contains("--pid-file"), "{msg}");
        assert!(!Path::new(pid_file).exists());
        // The id is free again.
        rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
        rt.ok(&["delete", "--force", &id]);
        rt.assert_nothing_left(&id);
    }
}

/// Issue #16 item 5: a usage error is one `bulwark: …` line and exit 1, as runc's (clap
/// printed a usage block and exited 2); `--help` and `--version` still exit 0.
#[test]
fn usage_errors_are_one_line_and_exit_1() {
    for args in [
        &["--no-such-flag"][..],
        &["no-such-command"],
        &["create"],
        &["kill", "--no-such-flag", "x"],
    ] {
        let out = Command::new(BULWARK).args(args).output().unwrap();
        let what = describe(args, &out);
        assert_eq!(out.status.code(), Some(1), "{what}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{what}");
        assert!(stderr.starts_with("bulwark: "), "{what}");
    }
    let out = Command::new(BULWARK).arg("create").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("<CONTAINER_ID>"),
        "the missing argument is named: {}",
        describe(&["create"], &out)
    );
    for args in [["--help"], ["--version"]] {
        let out = Command::new(BULWARK).args(args).output().unwrap();
        assert!(out.status.success(), "{}", describe(&args, &out));
        assert!(!out.stdout.is_empty());
    }
}

/// Issue #16 item 5: `bulwark state ID | head -1` whose reader is gone before bulwark
/// writes. Rust ignores SIGPIPE, so println! panicked ("failed printing to stdout",
/// exit 101); bulwark now ends as runc does, by SIGPIPE, without a panic message.
#[test]
fn a_reader_that_went_away_ends_the_command_by_sigpipe_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("epipe");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let out = rt
        .command(&["state", &id])
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}
