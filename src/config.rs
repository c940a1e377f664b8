//! The host configuration: `/etc/bulwark/config.toml`, or the file named by
//! `BULWARK_CONFIG`. Every key has a default (see README, "Host configuration"); an
//! unknown key is an error, so a typo never silently leaves a control at its default.
//! Only commands that admit work (`create`, `run`, `exec`, `update`, `features`) load it.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const DEFAULT_PATH: &str = "/etc/bulwark/config.toml";
pub const PATH_ENV: &str = "BULWARK_CONFIG";

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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read host config {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("host config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error(
        "host config {path}: baseline.allowed_capabilities names {capability:?}; only {allowed} may be granted"
    )]
    CapabilityNotGrantable {
        path: PathBuf,
        capability: String,
        allowed: String,
    },
    #[error("host config {path}: baseline.non_root.uid and gid must not be 0")]
    RootIds { path: PathBuf },
    #[error(
        "host config {path}: baseline.tmpfs_size_bytes must be between 1 and admission.resources.max_tmpfs_bytes ({max}); tmpfs reads 0 as unlimited"
    )]
    TmpfsSize { path: PathBuf, max: u64 },
    #[error(
        "host config {path}: baseline.scratch_dirs entry {entry:?} must be an absolute path \
         without \".\" or \"..\", not / and not under /proc, /sys or /dev"
    )]
    ScratchDir { path: PathBuf, entry: PathBuf },
    #[error("host config {path}: admission.resources.max_cpus must be a number of CPUs above 0 (like 4 or 0.5), not {max_cpus}")]
    MaxCpus { path: PathBuf, max_cpus: f64 },
    #[error(
        "host config {path}: admission.images.approved entry {entry:?} is neither a registry or repository prefix (like \"registry.example.com/agents\": no tag or trailing slash), an image id or manifest digest (sha256: and 64 lowercase hex digits) nor a name pinned to one (name@sha256:…)"
    )]
    ApprovedImage { path: PathBuf, entry: String },
    #[error("host config {path}: policy.decision_path {decision_path:?} must be rule names joined by '/' (like \"bulwark/decision\")")]
    DecisionPath {
        path: PathBuf,
        decision_path: String,
    },
    #[error("host config {path}: admission.images.cri_sandbox_image {image:?} is not an image reference")]
    SandboxImage { path: PathBuf, image: String },
    #[error("host config {path}: admission.distroless.forbidden_paths entry {entry:?} is not an absolute path")]
    DistrolessPath { path: PathBuf, entry: PathBuf },
    #[error("host config {path}: secrets.{key} {value:?}: {requirement}")]
    Secrets {
        path: PathBuf,
        key: &'static str,
        value: String,
        requirement: &'static str,
    },
    #[error("host config {path}: admission.cgroups.{key} entry {value:?}: {requirement}")]
    Cgroups {
        path: PathBuf,
        key: &'static str,
        value: String,
        requirement: &'static str,
    },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    pub baseline: BaselineConfig,
    pub admission: AdmissionConfig,
    pub policy: PolicyConfig,
    pub audit: AuditConfig,
    pub secrets: SecretsConfig,
}

/// Which policy engine decides after admission (seeds: "OPA — Policy Decisions").
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PolicyBackend {
    /// OPA's REST Data API over a Unix socket.
    Opa,
    /// The same Rego, evaluated in-process (regorus). The default: nothing to run.
    Embedded,
    /// Only the built-in admission and baseline.
    Off,
}

/// What happens when OPA cannot answer (socket missing, timeout, error, bad body).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Fail closed: the container is refused.
    Refuse,
    /// Decide with the embedded policies instead (the seeds' graceful degradation).
    Embedded,
}

/// Which engine wrote a spec, by name (`container.engine` in the policy input; see
/// `src/engine.rs` for how bulwark tells them apart).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// Any user of `podman run` (`--annotation` writes any annotation).
    Podman,
    /// containerd's CRI plugin: pod annotations the operator allowlisted
    /// (`pod_annotations`) are the pod author's.
    Cri,
    /// An orchestrator driving bulwark directly, which writes the whole spec.
    Other,
}

impl EngineName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Podman => "podman",
            Self::Cri => "cri",
            Self::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Podman, Self::Cri, Self::Other]
            .into_iter()
            .find(|engine| engine.as_str() == name)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub backend: PolicyBackend,
    /// The decision document: `data.<path with dots>`, `POST /v1/data/<path>`.
    pub decision_path: String,
    /// Rego modules (`*.rego`, not `*_test.rego`) and `data.json` to evaluate instead
    /// of the copy of `policies/` built into bulwark.
    pub policies_dir: Option<PathBuf>,
    pub on_unavailable: OnUnavailable,
    /// Engines whose `bulwark.io/agent` annotation names the agent (`agent.trusted` in
    /// the policy input). From any other engine the annotation was written by the
    /// workload's author (`podman --annotation`, an allowlisted pod annotation): a claim
    /// that the policy lets narrow what the container gets and never widen it (no
    /// agent's secrets, no `require_agent`). Default: only an orchestrator (`other`).
    pub trusted_agent_engines: Vec<EngineName>,
    pub opa: OpaConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            backend: PolicyBackend::Embedded,
            decision_path: "bulwark/decision".into(),
            policies_dir: None,
            on_unavailable: OnUnavailable::Refuse,
            trusted_agent_engines: vec![EngineName::Other],
            opa: OpaConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OpaConfig {
    pub socket: PathBuf,
    /// bulwark runs on every container operation: an OPA that does not answer fast is
    /// treated as unavailable.
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
    pub max_response_bytes: usize,
}

impl Default for OpaConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/run/bulwark/opa.sock"),
            connect_timeout_ms: 200,
            response_timeout_ms: 500,
            max_response_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// One JSON line per decision, appended (O_APPEND).
    pub path: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("/var/log/bulwark/audit.jsonl"),
        }
    }
}

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

/// File-based secrets (seeds: secrets reach a container only as files on tmpfs, as
/// `NAME_FILE`). See `src/secrets/`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Host directories the `bulwark.io/secrets` annotation may name files in. Default
    /// none: the annotation is refused until the operator names where secrets live.
    pub source_dirs: Vec<PathBuf>,
    /// Where the secrets directory appears inside the container. Default
    /// `/run/secrets`, the path Podman and Docker use and admission's env.secret
    /// refusal points to.
    pub target: PathBuf,
    /// Largest secret file. Default 64 KiB.
    pub max_bytes: u64,
    /// Most secrets per container. Default 32.
    pub max_count: usize,
    /// Size of the per-container tmpfs, which bounds all secrets together. Default
    /// 1 MiB.
    pub tmpfs_size_bytes: u64,
    /// Add `NAME_FILE=<target>/NAME` to the init process's environment for each
    /// delivered secret. Default off.
    pub inject_file_env: bool,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            source_dirs: Vec::new(),
            target: PathBuf::from("/run/secrets"),
            max_bytes: 64 << 10,
            max_count: 32,
            tmpfs_size_bytes: 1 << 20,
            inject_file_env: false,
        }
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

/// The loaded configuration with where it came from and its digest.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: HostConfig,
    pub source: Option<PathBuf>,
    /// sha256 of the effective configuration (defaults included), for audit records.
    pub digest: String,
}

impl LoadedConfig {
    /// Loads `BULWARK_CONFIG` (which must exist) or the default path (defaults when
    /// absent).
    pub fn load() -> Result<Self, ConfigError> {
        match std::env::var_os(PATH_ENV) {
            Some(path) => Self::load_from(Path::new(&path), true),
            None => Self::load_from(Path::new(DEFAULT_PATH), false),
        }
    }

    pub fn load_from(path: &Path, must_exist: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !must_exist => None,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        match &text {
            Some(text) => Self::parse(text, path),
            None => Self::checked(HostConfig::default(), None, path),
        }
    }

    /// The config in `text`, the contents of `path` (named in errors): parsed and
    /// validated as [`Self::load_from`] does after reading the file. The fuzz target
    /// `host_config` starts here.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        Self::checked(config, Some(path.to_owned()), path)
    }

    fn checked(
        config: HostConfig,
        source: Option<PathBuf>,
        path: &Path,
    ) -> Result<Self, ConfigError> {
        validate(&config, path)?;
        let digest = digest(&config);
        Ok(Self {
            config,
            source,
            digest,
        })
    }
}

fn validate(config: &HostConfig, path: &Path) -> Result<(), ConfigError> {
    for capability in &config.baseline.allowed_capabilities {
        if !GRANTABLE_CAPABILITIES.contains(&capability.as_str()) {
            return Err(ConfigError::CapabilityNotGrantable {
                path: path.to_owned(),
                capability: capability.clone(),
                allowed: GRANTABLE_CAPABILITIES.join(", "),
            });
        }
    }
    let ids = &config.baseline.non_root;
    if ids.uid == 0 || ids.gid == 0 {
        return Err(ConfigError::RootIds {
            path: path.to_owned(),
        });
    }
    let max_tmpfs = config.admission.resources.max_tmpfs_bytes;
    if config.baseline.tmpfs_size_bytes == 0 || config.baseline.tmpfs_size_bytes > max_tmpfs {
        return Err(ConfigError::TmpfsSize {
            path: path.to_owned(),
            max: max_tmpfs,
        });
    }
    if let Some(entry) = config.baseline.scratch_dirs.iter().find(|dir| {
        !is_plain_absolute(dir)
            || dir.as_path() == Path::new("/")
            || ["/proc", "/sys", "/dev"].iter().any(|k| dir.starts_with(k))
    }) {
        return Err(ConfigError::ScratchDir {
            path: path.to_owned(),
            entry: entry.clone(),
        });
    }
    // TOML reads nan and inf: a NaN ceiling would refuse every quota with "at most NaN
    // CPUs", an infinite one would be no ceiling.
    let max_cpus = config.admission.resources.max_cpus;
    if !(max_cpus.is_finite() && max_cpus > 0.0) {
        return Err(ConfigError::MaxCpus {
            path: path.to_owned(),
            max_cpus,
        });
    }
    if let Some(entry) = config
        .admission
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
    validate_cgroups(&config.admission.cgroups, path)?;
    let decision_path = &config.policy.decision_path;
    if decision_path.is_empty()
        || !decision_path.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !segment.as_bytes()[0].is_ascii_digit()
        })
    {
        return Err(ConfigError::DecisionPath {
            path: path.to_owned(),
            decision_path: decision_path.clone(),
        });
    }
    if let Some(image) = &config.admission.images.cri_sandbox_image {
        if crate::image_reference::ImageReference::parse(image).is_none() {
            return Err(ConfigError::SandboxImage {
                path: path.to_owned(),
                image: image.clone(),
            });
        }
    }
    if let Some(entry) = config
        .admission
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
    validate_secrets(&config.secrets, max_tmpfs, path)
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

fn validate_secrets(
    secrets: &SecretsConfig,
    max_tmpfs: u64,
    path: &Path,
) -> Result<(), ConfigError> {
    let invalid = |key, value: String, requirement| ConfigError::Secrets {
        path: path.to_owned(),
        key,
        value,
        requirement,
    };
    let target = &secrets.target;
    let kernel_fs = ["/proc", "/sys", "/dev"]
        .iter()
        .any(|k| target.starts_with(k));
    if !is_plain_absolute(target) || target == Path::new("/") || kernel_fs {
        return Err(invalid(
            "target",
            target.display().to_string(),
            "an absolute path without \".\" or \"..\", not / and not under /proc, /sys or /dev",
        ));
    }
    if let Some(dir) = secrets.source_dirs.iter().find(|d| !is_plain_absolute(d)) {
        return Err(invalid(
            "source_dirs",
            dir.display().to_string(),
            "absolute paths without \".\" or \"..\"",
        ));
    }
    if secrets.tmpfs_size_bytes == 0 || secrets.tmpfs_size_bytes > max_tmpfs {
        return Err(invalid(
            "tmpfs_size_bytes",
            secrets.tmpfs_size_bytes.to_string(),
            "between 1 and admission.resources.max_tmpfs_bytes (tmpfs reads 0 as unlimited)",
        ));
    }
    if secrets.max_bytes == 0 || secrets.max_bytes > secrets.tmpfs_size_bytes {
        return Err(invalid(
            "max_bytes",
            secrets.max_bytes.to_string(),
            "between 1 and secrets.tmpfs_size_bytes",
        ));
    }
    if secrets.max_count == 0 {
        return Err(invalid("max_count", "0".into(), "at least 1"));
    }
    Ok(())
}

/// Absolute, with no `.` or `..` segment (`Path::components` silently drops `.`), so
/// lexical containment is real containment once symlinks are refused too.
pub fn is_plain_absolute(path: &Path) -> bool {
    let bytes = path.as_os_str().as_encoded_bytes();
    bytes.first() == Some(&b'/')
        && bytes
            .split(|b| *b == b'/')
            .all(|part| part != b"." && part != b"..")
}

/// Digest of the configuration in force, defaults included, so two files that mean the
/// same thing have the same digest.
fn digest(config: &HostConfig) -> String {
    let canonical = serde_json::to_vec(config).expect("the config serializes");
    format!("sha256:{:x}", Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<LoadedConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        LoadedConfig::load_from(&path, true)
    }

    #[test]
    fn defaults_when_the_default_file_is_absent() {
        let loaded =
            LoadedConfig::load_from(Path::new("/nonexistent/bulwark.toml"), false).unwrap();
        assert_eq!(loaded.config, HostConfig::default());
        assert!(loaded.source.is_none());
        assert_eq!(loaded.config.baseline.non_root.uid, 65532);
        assert!(!loaded.config.baseline.apparmor.allow_missing);
    }

    #[test]
    fn an_explicit_file_must_exist() {
        assert!(matches!(
            LoadedConfig::load_from(Path::new("/nonexistent/bulwark.toml"), true),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = load("[baseline]\nallow_capabilities = []\n").unwrap_err();
        assert!(err.to_string().contains("allow_capabilities"), "{err}");
        assert!(load("[nonsense]\n").is_err());
    }

    #[test]
    fn trusted_agent_engines_default_to_the_orchestrator_and_name_known_engines() {
        assert_eq!(
            HostConfig::default().policy.trusted_agent_engines,
            [EngineName::Other]
        );
        let loaded = load("[policy]\ntrusted_agent_engines = [\"other\", \"podman\"]\n").unwrap();
        assert_eq!(
            loaded.config.policy.trusted_agent_engines,
            [EngineName::Other, EngineName::Podman]
        );
        assert!(load("[policy]\ntrusted_agent_engines = []\n").is_ok());
        let err = load("[policy]\ntrusted_agent_engines = [\"docker\"]\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("trusted_agent_engines"), "{message}");
        assert!(message.contains("`podman`, `cri`, `other`"), "{message}");
        for name in ["podman", "cri", "other"] {
            assert_eq!(EngineName::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(EngineName::parse("Podman"), None);
    }

    #[test]
    fn privileged_capabilities_cannot_be_granted() {
        let err = load("[baseline]\nallowed_capabilities = [\"CAP_SYS_ADMIN\"]\n").unwrap_err();
        assert!(err.to_string().contains("CAP_SYS_ADMIN"), "{err}");
        load("[baseline]\nallowed_capabilities = [\"CAP_NET_BIND_SERVICE\"]\n").unwrap();
    }

    #[test]
    fn max_cpus_is_a_finite_number_above_zero() {
        for value in ["nan", "inf", "-inf", "0.0", "-1.0"] {
            let err = load(&format!("[admission.resources]\nmax_cpus = {value}\n")).unwrap_err();
            assert!(
                err.to_string().contains("admission.resources.max_cpus"),
                "{err}"
            );
        }
        load("[admission.resources]\nmax_cpus = 0.5\n").unwrap();
    }

    #[test]
    fn the_user_namespace_floor_defaults_above_host_accounts() {
        assert_eq!(
            load("")
                .unwrap()
                .config
                .admission
                .user_namespaces
                .min_host_id,
            65536
        );
        let loaded = load("[admission.user_namespaces]\nmin_host_id = 200000\n").unwrap();
        assert_eq!(loaded.config.admission.user_namespaces.min_host_id, 200_000);
        assert!(load("[admission.user_namespaces]\nmin_host_id = -1\n").is_err());
    }

    #[test]
    fn preserved_sockets_are_refused_unless_allowed_by_a_boolean() {
        assert!(
            !load("")
                .unwrap()
                .config
                .admission
                .preserve_fds
                .allow_sockets
        );
        let loaded = load("[admission.preserve_fds]\nallow_sockets = true\n").unwrap();
        assert!(loaded.config.admission.preserve_fds.allow_sockets);
        assert!(load("[admission.preserve_fds]\nallow_sockets = \"yes\"\n").is_err());
        assert!(load("[admission.preserve_fds]\nallow_directories = true\n").is_err());
    }

    #[test]
    fn root_ids_cannot_be_the_non_root_target() {
        assert!(load("[baseline.non_root]\nuid = 0\n").is_err());
    }

    #[test]
    fn approved_images_are_prefixes_without_tags() {
        for good in [
            "registry.example.com",
            "registry.example.com:5000/agents",
            "localhost/bulwark-probe",
        ] {
            load(&format!("[admission.images]\napproved = [{good:?}]\n")).unwrap();
        }
        for bad in [
            "",
            "registry.example.com/",
            "nginx",
            "nginx:latest",
            "x.io/y@sha256:ab",
            "x.io/y:1",
            "A.io/b",
        ] {
            let err = load(&format!("[admission.images]\napproved = [{bad:?}]\n")).unwrap_err();
            assert!(
                err.to_string().contains("admission.images.approved"),
                "{err}"
            );
        }
    }

    #[test]
    fn distroless_paths_default_to_shells_in_every_bin_dir() {
        let paths = DistrolessConfig::default().forbidden_paths;
        for path in [
            "/bin/sh",
            "/usr/bin/bash",
            "/sbin/apk",
            "/usr/local/bin/pip",
        ] {
            assert!(paths.contains(&PathBuf::from(path)), "{path}");
        }
        assert!(load("[admission.distroless]\nforbidden_paths = [\"bin/sh\"]\n").is_err());
    }

    #[test]
    fn secrets_settings_are_checked() {
        let loaded = load("").unwrap();
        assert!(loaded.config.secrets.source_dirs.is_empty());
        assert_eq!(loaded.config.secrets.target, Path::new("/run/secrets"));
        load("[secrets]\nsource_dirs = [\"/srv/secrets\"]\ntarget = \"/var/run/app\"\n").unwrap();
        for bad in [
            "target = \"run/secrets\"",
            "target = \"/\"",
            "target = \"/run/../etc\"",
            "target = \"/proc/x\"",
            "source_dirs = [\"/srv/./secrets\"]",
            "max_bytes = 0",
            "max_bytes = 2097152",
            "max_count = 0",
            "tmpfs_size_bytes = 0",
        ] {
            let err = load(&format!("[secrets]\n{bad}\n")).unwrap_err();
            assert!(err.to_string().contains("secrets."), "{bad}: {err}");
        }
    }

    #[test]
    fn digest_covers_meaning_not_spelling() {
        let explicit = load("[baseline.seccomp]\nprofile = \"default\"\n").unwrap();
        let empty = load("").unwrap();
        assert_eq!(explicit.digest, empty.digest);
        let agent = load("[baseline.seccomp]\nprofile = \"agent\"\n").unwrap();
        assert_ne!(agent.digest, empty.digest);
        assert!(agent.digest.starts_with("sha256:"));
    }
}
