//! `make install` / `make uninstall` into a staging DESTDIR, and the engine
//! configuration snippets they ship (packaging/).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn make(target: &str, destdir: &Path) -> String {
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg(target)
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg("PREFIX=/usr/local")
        .arg(format!("BULWARK={}", env!("CARGO_BIN_EXE_bulwark")))
        .output()
        .expect("run make");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make {target}: {text}");
    text
}

#[test]
fn install_keeps_the_operators_config_and_uninstall_leaves_edits() {
    let dest = tempfile::tempdir().unwrap();
    let root = dest.path();
    make("install", root);
    let binary = root.join("usr/local/bin/bulwark");
    assert_eq!(
        fs::metadata(&binary).unwrap().permissions().mode() & 0o777,
        0o755
    );
    for file in [
        "usr/local/share/bulwark/seccomp-profiles/default.json",
        "usr/local/share/bulwark/seccomp-profiles/agent.json",
        "usr/local/share/bulwark/apparmor/bulwark-default",
        "usr/local/share/bulwark/engines/containerd-1.x.toml",
        "etc/bulwark/policies/decision.rego",
        "etc/bulwark/policies/data.json",
        "etc/bulwark/config.toml",
    ] {
        assert!(root.join(file).is_file(), "{file} not installed");
    }
    assert!(!root.join("etc/bulwark/policies/task_test.rego").exists());

    // The installed binary accepts the installed config, and the installed policies
    // compile (doctor's policies check reads policies_dir, here under DESTDIR).
    let config = root.join("etc/bulwark/config.toml");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace(
            "/etc/bulwark/policies",
            &root.join("etc/bulwark/policies").display().to_string(),
        )
        .replace(
            "/var/log/bulwark",
            &root.join("var/log/bulwark").display().to_string(),
        );
    let staged = root.join("staged.toml");
    fs::write(&staged, text).unwrap();
    let out = Command::new(&binary)
        .args(["doctor", "--format", "json"])
        .env("BULWARK_CONFIG", &staged)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    for name in ["config", "policies", "profiles"] {
        let check = checks.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(check["ok"], true, "{check}");
    }

    // An operator's edits survive a reinstall and an uninstall.
    fs::write(&config, "# edited\n").unwrap();
    let data = root.join("etc/bulwark/policies/data.json");
    fs::write(&data, "{}\n").unwrap();
    let again = make("install", root);
    assert!(again.contains("kept"), "{again}");
    assert_eq!(fs::read_to_string(&config).unwrap(), "# edited\n");
    make("uninstall", root);
    assert!(!binary.exists());
    assert!(!root.join("usr/local/share/bulwark").exists());
    assert_eq!(fs::read_to_string(&config).unwrap(), "# edited\n");
    assert_eq!(fs::read_to_string(&data).unwrap(), "{}\n");
    assert!(!root.join("etc/bulwark/policies/decision.rego").exists());
}

#[test]
fn engine_snippets_register_bulwark_like_runc() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let read = |name: &str| -> toml::Value {
        toml::from_str(&fs::read_to_string(dir.join(name)).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let v1 = read("containerd-1.x.toml");
    let handler = &v1["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["bulwark"];
    assert_eq!(
        handler["runtime_type"].as_str(),
        Some("io.containerd.runc.v2")
    );
    assert_eq!(
        handler["options"]["BinaryName"].as_str(),
        Some("/usr/local/bin/bulwark")
    );
    let v2 = read("containerd-2.x.toml");
    let handler =
        &v2["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["bulwark"];
    assert_eq!(
        handler["runtime_type"].as_str(),
        Some("io.containerd.runc.v2")
    );
    let podman = read("containers.conf");
    assert_eq!(
        podman["engine"]["runtimes"]["bulwark"][0].as_str(),
        Some("/usr/local/bin/bulwark")
    );
    assert!(podman["engine"]["runtime_supports_json"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str() == Some("bulwark")));
    // The installed default config is a valid host config for this build.
    let out = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .arg("features")
        .env("BULWARK_CONFIG", dir.join("config.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runtime_class = fs::read_to_string(dir.join("runtimeclass.yaml")).unwrap();
    assert!(runtime_class.contains("handler: bulwark"));
}
