use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{bail, Context, Result};
use libcontainer::oci_spec::runtime::Spec;

use crate::cli::SpecCmd;

/// Writes a starter config.json (runc's default spec), refusing to overwrite one.
pub fn spec(args: SpecCmd) -> Result<()> {
    let path = args.bundle.join("config.json");
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            bail!("{} exists; remove it first", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    let json = serde_json::to_string_pretty(&Spec::default())?;
    writeln!(file, "{json}").with_context(|| format!("cannot write {}", path.display()))
}
