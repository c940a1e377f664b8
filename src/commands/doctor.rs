//! `bulwark doctor`: whether this host can give containers what bulwark promises
//! (seeds: "Health Monitoring"). Each check is required (a failure means containers are
//! refused or decisions cannot be made) or informational. Exits 1 when a required
//! check fails, so it serves as a monitoring probe.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use super::features::AppArmorState;
use crate::cli::{Doctor, LogFormat};
use crate::config::{LoadedConfig, OnUnavailable, PolicyBackend, SeccompProfileName};
use crate::policy::{opa, PolicySet};
use crate::seccomp_profiles;

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    required: bool,
    detail: String,
}

pub fn doctor(args: Doctor) -> Result<i32> {
    let checks = run_checks();
    let healthy = checks.iter().all(|c| c.ok || !c.required);
    match args.format {
        LogFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&json!({ "healthy": healthy, "checks": checks }))?
        ),
        LogFormat::Text => {
            for check in &checks {
                let status = match (check.ok, check.required) {
                    (true, _) => "ok  ",
                    (false, true) => "FAIL",
                    (false, false) => "warn",
                };
                crate::outln!("{status} {:<10} {}", check.name, check.detail);
            }
            crate::outln!("{}", if healthy { "healthy" } else { "UNHEALTHY" });
        }
    }
    Ok(if healthy { 0 } else { 1 })
}

fn run_checks() -> Vec<Check> {
    let mut checks = vec![seccomp(), cgroups()];
    let config = match LoadedConfig::load() {
        Ok(config) => config,
        Err(e) => {
            checks.push(check("config", false, true, e.to_string()));
            return checks;
        }
    };
    let source = config.source.as_ref().map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    checks.push(check(
        "config",
        true,
        true,
        format!("{source} ({})", config.digest),
    ));
    let apparmor = AppArmorState::of(&config.config.baseline);
    checks.push(check(
        "apparmor",
        !apparmor.refuses_containers(),
        true,
        apparmor.describe(),
    ));
    checks.push(seccomp_profiles_check());
    let policy = &config.config.policy;
    let embedded_needed = policy.backend == PolicyBackend::Embedded
        || (policy.backend == PolicyBackend::Opa
            && policy.on_unavailable == OnUnavailable::Embedded);
    if embedded_needed {
        checks.push(embedded_policies(&config));
    }
    if policy.backend == PolicyBackend::Opa {
        checks.push(match opa::health(&policy.opa) {
            Ok(()) => check(
                "opa",
                true,
                true,
                format!("healthy at {}", policy.opa.socket.display()),
            ),
            Err(e) => check(
                "opa",
                false,
                // With a fallback, containers still get decisions (and error-level audit).
                policy.on_unavailable == OnUnavailable::Refuse,
                e.to_string(),
            ),
        });
    }
    checks.push(audit_log(&config));
    checks
}

fn check(name: &'static str, ok: bool, required: bool, detail: String) -> Check {
    Check {
        name,
        ok,
        required,
        detail,
    }
}

/// The kernel can install seccomp filters (the Seccomp field of /proc/self/status
/// exists only with CONFIG_SECCOMP).
fn seccomp() -> Check {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ok = status
        .lines()
        .any(|l| l.starts_with("Seccomp_filters:") || l.starts_with("Seccomp:"));
    let detail = if ok {
        "the kernel supports seccomp filters".to_owned()
    } else {
        "the kernel has no seccomp support: no container can run".to_owned()
    };
    check("seccomp", ok, true, detail)
}

fn cgroups() -> Check {
    match libcgroups::common::get_cgroup_setup() {
        Ok(setup) => check("cgroups", true, false, format!("{setup} hierarchy")),
        Err(e) => check(
            "cgroups",
            false,
            true,
            format!("cannot tell the cgroup setup: {e}"),
        ),
    }
}

fn seccomp_profiles_check() -> Check {
    let mut failures = Vec::new();
    for name in [SeccompProfileName::Default, SeccompProfileName::Agent] {
        if let Err(e) = seccomp_profiles::load(name) {
            failures.push(format!("{}: {e}", name.as_str()));
        }
    }
    if failures.is_empty() {
        check(
            "profiles",
            true,
            true,
            "seccomp profiles default and agent parse".into(),
        )
    } else {
        check("profiles", false, true, failures.join("; "))
    }
}

/// The embedded policies compile and answer (a malformed probe input must be refused).
fn embedded_policies(config: &LoadedConfig) -> Check {
    let policy = &config.config.policy;
    let set = match &policy.policies_dir {
        Some(dir) => PolicySet::from_dir(dir),
        None => Ok(PolicySet::built_in()),
    };
    let result = set.and_then(|set| {
        set.evaluate(&policy.decision_path, &json!({"doctor": true}))
            .map(|decision| (set.digest.clone(), decision))
    });
    match result {
        Ok((digest, Some(_))) => check(
            "policies",
            true,
            true,
            format!("embedded policies compile and decide ({digest})"),
        ),
        Ok((_, None)) => check(
            "policies",
            false,
            true,
            format!(
                "the embedded policies define no decision at {}",
                policy.decision_path
            ),
        ),
        Err(e) => check("policies", false, true, e.to_string()),
    }
}

/// The audit log can be appended to: without it no decision is acted on.
fn audit_log(config: &LoadedConfig) -> Check {
    let path = &config.config.audit.path;
    let dir_ok = path
        .parent()
        .is_none_or(|dir| dir.as_os_str().is_empty() || dir.is_dir());
    if !dir_ok {
        // bulwark creates the directory on the first decision.
        return check(
            "audit",
            true,
            true,
            format!("{} (directory created on first decision)", path.display()),
        );
    }
    match OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
    {
        Ok(_) => check(
            "audit",
            true,
            true,
            format!("{} is writable", path.display()),
        ),
        Err(e) => check("audit", false, true, format!("{}: {e}", path.display())),
    }
}
