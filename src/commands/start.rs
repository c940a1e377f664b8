use std::path::Path;

use anyhow::{Context, Result};

use super::{load_container, open};
use crate::cli::ContainerRef;

pub fn start(root: &Path, args: ContainerRef) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let mut container = load_container(&root, &id)?;
    container
        .start()
        .with_context(|| format!("cannot start container {id}"))
}
