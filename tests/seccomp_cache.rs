//! bulwark's seccomp profile is compiled once to BPF, kept under the state root
//! (`<root>/@seccomp/<key>.bpf`, src/seccomp_filter/cache.rs) and installed by bulwark's
//! executor, instead of libseccomp compiling it in every container's init (issue #20).
//! Real containers: a cold and a warm cache give the same hardened process; a cached file
//! that does not verify (bytes flipped, wrong owner or mode, a private directory that is
//! not) is never used and is rebuilt; a program the kernel refuses fails the create with
//! nothing left behind; and the installed program is, instruction for instruction, the
//! one libcontainer 0.7 would have compiled and loaded itself.

mod common;

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bulwark::config::SeccompProfileName;
use bulwark::seccomp_profiles;
use common::{assert_hardened, describe, probe_report, proc_status, unique_id, Bundle, Runtime};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The layout of a cache file (src/seccomp_filter/cache.rs): magic, key, sha256 of the
/// program, the program.
const MAGIC: &[u8] = b"BWSCBPF1";
const HEADER: usize = 8 + 32 + 32;

fn cache_dir(rt: &Runtime) -> PathBuf {
    rt.root().join("@seccomp")
}

/// The cached programs (never the writer's temporary files, which start with a dot).
fn cached_files(rt: &Runtime) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(cache_dir(rt)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// The single cached program after one container ran.
fn the_cached_file(rt: &Runtime) -> PathBuf {
    let files = cached_files(rt);
    assert_eq!(files.len(), 1, "{:?} holds {files:?}", cache_dir(rt));
    files.into_iter().next().unwrap()
}

fn run_report(rt: &Runtime, bundle: &Bundle) -> serde_json::Value {
    probe_report(
        &rt.ok(&["run", "--bundle", bundle.path_str(), &unique_id("cache")])
            .stdout,
    )
}

/// `file`'s header with `program` and that program's true sha256: a file that verifies.
fn forge(file: &Path, program: &[u8]) {
    let mut bytes = fs::read(file).unwrap()[..HEADER - 32].to_vec();
    bytes.extend_from_slice(&Sha256::digest(program));
    bytes.extend_from_slice(program);
    fs::write(file, bytes).unwrap();
}

/// Makes a cached file wrong in one way.
type MakeWrong = Box<dyn Fn(&Path)>;

/// BPF_RET|BPF_K SECCOMP_RET_ALLOW: a filter that allows everything.
const ALLOW_ALL: [u8; 8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f];

#[test]
fn a_cold_and_a_warm_cache_give_the_hardened_process() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "report"]);
    assert!(cached_files(&rt).is_empty());
    assert_hardened(&run_report(&rt, &bundle), 65532, 65532);
    let file = the_cached_file(&rt);
    let dir = fs::metadata(cache_dir(&rt)).unwrap();
    assert_eq!((dir.uid(), dir.mode() & 0o7777), (0, 0o700));
    let meta = fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    let bytes = fs::read(&file).unwrap();
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(
        &bytes[40..HEADER],
        Sha256::digest(&bytes[HEADER..]).as_slice()
    );

    // Warm: the same file is read, not written again (same inode, same bytes).
    assert_hardened(&run_report(&rt, &bundle), 65532, 65532);
    assert_eq!(fs::metadata(&file).unwrap().ino(), meta.ino());
    assert_eq!(fs::read(&file).unwrap(), bytes);
}

#[test]
fn a_tampered_cached_program_is_rejected_and_rebuilt() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "report"]);
    run_report(&rt, &bundle);
    let file = the_cached_file(&rt);
    let good = fs::read(&file).unwrap();
    // Flip bits in the program, after the header: the recorded sha256 no longer matches.
    let mut flipped = good.clone();
    for byte in &mut flipped[HEADER..] {
        *byte ^= 0xff;
    }
    fs::write(&file, &flipped).unwrap();
    let report = run_report(&rt, &bundle);
    // Every syscall the profile denies still fails with the profile's errno.
    assert_hardened(&report, 65532, 65532);
    assert_eq!(fs::read(&file).unwrap(), good, "the file was not rebuilt");

    // A file cut short, and one grown past any valid program, likewise.
    for bad in [
        good[..HEADER + 4].to_vec(),
        [good.clone(), vec![0; 40_000]].concat(),
    ] {
        fs::write(&file, &bad).unwrap();
        assert_hardened(&run_report(&rt, &bundle), 65532, 65532);
        assert_eq!(fs::read(&file).unwrap(), good);
    }
}

/// A file whose sha256 matches but whose owner or mode is wrong is not used: it holds a
/// filter that allows everything, so a container that used it would not be hardened.
#[test]
fn a_cached_file_with_the_wrong_owner_or_mode_is_not_used() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "report"]);
    run_report(&rt, &bundle);
    let file = the_cached_file(&rt);
    let good = fs::read(&file).unwrap();
    let wrong: [(&str, MakeWrong); 3] = [
        (
            "mode 0644",
            Box::new(|f| fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap()),
        ),
        (
            "owner 65534",
            Box::new(|f| chown(f, Some(65534), None).unwrap()),
        ),
        (
            "a second link",
            Box::new(|f| fs::hard_link(f, f.with_extension("link")).unwrap()),
        ),
    ];
    for (what, make_wrong) in wrong {
        forge(&file, &ALLOW_ALL);
        make_wrong(&file);
        assert_hardened(&run_report(&rt, &bundle), 65532, 65532);
        assert_eq!(fs::read(&file).unwrap(), good, "{what}: not rebuilt");
        let meta = fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600), "{what}");
        let _ = fs::remove_file(file.with_extension("link"));
    }

    // A directory others may enter is neither read nor written: the forged file stays.
    forge(&file, &ALLOW_ALL);
    fs::set_permissions(cache_dir(&rt), fs::Permissions::from_mode(0o755)).unwrap();
    assert_hardened(&run_report(&rt, &bundle), 65532, 65532);
    assert_eq!(&fs::read(&file).unwrap()[HEADER..], ALLOW_ALL);
}

#[test]
fn a_changed_profile_gets_its_own_cached_program() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "report"]);
    let default = run_report(&rt, &bundle);
    let first = the_cached_file(&rt);
    bundle.set("/annotations/bulwark.io~1seccomp-profile", json!("agent"));
    let agent = run_report(&rt, &bundle);
    let files = cached_files(&rt);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.contains(&first));
    assert_ne!(fs::read(&files[0]).unwrap(), fs::read(&files[1]).unwrap());
    // Each container ran under its own profile (personality is allowed by default only).
    assert_hardened(&agent, 65532, 65532);
    assert_eq!(default["syscalls"]["personality_query"], "ok", "{default}");
    assert_eq!(agent["syscalls"]["personality_query"], "EPERM", "{agent}");
}

/// A verified program the kernel refuses (an opcode classic BPF does not have): the
/// create fails, nothing of the container is left, and bulwark never runs it unfiltered
/// or falls back to libcontainer's own load.
#[test]
fn a_filter_that_cannot_be_installed_fails_the_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "report"]);
    run_report(&rt, &bundle);
    let file = the_cached_file(&rt);
    forge(&file, &[0xff, 0xff, 0, 0, 0, 0, 0, 0]);
    let id = unique_id("cache");
    let args = ["create", "--bundle", bundle.path_str(), &id];
    let out = rt.run(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot install the container's seccomp filter"),
        "{}",
        describe(&args, &out)
    );
    rt.assert_nothing_left(&id);
    // And an exec into a running container is refused the same way.
    fs::remove_file(&file).unwrap();
    let sleeper = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("cache");
    rt.ok(&["run", "--detach", "--bundle", sleeper.path_str(), &id]);
    forge(&file, &[0xff, 0xff, 0, 0, 0, 0, 0, 0]);
    let args = ["exec", &id, "/probe", "report"];
    let out = rt.run(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    rt.ok(&["delete", "--force", &id]);
}

#[test]
fn an_exec_runs_under_the_cached_filter() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("cache");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let file = the_cached_file(&rt);
    let ino = fs::metadata(&file).unwrap().ino();
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_hardened(&report, 65532, 65532);
    assert_eq!(
        fs::metadata(&file).unwrap().ino(),
        ino,
        "exec rewrote the cache"
    );
    // A tampered file is rebuilt on the exec path too.
    let good = fs::read(&file).unwrap();
    let mut flipped = good.clone();
    flipped[HEADER] ^= 0xff;
    fs::write(&file, flipped).unwrap();
    let report = probe_report(&rt.ok(&["exec", &id, "/probe", "report"]).stdout);
    assert_hardened(&report, 65532, 65532);
    assert_eq!(fs::read(&file).unwrap(), good);
    rt.ok(&["delete", "--force", &id]);
}

/// From the host: the container's init runs exactly one filter (the bundle sends no
/// profile of its own), and that filter is the cached program and the program
/// libcontainer 0.7's own `initialize_seccomp` loads for bulwark's profile.
#[test]
fn the_installed_filter_is_the_one_libcontainer_would_load() {
    let rt = Runtime::new();
    let mut bundle = Bundle::new(&["/probe", "sleep", "300"]);
    bundle.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("seccomp");
    bundle.write();
    let id = unique_id("cache");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let pid = rt.state(&id)["pid"].as_i64().unwrap() as libc::pid_t;
    assert_eq!(
        proc_status(pid.into(), "Seccomp_filters").as_deref(),
        Some("1")
    );
    let installed = filter_of(pid, true);
    rt.ok(&["delete", "--force", &id]);

    let cached = fs::read(the_cached_file(&rt)).unwrap()[HEADER..].to_vec();
    assert_eq!(installed, cached);
    let profile = seccomp_profiles::load(SeccompProfileName::Default).unwrap();
    assert_eq!(installed, loaded_by_libcontainer(&profile));
}

/// The newest filter of `pid` (PTRACE_SECCOMP_GET_FILTER, index 0), as `struct
/// sock_filter` bytes. `attach`: the process is not yet traced by this one.
fn filter_of(pid: libc::pid_t, attach: bool) -> Vec<u8> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    // SAFETY: ptrace and waitpid on a pid this test started; buffers are sized below.
    unsafe {
        if attach {
            assert_eq!(libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0), 0);
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, libc::__WALL), pid);
        }
        let count = libc::ptrace(
            PTRACE_SECCOMP_GET_FILTER,
            pid,
            0,
            std::ptr::null_mut::<u8>(),
        );
        assert!(count > 0, "{}", std::io::Error::last_os_error());
        let mut program = vec![0u8; count as usize * 8];
        let got = libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, program.as_mut_ptr());
        assert_eq!(got, count);
        if attach {
            libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        }
        program
    }
}

/// What libcontainer 0.7 loads for `profile` in an init with no-new-privileges: loaded
/// by its own `seccomp::initialize_seccomp` in a child, then read back.
fn loaded_by_libcontainer(profile: &libcontainer::oci_spec::runtime::LinuxSeccomp) -> Vec<u8> {
    // SAFETY: the child only traces itself, sets no-new-privileges, loads the filter
    // and stops; the parent reads the filter and kills it.
    unsafe {
        let child = libc::fork();
        assert!(child >= 0);
        if child == 0 {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            if libcontainer::seccomp::initialize_seccomp(profile).is_err() {
                libc::_exit(1);
            }
            libc::raise(libc::SIGSTOP);
            libc::_exit(0);
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(child, &mut status, libc::__WALL), child);
        assert!(libc::WIFSTOPPED(status), "the child exited: {status:#x}");
        let program = filter_of(child, false);
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, &mut status, 0);
        program
    }
}

/// The file libcontainer reads at create has no `linux.seccomp` until the init exists
/// (src/commands/create.rs); a create killed in between leaves it so. An exec then is
/// refused: it never runs a process without the container's filter.
#[test]
fn an_exec_into_a_container_whose_spec_lost_its_profile_is_refused() {
    let rt = Runtime::new();
    let bundle = Bundle::new(&["/probe", "sleep", "300"]);
    let id = unique_id("cache");
    rt.ok(&["run", "--detach", "--bundle", bundle.path_str(), &id]);
    let spec_path = rt.root().join("@bulwark").join(&id).join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&fs::read(&spec_path).unwrap()).unwrap();
    assert!(spec["linux"]["seccomp"].is_object(), "{spec}");
    spec["linux"].as_object_mut().unwrap().remove("seccomp");
    fs::write(&spec_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let args = ["exec", &id, "/probe", "report"];
    let out = rt.run(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no linux.seccomp"),
        "{}",
        describe(&args, &out)
    );
    assert!(out.stdout.is_empty(), "{}", describe(&args, &out));
    rt.ok(&["delete", "--force", &id]);
}
