//! Approved images (seeds: "unapproved images"; Kyverno best practices: restrict image
//! registries, disallow `:latest`, require image digests). The identity comes from
//! image_identity, never from a field the requester controls.

use super::{Findings, Input};
use crate::image_identity::{Identity, Image, IMAGE_ANNOTATION};

pub const UNKNOWN: &str = "images.unknown";
pub const UNAPPROVED: &str = "images.unapproved";
pub const LATEST: &str = "images.latest";
pub const DIGEST: &str = "images.digest";

/// The image of a container cannot be identified.
pub fn unknown(input: &Input, out: &mut Findings) {
    if let Identity::Unknown(reason) = input.image() {
        if !input.config.images.allow_unknown {
            out.push(
                "image",
                format!("unknown ({reason})"),
                format!("an image named by containerd CRI, Podman's containers/storage or a trusted {IMAGE_ANNOTATION} annotation (admission.images.allow_unknown admits unknown images)"),
            );
        }
    }
}

/// The image is not under an approved registry or repository prefix.
pub fn approved(input: &Input, out: &mut Findings) {
    let Some(image) = known(input) else { return };
    let approved = &input.config.images.approved;
    let name = image.name();
    let matches = |prefix: &String| {
        name == *prefix
            || name
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if !approved.iter().any(matches) {
        let allowed = if approved.is_empty() {
            "an approved image; no registry or repository is approved (admission.images.approved)"
                .to_owned()
        } else {
            format!(
                "an image under {} (admission.images.approved)",
                approved.join(", ")
            )
        };
        out.push(image.field.clone(), format!("{:?}", image.written), allowed);
    }
}

/// `:latest` (or no tag, which means latest) without a digest: what runs changes under
/// the same name.
pub fn latest(input: &Input, out: &mut Findings) {
    let Some(image) = known(input) else { return };
    if input.config.images.refuse_latest
        && image.reference.digest().is_none()
        && image.reference.tag().is_none_or(|tag| tag == "latest")
    {
        out.push(
            image.field.clone(),
            format!("{:?}", image.written),
            "a version tag or a digest, not :latest (admission.images.refuse_latest)",
        );
    }
}

/// A reference not pinned by digest, when the config requires pinning.
pub fn digest(input: &Input, out: &mut Findings) {
    let Some(image) = known(input) else { return };
    if input.config.images.require_digest && image.reference.digest().is_none() {
        out.push(
            image.field.clone(),
            format!("{:?}", image.written),
            "a reference pinned by digest, name@sha256:... (admission.images.require_digest)",
        );
    }
}

fn known<'a>(input: &'a Input) -> Option<&'a Image> {
    match input.image() {
        Identity::Known(image) => Some(image),
        Identity::Unknown(_) => None,
    }
}
