//! integration/opa/opa_server.py (the real OPA evaluator behind OPA's REST Data API on
//! a Unix socket) for tests of the OPA backend, in any of its fault modes.
//!
//! Needs the OPA bindings installed by `integration/opa/install.sh DIR`
//! (`make test` does it); `BULWARK_OPA_BINDINGS` names DIR.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::TEST_CONFIG;

fn bindings() -> PathBuf {
    std::env::var_os("BULWARK_OPA_BINDINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/opa-bindings"))
}

/// integration/opa/opa_server.py on a socket in a temporary directory.
pub struct OpaServer {
    dir: TempDir,
    child: Child,
}

impl OpaServer {
    pub fn start(mode: &str) -> Self {
        Self::start_with(mode, &[])
    }

    /// Serving the policies and data.json of `dir` (see `common::policies_dir`) instead
    /// of the shipped ones.
    pub fn start_with_policies(mode: &str, dir: &Path) -> Self {
        let data = dir.join("data.json");
        Self::start_with(
            mode,
            &[
                "--policies".as_ref(),
                dir.as_os_str(),
                "--data".as_ref(),
                data.as_os_str(),
            ],
        )
    }

    fn start_with(mode: &str, extra: &[&std::ffi::OsStr]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-opa-")
            .tempdir()
            .unwrap();
        let ready = dir.path().join("ready");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/opa/opa_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg("--socket")
            .arg(dir.path().join("opa.sock"))
            .args(["--mode", mode, "--delay", "3", "--quiet"])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--bindings")
            .arg(bindings())
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("start opa_server.py");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "opa_server.py did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { dir, child }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("opa.sock")
    }
}

impl Drop for OpaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// TEST_CONFIG with the OPA backend on `socket`.
pub fn opa_config(socket: &Path, extra: &str) -> String {
    format!(
        "{TEST_CONFIG}[policy]\nbackend = \"opa\"\n{extra}[policy.opa]\nsocket = {socket:?}\nresponse_timeout_ms = 1000\n"
    )
}
