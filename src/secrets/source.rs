//! Opening a secret's source file on the host: a regular file reached without a single
//! symbolic link, within the size limit.
//!
//! The path is resolved with openat2(RESOLVE_NO_SYMLINKS) from `/`, so no component (the
//! source directory included) may be a link: together with the lexical check against
//! `secrets.source_dirs` (no `.` or `..`), the file opened is the one the path names.
//! It is first opened with O_PATH, which has no side effects even on a device or FIFO,
//! and re-opened for reading only once fstat says it is a regular file.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

/// openat2 answers EAGAIN when a rename raced the lookup; retrying is the documented
/// answer, and a path that keeps racing is refused.
const RACE_RETRIES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "secrets: {name:?}: source {path} has a symbolic link in its path; name the real file \
         (no component may be a link)"
    )]
    Symlink { name: String, path: PathBuf },
    #[error("secrets: {name:?}: source {path} is a {kind}, not a regular file")]
    NotRegular {
        name: String,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("secrets: {name:?}: source {path} is {size} bytes; at most secrets.max_bytes = {max}")]
    TooLarge {
        name: String,
        path: PathBuf,
        size: u64,
        max: u64,
    },
    #[error("secrets: {name:?}: cannot open source {path}: {source}")]
    Open {
        name: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// A source file open for reading, and its size when it was checked.
pub struct Opened {
    pub file: File,
    pub len: u64,
}

/// Opens `path` (absolute) for secret `name`, refusing links, anything but a regular
/// file, and files larger than `max_bytes`.
pub fn open(name: &str, path: &Path, max_bytes: u64) -> Result<Opened, SourceError> {
    let open_err = |source: io::Error| SourceError::Open {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    };
    let handle = open_path(path).map_err(|errno| match errno {
        Errno::ELOOP => SourceError::Symlink {
            name: name.to_owned(),
            path: path.to_owned(),
        },
        other => open_err(other.into()),
    })?;
    let metadata = handle.metadata().map_err(open_err)?;
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        let kind = if file_type.is_dir() {
            "directory"
        } else if file_type.is_fifo() {
            "FIFO"
        } else if file_type.is_socket() {
            "socket"
        } else if file_type.is_char_device() || file_type.is_block_device() {
            "device"
        } else {
            "special file"
        };
        return Err(SourceError::NotRegular {
            name: name.to_owned(),
            path: path.to_owned(),
            kind,
        });
    }
    if metadata.len() > max_bytes {
        return Err(SourceError::TooLarge {
            name: name.to_owned(),
            path: path.to_owned(),
            size: metadata.len(),
            max: max_bytes,
        });
    }
    // Re-opening the O_PATH descriptor through /proc reaches exactly the inode checked.
    let file = File::open(format!("/proc/self/fd/{}", handle.as_raw_fd())).map_err(open_err)?;
    Ok(Opened {
        file,
        len: metadata.len(),
    })
}

fn open_path(path: &Path) -> Result<File, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    for _ in 0..RACE_RETRIES {
        match openat2(libc::AT_FDCWD, path, how) {
            // SAFETY: openat2 returned a new descriptor that nothing else owns.
            Ok(fd) => return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) })),
            Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EAGAIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_regular_file_is_opened_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = fs::canonicalize(dir.path()).unwrap().join("token");
        fs::write(&path, b"value").unwrap();
        let mut opened = open("token", &path, 16).unwrap();
        assert_eq!(opened.len, 5);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut opened.file, &mut bytes).unwrap();
        assert_eq!(bytes, b"value");
    }

    #[test]
    fn links_anywhere_in_the_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(base.join("real")).unwrap();
        fs::write(base.join("real/token"), b"v").unwrap();
        symlink("real/token", base.join("link")).unwrap();
        symlink("real", base.join("dirlink")).unwrap();
        for path in [base.join("link"), base.join("dirlink/token")] {
            assert!(
                matches!(open("t", &path, 16), Err(SourceError::Symlink { .. })),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn special_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        nix::unistd::mkfifo(&base.join("fifo"), nix::sys::stat::Mode::S_IRUSR).unwrap();
        assert!(matches!(
            open("t", &base.join("fifo"), 16),
            Err(SourceError::NotRegular { kind: "FIFO", .. })
        ));
        assert!(matches!(
            open("t", &base, 16),
            Err(SourceError::NotRegular {
                kind: "directory",
                ..
            })
        ));
        fs::write(base.join("big"), vec![b'x'; 17]).unwrap();
        assert!(matches!(
            open("t", &base.join("big"), 16),
            Err(SourceError::TooLarge { size: 17, .. })
        ));
    }
}
