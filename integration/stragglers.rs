//! Processes an engine harness started but cannot wait for (conmon double-forks;
//! containerd's shims outlive containerd): found by the harness's private directory in
//! their command line, waited for, and killed when they outlive the timeout.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a harness waits for its stragglers before killing them.
pub const STRAGGLER_TIMEOUT: Duration = Duration::from_secs(30);

/// PIDs of processes (not this one) whose command line mentions `dir`.
pub fn naming(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let own = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Polls until no process names `dir` (they are not our children, so /proc is the
/// only way to know they are gone); kills the ones left after the timeout.
pub fn wait_for(dir: &Path, harness: &str) {
    let deadline = Instant::now() + STRAGGLER_TIMEOUT;
    loop {
        let pids = naming(dir);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("{harness} harness: killing leftover processes {pids:?}");
            for pid in pids {
                // Only processes whose argv names this test's private directory, so
                // never anything this test did not start.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
