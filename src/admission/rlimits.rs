//! `process.rlimits` the runtime cannot grant, refused by name before anything is
//! made. libcontainer 0.7 sets them in its intermediate process, after it entered the
//! container's user namespace (container_intermediate_process.rs:127), and a failure
//! there reaches the caller as a bare errno ("EPERM") naming neither the step nor the
//! rlimit, after the cgroup and namespaces were made. setrlimit(2) says up front what
//! fails: soft above hard (EINVAL), a hard limit above the caller's own without
//! CAP_SYS_RESOURCE in the initial user namespace (EPERM; a new user namespace never
//! has it there), RLIMIT_NOFILE above fs.nr_open (EPERM for everyone).

use nix::sys::resource::{getrlimit, Resource};
use serde_json::Value;

use super::{scheduling, Findings, Input};

pub const RLIMITS: &str = "process.rlimits";

const NR_OPEN: &str = "/proc/sys/fs/nr_open";

/// The runtime spec's rlimit names (config.md "POSIX process"), as setrlimit(2) knows them.
const RESOURCES: [(&str, Resource); 16] = [
    ("RLIMIT_AS", Resource::RLIMIT_AS),
    ("RLIMIT_CORE", Resource::RLIMIT_CORE),
    ("RLIMIT_CPU", Resource::RLIMIT_CPU),
    ("RLIMIT_DATA", Resource::RLIMIT_DATA),
    ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", Resource::RLIMIT_NICE),
    ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
    ("RLIMIT_RSS", Resource::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", Resource::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", Resource::RLIMIT_STACK),
];

pub fn grantable(input: &Input, out: &mut Findings) {
    let Some(rlimits) = input
        .spec
        .pointer("/process/rlimits")
        .and_then(Value::as_array)
    else {
        return;
    };
    let may_raise = may_raise_hard_limits(input.spec);
    for (index, rlimit) in rlimits.iter().enumerate() {
        // process.scheduling refuses it whatever the host, and says why.
        if scheduling::above_ceiling(rlimit).is_some() {
            continue;
        }
        let path = format!("process.rlimits[{index}]");
        let name = rlimit["type"].as_str().unwrap_or_default();
        let (Some(hard), Some(soft)) = (rlimit["hard"].as_u64(), rlimit["soft"].as_u64()) else {
            continue;
        };
        let Some((_, resource)) = RESOURCES.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let value = format!("{name} soft {soft} hard {hard}");
        if soft > hard {
            out.push(
                path,
                value,
                format!("a soft limit at most the hard limit ({hard}; setrlimit(2): EINVAL)"),
            );
            continue;
        }
        if *resource == Resource::RLIMIT_NOFILE {
            if let Some(nr_open) = nr_open() {
                if hard > nr_open {
                    out.push(
                        path,
                        value,
                        format!("RLIMIT_NOFILE at most fs.nr_open ({nr_open}) on this host"),
                    );
                    continue;
                }
            }
        }
        let Ok((_, own_hard)) = getrlimit(*resource) else {
            continue;
        };
        if hard > own_hard && !may_raise {
            out.push(
                path,
                value,
                format!(
                    "a hard limit at most the runtime's own ({own_hard}): raising it needs \
                     CAP_SYS_RESOURCE in the host's user namespace, which the container's \
                     setup does not have here"
                ),
            );
        }
    }
}

/// Whether libcontainer's intermediate process may raise a hard limit: bulwark holds
/// CAP_SYS_RESOURCE and the container gets no user namespace of its own (in one, the
/// capability does not count for setrlimit(2)).
fn may_raise_hard_limits(spec: &Value) -> bool {
    let own_user_namespace = spec
        .pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .is_some_and(|ns| ns.iter().any(|n| n["type"] == "user"));
    !own_user_namespace
        && caps::has_cap(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_RESOURCE,
        )
        .unwrap_or(false)
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string(NR_OPEN).ok()?.trim().parse().ok()
}
