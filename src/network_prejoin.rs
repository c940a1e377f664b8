//! Network namespaces the engine made, joined by a container with a user namespace
//! (issue #19 Phase 1 item 3).
//!
//! CNI (containerd's CRI, Podman's networks) makes a pod's network namespace as host
//! root, so the host's user namespace owns it. libcontainer 0.7 makes or joins the
//! container's user namespace first and joins every other namespace from inside it
//! (container_intermediate_process.rs; process/init/process.rs `apply_rest_namespaces`),
//! where setns(2) needs CAP_SYS_ADMIN over the network namespace's owner: EPERM. runc's
//! nsexec joins such namespaces before the user namespace.
//!
//! So bulwark joins it itself: the create process enters the verified descriptor
//! (crate::namespace_paths) before libcontainer forks, its processes start in it, and
//! libcontainer is handed a spec without the entry. The saved spec names it again: exec
//! joins the init's network namespace as host root, before the user namespace
//! (crate::user_namespace_join).
//!
//! Two things the init would do in that namespace from inside the user namespace fail the
//! same way and are done here, as host root in the joined namespace:
//! - `sysfs` at /sys: a sysfs mount shows the mounter's network namespace and needs
//!   CAP_SYS_ADMIN over its owner (fs/sysfs/mount.c `sysfs_init_fs_context`). bulwark
//!   mounts one read-only, nosuid, nodev, noexec in the container's staging directory
//!   (crate::binds) and the spec binds it at /sys; it leaves the host's tree with the
//!   binds after the build. It shows the pod's interfaces: runc's rootless answer, an
//!   rbind of the host's /sys, would show the host's.
//! - `net.*` sysctls (admission admits Pod Security Standards' safe ones only): the init
//!   writes them as the user namespace's root, without CAP_NET_ADMIN over the namespace.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, CloneFlags};

use crate::namespace_paths::{self, Opened};

/// The mount point of the staged sysfs in the binds directory (bind points are numbers).
const SYSFS_POINT: &str = "sysfs";

#[derive(Debug, thiserror::Error)]
pub enum PreJoinError {
    #[error("cannot find the user namespace owning the network namespace {path}: {errno}")]
    Owner { path: PathBuf, errno: Errno },
    #[error("cannot join the network namespace {path}: {errno}")]
    Join { path: PathBuf, errno: Errno },
    #[error("cannot {action} {path} in the joined network namespace: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// A network namespace create joins before libcontainer makes the user namespace.
pub struct PreJoin<'a> {
    /// Its entry in `linux.namespaces`.
    index: usize,
    namespace: &'a Opened,
}

/// The joined network namespace of `spec` that the host's user namespace owns, where
/// the container has a user namespace (of its own or joined): create joins it first.
pub fn plan<'a>(spec: &Spec, opened: &'a [Opened]) -> Result<Option<PreJoin<'a>>, PreJoinError> {
    let Some(network) = opened
        .iter()
        .find(|o| o.typ == LinuxNamespaceType::Network)
        .filter(|_| crate::id_mapping::has_user_namespace(spec))
    else {
        return Ok(None);
    };
    let owner_error = |errno| PreJoinError::Owner {
        path: network.path.clone(),
        errno,
    };
    let owner = namespace_paths::owning_user_namespace(&network.fd).map_err(owner_error)?;
    if !namespace_paths::is_own_user_namespace(&owner).map_err(owner_error)? {
        return Ok(None);
    }
    Ok(Some(PreJoin {
        index: network.index,
        namespace: network,
    }))
}

impl PreJoin<'_> {
    /// Moves the create process into the network namespace. One-way: the process
    /// creates this one container and exits (or, for `run`, waits for it).
    pub fn enter(&self) -> Result<(), PreJoinError> {
        let fd: &OwnedFd = &self.namespace.fd;
        setns(fd, CloneFlags::CLONE_NEWNET).map_err(|errno| PreJoinError::Join {
            path: self.namespace.path.clone(),
            errno,
        })
    }

    /// Writes the spec's `net.*` sysctls in the joined namespace (after [`Self::enter`]).
    pub fn write_sysctls(&self, spec: &Spec) -> Result<(), PreJoinError> {
        let sysctls = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref());
        for (key, value) in sysctls.into_iter().flatten() {
            if !is_network_sysctl(key) {
                continue;
            }
            // /proc/sys/net shows the network namespace of the process that opens it.
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut file| file.write_all(value.as_bytes()))
                .map_err(|source| PreJoinError::Io {
                    action: "write",
                    path,
                    source,
                })?;
        }
        Ok(())
    }

    /// Mounts the joined namespace's sysfs in `binds_dir` (which belongs to the user
    /// namespace's root, crate::binds) and points the spec's /sys mount at it.
    pub fn stage_sysfs(&self, binds_dir: &Path, spec: &mut Spec) -> Result<(), PreJoinError> {
        let Some(sys) = spec.mounts_mut().as_mut().and_then(|mounts| {
            mounts
                .iter_mut()
                .find(|m| m.typ().as_deref() == Some("sysfs"))
        }) else {
            return Ok(());
        };
        let point = binds_dir.join(SYSFS_POINT);
        let io_err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| PreJoinError::Io {
                action,
                path,
                source,
            }
        };
        DirBuilder::new()
            .mode(0o700)
            .create(&point)
            .map_err(io_err("create the mount point", &point))?;
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Err(errno) = mount(Some("sysfs"), &point, Some("sysfs"), flags, None::<&str>) {
            let _ = fs::remove_dir(&point);
            return Err(io_err("mount sysfs at", &point)(errno.into()));
        }
        sys.set_typ(Some("bind".to_owned()));
        sys.set_source(Some(point));
        sys.set_options(Some(
            ["bind", "ro", "nosuid", "nodev", "noexec"]
                .map(str::to_owned)
                .to_vec(),
        ));
        Ok(())
    }

    /// The spec libcontainer builds from: without the network namespace it no longer
    /// joins, and without the sysctls written here.
    pub fn for_libcontainer(&self, mut spec: Spec) -> Spec {
        if let Some(linux) = spec.linux_mut() {
            if let Some(namespaces) = linux.namespaces_mut() {
                namespaces.remove(self.index);
            }
            if let Some(sysctl) = linux.sysctl_mut() {
                sysctl.retain(|key, _| !is_network_sysctl(key));
            }
        }
        spec
    }
}

fn is_network_sysctl(key: &str) -> bool {
    key.starts_with("net.")
}
