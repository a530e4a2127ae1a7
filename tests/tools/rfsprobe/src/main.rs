//! rfsprobe: a small static syscall prober for the rfs VM test suites.
//!
//! The guest has only busybox, whose applets hide errno values behind
//! messages and cannot reach newer syscalls (fsopen, renameat2, O_TMPFILE,
//! getdents64 d_type, seekdir).  rfsprobe does one syscall-level operation per
//! invocation:
//!
//! ```text
//! rfsprobe [--pct] [--uid N] [--gid N] OP ARGS...
//! ```
//!
//! * success: exit 0, print the operation's output (if any);
//! * a failing syscall: print the errno NAME as the first word of stdout
//!   (`EROFS`, `ENOENT`, ...), then a space and details, exit 1;
//! * a failed check (`seekdir-check`, `cmp-mmap`, `cmp`, `fifo-roundtrip`,
//!   `tmpfile`, `pwrite`): print what differed (`mismatch ...`,
//!   `differ ...`, `short ...`), exit 1;
//! * usage errors: message on stderr, exit 2.
//!
//! `--uid N` / `--gid N` drop privileges (setgroups(0), setgid, setuid)
//! before the operation, for permission tests (busybox may lack su/setpriv).
//!
//! `--pct` percent-decodes every argument first (`%HH` is the byte 0xHH,
//! `%%` a `%`), so a test can pass bytes a shell argument cannot hold: the
//! mount data and fsconfig(2) keys and values may then contain NUL bytes
//! (they are passed as raw bytes, up to the kernel to stop at the NUL).
//!
//! Run `rfsprobe help` for the list of operations.

mod acl;
mod auplink;
mod corpus;
mod dir;
mod errno;
mod mount;
mod plink;

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Why an operation did not succeed.
pub enum Fail {
    /// A syscall failed: errno and a short context ("open /x").
    Sys(i32, String),
    /// A syscall failed; the text is printed verbatim after the errno name.
    SysDetail(i32, String),
    /// A check found a difference; the text is printed as is (exit 1).
    Check(String),
    /// Bad command line (exit 2).
    Usage(String),
}

pub type Res<T = ()> = Result<T, Fail>;

/// The current errno as a `Fail::Sys` with context `ctx`.
pub fn last_err(ctx: impl Into<String>) -> Fail {
    let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Fail::Sys(e, ctx.into())
}

/// Map a libc-style return value (negative on error) to a `Res`.
pub fn check<T: Copy + PartialOrd + Default>(ret: T, ctx: impl Into<String>) -> Res<T> {
    if ret < T::default() {
        Err(last_err(ctx))
    } else {
        Ok(ret)
    }
}

/// strerror text without std's " (os error N)" suffix.
pub fn strerror(e: i32) -> String {
    let msg = std::io::Error::from_raw_os_error(e).to_string();
    msg.split(" (os error").next().unwrap_or("").to_string()
}

pub fn usage<T>(msg: impl Into<String>) -> Res<T> {
    Err(Fail::Usage(msg.into()))
}

/// A NUL-terminated copy of a command-line argument.
pub fn cstr(s: &OsStr) -> Res<CString> {
    CString::new(s.as_bytes()).or_else(|_| usage("argument contains NUL"))
}

pub fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

fn num<T: std::str::FromStr>(s: &OsStr, what: &str) -> Res<T> {
    match s.to_str().and_then(|t| t.parse().ok()) {
        Some(v) => Ok(v),
        None => usage(format!("bad {what}: {}", lossy(s))),
    }
}

fn octal(s: &OsStr) -> Res<libc::mode_t> {
    match s.to_str().and_then(|t| libc::mode_t::from_str_radix(t, 8).ok()) {
        Some(v) => Ok(v),
        None => usage(format!("bad octal mode: {}", lossy(s))),
    }
}

/// chmod(2) of `f` (copying it and its directory `d` up) while a thread
/// stat(2)s both in a loop (copyup-race, copyup-flock).
fn chmod_while_looked_up(d: &std::path::Path, f: &std::path::Path) -> Res {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let looper = {
        let (stop, d, f) = (stop.clone(), d.to_path_buf(), f.to_path_buf());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::metadata(&d);
                let _ = std::fs::metadata(&f);
            }
        })
    };
    // Let the looper start walking before the copy-up.
    std::thread::sleep(std::time::Duration::from_micros(200));
    let r = std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o640));
    stop.store(true, Ordering::Relaxed);
    let _ = looper.join();
    r.map_err(|e| Fail::Check(format!("chmod {}: {e}", f.display())))
}

/// Write bytes to stdout (a failing stdout is reported as a syscall error).
pub fn out(bytes: &[u8]) -> Res {
    std::io::stdout()
        .write_all(bytes)
        .map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), "write stdout".into()))
}

/// Owned file descriptor closed on drop.
pub struct Fd(pub libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

pub fn open(path: &OsStr, flags: libc::c_int, mode: libc::mode_t) -> Res<Fd> {
    let p = cstr(path)?;
    // SAFETY: p is a valid C string.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    Ok(Fd(check(fd, format!("open {}", lossy(path)))?))
}

/// A zeroed buffer aligned to 4096 bytes, as O_DIRECT wants.
pub struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Res<AlignedBuf> {
        let mut p: *mut libc::c_void = std::ptr::null_mut();
        // SAFETY: posix_memalign writes `p` on success.
        let r = unsafe { libc::posix_memalign(&mut p, 4096, len.max(1)) };
        if r != 0 {
            return Err(Fail::Sys(r, "posix_memalign".into()));
        }
        // SAFETY: `p` holds at least `len` bytes.
        unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0, len) };
        Ok(AlignedBuf { ptr: p.cast(), len })
    }

    pub fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` holds `len` initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated by posix_memalign.
        unsafe { libc::free(self.ptr.cast()) };
    }
}

/// read(2) until `buf` is full or EOF; returns bytes read.
pub fn read_full(fd: &Fd, buf: &mut [u8]) -> Res<usize> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the range is inside buf.
        let n = unsafe {
            libc::read(fd.0, buf[done..].as_mut_ptr().cast(), buf.len() - done)
        };
        let n = check(n, "read")?;
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    Ok(done)
}

fn write_all(fd: &Fd, mut data: &[u8], ctx: &str) -> Res {
    while !data.is_empty() {
        // SAFETY: data is a valid slice.
        let n = unsafe { libc::write(fd.0, data.as_ptr().cast(), data.len()) };
        let n = check(n, format!("write {ctx}"))?;
        data = &data[n as usize..];
    }
    Ok(())
}

/// `open` FLAGS: tokens separated by `,` or `+`.
fn parse_open_flags(s: &OsStr) -> Res<libc::c_int> {
    let s = lossy(s);
    let mut acc = None;
    let mut f = 0;
    for tok in s.split([',', '+']).filter(|t| !t.is_empty()) {
        match tok {
            "r" | "rdonly" => acc = Some(libc::O_RDONLY),
            "w" | "wronly" => acc = Some(libc::O_WRONLY),
            "rw" | "rdwr" => acc = Some(libc::O_RDWR),
            "a" | "append" => {
                f |= libc::O_APPEND;
                acc.get_or_insert(libc::O_WRONLY);
            }
            "trunc" => f |= libc::O_TRUNC,
            "creat" | "create" => f |= libc::O_CREAT,
            "excl" => f |= libc::O_EXCL,
            "tmpfile" => f |= libc::O_TMPFILE,
            "dir" | "directory" => f |= libc::O_DIRECTORY,
            "nofollow" => f |= libc::O_NOFOLLOW,
            "path" => f |= libc::O_PATH,
            "nonblock" => f |= libc::O_NONBLOCK,
            "noatime" => f |= libc::O_NOATIME,
            "sync" => f |= libc::O_SYNC,
            "direct" => f |= libc::O_DIRECT,
            "noctty" => f |= libc::O_NOCTTY,
            other => return usage(format!("unknown open flag: {other}")),
        }
    }
    Ok(f | acc.unwrap_or(libc::O_RDONLY))
}

fn file_type(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "reg",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "lnk",
        libc::S_IFIFO => "fifo",
        libc::S_IFCHR => "chr",
        libc::S_IFBLK => "blk",
        libc::S_IFSOCK => "sock",
        _ => "unknown",
    }
}

fn do_stat(path: &OsStr, follow: bool) -> Res<libc::stat> {
    let p = cstr(path)?;
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: p valid, st valid.
    let r = unsafe {
        if follow {
            libc::stat(p.as_ptr(), &mut st)
        } else {
            libc::lstat(p.as_ptr(), &mut st)
        }
    };
    check(r, format!("{} {}", if follow { "stat" } else { "lstat" }, lossy(path)))?;
    Ok(st)
}

fn print_stat(st: &libc::stat) -> Res {
    let line = format!(
        "dev={}:{} ino={} mode=0{:o} nlink={} uid={} gid={} size={} blocks={} type={} rdev={}:{} mtime={}\n",
        libc::major(st.st_dev),
        libc::minor(st.st_dev),
        st.st_ino,
        st.st_mode,
        st.st_nlink,
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_blocks,
        file_type(st.st_mode),
        libc::major(st.st_rdev),
        libc::minor(st.st_rdev),
        st.st_mtime,
    );
    out(line.as_bytes())
}

/// The whole file via mmap(MAP_SHARED, PROT_READ); empty files give an empty Vec.
fn mmap_contents(path: &OsStr) -> Res<Vec<u8>> {
    let fd = open(path, libc::O_RDONLY, 0)?;
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open, st valid.
    check(unsafe { libc::fstat(fd.0, &mut st) }, "fstat")?;
    let len = st.st_size as usize;
    if len == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: a fresh read-only shared mapping of an open fd.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.0, 0)
    };
    if p == libc::MAP_FAILED {
        return Err(last_err(format!("mmap {}", lossy(path))));
    }
    // SAFETY: the mapping is len bytes long and readable.
    let v = unsafe { std::slice::from_raw_parts(p as *const u8, len) }.to_vec();
    // SAFETY: unmapping what we mapped.
    unsafe { libc::munmap(p, len) };
    Ok(v)
}

/// Maps `path` (shared, read-only), closes the file, creates `ready`, then
/// keeps the mapping until `ready` is removed (polled every 50 ms): a file
/// held only by a mapping.
fn mmap_hold(path: &OsStr, ready: &OsStr) -> Res {
    let fd = open(path, libc::O_RDONLY, 0)?;
    // SAFETY: a fresh read-only shared mapping of one page of an open fd.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd.0, 0) };
    if p == libc::MAP_FAILED {
        return Err(last_err(format!("mmap {}", lossy(path))));
    }
    drop(fd);
    std::fs::write(ready, b"mapped\n").map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), "ready file".into()))?;
    while std::path::Path::new(ready).exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: unmapping what we mapped.
    unsafe { libc::munmap(p, 4096) };
    Ok(())
}

/// The whole file via read(2) in deliberately odd-sized chunks.
fn read_contents(path: &OsStr) -> Res<Vec<u8>> {
    const CHUNKS: [usize; 6] = [1, 7, 4093, 65537, 13, 4096];
    let fd = open(path, libc::O_RDONLY, 0)?;
    let mut v = Vec::new();
    let mut buf = vec![0u8; 65537];
    let mut i = 0;
    loop {
        let want = CHUNKS[i % CHUNKS.len()];
        i += 1;
        // SAFETY: want <= buf.len().
        let n = unsafe { libc::read(fd.0, buf.as_mut_ptr().cast(), want) };
        let n = check(n, format!("read {}", lossy(path)))? as usize;
        if n == 0 {
            return Ok(v);
        }
        v.extend_from_slice(&buf[..n]);
    }
}

/// Fork a writer that opens the fifo for writing and writes a token; read it
/// back through an O_RDONLY open in this process.
fn fifo_roundtrip(path: &OsStr) -> Res {
    const TOKEN: &[u8] = b"rfs-fifo-token\n";
    let p = cstr(path)?;
    // SAFETY: plain fork; the child only does async-signal-safe calls.
    let pid = check(unsafe { libc::fork() }, "fork")?;
    if pid == 0 {
        // SAFETY: child: open/write/_exit only.
        unsafe {
            libc::alarm(10);
            let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                libc::_exit(3);
            }
            let ok = libc::write(fd, TOKEN.as_ptr().cast(), TOKEN.len()) == TOKEN.len() as isize;
            libc::_exit(if ok { 0 } else { 4 });
        }
    }
    // SAFETY: arm a watchdog so a broken fifo cannot hang the suite.
    unsafe { libc::alarm(10) };
    let res = (|| {
        let fd = open(path, libc::O_RDONLY, 0)?;
        let mut buf = vec![0u8; 256];
        let n = read_full(&fd, &mut buf)?;
        Ok(buf[..n].to_vec())
    })();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // SAFETY: disarm.
    unsafe { libc::alarm(0) };
    let got = res?;
    if got != TOKEN {
        return Err(Fail::Check(format!(
            "mismatch read {:?} (writer status {status:#x})",
            String::from_utf8_lossy(&got)
        )));
    }
    if status != 0 {
        return Err(Fail::Check(format!("mismatch writer status {status:#x}")));
    }
    out(b"ok\n")
}

/// A `SECONDS[.NANOSECONDS]` argument as a timespec (nanoseconds right-padded:
/// `5.1` is 5 s + 100000000 ns).
fn timespec_arg(s: &OsStr) -> Res<libc::timespec> {
    let t = lossy(s);
    let (sec, nsec) = t.split_once('.').unwrap_or((&t, ""));
    let bad = || usage(format!("bad time (SECONDS[.NANOSECONDS]): {t}"));
    let Ok(sec) = sec.parse::<libc::time_t>() else { return bad() };
    if nsec.len() > 9 || !nsec.bytes().all(|b| b.is_ascii_digit()) {
        return bad();
    }
    let nsec = if nsec.is_empty() { 0 } else { format!("{nsec:0<9}").parse().unwrap_or(0) };
    Ok(libc::timespec { tv_sec: sec, tv_nsec: nsec })
}

/// The size of an open file.
fn fsize(fd: &Fd) -> Res<i64> {
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open, st valid.
    check(unsafe { libc::fstat(fd.0, &mut st) }, "fstat")?;
    Ok(st.st_size)
}

/// Write `data` at `off` of an existing file through a writable
/// MAP_SHARED mapping, then msync(MS_SYNC) and munmap. The range must lie
/// inside the file (a mapping cannot extend it).
fn mmap_write(path: &OsStr, off: i64, data: &[u8]) -> Res {
    let fd = open(path, libc::O_RDWR, 0)?;
    let size = fsize(&fd)?;
    if off < 0 || off + data.len() as i64 > size {
        return usage(format!(
            "mmap-write: range {off}+{} is not inside the file ({size} bytes)",
            data.len()
        ));
    }
    if data.is_empty() {
        return Ok(());
    }
    // SAFETY: sysconf is always safe.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64;
    let start = off - off % page;
    let len = (off - start) as usize + data.len();
    // SAFETY: a fresh shared writable mapping of an fd open O_RDWR.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.0,
            start,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(last_err(format!("mmap {}", lossy(path))));
    }
    // SAFETY: the mapping is len bytes; the copy ends at len.
    unsafe {
        std::ptr::copy_nonoverlapping(
            data.as_ptr(),
            (p as *mut u8).add((off - start) as usize),
            data.len(),
        )
    };
    // SAFETY: syncing and unmapping what we mapped.
    let r = unsafe { libc::msync(p, len, libc::MS_SYNC) };
    let res = check(r, format!("msync {}", lossy(path))).map(drop);
    // SAFETY: as above.
    unsafe { libc::munmap(p, len) };
    res
}

/// O_TMPFILE in `dir`: write `data`, read it back with pread, optionally
/// give it the name `link_to` (linkat AT_EMPTY_PATH), print its fstat line.
fn tmpfile(dir: &OsStr, data: &[u8], link_to: Option<&OsStr>) -> Res {
    let fd = open(dir, libc::O_TMPFILE | libc::O_RDWR, 0o644)?;
    write_all(&fd, data, "tmpfile")?;
    let mut back = vec![0u8; data.len()];
    // SAFETY: back is data.len() bytes long.
    let n = unsafe { libc::pread(fd.0, back.as_mut_ptr().cast(), back.len(), 0) };
    let n = check(n, "pread tmpfile")? as usize;
    if back[..n] != *data {
        return Err(Fail::Check(format!(
            "mismatch tmpfile read back {:?}",
            String::from_utf8_lossy(&back[..n])
        )));
    }
    if let Some(new) = link_to {
        let np = cstr(new)?;
        let empty = CString::default();
        // SAFETY: valid C strings and an open fd.
        let r = unsafe {
            libc::linkat(fd.0, empty.as_ptr(), libc::AT_FDCWD, np.as_ptr(), libc::AT_EMPTY_PATH)
        };
        check(r, format!("linkat {}", lossy(new)))?;
    }
    // SAFETY: zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open, st valid.
    check(unsafe { libc::fstat(fd.0, &mut st) }, "fstat tmpfile")?;
    print_stat(&st)
}

/// `tree DIR...`: every object under each DIR (DIR included), depth first
/// in byte order of names, one line each:
/// `PATH type=T mode=0M nlink=N uid=U gid=G size=S blocks=B rdev=MA:MI
/// mtime=S.N CONTENT xattrs=NAME=VALUE,...` where CONTENT is `fnv=HEX` (a
/// 64-bit FNV-1a hash of a regular file's data), `-> TARGET` for a symlink,
/// `-` otherwise; xattrs are the user.* ones (llistxattr), values with
/// non-printable bytes as \xHH. A fifo's mtime is left out (writing into a
/// fifo updates it). An object that cannot be read gives `PATH ERRNO`.
/// For before/after snapshots of branches (atime and ctime are not shown).
fn tree(roots: &[OsString]) -> Res {
    use std::os::unix::fs::MetadataExt;
    fn hash_file(p: &std::path::Path) -> std::io::Result<u64> {
        use std::io::Read;
        let mut f = std::fs::File::open(p)?;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(h);
            }
            for &b in &buf[..n] {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    fn walk(p: &std::path::Path, o: &mut Vec<u8>) {
        let shown = p.to_string_lossy();
        let md = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) => {
                o.extend_from_slice(format!("{shown} {}\n", errno::name(e.raw_os_error().unwrap_or(0))).as_bytes());
                return;
            }
        };
        let mode = md.mode() as libc::mode_t;
        let ty = file_type(mode);
        let mut line = format!(
            "{shown} type={ty} mode=0{:o} nlink={} uid={} gid={} size={} blocks={} rdev={}:{}",
            mode,
            md.nlink(),
            md.uid(),
            md.gid(),
            md.size(),
            md.blocks(),
            libc::major(md.rdev() as libc::dev_t),
            libc::minor(md.rdev() as libc::dev_t),
        );
        if ty != "fifo" {
            line.push_str(&format!(" mtime={}.{:09}", md.mtime(), md.mtime_nsec()));
        }
        let content = match ty {
            "reg" => match hash_file(p) {
                Ok(h) => format!("fnv={h:016x}"),
                Err(e) => errno::name(e.raw_os_error().unwrap_or(0)),
            },
            "lnk" => match std::fs::read_link(p) {
                Ok(t) => format!("-> {}", t.to_string_lossy()),
                Err(e) => errno::name(e.raw_os_error().unwrap_or(0)),
            },
            _ => "-".to_string(),
        };
        let x = if ty == "lnk" {
            String::new()
        } else {
            user_xattrs(p, ",").unwrap_or_else(errno::name)
        };
        o.extend_from_slice(format!("{line} {content} xattrs={x}\n").as_bytes());
        if ty == "dir" {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut names: Vec<OsString> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
                    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                    for n in names {
                        walk(&p.join(n), o);
                    }
                }
                Err(e) => o.extend_from_slice(
                    format!("{shown}/ readdir {}\n", errno::name(e.raw_os_error().unwrap_or(0))).as_bytes(),
                ),
            }
        }
    }
    let mut o = Vec::new();
    for r in roots {
        walk(std::path::Path::new(r), &mut o);
    }
    out(&o)
}

/// `cmp A B [LEN]`: compare two files (the first LEN bytes of each, if
/// given) in 1 MiB blocks; prints `same N` (N bytes compared) or fails with
/// `differ at offset N (A: X bytes, B: Y bytes)`. Much faster than busybox
/// cmp for the big files of the copy-up tests.
fn cmp_files(a: &OsStr, b: &OsStr, limit: Option<u64>) -> Res {
    let (fa, fb) = (open(a, libc::O_RDONLY, 0)?, open(b, libc::O_RDONLY, 0)?);
    let (sa, sb) = (fsize(&fa)? as u64, fsize(&fb)? as u64);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut off: u64 = 0;
    loop {
        let want = match limit {
            Some(l) if l - off < ba.len() as u64 => (l - off) as usize,
            _ => ba.len(),
        };
        if want == 0 {
            return out(format!("same {off}\n").as_bytes());
        }
        let na = read_full(&fa, &mut ba[..want])?;
        let nb = read_full(&fb, &mut bb[..want])?;
        if let Some(i) = ba[..na.min(nb)].iter().zip(&bb[..na.min(nb)]).position(|(x, y)| x != y) {
            return Err(Fail::Check(format!(
                "differ at offset {} ({} bytes, {} bytes)",
                off + i as u64,
                sa,
                sb
            )));
        }
        if na != nb {
            return Err(Fail::Check(format!(
                "differ at offset {} (EOF of one file; {sa} bytes, {sb} bytes)",
                off + na.min(nb) as u64
            )));
        }
        off += na as u64;
        if na < want {
            return out(format!("same {off}\n").as_bytes());
        }
    }
}

/// The user.* xattrs of `p` (not following a symlink), sorted, as
/// `NAME=VALUE` joined by `sep`; bytes of a value that are not printable,
/// or are a backslash, `,` or a space, come out as \xHH. A failing
/// llistxattr gives its errno.
fn user_xattrs(p: &std::path::Path, sep: &str) -> Result<String, i32> {
    some_xattrs(p, sep, false)
}

/// Like `user_xattrs`, but with `all` every xattr the caller may list
/// (trusted.*, security.*, ...); POSIX ACL values are shown in `getacl`'s
/// text form.
fn some_xattrs(p: &std::path::Path, sep: &str, all: bool) -> Result<String, i32> {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else { return Err(libc::EINVAL) };
    let mut names = vec![0u8; 65536];
    // SAFETY: valid C string and buffer.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    let mut list: Vec<&[u8]> = names[..n as usize]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty() && (all || s.starts_with(b"user.")))
        .collect();
    list.sort();
    let mut o = Vec::new();
    for name in list {
        let Ok(cn) = CString::new(name) else { continue };
        let mut val = vec![0u8; 65536];
        // SAFETY: valid C strings and buffer.
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
        let mut item = String::from_utf8_lossy(name).into_owned();
        item.push('=');
        if m < 0 {
            item.push('?');
        } else if all && name.starts_with(b"system.posix_acl_") {
            item.push_str(&acl::decode(&val[..m as usize]));
        } else {
            for &b in &val[..m as usize] {
                if b.is_ascii_graphic() && b != b'\\' && b != b',' && b != b' ' {
                    item.push(b as char);
                } else {
                    item.push_str(&format!("\\x{b:02x}"));
                }
            }
        }
        o.push(item);
    }
    Ok(o.join(sep))
}

/// `meta PATH`: lstat as `type=T mode=0M uid=U gid=G size=S mtime=S.N
/// atime=S.N` (the attributes a copy-up must keep, in one call).
fn meta(path: &OsStr) -> Res {
    let st = do_stat(path, false)?;
    out(format!(
        "type={} mode=0{:o} uid={} gid={} size={} mtime={}.{:09} atime={}.{:09}\n",
        file_type(st.st_mode),
        st.st_mode,
        st.st_uid,
        st.st_gid,
        st.st_size,
        st.st_mtime,
        st.st_mtime_nsec,
        st.st_atime,
        st.st_atime_nsec
    )
    .as_bytes())
}

/// `fill PATH SIZE SEED`: create/truncate PATH and write SIZE bytes of a
/// xorshift64* stream seeded with SEED (fast test data, unlike /dev/urandom
/// under TCG; every 8 bytes differ, so misplaced or missing blocks show).
fn fill(path: &OsStr, size: u64, seed: u64) -> Res {
    let fd = open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)?;
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for c in buf.chunks_exact_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            c.copy_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        write_all(&fd, &buf[..n], &lossy(path))?;
        left -= n as u64;
    }
    Ok(())
}

fn drop_privileges(uid: Option<libc::uid_t>, gid: Option<libc::gid_t>) -> Res {
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    // SAFETY: plain credential syscalls.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()), "setgroups")?;
        if let Some(g) = gid.or(uid) {
            check(libc::setgid(g), "setgid")?;
        }
        if let Some(u) = uid {
            check(libc::setuid(u), "setuid")?;
        }
    }
    Ok(())
}

const HELP: &str = "\
usage: rfsprobe [--pct] [--uid N] [--gid N] OP ARGS...
  --pct: percent-decode every argument (%HH a byte, %% a %); data, keys and values may hold NULs
mounts:
  mount TYPE SRC TARGET DATA [FLAGS]   mount(2); FLAGS: ro,nosuid,nodev,noexec,bind,rec,...
  remount TARGET DATA [FLAGS]          mount(2) with MS_REMOUNT
  remount-seq TARGET DATA...           one MS_REMOUNT mount(2) per DATA, in order; stops at the first failure
  umount TARGET [detach|force]         umount2(2)
  fsmount TYPE TARGET KEY[=VAL]...     fsopen/fsconfig/fsmount/move_mount; on failure the
                                       fs_context log follows the errno: `EINVAL | e rfs: ...`
  fsreconfigure TARGET KEY[=VAL]...    fspick/fsconfig/FSCONFIG_CMD_RECONFIGURE (log on failure)
  (fsmount, fsreconfigure, fsconfig-log: +bin:KEY=VAL, +path:KEY=PATH, +fd:KEY give the
   fsconfig(2) binary, path and fd value types)
  corpus-run CASES MNT BASE   run tests/corpus.sh's expanded option cases in one process
  fsconfig-log TYPE KEY[=VAL]...       like fsmount up to FSCONFIG_CMD_CREATE, prints the log
creation and removal:
  creat PATH [MODE]  open PATH FLAGS [MODE]  mkdir PATH [MODE]  rmdir PATH  unlink PATH
  rename OLD NEW [noreplace|exchange|whiteout]   link OLD NEW   symlink TARGET PATH
  mknod PATH fifo|reg|sock [MODE]   mknod PATH chr|blk MAJ MIN [MODE]
  tmpfile DIR DATA [LINKPATH]   O_TMPFILE|O_RDWR in DIR, write DATA, check it reads back,
                                [linkat(AT_EMPTY_PATH) it to LINKPATH], print its fstat line
attributes:
  truncate PATH LEN  ftruncate PATH LEN  chmod PATH MODE  chown PATH UID GID  lchown PATH UID GID
  utimes PATH [SECONDS]  utimens PATH ATIME MTIME [nofollow]  (times: SECONDS[.NANOSECONDS])
  setxattr PATH NAME VALUE [create|replace]  getxattr PATH NAME
  listxattr PATH  removexattr PATH NAME  access PATH r|w|x|f...
  setacl PATH access|default SPEC   setxattr system.posix_acl_{access,default}; SPEC is
                                 a comma list TAG:[ID]:PERM, e.g. u::rw-,u:1000:r--,g::r--,m::r--,o::---
  getacl PATH access|default     the ACL in the same form (kernel order), or the errno (ENODATA)
  rmacl PATH access|default      removexattr system.posix_acl_{access,default}
data:
  write PATH DATA  append PATH DATA  read-cat FILE  mmap-cat FILE  cmp-mmap FILE
  append-loop PATH COUNTFILE [PER [GAP_US]]   open PATH O_WRONLY|O_APPEND (no O_CREAT), write
                                 a byte PER times (100), close, wait GAP_US microseconds (0),
                                 again until the open fails; the number of bytes written goes
                                 to COUNTFILE
  pwrite PATH OFFSET DATA        open O_RDWR, pwrite(2) DATA at OFFSET
  mmap-hold PATH READY          map PATH, close it, create READY, keep the mapping until READY is removed
  mmap-write PATH OFFSET DATA    open O_RDWR, write DATA at OFFSET through a MAP_SHARED
                                 PROT_WRITE mapping, msync(MS_SYNC) (range inside the file)
  fallocate PATH OFFSET LEN [keep|punch]   open O_WRONLY, fallocate(2) (mode 0,
                                 KEEP_SIZE, or PUNCH_HOLE|KEEP_SIZE)
  sync-write PATH DATA fsync|fdatasync     open O_WRONLY|O_APPEND, write DATA, then sync it
  fill PATH SIZE SEED   create/truncate PATH with SIZE bytes of a xorshift64* stream
  fifo-roundtrip FIFO  fsync PATH (opened read-only)
  cmp A B [LEN]   compare files (first LEN bytes) in 1 MiB blocks: `same N`, or
                  `differ at offset N (...)` and exit 1
inspection:
  stat PATH  lstat PATH  statfs PATH  readlink PATH  inode-of PATH
  times PATH    lstat times: atime=S.N mtime=S.N ctime=S.N (N: 9 digits)
  meta PATH     lstat: type= mode= uid= gid= size= mtime=S.N atime=S.N
  user-xattrs PATH   the user.* xattrs (lgetxattr), sorted: NAME=VALUE NAME=VALUE ...
  xattrs-all PATH    every xattr llistxattr shows the caller, the same way; POSIX ACLs
                     as system.posix_acl_*=u::rw-,... (getacl's form)
  tree DIR...   every object below DIR: PATH type= mode= nlink= uid= gid= size= blocks= rdev=
                mtime=S.N (not for fifos) fnv=HASH|-> TARGET|- xattrs=user.N=V,...
                (sorted; for before/after snapshots of branches)
  readdir DIR [BUFSIZE]   one line per entry: NAME TYPE INO (getdents64 order)
  elf-entry-offset FILE   the file offset of an ELF64 program's entry point (hex), for a
                          uprobe (PATH:0xOFFSET)
  copyup-race DIR COUNT   for i < COUNT: a thread stat(2)s DIR/dI and DIR/dI/f in a loop
                          while chmod(2) of DIR/dI/f copies both up; then compares each
                          one's st_ino with its d_ino in its parent: `mismatches N`
  fid PATH [plain]        name_to_handle_at(2) with AT_HANDLE_FID (plain: a decodable handle):
                          `type=T HEX` (type and bytes of the handle)
  brinfo DIR              AUFS_CTL_BRINFO on a union directory: `ID PERM PATH` per branch
  auplink MNT list|flush  what AUFS's auplink does (plink_maint, BRINFO, a walk, lchown,
                          clean, removal of the pseudo-links), in AUFS compatibility mode
  copyup-flock DIR COUNT  for i < COUNT: flock(LOCK_EX) on DIR/dI and DIR/dI/f opened
                          O_RDONLY, then as copyup-race; then a new open of each must
                          find the lock held (one union inode per object): `split N`
  seekdir-check DIR [SEED] telldir/seekdir/rewinddir consistency: `ok N entries`
between files and flags:
  direct-write PATH OFF LEN SEED   O_WRONLY|O_DIRECT pwrite(2) of LEN bytes (a 4096-aligned
                             buffer, byte i = SEED + 7*i mod 256) at OFF; prints the count
  direct-read PATH OFF LEN [setfl]  O_RDONLY|O_DIRECT pread(2) of LEN bytes at OFF into a
                             4096-aligned buffer, written to stdout; with `setfl` the file
                             is opened without O_DIRECT and fcntl(F_SETFL) adds it
  setfl-write PATH append|noappend DATA OFF  opens PATH O_WRONLY with O_APPEND for
                             `noappend` (without it for `append`), lets fcntl(F_SETFL) clear
                             (set) O_APPEND, then pwrite(2)s DATA at OFF
  fiemap PATH                FS_IOC_FIEMAP: prints the number of extents of the whole file
  fadvise PATH ADVICE        posix_fadvise(2) of the whole file (dontneed, willneed, normal,
                             sequential, random, noreuse)
  incore PATH                mmap + mincore(2): prints how many of the file's pages are in
                             the page cache
  copy-range SRC DST [LEN]   copy_file_range(2) of LEN (default: all of SRC) bytes from offset 0
                             of SRC (O_RDONLY) to offset 0 of DST (O_WRONLY); prints the count
  clone SRC DST              ioctl FICLONE: DST (O_WRONLY) shares SRC's data
  dedupe SRC DST             ioctl FIDEDUPERANGE of SRC's whole length, SRC and DST both opened
                             O_RDONLY; prints the result (`same N` or `differs`)
  chattr PATH +a|-a|+i|-i|+A|-A   FS_IOC_GETFLAGS/SETFLAGS (append, immutable, noatime)
  lsattr PATH                the flags among a,i,A,S as letters (`-` for none)
  flock PATH ex|sh [HOLD READY]   flock(2) LOCK_NB on PATH (O_RDONLY): EWOULDBLOCK if taken; with
                             HOLD: create READY, keep the lock until READY is removed
  freeze MOUNTPOINT  thaw MOUNTPOINT   ioctl FIFREEZE / FITHAW (fsfreeze)
rfs's pseudo-link flush ioctls:
  plink-info PATH            RFS_IOC_PLINK_INFO on PATH (O_RDONLY): `epoch E count N`
  plink-link PATH            RFS_IOC_PLINK_LINK on PATH: prints 1 if a link was made, else 0
  plink-clean PATH EPOCH     RFS_IOC_PLINK_CLEAN: prints how many pseudo-links went
  plink-flush MOUNTPOINT     the whole flush (info, walk + link, clean; again on EAGAIN):
                             prints `linked N removed M`
";

fn run(args: &[OsString]) -> Res {
    let op = args[0].to_string_lossy().into_owned();
    let a = &args[1..];
    let need = |lo: usize, hi: usize| -> Res {
        if a.len() < lo || a.len() > hi {
            usage(format!("{op}: wrong number of arguments\n{HELP}"))
        } else {
            Ok(())
        }
    };
    let path = |i: usize| -> Res<CString> { cstr(&a[i]) };
    let ctx = |i: usize| format!("{op} {}", lossy(&a[i]));
    // SAFETY (for the unsafe blocks below): every pointer passed to libc is a
    // live CString or a valid buffer owned by this frame.
    match op.as_str() {
        "help" | "--help" | "-h" => out(HELP.as_bytes()),
        "mount" => {
            need(4, 5)?;
            mount::mount(&a[0], &a[1], &a[2], &a[3], a.get(4))
        }
        "remount" => {
            need(2, 3)?;
            mount::remount(&a[0], &a[1], a.get(2))
        }
        "remount-seq" => {
            need(2, usize::MAX)?;
            mount::remount_seq(&a[0], &a[1..])
        }
        "umount" => {
            need(1, 2)?;
            mount::umount(&a[0], a.get(1))
        }
        "fsmount" => {
            need(2, usize::MAX)?;
            mount::fsmount(&a[0], Some(&a[1]), &a[2..])
        }
        "fsreconfigure" => {
            need(1, usize::MAX)?;
            mount::fsreconfigure(&a[0], &a[1..])
        }
        "corpus-run" => {
            need(3, 3)?;
            corpus::run(&a[0], &a[1], &a[2])
        }
        "fsconfig-log" => {
            need(1, usize::MAX)?;
            mount::fsmount(&a[0], None, &a[1..])
        }
        "creat" => {
            need(1, 2)?;
            let mode = a.get(1).map(|m| octal(m)).transpose()?.unwrap_or(0o644);
            open(&a[0], libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, mode).map(drop)
        }
        "open" => {
            need(2, 3)?;
            let flags = parse_open_flags(&a[1])?;
            let mode = a.get(2).map(|m| octal(m)).transpose()?.unwrap_or(0o644);
            open(&a[0], flags, mode).map(drop)
        }
        "mkdir" => {
            need(1, 2)?;
            let mode = a.get(1).map(|m| octal(m)).transpose()?.unwrap_or(0o755);
            check(unsafe { libc::mkdir(path(0)?.as_ptr(), mode) }, ctx(0)).map(drop)
        }
        "rmdir" => {
            need(1, 1)?;
            check(unsafe { libc::rmdir(path(0)?.as_ptr()) }, ctx(0)).map(drop)
        }
        "unlink" => {
            need(1, 1)?;
            check(unsafe { libc::unlink(path(0)?.as_ptr()) }, ctx(0)).map(drop)
        }
        "rename" => {
            need(2, 3)?;
            let flags: libc::c_uint = match a.get(2).map(|f| lossy(f)).as_deref() {
                None | Some("") => 0,
                Some("noreplace") => libc::RENAME_NOREPLACE,
                Some("exchange") => libc::RENAME_EXCHANGE,
                Some("whiteout") => libc::RENAME_WHITEOUT,
                Some(o) => return usage(format!("unknown rename flag {o}")),
            };
            let (o, n) = (path(0)?, path(1)?);
            let r = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    o.as_ptr(),
                    libc::AT_FDCWD,
                    n.as_ptr(),
                    flags,
                )
            };
            check(r, ctx(0)).map(drop)
        }
        "link" => {
            need(2, 2)?;
            check(unsafe { libc::link(path(0)?.as_ptr(), path(1)?.as_ptr()) }, ctx(1)).map(drop)
        }
        "symlink" => {
            need(2, 2)?;
            check(unsafe { libc::symlink(path(0)?.as_ptr(), path(1)?.as_ptr()) }, ctx(1))
                .map(drop)
        }
        "mknod" => {
            need(2, 5)?;
            let kind = lossy(&a[1]);
            let (fmt, dev, mode_at) = match kind.as_str() {
                "fifo" | "p" => (libc::S_IFIFO, 0, 2),
                "reg" => (libc::S_IFREG, 0, 2),
                "sock" => (libc::S_IFSOCK, 0, 2),
                "chr" | "c" | "blk" | "b" => {
                    if a.len() < 4 {
                        return usage("mknod chr|blk needs MAJ MIN");
                    }
                    let f = if kind.starts_with('c') { libc::S_IFCHR } else { libc::S_IFBLK };
                    (f, libc::makedev(num(&a[2], "major")?, num(&a[3], "minor")?), 4)
                }
                o => return usage(format!("unknown node type {o}")),
            };
            let mode = a.get(mode_at).map(|m| octal(m)).transpose()?.unwrap_or(0o644);
            check(unsafe { libc::mknod(path(0)?.as_ptr(), fmt | mode, dev) }, ctx(0)).map(drop)
        }
        "truncate" => {
            need(2, 2)?;
            let len: i64 = num(&a[1], "length")?;
            check(unsafe { libc::truncate(path(0)?.as_ptr(), len) }, ctx(0)).map(drop)
        }
        "ftruncate" => {
            need(2, 2)?;
            let len: i64 = num(&a[1], "length")?;
            let fd = open(&a[0], libc::O_WRONLY, 0)?;
            check(unsafe { libc::ftruncate(fd.0, len) }, ctx(0)).map(drop)
        }
        "chmod" => {
            need(2, 2)?;
            let mode = octal(&a[1])?;
            check(unsafe { libc::chmod(path(0)?.as_ptr(), mode) }, ctx(0)).map(drop)
        }
        "chown" | "lchown" => {
            need(3, 3)?;
            let (u, g): (libc::uid_t, libc::gid_t) = (num(&a[1], "uid")?, num(&a[2], "gid")?);
            let p = path(0)?;
            let r = unsafe {
                if op == "chown" {
                    libc::chown(p.as_ptr(), u, g)
                } else {
                    libc::lchown(p.as_ptr(), u, g)
                }
            };
            check(r, ctx(0)).map(drop)
        }
        "utimes" => {
            need(1, 2)?;
            let p = path(0)?;
            let r = match a.get(1) {
                None => unsafe {
                    libc::utimensat(libc::AT_FDCWD, p.as_ptr(), std::ptr::null(), 0)
                },
                Some(s) => {
                    let t = libc::timespec { tv_sec: num(s, "seconds")?, tv_nsec: 0 };
                    let ts = [t, t];
                    unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), ts.as_ptr(), 0) }
                }
            };
            check(r, ctx(0)).map(drop)
        }
        "setxattr" => {
            need(3, 4)?;
            let flags = match a.get(3).map(|f| lossy(f)).as_deref() {
                None => 0,
                Some("create") => libc::XATTR_CREATE,
                Some("replace") => libc::XATTR_REPLACE,
                Some(o) => return usage(format!("unknown setxattr flag {o}")),
            };
            let v = a[2].as_bytes();
            let r = unsafe {
                libc::setxattr(path(0)?.as_ptr(), path(1)?.as_ptr(), v.as_ptr().cast(), v.len(), flags)
            };
            check(r, ctx(0)).map(drop)
        }
        "getxattr" => {
            need(2, 2)?;
            let mut buf = vec![0u8; 65536];
            let n = unsafe {
                libc::getxattr(path(0)?.as_ptr(), path(1)?.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            };
            let n = check(n, ctx(0))? as usize;
            buf.truncate(n);
            buf.push(b'\n');
            out(&buf)
        }
        "listxattr" => {
            need(1, 1)?;
            let mut buf = vec![0u8; 65536];
            let n = unsafe { libc::listxattr(path(0)?.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            let n = check(n, ctx(0))? as usize;
            let mut o = Vec::new();
            for name in buf[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
                o.extend_from_slice(name);
                o.push(b'\n');
            }
            out(&o)
        }
        "removexattr" => {
            need(2, 2)?;
            check(unsafe { libc::removexattr(path(0)?.as_ptr(), path(1)?.as_ptr()) }, ctx(0))
                .map(drop)
        }
        "setacl" => {
            need(3, 3)?;
            acl::set(&a[0], &a[1], &a[2])
        }
        "getacl" => {
            need(2, 2)?;
            acl::get(&a[0], &a[1])
        }
        "rmacl" => {
            need(2, 2)?;
            acl::remove(&a[0], &a[1])
        }
        "access" => {
            need(2, 2)?;
            let mut m = 0;
            for ch in lossy(&a[1]).chars() {
                m |= match ch {
                    'r' => libc::R_OK,
                    'w' => libc::W_OK,
                    'x' => libc::X_OK,
                    'f' => libc::F_OK,
                    o => return usage(format!("unknown access mode {o}")),
                };
            }
            check(unsafe { libc::access(path(0)?.as_ptr(), m) }, ctx(0)).map(drop)
        }
        "write" | "append" => {
            need(2, 2)?;
            let extra = if op == "append" { libc::O_APPEND } else { 0 };
            let fd = open(&a[0], libc::O_WRONLY | extra, 0)?;
            write_all(&fd, a[1].as_bytes(), &lossy(&a[0]))
        }
        "append-loop" => {
            // Opens PATH (O_WRONLY|O_APPEND, never O_CREAT), writes one byte
            // PER times (default 100), closes it, and again until the open
            // fails; then writes the count of bytes written to COUNTFILE.
            // GAP_US (default 0) is a pause between a close and the next
            // open: on several CPUs a writer that reopens at once leaves
            // another process almost no moment when the file is closed.
            need(2, 4)?;
            let per: u32 = match a.get(2) {
                Some(x) => num(x, "count")?,
                None => 100,
            };
            let gap: u64 = match a.get(3) {
                Some(x) => num(x, "gap")?,
                None => 0,
            };
            let mut total: u64 = 0;
            while let Ok(fd) = open(&a[0], libc::O_WRONLY | libc::O_APPEND, 0) {
                for _ in 0..per {
                    write_all(&fd, b"x", &lossy(&a[0]))?;
                    total += 1;
                }
                drop(fd);
                if gap > 0 {
                    std::thread::sleep(std::time::Duration::from_micros(gap));
                }
            }
            std::fs::write(&a[1], format!("{total}\n")).map_err(|e| Fail::Check(format!("write {}: {e}", lossy(&a[1]))))
        }
        "read-cat" => {
            need(1, 1)?;
            out(&read_contents(&a[0])?)
        }
        "mmap-hold" => {
            need(2, 2)?;
            mmap_hold(&a[0], &a[1])
        }
        "mmap-cat" => {
            need(1, 1)?;
            out(&mmap_contents(&a[0])?)
        }
        "cmp-mmap" => {
            need(1, 1)?;
            let r = read_contents(&a[0])?;
            let m = mmap_contents(&a[0])?;
            if r == m {
                out(b"same\n")
            } else {
                let at = r.iter().zip(&m).position(|(x, y)| x != y).unwrap_or(r.len().min(m.len()));
                Err(Fail::Check(format!(
                    "differ at offset {at} (read {} bytes, mmap {} bytes)",
                    r.len(),
                    m.len()
                )))
            }
        }
        "pwrite" => {
            need(3, 3)?;
            let off: i64 = num(&a[1], "offset")?;
            let fd = open(&a[0], libc::O_RDWR, 0)?;
            let d = a[2].as_bytes();
            // SAFETY: d is a valid slice.
            let n = unsafe { libc::pwrite(fd.0, d.as_ptr().cast(), d.len(), off) };
            let n = check(n, ctx(0))? as usize;
            if n != d.len() {
                return Err(Fail::Check(format!("short pwrite: {n} of {} bytes", d.len())));
            }
            Ok(())
        }
        "mmap-write" => {
            need(3, 3)?;
            mmap_write(&a[0], num(&a[1], "offset")?, a[2].as_bytes())
        }
        "fallocate" => {
            need(3, 4)?;
            let mode = match a.get(3).map(|f| lossy(f)).as_deref() {
                None | Some("") => 0,
                Some("keep") => libc::FALLOC_FL_KEEP_SIZE,
                Some("punch") => libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                Some(o) => return usage(format!("unknown fallocate mode {o}")),
            };
            let (off, len): (i64, i64) = (num(&a[1], "offset")?, num(&a[2], "length")?);
            let fd = open(&a[0], libc::O_WRONLY, 0)?;
            check(unsafe { libc::fallocate(fd.0, mode, off, len) }, ctx(0)).map(drop)
        }
        "fiemap" => {
            need(1, 1)?;
            let fd = open(&a[0], libc::O_RDONLY, 0)?;
            // struct fiemap: start, length, flags, mapped_extents,
            // extent_count, reserved; no extents asked: the count only.
            let mut fm = [0u8; 32];
            fm[8..16].copy_from_slice(&u64::MAX.to_ne_bytes());
            const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
            check(unsafe { libc::ioctl(fd.0, FS_IOC_FIEMAP, fm.as_mut_ptr()) }, format!("FS_IOC_FIEMAP {}", lossy(&a[0])))?;
            println!("{}", u32::from_ne_bytes(fm[20..24].try_into().unwrap()));
            Ok(())
        }
        "fadvise" => {
            need(2, 2)?;
            let advice = match lossy(&a[1]).as_ref() {
                "dontneed" => libc::POSIX_FADV_DONTNEED,
                "willneed" => libc::POSIX_FADV_WILLNEED,
                "normal" => libc::POSIX_FADV_NORMAL,
                "sequential" => libc::POSIX_FADV_SEQUENTIAL,
                "random" => libc::POSIX_FADV_RANDOM,
                "noreuse" => libc::POSIX_FADV_NOREUSE,
                o => return usage(format!("fadvise: unknown advice {o}")),
            };
            let fd = open(&a[0], libc::O_RDONLY, 0)?;
            let r = unsafe { libc::posix_fadvise(fd.0, 0, 0, advice) };
            if r != 0 {
                return Err(Fail::Sys(r, format!("posix_fadvise {}", lossy(&a[0]))));
            }
            Ok(())
        }
        "incore" => {
            need(1, 1)?;
            let fd = open(&a[0], libc::O_RDONLY, 0)?;
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            check(unsafe { libc::fstat(fd.0, &mut st) }, ctx(0))?;
            let len = st.st_size as usize;
            if len == 0 {
                println!("0");
                return Ok(());
            }
            let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.0, 0) };
            if p == libc::MAP_FAILED {
                return Err(last_err(format!("mmap {}", lossy(&a[0]))));
            }
            let pages = len.div_ceil(4096);
            let mut vec = vec![0u8; pages];
            let r = unsafe { libc::mincore(p, len, vec.as_mut_ptr()) };
            unsafe { libc::munmap(p, len) };
            check(r, format!("mincore {}", lossy(&a[0])))?;
            println!("{}", vec.iter().filter(|&&b| b & 1 != 0).count());
            Ok(())
        }
        "direct-write" => {
            need(4, 4)?;
            let (off, len, seed): (i64, usize, u8) = (num(&a[1], "offset")?, num(&a[2], "length")?, num(&a[3], "seed")?);
            let fd = open(&a[0], libc::O_WRONLY | libc::O_DIRECT, 0)?;
            let mut buf = AlignedBuf::new(len)?;
            for (i, b) in buf.as_mut().iter_mut().enumerate() {
                *b = seed.wrapping_add((i as u8).wrapping_mul(7));
            }
            let n = unsafe { libc::pwrite(fd.0, buf.as_mut().as_ptr().cast(), len, off) };
            let n = check(n as libc::c_int, format!("pwrite O_DIRECT {}", lossy(&a[0])))?;
            println!("{n}");
            Ok(())
        }
        "setfl-write" => {
            need(4, 4)?;
            let append = match lossy(&a[1]).as_ref() {
                "append" => true,
                "noappend" => false,
                o => return usage(format!("setfl-write: unknown mode {o}")),
            };
            let off: i64 = num(&a[3], "offset")?;
            let fd = open(&a[0], if append { libc::O_WRONLY } else { libc::O_WRONLY | libc::O_APPEND }, 0)?;
            let fl = check(unsafe { libc::fcntl(fd.0, libc::F_GETFL) }, ctx(0))?;
            let fl = if append { fl | libc::O_APPEND } else { fl & !libc::O_APPEND };
            check(unsafe { libc::fcntl(fd.0, libc::F_SETFL, fl) }, format!("fcntl F_SETFL {}", lossy(&a[0])))?;
            let data = a[2].as_bytes();
            let n = unsafe { libc::pwrite(fd.0, data.as_ptr().cast(), data.len(), off) };
            check(n as libc::c_int, format!("pwrite {}", lossy(&a[0])))?;
            Ok(())
        }
        "direct-read" => {
            need(3, 4)?;
            let (off, len): (i64, usize) = (num(&a[1], "offset")?, num(&a[2], "length")?);
            let setfl = match a.get(3).map(|f| lossy(f)).as_deref() {
                None => false,
                Some("setfl") => true,
                Some(o) => return usage(format!("direct-read: unknown mode {o}")),
            };
            let fd = open(&a[0], if setfl { libc::O_RDONLY } else { libc::O_RDONLY | libc::O_DIRECT }, 0)?;
            if setfl {
                let fl = check(unsafe { libc::fcntl(fd.0, libc::F_GETFL) }, ctx(0))?;
                check(unsafe { libc::fcntl(fd.0, libc::F_SETFL, fl | libc::O_DIRECT) }, format!("fcntl F_SETFL O_DIRECT {}", lossy(&a[0])))?;
            }
            let mut buf = AlignedBuf::new(len)?;
            let n = unsafe { libc::pread(fd.0, buf.as_mut().as_mut_ptr().cast(), len, off) };
            let n = check(n as libc::c_int, format!("pread O_DIRECT {}", lossy(&a[0])))? as usize;
            std::io::stdout().write_all(&buf.as_mut()[..n]).map_err(|e| Fail::Check(format!("stdout: {e}")))?;
            Ok(())
        }
        "copy-range" => {
            need(2, 3)?;
            let src = open(&a[0], libc::O_RDONLY, 0)?;
            let dst = open(&a[1], libc::O_WRONLY, 0)?;
            let len = match a.get(2) {
                Some(l) => num(l, "length")?,
                None => {
                    let mut st: libc::stat = unsafe { std::mem::zeroed() };
                    check(unsafe { libc::fstat(src.0, &mut st) }, ctx(0))?;
                    st.st_size as usize
                }
            };
            let (mut pin, mut pout): (libc::loff_t, libc::loff_t) = (0, 0);
            let mut done = 0usize;
            while done < len {
                let n = unsafe { libc::copy_file_range(src.0, &mut pin, dst.0, &mut pout, len - done, 0) };
                let n = check(n, format!("copy_file_range {} {}", lossy(&a[0]), lossy(&a[1])))?;
                if n == 0 {
                    break;
                }
                done += n as usize;
            }
            out(format!("{done}\n").as_bytes())
        }
        "clone" => {
            need(2, 2)?;
            let src = open(&a[0], libc::O_RDONLY, 0)?;
            let dst = open(&a[1], libc::O_WRONLY, 0)?;
            const FICLONE: libc::c_ulong = 0x4004_9409;
            check(unsafe { libc::ioctl(dst.0, FICLONE as _, src.0) }, ctx(1)).map(drop)
        }
        "dedupe" => {
            need(2, 2)?;
            let src = open(&a[0], libc::O_RDONLY, 0)?;
            let dst = open(&a[1], libc::O_RDONLY, 0)?;
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            check(unsafe { libc::fstat(src.0, &mut st) }, ctx(0))?;
            // struct file_dedupe_range with one file_dedupe_range_info.
            #[repr(C)]
            struct Range {
                src_offset: u64,
                src_length: u64,
                dest_count: u16,
                reserved1: u16,
                reserved2: u32,
                dest_fd: i64,
                dest_offset: u64,
                bytes_deduped: u64,
                status: i32,
                reserved: u32,
            }
            let mut r = Range {
                src_offset: 0,
                src_length: st.st_size as u64,
                dest_count: 1,
                reserved1: 0,
                reserved2: 0,
                dest_fd: dst.0 as i64,
                dest_offset: 0,
                bytes_deduped: 0,
                status: 0,
                reserved: 0,
            };
            const FIDEDUPERANGE: libc::c_ulong = 0xc018_9436;
            check(unsafe { libc::ioctl(src.0, FIDEDUPERANGE as _, &mut r as *mut Range) }, ctx(1))?;
            match r.status {
                0 => out(format!("same {}\n", r.bytes_deduped).as_bytes()),
                1 => out(b"differs\n"),
                e => Err(Fail::Sys(-e, format!("dedupe {}", lossy(&a[1])))),
            }
        }
        "chattr" | "lsattr" => {
            need(1, 2)?;
            const GETFLAGS: libc::c_ulong = 0x8008_6601;
            const SETFLAGS: libc::c_ulong = 0x4008_6602;
            const LETTERS: [(u8, libc::c_long); 4] = [(b'a', 0x20), (b'i', 0x10), (b'A', 0x80), (b'S', 0x8)];
            let fd = open(&a[0], libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
            let mut flags: libc::c_long = 0;
            check(unsafe { libc::ioctl(fd.0, GETFLAGS as _, &mut flags) }, format!("getflags {}", lossy(&a[0])))?;
            if op == "lsattr" {
                let s: String = LETTERS.iter().filter(|(_, b)| flags & b != 0).map(|(c, _)| *c as char).collect();
                return out(format!("{}\n", if s.is_empty() { "-".into() } else { s }).as_bytes());
            }
            let spec = a.get(1).map(|s| lossy(s)).unwrap_or_default();
            let (add, letter) = match spec.as_bytes() {
                [b'+', l] => (true, *l),
                [b'-', l] => (false, *l),
                _ => return usage(format!("chattr: +X or -X, not {spec}")),
            };
            let bit = match LETTERS.iter().find(|(c, _)| *c == letter) {
                Some((_, b)) => *b,
                None => return usage(format!("chattr: unknown flag {spec}")),
            };
            if add {
                flags |= bit;
            } else {
                flags &= !bit;
            }
            check(unsafe { libc::ioctl(fd.0, SETFLAGS as _, &flags) }, format!("setflags {}", lossy(&a[0]))).map(drop)
        }
        "plink-info" => {
            need(1, 1)?;
            let fd = open(&a[0], libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
            let (epoch, count) = plink::info(&fd, &a[0])?;
            println!("epoch {epoch} count {count}");
            Ok(())
        }
        "plink-link" => {
            need(1, 1)?;
            let fd = open(&a[0], libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
            println!("{}", u8::from(plink::link(&fd, &a[0])?));
            Ok(())
        }
        "plink-clean" => {
            need(2, 2)?;
            let fd = open(&a[0], libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
            println!("{}", plink::clean(&fd, num(&a[1], "epoch")?, &a[0])?);
            Ok(())
        }
        "plink-flush" => {
            need(1, 1)?;
            plink::flush(&a[0])
        }
        "freeze" | "thaw" => {
            need(1, 1)?;
            const FIFREEZE: libc::c_ulong = 0xc004_5877;
            const FITHAW: libc::c_ulong = 0xc004_5878;
            let fd = open(&a[0], libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let req = if op == "freeze" { FIFREEZE } else { FITHAW };
            let mut zero: libc::c_int = 0;
            check(unsafe { libc::ioctl(fd.0, req as _, &mut zero) }, ctx(0)).map(drop)
        }
        "flock" => {
            if a.len() != 2 && a.len() != 4 {
                return usage(format!("{op}: wrong number of arguments\n{HELP}"));
            }
            let how = match lossy(&a[1]).as_str() {
                "ex" => libc::LOCK_EX,
                "sh" => libc::LOCK_SH,
                o => return usage(format!("flock: ex or sh, not {o}")),
            };
            let fd = open(&a[0], libc::O_RDONLY, 0)?;
            check(unsafe { libc::flock(fd.0, how | libc::LOCK_NB) }, ctx(0))?;
            if a.len() == 4 {
                let ready = path(3)?;
                let _ = open(&a[3], libc::O_CREAT | libc::O_WRONLY, 0o644)?;
                while unsafe { libc::access(ready.as_ptr(), libc::F_OK) } == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            Ok(())
        }
        "sync-write" => {
            need(3, 3)?;
            let data_only = match lossy(&a[2]).as_str() {
                "fsync" => false,
                "fdatasync" => true,
                o => return usage(format!("sync-write: fsync or fdatasync, not {o}")),
            };
            let fd = open(&a[0], libc::O_WRONLY | libc::O_APPEND, 0)?;
            write_all(&fd, a[1].as_bytes(), &lossy(&a[0]))?;
            let r = unsafe { if data_only { libc::fdatasync(fd.0) } else { libc::fsync(fd.0) } };
            check(r, format!("{} {}", lossy(&a[2]), lossy(&a[0]))).map(drop)
        }
        "tmpfile" => {
            need(2, 3)?;
            tmpfile(&a[0], a[1].as_bytes(), a.get(2).map(|p| p.as_os_str()))
        }
        "utimens" => {
            need(3, 4)?;
            let flags = match a.get(3).map(|f| lossy(f)).as_deref() {
                None | Some("") => 0,
                Some("nofollow") => libc::AT_SYMLINK_NOFOLLOW,
                Some(o) => return usage(format!("unknown utimens flag {o}")),
            };
            let ts = [timespec_arg(&a[1])?, timespec_arg(&a[2])?];
            let p = path(0)?;
            check(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), ts.as_ptr(), flags) }, ctx(0))
                .map(drop)
        }
        "times" => {
            need(1, 1)?;
            let st = do_stat(&a[0], false)?;
            out(format!(
                "atime={}.{:09} mtime={}.{:09} ctime={}.{:09}\n",
                st.st_atime, st.st_atime_nsec, st.st_mtime, st.st_mtime_nsec, st.st_ctime, st.st_ctime_nsec
            )
            .as_bytes())
        }
        "tree" => {
            need(1, usize::MAX)?;
            tree(a)
        }
        "cmp" => {
            need(2, 3)?;
            let limit = a.get(2).map(|l| num(l, "length")).transpose()?;
            cmp_files(&a[0], &a[1], limit)
        }
        "meta" => {
            need(1, 1)?;
            meta(&a[0])
        }
        "user-xattrs" => {
            need(1, 1)?;
            match user_xattrs(std::path::Path::new(&a[0]), " ") {
                Ok(x) => out(format!("{x}\n").as_bytes()),
                Err(e) => Err(Fail::Sys(e, format!("llistxattr {}", lossy(&a[0])))),
            }
        }
        "xattrs-all" => {
            need(1, 1)?;
            match some_xattrs(std::path::Path::new(&a[0]), " ", true) {
                Ok(x) => out(format!("{x}\n").as_bytes()),
                Err(e) => Err(Fail::Sys(e, format!("llistxattr {}", lossy(&a[0])))),
            }
        }
        "fill" => {
            need(3, 3)?;
            fill(&a[0], num(&a[1], "size")?, num(&a[2], "seed")?)
        }
        "fsync" => {
            need(1, 1)?;
            let fd = open(&a[0], libc::O_RDONLY, 0)?;
            check(unsafe { libc::fsync(fd.0) }, ctx(0)).map(drop)
        }
        "fifo-roundtrip" => {
            need(1, 1)?;
            fifo_roundtrip(&a[0])
        }
        "stat" | "lstat" => {
            need(1, 1)?;
            print_stat(&do_stat(&a[0], op == "stat")?)
        }
        "elf-entry-offset" => {
            need(1, 1)?;
            let b = std::fs::read(&a[0]).map_err(|e| Fail::Check(format!("read {}: {e}", lossy(&a[0]))))?;
            let u16_at = |o: usize| b.get(o..o + 2).map(|x| u16::from_le_bytes([x[0], x[1]]) as usize);
            let u64_at = |o: usize| b.get(o..o + 8).map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8])));
            let u32_at = |o: usize| b.get(o..o + 4).map(|x| u32::from_le_bytes(x.try_into().unwrap_or([0; 4])));
            if b.get(..5) != Some(&b"\x7fELF\x02"[..]) {
                return Err(Fail::Check(format!("{}: not an ELF64 file", lossy(&a[0]))));
            }
            let bad = || Fail::Check(format!("{}: truncated ELF header", lossy(&a[0])));
            let entry = u64_at(0x18).ok_or_else(bad)?;
            let (phoff, phentsize, phnum) = (u64_at(0x20).ok_or_else(bad)? as usize, u16_at(0x36).ok_or_else(bad)?, u16_at(0x38).ok_or_else(bad)?);
            for i in 0..phnum {
                let ph = phoff + i * phentsize;
                let (ty, off, vaddr, filesz) = (u32_at(ph).ok_or_else(bad)?, u64_at(ph + 8).ok_or_else(bad)?, u64_at(ph + 16).ok_or_else(bad)?, u64_at(ph + 32).ok_or_else(bad)?);
                if ty == 1 && vaddr <= entry && entry < vaddr + filesz {
                    return out(format!("{:x}\n", entry - vaddr + off).as_bytes());
                }
            }
            Err(Fail::Check(format!("{}: no loadable segment holds the entry point", lossy(&a[0]))))
        }
        "copyup-race" => {
            use std::os::unix::fs::{DirEntryExt, MetadataExt};
            use std::path::PathBuf;
            need(2, 2)?;
            let dir = PathBuf::from(&a[0]);
            let count: usize = num(&a[1], "count")?;
            for i in 0..count {
                let d = dir.join(format!("d{i}"));
                let f = d.join("f");
                chmod_while_looked_up(&d, &f)?;
            }
            let d_inos = |p: &std::path::Path| -> Res<std::collections::HashMap<std::ffi::OsString, u64>> {
                let rd = std::fs::read_dir(p).map_err(|e| Fail::Check(format!("readdir {}: {e}", p.display())))?;
                let mut m = std::collections::HashMap::new();
                for e in rd {
                    let e = e.map_err(|e| Fail::Check(format!("readdir {}: {e}", p.display())))?;
                    m.insert(e.file_name(), e.ino());
                }
                Ok(m)
            };
            let top = d_inos(&dir)?;
            let mut bad = 0;
            for i in 0..count {
                let name = format!("d{i}");
                let d = dir.join(&name);
                let st = std::fs::metadata(&d).map_err(|e| Fail::Check(format!("stat {}: {e}", d.display())))?.ino();
                if top.get(std::ffi::OsStr::new(&name)) != Some(&st) {
                    eprintln!("{}: d_ino {:?} but st_ino {st}", d.display(), top.get(std::ffi::OsStr::new(&name)));
                    bad += 1;
                }
                let f = d.join("f");
                let st = std::fs::metadata(&f).map_err(|e| Fail::Check(format!("stat {}: {e}", f.display())))?.ino();
                let inner = d_inos(&d)?;
                if inner.get(std::ffi::OsStr::new("f")) != Some(&st) {
                    eprintln!("{}: d_ino {:?} but st_ino {st}", f.display(), inner.get(std::ffi::OsStr::new("f")));
                    bad += 1;
                }
            }
            out(format!("mismatches {bad}\n").as_bytes())
        }
        "fid" => {
            need(1, 2)?;
            const AT_HANDLE_FID: i32 = 0x200;
            let flags = match a.get(1).map(|s| s.as_bytes()) {
                None => AT_HANDLE_FID,
                Some(b"plain") => 0,
                Some(_) => return Err(Fail::Usage("fid PATH [plain]".into())),
            };
            // struct file_handle: handle_bytes, handle_type, then the bytes.
            let mut buf = [0u32; 2 + 32];
            buf[0] = 128;
            let mut mount_id: i32 = 0;
            // SAFETY: `buf` holds a file_handle with room for 128 bytes.
            let r = unsafe {
                libc::syscall(libc::SYS_name_to_handle_at, libc::AT_FDCWD, path(0)?.as_ptr(), buf.as_mut_ptr(), &mut mount_id, flags)
            };
            check(r as i32, ctx(0))?;
            let n = buf[0] as usize;
            let bytes: Vec<u8> = buf[2..].iter().flat_map(|w| w.to_ne_bytes()).take(n).collect();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            out(format!("type={} {hex}\n", buf[1] as i32).as_bytes())
        }
        "auplink" => {
            need(2, 2)?;
            auplink::run(&a[0], &a[1])
        }
        "brinfo" => {
            need(1, 1)?;
            let mut s = String::new();
            for b in auplink::brinfo(&a[0])? {
                s.push_str(&format!("{} {:#x} {}\n", b.id, b.perm, lossy(&b.path)));
            }
            out(s.as_bytes())
        }
        "copyup-flock" => {
            use std::os::fd::AsRawFd;
            use std::path::PathBuf;
            need(2, 2)?;
            let dir = PathBuf::from(&a[0]);
            let count: usize = num(&a[1], "count")?;
            let open_locked = |p: &std::path::Path, nb: bool| -> Res<(std::fs::File, bool)> {
                let f = std::fs::File::open(p).map_err(|e| Fail::Check(format!("open {}: {e}", p.display())))?;
                let op = if nb { libc::LOCK_EX | libc::LOCK_NB } else { libc::LOCK_EX };
                // SAFETY: flock on an fd we own.
                let r = unsafe { libc::flock(f.as_raw_fd(), op) };
                let err = std::io::Error::last_os_error();
                match r {
                    0 => Ok((f, true)),
                    _ if nb && err.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok((f, false)),
                    _ => Err(Fail::Check(format!("flock {}: {err}", p.display()))),
                }
            };
            let mut split = 0;
            for i in 0..count {
                let d = dir.join(format!("d{i}"));
                let f = d.join("f");
                let held = [open_locked(&d, false)?.0, open_locked(&f, false)?.0];
                chmod_while_looked_up(&d, &f)?;
                for p in [&d, &f] {
                    if open_locked(p, true)?.1 {
                        eprintln!("{}: a new open got LOCK_EX while the first open holds it", p.display());
                        split += 1;
                    }
                }
                drop(held);
            }
            out(format!("split {split}\n").as_bytes())
        }
        "inode-of" => {
            need(1, 1)?;
            out(format!("{}\n", do_stat(&a[0], false)?.st_ino).as_bytes())
        }
        "statfs" => {
            need(1, 1)?;
            let mut s: libc::statfs = unsafe { std::mem::zeroed() };
            check(unsafe { libc::statfs(path(0)?.as_ptr(), &mut s) }, ctx(0))?;
            out(format!(
                "type=0x{:x} bsize={} blocks={} bfree={} bavail={} files={} ffree={} namelen={}\n",
                s.f_type, s.f_bsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_namelen
            )
            .as_bytes())
        }
        "readlink" => {
            need(1, 1)?;
            let mut buf = vec![0u8; 8192];
            let n = unsafe { libc::readlink(path(0)?.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            let n = check(n, ctx(0))? as usize;
            buf.truncate(n);
            buf.push(b'\n');
            out(&buf)
        }
        "readdir" => {
            need(1, 2)?;
            let bufsize = a.get(1).map(|b| num(b, "bufsize")).transpose()?.unwrap_or(32768);
            dir::readdir(&a[0], bufsize)
        }
        "seekdir-check" => {
            need(1, 2)?;
            let seed = match a.get(1) {
                Some(s) => num(s, "seed")?,
                None => {
                    // SAFETY: trivial syscalls.
                    (unsafe { libc::getpid() } as u64) ^ (unsafe { libc::time(std::ptr::null_mut()) } as u64)
                }
            };
            dir::seekdir_check(&a[0], seed)
        }
        _ => usage(format!("unknown op {op}\n{HELP}")),
    }
}

/// `%HH` -> the byte 0xHH, `%%` -> `%`; any other `%` is a usage error.
fn pct_decode(s: &OsStr) -> Res<OsString> {
    let b = s.as_bytes();
    let mut o = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            o.push(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'%') {
            o.push(b'%');
            i += 2;
        } else {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => o.push(v),
                None => return usage(format!("--pct: bad escape in {}", lossy(s))),
            }
            i += 3;
        }
    }
    Ok(OsString::from_vec(o))
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut uid = None;
    let mut gid = None;
    let parsed: Res = (|| {
        while let Some(first) = args.first().map(|s| lossy(s)) {
            match first.as_str() {
                "--pct" => {
                    args.remove(0);
                    args = args.iter().map(|a| pct_decode(a)).collect::<Res<_>>()?;
                }
                "--uid" | "--gid" if args.len() >= 2 => {
                    let v: u32 = num(&args[1], "id")?;
                    if first == "--uid" {
                        uid = Some(v)
                    } else {
                        gid = Some(v)
                    }
                    args.drain(..2);
                }
                _ => break,
            }
        }
        if args.is_empty() {
            return usage(HELP);
        }
        drop_privileges(uid, gid)?;
        run(&args)
    })();
    let code = match parsed {
        Ok(()) => 0,
        Err(Fail::Sys(e, ctx)) => {
            println!("{} {ctx}: {}", errno::name(e), strerror(e));
            1
        }
        Err(Fail::SysDetail(e, detail)) => {
            println!("{} {detail}", errno::name(e));
            1
        }
        Err(Fail::Check(msg)) => {
            println!("{msg}");
            1
        }
        Err(Fail::Usage(msg)) => {
            eprintln!("rfsprobe: {msg}");
            2
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
