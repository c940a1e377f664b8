//! Mount points the image lacks, made in the engine's rootfs before the read-only view
//! covers it.
//!
//! libcontainer makes a missing mount point before mounting on it (rootfs/mount.rs, by
//! libpathrs `create_file` / `mkdir_all` inside the rootfs), as runc does. Without a
//! user namespace it does so as host root, in the engine's rootfs: Podman's
//! `/etc/hosts`, `/etc/hostname` and `/run/.containerenv`, absent from most images, land
//! in the overlay's upper directory. In the read-only view that fails (EROFS; and
//! before the view, EACCES: the namespace's root does not own the engine's
//! directories), so Podman could not run a container in auto mode at all. bulwark
//! makes them first, as libcontainer would have without the user namespace: each
//! destination resolved inside the rootfs (openat2 `RESOLVE_IN_ROOT`, as libpathrs
//! resolves it, so an image's link cannot lead out of it), directories 0755 and files
//! 0644 (libcontainer's modes), owned by root (the container's root through the view).
//! What cannot be made here is left to libcontainer, which refuses the container with
//! its own error.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path};

use libcontainer::oci_spec::runtime::Mount;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

/// Makes the missing mount points of `mounts` in the rootfs open at `rootfs`. A mount
/// inside an earlier one (`/dev/pts` in the `/dev` tmpfs) is that mount's, not the
/// rootfs's.
pub fn make_missing(rootfs: &OwnedFd, mounts: &[Mount]) {
    for (index, mount) in mounts.iter().enumerate() {
        let destination = mount.destination();
        let inside_earlier = mounts[..index]
            .iter()
            .any(|earlier| destination.starts_with(earlier.destination()));
        if inside_earlier || !destination.is_absolute() {
            continue;
        }
        let is_file = is_bind(mount)
            && mount
                .source()
                .as_ref()
                .is_some_and(|source| source.metadata().is_ok_and(|m| !m.is_dir()));
        if let Err(errno) = make(rootfs, destination, is_file) {
            tracing::debug!(destination = %destination.display(), %errno,
                "mount point not made before the view; left to libcontainer");
        }
    }
}

fn is_bind(mount: &Mount) -> bool {
    mount.typ().as_deref() == Some("bind")
        || mount
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

fn resolve(rootfs: &OwnedFd, relative: &Path) -> Result<OwnedFd, Errno> {
    if relative.as_os_str().is_empty() {
        return openat(
            Some(rootfs.as_raw_fd()),
            ".",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        // SAFETY: openat returned a new descriptor that nothing else owns.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(rootfs.as_raw_fd(), relative, how)
        // SAFETY: openat2 returned a new descriptor that nothing else owns.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes `destination` (its missing directories, then the directory or file itself).
fn make(rootfs: &OwnedFd, destination: &Path, is_file: bool) -> Result<(), Errno> {
    let names: Vec<_> = destination
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(Ok(name)),
            Component::RootDir | Component::CurDir => None,
            Component::ParentDir | Component::Prefix(_) => Some(Err(Errno::EINVAL)),
        })
        .collect::<Result<_, _>>()?;
    let Some((last, parents)) = names.split_last() else {
        return Ok(());
    };
    let mut walked = std::path::PathBuf::new();
    let mut parent = resolve(rootfs, &walked)?;
    for name in parents {
        walked.push(name);
        parent = match resolve(rootfs, &walked) {
            Ok(dir) => dir,
            Err(Errno::ENOENT) => {
                ignore_exists(mkdirat(
                    Some(parent.as_raw_fd()),
                    *name,
                    Mode::from_bits_truncate(0o755),
                ))?;
                resolve(rootfs, &walked)?
            }
            Err(errno) => return Err(errno),
        };
    }
    walked.push(last);
    if is_file {
        let made = openat(
            Some(parent.as_raw_fd()),
            *last,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        );
        // SAFETY: openat returned a new descriptor that nothing else owns.
        return ignore_exists(made.map(|fd| drop(unsafe { OwnedFd::from_raw_fd(fd) })));
    }
    match resolve(rootfs, &walked) {
        Ok(_) => Ok(()),
        Err(Errno::ENOENT) => ignore_exists(mkdirat(
            Some(parent.as_raw_fd()),
            *last,
            Mode::from_bits_truncate(0o755),
        )),
        Err(errno) => Err(errno),
    }
}

/// Another create, or the image, made it first (or a link stands there, which
/// libcontainer resolves itself).
fn ignore_exists(result: Result<(), Errno>) -> Result<(), Errno> {
    match result {
        Err(Errno::EEXIST) => Ok(()),
        other => other,
    }
}
