//! Writable scratch space under bulwark's forced read-only root (issue 23), through
//! real Podman: `--tmpfs` and `--read-only` (whose tmpfs mounts carry runc's
//! `tmpcopyup`) run, the baseline's own scratch tmpfs mounts at /tmp, /var/tmp and /run
//! are there without either, the image's files in them stay visible, and a link in the
//! image never carries the copy-up out of the rootfs.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use crate::harness::{probe_report, Podman, IMAGE};

/// The probe's `write PATH TEXT` in a fresh container: Ok, or the errno name it printed.
fn write(pm: &Podman, image: &str, opts: &[&str], path: &str) -> Result<(), String> {
    let mut args = vec!["--rm"];
    args.extend_from_slice(opts);
    let out = pm.podman(&Podman::run_args(image, &args, &["write", path, "scratch"]));
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        _ => panic!(
            "write {path} with {opts:?}\n{}",
            pm.describe(&["run", path], &out)
        ),
    }
}

/// `cat PATH` in a fresh container: its output, or the errno name the probe printed.
fn cat(pm: &Podman, image: &str, opts: &[&str], path: &str) -> Result<String, String> {
    let mut args = vec!["--rm"];
    args.extend_from_slice(opts);
    let out = pm.podman(&Podman::run_args(image, &args, &["cat", path]));
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(1) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        _ => panic!(
            "cat {path} with {opts:?}\n{}",
            pm.describe(&["run", path], &out)
        ),
    }
}

#[test]
fn podman_scratch_space_is_writable_and_the_root_stays_read_only() {
    let pm = Podman::new();
    // (Podman's flags, the paths it or bulwark's baseline promise writable)
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["--tmpfs", "/scratch"],
            &["/scratch/f", "/tmp/f", "/var/tmp/f"],
        ),
        (&["--read-only"], &["/tmp/f", "/var/tmp/f"]),
        (
            &["--read-only", "--read-only-tmpfs=false"],
            &["/tmp/f", "/var/tmp/f"],
        ),
        (&[], &["/tmp/f", "/var/tmp/f"]),
    ];
    for (opts, writable) in cases {
        for path in writable {
            assert_eq!(
                write(&pm, IMAGE, opts, path),
                Ok(()),
                "{path} with {opts:?}"
            );
        }
        assert_eq!(
            write(&pm, IMAGE, opts, "/f"),
            Err("EROFS".to_owned()),
            "the root with {opts:?}"
        );
        let mut args = vec!["--rm"];
        args.extend_from_slice(opts);
        let report = probe_report(&pm.run_expect(&args, &["report"], 0));
        assert_eq!(report["root_write_errno"], "EROFS", "{opts:?}: {report}");
        for mount in report["mounts"].as_array().unwrap() {
            if ["/tmp", "/var/tmp", "/run", "/scratch"]
                .contains(&mount["mount_point"].as_str().unwrap())
            {
                let options = mount["options"].as_str().unwrap();
                assert!(
                    options.contains("nosuid") && options.contains("nodev"),
                    "{opts:?}: {mount}"
                );
            }
        }
    }
}

#[test]
fn podman_copy_up_keeps_the_images_files_and_never_follows_a_link_out() {
    let pm = Podman::new();
    // A host directory the image's links point at; its contents must never reach the
    // container, and nothing may be written to it.
    let outside = pm.path("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "host secret").unwrap();
    let tree = pm.path("image-tree");
    fs::create_dir_all(tree.join("tmp")).unwrap();
    fs::create_dir_all(tree.join("run/app")).unwrap();
    fs::create_dir_all(tree.join("var")).unwrap();
    // cp -a gives the image's /tmp this directory's mode: 1777, as in every image.
    fs::set_permissions(tree.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(tree.join("tmp/keep"), "kept in /tmp").unwrap();
    fs::write(tree.join("run/app/keep"), "kept in /run").unwrap();
    symlink(&outside, tree.join("tmp/out")).unwrap();
    // The scratch directory itself a link out of the rootfs: followed on the host, the
    // copy-up would read the host's directory. The image has a directory of that name
    // too (libcontainer mounts only on a link that resolves in the rootfs).
    symlink(&outside, tree.join("var/tmp")).unwrap();
    let inside = tree.join(outside.strip_prefix("/").unwrap());
    fs::create_dir_all(&inside).unwrap();
    fs::set_permissions(&inside, fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(inside.join("inside"), "the image's").unwrap();
    let image = "localhost/bulwark-probe/scratch:test";
    pm.load_image_with(image, &tree);

    for opts in [&[][..], &["--read-only"][..], &["--tmpfs", "/tmp"][..]] {
        assert_eq!(
            cat(&pm, image, opts, "/tmp/keep"),
            Ok("kept in /tmp".to_owned()),
            "{opts:?}"
        );
        assert_eq!(
            cat(&pm, image, opts, "/run/app/keep"),
            Ok("kept in /run".to_owned()),
            "{opts:?}"
        );
        assert_eq!(
            cat(&pm, image, opts, "/var/tmp/inside"),
            Ok("the image's".to_owned()),
            "{opts:?}"
        );
        // The engine's own mounts below /run are not covered by bulwark's /run
        // (Podman binds /run/.containerenv unless the root is read-only: then /run is
        // its own tmpfs).
        if !opts.contains(&"--read-only") {
            let containerenv = cat(&pm, image, opts, "/run/.containerenv");
            assert!(containerenv.is_ok(), "{opts:?}: {containerenv:?}");
        }
        assert_eq!(
            cat(&pm, image, opts, "/tmp/out/secret"),
            Err("ENOENT".to_owned()),
            "{opts:?}"
        );
        assert_eq!(
            cat(&pm, image, opts, "/var/tmp/secret"),
            Err("ENOENT".to_owned()),
            "{opts:?}"
        );
        assert_eq!(write(&pm, image, opts, "/var/tmp/new"), Ok(()), "{opts:?}");
        assert_eq!(write(&pm, image, opts, "/tmp/new"), Ok(()), "{opts:?}");
        assert_eq!(
            crate::common::sorted_names(&outside),
            ["secret"],
            "{opts:?}"
        );
    }
    assert_eq!(
        fs::read_to_string(outside.join("secret")).unwrap(),
        "host secret"
    );
}
