//! `bulwark doctor`: whether this host can give containers what bulwark promises
//! (seeds: "Health Monitoring"). Each check is required (a failure means containers are
//! refused or decisions cannot be made) or informational. Exits 1 when a required
//! check fails, so it serves as a monitoring probe. It also reports what interrupted
//! creates left under `--root` (issue #22), for the operator to remove.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use super::features::AppArmorState;
use super::state::StateView;
use crate::cgroups::{self, CgroupPath};
use crate::cli::{Doctor, LogFormat};
use crate::config::{
    IdentityConfig, LoadedConfig, OnUnavailable, PolicyBackend, SeccompProfileName,
    UserNamespaceMode,
};
use crate::identity::keys;
use crate::layout::{ContainerRecord, StateRoot};
use crate::pipeline::DEFAULT_CGROUP_PARENT;
use crate::policy::{opa, PolicySet};
use crate::seccomp_profiles;

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    required: bool,
    detail: String,
}

pub fn doctor(root: &Path, args: Doctor) -> Result<i32> {
    let mut checks = run_checks();
    checks.push(leftovers(root));
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
    if let Some(identity) = identity(&config.config.identity) {
        checks.push(identity);
    }
    checks.push(audit_log(&config));
    checks.push(idmap(&config));
    checks
}

/// Where engines keep the images a rootfs comes from (Podman's containers/storage,
/// containerd's snapshots), and `/`, which holds plain bundles.
const IMAGE_STORES: [&str; 3] = ["/", "/var/lib/containers/storage", "/var/lib/containerd"];

/// Whether an auto-mode container's rootfs can be staged as an idmapped view
/// (crate::rootfs_idmap) on the filesystems images live on here: an idmapped clone of
/// each is made and dropped. Required only with `baseline.user_namespace.mode = "auto"`,
/// where a rootfs without a view is refused.
fn idmap(config: &LoadedConfig) -> Check {
    let required = config.config.baseline.user_namespace.mode == UserNamespaceMode::Auto;
    let mut works = Vec::new();
    let mut fails = Vec::new();
    for store in IMAGE_STORES {
        let Ok(path) = fs::canonicalize(store) else {
            continue;
        };
        match crate::rootfs_idmap::check_host(&path) {
            Ok(fstype) => works.push(format!("{} ({fstype})", path.display())),
            Err(reason) => fails.push(reason),
        }
    }
    if fails.is_empty() {
        check(
            "idmap",
            true,
            required,
            format!(
                "idmapped rootfs views work on {} (an overlay rootfs is rebuilt from \
                 idmapped layers)",
                works.join(", ")
            ),
        )
    } else {
        check(
            "idmap",
            false,
            required,
            format!(
                "idmapped rootfs views cannot be staged: {}; with \
                 baseline.user_namespace.mode = \"auto\" such a rootfs is refused",
                fails.join("; ")
            ),
        )
    }
}

/// The agent token keys and the revocation list (crate::identity): readable, parsed,
/// and writable by root alone (whoever can add a key or empty the list names agents).
/// Nothing to check on a host that configures no tokens.
fn identity(config: &IdentityConfig) -> Option<Check> {
    if config.public_keys.is_empty() && config.revoked.is_none() {
        return config.require_token.then(|| {
            check(
                "identity",
                false,
                false,
                "identity.require_token without identity.public_keys: no agent can be named".into(),
            )
        });
    }
    let mut problems = Vec::new();
    let mut kids = Vec::new();
    if let Err(e) = keys::load(&config.public_keys) {
        problems.push(e.to_string());
    }
    for path in &config.public_keys {
        kids.push(keys::kid_of(path));
        problems.extend(root_only(path));
    }
    if let Some(list) = &config.revoked {
        match keys::read_text(list) {
            Ok(_) => problems.extend(root_only(list)),
            Err(e) => problems.push(format!("identity.revoked: {e}; every token is refused")),
        }
    }
    Some(if problems.is_empty() {
        check(
            "identity",
            true,
            true,
            format!(
                "token keys {} parse; revocation list {}",
                kids.join(", "),
                config
                    .revoked
                    .as_ref()
                    .map_or("not configured".to_owned(), |p| p.display().to_string())
            ),
        )
    } else {
        check("identity", false, true, problems.join("; "))
    })
}

/// Why `path` is not a file only root can change, if it is not.
fn root_only(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(path) {
        Ok(meta) if meta.uid() != 0 => Some(format!(
            "{} is owned by uid {}, not root",
            path.display(),
            meta.uid()
        )),
        Ok(meta) if meta.mode() & 0o022 != 0 => Some(format!(
            "{} is writable by group or others (mode {:o})",
            path.display(),
            meta.mode() & 0o7777
        )),
        Ok(_) => None,
        Err(e) => Some(format!("{}: {e}", path.display())),
    }
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

/// Creates that never completed under the root (a record, no readable libcontainer
/// state: interrupted, or still running at this instant) and cgroups under bulwark's default parent that no container
/// of this root accounts for. Informational: `delete --force <id>` removes an
/// interrupted create; a cgroup without a record is reported, never removed here (it
/// may be another `--root`'s, and bulwark acts only on cgroups it can prove it made).
fn leftovers(root: &Path) -> Check {
    let Ok(root) = StateRoot::open(root, false) else {
        return check(
            "leftovers",
            true,
            false,
            format!("no state root at {}", root.display()),
        );
    };
    let mut known = root.container_ids().unwrap_or_default();
    known.extend(root.private_ids());
    let interrupted: Vec<String> = root
        .private_ids()
        .into_iter()
        .filter(|id| StateView::load(&root, id).is_err())
        .filter(|id| ContainerRecord::load(&root, id).is_ok())
        .map(|id| id.to_string())
        .collect();
    let unaccounted: Vec<PathBuf> =
        cgroups::claim_dir(&CgroupPath::Cgroupfs(PathBuf::from(DEFAULT_CGROUP_PARENT)))
            .ok()
            .and_then(|parent| fs::read_dir(parent).ok())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|entry| !known.iter().any(|id| entry.file_name() == id.as_str()))
            .map(|entry| entry.path())
            .collect();
    let mut findings = Vec::new();
    if !interrupted.is_empty() {
        findings.push(format!(
            "creates that never completed under {}: {} (interrupted, unless still running; \
             remove each with `bulwark --root {} delete --force <id>`)",
            root.path().display(),
            interrupted.join(", "),
            root.path().display()
        ));
    }
    if !unaccounted.is_empty() {
        let dirs: Vec<String> = unaccounted
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        findings.push(format!(
            "cgroups no container under {} accounts for: {} (another --root's, or not bulwark's)",
            root.path().display(),
            dirs.join(", ")
        ));
    }
    if findings.is_empty() {
        return check(
            "leftovers",
            true,
            false,
            format!(
                "nothing left by interrupted creates under {}",
                root.path().display()
            ),
        );
    }
    check("leftovers", false, false, findings.join("; "))
}
