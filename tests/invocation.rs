//! What a caller hands bulwark besides the spec (issue #15, class 10): `exec --env`
//! entries, the descriptors `--preserve-fds` passes into the container, and the
//! `--root` directory. Each attack runs through the built binary against real
//! containers.

mod common;

use std::fs;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{
    describe, output_via_files, probe_report, unique_id, Bundle, Runtime, BULWARK, TEST_CONFIG,
};
use serde_json::{json, Value};

// --- exec --env and env entries without '=' -------------------------------------

/// A token-like value planted where a careless error would repeat it.
const PLANTED: &str = "ghp_InvocationPlanted0123456789abcdefXYZ";

/// Asserts that no output of a refused operation repeats the planted value: stderr,
/// the `--log` file (runc's JSON log, which the engine shows the user) and the audit log.
fn assert_not_echoed(rt: &Runtime, out: &Output, log: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log_text = fs::read_to_string(log).unwrap_or_default();
    let audit = fs::read_to_string(rt.audit_path()).unwrap_or_default();
    for (name, text) in [
        ("stderr", &*stderr),
        ("--log", &log_text),
        ("audit", &audit),
    ] {
        assert!(
            !text.contains(PLANTED) && !text.contains("InvocationPlanted"),
            "the env value leaked into {name}: {text}"
        );
    }
}

/// Runs bulwark with runc's JSON log at `log` and `args`; asserts it refused (exit 1)
/// and that neither stderr, the log nor the audit log repeats the planted value.
fn refused_without_echo(rt: &Runtime, log: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
    all.extend_from_slice(args);
    let out = rt.run(&all);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&all, &out));
    assert_not_echoed(rt, &out, log);
    out
}

#[test]
fn a_malformed_exec_env_entry_is_refused_without_echoing_it() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("env");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let dir = tempfile::tempdir().unwrap();
    // An entry without '=' may be the secret itself (`--env ghp_…`); one with an empty
    // name is no variable either.
    let cases = [
        ("no '='", PLANTED.to_owned()),
        ("empty name", format!("={PLANTED}")),
    ];
    for (n, (case, entry)) in cases.iter().enumerate() {
        let log = dir.path().join(format!("log-{n}.json"));
        let out = refused_without_echo(
            &rt,
            &log,
            &[
                "exec", "--env", "A=1", "--env", entry, &id, "/probe", "report",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The error names the problem and which entry, by position.
        assert!(
            stderr.contains("--env entry 2") && stderr.contains("NAME=value"),
            "{case}: {stderr}"
        );
        let log_text = fs::read_to_string(&log).unwrap();
        assert!(log_text.contains("--env entry 2"), "{case}: {log_text}");
        let refused = rt
            .audit_records()
            .into_iter()
            .rfind(|r| r["operation"] == "exec")
            .unwrap();
        assert_eq!(refused["verdict"], "refuse", "{refused}");
    }
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn an_env_entry_without_equals_in_exec_process_json_is_refused_without_echoing_it() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("envp");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let process = bundle.path().join("process.json");
    fs::write(
        &process,
        json!({
            "args": ["/probe", "report"], "cwd": "/",
            "env": ["PATH=/bin", PLANTED], "user": {"uid": 1000, "gid": 1000}
        })
        .to_string(),
    )
    .unwrap();
    let log = bundle.path().join("log.json");
    let out = refused_without_echo(
        &rt,
        &log,
        &["exec", "--process", process.to_str().unwrap(), &id],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[env.malformed] process.env[1]"),
        "{stderr}"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn a_spec_env_entry_without_equals_is_refused_at_create_without_echoing_it() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set("/process/env", json!(["PATH=/bin", PLANTED]));
    let id = unique_id("envc");
    let log = bundle.path().join("log.json");
    let out = refused_without_echo(&rt, &log, &["create", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[env.malformed] process.env[1]"),
        "{stderr}"
    );
    let record = rt.audit_records().pop().unwrap();
    assert_eq!(record["rules"][0]["rule"], "env.malformed", "{record}");
    rt.assert_nothing_left(&id);
}

/// `process.env` of the wrong JSON type (a string, or an array holding a non-string):
/// the typed parse refused it with serde's message, `invalid type: string "ghp_…",
/// expected a sequence`, which repeated the value on stderr, in the log and the audit
/// record, at create and `exec --process`.
#[test]
fn an_env_of_the_wrong_type_is_refused_without_echoing_it() {
    let rt = Runtime::new();
    for (n, env) in [json!(PLANTED), json!(["PATH=/bin", {"v": PLANTED}])]
        .into_iter()
        .enumerate()
    {
        let mut bundle = Bundle::new(&["/probe", "report"]);
        bundle.set("/process/env", env.clone());
        let id = unique_id(&format!("envt{n}"));
        let log = bundle.path().join("log.json");
        let out = refused_without_echo(&rt, &log, &["create", "--bundle", bundle.path_str(), &id]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("process.env must be an array of \"NAME=value\" strings"),
            "{stderr}"
        );
        rt.assert_nothing_left(&id);

        let running = Bundle::new(&["/probe", "sleep", "300"]);
        let id = unique_id(&format!("envtx{n}"));
        rt.ok(&["run", "--detach", "--bundle", running.path_str(), &id]);
        let process = running.path().join("process.json");
        fs::write(
            &process,
            json!({"args": ["/probe", "report"], "cwd": "/", "env": env,
                   "user": {"uid": 1000, "gid": 1000}})
            .to_string(),
        )
        .unwrap();
        let log = running.path().join("log.json");
        refused_without_echo(
            &rt,
            &log,
            &["exec", "--process", process.to_str().unwrap(), &id],
        );
        rt.ok(&["delete", "--force", &id]);
    }
}

// --- --preserve-fds ---------------------------------------------------------------

/// `bulwark <args>` with each of `fds` at 3, 4, … (without close-on-exec), as an engine
/// passing `--preserve-fds N` leaves them.
fn with_fds(rt: &Runtime, args: &[&str], fds: &[RawFd]) -> Output {
    let mut cmd = rt.command(args);
    let fds = fds.to_vec();
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first, so one target cannot overwrite a later source.
            let mut high = Vec::with_capacity(fds.len());
            for fd in &fds {
                let copy = libc::fcntl(*fd, libc::F_DUPFD, 100);
                if copy < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(copy);
            }
            for (target, fd) in (3..).zip(high) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    output_via_files(cmd)
}

/// The audit record of the last `operation` decision.
fn last_record(rt: &Runtime, operation: &str) -> Value {
    rt.audit_records()
        .into_iter()
        .rfind(|r| r["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} record"))
}

/// A host directory, as a leaked directory fd would give it (CVE-2024-21626: a
/// container process that holds one reaches the host's tree through it).
fn host_dir_fd() -> fs::File {
    fs::File::open("/etc").unwrap()
}

#[test]
fn a_preserved_directory_or_socket_fd_is_refused_and_leaves_nothing() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "fds", "self"]);
    let dir = host_dir_fd();
    let (socket, _peer) = UnixStream::pair().unwrap();
    for (kind, fd) in [
        ("directory", dir.as_raw_fd()),
        ("socket", socket.as_raw_fd()),
    ] {
        let id = unique_id("pfd");
        let args = [
            "run",
            "--preserve-fds",
            "1",
            "--bundle",
            bundle.path_str(),
            &id,
        ];
        let out = with_fds(&rt, &args, &[fd]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{kind}: {}",
            describe(&args, &out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("[fds.preserved] --preserve-fds fd 3 is a") && stderr.contains(kind),
            "{kind}: {stderr}"
        );
        rt.assert_nothing_left(&id);
        let record = last_record(&rt, "create");
        assert_eq!(record["verdict"], "refuse", "{record}");
        assert_eq!(record["rules"][0]["rule"], "fds.preserved", "{record}");
        assert_eq!(
            record["preserved_fds"],
            json!([{"fd": 3, "type": kind}]),
            "{record}"
        );
    }
}

#[test]
fn exec_with_a_preserved_directory_fd_is_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("pfdx");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let dir = host_dir_fd();
    let args = ["exec", "--preserve-fds", "1", &id, "/probe", "fds", "self"];
    let out = with_fds(&rt, &args, &[dir.as_raw_fd()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[fds.preserved] --preserve-fds fd 3 is a directory"),
        "{stderr}"
    );
    let record = last_record(&rt, "exec");
    assert_eq!(record["verdict"], "refuse", "{record}");
    assert_eq!(
        record["preserved_fds"],
        json!([{"fd": 3, "type": "directory"}])
    );
    // The container's processes are the init alone.
    let pids: Vec<i64> =
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");
    rt.ok(&["delete", "--force", &id]);
}

/// The probe's fd list, as fd number -> link target.
fn fd_targets(report: &Value) -> Vec<(i64, String)> {
    report["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fd"].as_i64().unwrap(),
                f["target"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_preserved_file_and_pipe_reach_the_container_and_are_audited() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "fds", "self"]);
    let scratch = tempfile::tempdir().unwrap();
    let file_path = scratch.path().join("passed.log");
    let file = fs::File::create(&file_path).unwrap();
    let (read_end, _write_end) = std::io::pipe().unwrap();
    let id = unique_id("pfdok");
    let args = [
        "run",
        "--preserve-fds",
        "2",
        "--bundle",
        bundle.path_str(),
        &id,
    ];
    let out = with_fds(&rt, &args, &[file.as_raw_fd(), read_end.as_raw_fd()]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let fds = fd_targets(&probe_report(&out.stdout));
    let target = |n: i64| fds.iter().find(|(fd, _)| *fd == n).map(|(_, t)| t.clone());
    assert_eq!(
        target(3).as_deref(),
        Some(fs::canonicalize(&file_path).unwrap().to_str().unwrap()),
        "{fds:?}"
    );
    assert!(target(4).is_some_and(|t| t.starts_with("pipe:")), "{fds:?}");
    let record = last_record(&rt, "create");
    assert_eq!(record["verdict"], "admit", "{record}");
    assert_eq!(
        record["preserved_fds"],
        json!([{"fd": 3, "type": "file"}, {"fd": 4, "type": "pipe"}]),
        "{record}"
    );

    // exec: the same fds, recorded in the exec's decision.
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("pfdokx");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let args = ["exec", "--preserve-fds", "1", &id, "/probe", "fds", "self"];
    let out = with_fds(&rt, &args, &[file.as_raw_fd()]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let fds = fd_targets(&probe_report(&out.stdout));
    assert!(fds.iter().any(|(fd, _)| *fd == 3), "{fds:?}");
    let record = last_record(&rt, "exec");
    assert_eq!(
        record["preserved_fds"],
        json!([{"fd": 3, "type": "file"}]),
        "{record}"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn a_preserved_socket_is_admitted_when_configured() {
    let rt = Runtime::with_config(&format!(
        "[admission.preserve_fds]\nallow_sockets = true\n{TEST_CONFIG}"
    ));
    let bundle = Bundle::new(&["/probe", "fds", "self"]);
    let (socket, _peer) = UnixStream::pair().unwrap();
    let id = unique_id("pfdsock");
    let args = [
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.path_str(),
        &id,
    ];
    let out = with_fds(&rt, &args, &[socket.as_raw_fd()]);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let fds = fd_targets(&probe_report(&out.stdout));
    assert!(
        fds.iter()
            .any(|(fd, t)| *fd == 3 && t.starts_with("socket:")),
        "{fds:?}"
    );
    assert_eq!(
        last_record(&rt, "create")["preserved_fds"],
        json!([{"fd": 3, "type": "socket"}])
    );
}

// --- --root ownership and mode ------------------------------------------------------

/// `bulwark --root <root> <args>` with the runtime's config.
fn at_root(rt: &Runtime, root: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BULWARK);
    cmd.arg("--root").arg(root).args(args);
    cmd.env("BULWARK_CONFIG", rt.config_path());
    cmd.stdin(Stdio::null());
    output_via_files(cmd)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_root_writable_by_others_or_owned_by_another_uid_is_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "report"]);
    let parent = tempfile::tempdir().unwrap();
    let world_writable = parent.path().join("world-writable");
    fs::create_dir(&world_writable).unwrap();
    fs::set_permissions(&world_writable, fs::Permissions::from_mode(0o777)).unwrap();
    let group_writable = parent.path().join("group-writable");
    fs::create_dir(&group_writable).unwrap();
    fs::set_permissions(&group_writable, fs::Permissions::from_mode(0o770)).unwrap();
    let foreign = parent.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::set_permissions(&foreign, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    // A good root whose private directory another user could write into.
    let private_open = parent.path().join("private-open");
    fs::create_dir(&private_open).unwrap();
    fs::set_permissions(&private_open, fs::Permissions::from_mode(0o700)).unwrap();
    fs::create_dir(private_open.join("@bulwark")).unwrap();
    fs::set_permissions(
        private_open.join("@bulwark"),
        fs::Permissions::from_mode(0o777),
    )
    .unwrap();

    for (root, bad, what) in [
        (&world_writable, world_writable.clone(), "mode 0777"),
        (&group_writable, group_writable.clone(), "mode 0770"),
        (&foreign, foreign.clone(), "owned by uid 65534"),
        (&private_open, private_open.join("@bulwark"), "mode 0777"),
    ] {
        let before = entries(root);
        let id = unique_id("root");
        for args in [
            vec!["create", "--bundle", bundle.path_str(), &id],
            vec!["run", "--bundle", bundle.path_str(), &id],
            vec!["state", &id],
            vec!["delete", "--force", &id],
            vec!["list"],
        ] {
            let out = at_root(&rt, root, &args);
            assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Actionable: the directory, what is wrong with it and what is required.
            assert!(
                stderr.contains(&format!("{}", bad.display()))
                    && stderr.contains(what)
                    && stderr.contains("not writable by group or others"),
                "{what}: {stderr}"
            );
        }
        assert_eq!(entries(root), before, "{} changed", root.display());
        assert!(common::cgroup_dirs(&format!("bulwark/{id}")).is_empty());
    }
    // The runtime's own temporary root (this uid, writable by nobody else) keeps
    // working.
    let meta = fs::metadata(rt.root()).unwrap();
    assert_eq!((meta.mode() & 0o022, meta.uid()), (0, 0));
    let id = unique_id("rootok");
    rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
}
