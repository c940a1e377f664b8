//! The descriptors a caller passes into the container with `--preserve-fds N`: fds
//! 3..3+N of bulwark's own process stay open across the container's execve. They come
//! from the caller, not from the spec, so they are judged here by what they are (fstat)
//! and recorded in the audit record by number and type, never by content or path.
//!
//! An open directory is CVE-2024-21626's class: a process holding one reaches the
//! host's tree through `openat(fd, "..")` or `fchdir`, whatever the rootfs. A socket
//! reaches whatever listens at its other end (a host daemon), so it is refused unless
//! the host config allows it (systemd socket activation passes listening sockets).

use std::fs;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

use serde::Serialize;

use super::Violation;
use crate::config::PreserveFdsConfig;

pub const PRESERVED: &str = "fds.preserved";

/// What a preserved descriptor is, by its file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FdKind {
    File,
    Directory,
    Socket,
    Pipe,
    CharDevice,
    BlockDevice,
    Symlink,
    /// No file type: an anonymous inode (eventfd, epoll, signalfd, pidfd, …).
    Other,
}

impl FdKind {
    fn of(mode: libc::mode_t) -> Self {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Self::File,
            libc::S_IFDIR => Self::Directory,
            libc::S_IFSOCK => Self::Socket,
            libc::S_IFIFO => Self::Pipe,
            libc::S_IFCHR => Self::CharDevice,
            libc::S_IFBLK => Self::BlockDevice,
            libc::S_IFLNK => Self::Symlink,
            _ => Self::Other,
        }
    }

    fn described(self) -> &'static str {
        match self {
            Self::File => "a regular file",
            Self::Directory => "a directory",
            Self::Socket => "a socket",
            Self::Pipe => "a pipe",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Symlink => "a symbolic link",
            Self::Other => "an anonymous inode (eventfd, epoll, signalfd, pidfd, …)",
        }
    }
}

/// One descriptor that reaches the container, as the audit record lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PreservedFd {
    pub fd: RawFd,
    #[serde(rename = "type")]
    pub kind: FdKind,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot inspect the descriptors --preserve-fds passes into the container: {0}")]
pub struct InspectError(#[from] io::Error);

/// How many descriptors after stdio libcontainer leaves open: `--preserve-fds` plus
/// `LISTEN_FDS` from bulwark's own environment, which libcontainer 0.7's init adds for
/// systemd socket activation (process/init/process.rs) whatever the flag says.
pub fn count(preserve_fds: i32) -> i32 {
    let listen_fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    preserve_fds.saturating_add(listen_fds)
}

/// The open descriptors in 3..3+`count` that the container inherits: those without
/// close-on-exec. libcontainer marks every descriptor from 3+`count` on close-on-exec
/// and leaves these as they are, and bulwark opens its own descriptors close-on-exec,
/// so one with the flag in the range is bulwark's and never reaches the container.
pub fn inspect(count: i32) -> Result<Vec<PreservedFd>, InspectError> {
    if count <= 0 {
        return Ok(Vec::new());
    }
    let end = 3 + i64::from(count);
    // Listed rather than probed one by one: N may be far above the fds open.
    let mut fds: Vec<RawFd> = fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd: &RawFd| (3..end).contains(&i64::from(*fd)))
        .collect();
    fds.sort_unstable();
    let mut preserved = Vec::new();
    for fd in fds {
        // SAFETY: F_GETFD only reads the flags of a descriptor number; the listing's
        // own descriptor is closed by now and answers EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 || flags & libc::FD_CLOEXEC != 0 {
            continue;
        }
        let mut stat = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat fills `stat` for an open descriptor and nothing else.
        if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error().into());
        }
        // SAFETY: fstat returned 0, so it initialised `stat`.
        let mode = unsafe { stat.assume_init() }.st_mode;
        preserved.push(PreservedFd {
            fd,
            kind: FdKind::of(mode),
        });
    }
    Ok(preserved)
}

/// Regular files, pipes and character devices (a terminal, /dev/null) may reach the
/// container; sockets only when configured; directories, block devices, links and
/// anonymous inodes never.
pub fn admit(fds: &[PreservedFd], config: &PreserveFdsConfig) -> Vec<Violation> {
    fds.iter()
        .filter(|fd| match fd.kind {
            FdKind::File | FdKind::Pipe | FdKind::CharDevice => false,
            FdKind::Socket => !config.allow_sockets,
            FdKind::Directory | FdKind::BlockDevice | FdKind::Symlink | FdKind::Other => true,
        })
        .map(|fd| Violation {
            rule: PRESERVED,
            path: format!("--preserve-fds fd {}", fd.fd),
            value: fd.kind.described().to_owned(),
            allowed: "only regular files, pipes and character devices (sockets with \
                      admission.preserve_fds.allow_sockets = true); a directory reaches \
                      the host's tree (CVE-2024-21626)"
                .to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    /// Descriptors at their own numbers without close-on-exec, as a caller passes them.
    fn inherited(fd: RawFd) {
        // SAFETY: clears FD_CLOEXEC on a descriptor the test owns.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    }

    #[test]
    fn descriptors_are_typed_and_only_inherited_ones_count() {
        let dir = fs::File::open("/").unwrap();
        let (socket, _peer) = UnixStream::pair().unwrap();
        let file = tempfile::tempfile().unwrap();
        let (pipe, _writer) = io::pipe().unwrap();
        let kept = fs::File::open("/dev/null").unwrap();
        for fd in [
            dir.as_raw_fd(),
            socket.as_raw_fd(),
            file.as_raw_fd(),
            pipe.as_raw_fd(),
        ] {
            inherited(fd);
        }
        let all = inspect(i32::MAX - 3).unwrap();
        let kind = |fd: RawFd| all.iter().find(|p| p.fd == fd).map(|p| p.kind);
        assert_eq!(kind(dir.as_raw_fd()), Some(FdKind::Directory));
        assert_eq!(kind(socket.as_raw_fd()), Some(FdKind::Socket));
        assert_eq!(kind(file.as_raw_fd()), Some(FdKind::File));
        assert_eq!(kind(pipe.as_raw_fd()), Some(FdKind::Pipe));
        // Close-on-exec: bulwark's own, never the container's.
        assert_eq!(kind(kept.as_raw_fd()), None);
        assert!(inspect(0).unwrap().is_empty());
    }

    #[test]
    fn directories_and_sockets_are_refused_unless_sockets_are_allowed() {
        let fds = [
            PreservedFd {
                fd: 3,
                kind: FdKind::File,
            },
            PreservedFd {
                fd: 4,
                kind: FdKind::Directory,
            },
            PreservedFd {
                fd: 5,
                kind: FdKind::Socket,
            },
            PreservedFd {
                fd: 6,
                kind: FdKind::Pipe,
            },
            PreservedFd {
                fd: 7,
                kind: FdKind::BlockDevice,
            },
        ];
        let refused = |allow_sockets| -> Vec<String> {
            admit(&fds, &PreserveFdsConfig { allow_sockets })
                .into_iter()
                .map(|v| v.path)
                .collect()
        };
        assert_eq!(
            refused(false),
            [
                "--preserve-fds fd 4",
                "--preserve-fds fd 5",
                "--preserve-fds fd 7"
            ]
        );
        assert_eq!(
            refused(true),
            ["--preserve-fds fd 4", "--preserve-fds fd 7"]
        );
    }
}
