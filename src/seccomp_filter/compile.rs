//! An OCI seccomp profile compiled to the classic BPF program the kernel runs.
//!
//! libcontainer 0.7 compiles and loads in one step (`seccomp::initialize_seccomp`,
//! libcontainer-0.7.0 src/seccomp/mod.rs:148), in the container's init, for every
//! container. bulwark compiles once and keeps the program (crate::seccomp_filter::cache),
//! so the compile follows libcontainer's reading of every field: the program must be the
//! one libcontainer would have loaded (tests/seccomp_cache.rs compares them instruction
//! by instruction).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::str::FromStr;

use libcontainer::oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A notify action needs the listener handshake only libcontainer's own load does
    /// (libcontainer-0.7.0 src/process/init/process.rs:408), and the flags change how the
    /// kernel installs the filter: bulwark's profiles have neither.
    #[error(
        "linux.seccomp: {0} cannot be precompiled; only profiles without flags and without \
         SCMP_ACT_NOTIFY are"
    )]
    Unsupported(&'static str),
    #[error("linux.seccomp.architectures: {0:?} is not an architecture libseccomp knows")]
    Arch(String),
    #[error("linux.seccomp.syscalls: errno {0} does not fit SCMP_ACT_TRACE's 16 bits")]
    TraceErrno(u32),
    #[error("libseccomp cannot {step}: {source}")]
    Libseccomp {
        step: &'static str,
        source: libseccomp::error::SeccompError,
    },
    #[error("cannot {step} the exported program: {source}")]
    Export {
        step: &'static str,
        source: std::io::Error,
    },
}

fn libseccomp(step: &'static str) -> impl FnOnce(libseccomp::error::SeccompError) -> CompileError {
    move |source| CompileError::Libseccomp { step, source }
}

/// The BPF program (an array of `struct sock_filter`, native byte order) libseccomp
/// generates for `profile`: what `seccomp_load` would hand the kernel.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, CompileError> {
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(CompileError::Unsupported("flags"));
    }
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify
        || libcontainer::seccomp::is_notify(profile)
    {
        return Err(CompileError::Unsupported("SCMP_ACT_NOTIFY"));
    }
    let default_action = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(libseccomp("create a filter"))?;
    for arch in profile.architectures().iter().flatten() {
        // oci-spec spells architectures as libseccomp does (SCMP_ARCH_X86_64).
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let arch = ScmpArch::from_str(&name).map_err(|_| CompileError::Arch(name))?;
        ctx.add_arch(arch)
            .map_err(libseccomp("add an architecture"))?;
    }
    for rule in profile.syscalls().iter().flatten() {
        let rule_action = action(rule.action(), rule.errno_ret())?;
        // libcontainer skips a rule whose action is the default's (libseccomp refuses it).
        if rule_action == default_action {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp cannot resolve is skipped, as libcontainer does: the
            // kernel cannot have that syscall either.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                tracing::debug!(syscall = %name, "seccomp: syscall unknown to libseccomp, skipped");
                continue;
            };
            add_rule(&mut ctx, rule_action, syscall, rule.args().as_deref())?;
        }
    }
    export(&ctx)
}

/// One rule, with libcontainer's treatment of its argument conditions: all in one rule
/// (AND), unless an argument is compared twice, which libseccomp cannot express in one
/// rule; then one rule per condition (OR), as libcontainer and runc do.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    action: ScmpAction,
    syscall: ScmpSyscall,
    args: Option<&[LinuxSeccompArg]>,
) -> Result<(), CompileError> {
    let Some(args) = args else {
        ctx.add_rule(action, syscall)
            .map_err(libseccomp("add a rule"))?;
        return Ok(());
    };
    let conditions: Vec<ScmpArgCompare> = args.iter().map(condition).collect();
    let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if indexes.len() == args.len() {
        ctx.add_rule_conditional(action, syscall, &conditions)
            .map_err(libseccomp("add a conditional rule"))?;
    } else {
        for condition in &conditions {
            ctx.add_rule_conditional(action, syscall, std::slice::from_ref(condition))
                .map_err(libseccomp("add a conditional rule"))?;
        }
    }
    Ok(())
}

/// libcontainer's reading of the operators: for SCMP_CMP_MASKED_EQ `valueTwo` is the
/// mask and `value` the datum (seccomp-profiles/README.md).
fn condition(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            ScmpCompareOp::MaskedEqual(arg.value_two().unwrap_or(0))
        }
    };
    ScmpArgCompare::new(arg.index() as u32, op, arg.value())
}

/// An OCI action; errno defaults to EPERM, as in libcontainer and runc.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, CompileError> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno as i32),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(u16::try_from(errno).map_err(|_| CompileError::TraceErrno(errno))?)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(CompileError::Unsupported("SCMP_ACT_NOTIFY"))
        }
    })
}

/// `seccomp_export_bpf` writes to a descriptor (the in-memory variant needs libseccomp
/// 2.6; Debian 12 has 2.5): an anonymous memory file, read back.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, CompileError> {
    let err = |step| move |source| CompileError::Export { step, source };
    // SAFETY: memfd_create takes a NUL-terminated name and flags; the result is checked.
    let fd = unsafe { libc::memfd_create(c"bulwark-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(err("create a memory file for")(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nothing else.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(libseccomp("export the program"))?;
    file.seek(SeekFrom::Start(0)).map_err(err("rewind"))?;
    let mut program = Vec::new();
    file.read_to_end(&mut program).map_err(err("read"))?;
    Ok(program)
}
