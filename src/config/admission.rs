//! `[admission.*]`: what a spec may ask for (crate::admission): limits and their
//! ceilings, images, mounts, cgroups, user namespaces, hooks, distroless checks.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{is_plain_absolute, ConfigError};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    pub capabilities: CapabilityRules,
    pub resources: ResourceLimits,
    pub mounts: MountsConfig,
    pub hooks: HooksConfig,
    pub images: ImagesConfig,
    pub distroless: DistrolessConfig,
    pub cgroups: CgroupsConfig,
    pub user_namespaces: UserNamespacesConfig,
    pub preserve_fds: PreserveFdsConfig,
}

/// What the descriptors `--preserve-fds` passes may be (rule `fds.preserved`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PreserveFdsConfig {
    /// Sockets reach whatever listens at their other end; systemd socket activation
    /// (`LISTEN_FDS`) needs them. Directories are never allowed.
    pub allow_sockets: bool,
}

/// Where containers' cgroups may be (see `src/cgroups.rs`): strictly below one of these
/// parents, as a cgroup that does not exist yet.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CgroupsConfig {
    /// cgroupfs parents: bulwark's default, kubelet's (cgroupfs driver) and Podman's.
    pub parents: Vec<PathBuf>,
    /// systemd slices (a slice nests below its dash-prefix: `kubepods-burstable.slice`
    /// is below `kubepods.slice`).
    pub systemd_slices: Vec<String>,
}

impl Default for CgroupsConfig {
    fn default() -> Self {
        Self {
            parents: ["/bulwark", "/kubepods", "/libpod_parent"]
                .map(PathBuf::from)
                .to_vec(),
            systemd_slices: ["system.slice", "machine.slice", "kubepods.slice"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// Which host ids a user namespace may map container ids to (rule
/// `namespaces.user-mapping`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UserNamespacesConfig {
    /// The lowest host uid/gid a container id may map to. Default 65536: the host's
    /// system accounts and its human users (useradd's UID_MAX is 60000, nobody is
    /// 65534) live below it, and subordinate id ranges (/etc/subuid) start at 100000.
    /// Host id 0 is refused whatever this says.
    pub min_host_id: u32,
}

impl Default for UserNamespacesConfig {
    fn default() -> Self {
        Self { min_host_id: 65536 }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CapabilityRules {
    /// Refuse specs that request CAP_NET_RAW. Off by default: containerd's and Docker's
    /// default capability sets include it, so every CRI container asks for it, and the
    /// baseline drops it anyway.
    pub refuse_net_raw: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceLimits {
    /// Largest memory limit a container may ask for. Default 8 GiB.
    pub max_memory_bytes: u64,
    /// Largest CPU quota, in CPUs (quota / period). Default 4.
    pub max_cpus: f64,
    /// Largest pids limit. Default 4096.
    pub max_pids: i64,
    /// Limits given to a CRI sandbox (pause) container, which containerd leaves
    /// unlimited. Defaults: 64 MiB, 10 ms per 100 ms (0.1 CPU), 32 pids.
    pub sandbox_memory_bytes: u64,
    pub sandbox_cpu_quota: i64,
    pub sandbox_pids: i64,
    /// The pids limit of a container libpod records as a pod member (not its infra)
    /// when its spec has none: `podman kube play` cannot give one (a pod YAML has no
    /// such field, and Podman 4.3 does not apply containers.conf's `pids_limit` to it).
    /// Unset (the default): such a container is refused like any without a limit.
    pub pod_member_pids: Option<i64>,
    /// Largest `size=` a tmpfs mount may ask for (tmpfs is the only writable
    /// filesystem a container gets). Default 1 GiB.
    pub max_tmpfs_bytes: u64,
    /// `linux.resources.unified` keys a spec may set (admission/unified.rs): files
    /// that lift no limit. Default `memory.oom.group`, which kubelet sets on v2.
    pub unified_allowed: Vec<String>,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            max_memory_bytes: 8 << 30,
            max_cpus: 4.0,
            max_pids: 4096,
            sandbox_memory_bytes: 64 << 20,
            sandbox_cpu_quota: 10_000,
            sandbox_pids: 32,
            pod_member_pids: None,
            max_tmpfs_bytes: 1 << 30,
            unified_allowed: vec!["memory.oom.group".to_owned()],
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MountsConfig {
    /// Host directories that may be bind-mounted (besides the engine's own per-container
    /// paths). Never effective for /, /proc, /sys, /dev, /etc, /run and the like.
    pub allowed_host_paths: Vec<PathBuf>,
    /// Which of Podman's named volumes (known to libpod's state) may be bound
    /// read-write: `bounded` (a size-limited tmpfs), `any`, or `off`.
    pub podman_volumes: PodmanVolumes,
    /// The init binary Podman's containers.conf names (`init_path`), which `podman run
    /// --init` binds read-only; unset: `--init` is refused.
    pub podman_init_path: Option<PathBuf>,
}

impl Default for MountsConfig {
    fn default() -> Self {
        MountsConfig {
            allowed_host_paths: Vec::new(),
            podman_volumes: PodmanVolumes::Bounded,
            podman_init_path: Some(PathBuf::from("/usr/libexec/podman/catatonit")),
        }
    }
}

/// Podman named volumes bulwark admits. The rootfs is read-only and tmpfs mounts are
/// size-limited, so a volume is the one place a container could fill a disk.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PodmanVolumes {
    /// None: every volume is a host path.
    Off,
    /// Volumes whose directory is a tmpfs no larger than
    /// `admission.resources.max_tmpfs_bytes` (`podman volume create --opt type=tmpfs
    /// --opt device=tmpfs --opt o=nr_blocks=N`).
    Bounded,
    /// Any local volume, its disk use bounded only by its filesystem.
    Any,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HooksConfig {
    /// OCI hook executables that may run (they run as root on the host). Default none.
    pub allowed_paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// The images that may run (image_approval): fully qualified registry or repository
    /// prefixes matched at path-component boundaries (`registry.example.com/agents`,
    /// `docker.io/library/nginx`), image ids or manifest digests (`sha256:…`: that
    /// content under any name), or a name pinned to one (`name@sha256:…`). Default none:
    /// every image is refused until the operator names the ones it trusts.
    pub approved: Vec<String>,
    /// Only a digest entry of `approved` approves: the image's content (its id or a
    /// manifest digest, from the engine's records) must be listed, since a local tag can
    /// give any image an approved name.
    pub require_digest: bool,
    /// Refuse `:latest` (explicit or implied) unless a digest pins the image.
    pub refuse_latest: bool,
    /// Admit a container whose image cannot be identified. Off by default.
    pub allow_unknown: bool,
    /// Trust the `bulwark.io/image` annotation from a caller that is neither Podman nor
    /// containerd CRI (their users can set any annotation, so it is never trusted from
    /// them). Off by default.
    pub trust_annotation: bool,
    /// The image of a containerd CRI sandbox (pause) container whose spec names none:
    /// containerd's own `sandbox_image` setting, which the operator chose. Unset: such
    /// a sandbox's image is unknown.
    pub cri_sandbox_image: Option<String>,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        Self {
            approved: Vec::new(),
            require_digest: false,
            refuse_latest: true,
            allow_unknown: false,
            trust_annotation: false,
            cri_sandbox_image: None,
        }
    }
}

/// Where a shell or package manager would live in an image.
const SHELL_DIRS: [&str; 6] = [
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// Shells, multi-call binaries that contain one, and package managers.
const SHELLS_AND_PACKAGE_MANAGERS: [&str; 27] = [
    "sh",
    "bash",
    "ash",
    "dash",
    "zsh",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "busybox",
    "toybox",
    "apt",
    "apt-get",
    "dpkg",
    "apk",
    "yum",
    "dnf",
    "microdnf",
    "rpm",
    "zypper",
    "pacman",
    "pip",
    "pip3",
    "easy_install",
    "npm",
    "gem",
];

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DistrolessConfig {
    /// Absolute paths that must not exist in a container's rootfs (resolved inside it).
    /// Default: every shell and package manager above in every bin/sbin directory. An
    /// empty list turns the check off.
    pub forbidden_paths: Vec<PathBuf>,
}

impl Default for DistrolessConfig {
    fn default() -> Self {
        let forbidden_paths = SHELL_DIRS
            .iter()
            .flat_map(|dir| {
                SHELLS_AND_PACKAGE_MANAGERS
                    .iter()
                    .map(move |name| Path::new(dir).join(name))
            })
            .collect();
        Self { forbidden_paths }
    }
}

/// A parent must be a cgroup below the root (`/` would confine nothing); a slice a unit
/// name ending in `.slice` (not the root slice `-.slice`).
fn validate_cgroups(cgroups: &CgroupsConfig, path: &Path) -> Result<(), ConfigError> {
    let invalid = |key, value: String, requirement| ConfigError::Cgroups {
        path: path.to_owned(),
        key,
        value,
        requirement,
    };
    if let Some(parent) = cgroups
        .parents
        .iter()
        .find(|p| !is_plain_absolute(p) || p.as_path() == Path::new("/"))
    {
        return Err(invalid(
            "parents",
            parent.display().to_string(),
            "an absolute cgroup path without \".\" or \"..\", not /",
        ));
    }
    if let Some(slice) = cgroups.systemd_slices.iter().find(|s| {
        !s.ends_with(".slice") || s.as_str() == "-.slice" || s.contains('/') || s.contains(':')
    }) {
        return Err(invalid(
            "systemd_slices",
            slice.clone(),
            "a systemd slice name (NAME.slice), not the root slice",
        ));
    }
    Ok(())
}

pub(super) fn validate(admission: &AdmissionConfig, path: &Path) -> Result<(), ConfigError> {
    // TOML reads nan and inf: a NaN ceiling would refuse every quota with "at most NaN
    // CPUs", an infinite one would be no ceiling.
    let max_cpus = admission.resources.max_cpus;
    if !(max_cpus.is_finite() && max_cpus > 0.0) {
        return Err(ConfigError::MaxCpus {
            path: path.to_owned(),
            max_cpus,
        });
    }
    if let Some(entry) = admission
        .images
        .approved
        .iter()
        .find(|entry| crate::image_approval::Approval::parse(entry).is_none())
    {
        return Err(ConfigError::ApprovedImage {
            path: path.to_owned(),
            entry: entry.clone(),
        });
    }
    if let Some(pids) = admission.resources.pod_member_pids {
        if !(1..=admission.resources.max_pids).contains(&pids) {
            return Err(ConfigError::PodMemberPids {
                path: path.to_owned(),
                pids,
                max: admission.resources.max_pids,
            });
        }
    }
    validate_cgroups(&admission.cgroups, path)?;
    if let Some(image) = &admission.images.cri_sandbox_image {
        if crate::image_reference::ImageReference::parse(image).is_none() {
            return Err(ConfigError::SandboxImage {
                path: path.to_owned(),
                image: image.clone(),
            });
        }
    }
    if let Some(entry) = admission
        .distroless
        .forbidden_paths
        .iter()
        .find(|entry| !entry.is_absolute())
    {
        return Err(ConfigError::DistrolessPath {
            path: path.to_owned(),
            entry: entry.clone(),
        });
    }
    Ok(())
}
