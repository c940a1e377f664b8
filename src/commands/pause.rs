use std::path::Path;

use anyhow::{Context, Result};

use super::{load_container, open};
use crate::cli::ContainerRef;

pub fn pause(root: &Path, args: ContainerRef) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    load_container(&root, &id)?
        .pause()
        .with_context(|| format!("cannot pause container {id}"))
}

pub fn resume(root: &Path, args: ContainerRef) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    load_container(&root, &id)?
        .resume()
        .with_context(|| format!("cannot resume container {id}"))
}
