//! Host id ranges leased to containers (`baseline.user_namespace.mode = "auto"`, issue
//! #19 Phase 1).
//!
//! Without a user namespace every bulwark container runs as the same host uid 65532: the
//! kernel's per-user limits (RLIMIT_NPROC, inotify instances, keyring quotas) and every
//! file that uid owns are shared across tenants. With `auto`, each container gets
//! container ids 0..65536 on a host range no other container under this state root
//! holds while it lives.
//!
//! ```text
//! <root>/@userns/          0700
//! <root>/@userns/<n>       the lease of range n: its holders' container ids, one a line
//! <root>/@bulwark/<id>/userns-range   n: the range this container asked for or joined
//! ```
//! A lease is taken by `link(2)`ing a complete file to its name, which fails if it
//! exists: two creates never hold one range, and a lease never exists half-written. The
//! container's own note is written first, so a create killed at any point leaves
//! something `delete --force` finds: the note names the range, and the container is
//! removed from the lease's holders only if it is one (a note may name a range another
//! create won).
//!
//! The members of a pod run in their sandbox's user namespace
//! (crate::user_namespace_share) and hold its lease with it: the range is free again
//! when the last of them is deleted, not when the sandbox is, so no new container gets
//! ids a running member still has. Adding and removing holders happens under the lock,
//! so a member never joins a lease the last holder is giving back. The lock is flock(2) on
//! `@userns` itself: no file is left that a listing of the leases would show.

use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::config::UserNamespaceConfig;
use crate::layout::{ContainerId, StateRoot};

/// Ids in one container's range: container ids 0..65536, as Kubernetes and Podman's
/// `--userns=auto` give a pod (every id an image's files or users may name).
pub const RANGE_SIZE: u32 = 65536;

const LEASES_DIR: &str = "@userns";
const NOTE: &str = "userns-range";

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(
        "every one of the {ranges} host id ranges of baseline.user_namespace is leased to a \
         running container; delete containers or raise baseline.user_namespace.ranges"
    )]
    Exhausted { ranges: u32 },
    #[error(
        "the host id range {index} of container {holder}, whose user namespace this \
         container joins, is no longer leased to it (it was deleted); create the pod's \
         sandbox again"
    )]
    NotHeld { index: u32, holder: String },
    #[error("user namespace leases: cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// A range leased to one container: host ids `host_id..host_id + RANGE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub index: u32,
    pub host_id: u32,
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PoolError + 'a {
    move |source| PoolError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn leases_dir(root: &StateRoot) -> PathBuf {
    root.path().join(LEASES_DIR)
}

fn note_path(root: &StateRoot, id: &ContainerId) -> PathBuf {
    root.private_dir(id).join(NOTE)
}

/// The range `id`'s note names, if it has one (it may name a range another create won:
/// the lease's holders say who holds it).
pub fn noted_range(root: &StateRoot, id: &ContainerId) -> Option<u32> {
    fs::read_to_string(note_path(root, id))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `<root>/@userns`, made (0700) where it does not exist yet.
fn made_leases_dir(root: &StateRoot) -> Result<PathBuf, PoolError> {
    let dir = leases_dir(root);
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(dir),
        Err(source) => Err(io_err("create", &dir)(source)),
    }
}

/// The pool's lock, held until the returned guard is dropped.
fn lock(root: &StateRoot) -> Result<Flock<File>, PoolError> {
    let dir = made_leases_dir(root)?;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&dir)
        .map_err(io_err("open", &dir))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io_err("lock", &dir)(errno.into()))
}

/// The holders a lease file names.
fn holders(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|line| !line.is_empty())
}

/// Leases the lowest free range of the pool to `id`, whose private directory exists.
pub fn lease(
    root: &StateRoot,
    id: &ContainerId,
    pool: &UserNamespaceConfig,
) -> Result<Lease, PoolError> {
    let dir = made_leases_dir(root)?;
    // The complete lease, linked to each candidate's name until one is free.
    let pending = dir.join(format!(".{id}"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&pending)
        .map_err(io_err("create", &pending))?;
    file.write_all(id.as_str().as_bytes())
        .map_err(io_err("write", &pending))?;
    drop(file);
    let note = note_path(root, id);
    let result = (|| {
        for index in 0..pool.ranges {
            let name = dir.join(index.to_string());
            if name.exists() {
                continue;
            }
            crate::atomic_file::write(&note, index.to_string().as_bytes(), 0o600)
                .map_err(io_err("write", &note))?;
            match fs::hard_link(&pending, &name) {
                Ok(()) => {
                    return Ok(Lease {
                        index,
                        host_id: pool.first_host_id + index * RANGE_SIZE,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(io_err("link", &name)(source)),
            }
        }
        Err(PoolError::Exhausted {
            ranges: pool.ranges,
        })
    })();
    fs::remove_file(&pending).map_err(io_err("remove", &pending))?;
    result
}

/// Makes `id` a holder of the range `index`, which `holder` (the container whose user
/// namespace `id` joins) holds: the range stays leased while either lives.
pub fn share(
    root: &StateRoot,
    id: &ContainerId,
    index: u32,
    holder: &ContainerId,
) -> Result<(), PoolError> {
    let _lock = lock(root)?;
    let lease = leases_dir(root).join(index.to_string());
    let not_held = || PoolError::NotHeld {
        index,
        holder: holder.to_string(),
    };
    let text = match fs::read_to_string(&lease) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_held()),
        Err(source) => return Err(io_err("read", &lease)(source)),
    };
    if !holders(&text).any(|h| h == holder.as_str()) {
        return Err(not_held());
    }
    let note = note_path(root, id);
    crate::atomic_file::write(&note, index.to_string().as_bytes(), 0o600)
        .map_err(io_err("write", &note))?;
    let mut names: Vec<&str> = holders(&text).collect();
    names.push(id.as_str());
    crate::atomic_file::write(&lease, names.join("\n").as_bytes(), 0o600)
        .map_err(io_err("write", &lease))
}

/// Gives back the range `id` leased or shares, if it holds one: the range is free once
/// no holder is left. Nothing to give back is not an error: `delete --force` after a
/// create killed at any point calls this.
pub fn release(root: &StateRoot, id: &ContainerId) -> Result<(), PoolError> {
    let note = note_path(root, id);
    if !note.exists() {
        return Ok(());
    }
    let _lock = lock(root)?;
    let index = match fs::read_to_string(&note) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io_err("read", &note)(source)),
    };
    let Ok(index) = index.trim().parse::<u32>() else {
        return Ok(());
    };
    let lease = leases_dir(root).join(index.to_string());
    match fs::read_to_string(&lease) {
        Ok(text) if holders(&text).any(|h| h == id.as_str()) => {
            let others: Vec<&str> = holders(&text).filter(|h| *h != id.as_str()).collect();
            if others.is_empty() {
                fs::remove_file(&lease).map_err(io_err("remove", &lease))?
            } else {
                crate::atomic_file::write(&lease, others.join("\n").as_bytes(), 0o600)
                    .map_err(io_err("write", &lease))?
            }
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_err("read", &lease)(source)),
    }
    // The lease is gone before the note: a killed release is retried from the note.
    match fs::remove_file(&note) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(io_err("remove", &note)(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserNamespaceMode;

    fn pool(ranges: u32) -> UserNamespaceConfig {
        UserNamespaceConfig {
            mode: UserNamespaceMode::Auto,
            first_host_id: 1 << 30,
            ranges,
        }
    }

    fn claimed(root: &StateRoot, id: &str) -> ContainerId {
        let id = ContainerId::parse(id).unwrap();
        root.claim(&id).unwrap();
        id
    }

    #[test]
    fn ranges_are_leased_once_and_reused_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::open(dir.path(), true).unwrap();
        let (a, b, c) = (
            claimed(&root, "a"),
            claimed(&root, "b"),
            claimed(&root, "c"),
        );
        let first = lease(&root, &a, &pool(2)).unwrap();
        let second = lease(&root, &b, &pool(2)).unwrap();
        assert_eq!((first.index, first.host_id), (0, 1 << 30));
        assert_eq!((second.index, second.host_id), (1, (1 << 30) + RANGE_SIZE));
        assert!(matches!(
            lease(&root, &c, &pool(2)),
            Err(PoolError::Exhausted { ranges: 2 })
        ));
        release(&root, &a).unwrap();
        release(&root, &a).unwrap();
        assert_eq!(lease(&root, &c, &pool(2)).unwrap().index, 0);
        // Only temporary names were removed: no pending file stays.
        let names: Vec<_> = fs::read_dir(leases_dir(&root))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_note_naming_another_containers_lease_releases_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::open(dir.path(), true).unwrap();
        let (a, b) = (claimed(&root, "a"), claimed(&root, "b"));
        lease(&root, &a, &pool(4)).unwrap();
        // b was killed after noting range 0, which a won.
        fs::write(note_path(&root, &b), "0").unwrap();
        release(&root, &b).unwrap();
        assert_eq!(
            fs::read_to_string(leases_dir(&root).join("0")).unwrap(),
            "a"
        );
        release(&root, &a).unwrap();
        assert!(!leases_dir(&root).join("0").exists());
    }

    #[test]
    fn a_shared_range_is_free_only_when_its_last_holder_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::open(dir.path(), true).unwrap();
        let (sandbox, member, next) = (
            claimed(&root, "sandbox"),
            claimed(&root, "member"),
            claimed(&root, "next"),
        );
        let held = lease(&root, &sandbox, &pool(1)).unwrap();
        share(&root, &member, held.index, &sandbox).unwrap();
        assert_eq!(
            fs::read_to_string(leases_dir(&root).join("0")).unwrap(),
            "sandbox\nmember"
        );
        // The sandbox goes first (Podman removes a pod's infra container last, kubelet
        // its sandbox last, but neither is promised): the member still has the ids.
        release(&root, &sandbox).unwrap();
        assert!(matches!(
            lease(&root, &next, &pool(1)),
            Err(PoolError::Exhausted { ranges: 1 })
        ));
        // Nobody joins a range through a holder that gave it back.
        assert!(matches!(
            share(&root, &next, held.index, &sandbox),
            Err(PoolError::NotHeld { index: 0, .. })
        ));
        release(&root, &member).unwrap();
        assert_eq!(lease(&root, &next, &pool(1)).unwrap().index, 0);
        let names: Vec<_> = fs::read_dir(leases_dir(&root))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["0"]);
    }
}
