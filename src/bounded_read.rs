//! Reading a file that another party wrote, with a size limit, so a hostile or corrupt
//! file cannot make bulwark allocate without bound.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{size} bytes; at most {limit} bytes are accepted")]
    TooLarge { size: u64, limit: u64 },
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
}

/// Reads all of `file` if it holds at most `limit` bytes.
pub fn read_bounded(file: File, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let size = file.metadata()?.len();
    if size > limit {
        return Err(BoundedReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // take(): the file may grow between metadata() and read().
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// Opens and reads `path` if it is a regular file (links followed) of at most `limit`
/// bytes. Opened non-blocking, so a FIFO cannot hang bulwark waiting for a writer, and
/// refused unless regular: a device such as /dev/zero has no size to check.
pub fn read_path_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let file_type = file.metadata()?.file_type();
    if !file_type.is_file() {
        return Err(BoundedReadError::NotRegular(describe(file_type)));
    }
    read_bounded(file, limit)
}

fn describe(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for (path, kind) in [
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
            (Path::new("/dev/zero"), "a character device"),
        ] {
            match read_path_bounded(path, 16) {
                Err(BoundedReadError::NotRegular(got)) => assert_eq!(got, kind),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }
}
