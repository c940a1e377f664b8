//! Approved images (seeds: "unapproved images"; Kyverno best practices: restrict image
//! registries, disallow `:latest`, require image digests). The identity comes from
//! image_identity, never from a field the requester controls.

use super::{Findings, Input};
use crate::image_approval::Approval;
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

/// No `admission.images.approved` entry admits the image (image_approval).
pub fn approved(input: &Input, out: &mut Findings) {
    let Some(image) = known(input) else { return };
    let approved = &input.config.images.approved;
    if !approvals(input).any(|approval| approval.admits(image)) {
        let allowed = if approved.is_empty() {
            "an approved image; no registry, repository or digest is approved (admission.images.approved)"
                .to_owned()
        } else {
            format!(
                "an image admitted by {} (admission.images.approved)",
                approved.join(", ")
            )
        };
        out.push(image.field.clone(), described(image), allowed);
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

/// With `require_digest`, only an entry naming the image's content approves it: a name
/// is a label any local `podman tag` can put on other content (issue #21 item 5).
pub fn digest(input: &Input, out: &mut Findings) {
    let Some(image) = known(input) else { return };
    if input.config.images.require_digest
        && !approvals(input).any(|approval| approval.binds_content() && approval.admits(image))
    {
        out.push(
            image.field.clone(),
            described(image),
            "an image whose content is approved: its image id or manifest digest as sha256:… or name@sha256:… in admission.images.approved (admission.images.require_digest: a name alone approves nothing)",
        );
    }
}

/// The configured entries; config validation refused any that does not parse.
fn approvals<'a>(input: &'a Input) -> impl Iterator<Item = Approval<'a>> {
    input
        .config
        .images
        .approved
        .iter()
        .filter_map(|entry| Approval::parse(entry))
}

/// The reference as written and, when known, the content it resolved to.
fn described(image: &Image) -> String {
    match image.content.first() {
        Some(content) if image.reference.digest() != Some(content.as_str()) => {
            format!("{:?} (image {content})", image.written)
        }
        _ => format!("{:?}", image.written),
    }
}

fn known<'a>(input: &'a Input) -> Option<&'a Image> {
    match input.image() {
        Identity::Known(image) => Some(image),
        Identity::Unknown(_) => None,
    }
}
