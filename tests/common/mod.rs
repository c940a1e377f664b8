//! Fixtures for tests that run real containers through the built `bulwark` binary:
//! bundles around the static probe, and a runtime with its own temporary `--root`.
//!
//! Needs root and the static probe (`make probe`, or `BULWARK_PROBE=<path>`).

#![allow(dead_code)] // each test binary uses its own subset

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

pub mod console;
pub mod opa;
pub mod tokens;

pub const BULWARK: &str = env!("CARGO_BIN_EXE_bulwark");

/// The static probe binary that reports the security context inside a container.
pub fn probe_path() -> PathBuf {
    let path = std::env::var_os("BULWARK_PROBE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/x86_64-unknown-linux-gnu/release/bulwark-probe")
        });
    assert!(
        path.is_file(),
        "probe binary {} missing: run `make probe` or set BULWARK_PROBE",
        path.display()
    );
    path
}

/// A container id unique within this test process and across concurrent test binaries.
pub fn unique_id(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A weak engine-sent seccomp profile (allows all but one syscall): bulwark's profile must
/// hold under it (the engine's stacks on bulwark's as a second filter). (An
/// allow-everything profile is refused by admission as unconfined.)
pub fn permissive_seccomp() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]
    })
}

/// Syscalls the probe tries that must fail under the baseline (issue: mount, umount2,
/// unshare(CLONE_NEWUSER), setns, ptrace, keyctl, add_key, bpf, perf_event_open,
/// userfaultfd, io_uring_setup, kexec_load, init_module, clone with namespace flags).
pub const MUST_FAIL: [&str; 21] = [
    "mount",
    "umount2",
    "unshare_user",
    "unshare_ns",
    "setns",
    "ptrace",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "kexec_load",
    "init_module",
    "finit_module",
    "clone_newns",
    "clone_newuser",
    "socket_af_vsock",
    "chroot",
    "setuid0",
];

/// Asserts, from a probe report, that the process runs under the mandatory baseline.
pub fn assert_hardened(report: &Value, uid: u32, gid: u32) {
    assert_hardened_stacked(report, uid, gid, &[]);
}

/// [`assert_hardened`] for a process whose engine sent a seccomp profile of its own:
/// bulwark stacks it after its own (src/executor.rs), and where both filters deny a
/// syscall with an errno the kernel returns the errno of the filter installed last
/// (seccomp(2)), the engine's. `engine_errnos` names those syscalls and the errno the
/// engine's profile gives them; every other forbidden syscall must still be EPERM.
pub fn assert_hardened_stacked(report: &Value, uid: u32, gid: u32, engine_errnos: &[(&str, &str)]) {
    assert_hardened_under(report, uid, gid, engine_errnos, &Kernel::host());
}

/// What the kernel a container ran under offers, for judging its probe report: this
/// host's kernel, or the VM lane's (integration/vm.rs), seen through its result lines.
pub struct Kernel<'a> {
    /// Whether the kernel has AppArmor enabled.
    pub apparmor: bool,
    /// Whether a path exists outside the container (a masked path the kernel lacks is
    /// reported absent).
    pub has_path: &'a dyn Fn(&str) -> bool,
}

impl Kernel<'_> {
    pub fn host() -> Self {
        Kernel {
            apparmor: host_apparmor_enabled(),
            has_path: &host_has_path,
        }
    }
}

fn host_has_path(path: &str) -> bool {
    Path::new(path).exists()
}

/// [`assert_hardened_stacked`] for a container that ran under `kernel`.
pub fn assert_hardened_under(
    report: &Value,
    uid: u32,
    gid: u32,
    engine_errnos: &[(&str, &str)],
    kernel: &Kernel,
) {
    for set in [
        "inheritable",
        "permitted",
        "effective",
        "bounding",
        "ambient",
    ] {
        assert_eq!(
            report["caps"][set], "0000000000000000",
            "caps.{set}: {report}"
        );
    }
    assert_eq!(report["no_new_privs"], 1, "{report}");
    assert_eq!(report["seccomp"], 2, "{report}");
    assert_eq!(report["uid"], uid, "{report}");
    assert_eq!(report["euid"], uid, "{report}");
    assert_eq!(report["gid"], gid, "{report}");
    assert!(
        !report["groups"].as_array().unwrap().contains(&json!(0)),
        "{report}"
    );
    assert_eq!(report["root_write_errno"], "EROFS", "{report}");
    // The AppArmor label, where the kernel has AppArmor (the VM lane of issue #17); on a
    // kernel without it there is no label at all (the test config's allow_missing).
    let expected_label = if kernel.apparmor {
        json!("bulwark-default (enforce)")
    } else {
        Value::Null
    };
    assert_eq!(report["apparmor"], expected_label, "{report}");
    // EPERM exactly: a probe that failed for any other reason (a missing kernel
    // feature, a bad argument, a fork the pids limit refused, a timeout) proves nothing
    // about the baseline. Without the baseline none of these answers EPERM
    // (tests/baseline.rs `without_the_baseline_no_must_fail_probe_answers_eperm`).
    for name in MUST_FAIL {
        let expected = engine_errnos
            .iter()
            .find(|(syscall, _)| *syscall == name)
            .map_or("EPERM", |(_, errno)| *errno);
        let result = &report["syscalls"][name];
        assert_eq!(result, expected, "{name} must be refused: {report}");
    }
    // The baseline profile's marker: clone3 answers ENOSYS so libc falls back to clone.
    assert_eq!(report["syscalls"]["clone3"], "ENOSYS", "{report}");
    // A masked path may be absent only where the kernel has none: the container's procfs
    // and sysfs are the host kernel's, so the host decides. On the test VM's 6.18 kernel
    // (no sound, SCSI, kcore, powercap, sched_debug, latency_stats or timer_stats) seven
    // of the twelve are absent; /proc/acpi, keys, timer_list, interrupts and
    // /sys/firmware must be masked. A kernel that has more must have them masked too.
    for (path, state) in report["masked"].as_object().unwrap() {
        let expected = if (kernel.has_path)(path) {
            "masked"
        } else {
            "absent"
        };
        assert_eq!(state, expected, "{path}: {report}");
    }
}

/// An OCI bundle whose rootfs holds only the probe at /probe.
pub struct Bundle {
    dir: TempDir,
    pub config: Value,
}

impl Bundle {
    pub fn new(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-bundle-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        for sub in ["proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        fs::copy(probe_path(), rootfs.join("probe")).unwrap();
        let bundle = Self {
            dir,
            config: default_config(args),
        };
        bundle.write();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn write(&self) {
        fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Sets a value at a JSON pointer in config.json (creating objects on the way).
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let mut target = &mut self.config;
        for key in pointer.trim_start_matches('/').split('/') {
            // JSON pointer escapes: "~1" is '/', "~0" is '~'.
            let key = key.replace("~1", "/").replace("~0", "~");
            if !target.is_object() {
                *target = json!({});
            }
            target = target
                .as_object_mut()
                .unwrap()
                .entry(key)
                .or_insert(Value::Null);
        }
        *target = value;
        self.write();
        self
    }
}

/// runc's `spec` output, with the probe as the process and the rlimit this host allows.
fn default_config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": []
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "bulwark-test",
        "annotations": {"bulwark.io/image": TEST_IMAGE},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "size=16m"]}
        ],
        "linux": {
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": 134217728},
                "cpu": {"quota": 50000, "period": 100000},
                "pids": {"limit": 64}
            },
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ],
            "seccomp": permissive_seccomp()
        }
    })
}

/// The image reference test bundles carry in `bulwark.io/image`, as an orchestrator that
/// unpacked it would.
pub const TEST_IMAGE: &str = "localhost/bulwark-probe:test";

/// The `[admission.images]` table of TEST_CONFIG, for configs that keep AppArmor strict.
/// It is the last table, so a test may append keys to it.
macro_rules! test_images_config {
    () => {
        "[admission.images]\napproved = [\"localhost/bulwark-probe\", \"localhost/bulwark-pause\"]\n\
         trust_annotation = true\ncri_sandbox_image = \"localhost/bulwark-pause:test\"\n"
    };
}

/// The host config tests run with: this CI host's kernel has no AppArmor, which bulwark
/// refuses unless the config accepts it; test bundles name their image in the
/// orchestrator annotation, which only an approved prefix lets through.
pub const TEST_CONFIG: &str = concat!(
    "[baseline.apparmor]\nallow_missing = true\n",
    test_images_config!()
);

pub const TEST_IMAGES_CONFIG: &str = test_images_config!();

/// The built bulwark binary with a private state root and its own host config
/// (`BULWARK_CONFIG`), so no test reads or depends on /etc/bulwark.
pub struct Runtime {
    root: TempDir,
    config: PathBuf,
    audit: PathBuf,
}

impl Runtime {
    pub fn new() -> Self {
        Self::with_config(TEST_CONFIG)
    }

    pub fn with_config(config: &str) -> Self {
        let root = tempfile::Builder::new()
            .prefix("bulwark-root-")
            .tempdir()
            .unwrap();
        // Beside the root, not in it: the root holds only container state. The audit
        // log goes beside it too, never to /var/log, unless the test names its own.
        let config_path = PathBuf::from(format!("{}.toml", root.path().display()));
        let audit_path = PathBuf::from(format!("{}.audit.jsonl", root.path().display()));
        let mut text = config.to_owned();
        if !text.contains("[audit]") {
            text.push_str(&format!("\n[audit]\npath = {:?}\n", audit_path));
        }
        fs::write(&config_path, text).unwrap();
        Self {
            root,
            config: config_path,
            audit: audit_path,
        }
    }

    /// The audit log this runtime's config names (unless the test set its own).
    pub fn audit_path(&self) -> &Path {
        &self.audit
    }

    /// Every record in the audit log, parsed (a line that is not JSON fails the test).
    pub fn audit_records(&self) -> Vec<Value> {
        match fs::read_to_string(&self.audit) {
            Ok(text) => text
                .lines()
                .map(|line| {
                    serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {line}"))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("cannot read {}: {e}", self.audit.display()),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BULWARK);
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd.env("BULWARK_CONFIG", &self.config);
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        output_via_files(self.command(args))
    }

    /// Runs with `input` on stdin (containerd's shim sends `update` resources that way).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and asserts success, printing everything bulwark said otherwise.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "{}", describe(args, &out));
        out
    }

    /// Runs and asserts failure with exit code 1 (runc's), returning stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(args, &out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `exec --detach --pid-file` of `args` in container `id`; returns the pid bulwark
    /// wrote (the pid file lives in `dir`).
    pub fn exec_detached(&self, dir: &Path, id: &str, args: &[&str]) -> i64 {
        let pid_file = dir.join("exec.pid");
        let mut exec = vec![
            "exec",
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ];
        exec.extend_from_slice(args);
        self.ok(&exec);
        read_pid_file(&pid_file)
    }

    /// `create` of each `(id, bundle)` at the same moment, one thread each; whether
    /// each succeeded, in order.
    pub fn create_concurrently(&self, containers: &[(&str, &Bundle)]) -> Vec<bool> {
        std::thread::scope(|scope| {
            let racers: Vec<_> = containers
                .iter()
                .map(|(id, bundle)| {
                    scope.spawn(move || {
                        self.run(&["create", "--bundle", bundle.path_str(), id])
                            .status
                            .success()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|racer| racer.join().unwrap())
                .collect()
        })
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_slice(&self.ok(&["state", id]).stdout).unwrap()
    }

    /// Polls `state` until the container reaches `status`; a process exit or signal
    /// delivery has no event bulwark could wait on.
    pub fn wait_for_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = self.state(id);
            if state["status"] == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never reached {status}: {state}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything this runtime's root holds for `id`, which must be nothing after
    /// delete or a refused create: libcontainer's and bulwark's directories, the
    /// container's cgroup (`/bulwark/<id>`) in every controller hierarchy, and a mount
    /// of its secrets tmpfs.
    pub fn leftovers(&self, id: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = [
            self.root.path().join(id),
            self.root.path().join("@bulwark").join(id),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
        found.extend(cgroup_dirs(&format!("bulwark/{id}")));
        let secrets = self.root.path().join("@bulwark").join(id).join("secrets");
        found.extend(
            host_mounts(secrets.to_str().unwrap())
                .into_iter()
                .map(PathBuf::from),
        );
        found
    }

    /// `leftovers` and no process left in the container's cgroups, with a message
    /// naming what remains.
    pub fn assert_nothing_left(&self, id: &str) {
        assert!(
            self.leftovers(id).is_empty(),
            "{id}: {:?}",
            self.leftovers(id)
        );
        let processes = processes_in_cgroup(&format!("/bulwark/{id}"));
        assert!(processes.is_empty(), "{id}: processes left {processes:?}");
    }

    /// `leftovers` of `id` and no host mount anywhere under this runtime's root (for
    /// tests whose containers are all gone by then).
    pub fn assert_no_leftovers_or_mounts(&self, id: &str) {
        assert!(self.leftovers(id).is_empty(), "{:?}", self.leftovers(id));
        let root = self.root().to_str().unwrap();
        assert!(host_mounts(root).is_empty(), "{:?}", host_mounts(root));
    }
}

/// The mount points of the host's cgroup hierarchies (v1 controllers, named
/// hierarchies, the unified one) under /sys/fs/cgroup, from mountinfo.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let mount_point = PathBuf::from(left.split_whitespace().nth(4)?);
            (matches!(fstype, "cgroup" | "cgroup2") && mount_point.starts_with("/sys/fs/cgroup"))
                .then_some(mount_point)
        })
        .collect()
}

/// `<hierarchy>/<relative>` for every cgroup hierarchy mounted under /sys/fs/cgroup
/// (cgroup v1 controllers, the unified hierarchy, or v2 itself) where it exists.
pub fn cgroup_dirs(relative: &str) -> Vec<PathBuf> {
    let mut dirs = vec![Path::new("/sys/fs/cgroup").join(relative)];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join(relative)),
        );
    }
    dirs.sort();
    dirs.dedup();
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

/// Pids of live processes whose cgroup (in any hierarchy) is `path` or below it.
pub fn processes_in_cgroup(path: &str) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|text| {
                text.lines().any(|line| {
                    let cgroup = line.splitn(3, ':').nth(2).unwrap_or_default();
                    cgroup == path || cgroup.starts_with(&format!("{path}/"))
                })
            })
        })
        .filter(|pid| proc_status(i64::from(*pid), "State").is_some_and(|s| !s.starts_with('Z')))
        .collect()
}

/// Lines of the host's mountinfo that mention `needle`.
pub fn host_mounts(needle: &str) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

impl Drop for Runtime {
    /// Deletes whatever a failed test left running, so no process or cgroup outlives it.
    fn drop(&mut self) {
        let out = self.run(&["list", "--quiet"]);
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = self.run(&["delete", "--force", id]);
        }
        let _ = fs::remove_file(&self.config);
        let _ = fs::remove_file(&self.audit);
    }
}

/// Runs a command with stdout and stderr in files rather than pipes. A created or
/// detached container inherits the runtime's stdio, as engines expect, so a pipe would
/// not reach EOF until the container exits.
pub fn output_via_files(mut cmd: Command) -> Output {
    let stdout = tempfile::tempfile().unwrap();
    let stderr = tempfile::tempfile().unwrap();
    let status = cmd
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .status()
        .unwrap();
    let read = |mut file: fs::File| {
        use std::io::{Read, Seek};
        let mut bytes = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    };
    Output {
        status,
        stdout: read(stdout),
        stderr: read(stderr),
    }
}

pub fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "bulwark {}\nexit: {:?}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The probe's report: the last stdout line that is a JSON object.
/// The probe report's entry for `mount_point` (the topmost, as the process sees it).
pub fn probe_mount<'a>(report: &'a Value, mount_point: &str) -> &'a Value {
    report["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["mount_point"] == mount_point)
        .unwrap_or_else(|| panic!("no {mount_point} mount: {report}"))
}

/// Asserts that a probe report shows more than one mount under `/sys/fs/cgroup` and
/// that the topmost mount at each of those points (the one the container reaches) is
/// read-only (CVE-2022-0492).
pub fn assert_cgroup_mounts_read_only(report: &Value) {
    let mount_points: std::collections::BTreeSet<&str> = report["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["mount_point"].as_str())
        .filter(|p| p.starts_with("/sys/fs/cgroup"))
        .collect();
    assert!(mount_points.len() > 1, "{report}");
    for mount_point in mount_points {
        let mount = probe_mount(report, mount_point);
        let options: Vec<&str> = mount["options"].as_str().unwrap().split(',').collect();
        assert!(options.contains(&"ro"), "not read-only: {mount}");
    }
}

pub fn probe_report(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no probe report in output:\n{text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad probe report {line}: {e}"))
}

/// The pid a `--pid-file` holds.
pub fn read_pid_file(path: &Path) -> i64 {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `/proc/<pid>/status` field, read from the host.
pub fn proc_status(pid: i64, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// Waits until process `pid` has a handler for signal number `signal` (its SigCgt
/// bit). A container's init is pid 1 of its namespace, which ignores a signal without
/// a handler: `start` returns (and the state says running) before the process has
/// installed one, so a signal sent right then is lost.
pub fn wait_until_catching(pid: i64, signal: libc::c_int) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let caught = proc_status(pid, "SigCgt")
            .and_then(|mask| u64::from_str_radix(&mask, 16).ok())
            .unwrap_or(0);
        if caught & (1 << (signal - 1)) != 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} never caught signal {signal}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// bulwark's orchestrator annotation for secrets (name → host path, JSON).
pub const SECRETS_ANNOTATION: &str = "bulwark.io/secrets";

/// A copy of the repository's `policies/` (the modules bulwark evaluates, not the tests)
/// whose `data.json` is the shipped one changed by `edit`, for `policy.policies_dir`.
pub fn policies_dir(edit: impl FnOnce(&mut Value)) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bulwark-policies-")
        .tempdir()
        .unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".rego") && !name.ends_with("_test.rego") {
            fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    let mut data: Value =
        serde_json::from_slice(&fs::read(shipped.join("data.json")).unwrap()).unwrap();
    edit(&mut data);
    fs::write(
        dir.path().join("data.json"),
        serde_json::to_vec_pretty(&data).unwrap(),
    )
    .unwrap();
    dir
}

/// A host directory of secret files, the config that allows it, and a value unique to
/// this test (so a grep for it cannot match another test's output).
///
/// Secrets are scoped to agents (policies/README.md): under the shipped policy data a
/// container without a trusted `bulwark.io/agent` receives none. The delivery tests are
/// about files, mounts and cleanup, not about who may have a secret, so `config` runs
/// them under the policy data's documented opt-in (`secrets_without_trusted_agent`);
/// `shipped_policy_config` keeps the shipped data (tests/policy.rs tests the scoping).
pub struct Sources {
    dir: TempDir,
    policies: TempDir,
}

impl Sources {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-secret-src-")
            .tempdir()
            .unwrap();
        let policies = policies_dir(|data| {
            data["bulwark_data"]["secrets_without_trusted_agent"] = json!(true);
        });
        Self { dir, policies }
    }

    /// Canonical, since bulwark refuses a source path with a link in it.
    pub fn path(&self) -> PathBuf {
        fs::canonicalize(self.dir.path()).unwrap()
    }

    /// Writes a secret file and returns its path and value.
    pub fn add(&self, file: &str) -> (PathBuf, String) {
        let value = format!("{}-s3cr3t-value", unique_id(file));
        let path = self.path().join(file);
        fs::write(&path, &value).unwrap();
        (path, value)
    }

    /// TEST_CONFIG allowing this directory, `extra` in `[secrets]`, and policy data that
    /// lets a container without a trusted agent receive secrets.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "{TEST_CONFIG}[policy]\npolicies_dir = {:?}\n{}",
            self.policies.path().display().to_string(),
            self.secrets_table(extra)
        )
    }

    /// TEST_CONFIG allowing this directory, `extra` in `[secrets]`, under the policies
    /// built into bulwark.
    pub fn shipped_policy_config(&self, extra: &str) -> String {
        format!("{TEST_CONFIG}{}", self.secrets_table(extra))
    }

    /// The `[secrets]` table allowing this directory, with `extra` in it.
    pub fn secrets_table(&self, extra: &str) -> String {
        format!(
            "[secrets]\nsource_dirs = [{:?}]\n{extra}",
            self.path().display().to_string()
        )
    }
}

/// Asks for `secrets` (name → host path) through the orchestrator annotation.
pub fn with_secrets(bundle: &mut Bundle, secrets: Value) {
    bundle.config["annotations"][SECRETS_ANNOTATION] = Value::String(secrets.to_string());
    bundle.write();
}

/// A pod's sandbox (pause) container as containerd 1.6 writes it: its own id is the
/// sandbox id, the pod uid, no image name (the test config's `cri_sandbox_image` runs).
/// CRI containers name a live one of these (bulwark holds their claims against it).
pub fn cri_sandbox_bundle(id: &str, pod_uid: &str) -> Bundle {
    let mut bundle = Bundle::new(&["/probe", "sleep", "600"]);
    bundle.config["annotations"] = json!({
        "io.kubernetes.cri.container-type": "sandbox",
        "io.kubernetes.cri.sandbox-id": id,
        "io.kubernetes.cri.sandbox-uid": pod_uid,
    });
    bundle.write();
    bundle
}

/// Runs the sandbox of pod `pod_uid` as `id` under `rt`; returns its bundle (keep it
/// while the sandbox runs) and its init's pid.
pub fn start_cri_sandbox(rt: &Runtime, id: &str, pod_uid: &str) -> (Bundle, i64) {
    let bundle = cri_sandbox_bundle(id, pod_uid);
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), id]);
    let pid = rt.state(id)["pid"].as_i64().unwrap();
    (bundle, pid)
}

/// A stand-in pause container (a pod's sandbox, a CNI network namespace, another
/// tenant): `sleep` in namespaces of its own, killed on drop.
pub struct PauseProcess {
    child: std::process::Child,
}

impl PauseProcess {
    /// `unshare <flags> sleep`, once the namespaces named in `private` (as under
    /// /proc/<pid>/ns) differ from ours.
    pub fn spawn(flags: &[&str], private: &[&str]) -> Self {
        use std::os::unix::fs::MetadataExt;
        let child = Command::new("unshare")
            .args(flags)
            .args(["sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare (util-linux)");
        let pause = Self { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        let ino = |path: String| fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
        while !private.iter().all(|ns| {
            let theirs = ino(format!("/proc/{}/ns/{ns}", pause.pid()));
            theirs.is_some() && theirs != ino(format!("/proc/self/ns/{ns}"))
        }) {
            assert!(
                Instant::now() < deadline,
                "unshare {flags:?} never left our namespaces"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        pause
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `/proc/<pid>/ns/<name>` of the process.
    pub fn ns(&self, name: &str) -> PathBuf {
        Path::new("/proc")
            .join(self.pid().to_string())
            .join("ns")
            .join(name)
    }
}

impl Drop for PauseProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exchanges the names `a` and `b` with renameat2(RENAME_EXCHANGE) until `stop` is set:
/// the attacker's side of a check-then-use race on a path (issue #15).
pub fn exchange_names_until(a: &Path, b: &Path, stop: &std::sync::atomic::AtomicBool) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = CString::new(b.as_os_str().as_bytes()).unwrap();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: two valid C strings; renameat2 only reads them.
        unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            );
        }
    }
}

/// A namespace link's target, `net:[4026531840]`.
pub fn ns_identity(link: &Path) -> String {
    fs::read_link(link)
        .unwrap_or_else(|e| panic!("{}: {e}", link.display()))
        .to_string_lossy()
        .into_owned()
}

/// The host's network namespace: /proc/1's, or where that cannot be read (a sandboxed
/// CI host), the one the test and bulwark run in, as bulwark itself decides.
pub fn host_netns_link() -> PathBuf {
    if fs::read_link("/proc/1/ns/net").is_ok() {
        PathBuf::from("/proc/1/ns/net")
    } else {
        PathBuf::from(format!("/proc/{}/ns/net", std::process::id()))
    }
}

/// Makes the next `count` pids of the pid namespace that process `member` is in ones no
/// host process has: `ns_last_pid` of that namespace (written from inside it, by
/// `nsenter`) is set below a free range of the host's pids. A container joining that
/// namespace then has an in-pod pid that is no host pid (issue #16 item 2: libcontainer
/// 0.7 looked the in-pod pid up in the host's /proc and failed with NotFound when no host
/// process had it, which otherwise depends on the host's pid usage).
pub fn pod_pids_unknown_to_the_host(member: i64, count: i64) {
    let pid_max: i64 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let free = |pid: i64| !Path::new(&format!("/proc/{pid}")).exists();
    // nsenter's shell takes the first pid after `last`, the containers the next ones.
    let span = count + 2;
    let last = (1..pid_max - span)
        .rev()
        .find(|last| (last + 1..=last + span).all(free))
        .expect("a free range of host pids");
    let out = Command::new("nsenter")
        .args(["--target", &member.to_string(), "--pid", "--"])
        .args([
            "sh",
            "-c",
            "echo \"$1\" >/proc/sys/kernel/ns_last_pid",
            "sh",
        ])
        .arg(last.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run nsenter (util-linux)");
    assert!(out.status.success(), "ns_last_pid {last}: {out:?}");
}

/// The names in `dir`, sorted.
pub fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A new user namespace with these mappings. The bundle directory is opened up so the
/// container's root, a high host uid, can reach its rootfs (runc asks the same).
pub fn with_user_namespace(bundle: &mut Bundle, uids: Value, gids: Value) {
    use std::os::unix::fs::PermissionsExt;
    let mut namespaces = bundle.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .clone();
    namespaces.push(serde_json::json!({"type": "user"}));
    bundle.set("/linux/namespaces", Value::Array(namespaces));
    bundle.set("/linux/uidMappings", uids);
    bundle.set("/linux/gidMappings", gids);
    fs::set_permissions(bundle.path(), fs::Permissions::from_mode(0o755)).unwrap();
}

/// Whether the host kernel has AppArmor enabled (stock Debian and Ubuntu kernels do).
pub fn host_apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with('Y'))
}
