//! `baseline.user_namespace.mode = "auto"` (issue #19 Phase 1): a container whose spec
//! brings no user namespace gets one of its own, mapping container ids 0..65536 to the
//! host range `create` leased to it (crate::user_namespace_pool). Its "root" is then an
//! unprivileged host uid no other container shares, and its 65532 is not every other
//! container's 65532: per-user kernel limits (RLIMIT_NPROC, inotify, keyrings) and file
//! ownership stop being shared across tenants.
//!
//! A spec that joins namespaces by path (crate::user_namespace_share decides on the
//! descriptors):
//! - network namespaces of the host's user namespace (CNI) only: the container gets
//!   its own user namespace, and create joins the network namespace before it exists
//!   (crate::network_prejoin);
//! - namespaces of a running container's leased user namespace (a pod's sandbox): the
//!   container joins that user namespace and shares its range;
//! - anything else is refused: libcontainer 0.7 joins namespaces after unsharing the
//!   new user namespace (container_intermediate_process.rs), where the init holds no
//!   capability over the host's (setns(2): EPERM), and a foreign user namespace is on
//!   ids no lease accounts for. Silently running without the user namespace the host
//!   config asks for would be a control switched off.

use libcontainer::oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Spec,
};

use super::{record, BaselineError, Change};
use crate::config::{UserNamespaceConfig, UserNamespaceMode};
use crate::user_namespace_pool::RANGE_SIZE;
use crate::user_namespace_share::Joined;

/// The change's control name; `create` leases a range for a spec that has it.
pub const CONTROL: &str = "user-namespace";
/// The control name of a join of another container's user namespace: `create` gives
/// its own lease back and shares that container's.
pub const SHARED_CONTROL: &str = "user-namespace-shared";

/// Gives `spec` a user namespace on the range at `host_id` where `config` asks for one
/// and the spec has none, or the user namespace of the container whose namespaces it
/// joins (`joined`).
pub fn add(
    config: &UserNamespaceConfig,
    host_id: u32,
    joined: &Joined,
    spec: &mut Spec,
    changes: &mut Vec<Change>,
) -> Result<(), BaselineError> {
    if config.mode == UserNamespaceMode::Off {
        return Ok(());
    }
    let linux = spec.linux_mut().get_or_insert_with(Default::default);
    let before = linux.namespaces().clone();
    let mut namespaces = before.clone().unwrap_or_default();
    if namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User)
    {
        return Ok(());
    }
    let (host_id, path, control, reason) = match joined {
        Joined::Refused {
            index,
            namespace,
            by_the_host: true,
        } => {
            return Err(BaselineError::UserNamespaceBesideJoined {
                index: *index,
                namespace,
            })
        }
        Joined::Refused {
            index, namespace, ..
        } => {
            return Err(BaselineError::UserNamespaceNotLeased {
                index: *index,
                namespace,
            })
        }
        Joined::Nothing => (
            host_id,
            None,
            CONTROL,
            "baseline.user_namespace.mode = \"auto\": the container's ids are a host range \
             of its own",
        ),
        Joined::Leased { holder, .. } => (
            holder.host_id,
            Some(holder.path()),
            SHARED_CONTROL,
            "baseline.user_namespace.mode = \"auto\": the container joins namespaces of \
             its pod's sandbox and runs in its user namespace, on its host range",
        ),
    };
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    user.set_path(path);
    namespaces.push(user);
    record(
        changes,
        control,
        "linux.namespaces",
        &before,
        &Some(namespaces.clone()),
        reason,
    );
    linux.set_namespaces(Some(namespaces));
    let range = vec![one_range(host_id)];
    linux.set_uid_mappings(Some(range.clone()));
    linux.set_gid_mappings(Some(range));
    Ok(())
}

fn one_range(host_id: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(host_id)
        .size(RANGE_SIZE)
        .build()
        .expect("every field of the mapping is set")
}

/// Whether the baseline gave the container a user namespace of its own (so `create`
/// holds a lease for it).
pub fn was_added(changes: &[Change]) -> bool {
    changes.iter().any(|change| change.control == CONTROL)
}

/// Whether the container runs in a user namespace the baseline chose: its own, or its
/// pod sandbox's (so its rootfs needs bulwark's idmapped view).
pub fn is_bulwarks(changes: &[Change]) -> bool {
    changes
        .iter()
        .any(|change| change.control == CONTROL || change.control == SHARED_CONTROL)
}
