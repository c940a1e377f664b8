//! `baseline.user_namespace.mode = "auto"` (issue #19 Phase 1): a container whose spec
//! brings no user namespace gets one of its own, mapping container ids 0..65536 to the
//! host range `create` leased to it (crate::user_namespace_pool). Its "root" is then an
//! unprivileged host uid no other container shares, and its 65532 is not every other
//! container's 65532: per-user kernel limits (RLIMIT_NPROC, inotify, keyrings) and file
//! ownership stop being shared across tenants.
//!
//! A spec that joins a namespace by path is left as it is and refused: those namespaces
//! belong to the host's user namespace, and libcontainer 0.7 joins them after unsharing
//! the new one (container_intermediate_process.rs), where the init holds no capability
//! over them (setns(2): EPERM). Silently running without the user namespace the host
//! config asks for would be a control switched off.

use libcontainer::oci_spec::runtime::{
    LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Spec,
};

use super::{record, BaselineError, Change};
use crate::config::{UserNamespaceConfig, UserNamespaceMode};
use crate::user_namespace_pool::RANGE_SIZE;

/// The change's control name; `create` leases a range for a spec that has it.
pub const CONTROL: &str = "user-namespace";

/// Gives `spec` a user namespace on the range at `host_id` where `config` asks for one
/// and the spec has none.
pub fn add(
    config: &UserNamespaceConfig,
    host_id: u32,
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
    if let Some((index, joined)) = namespaces
        .iter()
        .enumerate()
        .find(|(_, n)| n.path().is_some())
    {
        return Err(BaselineError::UserNamespaceBesideJoined {
            index,
            namespace: format!("{:?}", joined.typ()).to_lowercase(),
        });
    }
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    namespaces.push(user);
    record(
        changes,
        CONTROL,
        "linux.namespaces",
        &before,
        &Some(namespaces.clone()),
        "baseline.user_namespace.mode = \"auto\": the container's ids are a host range \
         of its own",
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

/// Whether the baseline gave the container its user namespace (so `create` holds a
/// lease for it).
pub fn was_added(changes: &[Change]) -> bool {
    changes.iter().any(|change| change.control == CONTROL)
}
