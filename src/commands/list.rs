use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};

use super::state::StateView;
use crate::cli::List;
use crate::layout::{ContainerRecord, LayoutError, StateRoot};

pub fn list(root: &Path, args: List) -> Result<()> {
    // A root that was never created holds no containers.
    let views = match StateRoot::open(root, false) {
        Ok(root) => views(&root)?,
        Err(LayoutError::Root { .. }) => Vec::new(),
        // A root others can write is not listed from: what it holds may be planted.
        Err(err) => return Err(err.into()),
    };
    let mut out = std::io::stdout().lock();
    match (args.format.as_str(), args.quiet) {
        (_, true) => {
            for view in &views {
                writeln!(out, "{}", view.id)?;
            }
        }
        ("json", false) => writeln!(out, "{}", serde_json::to_string(&views)?)?,
        ("table", false) => {
            writeln!(out, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")?;
            for view in &views {
                let created = view.created.map(|c| c.to_rfc3339()).unwrap_or_default();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    view.id,
                    view.pid,
                    view.status.to_string().to_lowercase(),
                    view.bundle.display(),
                    created,
                    view.owner
                )?;
            }
        }
        (other, false) => bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}

/// Every container under the root: libcontainer's, and those bulwark has a record of
/// whose libcontainer state is missing or unreadable (interrupted creates), so an
/// operator finds what `delete --force` has to remove.
fn views(root: &StateRoot) -> Result<Vec<StateView>> {
    let mut ids = root.container_ids()?;
    ids.extend(root.private_ids());
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.dedup();
    Ok(ids
        .iter()
        .filter_map(|id| {
            StateView::load(root, id).ok().or_else(|| {
                ContainerRecord::load(root, id)
                    .ok()
                    .map(|record| StateView::interrupted(id, record))
            })
        })
        .collect())
}
