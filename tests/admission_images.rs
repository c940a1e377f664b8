//! Approved images, distroless rootfs and disk bounds through the built binary, with
//! real containers. The corpus (admission_corpus.rs) covers each rule's verdicts under
//! the test config; these cover the config switches and what a container then sees.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::{probe_mount, probe_path, probe_report, unique_id, Bundle, Runtime, TEST_CONFIG};
use serde_json::json;

const DIGEST: &str = "sha256:94f506d037df9cfe70d6ea3b8e5f64e0b7a74c606d5ccb468cb3ba8f9b2434e7";

#[test]
fn a_default_config_approves_no_image() {
    // Only AppArmor is relaxed (this kernel has none); images keep their defaults.
    let rt = Runtime::with_config("[baseline.apparmor]\nallow_missing = true\n");
    let bundle = Bundle::new(&["/probe", "report"]);
    let id = unique_id("noimg");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    // The annotation is not trusted by default, so the image is unknown.
    assert!(stderr.contains("[images.unknown]"), "{stderr}");
    assert!(
        stderr.contains("admission.images.trust_annotation"),
        "{stderr}"
    );
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));

    let rt = Runtime::with_config(
        "[baseline.apparmor]\nallow_missing = true\n[admission.images]\ntrust_annotation = true\n",
    );
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("[images.unapproved]"), "{stderr}");
    assert!(
        stderr.contains("no registry, repository or digest is approved"),
        "{stderr}"
    );
}

/// `require_digest`: only an approved entry that names the content admits the image. A
/// prefix that admits the name is not enough, pinned or not, since a local tag can put
/// the name on any content (issue #21 item 5; before, a prefix and any `@sha256:` ran).
#[test]
fn require_digest_admits_only_approved_content() {
    let pinned = format!("localhost/bulwark-probe@{DIGEST}");
    let other = format!("localhost/bulwark-probe@sha256:{}", "1".repeat(64));
    let by_prefix = Runtime::with_config(&format!(
        "{TEST_CONFIG}require_digest = true
"
    ));
    let by_content = Runtime::with_config(&format!(
        "[baseline.apparmor]\nallow_missing = true\n[admission.images]\n\
         approved = [\"{pinned}\"]\ntrust_annotation = true\nrequire_digest = true\n"
    ));
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let id = unique_id("digest");
    let stderr = by_prefix.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("[images.digest]"), "{stderr}");
    assert!(
        stderr.contains("annotations[\"bulwark.io/image\"] is \"localhost/bulwark-probe:test\""),
        "{stderr}"
    );
    assert!(
        by_prefix.leftovers(&id).is_empty(),
        "{:?}",
        by_prefix.leftovers(&id)
    );
    let stderr = by_content.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("[images.digest]"), "{stderr}");

    bundle.set("/annotations/bulwark.io~1image", json!(pinned));
    let stderr = by_prefix.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("[images.digest]"), "{stderr}");
    let report = probe_report(
        &by_content
            .ok(&["run", "--bundle", bundle.path_str(), &id])
            .stdout,
    );
    assert_eq!(report["uid"], 65532);

    bundle.set("/annotations/bulwark.io~1image", json!(other));
    let stderr = by_content.fails(&["run", "--bundle", bundle.path_str(), &unique_id("digest")]);
    assert!(
        stderr.contains("[images.unapproved]") && stderr.contains("[images.digest]"),
        "{stderr}"
    );
}

#[test]
fn allow_unknown_admits_an_unidentified_image() {
    let rt = Runtime::with_config(
        "[baseline.apparmor]\nallow_missing = true\n[admission.images]\nallow_unknown = true\n",
    );
    let bundle = Bundle::new(&["/probe", "report"]);
    rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("unknown")]);
}

#[test]
fn a_rootfs_with_a_shell_is_refused_and_the_list_is_configurable() {
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let rootfs = bundle.path().join("rootfs");
    fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
    fs::copy(probe_path(), rootfs.join("usr/bin/busybox")).unwrap();
    symlink("busybox", rootfs.join("usr/bin/sh")).unwrap();
    symlink("usr/bin", rootfs.join("bin")).unwrap();
    bundle.write();

    let rt = Runtime::new();
    let id = unique_id("shell");
    let stderr = rt.fails(&["create", "--bundle", bundle.path_str(), &id]);
    assert!(stderr.contains("[images.distroless] root.path"), "{stderr}");
    assert!(stderr.contains("/bin/sh"), "{stderr}");
    assert!(stderr.contains("/usr/bin/busybox"), "{stderr}");
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));

    // An operator who accepts busybox images lists only what they refuse.
    let rt = Runtime::with_config(&format!(
        "{TEST_CONFIG}[admission.distroless]\nforbidden_paths = [\"/usr/bin/apt-get\"]\n"
    ));
    bundle.set("/process/args", json!(["/probe", "report"]));
    rt.ok(&["run", "--bundle", bundle.path_str(), &id]);
}

#[test]
fn a_tmpfs_without_a_size_is_bounded_and_an_oversized_one_refused() {
    let rt = Runtime::with_config(&format!(
        "{TEST_CONFIG}[admission.resources]\nmax_tmpfs_bytes = 268435456\n"
    ));
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts.push(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev"]}),
    );
    bundle.set("/mounts", json!(mounts));
    let report = probe_report(
        &rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("tmpfs")])
            .stdout,
    );
    let scratch = probe_mount(&report, "/scratch");
    // The baseline's 64 MiB, as the kernel reports it.
    assert!(
        scratch["super_options"]
            .as_str()
            .unwrap()
            .contains("size=65536k"),
        "{scratch}"
    );

    let last = mounts.len() - 1;
    mounts[last]["options"] = json!(["size=512m"]);
    bundle.set("/mounts", json!(mounts));
    let id = unique_id("bigtmpfs");
    let stderr = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(
        stderr.contains(&format!(
            "[resources.disk] mounts[{last}].options is \"size=512m\": at most 268435456 bytes"
        )),
        "{stderr}"
    );
    assert!(rt.leftovers(&id).is_empty(), "{:?}", rt.leftovers(&id));
}
