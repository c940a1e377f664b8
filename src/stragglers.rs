//! The processes a killed `create` leaves behind.
//!
//! libcontainer forks an intermediate process and the container's init from the create
//! process; they run bulwark's code, with its command line, until the init executes the
//! container's program at `start`. When the create is killed before libcontainer records
//! the init's pid, nothing in the container's state names them, and they go on: the
//! intermediate process creates the container's cgroups and joins them (libcontainer
//! 0.7 applies cgroups there) possibly *after* a `delete --force` has removed them, which
//! leaves the cgroups behind. `delete` therefore finds them by their command line —
//! `create` or `run` of this container id under this state root — and kills them first.
//! A create killed before libcontainer began can leave one process too: its cgroup
//! attach warm-up child (crate::cgroups::AttachWarmup), for up to a grace period.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cli::{Cli, Command};

/// How long to wait for a killed straggler to be gone.
const EXIT_WAIT: Duration = Duration::from_secs(2);
const EXIT_POLL: Duration = Duration::from_millis(10);

/// Scans after the last one that found a straggler: a process cloned while /proc was
/// being read may be missed by that read, never by the next (its parent is dead then).
const RESCANS: usize = 8;

/// SIGKILLs every process still running a `create`/`run` of `id` under `root` (the
/// canonical state root) and waits until they are gone. Returns how many it killed.
pub fn kill_create_stragglers(root: &Path, id: &str) -> usize {
    let mut killed = 0;
    for _ in 0..RESCANS {
        let found = kill_once(root, id);
        if found == 0 {
            break;
        }
        killed += found;
    }
    killed
}

/// One scan of /proc: kills what it finds and waits for it to be gone.
fn kill_once(root: &Path, id: &str) -> usize {
    let stragglers = create_processes(root, id);
    for &pid in &stragglers {
        tracing::warn!(%id, pid = pid.as_raw(), "killing a process of an interrupted create");
        let _ = kill(pid, Signal::SIGKILL);
    }
    let deadline = Instant::now() + EXIT_WAIT;
    while stragglers.iter().any(|pid| running(*pid)) && Instant::now() < deadline {
        std::thread::sleep(EXIT_POLL);
    }
    stragglers.len()
}

/// Every process but this one running a `create`/`run` of `id` under `root`.
fn create_processes(root: &Path, id: &str) -> Vec<Pid> {
    let own = std::process::id();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid as u32 != own && creates(pid, root, id))
        .map(Pid::from_raw)
        .collect()
}

/// Whether `pid` runs bulwark's `create` or `run` of `id` under `root`.
fn creates(pid: i32, root: &Path, id: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let Ok(cli) = Cli::try_parse_from(args) else {
        return false;
    };
    let their_id = match &cli.command {
        Command::Create(create) => &create.container_id,
        Command::Run(run) => &run.container_id,
        _ => return false,
    };
    their_id == id && resolve(pid, &cli.global.root).as_deref() == Some(root)
}

/// `path` as the process `pid` sees it (a relative `--root` is relative to its cwd).
fn resolve(pid: i32, path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        fs::read_link(format!("/proc/{pid}/cwd")).ok()?.join(path)
    };
    fs::canonicalize(absolute).ok()
}

/// Alive and not a zombie (a zombie holds no cgroup).
fn running(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{}/stat", pid.as_raw()))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}
