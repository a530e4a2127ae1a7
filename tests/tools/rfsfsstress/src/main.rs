//! rfsfsstress: the multi-process namespace stressor of tests/integrity.sh,
//! in the style of fsstress (our own code), with a consistency pass.
//!
//! ```text
//! rfsfsstress [--seed N] [--procs N] [--ops N] [--no-xattr] [--lax-dino] [-q] [-v] --dir DIR
//!     fork N processes (default 4) that run M random operations each
//!     (default 1000) in the tree under DIR, all in one shared namespace,
//!     then run the consistency pass (DIR is made if it is missing)
//! rfsfsstress --populate [--seed N] --dir DIR
//!     make a starting tree in DIR (directly in a branch, before the mount):
//!     directories, files of records, hard links, symlinks, user.* xattrs
//! rfsfsstress --check [--lax-dino] --dir DIR
//!     the consistency pass only (e.g. after umount and mount)
//! ```
//!
//! --no-xattr leaves the xattr operations out (a filesystem without user.*
//! xattrs). --lax-dino reports a readdir d_ino that is not the name's
//! st_ino as "known rfs bug (inode number reuse)" without counting it as a
//! problem: rfs maps an inode number the writable branch's filesystem
//! reuses to the union number of the removed object that had it
//! (tests/integrity.sh, ino_reuse_case). Drop the option once that is fixed.
//!
//! Names come from a small set, so the processes collide: directories
//! d0..d3 (up to 3 levels), files f0..f7 and symlinks s0..s2 in each; now
//! and then an operation uses a name of another kind (a rename of a file
//! over a directory, ...). Operations: create (O_EXCL, O_TRUNC or neither,
//! then a write), mkdir, rmdir, unlink, rename (files and directories, over
//! existing targets, sometimes RENAME_NOREPLACE), link, symlink, readlink,
//! write (open of an existing file O_WRONLY or O_RDWR, which copies a lower
//! file up, and pwrite), truncate(2), chmod, setxattr and removexattr of
//! user.* names, readdir (no `.wh.` name may show), lstat, read to the end,
//! open O_RDWR + fsync of an existing file. Opens use O_NOFOLLOW, and
//! symlink targets never contain "..", so nothing outside DIR is touched.
//!
//! Errors: the errnos of the documented races are counted, never fatal:
//! ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ELOOP (symlink loops made by
//! renames), EXDEV (rename of a directory that has entries: rfs refuses
//! it as AUFS does), EINVAL (rename into its own subdirectory; readlink of
//! a non-symlink), EPERM (link of a directory), ENODATA (xattr flags). An
//! ESTALE is retried once (rfs.rst, Copy-up: a copy-up whose name changed
//! meanwhile gives it to calls on open files); a second one fails. Any other
//! errno (EIO, EUCLEAN, ENOMEM, EFAULT, ...) or a process that dies is a
//! failure.
//!
//! File data is made of 64-byte records (magic, slot index, writer, hash),
//! written at 64-byte aligned offsets; sizes are multiples of 64. So every
//! slot of every file must be a valid record for its offset or zeros (a
//! hole), whatever the races did.
//!
//! The consistency pass walks the tree (lstat, no symlink followed):
//! every readdir entry stats; no `.wh.` name and no duplicate is listed;
//! d_ino is st_ino and d_type the lstat type (rfs.rst, Readdir); lstat of
//! each name equals fstat of an open of it (O_NOFOLLOW; O_PATH for
//! symlinks); every file reads to its size and holds only records or zeros;
//! names with one inode number have the same attributes and data; a symlink
//! reads back with its st_size; a directory's st_nlink is 1 (unknown, for
//! a merged directory) or 2 + its subdirectories.
//!
//! Output: one line per operation ("create 1234: ok 1000, ENOENT 200, ..."),
//! the unexpected errors and data problems (at most 20 per process), then the
//! check's summary. Exit status: 0 when nothing unexpected happened, 1
//! otherwise, 2 for usage errors.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::io::{self, Read, Write};
use std::os::unix::io::FromRawFd;

const DIRN: u64 = 4; // d0..d3
const FILEN: u64 = 8; // f0..f7
const SYMN: u64 = 3; // s0..s2
const REC: usize = 64;
const MAGIC: &[u8; 4] = b"FSS1";

// --- random numbers ---------------------------------------------------------------

/// xorshift64* seeded through splitmix64.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

// --- records ------------------------------------------------------------------------

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x1000_0000_01b3);
    }
    h
}

/// The record for slot `slot` written by `writer` in its operation `seq`.
fn record(slot: u64, writer: u32, seq: u32) -> [u8; REC] {
    let mut r = [0u8; REC];
    r[0..4].copy_from_slice(MAGIC);
    r[4..8].copy_from_slice(&(slot as u32).to_le_bytes());
    r[8..12].copy_from_slice(&writer.to_le_bytes());
    r[12..16].copy_from_slice(&seq.to_le_bytes());
    let mut x = Rng::new(slot ^ ((writer as u64) << 32) ^ ((seq as u64) << 48));
    for b in &mut r[16..56] {
        *b = (x.next() as u8) | 1;
    }
    let h = fnv(&r[0..56]);
    r[56..64].copy_from_slice(&h.to_le_bytes());
    r
}

fn records(slot: u64, n: u64, writer: u32, seq: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(n as usize * REC);
    for i in 0..n {
        v.extend_from_slice(&record(slot + i, writer, seq));
    }
    v
}

/// None if `data` (a whole file) is made of valid records and zeros, else
/// what is wrong with the first bad slot.
fn check_records(data: &[u8]) -> Option<String> {
    if !data.len().is_multiple_of(REC) {
        return Some(format!("size {} is not a multiple of {}", data.len(), REC));
    }
    for (i, r) in data.chunks(REC).enumerate() {
        if r.iter().all(|&b| b == 0) {
            continue;
        }
        let slot = u32::from_le_bytes(r[4..8].try_into().unwrap());
        let h = u64::from_le_bytes(r[56..64].try_into().unwrap());
        if &r[0..4] != MAGIC || h != fnv(&r[0..56]) {
            let zeros = r.iter().filter(|&&b| b == 0).count();
            return Some(format!(
                "offset {} ({:#x}): neither a record nor zeros ({} zero bytes; first bytes {:02x?})",
                i * REC,
                i * REC,
                zeros,
                &r[0..16]
            ));
        }
        if slot as usize != i {
            return Some(format!(
                "offset {:#x}: the record of slot {} (offset {:#x}) is here (writer {}, op {})",
                i * REC,
                slot,
                slot as usize * REC,
                u32::from_le_bytes(r[8..12].try_into().unwrap()),
                u32::from_le_bytes(r[12..16].try_into().unwrap())
            ));
        }
    }
    None
}

// --- system calls ---------------------------------------------------------------------

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn errno_name(e: i32) -> String {
    let s = match e {
        0 => "ok",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EMLINK => "EMLINK",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENODATA => "ENODATA",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ESTALE => "ESTALE",
        libc::EUCLEAN => "EUCLEAN",
        libc::ENOSYS => "ENOSYS",
        _ => "",
    };
    if s.is_empty() {
        format!("E{}", e)
    } else {
        s.to_string()
    }
}

fn cs(s: &str) -> CString {
    CString::new(s).expect("path with NUL")
}

/// -1 -> Err(errno)
fn rc(r: i64) -> Result<i64, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn lstat(p: &str) -> Result<libc::stat, i32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let c = cs(p);
    rc(unsafe { libc::lstat(c.as_ptr(), &mut st) } as i64)?;
    Ok(st)
}

fn fstat(fd: i32) -> Result<libc::stat, i32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    rc(unsafe { libc::fstat(fd, &mut st) } as i64)?;
    Ok(st)
}

fn open(p: &str, flags: i32, mode: u32) -> Result<i32, i32> {
    let c = cs(p);
    rc(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) } as i64).map(|fd| fd as i32)
}

fn close(fd: i32) {
    unsafe { libc::close(fd) };
}

fn pwrite_all(fd: i32, buf: &[u8], off: u64) -> Result<(), i32> {
    let mut done = 0;
    while done < buf.len() {
        let r = rc(unsafe {
            libc::pwrite(
                fd,
                buf[done..].as_ptr() as *const libc::c_void,
                buf.len() - done,
                (off + done as u64) as i64,
            )
        } as i64)?;
        done += r as usize;
    }
    Ok(())
}

/// Reads an open descriptor to EOF.
fn read_all(fd: i32) -> Result<Vec<u8>, i32> {
    let mut v = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let r = rc(unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) } as i64)?;
        if r == 0 {
            return Ok(v);
        }
        v.extend_from_slice(&buf[..r as usize]);
    }
}

fn readlink(p: &str) -> Result<Vec<u8>, i32> {
    let c = cs(p);
    let mut buf = vec![0u8; 4096];
    let n = rc(unsafe { libc::readlink(c.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) } as i64)?;
    buf.truncate(n as usize);
    Ok(buf)
}

/// (name, d_ino, d_type) of every entry but . and ..
fn readdir(p: &str) -> Result<Vec<(String, u64, u8)>, i32> {
    let c = cs(p);
    let d = unsafe { libc::opendir(c.as_ptr()) };
    if d.is_null() {
        return Err(errno());
    }
    let mut v = Vec::new();
    loop {
        unsafe { *libc::__errno_location() = 0 };
        let e = unsafe { libc::readdir64(d) };
        if e.is_null() {
            let err = errno();
            unsafe { libc::closedir(d) };
            if err != 0 {
                return Err(err);
            }
            return Ok(v);
        }
        let (name, ino, ty) = unsafe {
            (
                CStr::from_ptr((*e).d_name.as_ptr()).to_string_lossy().into_owned(),
                (*e).d_ino,
                (*e).d_type,
            )
        };
        if name != "." && name != ".." {
            v.push((name, ino, ty));
        }
    }
}

fn ftype(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR => "chardev",
        libc::S_IFBLK => "blockdev",
        _ => "?",
    }
}

fn dtype_mode(t: u8) -> Option<u32> {
    match t {
        libc::DT_REG => Some(libc::S_IFREG),
        libc::DT_DIR => Some(libc::S_IFDIR),
        libc::DT_LNK => Some(libc::S_IFLNK),
        libc::DT_FIFO => Some(libc::S_IFIFO),
        libc::DT_SOCK => Some(libc::S_IFSOCK),
        libc::DT_CHR => Some(libc::S_IFCHR),
        libc::DT_BLK => Some(libc::S_IFBLK),
        _ => None,
    }
}

// --- names --------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Dir,
    File,
    Sym,
}

/// A random directory below the root ("" is the root): 0 to 3 levels.
fn rand_dir(r: &mut Rng) -> String {
    let depth = match r.below(100) {
        0..=24 => 0,
        25..=59 => 1,
        60..=84 => 2,
        _ => 3,
    };
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str(&format!("d{}/", r.below(DIRN)));
    }
    s
}

fn rand_name(r: &mut Rng, k: Kind) -> String {
    match k {
        Kind::Dir => format!("d{}", r.below(DIRN)),
        Kind::File => format!("f{}", r.below(FILEN)),
        Kind::Sym => format!("s{}", r.below(SYMN)),
    }
}

/// A path of kind `k` (or, `other` % of the time, of a random kind).
fn rand_path(r: &mut Rng, k: Kind, other: u64) -> String {
    let k = if r.pct(other) {
        [Kind::Dir, Kind::File, Kind::Sym][r.below(3) as usize]
    } else {
        k
    };
    let d = rand_dir(r);
    format!("{}{}", d, rand_name(r, k))
}

/// A symlink target: relative, without "..", so it stays inside the tree.
fn rand_target(r: &mut Rng) -> String {
    match r.below(5) {
        0 | 1 => rand_name(r, Kind::File),
        2 => format!("{}/{}", rand_name(r, Kind::Dir), rand_name(r, Kind::File)),
        3 => rand_name(r, Kind::Dir),
        _ => "nowhere/x".into(),
    }
}

// --- operations ------------------------------------------------------------------------

const ENOENT: i32 = libc::ENOENT;
const EEXIST: i32 = libc::EEXIST;
const ENOTDIR: i32 = libc::ENOTDIR;
const EISDIR: i32 = libc::EISDIR;
const ELOOP: i32 = libc::ELOOP;
const ENOTEMPTY: i32 = libc::ENOTEMPTY;

/// (name, weight, the errnos counted as the documented races)
const OPS: &[(&str, u64, &[i32])] = &[
    ("create", 12, &[ENOENT, ENOTDIR, EEXIST, EISDIR, ELOOP]),
    ("mkdir", 8, &[ENOENT, ENOTDIR, EEXIST, ELOOP]),
    ("rmdir", 5, &[ENOENT, ENOTDIR, ENOTEMPTY, ELOOP]),
    ("unlink", 7, &[ENOENT, ENOTDIR, EISDIR, ELOOP]),
    (
        "rename",
        12,
        &[
            ENOENT,
            ENOTDIR,
            EISDIR,
            EEXIST,
            ENOTEMPTY,
            libc::EXDEV,
            libc::EINVAL,
            ELOOP,
        ],
    ),
    ("link", 5, &[ENOENT, ENOTDIR, EEXIST, libc::EPERM, ELOOP]),
    ("symlink", 4, &[ENOENT, ENOTDIR, EEXIST, ELOOP]),
    ("readlink", 3, &[ENOENT, ENOTDIR, libc::EINVAL, ELOOP]),
    ("write", 12, &[ENOENT, ENOTDIR, EISDIR, ELOOP]),
    ("truncate", 5, &[ENOENT, ENOTDIR, EISDIR, ELOOP]),
    ("chmod", 4, &[ENOENT, ENOTDIR, ELOOP]),
    ("setxattr", 4, &[ENOENT, ENOTDIR, EEXIST, libc::ENODATA, ELOOP]),
    ("removexattr", 2, &[ENOENT, ENOTDIR, libc::ENODATA, ELOOP]),
    ("readdir", 6, &[ENOENT, ENOTDIR, ELOOP]),
    ("stat", 8, &[ENOENT, ENOTDIR, ELOOP]),
    ("read", 4, &[ENOENT, ENOTDIR, EISDIR, ELOOP]),
    ("open-rw", 4, &[ENOENT, ENOTDIR, EISDIR, ELOOP]),
];

struct Proc {
    id: u32,
    dir: String,
    rng: Rng,
    seq: u32,
    xattr: bool,
    verbose: bool,
    /// op name -> errno name -> count ("ok" for success)
    counts: BTreeMap<&'static str, BTreeMap<String, u64>>,
    msgs: Vec<String>,
    bad: u64,
    warns: u64,
}

impl Proc {
    fn p(&self, rel: &str) -> String {
        format!("{}/{}", self.dir, rel)
    }

    fn bad(&mut self, m: String) {
        self.bad += 1;
        if self.msgs.len() < 20 {
            self.msgs.push(m);
        }
    }

    /// Runs one operation: `f` does the system calls and gives Ok or the
    /// errno; ESTALE is retried once.
    fn run(&mut self, op: &'static str, what: &str, mut f: impl FnMut(&mut Proc) -> Result<(), i32>) {
        let mut r = f(self);
        if r == Err(libc::ESTALE) {
            *self
                .counts
                .entry(op)
                .or_default()
                .entry("ESTALE (retried)".into())
                .or_insert(0) += 1;
            r = f(self);
        }
        let name = match r {
            Ok(()) => "ok".to_string(),
            Err(e) => errno_name(e),
        };
        if self.verbose {
            println!("[{}] {} {}: {}", self.id, op, what, name);
        }
        *self.counts.entry(op).or_default().entry(name.clone()).or_insert(0) += 1;
        if let Err(e) = r {
            let ok = OPS.iter().find(|o| o.0 == op).map(|o| o.2).unwrap_or(&[]);
            if !ok.contains(&e) {
                self.bad(format!("{} {}: {}", op, what, name));
            }
        }
    }

    fn one(&mut self) {
        let total: u64 = OPS
            .iter()
            .filter(|o| self.xattr || !o.0.ends_with("xattr"))
            .map(|o| o.1)
            .sum();
        let mut x = self.rng.below(total);
        let mut op = OPS[0].0;
        for o in OPS.iter().filter(|o| self.xattr || !o.0.ends_with("xattr")) {
            if x < o.1 {
                op = o.0;
                break;
            }
            x -= o.1;
        }
        self.seq += 1;
        let (id, seq) = (self.id, self.seq);
        match op {
            "create" => {
                let rel = rand_path(&mut self.rng, Kind::File, 10);
                let p = self.p(&rel);
                let extra = match self.rng.below(4) {
                    0 | 1 => libc::O_EXCL,
                    2 => libc::O_TRUNC,
                    _ => 0,
                };
                let n = 1 + self.rng.below(16);
                self.run(op, &rel, |_| {
                    let fd = open(&p, libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | extra, 0o644)?;
                    let r = pwrite_all(fd, &records(0, n, id, seq), 0);
                    close(fd);
                    r
                });
            }
            "mkdir" => {
                let rel = rand_path(&mut self.rng, Kind::Dir, 10);
                let c = cs(&self.p(&rel));
                self.run(op, &rel, |_| {
                    rc(unsafe { libc::mkdir(c.as_ptr(), 0o755) } as i64).map(|_| ())
                });
            }
            "rmdir" => {
                let rel = rand_path(&mut self.rng, Kind::Dir, 10);
                let c = cs(&self.p(&rel));
                self.run(op, &rel, |_| rc(unsafe { libc::rmdir(c.as_ptr()) } as i64).map(|_| ()));
            }
            "unlink" => {
                let k = if self.rng.pct(70) { Kind::File } else { Kind::Sym };
                let rel = rand_path(&mut self.rng, k, 10);
                let c = cs(&self.p(&rel));
                self.run(op, &rel, |_| rc(unsafe { libc::unlink(c.as_ptr()) } as i64).map(|_| ()));
            }
            "rename" => {
                let k = match self.rng.below(10) {
                    0..=5 => Kind::File,
                    6..=8 => Kind::Dir,
                    _ => Kind::Sym,
                };
                let from = rand_path(&mut self.rng, k, 0);
                let to = rand_path(&mut self.rng, k, 15);
                let flags = if self.rng.pct(20) { libc::RENAME_NOREPLACE } else { 0 };
                let (cf, ct) = (cs(&self.p(&from)), cs(&self.p(&to)));
                let what = format!(
                    "{} -> {}{}",
                    from,
                    to,
                    if flags != 0 { " (RENAME_NOREPLACE)" } else { "" }
                );
                self.run(op, &what, |_| {
                    rc(unsafe {
                        libc::syscall(
                            libc::SYS_renameat2,
                            libc::AT_FDCWD,
                            cf.as_ptr(),
                            libc::AT_FDCWD,
                            ct.as_ptr(),
                            flags,
                        )
                    })
                    .map(|_| ())
                });
            }
            "link" => {
                let from = rand_path(&mut self.rng, Kind::File, 10);
                let to = rand_path(&mut self.rng, Kind::File, 5);
                let (cf, ct) = (cs(&self.p(&from)), cs(&self.p(&to)));
                self.run(op, &format!("{} -> {}", from, to), |_| {
                    rc(unsafe { libc::link(cf.as_ptr(), ct.as_ptr()) } as i64).map(|_| ())
                });
            }
            "symlink" => {
                let rel = rand_path(&mut self.rng, Kind::Sym, 5);
                let t = rand_target(&mut self.rng);
                let (cp, ctg) = (cs(&self.p(&rel)), cs(&t));
                self.run(op, &format!("{} -> {}", rel, t), |_| {
                    rc(unsafe { libc::symlink(ctg.as_ptr(), cp.as_ptr()) } as i64).map(|_| ())
                });
            }
            "readlink" => {
                let rel = rand_path(&mut self.rng, Kind::Sym, 10);
                let p = self.p(&rel);
                self.run(op, &rel, |_| readlink(&p).map(|_| ()));
            }
            "write" => {
                let rel = rand_path(&mut self.rng, Kind::File, 5);
                let p = self.p(&rel);
                let acc = if self.rng.pct(50) { libc::O_WRONLY } else { libc::O_RDWR };
                let n = if self.rng.pct(10) {
                    1 + self.rng.below(256)
                } else {
                    1 + self.rng.below(16)
                };
                let pick = self.rng.next();
                self.run(op, &rel, |_| {
                    let fd = open(&p, acc | libc::O_NOFOLLOW, 0)?;
                    let r = (|| {
                        let st = fstat(fd)?;
                        let slot = pick % (st.st_size as u64 / REC as u64 + 5);
                        pwrite_all(fd, &records(slot, n, id, seq), slot * REC as u64)
                    })();
                    close(fd);
                    r
                });
            }
            "truncate" => {
                let rel = rand_path(&mut self.rng, Kind::File, 5);
                let c = cs(&self.p(&rel));
                let size = REC as i64 * self.rng.below(300) as i64;
                self.run(op, &format!("{} to {}", rel, size), |_| {
                    rc(unsafe { libc::truncate(c.as_ptr(), size) } as i64).map(|_| ())
                });
            }
            "chmod" => {
                let rel = rand_path(&mut self.rng, Kind::File, 30);
                let c = cs(&self.p(&rel));
                let mode = [0o600, 0o640, 0o644, 0o664, 0o700, 0o750, 0o755][self.rng.below(7) as usize];
                self.run(op, &format!("{} {:o}", rel, mode), |_| {
                    rc(unsafe { libc::chmod(c.as_ptr(), mode) } as i64).map(|_| ())
                });
            }
            "setxattr" => {
                let rel = rand_path(&mut self.rng, Kind::File, 30);
                let c = cs(&self.p(&rel));
                let name = cs(&format!("user.k{}", self.rng.below(3)));
                let val = format!("v{}.{}", id, seq);
                let flags = [0, 0, libc::XATTR_CREATE, libc::XATTR_REPLACE][self.rng.below(4) as usize];
                self.run(op, &rel, |_| {
                    rc(unsafe {
                        libc::setxattr(
                            c.as_ptr(),
                            name.as_ptr(),
                            val.as_ptr() as *const libc::c_void,
                            val.len(),
                            flags,
                        )
                    } as i64)
                    .map(|_| ())
                });
            }
            "removexattr" => {
                let rel = rand_path(&mut self.rng, Kind::File, 30);
                let c = cs(&self.p(&rel));
                let name = cs(&format!("user.k{}", self.rng.below(3)));
                self.run(op, &rel, |_| {
                    rc(unsafe { libc::removexattr(c.as_ptr(), name.as_ptr()) } as i64).map(|_| ())
                });
            }
            "readdir" => {
                let rel = rand_dir(&mut self.rng);
                let p = self.p(&rel);
                let mut found = Vec::new();
                self.run(op, &format!("/{}", rel), |_| {
                    found = readdir(&p)?;
                    Ok(())
                });
                let mut names: Vec<&String> = found.iter().map(|e| &e.0).collect();
                if let Some(w) = names.iter().find(|n| n.starts_with(".wh.")) {
                    let m = format!("readdir /{}: lists {}", rel, w);
                    self.bad(m);
                }
                names.sort();
                let n = names.len();
                names.dedup();
                if names.len() != n {
                    // not fatal while others rename in the same directory
                    self.warns += 1;
                    *self
                        .counts
                        .entry(op)
                        .or_default()
                        .entry("duplicate names (warning)".into())
                        .or_insert(0) += 1;
                }
            }
            "stat" => {
                let rel = rand_path(&mut self.rng, Kind::File, 40);
                let p = self.p(&rel);
                self.run(op, &rel, |_| lstat(&p).map(|_| ()));
            }
            "read" => {
                let rel = rand_path(&mut self.rng, Kind::File, 10);
                let p = self.p(&rel);
                self.run(op, &rel, |_| {
                    let fd = open(&p, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
                    let r = read_all(fd).map(|_| ());
                    close(fd);
                    r
                });
            }
            _ => {
                // open-rw: an open for writing of an existing file copies
                // it up; then fsync, close
                let rel = rand_path(&mut self.rng, Kind::File, 5);
                let p = self.p(&rel);
                self.run(op, &rel, |_| {
                    let fd = open(&p, libc::O_RDWR | libc::O_NOFOLLOW, 0)?;
                    let r = rc(unsafe { libc::fsync(fd) } as i64).map(|_| ());
                    close(fd);
                    r
                });
            }
        }
    }

    /// The report a process sends to the parent: "C op errno count" and
    /// "M message" lines.
    fn report(&self) -> String {
        let mut s = String::new();
        for (op, m) in &self.counts {
            for (e, n) in m {
                s.push_str(&format!("C\t{}\t{}\t{}\n", op, e, n));
            }
        }
        for m in &self.msgs {
            s.push_str(&format!("M\tprocess {}: {}\n", self.id, m));
        }
        s.push_str(&format!("B\t{}\t{}\n", self.bad, self.warns));
        s
    }
}

// --- populate ------------------------------------------------------------------------

fn die(m: &str) -> ! {
    eprintln!("rfsfsstress: {}", m);
    std::process::exit(2);
}

fn populate(dir: &str, seed: u64) {
    let mut r = Rng::new(seed ^ 0x5050);
    let mut files: Vec<String> = Vec::new();
    let mut dirs = vec![String::new()];
    let mut i = 0;
    while i < dirs.len() {
        let d = dirs[i].clone();
        i += 1;
        let depth = d.matches('/').count();
        std::fs::create_dir_all(format!("{}/{}", dir, d)).unwrap_or_else(|e| die(&format!("mkdir {}: {}", d, e)));
        for k in 0..FILEN {
            if r.pct(45) {
                let rel = format!("{}f{}", d, k);
                let n = if r.pct(15) { 64 + r.below(1024) } else { r.below(16) };
                let p = format!("{}/{}", dir, rel);
                std::fs::write(&p, records(0, n, 0, 0)).unwrap_or_else(|e| die(&format!("write {}: {}", p, e)));
                if r.pct(20) {
                    let c = cs(&p);
                    let v = b"lower";
                    unsafe {
                        libc::setxattr(
                            c.as_ptr(),
                            c"user.k0".as_ptr(),
                            v.as_ptr() as *const libc::c_void,
                            v.len(),
                            0,
                        )
                    };
                }
                files.push(rel);
            } else if r.pct(10) && !files.is_empty() {
                // a hard link of a file made before
                let src = files[r.below(files.len() as u64) as usize].clone();
                let rel = format!("{}f{}", d, k);
                std::fs::hard_link(format!("{}/{}", dir, src), format!("{}/{}", dir, rel))
                    .unwrap_or_else(|e| die(&format!("link {}: {}", rel, e)));
            }
        }
        for k in 0..SYMN {
            if r.pct(30) {
                let t = rand_target(&mut r);
                std::os::unix::fs::symlink(&t, format!("{}/{}s{}", dir, d, k))
                    .unwrap_or_else(|e| die(&format!("symlink: {}", e)));
            }
        }
        if depth < 3 {
            for k in 0..DIRN {
                if r.pct([80, 55, 35][depth]) {
                    dirs.push(format!("{}d{}/", d, k));
                }
            }
        }
    }
    println!("populate: {} directories, {} files in {}", dirs.len(), files.len(), dir);
}

// --- the consistency pass ------------------------------------------------------------------

/// What all names of one inode show alike: mode, nlink, size, mtime (s, ns)
/// and a hash of the data.
type InodeView = (u32, u64, i64, (i64, i64), u64);

struct Check {
    root: String,
    problems: Vec<String>,
    /// --lax-dino: d_ino mismatches, reported apart
    lax_dino: bool,
    dino: Vec<String>,
    dirs: u64,
    files: u64,
    symlinks: u64,
    others: u64,
    bytes: u64,
    /// st_ino -> the first name seen and what every name of it must share
    inodes: HashMap<u64, (String, InodeView)>,
}

impl Check {
    fn bad(&mut self, m: String) {
        self.problems.push(m);
    }

    fn same(a: &libc::stat, b: &libc::stat) -> Option<String> {
        let fields = [
            ("st_dev", a.st_dev, b.st_dev),
            ("st_ino", a.st_ino, b.st_ino),
            ("st_mode", a.st_mode as u64, b.st_mode as u64),
            ("st_nlink", a.st_nlink, b.st_nlink),
            ("st_uid", a.st_uid as u64, b.st_uid as u64),
            ("st_gid", a.st_gid as u64, b.st_gid as u64),
            ("st_size", a.st_size as u64, b.st_size as u64),
            ("st_blocks", a.st_blocks as u64, b.st_blocks as u64),
            ("st_mtime", a.st_mtime as u64, b.st_mtime as u64),
            ("st_mtime_nsec", a.st_mtime_nsec as u64, b.st_mtime_nsec as u64),
            ("st_ctime", a.st_ctime as u64, b.st_ctime as u64),
        ];
        let d: Vec<String> = fields
            .iter()
            .filter(|f| f.1 != f.2)
            .map(|f| format!("{} {} vs {}", f.0, f.1, f.2))
            .collect();
        if d.is_empty() {
            None
        } else {
            Some(d.join(", "))
        }
    }

    /// lstat of `rel` against fstat of an open of it; for a regular file,
    /// its data too. Returns the lstat.
    fn object(&mut self, rel: &str) -> Option<libc::stat> {
        let p = format!("{}/{}", self.root, rel);
        let name = if rel.is_empty() { "/" } else { rel };
        let st = match lstat(&p) {
            Ok(st) => st,
            Err(e) => {
                self.bad(format!("{}: lstat: {}", name, errno_name(e)));
                return None;
            }
        };
        let fmt = st.st_mode & libc::S_IFMT;
        let flags = match fmt {
            libc::S_IFREG => libc::O_RDONLY | libc::O_NOFOLLOW,
            libc::S_IFDIR => libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_DIRECTORY,
            _ => libc::O_PATH | libc::O_NOFOLLOW,
        };
        let fd = match open(&p, flags, 0) {
            Ok(fd) => fd,
            Err(e) => {
                self.bad(format!("{}: open ({}): {}", name, ftype(st.st_mode), errno_name(e)));
                return Some(st);
            }
        };
        match fstat(fd) {
            Ok(fst) => {
                if let Some(d) = Self::same(&st, &fst) {
                    self.bad(format!("{}: lstat and fstat of an open differ: {}", name, d));
                }
            }
            Err(e) => self.bad(format!("{}: fstat: {}", name, errno_name(e))),
        }
        match fmt {
            libc::S_IFREG => {
                self.files += 1;
                let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
                let mut data = Vec::new();
                match f.read_to_end(&mut data) {
                    Err(e) => self.bad(format!("{}: read: {}", name, errno_name(e.raw_os_error().unwrap_or(0)))),
                    Ok(n) => {
                        self.bytes += n as u64;
                        if n as i64 != st.st_size {
                            self.bad(format!("{}: read {} bytes to EOF, st_size is {}", name, n, st.st_size));
                        }
                        if let Some(m) = check_records(&data) {
                            self.bad(format!("{}: data: {}", name, m));
                        }
                        let me: InodeView = (
                            st.st_mode,
                            st.st_nlink,
                            st.st_size,
                            (st.st_mtime, st.st_mtime_nsec),
                            fnv(&data),
                        );
                        match self.inodes.get(&st.st_ino) {
                            None => {
                                self.inodes.insert(st.st_ino, (name.to_string(), me));
                            }
                            Some((first, o)) if *o != me => {
                                let m = format!(
                                    "{} and {} have one inode number ({}) but differ: mode {:o}/{:o} nlink {}/{} \
                                     size {}/{} mtime {:?}/{:?} data {}",
                                    first,
                                    name,
                                    st.st_ino,
                                    o.0,
                                    me.0,
                                    o.1,
                                    me.1,
                                    o.2,
                                    me.2,
                                    o.3,
                                    me.3,
                                    if o.4 == me.4 { "same" } else { "differs" }
                                );
                                self.bad(m);
                            }
                            Some(_) => {}
                        }
                    }
                }
                // f closes fd
            }
            libc::S_IFLNK => {
                self.symlinks += 1;
                close(fd);
                match readlink(&p) {
                    Ok(t) if t.len() as i64 == st.st_size => {}
                    Ok(t) => self.bad(format!(
                        "{}: readlink gives {} bytes, st_size {}",
                        name,
                        t.len(),
                        st.st_size
                    )),
                    Err(e) => self.bad(format!("{}: readlink: {}", name, errno_name(e))),
                }
            }
            libc::S_IFDIR => {
                self.dirs += 1;
                close(fd);
            }
            _ => {
                self.others += 1;
                close(fd);
            }
        }
        Some(st)
    }

    fn dir(&mut self, rel: &str, st: &libc::stat) {
        let p = format!("{}/{}", self.root, rel);
        let name = if rel.is_empty() { "/" } else { rel };
        let ents = match readdir(&p) {
            Ok(v) => v,
            Err(e) => {
                self.bad(format!("{}: readdir: {}", name, errno_name(e)));
                return;
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut subdirs = Vec::new();
        for (n, ino, ty) in &ents {
            if !seen.insert(n.clone()) {
                self.bad(format!("{}: readdir lists {} twice", name, n));
                continue;
            }
            if n.starts_with(".wh.") {
                self.bad(format!("{}: readdir lists {}", name, n));
                continue;
            }
            let crel = format!(
                "{}{}",
                if rel.is_empty() {
                    String::new()
                } else {
                    format!("{}/", rel)
                },
                n
            );
            let Some(cst) = self.object(&crel) else { continue };
            if cst.st_ino != *ino {
                let m = format!("{}: d_ino {} but st_ino {}", crel, ino, cst.st_ino);
                if self.lax_dino {
                    self.dino.push(m);
                } else {
                    self.bad(m);
                }
            }
            if let Some(m) = dtype_mode(*ty) {
                if m != cst.st_mode & libc::S_IFMT {
                    self.bad(format!(
                        "{}: d_type says {}, lstat says {}",
                        crel,
                        ftype(m),
                        ftype(cst.st_mode)
                    ));
                }
            }
            if cst.st_mode & libc::S_IFMT == libc::S_IFDIR {
                subdirs.push((crel, cst));
            }
        }
        let want = 2 + subdirs.len() as u64;
        if st.st_nlink != 1 && st.st_nlink != want {
            self.bad(format!(
                "{}: st_nlink {} (expected 1, or 2 + {} subdirectories = {})",
                name,
                st.st_nlink,
                subdirs.len(),
                want
            ));
        }
        for (c, cst) in subdirs {
            self.dir(&c, &cst);
        }
    }
}

/// The consistency pass over the tree at `root`: prints what it found and
/// the problems; returns their number.
fn check(root: &str, lax_dino: bool) -> usize {
    let mut c = Check {
        root: root.trim_end_matches('/').to_string(),
        problems: Vec::new(),
        lax_dino,
        dino: Vec::new(),
        dirs: 0,
        files: 0,
        symlinks: 0,
        others: 0,
        bytes: 0,
        inodes: HashMap::new(),
    };
    if let Some(st) = c.object("") {
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            c.bad(format!("{} is not a directory", root));
        } else {
            c.dir("", &st);
        }
    }
    for m in c.problems.iter().take(50) {
        println!("check: {}", m);
    }
    if c.problems.len() > 50 {
        println!("check: ... {} problems in all", c.problems.len());
    }
    for m in c.dino.iter().take(20) {
        println!("check: known rfs bug (inode number reuse): {}", m);
    }
    if !c.dino.is_empty() {
        println!("check: {} d_ino mismatches not counted (--lax-dino)", c.dino.len());
    }
    println!(
        "check: {} directories, {} files ({} bytes read, {} inodes), {} symlinks, {} others; {} problems",
        c.dirs,
        c.files,
        c.bytes,
        c.inodes.len(),
        c.symlinks,
        c.others,
        c.problems.len()
    );
    c.problems.len()
}

// --- main -------------------------------------------------------------------------------

struct Cfg {
    seed: u64,
    procs: u32,
    ops: u64,
    dir: Option<String>,
    xattr: bool,
    lax_dino: bool,
    quiet: bool,
    verbose: bool,
    populate: bool,
    check: bool,
}

fn usage() -> ! {
    die(
        "usage: rfsfsstress [--seed N] [--procs N] [--ops N] [--no-xattr] [--lax-dino] [-q] [-v] --dir DIR\n\
         \x20      rfsfsstress --populate [--seed N] --dir DIR\n\
         \x20      rfsfsstress --check [--lax-dino] --dir DIR",
    )
}

fn parse() -> Cfg {
    let a: Vec<String> = std::env::args().collect();
    let mut c = Cfg {
        seed: 1,
        procs: 4,
        ops: 1000,
        dir: None,
        xattr: true,
        lax_dino: false,
        quiet: false,
        verbose: false,
        populate: false,
        check: false,
    };
    let mut i = 1;
    while i < a.len() {
        let arg = a[i].clone();
        let mut val = || {
            i += 1;
            a.get(i).cloned().unwrap_or_else(|| usage())
        };
        match arg.as_str() {
            "--seed" => c.seed = val().parse().unwrap_or_else(|_| usage()),
            "--procs" => c.procs = val().parse().unwrap_or_else(|_| usage()),
            "--ops" => c.ops = val().parse().unwrap_or_else(|_| usage()),
            "--dir" => c.dir = Some(val()),
            "--no-xattr" => c.xattr = false,
            "--lax-dino" => c.lax_dino = true,
            "--populate" => c.populate = true,
            "--check" => c.check = true,
            "-q" => c.quiet = true,
            "-v" => c.verbose = true,
            _ => usage(),
        }
        i += 1;
    }
    if c.dir.is_none() || c.procs == 0 || (c.populate && c.check) {
        usage();
    }
    c
}

fn main() {
    let c = parse();
    let dir = c.dir.clone().unwrap();
    if c.populate {
        populate(&dir, c.seed);
        return;
    }
    if c.check {
        std::process::exit((check(&dir, c.lax_dino) != 0) as i32);
    }
    // like fsstress: the tree's top is made if it is not there
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("mkdir {}: {}", dir, e)));
    if !c.quiet {
        println!(
            "rfsfsstress: seed {}, {} processes x {} ops in {}",
            c.seed, c.procs, c.ops, dir
        );
    }
    let _ = io::stdout().flush();
    let mut kids = Vec::new();
    for id in 1..=c.procs {
        let mut fds = [0i32; 2];
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            die("pipe failed");
        }
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            die("fork failed");
        }
        if pid == 0 {
            unsafe { libc::close(fds[0]) };
            let mut p = Proc {
                id,
                dir: dir.trim_end_matches('/').to_string(),
                rng: Rng::new(c.seed.wrapping_mul(1_000_003).wrapping_add(id as u64)),
                seq: 0,
                xattr: c.xattr,
                verbose: c.verbose,
                counts: BTreeMap::new(),
                msgs: Vec::new(),
                bad: 0,
                warns: 0,
            };
            for _ in 0..c.ops {
                p.one();
            }
            let mut out = unsafe { std::fs::File::from_raw_fd(fds[1]) };
            let _ = out.write_all(p.report().as_bytes());
            drop(out);
            unsafe { libc::_exit(0) };
        }
        unsafe { libc::close(fds[1]) };
        kids.push((id, pid, fds[0]));
    }
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut msgs = Vec::new();
    let mut bad = 0u64;
    let mut warns = 0u64;
    for (id, pid, fd) in kids {
        let mut s = String::new();
        let _ = unsafe { std::fs::File::from_raw_fd(fd) }.read_to_string(&mut s);
        let mut st = 0;
        unsafe { libc::waitpid(pid, &mut st, 0) };
        if libc::WIFSIGNALED(st) {
            bad += 1;
            msgs.push(format!("process {}: killed by signal {}", id, libc::WTERMSIG(st)));
        } else if !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 || !s.contains("\nB\t") && !s.starts_with("B\t") {
            bad += 1;
            msgs.push(format!("process {}: ended without its report (status {:#x})", id, st));
        }
        for l in s.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            match f.as_slice() {
                ["C", op, e, n] => {
                    *counts
                        .entry(op.to_string())
                        .or_default()
                        .entry(e.to_string())
                        .or_insert(0) += n.parse::<u64>().unwrap_or(0)
                }
                ["M", m] => msgs.push(m.to_string()),
                ["B", b, w] => {
                    bad += b.parse::<u64>().unwrap_or(0);
                    warns += w.parse::<u64>().unwrap_or(0);
                }
                _ => {}
            }
        }
    }
    let mut total = 0;
    for (op, m) in &counts {
        let n: u64 = m.values().sum::<u64>() - m.iter().filter(|(e, _)| e.contains('(')).map(|(_, n)| n).sum::<u64>();
        total += n;
        let mut parts: Vec<String> = Vec::new();
        if let Some(ok) = m.get("ok") {
            parts.push(format!("ok {}", ok));
        }
        for (e, k) in m.iter().filter(|(e, _)| e.as_str() != "ok") {
            parts.push(format!("{} {}", e, k));
        }
        println!("{} {}: {}", op, n, parts.join(", "));
    }
    for m in &msgs {
        println!("unexpected: {}", m);
    }
    println!(
        "rfsfsstress: {} ops by {} processes, {} unexpected, {} warnings",
        total, c.procs, bad, warns
    );
    let _ = io::stdout().flush();
    let problems = check(&dir, c.lax_dino);
    std::process::exit((bad != 0 || problems != 0) as i32);
}
