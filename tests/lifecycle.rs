//! Container lifecycle through the built binary: create, start, state, kill, delete,
//! run, pause/resume, ps, update, duplicate ids, concurrency, and cleanup after kill -9.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_hardened, describe, probe_report, unique_id, Bundle, Runtime};
use serde_json::json;

#[test]
fn create_start_state_kill_delete() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("life");

    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let state = rt.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
    // Engines compare the bundle with the one they passed, not bulwark's private copy.
    assert_eq!(state["bundle"], bundle.path_str(), "{state}");
    assert_eq!(
        state["rootfs"],
        bundle.path().join("rootfs").to_str().unwrap(),
        "{state}"
    );

    rt.ok(&["start", &id]);
    rt.wait_for_status(&id, "running");
    // A SIGTERM before the probe's handler is in place would be ignored by pid 1.
    common::wait_until_catching(state["pid"].as_i64().unwrap(), libc::SIGTERM);

    // No signal argument: runc's default is SIGTERM, which the probe exits on.
    rt.ok(&["kill", &id]);
    rt.wait_for_status(&id, "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    // Issue #16 item 1: containerd's runc shim reads a kill error as "already stopped"
    // only by runc's words, "container not running" (exit 1), and a gone container by
    // "does not exist"; anything else fails StopContainer/StopPodSandbox with Unknown.
    let stderr = rt.fails(&["kill", &id, "KILL"]);
    assert!(stderr.contains("container not running"), "{stderr}");

    rt.ok(&["delete", &id]);
    assert_eq!(rt.leftovers(&id), Vec::<std::path::PathBuf>::new());
    let stderr = rt.fails(&["state", &id]);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let stderr = rt.fails(&["kill", &id, "KILL"]);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn run_in_foreground_returns_the_exit_code_and_removes_the_container() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "exit", "7"]);
    let id = unique_id("run");
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&["run"], &out));
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
}

#[test]
fn a_path_executable_runs_without_path_in_the_environment() {
    // Like runc: an image with no Env (containerd's CRI then sends no PATH) still runs
    // its absolute entrypoint, and an exec of an absolute path works too.
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.set("/process/env", json!([]));
    let id = unique_id("nopath");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["exec", &id, "/probe", "exit", "0"]);
    let stderr = rt.fails(&["exec", &id, "probe", "exit", "0"]);
    assert!(stderr.contains("PATH"), "{stderr}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn run_foreground_passes_stdout_through() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "echo", "hello", "from", "bulwark"]);
    let id = unique_id("echo");
    let out = rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from bulwark\n");
}

#[test]
fn run_detached_then_force_delete() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("detach");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    assert_eq!(rt.state(&id)["status"], "running");

    // A running container is not deleted without --force.
    let stderr = rt.fails(&["delete", &id]);
    assert!(stderr.contains("running"), "{stderr}");
    rt.ok(&["delete", "--force", &id]);
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
    // --force on a missing container succeeds, without --force it fails (runc).
    rt.ok(&["delete", "--force", &id]);
    rt.fails(&["delete", &id]);
}

#[test]
fn pid_file_holds_the_init_pid() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("pidfile");
    let pid_file = bundle.path().join("init.pid");
    rt.ok(&[
        "create",
        "--bundle",
        bundle.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let pid = common::read_pid_file(&pid_file);
    assert_eq!(rt.state(&id)["pid"], pid);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn the_init_process_runs_as_the_spec_user_under_the_baseline() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let id = unique_id("init");
    let report = probe_report(&rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout);
    assert_hardened(&report, 1000, 1000);
}

#[test]
fn allowed_capabilities_reach_a_non_root_process() {
    // The host config may grant a short list. A spec set that is absent grants nothing
    // (OCI); the granted capability is in every set, ambient included, so a non-root
    // process keeps it across execve.
    let rt = Runtime::with_config(&format!(
        "{}[baseline]\nallowed_capabilities = [\"CAP_KILL\"]\n",
        common::TEST_CONFIG
    ));
    let mut bundle = Bundle::new(&["/probe", "report"]);
    bundle.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    bundle.set(
        "/process/capabilities",
        json!({"bounding": ["CAP_KILL", "CAP_CHOWN"]}),
    );
    let id = unique_id("caps");
    let report = probe_report(&rt.ok(&["run", "--bundle", bundle.path_str(), &id]).stdout);
    for set in [
        "bounding",
        "effective",
        "permitted",
        "ambient",
        "inheritable",
    ] {
        assert_eq!(report["caps"][set], "0000000000000020", "{set}: {report}");
    }
}

#[test]
fn pause_and_resume() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("pause");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let proc_state = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat.rsplit(')').next().unwrap().split_whitespace().next();
        (state.unwrap().to_owned(), stat)
    };
    // The control: the running probe sleeps or runs (S, R), its cgroup is not frozen.
    let running = || {
        let (state, stat) = proc_state();
        assert!(matches!(state.as_str(), "S" | "R"), "{stat}");
    };
    running();
    assert_eq!(freezer_states(&id), ["THAWED"]);
    rt.ok(&["pause", &id]);
    assert_eq!(rt.state(&id)["status"], "paused");
    // The kernel's view, not bulwark's: the cgroup is frozen and its process is held
    // by the freezer (cgroup v1 shows a frozen task as D, v2 as stopped).
    assert_eq!(freezer_states(&id), ["FROZEN"]);
    let (state, stat) = proc_state();
    assert!(matches!(state.as_str(), "D" | "T" | "t"), "{stat}");
    rt.ok(&["resume", &id]);
    assert_eq!(rt.state(&id)["status"], "running");
    assert_eq!(freezer_states(&id), ["THAWED"]);
    running();
    rt.ok(&["delete", "--force", &id]);
}

/// The freezer state of container `id`'s cgroup in every hierarchy that has one:
/// cgroup v1's `freezer.state`, or v2's `cgroup.freeze` (1 is FROZEN).
fn freezer_states(id: &str) -> Vec<String> {
    let relative = format!("bulwark/{id}");
    let mut states: Vec<String> = common::cgroup_dirs(&relative)
        .iter()
        .filter_map(|dir| {
            if let Ok(v1) = fs::read_to_string(dir.join("freezer.state")) {
                return Some(v1.trim().to_owned());
            }
            let v2 = fs::read_to_string(dir.join("cgroup.freeze")).ok()?;
            Some(if v2.trim() == "1" { "FROZEN" } else { "THAWED" }.to_owned())
        })
        .collect();
    states.dedup();
    states
}

#[test]
fn ps_lists_the_container_processes() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("ps");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let pids: Vec<i64> =
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(pids, vec![pid]);
    let table = String::from_utf8_lossy(&rt.ok(&["ps", &id]).stdout).into_owned();
    assert!(table.starts_with("UID"), "{table}");
    assert!(table.contains(&pid.to_string()), "{table}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn update_changes_the_cgroup_limits() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("update");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pids_max = Path::new("/sys/fs/cgroup/pids/bulwark")
        .join(&id)
        .join("pids.max");
    assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "64");

    // containerd's shim sends the resources as JSON on stdin.
    let out = rt.run_with_stdin(
        &["update", "--resources", "-", &id],
        br#"{"pids": {"limit": 50}}"#,
    );
    assert!(out.status.success(), "{}", describe(&["update"], &out));
    assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "50");

    rt.ok(&["update", "--pids-limit", "40", "--memory", "96m", &id]);
    assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "40");
    let memory_limit = Path::new("/sys/fs/cgroup/memory/bulwark")
        .join(&id)
        .join("memory.limit_in_bytes");
    assert_eq!(
        fs::read_to_string(memory_limit).unwrap().trim(),
        (96u64 << 20).to_string()
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn update_may_not_remove_or_exceed_limits() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("update-refused");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pids_max = Path::new("/sys/fs/cgroup/pids/bulwark")
        .join(&id)
        .join("pids.max");
    for (args, rule) in [
        (vec!["--pids-limit", "-1"], "resources.pids-limit"),
        (vec!["--pids-limit", "100000"], "resources.pids-limit"),
        (vec!["--memory", "-1"], "resources.memory-limit"),
    ] {
        let mut command = vec!["update"];
        command.extend(&args);
        command.push(&id);
        let stderr = rt.fails(&command);
        assert!(stderr.contains(rule), "{args:?}: {stderr}");
    }
    let out = rt.run_with_stdin(
        &["update", "--resources", "-", &id],
        br#"{"devices": [{"allow": true, "access": "rwm"}]}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("privileged.devices"));
    // Nothing was applied.
    assert_eq!(fs::read_to_string(&pids_max).unwrap().trim(), "64");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn duplicate_id_is_refused_and_the_first_container_is_untouched() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("dup");
    rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
    let before = rt.state(&id);
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains(&format!("container {id} already exists")),
        "{stderr}"
    );
    assert_eq!(rt.state(&id), before);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn delete_after_the_init_was_killed_with_sigkill() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("kill9");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    // SAFETY: kill(2) on a pid this test just started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    rt.wait_for_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
    // The id is free again.
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn kill_all_signals_every_process() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("killall");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["exec", "--detach", &id, "/probe", "sleep", "300"]);
    let pids: Vec<i64> =
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap();
    assert_eq!(pids.len(), 2, "{pids:?}");
    rt.ok(&["kill", "--all", &id, "KILL"]);
    rt.wait_for_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    for pid in pids {
        // SIGKILL is delivered at once; the dead process may wait a moment for its
        // parent to reap it, so a zombie counts as gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while common::proc_status(pid, "State").is_some_and(|s| !s.starts_with('Z')) {
            assert!(std::time::Instant::now() < deadline, "pid {pid} survived");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn many_containers_created_at_once() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let ids: Vec<String> = (0..8).map(|_| unique_id("conc")).collect();
    std::thread::scope(|scope| {
        for id in &ids {
            let (rt, bundle) = (&rt, &bundle);
            scope.spawn(move || {
                rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), id]);
            });
        }
    });
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&rt.ok(&["list", "--format", "json"]).stdout).unwrap();
    assert_eq!(listed.len(), ids.len(), "{listed:?}");
    assert!(
        listed.iter().all(|c| c["status"] == "running"),
        "{listed:?}"
    );
    std::thread::scope(|scope| {
        for id in &ids {
            let rt = &rt;
            scope.spawn(move || {
                rt.ok(&["delete", "--force", id]);
            });
        }
    });
    for id in &ids {
        assert!(rt.leftovers(id).is_empty(), "{:?}", rt.leftovers(id));
    }
}

/// Engines poll `state` while a container is created, started, killed and deleted.
/// libcontainer rewrites state.json in place, so a poll used to read it empty or cut
/// off and fail ("EOF while parsing") although the container was fine; and an init
/// exiting between libcontainer's two reads of /proc failed it too.
#[test]
fn state_polled_through_the_whole_lifecycle_never_fails_spuriously() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("poll");
    let done = AtomicBool::new(false);
    let polls = std::thread::scope(|scope| {
        let poller = scope.spawn(|| {
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let out = rt.run(&["state", &id]);
                match out.status.code() {
                    Some(0) => {
                        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
                            .unwrap_or_else(|e| panic!("{e}: {}", describe(&["state"], &out)));
                        seen.push(state["status"].as_str().unwrap().to_owned());
                    }
                    _ => {
                        let stderr = String::from_utf8_lossy(&out.stderr);
                        assert!(
                            stderr.contains(&format!("container {id} does not exist")),
                            "{}",
                            describe(&["state", &id], &out)
                        );
                        seen.push("absent".to_owned());
                    }
                }
            }
            seen
        });
        for _ in 0..6 {
            rt.ok(&["create", "--bundle", bundle.path_str(), &id]);
            rt.ok(&["start", &id]);
            rt.ok(&["kill", &id, "KILL"]);
            rt.wait_for_status(&id, "stopped");
            rt.ok(&["delete", &id]);
        }
        done.store(true, Ordering::Relaxed);
        poller.join().unwrap()
    });
    // The poller saw the container, not only its absence.
    for status in ["created", "stopped"] {
        assert!(polls.iter().any(|s| s == status), "{status}: {polls:?}");
    }
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
}

#[test]
fn concurrent_creates_of_one_id_admit_exactly_one() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("race");
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| rt.run(&["create", "--bundle", bundle.path_str(), &id])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(winners, 1, "{:?}", outputs);
    for loser in outputs.iter().filter(|o| !o.status.success()) {
        let stderr = String::from_utf8_lossy(&loser.stderr);
        assert!(stderr.contains("already exists"), "{stderr}");
    }
    assert_eq!(rt.state(&id)["status"], "created");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn events_stats_reports_once() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("events");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let out = rt.ok(&["events", "--stats", &id]);
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["type"], "stats", "{event}");
    assert_eq!(event["id"], id.as_str(), "{event}");
    assert_eq!(event["data"]["pids"]["current"], 1, "{event}");
    assert_eq!(
        event["data"]["memory"]["memory"]["limit"], 134217728,
        "{event}"
    );
    rt.ok(&["delete", "--force", &id]);
}

/// The streaming `events` reports an OOM kill in the container as runc does, a
/// `{"type":"oom"}` event between the stats; on this cgroup v1 host from
/// memory.oom_control's `oom_kill` (the VM lane checks v2's memory.events). Before: the
/// stream printed stats only.
#[test]
fn events_stream_reports_an_oom_kill() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("oom");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let stream_path = bundle.path().join("events.out");
    let mut stream = rt
        .command(&["events", "--interval", "1s", &id])
        .stdout(fs::File::create(&stream_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let read_stream = || fs::read_to_string(&stream_path).unwrap();
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !read_stream().contains(needle) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // The stream counts kills from its start: wait until it has begun.
    wait_for(r#""type":"stats""#);
    let alloc = rt.run(&["exec", &id, "/probe", "alloc", "512"]);
    assert_eq!(
        alloc.status.code(),
        Some(128 + 9),
        "{}",
        describe(&[], &alloc)
    );
    wait_for(r#""type":"oom""#);
    stream.kill().unwrap();
    stream.wait().unwrap();
    let events: Vec<serde_json::Value> = read_stream()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let ooms: Vec<_> = events.iter().filter(|e| e["type"] == "oom").collect();
    assert_eq!(ooms.len(), 1, "event types: {types:?}");
    assert_eq!(ooms[0]["id"], id.as_str());
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn commands_that_enter_a_container_run_from_a_sealed_copy() {
    // CVE-2019-5736: while bulwark runs a container in the foreground, its
    // /proc/<pid>/exe is a read-only overlay view of the binary (src/sealed_exe.rs), on
    // a mount attached to no namespace, so a process in the container cannot overwrite
    // the runtime through it: not even root on the host can.
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("sealed");
    let mut child = rt
        .command(&["run", "--bundle", bundle.path_str(), &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !rt.run(&["state", &id]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "container never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    rt.wait_for_status(&id, "running");
    let exe = format!("/proc/{}/exe", child.id());
    assert_eq!(fs::read_link(&exe).unwrap(), Path::new("/bulwark"));
    for write in [true, false] {
        let error = fs::OpenOptions::new()
            .write(write)
            .read(!write)
            .append(!write)
            .open(&exe)
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EROFS), "{exe}: {error}");
    }
    rt.ok(&["kill", &id, "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(128 + 9));
}
