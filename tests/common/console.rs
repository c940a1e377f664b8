//! The engine's end of `--console-socket` (runc's `recvtty`): a listening Unix socket
//! to which the runtime, for a `terminal: true` process, sends the pty master it
//! opened inside the container, as one SCM_RIGHTS descriptor.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use tempfile::TempDir;

pub struct ConsoleSocket {
    _dir: TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bulwark-console-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // The runtime connects and sends during `create`, before it returns; the
        // kernel queues the connection and the message, so the test collects them
        // afterwards and a create that never connected is seen as "no master".
        listener.set_nonblocking(true).unwrap();
        Self {
            _dir: dir,
            path,
            listener,
        }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// The pty master the runtime sent, or None if it never connected within `timeout`.
    pub fn master(&self, timeout: Duration) -> Option<OwnedFd> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept on {}: {e}", self.path.display()),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let fd = msg.cmsgs().unwrap().find_map(|cmsg| match cmsg {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        });
        // SAFETY: the kernel just installed this descriptor in this process for us
        // (SCM_RIGHTS); nothing else owns it.
        fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
    }
}
