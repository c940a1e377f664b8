//! `bulwark token keygen|sign`: the orchestrator's side of agent tokens
//! (crate::identity), for operators and tests. An orchestrator may as well sign with any
//! JWS library: EdDSA, `typ` `bulwark-agent+jwt`, `kid`, the claims of
//! crate::identity::token::Claims.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;

use crate::cli::{TokenCmd, TokenSign};
use crate::identity::keys;
use crate::identity::token::{self, Claims};

pub fn token(cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Keygen { prefix } => keygen(&prefix),
        TokenCmd::Sign(args) => {
            println!("{}", sign(&args)?);
            Ok(())
        }
    }
}

fn keygen(prefix: &Path) -> Result<()> {
    let key = SigningKey::from_bytes(&random_bytes()?);
    let with_extension = |extension: &str| {
        let mut path = prefix.as_os_str().to_owned();
        path.push(extension);
        PathBuf::from(path)
    };
    let private = private_key_pem(&key);
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("cannot encode the public key")?;
    write_new(&with_extension(".key"), private.as_bytes(), 0o600)?;
    write_new(&with_extension(".pub"), public.as_bytes(), 0o644)?;
    Ok(())
}

/// PKCS#8 v1 (RFC 8410 section 7: the private key only). ed25519-dalek writes v2, with
/// the public key in a `[1]` field that OpenSSL 3.0 (Debian 12) cannot read back.
fn private_key_pem(key: &SigningKey) -> String {
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&key.to_bytes());
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
}

/// Never overwrites: replacing a key that signs live tokens is a rotation, done by
/// adding a new key id.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sign(args: &TokenSign) -> Result<String> {
    let text = keys::read_text(&args.key)?;
    let key = SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| {
        anyhow::anyhow!(
            "{} is not an Ed25519 private key in PKCS#8 PEM",
            args.key.display()
        )
    })?;
    let kid = match &args.kid {
        Some(kid) => kid.clone(),
        None => {
            let name = keys::kid_of(&args.key);
            name.strip_suffix(".key").unwrap_or(&name).to_owned()
        }
    };
    let iat = match args.issued_at {
        Some(iat) => iat,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs() as i64,
    };
    let jti = match &args.jti {
        Some(jti) => jti.clone(),
        None => random_bytes()?[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let claims = Claims {
        agent: args.agent.clone(),
        task: args.task.clone(),
        image: args.image.clone(),
        secrets: args.secrets.clone(),
        iat,
        exp: iat + seconds(&args.ttl)?,
        jti,
    };
    Ok(token::sign(&claims, &key, &kid))
}

/// `600`, `600s`, `10m`, `1h`.
fn seconds(ttl: &str) -> Result<i64> {
    let (number, unit) = match ttl.char_indices().last() {
        Some((at, 's')) => (&ttl[..at], 1),
        Some((at, 'm')) => (&ttl[..at], 60),
        Some((at, 'h')) => (&ttl[..at], 3600),
        _ => (ttl, 1),
    };
    match number.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n * unit),
        _ => bail!(
            "--ttl {ttl:?} is not a positive number of seconds, or of minutes (m) or hours (h)"
        ),
    }
}

fn random_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom")?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_seconds_minutes_or_hours() {
        assert_eq!(seconds("600").unwrap(), 600);
        assert_eq!(seconds("90s").unwrap(), 90);
        assert_eq!(seconds("10m").unwrap(), 600);
        assert_eq!(seconds("2h").unwrap(), 7200);
        for bad in ["", "m", "0", "-5m", "10d", "1.5h"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
