use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::oci_spec::runtime::Spec;
use serde::Serialize;
use serde_json::Value;

use crate::admission::{self, Violation};
use crate::baseline::{Baseline, Change, HostSupport};
use crate::cli::{LogFormat, Validate};
use crate::config::LoadedConfig;
use crate::engine::binding::{Evidence, NoSandboxes, Sandboxes};
use crate::layout::StateRoot;
use crate::pipeline;
use crate::sandboxes::StateRootSandboxes;

/// The verdict `validate` prints.
#[derive(Serialize)]
struct Report {
    source: PathBuf,
    admitted: bool,
    violations: Vec<Violation>,
    /// Why the baseline cannot run this spec on this host (e.g. no AppArmor).
    baseline_error: Option<String>,
    changes: Vec<Change>,
}

/// `bulwark validate`: the same admission and baseline code as create, nothing created.
/// Returns the exit code: 0 admitted, 1 refused (like `conftest test`). A CRI container
/// is held against the sandboxes running under `root`, as its create would be.
pub fn validate(root: &Path, args: Validate) -> Result<i32> {
    let file = match (&args.bundle, &args.file) {
        (Some(bundle), None) => bundle.join("config.json"),
        (None, Some(file)) => file.clone(),
        _ => bail!("give a bundle (--bundle DIR) or a config.json file"),
    };
    let bundle = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    // As create sees it (Podman's claim is held against the bundle's real place).
    let bundle = std::fs::canonicalize(&bundle).unwrap_or(bundle);
    let config = LoadedConfig::load()?;
    let mut raw: Value = pipeline::read_json(&file)?;
    let state_root = StateRoot::open(root, false).ok();
    let sandboxes: &dyn Sandboxes = match &state_root {
        Some(root) => &StateRootSandboxes { root },
        None => &NoSandboxes,
    };
    let evidence = Evidence {
        bundle: &bundle,
        container_id: &args.id,
        sandboxes,
    };
    let report = match pipeline::admit_document(&mut raw, &evidence, &config.config.admission) {
        Err(refused) => Report {
            source: file,
            admitted: false,
            violations: refused.0,
            baseline_error: None,
            changes: Vec::new(),
        },
        Ok(admitted) => {
            let mut changes = admitted.changes;
            let mut spec: Spec = serde_json::from_value(raw)
                .with_context(|| format!("{} is not a valid OCI runtime spec", file.display()))?;
            let host = HostSupport::probe();
            let baseline = Baseline::new(&config.config.baseline, &host);
            let mut violations = Vec::new();
            let baseline_error = match baseline.apply_to_spec(&mut spec) {
                Ok(applied) => {
                    changes.extend(applied);
                    violations = admission::admit_effective(&spec, &config.config.admission);
                    None
                }
                Err(err) => Some(err.to_string()),
            };
            Report {
                source: file,
                admitted: baseline_error.is_none() && violations.is_empty(),
                violations,
                baseline_error,
                changes,
            }
        }
    };
    match args.format {
        LogFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(&report)?),
        LogFormat::Text => print_text(&report),
    }
    Ok(if report.admitted { 0 } else { 1 })
}

fn print_text(report: &Report) {
    let verdict = if report.admitted {
        "ADMITTED"
    } else {
        "REFUSED"
    };
    crate::outln!("{verdict} {}", report.source.display());
    for violation in &report.violations {
        crate::outln!("  {violation}");
    }
    if let Some(err) = &report.baseline_error {
        crate::outln!("  {err}");
    }
    if !report.changes.is_empty() {
        crate::outln!("baseline changes:");
        for change in &report.changes {
            crate::outln!(
                "  [{}] {}: {} -> {} ({})",
                change.control,
                change.path,
                change.before,
                change.after,
                change.reason
            );
        }
    }
}
