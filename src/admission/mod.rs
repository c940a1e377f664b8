//! Admission control in place of Kyverno (seeds: "Kyverno — Admission Control").
//!
//! Runs on the engine's spec, before anything is created, so no API path can bypass it.
//! Each rule has a stable id, looks at the raw config.json (unknown fields included) and
//! reports every violation with the spec field (JSON path), the offending value and what
//! is allowed. All violations are reported, not just the first. Requests that weaken
//! the baseline on purpose are refused here; what a spec merely forgot, the baseline
//! supplies.

mod cgroups;
mod distroless;
mod engine_identity;
mod images;
mod mounts;
mod namespaces;
mod podman_binds;
pub mod preserved_fds;
mod privileged;
mod process;
mod resources;
mod rlimits;
mod scheduling;
mod seccomp;
mod unapplied_resources;
mod unified;
mod user_namespaces;

use std::cell::OnceCell;
use std::fmt;
use std::path::Path;

use libcontainer::oci_spec::runtime::{Process, Spec};
use serde::Serialize;
use serde_json::Value;

use crate::config::AdmissionConfig;
use crate::engine::binding::{Binding, Unbound};
use crate::engine::Engine;
use crate::image_identity::{self, Identity};
use crate::podman_secret_store::{self, StoredSecrets};

pub use engine_identity::IDENTITY as ENGINE_IDENTITY;
pub use mounts::{admit_bind_source, Bind, HOST_PATH};
pub use namespaces::HOST as HOST_NAMESPACE;
pub use resources::{fill_pod_member_pids, fill_sandbox_limits};

/// One refused field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    /// JSON path in config.json (`linux.resources.memory.limit`).
    pub path: String,
    /// The offending value, as JSON (never an environment value: see process.rs).
    pub value: String,
    /// What is allowed instead.
    pub allowed: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} is {}: {}",
            self.rule, self.path, self.value, self.allowed
        )
    }
}

/// What the rules look at.
pub struct Input<'a> {
    pub spec: &'a Value,
    /// Relative bind sources are relative to the bundle (runc's rule).
    pub bundle: &'a Path,
    pub container_id: &'a str,
    /// The engine the spec claims to come from.
    pub engine: Engine,
    /// Whether the claim held (crate::engine::binding).
    pub binding: Result<Binding, Unbound>,
    pub config: &'a AdmissionConfig,
    /// Resolved on first use: only the image rules need it.
    image: OnceCell<Identity>,
    /// Podman's secret store, read on first use (env.secret, for a bound Podman spec).
    podman_secrets: OnceCell<Option<Result<StoredSecrets, String>>>,
}

impl<'a> Input<'a> {
    pub fn new(
        spec: &'a Value,
        bundle: &'a Path,
        container_id: &'a str,
        engine: Engine,
        binding: Result<Binding, Unbound>,
        config: &'a AdmissionConfig,
    ) -> Self {
        Self {
            spec,
            bundle,
            container_id,
            engine,
            binding,
            config,
            image: OnceCell::new(),
            podman_secrets: OnceCell::new(),
        }
    }

    /// The secret store of the Podman instance whose bundle this is: None when the spec
    /// is not Podman's own (no store is known), Err when it cannot be read.
    pub fn podman_secrets(&self) -> Option<&Result<StoredSecrets, String>> {
        self.podman_secrets
            .get_or_init(|| match &self.binding {
                Ok(Binding::Podman { store, .. }) => {
                    Some(podman_secret_store::load(store).map_err(|e| e.to_string()))
                }
                _ => None,
            })
            .as_ref()
    }

    /// The container's image identity (see image_identity).
    pub fn image(&self) -> &Identity {
        self.image.get_or_init(|| {
            image_identity::resolve(
                self.spec,
                self.container_id,
                &self.engine,
                &self.config.images,
            )
        })
    }
}

/// A rule: an id and a check that pushes violations.
#[derive(Clone, Copy)]
struct Rule {
    id: &'static str,
    check: fn(&Input, &mut Findings),
}

const ENGINE_CLAIM_BOUND: Rule = Rule {
    id: engine_identity::IDENTITY,
    check: engine_identity::bound,
};
const RESOURCES_MEMORY: Rule = Rule {
    id: resources::MEMORY,
    check: resources::memory_limit,
};
const RESOURCES_CPU: Rule = Rule {
    id: resources::CPU,
    check: resources::cpu_limit,
};
const RESOURCES_PIDS: Rule = Rule {
    id: resources::PIDS,
    check: resources::pids_limit,
};
const RESOURCES_UNIFIED: Rule = Rule {
    id: unified::UNIFIED,
    check: unified::unified,
};
const RESOURCES_UNSUPPORTED: Rule = Rule {
    id: unapplied_resources::UNSUPPORTED,
    check: unapplied_resources::unapplied,
};
const PROCESS_RLIMITS: Rule = Rule {
    id: rlimits::RLIMITS,
    check: rlimits::grantable,
};
const MOUNTS_HOST_PATH: Rule = Rule {
    id: mounts::HOST_PATH,
    check: mounts::host_paths,
};
const MOUNTS_PROPAGATION: Rule = Rule {
    id: mounts::PROPAGATION,
    check: mounts::propagation,
};
const RESOURCES_DISK: Rule = Rule {
    id: mounts::DISK,
    check: mounts::disk,
};
const MOUNTS_OPTIONS: Rule = Rule {
    id: mounts::OPTIONS,
    check: mounts::known_options,
};
const IMAGES_UNKNOWN: Rule = Rule {
    id: images::UNKNOWN,
    check: images::unknown,
};
const IMAGES_UNAPPROVED: Rule = Rule {
    id: images::UNAPPROVED,
    check: images::approved,
};
const IMAGES_LATEST: Rule = Rule {
    id: images::LATEST,
    check: images::latest,
};
const IMAGES_DIGEST: Rule = Rule {
    id: images::DIGEST,
    check: images::digest,
};
const IMAGES_DISTROLESS: Rule = Rule {
    id: distroless::DISTROLESS,
    check: distroless::no_shell,
};
const MOUNTS_KERNEL_FS: Rule = Rule {
    id: mounts::KERNEL_FS,
    check: mounts::kernel_fs,
};
const MOUNTS_WRITABLE_KERNEL_FS: Rule = Rule {
    id: mounts::WRITABLE_KERNEL_FS,
    check: mounts::writable_kernel_fs,
};
const PRIVILEGED_CAPABILITIES: Rule = Rule {
    id: privileged::CAPABILITIES,
    check: privileged::capabilities,
};
const PRIVILEGED_DEVICES: Rule = Rule {
    id: privileged::DEVICES,
    check: privileged::devices,
};
const PRIVILEGED_MASKED_PATHS: Rule = Rule {
    id: privileged::MASKED_PATHS,
    check: privileged::masked_paths,
};
const PRIVILEGED_ANNOTATION: Rule = Rule {
    id: privileged::ANNOTATION,
    check: privileged::podman_privileged,
};
const PRIVILEGED_UNCONFINED: Rule = Rule {
    id: privileged::UNCONFINED,
    check: privileged::unconfined,
};
const SECCOMP_NOTIFY: Rule = Rule {
    id: seccomp::NOTIFY,
    check: seccomp::host_agent,
};
const SECCOMP_FLAGS: Rule = Rule {
    id: seccomp::FLAGS,
    check: seccomp::flags,
};
const NAMESPACES_REQUIRED: Rule = Rule {
    id: namespaces::REQUIRED,
    check: namespaces::required,
};
const NAMESPACES_HOST: Rule = Rule {
    id: namespaces::HOST,
    check: namespaces::host_paths,
};
const NAMESPACES_USER_MAPPING: Rule = Rule {
    id: user_namespaces::USER_MAPPING,
    check: user_namespaces::mappings,
};
/// The same rule on the effective spec: the ids the process runs as.
const NAMESPACES_USER_MAPPING_PROCESS: Rule = Rule {
    id: user_namespaces::USER_MAPPING,
    check: user_namespaces::process_ids,
};
const PROCESS_HOOKS: Rule = Rule {
    id: process::HOOKS,
    check: process::hooks,
};
const PROCESS_SYSCTLS: Rule = Rule {
    id: process::SYSCTLS,
    check: process::sysctls,
};
const PROCESS_LINUX_FIELDS: Rule = Rule {
    id: process::LINUX_FIELDS,
    check: process::linux_fields,
};
const PROCESS_SCHEDULING: Rule = Rule {
    id: scheduling::SCHEDULING,
    check: scheduling::scheduling,
};
const PROCESS_CWD: Rule = Rule {
    id: process::CWD,
    check: process::cwd,
};
const CGROUPS_PATH: Rule = Rule {
    id: cgroups::PATH,
    check: cgroups::confined,
};
const PROCESS_ENV_MALFORMED: Rule = Rule {
    id: process::ENV_MALFORMED,
    check: process::env_entries,
};
const PROCESS_ENV_SECRETS: Rule = Rule {
    id: process::ENV_SECRETS,
    check: process::env_secrets,
};

/// The rules a new container is checked against, in the order their violations are
/// reported.
const RULES: &[Rule] = &[
    ENGINE_CLAIM_BOUND,
    RESOURCES_MEMORY,
    RESOURCES_CPU,
    RESOURCES_PIDS,
    RESOURCES_DISK,
    RESOURCES_UNIFIED,
    RESOURCES_UNSUPPORTED,
    IMAGES_UNKNOWN,
    IMAGES_UNAPPROVED,
    IMAGES_LATEST,
    IMAGES_DIGEST,
    IMAGES_DISTROLESS,
    MOUNTS_HOST_PATH,
    MOUNTS_PROPAGATION,
    MOUNTS_KERNEL_FS,
    MOUNTS_WRITABLE_KERNEL_FS,
    MOUNTS_OPTIONS,
    PRIVILEGED_CAPABILITIES,
    PRIVILEGED_DEVICES,
    PRIVILEGED_MASKED_PATHS,
    PRIVILEGED_ANNOTATION,
    PRIVILEGED_UNCONFINED,
    SECCOMP_NOTIFY,
    SECCOMP_FLAGS,
    NAMESPACES_REQUIRED,
    NAMESPACES_HOST,
    CGROUPS_PATH,
    NAMESPACES_USER_MAPPING,
    PROCESS_HOOKS,
    PROCESS_SYSCTLS,
    PROCESS_LINUX_FIELDS,
    PROCESS_SCHEDULING,
    PROCESS_RLIMITS,
    PROCESS_CWD,
    PROCESS_ENV_MALFORMED,
    PROCESS_ENV_SECRETS,
];

/// Stages of the rules above that need the effective spec: the user the baseline
/// chose is known only after it ran (uid 0 becomes the configured non-root uid).
const EFFECTIVE_RULES: &[Rule] = &[NAMESPACES_USER_MAPPING_PROCESS];

/// An exec'd process: the process rules (libcontainer sets an exec's scheduler and I/O
/// priority while privileged, as the init's).
const EXEC_RULES: &[Rule] = &[
    PROCESS_SCHEDULING,
    PROCESS_CWD,
    PROCESS_ENV_MALFORMED,
    PROCESS_ENV_SECRETS,
];

/// The limits an update leaves in force: the resource and device rules, every setting
/// applied, and no realtime CPU time.
const UPDATE_RULES: &[Rule] = &[
    RESOURCES_MEMORY,
    RESOURCES_CPU,
    RESOURCES_PIDS,
    RESOURCES_UNIFIED,
    RESOURCES_UNSUPPORTED,
    PRIVILEGED_DEVICES,
    PROCESS_SCHEDULING,
];

/// Violations pushed by one rule, tagged with its id.
pub struct Findings<'r> {
    rule: &'static str,
    out: &'r mut Vec<Violation>,
}

impl<'r> Findings<'r> {
    pub fn new(rule: &'static str, out: &'r mut Vec<Violation>) -> Self {
        Self { rule, out }
    }

    pub fn push(
        &mut self,
        path: impl Into<String>,
        value: impl Into<String>,
        allowed: impl Into<String>,
    ) {
        self.out.push(Violation {
            rule: self.rule,
            path: path.into(),
            value: value.into(),
            allowed: allowed.into(),
        });
    }
}

/// Runs every rule on a new container's spec.
pub fn admit(input: &Input) -> Vec<Violation> {
    run_rules(input, RULES)
}

/// Runs the rules' effective-spec stages on the spec the baseline produced. Violations
/// refuse the container as admission's do.
pub fn admit_effective(spec: &Spec, config: &AdmissionConfig) -> Vec<Violation> {
    let linux = spec.linux().as_ref();
    let document = serde_json::json!({
        "process": {"user": spec.process().as_ref().map(Process::user)},
        "linux": {
            "namespaces": linux.and_then(|l| l.namespaces().as_ref()),
            "uidMappings": linux.and_then(|l| l.uid_mappings().as_ref()),
            "gidMappings": linux.and_then(|l| l.gid_mappings().as_ref()),
        },
    });
    run_rules(&fragment(&document, config), EFFECTIVE_RULES)
}

/// Runs the process rules on an exec'd process (its process.json or flags).
pub fn admit_exec(process: &Value, config: &AdmissionConfig) -> Vec<Violation> {
    let spec = serde_json::json!({ "process": process });
    run_rules(&fragment(&spec, config), EXEC_RULES)
}

/// Runs the resource and device rules on the limits an `update` would leave in force.
pub fn admit_update(resources: &Value, config: &AdmissionConfig) -> Vec<Violation> {
    let spec = serde_json::json!({ "linux": { "resources": resources } });
    run_rules(&fragment(&spec, config), UPDATE_RULES)
}

/// Input for checking a fragment of a spec that belongs to no particular engine.
fn fragment<'a>(spec: &'a Value, config: &'a AdmissionConfig) -> Input<'a> {
    Input::new(
        spec,
        Path::new("/"),
        "",
        Engine::Other,
        Ok(Binding::Unclaimed),
        config,
    )
}

fn run_rules(input: &Input, rules: &[Rule]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for rule in rules {
        (rule.check)(input, &mut Findings::new(rule.id, &mut violations));
    }
    violations
}

/// Refusal error carrying every violation.
#[derive(Debug, thiserror::Error)]
#[error("{}", refusal_message(.0))]
pub struct Refused(pub Vec<Violation>);

fn refusal_message(violations: &[Violation]) -> String {
    let list: Vec<String> = violations.iter().map(Violation::to_string).collect();
    format!(
        "refused by admission ({} violation{}): {}",
        violations.len(),
        if violations.len() == 1 { "" } else { "s" },
        list.join("; ")
    )
}

/// JSON rendering of a value for messages, shortened so a huge field cannot flood a log.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 120 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(117).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_dotted() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        assert!(ids.iter().all(|id| id.contains('.')));
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        // A later stage belongs to a rule of the table, under its id.
        for stage in EFFECTIVE_RULES {
            assert!(ids.contains(&stage.id), "{}", stage.id);
        }
    }
}
