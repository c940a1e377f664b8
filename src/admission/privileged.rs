//! Privileged containers (PSS baseline: privileged, capabilities, host devices,
//! unconfined profiles). "Privileged" is not a field: it shows as all capabilities, an
//! allow-all device rule, emptied masked paths, writable sysfs, an engine annotation.

use serde_json::Value;

use super::{show, Findings, Input};
use crate::config::GRANTABLE_CAPABILITIES;
use crate::devices;

pub const CAPABILITIES: &str = "privileged.capabilities";
pub const DEVICES: &str = "privileged.devices";
pub const MASKED_PATHS: &str = "privileged.masked-paths";
pub const ANNOTATION: &str = "privileged.podman";
pub const UNCONFINED: &str = "privileged.unconfined";

/// Capabilities beyond Pod Security Standards' baseline list are refused, in any set;
/// CAP_NET_RAW, in containerd's and Docker's default set, only when configured.
pub fn capabilities(input: &Input, out: &mut Findings) {
    let tolerated = |cap: &str| {
        GRANTABLE_CAPABILITIES.contains(&cap)
            || (cap == "CAP_NET_RAW" && !input.config.capabilities.refuse_net_raw)
    };
    let Some(sets) = input
        .spec
        .pointer("/process/capabilities")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (set, caps) in sets {
        let dangerous: Vec<&str> = caps
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|cap| !tolerated(cap))
            .collect();
        if !dangerous.is_empty() {
            out.push(
                format!("process.capabilities.{set}"),
                format!("{dangerous:?}"),
                format!(
                    "only {} may be requested",
                    GRANTABLE_CAPABILITIES.join(", ")
                ),
            );
        }
    }
}

/// Devices by identity (see crate::devices): a device cgroup rule may grant read or
/// write access only to the standard character devices, and a node in `linux.devices`
/// must be a standard one by type and major:minor, whatever path it is put at.
pub fn devices(input: &Input, out: &mut Findings) {
    let rules = input
        .spec
        .pointer("/linux/resources/devices")
        .and_then(Value::as_array);
    for (index, rule) in rules.into_iter().flatten().enumerate() {
        let only_standard = devices::grants_only_accessible(
            rule["allow"] == true,
            rule["type"].as_str(),
            rule["major"].as_i64(),
            rule["minor"].as_i64(),
            rule["access"].as_str(),
        );
        if !only_standard {
            out.push(
                format!("linux.resources.devices[{index}]"),
                show(rule),
                format!(
                    "a device rule may grant read/write only to the standard character \
                     devices ({}); no wildcards, no block devices",
                    accessible_list()
                ),
            );
        }
    }
    let nodes = input
        .spec
        .pointer("/linux/devices")
        .and_then(Value::as_array);
    for (index, node) in nodes.into_iter().flatten().enumerate() {
        let standard = match (
            node["path"].as_str(),
            node["type"].as_str(),
            node["major"].as_i64(),
            node["minor"].as_i64(),
        ) {
            (Some(path), Some(typ), Some(major), Some(minor)) => {
                devices::standard_node(path, typ, major, minor)
            }
            _ => false,
        };
        // Set-id and sticky bits on a node serve no container; only permissions may vary.
        let special_bits = node["fileMode"].as_u64().is_some_and(|m| m & 0o7000 != 0);
        if !standard || special_bits {
            out.push(
                format!("linux.devices[{index}]"),
                show(node),
                format!(
                    "host devices may not be passed in; only the standard nodes, by type and \
                     number at their own path ({}), without set-id or sticky bits",
                    devices::STANDARD_NODES
                        .iter()
                        .map(|n| format!("{} c {}:{}", n.path, n.major, n.minor))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}

fn accessible_list() -> String {
    devices::ACCESSIBLE
        .iter()
        .map(|(major, minor)| match minor {
            Some(minor) => format!("c {major}:{minor}"),
            None => format!("c {major}:*"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Absent masked paths are the baseline's to supply; an explicitly empty list is how a
/// privileged container asks for an unmasked /proc.
pub fn masked_paths(input: &Input, out: &mut Findings) {
    if let Some(paths) = input
        .spec
        .pointer("/linux/maskedPaths")
        .and_then(Value::as_array)
    {
        if paths.is_empty() {
            out.push(
                "linux.maskedPaths",
                "[]",
                "masked paths may not be emptied (unset it to get runc's defaults)",
            );
        }
    }
}

pub fn podman_privileged(input: &Input, out: &mut Findings) {
    let key = "io.podman.annotations.privileged";
    if let Some(value) = input.spec["annotations"][key].as_str() {
        if value.eq_ignore_ascii_case("true") {
            out.push(
                format!("annotations[\"{key}\"]"),
                format!("{value:?}"),
                "privileged containers are disallowed; remove --privileged".to_owned(),
            );
        }
    }
}

/// An explicit request to run without AppArmor or seccomp.
pub fn unconfined(input: &Input, out: &mut Findings) {
    let spec = input.spec;
    if let Some(profile) = spec
        .pointer("/process/apparmorProfile")
        .and_then(Value::as_str)
    {
        if profile == "unconfined" {
            out.push(
                "process.apparmorProfile",
                "\"unconfined\"",
                "unset, or a confining profile",
            );
        }
    }
    if let Some(seccomp) = spec.pointer("/linux/seccomp") {
        let allow_all = seccomp["defaultAction"] == "SCMP_ACT_ALLOW"
            && seccomp["syscalls"].as_array().is_none_or(Vec::is_empty);
        if allow_all {
            out.push(
                "linux.seccomp",
                "an allow-everything profile",
                "unset, or a profile that restricts syscalls",
            );
        }
    }
    let annotations = spec["annotations"].as_object();
    for (key, value) in annotations.into_iter().flatten() {
        let names_profile = key.to_ascii_lowercase().contains("seccomp")
            || key.to_ascii_lowercase().contains("apparmor");
        if names_profile
            && value
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case("unconfined"))
        {
            out.push(
                format!("annotations[\"{key}\"]"),
                "\"unconfined\"",
                "seccomp and AppArmor may not be switched off",
            );
        }
    }
}
