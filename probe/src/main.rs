//! bulwark-probe: a tiny static multi-call binary that is the only program in
//! the root filesystems of bulwark's integration-test containers. It reports
//! the security context it finds itself in so tests can assert, from inside
//! the container, that hardening is in force.
//!
//! Every syscall probe is written so that an unexpected success is harmless:
//! each runs in a forked child (namespace, credential and keyring changes die
//! with it), passes arguments the kernel rejects only *after* its permission
//! checks, or undoes what it did (closing fds, unlinking files).

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr, OsString};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::process::ExitCode;
use std::ptr;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: probe [report | sleep [SECS] | exit CODE | write PATH TEXT | cat PATH \
                     | stat PATH | env | echo ARGS... | fds PID | read-each PATH... \
                     | write-each TEXT PATH... | exe-attack SECS | listen PORT [SECS] | alloc MIB]";

/// runc's default masked paths (the OCI `linux.maskedPaths` it generates).
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/proc/interrupts",
];

/// A child that has not reported by then is killed, so a probe can never hang
/// the report.
const CHILD_TIMEOUT: Duration = Duration::from_secs(5);

/// A path that must not exist, for calls that should fail on lookup once they
/// are past their permission checks.
const NONEXISTENT: &std::ffi::CStr = c"/.bulwark-probe-nonexistent/x";

// Keyring constants (linux/keyctl.h); libc does not export them.
const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
const KEY_SPEC_PROCESS_KEYRING: libc::c_long = -2;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const BPF_PROG_LOAD: libc::c_long = 5;
const SYSLOG_ACTION_SIZE_BUFFER: libc::c_long = 10;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mode = args.first().map(|m| m.to_string_lossy().into_owned());
    let rest = args.get(1..).unwrap_or_default();
    let result = match mode.as_deref() {
        None | Some("report") if rest.is_empty() => cmd_report(),
        Some("sleep") if rest.len() <= 1 => cmd_sleep(rest.first()),
        Some("exit") if rest.len() == 1 => cmd_exit(&rest[0]),
        Some("write") if rest.len() == 2 => cmd_write(&rest[0], &rest[1]),
        Some("cat") if rest.len() == 1 => cmd_cat(&rest[0]),
        Some("stat") if rest.len() == 1 => cmd_stat(&rest[0]),
        Some("env") if rest.is_empty() => cmd_env(),
        Some("echo") => cmd_echo(rest),
        Some("fds") if rest.len() == 1 => cmd_fds(&rest[0]),
        Some("read-each") if !rest.is_empty() => cmd_read_each(rest),
        Some("write-each") if rest.len() >= 2 => cmd_write_each(&rest[0], &rest[1..]),
        Some("exe-attack") if rest.len() == 1 => cmd_exe_attack(&rest[0]),
        Some("listen") if (1..=2).contains(&rest.len()) => cmd_listen(&rest[0], rest.get(1)),
        Some("alloc") if rest.len() == 1 => cmd_alloc(&rest[0]),
        _ => Err(Failure::Usage),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage) => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Io(e)) => {
            // Tests match on the bare errno name, so print nothing else.
            eprintln!("{}", io_errno_name(&e));
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage,
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

// ---------------------------------------------------------------------------
// Simple modes

fn cmd_sleep(secs: Option<&OsString>) -> Result<(), Failure> {
    // No argument (or "inf") means "until signalled", handy for exec tests.
    let secs = match secs {
        None => f64::INFINITY,
        Some(s) => s
            .to_str()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s >= 0.0)
            .ok_or(Failure::Usage)?,
    };
    install_exit_handlers()?;
    if secs.is_finite() {
        std::thread::sleep(Duration::from_secs_f64(secs));
    } else {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    Ok(())
}

/// The answer `listen` gives each connection.
const LISTEN_ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 14\r\n\r\nbulwark-probe\n";

/// A stand-in web server: binds TCP `PORT` on every address (a port below 1024 as a
/// non-root user needs `net.ipv4.ip_unprivileged_port_start`), prints `listening PORT`
/// and answers every connection, one at a time, until signalled, or for SECS seconds
/// (0: only the bind, for a test that needs nothing more).
fn cmd_listen(port: &OsStr, secs: Option<&OsString>) -> Result<(), Failure> {
    let port: u16 = port
        .to_str()
        .and_then(|p| p.parse().ok())
        .ok_or(Failure::Usage)?;
    let deadline = match secs {
        None => None,
        Some(s) => Some(
            Instant::now()
                + Duration::from_secs_f64(
                    s.to_str()
                        .and_then(|s| s.parse::<f64>().ok())
                        .filter(|s| *s >= 0.0)
                        .ok_or(Failure::Usage)?,
                ),
        ),
    };
    install_exit_handlers()?;
    let listener = std::net::TcpListener::bind(("0.0.0.0", port))?;
    println!("listening {port}");
    io::stdout().flush()?;
    listener.set_nonblocking(true)?;
    while deadline.is_none_or(|d| Instant::now() < d) {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        // The request is read, not parsed: any client gets the same answer.
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        stream.write_all(LISTEN_ANSWER)?;
        println!("answered");
        io::stdout().flush()?;
    }
    Ok(())
}

extern "C" fn exit_on_signal(_sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and takes no locks.
    unsafe { libc::_exit(0) }
}

/// As pid 1 of a pid namespace, signals with default disposition are ignored,
/// so SIGTERM/SIGINT need real handlers for `kill`/`stop` tests to work.
fn install_exit_handlers() -> io::Result<()> {
    // SAFETY: sigaction/sigset_t are plain C structs for which all-zero is a
    // valid initial state; every pointer passed refers to a live local.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = exit_on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT] {
            if libc::sigaction(sig, &sa, ptr::null_mut()) == -1 {
                return Err(io::Error::last_os_error());
            }
            libc::sigaddset(&mut set, sig);
        }
        // The runtime may hand us a blocked mask; make sure they get through.
        if libc::sigprocmask(libc::SIG_UNBLOCK, &set, ptr::null_mut()) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn cmd_exit(code: &OsStr) -> Result<(), Failure> {
    let code: i32 = code
        .to_str()
        .and_then(|c| c.parse().ok())
        .ok_or(Failure::Usage)?;
    std::process::exit(code)
}

fn cmd_write(path: &OsStr, text: &OsStr) -> Result<(), Failure> {
    std::fs::write(path, text.as_bytes())?;
    Ok(())
}

/// `alloc MIB`: allocates MIB mebibytes and touches every page, so the memory is
/// charged to the cgroup: above the container's memory limit the OOM killer ends it.
fn cmd_alloc(mib: &OsStr) -> Result<(), Failure> {
    let mib: usize = mib
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or(Failure::Usage)?;
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for _ in 0..mib {
        // Non-zero bytes: a zeroed allocation may map the shared zero page, uncharged.
        held.push(vec![0xa5; 1 << 20]);
    }
    print_line(format!("allocated {} MiB", held.len()).as_bytes())
}

fn cmd_cat(path: &OsStr) -> Result<(), Failure> {
    let mut file = File::open(path)?;
    let mut out = io::stdout().lock();
    io::copy(&mut file, &mut out)?;
    out.flush()?;
    Ok(())
}

fn cmd_stat(path: &OsStr) -> Result<(), Failure> {
    // Follows symlinks: tests care about what a path resolves to.
    let md = std::fs::metadata(path)?;
    let ft = md.file_type();
    let file_type = if ft.is_file() {
        "file"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "unknown"
    };
    let json = Json::obj([
        ("path", Json::str(path.to_string_lossy())),
        ("mode", Json::str(format!("{:04o}", md.mode() & 0o7777))),
        ("uid", Json::Int(md.uid().into())),
        ("gid", Json::Int(md.gid().into())),
        ("size", Json::Int(md.size() as i64)),
        ("file_type", Json::str(file_type)),
        (
            "rdev",
            Json::str(format!(
                "{}:{}",
                libc::major(md.rdev()),
                libc::minor(md.rdev())
            )),
        ),
    ]);
    print_line(json.to_string().as_bytes())
}

fn cmd_env() -> Result<(), Failure> {
    let mut out = Vec::new();
    for (k, v) in std::env::vars_os() {
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    io::stdout().lock().write_all(&out)?;
    Ok(())
}

fn cmd_echo(args: &[OsString]) -> Result<(), Failure> {
    let words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    print_line(&words.join(&b' '))
}

fn print_line(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Escape attempts (tests/escapes.rs). Each prints one JSON line saying what the
// kernel answered, so a test can assert on the errno from inside the container.

/// `fds PID`: the open fds of /proc/PID (`self` works too) and where they point, to
/// find fds leaked from the runtime into a container (CVE-2024-21626).
fn cmd_fds(pid: &OsStr) -> Result<(), Failure> {
    let dir = format!("/proc/{}/fd", pid.to_string_lossy());
    let mut fds = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name();
        let Some(fd) = name.to_str().and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        let target = match std::fs::read_link(format!("{dir}/{fd}")) {
            Ok(t) => t.to_string_lossy().into_owned(),
            Err(e) => format!("error:{}", io_errno_name(&e)),
        };
        fds.push(Json::obj([
            ("fd", Json::Int(fd)),
            ("target", Json::str(target)),
        ]));
    }
    let json = Json::obj([
        ("pid", Json::str(pid.to_string_lossy())),
        ("fds", Json::Arr(fds)),
    ]);
    print_line(json.to_string().as_bytes())
}

/// Expands `{pid}` in a path to every process visible in /proc (except this one).
fn expand_pids(path: &str) -> Vec<String> {
    if !path.contains("{pid}") {
        return vec![path.to_owned()];
    }
    visible_pids()
        .into_iter()
        .map(|pid| path.replace("{pid}", &pid.to_string()))
        .collect()
}

fn visible_pids() -> Vec<i32> {
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| *pid != me)
        .collect();
    pids.sort_unstable();
    pids
}

/// `read-each PATH...`: tries to read each path (`{pid}` expands to every visible
/// process) and reports, per path, "ok" with the content or the errno.
fn cmd_read_each(paths: &[OsString]) -> Result<(), Failure> {
    let mut results = Vec::new();
    for path in paths.iter().flat_map(|p| expand_pids(&p.to_string_lossy())) {
        let mut content = Vec::new();
        let result = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .and_then(|f| f.take(64 * 1024).read_to_end(&mut content));
        let entry = match result {
            Ok(_) => Json::obj([
                ("result", Json::str("ok")),
                ("content", Json::str(String::from_utf8_lossy(&content))),
            ]),
            Err(e) => Json::obj([("result", Json::str(io_errno_name(&e)))]),
        };
        results.push((path, entry));
    }
    print_line(Json::obj(results).to_string().as_bytes())
}

/// `write-each TEXT PATH...`: opens each existing path write-only (never creating or
/// truncating it) and writes TEXT; reports "ok" or the errno of the open or write.
fn cmd_write_each(text: &OsStr, paths: &[OsString]) -> Result<(), Failure> {
    let mut results = Vec::new();
    for path in paths.iter().flat_map(|p| expand_pids(&p.to_string_lossy())) {
        let result = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        let outcome = match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => io_errno_name(&e),
        };
        results.push((path, Json::str(outcome)));
    }
    print_line(Json::obj(results).to_string().as_bytes())
}

/// What CVE-2019-5736's exploit writes over the runtime binary.
const EXE_ATTACK_MARKER: &[u8] = b"#!/bin/sh\necho bulwark-probe overwrote the runtime\n";

/// `exe-attack SECS`: CVE-2019-5736. Waits up to SECS for another process to appear
/// in this pid namespace (the runtime, made to execute itself inside the container
/// through a `#!/proc/self/exe` script), then does what the exploit did: opens its
/// /proc/<pid>/exe for writing (ETXTBSY while it runs), keeps an O_PATH handle,
/// signals readiness by creating /tmp/exe-attack-armed, waits for the process to
/// exit and reopens the handle through /proc/self/fd for writing, writing over the
/// binary if the kernel lets it.
fn cmd_exe_attack(secs: &OsStr) -> Result<(), Failure> {
    let secs: u64 = secs
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or(Failure::Usage)?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let own_exe = std::fs::read_link("/proc/self/exe").ok();
    // Processes whose exe link this one may not even read (another uid, or not
    // dumpable): the exploit cannot reach their binary, it keeps looking.
    let mut unreadable = BTreeSet::new();
    let found = loop {
        let candidate = visible_pids().into_iter().find_map(|pid| {
            match std::fs::read_link(format!("/proc/{pid}/exe")) {
                // Another probe is not the runtime.
                Ok(target) if Some(&target) == own_exe.as_ref() => None,
                Ok(target) => Some((pid, target)),
                Err(e) => {
                    if e.raw_os_error() != Some(libc::ENOENT) {
                        unreadable.insert((pid, io_errno_name(&e)));
                    }
                    None
                }
            }
        });
        if let Some(c) = candidate {
            break Some(c);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let unreadable = Json::Arr(
        unreadable
            .into_iter()
            .map(|(pid, errno)| Json::str(format!("{pid}:{errno}")))
            .collect(),
    );
    let Some((pid, exe)) = found else {
        let json = Json::obj([("found", Json::Int(0)), ("unreadable", unreadable)]);
        return print_line(json.to_string().as_bytes());
    };
    let exe_path = format!("/proc/{pid}/exe");
    let try_open = |path: &str, flags: libc::c_int| -> (String, Option<File>) {
        match OpenOptions::new()
            .custom_flags(flags)
            .read(flags & libc::O_ACCMODE == libc::O_RDWR)
            .write(flags & libc::O_ACCMODE != libc::O_RDONLY)
            .open(path)
        {
            Ok(f) => ("ok".into(), Some(f)),
            Err(e) => (io_errno_name(&e), None),
        }
    };
    let (direct_wronly, _) = try_open(&exe_path, libc::O_WRONLY);
    let (direct_rdwr, _) = try_open(&exe_path, libc::O_RDWR);
    let handle = File::open_path(&exe_path);
    // Tell the test it may let the runtime go.
    let _ = File::create("/tmp/exe-attack-armed");
    let exited = loop {
        if std::fs::metadata(format!("/proc/{pid}")).is_err() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut fields = vec![
        ("found", Json::Int(1)),
        ("pid", Json::Int(pid.into())),
        ("exe", Json::str(exe.to_string_lossy())),
        ("unreadable", unreadable),
        ("direct_wronly", Json::str(direct_wronly)),
        ("direct_rdwr", Json::str(direct_rdwr)),
        ("exited", Json::Int(exited.into())),
    ];
    match &handle {
        Err(e) => fields.push(("handle", Json::str(io_errno_name(e)))),
        Ok(handle) => {
            fields.push(("handle", Json::str("ok")));
            let reopen = format!("/proc/self/fd/{}", handle.as_raw_fd());
            let (rdwr, _) = try_open(&reopen, libc::O_RDWR);
            fields.push(("reopen_rdwr", Json::str(rdwr)));
            let (wronly, file) = try_open(&reopen, libc::O_WRONLY);
            fields.push(("reopen_wronly", Json::str(wronly)));
            let write = match file {
                None => "not_opened".to_owned(),
                Some(mut f) => match f.write_all(EXE_ATTACK_MARKER) {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => io_errno_name(&e),
                },
            };
            fields.push(("write", Json::str(write)));
        }
    }
    print_line(Json::obj(fields).to_string().as_bytes())
}

trait OpenPath: Sized {
    fn open_path(path: &str) -> io::Result<Self>;
}

impl OpenPath for File {
    /// An O_PATH handle: no permission to read or write is needed to hold one.
    fn open_path(path: &str) -> io::Result<File> {
        let cpath = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: cpath is NUL-terminated and outlives the call.
        let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

// ---------------------------------------------------------------------------
// report

/// The pids limit of this process's cgroup as the container sees it (its cgroup
/// namespace root): the v1 pids controller's file, or v2's. Tests compare it with the
/// limit the spec asked for, observed where the kernel enforces it.
fn pids_max() -> Option<String> {
    ["/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|limit| limit.trim().to_owned())
}

fn cmd_report() -> Result<(), Failure> {
    // Snapshot fds before any probe opens (and closes) its own.
    let fds = open_fds();

    // SAFETY: these getters cannot fail and have no preconditions.
    let (uid, gid, euid, egid, pid, ppid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
            libc::getpid(),
            libc::getppid(),
        )
    };
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers; the extra args must be 0.
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };

    let status = std::fs::read_to_string("/proc/self/status").ok();
    let status_field = |key: &str| -> Option<String> {
        status.as_deref()?.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
    };
    let caps = Json::obj(
        [
            ("inheritable", "CapInh"),
            ("permitted", "CapPrm"),
            ("effective", "CapEff"),
            ("bounding", "CapBnd"),
            ("ambient", "CapAmb"),
        ]
        .map(|(name, key)| (name, Json::opt_str(status_field(key)))),
    );
    let seccomp = status_field("Seccomp")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(-1);
    let apparmor = std::fs::read("/proc/self/attr/current").ok().map(|b| {
        String::from_utf8_lossy(&b)
            .trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string()
    });

    let masked = Json::obj(MASKED_PATHS.iter().map(|p| (*p, Json::str(mask_state(p)))));
    let syscalls = Json::obj(PROBES.iter().map(|p| (p.name, Json::str(run_probe(p)))));

    let report = Json::obj([
        ("uid", Json::Int(uid.into())),
        ("gid", Json::Int(gid.into())),
        ("euid", Json::Int(euid.into())),
        ("egid", Json::Int(egid.into())),
        ("groups", Json::Arr(groups())),
        ("caps", caps),
        ("no_new_privs", Json::Int(nnp.into())),
        ("seccomp", Json::Int(seccomp)),
        ("apparmor", Json::opt_str(apparmor)),
        ("root_write_errno", Json::str(root_write())),
        ("masked", masked),
        ("mounts", mounts()),
        ("syscalls", syscalls),
        ("fds", Json::Arr(fds)),
        (
            "env_names",
            Json::Arr(
                std::env::vars_os()
                    .map(|(k, _)| Json::str(k.to_string_lossy()))
                    .collect(),
            ),
        ),
        (
            "cwd",
            Json::opt_str(
                std::env::current_dir()
                    .ok()
                    .map(|d| d.to_string_lossy().into_owned()),
            ),
        ),
        ("hostname", Json::opt_str(hostname())),
        ("pid", Json::Int(pid.into())),
        ("pids_max", Json::opt_str(pids_max())),
        ("ppid", Json::Int(ppid.into())),
        // Which user namespace the process runs in ("user:[<inode>]", the text the host
        // reads from /proc/<pid>/ns/user) and how it maps ids to the host's.
        (
            "user_ns",
            Json::opt_str(
                std::fs::read_link("/proc/self/ns/user")
                    .ok()
                    .map(|l| l.to_string_lossy().into_owned()),
            ),
        ),
        (
            "uid_map",
            Json::opt_str(std::fs::read_to_string("/proc/self/uid_map").ok()),
        ),
    ]);
    print_line(report.to_string().as_bytes())
}

fn groups() -> Vec<Json> {
    // SAFETY: a zero-sized query writes nothing and returns the count.
    let n = unsafe { libc::getgroups(0, ptr::null_mut()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut gids: Vec<libc::gid_t> = vec![0; n as usize];
    // SAFETY: `gids` has room for exactly `n` entries.
    let n = unsafe { libc::getgroups(n, gids.as_mut_ptr()) };
    gids.truncate(n.max(0) as usize);
    gids.into_iter().map(|g| Json::Int(g.into())).collect()
}

fn root_write() -> String {
    let path = "/.bulwark-probe-write";
    // O_CREAT|O_EXCL so we never clobber (or later unlink) a file we did not create.
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(_) => {
            let _ = std::fs::remove_file(path);
            "ok".into()
        }
        Err(e) => io_errno_name(&e),
    }
}

/// "masked" if the path is a /dev/null bind or an empty read-only or tmpfs
/// directory; "absent" on ENOENT; "visible" otherwise. A file that merely reads as
/// empty is visible: /proc/keys does for a process that holds no keys, masked or not.
/// Any other error is reported by errno name, since it proves neither.
fn mask_state(path: &str) -> String {
    let md = match std::fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return "absent".into(),
        Err(e) => return io_errno_name(&e),
    };
    let ft = md.file_type();
    let masked = if ft.is_char_device() {
        libc::major(md.rdev()) == 1 && libc::minor(md.rdev()) == 3
    } else if ft.is_dir() {
        match dir_is_masked(path) {
            Ok(m) => m,
            Err(e) => return io_errno_name(&e),
        }
    } else {
        false
    };
    if masked { "masked" } else { "visible" }.into()
}

fn dir_is_masked(path: &str) -> io::Result<bool> {
    if std::fs::read_dir(path)?.next().is_some() {
        return Ok(false);
    }
    let cpath = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: statfs/statvfs are plain C structs (all-zero is valid) that the
    // kernel fills; cpath is NUL-terminated and outlives the calls.
    let (fs_type, flags) = unsafe {
        let mut sfs: libc::statfs = std::mem::zeroed();
        let mut svfs: libc::statvfs = std::mem::zeroed();
        if libc::statfs(cpath.as_ptr(), &mut sfs) == -1
            || libc::statvfs(cpath.as_ptr(), &mut svfs) == -1
        {
            return Err(io::Error::last_os_error());
        }
        (sfs.f_type, svfs.f_flag)
    };
    Ok(fs_type == libc::TMPFS_MAGIC || flags & libc::ST_RDONLY != 0)
}

fn mounts() -> Json {
    let Ok(raw) = std::fs::read("/proc/self/mountinfo") else {
        return Json::Null;
    };
    let mut out = Vec::new();
    for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        // id parent maj:min root mount_point options [optional...] - fstype source super_options
        let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 4 {
            continue;
        }
        let field = |i: usize| Json::str(unescape_mountinfo(fields[i]));
        out.push(Json::obj([
            ("mount_point", field(4)),
            ("root", field(3)),
            ("fs_type", field(sep + 1)),
            ("source", field(sep + 2)),
            ("options", field(5)),
            ("super_options", field(sep + 3)),
            (
                "optional",
                Json::Arr((6..sep).map(field).collect::<Vec<_>>()),
            ),
        ]));
    }
    Json::Arr(out)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &[u8]) -> String {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn open_fds() -> Vec<Json> {
    let names: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        // Without /proc, still find fds by asking the kernel directly.
        Err(_) => (0..1024).collect(),
    };
    // The read_dir iterator's own fd is closed by now, so fcntl weeds it out.
    names
        .into_iter()
        // SAFETY: F_GETFD only queries flags of an fd number; no memory involved.
        .filter(|fd| unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1)
        .map(|fd| {
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
            Json::obj([
                ("fd", Json::Int(fd.into())),
                ("target", Json::opt_str(target)),
            ])
        })
        .collect()
}

fn uname() -> Option<libc::utsname> {
    // SAFETY: utsname is a plain C struct of char arrays; all-zero is valid and
    // uname only writes into it.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        (libc::uname(&mut uts) == 0).then_some(uts)
    }
}

fn hostname() -> Option<String> {
    let uts = uname()?;
    let bytes: Vec<u8> = uts
        .nodename
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

// ---------------------------------------------------------------------------
// Syscall probes

struct Probe {
    name: &'static str,
    /// Harmless even in the probe's own process; only consulted when fork()
    /// fails (e.g. a pids limit), since every probe normally runs in a child.
    inline_ok: bool,
    run: fn() -> String,
}

const fn probe(name: &'static str, inline_ok: bool, run: fn() -> String) -> Probe {
    Probe {
        name,
        inline_ok,
        run,
    }
}

const PROBES: &[Probe] = &[
    probe("mount", true, p_mount),
    probe("umount2", true, p_umount2),
    probe("unshare_user", false, p_unshare_user),
    probe("unshare_ns", false, p_unshare_ns),
    probe("setns", false, p_setns),
    probe("ptrace", false, p_ptrace),
    probe("keyctl", true, p_keyctl),
    probe("add_key", false, p_add_key),
    probe("request_key", false, p_request_key),
    probe("bpf", true, p_bpf),
    probe("perf_event_open", true, p_perf_event_open),
    probe("userfaultfd", true, p_userfaultfd),
    probe("io_uring_setup", true, p_io_uring_setup),
    probe("kexec_load", true, p_kexec_load),
    probe("init_module", true, p_init_module),
    probe("finit_module", true, p_finit_module),
    probe("delete_module", true, p_delete_module),
    probe("clone_newns", false, p_clone_newns),
    probe("clone_newuser", false, p_clone_newuser),
    probe("clone3", true, p_clone3),
    probe("socket_af_alg", true, p_socket_af_alg),
    probe("socket_af_vsock", true, p_socket_af_vsock),
    probe("chroot", false, p_chroot),
    probe("chmod", true, p_chmod),
    probe("pivot_root", false, p_pivot_root),
    probe("sethostname", false, p_sethostname),
    probe("setuid0", false, p_setuid0),
    probe("swapon", true, p_swapon),
    probe("acct", true, p_acct),
    probe("syslog", true, p_syslog),
    probe("open_by_handle_at", true, p_open_by_handle_at),
    probe("reboot", true, p_reboot),
    probe("settimeofday", true, p_settimeofday),
    probe("clock_settime", true, p_clock_settime),
    probe("personality_query", true, p_personality_query),
];

/// Runs a probe in a forked child, so that even a seccomp KILL/TRAP action
/// or a state change cannot affect the report; the child sends its outcome
/// back over a pipe.
fn run_probe(p: &Probe) -> String {
    match run_in_child(p.run) {
        Ok(outcome) => outcome,
        Err(_) if p.inline_ok => (p.run)(),
        Err(e) => format!("fork_failed:{}", errno_name(e)),
    }
}

fn run_in_child(run: fn() -> String) -> Result<String, i32> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(errno());
    }
    // SAFETY: pipe2 just returned these fds and nothing else owns them.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // SAFETY: the probe is single-threaded, so the child is a full copy and
    // may run ordinary Rust code before it _exits.
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        return Err(errno());
    }
    if pid == 0 {
        drop(rd);
        // Never let a panic unwind back into the parent's code path.
        if let Ok(outcome) = std::panic::catch_unwind(run) {
            let _ = File::from(wr).write_all(outcome.as_bytes());
        }
        // SAFETY: _exit skips the parent's atexit handlers and stdio buffers.
        unsafe { libc::_exit(0) }
    }
    drop(wr);

    let (buf, timed_out) = read_with_deadline(rd, Instant::now() + CHILD_TIMEOUT);
    if timed_out {
        // SAFETY: pid is our own unreaped child, so the pid cannot be reused.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let status = reap(pid);
    Ok(if timed_out {
        "timeout".into()
    } else if libc::WIFSIGNALED(status) {
        format!("signal:{}", signal_name(libc::WTERMSIG(status)))
    } else if buf.is_empty() {
        format!("child_exit:{}", libc::WEXITSTATUS(status))
    } else {
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Reads until EOF; returns what was read and whether the deadline passed.
fn read_with_deadline(fd: OwnedFd, deadline: Instant) -> (Vec<u8>, bool) {
    let mut file = File::from(fd);
    let mut buf = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (buf, true);
        }
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: `pfd` is a single valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            -1 if errno() == libc::EINTR => continue,
            -1 => return (buf, false),
            0 => continue,
            _ => {}
        }
        let mut chunk = [0u8; 256];
        match file.read(&mut chunk) {
            Ok(0) => return (buf, false),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (buf, false),
        }
    }
}

/// Waits for `pid` to terminate and returns its wait status.
fn reap(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer; pid is our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 && errno() == libc::EINTR {
            continue;
        }
        if r == pid && libc::WIFSTOPPED(status) {
            // Only possible for the PTRACE_TRACEME child; it has nothing left
            // to do, so kill it rather than leave it stopped.
            // SAFETY: pid is our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            continue;
        }
        return status;
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// "ok" for a successful return, else the errno name. Must be called right
/// after the syscall, before anything else can overwrite errno.
fn check(ret: impl Into<i64>) -> String {
    if ret.into() == -1 {
        errno_name(errno())
    } else {
        "ok".into()
    }
}

/// Like `check`, but closes a returned fd so the probe leaks nothing.
fn check_fd(ret: impl Into<i64>) -> String {
    let ret = ret.into();
    if ret == -1 {
        return errno_name(errno());
    }
    // SAFETY: the kernel just handed us this fd and nothing else owns it.
    unsafe { libc::close(ret as libc::c_int) };
    "ok".into()
}

fn p_mount() -> String {
    // An unknown fs type fails with ENODEV only after the permission check,
    // so an allowed call still mounts nothing.
    // SAFETY: all pointers are NUL-terminated literals or null.
    check(unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            c"bulwark-probe-nofs".as_ptr(),
            0,
            ptr::null(),
        )
    })
}

fn p_umount2() -> String {
    // SAFETY: NUL-terminated literal path.
    check(unsafe { libc::umount2(NONEXISTENT.as_ptr(), 0) })
}

fn p_unshare_user() -> String {
    // SAFETY: no pointers; only affects this throwaway child.
    check(unsafe { libc::unshare(libc::CLONE_NEWUSER) })
}

fn p_unshare_ns() -> String {
    // SAFETY: no pointers; only affects this throwaway child.
    check(unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET) })
}

fn p_setns() -> String {
    let ns = match File::open("/proc/self/ns/uts") {
        Ok(f) => f,
        Err(e) => return format!("setup_failed:{}", io_errno_name(&e)),
    };
    // Re-joining our own uts namespace changes nothing, and we are a child.
    // SAFETY: `ns` is an open fd for the duration of the call.
    check(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWUTS) })
}

fn p_ptrace() -> String {
    // Only makes this throwaway child traceable by the probe itself.
    // SAFETY: PTRACE_TRACEME ignores its pointer arguments.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_TRACEME,
            0,
            ptr::null_mut::<libc::c_void>(),
            ptr::null_mut::<libc::c_void>(),
        )
    })
}

fn p_keyctl() -> String {
    // create=0: look up the session keyring without creating one.
    // SAFETY: integer-only arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    })
}

fn p_add_key() -> String {
    // The process keyring dies with this child, taking the key with it.
    // SAFETY: NUL-terminated literals and a 1-byte payload that outlive the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            c"bulwark-probe".as_ptr(),
            b"x".as_ptr(),
            1 as libc::size_t,
            KEY_SPEC_PROCESS_KEYRING,
        )
    })
}

fn p_request_key() -> String {
    // A null callout means no upcall to /sbin/request-key: ENOKEY if allowed.
    // SAFETY: NUL-terminated literals; null callout is permitted.
    check(unsafe {
        libc::syscall(
            libc::SYS_request_key,
            c"user".as_ptr(),
            c"bulwark-probe-nonexistent".as_ptr(),
            ptr::null::<libc::c_char>(),
            0 as libc::c_long,
        )
    })
}

fn p_bpf() -> String {
    // Zeroed attr = BPF_PROG_TYPE_UNSPEC with no instructions: EINVAL if allowed.
    let attr = [0u64; 16];
    // SAFETY: `attr` is 128 readable bytes, matching the size passed.
    check_fd(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    })
}

fn p_perf_event_open() -> String {
    // Zeroed attr counts our own cycles at most; the fd is closed straight away.
    let attr = [0u64; 16];
    // SAFETY: `attr` is readable; size 0 makes the kernel read only VER0 (64 bytes).
    check_fd(unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            0 as libc::c_ulong,
        )
    })
}

fn p_userfaultfd() -> String {
    // SAFETY: integer-only argument.
    check_fd(unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) })
}

fn p_io_uring_setup() -> String {
    // struct io_uring_params is 120 bytes; the kernel writes results into it.
    let mut params = [0u64; 15];
    // SAFETY: `params` is 120 writable bytes that outlive the call.
    check_fd(unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) })
}

fn p_kexec_load() -> String {
    // Not all-zero: nr_segments == 0 would *unload* a staged kexec image.
    // Too many segments plus an undefined flag bit give EINVAL right after
    // the permission checks.
    // SAFETY: the segments pointer is null and never reached.
    check(unsafe {
        libc::syscall(
            libc::SYS_kexec_load,
            0 as libc::c_ulong,
            0xffff as libc::c_ulong,
            ptr::null::<libc::c_void>(),
            0x8000 as libc::c_ulong,
        )
    })
}

fn p_init_module() -> String {
    // A zero-length image is rejected (ENOEXEC) after the capability check.
    // SAFETY: null image with length 0 is never read; params is a literal.
    check(unsafe {
        libc::syscall(
            libc::SYS_init_module,
            ptr::null::<libc::c_void>(),
            0 as libc::c_ulong,
            c"".as_ptr(),
        )
    })
}

fn p_finit_module() -> String {
    // SAFETY: fd -1 is invalid (EBADF if allowed); params is a literal.
    check(unsafe { libc::syscall(libc::SYS_finit_module, -1 as libc::c_int, c"".as_ptr(), 0) })
}

fn p_delete_module() -> String {
    // SAFETY: NUL-terminated literal name.
    check(unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"bulwark_probe_nonexistent".as_ptr(),
            libc::O_NONBLOCK,
        )
    })
}

/// Raw clone(2) without CLONE_VM and with a null stack behaves like fork():
/// the new process runs on a copy-on-write copy of our stack and exits at once.
fn raw_clone(flags: libc::c_int) -> String {
    // SAFETY: see above; the child touches nothing before _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if pid == 0 {
        // SAFETY: _exit never returns and is safe in a freshly cloned process.
        unsafe { libc::_exit(0) }
    }
    if pid == -1 {
        return errno_name(errno());
    }
    reap(pid as libc::pid_t);
    "ok".into()
}

fn p_clone_newns() -> String {
    raw_clone(libc::CLONE_NEWNS)
}

fn p_clone_newuser() -> String {
    raw_clone(libc::CLONE_NEWUSER)
}

fn p_clone3() -> String {
    // size 0 is below CLONE_ARGS_SIZE_VER0: EINVAL before anything is created.
    // SAFETY: the null args pointer is never dereferenced for size 0.
    check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            ptr::null::<libc::c_void>(),
            0 as libc::size_t,
        )
    })
}

fn p_socket_af_alg() -> String {
    // SAFETY: integer-only arguments.
    check_fd(unsafe { libc::socket(libc::AF_ALG, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) })
}

fn p_socket_af_vsock() -> String {
    // SAFETY: integer-only arguments.
    check_fd(unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })
}

fn p_chroot() -> String {
    // SAFETY: NUL-terminated literal; only affects this throwaway child.
    check(unsafe { libc::chroot(c"/".as_ptr()) })
}

fn p_chmod() -> String {
    // The raw syscall, not libc's chmod (which may call fchmodat): tests deny `chmod`
    // by name in an engine's profile. The rootfs is read-only, so an allowed call fails
    // with EROFS and changes nothing.
    // SAFETY: NUL-terminated literal path.
    check(unsafe { libc::syscall(libc::SYS_chmod, c"/probe".as_ptr(), 0o755) })
}

fn p_pivot_root() -> String {
    // pivot_root acts on the whole mount namespace, so being in a child is
    // not enough. With cwd at our root, new_root is the root mount itself and
    // an allowed call fails with EBUSY instead of moving anything.
    if let Err(e) = std::env::set_current_dir("/") {
        return format!("setup_failed:{}", io_errno_name(&e));
    }
    // SAFETY: NUL-terminated literals.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })
}

fn p_sethostname() -> String {
    let Some(uts) = uname() else {
        return format!("setup_failed:{}", errno_name(errno()));
    };
    // Setting the hostname to its current value changes nothing.
    let len = uts.nodename.iter().take_while(|c| **c != 0).count();
    // SAFETY: `len` bytes of `nodename` are initialised and readable.
    check(unsafe { libc::sethostname(uts.nodename.as_ptr(), len) })
}

fn p_setuid0() -> String {
    // SAFETY: no pointers; only affects this throwaway child.
    check(unsafe { libc::setuid(0) })
}

fn p_swapon() -> String {
    // SAFETY: NUL-terminated literal path (nonexistent: ENOENT if allowed).
    check(unsafe { libc::syscall(libc::SYS_swapon, NONEXISTENT.as_ptr(), 0) })
}

fn p_acct() -> String {
    // Not NULL: acct(NULL) would switch off the host's process accounting.
    // A missing file fails (ENOENT) before existing accounting is touched.
    // SAFETY: NUL-terminated literal path.
    check(unsafe { libc::acct(NONEXISTENT.as_ptr()) })
}

fn p_syslog() -> String {
    // SAFETY: SIZE_BUFFER ignores the buffer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_syslog,
            SYSLOG_ACTION_SIZE_BUFFER,
            ptr::null_mut::<libc::c_char>(),
            0,
        )
    })
}

fn p_open_by_handle_at() -> String {
    // A null handle gives EFAULT once past the CAP_DAC_READ_SEARCH check.
    // SAFETY: the null handle is only ever copied from via copy_from_user.
    check_fd(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            libc::AT_FDCWD,
            ptr::null::<libc::c_void>(),
            libc::O_RDONLY,
        )
    })
}

fn p_reboot() -> String {
    // Invalid magic numbers (and an invalid command) make an allowed call
    // return EINVAL right after the CAP_SYS_BOOT check.
    // SAFETY: integer arguments and a null arg pointer that is never read.
    check(unsafe {
        libc::syscall(
            libc::SYS_reboot,
            0 as libc::c_int,
            0 as libc::c_int,
            0x0bad_c0de as libc::c_uint,
            ptr::null::<libc::c_void>(),
        )
    })
}

fn p_settimeofday() -> String {
    // Raw syscall: glibc's wrapper dereferences a null tv. With tv and tz both
    // null the kernel does the CAP_SYS_TIME check and then nothing at all.
    // SAFETY: null pointers are valid arguments here.
    check(unsafe {
        libc::syscall(
            libc::SYS_settimeofday,
            ptr::null::<libc::timeval>(),
            ptr::null::<libc::c_void>(),
        )
    })
}

fn p_clock_settime() -> String {
    // An out-of-range (positive: negative ids are CPU/fd clocks) clock id is
    // EINVAL if the call is allowed; a filter answers EPERM. The timespec is
    // "now" so even a valid clock would not move.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    // SAFETY: `now` is a valid, initialised timespec.
    check(unsafe {
        libc::syscall(
            libc::SYS_clock_settime,
            1000 as libc::clockid_t,
            &now as *const libc::timespec,
        )
    })
}

fn p_personality_query() -> String {
    // 0xffffffff only queries the current persona.
    // SAFETY: integer-only argument.
    check(unsafe { libc::personality(0xffff_ffff) })
}

// ---------------------------------------------------------------------------
// errno / signal names

fn io_errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_name(n),
        None => e.to_string(),
    }
}

fn errno_name(e: i32) -> String {
    // ENOTSUP == EOPNOTSUPP and EWOULDBLOCK == EAGAIN on Linux.
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ENOTBLK => "ENOTBLK",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::EUSERS => "EUSERS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EDQUOT => "EDQUOT",
        libc::ENOKEY => "ENOKEY",
        libc::EKEYREVOKED => "EKEYREVOKED",
        libc::EKEYREJECTED => "EKEYREJECTED",
        _ => return format!("E{e}"),
    };
    name.into()
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSYS => "SIGSYS",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        _ => return format!("SIG{sig}"),
    };
    name.into()
}

// ---------------------------------------------------------------------------
// Minimal JSON writer: keeps the static binary dependency-free (no lockfile
// changes outside probe/); strings are escaped per RFC 8259.

enum Json {
    Null,
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    fn opt_str(s: Option<String>) -> Json {
        s.map_or(Json::Null, Json::Str)
    }

    fn obj<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    fn write_into(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => escape_into(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_into(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    escape_into(out, k);
                    out.push(':');
                    v.write_into(out);
                }
                out.push('}');
            }
        }
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.write_into(&mut s);
        f.write_str(&s)
    }
}

fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json_strings() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn unescapes_mountinfo_octal() {
        assert_eq!(unescape_mountinfo(br"/a\040b\134c\0"), "/a b\\c\\0");
    }

    #[test]
    fn names_errnos() {
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(libc::ENOTSUP), "EOPNOTSUPP");
        assert_eq!(errno_name(9999), "E9999");
    }
}
