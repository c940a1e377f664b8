//! Where the secrets directory lands in the rootfs.
//!
//! libcontainer 0.7 resolves every mount destination inside the rootfs with libpathrs
//! (`Root::mkdir_all` and `Root::resolve`, then an fd-based `move_mount`), so a link in
//! the destination's path is followed *within* the rootfs and can never put a mount on
//! the host: with `/run -> /host`, `/run/secrets` would become `<rootfs>/host/secrets`.
//! bulwark is stricter for secrets: the target must consist of real directories (or
//! not exist yet), checked with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS), so the
//! secrets appear exactly at the configured path or the container is refused. A link
//! swapped in after this check is still contained by libcontainer's resolution.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// openat2 answers EAGAIN when a rename raced the lookup; see `source`.
const RACE_RETRIES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "secrets: the target {target} crosses a symbolic link in the rootfs {rootfs}; secrets \
         are mounted only at a path of real directories (set secrets.target or fix the image)"
    )]
    Symlink { target: PathBuf, rootfs: PathBuf },
    #[error("secrets: the target {target} is not a directory in the rootfs {rootfs}")]
    NotDirectory { target: PathBuf, rootfs: PathBuf },
    #[error("secrets: cannot look up the target {target} in the rootfs {rootfs}: {source}")]
    Io {
        target: PathBuf,
        rootfs: PathBuf,
        source: io::Error,
    },
}

/// Checks that `target` (absolute, inside the container) is a directory of `rootfs` or
/// does not exist yet, with no link on the way.
pub fn check(rootfs: &Path, target: &Path) -> Result<(), TargetError> {
    let io_err = |errno: Errno| TargetError::Io {
        target: target.to_owned(),
        rootfs: rootfs.to_owned(),
        source: errno.into(),
    };
    let root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err)?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let root = unsafe { OwnedFd::from_raw_fd(root) };
    let relative = target.strip_prefix("/").unwrap_or(target);
    // No O_NOFOLLOW: with it, a trailing link would be opened rather than refused.
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_IN_ROOT
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    for _ in 0..RACE_RETRIES {
        match openat2(std::os::fd::AsRawFd::as_raw_fd(&root), relative, how) {
            Ok(fd) => {
                // SAFETY: openat2 returned a new descriptor that nothing else owns.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                return Ok(());
            }
            // Resolution stops at the first missing directory, after every component
            // before it was checked; libcontainer creates the rest inside the rootfs.
            Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::ELOOP) => {
                return Err(TargetError::Symlink {
                    target: target.to_owned(),
                    rootfs: rootfs.to_owned(),
                })
            }
            Err(Errno::ENOTDIR) => {
                return Err(TargetError::NotDirectory {
                    target: target.to_owned(),
                    rootfs: rootfs.to_owned(),
                })
            }
            Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(io_err(e)),
        }
    }
    Err(io_err(Errno::EAGAIN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        dir
    }

    #[test]
    fn real_or_missing_directories_are_accepted() {
        let root = rootfs();
        check(root.path(), Path::new("/real")).unwrap();
        check(root.path(), Path::new("/real/secrets")).unwrap();
        check(root.path(), Path::new("/run/secrets")).unwrap();
    }

    #[test]
    fn links_anywhere_on_the_way_are_refused() {
        let root = rootfs();
        symlink("/host", root.path().join("abs")).unwrap();
        symlink("../../..", root.path().join("up")).unwrap();
        symlink("real", root.path().join("inside")).unwrap();
        for target in ["/abs/secrets", "/up/secrets", "/inside/secrets", "/inside"] {
            assert!(
                matches!(
                    check(root.path(), Path::new(target)),
                    Err(TargetError::Symlink { .. })
                ),
                "{target}"
            );
        }
    }

    #[test]
    fn a_file_on_the_way_is_refused() {
        let root = rootfs();
        fs::write(root.path().join("file"), b"").unwrap();
        assert!(matches!(
            check(root.path(), Path::new("/file/secrets")),
            Err(TargetError::NotDirectory { .. })
        ));
    }
}
