//! What a container in its own user namespace needs of the paths bulwark stages mounts
//! under.
//!
//! libcontainer 0.7 resolves every mount's source inside the container: its init, having
//! entered the new user namespace as the namespace's root, calls `canonicalize(source)`
//! and then `open_tree` on the path (rootfs/mount.rs `mount_into_container`). There the
//! host's root-owned directories are searched as "others": the namespace's capabilities
//! do not cover inodes whose owner it does not map. A staged bind or the secrets tmpfs
//! under a 0700 directory failed with a bare EACCES, long after admission (issue #19).
//! runc opens bind sources in the host's namespace and hands its init the descriptors
//! (runc 1.1 `mountFds`); libcontainer could do the same upstream, and until then the
//! staged paths must be reachable by the namespace's root, and by nobody else:
//! - bulwark's own directories on the way (`@bulwark`, `@bulwark/<id>`) can be crossed
//!   but not listed (0711); what is in them keeps its own mode (0600 files, the secrets
//!   tmpfs 0700 and the process's own);
//! - the binds directory belongs to the namespace's root (0700): a host user other than
//!   root cannot reach a bind source through it that its own path closed to them;
//! - every directory above, the state root first, is checked before anything is staged:
//!   one the namespace's root cannot cross is refused, naming it and the fix.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;

use crate::id_mapping::{has_user_namespace, host_id};

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error(
        "the container has its own user namespace but linux.uidMappings/gidMappings do not \
         map container id 0, which libcontainer sets the namespace up as"
    )]
    RootUnmapped,
    #[error("cannot inspect {path}: {source}")]
    Inspect { path: PathBuf, source: io::Error },
    #[error(
        "{path} (mode {mode:04o}, owner uid {owner}) is closed to the container's user \
         namespace, whose root (host uid {uid}, gid {gid}) must cross it: libcontainer \
         mounts the container's binds and secrets from inside the namespace. Run \
         `chmod o+x {path}` (a traversable, unlistable state root, as containerd's 0711 \
         runc roots are) or choose another --root"
    )]
    Closed {
        path: PathBuf,
        mode: u32,
        owner: u32,
        uid: u32,
        gid: u32,
    },
}

/// The host ids of a user namespace's root (container uid and gid 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceRoot {
    pub uid: u32,
    pub gid: u32,
}

/// The namespace's root when the spec gives the container a user namespace; `None`
/// without one.
pub fn namespace_root(spec: &Spec) -> Result<Option<NamespaceRoot>, StagingError> {
    let Some(linux) = spec.linux().as_ref().filter(|_| has_user_namespace(spec)) else {
        return Ok(None);
    };
    match (
        host_id(0, linux.uid_mappings()),
        host_id(0, linux.gid_mappings()),
    ) {
        (Some(uid), Some(gid)) => Ok(Some(NamespaceRoot { uid, gid })),
        _ => Err(StagingError::RootUnmapped),
    }
}

/// Every directory from `/` down to `dir` must let `root` search it, as the kernel
/// decides for a process without capabilities over the inode (generic_permission): the
/// owner's bits if it owns it, else the group's if its gid is the group, else others'.
pub fn require_reachable(dir: &Path, root: NamespaceRoot) -> Result<(), StagingError> {
    for path in dir.ancestors() {
        let meta = fs::metadata(path).map_err(|source| StagingError::Inspect {
            path: path.to_owned(),
            source,
        })?;
        let mode = meta.mode();
        let search = if meta.uid() == root.uid {
            mode & 0o100
        } else if meta.gid() == root.gid {
            mode & 0o010
        } else {
            mode & 0o001
        };
        if search == 0 {
            return Err(StagingError::Closed {
                path: path.to_owned(),
                mode: mode & 0o7777,
                owner: meta.uid(),
                uid: root.uid,
                gid: root.gid,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn spec(linux: serde_json::Value) -> Spec {
        serde_json::from_value(json!({"ociVersion": "1.0.2", "linux": linux})).unwrap()
    }

    #[test]
    fn the_namespace_root_is_the_host_id_of_container_zero() {
        assert_eq!(
            namespace_root(&spec(json!({"namespaces": []}))).unwrap(),
            None
        );
        let mapped = spec(json!({
            "namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 1, "hostID": 200001, "size": 10},
                            {"containerID": 0, "hostID": 200000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}],
        }));
        assert_eq!(
            namespace_root(&mapped).unwrap(),
            Some(NamespaceRoot {
                uid: 200000,
                gid: 300000
            })
        );
        let without_zero = spec(json!({
            "namespaces": [{"type": "user"}],
            "uidMappings": [{"containerID": 1, "hostID": 200001, "size": 10}],
            "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}],
        }));
        assert!(matches!(
            namespace_root(&without_zero),
            Err(StagingError::RootUnmapped)
        ));
    }

    #[test]
    fn a_directory_is_reachable_through_its_owner_group_or_others_bit() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        let root = NamespaceRoot {
            uid: 200000,
            gid: 300000,
        };
        let chmod = |mode| fs::set_permissions(&base, fs::Permissions::from_mode(mode));
        chmod(0o711).unwrap();
        require_reachable(&base, root).unwrap();
        chmod(0o770).unwrap();
        let closed = require_reachable(&base, root).unwrap_err();
        assert!(
            matches!(&closed, StagingError::Closed { path, mode: 0o770, .. } if *path == base),
            "{closed}"
        );
        // Its owner's bits decide for the namespace's root when it owns the directory.
        std::os::unix::fs::chown(&base, Some(root.uid), Some(0)).unwrap();
        chmod(0o700).unwrap();
        require_reachable(&base, root).unwrap();
        chmod(0o077).unwrap();
        assert!(require_reachable(&base, root).is_err());
        std::os::unix::fs::chown(&base, Some(0), Some(root.gid)).unwrap();
        chmod(0o710).unwrap();
        require_reachable(&base, root).unwrap();
    }
}
