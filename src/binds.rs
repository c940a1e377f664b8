//! Bind mounts from the host: checked and mounted through one descriptor.
//!
//! libcontainer 0.7 mounts a bind's `source` by path, looked up three times in the
//! container's init (realpath, stat, open_tree: rootfs/mount.rs), long after admission
//! looked at it. A source that is `/proc/<pid>/cwd` of a process that changes its cwd,
//! or a symlink swapped in an allowlisted directory (`renameat2(RENAME_EXCHANGE)`),
//! was admitted as one directory and mounted as another (host `/`, read-write).
//!
//! So a source is opened once, with openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
//! from `/`, after a lexical check (absolute, no `.` or `..`): no link anywhere on the
//! way, so the file opened is the one the path names, and admission decides on that
//! path and the descriptor's file type. At create the descriptor admission's rule
//! accepted (opened and checked again, see `pipeline`) is cloned with
//! `open_tree(OPEN_TREE_CLONE)` and attached at `<root>/@bulwark/<id>/binds/<n>`, a
//! directory only root can write; the effective spec names that path, which resolves
//! to exactly the mount bulwark made. The staged mounts leave the host's tree as soon as
//! libcontainer has cloned them into the container.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::linux::{LinuxSyscall, MOVE_MOUNT_F_EMPTY_PATH};
use libcontainer::syscall::Syscall;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::mount::{umount2, MntFlags};
use nix::unistd::{fchown, Gid, Uid};

use crate::user_namespace_staging::NamespaceRoot;

/// openat2 answers EAGAIN when a rename raced the lookup; retrying is the documented
/// answer, and a path that keeps racing is refused.
const RACE_RETRIES: usize = 8;

/// Why a source cannot be bound; the admission rule's "allowed" text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("an absolute path without \".\" or \"..\"")]
    NotPlain,
    #[error(
        "a path without symbolic links (the source or a directory on its way is a link; \
         name the real path)"
    )]
    Symlink,
    #[error("an existing path ({0})")]
    Missing(Errno),
    #[error("a Unix socket may not be bound in (container runtime sockets give host control)")]
    Socket,
    #[error("a directory or a regular file (this is a {0})")]
    Kind(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// A bind source, open.
#[derive(Debug)]
pub struct Source {
    /// O_PATH descriptor of the file the path named when it was opened.
    pub fd: OwnedFd,
    /// The path, which reached `fd` without a link, `.` or `..`.
    pub path: PathBuf,
    pub is_dir: bool,
}

/// Opens a bind source (absolute; the caller joins a relative one to the bundle).
pub fn open_source(path: &Path) -> Result<Source, SourceError> {
    let plain = path.is_absolute()
        && path
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain || path.to_string_lossy().split('/').any(|p| p == ".") {
        return Err(SourceError::NotPlain);
    }
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut result = Err(Errno::EAGAIN);
    for _ in 0..RACE_RETRIES {
        result = openat2(libc::AT_FDCWD, path, how);
        if result != Err(Errno::EAGAIN) {
            break;
        }
    }
    let fd = match result {
        // SAFETY: openat2 returned a new descriptor that nothing else owns.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
        Err(Errno::ELOOP | Errno::EXDEV) => return Err(SourceError::Symlink),
        Err(errno) => return Err(SourceError::Missing(errno)),
    };
    let metadata = fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|e| SourceError::Missing(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    let kind = metadata.file_type();
    if kind.is_socket() {
        return Err(SourceError::Socket);
    }
    if !kind.is_dir() && !kind.is_file() {
        let name = if kind.is_block_device() || kind.is_char_device() {
            "device"
        } else if kind.is_fifo() {
            "FIFO"
        } else {
            "special file"
        };
        return Err(SourceError::Kind(name));
    }
    Ok(Source {
        fd,
        path: path.to_owned(),
        is_dir: kind.is_dir(),
    })
}

/// A checked source waiting to be staged for mount `index` of the effective spec.
#[derive(Debug)]
pub struct Pinned {
    pub index: usize,
    pub source: Source,
    /// rbind: the clone takes the source's submounts along.
    pub recursive: bool,
    /// Where it is staged: `<binds dir>/<n>`.
    pub staged_at: PathBuf,
}

/// The error of `action` on `path`, for `map_err`.
fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StageError {
    let path = path.to_owned();
    move |source| StageError::Io {
        action,
        path,
        source,
    }
}

/// The staging directory `dir`, made (root's 0700) where it does not exist yet, and
/// given to the user namespace's root `owner` where the container has one:
/// libcontainer resolves what is staged there as that user
/// (crate::user_namespace_staging).
pub fn staging_dir(dir: &Path, owner: Option<NamespaceRoot>) -> Result<OwnedFd, StageError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(io_err("create", dir)(source)),
    }
    let dir_fd: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(io_err("open", dir))?
        .into();
    if let Some(owner) = owner {
        fchown(
            dir_fd.as_raw_fd(),
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        )
        .map_err(|errno| io_err("chown", dir)(errno.into()))?;
    }
    Ok(dir_fd)
}

/// Clones each pinned source's mount onto its staging path in `dir` and points the
/// spec's mount there. `dir` is root's, or the user namespace's root's when the container
/// has one: libcontainer resolves the staged paths as that user
/// (crate::user_namespace_staging).
pub fn stage(
    pinned: &[Pinned],
    dir: &Path,
    owner: Option<NamespaceRoot>,
    spec: &mut Spec,
) -> Result<(), StageError> {
    if pinned.is_empty() {
        return Ok(());
    }
    let dir_fd = staging_dir(dir, owner)?;
    let syscall = LinuxSyscall;
    for pin in pinned {
        let point = &pin.staged_at;
        let name = point
            .strip_prefix(dir)
            .ok()
            .and_then(|n| n.to_str())
            .filter(|n| !n.contains('/'))
            .ok_or_else(|| {
                io_err("stage outside the binds directory", point)(
                    io::ErrorKind::InvalidInput.into(),
                )
            })?;
        if pin.source.is_dir {
            DirBuilder::new().mode(0o700).create(point)
        } else {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(point)
                .map(drop)
        }
        .map_err(io_err("create the mount point", point))?;
        let mut flags =
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32;
        if pin.recursive {
            flags |= libc::AT_RECURSIVE as u32;
        }
        let tree = syscall
            .open_tree(pin.source.fd.as_raw_fd(), None, flags)
            .map_err(|e| io_err("clone the mount of", &pin.source.path)(io::Error::other(e)))?;
        syscall
            .move_mount(
                tree.as_fd(),
                None,
                dir_fd.as_fd(),
                Some(name),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
            .map_err(|e| io_err("attach the bind at", point)(io::Error::other(e)))?;
        if let Some(mount) = spec
            .mounts_mut()
            .as_mut()
            .and_then(|m| m.get_mut(pin.index))
        {
            mount.set_source(Some(point.clone()));
        }
    }
    Ok(())
}

/// Detaches every staged mount under `dir` and removes it. Nothing there is not an
/// error: `delete --force` after a create killed at any point calls this.
pub fn unstage(dir: &Path) -> Result<(), StageError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io_err("read", dir)(source)),
    };
    for entry in entries.flatten() {
        detach(&entry.path())?;
    }
    fs::remove_dir(dir).map_err(io_err("remove", dir))
}

/// Detaches the mount staged at `point` and removes its mount point (a directory or a
/// file). Nothing there is not an error.
pub fn detach(point: &Path) -> Result<(), StageError> {
    // Lazy: the copy in the container stays; NOFOLLOW: a link cannot redirect it.
    match umount2(point, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(errno) => return Err(io_err("unmount", point)(errno.into())),
    }
    let removed = match fs::symlink_metadata(point) {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir(point),
        Ok(_) => fs::remove_file(point),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", point)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_dots_and_special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(base.join("real")).unwrap();
        symlink(base.join("real"), base.join("link")).unwrap();
        assert!(open_source(&base.join("real")).unwrap().is_dir);
        assert_eq!(
            open_source(&base.join("link")).unwrap_err(),
            SourceError::Symlink
        );
        assert_eq!(
            open_source(&base.join("link/x")).unwrap_err(),
            SourceError::Symlink
        );
        assert_eq!(
            open_source(&base.join("real/../real")).unwrap_err(),
            SourceError::NotPlain
        );
        assert_eq!(
            open_source(Path::new("relative")).unwrap_err(),
            SourceError::NotPlain
        );
        // A magic link: /proc/self/cwd.
        assert_eq!(
            open_source(Path::new("/proc/self/cwd")).unwrap_err(),
            SourceError::Symlink
        );
        assert_eq!(
            open_source(Path::new("/dev/null")).unwrap_err(),
            SourceError::Kind("device")
        );
    }
}
