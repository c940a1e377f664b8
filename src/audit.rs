//! The audit log (seeds: "records every decision"): one JSON line per decision —
//! admitted or refused, the rules hit, the baseline's changes, the policy backend and
//! its answer — with the digests of the config, the policies and the seccomp profile in
//! force, and the descriptors `--preserve-fds` passes in (number and type). Appended
//! with O_APPEND in a single write, so lines from concurrent runtimes never interleave.
//! Secret values never reach it: violations name environment variables, not their
//! values, and secrets are listed by name.
//!
//! A decision that cannot be recorded is not made: if the log cannot be written, the
//! container is refused.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::admission::preserved_fds::PreservedFd;
use crate::admission::Violation;
use crate::baseline::Change;
use crate::identity::Agent;
use crate::policy::input::Operation;
use crate::policy::Outcome;

#[derive(Debug, thiserror::Error)]
#[error("cannot write the audit log {path}: {source}; bulwark does not act on a decision it cannot record")]
pub struct AuditError {
    path: PathBuf,
    source: io::Error,
}

/// The digests a decision was made under.
#[derive(Debug, Clone, Serialize)]
pub struct Digests {
    pub config: String,
    pub seccomp_profile: Option<String>,
}

/// One decision being assembled; `write` appends it.
pub struct Entry {
    operation: Operation,
    container_id: String,
    digests: Digests,
    context: Value,
    image: Value,
    violations: Vec<Violation>,
    changes: Vec<Value>,
    secrets: Vec<String>,
    preserved_fds: Vec<PreservedFd>,
    policy: Option<Outcome>,
    agent: Value,
}

impl Entry {
    pub fn new(operation: Operation, container_id: &str, digests: Digests) -> Self {
        Self {
            operation,
            container_id: container_id.to_owned(),
            digests,
            context: Value::Null,
            image: Value::Null,
            violations: Vec::new(),
            changes: Vec::new(),
            secrets: Vec::new(),
            preserved_fds: Vec::new(),
            policy: None,
            agent: Value::Null,
        }
    }

    pub fn seccomp_profile_digest(&mut self, digest: String) {
        self.digests.seccomp_profile = Some(digest);
    }

    pub fn context(&mut self, container: &Value, image: &Value) {
        self.context = container.clone();
        self.image = image.clone();
    }

    pub fn violations(&mut self, violations: &[Violation]) {
        self.violations = violations.to_vec();
    }

    /// Baseline changes by control and field; before/after values stay out (they can
    /// be whole seccomp profiles).
    pub fn changes(&mut self, changes: &[Change]) {
        self.changes = changes
            .iter()
            .map(|c| json!({"control": c.control, "path": c.path, "reason": c.reason}))
            .collect();
    }

    pub fn secrets(&mut self, names: &[String]) {
        self.secrets = names.to_vec();
    }

    /// The descriptors `--preserve-fds` passes into the container, by number and type.
    pub fn preserved_fds(&mut self, fds: &[PreservedFd]) {
        self.preserved_fds = fds.to_vec();
    }

    /// The agent decided at create: its id, task, whether it is an identity, and the
    /// verified token's jti and kid (never the token).
    pub fn agent(&mut self, agent: &Agent) {
        self.agent = json!(agent);
    }

    pub fn policy(&mut self, outcome: Outcome) {
        self.policy = Some(outcome);
    }

    /// Appends the record: `refusal` is None for an admitted operation.
    pub fn write(&self, path: &Path, refusal: Option<&str>) -> Result<(), AuditError> {
        let level = if self.policy.as_ref().is_some_and(Outcome::is_error) {
            "error"
        } else {
            "info"
        };
        let record = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level,
            "decision_id": decision_id(),
            "operation": self.operation,
            "container_id": self.container_id,
            "verdict": if refusal.is_some() { "refuse" } else { "admit" },
            "reason": refusal,
            "container": self.context,
            "image": self.image,
            "agent": self.agent,
            "rules": self.violations,
            "baseline_changes": self.changes,
            "secrets": self.secrets,
            "preserved_fds": self.preserved_fds,
            "policy": self.policy,
            "digests": {
                "config": self.digests.config,
                "policies": self.policy.as_ref().and_then(|p| p.policies_digest.clone()),
                "seccomp_profile": self.digests.seccomp_profile,
            },
        });
        append(path, &record)
    }
}

fn append(path: &Path, record: &Value) -> Result<(), AuditError> {
    let err = |source| AuditError {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(err)?;
    }
    let mut line = serde_json::to_vec(record).expect("a JSON value serializes");
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(err)?;
    // Writers take an exclusive lock, so that a record torn by a full filesystem can be
    // cut off again before another writer appends after it (the next line would be
    // glued to the fragment and neither would parse).
    // SAFETY: flock(2) on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(err(io::Error::last_os_error()));
    }
    let before = file.metadata().map_err(err)?.len();
    // One write: O_APPEND makes the kernel place it at the end atomically.
    let written = file.write(&line);
    if matches!(written, Ok(n) if n == line.len()) {
        return Ok(());
    }
    let repaired = match file.set_len(before) {
        Ok(()) => "the partial record was removed",
        Err(truncate) => {
            tracing::error!(path = %path.display(), error = %truncate, "cannot remove a partial audit record");
            "a partial record remains"
        }
    };
    Err(err(match written {
        Ok(n) => io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes; {repaired})", line.len()),
        ),
        Err(e) => e,
    }))
}

/// 128 random bits, hex: identifies one decision across logs.
fn decision_id() -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom writes at most bytes.len() bytes into the buffer.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        // The id only correlates records; a clock-based one is good enough then.
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        return format!("{nanos:032x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
