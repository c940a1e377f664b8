//! `[identity]`: the orchestrator's keys and revocation list for agent tokens
//! (crate::identity).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Orchestrator-signed agent tokens (crate::identity).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Ed25519 public keys (PEM) that sign agent tokens; the key id is the file name
    /// without `.pub`. Several at once while keys rotate.
    pub public_keys: Vec<PathBuf>,
    /// Revoked token ids (`jti`), one per line. Once named, the file must be readable.
    pub revoked: Option<PathBuf>,
    /// true: only a token names an agent; an agent or task annotation without one is
    /// refused. Default false: without a token the annotation is a claim that may only
    /// narrow (an identity only from `policy.trusted_agent_engines`), as before tokens.
    pub require_token: bool,
    /// Clock skew tolerated on `exp` and `iat`.
    pub leeway_seconds: u64,
    /// The longest lifetime (`exp - iat`) a token may have: tokens are per task.
    pub max_ttl_seconds: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            public_keys: Vec::new(),
            revoked: None,
            require_token: false,
            leeway_seconds: 60,
            max_ttl_seconds: 86_400,
        }
    }
}
