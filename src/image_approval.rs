//! What an `admission.images.approved` entry admits.
//!
//! | entry | admits |
//! |---|---|
//! | `registry.example.com/agents` | every image under that registry or repository prefix (path-component boundaries) |
//! | `sha256:<64 hex>` | the image whose id or a manifest digest it is, under any name |
//! | `registry.example.com/agents/x@sha256:<64 hex>` | that content, when it runs under that name |
//!
//! A name is only a label: `podman tag` gives any local image an approved name
//! (issue #21 item 5). The two digest forms bind approval to content, checked against
//! the content digests image_identity established from the engine's own records, so
//! only they satisfy `admission.images.require_digest`.

use crate::image_identity::Image;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval<'a> {
    Prefix(&'a str),
    Content(&'a str),
    PinnedName { name: &'a str, digest: &'a str },
}

impl<'a> Approval<'a> {
    /// None for an entry that is none of the three forms.
    pub fn parse(entry: &'a str) -> Option<Self> {
        if is_digest(entry) {
            return Some(Self::Content(entry));
        }
        match entry.split_once('@') {
            Some((name, digest)) if is_prefix(name) && is_digest(digest) => {
                Some(Self::PinnedName { name, digest })
            }
            Some(_) => None,
            None => is_prefix(entry).then_some(Self::Prefix(entry)),
        }
    }

    /// Whether this entry approves the content, not only a name.
    pub fn binds_content(&self) -> bool {
        !matches!(self, Self::Prefix(_))
    }

    pub fn admits(&self, image: &Image) -> bool {
        let has_content = |digest: &str| image.content.iter().any(|known| known == digest);
        match *self {
            Self::Prefix(prefix) => {
                let name = image.name();
                name == prefix
                    || name
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            Self::Content(digest) => has_content(digest),
            Self::PinnedName { name, digest } => image.name() == name && has_content(digest),
        }
    }
}

/// `sha256:` and 64 lowercase hex digits, as engines write digests.
fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A fully qualified `registry[:port][/path...]`: the registry is `localhost` or has a
/// dot or a numeric port (the rule image references use to tell a registry from a
/// Docker Hub name); no tag, digest, empty component or upper case.
fn is_prefix(entry: &str) -> bool {
    let mut components = entry.split('/');
    let registry = components.next().unwrap_or_default();
    let host_is_registry = match registry.split_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => registry == "localhost" || registry.contains('.'),
    };
    host_is_registry
        && !entry.contains('@')
        && components.all(|c| !c.is_empty() && !c.contains(':'))
        && !entry
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_identity::Source;
    use crate::image_reference::ImageReference;

    const ID: &str = "sha256:810c0ebe9bdfeb9ef75c9f09a440dcab5d55342eeac98f3acfc115c8612cfba6";
    const MANIFEST: &str =
        "sha256:94f506d037df9cfe70d6ea3b8e5f64e0b7a74c606d5ccb468cb3ba8f9b2434e7";

    fn image(written: &str) -> Image {
        Image {
            reference: ImageReference::parse(written).unwrap(),
            written: written.to_owned(),
            content: vec![ID.to_owned(), MANIFEST.to_owned()],
            source: Source::ContainersStorage,
            field: "containers.json".to_owned(),
        }
    }

    #[test]
    fn the_three_forms_parse_and_nothing_else() {
        assert_eq!(
            Approval::parse("localhost/probe"),
            Some(Approval::Prefix("localhost/probe"))
        );
        assert_eq!(Approval::parse(ID), Some(Approval::Content(ID)));
        let pinned = format!("localhost/probe@{MANIFEST}");
        assert_eq!(
            Approval::parse(&pinned),
            Some(Approval::PinnedName {
                name: "localhost/probe",
                digest: MANIFEST
            })
        );
        for bad in [
            "localhost/probe:1",
            "probe",
            "localhost/probe/",
            "sha256:abc",
            "localhost/probe@sha256:ABC",
            "localhost/probe:1@sha256:94f506d037df9cfe70d6ea3b8e5f64e0b7a74c606d5ccb468cb3ba8f9b2434e7",
            "LOCALHOST/probe",
        ] {
            assert_eq!(Approval::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_prefix_admits_by_name_at_component_boundaries() {
        let prefix = Approval::parse("localhost/probe").unwrap();
        assert!(prefix.admits(&image("localhost/probe:1")));
        assert!(prefix.admits(&image("localhost/probe/sub:1")));
        assert!(!prefix.admits(&image("localhost/probe-evil:1")));
        assert!(!prefix.binds_content());
    }

    #[test]
    fn digests_admit_the_content_under_any_name_or_the_pinned_one() {
        let content = Approval::parse(ID).unwrap();
        assert!(content.admits(&image("localhost/anything:1")));
        let pinned_entry = format!("localhost/probe@{MANIFEST}");
        let pinned = Approval::parse(&pinned_entry).unwrap();
        assert!(pinned.admits(&image("localhost/probe:1")));
        assert!(!pinned.admits(&image("localhost/other:1")));
        let mut impostor = image("localhost/probe:evil");
        impostor.content = vec![format!("sha256:{}", "1".repeat(64))];
        assert!(!content.admits(&impostor) && !pinned.admits(&impostor));
        assert!(content.binds_content() && pinned.binds_content());
    }
}
