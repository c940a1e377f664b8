//! `exec` runs under the container's security context and the mandatory baseline.
//! libcontainer 0.7's tenant builder drops `linux.seccomp` and defaults to uid 0; these
//! tests prove from inside the container (and from the host's /proc) that bulwark
//! carries both over.

mod common;

use std::fs;

use common::{assert_hardened, describe, probe_report, proc_status, unique_id, Bundle, Runtime};
use serde_json::json;

/// A running container as uid/gid 1000.
fn running_container(rt: &Runtime, bundle: &mut Bundle) -> String {
    bundle.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let id = unique_id("exec");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    id
}

#[test]
fn attached_exec_keeps_seccomp_user_and_capabilities() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);

    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    // Everything the baseline promises, including the profile's clone3 ENOSYS marker:
    // the container's filter, not merely some filter.
    assert_hardened(&report, 1000, 1000);
    // The exec'd process is inside the container's pid namespace, not pid 1.
    assert!(report["pid"].as_i64().unwrap() > 1, "{report}");
    rt.ok(&["delete", "--force", &id]);
}

/// An engine that asked for a pid file must get it, or an error and no process: a
/// detached exec whose pid file cannot be written is killed, and the container keeps
/// only what it ran before.
#[test]
fn a_detached_exec_whose_pid_file_cannot_be_written_leaves_no_process() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let pids = || -> Vec<i64> {
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap()
    };
    let before = pids();
    // /proc takes no new files, even from root.
    let pid_file = "/proc/bulwark-exec.pid";
    let args = [
        "exec",
        "--detach",
        "--pid-file",
        pid_file,
        &id,
        "/probe",
        "sleep",
        "300",
    ];
    let out = rt.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot write the pid file {pid_file}")),
        "{stderr}"
    );
    // The killed process leaves the container's cgroup once it has exited.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pids() != before {
        assert!(
            std::time::Instant::now() < deadline,
            "the exec'd process stayed: {:?} (before: {before:?})",
            pids()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(rt.state(&id)["status"], "running");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_returns_the_process_exit_code() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let out = rt.run(&["exec", &id, "/probe", "exit", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["exec"], &out));
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn detached_exec_writes_its_pid_and_runs_filtered() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let pid = rt.exec_detached(bundle.path(), &id, &["/probe", "sleep", "300"]);
    // Seen from the host: the detached process is filtered and unprivileged too.
    assert_eq!(proc_status(pid, "Seccomp").as_deref(), Some("2"));
    assert_eq!(proc_status(pid, "NoNewPrivs").as_deref(), Some("1"));
    assert_eq!(
        proc_status(pid, "CapEff").as_deref(),
        Some("0000000000000000")
    );
    let uid = proc_status(pid, "Uid").unwrap();
    assert!(uid.split_whitespace().all(|u| u == "1000"), "Uid: {uid}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn process_json_cannot_raise_capabilities_or_escape_the_filter() {
    // containerd's shim and conmon pass a whole process.json; it may choose the user
    // and arguments, not the security context.
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let process = bundle.path().join("process.json");
    fs::write(
        &process,
        json!({
            "args": ["/probe", "report"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 1000, "gid": 1000},
            "noNewPrivileges": false,
            "capabilities": {
                "bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"],
                "permitted": ["CAP_SYS_ADMIN"], "ambient": ["CAP_SYS_ADMIN"],
                "inheritable": ["CAP_SYS_ADMIN"]
            }
        })
        .to_string(),
    )
    .unwrap();
    let out = rt.ok(&["exec", "--process", process.to_str().unwrap(), &id]);
    let report = probe_report(&out.stdout);
    // No CAP_SYS_ADMIN in any set, NNP on, the container's filter.
    assert_hardened(&report, 1000, 1000);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_user_flag_and_env_are_honoured() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let out = rt.ok(&[
        "exec",
        "--user",
        "2000:3000",
        "--env",
        "EXTRA=1",
        &id,
        "/probe",
        "report",
    ]);
    let report = probe_report(&out.stdout);
    assert_eq!(
        (report["uid"].as_i64(), report["gid"].as_i64()),
        (Some(2000), Some(3000))
    );
    assert_eq!(report["seccomp"], 2, "{report}");
    let names = report["env_names"].as_array().unwrap();
    assert!(
        names.contains(&json!("EXTRA")) && names.contains(&json!("PATH")),
        "{report}"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_as_root_runs_as_the_non_root_user() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let report = probe_report(
        &rt.ok(&["exec", "--user", "0:0", &id, "/probe", "report"])
            .stdout,
    );
    assert_hardened(&report, 65532, 65532);
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_as_root_is_refused_in_refuse_mode() {
    let rt = Runtime::with_config(&format!(
        "{}[baseline.non_root]\nmode = \"refuse\"\n",
        common::TEST_CONFIG
    ));
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let stderr = rt.fails(&["exec", "--user", "0", &id, "/probe", "report"]);
    assert!(stderr.contains("process.user.uid is 0"), "{stderr}");
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_refuses_capabilities_the_container_lacks() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let stderr = rt.fails(&["exec", "--cap", "CAP_SYS_ADMIN", &id, "/probe", "report"]);
    assert!(
        stderr.contains(
            "exec may not add capabilities the container's init process does not hold: \
             CAP_SYS_ADMIN"
        ),
        "{stderr}"
    );
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_into_a_missing_or_stopped_container_fails_cleanly() {
    let rt = Runtime::new();
    let stderr = rt.fails(&["exec", "nope", "/probe", "report"]);
    assert!(stderr.contains("container nope does not exist"), "{stderr}");

    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("stopped");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_for_status(&id, "stopped");
    rt.fails(&["exec", &id, "/probe", "report"]);
    // The derived process.json is removed whether exec worked or not.
    let private: Vec<_> = fs::read_dir(rt.root().join("@bulwark").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        private.iter().all(|n| !n.starts_with("exec-")),
        "{private:?}"
    );
    rt.ok(&["delete", &id]);
}

#[test]
fn exec_with_a_secret_in_the_environment_is_refused_without_echoing_it() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = running_container(&rt, &mut bundle);
    let secret = "ghp_0123456789abcdefghijKLMNOPQRSTUV";
    let stderr = rt.fails(&[
        "exec",
        "--env",
        &format!("NOTE={secret}"),
        &id,
        "/probe",
        "report",
    ]);
    assert!(stderr.contains("[env.secret] process.env"), "{stderr}");
    assert!(stderr.contains("NOTE"), "{stderr}");
    assert!(
        !stderr.contains(secret),
        "the secret leaked into the error: {stderr}"
    );
    rt.ok(&["delete", "--force", &id]);
}
