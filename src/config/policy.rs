//! `[policy]` and `[audit]`: which engine decides, how to reach it, what happens when it
//! cannot answer, and where decisions are recorded.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;

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

pub(super) fn validate(policy: &PolicyConfig, path: &Path) -> Result<(), ConfigError> {
    let decision_path = &policy.decision_path;
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
    Ok(())
}
