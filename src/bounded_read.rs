//! Reading a file that another party wrote, with a size limit, so a hostile or corrupt
//! file cannot make bulwark allocate without bound.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("{size} bytes; at most {limit} bytes are accepted")]
    TooLarge { size: u64, limit: u64 },
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

/// Opens and reads `path` if it holds at most `limit` bytes.
pub fn read_path_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    read_bounded(File::open(path)?, limit)
}
