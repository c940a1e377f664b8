//! Faults during a container's life, through the built binary: bulwark SIGKILLed at
//! each failpoint of `create` (`BULWARK_FAILPOINT`, src/failpoint.rs), the container's
//! init killed before `start`, the audit log's filesystem full or read-only, and OPA
//! slow or hanging up. Each must end in a clear error or a decision, with nothing left
//! behind (state, private dir, cgroups, mounts, secret files, processes) once the
//! engine's `delete --force` ran, and the id usable again.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::opa::{opa_config, OpaServer};
use common::{describe, host_mounts, unique_id, Bundle, Runtime, TEST_CONFIG};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-fault-fs-")
            .tempdir()
            .unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", dir.path().display());
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "remount {options} {}",
            self.path().display()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A secrets source directory with one secret, and the config allowing it.
fn secrets_setup() -> (common::Sources, PathBuf, String, String) {
    // Policy data that lets a container without a trusted agent receive secrets: the
    // faults are the subject here, tests/policy.rs covers the scoping.
    let sources = common::Sources::new();
    let (file, value) = sources.add("token");
    let config = sources.config("");
    (sources, file, config, value)
}

/// Nothing of `id` left, the secrets tmpfs included, and `pid` (if any) dead.
fn assert_clean(rt: &Runtime, id: &str, pid: Option<i32>) {
    rt.assert_nothing_left(id);
    let mounts = host_mounts(rt.root().to_str().unwrap());
    assert!(mounts.is_empty(), "{id}: {mounts:?}");
    if let Some(pid) = pid {
        let state = common::proc_status(i64::from(pid), "State");
        assert!(
            state.as_deref().is_none_or(|s| s.starts_with('Z')),
            "{id}: init {pid} is still alive ({state:?})"
        );
    }
}

/// The id is free: a container of that id is created, runs to its exit code 0, and
/// leaves nothing.
fn assert_reusable(rt: &Runtime, id: &str) {
    let bundle = Bundle::new(&["/probe", "exit", "0"]);
    rt.ok(&["run", "--bundle", bundle.path_str(), id]);
    assert_clean(rt, id, None);
}

/// Runs a create that SIGKILLs itself at `point`, checks what it left for the engine
/// to clean, then `delete --force` once and checks nothing remains.
fn killed_at(point: &str) {
    let (_sources, secret, config, value) = secrets_setup();
    let rt = Runtime::with_config(&config);
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.set(
        "/annotations/bulwark.io~1secrets",
        Value::String(json!({"token": secret}).to_string()),
    );
    let id = unique_id(point);
    let mut cmd = rt.command(&["create", "--bundle", bundle.path_str(), &id]);
    cmd.env("BULWARK_FAILPOINT", point);
    let out = common::output_via_files(cmd);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "the failpoint {point} was not reached: {}",
        describe(&["create"], &out)
    );
    let private = rt.root().join("@bulwark").join(&id);
    let delivered = point != "after-decision";
    let secrets_mounted = !host_mounts(private.join("secrets").to_str().unwrap()).is_empty();
    assert_eq!(secrets_mounted, delivered, "{point}: secrets tmpfs mounted");
    // The secret's file with its value, from the delivery on: what the kill left behind.
    let token = private.join("secrets/token");
    assert_eq!(
        fs::read_to_string(&token).ok(),
        delivered.then(|| value.clone()),
        "{point}: secret file"
    );
    assert_eq!(
        private.join("config.json").exists(),
        matches!(point, "after-effective-spec" | "after-libcontainer"),
        "{point}: effective spec"
    );
    let state = rt.root().join(&id).join("state.json");
    let pid = if point == "after-libcontainer" {
        let state: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
        assert_eq!(state["status"], "created", "{state}");
        let pid = state["pid"].as_i64().unwrap() as i32;
        assert!(common::proc_status(i64::from(pid), "State").is_some());
        Some(pid)
    } else {
        assert!(!state.exists(), "{point}: libcontainer state");
        None
    };
    // One delete --force must be enough: an engine does not retry.
    let out = rt.run(&["delete", "--force", &id]);
    assert!(
        out.status.success(),
        "{point}: {}",
        describe(&["delete", "--force", &id], &out)
    );
    assert!(
        !token.exists(),
        "{point}: the secret file outlived delete --force"
    );
    assert_clean(&rt, &id, pid);
    assert_reusable(&rt, &id);
}

#[test]
fn killed_after_the_decision_then_delete_force_leaves_nothing_and_the_id_is_reusable() {
    killed_at("after-decision");
}

#[test]
fn killed_after_the_secrets_were_mounted_then_delete_force_leaves_nothing_and_the_id_is_reusable() {
    killed_at("after-secrets");
}

#[test]
fn killed_after_the_effective_spec_was_written_then_delete_force_leaves_nothing_and_the_id_is_reusable(
) {
    killed_at("after-effective-spec");
}

#[test]
fn killed_after_libcontainer_saved_its_state_then_one_delete_force_leaves_nothing_and_the_id_is_reusable(
) {
    killed_at("after-libcontainer");
}

#[test]
fn an_init_killed_before_start_fails_start_clearly_and_delete_force_cleans_up() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("initkill");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    rt.wait_for_status(&id, "stopped");
    let stderr = rt.fails(&["start", &id]);
    assert!(
        stderr.contains(&id) && stderr.contains("it is stopped") && stderr.contains("delete"),
        "{stderr}"
    );
    rt.ok(&["delete", "--force", &id]);
    assert_clean(&rt, &id, Some(pid));
    assert_reusable(&rt, &id);
}

/// Audit records in `path`; every line must parse.
fn records(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn audit line ({e}): {l:?}")))
        .collect()
}

fn audit_config(audit: &Path) -> String {
    format!("{TEST_CONFIG}[audit]\npath = {audit:?}\n")
}

#[test]
fn a_full_audit_filesystem_refuses_the_create_naming_the_log_and_leaves_nothing() {
    let fs_ = Tmpfs::mount("64k");
    let audit = fs_.path().join("audit.jsonl");
    let rt = Runtime::with_config(&audit_config(&audit));
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);

    // Full to the last byte: the write fails outright (ENOSPC).
    let filler = fs_.path().join("filler");
    let _ = fs::write(&filler, vec![b'x'; 64 << 10]);
    let id = unique_id("auditfull");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains(&format!("cannot write the audit log {}", audit.display())),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("does not act on a decision it cannot record"),
        "{stderr}"
    );
    assert_clean(&rt, &id, None);

    // Room for a fragment of a record only: a short write. The fragment must not stay,
    // or the next record would be glued to it and the log would no longer parse.
    fs::remove_file(&filler).unwrap();
    let line = format!("{}\n", json!({"filler": "x".repeat(200)}));
    let lines = ((64 << 10) - 300) / line.len();
    fs::write(&audit, line.repeat(lines)).unwrap();
    let before = fs::metadata(&audit).unwrap().len();
    let id = unique_id("auditshort");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("short write"), "{stderr}");
    assert!(
        stderr.contains("the partial record was removed"),
        "{stderr}"
    );
    assert_eq!(fs::metadata(&audit).unwrap().len(), before);
    assert_eq!(records(&audit).len(), lines);
    assert_clean(&rt, &id, None);

    // Space again: the same id is admitted and recorded.
    fs::write(&audit, "").unwrap();
    assert_reusable(&rt, &id);
    let last = records(&audit).pop().unwrap();
    assert_eq!(
        (last["container_id"].as_str(), last["verdict"].as_str()),
        (Some(id.as_str()), Some("admit"))
    );
}

#[test]
fn a_read_only_audit_filesystem_refuses_create_exec_and_update() {
    let fs_ = Tmpfs::mount("1m");
    let audit = fs_.path().join("audit.jsonl");
    let rt = Runtime::with_config(&audit_config(&audit));
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let running = unique_id("auditro");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &running]);
    let limit_file = format!("/sys/fs/cgroup/memory/bulwark/{running}/memory.limit_in_bytes");
    let limit = fs::read_to_string(&limit_file).unwrap();

    fs_.remount("ro");
    let id = unique_id("auditro");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    let named = format!("cannot write the audit log {}", audit.display());
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert_clean(&rt, &id, None);

    let stderr = rt.fails(&["exec", &running, "/probe", "exit", "0"]);
    assert!(stderr.contains(&named), "exec: {stderr}");
    let stderr = rt.fails(&["update", "--memory", "100000000", &running]);
    assert!(stderr.contains(&named), "update: {stderr}");
    assert_eq!(
        fs::read_to_string(&limit_file).unwrap(),
        limit,
        "update changed the limit"
    );
    // Only the create of the running container was ever recorded.
    let recorded: Vec<Value> = records(&audit);
    assert_eq!(recorded.len(), 1, "{recorded:?}");

    // delete records no decision: it works, and afterwards the id is free.
    rt.ok(&["delete", "--force", &running]);
    assert_clean(&rt, &running, None);
    fs_.remount("rw");
    assert_reusable(&rt, &id);
}

#[test]
fn opa_slow_or_hanging_up_refuses_or_falls_back_and_leaves_the_id_reusable() {
    for (mode, expected) in [
        ("slow", "did not answer within 1000 ms"),
        ("hangup", "talking to OPA"),
    ] {
        let opa = OpaServer::start(mode);
        let strict = Runtime::with_config(&opa_config(&opa.socket(), ""));
        // The embedded fallback admits only a trusted agent's containers (issue #21
        // item 6): the orchestrator names research-agent.
        let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
        bundle.set("/annotations/bulwark.io~1agent", json!("research-agent"));
        let id = unique_id(mode);
        let stderr = strict.fails(&["create", "--bundle", bundle.path_str(), &id]);
        assert!(stderr.contains(expected), "{mode}: {stderr}");
        assert!(stderr.contains("fails closed"), "{mode}: {stderr}");
        assert_clean(&strict, &id, None);
        let record = strict.audit_records().pop().unwrap();
        assert_eq!(
            (record["level"].as_str(), record["verdict"].as_str()),
            (Some("error"), Some("refuse")),
            "{mode}: {record}"
        );

        // The same id, the same root and the same failing OPA, with the embedded
        // fallback: the refused create claimed nothing, so the id is free.
        let fallback = opa_config(&opa.socket(), "on_unavailable = \"embedded\"\n");
        let audit = strict.audit_path().to_owned();
        fs::write(
            strict.config_path(),
            format!("{fallback}\n[audit]\npath = {audit:?}\n"),
        )
        .unwrap();
        strict.ok(&["create", "--bundle", bundle.path_str(), &id]);
        let record = strict.audit_records().pop().unwrap();
        assert_eq!(record["container_id"], id.as_str(), "{mode}: {record}");
        assert_eq!(record["level"], "error", "{mode}: {record}");
        assert_eq!(record["verdict"], "admit", "{mode}: {record}");
        assert_eq!(record["policy"]["fallback"], true, "{mode}: {record}");
        assert!(
            record["policy"]["error"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{mode}: {record}"
        );
        strict.ok(&["delete", "--force", &id]);
        assert_clean(&strict, &id, None);
    }
}
