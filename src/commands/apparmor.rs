use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::cli::ApparmorCmd;
use crate::host;

/// The profile shipped in `apparmor/`, compiled in so the binary always loads the
/// profile it was tested with.
const PROFILE: &str = include_str!("../../apparmor/bulwark-default");

pub fn apparmor(cmd: ApparmorCmd) -> Result<()> {
    match cmd {
        ApparmorCmd::Install => install(),
    }
}

/// `apparmor_parser -r -W`: load the profile, replacing a loaded one. It stays loaded
/// until reboot: given on stdin, the profile has no file apparmor_parser could cache
/// (`-W` only warns "cannot use or update cache"), and nothing in /etc/apparmor.d names
/// it for apparmor.service to load at boot; run `bulwark apparmor install` at boot.
fn install() -> Result<()> {
    if !host::apparmor_enabled() {
        bail!(
            "this kernel has no AppArmor (/sys/module/apparmor/parameters/enabled is not Y); \
             there is nothing to load the bulwark-default profile into"
        );
    }
    let mut parser = Command::new("apparmor_parser")
        .args(["-r", "-W"])
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot run apparmor_parser (Debian package apparmor)")?;
    parser
        .stdin
        .take()
        .context("apparmor_parser has no stdin")?
        .write_all(PROFILE.as_bytes())
        .context("cannot send the profile to apparmor_parser")?;
    let status = parser.wait().context("apparmor_parser")?;
    if !status.success() {
        bail!("apparmor_parser could not load bulwark-default ({status})");
    }
    if !host::loaded_apparmor_profiles().contains("bulwark-default") {
        bail!("apparmor_parser succeeded but the kernel does not list bulwark-default");
    }
    crate::outln!("bulwark-default loaded");
    Ok(())
}
