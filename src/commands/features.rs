use std::path::Path;

use anyhow::Result;
use libcontainer::oci_spec::runtime::VERSION;
use libcontainer::syscall::linux::MountOption;
use libseccomp::{ScmpArch, ScmpVersion};
use serde_json::{json, Value};

use crate::config::{BaselineConfig, LoadedConfig};
use crate::{host, seccomp_profiles};

const NAMESPACES: [&str; 8] = [
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// The OCI features document (runtime-spec features.md). Every entry says what this
/// build and this host really do: a namespace the kernel lacks, or AppArmor on a kernel
/// without it, is reported absent.
pub fn features() -> Result<()> {
    let config = LoadedConfig::load()?;
    crate::outln!("{}", serde_json::to_string_pretty(&document(&config))?);
    Ok(())
}

fn document(config: &LoadedConfig) -> Value {
    let baseline = &config.config.baseline;
    let profile = baseline.seccomp.profile;
    let libseccomp = ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into());
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MountOption::known_options(),
        "linux": {
            "namespaces": host_namespaces(),
            "capabilities": kernel_capabilities(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": [native_arch()],
            },
            "apparmor": {"enabled": host::apparmor_enabled()},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": Path::new("/sys/fs/resctrl/schemata").exists()},
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": libseccomp,
            "io.github.bulwark.version": env!("CARGO_PKG_VERSION"),
            "io.github.bulwark.libcontainer.version": "0.7.0",
            "io.github.bulwark.config.digest": config.digest,
            "io.github.bulwark.config.source": config
                .source
                .as_ref()
                .map_or_else(|| "built-in defaults".to_owned(), |p| p.display().to_string()),
            "io.github.bulwark.seccomp.profile": profile.as_str(),
            "io.github.bulwark.seccomp.profile.digest": seccomp_profiles::digest(profile),
            "io.github.bulwark.apparmor": AppArmorState::of(baseline).describe(),
        },
    })
}

/// What happens to AppArmor on this host under this config.
pub(super) enum AppArmorState<'a> {
    Enforced(&'a str),
    NotLoaded(&'a str),
    MissingAllowed,
    MissingRefused,
}

impl<'a> AppArmorState<'a> {
    pub(super) fn of(baseline: &'a BaselineConfig) -> Self {
        let profile = baseline.apparmor.profile.as_str();
        if !host::apparmor_enabled() {
            if baseline.apparmor.allow_missing {
                Self::MissingAllowed
            } else {
                Self::MissingRefused
            }
        } else if host::loaded_apparmor_profiles().contains(profile) {
            Self::Enforced(profile)
        } else {
            Self::NotLoaded(profile)
        }
    }

    /// Whether every container is refused in this state.
    pub(super) fn refuses_containers(&self) -> bool {
        matches!(self, Self::NotLoaded(_) | Self::MissingRefused)
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Self::Enforced(profile) => format!("enforced: {profile}"),
            Self::NotLoaded(profile) => format!(
                "not loaded: {profile}; containers are refused until `bulwark apparmor install`"
            ),
            Self::MissingAllowed => {
                "unavailable: kernel has no AppArmor; containers run without it (allow_missing)"
                    .into()
            }
            Self::MissingRefused => {
                "unavailable: kernel has no AppArmor; containers are refused".into()
            }
        }
    }
}

fn host_namespaces() -> Vec<&'static str> {
    NAMESPACES
        .into_iter()
        .filter(|ns| {
            Path::new("/proc/self/ns")
                .join(host::proc_ns_name(ns))
                .exists()
        })
        .collect()
}

fn kernel_capabilities() -> Vec<String> {
    let mut names: Vec<String> = caps::runtime::thread_all_supported()
        .iter()
        .map(|c| c.to_string())
        .collect();
    names.sort();
    names
}

fn native_arch() -> &'static str {
    match ScmpArch::native() {
        ScmpArch::X8664 => "SCMP_ARCH_X86_64",
        ScmpArch::Aarch64 => "SCMP_ARCH_AARCH64",
        ScmpArch::X86 => "SCMP_ARCH_X86",
        _ => "SCMP_ARCH_NATIVE",
    }
}
