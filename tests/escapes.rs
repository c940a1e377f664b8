//! Escape regression suite (issue #9): each test replays a published container-runtime
//! escape against the built binary with a real container and fails if the escape works.
//! Each asserts the inside view (what the probe tried and the errno the kernel gave) and
//! the host view (the file is unchanged, nothing was created, nothing is left behind).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_hardened, describe, host_mounts, probe_mount, probe_report, unique_id, with_secrets,
    Bundle, Runtime, Sources, BULWARK, TEST_CONFIG,
};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A host directory the escapes aim at; it must stay empty.
fn host_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

fn add_mounts(bundle: &mut Bundle, extra: &[Value]) {
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.extend(extra.iter().cloned());
    bundle.set("/mounts", Value::Array(mounts));
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------
// CVE-2019-5736

/// The shared libraries a dynamically linked binary needs, as `ldd` lists them.
fn shared_libraries(binary: &str) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    assert!(out.status.success(), "ldd {binary} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            line.split_whitespace()
                .find(|word| word.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect()
}

/// A pipe whose buffer is one page and already nearly full: a process writing more than
/// a few bytes to it blocks until the test drains it.
fn nearly_full_pipe() -> (OwnedFd, OwnedFd) {
    let (read, write) = nix::unistd::pipe().unwrap();
    // SAFETY: F_SETPIPE_SZ takes an int; the fd is a pipe we own.
    let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(
        size >= 4096,
        "F_SETPIPE_SZ: {}",
        std::io::Error::last_os_error()
    );
    let mut file = fs::File::from(write.try_clone().unwrap());
    file.write_all(&vec![b'.'; size as usize - 16]).unwrap();
    (read, write)
}

fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// CVE-2019-5736: a process in the container overwrites the runtime binary on the host
/// through `/proc/<pid>/exe` while the runtime executes inside it. The replay is the
/// published one: the image holds a `#!/proc/self/exe` script, `bulwark exec` runs it,
/// so the kernel executes the runtime's own binary in the container (here it prints
/// its help into a pipe the test keeps full, which holds it there); the container's
/// init (the probe, same uid) finds it, opens its exe for writing, keeps an O_PATH
/// handle and, once the runtime exited, reopens that for writing and writes over it.
/// bulwark runs from a read-only overlay view of its binary (src/sealed_exe.rs; a sealed
/// memfd copy where the kernel has no such view), so the exe the container sees is
/// `/bulwark` on a detached read-only mount, every write fails with EROFS, and the binary
/// on the host stays byte-identical. It is
/// replayed for an exec as the container's user and for an exec as root, which the
/// baseline remaps to the same non-root uid.
#[test]
fn exec_cannot_overwrite_the_runtime_binary_through_proc_exe() {
    for exec_user in [&[][..], &["--user", "0:0"][..]] {
        // The runtime under attack is a private copy, so a broken protection can only
        // ever damage the copy.
        let bin_dir = host_dir("bulwark-escape-bin-");
        let runtime_bin = bin_dir.path().join("bulwark");
        fs::copy(BULWARK, &runtime_bin).unwrap();
        let original = fs::read(&runtime_bin).unwrap();
        let rt = Runtime::new();
        let bundle = Bundle::new(&["/probe", "exe-attack", "30"]);
        let rootfs = bundle.path().join("rootfs");
        // The runtime binary needs its libraries to run in the container, as it had
        // in the original exploit's image.
        for lib in shared_libraries(BULWARK) {
            let inside = rootfs.join(lib.strip_prefix("/").unwrap());
            fs::create_dir_all(inside.parent().unwrap()).unwrap();
            fs::copy(&lib, &inside).unwrap();
        }
        fs::write(rootfs.join("evil"), "#!/proc/self/exe --help\n").unwrap();
        fs::set_permissions(rootfs.join("evil"), fs::Permissions::from_mode(0o755)).unwrap();

        let command = |args: &[&str]| {
            let mut cmd = Command::new(&runtime_bin);
            cmd.arg("--root").arg(rt.root()).args(args);
            cmd.env("BULWARK_CONFIG", rt.config_path());
            cmd.stdin(Stdio::null());
            cmd
        };
        let id = unique_id("exe");
        let init_out = tempfile::tempfile().unwrap();
        let init_err = tempfile::tempfile().unwrap();
        let mut init = command(&["run", "--bundle", bundle.path_str(), &id])
            .stdout(init_out.try_clone().unwrap())
            .stderr(init_err.try_clone().unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while rt.run(&["state", &id]).status.code() != Some(0)
            || rt.state(&id)["status"] != "running"
        {
            assert!(Instant::now() < deadline, "container {id} never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        let init_pid = rt.state(&id)["pid"].as_i64().unwrap();

        let (pipe_read, pipe_write) = nearly_full_pipe();
        let mut exec_args = vec!["exec"];
        exec_args.extend_from_slice(exec_user);
        exec_args.extend_from_slice(&[&id, "/evil"]);
        let exec_err = tempfile::tempfile().unwrap();
        let mut exec = command(&exec_args)
            .stdout(Stdio::from(pipe_write))
            .stderr(exec_err.try_clone().unwrap())
            .spawn()
            .unwrap();
        let armed = Path::new(&format!("/proc/{init_pid}/root/tmp/exe-attack-armed")).to_owned();
        let was_armed = wait_for_file(&armed, Duration::from_secs(20));
        // Let the runtime finish: the exploit's second step runs after it exited.
        let mut help = Vec::new();
        fs::File::from(pipe_read).read_to_end(&mut help).unwrap();
        let exec_status = exec.wait().unwrap();
        let init_status = init.wait().unwrap();
        let read = |mut f: fs::File| {
            use std::io::Seek;
            let mut s = String::new();
            f.rewind().unwrap();
            f.read_to_string(&mut s).unwrap();
            s
        };
        let (init_stdout, init_stderr, exec_stderr) =
            (read(init_out), read(init_err), read(exec_err));
        let context = format!(
            "exec {exec_user:?}: {exec_status:?}, init {init_status:?}\ninit stdout: \
             {init_stdout}\ninit stderr: {init_stderr}\nexec stderr: {exec_stderr}"
        );
        assert!(was_armed, "the probe never found the runtime: {context}");
        // The runtime's binary really ran inside the container.
        assert!(
            String::from_utf8_lossy(&help).contains("Usage:"),
            "no help from the runtime in the container: {context}"
        );

        let report = probe_report(init_stdout.as_bytes());
        assert_eq!(report["found"], 1, "{report}\n{context}");
        // What the container reached is the read-only view (the root of a mount attached
        // to no namespace), never the host file by its path.
        assert_eq!(report["exe"], "/bulwark", "{report}");
        assert_eq!(report["direct_wronly"], "EROFS", "{report}");
        for attempt in ["direct_wronly", "direct_rdwr"] {
            assert!(
                report[attempt].is_string() && report[attempt] != "ok",
                "{attempt}: {report}"
            );
        }
        assert_eq!(report["exited"], 1, "{report}");
        assert_eq!(
            report["handle"], "ok",
            "the exploit's O_PATH handle: {report}"
        );
        assert!(
            report["write"].is_string() && report["write"] != "ok",
            "the write over the runtime's exe succeeded: {report}"
        );
        // The host view: the runtime binary is byte-identical.
        assert!(
            fs::read(&runtime_bin).unwrap() == original,
            "{} was modified: {report}",
            runtime_bin.display()
        );
        rt.assert_no_leftovers_or_mounts(&id);
    }
}

// ---------------------------------------------------------------------------
// CVE-2024-21626

/// CVE-2024-21626: a `process.cwd` of `/proc/self/fd/N` (or `/dev/fd/N`, its link in the
/// container's /dev) makes a host directory fd that
/// leaked into the runtime's process the container's working directory. bulwark's
/// admission refuses a cwd under /proc for create/run, `exec --cwd` and an exec
/// `--process` JSON, naming the rule, before anything runs: no container is left and
/// no process is added to a running one.
#[test]
fn a_proc_self_fd_cwd_is_refused_for_run_and_exec() {
    let rt = Runtime::new();
    let fd_cwds: Vec<String> = ["/proc/self/fd", "/dev/fd"]
        .iter()
        .flat_map(|dir| (3..=10).map(move |fd| format!("{dir}/{fd}")))
        .collect();
    for cwd in &fd_cwds {
        let mut bundle = Bundle::new(&["/probe", "report"]);
        bundle.set("/process/cwd", json!(cwd));
        for command in ["run", "create"] {
            let id = unique_id("cwd");
            let out = rt.run(&[command, "--bundle", bundle.path_str(), &id]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "a container ran with cwd {cwd}: {}",
                describe(&[command], &out)
            );
            assert!(
                stderr.contains("[process.cwd] process.cwd is") && stderr.contains(cwd.as_str()),
                "{stderr}"
            );
            assert!(stdout(&out).is_empty(), "{}", stdout(&out));
            rt.assert_no_leftovers_or_mounts(&id);
        }
    }

    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("cwd-exec");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let processes = || -> Value {
        serde_json::from_slice(&rt.ok(&["ps", "--format", "json", &id]).stdout).unwrap()
    };
    let before = processes();
    for cwd in fd_cwds.iter().map(String::as_str) {
        let process = bundle.path().join("process.json");
        fs::write(
            &process,
            json!({"args": ["/probe", "report"], "cwd": cwd, "env": ["PATH=/bin"],
                   "user": {"uid": 65532, "gid": 65532}})
            .to_string(),
        )
        .unwrap();
        let attempts = [
            vec!["exec", "--cwd", &cwd, &id, "/probe", "report"],
            vec!["exec", "--process", process.to_str().unwrap(), &id],
        ];
        for args in attempts {
            let out = rt.run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{}", describe(&args, &out));
            assert!(
                stderr.contains("[process.cwd] process.cwd is") && stderr.contains(cwd),
                "{stderr}"
            );
            assert!(stdout(&out).is_empty(), "a process ran: {}", stdout(&out));
        }
    }
    assert_eq!(processes(), before, "an exec left a process behind");
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
}

fn fd_numbers(fds: &Value) -> Vec<i64> {
    let mut numbers: Vec<i64> = fds
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fd"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers
}

fn host_fds(pid: i64) -> Vec<(i64, String)> {
    let mut fds: Vec<(i64, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let target = fs::read_link(e.path()).unwrap();
            (
                e.file_name().to_str().unwrap().parse().unwrap(),
                target.display().to_string(),
            )
        })
        .collect();
    fds.sort();
    fds
}

/// CVE-2024-21626's other half: the runtime leaked a host directory fd (runc's cgroup
/// fd) into the container. The init and every exec'd process hold only their three std
/// streams: seen from inside (the probe lists `/proc/1/fd` and its own fds) and from
/// the host (`/proc/<pid>/fd` of the init and of a detached exec).
#[test]
fn no_runtime_fd_leaks_into_the_init_or_an_exec() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("fds");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let init_pid = rt.state(&id)["pid"].as_i64().unwrap();

    let init_fds = probe_report(&rt.ok(&["exec", &id, "/probe", "fds", "1"]).stdout);
    assert_eq!(fd_numbers(&init_fds["fds"]), [0, 1, 2], "{init_fds}");
    let host_init = host_fds(init_pid);
    assert_eq!(
        host_init.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(),
        [0, 1, 2],
        "{host_init:?}"
    );

    // The exec'd process's own fds, snapshotted before it opens anything.
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_eq!(fd_numbers(&report["fds"]), [0, 1, 2], "{report}");
    // Also for a process JSON exec (containerd's shim and conmon).
    let process = bundle.path().join("process.json");
    fs::write(
        &process,
        json!({"args": ["/probe", "report"], "cwd": "/", "env": ["PATH=/bin"],
               "user": {"uid": 65532, "gid": 65532}})
        .to_string(),
    )
    .unwrap();
    let report = probe_report(
        &rt.ok(&["exec", "--process", process.to_str().unwrap(), &id])
            .stdout,
    );
    assert_eq!(fd_numbers(&report["fds"]), [0, 1, 2], "{report}");

    let exec_pid = rt.exec_detached(bundle.path(), &id, &["/probe", "sleep", "300"]);
    let host_exec = host_fds(exec_pid);
    assert_eq!(
        host_exec.iter().map(|(fd, _)| *fd).collect::<Vec<_>>(),
        [0, 1, 2],
        "{host_exec:?}"
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
}

// ---------------------------------------------------------------------------
// CVE-2025-31133 / CVE-2025-52565

/// A host file with a known content and its metadata, to prove it unchanged.
struct HostFile {
    _dir: TempDir,
    path: PathBuf,
    content: &'static str,
    mtime: i64,
}

impl HostFile {
    fn new() -> Self {
        let dir = host_dir("bulwark-escape-target-");
        let path = dir.path().join("target");
        let content = "host file: must never change\n";
        fs::write(&path, content).unwrap();
        use std::os::unix::fs::MetadataExt;
        let mtime = fs::metadata(&path).unwrap().mtime_nsec();
        Self {
            _dir: dir,
            path,
            content,
            mtime,
        }
    }

    fn assert_unchanged(&self, context: &str) {
        use std::os::unix::fs::MetadataExt;
        let md = fs::metadata(&self.path).unwrap();
        assert!(md.is_file(), "{context}");
        assert_eq!(
            fs::read_to_string(&self.path).unwrap(),
            self.content,
            "{context}"
        );
        assert_eq!(md.mtime_nsec(), self.mtime, "{context}");
        assert_eq!(md.mode() & 0o777, 0o644, "{context}");
        let path = self.path.to_str().unwrap();
        assert!(host_mounts(path).is_empty(), "{:?}", host_mounts(path));
    }
}

/// A bundle without the spec's /dev tmpfs, so that the rootfs's own /dev (where an
/// image can plant links) is what the container gets.
fn bundle_on_the_rootfs_dev(args: &[&str]) -> Bundle {
    let mut bundle = Bundle::new(args);
    let mounts: Vec<Value> = bundle.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] != "/dev")
        .cloned()
        .collect();
    bundle.set("/mounts", Value::Array(mounts));
    bundle
}

/// The bundle in a user namespace mapping 0..65536 to host 100000.., with the rootfs
/// owned by the mapped root: libcontainer then binds the host's device nodes into /dev
/// instead of mknod-ing them (rootfs/device.rs `bind_dev`, taken in a user namespace).
fn in_user_namespace(bundle: &mut Bundle) {
    use std::os::unix::fs::lchown;
    let mapping = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    common::with_user_namespace(bundle, mapping.clone(), mapping);
    let rootfs = bundle.path().join("rootfs");
    lchown(&rootfs, Some(100000), Some(100000)).unwrap();
    for entry in fs::read_dir(&rootfs).unwrap() {
        lchown(entry.unwrap().path(), Some(100000), Some(100000)).unwrap();
    }
}

/// How the create of a container whose image's `/dev/null` is a symlink must end.
enum DevNullOutcome {
    /// Refused, the stderr naming the check that refused it.
    Refused(String),
    /// Runs hardened: the link was resolved inside the rootfs and reached nothing.
    RunsConfined,
}

/// CVE-2025-31133: the image's `/dev/null` is a symlink (to a host file, to
/// `/proc/sys/kernel/core_pattern`, to another device), so the runtime's masked-path
/// binds of "/dev/null" would bind that file over every masked path, or its device setup
/// would write through the link. With the image's own /dev in use (no /dev tmpfs), the
/// protections each case meets are, in libcontainer 0.7:
/// - rootfs/device.rs `create_container_dev_path` resolves the device path inside the
///   rootfs (`safe_path::scoped_join`): the node is made where the link points *in the
///   container*; for core_pattern that is the container's own procfs file, and mknod
///   fails with EEXIST there; for the host path it is the container's /tmp (a `nodev`
///   tmpfs), where the reopen of /dev/null fails with EACCES (process/init/process.rs
///   `reopen_dev_null`);
/// - in a user namespace the host's /dev/null is bound there instead, so a link to the
///   host path gives a working 1:3 /dev/null in the container's /tmp and the container
///   runs confined, while a link to /dev/zero meets rootfs/device.rs `verify_dev_null`
///   (the 1:3 identity check), which refuses it.
///
/// In every case the host file and the host's core_pattern are unchanged, nothing is
/// mounted over them and nothing is left behind.
#[test]
fn dev_null_symlinks_reach_no_host_file() {
    let target = HostFile::new();
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let rt = Runtime::new();
    let host_link = target.path.to_str().unwrap();
    let reopen_nodev = "failed to open /dev/null inside the container err=Os { code: 13, \
                        kind: PermissionDenied";
    let identity = "device dev null major/minor mismatch: expected 1/3, actual 1/5";

    let cases: [(bool, &str, Option<&str>); 4] = [
        (false, host_link, Some(reopen_nodev)),
        // The expected message names the resolved path; filled in per bundle below.
        (false, "/proc/sys/kernel/core_pattern", None),
        (true, "/dev/zero", Some(identity)),
        (true, host_link, None),
    ];
    for (userns, link, message) in cases {
        let mut bundle = bundle_on_the_rootfs_dev(&["/probe", "report"]);
        if userns {
            in_user_namespace(&mut bundle);
        }
        symlink(link, bundle.path().join("rootfs/dev/null")).unwrap();
        let outcome = match (userns, message) {
            (_, Some(message)) => DevNullOutcome::Refused(message.to_owned()),
            (false, None) => DevNullOutcome::Refused(format!(
                "failed to mknod device err=Nix(EEXIST) path=\\\"{}/rootfs{link}\\\"",
                bundle.path_str()
            )),
            (true, None) => DevNullOutcome::RunsConfined,
        };
        let id = unique_id("devnull");
        let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
        let context = format!(
            "userns {userns}, /dev/null -> {link}: {}",
            describe(&["run"], &out)
        );
        match outcome {
            DevNullOutcome::Refused(message) => {
                assert_eq!(out.status.code(), Some(1), "{context}");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains(&message), "expected {message:?}: {context}");
                assert!(stdout(&out).is_empty(), "the container ran: {context}");
            }
            DevNullOutcome::RunsConfined => {
                assert_eq!(out.status.code(), Some(0), "{context}");
                assert_hardened(&probe_report(&out.stdout), 65532, 65532);
            }
        }
        target.assert_unchanged(&context);
        rt.assert_no_leftovers_or_mounts(&id);
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
}

/// CVE-2025-52565: the image's `/dev/console` is a symlink (to a host file or to
/// `/proc/sys/kernel/core_pattern`), so the runtime's bind of the pty slave onto
/// /dev/console, done for a `terminal: true` process, would land on the link's target.
/// libcontainer 0.7 opens the mount target with O_NOFOLLOW (tty.rs `mount_console`),
/// so the create is refused with ELOOP before any pty master reaches the console socket;
/// the host file and the host's core_pattern are unchanged and nothing is left behind.
/// The control: the same bundle without the link runs, sends the master, and its
/// /dev/console is the devpts pty slave (136:N) mounted there.
#[test]
fn dev_console_symlink_refused_by_the_console_bind() {
    use common::console::ConsoleSocket;
    let target = HostFile::new();
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let rt = Runtime::new();
    let host_link = target.path.to_str().unwrap();

    for link in [None, Some(host_link), Some("/proc/sys/kernel/core_pattern")] {
        let mut bundle = bundle_on_the_rootfs_dev(&["/probe", "sleep", "300"]);
        bundle.set("/process/terminal", json!(true));
        if let Some(link) = link {
            symlink(link, bundle.path().join("rootfs/dev/console")).unwrap();
        }
        let console = ConsoleSocket::new();
        let id = unique_id("console");
        let args = [
            "run",
            "--detach",
            "--console-socket",
            console.path_str(),
            "--bundle",
            bundle.path_str(),
            &id,
        ];
        let out = rt.run(&args);
        let context = format!("/dev/console -> {link:?}: {}", describe(&args, &out));
        if link.is_none() {
            assert_eq!(out.status.code(), Some(0), "{context}");
            let master = console.master(Duration::from_secs(5));
            assert!(master.is_some(), "no pty master sent: {context}");
            let stat: Value = serde_json::from_slice(
                &rt.ok(&["exec", &id, "/probe", "stat", "/dev/console"])
                    .stdout,
            )
            .unwrap();
            assert_eq!(stat["file_type"], "char", "{stat}");
            assert!(stat["rdev"].as_str().unwrap().starts_with("136:"), "{stat}");
            let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
            assert_eq!(
                probe_mount(&report, "/dev/console")["fs_type"],
                "devpts",
                "{report}"
            );
            assert_hardened(&report, 65532, 65532);
            rt.ok(&["delete", "--force", &id]);
        } else {
            assert_eq!(out.status.code(), Some(1), "{context}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(
                    "failed to create /dev/console err=Os { code: 40, kind: FilesystemLoop"
                ),
                "expected ELOOP from the O_NOFOLLOW open: {context}"
            );
            assert!(
                console.master(Duration::from_millis(200)).is_none(),
                "a pty master was sent: {context}"
            );
        }
        target.assert_unchanged(&context);
        rt.assert_no_leftovers_or_mounts(&id);
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
}

// ---------------------------------------------------------------------------
// CVE-2019-16884 family, CVE-2021-30465, CVE-2024-45310

/// Creates a container with `extra` mounts whose destinations cross a link out of the
/// rootfs: libcontainer resolves them inside the rootfs with libpathrs and refuses to
/// create a directory through a link that dangles there, so the create fails naming
/// the mount; nothing appears in the host directory and nothing is left behind.
fn assert_refused_and_host_untouched(
    rt: &Runtime,
    bundle: &mut Bundle,
    extra: &[Value],
    host: &Path,
) {
    add_mounts(bundle, extra);
    let id = unique_id("mnt");
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&["run"], &out));
    assert!(
        stdout(&out).is_empty(),
        "the container ran: {}",
        stdout(&out)
    );
    let first = extra[0]["destination"].as_str().unwrap();
    assert!(
        // libcontainer's log line, a Debug print inside a quoted msg="…".
        stderr.contains(&format!(
            r#"failed to mount Mount {{ destination: \"{first}\""#
        )) && stderr.contains("failed to prepare rootfs"),
        "{stderr}"
    );
    assert!(
        common::sorted_names(host).is_empty(),
        "{:?}",
        common::sorted_names(host)
    );
    let needle = host.to_str().unwrap();
    assert!(host_mounts(needle).is_empty(), "{:?}", host_mounts(needle));
    rt.assert_no_leftovers_or_mounts(&id);
}

/// A bind source the config allows, holding one marker file.
fn allowed_source() -> (TempDir, String) {
    let source = host_dir("bulwark-escape-src-");
    fs::write(source.path().join("marker"), "volume").unwrap();
    let path = fs::canonicalize(source.path()).unwrap();
    let config = format!(
        "{TEST_CONFIG}[admission.mounts]\nallowed_host_paths = [{:?}]\n",
        path.display().to_string()
    );
    (source, config)
}

/// CVE-2021-30465 (and the CVE-2019-16884 family): a mount destination whose path
/// crosses a symlink in the rootfs that points out of it (`/mnt -> <host dir>`, absolute
/// and `../../..`-relative), for a bind and a tmpfs. The destination is resolved inside
/// the rootfs, never on the host: the create is refused and the host directory stays
/// empty, with no mount on it.
#[test]
fn mount_destinations_through_symlinks_never_reach_the_host() {
    let (source, config) = allowed_source();
    let rt = Runtime::with_config(&config);
    let host = host_dir("bulwark-escape-host-");
    let absolute = host.path().to_str().unwrap().to_owned();
    let relative = format!("../../../../../../../../..{absolute}");
    for link in [&absolute, &relative] {
        for mount in [
            json!({"destination": "/mnt/x", "type": "bind", "source": source.path(),
                   "options": ["rbind", "ro"]}),
            json!({"destination": "/mnt/y", "type": "tmpfs", "source": "tmpfs",
                   "options": ["size=1m"]}),
        ] {
            let mut bundle = Bundle::new(&["/probe", "report"]);
            symlink(link, bundle.path().join("rootfs/mnt")).unwrap();
            assert_refused_and_host_untouched(&rt, &mut bundle, &[mount], host.path());
        }
    }
}

/// CVE-2024-45310: the runtime's MkdirAll of a missing mount point followed a symlink in
/// the rootfs and created directories (and files) on the host. With `/run` a link to a
/// host directory, tmpfs and bind destinations `/run/foo/bar` and `/run/baz/qux` create
/// nothing in the host directory: the create is refused.
#[test]
fn missing_mount_points_under_a_symlink_are_never_created_on_the_host() {
    let (source, config) = allowed_source();
    let rt = Runtime::with_config(&config);
    let host = host_dir("bulwark-escape-run-");
    let absolute = host.path().to_str().unwrap().to_owned();
    let relative = format!("../../../../../../../..{absolute}");
    for link in [&absolute, &relative] {
        for mount in [
            json!({"destination": "/run/foo/bar", "type": "tmpfs", "source": "tmpfs",
                   "options": ["size=1m"]}),
            json!({"destination": "/run/baz/qux", "type": "bind", "source": source.path(),
                   "options": ["rbind", "ro"]}),
        ] {
            let mut bundle = Bundle::new(&["/probe", "report"]);
            symlink(link, bundle.path().join("rootfs/run")).unwrap();
            assert_refused_and_host_untouched(&rt, &mut bundle, &[mount], host.path());
        }
    }
}

/// CVE-2019-16884 / CVE-2019-19921 / CVE-2023-27561: `/proc` in the rootfs is a symlink
/// (here to a host directory), so procfs lands elsewhere and the container's /proc is
/// whatever the image put there: no masked paths, no read-only /proc/sys, a fake
/// /proc/self/attr. The create is refused (libcontainer mounts procfs only on a real
/// directory), nothing is created in the host directory or left behind.
#[test]
fn a_proc_symlink_in_the_rootfs_is_refused() {
    let rt = Runtime::new();
    let host = host_dir("bulwark-escape-proc-");
    for link in [
        host.path().to_str().unwrap().to_owned(),
        "../../../../../../../../..".to_owned() + host.path().to_str().unwrap(),
        "/tmp".to_owned(),
    ] {
        let bundle = Bundle::new(&["/probe", "report"]);
        let proc_dir = bundle.path().join("rootfs/proc");
        fs::remove_dir(&proc_dir).unwrap();
        symlink(&link, &proc_dir).unwrap();
        let id = unique_id("proc-link");
        let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&["run"], &out));
        // libcontainer's check that proc is mounted on a real directory
        // (rootfs/mount.rs; runc's checkProcMount, CVE-2019-16884), not any failure.
        assert!(
            stderr.contains("cannot create container")
                && stderr.contains("filesystem proc must be mounted on ordinary directory"),
            "{stderr}"
        );
        assert!(
            stdout(&out).is_empty(),
            "the container ran: {}",
            stdout(&out)
        );
        assert!(
            common::sorted_names(host.path()).is_empty(),
            "{:?}",
            common::sorted_names(host.path())
        );
        rt.assert_no_leftovers_or_mounts(&id);
    }
}

/// The secrets target (CVE-2021-30465 applied to bulwark's own mount): `/run/secrets`
/// in the image is itself a link to a host directory (tests/secrets.rs covers a linked
/// `/run`). bulwark checks the target with openat2(RESOLVE_IN_ROOT |
/// RESOLVE_NO_SYMLINKS) and refuses, naming the link; the host directory stays empty.
#[test]
fn a_secrets_target_that_is_a_link_to_a_host_directory_is_refused() {
    let sources = Sources::new();
    let (token, value) = sources.add("token");
    let rt = Runtime::with_config(&sources.config(""));
    let host = host_dir("bulwark-escape-secrets-");
    let mut bundle = Bundle::new(&["/probe", "report"]);
    with_secrets(&mut bundle, json!({ "token": token }));
    fs::create_dir(bundle.path().join("rootfs/run")).unwrap();
    symlink(host.path(), bundle.path().join("rootfs/run/secrets")).unwrap();
    let id = unique_id("secret-link");
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&["run"], &out));
    assert!(
        stderr.contains("secrets: the target /run/secrets crosses a symbolic link"),
        "{stderr}"
    );
    assert!(!stderr.contains(&value) && !stdout(&out).contains(&value));
    assert!(
        common::sorted_names(host.path()).is_empty(),
        "{:?}",
        common::sorted_names(host.path())
    );
    rt.assert_no_leftovers_or_mounts(&id);
}

// ---------------------------------------------------------------------------
// Writes to the host's kernel and cgroup settings, and another container's secrets

/// Restores a host setting a broken protection let the container change, so a failing
/// run of this suite leaves the host as it found it.
struct Restore(Vec<(PathBuf, String)>);

impl Drop for Restore {
    fn drop(&mut self) {
        for (path, value) in &self.0 {
            if fs::read_to_string(path).ok().as_deref() != Some(value) {
                let _ = fs::write(path, value);
            }
        }
    }
}

/// Gives a file of the container's own cgroup to the uid its processes run as.
fn chown_to_container_user(path: &str) {
    std::os::unix::fs::chown(path, Some(65532), Some(65532))
        .unwrap_or_else(|e| panic!("chown {path}: {e}"));
}

/// A container writes to `/proc/sysrq-trigger` ("h": help only, harmless if it got
/// through), `/proc/sys/kernel/core_pattern` (the classic host-code-execution hook),
/// and through a (read-only, as admission requires) cgroup mount to
/// `memory.limit_in_bytes`, `cgroup.procs`, `release_agent` and `notify_on_release`
/// (CVE-2022-0492). Every write fails inside with the errno of what stops it (issue #18
/// item 4: any error passed before, and every cgroup write met EACCES from the uid
/// before the read-only mount was ever consulted); /proc/sys and /proc/sysrq-trigger are
/// read-only mounts (the baseline's read-only paths) and the cgroup mounts are
/// read-only; from the host, core_pattern, the container's memory limit, its init's
/// cgroups and the hierarchies' release agents are unchanged.
#[test]
fn writes_to_sysrq_core_pattern_and_cgroups_fail_and_change_nothing() {
    let controllers = ["memory", "pids", "cpu", "freezer", "systemd"];
    let mut watched = vec![PathBuf::from("/proc/sys/kernel/core_pattern")];
    for c in controllers {
        watched.push(PathBuf::from(format!("/sys/fs/cgroup/{c}/release_agent")));
    }
    let before: Vec<(PathBuf, String)> = watched
        .iter()
        .map(|p| (p.clone(), fs::read_to_string(p).unwrap()))
        .collect();
    let _restore = Restore(before.clone());

    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    add_mounts(
        &mut bundle,
        &[
            json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        ],
    );
    let id = unique_id("writes");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let init_pid = rt.state(&id)["pid"].as_i64().unwrap();
    let host_cgroups = fs::read_to_string(format!("/proc/{init_pid}/cgroup")).unwrap();
    let limit_file = format!("/sys/fs/cgroup/memory/bulwark/{id}/memory.limit_in_bytes");
    let limit = fs::read_to_string(&limit_file).unwrap();

    let write = |text: &str, paths: &[String]| -> Value {
        let mut args = vec!["exec", &id, "/probe", "write-each", text];
        args.extend(paths.iter().map(String::as_str));
        probe_report(&rt.ok(&args).stdout)
    };
    let cgroup = |controllers: &[&str], file: &str| -> Vec<String> {
        controllers
            .iter()
            .map(|c| format!("/sys/fs/cgroup/{c}/{file}"))
            .collect()
    };
    // As uid 65532 a root-owned file answers EACCES whatever the mount: to reach the
    // read-only cover itself, the container's own cgroup files (made for it, gone at
    // delete) are handed to 65532 on the host first. Inside, only the read-only mount
    // stands between the process and its limits (CVE-2022-0492) and must answer EROFS;
    // without the cover libcontainer's cgroup v1 binds are writable and these succeed.
    let own = ["memory", "pids", "cpu", "freezer"];
    for c in own {
        for file in ["cgroup.procs", "notify_on_release"] {
            chown_to_container_user(&format!("/sys/fs/cgroup/{c}/bulwark/{id}/{file}"));
        }
    }
    chown_to_container_user(&limit_file);
    // This CI kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off): then the
    // write meets ENOENT and there is no read-only mount to check.
    let sysrq = Path::new("/proc/sysrq-trigger").exists();
    // (text, paths, the errno each must answer and why)
    let attempts = [
        // root-owned 0200; its read-only mount is checked below.
        (
            "h",
            vec!["/proc/sysrq-trigger".to_owned()],
            if sysrq { "EACCES" } else { "ENOENT" },
        ),
        // procfs refuses a chown of sysctl files: root-owned 0644, read-only below.
        (
            "|/tmp/bulwark-escape %p",
            vec!["/proc/sys/kernel/core_pattern".to_owned()],
            "EACCES",
        ),
        (
            "268435456",
            vec!["/sys/fs/cgroup/memory/memory.limit_in_bytes".to_owned()],
            "EROFS",
        ),
        ("1", cgroup(&own, "cgroup.procs"), "EROFS"),
        ("1", cgroup(&own, "notify_on_release"), "EROFS"),
        // release_agent exists only at a hierarchy's root, which only the named
        // systemd hierarchy shows (libcontainer binds it from its root; root-owned).
        (
            "/tmp/bulwark-escape",
            cgroup(&own, "release_agent"),
            "ENOENT",
        ),
        (
            "/tmp/bulwark-escape",
            cgroup(&["systemd"], "release_agent"),
            "EACCES",
        ),
        ("1", cgroup(&["systemd"], "cgroup.procs"), "EACCES"),
    ];
    let mut outcomes = Vec::new();
    for (text, paths, errno) in &attempts {
        let results = write(text, paths);
        for path in paths {
            assert_eq!(results[path.as_str()], *errno, "{path}: {results}");
        }
        outcomes.push(results);
    }
    // The container's memory cgroup is really mounted there, so the writes were aimed
    // at real files.
    let limit_inside = rt.ok(&[
        "exec",
        &id,
        "/probe",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(stdout(&limit_inside), limit, "{outcomes:?}");

    // The read-only mounts the baseline adds and admission requires.
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    let mut read_only = vec!["/proc/sys".to_owned(), "/sys/fs/cgroup".to_owned()];
    read_only.extend(controllers.iter().map(|c| format!("/sys/fs/cgroup/{c}")));
    if sysrq {
        read_only.push("/proc/sysrq-trigger".to_owned());
    }
    for path in &read_only {
        let mount = probe_mount(&report, path);
        let options: Vec<&str> = mount["options"].as_str().unwrap().split(',').collect();
        assert!(options.contains(&"ro"), "{path} is not read-only: {mount}");
    }

    // The host view.
    for (path, value) in &before {
        assert_eq!(
            &fs::read_to_string(path).unwrap(),
            value,
            "{}: {outcomes:?}",
            path.display()
        );
    }
    assert_eq!(fs::read_to_string(&limit_file).unwrap(), limit);
    assert_eq!(
        fs::read_to_string(format!("/proc/{init_pid}/cgroup")).unwrap(),
        host_cgroups
    );
    rt.ok(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
}

/// Another container's secrets: A and B both get secrets from `bulwark.io/secrets`.
/// B reads its own, but none of A's: not at A's path inside B, not through
/// `/proc/<pid>/root` of any process B can see or of A's init's host pid, not at A's
/// secrets tmpfs on the host (`<root>/@bulwark/<A>/secrets`), not at the source. A
/// container asking for the host's pid namespace to reach A's `/proc/<pid>/root` is
/// refused by admission (namespaces.required) and reads nothing.
#[test]
fn a_container_cannot_read_another_containers_secrets() {
    let sources = Sources::new();
    let (a_path, a_value) = sources.add("a_token");
    let (b_path, b_value) = sources.add("b_token");
    let rt = Runtime::with_config(&sources.config(""));
    let mut a = Bundle::new(&["/probe", "sleep", "300"]);
    with_secrets(&mut a, json!({ "a_token": a_path }));
    let a_id = unique_id("secrets-a");
    rt.ok(&["run", "--detach", "--bundle", a.path_str(), &a_id]);
    let a_pid = rt.state(&a_id)["pid"].as_i64().unwrap();
    let a_store = rt
        .root()
        .join("@bulwark")
        .join(&a_id)
        .join("secrets/a_token");
    // A's secret is really there, on the host and inside A.
    assert_eq!(fs::read_to_string(&a_store).unwrap(), a_value);
    let own = rt.ok(&["exec", &a_id, "/probe", "cat", "/run/secrets/a_token"]);
    assert_eq!(stdout(&own), a_value);

    let mut b = Bundle::new(&["/probe", "sleep", "300"]);
    with_secrets(&mut b, json!({ "b_token": b_path }));
    let b_id = unique_id("secrets-b");
    rt.ok(&["run", "--detach", "--bundle", b.path_str(), &b_id]);
    let targets = [
        "/run/secrets/a_token".to_owned(),
        "/proc/{pid}/root/run/secrets/a_token".to_owned(),
        format!("/proc/{a_pid}/root/run/secrets/a_token"),
        a_store.display().to_string(),
        a_path.display().to_string(),
        "/run/secrets/b_token".to_owned(),
    ];
    let mut args = vec!["exec", &b_id, "/probe", "read-each"];
    args.extend(targets.iter().map(String::as_str));
    let out = rt.ok(&args);
    let reads = probe_report(&out.stdout);
    assert!(
        !stdout(&out).contains(&a_value),
        "B read A's secret: {reads}"
    );
    // B reads its own secret: the probe could have read A's had it been reachable.
    assert_eq!(reads["/run/secrets/b_token"]["content"], b_value, "{reads}");
    for (path, result) in reads.as_object().unwrap() {
        if path != "/run/secrets/b_token" {
            assert_ne!(result["result"], "ok", "{path}: {reads}");
        }
    }

    // B in the host's pid namespace would see A's init and read through its root.
    let mut c = Bundle::new(&[
        "/probe",
        "read-each",
        &format!("/proc/{a_pid}/root/run/secrets/a_token"),
    ]);
    let namespaces: Vec<Value> = c.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|ns| ns["type"] != "pid")
        .cloned()
        .collect();
    c.set("/linux/namespaces", Value::Array(namespaces));
    let c_id = unique_id("secrets-c");
    let out = rt.run(&["run", "--bundle", c.path_str(), &c_id]);
    assert!(
        !stdout(&out).contains(&a_value),
        "C read A's secret: {}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&["run"], &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[namespaces.required]"), "{stderr}");
    assert!(rt.leftovers(&c_id).is_empty(), "{:?}", rt.leftovers(&c_id));

    for id in [&a_id, &b_id] {
        rt.ok(&["delete", "--force", id]);
        assert!(rt.leftovers(id).is_empty(), "{:?}", rt.leftovers(id));
        assert!(host_mounts(id).is_empty(), "{:?}", host_mounts(id));
    }
    rt.assert_no_leftovers_or_mounts(&a_id);
}
