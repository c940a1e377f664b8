//! The VM lane's harness (issue #17), shared by integration/vm.rs (stage 1: an
//! initramfs guest) and integration/vm_systemd.rs (stage 2: systemd as PID 1): boots a
//! guest script once, hands it the bundles and a node's config, and keeps its result
//! lines (`<key> <value>`) for the tests to judge.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Kernel, TEST_IMAGES_CONFIG};

/// One boot of the VM: checks.sh's result lines by key, in order, and the console.
pub struct VmRun {
    results: BTreeMap<String, Vec<String>>,
    console: String,
    elapsed: Duration,
}

impl VmRun {
    /// The one value of `key`; a missing key fails naming the console's last lines.
    pub fn get(&self, key: &str) -> &str {
        match self.results.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            Some(values) => panic!("{key} reported {} times: {values:?}", values.len()),
            None => panic!(
                "the VM reported no {key}; results: {:?}\nconsole (last 60 lines):\n{}",
                self.results,
                self.console_tail(60)
            ),
        }
    }

    pub fn report(&self, key: &str) -> Value {
        let line = self.get(key);
        serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "{key} is not a probe report ({e}): {line:?}\nconsole:\n{}",
                self.console_tail(60)
            )
        })
    }

    /// Whether the guest kernel has `path` (checks.sh's `exists` lines).
    fn guest_has(&self, path: &str) -> bool {
        let answer = self.results["exists"]
            .iter()
            .find_map(|line| line.strip_prefix(path)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("checks.sh did not say whether the guest has {path}"));
        answer == "1"
    }

    pub fn console_tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.console.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// [`common::assert_hardened`] under the guest's kernel: AppArmor enabled, and the
    /// masked paths the guest (not this host) has.
    pub fn assert_hardened(&self, report: &Value) {
        let has_path = |path: &str| self.guest_has(path);
        let kernel = Kernel {
            apparmor: true,
            has_path: &has_path,
        };
        common::assert_hardened_under(report, 65532, 65532, &[], &kernel);
    }

    /// Asserts that container `id` left nothing: state directories, cgroup, mounts.
    pub fn assert_nothing_left(&self, id: &str) {
        let left = self.get(&format!("leftovers-{id}"));
        assert!(left.trim().is_empty(), "{id} left behind: {left}");
    }
}

/// The test binary's one boot of `script` (kept in `run`), or `None` after saying why
/// the VM cannot run here (qemu or the kernel could not be obtained).
pub fn shared(
    run: &'static OnceLock<Result<VmRun, String>>,
    script: &str,
    bundles: fn(&Path),
) -> Option<&'static VmRun> {
    match run.get_or_init(|| boot(script, bundles)) {
        Ok(run) => Some(run),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// Boots the guest `script` (integration/vm/run.sh or a sibling) once, with the OCI
/// bundles `bundles` writes into the directory it is given and a node's config, and
/// reads back its result lines; Err says why the lane cannot run here (exit 77).
fn boot(script: &str, bundles: impl FnOnce(&Path)) -> Result<VmRun, String> {
    let work = tempfile::Builder::new()
        .prefix("bulwark-vm-")
        .tempdir()
        .unwrap();
    let bundles_dir = work.path().join("bundles");
    std::fs::create_dir(&bundles_dir).unwrap();
    bundles(&bundles_dir);
    // A node's config: AppArmor required (no allow_missing), the test image approved.
    let config = work.path().join("bulwark.toml");
    std::fs::write(&config, TEST_IMAGES_CONFIG).unwrap();

    // BULWARK_VM_KEEP=1 keeps the work directory (bundles, console.log, results.txt).
    let work = if std::env::var_os("BULWARK_VM_KEEP").is_some() {
        let kept = work.keep();
        eprintln!("VM lane: keeping {}", kept.display());
        WorkDir::Kept(kept)
    } else {
        WorkDir::Temp(work)
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let started = Instant::now();
    let out = Command::new(&script)
        .arg(work.path())
        .arg(&bundles_dir)
        .arg(&config)
        .env("BULWARK", common::BULWARK)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        return Err(format!("the VM lane cannot run here: {}", stderr.trim()));
    }
    let console = std::fs::read_to_string(work.path().join("console.log")).unwrap_or_default();
    let results_text = std::fs::read_to_string(work.path().join("results.txt")).unwrap_or_default();
    assert!(
        out.status.success(),
        "run.sh failed ({}) after {elapsed:?}: {stderr}\nresults:\n{results_text}\nconsole:\n{console}",
        out.status
    );
    let mut results: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in results_text.lines() {
        let line = line.trim_end_matches('\r');
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        results
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    let run = VmRun {
        results,
        console,
        elapsed,
    };
    assert_eq!(
        run.get("done"),
        "ok",
        "checks.sh did not finish; console:\n{}",
        run.console_tail(80)
    );
    eprintln!(
        "VM lane: kernel {}, {} at /sys/fs/cgroup, AppArmor enabled {}, boot and checks {:.1} s",
        run.get("kernel"),
        run.get("cgroup-fs"),
        run.get("apparmor-enabled"),
        run.elapsed.as_secs_f64()
    );
    Ok(run)
}

/// The run's work directory: removed afterwards unless BULWARK_VM_KEEP asked to keep it.
enum WorkDir {
    Temp(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            WorkDir::Temp(dir) => dir.path(),
            WorkDir::Kept(path) => path,
        }
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}
