//! The devices a container may reach, by identity.
//!
//! A device node is its type and major:minor number, not the path the spec puts it at:
//! `podman run --device /dev/sda:/dev/zero` writes `{"path": "/dev/zero", "type": "b",
//! "major": 8, "minor": 0}`, and libcontainer 0.7 mknods exactly that (rootfs/device.rs),
//! a readable and writable disk under a harmless name. So admission decides on the
//! type and numbers, and the device cgroup, which the kernel checks on every open,
//! denies everything but the standard set.

use libcontainer::oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// A character device every container gets (runc's and Docker's default nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardNode {
    pub path: &'static str,
    pub major: i64,
    pub minor: i64,
}

/// The nodes a spec may list in `linux.devices`: null, zero, full, random, urandom, tty.
pub const STANDARD_NODES: [StandardNode; 6] = [
    node("/dev/null", 1, 3),
    node("/dev/zero", 1, 5),
    node("/dev/full", 1, 7),
    node("/dev/random", 1, 8),
    node("/dev/urandom", 1, 9),
    node("/dev/tty", 5, 0),
];

const fn node(path: &'static str, major: i64, minor: i64) -> StandardNode {
    StandardNode { path, major, minor }
}

/// Character devices (major, minor; None = every minor) a container may read and
/// write: the standard nodes plus the console (5:1), /dev/ptmx (5:2) and the devpts
/// ptys (136:*) a terminal needs. runc's default allow list without /dev/net/tun.
pub const ACCESSIBLE: [(i64, Option<i64>); 9] = [
    (1, Some(3)),
    (1, Some(5)),
    (1, Some(7)),
    (1, Some(8)),
    (1, Some(9)),
    (5, Some(0)),
    (5, Some(1)),
    (5, Some(2)),
    (136, None),
];

/// Whether a `linux.devices` entry is one of the standard nodes: a character device
/// (`c`, or `u`, unbuffered) with a standard major:minor at that device's own path.
pub fn standard_node(path: &str, typ: &str, major: i64, minor: i64) -> bool {
    matches!(typ, "c" | "u")
        && STANDARD_NODES
            .iter()
            .any(|n| n.path == path && n.major == major && n.minor == minor)
}

/// Whether a device cgroup rule grants read or write access to nothing but
/// [`ACCESSIBLE`] devices. A rule type `a` or absent, or a major or minor that is
/// absent or negative, is a wildcard: `c *:* rwm` with `b *:* rwm` is allow-all in two
/// rules. Deny rules and `m`-only rules always pass: mknod needs CAP_MKNOD, which the
/// baseline drops.
pub fn grants_only_accessible(
    allow: bool,
    typ: Option<&str>,
    major: Option<i64>,
    minor: Option<i64>,
    access: Option<&str>,
) -> bool {
    let access = access.filter(|a| !a.is_empty()).unwrap_or("rwm");
    if !allow || !access.contains(['r', 'w']) {
        return true;
    }
    if !matches!(typ, Some("c" | "u")) {
        return false;
    }
    let Some(major) = major.filter(|m| *m >= 0) else {
        return false;
    };
    let minor = minor.filter(|m| *m >= 0);
    ACCESSIBLE
        .iter()
        .any(|(ma, mi)| *ma == major && (mi.is_none() || *mi == minor))
}

/// The device cgroup rules every container runs with: deny everything first, then
/// allow [`ACCESSIBLE`]. libcontainer 0.7 writes the spec's rules in order and then
/// appends its own defaults (libcgroups v1/devices.rs); it adds no deny, so without
/// the first rule a new v1 cgroup keeps its parent's list, `a *:* rwm` under the root.
pub fn cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    let mut rules = vec![rule(false, LinuxDeviceType::A, None, None)];
    rules.extend(
        ACCESSIBLE
            .iter()
            .map(|(major, minor)| rule(true, LinuxDeviceType::C, Some(*major), *minor)),
    );
    rules
}

fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(allow);
    rule.set_typ(Some(typ));
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some("rwm".to_owned()));
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_its_type_and_numbers_not_its_path() {
        assert!(standard_node("/dev/zero", "c", 1, 5));
        assert!(standard_node("/dev/null", "u", 1, 3));
        // podman run --device /dev/loop0:/dev/zero
        assert!(!standard_node("/dev/zero", "b", 7, 0));
        assert!(!standard_node("/dev/zero", "c", 1, 3));
        assert!(!standard_node("/dev/kmsg", "c", 1, 11));
    }

    #[test]
    fn wildcards_and_block_devices_are_not_accessible() {
        let rw = Some("rw");
        assert!(grants_only_accessible(
            true,
            Some("c"),
            Some(1),
            Some(3),
            rw
        ));
        assert!(grants_only_accessible(true, Some("c"), Some(136), None, rw));
        assert!(grants_only_accessible(
            true,
            Some("c"),
            Some(136),
            Some(4),
            rw
        ));
        // Split allow-all: c *:* and b *:*.
        assert!(!grants_only_accessible(true, Some("c"), None, None, rw));
        assert!(!grants_only_accessible(true, Some("b"), None, None, rw));
        assert!(!grants_only_accessible(true, None, None, None, None));
        assert!(!grants_only_accessible(
            true,
            Some("a"),
            Some(1),
            Some(3),
            rw
        ));
        assert!(!grants_only_accessible(
            true,
            Some("c"),
            Some(-1),
            Some(3),
            rw
        ));
        assert!(!grants_only_accessible(true, Some("c"), Some(1), None, rw));
        assert!(!grants_only_accessible(
            true,
            Some("b"),
            Some(7),
            Some(0),
            None
        ));
        assert!(!grants_only_accessible(
            true,
            Some("c"),
            Some(10),
            Some(200),
            rw
        ));
        // Denies and mknod-only rules grant nothing a container without CAP_MKNOD uses.
        assert!(grants_only_accessible(false, None, None, None, None));
        assert!(grants_only_accessible(
            true,
            Some("b"),
            None,
            None,
            Some("m")
        ));
    }

    #[test]
    fn the_cgroup_rules_deny_everything_first() {
        let rules = cgroup_rules();
        assert!(!rules[0].allow());
        assert_eq!(rules[0].typ(), Some(LinuxDeviceType::A));
        assert!(rules[1..].iter().all(|r| r.allow()
            && grants_only_accessible(
                true,
                Some("c"),
                r.major(),
                r.minor(),
                r.access().as_deref()
            )));
    }
}
