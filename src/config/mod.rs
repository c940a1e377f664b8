//! The host configuration: `/etc/bulwark/config.toml`, or the file named by
//! `BULWARK_CONFIG`. Every key has a default (see README, "Host configuration"); an
//! unknown key is an error, so a typo never silently leaves a control at its default.
//! Only commands that admit work (`create`, `run`, `exec`, `update`, `features`) load it.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod admission;
mod baseline;
mod identity;
mod policy;
mod secrets;

pub use admission::{
    AdmissionConfig, CapabilityRules, CgroupsConfig, DistrolessConfig, HooksConfig, ImagesConfig,
    MountsConfig, PodmanVolumes, PreserveFdsConfig, ResourceLimits, UserNamespacesConfig,
};
pub use baseline::{
    AppArmorConfig, BaselineConfig, NonRootConfig, NonRootMode, SeccompConfig, SeccompProfileName,
    UserNamespaceConfig, UserNamespaceMode, GRANTABLE_CAPABILITIES,
};
pub use identity::IdentityConfig;
pub use policy::{AuditConfig, EngineName, OnUnavailable, OpaConfig, PolicyBackend, PolicyConfig};
pub use secrets::SecretsConfig;

pub const DEFAULT_PATH: &str = "/etc/bulwark/config.toml";
pub const PATH_ENV: &str = "BULWARK_CONFIG";

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
    #[error(
        "host config {path}: baseline.user_namespace needs first_host_id at or above \
         admission.user_namespaces.min_host_id ({min_host_id}), ranges at least 1, and \
         first_host_id + ranges × 65536 at most 4294967295 (uid -1 is no id)"
    )]
    UserNamespacePool { path: PathBuf, min_host_id: u32 },
    #[error("host config {path}: admission.resources.pod_member_pids must be between 1 and admission.resources.max_pids ({max}), not {pids}")]
    PodMemberPids { path: PathBuf, pids: i64, max: i64 },
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
    pub identity: IdentityConfig,
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
    let max_tmpfs = config.admission.resources.max_tmpfs_bytes;
    let min_host_id = config.admission.user_namespaces.min_host_id;
    baseline::validate(&config.baseline, max_tmpfs, min_host_id, path)?;
    admission::validate(&config.admission, path)?;
    policy::validate(&config.policy, path)?;
    secrets::validate(&config.secrets, max_tmpfs, path)
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
    fn the_pod_member_pids_limit_is_a_limit_within_the_ceiling() {
        for value in ["0", "-1", "4097"] {
            let err = load(&format!(
                "[admission.resources]\npod_member_pids = {value}\n"
            ))
            .unwrap_err();
            assert!(err.to_string().contains("pod_member_pids"), "{err}");
        }
        load("[admission.resources]\npod_member_pids = 256\n").unwrap();
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
        let pool = load(
            "[baseline.user_namespace]\nmode = \"auto\"\nfirst_host_id = 200000\nranges = 2\n",
        )
        .unwrap();
        assert_eq!(
            pool.config.baseline.user_namespace.mode,
            UserNamespaceMode::Auto
        );
        for bad in [
            "first_host_id = 1000",
            "ranges = 0",
            "first_host_id = 4294901760\nranges = 1",
        ] {
            let text = format!("[baseline.user_namespace]\n{bad}\n");
            assert!(
                matches!(load(&text), Err(ConfigError::UserNamespacePool { .. })),
                "{bad}"
            );
        }
        load("[baseline.user_namespace]\nfirst_host_id = 4294836224\nranges = 1\n").unwrap();
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
