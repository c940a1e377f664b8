//! Writable scratch space under the read-only rootfs: runc's tmpfs extensions.
//!
//! The baseline makes every rootfs read-only, so a container writes only to tmpfs
//! mounts (and engine-managed binds). Engines ask for them in runc's dialect: Podman's
//! `--tmpfs` and `--read-only` add `tmpcopyup` (the image's files at the destination are
//! copied into the new tmpfs before it covers them), `:notmpcopyup` turns that off, and
//! crun's `copy-symlink` asks for a link source to be bound as a link. libcontainer 0.7
//! knows none of them: rootfs/utils.rs `parse_mount` hands every word it does not know
//! to the kernel as filesystem data, and tmpfs answers EINVAL ("failed to prepare
//! rootfs"). [`plan`] takes them out of the effective spec, recording each as a change;
//! options that would be lost or misread instead are refused by admission
//! (`mounts.options`, crate::admission::mounts).
//!
//! The copy-up cannot be left to libcontainer, nor done in the container: libcontainer
//! makes a tmpfs (fsopen, fsmount) and moves it onto its destination in one step of the
//! init's rootfs preparation, with no point between where the contents it covers could
//! be copied, and once it is attached they are out of reach. So bulwark makes the tmpfs
//! itself, as it does the secrets tmpfs: [`Plan::stage`] mounts it at
//! `<root>/@bulwark/<id>/scratch/<n>` (a directory only root can reach) with the
//! mount's own size and data options, copies the image's contents into it from the
//! rootfs (see `copy`: descriptor-relative, no link followed out of the rootfs), and
//! turns the spec's mount into a bind of it carrying the mount's flags. libcontainer
//! clones it into the container's mount namespace with open_tree like any bind, and the
//! host's copy is detached as soon as create returns (`binds::unstage`, as for staged
//! binds): the tmpfs then lives exactly as long as the container's mounts.
//!
//! Not for a container with a user namespace: libcontainer's init opens a bind source
//! (canonicalize, open_tree by path) as the namespace's root, to whom bulwark's private
//! directory (root-owned, 0700) is closed. There `tmpcopyup` is taken out with a change
//! saying so and libcontainer mounts the tmpfs empty, as runc does with `notmpcopyup`.
//!
//! Limits: the tmpfs keeps the `size=` the baseline requires and admission bounds
//! (`resources.disk`). Its pages are charged to the memory cgroup of the process that
//! writes them: everything the container writes to the container's limit, the copied
//! image files (at most `size=`) to bulwark's create.

mod copy;

use std::fs::DirBuilder;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{Mount, Spec};
use libcontainer::rootfs::utils::parse_mount;
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use serde_json::Value;

use crate::baseline::Change;

pub use copy::CopyError;

/// runc: copy the image's contents at the destination into the new tmpfs.
pub const TMPCOPYUP: &str = "tmpcopyup";
/// runc: do not (Podman's `--tmpfs DIR:notmpcopyup`).
pub const NOTMPCOPYUP: &str = "notmpcopyup";
/// crun: bind a symbolic-link source as a link. bulwark refuses a link as a bind
/// source (crate::binds), so on a source it accepts the option changes nothing.
pub const COPY_SYMLINK: &str = "copy-symlink";

/// The runtime extensions [`plan`] takes out of a mount's options.
pub const EXTENSIONS: [&str; 3] = [TMPCOPYUP, NOTMPCOPYUP, COPY_SYMLINK];

/// The filesystem source shown in mountinfo, so the mount is recognisable on the host
/// and inside the container.
const MOUNT_SOURCE: &str = "bulwark-scratch";

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("scratch tmpfs at {destination}: cannot {action} {path}: {source}")]
    Io {
        destination: PathBuf,
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("scratch tmpfs at {destination}: {message}")]
    Options {
        destination: PathBuf,
        message: String,
    },
    #[error("scratch tmpfs: {0}")]
    Copy(#[from] CopyError),
}

/// The tmpfs mounts to copy up, by index in the effective spec.
#[derive(Debug, Default)]
pub struct Plan {
    copy_up: Vec<usize>,
}

/// The pipeline stage (after the baseline, which adds its scratch tmpfs with
/// `tmpcopyup`, and after secrets, which move mounts): takes the runtime extensions
/// out of every mount's options and notes the tmpfs mounts to copy up. Where a mount
/// names both `tmpcopyup` and `notmpcopyup`, the last one wins (runc's rule).
pub fn plan(spec: &mut Spec, changes: &mut Vec<Change>) -> Plan {
    let mut plan = Plan::default();
    // With a user namespace the init resolves bind sources as the namespace's root,
    // which cannot search bulwark's 0700 private directory.
    let stageable = !crate::id_mapping::has_user_namespace(spec);
    let Some(mounts) = spec.mounts_mut() else {
        return plan;
    };
    for (index, mount) in mounts.iter_mut().enumerate() {
        let Some(before) = mount.options().clone() else {
            continue;
        };
        let copy_up = mount.typ().as_deref() == Some("tmpfs")
            && before
                .iter()
                .rfind(|o| *o == TMPCOPYUP || *o == NOTMPCOPYUP)
                .is_some_and(|o| o == TMPCOPYUP);
        let options: Vec<String> = before
            .iter()
            .filter(|o| !EXTENSIONS.contains(&o.as_str()))
            .cloned()
            .collect();
        if copy_up && stageable {
            plan.copy_up.push(index);
        }
        if options.len() == before.len() {
            continue;
        }
        changes.push(Change {
            control: "mount-options",
            path: format!("mounts[{index}].options"),
            before: serde_json::to_value(&before).unwrap_or(Value::Null),
            after: serde_json::to_value(&options).unwrap_or(Value::Null),
            reason: if copy_up && !stageable {
                "tmpcopyup is not done for a container with a user namespace: libcontainer \
                 0.7 opens a bind source from inside it, where bulwark's private directory \
                 is out of reach, so the tmpfs is mounted empty"
            } else {
                "runc's tmpcopyup and notmpcopyup and crun's copy-symlink are not mount \
                 options: bulwark copies the image's contents into the tmpfs itself \
                 (tmpcopyup); copy-symlink has no effect on the non-link sources bulwark \
                 binds"
            },
        });
        mount.set_options(Some(options));
    }
    plan
}

impl Plan {
    /// Mounts each tmpfs to copy up at `<dir>/<n>`, copies the image's contents at its
    /// destination into it from `rootfs`, and points the spec's mount there as a bind.
    /// On error the caller detaches what was made (`binds::unstage(dir)`).
    pub fn stage(&self, rootfs: &Path, dir: &Path, spec: &mut Spec) -> Result<(), ScratchError> {
        if self.copy_up.is_empty() {
            return Ok(());
        }
        let mounts = spec
            .mounts_mut()
            .as_mut()
            .expect("the plan names mounts of this spec");
        let first = mounts[self.copy_up[0]].destination().clone();
        DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|source| ScratchError::Io {
                destination: first,
                action: "create",
                path: dir.to_owned(),
                source,
            })?;
        for (n, index) in self.copy_up.iter().enumerate() {
            let point = dir.join(n.to_string());
            let mount = &mut mounts[*index];
            stage_one(rootfs, &point, mount)?;
        }
        Ok(())
    }
}

fn stage_one(rootfs: &Path, point: &Path, spec_mount: &mut Mount) -> Result<(), ScratchError> {
    let destination = spec_mount.destination().clone();
    let io_err = |action, path: &Path| {
        let (destination, path) = (destination.clone(), path.to_owned());
        move |errno: Errno| ScratchError::Io {
            destination,
            action,
            path,
            source: errno.into(),
        }
    };
    // libcontainer's own reading of the options: the flags its bind will set (the
    // staged mount carries the same nosuid, nodev and noexec, which a bind clone keeps)
    // and the data the kernel's tmpfs takes (size=, mode=...).
    let parsed = parse_mount(spec_mount).map_err(|e| ScratchError::Options {
        destination: destination.clone(),
        message: e.to_string(),
    })?;
    DirBuilder::new()
        .mode(0o700)
        .create(point)
        .map_err(|e| io_err("create", point)(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    let flags = parsed.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let data = parsed.data.join(",");
    mount(
        Some(MOUNT_SOURCE),
        point,
        Some("tmpfs"),
        flags,
        Some(data.as_str()),
    )
    .map_err(io_err("mount a tmpfs on", point))?;
    let root = open(
        point,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open", point))?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let root = unsafe { OwnedFd::from_raw_fd(root) };
    copy::copy_up(
        rootfs,
        &destination,
        &root,
        copy::Explicit::of(&parsed.data),
    )?;
    let options: Vec<String> = spec_mount
        .options()
        .iter()
        .flatten()
        .filter(|o| !parsed.data.contains(o))
        .cloned()
        .chain(["bind".to_owned(), "rprivate".to_owned()])
        .collect();
    spec_mount.set_typ(Some("bind".to_owned()));
    spec_mount.set_source(Some(point.to_owned()));
    spec_mount.set_options(Some(options));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mounts: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "/rootfs"},
            "mounts": mounts,
        }))
        .unwrap()
    }

    #[test]
    fn extensions_are_taken_out_and_the_last_copy_up_word_wins() {
        let mut spec = spec(serde_json::json!([
            {"destination": "/a", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "tmpcopyup", "size=1m"]},
            {"destination": "/b", "type": "tmpfs", "source": "tmpfs",
             "options": ["tmpcopyup", "notmpcopyup"]},
            {"destination": "/c", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
            {"destination": "/d", "type": "bind", "source": "/srv",
             "options": ["rbind", "copy-symlink", "tmpcopyup"]},
        ]));
        let mut changes = Vec::new();
        let plan = plan(&mut spec, &mut changes);
        assert_eq!(plan.copy_up, [0]);
        let options: Vec<_> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.options().clone().unwrap())
            .collect();
        assert_eq!(
            options,
            [
                vec!["nosuid", "size=1m"],
                vec![],
                vec!["size=1m"],
                vec!["rbind"]
            ]
        );
        let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "mounts[0].options",
                "mounts[1].options",
                "mounts[3].options"
            ]
        );
    }
}
