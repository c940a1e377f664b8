//! `[secrets]`: where secrets may come from and the tmpfs they are delivered on
//! (crate::secrets).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{is_plain_absolute, ConfigError};

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

pub(super) fn validate(
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
