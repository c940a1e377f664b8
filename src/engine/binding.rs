//! Binding an engine's claim to state its claimant cannot write (issue #15 class 5).
//!
//! [`Engine::detect`](super::Engine::detect) reads claims: annotations and paths in the
//! spec, which whoever wrote the spec chose. What a claim only narrows (Podman: no
//! orchestrator annotations) needs nothing more; what it widens is held against state
//! that only the engine, root or bulwark itself writes:
//!
//! | claim | widens | bound to |
//! |---|---|---|
//! | Podman | its userdata binds and secrets, the image containers/storage recorded | the bundle is `<graphroot>/<driver>-containers/<id>/userdata`, recorded for this id in a root-owned containers.json, and root.path is that record's rootfs |
//! | Podman infra, pod member, named volume | sandbox limits; the infra's /dev/shm; the volume's directory | what libpod's root-owned state database records for this id and these volume names (crate::libpod_state) |
//! | CRI sandbox | its sandbox directories | the sandbox id is its own id; no other live sandbox bulwark runs has its pod uid |
//! | CRI container | its sandbox's directories, its pod's kubelet directory, its sandbox's namespaces | its sandbox is a live container bulwark created as a CRI sandbox, for the pod uid it names |
//!
//! Podman hands the runtime its userdata directory as the bundle, which a caller of
//! containerd (whose bundles are `/run/containerd/io.containerd.runtime.v2.task/<ns>/<id>`)
//! cannot. A containerd API client arrives through the same shim as the CRI plugin and
//! can still name a live sandbox and its pod; it can also choose another runtime
//! altogether, which is why the README's trust boundary asks operators to make bulwark
//! the node's only runtime.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Engine;
use crate::config::UserNamespaceConfig;
use crate::containers_storage;
use crate::libpod_state::{LibpodState, Volume};
use crate::user_namespace_share::Holder;

/// The spec fields a CRI claim is made in.
pub const SANDBOX_ID_FIELD: &str = "annotations[\"io.kubernetes.cri.sandbox-id\"]";
pub const POD_UID_FIELD: &str = "annotations[\"io.kubernetes.cri.sandbox-uid\"]";

/// A CRI sandbox bulwark created whose init has not exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSandbox {
    /// The pod uid its spec named at create.
    pub pod_uid: Option<String>,
    pub init_pid: i32,
}

/// The CRI sandboxes bulwark runs under one state root (crate::sandboxes), and the
/// user namespaces of its containers that a pod's members join.
pub trait Sandboxes {
    /// Sandbox `id`, if bulwark created it as a CRI sandbox and its init has not exited.
    fn live(&self, id: &str) -> Option<LiveSandbox>;
    /// Ids of the sandboxes of pod `uid` that run or are being created.
    fn of_pod(&self, uid: &str) -> Vec<String>;
    /// The running container whose init is in `user_namespace` on a range of `pool`
    /// it leased (crate::user_namespace_share). None where no state root is at hand.
    fn leased_user_namespace(
        &self,
        _pool: &UserNamespaceConfig,
        _user_namespace: &OwnedFd,
    ) -> Option<Holder> {
        None
    }
}

/// No sandbox at all: where no state root is at hand (`validate` without one, fuzzing).
pub struct NoSandboxes;

impl Sandboxes for NoSandboxes {
    fn live(&self, _id: &str) -> Option<LiveSandbox> {
        None
    }

    fn of_pod(&self, _uid: &str) -> Vec<String> {
        Vec::new()
    }
}

/// What a claim is held against besides the spec.
pub struct Evidence<'a> {
    /// The canonical bundle directory the caller named.
    pub bundle: &'a Path,
    pub container_id: &'a str,
    pub sandboxes: &'a dyn Sandboxes,
}

/// A claim that held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// No engine claimed: nothing is widened.
    Unclaimed,
    /// Podman's own bundle, in the containers/storage `<driver>-containers` directory
    /// `store` (root-owned, recording this container), and what libpod recorded of it.
    Podman {
        store: PathBuf,
        record: PodmanRecord,
    },
    CriSandbox,
    /// A container of a live sandbox: it may join that init's namespaces only.
    CriContainer {
        sandbox_init: i32,
    },
}

/// What libpod recorded about a Podman container, read from its state database
/// (crate::libpod_state); empty where there is none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodmanRecord {
    /// The container is its pod's infra (pause) container.
    pub infra: bool,
    /// The infra container of the pod the container belongs to.
    pub pod_infra: Option<String>,
    /// The named volumes the spec binds (a source `<volume path>/<name>/_data` that is
    /// the mount point libpod records for volume `<name>`).
    pub volumes: Vec<Volume>,
}

/// libpod's record of Podman container `id` in the store under `graph_root`. An
/// unreadable database widens nothing: the record stays empty (logged).
fn podman_record(graph_root: &Path, spec: &Value, id: &str) -> PodmanRecord {
    let read = || -> Result<PodmanRecord, crate::libpod_state::StateError> {
        let Some(state) = LibpodState::open(graph_root)? else {
            return Ok(PodmanRecord::default());
        };
        let mut record = PodmanRecord::default();
        if let Some((pod, infra)) = state.pod_of(id)? {
            record.infra = infra;
            record.pod_infra = state.infra_of(&pod)?;
        }
        for source in spec["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["source"].as_str())
            .map(Path::new)
            .filter(|s| s.file_name().is_some_and(|n| n == "_data"))
        {
            let Some(name) = source
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
            else {
                continue;
            };
            if let Some(volume) = state.volume(name)? {
                if volume.mount_point == source && !record.volumes.contains(&volume) {
                    record.volumes.push(volume);
                }
            }
        }
        Ok(record)
    };
    read().unwrap_or_else(|error| {
        tracing::warn!(container = id, %error, "libpod's state is unreadable: no pod or volume is recognised");
        PodmanRecord::default()
    })
}

/// A claim that did not hold: the admission rule `engine.identity`'s violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbound {
    pub field: String,
    pub value: String,
    pub allowed: String,
}

/// A sandbox of pod `uid` other than `id` that runs or is being created.
pub fn other_sandbox_of_pod(sandboxes: &dyn Sandboxes, uid: &str, id: &str) -> Option<String> {
    sandboxes.of_pod(uid).into_iter().find(|other| other != id)
}

/// Holds `claim`, made by `spec`, against the evidence.
pub fn bind(claim: &Engine, spec: &Value, evidence: &Evidence) -> Result<Binding, Unbound> {
    let id = evidence.container_id;
    match claim {
        Engine::Other => Ok(Binding::Unclaimed),
        Engine::Podman => containers_storage::verify_bundle(evidence.bundle, spec, id)
            .map(|store| {
                let graph_root = store.parent().unwrap_or(&store);
                let record = podman_record(graph_root, spec, id);
                Binding::Podman { store, record }
            })
            .map_err(|reason| Unbound {
                field: "annotations".to_owned(),
                value:
                    "Podman's (io.container.manager, io.podman.annotations.* or a userdata bind)"
                        .to_owned(),
                allowed: format!(
                    "a Podman claim only with Podman's own bundle; bundle {}: {reason}",
                    evidence.bundle.display()
                ),
            }),
        Engine::Cri {
            sandbox_id,
            pod_uid,
            sandbox: true,
        } => {
            if sandbox_id != id {
                return Err(Unbound {
                    field: SANDBOX_ID_FIELD.to_owned(),
                    value: format!("{sandbox_id:?}"),
                    allowed: format!(
                        "the sandbox's own id {id:?} (containerd names a sandbox by its own \
                         container id; another id claims that sandbox's directories)"
                    ),
                });
            }
            let Some(uid) = pod_uid else {
                return Ok(Binding::CriSandbox);
            };
            if let Some(other) = other_sandbox_of_pod(evidence.sandboxes, uid, id) {
                return Err(Unbound {
                    field: POD_UID_FIELD.to_owned(),
                    value: format!("{uid:?}"),
                    allowed: format!(
                        "a pod uid no other live sandbox has: sandbox {other} runs for pod \
                         {uid} (stop it first; kubelet recreates a pod's sandbox only after \
                         stopping the old one)"
                    ),
                });
            }
            Ok(Binding::CriSandbox)
        }
        Engine::Cri {
            sandbox_id,
            pod_uid,
            sandbox: false,
        } => {
            let live = evidence.sandboxes.live(sandbox_id).ok_or_else(|| Unbound {
                field: SANDBOX_ID_FIELD.to_owned(),
                value: format!("{sandbox_id:?}"),
                allowed: format!(
                    "the id of a live sandbox bulwark created under this --root: no sandbox \
                     {sandbox_id:?} runs here (a CRI container belongs to its pod's sandbox)"
                ),
            })?;
            if let Some(uid) = pod_uid {
                if live.pod_uid.as_deref() != Some(uid.as_str()) {
                    return Err(Unbound {
                        field: POD_UID_FIELD.to_owned(),
                        value: format!("{uid:?}"),
                        allowed: format!(
                            "the pod uid sandbox {sandbox_id} was created for: {}",
                            live.pod_uid.as_deref().unwrap_or("none")
                        ),
                    });
                }
            }
            Ok(Binding::CriContainer {
                sandbox_init: live.init_pid,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One live sandbox `s1` of pod `u1` with init 42.
    struct OneSandbox;

    impl Sandboxes for OneSandbox {
        fn live(&self, id: &str) -> Option<LiveSandbox> {
            (id == "s1").then(|| LiveSandbox {
                pod_uid: Some("u1".into()),
                init_pid: 42,
            })
        }

        fn of_pod(&self, uid: &str) -> Vec<String> {
            if uid == "u1" {
                vec!["s1".into()]
            } else {
                Vec::new()
            }
        }
    }

    fn cri(sandbox_id: &str, pod_uid: Option<&str>, sandbox: bool) -> Engine {
        Engine::Cri {
            sandbox_id: sandbox_id.into(),
            pod_uid: pod_uid.map(Into::into),
            sandbox,
        }
    }

    fn bind_as(claim: &Engine, id: &str) -> Result<Binding, Unbound> {
        bind(
            claim,
            &json!({}),
            &Evidence {
                bundle: Path::new("/run/containerd/io.containerd.runtime.v2.task/k8s.io/x"),
                container_id: id,
                sandboxes: &OneSandbox,
            },
        )
    }

    #[test]
    fn a_cri_container_is_bound_to_its_live_sandbox_and_pod() {
        assert_eq!(
            bind_as(&cri("s1", Some("u1"), false), "c1"),
            Ok(Binding::CriContainer { sandbox_init: 42 })
        );
        assert_eq!(
            bind_as(&cri("s1", None, false), "c1"),
            Ok(Binding::CriContainer { sandbox_init: 42 })
        );
        let other_pod = bind_as(&cri("s1", Some("u2"), false), "c1").unwrap_err();
        assert_eq!(other_pod.field, POD_UID_FIELD);
        let no_sandbox = bind_as(&cri("s2", Some("u1"), false), "c1").unwrap_err();
        assert_eq!(no_sandbox.field, SANDBOX_ID_FIELD);
    }

    #[test]
    fn a_cri_sandbox_is_its_own_and_its_pods_only_one() {
        assert_eq!(
            bind_as(&cri("s2", Some("u2"), true), "s2"),
            Ok(Binding::CriSandbox)
        );
        // The live sandbox itself, asked again (validate of a running sandbox's bundle).
        assert_eq!(
            bind_as(&cri("s1", Some("u1"), true), "s1"),
            Ok(Binding::CriSandbox)
        );
        assert_eq!(
            bind_as(&cri("s1", Some("u2"), true), "s2")
                .unwrap_err()
                .field,
            SANDBOX_ID_FIELD
        );
        assert_eq!(
            bind_as(&cri("s2", Some("u1"), true), "s2")
                .unwrap_err()
                .field,
            POD_UID_FIELD
        );
    }

    #[test]
    fn a_podman_claim_outside_podmans_bundle_does_not_hold() {
        let unbound = bind_as(&Engine::Podman, "c1").unwrap_err();
        assert!(unbound.allowed.contains("userdata"), "{}", unbound.allowed);
        assert_eq!(bind_as(&Engine::Other, "c1"), Ok(Binding::Unclaimed));
    }
}
