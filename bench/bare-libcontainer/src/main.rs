//! `bare-libcontainer`: the benchmarks' baseline (docs/benchmarks.md). A minimal runc-like
//! CLI on libcontainer 0.7 with the cargo features bulwark uses, and nothing of bulwark's
//! pipeline: no config, admission, baseline, policy, audit, effective spec, executor or
//! sealed re-exec. It runs the engine's bundle as it is.
//!
//!   bare-libcontainer --root DIR create --bundle DIR [--pid-file F] ID
//!   bare-libcontainer --root DIR start ID
//!   bare-libcontainer --root DIR delete [--force] ID
//!   bare-libcontainer --root DIR run --bundle DIR ID    (foreground: waits, deletes)
//!
//! With `BARE_SEALED=1` in the environment, `create` and `run` first re-execute from a
//! sealed memfd copy (`pentacle::ensure_sealed`), as bulwark, youki and runc do, so the
//! cost of that step can be told apart from the pipeline's.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};

struct Args {
    root: PathBuf,
    command: String,
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    force: bool,
    id: String,
}

fn parse() -> Result<Args> {
    let mut argv = std::env::args().skip(1);
    let mut root = PathBuf::from("/run/bare-libcontainer");
    let mut command = None;
    let mut bundle = None;
    let mut pid_file = None;
    let mut force = false;
    let mut id = None;
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--root" => root = value("--root")?.into(),
            "--bundle" | "-b" => bundle = Some(value("--bundle")?.into()),
            "--pid-file" => pid_file = Some(value("--pid-file")?.into()),
            "--force" | "-f" => force = true,
            flag if flag.starts_with('-') => bail!("unknown flag {flag}"),
            word if command.is_none() => command = Some(word.to_owned()),
            word if id.is_none() => id = Some(word.to_owned()),
            word => bail!("unexpected argument {word}"),
        }
    }
    Ok(Args {
        root,
        command: command.context("no command")?,
        bundle,
        pid_file,
        force,
        id: id.context("no container id")?,
    })
}

fn main() {
    let code = match parse().and_then(dispatch) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("bare-libcontainer: {err:#}");
            1
        }
    };
    std::process::exit(code);
}

fn dispatch(args: Args) -> Result<i32> {
    let sealed = std::env::var_os("BARE_SEALED").is_some_and(|v| v == "1");
    if sealed && matches!(args.command.as_str(), "create" | "run") {
        pentacle::ensure_sealed().context("cannot re-execute from a sealed copy")?;
    }
    match args.command.as_str() {
        "create" => create(&args, true).map(|_| 0),
        "start" => load(&args)?.start().context("start").map(|()| 0),
        "delete" => delete(&args).map(|()| 0),
        "run" => run(&args),
        other => bail!("unknown command {other}"),
    }
}

fn create(args: &Args, detach: bool) -> Result<Container> {
    let bundle = args.bundle.clone().context("--bundle is required")?;
    std::fs::create_dir_all(&args.root)
        .with_context(|| format!("cannot create {}", args.root.display()))?;
    ContainerBuilder::new(args.id.clone(), SyscallType::default())
        .with_pid_file(args.pid_file.as_ref())?
        .with_root_path(&args.root)?
        .validate_id()?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(detach)
        .build()
        .with_context(|| format!("cannot create container {}", args.id))
}

fn load(args: &Args) -> Result<Container> {
    Container::load(args.root.join(&args.id))
        .with_context(|| format!("cannot load container {}", args.id))
}

fn delete(args: &Args) -> Result<()> {
    let dir = args.root.join(&args.id);
    if !dir.join("state.json").exists() {
        if args.force {
            return Ok(());
        }
        bail!("container {} does not exist", args.id);
    }
    let mut container = load(args)?;
    if !args.force && container.status() == ContainerStatus::Running {
        bail!("container {} is running", args.id);
    }
    container.delete(args.force).context("delete")
}

/// Foreground run: create, start, wait for init, delete; returns init's exit code.
fn run(args: &Args) -> Result<i32> {
    let mut container = create(args, false)?;
    container.start().context("start")?;
    let init = container.pid().context("no init pid after start")?;
    let code = loop {
        match waitpid(init, None).context("waitpid")? {
            WaitStatus::Exited(_, code) => break code,
            WaitStatus::Signaled(_, signal, _) => break 128 + signal as i32,
            _ => continue,
        }
    };
    container.delete(true).context("delete")?;
    Ok(code)
}
