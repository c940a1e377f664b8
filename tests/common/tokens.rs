//! Agent tokens for tests (issue #21 item 4), made with the built binary's own
//! `bulwark token keygen` and `sign`: two orchestrator keys (only `orch-1` is trusted
//! by [`TokenKeys::table`]) and a revocation list naming `revoked-jti`.

use std::fs;
use std::path::PathBuf;

use tempfile::TempDir;

use super::{describe, BULWARK, TEST_IMAGE};

pub struct TokenKeys {
    dir: TempDir,
}

impl TokenKeys {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-keys-")
            .tempdir()
            .unwrap();
        for name in ["orch-1", "rogue"] {
            bulwark_ok(&["token", "keygen", dir.path().join(name).to_str().unwrap()]);
        }
        fs::write(
            dir.path().join("revoked"),
            "# revoked token ids\nrevoked-jti\n",
        )
        .unwrap();
        Self { dir }
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.key"))
    }

    /// `name` in the keys' directory (`orch-1.pub`, `revoked`, ...).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `[identity]` table trusting orch-1, with `extra` in it.
    pub fn table(&self, extra: &str) -> String {
        format!(
            "[identity]\npublic_keys = [{:?}]\nrevoked = {:?}\n{extra}",
            self.path("orch-1.pub").display().to_string(),
            self.path("revoked").display().to_string(),
        )
    }

    /// `bulwark token sign` with orch-1 for research-agent, TEST_IMAGE and its secret,
    /// unless `extra` gives its own --image, --secret or --ttl (`--no-secret`: none).
    pub fn sign(&self, extra: &[&str]) -> String {
        let key = self.key("orch-1");
        let mut args = vec![
            "token",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--agent",
            "research-agent",
            "--task",
            "summarise",
        ];
        if !extra.contains(&"--ttl") {
            args.extend(["--ttl", "10m"]);
        }
        if !extra.contains(&"--image") {
            args.extend(["--image", TEST_IMAGE]);
        }
        if !extra.contains(&"--secret") && !extra.contains(&"--no-secret") {
            args.extend(["--secret", "openai-api-key"]);
        }
        args.extend(extra.iter().filter(|a| **a != "--no-secret"));
        let out = bulwark_ok(&args);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// Runs the built binary with `args`, asserting success.
pub fn bulwark_ok(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(BULWARK)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(args, &out));
    out
}
