//! The seccomp profiles shipped in `seccomp-profiles/`, compiled into the binary: no
//! file lookup on the create path, and no profile on disk for anyone to swap.

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::config::SeccompProfileName;

const DEFAULT: &str = include_str!("../seccomp-profiles/default.json");
const AGENT: &str = include_str!("../seccomp-profiles/agent.json");

#[derive(Debug, thiserror::Error)]
#[error("the built-in seccomp profile {name:?} does not parse: {source}")]
pub struct ProfileError {
    name: &'static str,
    source: serde_json::Error,
}

fn text(name: SeccompProfileName) -> &'static str {
    match name {
        SeccompProfileName::Default => DEFAULT,
        SeccompProfileName::Agent => AGENT,
    }
}

pub fn load(name: SeccompProfileName) -> Result<LinuxSeccomp, ProfileError> {
    serde_json::from_str(text(name)).map_err(|source| ProfileError {
        name: name.as_str(),
        source,
    })
}

/// sha256 of the profile as shipped, for audit records and `features`.
pub fn digest(name: SeccompProfileName) -> String {
    format!("sha256:{:x}", Sha256::digest(text(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses_as_oci_seccomp() {
        for name in [SeccompProfileName::Default, SeccompProfileName::Agent] {
            let profile = load(name).unwrap();
            assert!(!profile.syscalls().as_ref().unwrap().is_empty());
            assert!(digest(name).starts_with("sha256:"));
        }
    }
}
