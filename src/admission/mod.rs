//! Admission control in place of Kyverno (seeds: "Kyverno — Admission Control").
//!
//! Runs on the engine's spec, before anything is created, so no API path can bypass it.
//! Each rule has a stable id, looks at the raw config.json (unknown fields included) and
//! reports every violation with the spec field (JSON path), the offending value and what
//! is allowed. All violations are reported, not just the first. Requests that weaken
//! the baseline on purpose are refused here; what a spec merely forgot, the baseline
//! supplies.

mod mounts;
mod namespaces;
mod privileged;
mod process;
mod resources;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::config::AdmissionConfig;

pub use resources::fill_sandbox_limits;

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

/// Which engine created the spec: decides which host paths it manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    Podman,
    /// containerd's CRI plugin: the pod sandbox id and uid, and whether this is the
    /// sandbox (pause) container.
    Cri {
        sandbox_id: String,
        pod_uid: Option<String>,
        sandbox: bool,
    },
    Other,
}

impl Engine {
    pub fn detect(spec: &Value) -> Self {
        let annotation = |key: &str| spec["annotations"][key].as_str().map(str::to_owned);
        if let Some(kind) = annotation("io.kubernetes.cri.container-type") {
            let sandbox = kind == "sandbox";
            return Engine::Cri {
                sandbox_id: annotation("io.kubernetes.cri.sandbox-id").unwrap_or_default(),
                pod_uid: annotation("io.kubernetes.cri.sandbox-uid"),
                sandbox,
            };
        }
        if annotation("io.container.manager").as_deref() == Some("libpod") {
            return Engine::Podman;
        }
        Engine::Other
    }
}

/// What the rules look at.
pub struct Input<'a> {
    pub spec: &'a Value,
    /// Relative bind sources are relative to the bundle (runc's rule).
    pub bundle: &'a std::path::Path,
    pub container_id: &'a str,
    pub engine: Engine,
    pub config: &'a AdmissionConfig,
}

/// A rule: an id and a check that pushes violations.
struct Rule {
    id: &'static str,
    check: fn(&Input, &mut Findings),
}

/// The rules, in the order their violations are reported.
const RULES: &[Rule] = &[
    Rule {
        id: resources::MEMORY,
        check: resources::memory_limit,
    },
    Rule {
        id: resources::CPU,
        check: resources::cpu_limit,
    },
    Rule {
        id: resources::PIDS,
        check: resources::pids_limit,
    },
    Rule {
        id: mounts::HOST_PATH,
        check: mounts::host_paths,
    },
    Rule {
        id: mounts::PROPAGATION,
        check: mounts::propagation,
    },
    Rule {
        id: mounts::WRITABLE_KERNEL_FS,
        check: mounts::writable_kernel_fs,
    },
    Rule {
        id: privileged::CAPABILITIES,
        check: privileged::capabilities,
    },
    Rule {
        id: privileged::DEVICES,
        check: privileged::devices,
    },
    Rule {
        id: privileged::MASKED_PATHS,
        check: privileged::masked_paths,
    },
    Rule {
        id: privileged::ANNOTATION,
        check: privileged::podman_privileged,
    },
    Rule {
        id: privileged::UNCONFINED,
        check: privileged::unconfined,
    },
    Rule {
        id: namespaces::REQUIRED,
        check: namespaces::required,
    },
    Rule {
        id: namespaces::HOST,
        check: namespaces::host_paths,
    },
    Rule {
        id: process::HOOKS,
        check: process::hooks,
    },
    Rule {
        id: process::SYSCTLS,
        check: process::sysctls,
    },
    Rule {
        id: process::LINUX_FIELDS,
        check: process::linux_fields,
    },
    Rule {
        id: process::CWD,
        check: process::cwd,
    },
    Rule {
        id: process::ENV_SECRETS,
        check: process::env_secrets,
    },
];

/// Violations pushed by one rule, tagged with its id.
pub struct Findings<'r> {
    rule: &'static str,
    out: &'r mut Vec<Violation>,
}

impl Findings<'_> {
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

/// Runs the process rules on an exec'd process (its process.json or flags).
pub fn admit_exec(process: &Value, config: &AdmissionConfig) -> Vec<Violation> {
    let spec = serde_json::json!({ "process": process });
    let input = Input {
        spec: &spec,
        bundle: std::path::Path::new("/"),
        container_id: "",
        engine: Engine::Other,
        config,
    };
    run_rules(
        &input,
        &[
            Rule {
                id: process::CWD,
                check: process::cwd,
            },
            Rule {
                id: process::ENV_SECRETS,
                check: process::env_secrets,
            },
        ],
    )
}

/// Runs the resource and device rules on the limits an `update` would leave in force.
pub fn admit_update(resources: &Value, config: &AdmissionConfig) -> Vec<Violation> {
    let spec = serde_json::json!({ "linux": { "resources": resources } });
    let input = Input {
        spec: &spec,
        bundle: std::path::Path::new("/"),
        container_id: "",
        engine: Engine::Other,
        config,
    };
    run_rules(
        &input,
        &[
            Rule {
                id: resources::MEMORY,
                check: resources::memory_limit,
            },
            Rule {
                id: resources::CPU,
                check: resources::cpu_limit,
            },
            Rule {
                id: resources::PIDS,
                check: resources::pids_limit,
            },
            Rule {
                id: privileged::DEVICES,
                check: privileged::devices,
            },
        ],
    )
}

fn run_rules(input: &Input, rules: &[Rule]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for rule in rules {
        (rule.check)(
            input,
            &mut Findings {
                rule: rule.id,
                out: &mut violations,
            },
        );
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
    }

    #[test]
    fn engines_are_told_apart_by_their_annotations() {
        let cri = serde_json::json!({"annotations": {
            "io.kubernetes.cri.container-type": "sandbox",
            "io.kubernetes.cri.sandbox-id": "abc"}});
        assert_eq!(
            Engine::detect(&cri),
            Engine::Cri {
                sandbox_id: "abc".into(),
                pod_uid: None,
                sandbox: true
            }
        );
        let podman = serde_json::json!({"annotations": {"io.container.manager": "libpod"}});
        assert_eq!(Engine::detect(&podman), Engine::Podman);
        assert_eq!(Engine::detect(&serde_json::json!({})), Engine::Other);
    }
}
