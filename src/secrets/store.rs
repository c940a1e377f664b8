//! The per-container secrets tmpfs under bulwark's private directory
//! (`<root>/@bulwark/<id>/secrets`): mounted `nosuid,nodev,noexec` with a size limit,
//! its root directory 0700 and every file 0400, all owned by the container process's
//! uid/gid, then remounted read-only. Secret values live only in this memory-backed
//! filesystem; nothing is written to disk.

use std::fs::{DirBuilder, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmod, Mode};
use nix::unistd::{fchown, Gid, Uid};

use super::source::Opened;

/// The filesystem source shown in mountinfo, so the mount is recognisable on the host
/// and inside the container.
const MOUNT_SOURCE: &str = "bulwark-secrets";

/// Inodes beyond one per secret: the root directory, with room to spare.
const SPARE_INODES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("secrets: cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("secrets: {name:?} grew past secrets.max_bytes = {max} while it was copied")]
    Grew { name: String, max: u64 },
    #[error(
        "secrets: the secrets do not fit in the {size}-byte tmpfs; raise secrets.tmpfs_size_bytes"
    )]
    Full { size: u64 },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl Fn(Errno) -> StoreError + 'a {
    move |errno| StoreError::Io {
        action,
        path: path.to_owned(),
        source: errno.into(),
    }
}

/// Who owns the tmpfs and its files, as host ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// The tmpfs's limits.
pub struct Limits {
    pub size_bytes: u64,
    pub max_bytes: u64,
}

/// Mounts the tmpfs at `dir` (created here, inside the private directory) and writes
/// each secret into it. On error the caller removes what was made with [`remove`].
pub fn write(
    dir: &Path,
    owner: Owner,
    limits: &Limits,
    secrets: Vec<(&str, Opened)>,
) -> Result<(), StoreError> {
    let total: u64 = secrets.iter().map(|(_, opened)| opened.len).sum();
    if total > limits.size_bytes {
        return Err(StoreError::Full {
            size: limits.size_bytes,
        });
    }
    DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            action: "create",
            path: dir.to_owned(),
            source,
        })?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let options = format!(
        "size={},nr_inodes={},mode=0700,uid={},gid={}",
        limits.size_bytes,
        secrets.len() + SPARE_INODES,
        owner.uid,
        owner.gid
    );
    mount(
        Some(MOUNT_SOURCE),
        dir,
        Some("tmpfs"),
        flags,
        Some(options.as_str()),
    )
    .map_err(io_err("mount a tmpfs on", dir))?;

    let dir_fd = open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open", dir))?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let dir_fd = unsafe { OwnedFd::from_raw_fd(dir_fd) };
    for (name, mut opened) in secrets {
        write_one(&dir_fd, dir, name, &mut opened, owner, limits)?;
    }
    // Read-only from here on: not even a process on the host that reaches the private
    // directory can change what the container reads.
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(io_err("remount read-only", dir))
}

fn write_one(
    dir_fd: &OwnedFd,
    dir: &Path,
    name: &str,
    opened: &mut Opened,
    owner: Owner,
    limits: &Limits,
) -> Result<(), StoreError> {
    let path = dir.join(name);
    let fd = openat(
        Some(dir_fd.as_raw_fd()),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::S_IRUSR,
    )
    .map_err(io_err("create", &path))?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    fchown(
        fd,
        Some(Uid::from_raw(owner.uid)),
        Some(Gid::from_raw(owner.gid)),
    )
    .map_err(io_err("chown", &path))?;
    // The umask could have cleared bits of 0400, never added any; set it explicitly.
    fchmod(fd, Mode::S_IRUSR).map_err(io_err("chmod", &path))?;
    let mut limited = io::Read::take(&mut opened.file, limits.max_bytes + 1);
    let copied = io::copy(&mut limited, &mut file).map_err(|source| {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            StoreError::Full {
                size: limits.size_bytes,
            }
        } else {
            StoreError::Io {
                action: "copy into",
                path: path.clone(),
                source,
            }
        }
    })?;
    if copied > limits.max_bytes {
        return Err(StoreError::Grew {
            name: name.to_owned(),
            max: limits.max_bytes,
        });
    }
    Ok(())
}

/// Unmounts the tmpfs at `dir` and removes the directory. Nothing there is not an
/// error: `delete --force` after a create killed at any point calls this.
pub fn remove(dir: &Path) -> Result<(), StoreError> {
    // A lazy unmount takes the tmpfs out of the host's tree at once even if a process
    // of a half-deleted container still holds it; the memory is freed with the last
    // user. NOFOLLOW: a link planted at the path cannot redirect the unmount.
    match umount2(dir, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        // EINVAL: not a mount point (a create that failed before mounting, or a
        // second delete); ENOENT: no directory at all.
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(errno) => return Err(io_err("unmount", dir)(errno)),
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            action: "remove",
            path: dir.to_owned(),
            source,
        }),
    }
}
