//! The seccomp profiles shipped in `seccomp-profiles/`: their shape, their documented deny
//! lists (kept in step with `seccomp-profiles/README.md`), the special argument rules, the
//! agent ⊆ default relation, and that libseccomp compiles each of them into a filter.
//!
//! The profiles are loaded by youki's libcontainer 0.7, and the test follows its reading
//! of the OCI fields. For `SCMP_CMP_MASKED_EQ` that means `value` is the datum and
//! `valueTwo` the mask, which is the opposite of runc's convention (see the README).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::str::FromStr;

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use serde::Deserialize;

/// Syscalls that no `SCMP_ACT_ALLOW` rule of either profile may name. This list must equal
/// the "Deny list" table in `seccomp-profiles/README.md`.
const DENY_LIST: &[&str] = &[
    // CAP_SYS_ADMIN group
    "mount",
    "umount",
    "umount2",
    "unshare",
    "setns",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "quotactl",
    "quotactl_fd",
    "sethostname",
    "setdomainname",
    "name_to_handle_at",
    "lookup_dcookie",
    "fanotify_init",
    "bpf",
    "perf_event_open",
    // other capabilities
    "syslog",
    "open_by_handle_at",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "chroot",
    "pivot_root",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "acct",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "iopl",
    "ioperm",
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "adjtimex",
    "clock_adjtime",
    "clock_adjtime64",
    "vhangup",
    "get_mempolicy",
    "set_mempolicy",
    "mbind",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
    // always blocked
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "swapon",
    "swapoff",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "clone3",
    "socketcall",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vm86",
    "vm86old",
    "afs_syscall",
    "getpmsg",
    "putpmsg",
    "security",
    "tuxcall",
    "vserver",
];

/// Allowed by `default.json`, not allowed at all by `agent.json`. This list must equal the
/// agent table in `seccomp-profiles/README.md`.
const AGENT_EXTRA_DENY: &[&str] = &[
    "personality",
    "mknod",
    "mknodat",
    "sched_setattr",
    "sched_setscheduler",
    "sched_setparam",
    "setpriority",
    "ioprio_set",
    "memfd_secret",
    "vmsplice",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "modify_ldt",
    "set_thread_area",
    "get_thread_area",
    "epoll_ctl_old",
    "epoll_wait_old",
    "remap_file_pages",
    "fanotify_mark",
    "process_mrelease",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
    "sync",
];

/// CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
/// | CLONE_NEWCGROUP: Moby's mask for `clone`.
const CLONE_NS_MASK: u64 = 0x7E02_0000;
const AF_ALG: u64 = 38;
const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

const ALLOW: &str = "SCMP_ACT_ALLOW";
const ERRNO: &str = "SCMP_ACT_ERRNO";

// ---------------------------------------------------------------------------------------
// Loading

/// The profile as the test reads it: strict (unknown fields are errors), so a misspelled
/// field such as `errnoret` can't be silently ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    architectures: Vec<String>,
    syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Arg {
    index: u32,
    value: u64,
    value_two: Option<u64>,
    op: String,
}

impl Arg {
    fn new(index: u32, value: u64, value_two: Option<u64>, op: &str) -> Self {
        Self {
            index,
            value,
            value_two,
            op: op.to_string(),
        }
    }
}

fn profiles_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seccomp-profiles")
}

fn read(name: &str) -> String {
    let path = profiles_dir().join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(name: &str) -> Profile {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn default() -> Profile {
    load("default.json")
}

fn agent() -> Profile {
    load("agent.json")
}

fn both() -> [(&'static str, Profile); 2] {
    [("default.json", default()), ("agent.json", agent())]
}

/// Every rule naming `name`.
fn rules_for<'a>(profile: &'a Profile, name: &str) -> Vec<&'a Rule> {
    profile
        .syscalls
        .iter()
        .filter(|r| r.names.iter().any(|n| n == name))
        .collect()
}

/// Names with at least one `SCMP_ACT_ALLOW` rule, conditional or not.
fn allowed(profile: &Profile) -> BTreeSet<&str> {
    profile
        .syscalls
        .iter()
        .filter(|r| r.action == ALLOW)
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect()
}

/// The names of the syscall table that follows the first line containing `marker` in the
/// README: rows `| \`name\` | why |`, one syscall per row.
fn readme_table(marker: &str) -> Vec<String> {
    let readme = read("README.md");
    let mut lines = readme.lines().skip_while(|l| !l.contains(marker));
    assert!(
        lines.next().is_some(),
        "README.md has no line containing {marker:?}"
    );
    let mut lines = lines.skip_while(|l| !l.starts_with("| Syscall |"));
    assert!(
        lines.next().is_some(),
        "README.md has no syscall table after {marker:?}"
    );
    let separator = lines.next().unwrap_or_default();
    assert!(
        separator.starts_with("|---"),
        "malformed table after {marker:?}: {separator}"
    );
    lines
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let first = row.split('|').nth(1).unwrap().trim();
            let name = first.strip_prefix('`').and_then(|s| s.strip_suffix('`'));
            name.unwrap_or_else(|| panic!("README row without a `syscall` cell: {row}"))
                .to_string()
        })
        .collect()
}

fn sorted_unique(list: &[&str], what: &str) -> BTreeSet<String> {
    let set: BTreeSet<String> = list.iter().map(|s| s.to_string()).collect();
    assert_eq!(set.len(), list.len(), "{what} has duplicates");
    set
}

// ---------------------------------------------------------------------------------------
// Shape

#[test]
fn profiles_parse_strictly_and_as_libcontainer_oci_seccomp() {
    for (name, profile) in both() {
        assert!(!profile.syscalls.is_empty(), "{name}");
        // What bulwark's loader does (src/seccomp_profiles.rs).
        let oci: LinuxSeccomp =
            serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            oci.syscalls().as_ref().unwrap().len(),
            profile.syscalls.len(),
            "{name}"
        );
    }
}

#[test]
fn default_action_is_errno_eperm() {
    for (name, profile) in both() {
        assert_eq!(profile.default_action, ERRNO, "{name}");
        assert_eq!(profile.default_errno_ret, Some(EPERM), "{name}");
    }
}

#[test]
fn architectures() {
    assert_eq!(
        default().architectures,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    // The agent profile drops the i386 and x32 ABIs: their calls hit the bad-arch action.
    assert_eq!(agent().architectures, ["SCMP_ARCH_X86_64"]);
}

#[test]
fn every_rule_is_an_allow_or_the_clone3_enosys() {
    for (name, profile) in both() {
        for rule in &profile.syscalls {
            assert!(!rule.names.is_empty(), "{name}: empty rule {rule:?}");
            match rule.action.as_str() {
                ALLOW => assert_eq!(rule.errno_ret, None, "{name}: {rule:?}"),
                // libcontainer silently skips a rule whose action equals the default
                // action, so an ERRNO rule must carry an errno other than EPERM.
                ERRNO => assert_eq!(
                    (rule.names.as_slice(), rule.errno_ret),
                    (&["clone3".to_string()][..], Some(ENOSYS)),
                    "{name}: unexpected errno rule"
                ),
                other => panic!("{name}: unexpected action {other} in {rule:?}"),
            }
        }
    }
}

#[test]
fn unconditional_names_are_listed_once_and_never_also_conditionally() {
    for (name, profile) in both() {
        let mut count = BTreeMap::<&str, usize>::new();
        let mut conditional = BTreeSet::<&str>::new();
        for rule in &profile.syscalls {
            for n in &rule.names {
                if rule.args.is_empty() {
                    *count.entry(n).or_default() += 1;
                } else {
                    conditional.insert(n);
                }
            }
        }
        for (n, c) in &count {
            assert_eq!(*c, 1, "{name}: {n} has {c} unconditional rules");
            assert!(
                !conditional.contains(n),
                "{name}: {n} is unconditional, so its conditional rules mean nothing"
            );
        }
    }
}

#[test]
fn argument_rules_follow_libcontainer_conventions() {
    for (name, profile) in both() {
        for rule in &profile.syscalls {
            let mut seen = BTreeSet::new();
            for arg in &rule.args {
                // libcontainer splits repeated indexes into separate (OR-ed) rules;
                // alternatives must be written as separate rules instead.
                assert!(
                    seen.insert(arg.index),
                    "{name}: argument {} twice in {rule:?}",
                    arg.index
                );
                assert!(arg.index < 6, "{name}: {rule:?}");
                match arg.op.as_str() {
                    "SCMP_CMP_MASKED_EQ" => {
                        // libcontainer: value = datum, valueTwo = mask. libseccomp ANDs
                        // the datum with the mask and drops a zero mask as always true,
                        // so anything else here fails open.
                        let mask = arg.value_two.unwrap_or(0);
                        assert_ne!(
                            mask, 0,
                            "{name}: MASKED_EQ without a mask (valueTwo): {rule:?}"
                        );
                        assert_eq!(
                            arg.value & !mask,
                            0,
                            "{name}: datum outside the mask: {rule:?}"
                        );
                    }
                    "SCMP_CMP_EQ" | "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE"
                    | "SCMP_CMP_GT" | "SCMP_CMP_GE" => {
                        assert_eq!(
                            arg.value_two, None,
                            "{name}: valueTwo is ignored here: {rule:?}"
                        );
                    }
                    other => panic!("{name}: unknown op {other}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deny lists

#[test]
fn deny_list_matches_the_readme_table() {
    let ours = sorted_unique(DENY_LIST, "DENY_LIST");
    let table = readme_table("## Deny list");
    let documented: BTreeSet<String> = table.iter().cloned().collect();
    assert_eq!(
        documented.len(),
        table.len(),
        "README deny table has duplicates"
    );
    assert_eq!(
        ours, documented,
        "DENY_LIST and the README deny table differ: only in the test {:?}, only in the README {:?}",
        ours.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&ours).collect::<Vec<_>>()
    );
}

#[test]
fn agent_extra_deny_list_matches_the_readme_table() {
    let ours = sorted_unique(AGENT_EXTRA_DENY, "AGENT_EXTRA_DENY");
    let table = readme_table("Removed on top of the default deny list");
    let documented: BTreeSet<String> = table.iter().cloned().collect();
    assert_eq!(
        documented.len(),
        table.len(),
        "README agent table has duplicates"
    );
    assert_eq!(
        ours, documented,
        "AGENT_EXTRA_DENY and the README agent table differ: only in the test {:?}, only in the README {:?}",
        ours.difference(&documented).collect::<Vec<_>>(),
        documented.difference(&ours).collect::<Vec<_>>()
    );
    let overlap: Vec<_> = AGENT_EXTRA_DENY
        .iter()
        .filter(|n| DENY_LIST.contains(*n))
        .collect();
    assert!(overlap.is_empty(), "already in DENY_LIST: {overlap:?}");
}

#[test]
fn no_denied_syscall_is_allowed() {
    for (name, profile) in both() {
        let allowed = allowed(&profile);
        let leaked: Vec<_> = DENY_LIST.iter().filter(|n| allowed.contains(*n)).collect();
        assert!(
            leaked.is_empty(),
            "{name} allows denied syscalls {leaked:?}"
        );
    }
    let agent = agent();
    let allowed = allowed(&agent);
    let leaked: Vec<_> = AGENT_EXTRA_DENY
        .iter()
        .filter(|n| allowed.contains(*n))
        .collect();
    assert!(leaked.is_empty(), "agent.json allows {leaked:?}");
    for n in AGENT_EXTRA_DENY {
        assert!(
            rules_for(&agent, n).is_empty(),
            "agent.json still has a rule for {n}"
        );
    }
}

#[test]
fn default_allows_everything_the_agent_removes() {
    let default = default();
    let allowed = allowed(&default);
    let missing: Vec<_> = AGENT_EXTRA_DENY
        .iter()
        .filter(|n| !allowed.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "not in default.json, so not an agent-only removal: {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Special rules

#[test]
fn clone_mask_is_the_namespace_flags() {
    let flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP;
    assert_eq!(flags as u64, CLONE_NS_MASK);
}

#[test]
fn clone_is_allowed_only_without_namespace_flags() {
    let expected = Rule {
        names: vec!["clone".into()],
        action: ALLOW.into(),
        errno_ret: None,
        args: vec![Arg::new(0, 0, Some(CLONE_NS_MASK), "SCMP_CMP_MASKED_EQ")],
    };
    for (name, profile) in both() {
        assert_eq!(rules_for(&profile, "clone"), [&expected], "{name}");
    }
}

#[test]
fn clone3_answers_enosys() {
    let expected = Rule {
        names: vec!["clone3".into()],
        action: ERRNO.into(),
        errno_ret: Some(ENOSYS),
        args: vec![],
    };
    for (name, profile) in both() {
        assert_eq!(rules_for(&profile, "clone3"), [&expected], "{name}");
    }
}

fn single_arg_rule(name: &str, arg: Arg) -> Rule {
    Rule {
        names: vec![name.into()],
        action: ALLOW.into(),
        errno_ret: None,
        args: vec![arg],
    }
}

#[test]
fn default_socket_is_limited_to_families_below_af_alg() {
    let expected = single_arg_rule("socket", Arg::new(0, AF_ALG, None, "SCMP_CMP_LT"));
    assert_eq!(rules_for(&default(), "socket"), [&expected]);
    assert_eq!(AF_ALG, libc::AF_ALG as u64);
    assert!((libc::AF_VSOCK as u64) >= AF_ALG);
}

#[test]
fn agent_socket_is_limited_to_unix_inet_inet6() {
    let agent = agent();
    let expected: Vec<Rule> = [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6]
        .into_iter()
        .map(|f| single_arg_rule("socket", Arg::new(0, f as u64, None, "SCMP_CMP_EQ")))
        .collect();
    let got: Vec<Rule> = rules_for(&agent, "socket").into_iter().cloned().collect();
    assert_eq!(got, expected);
    let socketpair = single_arg_rule(
        "socketpair",
        Arg::new(0, libc::AF_UNIX as u64, None, "SCMP_CMP_EQ"),
    );
    assert_eq!(rules_for(&agent, "socketpair"), [&socketpair]);
}

#[test]
fn personality_only_for_mobys_values_and_not_for_agents() {
    let expected: Vec<Rule> = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]
        .into_iter()
        .map(|v| single_arg_rule("personality", Arg::new(0, v, None, "SCMP_CMP_EQ")))
        .collect();
    let got: Vec<Rule> = rules_for(&default(), "personality")
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(got, expected);
    assert!(rules_for(&agent(), "personality").is_empty());
}

// ---------------------------------------------------------------------------------------
// libseccomp

#[test]
fn libseccomp_is_at_least_2_5() {
    let v = ScmpVersion::current().unwrap();
    assert!(
        (v.major, v.minor) >= (2, 5),
        "libseccomp {}.{}.{}",
        v.major,
        v.minor,
        v.micro
    );
}

#[test]
fn every_name_resolves_in_libseccomp() {
    let mut unknown = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    for (name, profile) in both() {
        for rule in &profile.syscalls {
            names.extend(rule.names.iter().map(|n| (name.to_string(), n.clone())));
        }
    }
    names.extend(
        DENY_LIST
            .iter()
            .map(|n| ("DENY_LIST".to_string(), n.to_string())),
    );
    names.extend(
        AGENT_EXTRA_DENY
            .iter()
            .map(|n| ("AGENT_EXTRA_DENY".to_string(), n.to_string())),
    );
    for (whence, n) in &names {
        if ScmpSyscall::from_name(n).is_err() {
            unknown.push(format!("{whence}: {n}"));
        }
    }
    assert!(unknown.is_empty(), "libseccomp doesn't know {unknown:?}");

    // The agent profile filters only the x86_64 ABI, so each of its names must be a real
    // x86_64 syscall (not one of libseccomp's negative pseudo numbers for other ABIs).
    for rule in &agent().syscalls {
        for n in &rule.names {
            let nr = ScmpSyscall::from_name_by_arch(n, ScmpArch::X8664)
                .unwrap()
                .as_raw_syscall();
            assert!(nr >= 0, "agent.json: {n} is not an x86_64 syscall ({nr})");
        }
    }
}

/// An allow condition `a` implies `d` when every argument value `a` admits is admitted by
/// `d`. Conditions on different arguments never imply each other.
fn implies(a: &Arg, d: &Arg) -> bool {
    if a.index != d.index {
        return false;
    }
    if a == d {
        return true;
    }
    if a.op != "SCMP_CMP_EQ" {
        return false;
    }
    let v = a.value;
    match d.op.as_str() {
        "SCMP_CMP_EQ" => v == d.value,
        "SCMP_CMP_NE" => v != d.value,
        "SCMP_CMP_LT" => v < d.value,
        "SCMP_CMP_LE" => v <= d.value,
        "SCMP_CMP_GT" => v > d.value,
        "SCMP_CMP_GE" => v >= d.value,
        "SCMP_CMP_MASKED_EQ" => v & d.value_two.unwrap_or(0) == d.value,
        _ => false,
    }
}

/// Agent rule `a` is covered by default rule `d` when `d` has no conditions, or each of
/// `d`'s conditions is implied by one of `a`'s (so `a` admits no more than `d`).
fn covered(a: &Rule, d: &Rule) -> bool {
    a.action == d.action
        && a.errno_ret == d.errno_ret
        && d.args
            .iter()
            .all(|dc| a.args.iter().any(|ac| implies(ac, dc)))
}

#[test]
fn agent_is_a_subset_of_default() {
    let (default, agent) = (default(), agent());
    for arch in &agent.architectures {
        assert!(
            default.architectures.contains(arch),
            "agent.json arch {arch} not in default.json"
        );
    }
    for rule in &agent.syscalls {
        for n in &rule.names {
            let single = Rule {
                names: vec![n.clone()],
                ..rule.clone()
            };
            let ok = rules_for(&default, n).into_iter().any(|d| {
                let d = Rule {
                    names: vec![n.clone()],
                    ..d.clone()
                };
                covered(&single, &d)
            });
            assert!(
                ok,
                "agent.json's rule for {n} is not covered by default.json: {rule:?}"
            );
        }
    }
    let (a, d) = (allowed(&agent), allowed(&default));
    assert!(
        a.is_subset(&d),
        "only in agent.json: {:?}",
        a.difference(&d).collect::<Vec<_>>()
    );
    assert!(a.len() < d.len());
}

fn translate_action(action: &str, errno: Option<u32>) -> ScmpAction {
    // As libcontainer 0.7 does: a missing errnoRet means EPERM.
    match action {
        ALLOW => ScmpAction::Allow,
        ERRNO => ScmpAction::Errno(errno.unwrap_or(EPERM) as i32),
        other => panic!("unexpected action {other}"),
    }
}

fn translate_arg(arg: &Arg) -> ScmpArgCompare {
    // As libcontainer 0.7 does: MASKED_EQ takes its mask from valueTwo, its datum from value.
    let op = match arg.op.as_str() {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        "SCMP_CMP_MASKED_EQ" => ScmpCompareOp::MaskedEqual(arg.value_two.unwrap_or(0)),
        other => panic!("unknown op {other}"),
    };
    ScmpArgCompare::new(arg.index, op, arg.value)
}

/// Builds (but does not load) the filter libcontainer would build from `profile`.
fn build_filter(name: &str, profile: &Profile) -> ScmpFilterContext {
    let default_action = translate_action(&profile.default_action, profile.default_errno_ret);
    let mut ctx = ScmpFilterContext::new(default_action).unwrap();
    for arch in &profile.architectures {
        let arch = ScmpArch::from_str(arch).unwrap_or_else(|e| panic!("{name}: {arch}: {e}"));
        ctx.add_arch(arch)
            .unwrap_or_else(|e| panic!("{name}: add_arch {arch:?}: {e}"));
    }
    for rule in &profile.syscalls {
        let action = translate_action(&rule.action, rule.errno_ret);
        assert_ne!(
            action, default_action,
            "{name}: libcontainer would skip {rule:?}"
        );
        let cmps: Vec<ScmpArgCompare> = rule.args.iter().map(translate_arg).collect();
        for n in &rule.names {
            let sc = ScmpSyscall::from_name(n).unwrap_or_else(|e| panic!("{name}: {n}: {e}"));
            let added = if cmps.is_empty() {
                ctx.add_rule(action, sc)
            } else {
                ctx.add_rule_conditional(action, sc, &cmps)
            };
            added.unwrap_or_else(|e| {
                panic!("{name}: libseccomp rejects the rule for {n} {rule:?}: {e}")
            });
        }
    }
    ctx
}

fn pfc(ctx: &ScmpFilterContext) -> String {
    let mut file = tempfile::tempfile().unwrap();
    ctx.export_pfc(&file).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

/// The line after `if ($syscall == N)` for `syscall` in each arch section of a PFC dump.
fn pfc_first_check(pfc: &str, syscall: &str) -> Vec<String> {
    let header = format!("# filter for syscall \"{syscall}\" (");
    let lines: Vec<&str> = pfc.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with(&header) {
            assert!(
                lines[i + 1].trim_start().starts_with("if ($syscall =="),
                "{pfc}"
            );
            out.push(lines[i + 2].trim().to_string());
        }
    }
    out
}

#[test]
fn libseccomp_builds_and_exports_each_profile() {
    for (name, profile) in both() {
        let ctx = build_filter(name, &profile);
        let mut file = tempfile::tempfile().unwrap();
        ctx.export_bpf(&file)
            .unwrap_or_else(|e| panic!("{name}: export_bpf: {e}"));
        let len = file.seek(SeekFrom::End(0)).unwrap();
        // struct sock_filter is 8 bytes; the kernel takes at most 4096 instructions.
        assert!(
            len > 0 && len % 8 == 0 && len / 8 <= 4096,
            "{name}: {len} bytes of BPF"
        );

        // The compiled filter really checks the arguments (no rule became a tautology).
        let text = pfc(&ctx);
        for syscall in ["clone", "socket"] {
            let checks = pfc_first_check(&text, syscall);
            assert!(!checks.is_empty(), "{name}: no {syscall} filter in\n{text}");
            for check in checks {
                assert!(
                    check.starts_with("if ($a0"),
                    "{name}: {syscall} is not argument-checked: {check}\n{text}"
                );
            }
        }
        assert!(
            text.contains("& 0x7e020000 == 0"),
            "{name}: no clone namespace mask in\n{text}"
        );
        assert!(
            text.contains("action ERRNO(38);"),
            "{name}: no clone3 ENOSYS in\n{text}"
        );
    }
}
