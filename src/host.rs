//! Facts about the host that decide what bulwark can promise.

use std::collections::BTreeSet;

/// Where the kernel lists loaded AppArmor profiles, one `name (mode)` per line.
const APPARMOR_PROFILES: &str = "/sys/kernel/security/apparmor/profiles";

/// Whether the kernel enforces AppArmor. A missing or unreadable parameter file means it
/// does not (the module is not loaded).
pub fn apparmor_enabled() -> bool {
    libcontainer::apparmor::is_enabled().unwrap_or(false)
}

/// Names of the AppArmor profiles the kernel has loaded (empty when unreadable).
pub fn loaded_apparmor_profiles() -> BTreeSet<String> {
    std::fs::read_to_string(APPARMOR_PROFILES)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.rsplit_once(" (").map(|(name, _)| name.to_owned()))
        .collect()
}

/// The name of an OCI namespace type under /proc/<pid>/ns ("network" is "net",
/// "mount" is "mnt"; the others are the same).
pub fn proc_ns_name(oci_type: &str) -> &str {
    match oci_type {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}
