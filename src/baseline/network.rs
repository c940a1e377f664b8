//! Unprivileged ports in the container's own network namespace.
//!
//! The baseline drops every capability, CAP_NET_BIND_SERVICE included, and runs the
//! process as 65532: a web image listening on :80 then fails with EACCES. Docker (since
//! 20.10) sets `net.ipv4.ip_unprivileged_port_start=0` for a container with a network
//! namespace of its own; the baseline does the same. The port
//! threshold is per network namespace, so it opens :80 to nobody outside it; the host's
//! namespace is never given one (admission's `namespaces.required` refuses it, and a
//! joined path is verified not to be the host's at create, crate::namespace_paths).

use std::collections::HashMap;

use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;

use super::Change;

/// The sysctl (Pod Security Standards lists it among the safe ones).
pub const UNPRIVILEGED_PORT_START: &str = "net.ipv4.ip_unprivileged_port_start";

/// Sets `net.ipv4.ip_unprivileged_port_start=0` when the container has a network
/// namespace bulwark may write it in and the spec sets no value of its own (an explicit
/// one, admitted by `sysctls.unsafe`, stays).
///
/// libcontainer 0.7 writes `linux.sysctl` from the init once it is in all its namespaces
/// (process/init/process.rs, `sysctl`), as root of the container's user namespace. A
/// network namespace joined by path while the container has a user namespace belongs to
/// that user namespace (a pod sandbox's, crate::user_namespace_share), where the init
/// may write it, or to the host's, where bulwark joins it and writes the `net.*`
/// sysctls itself (crate::network_prejoin).
pub(super) fn unprivileged_ports(spec: &mut Spec, changes: &mut Vec<Change>) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    if !namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::Network)
    {
        return;
    }
    let mut sysctl = linux.sysctl().clone().unwrap_or_else(HashMap::new);
    if sysctl.contains_key(UNPRIVILEGED_PORT_START) {
        return;
    }
    sysctl.insert(UNPRIVILEGED_PORT_START.to_owned(), "0".to_owned());
    linux.set_sysctl(Some(sysctl));
    changes.push(Change {
        control: "unprivileged-ports",
        path: format!("linux.sysctl[\"{UNPRIVILEGED_PORT_START}\"]"),
        before: Value::Null,
        after: Value::String("0".to_owned()),
        reason: "a non-root process without capabilities may bind ports below 1024 in \
                 the container's own network namespace, as under Docker",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(linux: Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "/rootfs"},
            "linux": linux,
        }))
        .unwrap()
    }

    fn port_start(spec: &Spec) -> Option<String> {
        spec.linux()
            .as_ref()?
            .sysctl()
            .as_ref()?
            .get(UNPRIVILEGED_PORT_START)
            .cloned()
    }

    #[test]
    fn a_network_namespace_of_its_own_or_a_pods_gets_unprivileged_ports() {
        for namespaces in [
            serde_json::json!([{"type": "network"}]),
            serde_json::json!([{"type": "network", "path": "/proc/42/ns/net"}]),
            serde_json::json!([{"type": "network"}, {"type": "user"}]),
            serde_json::json!([
                {"type": "network", "path": "/proc/42/ns/net"}, {"type": "user"}]),
        ] {
            let mut spec = spec(serde_json::json!({"namespaces": namespaces}));
            let mut changes = Vec::new();
            unprivileged_ports(&mut spec, &mut changes);
            assert_eq!(port_start(&spec).as_deref(), Some("0"), "{namespaces}");
            assert_eq!(changes.len(), 1);
            assert_eq!(
                changes[0].path,
                "linux.sysctl[\"net.ipv4.ip_unprivileged_port_start\"]"
            );
        }
    }

    #[test]
    fn the_hosts_namespace_and_an_explicit_value_are_left_alone() {
        for (linux, expected) in [
            // No network namespace: the host's.
            (serde_json::json!({"namespaces": [{"type": "pid"}]}), None),
            (
                serde_json::json!({"namespaces": [{"type": "network"}],
                                   "sysctl": {UNPRIVILEGED_PORT_START: "1024"}}),
                Some("1024"),
            ),
        ] {
            let mut spec = spec(linux.clone());
            let mut changes = Vec::new();
            unprivileged_ports(&mut spec, &mut changes);
            assert_eq!(port_start(&spec).as_deref(), expected, "{linux}");
            assert_eq!(changes, vec![], "{linux}");
        }
    }
}
