//! Unpacking one layer (a tar stream) into a directory, refusing what
//! would write outside it or what a layer has no business holding.
//!
//! The layer's whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`)
//! are kept as the files they are: that is AUFS's format, which rfs reads
//! in `ro+wh` branches. Other `.wh..wh.` names (a union's private files
//! that a careless export took along) are skipped with a warning.
//!
//! Refused, with a message and the exit status in brackets: an absolute
//! path, a `..` component [EINVAL]; an entry beneath a symlink or a
//! non-directory of the layer [ELOOP]; a hard link to a name that is not
//! an earlier non-directory entry of the same layer [EXDEV]; a name given
//! twice (a directory may be repeated), a non-directory after entries
//! beneath it, an empty symlink, an unknown entry type [EINVAL]; a device
//! node when not root [EPERM]; a layer past the size limit or with more
//! entries than allowed [EFBIG].

use crate::safefs::{self, components, os, show, Rel, Root};
use crate::Fail;
use rfs_logic::whiteout;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Read};
use std::os::fd::AsFd;

/// Limits and switches of an unpack.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Running as root: owners are set, device nodes made.
    pub root_user: bool,
    /// The most entries a layer may have.
    pub max_entries: u64,
    /// The most bytes of file data the layer may hold.
    pub max_bytes: u64,
}

/// What a layer held.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Entries in the tar.
    pub entries: u64,
    /// Regular files (whiteouts and opaque markers not counted).
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Hard links (entries that name an earlier file).
    pub hardlinks: u64,
    /// FIFOs.
    pub fifos: u64,
    /// Device nodes.
    pub devices: u64,
    /// Whiteouts (`.wh.NAME`).
    pub whiteouts: u64,
    /// Opaque markers (`.wh..wh..opq`).
    pub opaque: u64,
    /// Bytes of file data.
    pub bytes: u64,
    /// Extended attributes that could not be set (not root, or the
    /// filesystem does not take them).
    pub xattrs_not_set: u64,
    /// Entries skipped, with why.
    pub skipped: Vec<String>,
}

/// A refused layer: the message and the errno that is the exit status.
pub fn refuse(code: Errno, msg: String) -> Fail {
    let mut f = Fail::usage(msg);
    f.usage = false;
    f.errno = Some(code.raw_os_error());
    f.exit = Some(code.raw_os_error());
    f
}

/// An I/O error while reading the layer: the size limit, a bad tar, or
/// the system's error.
pub fn read_fail(e: io::Error, what: &str) -> Fail {
    if let Some(t) = e.get_ref().and_then(|x| x.downcast_ref::<crate::stream::TooBig>()) {
        return refuse(Errno::FBIG, format!("{what}: {t}"));
    }
    match e.raw_os_error() {
        Some(c) => {
            let mut f = Fail::errno(Errno::from_raw_os_error(c), what.to_owned());
            f.exit = Some(c);
            f
        }
        None => refuse(Errno::INVAL, format!("{what}: {e}")),
    }
}

fn sys(e: Errno, what: String) -> Fail {
    let mut f = Fail::errno(e, what);
    f.exit = Some(e.raw_os_error());
    f
}

/// Owner, mode and times of an entry.
#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: Timespec,
}

impl Meta {
    fn times(&self) -> Timestamps {
        Timestamps { last_access: self.mtime, last_modification: self.mtime }
    }
}

/// PAX `mtime` ("1700000000.123456789") or the header's seconds.
fn mtime_of(header_secs: u64, pax: Option<&[u8]>) -> Timespec {
    let whole = Timespec { tv_sec: i64::try_from(header_secs).unwrap_or(i64::MAX), tv_nsec: 0 };
    let Some(p) = pax.and_then(|p| std::str::from_utf8(p).ok()) else { return whole };
    let (s, frac) = p.split_once('.').unwrap_or((p, ""));
    let Ok(sec) = s.parse::<i64>() else { return whole };
    let digits: String = frac.chars().take(9).collect();
    let nsec = if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        0
    } else {
        digits.parse::<i64>().unwrap_or(0) * 10i64.pow(9 - digits.len() as u32)
    };
    Timespec { tv_sec: sec, tv_nsec: nsec }
}

/// One entry's PAX records that matter here.
#[derive(Default)]
struct Pax {
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    mtime: Option<Vec<u8>>,
    uid: Option<u64>,
    gid: Option<u64>,
}

fn pax_of<R: Read>(e: &mut tar::Entry<'_, R>) -> Pax {
    let mut p = Pax::default();
    if let Ok(Some(exts)) = e.pax_extensions() {
        for x in exts.flatten() {
            let k = x.key_bytes();
            if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                p.xattrs.push((name.to_vec(), x.value_bytes().to_vec()));
            } else if k == b"mtime" {
                p.mtime = Some(x.value_bytes().to_vec());
            } else if k == b"uid" {
                p.uid = x.value().ok().and_then(|v| v.parse().ok());
            } else if k == b"gid" {
                p.gid = x.value().ok().and_then(|v| v.parse().ok());
            }
        }
    }
    p
}

/// What a name already in the layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Dir,
    NonDir,
}

/// Unpacks the tar stream `r` into `dest`. `progress` gets the bytes of
/// file data as they are written.
pub fn unpack<R: Read>(r: R, dest: &Root, o: &Opts, progress: &mut dyn FnMut(u64)) -> Result<Stats, Fail> {
    let mut st = Stats::default();
    let mut seen: HashMap<Rel, Seen> = HashMap::new();
    let mut dir_meta: Vec<(Rel, Meta)> = Vec::new();
    let mut ar = tar::Archive::new(r);
    let entries = ar.entries().map_err(|e| read_fail(e, "layer"))?;
    for e in entries {
        let mut e = e.map_err(|e| read_fail(e, "layer"))?;
        st.entries += 1;
        if st.entries > o.max_entries {
            return Err(refuse(Errno::FBIG, format!("more than {} entries (--max-entries)", o.max_entries)));
        }
        let raw = e.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = e.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let rel = components(&raw).map_err(|pe| refuse(Errno::INVAL, format!("entry {shown}: {pe}")))?;
        let pax = pax_of(&mut e);
        let h = e.header();
        let meta = Meta {
            mode: h.mode().map_err(|x| read_fail(x, &shown))? & 0o7777,
            uid: pax.uid.or_else(|| h.uid().ok()).unwrap_or(0),
            gid: pax.gid.or_else(|| h.gid().ok()).unwrap_or(0),
            mtime: mtime_of(h.mtime().unwrap_or(0), pax.mtime.as_deref()),
        };
        let Some(last) = rel.last().cloned() else {
            // The layer's root ("./").
            if kind != tar::EntryType::Directory {
                return Err(refuse(Errno::INVAL, format!("entry {shown}: the root is not a directory")));
            }
            dir_meta.push((rel, meta));
            continue;
        };
        let private = |c: &Vec<u8>| whiteout::is_private(c) && !whiteout::is_opaque_marker(c);
        if rel.iter().any(private) || (whiteout::is_reserved(&last) && !whiteout::is_opaque_marker(&last) && whiteout::whiteout_target(&last).is_none()) {
            st.skipped.push(format!("{}: a private name of a union, not part of a layer", show(&rel)));
            continue;
        }
        if rel[..rel.len() - 1].iter().any(|c| whiteout::is_reserved(c)) {
            st.skipped.push(format!("{}: beneath a whiteout or marker", show(&rel)));
            continue;
        }
        let is_dir = kind == tar::EntryType::Directory;
        match seen.get(&rel) {
            Some(Seen::Dir) if is_dir => {}
            Some(_) => return Err(refuse(Errno::INVAL, format!("entry {}: given twice", show(&rel)))),
            None => {}
        }
        // Too big before writing anything of it.
        let size = e.size();
        if size > o.max_bytes.saturating_sub(st.bytes) {
            return Err(refuse(
                Errno::FBIG,
                format!("entry {}: {size} bytes, past the limit of {} bytes (--max-size)", show(&rel), o.max_bytes),
            ));
        }
        let mut made = Vec::new();
        let (dir, name) = match dest.parent(&rel, true, &mut made) {
            Ok(Some(x)) => x,
            Ok(None) => return Err(refuse(Errno::INVAL, format!("entry {shown}: no name"))),
            Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                return Err(refuse(
                    Errno::LOOP,
                    format!("entry {}: beneath a symlink or a non-directory of the layer", show(&rel)),
                ))
            }
            Err(e) => return Err(sys(e, format!("entry {}", show(&rel)))),
        };
        for m in made {
            seen.entry(m).or_insert(Seen::Dir);
        }
        let exists = |e: Errno| -> Fail {
            if e == Errno::EXIST {
                refuse(Errno::INVAL, format!("entry {}: a non-directory after entries beneath it", show(&rel)))
            } else {
                sys(e, format!("entry {}", show(&rel)))
            }
        };
        let name = name.to_vec();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = rustix::fs::openat(
                    &dir,
                    os(&name),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(exists)?;
                let mut f = std::fs::File::from(fd);
                let n = copy_progress(&mut e, &mut f, progress).map_err(|x| read_fail(x, &format!("entry {}", show(&rel))))?;
                st.bytes += n;
                set_xattrs(&f, &pax.xattrs, &mut st);
                set_meta_fd(&f, &meta, o.root_user).map_err(|x| sys(x, format!("entry {}", show(&rel))))?;
                if whiteout::is_opaque_marker(&name) {
                    st.opaque += 1;
                } else if whiteout::whiteout_target(&name).is_some() {
                    st.whiteouts += 1;
                } else {
                    st.files += 1;
                }
            }
            tar::EntryType::Directory => {
                match rustix::fs::mkdirat(&dir, os(&name), Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(x) => return Err(sys(x, format!("entry {}", show(&rel)))),
                }
                let d = safefs::open_dir_at(&dir, &name).map_err(|x| {
                    if x == Errno::LOOP || x == Errno::NOTDIR {
                        refuse(Errno::INVAL, format!("entry {}: a directory over a non-directory", show(&rel)))
                    } else {
                        sys(x, format!("entry {}", show(&rel)))
                    }
                })?;
                set_xattrs(&d, &pax.xattrs, &mut st);
                if !seen.contains_key(&rel) {
                    st.dirs += 1;
                }
                dir_meta.push((rel.clone(), meta));
            }
            tar::EntryType::Symlink => {
                let target = e.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                if target.is_empty() {
                    return Err(refuse(Errno::INVAL, format!("entry {}: a symlink to nothing", show(&rel))));
                }
                rustix::fs::symlinkat(os(&target), &dir, os(&name)).map_err(exists)?;
                set_meta_at(&dir, &name, &meta, o.root_user, false).map_err(|x| sys(x, format!("entry {}", show(&rel))))?;
                st.symlinks += 1;
            }
            tar::EntryType::Link => {
                let target = e.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default();
                let bad = || {
                    refuse(
                        Errno::XDEV,
                        format!(
                            "entry {}: a hard link to {}, which is not an earlier file of this layer",
                            show(&rel),
                            String::from_utf8_lossy(&target)
                        ),
                    )
                };
                let trel = components(&target).map_err(|_| bad())?;
                if seen.get(&trel) != Some(&Seen::NonDir) {
                    return Err(bad());
                }
                let (tdir, tname) = match dest.parent(&trel, false, &mut Vec::new()) {
                    Ok(Some(x)) => x,
                    _ => return Err(bad()),
                };
                rustix::fs::linkat(&tdir, os(tname), &dir, os(&name), AtFlags::empty()).map_err(exists)?;
                st.hardlinks += 1;
            }
            tar::EntryType::Fifo => {
                rustix::fs::mknodat(&dir, os(&name), FileType::Fifo, Mode::from_raw_mode(0o600), 0).map_err(exists)?;
                set_meta_at(&dir, &name, &meta, o.root_user, true).map_err(|x| sys(x, format!("entry {}", show(&rel))))?;
                st.fifos += 1;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                if !o.root_user {
                    return Err(refuse(
                        Errno::PERM,
                        format!("entry {}: a device node, and rfsctl import is not running as root", show(&rel)),
                    ));
                }
                let major = e.header().device_major().ok().flatten().unwrap_or(0);
                let minor = e.header().device_minor().ok().flatten().unwrap_or(0);
                let ft = if kind == tar::EntryType::Char { FileType::CharacterDevice } else { FileType::BlockDevice };
                rustix::fs::mknodat(&dir, os(&name), ft, Mode::from_raw_mode(0o600), rustix::fs::makedev(major, minor))
                    .map_err(exists)?;
                set_meta_at(&dir, &name, &meta, o.root_user, true).map_err(|x| sys(x, format!("entry {}", show(&rel))))?;
                st.devices += 1;
            }
            other => {
                return Err(refuse(Errno::INVAL, format!("entry {}: entry type {other:?} is not taken", show(&rel))));
            }
        }
        seen.insert(rel, if is_dir { Seen::Dir } else { Seen::NonDir });
    }
    // Directories last, deepest first: a mode without write permission
    // must not stop what goes below, and writing below changes the mtime.
    dir_meta.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
    for (rel, meta) in dir_meta {
        let d = dest.dir(&rel, false, &mut Vec::new()).map_err(|x| sys(x, format!("entry {}", show(&rel))))?;
        set_meta_fd(&d, &meta, o.root_user).map_err(|x| sys(x, format!("entry {}", show(&rel))))?;
    }
    Ok(st)
}

fn copy_progress(r: &mut impl Read, w: &mut impl io::Write, progress: &mut dyn FnMut(u64)) -> io::Result<u64> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
        progress(n as u64);
    }
}

fn set_xattrs(fd: impl AsFd, xattrs: &[(Vec<u8>, Vec<u8>)], st: &mut Stats) {
    for (k, v) in xattrs {
        if rustix::fs::fsetxattr(&fd, os(k), v, rustix::fs::XattrFlags::empty()).is_err() {
            st.xattrs_not_set += 1;
        }
    }
}

fn ids(meta: &Meta) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    let uid = u32::try_from(meta.uid).ok().map(rustix::fs::Uid::from_raw);
    let gid = u32::try_from(meta.gid).ok().map(rustix::fs::Gid::from_raw);
    (uid, gid)
}

/// Owner (when root), mode and times of an open file or directory.
fn set_meta_fd(fd: impl AsFd, meta: &Meta, root_user: bool) -> Result<(), Errno> {
    if root_user {
        let (u, g) = ids(meta);
        rustix::fs::fchown(&fd, u, g)?;
    }
    // After chown, which clears the set-id bits.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(meta.mode))?;
    rustix::fs::futimens(&fd, &meta.times())
}

/// The same for a name that cannot be opened (symlink, FIFO, device).
fn set_meta_at(dir: impl AsFd, name: &[u8], meta: &Meta, root_user: bool, chmod: bool) -> Result<(), Errno> {
    if root_user {
        let (u, g) = ids(meta);
        rustix::fs::chownat(&dir, os(name), u, g, AtFlags::SYMLINK_NOFOLLOW)?;
    }
    if chmod {
        // Not a symlink (the caller made a FIFO or device node just now).
        rustix::fs::chmodat(&dir, os(name), Mode::from_raw_mode(meta.mode), AtFlags::empty())?;
    }
    rustix::fs::utimensat(&dir, os(name), &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_mtimes() {
        assert_eq!(mtime_of(5, None), Timespec { tv_sec: 5, tv_nsec: 0 });
        assert_eq!(mtime_of(5, Some(b"7.25")), Timespec { tv_sec: 7, tv_nsec: 250_000_000 });
        assert_eq!(mtime_of(5, Some(b"7")), Timespec { tv_sec: 7, tv_nsec: 0 });
        assert_eq!(mtime_of(5, Some(b"x")), Timespec { tv_sec: 5, tv_nsec: 0 });
    }
}
