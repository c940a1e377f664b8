use std::path::Path;

use anyhow::{anyhow, Context, Result};
use libcontainer::signal::Signal;

use super::{load_container, open};
use crate::cli::Kill;

pub fn kill(root: &Path, args: Kill) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let signal = Signal::try_from(args.signal.as_str()).map_err(|e| anyhow!("{e}"))?;
    let mut container = load_container(&root, &id)?;
    container.kill(signal, args.all).with_context(|| {
        format!(
            "cannot signal container {id} (status {})",
            container.status()
        )
    })
}
