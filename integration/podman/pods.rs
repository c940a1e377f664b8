//! Issue #24: Podman's everyday features under the baseline. Pods (their infra
//! container), named volumes, `--init` and `podman kube play`, each admitted on what
//! Podman itself recorded (libpod's state database, its volume store, the init binary
//! bulwark's config names), never on what a Podman user can write into the spec. Every
//! container, the infra one too, is checked hardened from inside or from its init's
//! /proc status.

use std::fs;
use std::time::{Duration, Instant};

use crate::common;
use crate::harness::{self, probe_report, Podman};

/// The pause image Podman 4.3 builds locally (from catatonit) for a pod's infra
/// container: approved beside the probe.
const WITH_PAUSE_IMAGE: &str = "[baseline.apparmor]\nallow_missing = true\n\
[admission.images]\napproved = [\"localhost/bulwark-probe\", \"localhost/podman-pause\"]\n";

/// The errnos Podman's own seccomp profile gives where both filters deny (see
/// `podmans_default_spec_runs_hardened`).
const PODMAN_ERRNOS: [(&str, &str); 3] = [
    ("add_key", "ENOSYS"),
    ("request_key", "ENOSYS"),
    ("io_uring_setup", "ENOSYS"),
];

/// The limits admission requires, for `podman run` arguments built here.
const LIMITS: [&str; 6] = ["--memory", "128m", "--cpus", "1", "--pids-limit", "64"];

fn run_args<'a>(opts: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--pull", "never"];
    args.extend_from_slice(&LIMITS);
    args.extend_from_slice(opts);
    args.push(harness::IMAGE);
    args.extend_from_slice(cmd);
    args
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn inspect(pm: &Podman, format: &str, what: &str) -> String {
    stdout(&pm.podman_ok(&["inspect", "--format", format, what]))
}

fn init_pid(pm: &Podman, container: &str) -> i64 {
    inspect(pm, "{{.State.Pid}}", container)
        .parse()
        .unwrap_or_else(|e| panic!("pid of {container}: {e}"))
}

/// The network namespace of `pid` (a number, or `self`).
fn netns(pid: impl std::fmt::Display) -> String {
    fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/net: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// A process's hardening read from the host: what the probe's report checks from
/// inside, for an init that is not the probe (the infra container runs catatonit).
fn assert_init_hardened(pid: i64) {
    let field = |name| common::proc_status(pid, name).unwrap_or_default();
    assert_eq!(field("CapEff"), "0000000000000000", "pid {pid}");
    assert_eq!(field("CapBnd"), "0000000000000000", "pid {pid}");
    assert_eq!(field("NoNewPrivs"), "1", "pid {pid}");
    assert_eq!(field("Seccomp"), "2", "pid {pid}");
    assert!(field("Uid").starts_with("65532"), "uid: {}", field("Uid"));
}

/// The memory limit of `pid`'s cgroup (v1 memory hierarchy or v2).
fn memory_limit(pid: i64) -> String {
    cgroup_limit(pid, "memory", "memory.limit_in_bytes", "memory.max")
}

/// The pids limit of `pid`'s cgroup (v1 pids hierarchy or v2).
fn pids_limit(pid: i64) -> String {
    cgroup_limit(pid, "pids", "pids.max", "pids.max")
}

/// `v1_file` in `pid`'s v1 `controller` hierarchy, or `v2_file` in its v2 cgroup when
/// the controller is not on v1.
fn cgroup_limit(pid: i64, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let on_v1 = cgroups.lines().any(|line| {
        line.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|c| c == controller))
    });
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let file = match controllers {
            Some("") if !on_v1 => {
                format!("/sys/fs/cgroup/unified{}/{v2_file}", path.unwrap_or("/"))
            }
            Some(c) if c.split(',').any(|c| c == controller) => {
                format!("/sys/fs/cgroup/{c}{}/{v1_file}", path.unwrap_or("/"))
            }
            _ => continue,
        };
        if let Ok(limit) = fs::read_to_string(&file) {
            return limit.trim().to_owned();
        }
    }
    panic!("no {controller} cgroup for pid {pid}: {cgroups}")
}

/// Issue #24 (1): `podman run --pod new:p1` failed with "starting some containers:
/// internal libpod error" — the pod's infra (pause) container was refused for its
/// missing limits. libpod's state records it as the pod's infra container, so bulwark
/// gives it `admission.resources.sandbox_*`; it runs hardened, and the pod's members
/// share its network namespace (not the host's) and bind its /dev/shm.
#[test]
fn podman_pod_infra_gets_sandbox_limits_and_members_share_its_network() {
    let pm = Podman::new();
    pm.set_bulwark_config(WITH_PAUSE_IMAGE);
    let first = stdout(&pm.podman_ok(&run_args(
        &["-d", "--pod", "new:p1", "--network", "none"],
        &["sleep", "300"],
    )));
    let first = first.lines().last().unwrap_or_default().to_owned();
    let infra =
        stdout(&pm.podman_ok(&["pod", "inspect", "--format", "{{.InfraContainerID}}", "p1"]));
    let infra_pid = init_pid(&pm, &infra);
    assert_init_hardened(infra_pid);
    // admission.resources.sandbox_memory_bytes' default, 64 MiB.
    assert_eq!(memory_limit(infra_pid), (64u64 << 20).to_string());

    let out = pm.podman_ok(&run_args(&["--rm", "--pod", "p1"], &["report"]));
    common::assert_hardened_stacked(&probe_report(&out), 65532, 65532, &PODMAN_ERRNOS);

    let first_pid = init_pid(&pm, &first);
    assert_eq!(netns(first_pid), netns(infra_pid));
    assert_ne!(
        netns(first_pid),
        netns("self"),
        "the pod is on the test's (the host's) network"
    );
    pm.podman_ok(&["pod", "rm", "--force", "--time", "0", "p1"]);
}

/// A user's annotation that claims the infra role (CRI-O's and containerd's sandbox
/// types) changes nothing: a container without limits is still refused for them.
#[test]
fn podman_annotation_claiming_infra_is_ignored() {
    let pm = Podman::new();
    pm.set_bulwark_config(WITH_PAUSE_IMAGE);
    let out = pm.run_unlimited_expect(
        &[
            "--rm",
            "--annotation",
            "io.kubernetes.cri-o.ContainerType=sandbox",
            "--annotation",
            "io.kubernetes.cri.container-type=sandbox",
        ],
        &["report"],
        126,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resources.memory-limit") && stderr.contains("resources.cpu-limit"),
        "{}",
        pm.describe(&["run", "--annotation", "...=sandbox"], &out)
    );
}

/// Named volumes bounded by a size-limited tmpfs (`podman volume create --opt
/// type=tmpfs --opt device=tmpfs --opt o=nr_blocks=N`): written from one container,
/// read back from a second (while the first keeps the volume mounted), through `-v`
/// and `--mount type=volume`. Both were refused as `mounts.host-path`.
#[test]
fn podman_bounded_named_volume_is_shared_between_containers() {
    let pm = Podman::new();
    pm.podman_ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=nr_blocks=4096",
        "bvol",
    ]);
    let writer = stdout(&pm.podman_ok(&run_args(
        &["-d", "--network", "none", "-v", "bvol:/data"],
        &["sleep", "300"],
    )));
    let writer = writer.lines().last().unwrap_or_default().to_owned();
    pm.podman_ok(&[
        "exec",
        &writer,
        "/probe",
        "write",
        "/data/note",
        "from-the-writer",
    ]);
    let read = pm.podman_ok(&run_args(
        &[
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,source=bvol,destination=/data",
        ],
        &["cat", "/data/note"],
    ));
    assert!(
        stdout(&read).contains("from-the-writer"),
        "{}",
        stdout(&read)
    );
    let out = pm.podman_ok(&run_args(
        &["--rm", "--network", "none", "-v", "bvol:/data"],
        &["report"],
    ));
    common::assert_hardened_stacked(&probe_report(&out), 65532, 65532, &PODMAN_ERRNOS);
    let audit = fs::read_to_string(pm.path("audit.jsonl")).unwrap_or_default();
    assert!(
        audit.contains("\"bvol\""),
        "the volume is not in the audit: {audit}"
    );
}

/// A volume on the graph root's own filesystem bounds nothing: refused unless the
/// operator accepts unbounded volumes (`admission.mounts.podman_volumes = "any"`); then
/// what one container writes the next one reads.
#[test]
fn podman_unbounded_named_volume_only_when_configured() {
    let pm = Podman::new();
    pm.podman_ok(&["volume", "create", "plain"]);
    let out = pm.podman_expect(
        &run_args(
            &["--rm", "--network", "none", "-v", "plain:/data"],
            &["report"],
        ),
        126,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[mounts.host-path]") && stderr.contains("podman_volumes"),
        "{}",
        pm.describe(&["run", "-v", "plain:/data"], &out)
    );
    pm.set_bulwark_config(&format!(
        "{}[admission.mounts]\npodman_volumes = \"any\"\n",
        harness::BULWARK_CONFIG
    ));
    // The process runs as 65532 (the baseline's non-root); the operator hands it the
    // volume, as a Kubernetes fsGroup would.
    let data = inspect(&pm, "{{.Mountpoint}}", "plain");
    std::os::unix::fs::chown(&data, Some(65532), Some(65532)).expect("chown the volume");
    pm.podman_ok(&run_args(
        &["--rm", "--network", "none", "-v", "plain:/data"],
        &["write", "/data/note", "kept"],
    ));
    let read = pm.podman_ok(&run_args(
        &["--rm", "--network", "none", "-v", "plain:/data"],
        &["cat", "/data/note"],
    ));
    assert!(stdout(&read).contains("kept"), "{}", stdout(&read));
}

/// A directory laid out like a volume (`<graphroot>/volumes/<name>/_data`) that
/// Podman's volume store does not know is a host path like any other.
#[test]
fn podman_look_alike_volume_directory_is_refused() {
    let pm = Podman::new();
    pm.set_bulwark_config(&format!(
        "{}[admission.mounts]\npodman_volumes = \"any\"\n",
        harness::BULWARK_CONFIG
    ));
    pm.podman_ok(&["volume", "create", "real"]);
    let fake = pm.path("root/volumes/fake/_data");
    fs::create_dir_all(&fake).expect("create the look-alike volume");
    let bind = format!("{}:/data", fake.display());
    let out = pm.podman_expect(
        &run_args(&["--rm", "--network", "none", "-v", &bind], &["report"]),
        126,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[mounts.host-path]") && stderr.contains("volumes/fake/_data"),
        "{}",
        pm.describe(&["run", "-v", &bind], &out)
    );
}

/// Issue #24 (3): `--init` binds Podman's catatonit read-only at /run/podman-init;
/// refused as a host path before. It is the init_path bulwark's config names, owned by
/// root and writable by no one else; the probe under it is hardened, and `podman stop`
/// reaches it through catatonit: the container exits 0 well before the 10 s SIGKILL.
#[test]
fn podman_init_forwards_signals_and_stays_hardened() {
    let pm = Podman::new();
    let out = pm.podman_ok(&run_args(
        &["--rm", "--init", "--network", "none"],
        &["report"],
    ));
    common::assert_hardened_stacked(&probe_report(&out), 65532, 65532, &PODMAN_ERRNOS);
    let id = stdout(&pm.podman_ok(&run_args(
        &["-d", "--init", "--network", "none"],
        &["sleep", "300"],
    )));
    let id = id.lines().last().unwrap_or_default().to_owned();
    let started = Instant::now();
    pm.podman_ok(&["stop", "--time", "10", &id]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
    assert_eq!(inspect(&pm, "{{.State.ExitCode}}", &id), "0");
}

/// A pod YAML for `podman kube play`, named `name`: two containers (`writer`,
/// `sleeper`) of the probe image with memory and CPU limits (a pod YAML has no pids
/// field), sharing an emptyDir at /cache. Returns the file's path.
fn kube_pod_yaml(pm: &Podman, name: &str) -> String {
    let limits = "resources: {limits: {memory: 128Mi, cpu: \"1\"}}";
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n\
         \x20 - name: writer\n    image: {image}\n    args: [\"sleep\", \"300\"]\n\
         \x20   {limits}\n    volumeMounts: [{{name: cache, mountPath: /cache}}]\n\
         \x20 - name: sleeper\n    image: {image}\n    args: [\"sleep\", \"300\"]\n\
         \x20   {limits}\n    volumeMounts: [{{name: cache, mountPath: /cache}}]\n\
         \x20 volumes:\n  - name: cache\n    emptyDir: {{}}\n",
        image = harness::IMAGE,
    );
    let file = pm.path(&format!("{name}.yaml"));
    fs::write(&file, yaml).expect("write the pod YAML");
    file.to_string_lossy().into_owned()
}

/// Issue #24 (4): `podman kube play` of a pod with two containers and an emptyDir.
/// The pod's infra container runs hardened with the sandbox limits. Podman 4.3 gives a
/// kube container no pids limit: the YAML has no such field, and containers.conf's
/// `pids_limit`, which `podman run` applies, does not reach kube play (under runc the
/// members' pids cgroup and the pod's both say `max`). bulwark refuses both containers
/// for that alone, naming the rule and the JSON path: every violation is reported, and
/// neither the emptyDir (a Podman volume) nor the pod's namespaces or /dev/shm are
/// among them. The control: in the same instance a `podman run` without
/// `--pids-limit` gets containers.conf's limit and is admitted, so no harness setting
/// withholds it.
#[test]
fn podman_kube_play_runs_the_infra_and_refuses_only_the_missing_pids_limit() {
    let pm = Podman::new();
    pm.set_bulwark_config(&format!(
        "{WITH_PAUSE_IMAGE}[admission.mounts]\npodman_volumes = \"any\"\n"
    ));
    pm.add_containers_setting("pids_limit = 2048");
    let plain = stdout(&pm.podman_ok(&[
        "run",
        "-d",
        "--pull",
        "never",
        "--network",
        "none",
        "--memory",
        "128m",
        "--cpus",
        "1",
        harness::IMAGE,
        "sleep",
        "300",
    ]));
    let plain = plain.lines().last().unwrap_or_default().to_owned();
    assert_eq!(inspect(&pm, "{{.HostConfig.PidsLimit}}", &plain), "2048");
    pm.podman_ok(&["rm", "-f", "--time", "0", &plain]);
    let file = kube_pod_yaml(&pm, "kp");
    let out = pm.podman(&["kube", "play", "--network", "none", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refusals: Vec<&str> = stderr
        .split("refused by admission")
        .skip(1)
        .map(|refusal| {
            refusal
                .split(": OCI runtime error")
                .next()
                .unwrap_or_default()
        })
        .collect();
    assert!(
        !refusals.is_empty()
            && refusals.iter().all(|r| r.starts_with(
                " (1 violation): [resources.pids-limit] linux.resources.pids.limit is unset: \
                     a pids limit is required"
            )),
        "{}",
        pm.describe(&["kube", "play", &file], &out)
    );
    let infra =
        stdout(&pm.podman_ok(&["pod", "inspect", "--format", "{{.InfraContainerID}}", "kp"]));
    let infra_pid = init_pid(&pm, &infra);
    assert_init_hardened(infra_pid);
    assert_eq!(memory_limit(infra_pid), (64u64 << 20).to_string());
    pm.podman_ok(&["kube", "down", &file]);
}

/// With `admission.resources.pod_member_pids` set, a container libpod records as a pod
/// member (not its infra) that has no pids limit gets the operator's: both containers
/// of the kube play pod run hardened, the limit in their own pids cgroup. A container
/// outside a pod still needs its own limit (refused without one), and a spec claiming
/// pod membership by annotation is not a pod member.
#[test]
fn podman_kube_play_runs_with_the_operators_pod_member_pids_limit() {
    let pm = Podman::new();
    pm.set_bulwark_config(&format!(
        "{WITH_PAUSE_IMAGE}[admission.mounts]\npodman_volumes = \"any\"\n\
         [admission.resources]\npod_member_pids = 256\n"
    ));
    let file = kube_pod_yaml(&pm, "kq");
    pm.podman_ok(&["kube", "play", "--network", "none", &file]);
    for member in ["kq-writer", "kq-sleeper"] {
        let pid = init_pid(&pm, member);
        assert_init_hardened(pid);
        assert_eq!(pids_limit(pid), "256", "{member}");
        assert_eq!(memory_limit(pid), (128u64 << 20).to_string(), "{member}");
    }
    pm.podman_ok(&["kube", "down", &file]);

    let alone = [
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "--memory",
        "128m",
        "--cpus",
        "1",
        "--pids-limit",
        "-1",
        "--annotation",
        "io.podman.annotations.pod=kq",
        harness::IMAGE,
        "true",
    ];
    let out = pm.podman(&alone);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(126) && stderr.contains("[resources.pids-limit]"),
        "{}",
        pm.describe(&alone, &out)
    );
}
