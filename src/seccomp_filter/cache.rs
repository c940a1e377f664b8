//! Compiled seccomp programs kept under the state root, one file per profile digest.
//!
//! ```text
//! <root>/@seccomp/                 0700, owned by the user bulwark runs as
//! <root>/@seccomp/<key>.bpf        0600: MAGIC, key (32 bytes), sha256 of the program
//!                                  (32 bytes), the program (struct sock_filter array)
//! ```
//! The key is the sha256 of everything the program depends on: the profile as bulwark
//! hands it to the compiler, the architecture, the libseccomp version and bulwark's
//! version (with [`FORMAT`]). A changed profile or upgraded libseccomp gets another key;
//! the old file is simply never read again.
//!
//! The file is trusted only after it verifies through the descriptor it is read from:
//! directory and file owned by bulwark's user and private (0700/0600, one link), size
//! bounded, header key equal to the one asked for, and the program's sha256 equal to the
//! recorded one. Anything else is not used: the profile is compiled again and the file
//! replaced (temp file + rename, so a reader never sees a torn one). Whoever can write
//! the file as root could as well replace the bulwark binary; the checks catch
//! corruption, a stray copy and a permissive directory, and never weaken the fallback,
//! which is the compile libcontainer used to do.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use super::compile::{compile, CompileError};
use super::{Program, ProgramError, INSTRUCTION_BYTES, MAX_INSTRUCTIONS};

/// The file's first bytes; a new layout gets a new one.
pub const MAGIC: &[u8; 8] = b"BWSCBPF1";
/// Folded into the key: a change to how bulwark compiles makes new keys.
const FORMAT: &str = "bulwark seccomp bpf cache 1";
const HEADER_BYTES: usize = MAGIC.len() + 32 + 32;
/// The largest file a valid program makes.
pub const MAX_FILE_BYTES: usize = HEADER_BYTES + MAX_INSTRUCTIONS * INSTRUCTION_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("the compiled seccomp profile: {0}")]
    Program(#[from] ProgramError),
}

/// Why a cached file was not used.
#[derive(Debug, thiserror::Error)]
enum Untrusted {
    #[error("{what} is owned by uid {owner} with mode {mode:04o}, not uid {euid} with mode {wanted:04o}")]
    Ownership {
        what: &'static str,
        owner: u32,
        mode: u32,
        euid: u32,
        wanted: u32,
    },
    #[error("it is not a regular file with one link")]
    NotPlain,
    #[error("it is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("its header is not a bulwark seccomp program for this key")]
    Header,
    #[error("its program does not match the sha256 recorded with it")]
    Digest,
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The cache directory of one state root.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The program for `profile`: the cached one when it verifies, else compiled now
    /// (and stored for the next create). Only a profile that does not compile fails.
    pub fn program(&self, profile: &LinuxSeccomp) -> Result<Program, CacheError> {
        let Some(key) = key(profile) else {
            tracing::warn!("seccomp cache: libseccomp's version is unknown; compiling uncached");
            return Ok(Program::from_bytes(compile(profile)?)?);
        };
        let name = format!("{}.bpf", hex(&key));
        match self.load(&name, &key) {
            Ok(Some(program)) => {
                tracing::debug!(file = %name, "seccomp cache: hit");
                return Ok(program);
            }
            Ok(None) => tracing::debug!(file = %name, "seccomp cache: miss"),
            Err(reason) => tracing::warn!(
                file = %self.dir.join(&name).display(),
                %reason,
                "seccomp cache: cached program not used; compiling it again"
            ),
        }
        let program = Program::from_bytes(compile(profile)?)?;
        if let Err(error) = self.store(&name, &key, &program) {
            tracing::warn!(
                dir = %self.dir.display(),
                %error,
                "seccomp cache: cannot store the compiled program"
            );
        }
        Ok(program)
    }

    /// The directory, opened without following a link, if it is private to bulwark.
    fn open_dir(&self) -> Result<Option<File>, Untrusted> {
        let dir = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&self.dir)
        {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = dir.metadata()?;
        owned_privately("the directory", &meta, 0o700, 0o7077)?;
        Ok(Some(dir))
    }

    fn load(&self, name: &str, key: &[u8; 32]) -> Result<Option<Program>, Untrusted> {
        let Some(dir) = self.open_dir()? else {
            return Ok(None);
        };
        let file = match open_at(&dir, name, libc::O_RDONLY, 0) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata()?;
        if !meta.is_file() || meta.nlink() != 1 {
            return Err(Untrusted::NotPlain);
        }
        owned_privately("the file", &meta, 0o600, 0o7777 & !0o600)?;
        if meta.len() > MAX_FILE_BYTES as u64 {
            return Err(Untrusted::TooLarge);
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(Untrusted::TooLarge);
        }
        Ok(Some(parse(&bytes, key)?))
    }

    fn store(&self, name: &str, key: &[u8; 32], program: &Program) -> Result<(), Untrusted> {
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        // A directory that is not private is never written to (nor repaired: its
        // contents may already be someone else's, as crate::layout says of the root).
        let dir = self
            .open_dir()?
            .ok_or(io::Error::from(io::ErrorKind::NotFound))?;
        let temporary = format!(".{name}.tmp-{}", std::process::id());
        let written = (|| {
            let mut file = open_at(
                &dir,
                &temporary,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            )?;
            // Exactly 0600 whatever the umask: the reader insists on it.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(&serialize(key, program))?;
            file.sync_all()?;
            rename_at(&dir, &temporary, name)
        })();
        if written.is_err() {
            let _ = unlink_at(&dir, &temporary);
        }
        Ok(written?)
    }
}

/// The cache key of `profile` (None when libseccomp cannot tell its version).
pub fn key(profile: &LinuxSeccomp) -> Option<[u8; 32]> {
    let libseccomp = libseccomp::ScmpVersion::current().ok()?;
    let profile = serde_json::to_vec(profile).ok()?;
    let mut hasher = Sha256::new();
    for part in [
        FORMAT.as_bytes(),
        env!("CARGO_PKG_VERSION").as_bytes(),
        std::env::consts::ARCH.as_bytes(),
        libseccomp.to_string().as_bytes(),
        &profile,
    ] {
        // Length-prefixed: no two different tuples hash the same bytes.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    Some(hasher.finalize().into())
}

/// The file for `program` under `key`.
pub fn serialize(key: &[u8; 32], program: &Program) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + program.as_bytes().len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&Sha256::digest(program.as_bytes()));
    bytes.extend_from_slice(program.as_bytes());
    bytes
}

fn parse(bytes: &[u8], key: &[u8; 32]) -> Result<Program, Untrusted> {
    if bytes.len() < HEADER_BYTES
        || &bytes[..MAGIC.len()] != MAGIC
        || &bytes[MAGIC.len()..MAGIC.len() + 32] != key
    {
        return Err(Untrusted::Header);
    }
    let recorded = &bytes[MAGIC.len() + 32..HEADER_BYTES];
    let program = &bytes[HEADER_BYTES..];
    if Sha256::digest(program).as_slice() != recorded {
        return Err(Untrusted::Digest);
    }
    Ok(Program::from_bytes(program.to_vec())?)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn owned_privately(
    what: &'static str,
    meta: &std::fs::Metadata,
    wanted: u32,
    forbidden: u32,
) -> Result<(), Untrusted> {
    let euid = nix::unistd::geteuid().as_raw();
    let mode = meta.mode() & 0o7777;
    if meta.uid() == euid && mode & forbidden == 0 && mode & wanted == wanted {
        return Ok(());
    }
    Err(Untrusted::Ownership {
        what,
        owner: meta.uid(),
        mode,
        euid,
        wanted,
    })
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// openat(2) relative to the verified directory, never following a link.
fn open_at(dir: &File, name: &str, flags: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
    let name = c_name(name)?;
    // SAFETY: `name` is NUL-terminated and outlives the call; the result is checked.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn rename_at(dir: &File, from: &str, to: &str) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    // SAFETY: both names are NUL-terminated and outlive the call.
    let result =
        unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn unlink_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: `name` is NUL-terminated and outlives the call.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SeccompProfileName;
    use crate::seccomp_profiles;

    fn profile() -> LinuxSeccomp {
        seccomp_profiles::load(SeccompProfileName::Default).unwrap()
    }

    #[test]
    fn a_changed_profile_changes_the_key() {
        let base = profile();
        let mut changed = base.clone();
        changed.set_default_errno_ret(Some(38));
        let agent = seccomp_profiles::load(SeccompProfileName::Agent).unwrap();
        assert_eq!(key(&base), key(&base.clone()));
        assert_ne!(key(&base), key(&changed));
        assert_ne!(key(&base), key(&agent));
    }

    #[test]
    fn a_file_verifies_only_with_its_key_and_untouched_bytes() {
        let program = Program::from_bytes(vec![6, 0, 0, 0, 0, 0, 0xff, 0x7f]).unwrap();
        let key = [7; 32];
        let bytes = serialize(&key, &program);
        assert_eq!(parse(&bytes, &key).unwrap(), program);
        assert!(matches!(parse(&bytes, &[8; 32]), Err(Untrusted::Header)));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(parse(&flipped, &key), Err(Untrusted::Digest)));
        assert!(matches!(
            parse(&bytes[..HEADER_BYTES - 1], &key),
            Err(Untrusted::Header)
        ));
    }
}
