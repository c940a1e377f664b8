//! Host namespaces (PSS baseline: no hostNetwork, hostPID, hostIPC).

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::{show, Findings, Input};

pub const REQUIRED: &str = "namespaces.required";
pub const HOST: &str = "namespaces.host";

/// An OCI namespace type and its name under /proc/<pid>/ns.
const REQUIRED_TYPES: [(&str, &str); 5] = [
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
];

fn namespaces(spec: &Value) -> &[Value] {
    spec.pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A missing namespace type means the container shares the host's.
pub fn required(input: &Input, out: &mut Findings) {
    for (typ, _) in REQUIRED_TYPES {
        if !namespaces(input.spec).iter().any(|ns| ns["type"] == typ) {
            out.push(
                "linux.namespaces",
                format!("without {typ:?}"),
                format!("a private {typ} namespace is required (no host {typ} namespace)"),
            );
        }
    }
}

/// Joining a namespace by path is how CRI puts a pod's containers together, and is
/// admitted; joining the host's own namespace (the inode of /proc/1/ns/<type>) is not.
pub fn host_paths(input: &Input, out: &mut Findings) {
    for (index, ns) in namespaces(input.spec).iter().enumerate() {
        let (Some(typ), Some(path)) = (ns["type"].as_str(), ns["path"].as_str()) else {
            continue;
        };
        let proc_name = match typ {
            "network" => "net",
            "mount" => "mnt",
            other => other,
        };
        let same =
            |a: &std::fs::Metadata, b: &std::fs::Metadata| a.ino() == b.ino() && a.dev() == b.dev();
        let host = std::fs::metadata(format!("/proc/1/ns/{proc_name}"));
        match (std::fs::metadata(path), host) {
            (Ok(target), Ok(host)) if same(&target, &host) => out.push(
                format!("linux.namespaces[{index}].path"),
                show(&ns["path"]),
                format!(
                    "the host's {typ} namespace may not be joined; join a pod's namespace or none"
                ),
            ),
            (Err(_), _) => out.push(
                format!("linux.namespaces[{index}].path"),
                show(&ns["path"]),
                "an existing namespace file (it could not be opened)".to_owned(),
            ),
            _ => {}
        }
    }
}
