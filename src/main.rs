//! The bulwark binary: parses the runc-compatible command line, re-executes from a sealed
//! copy where a command enters a container, and dispatches to the library's commands.

use clap::Parser;
use tracing::Level;

use bulwark::cli::{Cli, Command};
use bulwark::commands;
use bulwark::logging::{self, LogSink};

/// runc's exit code for a failed operation.
const EXIT_FAILURE: i32 = 1;

fn main() {
    // First, while the process has one thread (it sets an environment variable).
    bulwark::library_backtraces::disable();
    // Parsing has no side effects and starts no thread, so it may precede sealing.
    let cli = parse_or_exit();

    if cli.command.enters_container() {
        // CVE-2019-5736: a process in the container can open this binary through
        // /proc/<pid>/exe while bulwark joins the container, and overwrite it. Re-exec
        // from a read-only overlay view or a sealed memfd copy first, as runc does;
        // libcontainer leaves this to the binary (bulwark::sealed_exe).
        if let Err(err) = bulwark::sealed_exe::ensure() {
            eprintln!("bulwark: cannot re-execute from a sealed copy of the binary: {err}");
            std::process::exit(EXIT_FAILURE);
        }
    }

    let sink = match LogSink::open(&cli.global) {
        Ok(sink) => sink,
        Err(err) => {
            eprintln!("bulwark: {err}");
            std::process::exit(EXIT_FAILURE);
        }
    };
    if let Err(err) = logging::init(&sink, cli.global.debug) {
        eprintln!("bulwark: {err}");
        std::process::exit(EXIT_FAILURE);
    }

    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            report(&sink, &err);
            EXIT_FAILURE
        }
    };
    std::process::exit(code);
}

/// The command line, or the exit runc gives a usage error: one line on stderr and exit
/// 1 (clap's own would be several lines and exit 2). `--help` and `--version` print and
/// exit 0.
fn parse_or_exit() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            std::process::exit(0);
        }
        Err(err) => {
            // clap's message runs until its usage block; its lines become one.
            let text = err.to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more"))
                .filter(|line| !line.is_empty())
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("bulwark: {message} (see bulwark --help)");
            std::process::exit(EXIT_FAILURE);
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let global = cli.global;
    let root = global.root.as_path();
    match cli.command {
        Command::Create(args) => commands::create::create(&global, args).map(|()| 0),
        Command::Run(args) => commands::run::run(&global, args),
        Command::Exec(args) => commands::exec::exec(root, args),
        Command::Start(args) => commands::start::start(root, args).map(|()| 0),
        Command::State(args) => commands::state::state(root, args).map(|()| 0),
        Command::Kill(args) => commands::kill::kill(root, args).map(|()| 0),
        Command::Delete(args) => commands::delete::delete(root, args).map(|()| 0),
        Command::Ps(args) => commands::ps::ps(root, args).map(|()| 0),
        Command::Pause(args) => commands::pause::pause(root, args).map(|()| 0),
        Command::Resume(args) => commands::pause::resume(root, args).map(|()| 0),
        Command::Update(args) => commands::update::update(root, args).map(|()| 0),
        Command::List(args) => commands::list::list(root, args).map(|()| 0),
        Command::Spec(args) => commands::spec::spec(args).map(|()| 0),
        Command::Events(args) => commands::events::events(root, args).map(|()| 0),
        Command::Features => commands::features::features().map(|()| 0),
        Command::Validate(args) => commands::validate::validate(root, args),
        Command::Doctor(args) => commands::doctor::doctor(root, args),
        Command::Apparmor(cmd) => commands::apparmor::apparmor(cmd).map(|()| 0),
        Command::Token(cmd) => commands::token::token(cmd).map(|()| 0),
        Command::HookState(args) => {
            Err(bulwark::hooks::exec_with_state_bundle(&args.bundle, &args.path, &args.argv).into())
        }
    }
}

/// A failed operation: one line in the log (runc's form, which containerd and conmon
/// show the user) and one plain line on stderr.
fn report(sink: &LogSink, err: &anyhow::Error) {
    let msg = format!("{err:#}");
    if !sink.is_plain_stderr() {
        sink.write(Level::ERROR, &msg);
    }
    eprintln!("bulwark: {msg}");
}
