//! The AppArmor profile `apparmor/bulwark-default`: it compiles, it says what the
//! baseline promises, and the compile check really checks.
//!
//! CI hosts have no AppArmor in the kernel, so nothing here loads the profile. The
//! parser's `-Q -K -T` (skip kernel load, skip the cache, do not read the cache)
//! compiles it all the same. Needs `apparmor_parser` from Debian's `apparmor` package;
//! without it the tests fail, they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The profile under test.
fn profile_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("apparmor/bulwark-default")
}

fn profile_text() -> String {
    let path = profile_path();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the AppArmor profile {}: {e}", path.display()))
}

/// Debian's feature set for a Debian 12 kernel with AppArmor enabled (shipped by the
/// `apparmor` package and named in /etc/apparmor/parser.conf).
const DEBIAN_FEATURES: &str = "/usr/share/apparmor-features/features";

/// `apparmor_parser`, from PATH or the sbin directories a non-root PATH may lack.
fn parser() -> PathBuf {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("apparmor_parser"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "apparmor_parser not found (looked in PATH, /usr/sbin and /sbin). The \
                 AppArmor profile check needs it: install the Debian package `apparmor` \
                 (apt-get install -y apparmor). It provides the parser only and works on \
                 a kernel without AppArmor."
            )
        })
}

/// Runs `apparmor_parser -Q -K -T <extra> <profile>`.
fn compile(profile: &Path, extra: &[&str]) -> (String, Output) {
    let parser = parser();
    let mut cmd = Command::new(&parser);
    cmd.args(["-Q", "-K", "-T"]).args(extra).arg(profile);
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", parser.display()));
    (shown, output)
}

fn describe(shown: &str, output: &Output) -> String {
    format!(
        "{shown}\nexit: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_compiles(profile: &Path, extra: &[&str]) -> Output {
    let (shown, output) = compile(profile, extra);
    assert!(
        output.status.success(),
        "apparmor_parser rejected {}:\n{}",
        profile.display(),
        describe(&shown, &output)
    );
    output
}

/// The profile's rules: comments and blank lines dropped, whitespace collapsed.
/// `#include` lines are directives, not comments, and are kept.
fn rules(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let line = line.trim();
            if line.starts_with("#include") {
                return line.to_owned();
            }
            let code = line.split_once('#').map_or(line, |(code, _)| code);
            code.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_profile_compiles_without_kernel_support() {
    assert_compiles(&profile_path(), &[]);
}

/// Without a kernel to ask, the parser compiles for a minimal feature set and drops
/// mount, signal, ptrace and network mediation with a warning that only `--warn=all`
/// shows. Compiling against Debian's feature set checks those rule classes too.
#[test]
fn the_profile_compiles_with_every_rule_class_enforced_on_debian_12() {
    assert!(
        Path::new(DEBIAN_FEATURES).is_file(),
        "{DEBIAN_FEATURES} missing: it ships with the Debian package `apparmor` \
         (apt-get install -y apparmor)"
    );
    let (shown, output) = compile(
        &profile_path(),
        &["--warn=all", "--kernel-features", DEBIAN_FEATURES],
    );
    let report = describe(&shown, &output);
    assert!(
        output.status.success(),
        "apparmor_parser rejected the profile:\n{report}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The parser's wording is "mount rules not enforce" (sic), "signal rules not
    // enforced", ...
    assert!(
        !stderr.contains("not enforce"),
        "with Debian 12's feature set some rules of the profile would not be enforced:\n{report}"
    );
}

#[test]
fn the_file_holds_exactly_one_profile_named_bulwark_default() {
    let parser = parser();
    let output = Command::new(&parser)
        .arg("-N")
        .arg(profile_path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", parser.display()));
    let report = describe("apparmor_parser -N", &output);
    assert!(output.status.success(), "{report}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "bulwark-default",
        "{report}"
    );
}

#[test]
fn the_profile_holds_the_rules_the_baseline_promises() {
    let rules = rules(&profile_text());
    let required = [
        // Header: the name the runtime puts into process.apparmorProfile.
        "#include <tunables/global>",
        "profile bulwark-default flags=(attach_disconnected,mediate_deleted) {",
        // What a container may do.
        "file,",
        "network inet,",
        "network inet6,",
        "network unix,",
        // Capabilities, mounts.
        "deny mount,",
        "deny umount,",
        "deny pivot_root,",
        // Signals and ptrace stay within the profile; the runtime may signal in.
        "signal (receive) peer=unconfined,",
        "signal (send,receive) peer=bulwark-default,",
        "ptrace (trace,read,tracedby,readby) peer=bulwark-default,",
        // /proc.
        "deny @{PROC}/* w,",
        "deny @{PROC}/[^0-9]*/** w,",
        "deny @{PROC}/sys/kernel/core_pattern w,",
        "deny @{PROC}/sysrq-trigger rwklx,",
        "deny @{PROC}/kcore rwklx,",
        // /sys.
        "deny /sys/** w,",
        "deny /sys/fs/cgroup/** w,",
        "deny /sys/firmware/** rwklx,",
        "deny /sys/kernel/security/** rwklx,",
    ];
    // Every capability the host config can never grant is denied (the grantable ones
    // must stay usable, or a granted NET_BIND_SERVICE would fail on AppArmor hosts).
    let denied = rules
        .iter()
        .find(|r| r.starts_with("deny capability "))
        .expect("a deny capability rule");
    let denied: Vec<&str> = denied
        .trim_end_matches(',')
        .split_whitespace()
        .skip(2)
        .collect();
    for cap in [
        "sys_admin",
        "sys_module",
        "sys_ptrace",
        "sys_rawio",
        "sys_boot",
        "net_admin",
        "net_raw",
        "dac_read_search",
        "bpf",
        "perfmon",
        "syslog",
        "mac_admin",
    ] {
        assert!(denied.contains(&cap), "{cap} is not denied: {denied:?}");
    }
    for grantable in ["net_bind_service", "chown", "kill", "setuid", "setgid"] {
        assert!(
            !denied.contains(&grantable),
            "{grantable} is denied but grantable"
        );
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|rule| !rules.iter().any(|r| r == rule))
        .collect();
    assert!(
        missing.is_empty(),
        "apparmor/bulwark-default lacks these rules: {missing:#?}"
    );
}

#[test]
fn signal_and_ptrace_rules_never_reach_beyond_the_profile() {
    let rules = rules(&profile_text());
    for rule in rules
        .iter()
        .filter(|r| r.starts_with("signal") || r.starts_with("ptrace"))
    {
        let peer = rule
            .split_whitespace()
            .find_map(|word| word.strip_prefix("peer="))
            .unwrap_or_else(|| panic!("{rule:?} has no peer: it would apply to every process"))
            .trim_end_matches(',');
        let allowed = peer == "bulwark-default"
            || (peer == "unconfined" && rule == "signal (receive) peer=unconfined,");
        assert!(allowed, "{rule:?} reaches beyond bulwark-default");
    }
}

#[test]
fn the_profile_grants_no_escape_hatch() {
    let rules = rules(&profile_text());
    for rule in &rules {
        // Allow rules for classes the profile denies, and profile changes.
        let first = rule.split_whitespace().next().unwrap_or_default();
        let class = first.trim_end_matches(',');
        assert!(
            ![
                "capability",
                "mount",
                "umount",
                "pivot_root",
                "change_profile"
            ]
            .contains(&class),
            "{rule:?} allows what the profile must deny"
        );
        // Exec modes that leave the profile: ux/Ux (unconfined), px/Px/cx/Cx (another
        // profile, also the pix/cix fallbacks). `file,` grants ix: children inherit.
        let is_file_rule = ["/", "@{", "owner ", "file "]
            .iter()
            .any(|p| rule.starts_with(p));
        if is_file_rule {
            let perms = rule
                .trim_end_matches(',')
                .rsplit(' ')
                .next()
                .unwrap_or_default();
            assert!(
                !["ux", "Ux", "px", "Px", "cx", "Cx"]
                    .iter()
                    .any(|m| perms.contains(m)),
                "{rule:?} lets a program leave the profile on exec"
            );
        }
    }
    assert!(
        !rules
            .iter()
            .any(|r| r.starts_with("profile") && r.contains("unconfined")),
        "the profile must not be flagged unconfined"
    );
    assert!(
        !rules
            .iter()
            .any(|r| r.starts_with("profile") && r.contains("complain")),
        "the profile must enforce, not complain"
    );
}

/// The compile check above is only worth something if the parser rejects a broken
/// profile: break copies of the real one in several ways and expect each refused,
/// next to an intact copy in the same directory that still compiles.
#[test]
fn the_parser_rejects_a_broken_copy_of_the_profile() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = profile_text();

    let intact = dir.path().join("bulwark-default");
    std::fs::write(&intact, &text).unwrap();
    assert_compiles(&intact, &[]);

    let signal_rule = "signal (send,receive) peer=bulwark-default,";
    let ptrace_rule = "ptrace (trace,read,tracedby,readby) peer=bulwark-default,";
    let closing = text
        .rfind('}')
        .expect("the profile ends with a closing brace");
    assert!(text.contains(signal_rule) && text.contains(ptrace_rule));

    let broken = [
        (
            "misspelt signal permission",
            text.replacen(
                signal_rule,
                "signal (sned,receive) peer=bulwark-default,",
                1,
            ),
        ),
        (
            "unknown ptrace permission",
            text.replacen(
                ptrace_rule,
                "ptrace (trace,read,attach) peer=bulwark-default,",
                1,
            ),
        ),
        (
            "unknown file permission letter",
            text.replacen("deny @{PROC}/kcore rwklx,", "deny @{PROC}/kcore rwklqx,", 1),
        ),
        ("missing closing brace", text[..closing].to_owned()),
        (
            "include that does not exist",
            text.replacen(
                "#include <tunables/global>",
                "#include <tunables/bulwark-does-not-exist>",
                1,
            ),
        ),
    ];
    for (what, copy) in broken {
        assert_ne!(copy, text, "{what}: the breakage did not apply");
        let path = dir.path().join(what.replace(' ', "-"));
        std::fs::write(&path, &copy).unwrap();
        let (shown, output) = compile(&path, &[]);
        assert!(
            !output.status.success(),
            "apparmor_parser accepted a profile with a {what}; the compile check would not \
             catch a broken profile:\n{}",
            describe(&shown, &output)
        );
    }
}
