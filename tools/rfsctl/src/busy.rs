//! `rfsctl busy MOUNT BRANCH`: which processes hold a branch of a union
//! through their working or root directory, an open file or a mapping
//! (what AUFS's `auibusy` and verbose `del` told).
//!
//! Every process in /proc is looked at. Its cwd, root and fds are found
//! through their /proc magic links and kept when they are objects of the
//! union (the union's own st_dev, wherever the union is reached); its
//! mappings are read from /proc/PID/maps and kept when the path is under
//! MOUNT. A regular file or directory is opened (`O_PATH` first, then
//! reopened read-only through /proc/self/fd, so a FIFO or device that
//! took its place meanwhile is never opened) and asked `RFS_IOC_MEMBERS`
//! for the ids of the branches it has members in, top first, and which
//! of those branch files are mapped.
//!
//! A mapping of a union file maps a branch file, but /proc/PID/maps shows
//! the union's path, device and inode (file_user_inode, since Linux 6.9),
//! so the mapping's object is reached through /proc/PID/map_files (the
//! union's dentry, also when deleted; root only) or else its path, and
//! its branch is the member whose file the ioctl says is mapped: after a
//! copy-up, a mapping made before it still maps the lower file.

use crate::sysfs::Branch;
use crate::Fail;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::ioctl::{opcode, Getter, Opcode};
use serde::Serialize;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// `_IOR('r', 0x83, struct { __u32 count; __u32 flags; __u32 brid[62]; })`
const MEMBERS: Opcode = opcode::read::<[u32; 64]>(b'r', 0x83);
/// The most branch ids `MEMBERS` returns.
const MEMBERS_MAX: usize = 62;
/// `flags` bit 0: the top member is in a writable branch (the upper).
const MEMBERS_UPPER: u32 = 1;
/// `flags` bit 1: bits 2 + i tell whether the branch file of `brid[i]`
/// is mapped (modules before this bit did not tell).
const MEMBERS_MAPPED_KNOWN: u32 = 2;
/// How many members the mapped bits cover.
const MEMBERS_MAPPED_MAX: usize = 30;

/// What `RFS_IOC_MEMBERS` tells of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    /// The ids of the branches it has members in, top first.
    pub ids: Vec<u32>,
    /// The top member is in a writable branch.
    pub upper: bool,
    /// Bit i: the branch file of `ids[i]` has mappings (any process's,
    /// also made directly in the branch); `None` from an older module.
    pub mapped: Option<u32>,
}

impl Members {
    /// The ids of the members whose branch files are mapped.
    pub fn mapped_ids(&self) -> Vec<u32> {
        let Some(bits) = self.mapped else { return Vec::new() };
        self.ids.iter().take(MEMBERS_MAPPED_MAX).enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, &id)| id).collect()
    }
}

/// The ioctl's buffer, read.
fn decode(buf: &[u32; 64]) -> Members {
    let n = usize::try_from(buf[0]).unwrap_or(MEMBERS_MAX).min(MEMBERS_MAX);
    let flags = buf[1];
    let mapped = (flags & MEMBERS_MAPPED_KNOWN != 0).then_some((flags >> 2) & ((1 << MEMBERS_MAPPED_MAX) - 1));
    Members { ids: buf[2..2 + n].to_vec(), upper: flags & MEMBERS_UPPER != 0, mapped }
}

/// `RFS_IOC_MEMBERS` on `fd`, an open file or directory of the union.
pub fn members(fd: impl AsFd) -> Result<Members, Errno> {
    // SAFETY: MEMBERS is an _IOR of 256 bytes, the size of [u32; 64], which
    // the kernel fills completely before returning success.
    let buf = unsafe { rustix::ioctl::ioctl(fd, Getter::<MEMBERS, [u32; 64]>::new()) }?;
    Ok(decode(&buf))
}

/// How an open object is asked for its members ([`members`]; the host
/// tests answer for the kernel).
pub type Ask = fn(BorrowedFd<'_>) -> Result<Members, Errno>;

fn ask_kernel(fd: BorrowedFd<'_>) -> Result<Members, Errno> {
    members(fd)
}

/// ENOTTY from `RFS_IOC_MEMBERS`, said clearly.
fn enotty(what: &Path) -> Fail {
    Fail::errno(
        Errno::NOTTY,
        format!(
            "RFS_IOC_MEMBERS on {}: the rfs module loaded does not know this ioctl \
             (it is older than this rfsctl; load a newer rfs.ko), or the union is not rfs's",
            what.display()
        ),
    )
}

// ---------------------------------------------------------------------------
// The branch asked about

/// How BRANCH was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// Its root, any spelling.
    Path(PathBuf),
    /// `#INDEX`: its position, 0 on top.
    Index(usize),
    /// `id:ID`: its branch id.
    Id(u32),
}

fn digits<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Reads BRANCH: `#INDEX`, `id:ID` or a path (anything else, also `./#1`).
pub fn parse_which(arg: &OsStr) -> Which {
    let b = arg.as_bytes();
    if let Some(i) = b.strip_prefix(b"#").and_then(digits) {
        return Which::Index(i);
    }
    if let Some(i) = b.strip_prefix(b"id:").and_then(digits) {
        return Which::Id(i);
    }
    Which::Path(PathBuf::from(arg))
}

/// The identity of a directory: (st_dev, st_ino), following symlinks.
fn identity(p: &Path) -> std::io::Result<(u64, u64)> {
    let st = rustix::fs::stat(p)?;
    Ok((st.st_dev, st.st_ino))
}

/// The branch BRANCH names among `branches`; `id_of` tells a directory's
/// identity (a path names the branch whose root is the same directory).
pub fn pick<'a>(
    which: &Which,
    branches: &'a [Branch],
    mount: &Path,
    id_of: &dyn Fn(&Path) -> std::io::Result<(u64, u64)>,
) -> Result<&'a Branch, Fail> {
    let found = match which {
        Which::Index(i) => branches.iter().find(|b| b.index == *i),
        Which::Id(id) => branches.iter().find(|b| b.id == Some(*id)),
        Which::Path(p) => {
            let want = id_of(p).map_err(|e| Fail::io(e, format!("branch {}", p.display())))?;
            branches.iter().find(|b| id_of(Path::new(&b.path)).is_ok_and(|id| id == want))
        }
    };
    let shown = match which {
        Which::Path(p) => p.display().to_string(),
        Which::Index(i) => format!("#{i}"),
        Which::Id(id) => format!("id:{id}"),
    };
    let b = found.ok_or_else(|| {
        Fail::usage(format!(
            "{shown}: not a branch of the union mounted at {} (see rfsctl list {})",
            mount.display(),
            mount.display()
        ))
    })?;
    if b.id.is_none() {
        return Err(Fail::usage(format!(
            "{}: its branch ids are not in /sys/fs/rfs (not an rfs union, or an older rfs module)",
            mount.display()
        )));
    }
    Ok(b)
}

// ---------------------------------------------------------------------------
// /proc/PID/maps

/// One line of /proc/PID/maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsLine {
    /// The start address.
    pub start: u64,
    /// The end address.
    pub end: u64,
    /// The device of the mapped inode: (major, minor).
    pub dev: (u32, u32),
    /// The mapped inode's number (0 for anonymous mappings).
    pub ino: u64,
    /// The path, `\012` undone and " (deleted)" taken off; empty when none.
    pub path: Vec<u8>,
    /// The path ended in " (deleted)".
    pub deleted: bool,
}

const DELETED: &[u8] = b" (deleted)";

/// Parses a line of /proc/PID/maps (proc(5)): `START-END PERMS OFFSET
/// MAJ:MIN INODE [PATH]`, the path padded with spaces to a column and
/// running to the end of the line (spaces in it kept; the kernel escapes
/// only a newline, as `\012`). `None` for a line of another shape.
pub fn parse_maps_line(line: &[u8]) -> Option<MapsLine> {
    let mut f = line.splitn(6, |&c| c == b' ');
    let range = f.next()?;
    let _perms = f.next()?;
    let _offset = f.next()?;
    let dev = f.next()?;
    let ino = f.next()?;
    let rest = f.next().unwrap_or(b"");
    let hex = |b: &[u8]| u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok();
    let (s, e) = split_at_byte(range, b'-')?;
    let (ma, mi) = split_at_byte(dev, b':')?;
    let ino = std::str::from_utf8(ino).ok()?.parse().ok()?;
    let start = rest.iter().position(|&c| c != b' ').unwrap_or(rest.len());
    let mut path = unescape_newlines(&rest[start..]);
    let deleted = path.ends_with(DELETED);
    if deleted {
        path.truncate(path.len() - DELETED.len());
    }
    Some(MapsLine {
        start: hex(s)?,
        end: hex(e)?,
        dev: (u32::try_from(hex(ma)?).ok()?, u32::try_from(hex(mi)?).ok()?),
        ino,
        path,
        deleted,
    })
}

fn split_at_byte(b: &[u8], c: u8) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&x| x == c)?;
    Some((&b[..i], &b[i + 1..]))
}

/// `\012` back to a newline (the one byte seq_file_path escapes in maps).
fn unescape_newlines(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"\\012") {
            out.push(b'\n');
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The walk

/// What a process holds an object as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum What {
    /// Its working directory.
    Cwd,
    /// Its root directory (chroot).
    Root,
    /// An open file descriptor.
    Fd,
    /// A file mapping.
    Mmap,
}

/// One object of the union a process holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The process id.
    pub pid: u32,
    /// Its name (/proc/PID/comm).
    pub command: String,
    /// `cwd`, `root`, `fd` or `mmap`.
    pub what: What,
    /// The file descriptor, for `fd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd: Option<u32>,
    /// The path as /proc shows it (" (deleted)" when it has no name).
    pub path: String,
    /// `file`, `directory`, `fifo`, `socket`, `char device`, `block
    /// device`, `symlink`, or `unknown` (a mapping of a file gone).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// It holds BRANCH.
    pub holds: bool,
    /// It was checked (else see `note`).
    pub checked: bool,
    /// The ids of the branches it has members in, top first; for a
    /// mapping, the branches whose files of the object are mapped (when
    /// the module tells, else all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches: Option<Vec<u32>>,
    /// The top member is in a writable branch (from the ioctl).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<bool>,
    /// Why it was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Entry {
    /// `cwd`, `root`, `fd N`, `mmap`.
    pub fn what_text(&self) -> String {
        match (self.what, self.fd) {
            (What::Cwd, _) => "cwd".into(),
            (What::Root, _) => "root".into(),
            (What::Fd, Some(n)) => format!("fd {n}"),
            (What::Fd, None) => "fd".into(),
            (What::Mmap, _) => "mmap".into(),
        }
    }
}

/// The union and the branch asked about.
pub struct Target {
    /// The union's st_dev.
    pub dev: u64,
    /// The id of the branch asked about.
    pub id: u32,
    /// `RFS_IOC_MEMBERS`.
    pub ask: Ask,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The objects that hold BRANCH or could not be checked.
    pub entries: Vec<Entry>,
    /// Processes this process may not (wholly) read.
    pub unreadable: usize,
}

impl Scan {
    /// Whether anything holds BRANCH.
    pub fn holds(&self) -> bool {
        self.entries.iter().any(|e| e.holds)
    }
}

fn kind_of(ft: FileType) -> &'static str {
    match ft {
        FileType::RegularFile => "file",
        FileType::Directory => "directory",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "char device",
        FileType::BlockDevice => "block device",
        FileType::Symlink => "symlink",
        _ => "unknown",
    }
}

/// This process may not read it (ptrace access to another user's process).
fn denied_by(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == Errno::ACCESS.raw_os_error() || c == Errno::PERM.raw_os_error())
}

/// The result of looking at one object.
enum Looked {
    /// Not an object of the union (or gone meanwhile).
    NotOurs,
    /// Checked, or not (a FIFO, ...), with its type.
    Seen { kind: &'static str, members: Result<Members, String> },
}

/// Looks at the object `path` leads to (a /proc magic link, followed, or
/// a path, not followed): an object of the union is opened `O_PATH`,
/// its type read, and, if it is a regular file or directory, reopened
/// read-only (never blocking, never a controlling tty) through
/// /proc/self/fd and asked `RFS_IOC_MEMBERS`.
fn look(t: &Target, path: &Path, follow: bool) -> Result<Looked, Fail> {
    let nofollow = if follow { OFlags::empty() } else { OFlags::NOFOLLOW };
    // Gone, not ours to read, or not reached: nothing of the union's
    // that can be told (and no reason to stop looking at the others).
    let Ok(opath) = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC | nofollow, Mode::empty()) else {
        return Ok(Looked::NotOurs);
    };
    match rustix::fs::fstat(&opath) {
        Ok(st) if st.st_dev == t.dev => look_at(t, path, opath, FileType::from_raw_mode(st.st_mode)),
        _ => Ok(Looked::NotOurs),
    }
}

/// [`look`] on the `O_PATH` file `opath` of an object of the union.
fn look_at(t: &Target, path: &Path, opath: OwnedFd, ft: FileType) -> Result<Looked, Fail> {
    let kind = kind_of(ft);
    let extra = match ft {
        FileType::RegularFile => OFlags::empty(),
        FileType::Directory => OFlags::DIRECTORY,
        _ => return Ok(Looked::Seen { kind, members: Err(format!("not checked: a {kind}")) }),
    };
    let again = format!("/proc/self/fd/{}", opath.as_raw_fd());
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC | extra;
    let fd: OwnedFd = match rustix::fs::open(again.as_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => return Ok(Looked::Seen { kind, members: Err(format!("not checked: open: {}", errno_text(e))) }),
    };
    drop(opath);
    match (t.ask)(fd.as_fd()) {
        Ok(m) => Ok(Looked::Seen { kind, members: Ok(m) }),
        Err(Errno::NOTTY) => Err(enotty(path)),
        Err(e) => Ok(Looked::Seen { kind, members: Err(format!("not checked: RFS_IOC_MEMBERS: {}", errno_text(e))) }),
    }
}

fn errno_text(e: Errno) -> String {
    let s = std::io::Error::from(e).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Adds what `look` found to `out` if it holds BRANCH or was not checked:
/// a file holds BRANCH through its top member, a directory through any,
/// a mapping through the member whose branch file is mapped (the top one
/// when none is said to be: an older module, or a mapping of a member the
/// object no longer lists).
fn record(t: &Target, base: Entry, looked: Looked, out: &mut Vec<Entry>) {
    let Looked::Seen { kind, members } = looked else { return };
    let mut e = Entry { kind, ..base };
    match members {
        Ok(m) => {
            e.checked = true;
            let mapped = if e.what == What::Mmap { m.mapped_ids() } else { Vec::new() };
            e.holds = if kind == "directory" {
                m.ids.contains(&t.id)
            } else if !mapped.is_empty() {
                mapped.contains(&t.id)
            } else {
                m.ids.first() == Some(&t.id)
            };
            e.upper = Some(m.upper);
            e.branches = Some(if mapped.is_empty() { m.ids } else { mapped });
        }
        Err(note) => e.note = Some(note),
    }
    if e.holds || !e.checked {
        out.push(e);
    }
}

fn lossy(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The cwd, root and fds of process `pid`.
fn links(t: &Target, proc: &Path, pid: u32, command: &str, scan: &mut Scan, denied: &mut bool) -> Result<(), Fail> {
    let dir = proc.join(pid.to_string());
    let base = |what, fd, path: String| Entry {
        pid,
        command: command.to_owned(),
        what,
        fd,
        path,
        kind: "unknown",
        holds: false,
        checked: false,
        branches: None,
        upper: None,
        note: None,
    };
    for (what, name) in [(What::Cwd, "cwd"), (What::Root, "root")] {
        let link = dir.join(name);
        let shown = match std::fs::read_link(&link) {
            Ok(p) => p,
            Err(e) => {
                *denied |= denied_by(&e);
                continue;
            }
        };
        let looked = look(t, &link, true)?;
        record(t, base(what, None, lossy(&shown)), looked, &mut scan.entries);
    }
    let fds = match std::fs::read_dir(dir.join("fd")) {
        Ok(rd) => rd,
        Err(e) => {
            *denied |= denied_by(&e);
            return Ok(());
        }
    };
    let mut nums: Vec<u32> = fds.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    nums.sort_unstable();
    for n in nums {
        let link = dir.join("fd").join(n.to_string());
        // A cheap look first: most fds are not the union's.
        match rustix::fs::statat(CWD, &link, AtFlags::empty()) {
            Ok(st) if st.st_dev == t.dev => {}
            _ => continue,
        }
        let Ok(shown) = std::fs::read_link(&link) else { continue };
        let looked = look(t, &link, true)?;
        record(t, base(What::Fd, Some(n), lossy(&shown)), looked, &mut scan.entries);
    }
    Ok(())
}

/// The file mappings of process `pid` of objects of the union: those with
/// the union's device (maps shows the union file's inode).
fn maps(t: &Target, proc: &Path, pid: u32, command: &str, scan: &mut Scan, denied: &mut bool) -> Result<(), Fail> {
    let union_dev = (rustix::fs::major(t.dev), rustix::fs::minor(t.dev));
    let text = match std::fs::read(proc.join(pid.to_string()).join("maps")) {
        Ok(t) => t,
        Err(e) => {
            *denied |= denied_by(&e);
            return Ok(());
        }
    };
    let mut seen = HashSet::new();
    for line in text.split(|&c| c == b'\n') {
        let Some(m) = parse_maps_line(line) else { continue };
        if m.dev != union_dev {
            continue;
        }
        let path = PathBuf::from(OsString::from_vec(m.path.clone()));
        if !seen.insert((m.path.clone(), m.dev, m.ino)) {
            continue;
        }
        let mut shown = lossy(&path);
        if m.deleted {
            shown.push_str(" (deleted)");
        }
        let mut e = Entry {
            pid,
            command: command.to_owned(),
            what: What::Mmap,
            fd: None,
            path: shown,
            kind: "file",
            holds: false,
            checked: false,
            branches: None,
            upper: None,
            note: None,
        };
        // The mapped file's union object: through map_files (root only),
        // else by its path (not for a deleted one: another file may have
        // its name now).
        let link = proc.join(pid.to_string()).join("map_files").join(format!("{:x}-{:x}", m.start, m.end));
        let mut looked = look(t, &link, true)?;
        if matches!(looked, Looked::NotOurs) && !m.deleted {
            looked = look(t, &path, false)?;
        }
        if matches!(looked, Looked::NotOurs) {
            e.kind = "unknown";
            e.note = Some(
                if m.deleted { "not checked: deleted (map_files needs root)" } else { "not checked: cannot be opened" }
                    .into(),
            );
            scan.entries.push(e);
            continue;
        }
        record(t, e, looked, &mut scan.entries);
    }
    Ok(())
}

/// Every process's hold on the union, but this one's.
pub fn scan(t: &Target, proc: &Path) -> Result<Scan, Fail> {
    let rd = std::fs::read_dir(proc).map_err(|e| Fail::io(e, format!("read {}", proc.display())))?;
    let mut pids: Vec<u32> = rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    let me = std::process::id();
    let mut s = Scan::default();
    for pid in pids.into_iter().filter(|&p| p != me) {
        let comm = match std::fs::read(proc.join(pid.to_string()).join("comm")) {
            Ok(c) => String::from_utf8_lossy(c.strip_suffix(b"\n").unwrap_or(&c)).into_owned(),
            Err(_) => continue,
        };
        let mut denied = false;
        links(t, proc, pid, &comm, &mut s, &mut denied)?;
        maps(t, proc, pid, &comm, &mut s, &mut denied)?;
        s.unreadable += usize::from(denied);
    }
    Ok(s)
}

/// Builds the target: the union's st_dev, BRANCH among its branches, and
/// a first `RFS_IOC_MEMBERS` on its root (so an older module is told at once).
pub fn target(mount_point: &Path, branches: Vec<Branch>, which: &Which) -> Result<Target, Fail> {
    let id = pick(which, &branches, mount_point, &identity)?.id.unwrap_or_default();
    let root = rustix::fs::open(
        mount_point,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Fail::errno(e, format!("open {}", mount_point.display())))?;
    let dev = rustix::fs::fstat(&root).map_err(|e| Fail::errno(e, format!("stat {}", mount_point.display())))?.st_dev;
    match members(&root) {
        Ok(_) => {}
        Err(Errno::NOTTY) => return Err(enotty(mount_point)),
        Err(e) => return Err(Fail::errno(e, format!("RFS_IOC_MEMBERS on {}", mount_point.display()))),
    }
    Ok(Target { dev, id, ask: ask_kernel })
}

/// The human table: PID, COMMAND, WHAT, PATH; the objects not checked
/// with why at the end of their line.
pub fn table(entries: &[Entry]) -> String {
    let mut s = String::new();
    if entries.is_empty() {
        return s;
    }
    let cw = entries.iter().map(|e| e.command.chars().count()).max().unwrap_or(0).max(7);
    let _ = writeln!(s, "{:>7}  {:<cw$}  {:<6}  PATH", "PID", "COMMAND", "WHAT");
    for e in entries {
        let note = e.note.as_deref().map(|n| format!("  ({n})")).unwrap_or_default();
        let path = e.path.replace('\n', "\\n");
        let _ = writeln!(s, "{:>7}  {:<cw$}  {:<6}  {}{}", e.pid, e.command, e.what_text(), path, note);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_matches_the_kernel() {
        assert_eq!(MEMBERS as u64, (2 << 30) | (256 << 16) | (u64::from(b'r') << 8) | 0x83);
        assert_eq!(MEMBERS as u64, 0x8100_7283);
    }

    #[test]
    fn decodes_the_buffer() {
        let mut b = [0u32; 64];
        b[0] = 2;
        b[1] = 1;
        b[2] = 65;
        b[3] = 64;
        b[4] = 99; // past count
        assert_eq!(decode(&b), Members { ids: vec![65, 64], upper: true, mapped: None });
        assert!(decode(&b).mapped_ids().is_empty(), "an older module tells no mappings");
        // Mapped bits known; the member at position 1 (64) is mapped.
        b[1] = 1 | 2 | (1 << 3);
        assert_eq!(decode(&b), Members { ids: vec![65, 64], upper: true, mapped: Some(2) });
        assert_eq!(decode(&b).mapped_ids(), vec![64]);
        b[1] = 2 | (0b11 << 2);
        assert_eq!(decode(&b).mapped_ids(), vec![65, 64]);
        b[0] = 1000;
        b[1] = 2;
        assert_eq!(decode(&b).ids.len(), MEMBERS_MAX);
        assert!(!decode(&b).upper);
        assert_eq!(decode(&b).mapped, Some(0));
    }

    #[test]
    fn maps_lines() {
        let l = parse_maps_line(b"7f01a000-7f01b000 r--s 00000000 fd:01 1234                       /mnt/u/f").unwrap();
        assert_eq!(l.start, 0x7f01_a000);
        assert_eq!(l.end, 0x7f01_b000);
        assert_eq!(l.dev, (0xfd, 1));
        assert_eq!(l.ino, 1234);
        assert_eq!(l.path, b"/mnt/u/f");
        assert!(!l.deleted);

        // Spaces in the name are kept, to the end of the line.
        let l = parse_maps_line(b"1000-2000 r-xp 00001000 08:02 77   /mnt/a b/  two  spaces ").unwrap();
        assert_eq!(l.path, b"/mnt/a b/  two  spaces ");

        // A newline is escaped as \012; other backslashes are as they are.
        let l = parse_maps_line(b"1000-2000 r--p 00000000 103:0a 5 /m/x\\012y\\n\\134").unwrap();
        assert_eq!(l.path, b"/m/x\ny\\n\\134");
        assert_eq!(l.dev, (0x103, 0xa));

        // " (deleted)" is no part of the name.
        let l = parse_maps_line(b"1000-2000 r--s 00000000 00:2a 9 /mnt/u/gone (deleted)").unwrap();
        assert_eq!(l.path, b"/mnt/u/gone");
        assert!(l.deleted);

        // Anonymous and special mappings.
        let l = parse_maps_line(b"1000-2000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!((l.path.as_slice(), l.ino), (&b""[..], 0));
        let l = parse_maps_line(b"1000-2000 rw-p 00000000 00:00 0").unwrap();
        assert!(l.path.is_empty());
        let l = parse_maps_line(b"7ffc0000-7ffc1000 rw-p 00000000 00:00 0                          [stack]").unwrap();
        assert_eq!(l.path, b"[stack]");

        assert!(parse_maps_line(b"").is_none());
        assert!(parse_maps_line(b"garbage line").is_none());
        assert!(parse_maps_line(b"1000-2000 rw-p 00000000 0000 0 /x").is_none());
        assert!(parse_maps_line(b"1000-zz rw-p 00000000 00:00 0 /x").is_none());
    }

    #[test]
    fn branch_spellings() {
        assert_eq!(parse_which(OsStr::new("#2")), Which::Index(2));
        assert_eq!(parse_which(OsStr::new("id:65")), Which::Id(65));
        assert_eq!(parse_which(OsStr::new("./#2")), Which::Path("./#2".into()));
        assert_eq!(parse_which(OsStr::new("#x")), Which::Path("#x".into()));
        assert_eq!(parse_which(OsStr::new("#")), Which::Path("#".into()));
        assert_eq!(parse_which(OsStr::new("id:")), Which::Path("id:".into()));
        assert_eq!(parse_which(OsStr::new("/b/1")), Which::Path("/b/1".into()));
    }

    fn br(index: usize, id: u32, path: &str) -> Branch {
        Branch { index, id: Some(id), path: path.into(), perm: "ro".into(), lookups: None }
    }

    #[test]
    fn picks_the_branch() {
        let bs = vec![br(0, 64, "/b0"), br(1, 65, "/b1")];
        let m = Path::new("/mnt");
        // Identities as stat would give them: /x/../b1 and /link are /b1.
        let id_of = |p: &Path| -> std::io::Result<(u64, u64)> {
            match p.to_str().unwrap() {
                "/b0" | "/b0/" => Ok((1, 10)),
                "/b1" | "/x/../b1" | "/link" => Ok((1, 11)),
                "/other" => Ok((1, 12)),
                _ => Err(std::io::Error::from_raw_os_error(2)),
            }
        };
        assert_eq!(pick(&Which::Index(1), &bs, m, &id_of).unwrap().id, Some(65));
        assert_eq!(pick(&Which::Id(64), &bs, m, &id_of).unwrap().index, 0);
        assert_eq!(pick(&Which::Path("/link".into()), &bs, m, &id_of).unwrap().id, Some(65));
        assert_eq!(pick(&Which::Path("/x/../b1".into()), &bs, m, &id_of).unwrap().id, Some(65));
        assert_eq!(pick(&Which::Path("/b0/".into()), &bs, m, &id_of).unwrap().id, Some(64));
        let e = pick(&Which::Path("/other".into()), &bs, m, &id_of).unwrap_err();
        assert!(e.usage && e.msg.contains("/other: not a branch of the union mounted at /mnt"), "{}", e.msg);
        let e = pick(&Which::Path("/missing".into()), &bs, m, &id_of).unwrap_err();
        assert_eq!(e.errno, Some(2));
        assert!(pick(&Which::Index(2), &bs, m, &id_of).unwrap_err().msg.starts_with("#2: not a branch"));
        assert!(pick(&Which::Id(1), &bs, m, &id_of).unwrap_err().msg.starts_with("id:1: not a branch"));
        let no_ids = vec![Branch { id: None, ..br(0, 0, "/b0") }];
        let e = pick(&Which::Index(0), &no_ids, m, &id_of).unwrap_err();
        assert!(e.msg.contains("branch ids are not in /sys/fs/rfs"), "{}", e.msg);
    }

    fn entry(pid: u32, what: What, fd: Option<u32>, path: &str) -> Entry {
        Entry {
            pid,
            command: "sleep".into(),
            what,
            fd,
            path: path.into(),
            kind: "file",
            holds: true,
            checked: true,
            branches: Some(vec![65]),
            upper: Some(false),
            note: None,
        }
    }

    #[test]
    fn table_and_json() {
        assert_eq!(table(&[]), "");
        let mut nc = entry(9, What::Fd, Some(4), "/mnt/p");
        nc.kind = "fifo";
        nc.holds = false;
        nc.checked = false;
        nc.branches = None;
        nc.upper = None;
        nc.note = Some("not checked: a fifo".into());
        let es = vec![entry(7, What::Cwd, None, "/mnt/d"), entry(8, What::Fd, Some(3), "/mnt/f\ng"), nc];
        let t = table(&es);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines[0], "    PID  COMMAND  WHAT    PATH");
        assert_eq!(lines[1], "      7  sleep    cwd     /mnt/d");
        assert_eq!(lines[2], "      8  sleep    fd 3    /mnt/f\\ng", "a newline in a name keeps one line");
        assert_eq!(lines[3], "      9  sleep    fd 4    /mnt/p  (not checked: a fifo)");
        let j = serde_json::to_value(&es).unwrap();
        assert_eq!(j[0]["what"], "cwd");
        assert!(j[0].get("fd").is_none());
        assert_eq!(j[1]["fd"], 3);
        assert_eq!(j[1]["type"], "file");
        assert_eq!(j[1]["branches"][0], 65);
        assert_eq!(j[2]["checked"], false);
        assert_eq!(j[2]["note"], "not checked: a fifo");
        assert!(j[2].get("branches").is_none());
    }

    /// The objects the stand-in for the kernel says are in branch 65 (the
    /// rest are in 63, another union's): (st_dev, st_ino).
    static IN_65: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());
    /// The files it says were mapped from branch 65 and then copied up to
    /// branch 64: members 64 (top) and 65, 65's file mapped.
    static MAPPED_65: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

    fn ask_test(fd: BorrowedFd<'_>) -> Result<Members, Errno> {
        let st = rustix::fs::fstat(fd)?;
        if MAPPED_65.lock().unwrap().contains(&(st.st_dev, st.st_ino)) {
            return Ok(Members { ids: vec![64, 65], upper: true, mapped: Some(0b10) });
        }
        let in65 = IN_65.lock().unwrap().contains(&(st.st_dev, st.st_ino));
        Ok(Members { ids: vec![if in65 { 65 } else { 63 }], upper: !in65, mapped: Some(0) })
    }

    /// The walk over this machine's /proc, a directory standing for the
    /// union (its st_dev) and for branch 65, and a child process holding
    /// it: a copy of sleep(1) run from it (a mapping), its cwd in it, a
    /// file as its stdin, a FIFO as its stdout.
    #[test]
    fn walks_proc() {
        use std::os::unix::fs::PermissionsExt;
        use std::process::{Command, Stdio};
        let sleep = ["/bin/sleep", "/usr/bin/sleep"].into_iter().find(|p| Path::new(p).exists());
        let (Some(sleep), true) = (sleep, Path::new("/proc/self/maps").exists()) else { return };
        let d = std::env::temp_dir().join(format!("rfsctl-busy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("dir")).unwrap();
        std::fs::write(d.join("file"), b"data").unwrap();
        std::fs::copy(sleep, d.join("sleep")).unwrap();
        std::fs::set_permissions(d.join("sleep"), std::fs::Permissions::from_mode(0o755)).unwrap();
        rustix::fs::mknodat(CWD, d.join("fifo"), FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        for p in ["dir", "file"] {
            let st = rustix::fs::stat(d.join(p)).unwrap();
            IN_65.lock().unwrap().push((st.st_dev, st.st_ino));
        }
        let st = rustix::fs::stat(d.join("sleep")).unwrap();
        MAPPED_65.lock().unwrap().push((st.st_dev, st.st_ino));
        let spawn = || {
            let fifo = std::fs::OpenOptions::new().read(true).write(true).open(d.join("fifo")).unwrap();
            Command::new(d.join("sleep"))
                .arg("30")
                .current_dir(d.join("dir"))
                .stdin(std::fs::File::open(d.join("file")).unwrap())
                .stdout(Stdio::from(fifo))
                .stderr(Stdio::null())
                .spawn()
        };
        // ETXTBSY while another test's fork still has the copy open.
        let mut child = spawn();
        for _ in 0..20 {
            match &child {
                Err(e) if e.raw_os_error() == Some(Errno::TXTBSY.raw_os_error()) => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    child = spawn();
                }
                _ => break,
            }
        }
        let mut child = child.unwrap();
        let pid = child.id();
        let dev = rustix::fs::stat(&d).unwrap().st_dev;
        let mut t = Target { dev, id: 65, ask: ask_test };
        let s65 = scan(&t, Path::new("/proc"));
        t.id = 64;
        let s64 = scan(&t, Path::new("/proc"));
        let _ = child.kill();
        let _ = child.wait();
        std::fs::remove_dir_all(&d).unwrap();

        let mine = |s: &Scan| s.entries.iter().filter(|e| e.pid == pid).cloned().collect::<Vec<_>>();
        let got: Vec<_> = mine(&s65.unwrap())
            .iter()
            .map(|e| (e.what_text(), e.path.clone(), e.kind, e.holds, e.note.clone(), e.branches.clone()))
            .collect();
        let at = |p: &str| d.join(p).to_string_lossy().into_owned();
        assert_eq!(
            got,
            vec![
                ("cwd".into(), at("dir"), "directory", true, None, Some(vec![65])),
                ("fd 0".into(), at("file"), "file", true, None, Some(vec![65])),
                ("fd 1".into(), at("fifo"), "fifo", false, Some("not checked: a fifo".into()), None),
                // Its top member is 64, but the file mapped is 65's.
                ("mmap".into(), at("sleep"), "file", true, None, Some(vec![65])),
            ]
        );
        // Branch 64 (the copy's): only the FIFO is listed (not checked);
        // nothing holds it.
        let got = mine(&s64.unwrap());
        assert_eq!(got.iter().map(|e| (e.what_text(), e.holds)).collect::<Vec<_>>(), vec![("fd 1".into(), false)]);
    }
}
