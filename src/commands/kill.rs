use std::path::Path;

use anyhow::{bail, Context, Result};
use libcgroups::common::{CgroupManager, FreezerState};
use libcontainer::container::{Container, ContainerStatus};
use nix::errno::Errno;
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use super::{cgroup_manager, load_container, open};
use crate::cli::Kill;

/// runc's kill: signals the init process (or, with `--all`, every process of the
/// container) and writes nothing. libcontainer's `Container::kill` also marks the
/// container stopped and rewrites state.json in place (not atomically) after any
/// signal, which races with a foreground `run` deleting the container when its init
/// exits.
pub fn kill(root: &Path, args: Kill) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let signal = parse_signal(&args.signal)?;
    let container = load_container(&root, &id)?;
    if args.all {
        return signal_all(&container, signal);
    }
    let status = container.status();
    if !matches!(
        status,
        ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
    ) {
        // runc's words: containerd's runc shim (checkKillError) takes a kill error that
        // contains "container not running" for "already stopped"; any other text fails
        // StopContainer/StopPodSandbox with Unknown when the init exits around the stop.
        bail!(
            "cannot kill container {id}: container not running (status {})",
            status.to_string().to_lowercase()
        );
    }
    let pid = container
        .pid()
        .context("the container's state has no init pid")?;
    deliver(pid, signal)?;
    // A process in a frozen cgroup v1 cannot act on SIGKILL until it is thawed.
    if status == ContainerStatus::Paused && signal == Signal::SIGKILL {
        cgroup_manager(&container)?
            .freeze(FreezerState::Thawed)
            .with_context(|| format!("cannot thaw container {id} for SIGKILL"))?;
    }
    Ok(())
}

/// Freezes the cgroup so no process can fork away from the signal, signals every
/// process in it, and thaws it again.
fn signal_all(container: &Container, signal: Signal) -> Result<()> {
    let manager = cgroup_manager(container)?;
    if let Err(err) = manager.freeze(FreezerState::Frozen) {
        tracing::warn!(id = container.id(), error = %err, "cannot freeze the container before kill --all");
    }
    let delivered = manager
        .get_all_pids()
        .context("cannot list the container's processes")
        .and_then(|pids| pids.into_iter().try_for_each(|pid| deliver(pid, signal)));
    manager
        .freeze(FreezerState::Thawed)
        .context("cannot thaw the container after kill --all")?;
    delivered
}

/// A process that is already gone is what a kill wants.
fn deliver(pid: Pid, signal: Signal) -> Result<()> {
    match send(pid, signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot send {signal} to pid {pid}")),
    }
}

/// runc's signal forms: a name with or without SIG ("TERM", "SIGTERM", any case) or a
/// number ("15").
fn parse_signal(text: &str) -> Result<Signal> {
    let parsed = match text.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => {
            let upper = text.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            name.parse().ok()
        }
    };
    parsed.with_context(|| format!("{text:?} is not a signal name or number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        for text in ["TERM", "SIGTERM", "sigterm", "15"] {
            assert_eq!(parse_signal(text).unwrap(), Signal::SIGTERM, "{text}");
        }
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
