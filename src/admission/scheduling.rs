//! Scheduling: libcontainer 0.7 applies `process.scheduler` (sched_setattr) and
//! `process.ioPriority` (ioprio_set) in the container's init, and in an exec'd process,
//! before it changes uid and drops capabilities (process/init/process.rs,
//! container_init_process), so a spec gets any policy the runtime's own privileges
//! allow: SCHED_DEADLINE runs outside the CFS quota, SCHED_FIFO and SCHED_RR can starve
//! the host's CPUs, IOPRIO_CLASS_RT its disks. Only what an unprivileged process may
//! choose for itself is admitted (sched(7), ioprio_set(2)), and no limit that lets it
//! raise itself later (setrlimit(2): RLIMIT_RTPRIO, RLIMIT_NICE), nor realtime CPU
//! time for its cgroup.

use serde_json::Value;

use super::{show, Findings, Input};

pub const SCHEDULING: &str = "process.scheduling";

/// The policies sched_setattr grants without CAP_SYS_NICE (sched(7)).
const POLICIES: [&str; 3] = ["SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE"];

/// The I/O classes ioprio_set grants without CAP_SYS_ADMIN (ioprio_set(2)).
const IO_CLASSES: [&str; 2] = ["IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"];

/// The highest soft or hard value of each limit an unprivileged process may hold:
/// RLIMIT_RTPRIO is the realtime priority it may give itself, RLIMIT_NICE 20 minus the
/// lowest nice value it may set (setrlimit(2)).
const RLIMIT_CEILINGS: [(&str, u64, &str); 2] = [
    (
        "RLIMIT_RTPRIO",
        0,
        "a higher limit lets the process give itself a realtime policy",
    ),
    (
        "RLIMIT_NICE",
        20,
        "a higher limit lets the process give itself a negative nice value",
    ),
];

/// The ceiling an rlimit entry exceeds (its kind, the ceiling and why), if any.
pub fn above_ceiling(rlimit: &Value) -> Option<(&'static str, u64, &'static str)> {
    let &(kind, ceiling, why) = RLIMIT_CEILINGS
        .iter()
        .find(|(kind, _, _)| rlimit["type"].as_str() == Some(*kind))?;
    let highest = ["soft", "hard"]
        .iter()
        .filter_map(|bound| rlimit[bound].as_u64())
        .max()?;
    (highest > ceiling).then_some((kind, ceiling, why))
}

/// A cgroup's realtime CPU time (cpu.rt_runtime_us, cpu.rt_period_us) is what
/// SCHED_FIFO and SCHED_RR run on.
const REALTIME_CPU: [&str; 2] = ["realtimeRuntime", "realtimePeriod"];

pub fn scheduling(input: &Input, out: &mut Findings) {
    let process = &input.spec["process"];
    let scheduler = &process["scheduler"];
    let policy = &scheduler["policy"];
    if !policy.is_null() && !policy.as_str().is_some_and(|p| POLICIES.contains(&p)) {
        out.push(
            "process.scheduler.policy",
            show(policy),
            format!(
                "one of {}: realtime and deadline policies are set while the runtime is \
                 still privileged and take CPU time beyond the container's quota",
                POLICIES.join(", ")
            ),
        );
    }
    if scheduler["nice"].as_f64().is_some_and(|nice| nice < 0.0) {
        out.push(
            "process.scheduler.nice",
            show(&scheduler["nice"]),
            "0 to 19: a negative nice value is set while the runtime is still privileged",
        );
    }
    let class = &process["ioPriority"]["class"];
    if !class.is_null() && !class.as_str().is_some_and(|c| IO_CLASSES.contains(&c)) {
        out.push(
            "process.ioPriority.class",
            show(class),
            format!(
                "{}: IOPRIO_CLASS_RT is set while the runtime is still privileged and \
                 takes disk time from the host",
                IO_CLASSES.join(" or ")
            ),
        );
    }
    let rlimits = process["rlimits"].as_array().into_iter().flatten();
    for (index, rlimit) in rlimits.enumerate() {
        if let Some((kind, ceiling, why)) = above_ceiling(rlimit) {
            out.push(
                format!("process.rlimits[{index}]"),
                show(rlimit),
                format!("{kind} at most {ceiling} (soft and hard): {why}"),
            );
        }
    }
    let cpu = input.spec.pointer("/linux/resources/cpu");
    for field in REALTIME_CPU {
        let value = cpu.map_or(&Value::Null, |cpu| &cpu[field]);
        if !value.is_null() && value.as_f64() != Some(0.0) {
            out.push(
                format!("linux.resources.cpu.{field}"),
                show(value),
                "unset or 0: realtime CPU time is what realtime policies run on",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::SCHEDULING;
    use crate::admission::{admit_exec, admit_update, fragment, run_rules, PROCESS_SCHEDULING};
    use crate::config::AdmissionConfig;

    /// process.scheduling's paths for a spec.
    fn paths(spec: Value) -> Vec<String> {
        let config = AdmissionConfig::default();
        run_rules(&fragment(&spec, &config), &[PROCESS_SCHEDULING])
            .into_iter()
            .map(|v| v.path)
            .collect()
    }

    #[test]
    fn what_an_unprivileged_process_may_choose_is_admitted() {
        for process in [
            json!({"scheduler": {"policy": "SCHED_OTHER", "nice": 0}}),
            json!({"scheduler": {"policy": "SCHED_BATCH", "nice": 19}}),
            json!({"scheduler": {"policy": "SCHED_IDLE"}}),
            json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 0}}),
            json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 7}}),
            json!({"rlimits": [{"type": "RLIMIT_RTPRIO", "hard": 0, "soft": 0},
                               {"type": "RLIMIT_NICE", "hard": 20, "soft": 20},
                               {"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 1024}]}),
        ] {
            assert_eq!(
                paths(json!({ "process": process })),
                Vec::<String>::new(),
                "{process}"
            );
        }
        let cpu =
            json!({"linux": {"resources": {"cpu": {"realtimeRuntime": 0, "realtimePeriod": 0}}}});
        assert_eq!(paths(cpu), Vec::<String>::new());
    }

    #[test]
    fn realtime_scheduling_and_the_limits_allowing_it_are_refused() {
        for (spec, path) in [
            (
                json!({"process": {"scheduler": {"policy": "SCHED_FIFO", "priority": 1}}}),
                "process.scheduler.policy",
            ),
            (
                json!({"process": {"scheduler": {"policy": "SCHED_RR", "priority": 99}}}),
                "process.scheduler.policy",
            ),
            (
                json!({"process": {"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 1}}}),
                "process.scheduler.policy",
            ),
            (
                json!({"process": {"scheduler": {"policy": "SCHED_ISO"}}}),
                "process.scheduler.policy",
            ),
            (
                json!({"process": {"scheduler": {"policy": "SCHED_OTHER", "nice": -1}}}),
                "process.scheduler.nice",
            ),
            (
                json!({"process": {"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 0}}}),
                "process.ioPriority.class",
            ),
            (
                json!({"process": {"rlimits": [{"type": "RLIMIT_RTPRIO", "hard": 1, "soft": 0}]}}),
                "process.rlimits[0]",
            ),
            (
                json!({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 8, "soft": 8},
                                           {"type": "RLIMIT_NICE", "hard": 21, "soft": 0}]}}),
                "process.rlimits[1]",
            ),
            (
                json!({"linux": {"resources": {"cpu": {"realtimeRuntime": -1}}}}),
                "linux.resources.cpu.realtimeRuntime",
            ),
            (
                json!({"linux": {"resources": {"cpu": {"realtimePeriod": 1000000}}}}),
                "linux.resources.cpu.realtimePeriod",
            ),
        ] {
            assert_eq!(paths(spec.clone()), [path], "{spec}");
        }
    }

    #[test]
    fn exec_and_update_are_checked_too() {
        let config = AdmissionConfig::default();
        let exec = admit_exec(
            &json!({"args": ["/x"], "cwd": "/", "scheduler": {"policy": "SCHED_DEADLINE"}}),
            &config,
        );
        assert!(
            exec.iter()
                .any(|v| v.rule == SCHEDULING && v.path == "process.scheduler.policy"),
            "{exec:?}"
        );
        let update = admit_update(&json!({"cpu": {"realtimeRuntime": 950000}}), &config);
        assert!(
            update
                .iter()
                .any(|v| v.rule == SCHEDULING && v.path == "linux.resources.cpu.realtimeRuntime"),
            "{update:?}"
        );
    }
}
