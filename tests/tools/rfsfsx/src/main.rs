//! rfsfsx: a file-operation exerciser in the style of fsx, for
//! tests/integrity.sh.
//!
//! One file is driven through seeded random operations -- read, write (also
//! past the end), truncate up and down, mmap read, mmap write + msync,
//! fallocate (keep-size, punch hole, zero range), copy_file_range (within
//! the file and from a second scratch file), fsync/fdatasync, close and
//! reopen (sometimes with O_APPEND writes) -- and every result is compared
//! with an in-memory copy of what the file must hold: the range an
//! operation touched right after it, the whole file every `--verify-every`
//! operations and at the end.
//!
//! ```text
//! rfsfsx [--seed N] [--ops N] [--max-size BYTES] [--verify-every N] [-q] FILE [SCRATCH]
//! ```
//!
//! FILE must exist; its content is the starting point (a file of a lower
//! branch seen through the union: the first operation is a write, so the
//! copy-up happens at once). SCRATCH (default FILE.src) is created as the
//! source of copy_file_range. An operation the filesystem does not support
//! (EOPNOTSUPP, EINVAL for a fallocate mode, EXDEV for copy_file_range) is
//! turned off with a note, never a failure. On a mismatch: the seed, the
//! operation number, the last 50 operations, the first differing offset
//! with the expected and actual bytes; exit 1. Success: one summary line.

use std::ffi::CString;
use std::process::exit;

/// xorshift64* (deterministic from the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

struct Fsx {
    path: CString,
    scratch: CString,
    fd: i32,
    append: bool,
    model: Vec<u8>,
    src: Vec<u8>,
    max: u64,
    rng: Rng,
    log: Vec<String>,
    seed: u64,
    opno: u64,
    off_falloc: [bool; 3],
    off_cfr: bool,
    counts: [u64; 12],
}

const NAMES: [&str; 12] = [
    "read", "write", "truncate", "mmap-read", "mmap-write", "falloc-keep", "punch", "zero", "copy-within",
    "copy-from", "sync", "reopen",
];

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Fsx {
    fn fail(&self, what: String) -> ! {
        println!("rfsfsx: FAILED seed {} op {}: {}", self.seed, self.opno, what);
        println!("rfsfsx: last operations:");
        for l in self.log.iter().rev().take(50).collect::<Vec<_>>().into_iter().rev() {
            println!("  {l}");
        }
        exit(1);
    }

    fn note(&mut self, s: String) {
        if self.log.len() >= 200 {
            self.log.drain(..100);
        }
        self.log.push(format!("{}: {}", self.opno, s));
    }

    fn open(&mut self) {
        let flags = libc::O_RDWR | if self.append { libc::O_APPEND } else { 0 };
        // SAFETY: a valid C string.
        let fd = unsafe { libc::open(self.path.as_ptr(), flags) };
        if fd < 0 {
            self.fail(format!("open: errno {}", errno()));
        }
        self.fd = fd;
    }

    fn size(&self) -> u64 {
        // SAFETY: a zeroed stat buffer filled by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(self.fd, &mut st) } < 0 {
            self.fail(format!("fstat: errno {}", errno()));
        }
        st.st_size as u64
    }

    /// Compares [off, off+len) of the file (and its size) with the model.
    fn check(&mut self, off: u64, len: u64) {
        let size = self.size();
        if size != self.model.len() as u64 {
            self.fail(format!("size {} expected {}", size, self.model.len()));
        }
        let end = (off + len).min(size);
        if off >= end {
            return;
        }
        let mut buf = vec![0u8; (end - off) as usize];
        let mut got = 0usize;
        while got < buf.len() {
            // SAFETY: the range is inside `buf`.
            let n = unsafe {
                libc::pread(self.fd, buf[got..].as_mut_ptr().cast(), buf.len() - got, (off as usize + got) as i64)
            };
            if n <= 0 {
                self.fail(format!("pread at {}: {} (errno {})", off as usize + got, n, errno()));
            }
            got += n as usize;
        }
        let want = &self.model[off as usize..end as usize];
        if let Some(i) = buf.iter().zip(want).position(|(a, b)| a != b) {
            let at = off as usize + i;
            let show = |s: &[u8]| s.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>();
            self.fail(format!(
                "data differs at offset {at}: expected {} got {}",
                show(&self.model[at..]),
                show(&buf[i..])
            ));
        }
    }

    fn pattern(&mut self, len: usize) -> Vec<u8> {
        let tag = (self.opno as u8).wrapping_mul(31) | 1;
        (0..len).map(|i| tag.wrapping_add((i as u8).wrapping_mul(7))).collect()
    }

    fn pick_range(&mut self, limit: u64) -> (u64, u64) {
        let off = self.rng.below(limit.max(1));
        let len = 1 + self.rng.below((self.max / 8).max(1).min(limit.max(1) + 4096));
        (off, len)
    }

    fn write(&mut self, first: bool) {
        let (mut off, len) = self.pick_range(self.max);
        let len = len.min(self.max.saturating_sub(off)).max(1);
        if self.append {
            off = self.model.len() as u64;
        }
        if off + len > self.max && !first {
            return;
        }
        let data = self.pattern(len as usize);
        // SAFETY: `data` is valid for its length.
        let n = unsafe {
            if self.append {
                libc::write(self.fd, data.as_ptr().cast(), data.len())
            } else {
                libc::pwrite(self.fd, data.as_ptr().cast(), data.len(), off as i64)
            }
        };
        if n != data.len() as isize {
            self.fail(format!("write {} at {}: {} (errno {})", len, off, n, errno()));
        }
        let end = (off + len) as usize;
        if self.model.len() < end {
            self.model.resize(end, 0);
        }
        self.model[off as usize..end].copy_from_slice(&data);
        self.note(format!("write {off} +{len}{}", if self.append { " (O_APPEND)" } else { "" }));
        self.check(off, len);
    }

    fn step(&mut self, first: bool) {
        let op = if first { 1 } else { self.rng.below(12) as usize };
        self.counts[op] += 1;
        let size = self.model.len() as u64;
        match op {
            0 => {
                let (off, len) = self.pick_range(size);
                self.note(format!("read {off} +{len}"));
                self.check(off, len);
            }
            1 => self.write(first),
            2 => {
                let new = self.rng.below(self.max);
                // SAFETY: plain syscall.
                if unsafe { libc::ftruncate(self.fd, new as i64) } < 0 {
                    self.fail(format!("ftruncate {new}: errno {}", errno()));
                }
                self.model.resize(new as usize, 0);
                self.note(format!("truncate {new} (was {size})"));
                self.check(new.saturating_sub(4096), 8192);
            }
            3 | 4 if size > 0 => {
                let (off, len) = self.pick_range(size);
                let len = len.min(size - off).max(1);
                let pg = 4096u64;
                let base = off / pg * pg;
                let maplen = (off + len - base) as usize;
                let prot = if op == 4 { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
                // SAFETY: a shared mapping of a range inside the file.
                let p = unsafe { libc::mmap(std::ptr::null_mut(), maplen, prot, libc::MAP_SHARED, self.fd, base as i64) };
                if p == libc::MAP_FAILED {
                    self.fail(format!("mmap {base} +{maplen}: errno {}", errno()));
                }
                let at = (off - base) as usize;
                if op == 4 {
                    let data = self.pattern(len as usize);
                    // SAFETY: inside the mapping.
                    unsafe {
                        std::ptr::copy_nonoverlapping(data.as_ptr(), (p as *mut u8).add(at), data.len());
                        if libc::msync(p, maplen, libc::MS_SYNC) < 0 {
                            self.fail(format!("msync: errno {}", errno()));
                        }
                    }
                    self.model[off as usize..(off + len) as usize].copy_from_slice(&data);
                    self.note(format!("mmap-write {off} +{len}"));
                } else {
                    // SAFETY: inside the mapping.
                    let got = unsafe { std::slice::from_raw_parts((p as *const u8).add(at), len as usize) }.to_vec();
                    let want = &self.model[off as usize..(off + len) as usize];
                    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
                        self.fail(format!("mmap read differs at {}", off as usize + i));
                    }
                    self.note(format!("mmap-read {off} +{len}"));
                }
                // SAFETY: our mapping.
                unsafe { libc::munmap(p, maplen) };
                self.check(off, len);
            }
            5..=7 => {
                let k = op - 5;
                if self.off_falloc[k] || size == 0 {
                    return;
                }
                let (off, len) = self.pick_range(size);
                let mode = [
                    libc::FALLOC_FL_KEEP_SIZE,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    libc::FALLOC_FL_ZERO_RANGE,
                ][k];
                // SAFETY: plain syscall.
                if unsafe { libc::fallocate(self.fd, mode, off as i64, len as i64) } < 0 {
                    let e = errno();
                    if e == libc::EOPNOTSUPP || e == libc::EINVAL {
                        self.off_falloc[k] = true;
                        self.note(format!("{} not supported: off", NAMES[op]));
                        return;
                    }
                    self.fail(format!("fallocate {} {off} +{len}: errno {e}", NAMES[op]));
                }
                let end = (off + len) as usize;
                if k > 0 {
                    let stop = if k == 1 { end.min(self.model.len()) } else { end };
                    if self.model.len() < stop {
                        self.model.resize(stop, 0);
                    }
                    self.model[off as usize..stop].fill(0);
                }
                self.note(format!("{} {off} +{len}", NAMES[op]));
                self.check(off.saturating_sub(1), len + 2);
            }
            8 | 9 => {
                // copy_file_range refuses an O_APPEND destination (EBADF).
                if self.off_cfr || self.append || (op == 8 && size == 0) {
                    return;
                }
                let (src_fd, src_len) = if op == 8 {
                    (self.fd, size)
                } else {
                    // SAFETY: a valid C string.
                    let fd = unsafe { libc::open(self.scratch.as_ptr(), libc::O_RDONLY) };
                    if fd < 0 {
                        self.fail(format!("open scratch: errno {}", errno()));
                    }
                    (fd, self.src.len() as u64)
                };
                let (sin, len) = self.pick_range(src_len);
                let len = len.min(src_len - sin).max(1);
                let mut pout = self.rng.below(self.max.saturating_sub(len).max(1));
                // Ranges within one file must not overlap (EINVAL).
                if op == 8 && sin < pout + len && pout < sin + len {
                    pout = (sin + len).min(self.max.saturating_sub(len));
                    if sin < pout + len && pout < sin + len {
                        return;
                    }
                }
                let source: Vec<u8> = if op == 8 {
                    self.model[sin as usize..(sin + len) as usize].to_vec()
                } else {
                    self.src[sin as usize..(sin + len) as usize].to_vec()
                };
                let (mut pi, mut po) = (sin as i64, pout as i64);
                let mut done = 0u64;
                while done < len {
                    // SAFETY: plain syscall with our offsets.
                    let n = unsafe { libc::copy_file_range(src_fd, &mut pi, self.fd, &mut po, (len - done) as usize, 0) };
                    if n < 0 {
                        let e = errno();
                        if done == 0 && (e == libc::EXDEV || e == libc::EOPNOTSUPP || e == libc::EINVAL) {
                            self.off_cfr = true;
                            self.note(format!("copy_file_range not supported (errno {e}): off"));
                            if op == 9 {
                                // SAFETY: ours.
                                unsafe { libc::close(src_fd) };
                            }
                            return;
                        }
                        self.fail(format!("copy_file_range: errno {e}"));
                    }
                    if n == 0 {
                        break;
                    }
                    done += n as u64;
                }
                if op == 9 {
                    // SAFETY: ours.
                    unsafe { libc::close(src_fd) };
                }
                let end = (pout + done) as usize;
                if self.model.len() < end {
                    self.model.resize(end, 0);
                }
                self.model[pout as usize..end].copy_from_slice(&source[..done as usize]);
                self.note(format!("{} {sin} -> {pout} +{done}", NAMES[op]));
                self.check(pout, done);
            }
            10 => {
                // SAFETY: plain syscalls.
                let r = unsafe { if self.rng.below(2) == 0 { libc::fsync(self.fd) } else { libc::fdatasync(self.fd) } };
                if r < 0 {
                    self.fail(format!("fsync: errno {}", errno()));
                }
                self.note("fsync".into());
            }
            11 => {
                // SAFETY: ours.
                unsafe { libc::close(self.fd) };
                self.append = self.rng.below(4) == 0;
                self.open();
                self.note(format!("reopen{}", if self.append { " O_APPEND" } else { "" }));
            }
            _ => {}
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seed, mut ops, mut max, mut every, mut quiet) = (1u64, 10_000u64, 256 * 1024u64, 100u64, false);
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("rfsfsx: {name} needs a number");
                exit(2)
            })
        };
        match a.as_str() {
            "--seed" => seed = num("--seed"),
            "--ops" => ops = num("--ops"),
            "--max-size" => max = num("--max-size"),
            "--verify-every" => every = num("--verify-every").max(1),
            "-q" => quiet = true,
            _ => files.push(a),
        }
    }
    let Some(file) = files.first().cloned() else {
        eprintln!("usage: rfsfsx [--seed N] [--ops N] [--max-size BYTES] [--verify-every N] [-q] FILE [SCRATCH]");
        exit(2)
    };
    let scratch = files.get(1).cloned().unwrap_or_else(|| format!("{file}.src"));
    let model = std::fs::read(&file).unwrap_or_else(|e| {
        eprintln!("rfsfsx: cannot read {file}: {e}");
        exit(2)
    });
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let src: Vec<u8> = (0..max / 2).map(|_| rng.next() as u8).collect();
    if let Err(e) = std::fs::write(&scratch, &src) {
        eprintln!("rfsfsx: cannot write {scratch}: {e}");
        exit(2);
    }
    let mut f = Fsx {
        path: CString::new(file.clone()).unwrap_or_default(),
        scratch: CString::new(scratch).unwrap_or_default(),
        fd: -1,
        append: false,
        model,
        src,
        max,
        rng,
        log: Vec::new(),
        seed,
        opno: 0,
        off_falloc: [false; 3],
        off_cfr: false,
        counts: [0; 12],
    };
    f.open();
    for i in 0..ops {
        f.opno = i + 1;
        f.step(i == 0);
        if f.opno.is_multiple_of(every) {
            let n = f.model.len() as u64;
            f.check(0, n);
        }
    }
    let n = f.model.len() as u64;
    f.check(0, n);
    // SAFETY: ours.
    unsafe { libc::close(f.fd) };
    // The file as a new open sees it.
    let back = std::fs::read(&file).unwrap_or_default();
    if back != f.model {
        f.fail("the file read back after close differs".into());
    }
    let counts: Vec<String> = NAMES.iter().zip(f.counts).map(|(n, c)| format!("{n}={c}")).collect();
    if !quiet {
        println!("rfsfsx: ok seed {seed}, {ops} ops, final size {}: {}", f.model.len(), counts.join(" "));
    }
}
