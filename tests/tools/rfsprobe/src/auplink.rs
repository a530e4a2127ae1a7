//! `rfsprobe auplink MNT list|flush`: what AUFS's `auplink` (aufs-util)
//! does through AUFS's kernel interfaces, step by step, written from its
//! documented protocol (Documentation/filesystems/rfs.rst, "AUFS
//! compatibility mode"), so the suites can check rfs's side of it in AUFS
//! compatibility mode without aufs-util. Exit status and messages are
//! rfsprobe's own.

use crate::{check, lossy, open, out, Fail, Res};
use std::collections::BTreeSet;
use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `AUFS_CTL_BRINFO`: `_IOW('A', 5, union aufs_brinfo)`.
const CTL_BRINFO: libc::c_ulong = 0x5000_4105;
const BRINFO_SIZE: usize = 4096;
const AUFS_SUPER_MAGIC: i64 = 0x6175_6673;
const PLINK_DIR: &str = ".wh..wh.plnk";

/// One branch as BRINFO gives it: id, AUFS permission bits, path.
pub struct BrInfo {
    pub id: i16,
    pub perm: i32,
    pub path: OsString,
}

/// The branches of the union of the directory `dir` (AUFS_CTL_BRINFO).
pub fn brinfo(dir: &OsStr) -> Res<Vec<BrInfo>> {
    let fd = open(dir, libc::O_RDONLY, 0)?;
    // SAFETY: BRINFO with a NULL argument only returns the count.
    let n = check(unsafe { libc::ioctl(fd.0, CTL_BRINFO as _, std::ptr::null_mut::<u8>()) }, "AUFS_CTL_BRINFO")?;
    let mut buf = vec![0u8; n as usize * BRINFO_SIZE];
    // SAFETY: `buf` has room for `n` records.
    check(unsafe { libc::ioctl(fd.0, CTL_BRINFO as _, buf.as_mut_ptr()) }, "AUFS_CTL_BRINFO")?;
    Ok(buf
        .chunks(BRINFO_SIZE)
        .map(|r| {
            let path = &r[8..];
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            BrInfo {
                id: i16::from_ne_bytes([r[0], r[1]]),
                perm: i32::from_ne_bytes([r[4], r[5], r[6], r[7]]),
                path: OsStr::from_bytes(&path[..end]).to_os_string(),
            }
        })
        .collect())
}

/// The `si=` option of the mount at `dir` (the last entry of
/// /proc/self/mounts for it); `None` for `noplink`.
fn mount_si(dir: &Path) -> Res<Option<String>> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| Fail::Check(format!("/proc/self/mounts: {e}")))?;
    let want = dir.as_os_str().as_bytes();
    let opts = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 3 && unescape(f[1]) == want).then(|| f[3].to_string())
        })
        .last()
        .ok_or_else(|| Fail::Check(format!("{}: not a mount point", dir.display())))?;
    let opts: Vec<&str> = opts.split(',').collect();
    if opts.contains(&"noplink") {
        return Ok(None);
    }
    opts.iter()
        .find_map(|o| o.strip_prefix("si="))
        .map(|s| Some(s.to_string()))
        .ok_or_else(|| Fail::Check(format!("{}: no si= option", dir.display())))
}

/// /proc/mounts's octal escapes undone.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') << 6 | (b[i + 2] - b'0') << 3 | (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// strtoull(s, NULL, 0) of the part before the first dot, as auplink reads
/// a pseudo-link name (0 where nothing parses).
fn name_ino(name: &[u8]) -> Option<u64> {
    let dot = name.iter().position(|&c| c == b'.')?;
    let p = std::str::from_utf8(&name[..dot]).ok()?;
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    let valid: String = digits.chars().take_while(|c| c.is_digit(radix)).collect();
    Some(u64::from_str_radix(&valid, radix).unwrap_or(0))
}

/// Every name below `dir` (not crossing mounts, not entering the
/// pseudo-link directory) whose inode number is in `inos`.
fn walk(dir: &Path, dev: u64, inos: &BTreeSet<u64>, found: &mut Vec<(PathBuf, bool)>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else { continue };
        if md.is_dir() {
            if e.file_name() != PLINK_DIR && md.dev() == dev {
                walk(&p, dev, inos, found);
            }
        } else if inos.contains(&md.ino()) {
            found.push((p, md.file_type().is_symlink()));
        }
    }
}

/// `auplink MNT list|flush` (see the module comment).
pub fn run(mnt: &OsStr, cmd: &OsStr) -> Res {
    let flush = match cmd.as_bytes() {
        b"flush" => true,
        b"list" => false,
        _ => return Err(Fail::Usage("auplink MNT list|flush".into())),
    };
    let root = std::fs::canonicalize(mnt).map_err(|e| Fail::Check(format!("{}: {e}", lossy(mnt))))?;
    let Some(si) = mount_si(&root)? else { return Ok(()) };
    let mut maint = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/fs/aufs/plink_maint")
        .map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), "open /proc/fs/aufs/plink_maint".into()))?;
    maint
        .write_all(format!("si={si}").as_bytes())
        .map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), format!("plink_maint si={si}")))?;
    let c = CString::new(root.as_os_str().as_bytes()).map_err(|_| Fail::Usage("path with NUL".into()))?;
    // SAFETY: statfs fills `st`.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    check(unsafe { libc::statfs(c.as_ptr(), &mut st) }, "statfs")?;
    if st.f_type as i64 != AUFS_SUPER_MAGIC {
        return Err(Fail::Check(format!("{}: not aufs (f_type {:x})", root.display(), st.f_type)));
    }
    let mut inos = BTreeSet::new();
    let mut order = Vec::new();
    let mut plinks = Vec::new();
    for b in brinfo(root.as_os_str())?.iter().filter(|b| b.perm & 1 != 0) {
        let dir = Path::new(&b.path).join(PLINK_DIR);
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().into_vec();
            let ino = name_ino(&name).ok_or_else(|| Fail::Check(format!("{}: internal error, {}", dir.display(), String::from_utf8_lossy(&name))))?;
            inos.insert(ino);
            order.push(ino);
            plinks.push(e.path());
        }
    }
    if order.is_empty() {
        return Ok(());
    }
    let mut found = Vec::new();
    let dev = std::fs::metadata(&root).map_err(|e| Fail::Check(format!("{}: {e}", root.display())))?.dev();
    walk(&root, dev, &inos, &mut found);
    if !flush {
        let mut s = String::new();
        for i in &order {
            s.push_str(&format!("{i} "));
        }
        s.push('\n');
        for (p, _) in &found {
            s.push_str(&format!("{}\n", p.display()));
        }
        return out(s.as_bytes());
    }
    for (p, _) in &found {
        let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| Fail::Usage("path with NUL".into()))?;
        // SAFETY: a C string path; -1/-1 changes no owner (it copies the
        // name up, which is the point).
        check(unsafe { libc::lchown(c.as_ptr(), u32::MAX, u32::MAX) }, format!("lchown {}", p.display()))?;
    }
    maint.write_all(b"clean").map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), "plink_maint clean".into()))?;
    for p in &plinks {
        std::fs::remove_file(p).map_err(|e| Fail::Check(format!("unlink {}: {e}", p.display())))?;
    }
    Ok(())
}
