//! rfsfsstress: a multi-process namespace stressor in the style of fsstress,
//! for tests/integrity.sh.
//!
//! ```text
//! rfsfsstress [--seed N] [--procs N] [--ops N] DIR
//! ```
//!
//! N processes (fork) each do M seeded random operations on a small shared
//! tree of names below DIR (so they collide all the time): create, mkdir,
//! rmdir, unlink, rename (files and directories, over existing targets),
//! link, symlink, readlink, write, truncate, chmod, setxattr (user.),
//! readdir, stat and open for writing of existing files (copy-up through a
//! union). The errnos that races and the union's rules explain (ENOENT,
//! EEXIST, ENOTEMPTY, EXDEV for a directory with entries below the writable
//! branch, ENOTDIR, EISDIR, EINVAL, ESTALE, EPERM for link of a directory,
//! EMLINK, ELOOP, ENODATA, ENAMETOOLONG) are counted; any other errno, or a
//! crash of a process, fails the run. Then one process walks the tree:
//! every listed name stats, every file reads to its end, no `.wh.` name is
//! visible, and a directory listing has no duplicates.

use std::collections::HashSet;
use std::ffi::CString;
use std::process::exit;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const OPS: [&str; 15] = [
    "create", "mkdir", "rmdir", "unlink", "rename", "link", "symlink", "readlink", "write", "truncate", "chmod",
    "setxattr", "readdir", "stat", "open-w",
];

const OK_ERRNOS: [i32; 14] = [
    libc::ENOENT,
    libc::EEXIST,
    libc::ENOTEMPTY,
    libc::EXDEV,
    libc::ENOTDIR,
    libc::EISDIR,
    libc::EINVAL,
    libc::ESTALE,
    libc::EPERM,
    libc::EMLINK,
    libc::ELOOP,
    libc::ENODATA,
    libc::ENAMETOOLONG,
    libc::EBUSY,
];

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// A random path of the shared tree: up to two directory levels of a few
/// names each, so that processes collide.
fn path(rng: &mut Rng, dir: &str) -> String {
    let mut p = dir.to_string();
    for _ in 0..rng.below(3) {
        p.push_str(&format!("/d{}", rng.below(3)));
    }
    p.push_str(&format!("/{}{}", if rng.below(2) == 0 { "f" } else { "d" }, rng.below(5)));
    p
}

/// One operation; Err(errno) when the syscall failed.
fn op(rng: &mut Rng, dir: &str, k: usize) -> Result<(), i32> {
    let a = path(rng, dir);
    let b = path(rng, dir);
    let (ca, cb) = (c(&a), c(&b));
    let r: i64 = unsafe {
        // SAFETY (for the block): every pointer is a live CString or buffer.
        match k {
            0 => {
                let fd = libc::open(ca.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644);
                if fd >= 0 {
                    libc::close(fd);
                }
                fd as i64
            }
            1 => libc::mkdir(ca.as_ptr(), 0o755) as i64,
            2 => libc::rmdir(ca.as_ptr()) as i64,
            3 => libc::unlink(ca.as_ptr()) as i64,
            4 => libc::rename(ca.as_ptr(), cb.as_ptr()) as i64,
            5 => libc::link(ca.as_ptr(), cb.as_ptr()) as i64,
            6 => libc::symlink(ca.as_ptr(), cb.as_ptr()) as i64,
            7 => {
                let mut buf = [0u8; 256];
                libc::readlink(ca.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) as i64
            }
            8 | 14 => {
                let fd = libc::open(ca.as_ptr(), libc::O_WRONLY | if k == 8 { libc::O_APPEND } else { 0 });
                if fd < 0 {
                    -1
                } else {
                    let data = [b'x'; 100];
                    let n = if k == 8 { libc::write(fd, data.as_ptr().cast(), 1 + rng.below(100) as usize) } else { 0 };
                    libc::close(fd);
                    n as i64
                }
            }
            9 => libc::truncate(ca.as_ptr(), rng.below(5000) as i64) as i64,
            10 => libc::chmod(ca.as_ptr(), 0o600 | rng.below(0o200) as libc::mode_t) as i64,
            11 => {
                let v = c("v");
                libc::setxattr(ca.as_ptr(), c("user.s").as_ptr(), v.as_ptr().cast(), 1, 0) as i64
            }
            12 => {
                let d = libc::opendir(ca.as_ptr());
                if d.is_null() {
                    -1
                } else {
                    while !libc::readdir(d).is_null() {}
                    libc::closedir(d);
                    0
                }
            }
            _ => {
                let mut st: libc::stat = std::mem::zeroed();
                libc::lstat(ca.as_ptr(), &mut st) as i64
            }
        }
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Walks the tree after the run; returns the problems found.
fn check(dir: &str, problems: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        problems.push(format!("cannot list {dir}"));
        return;
    };
    let mut seen = HashSet::new();
    for e in rd {
        let Ok(e) = e else {
            problems.push(format!("readdir error in {dir}"));
            continue;
        };
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".wh.") {
            problems.push(format!("{dir}/{name}: a .wh. name is visible"));
        }
        if !seen.insert(name.clone()) {
            problems.push(format!("{dir}/{name}: listed twice"));
        }
        let p = format!("{dir}/{name}");
        match std::fs::symlink_metadata(&p) {
            Err(err) => problems.push(format!("{p}: listed but lstat fails: {err}")),
            Ok(m) if m.is_dir() => check(&p, problems),
            Ok(m) if m.is_file() => match std::fs::read(&p) {
                Ok(data) if data.len() as u64 == m.len() => {}
                Ok(data) => problems.push(format!("{p}: read {} bytes, size {}", data.len(), m.len())),
                Err(err) => problems.push(format!("{p}: cannot read: {err}")),
            },
            Ok(_) => {}
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seed, mut procs, mut ops) = (1u64, 4u64, 2000u64);
    let mut dir = None;
    while let Some(a) = args.next() {
        let mut num = || args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| exit(2));
        match a.as_str() {
            "--seed" => seed = num(),
            "--procs" => procs = num(),
            "--ops" => ops = num(),
            _ => dir = Some(a),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: rfsfsstress [--seed N] [--procs N] [--ops N] DIR");
        exit(2)
    };
    let mut kids = Vec::new();
    for p in 0..procs {
        // SAFETY: fork in a single-threaded program.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut rng = Rng((seed.wrapping_mul(1000) + p).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut counts = [0u64; 15];
            let mut errs = std::collections::BTreeMap::new();
            for _ in 0..ops {
                let k = rng.below(OPS.len() as u64) as usize;
                counts[k] += 1;
                if let Err(e) = op(&mut rng, &dir, k) {
                    if !OK_ERRNOS.contains(&e) {
                        println!("rfsfsstress: FAILED proc {p} seed {seed}: {} gave errno {e}", OPS[k]);
                        // SAFETY: end the child.
                        unsafe { libc::_exit(1) };
                    }
                    *errs.entry(e).or_insert(0u64) += 1;
                }
            }
            println!("rfsfsstress: proc {p}: {ops} ops, errnos {errs:?}");
            // SAFETY: end the child without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        kids.push(pid);
    }
    let mut failed = false;
    for pid in kids {
        let mut status = 0;
        // SAFETY: our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            println!("rfsfsstress: FAILED child {pid} status {status:#x}");
            failed = true;
        }
    }
    let mut problems = Vec::new();
    check(&dir, &mut problems);
    for p in problems.iter().take(20) {
        println!("rfsfsstress: FAILED check: {p}");
    }
    if failed || !problems.is_empty() {
        exit(1);
    }
    println!("rfsfsstress: ok seed {seed}, {procs} processes x {ops} ops, tree consistent");
}
