use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use libcgroups::common::CgroupManager;
use libcontainer::container::{Container, ContainerStatus};
use serde_json::json;

use super::{cgroup_manager, load_container, open};
use crate::cgroups::{self, CgroupPath};
use crate::cli::Events;

/// How often the stream looks for OOM kills between two stats events.
const OOM_POLL: Duration = Duration::from_millis(200);

/// runc's event stream: one `{"type":"stats","id":...,"data":{...}}` line per interval,
/// or a single one with `--stats`; and between them `{"type":"oom","id":...}` for each
/// process the OOM killer ends in the container's cgroup, as runc sends (events.go,
/// from its memory.events watcher on v2, the oom_control eventfd on v1). libcontainer's
/// own `events` prints bare stats and no OOM at all. Polling the kill count covers both
/// cgroup versions with one reader; kills before the stream began are not reported.
pub fn events(root: &Path, args: Events) -> Result<()> {
    let (root, id) = open(root, &args.container_id)?;
    let interval = Duration::from_secs(parse_seconds(&args.interval)?.into());
    let container = load_container(&root, &id)?;
    if container.status() == ContainerStatus::Stopped {
        bail!("container {id} is not running");
    }
    let manager = cgroup_manager(&container)?;
    let path = saved_cgroup_path(&container)?;
    let mut seen = (!args.stats)
        .then(|| cgroups::oom_kills(&path))
        .transpose()?;
    loop {
        let stats = manager
            .stats()
            .with_context(|| format!("cannot read the statistics of container {id}"))?;
        let event = json!({"type": "stats", "id": id.as_str(), "data": stats});
        crate::outln!("{event}");
        let Some(kills) = seen.as_mut() else {
            return Ok(());
        };
        let next = Instant::now() + interval;
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(left.min(OOM_POLL));
            let now = cgroups::oom_kills(&path)?;
            for _ in *kills..now {
                crate::outln!("{}", json!({"type": "oom", "id": id.as_str()}));
            }
            *kills = now.max(*kills);
        }
    }
}

/// The container's cgroupsPath as libcontainer saved it at create.
fn saved_cgroup_path(container: &Container) -> Result<CgroupPath> {
    let config = container.spec().with_context(|| {
        format!(
            "cannot read the saved config of container {}",
            container.id()
        )
    })?;
    let text = config.cgroup_path.to_string_lossy();
    CgroupPath::parse(&text).map_err(|form| anyhow!("the saved cgroupsPath {text:?}: {form}"))
}

/// runc takes a Go duration; whole seconds ("5s", "1m", or a bare number) cover what
/// engines pass.
fn parse_seconds(interval: &str) -> Result<u32> {
    let (number, unit) = match interval.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => interval.split_at(at),
        None => (interval, "s"),
    };
    let value: u32 = number
        .parse()
        .with_context(|| format!("--interval {interval:?} is not a duration like 5s"))?;
    match unit {
        "s" => Ok(value),
        "m" => Ok(value * 60),
        _ => bail!("--interval {interval:?}: use seconds (5s) or minutes (1m)"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn intervals() {
        assert_eq!(parse_seconds("5s").unwrap(), 5);
        assert_eq!(parse_seconds("2m").unwrap(), 120);
        assert_eq!(parse_seconds("7").unwrap(), 7);
        assert!(parse_seconds("1h").is_err());
        assert!(parse_seconds("s").is_err());
    }
}
