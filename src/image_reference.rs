//! Image references (`[registry/]repository[:tag][@digest]`) parsed by the grammar of
//! distribution/reference, normalised the way Docker and containerd do (`nginx` is
//! `docker.io/library/nginx:latest`).
//!
//! Not oci-spec's `distribution::Reference`: its parser compiles a regex whose Unicode
//! `\w` repeated 128 times takes 45–70 ms to build, in every bulwark process that
//! parses one reference (docs/benchmarks.md, issue #8) — more than runc's whole
//! container lifecycle. The grammar is small enough to check directly.

use std::fmt;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const OFFICIAL_NAMESPACE: &str = "library";
/// distribution/reference's NameTotalLengthMax.
const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageReference {
    /// Parses `text`; None when it is not a reference. Neither tag nor digest means
    /// `:latest`.
    pub fn parse(text: &str) -> Option<Self> {
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(valid_digest(digest)?)),
            None => (text, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].find(':') {
            Some(colon) => {
                let at = last_slash + colon;
                (
                    &name_and_tag[..at],
                    Some(valid_tag(&name_and_tag[at + 1..])?),
                )
            }
            None => (name_and_tag, None),
        };
        let (registry, repository) = split_registry(name)?;
        if repository.len() > MAX_NAME_LEN || !repository.split('/').all(valid_component) {
            return None;
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Some(Self {
            registry,
            repository,
            tag,
            digest: digest.map(str::to_owned),
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Docker's rule: the first component is a registry if it has a `.` or a `:` or is
/// `localhost`, and there is more than one component.
fn split_registry(name: &str) -> Option<(String, String)> {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (valid_registry(first)?, rest.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    let registry = if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB.to_owned()
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("{OFFICIAL_NAMESPACE}/{repository}")
    } else {
        repository
    };
    Some((registry, repository))
}

/// `host[:port]`: dot-separated labels of letters, digits and inner hyphens.
fn valid_registry(registry: &str) -> Option<String> {
    let (host, port) = match registry.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (host.split('.').all(label_ok) && port_ok).then(|| registry.to_owned())
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut separator = String::new();
    for &b in bytes {
        if alnum(b) {
            let ok = matches!(separator.as_str(), "" | "." | "_" | "__")
                || separator.bytes().all(|s| s == b'-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(b as char);
        } else {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> Option<&str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    ok.then_some(tag)
}

/// `sha256:` + 64, `sha384:` + 96 or `sha512:` + 128 hex digits.
fn valid_digest(digest: &str) -> Option<&str> {
    let (algorithm, hex) = digest.split_once(':')?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    };
    (hex.len() == length && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ImageReference {
        ImageReference::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn docker_normalisation() {
        let nginx = parse("nginx");
        assert_eq!(
            (nginx.registry(), nginx.repository()),
            ("docker.io", "library/nginx")
        );
        assert_eq!(nginx.tag(), Some("latest"));
        assert_eq!(nginx.to_string(), "docker.io/library/nginx:latest");
        assert_eq!(
            parse("index.docker.io/x/y:1").to_string(),
            "docker.io/x/y:1"
        );
        assert_eq!(parse("user/app").repository(), "user/app");
        let local = parse("localhost/bulwark-probe:test");
        assert_eq!(
            (local.registry(), local.repository()),
            ("localhost", "bulwark-probe")
        );
        let port = parse("registry.example.com:5000/a/b-c__d.e");
        assert_eq!(port.registry(), "registry.example.com:5000");
        assert_eq!(port.tag(), Some("latest"));
    }

    #[test]
    fn digests_pin_and_replace_the_implied_tag() {
        let digest = format!("sha256:{}", "9".repeat(64));
        let pinned = parse(&format!("localhost/p@{digest}"));
        assert_eq!(
            (pinned.tag(), pinned.digest()),
            (None, Some(digest.as_str()))
        );
        let both = parse(&format!("localhost/p:latest@{digest}"));
        assert_eq!(both.tag(), Some("latest"));
        assert_eq!(both.digest(), Some(digest.as_str()));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "Localhost/Bulwark Probe",
            "UPPER/case",
            "a//b",
            "a/-b",
            "a/b-",
            "a/b:",
            "a/b:-tag",
            "a/b@sha256:abc",
            "a/b@md5:0123456789abcdef0123456789abcdef",
            "bad_host.io:port/x",
            &format!("x:{}", "t".repeat(129)),
        ] {
            assert!(ImageReference::parse(bad).is_none(), "{bad:?} parsed");
        }
    }
}
