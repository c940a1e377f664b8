//! Writable scratch space under the forced read-only root (issue 23), through the
//! bulwark binary: the baseline's tmpfs mounts at /tmp, /var/tmp and /run where the
//! engine mounted none, runc's `tmpcopyup` and `notmpcopyup`, copy-up that keeps the
//! image's files and never follows a link out of the rootfs, and mount options neither
//! libcontainer nor the kernel knows refused by name.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use common::{probe_mount, probe_report, unique_id, Bundle, Runtime, TEST_CONFIG};
use serde_json::{json, Value};

/// A bundle with no tmpfs of its own at /tmp, files under /tmp and /run in the image,
/// and /var/tmp a link to `outside`, a host directory, which the image has too (with
/// other contents): libcontainer (libpathrs) mounts only on a link that resolves in the
/// rootfs. Resolved on the host, the link would copy the host's directory.
fn image_bundle(args: &[&str], outside: &Path) -> Bundle {
    let mut bundle = Bundle::new(args);
    let rootfs = bundle.path().join("rootfs");
    // As in every image: anyone may write to /tmp, and the copy-up keeps its mode.
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(rootfs.join("tmp/keep"), "kept in /tmp").unwrap();
    fs::create_dir_all(rootfs.join("run/app")).unwrap();
    fs::write(rootfs.join("run/app/keep"), "kept in /run").unwrap();
    fs::create_dir_all(rootfs.join("var")).unwrap();
    symlink(outside, rootfs.join("var/tmp")).unwrap();
    let inside = rootfs.join(outside.strip_prefix("/").unwrap());
    fs::create_dir_all(&inside).unwrap();
    fs::set_permissions(&inside, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(inside.join("inside"), "the image's").unwrap();
    symlink(outside, rootfs.join("tmp/out")).unwrap();
    let mounts: Vec<Value> = bundle.config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] != "/tmp")
        .cloned()
        .collect();
    bundle.set("/mounts", Value::Array(mounts));
    bundle
}

fn outside_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bulwark-outside-")
        .tempdir()
        .unwrap();
    fs::write(dir.path().join("secret"), "host secret").unwrap();
    dir
}

/// Runs `args` in a new container of `bundle` (edited by `edit`) and returns its
/// exit code and stdout or stderr.
fn run(rt: &Runtime, bundle: &mut Bundle, args: &[&str]) -> (Option<i32>, String) {
    let mut argv = vec!["/probe"];
    argv.extend_from_slice(args);
    bundle.set("/process/args", json!(argv));
    let id = unique_id("scratch");
    let out = rt.run(&["run", "--bundle", bundle.path_str(), &id]);
    rt.run(&["delete", "--force", &id]);
    rt.assert_no_leftovers_or_mounts(&id);
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    (out.status.code(), text)
}

#[test]
fn the_baseline_mounts_bounded_scratch_tmpfs_with_the_images_files() {
    let rt = Runtime::new();
    let outside = outside_dir();
    let mut bundle = image_bundle(&["/probe", "report"], outside.path());

    for path in ["/tmp/new", "/var/tmp/new"] {
        assert_eq!(
            run(&rt, &mut bundle, &["write", path, "x"]),
            (Some(0), String::new()),
            "{path}"
        );
    }
    let (code, text) = run(&rt, &mut bundle, &["write", "/new", "x"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("EROFS"), "{text}");
    assert_eq!(
        run(&rt, &mut bundle, &["cat", "/tmp/keep"]),
        (Some(0), "kept in /tmp".to_owned())
    );
    assert_eq!(
        run(&rt, &mut bundle, &["cat", "/run/app/keep"]),
        (Some(0), "kept in /run".to_owned())
    );
    assert_eq!(
        run(&rt, &mut bundle, &["cat", "/var/tmp/inside"]),
        (Some(0), "the image's".to_owned())
    );
    // Neither link was followed on the host: /var/tmp and /tmp/out hold none of the
    // host directory's files.
    for path in ["/var/tmp/secret", "/tmp/out/secret"] {
        let (code, text) = run(&rt, &mut bundle, &["cat", path]);
        assert_eq!(code, Some(1), "{path}: {text}");
        assert!(text.contains("ENOENT"), "{path}: {text}");
    }
    let names: Vec<_> = fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"]);

    let (code, text) = run(&rt, &mut bundle, &["report"]);
    assert_eq!(code, Some(0), "{text}");
    let report = probe_report(text.as_bytes());
    for point in ["/tmp", "/run"] {
        let mount = probe_mount(&report, point);
        assert_eq!(mount["fs_type"], "tmpfs", "{mount}");
        let options = mount["options"].as_str().unwrap();
        assert!(
            options.contains("nosuid") && options.contains("nodev"),
            "{mount}"
        );
        // Bounded: the baseline's tmpfs_size_bytes (64 MiB).
        let super_options = mount["super_options"].as_str().unwrap();
        assert!(super_options.contains("size=65536k"), "{mount}");
    }
}

#[test]
fn scratch_dirs_can_be_turned_off() {
    let rt = Runtime::with_config(&format!("[baseline]\nscratch_dirs = []\n{TEST_CONFIG}"));
    let outside = outside_dir();
    let mut bundle = image_bundle(&["/probe", "report"], outside.path());
    let (code, text) = run(&rt, &mut bundle, &["write", "/tmp/new", "x"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("EROFS"), "{text}");
}

#[test]
fn tmpcopyup_copies_the_image_and_notmpcopyup_does_not() {
    let rt = Runtime::new();
    let outside = outside_dir();
    let mut bundle = image_bundle(&["/probe", "report"], outside.path());
    fs::create_dir(bundle.path().join("rootfs/data")).unwrap();
    fs::write(bundle.path().join("rootfs/data/keep"), "kept in /data").unwrap();
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    let data = mounts.len();
    mounts.push(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                       "options": ["rw", "nosuid", "nodev", "tmpcopyup", "mode=1777", "size=1m"]}),
    );
    bundle.set("/mounts", Value::Array(mounts));
    assert_eq!(
        run(&rt, &mut bundle, &["cat", "/data/keep"]),
        (Some(0), "kept in /data".to_owned())
    );
    assert_eq!(
        run(&rt, &mut bundle, &["write", "/data/new", "x"]),
        (Some(0), String::new())
    );

    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    mounts[data]["options"][3] = json!("notmpcopyup");
    bundle.set("/mounts", Value::Array(mounts));
    let (code, text) = run(&rt, &mut bundle, &["cat", "/data/keep"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ENOENT"), "{text}");
}

#[test]
fn mount_options_libcontainer_would_mishandle_are_refused_by_name() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let mut mounts = bundle.config["mounts"].as_array().unwrap().clone();
    let index = mounts.len();
    mounts.push(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "idmap", "size=1m"]}),
    );
    mounts.push(
        json!({"destination": "/data2", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "sizee=1m"]}),
    );
    bundle.set("/mounts", Value::Array(mounts));
    let id = unique_id("scratch-refused");
    let text = rt.fails(&["run", "--bundle", bundle.path_str(), &id]);
    assert!(text.contains("mounts.options"), "{text}");
    assert!(
        text.contains(&format!("mounts[{index}].options[1]")),
        "{text}"
    );
    assert!(text.contains("idmap"), "{text}");
    assert!(
        text.contains(&format!("mounts[{}].options[1]", index + 1)),
        "{text}"
    );
    assert!(text.contains("sizee"), "{text}");
    rt.assert_no_leftovers_or_mounts(&id);
}
