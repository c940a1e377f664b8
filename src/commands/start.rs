use std::path::Path;

use anyhow::{bail, Result};
use libcontainer::container::ContainerStatus;

use super::{load_container, open, start_container};
use crate::cli::ContainerRef;

pub fn start(root: &Path, args: ContainerRef) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let mut container = load_container(&root, &id)?;
    // libcontainer only says "incompatible container status"; an init that died while
    // waiting for start (OOM, a kill) can never be started, so say what to do instead.
    if container.status() == ContainerStatus::Stopped {
        bail!(
            "cannot start container {id}: it is stopped (its init exited before start); \
             run `delete {id}` and create it again"
        );
    }
    start_container(&root, &id, &mut container)
}
