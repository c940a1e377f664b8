use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SigSet;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::create_container;
use super::{remove_container, start_container};
use crate::cli::{GlobalOpts, Run};
use crate::layout::{ContainerId, StateRoot};

/// Creates and starts a container. In the foreground, bulwark forwards signals to the
/// container's init, returns its exit code (128+N for a signal, like runc) and deletes
/// the container unless `--keep`.
pub fn run(global: &GlobalOpts, args: Run) -> Result<i32> {
    let id = ContainerId::parse(&args.container_id)?;
    let root = StateRoot::open(&global.root, true)?;
    let mut container = create_container(global, &root, &id, &args.opts, args.detach)?;
    // Block signals before start: a quick init could exit, and its SIGCHLD be lost,
    // between start and the first sigwait otherwise.
    let signals = SigSet::all();
    if !args.detach {
        signals
            .thread_block()
            .context("cannot block signals for forwarding")?;
    }
    if let Err(err) = start_container(&root, &id, &mut container) {
        let _ = remove_container(&root, &id);
        return Err(err);
    }
    if args.detach {
        return Ok(0);
    }
    let init = container
        .pid()
        .context("the container has no init pid after start")?;
    let exit_code = wait_forwarding_signals(&signals, init);
    if !args.keep {
        remove_container(&root, &id)?;
    }
    exit_code
}

/// Waits for `init` while forwarding every signal bulwark receives to it, as runc's
/// foreground mode does.
fn wait_forwarding_signals(signals: &SigSet, init: Pid) -> Result<i32> {
    if let Some(code) = reap(init)? {
        return Ok(code);
    }
    loop {
        match signals.wait().context("sigwait")? {
            Signal::SIGCHLD => {
                if let Some(code) = reap(init)? {
                    return Ok(code);
                }
            }
            // SIGURG is the Go runtime's preemption signal in runc-based tooling and
            // SIGWINCH concerns bulwark's own terminal: neither is for the container.
            Signal::SIGURG | Signal::SIGWINCH => {}
            signal => {
                if let Err(err) = kill(init, signal) {
                    tracing::warn!(?signal, %err, "cannot forward signal to the container");
                }
            }
        }
    }
}

/// Reaps exited children; returns the exit code once `init` has exited.
fn reap(init: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == init => {
                return Ok(Some(128 + signal as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(err) => return Err(err).context("waitpid"),
        }
    }
}

/// The exit code of a waited-for process, runc's way.
pub(super) fn exit_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        _ => 0,
    }
}
