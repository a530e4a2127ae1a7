//! The pseudo-link flush through rfs's ioctls (Documentation/filesystems/
//! rfs.rst, "Pseudo-link flush"): read the epoch, give every regular file
//! of the union to `RFS_IOC_PLINK_LINK`, then `RFS_IOC_PLINK_CLEAN` with the
//! epoch; walk again on EAGAIN (a pseudo-link was made meanwhile).

use crate::Fail;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::ioctl::{opcode, Ioctl, IoctlOutput, Opcode};
use serde::Serialize;
use std::ffi::c_void;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `_IOR('r', 0x80, struct { __u64 epoch; __u64 count; })`
const PLINK_INFO: Opcode = opcode::read::<[u64; 2]>(b'r', 0x80);
/// `_IO('r', 0x81)`
const PLINK_LINK: Opcode = opcode::none(b'r', 0x81);
/// `_IOW('r', 0x82, __u64)`
const PLINK_CLEAN: Opcode = opcode::write::<u64>(b'r', 0x82);

/// One of rfs's ioctls: its opcode and argument buffer; the output is the
/// ioctl's return value (LINK and CLEAN return their result that way).
struct RfsIoctl<'a> {
    op: Opcode,
    arg: *mut c_void,
    mutating: std::marker::PhantomData<&'a mut ()>,
}

// SAFETY: `arg` is null or points to a buffer of the size the opcode
// encodes, live for 'a; the output is the plain return value.
unsafe impl Ioctl for RfsIoctl<'_> {
    type Output = IoctlOutput;
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        self.op
    }

    fn as_ptr(&mut self) -> *mut c_void {
        self.arg
    }

    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<IoctlOutput> {
        Ok(out)
    }
}

/// The union's plink epoch and number of pseudo-links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Info {
    /// Moves whenever a pseudo-link is made and at every remount.
    pub epoch: u64,
    /// Pseudo-links in the writable branch.
    pub count: u64,
}

/// `RFS_IOC_PLINK_INFO` on `fd`.
pub fn info(fd: impl AsFd) -> Result<Info, Errno> {
    let mut v = [0u64; 2];
    let io = RfsIoctl { op: PLINK_INFO, arg: v.as_mut_ptr().cast(), mutating: std::marker::PhantomData };
    // SAFETY: the kernel writes 16 bytes, the size of `v`.
    unsafe { rustix::ioctl::ioctl(fd, io) }?;
    Ok(Info { epoch: v[0], count: v[1] })
}

/// `RFS_IOC_PLINK_LINK`: true if the name became a hard link of the copy.
fn link(fd: impl AsFd) -> Result<bool, Errno> {
    let io = RfsIoctl { op: PLINK_LINK, arg: std::ptr::null_mut(), mutating: std::marker::PhantomData };
    // SAFETY: an ioctl without argument.
    Ok(unsafe { rustix::ioctl::ioctl(fd, io) }? == 1)
}

/// `RFS_IOC_PLINK_CLEAN`: the number of pseudo-links removed.
fn clean(fd: impl AsFd, epoch: u64) -> Result<u64, Errno> {
    let mut e = epoch;
    let io = RfsIoctl { op: PLINK_CLEAN, arg: (&mut e as *mut u64).cast(), mutating: std::marker::PhantomData };
    // SAFETY: the kernel reads 8 bytes from `e`.
    let r = unsafe { rustix::ioctl::ioctl(fd, io) }?;
    Ok(u64::try_from(r).unwrap_or(0))
}

/// Opens the root of the union at `mnt`.
pub fn open_root(mnt: &Path) -> Result<OwnedFd, Fail> {
    rustix::fs::open(mnt, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Fail::errno(e, format!("open {}", mnt.display())))
}

/// An ioctl error with what it means for rfs's ioctls.
pub fn ioctl_fail(e: Errno, what: String) -> Fail {
    let hint = match e {
        Errno::NOTTY => " (not an rfs union, or a kernel module without the pseudo-link ioctls)",
        Errno::PERM => " (root only: CAP_SYS_ADMIN)",
        Errno::ROFS => " (the union is mounted read-only)",
        Errno::BUSY => " (another union shares the writable branch)",
        _ => "",
    };
    Fail::errno(e, format!("{what}{hint}"))
}

fn gone(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == Errno::NOENT.raw_os_error() || c == Errno::STALE.raw_os_error())
}

/// Gives every regular file below `dir` (not crossing into other
/// mounts) to `RFS_IOC_PLINK_LINK`; counts the links made.
pub fn link_all(dir: &Path, dev: u64, linked: &mut u64) -> Result<(), Fail> {
    let io = |e: std::io::Error, what: String| Fail::io(e, what);
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(io(e, format!("readdir {}", dir.display()))),
    };
    for ent in rd {
        let ent = ent.map_err(|e| io(e, format!("readdir {}", dir.display())))?;
        let p = ent.path();
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(io(e, format!("lstat {}", p.display()))),
        };
        if md.dev() != dev {
            continue;
        }
        if md.is_dir() {
            link_all(&p, dev, linked)?;
        } else if md.is_file() {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = match rustix::fs::open(&p, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT | Errno::STALE) => continue,
                Err(e) => return Err(Fail::errno(e, format!("open {}", p.display()))),
            };
            match link(&fd) {
                Ok(true) => *linked += 1,
                Ok(false) | Err(Errno::NOENT | Errno::STALE) => {}
                Err(e) => return Err(ioctl_fail(e, format!("PLINK_LINK {}", p.display()))),
            }
        }
    }
    Ok(())
}

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flushed {
    /// Names made hard links of their copy.
    pub linked: u64,
    /// Pseudo-links removed.
    pub removed: u64,
    /// Walks of the union (more than 1 after EAGAIN).
    pub passes: u32,
}

/// Most walks before giving up while pseudo-links keep being made.
const MAX_PASSES: u32 = 10;

/// The whole flush of the union mounted at `mnt`.
pub fn flush(mnt: &Path) -> Result<Flushed, Fail> {
    let root = open_root(mnt)?;
    let dev = std::fs::metadata(mnt).map_err(|e| Fail::io(e, format!("stat {}", mnt.display())))?.dev();
    let mut linked = 0;
    for passes in 1..=MAX_PASSES {
        let i = info(&root).map_err(|e| ioctl_fail(e, format!("PLINK_INFO {}", mnt.display())))?;
        link_all(mnt, dev, &mut linked)?;
        match clean(&root, i.epoch) {
            Ok(removed) => return Ok(Flushed { linked, removed, passes }),
            Err(Errno::AGAIN) => continue,
            Err(e) => return Err(ioctl_fail(e, format!("PLINK_CLEAN {}", mnt.display()))),
        }
    }
    Err(Fail::errno(
        Errno::AGAIN,
        format!("plink flush {}: pseudo-links keep being made ({MAX_PASSES} walks)", mnt.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_match_the_documentation() {
        assert_eq!(PLINK_INFO as u64, 0x8010_7280);
        assert_eq!(PLINK_LINK as u64, 0x7281);
        assert_eq!(PLINK_CLEAN as u64, 0x4008_7282);
    }
}
