//! One module a subcommand. Commands use `anyhow` to add context to the module errors
//! they roll up; `main` turns the final error into runc's log line and exit code.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libcgroups::common::{AnyCgroupManager, CgroupConfig};
use libcontainer::container::{Container, State};

use crate::container_state::ContainerStateError;
use crate::layout::{ContainerId, ContainerRecord, LayoutError, StateRoot};

pub mod apparmor;
pub mod create;
mod decision;
pub mod delete;
pub mod doctor;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod token;
pub mod update;
pub mod validate;

/// Opens an existing root (commands other than create/run never create one) and parses
/// the id before any path is built from it.
fn open(root: &std::path::Path, id: &str) -> Result<(StateRoot, ContainerId)> {
    let id = ContainerId::parse(id)?;
    let root = StateRoot::open(root, false).map_err(|err| match err {
        // runc's wording when nothing was ever created under this root.
        LayoutError::Root { .. } => LayoutError::NotFound(id.to_string()),
        other => other,
    })?;
    Ok((root, id))
}

fn load_container(root: &StateRoot, id: &ContainerId) -> Result<Container> {
    match crate::container_state::load(&root.container_dir(id)) {
        Err(ContainerStateError::Missing(_)) => Err(LayoutError::NotFound(id.to_string()).into()),
        loaded => loaded.with_context(|| format!("cannot load the state of container {id}")),
    }
}

fn cgroup_manager(container: &Container) -> Result<AnyCgroupManager> {
    let config = container.spec().with_context(|| {
        format!(
            "cannot read the saved config of container {}",
            container.id()
        )
    })?;
    Ok(libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_owned(),
    })?)
}

/// libcontainer's start, then the poststart hooks, which bulwark runs itself
/// (crate::hooks).
fn start_container(root: &StateRoot, id: &ContainerId, container: &mut Container) -> Result<()> {
    let record = ContainerRecord::load(root, id)?;
    let has_start_hooks = container
        .spec()
        .ok()
        .and_then(|c| c.hooks)
        .is_some_and(|h| {
            h.start_container()
                .as_ref()
                .is_some_and(|list| !list.is_empty())
        });
    let pid = container.pid().map(|p| p.as_raw());
    let before = pid.and_then(crate::hooks::Executable::of);
    container
        .start()
        .with_context(|| format!("cannot start container {id}"))?;
    if let (true, Some(pid), Some(before)) = (has_start_hooks, pid, before) {
        crate::hooks::wait_for_start_container_hooks(pid, before)
            .with_context(|| format!("cannot start container {id}"))?;
    }
    crate::hooks::poststart(record.hooks.as_ref(), &container.state, &record.bundle);
    Ok(())
}

/// Removes everything a container left under the root: libcontainer's state, cgroup
/// and processes (through its forced delete), the secrets tmpfs, then bulwark's private
/// directory. Used by `delete` and after a failed create, so a failure leaves nothing
/// behind.
fn remove_container(root: &StateRoot, id: &ContainerId) -> Result<()> {
    remove_container_after(root, id, None)
}

/// `remove_container`, running the container's poststop hooks (crate::hooks) once its
/// libcontainer state is gone: with that state when this call removed it, else with
/// `handed_over` (a failed create's, whose state libcontainer removed itself). Only the
/// call that removes the state runs them, so a retried delete never runs them twice.
fn remove_container_after(
    root: &StateRoot,
    id: &ContainerId,
    handed_over: Option<State>,
) -> Result<()> {
    let record = ContainerRecord::load(root, id).ok();
    let removed = remove_libcontainer_state(root, id);
    if let (Some(record), Ok(deleted)) = (&record, &removed) {
        if let Some(state) = deleted.as_ref().or(handed_over.as_ref()) {
            crate::hooks::poststop(record.hooks.as_ref(), state, &record.bundle);
        }
    }
    // The cgroup bulwark claimed for the container. libcontainer's delete removed it,
    // except where its state could not name the processes (a create killed inside
    // libcontainer's state save): then the init still waits in it, and the reap kills
    // it. A claim whose inode was never recorded (killed right after the mkdir) has
    // had nothing forked into it: `rmdir` only.
    let reaped = match &record {
        Some(ContainerRecord {
            claimed_cgroup: Some(dir),
            claimed_cgroup_inode: Some(inode),
            ..
        }) => crate::cgroups::reap(dir, *inode).map(|reaped| {
            if reaped.killed > 0 {
                tracing::warn!(%id, killed = reaped.killed, "killed the processes of an interrupted create");
            }
        }),
        Some(ContainerRecord {
            claimed_cgroup: Some(dir),
            claimed_cgroup_inode: None,
            ..
        }) => {
            if removed.is_ok() {
                crate::cgroups::release(dir);
            }
            Ok(())
        }
        _ => Ok(()),
    };
    // The secrets tmpfs goes even when libcontainer's delete failed (it cannot remove
    // the cgroup of a create killed half-way until its processes are gone): the values
    // must not stay mounted on the host until a retry. Unmounted before the private
    // directory goes: removing it recursively would stop at the mount.
    crate::secrets::remove(&root.secrets_dir(id))?;
    crate::binds::unstage(&crate::pipeline::binds_dir(&root.secrets_dir(id)))?;
    crate::binds::unstage(&crate::pipeline::scratch_dir(&root.secrets_dir(id)))?;
    crate::rootfs_idmap::unstage(&root.private_dir(id))?;
    removed?;
    reaped.with_context(|| format!("cannot delete container {id}; retry `delete --force {id}`"))?;
    // Its processes are gone: the host range may go to another container.
    crate::user_namespace_pool::release(root, id)?;
    root.release(id)?;
    Ok(())
}

/// How long a forced delete keeps retrying while the processes of a killed create exit.
const DELETE_RETRY_FOR: Duration = Duration::from_secs(5);
const DELETE_RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// libcontainer's state, cgroup and processes, through its forced delete; the state of
/// the container it deleted, `None` when there was none.
///
/// libcontainer SIGKILLs the processes in the container's cgroup and then gives the
/// cgroup about 100 ms to empty before it gives up. A create killed half-way (state
/// still `creating`, no init pid recorded) leaves processes that only that cgroup
/// removal kills, and on a loaded host they can take longer to exit: the delete failed,
/// and the engine, which does not retry, left the cgroup behind. So the forced delete is
/// retried (each attempt kills what is still in the cgroup again) for a few seconds.
fn remove_libcontainer_state(root: &StateRoot, id: &ContainerId) -> Result<Option<State>> {
    let dir = root.container_dir(id);
    let deadline = Instant::now() + DELETE_RETRY_FOR;
    let mut attempt = 1u32;
    loop {
        if !dir.exists() {
            return Ok(None);
        }
        let loaded = crate::container_state::load(&dir);
        if attempt == 1 && !matches!(&loaded, Ok(container) if container.pid().is_some()) {
            // libcontainer's directory exists but names no init: a create killed after
            // libcontainer began. Its intermediate and init processes, unknown to the
            // state, could still make the cgroups after they are removed here (see
            // `stragglers`); the ones already in the cgroup are reaped after.
            crate::stragglers::kill_create_stragglers(root.path(), id.as_str());
        }
        let mut container = match loaded {
            Ok(container) => container,
            Err(err) => {
                // A create killed while libcontainer wrote its state leaves a directory
                // without a readable state.json: remove it (the processes it forked are
                // in bulwark's claimed cgroup, which the caller reaps).
                tracing::warn!(%id, error = %err, "removing container directory without a readable state");
                return fs::remove_dir_all(&dir)
                    .map(|()| None)
                    .with_context(|| format!("cannot remove {}", dir.display()));
            }
        };
        match container.delete(true) {
            Ok(()) => return Ok(Some(container.state)),
            Err(err) if Instant::now() < deadline => {
                tracing::warn!(%id, attempt, error = %err, "forced delete failed; retrying while the container's processes exit");
                attempt += 1;
                std::thread::sleep(DELETE_RETRY_INTERVAL);
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!(
                        "cannot delete container {id} ({attempt} attempts in {} s): its \
                         processes have not exited; retry `delete --force {id}`",
                        DELETE_RETRY_FOR.as_secs()
                    )
                })
            }
        }
    }
}
