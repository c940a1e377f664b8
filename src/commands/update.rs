use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::oci_spec::runtime::{LinuxResources, Spec};
use serde_json::{json, Map, Value};

use super::{cgroup_manager, decision, load_container, open};
use crate::admission::{self, Refused};
use crate::cli::Update;
use crate::config::LoadedConfig;
use crate::devices;
use crate::layout::ContainerRecord;
use crate::pipeline::{self, MAX_SPEC_BYTES};
use crate::policy::input::{Operation, Subject};

/// Applies new resource limits to the container's cgroup and records them in the
/// effective spec, so later operations (and the audit) see the limits in force. The
/// limits that result are admitted like a new container's: an update may not remove a
/// limit, raise one past the configured maximum, or allow every device.
pub fn update(root: &Path, args: Update) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let container = load_container(&root, &id)?;
    let requested = requested_resources(&args)?;
    let resources: LinuxResources = serde_json::from_value(requested.clone())
        .context("the requested resources are not a valid linux.resources object")?;

    let spec_path = root.effective_spec_path(&id);
    let spec: Spec = pipeline::read_json(&spec_path)?;
    let mut spec_json = serde_json::to_value(&spec)?;
    let current = spec_json
        .pointer_mut("/linux")
        .and_then(Value::as_object_mut)
        .context("the effective spec has no linux section")?
        .entry("resources")
        .or_insert_with(|| json!({}));
    merge(current, requested);
    // libcgroups writes memory.oom_control on every v1 memory update (v1/memory.rs
    // set_oom_control): the setting in force, not the default, keeps what create set.
    let disable_oom_killer = current
        .pointer("/memory/disableOOMKiller")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let config = LoadedConfig::load()?;
    let record = ContainerRecord::load(&root, &id)?;
    let mut audit = decision::entry_for_container(
        Operation::Update,
        id.as_str(),
        &config,
        &record.policy_context,
    );
    let violations = admission::admit_update(current, &config.config.admission);
    if !violations.is_empty() {
        audit.violations(&violations);
        return Err(decision::refused_before_policy(
            &config,
            &audit,
            Refused(violations).into(),
        ));
    }
    // The device cgroup stays the one create set up (the baseline's deny-all and
    // standard devices) whatever the update asks: containerd resends the spec's own
    // list on every update, and writing a deny-all again would make /dev/null fail for
    // the running workload until the allows follow (cgroup v1 devices.deny).
    current["devices"] = serde_json::to_value(devices::cgroup_rules())?;
    let mut resources = resources;
    resources.set_devices(None);
    let updated: Spec = serde_json::from_value(spec_json)?;
    let process = updated
        .process()
        .as_ref()
        .context("the effective spec has no process")?;
    decision::decide(
        &config,
        audit,
        &Subject {
            operation: Operation::Update,
            context: &record.policy_context,
            spec: &updated,
            process,
            secrets: &[],
        },
    )?;

    cgroup_manager(&container)?
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| format!("cannot update the cgroup of container {id}"))?;

    pipeline::write_effective_spec(&updated, &spec_path)?;
    Ok(())
}

/// The resources to apply, as JSON: from `--resources` (a file, or "-" for stdin) or
/// from the individual flags.
fn requested_resources(args: &Update) -> Result<Value> {
    if let Some(path) = &args.resources {
        return if path == Path::new("-") {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_SPEC_BYTES + 1)
                .read_to_end(&mut bytes)
                .context("cannot read resources from stdin")?;
            if bytes.len() as u64 > MAX_SPEC_BYTES {
                bail!("the resources on stdin exceed {MAX_SPEC_BYTES} bytes");
            }
            serde_json::from_slice(&bytes).context("stdin is not a JSON linux.resources object")
        } else {
            Ok(pipeline::read_json(path)?)
        };
    }
    let mut resources = Map::new();
    let mut set = |section: &str, key: &str, value: Value| {
        resources
            .entry(section)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|s| s.insert(key.to_owned(), value));
    };
    if let Some(v) = &args.memory {
        set("memory", "limit", json!(parse_bytes(v)?));
    }
    if let Some(v) = &args.memory_reservation {
        set("memory", "reservation", json!(parse_bytes(v)?));
    }
    if let Some(v) = &args.memory_swap {
        set("memory", "swap", json!(parse_bytes(v)?));
    }
    if let Some(v) = args.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = args.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = args.cpu_share {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = &args.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &args.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    if let Some(v) = args.pids_limit {
        set("pids", "limit", json!(v));
    }
    if let Some(v) = args.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    if resources.is_empty() {
        bail!("nothing to update: pass --resources or a resource flag such as --memory");
    }
    Ok(Value::Object(resources))
}

/// runc's unit parsing for memory flags: bytes, optionally with k, m or g (1024-based);
/// -1 means unlimited.
fn parse_bytes(value: &str) -> Result<i64> {
    let lower = value.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches('b');
    let (digits, multiplier) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    let number: i64 = digits
        .parse()
        .with_context(|| format!("{value:?} is not a size like 512m"))?;
    if number == -1 {
        return Ok(-1);
    }
    number
        .checked_mul(multiplier)
        .filter(|n| *n >= 0)
        .with_context(|| format!("{value:?} is out of range"))
}

/// Overlays `update` on `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, update: Value) {
    match (base, update) {
        (Value::Object(base), Value::Object(update)) => {
            for (key, value) in update {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, update) => *base = update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("4kb").unwrap(), 4096);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("-5").is_err());
    }

    #[test]
    fn merge_keeps_untouched_limits() {
        let mut base = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 10}});
        merge(&mut base, json!({"memory": {"limit": 5}}));
        assert_eq!(
            base,
            json!({"memory": {"limit": 5, "swap": 2}, "pids": {"limit": 10}})
        );
    }
}
