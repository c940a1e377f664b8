//! Pod members in their sandbox's user namespace (issue #19 Phase 1 item 3).
//!
//! Under `baseline.user_namespace.mode = "auto"` a pod's sandbox (a CRI sandbox, a
//! Podman pod's infra container) gets a user namespace of its own, and the ipc and uts
//! namespaces its init makes belong to it. A member joins them by path; from a second,
//! new user namespace it could not (setns(2) needs CAP_SYS_ADMIN in the owner, which
//! only the owner's root and its ancestors have), and libcontainer 0.7 joins after
//! unsharing (container_intermediate_process.rs). So a member joins the sandbox's user
//! namespace instead, first (libcontainer joins a user namespace given by path before
//! every other, container_intermediate_process.rs:108), and shares its host id range:
//! the pod is one tenant, as Kubernetes' `hostUsers: false` makes it.
//!
//! Which user namespace that is, is decided on the kernel objects: the owner of each
//! joined namespace (NS_GET_USERNS on the descriptor that was verified and is joined,
//! crate::namespace_paths). It must be the user namespace of a container under this
//! state root that holds a leased range, compared by identity with
//! `/proc/<init>/ns/user` opened through that init's `/proc/<pid>` directory, whose
//! `uid_map` and `gid_map` (read through the same directory) must be exactly the
//! lease's range. A namespace owned by any other user namespace (one an engine or a
//! tenant made) is refused: joining it would put the container on ids no lease
//! accounts for. The annotations naming a pod's sandbox are not consulted: they may
//! narrow what is admitted (crate::engine::binding), never choose a user namespace.
//!
//! Network namespaces the engine made (CNI) belong to the host's user namespace; create
//! joins those itself before the new user namespace exists (crate::network_prejoin).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use libcontainer::oci_spec::runtime::LinuxNamespaceType;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use crate::config::UserNamespaceConfig;
use crate::container_state;
use crate::layout::{ContainerId, StateRoot};
use crate::namespace_paths::{self, Opened};
use crate::user_namespace_pool::{self, RANGE_SIZE};

/// A running container's user namespace on a leased range.
#[derive(Debug)]
pub struct Holder {
    /// The container holding the lease.
    pub id: ContainerId,
    /// The leased range's index and first host id.
    pub index: u32,
    pub host_id: u32,
    /// Its init's pid when it was found: the saved spec's path for the user namespace.
    pub init_pid: i32,
}

/// How the namespaces a spec joins by path stand to a user namespace of its own.
#[derive(Debug)]
pub enum Joined {
    /// Nothing joined keeps the container from making its own: no path, or network
    /// namespaces of the host's user namespace only (crate::network_prejoin).
    Nothing,
    /// The namespaces of `holder`'s user namespace, which the container joins
    /// through `user_namespace`.
    Leased {
        holder: Holder,
        user_namespace: OwnedFd,
    },
    /// Entry `index` cannot be joined from a user namespace bulwark gives.
    Refused {
        index: usize,
        namespace: &'static str,
        /// Owned by the host's user namespace (else: by one no lease accounts for).
        by_the_host: bool,
    },
}

/// Classifies the joined namespaces `opened` of a container that gets a user
/// namespace: `holder_of` finds the running container whose user namespace one is.
pub fn classify(opened: &[Opened], holder_of: impl Fn(&OwnedFd) -> Option<Holder>) -> Joined {
    let mut found: Option<(Holder, OwnedFd)> = None;
    for entry in opened {
        let refused = |by_the_host| Joined::Refused {
            index: entry.index,
            namespace: namespace_paths::oci_name(entry.typ),
            by_the_host,
        };
        let Ok(owner) = namespace_paths::owning_user_namespace(&entry.fd) else {
            return refused(false);
        };
        match namespace_paths::is_own_user_namespace(&owner) {
            Ok(true) if entry.typ == LinuxNamespaceType::Network => continue,
            Ok(true) => return refused(true),
            Ok(false) => {}
            Err(_) => return refused(false),
        }
        match &found {
            Some((_, user_namespace)) => {
                if namespace_paths::identity(user_namespace).ok()
                    != namespace_paths::identity(&owner).ok()
                {
                    return refused(false);
                }
            }
            None => match holder_of(&owner) {
                Some(holder) => found = Some((holder, owner)),
                None => return refused(false),
            },
        }
    }
    match found {
        Some((holder, user_namespace)) => Joined::Leased {
            holder,
            user_namespace,
        },
        None => Joined::Nothing,
    }
}

impl Holder {
    /// `/proc/<init>/ns/user`: what the saved spec names (exec joins the init's own).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/user", self.init_pid))
    }
}

/// The container under `root` holding a lease of `pool` whose init runs in the user
/// namespace `user_namespace`, with exactly the lease's mapping.
pub fn holder_of(
    root: &StateRoot,
    pool: &UserNamespaceConfig,
    user_namespace: &OwnedFd,
) -> Option<Holder> {
    let target = namespace_paths::identity(user_namespace).ok()?;
    root.private_ids().into_iter().find_map(|id| {
        let index = user_namespace_pool::noted_range(root, &id)?;
        let host_id = pool
            .first_host_id
            .checked_add(index.checked_mul(RANGE_SIZE)?)?;
        let container = container_state::load(&root.container_dir(&id)).ok()?;
        let init_pid = container.pid()?.as_raw();
        // One directory for both reads: a pid taken over by another process between
        // them fails the reads (ESRCH) instead of answering for the other process.
        let proc_dir = File::open(format!("/proc/{init_pid}")).ok()?;
        let namespace = open_in(&proc_dir, "ns/user")?;
        if namespace_paths::identity(&namespace).ok()? != target {
            return None;
        }
        let expected = format!("0 {host_id} {RANGE_SIZE}");
        let mapped = |file| {
            let mut text = String::new();
            File::from(open_in(&proc_dir, file)?)
                .read_to_string(&mut text)
                .ok()?;
            let fields: Vec<&str> = text.split_whitespace().collect();
            Some(fields.join(" ") == expected)
        };
        if mapped("uid_map")? && mapped("gid_map")? {
            Some(Holder {
                id,
                index,
                host_id,
                init_pid,
            })
        } else {
            None
        }
    })
}

fn open_in(dir: &File, name: &str) -> Option<OwnedFd> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // SAFETY: openat returned a descriptor nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}
