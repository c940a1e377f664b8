//! Policy decisions (seeds: "OPA — Policy Decisions", "Graceful Degradation"): after
//! admission and the baseline, bulwark asks a policy engine whether this container
//! (or exec, or update) may go ahead. Backends: OPA over a Unix socket, the same Rego
//! embedded (regorus, the default), or off. An OPA that cannot answer is a refusal
//! unless `policy.on_unavailable = "embedded"`; either way the audit record is written
//! at error level (the operator alert).

mod embedded;
pub mod input;
pub mod opa;

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::config::{OnUnavailable, PolicyBackend, PolicyConfig};
pub use embedded::{Loaded, PolicySet};

/// The engine's answer: `true`/`false`, or `{"allow": bool, "reasons": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allow: bool,
    pub reasons: Vec<String>,
}

/// How a decision was reached, for the refusal and the audit record.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The backend that decided (`embedded` after a fallback), or `off`.
    pub backend: &'static str,
    pub decision_path: String,
    /// None when the policy is off or no engine could decide.
    pub decision: Option<Decision>,
    /// Why the configured backend could not decide.
    pub error: Option<String>,
    /// The embedded policies decided because OPA could not.
    pub fallback: bool,
    /// Digest of the embedded policies when they decided (OPA's are OPA's own).
    pub policies_digest: Option<String>,
    pub duration_us: u128,
}

impl Outcome {
    /// The refusal this outcome amounts to, if any.
    pub fn refusal(&self) -> Option<PolicyError> {
        match (&self.decision, &self.error) {
            (Some(decision), _) if decision.allow => None,
            (Some(decision), _) => Some(PolicyError::Refused {
                backend: self.backend,
                path: self.decision_path.clone(),
                reasons: decision.reasons.clone(),
            }),
            (None, Some(error)) => Some(PolicyError::Unavailable {
                backend: self.backend,
                message: error.clone(),
            }),
            (None, None) => None,
        }
    }

    /// Operator alert: the configured engine failed, whatever was decided.
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("refused by policy ({backend}, {path}): {}", reasons_text(.reasons))]
    Refused {
        backend: &'static str,
        path: String,
        reasons: Vec<String>,
    },
    #[error("refused: the {backend} policy engine could not decide ({message}); bulwark fails closed{}", fallback_hint(.backend))]
    Unavailable {
        backend: &'static str,
        message: String,
    },
}

/// Where OPA failed, the operator may choose to fall back; the embedded engine failing
/// means its policies are broken.
fn fallback_hint(backend: &str) -> &'static str {
    if backend == "opa" {
        " (policy.on_unavailable = \"embedded\" falls back to the embedded policies)"
    } else {
        ""
    }
}

/// The reasons on one line: a reason quoting a caller's value (an agent id with a
/// newline) must not split the refusal line engines and logs read (issue #21 item 8).
fn reasons_text(reasons: &[String]) -> String {
    if reasons.is_empty() {
        return "the policy gave no reason".to_owned();
    }
    reasons
        .iter()
        .map(|reason| {
            reason
                .chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    };
                    escaped
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Asks the configured engine about `input`.
pub fn decide(config: &PolicyConfig, input: &Value) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        backend: "off",
        decision_path: config.decision_path.clone(),
        decision: None,
        error: None,
        fallback: false,
        policies_digest: None,
        duration_us: 0,
    };
    match config.backend {
        PolicyBackend::Off => {}
        PolicyBackend::Embedded => decide_embedded(config, input, &mut outcome),
        PolicyBackend::Opa => {
            outcome.backend = "opa";
            let answer = opa_decision(
                opa::query(&config.opa, &config.decision_path, input),
                &config.decision_path,
            );
            match answer {
                Ok(decision) => outcome.decision = Some(decision),
                Err(error) => {
                    tracing::error!(%error, socket = %config.opa.socket.display(), "OPA could not decide");
                    outcome.error = Some(error);
                    if config.on_unavailable == OnUnavailable::Embedded {
                        outcome.fallback = true;
                        decide_embedded(config, input, &mut outcome);
                        degrade(input, &mut outcome);
                    }
                }
            }
        }
    }
    outcome.duration_us = started.elapsed().as_micros();
    outcome
}

fn decide_embedded(config: &PolicyConfig, input: &Value, outcome: &mut Outcome) {
    outcome.backend = "embedded";
    let policies = match &config.policies_dir {
        Some(dir) => PolicySet::from_dir(dir),
        None => Ok(PolicySet::built_in()),
    };
    let answer = policies.map_err(|e| e.to_string()).and_then(|policies| {
        outcome.policies_digest = Some(policies.digest.clone());
        policies
            .evaluate(&config.decision_path, input)
            .map_err(|e| e.to_string())
            .and_then(|document| parse_decision(document, &config.decision_path))
    });
    match answer {
        Ok(decision) => outcome.decision = Some(decision),
        Err(error) => {
            tracing::error!(%error, "the embedded policies could not decide");
            // A fallback keeps OPA's error first: it is the one to fix.
            outcome.error = Some(match outcome.error.take() {
                Some(first) => format!("{first}; embedded fallback: {error}"),
                None => error,
            });
        }
    }
}

/// The decision in OPA's answer (see [`opa::read_answer`]); an error when OPA could not
/// decide (no answer, a non-200 status, a body that is not a JSON object). A 200 whose
/// decision is malformed (`"reasons": "…"`, `"allow": "false"`, `null`) is OPA's answer
/// and a denial: treated as "unavailable" it sent the decision to the embedded
/// fallback, which admitted what OPA's policy had not (issue #21 item 6). `decide` and
/// the fuzz target `opa_response` share it.
pub fn opa_decision(
    answer: Result<Option<Value>, opa::OpaError>,
    path: &str,
) -> Result<Decision, String> {
    let document = answer.map_err(|e| e.to_string())?;
    Ok(
        parse_decision(document, path).unwrap_or_else(|malformed| Decision {
            allow: false,
            reasons: vec![format!(
                "OPA answered with a malformed decision, refused: {malformed}"
            )],
        }),
    )
}

/// The embedded policies decide in OPA's place with the host's own data, while the
/// data OPA's policy would have used is out of reach: what only data can grant (a
/// secret, a capability) is not granted in degraded mode, and only a trusted agent's
/// containers run, since OPA's data may require agents where the host's does not (issue
/// #21 item 6: an OPA 500 admitted a no-agent container). A CRI sandbox (pause) container
/// has no agent; the embedded policies hold it to the data's pause images. Seeds,
/// "Graceful Degradation": the built-in policy is the less permissive one.
fn degrade(input: &Value, outcome: &mut Outcome) {
    let Some(decision) = outcome.decision.as_mut().filter(|d| d.allow) else {
        return;
    };
    let asked = |pointer: &str| {
        input
            .pointer(pointer)
            .and_then(Value::as_array)
            .is_some_and(|items| !items.is_empty())
    };
    let unavailable = format!(
        "OPA is unavailable ({})",
        outcome.error.as_deref().unwrap_or("no answer")
    );
    let mut reasons = Vec::new();
    let sandbox = input.pointer("/container/type") == Some(&Value::from("sandbox"));
    let trusted_agent = input.pointer("/agent/trusted") == Some(&Value::Bool(true))
        && input.pointer("/agent/id").is_some_and(Value::is_string);
    if !sandbox && !trusted_agent {
        reasons.push(format!(
            "{unavailable}: the embedded fallback admits only a trusted agent's containers"
        ));
    }
    if asked("/secrets") {
        reasons.push(format!(
            "{unavailable}: the embedded fallback grants no secret"
        ));
    }
    if asked("/process/capabilities") {
        reasons.push(format!(
            "{unavailable}: the embedded fallback grants no capability"
        ));
    }
    if !reasons.is_empty() {
        *decision = Decision {
            allow: false,
            reasons,
        };
    }
}

/// Reads a decision document. Undefined is a denial (OPA's convention: no rule
/// matched); anything but a bool or `{"allow": bool, "reasons": [string]}` is an error.
fn parse_decision(document: Option<Value>, path: &str) -> Result<Decision, String> {
    let malformed = |what: &str| {
        format!("the decision at {path} is not true/false or {{\"allow\": bool, \"reasons\": [string]}}: {what}")
    };
    match document {
        None => Ok(Decision {
            allow: false,
            reasons: vec![format!("the policy's decision at {path} is undefined")],
        }),
        Some(Value::Bool(allow)) => Ok(Decision {
            allow,
            reasons: Vec::new(),
        }),
        Some(Value::Object(fields)) => {
            let allow = fields
                .get("allow")
                .and_then(Value::as_bool)
                .ok_or_else(|| malformed("allow is missing or not a bool"))?;
            let reasons = match fields.get("reasons") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|r| r.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| malformed("a reason is not a string"))?,
                Some(_) => return Err(malformed("reasons is not an array")),
            };
            if allow && !reasons.is_empty() {
                // An allow that gives reasons contradicts itself (bulwark's own policy
                // allows exactly when there are none): the reasons win.
                return Ok(Decision {
                    allow: false,
                    reasons: vec![format!(
                        "the policy allowed and gave reasons: {}; an allow must have none",
                        reasons.join("; ")
                    )],
                });
            }
            Ok(Decision { allow, reasons })
        }
        Some(other) => Err(malformed(&crate::admission::show(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions_are_bools_or_allow_objects_and_undefined_denies() {
        let path = "bulwark/decision";
        assert!(parse_decision(Some(json!(true)), path).unwrap().allow);
        let deny = parse_decision(Some(json!({"allow": false, "reasons": ["no"]})), path).unwrap();
        assert_eq!(deny.reasons, ["no"]);
        let undefined = parse_decision(None, path).unwrap();
        assert!(!undefined.allow);
        assert!(undefined.reasons[0].contains("undefined"));
        for bad in [
            json!("yes"),
            json!({"reasons": []}),
            json!({"allow": true, "reasons": [1]}),
        ] {
            assert!(parse_decision(Some(bad), path).is_err());
        }
    }

    #[test]
    fn an_allow_with_reasons_and_a_malformed_opa_answer_deny() {
        let path = "bulwark/decision";
        let both = parse_decision(Some(json!({"allow": true, "reasons": ["no"]})), path).unwrap();
        assert!(!both.allow);
        assert!(both.reasons[0].contains("allowed and gave reasons: no"));
        for body in [
            r#"{"result": null}"#,
            r#"{"result": {"allow": "false"}}"#,
            r#"{"result": {"allow": false, "reasons": "no"}}"#,
        ] {
            let decision = opa_decision(opa::read_answer(200, body.as_bytes()), path).unwrap();
            assert!(!decision.allow, "{body}");
            assert!(decision.reasons[0].contains("malformed decision"), "{body}");
        }
        assert!(opa_decision(opa::read_answer(500, b"{}"), path).is_err());
    }

    #[test]
    fn a_reason_never_splits_the_refusal_line() {
        let text = reasons_text(&["agent \"a\nb\" is not known".to_owned()]);
        assert_eq!(text, "agent \"a\\nb\" is not known");
    }

    #[test]
    fn the_built_in_policies_compile_and_decide() {
        let config = PolicyConfig::default();
        let outcome = decide(&config, &json!({"version": "bulwark.io/v1"}));
        // A malformed input is refused with reasons, never allowed.
        let decision = outcome.decision.expect("a decision");
        assert!(!decision.allow);
        assert!(!decision.reasons.is_empty());
        assert!(outcome.policies_digest.unwrap().starts_with("sha256:"));
    }
}
