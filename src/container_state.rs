//! Loading libcontainer's `state.json` while another runtime process rewrites it.
//!
//! libcontainer 0.7 saves a container's state in place (`State::save`: open with
//! `O_TRUNC`, then write), where runc writes a temporary file and renames it over the
//! old one. A `state`, `list` or `kill` that reads while `create`, `start` or `delete`
//! saves sees an empty or half-written file, and libcontainer's own `Container::load`
//! then fails with "EOF while parsing" although nothing is wrong: engines poll `state`
//! while a container starts. A file that ends early is therefore read again for a short
//! while; a file that stays cut off, or holds anything else that is not a state, is an
//! error.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcontainer::container::{Container, ContainerStatus, State};
use libcontainer::error::LibcontainerError;

use crate::bounded_read::{read_path_bounded, BoundedReadError};

const STATE_FILE: &str = "state.json";
/// A state is a few hundred bytes plus the spec's annotations.
const STATE_FILE_LIMIT: u64 = 4 << 20;
/// A save is one `write` of a few hundred bytes; a reader that still sees a cut-off file
/// after this long is not racing a save.
const REWRITE_WAIT: Duration = Duration::from_millis(500);
const REWRITE_POLL: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum ContainerStateError {
    /// No state file: no such container, or one `delete` is removing.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: BoundedReadError,
    },
    #[error("{path} is not a container state{}: {source}", if source.is_eof() { " (cut off)" } else { "" })]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot find out whether the init of container {id} still runs: {source}")]
    Status {
        id: String,
        source: Box<LibcontainerError>,
    },
}

/// What `Container::load` returns, read as described in the module comment: the state
/// in `container_dir`, its status refreshed from the init process.
pub fn load(container_dir: &Path) -> Result<Container, ContainerStateError> {
    let state = read_state(&container_dir.join(STATE_FILE))?;
    let mut container = Container {
        state,
        root: container_dir.to_owned(),
    };
    // libcontainer reads /proc/<pid> and then /proc/<pid>/stat: an init that exits in
    // between fails the refresh. Asked again, /proc/<pid> is gone and the status is
    // `stopped`.
    if container.refresh_status().is_err() {
        container
            .refresh_status()
            .map_err(|source| ContainerStateError::Status {
                id: container.id().to_owned(),
                source: Box::new(source),
            })?;
    }
    Ok(container)
}

/// The status saved in `container_dir`'s state, as its writer left it: `Creating` while
/// a create runs (which [`load`]'s refresh reports as `stopped`, the init having no pid
/// yet).
pub fn saved_status(container_dir: &Path) -> Result<ContainerStatus, ContainerStateError> {
    Ok(read_state(&container_dir.join(STATE_FILE))?.status)
}

fn read_state(path: &Path) -> Result<State, ContainerStateError> {
    let deadline = Instant::now() + REWRITE_WAIT;
    loop {
        let bytes = read_path_bounded(path, STATE_FILE_LIMIT).map_err(|source| match source {
            BoundedReadError::Io(err) if err.kind() == ErrorKind::NotFound => {
                ContainerStateError::Missing(path.to_owned())
            }
            source => ContainerStateError::Read {
                path: path.to_owned(),
                source,
            },
        })?;
        match serde_json::from_slice(&bytes) {
            Ok(state) => return Ok(state),
            // Cut off: a save is under way (or a writer died mid-save, which the
            // deadline reports).
            Err(source) if source.is_eof() && Instant::now() < deadline => {
                tracing::debug!(path = %path.display(), bytes = bytes.len(), "state file cut off; reading it again");
                std::thread::sleep(REWRITE_POLL);
            }
            Err(source) => {
                return Err(ContainerStateError::Parse {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use libcontainer::container::ContainerStatus;

    use super::*;

    fn saved_state(dir: &Path) -> State {
        let mut state = State::new(
            "racer",
            ContainerStatus::Created,
            Some(std::process::id() as i32),
            dir.to_owned(),
        );
        state.annotations = Some(
            (0..50)
                .map(|i| (format!("io.example/key-{i}"), "v".repeat(40)))
                .collect(),
        );
        state.save(dir).unwrap();
        state
    }

    /// libcontainer's own `State::save`, in a loop on another thread, against `load`:
    /// every load sees a whole state. (libcontainer's `Container::load` fails here
    /// with "EOF while parsing" within a few hundred loads.)
    const SAVE_INTERVAL: Duration = Duration::from_micros(200);

    #[test]
    fn load_never_sees_a_state_cut_off_by_a_concurrent_save() {
        let dir = tempfile::tempdir().unwrap();
        let state = saved_state(dir.path());
        let stop = Arc::new(AtomicBool::new(false));
        let saver = {
            let (stop, dir, state) = (stop.clone(), dir.path().to_owned(), state.clone());
            std::thread::spawn(move || {
                let mut saves = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    state.save(&dir).unwrap();
                    saves += 1;
                    // A runtime saves between steps of real work; back to back, an
                    // ext4 truncate keeps the file empty nearly all of the time.
                    std::thread::sleep(SAVE_INTERVAL);
                }
                saves
            })
        };
        for _ in 0..3000 {
            let container = load(dir.path()).unwrap();
            assert_eq!(container.id(), "racer");
            assert_eq!(container.state.annotations, state.annotations);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(saver.join().unwrap() > 0);
    }

    #[test]
    fn a_state_that_stays_cut_off_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        saved_state(dir.path());
        let path = dir.path().join(STATE_FILE);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        let started = Instant::now();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(started.elapsed() >= REWRITE_WAIT, "gave up early: {err}");
        assert!(
            err.contains("state.json is not a container state (cut off)"),
            "{err}"
        );
    }

    #[test]
    fn a_state_that_is_not_json_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{]").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("state.json is not a container state: "),
            "{err}"
        );
    }
}
