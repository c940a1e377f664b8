//! The container's cgroup (see crate::cgroups): `linux.cgroupsPath` must name a new
//! cgroup strictly below one of the configured parents. Joining an existing cgroup
//! would hand the container its limits, and libcontainer's delete kills everything in
//! the cgroup it names and removes it.

use super::{show, Findings, Input};
use crate::cgroups::{self, CgroupPath};

pub const PATH: &str = "cgroups.path";

pub fn confined(input: &Input, out: &mut Findings) {
    // Absent: bulwark's own default below /bulwark (or system.slice), claimed at create.
    let Some(value) = input.spec.pointer("/linux/cgroupsPath") else {
        return;
    };
    let config = &input.config.cgroups;
    let mut refuse = |allowed: String| out.push("linux.cgroupsPath", show(value), allowed);
    let Some(text) = value.as_str() else {
        return refuse("a string".to_owned());
    };
    let path = match CgroupPath::parse(text) {
        Ok(path) => path,
        Err(form) => return refuse(form.to_owned()),
    };
    if !path.is_confined(&config.parents, &config.systemd_slices) {
        let parents: Vec<String> = config
            .parents
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return refuse(format!(
            "a new cgroup below one of {} (cgroupfs) or the slices {} (systemd): \
             admission.cgroups.parents, admission.cgroups.systemd_slices",
            parents.join(", "),
            config.systemd_slices.join(", ")
        ));
    }
    match cgroups::existing(&path) {
        Ok(existing) if existing.is_empty() => {}
        Ok(existing) => refuse(format!(
            "a cgroup that does not exist yet ({} exists): a container never joins another's cgroup",
            existing[0].display()
        )),
        Err(error) => refuse(format!(
            "a cgroup bulwark can prove is new ({error})"
        )),
    }
}
