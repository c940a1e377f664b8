use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;

use super::{cgroup_manager, load_container, open};
use crate::cli::Ps;

pub fn ps(root: &Path, args: Ps) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let container = load_container(&root, &id)?;
    let pids: Vec<i32> = cgroup_manager(&container)?
        .get_all_pids()
        .with_context(|| format!("cannot list the processes of container {id}"))?
        .iter()
        .map(|p| p.as_raw())
        .collect();
    match args.format.as_str() {
        "json" => crate::outln!("{}", serde_json::to_string(&pids)?),
        "table" => print_table(&pids, &args.ps_options)?,
        other => bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}

/// runc's table: ps(1)'s output, filtered to the container's pids.
fn print_table(pids: &[i32], ps_options: &[String]) -> Result<()> {
    let options = if ps_options.is_empty() {
        vec!["-ef".to_owned()]
    } else {
        ps_options.to_vec()
    };
    let output = Command::new("ps")
        .args(&options)
        .output()
        .context("cannot run ps")?;
    if !output.status.success() {
        bail!(
            "ps failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_column = header
        .split_whitespace()
        .position(|c| c == "PID")
        .context("ps output has no PID column")?;
    crate::outln!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            crate::outln!("{line}");
        }
    }
    Ok(())
}
