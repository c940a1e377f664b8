//! Removing a container's cgroups, with every process in them, when libcontainer's
//! state cannot: a create killed inside libcontainer's last state save (its
//! `State::save` truncates state.json before writing it) leaves an init waiting for
//! `start` in a full set of cgroups while the state names no pid and cannot be read.
//! libcontainer's delete then has nothing to go on, and the init and its cgroups
//! outlived every `delete --force` (issue #22).
//!
//! Only the cgroup bulwark claimed for the container is touched: the claim directory's
//! inode, recorded when bulwark's exclusive `mkdir` made it (crate::cgroups::claim),
//! must still be the directory at that path. The same path in the other hierarchies is
//! the container's too: admission refused a path that existed in any of them, and the
//! claim kept a racing create of the same path out.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{cgroup_mounts, CgroupError, CgroupMount};

/// How long the killed processes get to leave their cgroups, and a frozen cgroup to
/// report FROZEN, before the reap gives up and says so.
const EMPTY_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// What a reap did: processes killed and cgroup directories removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    pub killed: usize,
    pub removed: usize,
}

/// Kills every process in the container's cgroups and removes them, in every
/// hierarchy, when `claimed` is still the directory bulwark's claim made (`inode`).
/// A missing claim (libcontainer removed the cgroups) is nothing to do; one with
/// another inode is someone else's and is left alone.
pub fn reap(claimed: &Path, inode: u64) -> Result<Reaped, CgroupError> {
    let failed = |path: &Path, reason: String| CgroupError::Reap {
        path: path.to_owned(),
        reason,
    };
    match fs::symlink_metadata(claimed) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Reaped::default()),
        Err(e) => return Err(failed(claimed, e.to_string())),
        Ok(meta) if meta.ino() != inode => {
            tracing::warn!(path = %claimed.display(), "not the cgroup bulwark claimed: left alone");
            return Ok(Reaped::default());
        }
        Ok(_) => {}
    }
    let mounts = cgroup_mounts()?;
    let relative = mounts
        .iter()
        .find_map(|m| claimed.strip_prefix(&m.mount_point).ok())
        .ok_or_else(|| failed(claimed, "not in a cgroup hierarchy".to_owned()))?;
    let dirs: Vec<(&CgroupMount, PathBuf)> = mounts
        .iter()
        .map(|m| (m, m.mount_point.join(relative)))
        .filter(|(_, dir)| dir.is_dir())
        .collect();

    let killed = kill_all(&dirs).map_err(|(path, e)| failed(&path, e))?;
    let deadline = Instant::now() + EMPTY_WAIT;
    let mut removed = 0;
    for (_, dir) in &dirs {
        // Children first: rmdir refuses a cgroup with children.
        for cgroup in subtree(dir) {
            removed += remove_when_empty(&cgroup, deadline).map_err(|e| failed(&cgroup, e))?;
        }
    }
    Ok(Reaped { killed, removed })
}

/// SIGKILLs every process in the cgroups (and their children), frozen while their pids
/// are read and signalled so none forks away or exits and has its pid reused in
/// between (runc's `signalAllProcesses` freezes for the same reason). cgroup v2's
/// `cgroup.kill` does all of it in the kernel.
fn kill_all(dirs: &[(&CgroupMount, PathBuf)]) -> Result<usize, (PathBuf, String)> {
    if let Some((_, dir)) = dirs
        .iter()
        .find(|(m, dir)| !m.v1 && dir.join("cgroup.kill").exists())
    {
        let procs = pids_in(dirs);
        let kill_file = dir.join("cgroup.kill");
        fs::write(&kill_file, "1").map_err(|e| (kill_file, e.to_string()))?;
        return Ok(procs.len());
    }
    let freezer = dirs
        .iter()
        .find(|(m, _)| m.v1 && m.super_options.split(',').any(|o| o == "freezer"))
        .map(|(_, dir)| dir.join("freezer.state"));
    if let Some(state) = &freezer {
        freeze(state)?;
    }
    let procs = pids_in(dirs);
    for pid in &procs {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    // A v1 frozen task takes its SIGKILL only once thawed.
    if let Some(state) = &freezer {
        fs::write(state, "THAWED").map_err(|e| (state.clone(), e.to_string()))?;
    }
    Ok(procs.len())
}

/// Writes FROZEN and waits for the kernel to report it (FREEZING is transitional).
fn freeze(state: &Path) -> Result<(), (PathBuf, String)> {
    let failed = |e: io::Error| (state.to_owned(), e.to_string());
    fs::write(state, "FROZEN").map_err(failed)?;
    let deadline = Instant::now() + EMPTY_WAIT;
    loop {
        if fs::read_to_string(state).map_err(failed)?.trim() == "FROZEN" {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err((state.to_owned(), "the cgroup did not freeze".to_owned()));
        }
        std::thread::sleep(POLL);
    }
}

/// Every pid in the cgroups and their children, without duplicates.
fn pids_in(dirs: &[(&CgroupMount, PathBuf)]) -> Vec<i32> {
    let mut pids: Vec<i32> = dirs
        .iter()
        .flat_map(|(_, dir)| subtree(dir))
        .flat_map(|cgroup| procs(&cgroup))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn procs(cgroup: &Path) -> Vec<i32> {
    fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// `dir` and the cgroups below it, children before their parents.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .flat_map(|entry| subtree(&entry.path()))
        .collect();
    out.push(dir.to_owned());
    out
}

/// Removes `cgroup` once its killed processes have left it (a dying process stays
/// in it until the kernel has released it). Returns 1 when it was removed here.
fn remove_when_empty(cgroup: &Path, deadline: Instant) -> Result<usize, String> {
    loop {
        match fs::remove_dir(cgroup) {
            Ok(()) => return Ok(1),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{e}; processes still in it: {:?}", procs(cgroup)))
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}
