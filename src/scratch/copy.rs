//! runc's `tmpcopyup`: what the image holds at a tmpfs mount's destination, copied into
//! the new tmpfs before it covers it: directories, regular files, symbolic links (as
//! links) and FIFOs, with their modes and owners.
//!
//! Every lookup goes through a descriptor. The destination is resolved from the rootfs
//! with openat2(RESOLVE_IN_ROOT), the way libcontainer 0.7 resolves the mount's
//! destination (libpathrs `Root::resolve`, rootfs/mount.rs `mount_into_container`): a
//! link in the image is followed inside the rootfs, so the directory copied is the one
//! the tmpfs will cover, and an absolute link (`/var/tmp -> /etc`) never reaches the
//! host's directory of that name. Below it nothing is followed: each entry is examined
//! with AT_SYMLINK_NOFOLLOW and opened O_NOFOLLOW, and a link is recreated, never read
//! through. Not copied: device nodes (the tmpfs is nodev) and sockets (no listener comes
//! with them); hard links become separate files; extended attributes and times are not
//! kept (runc keeps neither).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstat, fstatat, mkdirat, mknodat, FchmodatFlags, FileStat, Mode, SFlag,
};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

/// Directory levels below the destination that are copied; an image deeper than this
/// is refused, not copied in part.
const MAX_DEPTH: usize = 64;

/// openat2 answers EAGAIN when a rename raced the lookup; retrying is the documented
/// answer, and a path that keeps racing is refused.
const RACE_RETRIES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot {action} {path} (in the image) for its tmpfs: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{0} (in the image) holds more than the tmpfs mounted over it takes; raise the \
         mount's size= (at most admission.resources.max_tmpfs_bytes) or use notmpcopyup"
    )]
    Full(PathBuf),
    #[error("{0} (in the image) is more than {MAX_DEPTH} directories deep")]
    TooDeep(PathBuf),
    #[error("{0} (in the image) is not a directory; a tmpfs is mounted only on one")]
    NotADirectory(PathBuf),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl Fn(Errno) -> CopyError + 'a {
    move |errno| {
        if errno == Errno::ENOSPC || errno == Errno::EDQUOT {
            CopyError::Full(path.to_owned())
        } else {
            CopyError::Io {
                action,
                path: path.to_owned(),
                source: errno.into(),
            }
        }
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: the callers pass a descriptor a syscall just returned, owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// What the mount's own options set on the tmpfs root (`mode=`, `uid=`, `gid=`), which
/// the copied directory's do not override (runc's order: the directory's mode first,
/// the mount's data after it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Explicit {
    pub mode: bool,
    pub uid: bool,
    pub gid: bool,
}

impl Explicit {
    /// From tmpfs data options.
    pub fn of(data: &[String]) -> Self {
        let has = |key: &str| {
            data.iter()
                .any(|o| o.split_once('=').is_some_and(|(k, _)| k == key))
        };
        Self {
            mode: has("mode"),
            uid: has("uid"),
            gid: has("gid"),
        }
    }
}

/// Copies what `rootfs` holds at `destination` into the tmpfs whose root directory is
/// `target`, which takes the directory's mode and owner unless the mount set them
/// (`explicit`). Where the image has nothing there, the tmpfs root keeps its mode and is
/// owned like the rootfs's own root, as the directory libcontainer would create (as
/// the container's root) would be.
pub fn copy_up(
    rootfs: &Path,
    destination: &Path,
    target: &OwnedFd,
    explicit: Explicit,
) -> Result<(), CopyError> {
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(owned)
    .map_err(io_err("open the rootfs at", Path::new("/")))?;
    let relative = destination.strip_prefix("/").unwrap_or(destination);
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut opened = Err(Errno::EAGAIN);
    for _ in 0..RACE_RETRIES {
        opened = openat2(root.as_raw_fd(), relative, how);
        if opened != Err(Errno::EAGAIN) {
            break;
        }
    }
    let source = match opened {
        Ok(fd) => owned(fd),
        Err(Errno::ENOENT) => {
            let stat = fstat(root.as_raw_fd()).map_err(io_err("stat", Path::new("/")))?;
            let explicit = Explicit {
                mode: true,
                ..explicit
            };
            return set_root(target, &stat, explicit, destination);
        }
        Err(Errno::ENOTDIR) => return Err(CopyError::NotADirectory(destination.to_owned())),
        Err(errno) => return Err(io_err("open", destination)(errno)),
    };
    copy_dir(&source, target, destination, 0)?;
    let stat = fstat(source.as_raw_fd()).map_err(io_err("stat", destination))?;
    set_root(target, &stat, explicit, destination)
}

/// The tmpfs root takes `stat`'s owner and mode where the mount did not set them.
fn set_root(
    target: &OwnedFd,
    stat: &FileStat,
    explicit: Explicit,
    path: &Path,
) -> Result<(), CopyError> {
    let uid = (!explicit.uid).then(|| Uid::from_raw(stat.st_uid));
    let gid = (!explicit.gid).then(|| Gid::from_raw(stat.st_gid));
    fchown(target.as_raw_fd(), uid, gid).map_err(io_err("chown", path))?;
    if explicit.mode {
        return Ok(());
    }
    fchmod(
        target.as_raw_fd(),
        Mode::from_bits_truncate(stat.st_mode & 0o7777),
    )
    .map_err(io_err("chmod", path))
}

fn copy_dir(
    source: &OwnedFd,
    target: &OwnedFd,
    path: &Path,
    depth: usize,
) -> Result<(), CopyError> {
    if depth > MAX_DEPTH {
        return Err(CopyError::TooDeep(path.to_owned()));
    }
    let mut entries = Dir::openat(
        Some(source.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("list", path))?;
    let names: Vec<_> = entries
        .iter()
        .map(|entry| entry.map(|e| e.file_name().to_owned()))
        .collect::<Result<_, _>>()
        .map_err(io_err("list", path))?;
    for name in names {
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let entry_path = path.join(std::ffi::OsStr::from_bytes(bytes));
        let stat = fstatat(
            Some(source.as_raw_fd()),
            name.as_c_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io_err("stat", &entry_path))?;
        let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(Some(target.as_raw_fd()), name.as_c_str(), Mode::S_IRWXU)
                    .map_err(io_err("create", &entry_path))?;
                let from = open_subdir(source, &name).map_err(io_err("open", &entry_path))?;
                let to =
                    open_subdir(target, &name).map_err(io_err("open the copy of", &entry_path))?;
                copy_dir(&from, &to, &entry_path, depth + 1)?;
                set_owner_and_mode(&to, &stat, &entry_path)?;
            }
            SFlag::S_IFREG => {
                let from = openat(
                    Some(source.as_raw_fd()),
                    name.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map(owned)
                .map_err(io_err("open", &entry_path))?;
                let to = openat(
                    Some(target.as_raw_fd()),
                    name.as_c_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                )
                .map(owned)
                .map_err(io_err("create", &entry_path))?;
                let (mut from, mut to) = (File::from(from), File::from(to));
                io::copy(&mut from, &mut to).map_err(|e| {
                    io_err("copy", &entry_path)(Errno::from_raw(
                        e.raw_os_error().unwrap_or(libc::EIO),
                    ))
                })?;
                set_owner_and_mode(&OwnedFd::from(to), &stat, &entry_path)?;
            }
            SFlag::S_IFLNK => {
                let link = readlinkat(Some(source.as_raw_fd()), name.as_c_str())
                    .map_err(io_err("read the link", &entry_path))?;
                symlinkat(link.as_os_str(), Some(target.as_raw_fd()), name.as_c_str())
                    .map_err(io_err("create the link", &entry_path))?;
                chown_entry(target, &name, &stat).map_err(io_err("chown the link", &entry_path))?;
            }
            SFlag::S_IFIFO => {
                mknodat(
                    Some(target.as_raw_fd()),
                    name.as_c_str(),
                    SFlag::S_IFIFO,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                    0,
                )
                .map_err(io_err("create", &entry_path))?;
                chown_entry(target, &name, &stat).map_err(io_err("chown", &entry_path))?;
                // Just made, in a directory only root reaches: no link can be there.
                fchmodat(
                    Some(target.as_raw_fd()),
                    name.as_c_str(),
                    Mode::from_bits_truncate(stat.st_mode & 0o7777),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(io_err("chmod", &entry_path))?;
            }
            _ => {
                tracing::debug!(path = %entry_path.display(), "copy-up skips a device node or socket")
            }
        }
    }
    Ok(())
}

/// The directory `name` in `dir`, never through a link.
fn open_subdir(dir: &OwnedFd, name: &std::ffi::CStr) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(Some(dir.as_raw_fd()), name, flags, Mode::empty()).map(owned)
}

/// Gives the entry `name` just made in `target` the owner of the image's entry, without
/// following it (a link is chowned itself).
fn chown_entry(target: &OwnedFd, name: &std::ffi::CStr, stat: &FileStat) -> nix::Result<()> {
    fchownat(
        Some(target.as_raw_fd()),
        name,
        Some(Uid::from_raw(stat.st_uid)),
        Some(Gid::from_raw(stat.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// Owner first: chown clears the set-id bits a chmod then sets again.
fn set_owner_and_mode(fd: &OwnedFd, stat: &FileStat, path: &Path) -> Result<(), CopyError> {
    fchown(
        fd.as_raw_fd(),
        Some(Uid::from_raw(stat.st_uid)),
        Some(Gid::from_raw(stat.st_gid)),
    )
    .map_err(io_err("chown", path))?;
    fchmod(
        fd.as_raw_fd(),
        Mode::from_bits_truncate(stat.st_mode & 0o7777),
    )
    .map_err(io_err("chmod", path))
}
