//! rfsbench: the timing primitives of the rfs benchmark (scripts/bench.sh).
//!
//! The in-VM driver (tests/bench/driver.sh, busybox ash) mounts the unions
//! and calls rfsbench once per measured run. Each operation times itself with
//! clock_gettime(CLOCK_MONOTONIC) around the syscalls it measures, so process
//! start-up and the shell are never inside a measurement. Output is one line
//! of JSON on stdout, for example `{"ns":123456,"n":1000}`; a failure prints
//! `{"error":"..."}` and exits 1 (usage errors exit 2).
//!
//! ```text
//! rfsbench hot BASE LIST        per path of LIST (relative to BASE):
//!                               fstatat + openat + read(4 KiB) + close
//! rfsbench stat BASE LIST       fstatat per path (cold lookups)
//! rfsbench readdir DIR          getdents64 over DIR (32 KiB buffer)
//! rfsbench read FILE            read(2) to EOF, 1 MiB at a time
//! rfsbench mmap FILE            mmap(PROT_READ), touch one byte per page
//! rfsbench firstwrite FILE      open(O_WRONLY) + pwrite(1 byte at 0) + fsync
//!                               + close: the copy-up latency of a lower file
//! rfsbench cp SRC DST           read/write 1 MiB at a time + fsync (like cp)
//! rfsbench clone SRC DST        ioctl(FICLONE) + fsync (cp --reflink)
//! rfsbench run CMD [ARG...]     run a command and wait for it
//! rfsbench parcu DIR N [DST]    N processes at once, process I on DIR/pI:
//!                               the first write of DIR/pI/big (as
//!                               firstwrite) and utimensat of every file of
//!                               DIR/pI/s (parallel copy-up); with DST, a
//!                               `cp` of the same files into DST instead
//! rfsbench walk DIR             recursive getdents64 + fstatat of every entry
//! rfsbench memsnap OUT          save /proc/meminfo and /proc/slabinfo to OUT
//! rfsbench memdiff A B N        slab growth between two memsnaps, per object
//! rfsbench rss PID              VmRSS of a process in KiB
//! rfsbench dropcaches           sync, then echo 3 > /proc/sys/vm/drop_caches
//! rfsbench now                  CLOCK_MONOTONIC in ns (for spans the shell times)
//! rfsbench tsc-khz              the TSC frequency in kHz, measured against
//!                               CLOCK_MONOTONIC (run on the host: QEMU TCG's
//!                               guest TSC ticks at the host's rate)
//! ```

use std::ffi::CString;
use std::io::{BufRead, Write};

type Res<T = ()> = Result<T, String>;

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn errno_str(ctx: &str) -> String {
    format!("{ctx}: {}", std::io::Error::last_os_error())
}

fn cstr(s: &[u8]) -> Res<CString> {
    CString::new(s).map_err(|_| "path with a NUL byte".to_string())
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// An owned file descriptor, closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: we own the descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

fn open_at(dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Res<Fd> {
    let c = cstr(path)?;
    // SAFETY: c is a valid NUL-terminated string.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(errno_str(&format!("open {}", String::from_utf8_lossy(path))));
    }
    Ok(Fd(fd))
}

fn open(path: &str, flags: i32, mode: u32) -> Res<Fd> {
    open_at(libc::AT_FDCWD, path.as_bytes(), flags, mode)
}

fn read_list(list: &str) -> Res<Vec<CString>> {
    let f = std::fs::File::open(list).map_err(|e| format!("{list}: {e}"))?;
    let mut v = Vec::new();
    for line in std::io::BufReader::new(f).split(b'\n') {
        let line = line.map_err(|e| format!("{list}: {e}"))?;
        if !line.is_empty() {
            v.push(cstr(&line)?);
        }
    }
    Ok(v)
}

fn fsync(fd: &Fd, what: &str) -> Res {
    // SAFETY: fd is open.
    if unsafe { libc::fsync(fd.0) } < 0 {
        return Err(errno_str(&format!("fsync {what}")));
    }
    Ok(())
}

/// hot: stat + open + read + close of every listed file.
fn op_hot(base: &str, list: &str) -> Res<String> {
    let paths = read_list(list)?;
    let dir = open(base, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut buf = vec![0u8; 4096];
    let mut bytes = 0u64;
    let t0 = now_ns();
    for p in &paths {
        // SAFETY: plain syscalls on valid buffers and a NUL-terminated path.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstatat(dir.0, p.as_ptr(), &mut st, 0) < 0 {
                return Err(errno_str(&format!("stat {}", p.to_string_lossy())));
            }
            let fd = libc::openat(dir.0, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(errno_str(&format!("open {}", p.to_string_lossy())));
            }
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            if n < 0 {
                return Err(errno_str(&format!("read {}", p.to_string_lossy())));
            }
            bytes += n as u64;
        }
    }
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"n\":{},\"bytes\":{bytes}}}", paths.len()))
}

/// stat: fstatat of every listed path.
fn op_stat(base: &str, list: &str) -> Res<String> {
    let paths = read_list(list)?;
    let dir = open(base, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut missing = 0u64;
    let t0 = now_ns();
    for p in &paths {
        // SAFETY: valid path and stat buffer.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstatat(dir.0, p.as_ptr(), &mut st, 0) < 0 {
                missing += 1;
            }
        }
    }
    let ns = now_ns() - t0;
    if missing > 0 {
        return Err(format!("{missing} of {} paths not found under {base}", paths.len()));
    }
    Ok(format!("{{\"ns\":{ns},\"n\":{}}}", paths.len()))
}

/// Calls `f(name, d_type)` for every entry of the open directory `fd`
/// (without `.` and `..`). Returns the number of getdents64 calls.
fn getdents(fd: i32, buf: &mut [u8], mut f: impl FnMut(&[u8], u8) -> Res) -> Res<u64> {
    let mut calls = 0;
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        calls += 1;
        if n < 0 {
            return Err(errno_str("getdents64"));
        }
        if n == 0 {
            return Ok(calls);
        }
        let mut off = 0usize;
        while off < n as usize {
            // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let dtype = buf[off + 18];
            let name = &buf[off + 19..off + reclen];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = &name[..len];
            if name != b"." && name != b".." {
                f(name, dtype)?;
            }
            off += reclen;
        }
    }
}

fn op_readdir(dir: &str) -> Res<String> {
    let mut buf = vec![0u8; 32 * 1024];
    let t0 = now_ns();
    let fd = open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut n = 0u64;
    let calls = getdents(fd.0, &mut buf, |_, _| {
        n += 1;
        Ok(())
    })?;
    drop(fd);
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"n\":{n},\"calls\":{calls}}}"))
}

fn op_read(file: &str) -> Res<String> {
    let mut buf = vec![0u8; 1 << 20];
    let t0 = now_ns();
    let fd = open(file, libc::O_RDONLY, 0)?;
    let mut bytes = 0u64;
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::read(fd.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(errno_str(&format!("read {file}")));
        }
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    drop(fd);
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"bytes\":{bytes}}}"))
}

fn op_mmap(file: &str) -> Res<String> {
    let t0 = now_ns();
    let fd = open(file, libc::O_RDONLY, 0)?;
    // SAFETY: fstat into a zeroed buffer; mmap of an open fd, unmapped below.
    let (bytes, sum) = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.0, &mut st) < 0 {
            return Err(errno_str("fstat"));
        }
        let len = st.st_size as usize;
        if len == 0 {
            return Err(format!("{file} is empty"));
        }
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.0, 0);
        if p == libc::MAP_FAILED {
            return Err(errno_str(&format!("mmap {file}")));
        }
        let base = p as *const u8;
        let mut sum = 0u64;
        let mut off = 0usize;
        while off < len {
            sum = sum.wrapping_add(std::ptr::read_volatile(base.add(off)) as u64);
            off += 4096;
        }
        libc::munmap(p, len);
        (len as u64, sum)
    };
    drop(fd);
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"bytes\":{bytes},\"sum\":{sum}}}"))
}

fn op_firstwrite(file: &str) -> Res<String> {
    let t0 = now_ns();
    let fd = open(file, libc::O_WRONLY, 0)?;
    let t1 = now_ns();
    let b = [b'W'];
    // SAFETY: one byte from a valid buffer.
    if unsafe { libc::pwrite(fd.0, b.as_ptr().cast(), 1, 0) } != 1 {
        return Err(errno_str(&format!("pwrite {file}")));
    }
    fsync(&fd, file)?;
    drop(fd);
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"open_ns\":{}}}", t1 - t0))
}

fn op_cp(src: &str, dst: &str) -> Res<String> {
    let mut buf = vec![0u8; 1 << 20];
    let t0 = now_ns();
    let s = open(src, libc::O_RDONLY, 0)?;
    let d = open(dst, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)?;
    let mut bytes = 0u64;
    loop {
        // SAFETY: buf is valid for its length in both calls.
        let n = unsafe { libc::read(s.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(errno_str(&format!("read {src}")));
        }
        if n == 0 {
            break;
        }
        let mut done = 0usize;
        while done < n as usize {
            // SAFETY: as above.
            let w = unsafe { libc::write(d.0, buf[done..].as_ptr().cast(), n as usize - done) };
            if w <= 0 {
                return Err(errno_str(&format!("write {dst}")));
            }
            done += w as usize;
        }
        bytes += n as u64;
    }
    fsync(&d, dst)?;
    drop(d);
    drop(s);
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"bytes\":{bytes}}}"))
}

fn op_clone(src: &str, dst: &str) -> Res<String> {
    const FICLONE: libc::c_ulong = 0x4004_9409;
    let t0 = now_ns();
    let s = open(src, libc::O_RDONLY, 0)?;
    let d = open(dst, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)?;
    // SAFETY: FICLONE takes the source descriptor as its argument.
    if unsafe { libc::ioctl(d.0, FICLONE as _, s.0) } < 0 {
        return Err(errno_str(&format!("FICLONE {src} -> {dst}")));
    }
    fsync(&d, dst)?;
    drop(d);
    drop(s);
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns}}}"))
}

fn op_run(args: &[String]) -> Res<String> {
    let t0 = now_ns();
    let st = std::process::Command::new(&args[0])
        .args(&args[1..])
        .status()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    let ns = now_ns() - t0;
    if !st.success() {
        return Err(format!("{} exited with {st}", args.join(" ")));
    }
    Ok(format!("{{\"ns\":{ns}}}"))
}

/// One worker of `parcu`: the first write of DIR/pI/big, then a
/// utimensat (or, with DST, a copy) of every file of DIR/pI/s.
fn parcu_worker(dir: &str, i: usize, dst: Option<&str>, small: &[CString]) -> Res {
    let big = format!("{dir}/p{i}/big");
    match dst {
        None => {
            op_firstwrite(&big)?;
        }
        Some(d) => {
            op_cp(&big, &format!("{d}/p{i}.big"))?;
        }
    }
    let sdir = open(&format!("{dir}/p{i}/s"), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut buf = vec![0u8; 64 << 10];
    for (k, name) in small.iter().enumerate() {
        match dst {
            None => {
                // SAFETY: a valid directory descriptor and path; NULL times
                // mean "now".
                if unsafe { libc::utimensat(sdir.0, name.as_ptr(), std::ptr::null(), 0) } < 0 {
                    return Err(errno_str(&format!("utimensat {dir}/p{i}/s/{}", name.to_string_lossy())));
                }
            }
            Some(d) => {
                let s = open_at(sdir.0, name.as_bytes(), libc::O_RDONLY, 0)?;
                let o = open(&format!("{d}/p{i}.s{k}"), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)?;
                loop {
                    // SAFETY: buf is valid for its length in both calls.
                    let n = unsafe { libc::read(s.0, buf.as_mut_ptr().cast(), buf.len()) };
                    if n < 0 {
                        return Err(errno_str("read"));
                    }
                    if n == 0 {
                        break;
                    }
                    // SAFETY: as above.
                    if unsafe { libc::write(o.0, buf.as_ptr().cast(), n as usize) } != n {
                        return Err(errno_str("write"));
                    }
                }
            }
        }
    }
    Ok(())
}

/// parcu: N processes start together (they wait on a pipe the parent
/// closes) and each copies up its own files; the time is from the start
/// until the last one has exited.
fn op_parcu(dir: &str, n: &str, dst: Option<&str>) -> Res<String> {
    let n: usize = n.parse().map_err(|_| format!("parcu: bad process count {n}"))?;
    // The names of every worker's small files, read before the clock starts.
    let mut lists = Vec::with_capacity(n);
    for i in 0..n {
        let d = format!("{dir}/p{i}/s");
        let mut v: Vec<CString> = std::fs::read_dir(&d)
            .map_err(|e| format!("{d}: {e}"))?
            .map(|e| e.map(|e| e.file_name()).map_err(|e| format!("{d}: {e}")))
            .collect::<Res<Vec<_>>>()?
            .into_iter()
            .map(|s| cstr(std::os::unix::ffi::OsStrExt::as_bytes(s.as_os_str())))
            .collect::<Res<Vec<_>>>()?;
        v.sort();
        lists.push(v);
    }
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(errno_str("pipe"));
    }
    let mut pids = Vec::with_capacity(n);
    for (i, small) in lists.iter().enumerate() {
        // SAFETY: the process has one thread; the child only runs this
        // worker and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(errno_str("fork"));
        }
        if pid == 0 {
            let mut b = [0u8; 1];
            // SAFETY: the pipe's ends are open; read returns 0 once the
            // parent closes the write end.
            unsafe {
                libc::close(fds[1]);
                libc::read(fds[0], b.as_mut_ptr().cast(), 1);
            }
            let rc = match parcu_worker(dir, i, dst, small) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("parcu worker {i}: {e}");
                    1
                }
            };
            // SAFETY: ends the child without running the parent's exit code.
            unsafe { libc::_exit(rc) };
        }
        pids.push(pid);
    }
    // SAFETY: closing our own descriptors; closing the write end starts
    // every worker.
    unsafe { libc::close(fds[0]) };
    let t0 = now_ns();
    unsafe { libc::close(fds[1]) };
    let mut failed = 0;
    for pid in pids {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut st, 0) } < 0 || !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 {
            failed += 1;
        }
    }
    let ns = now_ns() - t0;
    if failed > 0 {
        return Err(format!("{failed} of {n} workers failed"));
    }
    let files: usize = lists.iter().map(|l| l.len() + 1).sum();
    Ok(format!("{{\"ns\":{ns},\"n\":{n},\"files\":{files}}}"))
}

#[derive(Default)]
struct Walk {
    files: u64,
    dirs: u64,
    other: u64,
}

fn walk_dir(fd: i32, w: &mut Walk, buf: &mut Vec<u8>) -> Res {
    let mut names: Vec<(Vec<u8>, u8)> = Vec::new();
    let mut tmp = std::mem::take(buf);
    let r = getdents(fd, &mut tmp, |name, t| {
        names.push((name.to_vec(), t));
        Ok(())
    });
    *buf = tmp;
    r?;
    for (name, _) in names {
        let c = cstr(&name)?;
        // SAFETY: valid path and stat buffer.
        let mode = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstatat(fd, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) < 0 {
                return Err(errno_str(&format!("stat {}", c.to_string_lossy())));
            }
            st.st_mode & libc::S_IFMT
        };
        if mode == libc::S_IFDIR {
            w.dirs += 1;
            let sub = open_at(fd, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            walk_dir(sub.0, w, buf)?;
        } else if mode == libc::S_IFREG {
            w.files += 1;
        } else {
            w.other += 1;
        }
    }
    Ok(())
}

fn op_walk(dir: &str) -> Res<String> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut w = Walk::default();
    let t0 = now_ns();
    let fd = open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    walk_dir(fd.0, &mut w, &mut buf)?;
    let ns = now_ns() - t0;
    Ok(format!("{{\"ns\":{ns},\"files\":{},\"dirs\":{},\"other\":{}}}", w.files, w.dirs, w.other))
}

fn op_memsnap(out: &str) -> Res<String> {
    let mut s = String::new();
    for f in ["/proc/meminfo", "/proc/slabinfo"] {
        match std::fs::read_to_string(f) {
            Ok(t) => s.push_str(&t),
            Err(e) if f == "/proc/slabinfo" => s.push_str(&format!("# no slabinfo: {e}\n")),
            Err(e) => return Err(format!("{f}: {e}")),
        }
    }
    std::fs::write(out, s).map_err(|e| format!("{out}: {e}"))?;
    Ok("{}".into())
}

struct Snap {
    meminfo: std::collections::HashMap<String, i64>,
    /// name -> (active objects, object size)
    slabs: std::collections::HashMap<String, (i64, i64)>,
}

fn parse_snap(path: &str) -> Res<Snap> {
    let t = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut s = Snap { meminfo: Default::default(), slabs: Default::default() };
    for line in t.lines() {
        if line.starts_with('#') || line.starts_with("slabinfo") {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            if !k.contains(' ') {
                let kb = v.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0);
                s.meminfo.insert(k.to_string(), kb);
                continue;
            }
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 {
            if let (Ok(active), Ok(size)) = (f[1].parse::<i64>(), f[3].parse::<i64>()) {
                s.slabs.insert(f[0].to_string(), (active, size));
            }
        }
    }
    Ok(s)
}

fn op_memdiff(a: &str, b: &str, n: &str) -> Res<String> {
    let n: i64 = n.parse().map_err(|_| format!("bad count {n}"))?;
    let n = n.max(1);
    let (a, b) = (parse_snap(a)?, parse_snap(b)?);
    let kb = |s: &Snap, k: &str| s.meminfo.get(k).copied().unwrap_or(0);
    let slab_kb = kb(&b, "Slab") - kb(&a, "Slab");
    let mut caches: Vec<(String, i64, i64)> = b
        .slabs
        .iter()
        .map(|(name, &(objs, size))| {
            let (oa, _) = a.slabs.get(name).copied().unwrap_or((0, size));
            (name.clone(), objs - oa, (objs - oa) * size)
        })
        .filter(|c| c.1 != 0)
        .collect();
    caches.sort_by(|x, y| y.2.cmp(&x.2).then(x.0.cmp(&y.0)));
    let total_obj_bytes: i64 = caches.iter().map(|c| c.2).sum();
    let top: Vec<String> = caches
        .iter()
        .take(12)
        .map(|(name, objs, bytes)| format!("[{},{objs},{bytes}]", json_str(name)))
        .collect();
    Ok(format!(
        "{{\"slab_kb\":{slab_kb},\"slab_bytes_per_obj\":{:.1},\"obj_bytes\":{total_obj_bytes},\
         \"obj_bytes_per_obj\":{:.1},\"slabinfo\":{},\"caches\":[{}]}}",
        slab_kb as f64 * 1024.0 / n as f64,
        total_obj_bytes as f64 / n as f64,
        !b.slabs.is_empty(),
        top.join(",")
    ))
}

fn op_rss(pid: &str) -> Res<String> {
    let f = format!("/proc/{pid}/status");
    let t = std::fs::read_to_string(&f).map_err(|e| format!("{f}: {e}"))?;
    let kb = t
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| format!("no VmRSS in {f}"))?;
    Ok(format!("{{\"rss_kb\":{kb}}}"))
}

fn op_dropcaches() -> Res<String> {
    let t0 = now_ns();
    // SAFETY: sync takes no arguments.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").map_err(|e| format!("drop_caches: {e}"))?;
    Ok(format!("{{\"ns\":{}}}", now_ns() - t0))
}

#[cfg(target_arch = "x86_64")]
fn op_tsc_khz() -> Res<String> {
    let mut v = Vec::new();
    for _ in 0..5 {
        // SAFETY: rdtsc has no preconditions on x86_64.
        let (c0, t0) = (unsafe { core::arch::x86_64::_rdtsc() }, now_ns());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (c1, t1) = (unsafe { core::arch::x86_64::_rdtsc() }, now_ns());
        v.push((c1 - c0) as f64 * 1e6 / (t1 - t0) as f64);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(format!("{:.0}", v[v.len() / 2]))
}

#[cfg(not(target_arch = "x86_64"))]
fn op_tsc_khz() -> Res<String> {
    Err("no TSC on this architecture".into())
}

fn usage() -> ! {
    let me = std::env::args().next().unwrap_or_default();
    let src = include_str!("main.rs");
    eprintln!("usage: {me} OP ARGS...");
    for l in src.lines().skip_while(|l| !l.starts_with("//! rfsbench hot")) {
        if !l.starts_with("//! rfsbench") && !l.starts_with("//!     ") {
            break;
        }
        eprintln!("  {}", &l[4..]);
    }
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = |i: usize| -> &str {
        match args.get(i) {
            Some(s) => s,
            None => usage(),
        }
    };
    let r = match a(0) {
        "hot" => op_hot(a(1), a(2)),
        "stat" => op_stat(a(1), a(2)),
        "readdir" => op_readdir(a(1)),
        "read" => op_read(a(1)),
        "mmap" => op_mmap(a(1)),
        "firstwrite" => op_firstwrite(a(1)),
        "cp" => op_cp(a(1), a(2)),
        "clone" => op_clone(a(1), a(2)),
        "run" => {
            a(1);
            op_run(&args[1..])
        }
        "parcu" => op_parcu(a(1), a(2), args.get(3).map(|s| s.as_str())),
        "walk" => op_walk(a(1)),
        "memsnap" => op_memsnap(a(1)),
        "memdiff" => op_memdiff(a(1), a(2), a(3)),
        "rss" => op_rss(a(1)),
        "dropcaches" => op_dropcaches(),
        "now" => Ok(now_ns().to_string()),
        "tsc-khz" => op_tsc_khz(),
        _ => usage(),
    };
    let mut out = std::io::stdout().lock();
    match r {
        Ok(s) => {
            let _ = writeln!(out, "{s}");
        }
        Err(e) => {
            let _ = writeln!(out, "{{\"error\":{}}}", json_str(&e));
            let _ = out.flush();
            std::process::exit(1);
        }
    }
}
