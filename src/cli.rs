//! Command line, runc-compatible.
//!
//! The flags are the ones containerd's runc shim (io.containerd.runc.v2), conmon and
//! podman pass (see `runc --help` and runc's man pages). Both `--flag value` and
//! `--flag=value` are accepted, as clap does for every long option.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Flags runc accepts that have no meaning for bulwark. Engines may pass them, so they
/// are accepted and ignored instead of failing the whole operation.
const IGNORED_FLAGS_HELP: &str = "\
Accepted and ignored for runc compatibility (no meaning in bulwark):
  global: --criu, --rootless
  create/run: --no-new-keyring (bulwark never creates a session keyring), --no-subreaper
  exec: --process-label (SELinux labels are not supported)";

#[derive(Parser, Debug)]
#[command(
    name = "bulwark",
    version = concat!(env!("CARGO_PKG_VERSION"), " (libcontainer 0.7.0)"),
    about = "A hardened, runc-compatible OCI container runtime",
    after_help = IGNORED_FLAGS_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Directory for container state (tmpfs recommended)
    #[arg(long, global = true, default_value = "/run/bulwark")]
    pub root: PathBuf,

    /// Write logs to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,

    /// Format of the log: text, or json (runc's form, read by containerd and conmon)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,

    /// Manage cgroups through systemd (cgroupsPath is "slice:prefix:name")
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,

    /// Ignored (runc's checkpoint tool path)
    #[arg(long, global = true, hide_short_help = true)]
    pub criu: Option<String>,

    /// Ignored (runc's rootless mode switch)
    #[arg(long, global = true, hide_short_help = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rootless: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; the process waits for `start`
    Create(Create),
    /// Start the process of a created container
    Start(ContainerRef),
    /// Print the state of a container as JSON
    State(ContainerRef),
    /// Send a signal to the container's init process (default SIGTERM)
    Kill(Kill),
    /// Delete a container and everything bulwark created for it
    Delete(Delete),
    /// Create and start a container
    Run(Run),
    /// Run a new process inside a running container
    Exec(Exec),
    /// List the processes of a container
    Ps(Ps),
    /// Freeze all processes of a container
    Pause(ContainerRef),
    /// Thaw a paused container
    Resume(ContainerRef),
    /// Change the resource limits of a container
    Update(Update),
    /// List containers
    List(List),
    /// Write a starter config.json
    Spec(SpecCmd),
    /// Print container events or resource statistics
    Events(Events),
    /// Print what this build of bulwark on this host supports, as JSON
    Features,
    /// Check a spec against admission and the baseline without creating anything
    /// (exit 1 when it would be refused)
    Validate(Validate),
    /// Check that this host can enforce the baseline and reach the policy engine
    /// (exit 1 when a required check fails)
    Doctor(Doctor),
    /// Manage bulwark's AppArmor profile
    #[command(subcommand)]
    Apparmor(ApparmorCmd),
    /// Make keys for and sign orchestrator agent tokens (bulwark.io/agent-token)
    #[command(subcommand)]
    Token(TokenCmd),
    /// Internal: runs a create-time hook with the caller's bundle in its state
    /// (crate::hooks); bulwark puts it in the hook lists libcontainer runs
    #[command(hide = true)]
    HookState(HookState),
}

#[derive(Args, Debug)]
pub struct HookState {
    /// The caller's bundle, for the state's `bundle`
    pub bundle: PathBuf,
    /// The hook's executable
    pub path: PathBuf,
    /// The hook's argv, arg0 first
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub argv: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Write an Ed25519 key pair: PREFIX.key (private, PKCS#8 PEM, mode 0600) and
    /// PREFIX.pub (public, PEM) for identity.public_keys; the key id is PREFIX's file name
    Keygen {
        /// Path and name of the two files, without extension (e.g. /etc/bulwark/keys/orch-2026)
        prefix: PathBuf,
    },
    /// Print an agent token signed with a private key
    Sign(TokenSign),
}

#[derive(Args, Debug)]
pub struct TokenSign {
    /// The private key (PKCS#8 PEM, from `token keygen` or `openssl genpkey -algorithm ed25519`)
    #[arg(long)]
    pub key: PathBuf,
    /// Key id in the token's header (default: the key file's name without .key)
    #[arg(long)]
    pub kid: Option<String>,
    #[arg(long)]
    pub agent: String,
    #[arg(long)]
    pub task: String,
    /// The image the container may run (tag, or digest to pin content)
    #[arg(long)]
    pub image: String,
    /// A secret the container may receive (repeat for several)
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Lifetime: seconds, or a number with s, m or h
    #[arg(long, default_value = "10m")]
    pub ttl: String,
    /// Token id for revocation (default: 128 random bits, hex)
    #[arg(long)]
    pub jti: Option<String>,
    /// Issue time in seconds since the epoch (default: now)
    #[arg(long)]
    pub issued_at: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum ApparmorCmd {
    /// Load (or replace) the bulwark-default profile into the kernel with apparmor_parser
    Install,
}

impl Command {
    /// Subcommands that fork a process into a container. Only these need the sealed copy
    /// of the binary (CVE-2019-5736: the container could otherwise open the runtime
    /// through /proc/<pid>/exe while it joins the container and overwrite it).
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_)
        )
    }
}

#[derive(Args, Debug)]
pub struct ContainerRef {
    /// Container id
    pub container_id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateOpts {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,

    /// Unix socket that receives the pseudoterminal's master fd
    #[arg(long)]
    pub console_socket: Option<PathBuf>,

    /// File to write the init process's pid to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,

    /// Do not use pivot_root to jail the process (uses MS_MOVE)
    #[arg(long)]
    pub no_pivot: bool,

    /// Ignored: bulwark never creates a session keyring
    #[arg(long)]
    pub no_new_keyring: bool,

    /// Pass N extra file descriptors (3..3+N) to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,
}

#[derive(Args, Debug)]
pub struct Create {
    #[command(flatten)]
    pub opts: CreateOpts,

    /// Container id
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub opts: CreateOpts,

    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,

    /// Keep the container's state after its process exits
    #[arg(long)]
    pub keep: bool,

    /// Ignored: bulwark does not act as a subreaper
    #[arg(long)]
    pub no_subreaper: bool,

    /// Container id
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct Kill {
    /// Container id
    pub container_id: String,

    /// Signal name or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,

    /// Send the signal to every process of the container
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct Delete {
    /// Container id
    pub container_id: String,

    /// Kill the container if it is still running; succeed if it does not exist
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct Exec {
    /// Unix socket that receives the pseudoterminal's master fd
    #[arg(long)]
    pub console_socket: Option<PathBuf>,

    /// Working directory inside the container (absolute)
    #[arg(long)]
    pub cwd: Option<PathBuf>,

    /// Set an environment variable (NAME=value), repeatable
    #[arg(short, long)]
    pub env: Vec<String>,

    /// Allocate a pseudoterminal
    #[arg(short, long)]
    pub tty: bool,

    /// uid[:gid] to run the process as
    #[arg(short, long)]
    pub user: Option<String>,

    /// Additional group ids, repeatable
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,

    /// Path to a process.json (an OCI "process" object); overrides the other process flags
    #[arg(short, long)]
    pub process: Option<PathBuf>,

    /// Detach from the process
    #[arg(short, long)]
    pub detach: bool,

    /// File to write the process's pid to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,

    /// Ignored: SELinux labels are not supported
    #[arg(long)]
    pub process_label: Option<String>,

    /// AppArmor profile; must equal the container's
    #[arg(long)]
    pub apparmor: Option<String>,

    /// Set no-new-privileges (always on when the container has it)
    #[arg(long)]
    pub no_new_privs: bool,

    /// Capability to add; refused unless the container's init already holds it
    #[arg(short, long)]
    pub cap: Vec<String>,

    /// Pass N extra file descriptors (3..3+N) to the process
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: i32,

    /// Run the process in this sub-cgroup of the container
    #[arg(long)]
    pub cgroup: Option<String>,

    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,

    /// Container id
    pub container_id: String,

    /// Command and arguments (when no --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Ps {
    /// Output format: table or json (json lists the pids)
    #[arg(short, long, default_value = "table")]
    pub format: String,

    /// Container id
    pub container_id: String,

    /// Options passed to ps(1) in table format
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Update {
    /// JSON file with linux.resources to apply ("-" reads stdin)
    #[arg(short, long)]
    pub resources: Option<PathBuf>,

    /// Memory limit in bytes (suffixes k, m, g accepted; -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,

    /// Memory soft limit in bytes (suffixes k, m, g accepted)
    #[arg(long)]
    pub memory_reservation: Option<String>,

    /// Memory plus swap limit in bytes (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,

    /// CPU CFS period in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,

    /// CPU CFS quota in microseconds
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,

    /// CPU shares (relative weight)
    #[arg(long)]
    pub cpu_share: Option<u64>,

    /// CPUs the container may use
    #[arg(long)]
    pub cpuset_cpus: Option<String>,

    /// Memory nodes the container may use
    #[arg(long)]
    pub cpuset_mems: Option<String>,

    /// Maximum number of pids
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,

    /// Block IO weight (10..1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,

    /// Container id
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct List {
    /// Output format: table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,

    /// Print only the container ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SpecCmd {
    /// Directory to write config.json into (`--rootless` is accepted and ignored)
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

#[derive(Args, Debug)]
pub struct Events {
    /// Print statistics once and exit
    #[arg(long)]
    pub stats: bool,

    /// Interval between statistics, e.g. 5s
    #[arg(long, default_value = "5s")]
    pub interval: String,

    /// Container id
    pub container_id: String,
}

#[derive(Args, Debug)]
pub struct Validate {
    /// Bundle directory holding config.json
    #[arg(short, long, conflicts_with = "file")]
    pub bundle: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub format: LogFormat,

    /// Container id to assume (decides which engine-managed paths belong to it)
    #[arg(long, default_value = "validate")]
    pub id: String,

    /// A config.json file (instead of --bundle); relative paths resolve against its directory
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct Doctor {
    /// Output format
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub format: LogFormat,
}
