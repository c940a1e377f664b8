//! Starts the grace period that moving a process into a cgroup waits for, early.
//!
//! Writing a pid to `cgroup.procs` takes the kernel's `cgroup_threadgroup_rwsem` for
//! writing (kernel/cgroup/cgroup.c `cgroup_procs_write_start`), and the first writer of a
//! percpu rwsem waits for a whole RCU grace period (kernel/rcu/sync.c `rcu_sync_enter`)
//! unless the hierarchy is mounted with `favordynmods` (Linux 6.0; not systemd's
//! default). A writer that comes within a grace period of the previous writer's exit does
//! not wait (rcu_sync's `GP_EXIT` state). libcontainer's intermediate process moves
//! itself into the container's cgroup (libcontainer 0.7
//! process/container_intermediate_process.rs `apply_cgroups`) while bulwark's create
//! process waits for it: 13–15 ms of a 42 ms `bulwark run` on the cgroup v1 development
//! host, seen with `perf sched timehist` as `synchronize_rcu_normal <- rcu_sync_enter <-
//! percpu_down_write <- cgroup_procs_write_start` (issue #20, docs/benchmarks.md). runc
//! pays the same grace period.
//!
//! So create and exec start that grace period when they start: a child process writes
//! `0` (itself) to the `cgroup.procs` of the cgroup it already is in, a move that
//! changes nothing. The admission, baseline and policy decision run while the kernel
//! waits. The child writes again every few milliseconds, each time within the grace
//! period of the last (no wait), so that the state lasts however long the pipeline
//! takes, and once more when the command is about to hand over to libcontainer, then
//! exits: the intermediate's write comes within a grace period of that last one. A child
//! process and not a thread: bulwark starts no thread before libcontainer forks. Best
//! effort, and no control depends on it: where no `cgroup.procs` of its own opens or a
//! write fails, only the overlap is lost. A refused command reaps the child too, after
//! at most one grace period, so that no process of bulwark's outlives it.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};

use super::CGROUP_ROOT;

/// How often the child writes again while the pipeline runs: well inside one grace
/// period of an idle host (13-15 ms on the development host), where the wait is long.
/// On a busy host grace periods are short, so a lapse costs little, and fewer writes
/// contend less with other cgroup changes (each takes `cgroup_mutex`).
const REWRITE_INTERVAL_MS: i32 = 5;

/// The child's exit status when a write failed.
const WRITE_FAILED: i32 = 1;

/// The warm-up child, reaped by [`AttachWarmup::finish`] or on drop (a refused
/// command), so that no process of bulwark's outlives the command.
pub struct AttachWarmup {
    child: Option<Child>,
}

struct Child {
    pid: Pid,
    /// Closing it tells the child to write a last time and exit.
    done: OwnedFd,
    path: PathBuf,
}

impl AttachWarmup {
    /// Forks the child that writes to `cgroup.procs`; without one to write, nothing.
    pub fn start() -> Self {
        let Some((procs, path)) = own_cgroup_procs() else {
            tracing::debug!("cgroup attach warm-up: no cgroup.procs of this process opens");
            return Self { child: None };
        };
        let (wait_end, done) = match pipe2(OFlag::O_CLOEXEC) {
            Ok(pipe) => pipe,
            Err(errno) => {
                tracing::debug!(%errno, "cgroup attach warm-up: pipe failed");
                return Self { child: None };
            }
        };
        // SAFETY: bulwark has no other thread (it starts none before libcontainer
        // forks), and the child only calls close_range(2), write(2), poll(2) and
        // _exit(2), which are async-signal-safe.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                close_all_but(procs.as_raw_fd(), wait_end.as_raw_fd());
                let status = rewrite_until_done(procs.as_raw_fd(), wait_end.as_raw_fd());
                unsafe { libc::_exit(status) }
            }
            Ok(ForkResult::Parent { child }) => Self {
                child: Some(Child {
                    pid: child,
                    done,
                    path,
                }),
            },
            Err(errno) => {
                tracing::debug!(%errno, "cgroup attach warm-up: fork failed");
                Self { child: None }
            }
        }
    }

    /// Has the child write a last time and waits for it. Returns whether its writes
    /// succeeded.
    pub fn finish(mut self) -> bool {
        self.reap()
    }

    fn reap(&mut self) -> bool {
        let Some(Child { pid, done, path }) = self.child.take() else {
            return false;
        };
        drop(done);
        let status = loop {
            match waitpid(pid, None) {
                Err(Errno::EINTR) => continue,
                other => break other,
            }
        };
        let written = matches!(status, Ok(WaitStatus::Exited(_, 0)));
        tracing::debug!(path = %path.display(), written, "cgroup attach warm-up");
        written
    }
}

impl Drop for AttachWarmup {
    fn drop(&mut self) {
        self.reap();
    }
}

/// Closes every descriptor of the child but the two it uses (among them the write end
/// of its pipe): the engine's pipes and sockets and any lock the command holds stay the
/// command's alone. Only async-signal-safe calls.
fn close_all_but(a: RawFd, b: RawFd) {
    let (low, high) = (a.min(b) as libc::c_uint, a.max(b) as libc::c_uint);
    // SAFETY: close_range(2) only closes descriptors; none of the closed ones is used
    // again in the child.
    unsafe {
        if low > 0 {
            libc::close_range(0, low - 1, 0);
        }
        if high > low + 1 {
            libc::close_range(low + 1, high - 1, 0);
        }
        libc::close_range(high + 1, libc::c_uint::MAX, 0);
    }
}

/// The child: writes `0` to `procs`, again every [`REWRITE_INTERVAL_MS`] until
/// `wait_end` reports the write end closed, and a last time then. Only
/// async-signal-safe calls; returns the exit status.
fn rewrite_until_done(procs: i32, wait_end: i32) -> i32 {
    // "0" is the writing process itself (cgroup-v2.rst "cgroup.procs").
    let write = || unsafe { libc::write(procs, b"0".as_ptr().cast(), 1) } == 1;
    if !write() {
        return WRITE_FAILED;
    }
    let mut done = libc::pollfd {
        fd: wait_end,
        events: libc::POLLIN,
        revents: 0,
    };
    while unsafe { libc::poll(&mut done, 1, REWRITE_INTERVAL_MS) } == 0 {
        if !write() {
            return WRITE_FAILED;
        }
    }
    if write() {
        0
    } else {
        WRITE_FAILED
    }
}

/// The `cgroup.procs` of this process's own cgroup, opened for writing, in the first
/// hierarchy where it opens (/proc/self/cgroup names the cgroups, `CGROUP_ROOT` holds
/// the mounts). Every hierarchy serves: the rwsem is one for all of them.
fn own_cgroup_procs() -> Option<(File, PathBuf)> {
    let cgroups = std::io::read_to_string(File::open("/proc/self/cgroup").ok()?).ok()?;
    candidates(&cgroups).into_iter().find_map(|path| {
        let procs = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .ok()?;
        Some((procs, path))
    })
}

/// Where each line of /proc/self/cgroup (`id:controllers:path`) is mounted: the
/// unified hierarchy at the root (cgroup v2) or at `unified` (a hybrid host), a v1
/// hierarchy at its controllers' names (`cpu,cpuacct`, `systemd` for `name=systemd`).
/// A path outside this cgroup namespace's root (`/..`) is skipped: it names no
/// directory under the mount.
fn candidates(cgroups: &str) -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    let mut paths = Vec::new();
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = Path::new(path.trim_start_matches('/'));
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let mounts = if controllers.is_empty() {
            vec![root.to_owned(), root.join("unified")]
        } else {
            vec![root.join(controllers.trim_start_matches("name="))]
        };
        paths.extend(
            mounts
                .into_iter()
                .map(|mount| mount.join(relative).join("cgroup.procs")),
        );
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_each_hierarchy_mount() {
        let hybrid = "12:pids:/user.slice\n4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/s.scope\n0::/user.slice/s.scope\n";
        assert_eq!(
            candidates(hybrid),
            vec![
                PathBuf::from("/sys/fs/cgroup/pids/user.slice/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/user.slice/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/systemd/user.slice/s.scope/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/user.slice/s.scope/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/unified/user.slice/s.scope/cgroup.procs"),
            ]
        );
        assert_eq!(
            candidates("0::/\n"),
            vec![
                PathBuf::from("/sys/fs/cgroup/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/unified/cgroup.procs"),
            ]
        );
    }

    #[test]
    fn a_cgroup_outside_the_namespace_root_is_skipped() {
        assert!(candidates("0::/../../elsewhere\n").is_empty());
        assert!(candidates("3:memory:/a/../b\n").is_empty());
    }

    /// As root on a host with cgroups, the child writes and is reaped, leaving this
    /// process in the cgroups it was in and with no child of the warm-up.
    #[test]
    fn the_child_writes_and_is_reaped_leaving_the_cgroups_as_they_were() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let warmup = AttachWarmup::start();
        let child = warmup
            .child
            .as_ref()
            .expect("a cgroup.procs of its own opens");
        let (child, path) = (child.pid, child.path.clone());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            warmup.finish(),
            "the writes to {} succeeded",
            path.display()
        );
        assert_eq!(
            waitpid(child, None),
            Err(Errno::ECHILD),
            "the child was reaped"
        );
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }

    /// The child keeps only `cgroup.procs` and its pipe: an engine's pipe the command
    /// holds gets its end of file when the command closes it, not when the child exits.
    #[test]
    fn the_child_holds_none_of_the_commands_descriptors() {
        let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let warmup = AttachWarmup::start();
        if warmup.child.is_none() {
            return;
        }
        drop(write_end);
        // No end of file while any process holds the write end: the child must not.
        let mut hangup = libc::pollfd {
            fd: read_end.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = unsafe { libc::poll(&mut hangup, 1, 2000) };
        assert_eq!(ready, 1, "end of file while the child runs");
        assert!(warmup.finish());
    }

    #[test]
    fn a_dropped_warmup_reaps_its_child() {
        let warmup = AttachWarmup::start();
        let child = warmup.child.as_ref().map(|child| child.pid);
        drop(warmup);
        if let Some(child) = child {
            assert_eq!(waitpid(child, None), Err(Errno::ECHILD));
        }
    }
}
