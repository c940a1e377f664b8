//! Facts about the host that decide what bulwark can promise.

/// Whether the kernel enforces AppArmor. A missing or unreadable parameter file means it
/// does not (the module is not loaded).
pub fn apparmor_enabled() -> bool {
    libcontainer::apparmor::is_enabled().unwrap_or(false)
}
