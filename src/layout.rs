//! Where bulwark keeps container state under `--root`.
//!
//! ```text
//! <root>/                 0711 when bulwark makes it
//! <root>/<id>/            libcontainer's container directory (state.json, sockets),
//!                         0700 once the container is created
//! <root>/@bulwark/        0711
//! <root>/@bulwark/<id>/   0711, bulwark's private directory: the effective spec
//!                         (config.json, 0600), which libcontainer reads as the bundle for
//!                         create and exec, and record.json (0600, the engine's original
//!                         bundle path)
//! <root>/@bulwark/<id>/secrets/  the container's secrets tmpfs (only when it has
//!                         secrets), bind-mounted read-only into the container
//! <root>/@bulwark/<id>/binds/    staged bind mounts (crate::binds)
//! <root>/@bulwark/<id>/rootfs    the idmapped view of the rootfs in auto mode, until
//!                         libcontainer has built the container (crate::rootfs_idmap)
//! <root>/@seccomp/        compiled seccomp programs (crate::seccomp_filter::cache)
//! <root>/@userns/         leased host id ranges (crate::user_namespace_pool)
//! ```
//! The directories on the way to the staged mounts can be crossed, not listed: a
//! container in its own user namespace has its mounts resolved by the namespace's root,
//! a host uid that is "others" here (crate::user_namespace_staging). containerd makes
//! its runc roots 0711 for the same reason. Nothing in them is readable by others.
//!
//! The root and `@bulwark` must be owned by the user bulwark runs as and writable by
//! nobody else: whoever can write there can plant the effective spec libcontainer
//! reads, a container's state.json or its secrets directory (runc's /run/runc is
//! root-owned 0700 for the same reason). An existing directory that is not is refused,
//! for every command, never repaired: its contents may already be someone else's.
//!
//! `@` cannot appear in a container id, so `@bulwark`, `@seccomp` and `@userns` never
//! collide with one. The private directory is created with `mkdir` (not `mkdir -p`): its
//! creation is the exclusive claim on an id, so two concurrent creates of one id cannot
//! both proceed.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{Hooks, LinuxSeccomp};
use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::policy::input::PolicyContext;

const PRIVATE_DIR: &str = "@bulwark";
const SECCOMP_CACHE_DIR: &str = "@seccomp";
const EFFECTIVE_SPEC: &str = "config.json";
const RECORD: &str = "record.json";
const SECRETS_DIR: &str = "secrets";
/// Crossable by anyone, listable and writable by the owner only.
const TRAVERSABLE: u32 = 0o711;
/// NAME_MAX: the id is a file name under the root and a cgroup directory name.
const MAX_ID_BYTES: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("state root {path}: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{what} {path} is owned by uid {owner} with mode {mode:04o}: bulwark requires it to \
         be owned by uid {euid} (the user running bulwark) and not writable by group or \
         others; run `chown {euid} {path} && chmod go-w {path}` if its contents are \
         trusted, or choose another --root"
    )]
    Insecure {
        what: &'static str,
        path: PathBuf,
        owner: u32,
        mode: u32,
        euid: u32,
    },
    #[error("corrupt bulwark record {path}: {source}")]
    Record {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// A container id that is safe to use as a single path component: runc's rule
/// (`^[\w+-.]+$`, not `.` or `..`), checked before any path is built from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerId(String);

impl ContainerId {
    pub fn parse(id: &str) -> Result<Self, LayoutError> {
        let invalid = |reason| LayoutError::InvalidId {
            id: id.to_owned(),
            reason,
        };
        if id.is_empty() {
            return Err(invalid("it is empty"));
        }
        if id == "." || id == ".." {
            return Err(invalid("it is not a file name"));
        }
        // The id names a directory under the root and a cgroup: longer than NAME_MAX
        // it would only fail later, at mkdir, after other checks passed.
        if id.len() > MAX_ID_BYTES {
            return Err(invalid("it is longer than 255 bytes (NAME_MAX)"));
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
        {
            return Err(invalid(
                "only letters, digits, '_', '+', '-' and '.' are allowed",
            ));
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The canonical state root.
#[derive(Debug, Clone)]
pub struct StateRoot {
    path: PathBuf,
}

impl StateRoot {
    /// Opens the root, creating it (0711, like containerd's runc roots) for commands that
    /// create containers.
    pub fn open(path: &Path, create: bool) -> Result<Self, LayoutError> {
        let root_err = |source| LayoutError::Root {
            path: path.to_owned(),
            source,
        };
        if create {
            DirBuilder::new()
                .recursive(true)
                .mode(TRAVERSABLE)
                .create(path)
                .map_err(root_err)?;
        }
        let path = fs::canonicalize(path).map_err(root_err)?;
        require_private("state root", &path)?;
        let root = Self { path };
        let private = root.path.join(PRIVATE_DIR);
        if private.exists() {
            require_private("bulwark's private directory", &private)?;
        }
        Ok(root)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// libcontainer's directory for this container.
    pub fn container_dir(&self, id: &ContainerId) -> PathBuf {
        self.path.join(id.as_str())
    }

    /// bulwark's private directory for this container.
    pub fn private_dir(&self, id: &ContainerId) -> PathBuf {
        self.path.join(PRIVATE_DIR).join(id.as_str())
    }

    /// Where the container's secrets tmpfs is mounted.
    pub fn secrets_dir(&self, id: &ContainerId) -> PathBuf {
        self.private_dir(id).join(SECRETS_DIR)
    }

    /// Where compiled seccomp programs are kept (crate::seccomp_filter::cache).
    pub fn seccomp_cache_dir(&self) -> PathBuf {
        self.path.join(SECCOMP_CACHE_DIR)
    }

    pub fn effective_spec_path(&self, id: &ContainerId) -> PathBuf {
        self.private_dir(id).join(EFFECTIVE_SPEC)
    }

    pub fn exists(&self, id: &ContainerId) -> bool {
        self.container_dir(id).exists() || self.private_dir(id).exists()
    }

    /// Claims `id` for a new container by creating its private directory.
    pub fn claim(&self, id: &ContainerId) -> Result<PathBuf, LayoutError> {
        if self.container_dir(id).exists() {
            return Err(LayoutError::AlreadyExists(id.to_string()));
        }
        let parent = self.path.join(PRIVATE_DIR);
        match DirBuilder::new().mode(TRAVERSABLE).create(&parent) {
            Ok(()) => set_traversable(&parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(LayoutError::Io {
                    action: "create",
                    path: parent,
                    source,
                })
            }
        }
        // Again: it may have been made between open and here.
        require_private("bulwark's private directory", &parent)?;
        let private = self.private_dir(id);
        match DirBuilder::new().mode(TRAVERSABLE).create(&private) {
            Ok(()) => {
                set_traversable(&private)?;
                Ok(private)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(LayoutError::AlreadyExists(id.to_string()))
            }
            Err(source) => Err(LayoutError::Io {
                action: "create",
                path: private,
                source,
            }),
        }
    }

    /// Closes libcontainer's directory of a created container to everyone but its owner:
    /// libcontainer 0.7 makes it 0755 with a 0644 state.json (container/init_builder.rs
    /// `create_container_dir`, container/state.rs `save`), under a root others may cross.
    pub fn close_container_dir(&self, id: &ContainerId) -> Result<(), LayoutError> {
        let dir = self.container_dir(id);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
            LayoutError::Io {
                action: "chmod",
                path: dir,
                source,
            }
        })
    }

    /// Removes the private directory; a missing one is not an error (delete is
    /// idempotent under `--force`).
    pub fn release(&self, id: &ContainerId) -> Result<(), LayoutError> {
        let private = self.private_dir(id);
        match fs::remove_dir_all(&private) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LayoutError::Io {
                action: "remove",
                path: private,
                source,
            }),
        }
    }

    /// Ids of every container bulwark keeps a private directory for (created, being
    /// created, or left by a create that was killed).
    pub fn private_ids(&self) -> Vec<ContainerId> {
        let Ok(entries) = fs::read_dir(self.path.join(PRIVATE_DIR)) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter_map(|name| ContainerId::parse(&name).ok())
            .collect()
    }

    /// Ids of every container under this root, libcontainer's or half-created ones.
    pub fn container_ids(&self) -> Result<Vec<ContainerId>, LayoutError> {
        let entries = fs::read_dir(&self.path).map_err(|source| LayoutError::Io {
            action: "read",
            path: self.path.clone(),
            source,
        })?;
        let mut ids: Vec<ContainerId> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter_map(|name| ContainerId::parse(&name).ok())
            .filter(|id| self.container_dir(id).join("state.json").exists())
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ids)
    }
}

/// The mode a directory was created with, whatever the umask took from it.
fn set_traversable(path: &Path) -> Result<(), LayoutError> {
    fs::set_permissions(path, fs::Permissions::from_mode(TRAVERSABLE)).map_err(|source| {
        LayoutError::Io {
            action: "chmod",
            path: path.to_owned(),
            source,
        }
    })
}

/// `path` (not followed if a link) must be a directory owned by the effective uid and
/// not writable by group or others.
fn require_private(what: &'static str, path: &Path) -> Result<(), LayoutError> {
    let meta = fs::symlink_metadata(path).map_err(|source| LayoutError::Io {
        action: "inspect",
        path: path.to_owned(),
        source,
    })?;
    let euid = nix::unistd::geteuid().as_raw();
    if meta.is_dir() && meta.uid() == euid && meta.mode() & 0o022 == 0 {
        return Ok(());
    }
    Err(LayoutError::Insecure {
        what,
        path: path.to_owned(),
        owner: meta.uid(),
        mode: meta.mode() & 0o7777,
        euid,
    })
}

/// What bulwark remembers about a container beyond libcontainer's state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContainerRecord {
    /// The bundle the engine passed. `state` reports it (engines compare it), while
    /// libcontainer's own state points at the private directory.
    pub bundle: PathBuf,
    /// The canonical rootfs, reported by `state` without re-reading the spec.
    pub rootfs: PathBuf,
    /// What the create decision established (engine, pod, image), for the exec and
    /// update decisions.
    pub policy_context: PolicyContext,
    /// The cgroup directory bulwark made for the container at create (crate::cgroups),
    /// removed with `rmdir` when a create fails before libcontainer took it over.
    #[serde(default)]
    pub claimed_cgroup: Option<PathBuf>,
    /// The inode of `claimed_cgroup` once bulwark's mkdir made it: with it, a cleanup
    /// may kill what is in that cgroup and remove it (crate::cgroups::reap); without
    /// it (a create killed between the mkdir and this record), only `rmdir` it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_cgroup_inode: Option<u64>,
    /// The engine's own seccomp profile, stacked on bulwark's (crate::executor): exec'd
    /// processes get it too, and the effective spec holds only bulwark's.
    #[serde(default)]
    pub engine_seccomp: Option<LinuxSeccomp>,
    /// The poststart and poststop hooks, which bulwark runs itself (crate::hooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
}

impl ContainerRecord {
    pub fn save(&self, root: &StateRoot, id: &ContainerId) -> Result<(), LayoutError> {
        let path = root.private_dir(id).join(RECORD);
        let bytes = serde_json::to_vec(self).map_err(|source| LayoutError::Record {
            path: path.clone(),
            source,
        })?;
        atomic_file::write(&path, &bytes, 0o600).map_err(|source| LayoutError::Io {
            action: "write",
            path,
            source,
        })
    }

    pub fn load(root: &StateRoot, id: &ContainerId) -> Result<Self, LayoutError> {
        let path = root.private_dir(id).join(RECORD);
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => LayoutError::NotFound(id.to_string()),
            _ => LayoutError::Io {
                action: "read",
                path: path.clone(),
                source,
            },
        })?;
        serde_json::from_slice(&bytes).map_err(|source| LayoutError::Record { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for good in ["abc", "a.b-c_d+e", "0123456789abcdef", "x..y"] {
            assert!(ContainerId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "@bulwark", "é", "x\0"] {
            assert!(ContainerId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ContainerId::parse(&"a".repeat(MAX_ID_BYTES)).is_ok());
        assert!(ContainerId::parse(&"a".repeat(MAX_ID_BYTES + 1)).is_err());
    }

    #[test]
    fn claim_is_exclusive_and_release_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::open(&dir.path().join("root"), true).unwrap();
        let id = ContainerId::parse("c1").unwrap();
        root.claim(&id).unwrap();
        assert!(matches!(
            root.claim(&id),
            Err(LayoutError::AlreadyExists(_))
        ));
        root.release(&id).unwrap();
        root.release(&id).unwrap();
        assert!(!root.exists(&id));
        root.claim(&id).unwrap();
    }

    #[test]
    fn a_root_or_private_dir_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root");
        let root = StateRoot::open(&path, true).unwrap();
        let private = root.claim(&ContainerId::parse("c1").unwrap()).unwrap();
        // Fresh: crossable, never listable or writable by others, whatever the umask.
        for made in [&path, &path.join(PRIVATE_DIR), &private] {
            let mode = fs::metadata(made).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, TRAVERSABLE, "{}", made.display());
        }
        for (target, mode) in [(path.clone(), 0o777), (path.join(PRIVATE_DIR), 0o730)] {
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).unwrap();
            for create in [true, false] {
                let err = StateRoot::open(&path, create).unwrap_err();
                assert!(
                    matches!(&err, LayoutError::Insecure { mode: m, .. } if *m == mode),
                    "{err}"
                );
            }
            fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
        }
        // An existing 0755 root is fine too.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        StateRoot::open(&path, false).unwrap();
    }

    #[test]
    fn record_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot::open(dir.path(), true).unwrap();
        let id = ContainerId::parse("c2").unwrap();
        root.claim(&id).unwrap();
        let record = ContainerRecord {
            bundle: "/srv/bundle".into(),
            rootfs: "/srv/bundle/rootfs".into(),
            policy_context: PolicyContext {
                container: serde_json::json!({"id": "c1", "engine": "podman"}),
                image: serde_json::Value::Null,
                seccomp_profile: "default".into(),
                agent: None,
            },
            claimed_cgroup: Some("/sys/fs/cgroup/devices/bulwark/c2".into()),
            claimed_cgroup_inode: Some(4242),
            engine_seccomp: Some(LinuxSeccomp::default()),
            hooks: None,
        };
        record.save(&root, &id).unwrap();
        assert_eq!(ContainerRecord::load(&root, &id).unwrap(), record);
    }
}
