//! `[baseline]`: the hardening every container gets (crate::baseline): the non-root
//! ids, capabilities the host may grant, seccomp and AppArmor profiles, scratch dirs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{is_plain_absolute, ConfigError};

/// Capabilities the host config may let containers keep: Pod Security Standards'
/// baseline list. Anything else (SYS_ADMIN, SYS_MODULE, NET_ADMIN, SYS_PTRACE, ...) can
/// never be granted through bulwark.
pub const GRANTABLE_CAPABILITIES: [&str; 13] = [
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Capabilities a container may keep if its spec asks for them. Default: none.
    pub allowed_capabilities: Vec<String>,
    /// `nodev,nosuid` are always added to writable tmpfs mounts; `noexec` too if set.
    pub tmpfs_noexec: bool,
    /// `size=` given to a tmpfs mount that has none. Default 64 MiB.
    pub tmpfs_size_bytes: u64,
    /// Where the baseline mounts a bounded scratch tmpfs (`tmpfs_size_bytes`, the
    /// image's contents copied up) when the engine mounted nothing there: the rootfs
    /// is always read-only. Default /tmp, /var/tmp and /run; empty turns it off.
    pub scratch_dirs: Vec<PathBuf>,
    pub non_root: NonRootConfig,
    pub seccomp: SeccompConfig,
    pub apparmor: AppArmorConfig,
    pub user_namespace: UserNamespaceConfig,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UserNamespaceMode {
    /// Containers run in the user namespace their spec gives them, if any.
    Off,
    /// A container whose spec brings no user namespace gets one of its own: container
    /// ids 0..65536 on a host range leased to it alone (crate::user_namespace_pool).
    Auto,
}

/// `[baseline.user_namespace]` (issue #19 Phase 1): where `auto` leases host ranges.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UserNamespaceConfig {
    pub mode: UserNamespaceMode,
    /// The pool's first host id: range n is `first_host_id + n × 65536`. Default 2^30,
    /// far above the ids of accounts and of /etc/subuid ranges tools hand out from
    /// 100000.
    pub first_host_id: u32,
    /// How many 65536-id ranges the pool holds: how many containers can run at once.
    pub ranges: u32,
}

impl Default for UserNamespaceConfig {
    fn default() -> Self {
        Self {
            mode: UserNamespaceMode::Off,
            first_host_id: 1 << 30,
            ranges: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NonRootMode {
    /// uid/gid 0 become `uid`/`gid`.
    Remap,
    /// A process asking for uid or gid 0 is refused.
    Refuse,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NonRootConfig {
    pub mode: NonRootMode,
    /// Default 65532: distroless images' `nonroot` user.
    pub uid: u32,
    pub gid: u32,
}

impl Default for NonRootConfig {
    fn default() -> Self {
        Self {
            mode: NonRootMode::Remap,
            uid: 65532,
            gid: 65532,
        }
    }
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            allowed_capabilities: Vec::new(),
            tmpfs_noexec: false,
            tmpfs_size_bytes: 64 << 20,
            scratch_dirs: ["/tmp", "/var/tmp", "/run"].map(PathBuf::from).to_vec(),
            non_root: NonRootConfig::default(),
            seccomp: SeccompConfig::default(),
            apparmor: AppArmorConfig::default(),
            user_namespace: UserNamespaceConfig::default(),
        }
    }
}

/// The seccomp profiles shipped in `seccomp-profiles/`, least strict first. A container
/// may select a stricter profile than the configured one, never a weaker one.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum SeccompProfileName {
    Default,
    Agent,
}

impl SeccompProfileName {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::Default),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SeccompConfig {
    pub profile: SeccompProfileName,
}

impl Default for SeccompConfig {
    fn default() -> Self {
        Self {
            profile: SeccompProfileName::Default,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AppArmorConfig {
    /// The profile every container runs under (apparmor/bulwark-default).
    pub profile: String,
    /// Run containers on a kernel without AppArmor. Off by default: bulwark refuses
    /// rather than run without a control it promises. Every decision records it.
    pub allow_missing: bool,
}

impl Default for AppArmorConfig {
    fn default() -> Self {
        Self {
            profile: "bulwark-default".into(),
            allow_missing: false,
        }
    }
}

pub(super) fn validate(
    baseline: &BaselineConfig,
    max_tmpfs: u64,
    min_host_id: u32,
    path: &Path,
) -> Result<(), ConfigError> {
    let pool = &baseline.user_namespace;
    let end = u64::from(pool.first_host_id) + u64::from(pool.ranges) * 65536;
    if pool.first_host_id < min_host_id || pool.ranges == 0 || end > u64::from(u32::MAX) {
        return Err(ConfigError::UserNamespacePool {
            path: path.to_owned(),
            min_host_id,
        });
    }
    for capability in &baseline.allowed_capabilities {
        if !GRANTABLE_CAPABILITIES.contains(&capability.as_str()) {
            return Err(ConfigError::CapabilityNotGrantable {
                path: path.to_owned(),
                capability: capability.clone(),
                allowed: GRANTABLE_CAPABILITIES.join(", "),
            });
        }
    }
    let ids = &baseline.non_root;
    if ids.uid == 0 || ids.gid == 0 {
        return Err(ConfigError::RootIds {
            path: path.to_owned(),
        });
    }
    if baseline.tmpfs_size_bytes == 0 || baseline.tmpfs_size_bytes > max_tmpfs {
        return Err(ConfigError::TmpfsSize {
            path: path.to_owned(),
            max: max_tmpfs,
        });
    }
    if let Some(entry) = baseline.scratch_dirs.iter().find(|dir| {
        !is_plain_absolute(dir)
            || dir.as_path() == Path::new("/")
            || ["/proc", "/sys", "/dev"].iter().any(|k| dir.starts_with(k))
    }) {
        return Err(ConfigError::ScratchDir {
            path: path.to_owned(),
            entry: entry.clone(),
        });
    }
    Ok(())
}
