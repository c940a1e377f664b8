//! Which image a container runs, from a source its requester cannot forge:
//!
//! | engine | source |
//! |---|---|
//! | containerd CRI | annotation `io.kubernetes.cri.image-name`, written by containerd; for a sandbox (pause) container without it, `admission.images.cri_sandbox_image` |
//! | Podman | containers/storage metadata of the container id (see containers_storage) |
//! | other callers | annotation `bulwark.io/image`, only if `admission.images.trust_annotation` |
//!
//! Annotations are never taken from Podman specs: Podman users set any annotation they
//! like. The reference is parsed with Docker's normalisation (image_reference) (`nginx` is
//! `docker.io/library/nginx:latest`), so approved prefixes match what runs.

use serde::Serialize;
use serde_json::Value;

use crate::config::ImagesConfig;
use crate::containers_storage;
use crate::engine::Engine;
use crate::image_reference::ImageReference;

/// The annotation an orchestrator that drives bulwark directly sets to the image
/// reference it unpacked into the bundle.
pub const IMAGE_ANNOTATION: &str = "bulwark.io/image";
/// containerd's CRI plugin names the container's image here (containerd 1.5+).
pub const CRI_IMAGE_ANNOTATION: &str = "io.kubernetes.cri.image-name";

/// Where an identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    CriAnnotation,
    CriSandboxImageConfig,
    ContainersStorage,
    OrchestratorAnnotation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub reference: ImageReference,
    /// The reference as the source wrote it.
    pub written: String,
    /// The image's content digests, as far as the source establishes them: for
    /// containers/storage the image id (`sha256:<id>`) and every manifest digest of the
    /// image the rootfs is made from; for a reference an engine resolved, the digest it
    /// is pinned to, if any. Empty when nothing identifies the content.
    pub content: Vec<String>,
    pub source: Source,
    /// Where it was read: a spec JSON path or a containers/storage file.
    pub field: String,
}

impl Image {
    /// `registry/repository`, the part approved prefixes are matched against.
    pub fn name(&self) -> String {
        format!(
            "{}/{}",
            self.reference.registry(),
            self.reference.repository()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Known(Image),
    /// Why no identity could be established.
    Unknown(String),
}

/// Resolves the image identity of container `container_id`.
pub fn resolve(
    spec: &Value,
    container_id: &str,
    engine: &Engine,
    config: &ImagesConfig,
) -> Identity {
    match engine {
        Engine::Cri { sandbox: true, .. } if spec["annotations"][CRI_IMAGE_ANNOTATION].is_null() => {
            match &config.cri_sandbox_image {
                Some(image) => parse(
                    image.clone(),
                    Source::CriSandboxImageConfig,
                    "admission.images.cri_sandbox_image".to_owned(),
                ),
                None => Identity::Unknown(format!(
                    "the CRI sandbox names no image ({CRI_IMAGE_ANNOTATION}) and admission.images.cri_sandbox_image is not set"
                )),
            }
        }
        Engine::Cri { .. } => from_annotation(spec, CRI_IMAGE_ANNOTATION, Source::CriAnnotation),
        Engine::Podman => match containers_storage::image_of(spec, container_id) {
            Ok(stored) => match parse(
                stored.reference,
                Source::ContainersStorage,
                format!("{} (container {container_id})", stored.store.display()),
            ) {
                Identity::Known(image) => Identity::Known(Image {
                    content: stored.content,
                    ..image
                }),
                unknown => unknown,
            },
            Err(e) => Identity::Unknown(format!("containers/storage: {e}")),
        },
        Engine::Other if config.trust_annotation => {
            from_annotation(spec, IMAGE_ANNOTATION, Source::OrchestratorAnnotation)
        }
        Engine::Other => Identity::Unknown(format!(
            "the caller is neither Podman nor containerd CRI, and {IMAGE_ANNOTATION} is not trusted (admission.images.trust_annotation)"
        )),
    }
}

fn from_annotation(spec: &Value, key: &str, source: Source) -> Identity {
    let field = format!("annotations[{key:?}]");
    match spec["annotations"][key].as_str() {
        Some(written) => parse(written.to_owned(), source, field),
        None => Identity::Unknown(format!("{field} is not set")),
    }
}

fn parse(written: String, source: Source, field: String) -> Identity {
    if containers_storage::is_image_id(&written) {
        return Identity::Unknown(format!(
            "{field} is an image id ({written}), which names no registry or repository"
        ));
    }
    match ImageReference::parse(&written) {
        Some(reference) => Identity::Known(Image {
            content: reference.digest().map(str::to_owned).into_iter().collect(),
            reference,
            written,
            source,
            field,
        }),
        None => Identity::Unknown(format!("{field} is {written:?}, not an image reference")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cri(sandbox: bool) -> Engine {
        Engine::Cri {
            sandbox_id: "s".into(),
            pod_uid: None,
            sandbox,
        }
    }

    fn trusting(trust_annotation: bool) -> ImagesConfig {
        ImagesConfig {
            trust_annotation,
            ..ImagesConfig::default()
        }
    }

    #[test]
    fn cri_names_the_image_in_its_annotation() {
        let spec = json!({"annotations": {CRI_IMAGE_ANNOTATION: "nginx"}});
        let Identity::Known(image) = resolve(&spec, "c", &cri(false), &trusting(false)) else {
            panic!("unknown")
        };
        assert_eq!(image.name(), "docker.io/library/nginx");
        assert_eq!(image.reference.tag(), Some("latest"));
        assert_eq!(image.source, Source::CriAnnotation);
    }

    #[test]
    fn the_orchestrator_annotation_counts_only_when_trusted() {
        let spec = json!({"annotations": {IMAGE_ANNOTATION: "registry.example.com/a/b:1"}});
        assert!(matches!(
            resolve(&spec, "c", &Engine::Other, &trusting(false)),
            Identity::Unknown(_)
        ));
        let Identity::Known(image) = resolve(&spec, "c", &Engine::Other, &trusting(true)) else {
            panic!("unknown")
        };
        assert_eq!(image.name(), "registry.example.com/a/b");
        // Never from Podman, whose users write annotations.
        assert!(matches!(
            resolve(&spec, "c", &Engine::Podman, &trusting(true)),
            Identity::Unknown(_)
        ));
    }

    #[test]
    fn ids_and_garbage_are_unknown() {
        let id = format!("sha256:{}", "a".repeat(64));
        for bad in [id.as_str(), "Not A Reference", ""] {
            let spec = json!({"annotations": {CRI_IMAGE_ANNOTATION: bad}});
            assert!(
                matches!(
                    resolve(&spec, "c", &cri(false), &trusting(false)),
                    Identity::Unknown(_)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_cri_sandbox_without_a_name_runs_the_configured_sandbox_image() {
        let spec = json!({"annotations": {}});
        assert!(matches!(
            resolve(&spec, "c", &cri(true), &trusting(false)),
            Identity::Unknown(_)
        ));
        let config = ImagesConfig {
            cri_sandbox_image: Some("localhost/bulwark-pause:test".into()),
            ..ImagesConfig::default()
        };
        let Identity::Known(image) = resolve(&spec, "c", &cri(true), &config) else {
            panic!("unknown")
        };
        assert_eq!(image.source, Source::CriSandboxImageConfig);
        // An app container never falls back to it.
        assert!(matches!(
            resolve(&spec, "c", &cri(false), &config),
            Identity::Unknown(_)
        ));
    }
}
