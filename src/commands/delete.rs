use std::path::Path;

use anyhow::{bail, Result};
use libcontainer::container::ContainerStatus;

use super::{load_container, open, remove_container};
use crate::cli::Delete;
use crate::layout::LayoutError;

/// runc's delete: a stopped (or created) container is removed; a running one only with
/// `--force`; a missing one is an error unless `--force`.
pub fn delete(root: &Path, args: Delete) -> Result<()> {
    let (root, id) = match open(root, &args.container_id) {
        Ok(opened) => opened,
        Err(err) if args.force && is_not_found(&err) => return Ok(()),
        Err(err) => return Err(err),
    };
    if !root.exists(&id) {
        if args.force {
            return Ok(());
        }
        return Err(LayoutError::NotFound(id.to_string()).into());
    }
    if !args.force {
        let container = load_container(&root, &id)?;
        if matches!(
            container.status(),
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Creating
        ) {
            bail!(
                "cannot delete container {id}: it is {}; stop it first or use --force",
                container.status().to_string().to_lowercase()
            );
        }
    }
    if !root.container_dir(&id).exists() {
        // Only bulwark's private directory: a create killed before libcontainer began.
        // Its cgroup attach warm-up child (crate::cgroups::AttachWarmup) may still be
        // finishing a write, for up to a grace period, with the create's command line.
        crate::stragglers::kill_create_stragglers(root.path(), id.as_str());
    }
    remove_container(&root, &id)
}

fn is_not_found(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<LayoutError>(),
        Some(LayoutError::NotFound(_))
    )
}
