//! The real side: system calls on the union and the branches, and reading a
//! tree back into the shape the model uses.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path as FsPath, PathBuf};

use rfs_logic::model::{Kind, Xattrs};

/// An object as seen on disk (or as the model expects it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obj {
    /// `None`: a directory.
    pub kind: Option<Kind>,
    pub mode: u32,
    pub nlink: Option<u32>,
    pub xattrs: Xattrs,
    pub mtime: Option<i64>,
}

pub type Tree = BTreeMap<Vec<Vec<u8>>, Obj>;

fn cs(p: &FsPath) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn rc(r: libc::c_long) -> i32 {
    if r < 0 {
        errno()
    } else {
        0
    }
}

pub fn join(base: &FsPath, path: &[Vec<u8>]) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in path {
        p.push(std::ffi::OsStr::from_bytes(c));
    }
    p
}

/// open(flags, 0644) and pwrite at `off` (`None`: plain write, for O_APPEND).
pub fn write(p: &FsPath, flags: i32, off: Option<usize>, data: &[u8]) -> i32 {
    let c = cs(p);
    // SAFETY: c is a live C string; data a live buffer.
    unsafe {
        let fd = libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o644 as libc::c_uint);
        if fd < 0 {
            return errno();
        }
        let r = match off {
            Some(o) => libc::pwrite(fd, data.as_ptr().cast(), data.len(), o as libc::off_t),
            None => libc::write(fd, data.as_ptr().cast(), data.len()),
        };
        let e = if r < 0 { errno() } else { 0 };
        if libc::close(fd) < 0 && e == 0 {
            return errno();
        }
        e
    }
}

pub fn truncate(p: &FsPath, len: usize) -> i32 {
    // SAFETY: live C string.
    rc(unsafe { libc::truncate(cs(p).as_ptr(), len as libc::off_t) } as libc::c_long)
}

pub fn unlink(p: &FsPath) -> i32 {
    // SAFETY: live C string.
    rc(unsafe { libc::unlink(cs(p).as_ptr()) } as libc::c_long)
}

pub fn rmdir(p: &FsPath) -> i32 {
    // SAFETY: live C string.
    rc(unsafe { libc::rmdir(cs(p).as_ptr()) } as libc::c_long)
}

pub fn mkdir(p: &FsPath, mode: u32) -> i32 {
    // SAFETY: live C string.
    rc(unsafe { libc::mkdir(cs(p).as_ptr(), mode as libc::mode_t) } as libc::c_long)
}

pub fn rename(a: &FsPath, b: &FsPath, noreplace: bool) -> i32 {
    let flags: libc::c_uint = if noreplace { libc::RENAME_NOREPLACE } else { 0 };
    let (ca, cb) = (cs(a), cs(b));
    // SAFETY: live C strings.
    rc(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            flags,
        )
    })
}

pub fn link(a: &FsPath, b: &FsPath) -> i32 {
    let (ca, cb) = (cs(a), cs(b));
    // SAFETY: live C strings.
    rc(
        unsafe { libc::linkat(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), 0) }
            as libc::c_long,
    )
}

pub fn symlink(target: &[u8], p: &FsPath) -> i32 {
    let t = CString::new(target).unwrap_or_default();
    // SAFETY: live C strings.
    rc(unsafe { libc::symlink(t.as_ptr(), cs(p).as_ptr()) } as libc::c_long)
}

pub fn chmod(p: &FsPath, mode: u32) -> i32 {
    // SAFETY: live C string.
    rc(unsafe { libc::chmod(cs(p).as_ptr(), mode as libc::mode_t) } as libc::c_long)
}

/// utimensat with atime = mtime = `t` (following symlinks unless `nofollow`).
pub fn utimes(p: &FsPath, t: i64, nofollow: bool) -> i32 {
    let ts = libc::timespec {
        tv_sec: t as libc::time_t,
        tv_nsec: 0,
    };
    let times = [ts, ts];
    let fl = if nofollow {
        libc::AT_SYMLINK_NOFOLLOW
    } else {
        0
    };
    // SAFETY: live C string and array.
    rc(
        unsafe { libc::utimensat(libc::AT_FDCWD, cs(p).as_ptr(), times.as_ptr(), fl) }
            as libc::c_long,
    )
}

pub fn setxattr(p: &FsPath, k: &[u8], v: &[u8]) -> i32 {
    let kc = CString::new(k).unwrap_or_default();
    // SAFETY: live C strings and buffer.
    rc(
        unsafe { libc::setxattr(cs(p).as_ptr(), kc.as_ptr(), v.as_ptr().cast(), v.len(), 0) }
            as libc::c_long,
    )
}

pub fn mount(data: &str, target: &FsPath, remount: bool) -> i32 {
    let src = CString::new("none").unwrap_or_default();
    let ty = CString::new("rfs").unwrap_or_default();
    let d = CString::new(data).unwrap_or_default();
    let flags = if remount { libc::MS_REMOUNT } else { 0 };
    let typ = if remount {
        std::ptr::null()
    } else {
        ty.as_ptr()
    };
    // SAFETY: live C strings or null.
    rc(unsafe {
        libc::mount(
            src.as_ptr(),
            cs(target).as_ptr(),
            typ,
            flags,
            d.as_ptr().cast(),
        )
    } as libc::c_long)
}

pub fn umount(target: &FsPath) -> i32 {
    // SAFETY: live C string.
    rc(unsafe { libc::umount2(cs(target).as_ptr(), 0) } as libc::c_long)
}

/// sync(2), then drop the dentry and inode caches (best effort).
pub fn drop_caches() {
    // SAFETY: no pointers.
    unsafe { libc::sync() };
    let _ = std::fs::write("/proc/sys/vm/drop_caches", b"3");
}

pub fn umask0() {
    // SAFETY: no pointers.
    unsafe { libc::umask(0) };
}

fn user_xattrs(p: &FsPath) -> Xattrs {
    let c = cs(p);
    let mut out = Xattrs::new();
    let mut buf = vec![0u8; 4096];
    // SAFETY: live C string and buffer of the given length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return out;
    }
    buf.truncate(n as usize);
    for name in buf.split(|&b| b == 0).filter(|n| n.starts_with(b"user.")) {
        let kc = CString::new(name).unwrap_or_default();
        let mut v = vec![0u8; 4096];
        // SAFETY: as above.
        let m = unsafe { libc::lgetxattr(c.as_ptr(), kc.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        if m >= 0 {
            v.truncate(m as usize);
            out.insert(name.to_vec(), v);
        }
    }
    out
}

/// One object read from disk; `Err(errno)` when it cannot be read.
pub fn read_obj(p: &FsPath) -> Result<Obj, String> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(p).map_err(|e| format!("lstat: {e}"))?;
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        None
    } else if ft.is_symlink() {
        Some(Kind::Symlink(
            std::fs::read_link(p)
                .map_err(|e| format!("readlink: {e}"))?
                .as_os_str()
                .as_bytes()
                .to_vec(),
        ))
    } else if ft.is_file() {
        Some(Kind::File(
            std::fs::read(p).map_err(|e| format!("read: {e}"))?,
        ))
    } else {
        return Err(format!("unexpected file type {:o}", md.mode()));
    };
    let is_link = matches!(kind, Some(Kind::Symlink(_)));
    Ok(Obj {
        kind,
        mode: md.mode() & 0o7777,
        nlink: Some(md.nlink() as u32),
        xattrs: if is_link {
            Xattrs::new()
        } else {
            user_xattrs(p)
        },
        mtime: Some(md.mtime()),
    })
}

/// Every object below `base` (not `base` itself unless `with_root`).
/// `skip_root` names at the top are left out (rfs's private directories).
pub fn read_tree(base: &FsPath, skip_root: &[&[u8]], out: &mut Tree, errs: &mut Vec<String>) {
    fn walk(
        base: &FsPath,
        rel: &mut Vec<Vec<u8>>,
        skip: &[&[u8]],
        out: &mut Tree,
        errs: &mut Vec<String>,
    ) {
        let dir = join(base, rel);
        let rd = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) => {
                errs.push(format!("readdir {}: {e}", dir.display()));
                return;
            }
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in rd {
            match e {
                Ok(e) => names.push(e.file_name().as_bytes().to_vec()),
                Err(e) => errs.push(format!("readdir {}: {e}", dir.display())),
            }
        }
        names.sort();
        for n in names {
            if rel.is_empty() && skip.contains(&n.as_slice()) {
                continue;
            }
            rel.push(n);
            let p = join(base, rel);
            match read_obj(&p) {
                Ok(o) => {
                    let is_dir = o.kind.is_none();
                    if out.insert(rel.clone(), o).is_some() {
                        errs.push(format!("{}: listed twice", p.display()));
                    }
                    if is_dir {
                        walk(base, rel, &[], out, errs);
                    }
                }
                Err(e) => errs.push(format!("{}: {e}", p.display())),
            }
            rel.pop();
        }
    }
    walk(base, &mut Vec::new(), skip_root, out, errs);
}

pub fn errname(e: i32) -> String {
    let s = match e {
        0 => "OK",
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        28 => "ENOSPC",
        30 => "EROFS",
        36 => "ENAMETOOLONG",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        61 => "ENODATA",
        95 => "EOPNOTSUPP",
        116 => "ESTALE",
        _ => return format!("E{e}"),
    };
    s.to_string()
}
