//! rfsprobe: a small static syscall prober for the rfs VM test suites.
//!
//! The guest has only busybox, whose applets hide errno values behind
//! messages and cannot reach newer syscalls (fsopen, renameat2, O_TMPFILE,
//! getdents64 d_type, seekdir).  rfsprobe does one syscall-level operation per
//! invocation:
//!
//! ```text
//! rfsprobe [--uid N] [--gid N] OP ARGS...
//! ```
//!
//! * success: exit 0, print the operation's output (if any);
//! * a failing syscall: print the errno NAME as the first word of stdout
//!   (`EROFS`, `ENOENT`, ...), then a space and details, exit 1;
//! * a failed check (`seekdir-check`, `cmp-mmap`, `fifo-roundtrip`): print
//!   what differed (`mismatch ...`, `differ ...`), exit 1;
//! * usage errors: message on stderr, exit 2.
//!
//! `--uid N` / `--gid N` drop privileges (setgroups(0), setgid, setuid)
//! before the operation, for permission tests (busybox may lack su/setpriv).
//!
//! Run `rfsprobe help` for the list of operations.

mod dir;
mod errno;
mod mount;

use std::ffi::{CString, OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

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
usage: rfsprobe [--uid N] [--gid N] OP ARGS...
mounts:
  mount TYPE SRC TARGET DATA [FLAGS]   mount(2); FLAGS: ro,nosuid,nodev,noexec,bind,rec,...
  remount TARGET DATA [FLAGS]          mount(2) with MS_REMOUNT
  umount TARGET [detach|force]         umount2(2)
  fsmount TYPE TARGET KEY[=VAL]...     fsopen/fsconfig/fsmount/move_mount; on failure the
                                       fs_context log follows the errno: `EINVAL | e rfs: ...`
  fsconfig-log TYPE KEY[=VAL]...       like fsmount up to FSCONFIG_CMD_CREATE, prints the log
creation and removal:
  creat PATH [MODE]  open PATH FLAGS [MODE]  mkdir PATH [MODE]  rmdir PATH  unlink PATH
  rename OLD NEW [noreplace|exchange|whiteout]   link OLD NEW   symlink TARGET PATH
  mknod PATH fifo|reg|sock [MODE]   mknod PATH chr|blk MAJ MIN [MODE]
attributes:
  truncate PATH LEN  ftruncate PATH LEN  chmod PATH MODE  chown PATH UID GID  lchown PATH UID GID
  utimes PATH [SECONDS]  setxattr PATH NAME VALUE [create|replace]  getxattr PATH NAME
  listxattr PATH  removexattr PATH NAME  access PATH r|w|x|f...
data:
  write PATH DATA  append PATH DATA  read-cat FILE  mmap-cat FILE  cmp-mmap FILE
  fifo-roundtrip FIFO  fsync PATH (opened read-only)
inspection:
  stat PATH  lstat PATH  statfs PATH  readlink PATH  inode-of PATH
  readdir DIR [BUFSIZE]   one line per entry: NAME TYPE INO (getdents64 order)
  seekdir-check DIR [SEED] telldir/seekdir/rewinddir consistency: `ok N entries`
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
        "umount" => {
            need(1, 2)?;
            mount::umount(&a[0], a.get(1))
        }
        "fsmount" => {
            need(2, usize::MAX)?;
            mount::fsmount(&a[0], Some(&a[1]), &a[2..])
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
        "read-cat" => {
            need(1, 1)?;
            out(&read_contents(&a[0])?)
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

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut uid = None;
    let mut gid = None;
    let parsed: Res = (|| {
        while let Some(first) = args.first().map(|s| lossy(s)) {
            match first.as_str() {
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
