//! rfsfsx: the file-operation exerciser of tests/integrity.sh, in the style
//! of fsx (our own code). It runs seeded random operations on one file and
//! checks the file against an in-memory copy after every one of them.
//!
//! ```text
//! rfsfsx [OPTIONS] FILE
//!   --seed N          random seed (default 1); the same seed, options and
//!                     filesystem give the same operations
//!   --ops N           number of operations (default 10000)
//!   --max-size N      largest file size the operations aim at (default 256k;
//!                     k, m suffixes); at least the --lower file's size
//!   --max-len N       largest length of one operation (default 64k)
//!   --verify-every N  full compare every N operations (default 100); every
//!                     operation compares the range it touched, a page
//!                     around it, and the size (fstat and stat of FILE)
//!   --lower PATH      FILE is a union name whose content is the lower file
//!                     PATH (read directly in its branch): FILE is first read
//!                     through a read-only open (no copy-up), operation 1 is
//!                     a write through a new O_RDWR open (the copy-up), the
//!                     read-only descriptor must then read the copy (rfs.rst,
//!                     "What open files see"), and PATH must be unchanged at
//!                     the end
//!   --old-fd MODE     what that read-only descriptor must read after the
//!                     copy-up: `new` (default: the data written since, as
//!                     rfs and OverlayFS since Linux 4.19 do), `lower` (the
//!                     lower file's data, as AUFS does) or `any` (not checked)
//!   --src PATH        an existing file to copy_file_range from, opened
//!                     read-only (default: FILE.cfr-src, written by rfsfsx)
//!   --drop-caches     also close, sync, drop_caches, open again (root)
//!   --no OP[,OP...]   leave these operations out (names as in the summary)
//!   -q                only the summary line (and a failure report)
//!   -v                print every operation as it runs
//! ```
//!
//! Without --lower, FILE is created (or truncated) at the start.
//!
//! Operations: read (pread, also past EOF), write (pwrite, also past EOF;
//! write(2) at EOF while FILE is open with O_APPEND), truncate (up and down,
//! ftruncate or truncate(2) by path), mapread and mapwrite (MAP_SHARED,
//! msync MS_SYNC; mapwrite extends the file with ftruncate first), fallocate
//! (KEEP_SIZE, plain, PUNCH_HOLE, ZERO_RANGE with and without KEEP_SIZE,
//! COLLAPSE_RANGE, INSERT_RANGE), copy_file_range from the source file and
//! within FILE (ranges that do not overlap), fsync, fdatasync, reopen (close
//! and open O_RDWR; sometimes with O_TRUNC, sometimes with O_APPEND, which
//! lasts until the next reopen) and drop-caches. A fallocate mode or
//! copy_file_range that the filesystem does not support (EOPNOTSUPP; EXDEV
//! and ENOSYS too for copy_file_range) is disabled with a note, and the
//! summary names it; any other error is a failure.
//!
//! Written bytes are never zero and depend on the operation number and the
//! file offset, so data at the wrong offset or from the wrong operation
//! shows. The model remembers which operation wrote each byte.
//!
//! Success: exit 0, one line "rfsfsx: ok: ..." with the count of each
//! operation. A mismatch or an unexpected error: a report on stdout (seed,
//! operation number, the last 50 operations, the first differing offset with
//! expected and actual bytes, the operation that wrote the expected byte,
//! the command line to reproduce it), exit 1. Usage errors: exit 2.

use std::ffi::CString;
use std::io::{self, Write};

// --- random numbers ------------------------------------------------------------

/// xorshift64* seeded through splitmix64: small, and the same on every build.
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
    /// 0 <= r < n (n > 0)
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// true with probability pct / 100
    fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

// --- operations ----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Read,
    Write,
    Truncate,
    MapRead,
    MapWrite,
    FallocKeep,
    Falloc,
    PunchHole,
    ZeroRange,
    Collapse,
    Insert,
    CopySrc,
    CopySelf,
    Fsync,
    Fdatasync,
    Reopen,
    DropCaches,
}

const OPS: [Op; 17] = [
    Op::Read,
    Op::Write,
    Op::Truncate,
    Op::MapRead,
    Op::MapWrite,
    Op::FallocKeep,
    Op::Falloc,
    Op::PunchHole,
    Op::ZeroRange,
    Op::Collapse,
    Op::Insert,
    Op::CopySrc,
    Op::CopySelf,
    Op::Fsync,
    Op::Fdatasync,
    Op::Reopen,
    Op::DropCaches,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Truncate => "truncate",
            Op::MapRead => "mapread",
            Op::MapWrite => "mapwrite",
            Op::FallocKeep => "falloc-keep",
            Op::Falloc => "falloc",
            Op::PunchHole => "punch-hole",
            Op::ZeroRange => "zero-range",
            Op::Collapse => "collapse-range",
            Op::Insert => "insert-range",
            Op::CopySrc => "copy-src",
            Op::CopySelf => "copy-self",
            Op::Fsync => "fsync",
            Op::Fdatasync => "fdatasync",
            Op::Reopen => "reopen",
            Op::DropCaches => "drop-caches",
        }
    }
    /// Relative frequency.
    fn weight(self) -> u64 {
        match self {
            Op::Read => 14,
            Op::Write => 18,
            Op::Truncate => 6,
            Op::MapRead => 8,
            Op::MapWrite => 8,
            Op::FallocKeep => 3,
            Op::Falloc => 2,
            Op::PunchHole => 4,
            Op::ZeroRange => 4,
            Op::Collapse => 2,
            Op::Insert => 2,
            Op::CopySrc => 5,
            Op::CopySelf => 5,
            Op::Fsync => 2,
            Op::Fdatasync => 2,
            Op::Reopen => 3,
            Op::DropCaches => 1,
        }
    }
    fn idx(self) -> usize {
        OPS.iter().position(|&o| o == self).unwrap()
    }
}

// Flags of an operation record (what variant ran).
const F_APPEND: u8 = 1; // write(2) at EOF on an O_APPEND descriptor / reopen with O_APPEND
const F_COPYUP: u8 = 2; // the first write of a --lower run: its open copies up
const F_PATH: u8 = 4; // truncate(2) by path, not ftruncate
const F_EXTEND: u8 = 8; // mapwrite: ftruncate up first
const F_TRUNC: u8 = 16; // reopen with O_TRUNC
const F_KEEP: u8 = 32; // zero-range with KEEP_SIZE

/// One operation as it ran: enough to print it again.
#[derive(Clone, Copy)]
struct Rec {
    op: Op,
    flags: u8,
    off: u64,
    len: u64,
    src: u64,  // copy_file_range: the source offset
    done: u64, // bytes the operation moved (read, copy_file_range)
    size: u64, // file size after the operation
}

fn describe(r: &Rec) -> String {
    let range = format!("{:#x} len {:#x}", r.off, r.len);
    let s = match r.op {
        Op::Read => format!("read        {} (got {:#x})", range, r.done),
        Op::Write if r.flags & F_APPEND != 0 => format!("write       {} (O_APPEND: write(2) at EOF)", range),
        Op::Write if r.flags & F_COPYUP != 0 => {
            format!(
                "write       {} (the first write: open O_RDWR copies the lower file up)",
                range
            )
        }
        Op::Write => format!("write       {}", range),
        Op::Truncate if r.flags & F_PATH != 0 => format!("truncate    to {:#x} (truncate(2) by path)", r.len),
        Op::Truncate => format!("truncate    to {:#x} (ftruncate)", r.len),
        Op::MapRead => format!("mapread     {}", range),
        Op::MapWrite if r.flags & F_EXTEND != 0 => format!("mapwrite    {} (ftruncate up first)", range),
        Op::MapWrite => format!("mapwrite    {}", range),
        Op::FallocKeep => format!("fallocate   KEEP_SIZE {}", range),
        Op::Falloc => format!("fallocate   0 {}", range),
        Op::PunchHole => format!("fallocate   PUNCH_HOLE|KEEP_SIZE {}", range),
        Op::ZeroRange if r.flags & F_KEEP != 0 => format!("fallocate   ZERO_RANGE|KEEP_SIZE {}", range),
        Op::ZeroRange => format!("fallocate   ZERO_RANGE {}", range),
        Op::Collapse => format!("fallocate   COLLAPSE_RANGE {}", range),
        Op::Insert => format!("fallocate   INSERT_RANGE {}", range),
        Op::CopySrc => format!(
            "copy_file_range from the source file {:#x} to {} (copied {:#x})",
            r.src, range, r.done
        ),
        Op::CopySelf => format!(
            "copy_file_range within the file {:#x} to {} (copied {:#x})",
            r.src, range, r.done
        ),
        Op::Fsync => "fsync".into(),
        Op::Fdatasync => "fdatasync".into(),
        Op::Reopen => format!(
            "close, open O_RDWR{}{}",
            if r.flags & F_APPEND != 0 { "|O_APPEND" } else { "" },
            if r.flags & F_TRUNC != 0 { "|O_TRUNC" } else { "" }
        ),
        Op::DropCaches => "close, sync, drop_caches, open O_RDWR".into(),
    };
    format!("{:<70} size {:#x}", s, r.size)
}

/// The byte an operation writes at a file offset: never 0, and different
/// for neighbouring offsets and operations.
fn pattern(opno: u32, pos: u64) -> u8 {
    (((pos % 253) + (opno as u64 % 256) * 7) % 255 + 1) as u8
}

// --- configuration ---------------------------------------------------------------

struct Cfg {
    seed: u64,
    ops: u32,
    max_size: u64,
    max_len: u64,
    verify_every: u32,
    lower: Option<String>,
    old_fd: String,
    src: Option<String>,
    drop_caches: bool,
    no: Vec<Op>,
    quiet: bool,
    verbose: bool,
    file: String,
    args: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: rfsfsx [--seed N] [--ops N] [--max-size N] [--max-len N] [--verify-every N]\n\
         \x20             [--lower PATH [--old-fd new|lower|any]] [--src PATH] [--drop-caches] [--no OP,...] [-q] [-v] FILE"
    );
    std::process::exit(2);
}

fn num(s: &str) -> u64 {
    let (n, mul) = match s.as_bytes().last() {
        Some(b'k') | Some(b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm') | Some(b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let v: u64 = if let Some(h) = n.strip_prefix("0x") {
        u64::from_str_radix(h, 16).unwrap_or_else(|_| usage())
    } else {
        n.parse().unwrap_or_else(|_| usage())
    };
    v * mul
}

fn parse_args() -> Cfg {
    let args: Vec<String> = std::env::args().collect();
    let mut c = Cfg {
        seed: 1,
        ops: 10000,
        max_size: 256 * 1024,
        max_len: 64 * 1024,
        verify_every: 100,
        lower: None,
        old_fd: "new".into(),
        src: None,
        drop_caches: false,
        no: Vec::new(),
        quiet: false,
        verbose: false,
        file: String::new(),
        args: args.clone(),
    };
    let mut i = 1;
    let mut file = None;
    while i < args.len() {
        let a = args[i].as_str();
        let mut val = || {
            i += 1;
            args.get(i).cloned().unwrap_or_else(|| usage())
        };
        match a {
            "--seed" => c.seed = num(&val()),
            "--ops" => c.ops = num(&val()).min(u32::MAX as u64 - 1) as u32,
            "--max-size" => c.max_size = num(&val()),
            "--max-len" => c.max_len = num(&val()),
            "--verify-every" => c.verify_every = num(&val()).clamp(1, u32::MAX as u64) as u32,
            "--lower" => c.lower = Some(val()),
            "--src" => c.src = Some(val()),
            "--old-fd" => {
                c.old_fd = val();
                if !["lower", "new", "any"].contains(&c.old_fd.as_str()) {
                    usage()
                }
            }
            "--drop-caches" => c.drop_caches = true,
            "--no" => {
                for n in val().split(',').filter(|s| !s.is_empty()) {
                    match OPS.iter().find(|o| o.name() == n) {
                        Some(&o) => c.no.push(o),
                        None => {
                            eprintln!("rfsfsx: unknown operation {}", n);
                            usage()
                        }
                    }
                }
            }
            "-q" => c.quiet = true,
            "-v" => c.verbose = true,
            "-h" | "--help" => usage(),
            _ if a.starts_with('-') => usage(),
            _ if file.is_none() => file = Some(a.to_string()),
            _ => usage(),
        }
        i += 1;
    }
    c.file = file.unwrap_or_else(|| usage());
    if c.max_size < 4096 || c.max_len == 0 {
        eprintln!("rfsfsx: --max-size must be at least 4096 and --max-len at least 1");
        usage();
    }
    c
}

// --- system calls ------------------------------------------------------------------

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn errno_name(e: i32) -> String {
    let s = match e {
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
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ESTALE => "ESTALE",
        libc::EUCLEAN => "EUCLEAN",
        libc::EOVERFLOW => "EOVERFLOW",
        _ => "",
    };
    if s.is_empty() {
        format!("errno {}", e)
    } else {
        s.to_string()
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| usage())
}

fn open(path: &CString, flags: i32) -> Result<i32, i32> {
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// pread until `buf` is full or EOF: the number of bytes read.
fn pread_full(fd: i32, buf: &mut [u8], off: u64) -> Result<usize, i32> {
    let mut done = 0;
    while done < buf.len() {
        let r = unsafe {
            libc::pread(
                fd,
                buf[done..].as_mut_ptr() as *mut libc::c_void,
                buf.len() - done,
                (off + done as u64) as i64,
            )
        };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            break;
        }
        done += r as usize;
    }
    Ok(done)
}

fn fstat_size(fd: i32) -> Result<(u64, u64), i32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(errno());
    }
    Ok((st.st_size as u64, st.st_blksize as u64))
}

fn stat_size(path: &CString) -> Result<u64, i32> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return Err(errno());
    }
    Ok(st.st_size as u64)
}

fn read_path(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("read {}: {}", path, errno_name(e.raw_os_error().unwrap_or(0))))
}

// --- the exerciser ---------------------------------------------------------------------

struct Fsx {
    cfg: Cfg,
    path: CString,
    fd: i32,
    append: bool,
    data: Vec<u8>,
    owner: Vec<u32>, // which operation wrote each byte (0: the initial content)
    src_path: String,
    src_fd: i32,
    src: Vec<u8>,
    rng: Rng,
    recs: Vec<Rec>,
    opno: u32,
    counts: [u64; OPS.len()],
    disabled: Vec<(Op, String)>,
    notes: Vec<String>,
    full_verifies: u64,
    page: u64,
    blksize: u64,
    lower: Option<Vec<u8>>,
    held_fd: i32,
    cur: Option<Rec>, // the operation running (not yet in recs)
}

impl Fsx {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn note(&mut self, m: String) {
        if !self.cfg.quiet {
            println!("rfsfsx: note: {}", m);
        }
        self.notes.push(m);
    }

    fn is_disabled(&self, op: Op) -> bool {
        self.disabled.iter().any(|d| d.0 == op)
    }

    fn disable(&mut self, op: Op, e: i32) {
        let why = format!("{} at op {}", errno_name(e), self.opno);
        self.note(format!("{} disabled: {}", op.name(), why));
        self.disabled.push((op, why));
    }

    /// The failure report; exits 1.
    fn fail(&self, msg: &str) -> ! {
        let mut o = String::new();
        o.push_str(&format!("rfsfsx: FAILED: {}\n", msg));
        o.push_str(&format!(
            "rfsfsx: file {}, seed {}, at op {} of {}\n",
            self.cfg.file, self.cfg.seed, self.opno, self.cfg.ops
        ));
        o.push_str(&format!(
            "rfsfsx: reproduce (same filesystem, same starting file): {}\n",
            self.cfg
                .args
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let n = self.recs.len();
        let from = n.saturating_sub(50);
        o.push_str(&format!(
            "rfsfsx: the last {} operations (op number, what, size after):\n",
            n - from + self.cur.is_some() as usize
        ));
        for (i, r) in self.recs[from..].iter().enumerate() {
            o.push_str(&format!("  {:>7} {}\n", from + i + 1, describe(r)));
        }
        if let Some(r) = &self.cur {
            o.push_str(&format!("  {:>7} {}   <- this one\n", n + 1, describe(r)));
        }
        print!("{}", o);
        let _ = io::stdout().flush();
        std::process::exit(1);
    }

    fn sys_fail(&self, what: &str, e: i32) -> ! {
        self.fail(&format!("{}: {}", what, errno_name(e)))
    }

    fn who(&self, opno: u32) -> String {
        if opno == 0 {
            if self.lower.is_some() {
                "the lower file's content".into()
            } else {
                "the initial content".into()
            }
        } else if let Some(r) = self.recs.get(opno as usize - 1) {
            format!("op {}: {}", opno, describe(r).trim_end())
        } else if let Some(r) = &self.cur {
            format!("op {} (this one): {}", opno, describe(r))
        } else {
            format!("op {}", opno)
        }
    }

    /// Compares `actual`, read at `off`, with the model: a detailed failure.
    fn compare(&self, what: &str, off: u64, actual: &[u8]) {
        if actual.is_empty() {
            return;
        }
        let want = &self.data[off as usize..off as usize + actual.len()];
        if want == actual {
            return;
        }
        let i = want.iter().zip(actual).position(|(a, b)| a != b).unwrap();
        let bad = off + i as u64;
        let run = want[i..].iter().zip(&actual[i..]).take_while(|(a, b)| a != b).count();
        let total = want.iter().zip(actual).filter(|(a, b)| a != b).count();
        let zeros = actual[i..i + run].iter().all(|&b| b == 0);
        let dump = |v: &[u8], base: u64| {
            let lo = (bad & !15).max(base);
            let hi = ((bad & !15) + 32).min(base + v.len() as u64);
            (lo..hi)
                .map(|p| format!("{:02x}", v[(p - base) as usize]))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut m = format!(
            "{}: data mismatch at offset {:#x} ({}): expected {:#04x}, got {:#04x}; {} bytes differ from there on ({}), {} of the {} bytes read\n",
            what,
            bad,
            bad,
            want[i],
            actual[i],
            run,
            if zeros { "all zero" } else { "not zero" },
            total,
            actual.len()
        );
        m.push_str(&format!(
            "  expected byte written by {}\n",
            self.who(self.owner[bad as usize])
        ));
        m.push_str(&format!(
            "  expected at {:#x}: {}\n",
            (bad & !15).max(off),
            dump(want, off)
        ));
        m.push_str(&format!(
            "  actual   at {:#x}: {}",
            (bad & !15).max(off),
            dump(actual, off)
        ));
        self.fail(&m);
    }

    /// Reads [lo, hi) (clamped to the size) through the descriptor and compares.
    fn verify_range(&self, lo: u64, hi: u64, what: &str) {
        let hi = hi.min(self.size());
        if lo >= hi {
            return;
        }
        let mut buf = vec![0u8; (hi - lo) as usize];
        let got = pread_full(self.fd, &mut buf, lo).unwrap_or_else(|e| self.sys_fail(&format!("{}: pread", what), e));
        if got < buf.len() {
            self.fail(&format!(
                "{}: pread at {:#x} gave {:#x} bytes, expected {:#x} (EOF at {:#x}, expected size {:#x})",
                what,
                lo,
                got,
                buf.len(),
                lo + got as u64,
                self.size()
            ));
        }
        self.compare(what, lo, &buf);
    }

    fn check_size(&self, what: &str) {
        let (fs, _) = fstat_size(self.fd).unwrap_or_else(|e| self.sys_fail(&format!("{}: fstat", what), e));
        if fs != self.size() {
            self.fail(&format!("{}: fstat size {:#x}, expected {:#x}", what, fs, self.size()));
        }
        let ps =
            stat_size(&self.path).unwrap_or_else(|e| self.sys_fail(&format!("{}: stat {}", what, self.cfg.file), e));
        if ps != self.size() {
            self.fail(&format!(
                "{}: stat (by path) size {:#x}, expected {:#x}",
                what,
                ps,
                self.size()
            ));
        }
    }

    /// The whole file through `fd`: size, every byte, EOF.
    fn verify_all_fd(&self, fd: i32, what: &str) {
        let mut buf = vec![0u8; self.data.len() + 4096];
        let got = pread_full(fd, &mut buf, 0).unwrap_or_else(|e| self.sys_fail(&format!("{}: pread", what), e));
        if got != self.data.len() {
            let n = got.min(self.data.len());
            self.compare(what, 0, &buf[..n]);
            self.fail(&format!(
                "{}: read {:#x} bytes to EOF, expected {:#x}",
                what,
                got,
                self.data.len()
            ));
        }
        self.compare(what, 0, &buf[..got]);
    }

    /// Full compare: through the descriptor, and through a new read-only
    /// open of FILE.
    fn verify_all(&mut self, what: &str) {
        self.full_verifies += 1;
        self.check_size(what);
        self.verify_all_fd(self.fd, what);
        let fd =
            open(&self.path, libc::O_RDONLY).unwrap_or_else(|e| self.sys_fail(&format!("{}: open O_RDONLY", what), e));
        self.verify_all_fd(fd, &format!("{} (new read-only open)", what));
        unsafe { libc::close(fd) };
    }

    fn resize(&mut self, n: u64) {
        self.data.resize(n as usize, 0);
        self.owner.resize(n as usize, self.opno);
    }

    fn model_write(&mut self, off: u64, bytes: &[u8]) {
        let end = off + bytes.len() as u64;
        if end > self.size() {
            self.resize(end);
        }
        self.data[off as usize..end as usize].copy_from_slice(bytes);
        for o in &mut self.owner[off as usize..end as usize] {
            *o = self.opno;
        }
    }

    fn model_zero(&mut self, off: u64, len: u64) {
        let end = (off + len).min(self.size());
        if off >= end {
            return;
        }
        for b in &mut self.data[off as usize..end as usize] {
            *b = 0;
        }
        for o in &mut self.owner[off as usize..end as usize] {
            *o = self.opno;
        }
    }

    fn rand_len(&mut self) -> u64 {
        let m = self.cfg.max_len;
        match self.rng.below(4) {
            0 | 1 => self.rng.below(m) + 1,
            2 => self.rng.below(m.min(4096)) + 1,
            _ => self.rng.below(m.min(64)) + 1,
        }
    }

    /// An offset for `len` bytes: anywhere up to max-size, near EOF, or past it.
    fn rand_off(&mut self, len: u64) -> u64 {
        let top = self.cfg.max_size.saturating_sub(len);
        let size = self.size();
        let off = match self.rng.below(10) {
            0..=5 => self.rng.below(top + 1),
            6 | 7 => (size + self.rng.below(8192)).saturating_sub(4096),
            _ => size + self.rng.below(65536),
        };
        off.min(top)
    }

    fn rec(&mut self, op: Op, flags: u8, off: u64, len: u64) {
        self.cur = Some(Rec {
            op,
            flags,
            off,
            len,
            src: 0,
            done: 0,
            size: self.size(),
        });
    }

    fn set_cur(&mut self, f: impl FnOnce(&mut Rec)) {
        if let Some(r) = &mut self.cur {
            f(r);
        }
    }

    // --- the operations: each returns false when it does not apply now ------

    fn op_read(&mut self) -> bool {
        let len = self.rand_len();
        let off = self.rng.below(self.size() + self.cfg.max_len / 2 + 1);
        self.rec(Op::Read, 0, off, len);
        let mut buf = vec![0u8; len as usize];
        let got = pread_full(self.fd, &mut buf, off).unwrap_or_else(|e| self.sys_fail("pread", e));
        self.set_cur(|r| r.done = got as u64);
        let want = (off + len).min(self.size()).saturating_sub(off) as usize;
        if got != want {
            self.fail(&format!(
                "pread at {:#x} len {:#x} gave {:#x} bytes, expected {:#x}",
                off, len, got, want
            ));
        }
        self.compare("read", off, &buf[..got]);
        true
    }

    fn op_write(&mut self, copyup: bool) -> bool {
        let mut len = self.rand_len();
        if self.append {
            let size = self.size();
            if size >= self.cfg.max_size {
                return false;
            }
            len = len.min(self.cfg.max_size - size).max(1);
            self.rec(Op::Write, F_APPEND, size, len);
            let bytes: Vec<u8> = (0..len).map(|i| pattern(self.opno, size + i)).collect();
            let mut done = 0usize;
            while done < bytes.len() {
                let r = unsafe {
                    libc::write(
                        self.fd,
                        bytes[done..].as_ptr() as *const libc::c_void,
                        bytes.len() - done,
                    )
                };
                if r < 0 {
                    self.sys_fail("write (O_APPEND)", errno());
                }
                done += r as usize;
            }
            self.model_write(size, &bytes);
            self.set_cur(|r| r.size = size + len);
            self.verify_range(size.saturating_sub(self.page), size + len, "write (O_APPEND)");
            return true;
        }
        let off = self.rand_off(len);
        self.rec(Op::Write, if copyup { F_COPYUP } else { 0 }, off, len);
        if copyup {
            self.fd = open(&self.path, libc::O_RDWR).unwrap_or_else(|e| self.sys_fail("open O_RDWR (copy-up)", e));
        }
        let bytes: Vec<u8> = (0..len).map(|i| pattern(self.opno, off + i)).collect();
        let mut done = 0usize;
        while done < bytes.len() {
            let r = unsafe {
                libc::pwrite(
                    self.fd,
                    bytes[done..].as_ptr() as *const libc::c_void,
                    bytes.len() - done,
                    (off + done as u64) as i64,
                )
            };
            if r < 0 {
                self.sys_fail("pwrite", errno());
            }
            done += r as usize;
        }
        self.model_write(off, &bytes);
        let size = self.size();
        self.set_cur(|r| r.size = size);
        self.verify_range(off.saturating_sub(self.page), off + len + self.page, "write");
        true
    }

    fn op_truncate(&mut self) -> bool {
        let size = self.size();
        let max = self.cfg.max_size;
        let new = match self.rng.below(5) {
            0 | 1 => self.rng.below(size + 1),
            2 | 3 => size + self.rng.below(max.saturating_sub(size) + 1),
            _ => self.rng.below(max + 1),
        };
        let by_path = self.rng.pct(30);
        self.rec(Op::Truncate, if by_path { F_PATH } else { 0 }, 0, new);
        let rc = if by_path {
            unsafe { libc::truncate(self.path.as_ptr(), new as i64) }
        } else {
            unsafe { libc::ftruncate(self.fd, new as i64) }
        };
        if rc != 0 {
            self.sys_fail(if by_path { "truncate" } else { "ftruncate" }, errno());
        }
        self.resize(new);
        // the bytes past the old EOF are zeros, whichever operation wrote there
        if new > size {
            for o in &mut self.owner[size as usize..new as usize] {
                *o = self.opno;
            }
        }
        self.set_cur(|r| r.size = new);
        let m = size.min(new);
        self.verify_range(m.saturating_sub(self.page), m + 2 * self.page, "truncate");
        true
    }

    fn map(&self, off: u64, len: u64, prot: i32) -> (*mut u8, usize, usize) {
        let pgoff = off & !(self.page - 1);
        let mlen = (off + len - pgoff) as usize;
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mlen,
                prot,
                libc::MAP_SHARED,
                self.fd,
                pgoff as i64,
            )
        };
        if p == libc::MAP_FAILED {
            self.sys_fail("mmap", errno());
        }
        (p as *mut u8, mlen, (off - pgoff) as usize)
    }

    fn op_mapread(&mut self) -> bool {
        let size = self.size();
        if size == 0 {
            return false;
        }
        let off = self.rng.below(size);
        let len = self.rand_len().min(size - off);
        self.rec(Op::MapRead, 0, off, len);
        let (p, mlen, d) = self.map(off, len, libc::PROT_READ);
        let actual = unsafe { std::slice::from_raw_parts(p.add(d), len as usize) }.to_vec();
        unsafe { libc::munmap(p as *mut libc::c_void, mlen) };
        self.set_cur(|r| r.done = len);
        self.compare("mapread", off, &actual);
        true
    }

    fn op_mapwrite(&mut self) -> bool {
        let len = self.rand_len();
        let off = self.rand_off(len);
        let extend = off + len > self.size();
        self.rec(Op::MapWrite, if extend { F_EXTEND } else { 0 }, off, len);
        if extend {
            if unsafe { libc::ftruncate(self.fd, (off + len) as i64) } != 0 {
                self.sys_fail("ftruncate (before mapwrite)", errno());
            }
            let size = self.size();
            self.resize(off + len);
            for o in &mut self.owner[size as usize..] {
                *o = self.opno;
            }
        }
        let bytes: Vec<u8> = (0..len).map(|i| pattern(self.opno, off + i)).collect();
        let (p, mlen, d) = self.map(off, len, libc::PROT_READ | libc::PROT_WRITE);
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(d), len as usize);
            if libc::msync(p as *mut libc::c_void, mlen, libc::MS_SYNC) != 0 {
                let e = errno();
                libc::munmap(p as *mut libc::c_void, mlen);
                self.sys_fail("msync", e);
            }
            libc::munmap(p as *mut libc::c_void, mlen);
        }
        self.model_write(off, &bytes);
        let size = self.size();
        self.set_cur(|r| r.size = size);
        self.verify_range(off.saturating_sub(self.page), off + len + self.page, "mapwrite");
        true
    }

    fn op_fallocate(&mut self, op: Op) -> bool {
        let size = self.size();
        let bs = self.blksize;
        let (mode, off, len, flags) = match op {
            Op::FallocKeep => {
                let len = self.rand_len();
                (libc::FALLOC_FL_KEEP_SIZE, self.rand_off(len), len, 0)
            }
            Op::Falloc => {
                let len = self.rand_len();
                (0, self.rand_off(len), len, 0)
            }
            Op::PunchHole => {
                if size == 0 {
                    return false;
                }
                let off = self.rng.below(size);
                (
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    off,
                    self.rand_len(),
                    0,
                )
            }
            Op::ZeroRange => {
                let len = self.rand_len();
                let off = if size > 0 && self.rng.pct(70) {
                    self.rng.below(size)
                } else {
                    self.rand_off(len)
                };
                if self.rng.pct(50) {
                    (libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE, off, len, F_KEEP)
                } else {
                    (
                        libc::FALLOC_FL_ZERO_RANGE,
                        off.min(self.cfg.max_size.saturating_sub(len)),
                        len,
                        0,
                    )
                }
            }
            Op::Collapse => {
                // block aligned, and off + len must stay below the size
                let nb = size / bs;
                if nb < 2 {
                    return false;
                }
                let lb = 1 + self.rng.below((self.cfg.max_len / bs).clamp(1, nb - 1));
                let ob = self.rng.below(nb - lb);
                (libc::FALLOC_FL_COLLAPSE_RANGE, ob * bs, lb * bs, 0)
            }
            Op::Insert => {
                // block aligned, off below the size, the result within max-size
                if size == 0 {
                    return false;
                }
                let lb = 1 + self.rng.below((self.cfg.max_len / bs).max(1));
                if size + lb * bs > self.cfg.max_size {
                    return false;
                }
                let ob = self.rng.below((size - 1) / bs + 1);
                (libc::FALLOC_FL_INSERT_RANGE, ob * bs, lb * bs, 0)
            }
            _ => unreachable!(),
        };
        self.rec(op, flags, off, len);
        if unsafe { libc::fallocate(self.fd, mode, off as i64, len as i64) } != 0 {
            let e = errno();
            if e == libc::EOPNOTSUPP {
                self.disable(op, e);
                self.cur = None;
                return false;
            }
            self.sys_fail(&format!("fallocate mode {:#x} at {:#x} len {:#x}", mode, off, len), e);
        }
        match op {
            Op::FallocKeep => {}
            Op::Falloc => self.resize(size.max(off + len)),
            Op::PunchHole => self.model_zero(off, len),
            Op::ZeroRange => {
                if flags & F_KEEP == 0 && off + len > size {
                    self.resize(off + len);
                }
                self.model_zero(off, len);
            }
            Op::Collapse => {
                self.data.drain(off as usize..(off + len) as usize);
                self.owner.drain(off as usize..(off + len) as usize);
            }
            Op::Insert => {
                let at = off as usize;
                self.data.splice(at..at, std::iter::repeat_n(0u8, len as usize));
                let n = self.opno;
                self.owner.splice(at..at, std::iter::repeat_n(n, len as usize));
            }
            _ => {}
        }
        let new = self.size();
        self.set_cur(|r| r.size = new);
        let what = op.name();
        match op {
            Op::Collapse | Op::Insert => {
                self.verify_range(off.saturating_sub(self.page), off + len + 2 * self.page, what)
            }
            _ => self.verify_range(off.saturating_sub(self.page), off + len + self.page, what),
        }
        true
    }

    /// copy_file_range until `len` bytes are copied or it returns 0.
    fn cfr(&mut self, op: Op, from: i32, src_off: u64, off: u64, len: u64) -> Option<u64> {
        let mut si = src_off as i64;
        let mut di = off as i64;
        let mut done = 0u64;
        while done < len {
            let r = unsafe { libc::copy_file_range(from, &mut si, self.fd, &mut di, (len - done) as usize, 0) };
            if r < 0 {
                let e = errno();
                if done == 0 && (e == libc::EOPNOTSUPP || e == libc::EXDEV || e == libc::ENOSYS) {
                    self.disable(op, e);
                    self.cur = None;
                    return None;
                }
                self.sys_fail(&format!("copy_file_range (after {:#x} bytes)", done), e);
            }
            if r == 0 {
                break;
            }
            done += r as u64;
        }
        Some(done)
    }

    fn op_copy_src(&mut self) -> bool {
        let sl = self.src.len() as u64;
        if self.append || sl == 0 {
            return false; // O_APPEND descriptors cannot be copied to (EBADF)
        }
        let so = self.rng.below(sl);
        let len = self.rand_len();
        let off = self.rand_off(len);
        self.rec(Op::CopySrc, 0, off, len);
        self.set_cur(|r| r.src = so);
        let Some(done) = self.cfr(Op::CopySrc, self.src_fd, so, off, len) else {
            return false;
        };
        self.set_cur(|r| r.done = done);
        let want = len.min(sl - so);
        if done != want {
            self.fail(&format!(
                "copy_file_range copied {:#x} bytes, expected {:#x}",
                done, want
            ));
        }
        let bytes = self.src[so as usize..(so + done) as usize].to_vec();
        self.model_write(off, &bytes);
        let size = self.size();
        self.set_cur(|r| r.size = size);
        self.verify_range(off.saturating_sub(self.page), off + len + self.page, "copy-src");
        true
    }

    fn op_copy_self(&mut self) -> bool {
        let size = self.size();
        if self.append || size == 0 {
            return false;
        }
        let so = self.rng.below(size);
        let len = self.rand_len().min(size - so);
        // a destination that does not overlap the source (EINVAL otherwise)
        let mut off = None;
        for _ in 0..10 {
            let o = self.rand_off(len);
            if o + len <= so || o >= so + len {
                off = Some(o);
                break;
            }
        }
        let Some(off) = off else { return false };
        self.rec(Op::CopySelf, 0, off, len);
        self.set_cur(|r| r.src = so);
        let Some(done) = self.cfr(Op::CopySelf, self.fd, so, off, len) else {
            return false;
        };
        self.set_cur(|r| r.done = done);
        if done != len {
            self.fail(&format!(
                "copy_file_range copied {:#x} bytes, expected {:#x}",
                done, len
            ));
        }
        let bytes = self.data[so as usize..(so + len) as usize].to_vec();
        self.model_write(off, &bytes);
        let size = self.size();
        self.set_cur(|r| r.size = size);
        self.verify_range(off.saturating_sub(self.page), off + len + self.page, "copy-self");
        self.verify_range(so, so + len, "copy-self (source range)");
        true
    }

    fn op_sync(&mut self, op: Op) -> bool {
        self.rec(op, 0, 0, 0);
        let rc = if op == Op::Fsync {
            unsafe { libc::fsync(self.fd) }
        } else {
            unsafe { libc::fdatasync(self.fd) }
        };
        if rc != 0 {
            self.sys_fail(op.name(), errno());
        }
        true
    }

    fn op_reopen(&mut self) -> bool {
        let r = self.rng.below(100);
        let (extra, flags) = if r < 8 {
            (libc::O_TRUNC, F_TRUNC)
        } else if r < 30 {
            (libc::O_APPEND, F_APPEND)
        } else {
            (0, 0)
        };
        self.rec(Op::Reopen, flags, 0, 0);
        unsafe { libc::close(self.fd) };
        self.fd = open(&self.path, libc::O_RDWR | extra).unwrap_or_else(|e| self.sys_fail("open O_RDWR", e));
        self.append = extra == libc::O_APPEND;
        if extra == libc::O_TRUNC {
            self.data.clear();
            self.owner.clear();
            self.set_cur(|r| r.size = 0);
        }
        self.verify_all("reopen");
        true
    }

    fn op_drop_caches(&mut self) -> bool {
        self.rec(Op::DropCaches, 0, 0, 0);
        unsafe {
            libc::close(self.fd);
            libc::sync();
        }
        if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", b"3\n") {
            self.disable(Op::DropCaches, e.raw_os_error().unwrap_or(0));
        }
        self.fd = open(&self.path, libc::O_RDWR).unwrap_or_else(|e| self.sys_fail("open O_RDWR", e));
        self.append = false;
        self.verify_all("drop-caches");
        true
    }

    fn run_op(&mut self, op: Op) -> bool {
        match op {
            Op::Read => self.op_read(),
            Op::Write => self.op_write(false),
            Op::Truncate => self.op_truncate(),
            Op::MapRead => self.op_mapread(),
            Op::MapWrite => self.op_mapwrite(),
            Op::FallocKeep | Op::Falloc | Op::PunchHole | Op::ZeroRange | Op::Collapse | Op::Insert => {
                self.op_fallocate(op)
            }
            Op::CopySrc => self.op_copy_src(),
            Op::CopySelf => self.op_copy_self(),
            Op::Fsync | Op::Fdatasync => self.op_sync(op),
            Op::Reopen => self.op_reopen(),
            Op::DropCaches => self.op_drop_caches(),
        }
    }

    fn pick(&mut self) -> Op {
        let total: u64 = OPS.iter().filter(|&&o| self.enabled(o)).map(|o| o.weight()).sum();
        let mut r = self.rng.below(total);
        for &o in OPS.iter().filter(|&&o| self.enabled(o)) {
            if r < o.weight() {
                return o;
            }
            r -= o.weight();
        }
        Op::Read
    }

    fn enabled(&self, o: Op) -> bool {
        !self.is_disabled(o) && !self.cfg.no.contains(&o) && (o != Op::DropCaches || self.cfg.drop_caches)
    }

    fn finish_op(&mut self, op: Op) {
        let r = self.cur.take().unwrap();
        if self.cfg.verbose {
            println!("{:>7} {}", self.opno, describe(&r));
        }
        self.recs.push(r);
        self.counts[op.idx()] += 1;
        self.check_size(op.name());
        if self.opno.is_multiple_of(self.cfg.verify_every) {
            self.verify_all("periodic full compare");
        }
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=,+@%-".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn main() {
    let cfg = parse_args();
    let path = cstr(&cfg.file);
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let mut f = Fsx {
        rng: Rng::new(cfg.seed),
        src_path: cfg.src.clone().unwrap_or_else(|| format!("{}.cfr-src", cfg.file)),
        cfg,
        path,
        fd: -1,
        append: false,
        data: Vec::new(),
        owner: Vec::new(),
        src_fd: -1,
        src: Vec::new(),
        recs: Vec::new(),
        opno: 0,
        counts: [0; OPS.len()],
        disabled: Vec::new(),
        notes: Vec::new(),
        full_verifies: 0,
        page,
        blksize: 4096,
        lower: None,
        held_fd: -1,
        cur: None,
    };

    // The copy_file_range source: an existing file, or one we write.
    let src_c = cstr(&f.src_path);
    if f.cfg.src.is_some() {
        f.src = read_path(&f.src_path).unwrap_or_else(|m| f.fail(&m));
    } else {
        let n = (f.cfg.max_size / 2) as usize;
        f.src = (0..n).map(|i| pattern(u32::MAX, i as u64)).collect();
        std::fs::write(&f.src_path, &f.src)
            .unwrap_or_else(|e| f.sys_fail(&format!("write {}", f.src_path), e.raw_os_error().unwrap_or(0)));
    }
    f.src_fd = open(&src_c, libc::O_RDONLY).unwrap_or_else(|e| f.sys_fail(&format!("open {}", f.src_path), e));

    if let Some(lp) = f.cfg.lower.clone() {
        // FILE shows the lower file: read it through a read-only open (no
        // copy-up) and keep that descriptor for after the copy-up.
        let low = read_path(&lp).unwrap_or_else(|m| f.fail(&m));
        f.cfg.max_size = f.cfg.max_size.max(low.len() as u64);
        f.data = low.clone();
        f.owner = vec![0; low.len()];
        f.lower = Some(low);
        f.held_fd = open(&f.path, libc::O_RDONLY).unwrap_or_else(|e| f.sys_fail("open O_RDONLY", e));
        f.fd = f.held_fd;
        let (_, bs) = fstat_size(f.fd).unwrap_or_else(|e| f.sys_fail("fstat", e));
        f.blksize = bs.max(512);
        f.verify_all_fd(f.held_fd, "before the copy-up: FILE shows the lower file");
    } else {
        f.fd = open(&f.path, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC)
            .unwrap_or_else(|e| f.sys_fail("open O_RDWR|O_CREAT|O_TRUNC", e));
        let (_, bs) = fstat_size(f.fd).unwrap_or_else(|e| f.sys_fail("fstat", e));
        f.blksize = bs.max(512);
    }

    let n = f.cfg.ops;
    let tenth = (n / 10).max(1);
    while f.opno < n {
        f.opno += 1;
        let op = if f.opno == 1 && f.lower.is_some() {
            f.op_write(true);
            Op::Write
        } else {
            loop {
                let op = f.pick();
                if f.run_op(op) {
                    break op;
                }
                f.cur = None;
            }
        };
        f.finish_op(op);
        if f.opno == 1 && f.lower.is_some() {
            // A descriptor opened before the copy-up reads the copy from
            // now on (rfs.rst, "What open files see"; --old-fd).
            let low = f.lower.clone().unwrap();
            let mut buf = vec![0u8; low.len().max(f.data.len()) + 4096];
            let got = pread_full(f.held_fd, &mut buf, 0)
                .unwrap_or_else(|e| f.sys_fail("pread (read-only open from before the copy-up)", e));
            match f.cfg.old_fd.as_str() {
                "lower" if buf[..got] != low[..] => f.fail(
                    "the read-only descriptor opened before the copy-up no longer reads the lower file's data (--old-fd lower)",
                ),
                "new" => f.compare("the read-only descriptor opened before the copy-up (--old-fd new)", 0, &buf[..got]),
                _ => {}
            }
            unsafe { libc::close(f.held_fd) };
            f.held_fd = -1;
            f.verify_all("after the copy-up");
        }
        if !f.cfg.quiet && f.opno.is_multiple_of(tenth) {
            println!("rfsfsx: op {}/{}, size {:#x}", f.opno, n, f.size());
        }
    }
    f.verify_all("at the end");
    unsafe { libc::close(f.fd) };
    f.fd = open(&f.path, libc::O_RDONLY).unwrap_or_else(|e| f.sys_fail("open O_RDONLY at the end", e));
    f.verify_all("at the end, after close and open");
    if let (Some(lp), Some(low)) = (f.cfg.lower.clone(), f.lower.clone()) {
        let now = read_path(&lp).unwrap_or_else(|m| f.fail(&m));
        if now != low {
            f.fail(&format!("the lower file {} changed", lp));
        }
    }
    let counts: Vec<String> = OPS
        .iter()
        .filter(|&&o| f.counts[o.idx()] > 0)
        .map(|&o| format!("{} {}", o.name(), f.counts[o.idx()]))
        .collect();
    let dis: Vec<String> = f
        .disabled
        .iter()
        .map(|(o, w)| format!("{} ({})", o.name(), w))
        .collect();
    println!(
        "rfsfsx: ok: seed {}, {} ops on {}, final size {:#x}, {} full compares; {}; disabled: {}",
        f.cfg.seed,
        f.opno,
        f.cfg.file,
        f.size(),
        f.full_verifies,
        counts.join(", "),
        if dis.is_empty() { "none".into() } else { dis.join(", ") }
    );
}
