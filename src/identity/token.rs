//! The agent token: a compact JWS (RFC 7515) signed with Ed25519 (`alg` `EdDSA`,
//! RFC 8037), typed `bulwark-agent+jwt` so that no other token the orchestrator signs
//! with the same key is accepted as one (RFC 8725 section 3.11).
//!
//! The JWS framing (split, base64url, a fixed header) is written here on ed25519-dalek
//! (signatures) and base64 rather than taken from a JWT library: bulwark accepts exactly
//! one algorithm and one header shape, and a generic library's algorithm negotiation is
//! the classic way such tokens are forged (`alg: none`, RS/HS confusion; RFC 8725
//! section 2.1). The maintained candidates also cost more than they save here:
//! jsonwebtoken's pure-Rust backend (`rust_crypto`) links every algorithm including the
//! `rsa` crate (RUSTSEC-2023-0071, no fixed release), its other backend is aws-lc-rs (a C
//! and cmake build).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The JWS `typ` of an agent token.
pub const TYPE: &str = "bulwark-agent+jwt";
const ALGORITHM: &str = "EdDSA";
/// A token larger than this is refused before it is decoded.
pub const MAX_BYTES: usize = 8192;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// What the orchestrator vouches for. Unknown claims are refused: a claim bulwark does
/// not understand may be one meant to restrict the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub agent: String,
    pub task: String,
    /// The image the container may run (a reference; pinned when it has a digest).
    pub image: String,
    /// The secrets the container may receive, at most; the policy data may allow fewer.
    pub secrets: Vec<String>,
    /// Seconds since the epoch.
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("it is {0} bytes; at most {MAX_BYTES} are accepted")]
    TooLarge(usize),
    #[error("it is not a compact JWS (three base64url parts joined by '.')")]
    NotCompact,
    #[error("its header is not {{\"alg\": \"EdDSA\", \"typ\": \"{TYPE}\", \"kid\": string}}")]
    Header,
    #[error("its header names algorithm {0:?}; only EdDSA (Ed25519) is accepted")]
    Algorithm(String),
    #[error("its header names type {0:?}; only {TYPE:?} is accepted")]
    Type(String),
    #[error("key id {0:?} names none of identity.public_keys")]
    UnknownKey(String),
    #[error("its signature does not verify with key {0:?} (the token was altered, or signed with another key)")]
    Signature(String),
    #[error(
        "its claims are not {{agent, task, image, secrets, iat, exp, jti}} of the right types: {0}"
    )]
    Claims(String),
}

/// A token whose signature verified, and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub kid: String,
    pub claims: Claims,
}

/// Signs `claims` with `key`, naming it `kid`.
pub fn sign(claims: &Claims, key: &SigningKey, kid: &str) -> String {
    let header = Header {
        alg: ALGORITHM.to_owned(),
        typ: TYPE.to_owned(),
        kid: kid.to_owned(),
    };
    let signing_input = format!("{}.{}", encode_json(&header), encode_json(claims));
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// Checks `token`'s shape and signature against `keys` (by key id); the claims' times,
/// revocation and bindings are the caller's to check.
pub fn verify(token: &str, keys: &BTreeMap<String, VerifyingKey>) -> Result<Verified, TokenError> {
    if token.len() > MAX_BYTES {
        return Err(TokenError::TooLarge(token.len()));
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::NotCompact)?;
    let (header, payload) = signing_input
        .split_once('.')
        .filter(|(_, payload)| !payload.contains('.'))
        .ok_or(TokenError::NotCompact)?;
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::NotCompact)
    };
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Header)?;
    if header.alg != ALGORITHM {
        return Err(TokenError::Algorithm(header.alg));
    }
    if header.typ != TYPE {
        return Err(TokenError::Type(header.typ));
    }
    let key = keys
        .get(&header.kid)
        .ok_or_else(|| TokenError::UnknownKey(header.kid.clone()))?;
    let signature = Signature::from_slice(&decode(signature)?)
        .map_err(|_| TokenError::Signature(header.kid.clone()))?;
    // verify_strict: no small-order keys or malleable signatures (ed25519-dalek's
    // documentation of `verify_strict`).
    key.verify_strict(signing_input.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature(header.kid.clone()))?;
    let claims =
        serde_json::from_slice(&decode(payload)?).map_err(|e| TokenError::Claims(e.to_string()))?;
    Ok(Verified {
        kid: header.kid,
        claims,
    })
}

fn encode_json(value: &impl Serialize) -> String {
    // Structs of strings and numbers: serialising them cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn claims() -> Claims {
        Claims {
            agent: "research-agent".into(),
            task: "summarise".into(),
            image: "localhost/bulwark-probe:test".into(),
            secrets: vec!["openai-api-key".into()],
            iat: 1_700_000_000,
            exp: 1_700_000_600,
            jti: "t-1".into(),
        }
    }

    fn keys(kid: &str, key: &SigningKey) -> BTreeMap<String, VerifyingKey> {
        BTreeMap::from([(kid.to_owned(), key.verifying_key())])
    }

    #[test]
    fn a_signed_token_verifies_with_its_key_only() {
        let token = sign(&claims(), &key(1), "orch-1");
        let verified = verify(&token, &keys("orch-1", &key(1))).unwrap();
        assert_eq!(verified.claims, claims());
        assert_eq!(verified.kid, "orch-1");
        assert_eq!(
            verify(&token, &keys("orch-1", &key(2))),
            Err(TokenError::Signature("orch-1".into()))
        );
        assert_eq!(
            verify(&token, &keys("orch-2", &key(1))),
            Err(TokenError::UnknownKey("orch-1".into()))
        );
    }

    #[test]
    fn altered_and_foreign_tokens_are_refused() {
        let token = sign(&claims(), &key(1), "k");
        let keys = keys("k", &key(1));
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged.agent = "build-agent".into();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&tampered, &keys),
            Err(TokenError::Signature("k".into()))
        );
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"bulwark-agent+jwt","kid":"k"}"#);
        assert_eq!(
            verify(&format!("{none}.{}.", parts[1]), &keys),
            Err(TokenError::Algorithm("none".into()))
        );
        let jwt = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"k"}"#);
        assert_eq!(
            verify(&format!("{jwt}.{}.{}", parts[1], parts[2]), &keys),
            Err(TokenError::Type("JWT".into()))
        );
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(verify(bad, &keys).is_err(), "{bad}");
        }
        assert_eq!(
            verify(&"a".repeat(MAX_BYTES + 1), &keys),
            Err(TokenError::TooLarge(MAX_BYTES + 1))
        );
    }
}
