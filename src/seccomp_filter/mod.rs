//! bulwark's seccomp profile as a precompiled BPF program, installed by bulwark itself.
//!
//! libcontainer 0.7 compiles the spec's profile with libseccomp in every container's init
//! (libcontainer-0.7.0 src/process/init/process.rs:401-412): 15-20 ms of CPU for the
//! baseline's hundreds of rules, for every create and exec (issue #20). The profile is
//! fixed per (profile, architecture, libseccomp version), so bulwark compiles it once
//! (`compile`), keeps the program under the state root (`cache`), and has
//! crate::executor install it with seccomp(SECCOMP_SET_MODE_FILTER) at the point where
//! libcontainer would have loaded it. The spec libcontainer reads then carries no
//! `linux.seccomp` (crate::commands::create).

pub mod cache;
pub mod compile;

use libc::sock_filter;
use libcontainer::oci_spec::runtime::Spec;

use crate::layout::StateRoot;
use cache::{Cache, CacheError};

/// BPF_MAXINSNS (include/uapi/linux/bpf_common.h): the kernel refuses longer programs.
pub const MAX_INSTRUCTIONS: usize = 4096;
/// The size of one `struct sock_filter`: u16 code, u8 jt, u8 jf, u32 k.
pub const INSTRUCTION_BYTES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error(
        "a seccomp program of {0} bytes is not 1 to {MAX_INSTRUCTIONS} instructions of \
         {INSTRUCTION_BYTES} bytes"
    )]
    Size(usize),
    #[error("the kernel refused the seccomp filter (seccomp(SECCOMP_SET_MODE_FILTER)): {0}")]
    Install(std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error(
        "the effective spec has no linux.seccomp: bulwark runs no container process without \
         its seccomp profile"
    )]
    Missing,
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// The program of the effective spec's profile (bulwark's: the baseline always sets
/// one), from `root`'s cache.
pub fn of_spec(root: &StateRoot, spec: &Spec) -> Result<Program, FilterError> {
    let profile = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .ok_or(FilterError::Missing)?;
    Ok(Cache::new(root.seccomp_cache_dir()).program(profile)?)
}

/// The spec libcontainer is given: without `linux.seccomp`, which libcontainer would
/// otherwise compile again in the init; crate::executor installs the program instead.
pub fn without_profile(spec: &Spec) -> Spec {
    let mut spec = spec.clone();
    if let Some(mut linux) = spec.linux().clone() {
        linux.set_seccomp(None);
        spec.set_linux(Some(linux));
    }
    spec
}

/// A seccomp BPF program, ready for the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    bytes: Vec<u8>,
}

impl Program {
    /// `bytes`: an array of `struct sock_filter` in native byte order, as
    /// `seccomp_export_bpf` writes it.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ProgramError> {
        let count = bytes.len() / INSTRUCTION_BYTES;
        if bytes.len() % INSTRUCTION_BYTES != 0 || !(1..=MAX_INSTRUCTIONS).contains(&count) {
            return Err(ProgramError::Size(bytes.len()));
        }
        Ok(Self { bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Installs the program as a filter on the calling thread, with no flags: what
    /// libseccomp's `seccomp_load` does for a profile without flags and with
    /// SCMP_FLTATR_CTL_NNP off (libcontainer-0.7.0 src/seccomp/mod.rs:208), so the
    /// kernel requires no-new-privileges or CAP_SYS_ADMIN, exactly as before.
    pub fn install(&self) -> Result<(), ProgramError> {
        let mut filter: Vec<sock_filter> = self
            .bytes
            .chunks_exact(INSTRUCTION_BYTES)
            .map(|i| sock_filter {
                code: u16::from_ne_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
            })
            .collect();
        let program = libc::sock_fprog {
            // At most MAX_INSTRUCTIONS (from_bytes).
            len: filter.len() as u16,
            filter: filter.as_mut_ptr(),
        };
        // SAFETY: `program` points at `filter`, which outlives the call; the kernel
        // copies the program before returning.
        let result = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &program as *const libc::sock_fprog,
            )
        };
        if result != 0 {
            return Err(ProgramError::Install(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_instructions_within_the_kernels_limit_make_a_program() {
        assert!(Program::from_bytes(vec![0; 8]).is_ok());
        assert!(Program::from_bytes(vec![0; 8 * MAX_INSTRUCTIONS]).is_ok());
        for bad in [0, 7, 9, 8 * (MAX_INSTRUCTIONS + 1)] {
            assert!(Program::from_bytes(vec![0; bad]).is_err(), "{bad}");
        }
    }
}
