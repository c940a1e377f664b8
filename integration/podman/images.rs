//! Image approval bound to content, through real Podman (issue #21 item 5): a local
//! `podman tag` can give any image an approved name, so a name alone never approves an
//! image when the config requires digests; the image id and manifest digests come from
//! containers/storage's record of the image the container's rootfs is made from.

use std::fs;

use crate::harness::{probe_report, Podman, BULWARK_CONFIG, IMAGE};

/// The unapproved image, loaded under its own name and then tagged into the approved
/// repository.
const EVIL: &str = "localhost/unapproved-evil:1";
const EVIL_TAG: &str = "localhost/bulwark-probe:evil";

/// `podman image inspect`'s image id (`sha256:`-less hex) and manifest digest.
fn content_of(pm: &Podman, image: &str) -> (String, String) {
    let out = pm.podman_ok(&["image", "inspect", "--format", "{{.Id}} {{.Digest}}", image]);
    let text = String::from_utf8_lossy(&out.stdout);
    let (id, digest) = text
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("podman image inspect {image}: {text:?}"));
    assert!(digest.starts_with("sha256:"), "{image}: digest {digest:?}");
    (id.to_owned(), digest.to_owned())
}

/// A Podman instance holding the probe image and a different image tagged into the
/// probe's repository: (podman, probe's (id, digest), the other's (id, digest)).
fn with_a_locally_tagged_impostor() -> (Podman, (String, String), (String, String)) {
    let pm = Podman::new();
    let extra = tempfile::tempdir().unwrap();
    fs::write(
        extra.path().join("impostor"),
        "not the approved probe image\n",
    )
    .unwrap();
    pm.load_image_with(EVIL, extra.path());
    pm.podman_ok(&["tag", EVIL, EVIL_TAG]);
    let probe = content_of(&pm, IMAGE);
    let evil = content_of(&pm, EVIL);
    assert_ne!(probe.0, evil.0, "the impostor must be another image");
    (pm, probe, evil)
}

fn run(pm: &Podman, image: &str) -> std::process::Output {
    pm.podman(&Podman::run_args(image, &["--rm"], &["report"]))
}

fn assert_refused(pm: &Podman, image: &str, rule: &str, names: &str) {
    let out = run(pm, image);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(126) && stderr.contains(rule) && stderr.contains(names),
        "{image} must be refused by {rule} naming {names}\n{}",
        pm.describe(&["run", image], &out)
    );
}

fn assert_runs(pm: &Podman, image: &str) {
    let out = run(pm, image);
    assert!(
        out.status.success(),
        "{image} must run\n{}",
        pm.describe(&["run", image], &out)
    );
    assert_eq!(probe_report(&out)["uid"], 65532);
}

/// With `require_digest`, the approved name is not enough: before, the impostor pinned
/// by its own digest under the approved repository
/// (`localhost/bulwark-probe@sha256:<impostor's digest>`) ran, since the name matched
/// and a digest was present.
#[test]
fn podman_a_local_tag_never_approves_an_image_when_digests_are_required() {
    let (pm, _, (evil_id, evil_digest)) = with_a_locally_tagged_impostor();
    pm.set_bulwark_config(&format!("{BULWARK_CONFIG}require_digest = true\n"));
    let pinned = format!("localhost/bulwark-probe@{evil_digest}");
    assert_refused(&pm, &pinned, "[images.digest]", &evil_id);
    assert_refused(&pm, EVIL_TAG, "[images.digest]", &evil_id);
}

/// Approval by content: an image id (`sha256:<id>`) or a name pinned to a manifest
/// digest in `admission.images.approved` admits the probe image whatever the user
/// called it, and never the impostor carrying its name. Before, every digest entry was
/// compared with image names, so the probe itself was refused.
#[test]
fn podman_images_are_approved_by_their_content_digest() {
    let (pm, (probe_id, probe_digest), (evil_id, _)) = with_a_locally_tagged_impostor();
    for entry in [
        format!("sha256:{probe_id}"),
        format!("localhost/bulwark-probe@{probe_digest}"),
    ] {
        pm.set_bulwark_config(&format!(
            "[baseline.apparmor]\nallow_missing = true\n\
             [admission.images]\napproved = [\"{entry}\"]\nrequire_digest = true\n"
        ));
        assert_runs(&pm, IMAGE);
        assert_runs(&pm, &format!("localhost/bulwark-probe@{probe_digest}"));
        assert_refused(&pm, EVIL_TAG, "[images.unapproved]", &evil_id);
    }
}
