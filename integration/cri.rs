//! containerd end to end: Debian's containerd 1.6 runs bulwark as a CRI runtime
//! handler (io.containerd.runc.v2 shim, BinaryName = bulwark) and the tests
//! drive it through the CRI gRPC API, as a kubelet would.
//!
//! Needs root, containerd (with ctr), catatonit, containernetworking-plugins,
//! umoci, skopeo, util-linux's unshare and iproute2, and the static probe
//! (`make probe`, or `BULWARK_PROBE=<path>`). Each test starts its own
//! containerd (see integration/containerd/harness.rs).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "containerd/harness.rs"]
mod harness;
#[path = "stragglers.rs"]
mod stragglers;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::tokens::TokenKeys;
use harness::{Containerd, BASE_PIDS_LIMIT};
use k8s_cri::v1::security_profile::ProfileType;
use k8s_cri::v1::{ContainerState, LinuxSandboxSecurityContext, NamespaceMode, SecurityProfile};
use serde_json::{json, Value};

/// A running pod with one started probe container.
fn pod_with_container(cd: &Containerd, pod: &str, args: &[&str]) -> (String, String) {
    let config = cd.pod_config(pod);
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let id = cd.create_and_start(
        &pod_id,
        &config,
        Containerd::container_config("probe", args),
    );
    (pod_id, id)
}

/// Waits until the container's init handles SIGTERM. As pid 1 of its pid
/// namespace the probe ignores a SIGTERM that arrives before its handler is
/// installed, and StopContainer right after StartContainer can be that early;
/// StopContainer would then wait its full timeout before SIGKILL.
fn wait_for_sigterm_handler(cd: &Containerd, id: &str) {
    common::wait_until_catching(cd.container_pid(id), libc::SIGTERM);
}

/// The probe's report: the last line of `text` that is a JSON object.
fn report_in(text: &str, context: &dyn Fn() -> String) -> Value {
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no probe report in {text:?}\n{}", context()));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad probe report {line}: {e}"))
}

#[test]
fn cri_compliant_pod_runs_hardened() {
    let cd = Containerd::new();
    let (_, id) = pod_with_container(&cd, "compliant", &["report"]);
    let status = cd.wait_exited(&id);
    assert_eq!(status.exit_code, 0, "{status:?}\n{}", cd.describe());
    let report = report_in(&cd.container_log(&status), &|| cd.describe());
    // CRI sends the image's user, 0; bulwark remaps it to 65532 (distroless
    // nonroot), drops every capability and sets NNP, its seccomp profile and
    // a read-only root.
    common::assert_hardened(&report, 65532, 65532);

    // The pids limit comes from the handler's base spec (CRI has no field for it),
    // read where the kernel enforces it: the container's own pids cgroup.
    assert_eq!(
        report["pids_max"],
        json!(BASE_PIDS_LIMIT.to_string()),
        "{report}"
    );
    // The app container's spec names its image.
    let spec = cd.captured_spec(&id);
    let annotations = &spec["annotations"];
    assert_eq!(annotations["io.kubernetes.cri.container-type"], "container");
    assert_eq!(
        annotations["io.kubernetes.cri.image-name"],
        harness::PROBE_IMAGE
    );
}

/// critest "should support seccomp localhost profile" (issue #16 item 8): a Kubernetes
/// `seccompProfile: Localhost` that denies chmod keeps its denial under bulwark, whose
/// own profile stays in force beside it (bulwark used to replace the engine's profile).
#[test]
fn cri_localhost_seccomp_profile_stacks_on_bulwarks() {
    let cd = Containerd::new();
    let profile = cd.path("deny-chmod.json");
    let deny_chmod = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTBLK}]
    });
    std::fs::write(&profile, deny_chmod.to_string()).unwrap();
    let config = cd.pod_config("localhost-seccomp");
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let mut container = Containerd::container_config("probe", &["report"]);
    let security = container.linux.as_mut().unwrap();
    let security = security.security_context.as_mut().unwrap();
    security.seccomp = Some(SecurityProfile {
        profile_type: ProfileType::Localhost as i32,
        localhost_ref: profile.to_string_lossy().into_owned(),
    });
    let id = cd.create_and_start(&pod_id, &config, container);
    let status = cd.wait_exited(&id);
    assert_eq!(status.exit_code, 0, "{status:?}\n{}", cd.describe());
    let report = report_in(&cd.container_log(&status), &|| cd.describe());
    assert_eq!(report["syscalls"]["chmod"], "ENOTBLK", "{report}");
    common::assert_hardened(&report, 65532, 65532);
}

#[test]
fn cri_sandbox_runs_hardened() {
    let cd = Containerd::new();
    let config = cd.pod_config("sandbox");
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let pid = cd.sandbox_pid(&pod_id);
    let field = |name| {
        common::proc_status(pid, name)
            .unwrap_or_else(|| panic!("{name} of pause process {pid}\n{}", cd.describe()))
    };
    assert_eq!(field("Seccomp"), "2");
    assert_eq!(field("NoNewPrivs"), "1");
    assert_eq!(field("CapEff"), "0000000000000000");
    assert_eq!(field("CapPrm"), "0000000000000000");
    assert_eq!(field("CapBnd"), "0000000000000000");
    // Uid: real, effective, saved, filesystem.
    assert_eq!(field("Uid"), "65532\t65532\t65532\t65532");

    // containerd 1.6 builds the sandbox spec without the handler's base spec:
    // no memory, CPU quota or pids limit, and no image-name annotation (the
    // app container has one), so image admission cannot name the pause image
    // from annotations alone.
    let spec = cd.captured_spec(&pod_id);
    let annotations = &spec["annotations"];
    assert_eq!(annotations["io.kubernetes.cri.container-type"], "sandbox");
    assert_eq!(
        annotations.get("io.kubernetes.cri.image-name"),
        None,
        "{spec}"
    );
    let resources = &spec["linux"]["resources"];
    for limit in ["memory", "pids"] {
        assert_eq!(resources.get(limit), None, "{spec}");
    }
    // bulwark filled in its sandbox defaults (64 MiB, 10 ms per 100 ms, 32).
    let cgroup = |controller: &str, file: &str| {
        let path = format!(
            "/sys/fs/cgroup/{controller}{}/{pod_id}/{file}",
            cd.cgroup_parent()
        );
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .trim()
            .to_owned()
    };
    assert_eq!(cgroup("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cgroup("cpu", "cpu.cfs_quota_us"), "10000");
    assert_eq!(cgroup("pids", "pids.max"), "32");
}

#[test]
fn cri_exec_sync_runs_hardened() {
    let cd = Containerd::new();
    let (_, id) = pod_with_container(&cd, "exec", &["sleep", "300"]);
    let out = cd
        .exec_sync(&id, &["/probe", "report"])
        .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", cd.describe()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = || {
        format!(
            "exit {}\nstderr: {}\n{}",
            out.exit_code,
            String::from_utf8_lossy(&out.stderr),
            cd.describe()
        )
    };
    assert_eq!(out.exit_code, 0, "{}", context());
    common::assert_hardened(&report_in(&stdout, &context), 65532, 65532);

    // A graceful stop: SIGTERM through `bulwark kill`, which the probe's
    // sleep exits on well before the 10 s timeout.
    wait_for_sigterm_handler(&cd, &id);
    cd.stop_container(&id)
        .unwrap_or_else(|e| panic!("StopContainer: {e}\n{}", cd.describe()));
    let status = cd.container_status(&id);
    assert_eq!(status.state, ContainerState::ContainerExited as i32);
}

#[test]
fn cri_privileged_container_is_refused_with_the_rule_id() {
    let cd = Containerd::new();
    // containerd refuses a privileged container in an unprivileged pod itself,
    // so the pod asks for privileged too, as a kubelet would send it.
    let mut config = cd.pod_config("privileged");
    let linux = config.linux.as_mut().unwrap();
    linux.security_context = Some(LinuxSandboxSecurityContext {
        privileged: true,
        ..linux.security_context.clone().unwrap()
    });
    let refusal = match cd.run_pod(&config) {
        // Admitted: the privileged sandbox is no less than the unprivileged
        // one. The app container is where privileges would be granted.
        Ok(pod_id) => {
            let mut container = Containerd::container_config("probe", &["report"]);
            let linux = container.linux.as_mut().unwrap();
            linux.security_context.as_mut().unwrap().privileged = true;
            match cd.create_container(&pod_id, &config, container) {
                Ok(id) => cd
                    .start_container(&id)
                    .expect_err("a privileged container must not start"),
                Err(e) => e,
            }
        }
        Err(e) => e,
    };
    assert!(
        refusal.message().contains("privileged.capabilities"),
        "refusal: {refusal}\n{}",
        cd.describe()
    );
}

#[test]
fn cri_host_network_pod_is_refused_with_the_rule_id() {
    let cd = Containerd::new();
    let mut config = cd.pod_config("hostnet");
    let linux = config.linux.as_mut().unwrap();
    let security = linux.security_context.as_mut().unwrap();
    security.namespace_options.as_mut().unwrap().network = NamespaceMode::Node as i32;
    let refusal = cd
        .run_pod(&config)
        .expect_err("a hostNetwork pod must not run");
    assert!(
        refusal.message().contains("namespaces.required"),
        "refusal: {refusal}\n{}",
        cd.describe()
    );
    assert!(cd.leftovers().is_empty(), "{:?}", cd.leftovers());
}

#[test]
fn cri_removal_leaves_nothing_behind() {
    let cd = Containerd::new();
    let (pod_id, id) = pod_with_container(&cd, "cleanup", &["sleep", "300"]);
    assert!(
        !cd.leftovers().is_empty(),
        "a running pod must show up as state, cgroups and mounts"
    );
    wait_for_sigterm_handler(&cd, &id);
    cd.stop_container(&id).expect("StopContainer");
    cd.remove_container(&id).expect("RemoveContainer");
    cd.stop_pod(&pod_id).expect("StopPodSandbox");
    cd.remove_pod(&pod_id).expect("RemovePodSandbox");
    assert_eq!(cd.leftovers(), Vec::<String>::new(), "{}", cd.describe());
}

/// A Kubernetes secret volume bound `readonly: true` is read-only where it counts: in
/// the container's mount table (`ro` in /proc/self/mountinfo) and for a write, which
/// fails with EROFS although the file is writable by everyone (so only the read-only
/// mount can refuse it); the host copy is unchanged.
#[test]
fn cri_secret_volume_is_visible_read_only() {
    use std::os::unix::fs::PermissionsExt;
    // What kubelet hands a pod for a Kubernetes secret volume: a directory under its
    // pod directory (kubelet mounts a tmpfs there), bound into the container. bulwark
    // admits binds from this pod's own kubelet directory only.
    let cd = Containerd::new();
    let config = cd.pod_config("secret");
    let volume = cd.kubelet_volume(&config, "kubernetes.io~secret", "creds");
    let token = volume.join("token");
    std::fs::write(&token, "cri-volume-s3cr3t").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o666)).unwrap();
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let mut container = Containerd::container_config("reader", &["sleep", "300"]);
    container.mounts.push(k8s_cri::v1::Mount {
        container_path: "/var/run/secrets/app".to_owned(),
        host_path: volume.to_string_lossy().into_owned(),
        readonly: true,
        ..Default::default()
    });
    let id = cd.create_and_start(&pod_id, &config, container);
    let exec = |cmd: &[&str]| {
        let out = cd
            .exec_sync(&id, cmd)
            .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", cd.describe()));
        assert_eq!(out.exit_code, 0, "{cmd:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        exec(&["/probe", "cat", "/var/run/secrets/app/token"]),
        "cri-volume-s3cr3t"
    );
    let writes: Value = serde_json::from_str(&exec(&[
        "/probe",
        "write-each",
        "overwritten",
        "/var/run/secrets/app/token",
    ]))
    .unwrap();
    assert_eq!(writes, json!({"/var/run/secrets/app/token": "EROFS"}));
    let report = report_in(&exec(&["/probe", "report"]), &|| cd.describe());
    let mount = common::probe_mount(&report, "/var/run/secrets/app");
    assert!(
        mount["options"]
            .as_str()
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{mount}"
    );
    assert_eq!(
        std::fs::read_to_string(&token).unwrap(),
        "cri-volume-s3cr3t"
    );
    assert!(!volume.join("planted").exists());
}

/// Issue #23: a pod that asks for a writable root (`readOnlyRootFilesystem: false`) and
/// has an emptyDir volume gets a read-only root all the same, a writable emptyDir (a
/// directory kubelet makes 0777 in its pod directory, bound in) and the baseline's
/// writable /tmp; before, /tmp was EROFS.
#[test]
fn cri_writable_root_request_gets_a_read_only_root_a_writable_empty_dir_and_tmp() {
    let cd = Containerd::new();
    let config = cd.pod_config("scratch");
    let volume = cd.kubelet_volume(&config, "kubernetes.io~empty-dir", "cache");
    std::fs::set_permissions(&volume, std::fs::Permissions::from_mode(0o777)).unwrap();
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let mut container = Containerd::container_config("writer", &["sleep", "300"]);
    container.mounts.push(k8s_cri::v1::Mount {
        container_path: "/cache".to_owned(),
        host_path: volume.to_string_lossy().into_owned(),
        ..Default::default()
    });
    let security = container
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
        .unwrap();
    security.readonly_rootfs = false;
    let id = cd.create_and_start(&pod_id, &config, container);
    let run = |cmd: &[&str]| {
        let out = cd
            .exec_sync(&id, cmd)
            .unwrap_or_else(|e| panic!("ExecSync {cmd:?}: {e}\n{}", cd.describe()));
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        (out.exit_code, stderr)
    };
    assert_eq!(
        run(&["/probe", "write", "/cache/f", "kept"]),
        (0, String::new())
    );
    assert_eq!(std::fs::read_to_string(volume.join("f")).unwrap(), "kept");
    assert_eq!(run(&["/probe", "write", "/tmp/f", "x"]), (0, String::new()));
    assert_eq!(
        run(&["/probe", "write", "/f", "x"]),
        (1, "EROFS".to_owned())
    );
}

/// Issue #16 item 1: a container whose process exits on its own just as it is stopped.
/// containerd has not yet seen the exit, so its runc shim asks the runtime to kill the
/// task and reads the runtime's error as "already stopped" only by runc's words
/// (`container not running`); bulwark said `is not running`, and StopContainer failed
/// with Unknown. Ten containers that exit at once, each stopped right after its start:
/// every stop succeeds.
#[test]
fn cri_stop_of_a_container_that_just_exited_succeeds() {
    let cd = Containerd::new();
    let config = cd.pod_config("exits");
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let mut failed = Vec::new();
    for n in 0..10 {
        let id = cd
            .create_container(
                &pod_id,
                &config,
                Containerd::container_config(&format!("exit-{n}"), &["exit", "0"]),
            )
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", cd.describe()));
        cd.start_container(&id)
            .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", cd.describe()));
        if let Err(e) = cd.stop_container(&id) {
            failed.push(format!("{id}: {e}"));
        }
        let _ = cd.remove_container(&id);
    }
    cd.stop_pod(&pod_id).expect("StopPodSandbox");
    cd.remove_pod(&pod_id).expect("RemovePodSandbox");
    assert!(
        failed.is_empty(),
        "{} of 10 stops failed: {failed:#?}\n{}",
        failed.len(),
        cd.describe()
    );
}

/// Issue #16 item 2: a pod with `shareProcessNamespace` (its containers join the
/// sandbox's pid namespace by path) on a cgroup v1 host. libcontainer 0.7 looked each
/// container's in-pod pid up in the host's /proc while it mounted the cgroup hierarchies
/// and failed ("failed to mount cgroup v1: procfs failed … NotFound(/proc/<pid>)") when no
/// host process had that pid (22 of 25 started in one pod). The pod's next pids are made
/// such pids, so each of these twelve failed before; all start now, and each sees its own
/// cgroup read-only.
#[test]
fn cri_containers_sharing_the_pods_pid_namespace_all_start() {
    const COUNT: i64 = 12;
    let cd = Containerd::new();
    let mut config = cd.pod_config("sharedpid");
    let shared = k8s_cri::v1::NamespaceOption {
        pid: NamespaceMode::Pod as i32,
        ..harness::pod_namespaces()
    };
    config
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options = Some(shared.clone());
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    common::pod_pids_unknown_to_the_host(cd.sandbox_pid(&pod_id), COUNT);
    let mut started = Vec::new();
    let mut failed = Vec::new();
    for n in 0..COUNT {
        let mut container = Containerd::container_config(&format!("shared-{n}"), &["sleep", "300"]);
        let linux = container.linux.as_mut().unwrap();
        linux.security_context.as_mut().unwrap().namespace_options = Some(shared.clone());
        let id = cd
            .create_container(&pod_id, &config, container)
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", cd.describe()));
        match cd.start_container(&id) {
            Ok(()) => started.push(id),
            Err(e) => failed.push(format!("{id}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {COUNT} containers sharing the pod's pid namespace failed: {failed:#?}\n{}",
        failed.len(),
        cd.describe()
    );
    let exec = |id: &str, cmd: &[&str]| {
        let out = cd
            .exec_sync(id, cmd)
            .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", cd.describe()));
        assert_eq!(out.exit_code, 0, "{cmd:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // The container's own cgroup: its 128 MiB limit and the base spec's pids limit.
    let id = &started[0];
    assert_eq!(
        exec(
            id,
            &[
                "/probe",
                "cat",
                "/sys/fs/cgroup/memory/memory.limit_in_bytes"
            ]
        ),
        (128u64 << 20).to_string()
    );
    assert_eq!(
        exec(id, &["/probe", "cat", "/sys/fs/cgroup/pids/pids.max"]),
        BASE_PIDS_LIMIT.to_string()
    );
    let report = report_in(&exec(id, &["/probe", "report"]), &|| cd.describe());
    common::assert_cgroup_mounts_read_only(&report);
}

/// Issue #16 item 10: a web server as uid 65532 with no capabilities listens on :80 and
/// answers on the pod's IP and through a hostPort (the portmap plugin's DNAT at the
/// bridge's address), both from containerd's network namespace, where the pods' bridge
/// is. bulwark sets `net.ipv4.ip_unprivileged_port_start=0` in the pod's own network
/// namespace, as Docker does; before, the bind failed with EACCES.
#[test]
fn cri_web_server_on_port_80_answers_on_the_pod_ip_and_a_host_port() {
    const HOST_PORT: i32 = 8080;
    let cd = Containerd::new();
    let mut config = cd.pod_config("web");
    config.port_mappings = vec![k8s_cri::v1::PortMapping {
        protocol: k8s_cri::v1::Protocol::Tcp as i32,
        container_port: 80,
        host_port: HOST_PORT,
        host_ip: String::new(),
    }];
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let id = cd.create_and_start(
        &pod_id,
        &config,
        Containerd::container_config("web", &["listen", "80"]),
    );
    let addresses = [
        format!("{}:80", cd.pod_ip(&pod_id)),
        format!("{}:{HOST_PORT}", harness::BRIDGE_ADDRESS),
    ];
    let netns = std::fs::File::open(cd.network_namespace()).unwrap();
    // setns(CLONE_NEWNET) moves only the calling thread: a thread of its own connects.
    let answers = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid namespace descriptor; the thread is ours alone.
        let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
        addresses.map(|address| ask(&address).map_err(|e| format!("{address}: {e}")))
    })
    .join()
    .unwrap();
    let log = || {
        let status = cd.container_status(&id);
        format!("log: {}\n{}", cd.container_log(&status), cd.describe())
    };
    for answer in answers {
        let answer = answer.unwrap_or_else(|e| panic!("{e}\n{}", log()));
        assert!(
            answer.starts_with("HTTP/1.0 200 OK") && answer.contains("bulwark-probe"),
            "{answer:?}\n{}",
            log()
        );
    }
    wait_for_sigterm_handler(&cd, &id);
    cd.stop_container(&id)
        .unwrap_or_else(|e| panic!("StopContainer: {e}\n{}", log()));
}

/// One HTTP/1.0 request to `address`, retried until the server listens (30 s); the
/// whole answer.
fn ask(address: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match std::net::TcpStream::connect(address) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("connect: {e}")),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(answer)
}

/// Issue #21 item 4: on Kubernetes an agent is named by the orchestrator's signed token
/// in a pod annotation the operator allowlists (`pod_annotations =
/// ["bulwark.io/agent-token"]`, as the harness does): the pod's probe container runs as
/// research-agent, a verified identity (its audit record names the token's jti and
/// kid), while the pause container, which containerd hands the annotation too, runs as
/// no agent. The same token in a pod running another image than the token's is refused.
#[test]
fn cri_pod_agent_token_names_the_agent() {
    let cd = Containerd::new();
    let keys = TokenKeys::new();
    let sign = |image: &str, jti: &str| keys.sign(&["--image", image, "--jti", jti, "--no-secret"]);
    let config = std::fs::read_to_string(cd.path("bulwark.toml")).unwrap();
    std::fs::write(
        cd.path("bulwark.toml"),
        format!("{config}{}", keys.table("")),
    )
    .unwrap();
    let records = || -> Vec<Value> {
        std::fs::read_to_string(cd.path("audit.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    let mut pod = cd.pod_config("token");
    pod.annotations.insert(
        "bulwark.io/agent-token".into(),
        sign(harness::PROBE_IMAGE, "cri-jti"),
    );
    let pod_id = cd
        .run_pod(&pod)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let id = cd.create_and_start(
        &pod_id,
        &pod,
        Containerd::container_config("probe", &["sleep", "60"]),
    );
    let agent_of = |id: &str| {
        records()
            .into_iter()
            .rev()
            .find(|r| r["container_id"] == id)
            .unwrap_or_else(|| panic!("no audit record for {id}"))["agent"]
            .clone()
    };
    assert_eq!(
        agent_of(&id),
        json!({"id": "research-agent", "task": "summarise", "trusted": true,
               "token": {"jti": "cri-jti", "kid": "orch-1"}})
    );
    assert_eq!(agent_of(&pod_id)["id"], Value::Null);

    let mut replayed = cd.pod_config("replayed");
    replayed.annotations.insert(
        "bulwark.io/agent-token".into(),
        sign("localhost/bulwark-probe:other", "replayed-jti"),
    );
    let pod_id = cd
        .run_pod(&replayed)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    // containerd creates the runtime container at CreateContainer or StartContainer.
    let error = match cd.create_container(
        &pod_id,
        &replayed,
        Containerd::container_config("probe", &["exit", "0"]),
    ) {
        Err(error) => error.message().to_owned(),
        Ok(id) => cd
            .start_container(&id)
            .expect_err("a token for another image started a container")
            .message()
            .to_owned(),
    };
    assert!(
        error.contains("identity.token")
            && error.contains("the token is for image \"localhost/bulwark-probe:other\""),
        "{error}\n{}",
        cd.describe()
    );
}

/// Issue #19 Phase 1 item 4: a pod under `baseline.user_namespace.mode = "auto"`. The
/// sandbox gets a leased host range and a user namespace of its own and joins the
/// pod's CNI network namespace (the host's user namespace owns it: bulwark joins it
/// before the user namespace exists); both app containers join the sandbox's
/// namespaces and run in its user namespace on its range; ExecSync runs there too,
/// hardened; removing the pod leaves nothing, no lease either.
#[test]
fn cri_pod_under_auto_mode_runs_in_one_user_namespace() {
    let cd = Containerd::new();
    cd.add_bulwark_config(
        "[baseline.user_namespace]\nmode = \"auto\"\nfirst_host_id = 1073741824\nranges = 8\n",
    );
    // containerd's own state root (/run/containerd) is 0711, crossable by a user
    // namespace's root on the way to a rootfs; the harness's D is a 0700 tempdir.
    std::fs::set_permissions(cd.path(""), std::fs::Permissions::from_mode(0o711)).unwrap();
    let config = cd.pod_config("autopod");
    let pod_id = cd
        .run_pod(&config)
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.describe()));
    let sandbox = cd.sandbox_pid(&pod_id);
    let link = |pid: i64, ns: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
    let uid_map = |pid: i64| {
        std::fs::read_to_string(format!("/proc/{pid}/uid_map"))
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_ne!(
        link(sandbox, "user"),
        std::fs::read_link("/proc/self/ns/user").unwrap()
    );
    assert_eq!(uid_map(sandbox), ["0", "1073741824", "65536"]);
    let members: Vec<String> = ["a", "b"]
        .iter()
        .map(|name| {
            cd.create_and_start(
                &pod_id,
                &config,
                Containerd::container_config(name, &["sleep", "300"]),
            )
        })
        .collect();
    for id in &members {
        let pid = cd.container_pid(id);
        for ns in ["user", "net", "ipc", "uts"] {
            assert_eq!(link(pid, ns), link(sandbox, ns), "{id}: {ns}");
        }
        assert_eq!(uid_map(pid), uid_map(sandbox), "{id}");
        let out = cd
            .exec_sync(id, &["/probe", "report"])
            .unwrap_or_else(|e| panic!("ExecSync: {e}\n{}", cd.describe()));
        assert_eq!(out.exit_code, 0, "{out:?}");
        let report = report_in(&String::from_utf8_lossy(&out.stdout), &|| cd.describe());
        assert_eq!(report["user_ns"].as_str(), link(sandbox, "user").to_str());
        common::assert_hardened(&report, 65532, 65532);
    }
    for id in &members {
        cd.stop_container(id).unwrap();
        cd.remove_container(id).unwrap();
    }
    cd.stop_pod(&pod_id).unwrap();
    cd.remove_pod(&pod_id).unwrap();
    assert_eq!(cd.leftovers(), Vec::<String>::new(), "{}", cd.describe());
}
