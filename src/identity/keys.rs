//! The orchestrator's public keys (`identity.public_keys`: PEM SubjectPublicKeyInfo
//! files, as `openssl pkey -pubout` writes them; the key id is the file name without
//! `.pub`) and the revocation list (`identity.revoked`: one token id per line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;

use crate::bounded_read::read_path_bounded;

/// Key and revocation files are small; a larger one is not what the operator meant.
const MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("identity.public_keys names no key: a token cannot be verified")]
    NoKeys,
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "{path} is not an Ed25519 public key in PEM (SubjectPublicKeyInfo, `openssl pkey -pubout`)"
    )]
    Parse { path: PathBuf },
    #[error("{path}: key id {kid:?} (the file name without .pub) is also another key's")]
    DuplicateKid { path: PathBuf, kid: String },
}

/// The key id of the public key file `path`.
pub fn kid_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".pub").unwrap_or(&name).to_owned()
}

/// Every configured key by key id.
pub fn load(paths: &[PathBuf]) -> Result<BTreeMap<String, VerifyingKey>, KeysError> {
    if paths.is_empty() {
        return Err(KeysError::NoKeys);
    }
    let mut keys = BTreeMap::new();
    for path in paths {
        let key = load_one(path)?;
        let kid = kid_of(path);
        if keys.insert(kid.clone(), key).is_some() {
            return Err(KeysError::DuplicateKid {
                path: path.clone(),
                kid,
            });
        }
    }
    Ok(keys)
}

pub fn load_one(path: &Path) -> Result<VerifyingKey, KeysError> {
    let text = read_text(path)?;
    VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| KeysError::Parse {
        path: path.to_owned(),
    })
}

/// Whether `jti` is on the revocation list. A configured list that cannot be read
/// refuses every token (fail closed): create an empty file to revoke nothing.
pub fn revoked(list: Option<&Path>, jti: &str) -> Result<bool, KeysError> {
    let Some(list) = list else {
        return Ok(false);
    };
    Ok(read_text(list)?
        .lines()
        .map(str::trim)
        .any(|line| line == jti && !line.starts_with('#')))
}

pub fn read_text(path: &Path) -> Result<String, KeysError> {
    let read_error = |message: String| KeysError::Read {
        path: path.to_owned(),
        message,
    };
    let bytes = read_path_bounded(path, MAX_FILE_BYTES).map_err(|e| read_error(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| read_error("not UTF-8 text".to_owned()))
}
