//! rfs's pseudo-link flush ioctls (Documentation/filesystems/rfs.rst,
//! "Pseudo-link flush"): `plink-info`, `plink-link`, `plink-clean` one at a
//! time, and `plink-flush`, the whole procedure a tool runs before umount.

use crate::{check, lossy, open, Fail, Fd, Res};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `_IOR('r', 0x80, struct { __u64 epoch; __u64 count; })`
const PLINK_INFO: libc::c_ulong = 0x8010_7280;
/// `_IO('r', 0x81)`
const PLINK_LINK: libc::c_ulong = 0x7281;
/// `_IOW('r', 0x82, __u64)`
const PLINK_CLEAN: libc::c_ulong = 0x4008_7282;

/// The plink epoch and the number of pseudo-links of the union of `fd`.
pub fn info(fd: &Fd, what: &OsStr) -> Res<(u64, u64)> {
    let mut v = [0u64; 2];
    // SAFETY: the ioctl writes 16 bytes into `v`.
    check(unsafe { libc::ioctl(fd.0, PLINK_INFO as _, v.as_mut_ptr()) }, format!("PLINK_INFO {}", lossy(what)))?;
    Ok((v[0], v[1]))
}

/// Makes the name of `fd` a hard link to its file's copy if it has one.
pub fn link(fd: &Fd, what: &OsStr) -> Res<bool> {
    // SAFETY: an ioctl without argument.
    let r = check(unsafe { libc::ioctl(fd.0, PLINK_LINK as _) }, format!("PLINK_LINK {}", lossy(what)))?;
    Ok(r == 1)
}

/// Removes the pseudo-links if the epoch is still `epoch`.
pub fn clean(fd: &Fd, epoch: u64, what: &OsStr) -> Res<u64> {
    // SAFETY: the ioctl reads 8 bytes from `epoch`.
    let r = check(unsafe { libc::ioctl(fd.0, PLINK_CLEAN as _, &epoch) }, format!("PLINK_CLEAN {}", lossy(what)))?;
    Ok(r as u64)
}

/// Every regular file below `dir`, on the same filesystem (a mount below
/// is left alone), given to `link`: the union's link count does not tell
/// which names have a pseudo-link (the copy may have one link left), the
/// kernel decides from the lower file. Names removed or renamed meanwhile
/// (ENOENT, ESTALE) are skipped.
fn walk(dir: &Path, dev: u64, linked: &mut u64) -> Res {
    let gone = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESTALE));
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), format!("readdir {}", dir.display()))),
    };
    for e in rd {
        let e = e.map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), format!("readdir {}", dir.display())))?;
        let p = e.path();
        let md = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), format!("lstat {}", p.display()))),
        };
        if md.dev() != dev {
            continue;
        }
        let ft = md.file_type();
        if ft.is_dir() {
            walk(&p, dev, linked)?;
        } else if ft.is_file() {
            let fd = match open(p.as_os_str(), libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK, 0) {
                Ok(fd) => fd,
                Err(Fail::Sys(libc::ENOENT | libc::ESTALE, _)) => continue,
                Err(e) => return Err(e),
            };
            match link(&fd, p.as_os_str()) {
                Ok(true) => *linked += 1,
                Ok(false) | Err(Fail::Sys(libc::ENOENT | libc::ESTALE, _)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The flush: epoch, walk, clean; again while a pseudo-link was made
/// meanwhile (EAGAIN). Prints `linked N removed M`.
pub fn flush(mnt: &OsStr) -> Res {
    let root = open(mnt, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid stat buffer.
    check(unsafe { libc::fstat(root.0, &mut st) }, format!("fstat {}", lossy(mnt)))?;
    let mut linked = 0;
    for _ in 0..10 {
        let (epoch, _) = info(&root, mnt)?;
        walk(Path::new(mnt), st.st_dev, &mut linked)?;
        match clean(&root, epoch, mnt) {
            Ok(removed) => {
                println!("linked {linked} removed {removed}");
                return Ok(());
            }
            Err(Fail::Sys(libc::EAGAIN, _)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Fail::Sys(libc::EAGAIN, format!("plink flush {}: pseudo-links keep being made", lossy(mnt))))
}
