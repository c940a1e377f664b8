//! Host namespaces (PSS baseline: no hostNetwork, hostPID, hostIPC).

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use super::{show, Findings, Input};

pub const REQUIRED: &str = "namespaces.required";
pub const HOST: &str = "namespaces.host";

/// Namespace types a container must not share with the host.
const REQUIRED_TYPES: [&str; 5] = ["pid", "network", "ipc", "uts", "mount"];

pub(super) fn namespaces(spec: &Value) -> &[Value] {
    spec.pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A missing namespace type means the container shares the host's.
pub fn required(input: &Input, out: &mut Findings) {
    for typ in REQUIRED_TYPES {
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
/// admitted; joining the host's own namespace is not. The host's namespace is the one
/// of /proc/1; where /proc/1/ns cannot be read (some sandboxed hosts), the one bulwark
/// itself runs in, which is the engine's and so the host's. Where neither can be read
/// bulwark cannot prove the path is not the host's, and refuses.
///
/// This reports on the engine's document, by path; the authoritative check is at
/// create (crate::namespace_paths, under this rule's id), on the descriptor that
/// libcontainer is then given to join, since a path can name another file by then.
pub fn host_paths(input: &Input, out: &mut Findings) {
    for (index, ns) in namespaces(input.spec).iter().enumerate() {
        let (Some(typ), Some(path)) = (ns["type"].as_str(), ns["path"].as_str()) else {
            continue;
        };
        let proc_name = crate::host::proc_ns_name(typ);
        let field = format!("linux.namespaces[{index}].path");
        let Ok(target) = std::fs::metadata(path) else {
            out.push(
                field,
                show(&ns["path"]),
                "an existing namespace file (it could not be opened)".to_owned(),
            );
            continue;
        };
        let host = std::fs::metadata(format!("/proc/1/ns/{proc_name}"))
            .or_else(|_| std::fs::metadata(format!("/proc/self/ns/{proc_name}")));
        match host {
            Ok(host) if host.ino() == target.ino() && host.dev() == target.dev() => out.push(
                field,
                show(&ns["path"]),
                format!("the host's {typ} namespace may not be joined; join a pod's namespace or none"),
            ),
            Ok(_) => {}
            Err(_) => out.push(
                field,
                show(&ns["path"]),
                format!("a namespace bulwark can tell apart from the host's (the host's {typ} namespace could not be read)"),
            ),
        }
    }
}
