//! OCI hooks (admitted only from `admission.hooks.allowed_paths`) through the built
//! binary, against the runtime spec's lifecycle (runtime.md "Lifecycle", config.md
//! "POSIX-platform Hooks"): the state each hook receives on stdin, and what a failing
//! hook of each kind does to the container (issue #16 item 4).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{describe, unique_id, Bundle, Runtime, TEST_CONFIG, TEST_IMAGE};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A hook script that appends its argv and the state it read on stdin to a log, one
/// line a run (`<argv>\t<state>`), then sleeps and exits as its arguments say:
/// `hook <log> <label> <exit code> [<sleep seconds>]`.
struct Hooks {
    dir: TempDir,
}

impl Hooks {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-hooks-")
            .tempdir()
            .unwrap();
        let script = dir.path().join("hook");
        fs::write(
            &script,
            "#!/bin/sh\nstate=$(cat)\nprintf '%s\\t%s\\n' \"$*\" \"$state\" >> \"$1\"\n\
             [ -n \"$4\" ] && sleep \"$4\"\nexit \"$3\"\n",
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn script(&self) -> PathBuf {
        self.dir.path().join("hook")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// A runtime whose config allows the script and the probe (a startContainer hook's
    /// path resolves in the container, whose rootfs holds only the probe).
    fn runtime(&self) -> Runtime {
        Runtime::with_config(&format!(
            "[admission.hooks]\nallowed_paths = [{:?}, \"/probe\"]\n{TEST_CONFIG}",
            self.script()
        ))
    }

    /// One hook entry running the script under `label`, exiting with `code`.
    fn hook(&self, label: &str, code: i32) -> Value {
        let script = self.script();
        let script = script.to_str().unwrap();
        json!({
            "path": script,
            "args": [script, self.log().to_str().unwrap(), label, code.to_string()],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        })
    }

    /// The runs so far: (label, state received).
    fn runs(&self) -> Vec<(String, Value)> {
        let text = fs::read_to_string(self.log()).unwrap_or_default();
        text.lines()
            .map(|line| {
                let (argv, state) = line.split_once('\t').unwrap();
                let label = argv.split(' ').nth(1).unwrap().to_owned();
                let state = serde_json::from_str(state)
                    .unwrap_or_else(|e| panic!("hook state is not JSON ({e}): {line}"));
                (label, state)
            })
            .collect()
    }

    fn labels(&self) -> Vec<String> {
        self.runs().into_iter().map(|(label, _)| label).collect()
    }
}

fn bundle_with_hooks(hooks: Value) -> Bundle {
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.set("/hooks", hooks);
    bundle
}

fn canonical(bundle: &Bundle) -> String {
    fs::canonicalize(bundle.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// The fields config.md "POSIX-platform Hooks" and runtime.md "State" promise a hook.
fn assert_state(state: &Value, id: &str, status: &str, bundle: &Bundle) {
    assert!(
        state["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{state}"
    );
    assert_eq!(state["id"], id, "{state}");
    assert_eq!(state["status"], status, "{state}");
    // The caller's bundle, never bulwark's private copy under the root.
    assert_eq!(state["bundle"], canonical(bundle), "{state}");
    assert_eq!(
        state["annotations"]["bulwark.io/image"], TEST_IMAGE,
        "{state}"
    );
    // runtime.md "State": `pid` is required when the status is created or running.
    if status == "running" {
        assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    }
}

#[test]
fn every_hook_runs_once_in_order_with_the_callers_bundle() {
    let hooks = Hooks::new();
    let rt = hooks.runtime();
    let bundle = bundle_with_hooks(json!({
        "prestart": [hooks.hook("prestart", 0)],
        "createRuntime": [hooks.hook("createRuntime", 0)],
        "createContainer": [hooks.hook("createContainer", 0)],
        "startContainer": [{"path": "/probe", "args": ["/probe", "exit", "0"]}],
        "poststart": [hooks.hook("poststart", 0)],
        "poststop": [hooks.hook("poststop", 0)]
    }));
    let id = unique_id("hooks-all");

    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    assert_eq!(
        hooks.labels(),
        ["prestart", "createRuntime", "createContainer"]
    );
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    for (label, state) in hooks.runs() {
        assert_state(&state, &id, "creating", &bundle);
        // libcontainer gives the runtime-namespace hooks the init's pid; the
        // createContainer hook runs in the init, whose state has none yet (optional
        // while creating).
        if label != "createContainer" {
            assert_eq!(state["pid"], pid, "{label}: {state}");
        }
    }
    // `state` answers with the caller's bundle too.
    assert_eq!(rt.state(&id)["bundle"], bundle.path_str());

    rt.ok(&["start", &id]);
    rt.wait_for_status(&id, "running");
    let runs = hooks.runs();
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(runs[3].0, "poststart");
    assert_state(&runs[3].1, &id, "running", &bundle);
    assert_eq!(runs[3].1["pid"], pid, "{}", runs[3].1);

    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_for_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    let runs = hooks.runs();
    assert_eq!(runs.len(), 5, "{runs:?}");
    assert_eq!(runs[4].0, "poststop");
    assert_state(&runs[4].1, &id, "stopped", &bundle);
    rt.assert_nothing_left(&id);
}

/// config.md: a failing prestart, createRuntime or createContainer hook makes the
/// runtime "generate an error, stop the container, and continue the lifecycle at step
/// 12" (runtime.md: undo create, then the poststop hooks).
#[test]
fn a_failing_create_hook_fails_create_runs_poststop_and_leaves_nothing() {
    for (failing, ran_before) in [
        ("prestart", &[][..]),
        ("createRuntime", &["prestart"][..]),
        ("createContainer", &["prestart", "createRuntime"][..]),
    ] {
        let hooks = Hooks::new();
        let rt = hooks.runtime();
        let mut all = json!({
            "prestart": [hooks.hook("prestart", 0)],
            "createRuntime": [hooks.hook("createRuntime", 0)],
            "createContainer": [hooks.hook("createContainer", 0)],
            "poststop": [hooks.hook("poststop", 0)]
        });
        all[failing] = json!([hooks.hook(failing, 3), hooks.hook("after", 0)]);
        let bundle = bundle_with_hooks(all);
        let id = unique_id("hooks-fail");

        let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
        assert!(stderr.contains(&id), "{failing}: {stderr}");
        rt.assert_nothing_left(&id);
        let mut expected: Vec<&str> = ran_before.to_vec();
        // The failing hook's successors of the same kind never run.
        expected.extend([failing, "poststop"]);
        assert_eq!(hooks.labels(), expected, "{failing}");
        let (_, poststop) = hooks.runs().pop().unwrap();
        assert_state(&poststop, &id, "stopped", &bundle);
    }
}

/// config.md "poststart": "If any poststart hook fails, the runtime MUST log a warning,
/// but the remaining hooks and lifecycle continue as if the hook had succeeded."
#[test]
fn a_failing_poststart_hook_warns_and_the_container_runs() {
    let hooks = Hooks::new();
    let rt = hooks.runtime();
    let bundle = bundle_with_hooks(json!({
        "poststart": [hooks.hook("poststart", 3), hooks.hook("after", 0)],
    }));
    let id = unique_id("hooks-poststart");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);

    let out = rt.run(&["start", &id]);
    assert!(out.status.success(), "{}", describe(&["start"], &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("poststart"),
        "a warning names the hook: {}",
        describe(&["start"], &out)
    );
    assert_eq!(hooks.labels(), ["poststart", "after"]);
    assert_eq!(rt.state(&id)["status"], "running");

    rt.ok(&["delete", "--force", &id]);
    rt.assert_nothing_left(&id);
}

/// config.md "poststop": "If any poststop hook fails, the runtime MUST log a warning,
/// but the remaining hooks and lifecycle continue as if the hook had succeeded." The
/// hooks run once, whether the container is deleted stopped or by `--force`.
#[test]
fn a_failing_poststop_hook_warns_and_delete_succeeds_once() {
    let hooks = Hooks::new();
    let rt = hooks.runtime();
    let bundle = bundle_with_hooks(json!({
        "poststop": [hooks.hook("poststop", 3), hooks.hook("after", 0)],
    }));
    for force in [false, true] {
        let id = unique_id("hooks-poststop");
        rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
        rt.ok(&["start", &id]);
        if !force {
            rt.ok(&["kill", &id, "KILL"]);
            rt.wait_for_status(&id, "stopped");
        }
        let args: &[&str] = if force {
            &["delete", "--force", &id]
        } else {
            &["delete", &id]
        };
        let started = Instant::now();
        let out = rt.run(args);
        assert!(out.status.success(), "{}", describe(args, &out));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "delete retried the hooks: {:?}",
            started.elapsed()
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("poststop"),
            "a warning names the hook: {}",
            describe(args, &out)
        );
        rt.assert_nothing_left(&id);
        assert_eq!(hooks.labels(), ["poststop", "after"], "force {force}");
        for (_, state) in hooks.runs() {
            assert_state(&state, &id, "stopped", &bundle);
        }
        fs::remove_file(hooks.log()).unwrap();
        let stderr = rt.fails(&["state", &id]);
        assert!(stderr.contains("does not exist"), "{stderr}");
    }
}

/// config.md "startContainer": a failure makes the runtime "generate an error, stop the
/// container, and continue the lifecycle at step 12". The program never runs.
#[test]
fn a_failing_start_container_hook_stops_the_container_before_its_program() {
    let hooks = Hooks::new();
    let rt = hooks.runtime();
    let bundle = bundle_with_hooks(json!({
        "startContainer": [{"path": "/probe", "args": ["/probe", "exit", "3"]}],
        "poststart": [hooks.hook("poststart", 0)],
        "poststop": [hooks.hook("poststop", 0)]
    }));
    let id = unique_id("hooks-startc");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);

    let out = rt.run(&["start", &id]);
    assert!(!out.status.success(), "{}", describe(&["start"], &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("startContainer"),
        "{}",
        describe(&["start"], &out)
    );
    assert_eq!(rt.state(&id)["status"], "stopped");
    // The lifecycle continues at step 12: delete undoes create, then poststop runs.
    rt.ok(&["delete", &id]);
    rt.assert_nothing_left(&id);
    assert_eq!(hooks.labels(), ["poststop"]);
}

/// A hook past its `timeout` is killed and counts as failed: create fails within the
/// timeout and leaves nothing.
#[test]
fn a_create_hook_past_its_timeout_fails_create_and_leaves_nothing() {
    let hooks = Hooks::new();
    let rt = hooks.runtime();
    let mut slow = hooks.hook("prestart", 0);
    slow["args"].as_array_mut().unwrap().push(json!("30"));
    slow["timeout"] = json!(1);
    let bundle = bundle_with_hooks(json!({"prestart": [slow]}));
    let id = unique_id("hooks-timeout");

    let started = Instant::now();
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    rt.assert_nothing_left(&id);
    assert_eq!(hooks.labels(), ["prestart"]);
}

/// Only allowlisted paths run: the same hook from another path is refused at admission
/// and never runs.
#[test]
fn a_hook_off_the_allowlist_is_refused_and_never_runs() {
    let hooks = Hooks::new();
    let rt = Runtime::new();
    let bundle = bundle_with_hooks(json!({"prestart": [hooks.hook("prestart", 0)]}));
    let id = unique_id("hooks-refused");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("hooks.not-allowed"), "{stderr}");
    assert!(stderr.contains("hooks.prestart[0].path"), "{stderr}");
    rt.assert_nothing_left(&id);
    assert!(hooks.labels().is_empty());
    assert!(!Path::new(&hooks.log()).exists());
}
