//! The new mount API (fsopen/fspick, fsconfig, fsmount, move_mount) with
//! the fs_context log: every message the kernel writes to the context
//! ("e ...", "w ...", "i ...") is read back and shown with the error.

use crate::plan::{Atime, Attrs, Param};
use crate::Fail;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_reconfigure, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, fspick,
    move_mount, FsMountFlags, FsOpenFlags, FsPickFlags, MountAttrFlags, MoveMountFlags,
};
use std::path::Path;

/// An open filesystem context.
pub struct FsContext {
    fd: OwnedFd,
    /// Messages read from the log so far.
    pub log: Vec<String>,
}

impl FsContext {
    /// A context for a new superblock of `fstype`.
    pub fn open(fstype: &str) -> Result<FsContext, Fail> {
        let fd = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| {
            let hint = if e == Errno::NODEV {
                format!(" (no filesystem {fstype}: is the module loaded? modprobe rfs)")
            } else {
                String::new()
            };
            Fail::errno(e, format!("fsopen {fstype}{hint}"))
        })?;
        Ok(FsContext { fd, log: Vec::new() })
    }

    /// A context of the superblock mounted at `mount_root` (for a remount).
    pub fn pick(mount_root: &Path) -> Result<FsContext, Fail> {
        let fd = fspick(CWD, mount_root, FsPickFlags::FSPICK_CLOEXEC)
            .map_err(|e| Fail::errno(e, format!("fspick {}", mount_root.display())))?;
        Ok(FsContext { fd, log: Vec::new() })
    }

    /// Reads the messages the kernel left in the context's log.
    pub fn drain_log(&mut self) {
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = rustix::io::read(&self.fd, &mut buf[..]) {
            if n == 0 {
                break;
            }
            self.log.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned());
        }
    }

    /// The error for a failed step `what`, with the kernel's messages.
    fn fail(&mut self, e: Errno, what: String) -> Fail {
        self.drain_log();
        let mut f = Fail::errno(e, what);
        f.kernel_log = self.log.clone();
        f
    }

    /// Sets one parameter.
    pub fn set(&mut self, p: &Param) -> Result<(), Fail> {
        let r = match &p.value {
            Some(v) => fsconfig_set_string(self.fd.as_fd(), p.key.as_str(), v.as_str()),
            None => fsconfig_set_flag(self.fd.as_fd(), p.key.as_str()),
        };
        r.map_err(|e| self.fail(e, format!("option {p}")))
    }

    /// Creates the superblock and mounts it at `target` with `attrs`.
    pub fn create_and_mount(&mut self, attrs: &Attrs, target: &Path) -> Result<(), Fail> {
        fsconfig_create(self.fd.as_fd()).map_err(|e| self.fail(e, "creating the union".into()))?;
        let m = fsmount(self.fd.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, mount_attrs(attrs))
            .map_err(|e| self.fail(e, "fsmount".into()))?;
        self.drain_log();
        move_mount(m.as_fd(), "", CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
            .map_err(|e| Fail::errno(e, format!("mount on {}", target.display())))
    }

    /// Applies the parameters set so far to the mounted superblock.
    pub fn reconfigure(&mut self) -> Result<(), Fail> {
        fsconfig_reconfigure(self.fd.as_fd()).map_err(|e| self.fail(e, "remount".into()))?;
        self.drain_log();
        Ok(())
    }
}

/// The `MOUNT_ATTR_*` flags of `a`.
pub fn mount_attrs(a: &Attrs) -> MountAttrFlags {
    let mut f = MountAttrFlags::empty();
    for (on, flag) in [
        (a.rdonly, MountAttrFlags::MOUNT_ATTR_RDONLY),
        (a.nosuid, MountAttrFlags::MOUNT_ATTR_NOSUID),
        (a.nodev, MountAttrFlags::MOUNT_ATTR_NODEV),
        (a.noexec, MountAttrFlags::MOUNT_ATTR_NOEXEC),
        (a.nodiratime, MountAttrFlags::MOUNT_ATTR_NODIRATIME),
    ] {
        if on {
            f |= flag;
        }
    }
    f | match a.atime {
        Some(Atime::No) => MountAttrFlags::MOUNT_ATTR_NOATIME,
        Some(Atime::Strict) => MountAttrFlags::MOUNT_ATTR_STRICTATIME,
        Some(Atime::Relative) | None => MountAttrFlags::MOUNT_ATTR_RELATIME,
    }
}
