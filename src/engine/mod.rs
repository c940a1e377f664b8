//! Which engine wrote a spec. It decides which host paths the engine manages for the
//! container and where its image identity comes from, so detection must not be
//! steerable by the person who asks the engine for a container.
//!
//! Podman copies every `--annotation` into the spec, even over its own keys
//! (`--annotation io.container.manager=other` replaces `libpod`), so a Podman user can
//! write any CRI annotation. Podman is therefore recognised by marks its users cannot
//! remove: its `io.podman.annotations.*` keys and binds from its per-container
//! `userdata` directory. A spec with any Podman mark is Podman's, whatever else it
//! claims. containerd's CRI plugin passes pod annotations through only when the runtime
//! handler's `pod_annotations` allowlists them; an operator must not allowlist
//! `io.kubernetes.cri.*` or `io.podman.*`.
//!
//! What is detected here is a claim; [`binding`] holds what a claim widens against
//! state the claimant cannot write.

pub mod binding;

use serde_json::Value;

/// Annotation prefix Podman always writes (privileged, init, autoremove, publish-all).
const PODMAN_ANNOTATION_PREFIX: &str = "io.podman.annotations.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    Podman,
    /// containerd's CRI plugin: the pod sandbox id and uid, and whether this is the
    /// sandbox (pause) container.
    Cri {
        sandbox_id: String,
        pod_uid: Option<String>,
        sandbox: bool,
    },
    Other,
}

impl Engine {
    pub fn detect(spec: &Value, container_id: &str) -> Self {
        if is_podman(spec, container_id) {
            return Engine::Podman;
        }
        let annotation = |key: &str| spec["annotations"][key].as_str().map(str::to_owned);
        if let Some(kind) = annotation("io.kubernetes.cri.container-type") {
            return Engine::Cri {
                sandbox_id: annotation("io.kubernetes.cri.sandbox-id").unwrap_or_default(),
                pod_uid: annotation("io.kubernetes.cri.sandbox-uid"),
                sandbox: kind == "sandbox",
            };
        }
        Engine::Other
    }
}

fn is_podman(spec: &Value, container_id: &str) -> bool {
    let annotations = spec["annotations"].as_object();
    let marked = annotations.is_some_and(|a| {
        a.get("io.container.manager").and_then(Value::as_str) == Some("libpod")
            || a.keys().any(|k| k.starts_with(PODMAN_ANNOTATION_PREFIX))
    });
    marked || binds_from_userdata(spec, container_id)
}

/// A mount source `.../<driver>-containers/<id>/userdata/...`: containers/storage's
/// per-container directory, which only Podman (and CRI-O) bind from.
fn binds_from_userdata(spec: &Value, container_id: &str) -> bool {
    if container_id.is_empty() {
        return false;
    }
    let needle = format!("-containers/{container_id}/userdata");
    spec["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["source"].as_str())
        .any(|source| source.contains(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn engines_are_told_apart_by_their_annotations() {
        let cri = json!({"annotations": {
            "io.kubernetes.cri.container-type": "sandbox",
            "io.kubernetes.cri.sandbox-id": "abc"}});
        assert_eq!(
            Engine::detect(&cri, "abc"),
            Engine::Cri {
                sandbox_id: "abc".into(),
                pod_uid: None,
                sandbox: true
            }
        );
        let podman = json!({"annotations": {"io.container.manager": "libpod"}});
        assert_eq!(Engine::detect(&podman, "x"), Engine::Podman);
        assert_eq!(Engine::detect(&json!({}), "x"), Engine::Other);
    }

    #[test]
    fn a_podman_user_cannot_pass_for_cri() {
        // `podman run --annotation io.container.manager=other --annotation
        // io.kubernetes.cri.container-type=container ...` as podman 4.3 writes it.
        let spoofed = json!({"annotations": {
            "io.container.manager": "other",
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.image-name": "registry.example.com/approved:1",
            "io.podman.annotations.privileged": "FALSE"}});
        assert_eq!(Engine::detect(&spoofed, "c1"), Engine::Podman);
        let by_mount = json!({"annotations": {"io.kubernetes.cri.container-type": "container"},
            "mounts": [{"destination": "/etc/hosts", "type": "bind",
                "source": "/run/containers/storage/overlay-containers/c1/userdata/hosts"}]});
        assert_eq!(Engine::detect(&by_mount, "c1"), Engine::Podman);
    }
}
