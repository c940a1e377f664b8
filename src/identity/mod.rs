//! Who the agent is (issue #21 item 4; seeds: "Token validation", the threat model's
//! "cryptographic agent identity"). Anyone who writes a spec's annotations can write
//! `bulwark.io/agent`; an orchestrator-signed token (`bulwark.io/agent-token`, see
//! [`token`]) cannot be forged by a Podman user or a pod author. bulwark verifies it
//! offline against `identity.public_keys` before the policy runs, and the policy is told
//! the verified agent and task. What the container asks for is held against the token:
//! the image it runs and the secrets it receives (a token narrows the policy data, never
//! widens it).

pub mod keys;
pub mod token;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use libcontainer::oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::admission::Violation;
use crate::config::{EngineName, IdentityConfig};
use crate::image_identity::Identity;
use crate::image_reference::ImageReference;

/// The annotation that carries the token (allowlist it in containerd's
/// `pod_annotations`: a pod author can copy it, never forge it).
pub const TOKEN_ANNOTATION: &str = "bulwark.io/agent-token";
/// Annotations that name the agent and its task without proof.
pub const AGENT_ANNOTATION: &str = "bulwark.io/agent";
pub const TASK_ANNOTATION: &str = "bulwark.io/task";
/// The rule id of every refusal here.
pub const RULE: &str = "identity.token";

/// The agent a container runs as, decided at create and kept in its record for exec and
/// update (a token expires; the container it admitted keeps its identity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: Option<String>,
    pub task: Option<String>,
    /// `id` is an identity: a verified token, or an engine the host config trusts to
    /// name agents (`policy.trusted_agent_engines`). Otherwise a claim.
    pub trusted: bool,
    /// The verified token, by id: never the token itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenId {
    pub jti: String,
    pub kid: String,
}

/// What the container is, for the checks a token binds.
pub struct Request<'a> {
    pub annotations: &'a HashMap<String, String>,
    /// None (never trusted) when the context names no known engine.
    pub engine: Option<EngineName>,
    /// A CRI sandbox (pause) container: containerd copies allowlisted pod annotations
    /// into its spec too, and it runs no agent.
    pub sandbox: bool,
    pub image: &'a Identity,
    /// The secrets it is to receive, by name.
    pub secrets: &'a [String],
}

/// Decides the container's agent. With a token: the token's, once it verifies and
/// binds this request. Without: under `identity.require_token` none, and an agent or task
/// annotation is refused; otherwise the annotation, an identity only from a trusted
/// engine.
pub fn establish(
    request: &Request,
    config: &IdentityConfig,
    trusted_engines: &[EngineName],
) -> Result<Agent, Violation> {
    let annotation = |key: &str| request.annotations.get(key).cloned();
    let token = request
        .annotations
        .get(TOKEN_ANNOTATION)
        .filter(|_| !request.sandbox);
    let Some(token) = token else {
        if config.require_token {
            if let Some(key) = [AGENT_ANNOTATION, TASK_ANNOTATION]
                .into_iter()
                .find(|key| request.annotations.contains_key(*key))
            {
                return Err(Violation {
                    rule: RULE,
                    path: format!("annotations[{key:?}]"),
                    value: format!("{:?}", request.annotations[key]),
                    allowed: format!(
                        "an agent named by an orchestrator-signed token ({TOKEN_ANNOTATION}): \
                         identity.require_token is set, and anyone can write {key}"
                    ),
                });
            }
            return Ok(Agent::default());
        }
        return Ok(unverified(
            annotation(AGENT_ANNOTATION),
            annotation(TASK_ANNOTATION),
            request.engine,
            trusted_engines,
        ));
    };
    let verified = verify(token, request, config, now()).map_err(|(id, why)| Violation {
        rule: RULE,
        path: format!("annotations[{TOKEN_ANNOTATION:?}]"),
        value: match id {
            Some(TokenId { jti, kid }) => format!("token jti {jti:?}, kid {kid:?}"),
            None => format!("a token of {} bytes (withheld)", token.len()),
        },
        allowed: why,
    })?;
    Ok(Agent {
        id: Some(verified.claims.agent),
        task: Some(verified.claims.task),
        trusted: true,
        token: Some(TokenId {
            jti: verified.claims.jti,
            kid: verified.kid,
        }),
    })
}

/// What the token annotation holds once create has verified it: the spec bulwark keeps
/// (the effective spec, libcontainer's state, `state`'s annotations, hooks' state, the
/// policy input of every later decision) never holds the bearer credential, which
/// anyone who read it could replay within its lifetime.
pub const WITHHELD: &str = "(withheld)";

/// Replaces the token in `spec`'s annotations by [`WITHHELD`].
pub fn withhold_token(spec: &mut Spec) {
    let Some(mut annotations) = spec.annotations().clone() else {
        return;
    };
    if let Some(token) = annotations.get_mut(TOKEN_ANNOTATION) {
        *token = WITHHELD.to_owned();
        spec.set_annotations(Some(annotations));
    }
}

/// Checks again, for an exec or update, that the token which named `agent` at create is
/// not revoked since (seeds: "token verified on every API request — expired or revoked
/// tokens rejected"). Expiry is not checked again: the token admitted the container for
/// its lifetime, and it is short-lived by design.
pub fn still_valid(agent: Option<&Agent>, config: &IdentityConfig) -> Result<(), Violation> {
    let Some(TokenId { jti, kid }) = agent.and_then(|a| a.token.as_ref()) else {
        return Ok(());
    };
    let why = match keys::revoked(config.revoked.as_deref(), jti) {
        Ok(false) => return Ok(()),
        Ok(true) => format!("token {jti:?} was revoked after the container was created"),
        Err(e) => e.to_string(),
    };
    Err(Violation {
        rule: RULE,
        path: format!("annotations[{TOKEN_ANNOTATION:?}]"),
        value: format!("token jti {jti:?}, kid {kid:?}"),
        allowed: why,
    })
}

/// The agent an annotation names, without proof: an identity only from an engine whose
/// caller alone writes the spec (issue #15).
pub fn unverified(
    id: Option<String>,
    task: Option<String>,
    engine: Option<EngineName>,
    trusted_engines: &[EngineName],
) -> Agent {
    Agent {
        trusted: id.is_some() && engine.is_some_and(|e| trusted_engines.contains(&e)),
        id,
        task,
        token: None,
    }
}

type Refusal = (Option<TokenId>, String);

/// Verifies `token` for `request` at time `now` (seconds since the epoch).
fn verify(
    token: &str,
    request: &Request,
    config: &IdentityConfig,
    now: i64,
) -> Result<token::Verified, Refusal> {
    let keys = keys::load(&config.public_keys).map_err(|e| (None, e.to_string()))?;
    let verified =
        token::verify(token, &keys).map_err(|e| (None, format!("the token is refused: {e}")))?;
    let id = TokenId {
        jti: verified.claims.jti.clone(),
        kid: verified.kid.clone(),
    };
    let refuse = |why: String| (Some(id.clone()), why);
    let claims = &verified.claims;
    let leeway = config.leeway_seconds as i64;
    if now >= claims.exp.saturating_add(leeway) {
        return Err(refuse(format!(
            "the token expired {} s ago (exp {}, leeway identity.leeway_seconds = {leeway} s); the orchestrator signs a new one per task",
            now - claims.exp,
            claims.exp
        )));
    }
    if claims.iat > now.saturating_add(leeway) {
        return Err(refuse(format!(
            "the token is not valid yet: issued {} s in the future (iat {}, leeway {leeway} s)",
            claims.iat - now,
            claims.iat
        )));
    }
    let lifetime = claims.exp.saturating_sub(claims.iat);
    if lifetime <= 0 || lifetime as u64 > config.max_ttl_seconds {
        return Err(refuse(format!(
            "the token lives {lifetime} s (exp - iat); between 1 and identity.max_ttl_seconds = {} s",
            config.max_ttl_seconds
        )));
    }
    if keys::revoked(config.revoked.as_deref(), &claims.jti).map_err(|e| refuse(e.to_string()))? {
        return Err(refuse(format!(
            "token {:?} is revoked ({})",
            claims.jti,
            config
                .revoked
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )));
    }
    for (key, claimed) in [
        (AGENT_ANNOTATION, &claims.agent),
        (TASK_ANNOTATION, &claims.task),
    ] {
        if let Some(written) = request.annotations.get(key).filter(|w| *w != claimed) {
            return Err(refuse(format!(
                "annotation {key} is {written:?} but the token names {claimed:?}; leave it out or write the token's"
            )));
        }
    }
    if !image_matches(&claims.image, request.image) {
        let running = match request.image {
            Identity::Known(image) => format!("image {:?}", image.reference.to_string()),
            Identity::Unknown(why) => format!("an image bulwark could not identify ({why})"),
        };
        return Err(refuse(format!(
            "the token is for image {:?}, the container runs {running}",
            claims.image
        )));
    }
    if let Some(secret) = request.secrets.iter().find(|s| !claims.secrets.contains(s)) {
        return Err(refuse(format!(
            "the container asks for secret {secret:?}, which the token does not grant (token secrets: {})",
            if claims.secrets.is_empty() {
                "none".to_owned()
            } else {
                claims.secrets.join(", ")
            }
        )));
    }
    Ok(verified)
}

/// Whether the token's image `claimed` is the image the container runs: the same name,
/// and, when the token pins a digest, that digest among the content bulwark established
/// for the image (containers/storage's image id and manifest digests; for CRI the digest
/// the engine's reference is pinned to). The digest the spec's reference claims is never
/// trusted on its own: a local tag can name anything (issue #21 item 5). A token without
/// a digest binds the name and tag only; orchestrators should pin. Only an image bulwark
/// identified can match.
pub fn image_matches(claimed: &str, running: &Identity) -> bool {
    let (Some(claimed), Identity::Known(image)) = (ImageReference::parse(claimed), running) else {
        return false;
    };
    let same_name = claimed.registry() == image.reference.registry()
        && claimed.repository() == image.reference.repository();
    same_name
        && match claimed.digest() {
            Some(digest) => image.content.iter().any(|content| content == digest),
            None => claimed.tag() == image.reference.tag(),
        }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_identity::{Image, Source};

    fn image(reference: &str, content: &[&str]) -> Identity {
        Identity::Known(Image {
            reference: ImageReference::parse(reference).unwrap(),
            written: reference.into(),
            content: content.iter().map(|c| c.to_string()).collect(),
            source: Source::OrchestratorAnnotation,
            field: "annotations".into(),
        })
    }

    #[test]
    fn a_token_binds_the_image_by_name_and_tag_or_content() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let other = format!("sha256:{}", "b".repeat(64));
        let pinned = format!("localhost/probe@{digest}");
        assert!(image_matches(
            "localhost/probe:1",
            &image("localhost/probe:1", &[])
        ));
        assert!(!image_matches(
            "localhost/probe:1",
            &image("localhost/probe:2", &[])
        ));
        assert!(!image_matches(
            "localhost/probe:1",
            &image("localhost/probe-evil:1", &[])
        ));
        assert!(image_matches(
            &pinned,
            &image("localhost/probe:1", &[&digest])
        ));
        assert!(!image_matches(
            &pinned,
            &image("localhost/probe-evil:1", &[&digest])
        ));
        // The spec's reference claims the token's digest; the content is another image's.
        assert!(!image_matches(
            &pinned,
            &image(&format!("localhost/probe@{digest}"), &[&other])
        ));
        assert!(!image_matches(&pinned, &image("localhost/probe:1", &[])));
        assert!(!image_matches(
            "localhost/probe:1",
            &Identity::Unknown(String::new())
        ));
        assert!(!image_matches(
            "Not An Image",
            &image("localhost/probe:1", &[])
        ));
    }

    #[test]
    fn the_kept_spec_withholds_the_token() {
        let mut spec = Spec::default();
        spec.set_annotations(Some(HashMap::from([
            (TOKEN_ANNOTATION.to_owned(), "eyJ.secret.sig".to_owned()),
            (AGENT_ANNOTATION.to_owned(), "research-agent".to_owned()),
        ])));
        withhold_token(&mut spec);
        let annotations = spec.annotations().clone().unwrap();
        assert_eq!(annotations[TOKEN_ANNOTATION], WITHHELD);
        assert_eq!(annotations[AGENT_ANNOTATION], "research-agent");
    }

    #[test]
    fn without_a_token_an_annotation_is_a_claim_or_refused() {
        let annotations = HashMap::from([(AGENT_ANNOTATION.to_owned(), "a".to_owned())]);
        let request = Request {
            annotations: &annotations,
            engine: Some(EngineName::Podman),
            sandbox: false,
            image: &Identity::Unknown(String::new()),
            secrets: &[],
        };
        let mut config = IdentityConfig::default();
        let agent = establish(&request, &config, &[EngineName::Other]).unwrap();
        assert_eq!((agent.id.as_deref(), agent.trusted), (Some("a"), false));
        config.require_token = true;
        let refused = establish(&request, &config, &[EngineName::Podman]).unwrap_err();
        assert_eq!(refused.rule, RULE);
        assert_eq!(refused.path, "annotations[\"bulwark.io/agent\"]");
        let none = HashMap::new();
        let request = Request {
            annotations: &none,
            ..request
        };
        assert_eq!(establish(&request, &config, &[]).unwrap(), Agent::default());
    }
}
