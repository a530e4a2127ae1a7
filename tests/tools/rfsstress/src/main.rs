//! rfsstress: the concurrency part of tests/stress.sh.
//!
//!   rfsstress populate B1 B2       make the lower layout in two branches
//!   rfsstress run MNT SECONDS      fork the workers on the union, for SECONDS
//!   rfsstress check MNT            the union's final state is consistent
//!   rfsstress check-lower B1 B2    the lower branches hold exactly the layout
//!
//! Every data file is made of 4 KiB blocks that name themselves: a header
//! (magic, source, generation, block index, file tag) and a payload derived
//! from the header, with no zero byte. Source 0 is the lower layout; a worker
//! writes whole files with its own source id and a new generation. So a file
//! can be checked for being "its lower content or one complete written
//! content": every block valid, all of one (source, generation), the right
//! size. A partial copy-up (zeros, short file) or data of another file or
//! offset fails the check.
//!
//! Layout (relative to the branch roots; b1 = B1, b2 = B2):
//!   hot/h0..h3        b1, 256 KiB: copied up and written by many at once
//!   files/f00..f47    b1, 16 KiB: each owned by one worker (strict checks)
//!   m/s000..s099      b1, m/s100..s199 b2: stable names of a merged dir
//!   m/v00..v23        b1, m/w00..w11 b2: unlinked and recreated (8 KiB)
//!   r/a00..a15        b1, 8 KiB: renamed a <-> b, and r <-> r2
//!   r2/               b1, empty; rd/ (b1) has a child: rename gives EXDEV
//!   ed/               b2, empty: renamed ed <-> ed2
//!
//! Output: one line per worker ("worker KIND ID: N ops, M expected errors,
//! K unexpected[, J known rfs bug]"), then the unexpected errors and data
//! problems (at most 20 per worker). The exit status is 0 only when there
//! were none (known rfs bugs, see unlink_op, do not count).

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BLK: usize = 4096;
const MAGIC: &[u8; 8] = b"RFSSTRS1";
const HOT_N: usize = 4;
const HOT_BLOCKS: usize = 64;
const FILES_N: usize = 48;
const FILES_BLOCKS: usize = 4;
const STABLE_B1: usize = 100;
const STABLE_B2: usize = 100;
const VOL_B1: usize = 24;
const VOL_B2: usize = 12;
const VOL_BLOCKS: usize = 2;
const PAIRS: usize = 16;
const PAIR_BLOCKS: usize = 2;

// --- small helpers -------------------------------------------------------------

struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// FNV-1a of a name: the tag that ties a block to its file.
fn tag_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x1000_0000_01b3);
    }
    h
}

fn fill_block(buf: &mut [u8], src: u32, gen: u32, idx: u64, tag: u64) {
    buf[0..8].copy_from_slice(MAGIC);
    buf[8..12].copy_from_slice(&src.to_le_bytes());
    buf[12..16].copy_from_slice(&gen.to_le_bytes());
    buf[16..24].copy_from_slice(&idx.to_le_bytes());
    buf[24..32].copy_from_slice(&tag.to_le_bytes());
    let mut r = Rng::new(tag ^ ((src as u64) << 40) ^ ((gen as u64) << 8) ^ idx.wrapping_mul(31));
    let mut i = 32;
    while i < BLK {
        let v = r.next().to_le_bytes();
        for b in v {
            if i < BLK {
                buf[i] = b | 1;
                i += 1;
            }
        }
    }
}

fn content(src: u32, gen: u32, blocks: usize, tag: u64) -> Vec<u8> {
    let mut v = vec![0u8; blocks * BLK];
    for i in 0..blocks {
        fill_block(&mut v[i * BLK..(i + 1) * BLK], src, gen, i as u64, tag);
    }
    v
}

/// The (source, generation) of a valid block `idx` of file `tag`, or None.
fn block_source(buf: &[u8], idx: u64, tag: u64) -> Option<(u32, u32)> {
    if buf.len() != BLK || &buf[0..8] != MAGIC {
        return None;
    }
    let src = u32::from_le_bytes(buf[8..12].try_into().unwrap());
    let gen = u32::from_le_bytes(buf[12..16].try_into().unwrap());
    let bidx = u64::from_le_bytes(buf[16..24].try_into().unwrap());
    let btag = u64::from_le_bytes(buf[24..32].try_into().unwrap());
    if bidx != idx || btag != tag {
        return None;
    }
    let mut want = vec![0u8; BLK];
    fill_block(&mut want, src, gen, idx, tag);
    if want[..] == buf[..] {
        Some((src, gen))
    } else {
        None
    }
}

/// Checks that `data` is one complete content of file `tag` (`blocks`
/// blocks, all of one source and generation). Returns that (source, gen).
fn whole_file(data: &[u8], blocks: usize, tag: u64) -> Result<(u32, u32), String> {
    if data.len() != blocks * BLK {
        return Err(format!("size {} (expected {})", data.len(), blocks * BLK));
    }
    let mut first = None;
    for i in 0..blocks {
        let b = &data[i * BLK..(i + 1) * BLK];
        match block_source(b, i as u64, tag) {
            None => {
                let zeros = b.iter().filter(|&&x| x == 0).count();
                return Err(format!("block {} is not valid ({} zero bytes)", i, zeros));
            }
            Some(s) => match first {
                None => first = Some(s),
                Some(f) if f != s => {
                    return Err(format!(
                        "mixed content: block 0 from source {} gen {}, block {} from source {} gen {}",
                        f.0, f.1, i, s.0, s.1
                    ))
                }
                _ => {}
            },
        }
    }
    Ok(first.unwrap_or((0, 0)))
}

fn errno_name(e: &io::Error) -> String {
    let n = e.raw_os_error().unwrap_or(0);
    let s = match n {
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        5 => "EIO",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        28 => "ENOSPC",
        30 => "EROFS",
        36 => "ENAMETOOLONG",
        39 => "ENOTEMPTY",
        61 => "ENODATA",
        116 => "ESTALE",
        _ => "",
    };
    if s.is_empty() {
        format!("E{} ({})", n, e)
    } else {
        s.to_string()
    }
}

fn mkfile(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap_or_else(|e| die(&format!("mkdir {}: {}", p.display(), e)));
    }
    fs::write(path, data).unwrap_or_else(|e| die(&format!("write {}: {}", path.display(), e)));
}

fn die(msg: &str) -> ! {
    eprintln!("rfsstress: {}", msg);
    std::process::exit(2);
}

fn hot(i: usize) -> String {
    format!("hot/h{}", i)
}
fn file(i: usize) -> String {
    format!("files/f{:02}", i)
}
fn stable(i: usize) -> String {
    format!("m/s{:03}", i)
}
/// Volatile names: v00.. in b1, w00.. in b2.
fn vol(i: usize) -> String {
    if i < VOL_B1 {
        format!("m/v{:02}", i)
    } else {
        format!("m/w{:02}", i - VOL_B1)
    }
}
fn pair_tag(i: usize) -> u64 {
    tag_of(&format!("r/a{:02}", i))
}
/// The three places pair i can be: r/aNN, r/bNN, r2/aNN.
fn pair_places(i: usize) -> [String; 3] {
    [format!("r/a{:02}", i), format!("r/b{:02}", i), format!("r2/a{:02}", i)]
}

// --- populate / check-lower -------------------------------------------------------------

fn populate(b1: &Path, b2: &Path) {
    for i in 0..HOT_N {
        mkfile(&b1.join(hot(i)), &content(0, 0, HOT_BLOCKS, tag_of(&hot(i))));
    }
    for i in 0..FILES_N {
        mkfile(&b1.join(file(i)), &content(0, 0, FILES_BLOCKS, tag_of(&file(i))));
    }
    for i in 0..STABLE_B1 + STABLE_B2 {
        let b = if i < STABLE_B1 { b1 } else { b2 };
        mkfile(&b.join(stable(i)), format!("{}\n", stable(i)).as_bytes());
    }
    for i in 0..VOL_B1 + VOL_B2 {
        let b = if i < VOL_B1 { b1 } else { b2 };
        mkfile(&b.join(vol(i)), &content(0, 0, VOL_BLOCKS, tag_of(&vol(i))));
    }
    for i in 0..PAIRS {
        mkfile(&b1.join(&pair_places(i)[0]), &content(0, 0, PAIR_BLOCKS, pair_tag(i)));
    }
    fs::create_dir_all(b1.join("r2")).unwrap();
    mkfile(&b1.join("rd/child"), b"child\n");
    fs::create_dir_all(b2.join("ed")).unwrap();
}

/// The lower layout, file by file: (relative path, expected data).
fn lower_layout() -> Vec<(u8, String, Vec<u8>)> {
    let mut v = Vec::new();
    for i in 0..HOT_N {
        v.push((1, hot(i), content(0, 0, HOT_BLOCKS, tag_of(&hot(i)))));
    }
    for i in 0..FILES_N {
        v.push((1, file(i), content(0, 0, FILES_BLOCKS, tag_of(&file(i)))));
    }
    for i in 0..STABLE_B1 + STABLE_B2 {
        v.push((if i < STABLE_B1 { 1 } else { 2 }, stable(i), format!("{}\n", stable(i)).into_bytes()));
    }
    for i in 0..VOL_B1 + VOL_B2 {
        v.push((if i < VOL_B1 { 1 } else { 2 }, vol(i), content(0, 0, VOL_BLOCKS, tag_of(&vol(i)))));
    }
    for i in 0..PAIRS {
        v.push((1, pair_places(i)[0].clone(), content(0, 0, PAIR_BLOCKS, pair_tag(i))));
    }
    v.push((1, "rd/child".into(), b"child\n".to_vec()));
    v
}

fn check_lower(b1: &Path, b2: &Path) -> usize {
    let mut bad = 0;
    let mut count = [0usize; 3];
    for (br, rel, want) in lower_layout() {
        let p = if br == 1 { b1.join(&rel) } else { b2.join(&rel) };
        count[br as usize] += 1;
        match fs::read(&p) {
            Ok(d) if d == want => {}
            Ok(_) => {
                println!("lower {} changed", p.display());
                bad += 1
            }
            Err(e) => {
                println!("lower {}: {}", p.display(), errno_name(&e));
                bad += 1
            }
        }
    }
    // Nothing else appeared in the lower branches.
    for (b, n) in [(b1, count[1]), (b2, count[2])] {
        let mut found = 0;
        walk(b, &mut |p: &Path, md: &fs::Metadata| {
            if md.is_file() {
                found += 1
            } else if !md.is_dir() {
                println!("lower: unexpected {}", p.display());
                bad += 1;
            }
        });
        if found != n {
            println!("lower {}: {} files, expected {}", b.display(), found, n);
            bad += 1;
        }
    }
    bad
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata)) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if let Ok(md) = fs::symlink_metadata(&p) {
                f(&p, &md);
                if md.is_dir() {
                    walk(&p, f);
                }
            }
        }
    }
}

// --- workers ---------------------------------------------------------------------------

struct Worker {
    kind: &'static str,
    id: u32,
    mnt: PathBuf,
    rng: Rng,
    ops: u64,
    expected: u64,
    unexpected: u64,
    known: u64,
    msgs: Vec<String>,
    gen: u32,
}

impl Worker {
    fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }
    fn bad(&mut self, m: String) {
        self.unexpected += 1;
        if self.msgs.len() < 20 {
            self.msgs.push(m);
        }
    }
    /// An error: expected if its errno is in `ok`.
    fn err(&mut self, op: &str, rel: &str, e: &io::Error, ok: &[i32]) {
        if ok.contains(&e.raw_os_error().unwrap_or(0)) {
            self.expected += 1;
        } else {
            self.bad(format!("{} {}: {}", op, rel, errno_name(e)));
        }
    }
    /// An rfs bug already reproduced on its own by stress.sh: counted apart
    /// (a "known rfs bug (TAG)" line), so the run still checks the rest.
    fn known_bug(&mut self, tag: &str, m: String) {
        self.known += 1;
        if self.msgs.len() < 20 {
            self.msgs.push(format!("known rfs bug ({}): {}", tag, m));
        }
    }
    fn next_gen(&mut self) -> u32 {
        self.gen += 1;
        self.gen
    }
}

const ENOENT: i32 = libc::ENOENT;
const EEXIST: i32 = libc::EEXIST;
const EXDEV: i32 = libc::EXDEV;

/// Many processes write whole contents of the same lower files (O_RDWR, one
/// pwrite each: the first one's open copies the file up) and read them.
/// A read must always give a full-size file whose blocks have the right
/// header and no zero byte (blocks may mix two writers' pages: reads do not
/// lock against writes).
fn hot_writer(w: &mut Worker) {
    let i = w.rng.below(HOT_N);
    let rel = hot(i);
    let tag = tag_of(&rel);
    let gen = w.next_gen();
    let data = content(w.id, gen, HOT_BLOCKS, tag);
    match fs::OpenOptions::new().read(true).write(true).open(w.p(&rel)) {
        Ok(f) => match f.write_all_at(&data, 0) {
            Ok(()) => {}
            Err(e) => w.err("pwrite", &rel, &e, &[]),
        },
        // EEXIST: an rfs bug (open without O_CREAT cannot give it): several
        // processes open the same lower file for writing at once, and some
        // of them fail instead of getting the one copy (stress.sh
        // reproduces it on its own and reports it as a skip).
        Err(e) if e.raw_os_error() == Some(EEXIST) => {
            w.known_bug("same-file copy-up", format!("open O_RDWR {}: EEXIST", rel))
        }
        Err(e) => w.err("open O_RDWR", &rel, &e, &[]),
    }
}

fn hot_reader(w: &mut Worker) {
    let i = w.rng.below(HOT_N);
    let rel = hot(i);
    let tag = tag_of(&rel);
    match fs::read(w.p(&rel)) {
        Ok(d) => {
            if d.len() != HOT_BLOCKS * BLK {
                w.bad(format!("read {}: size {} (expected {})", rel, d.len(), HOT_BLOCKS * BLK));
                return;
            }
            for b in 0..HOT_BLOCKS {
                let blk = &d[b * BLK..(b + 1) * BLK];
                let idx = u64::from_le_bytes(blk[16..24].try_into().unwrap());
                let btag = u64::from_le_bytes(blk[24..32].try_into().unwrap());
                if &blk[0..8] != MAGIC || idx != b as u64 || btag != tag || blk[32..].contains(&0) {
                    let zeros = blk.iter().filter(|&&x| x == 0).count();
                    w.bad(format!("read {}: block {} is not a block of this file ({} zero bytes)", rel, b, zeros));
                    return;
                }
            }
        }
        Err(e) => w.err("read", &rel, &e, &[]),
    }
}

/// Each owner worker owns the files/ entries with index % owners == its
/// index among the owners: it copies them up in different ways and checks
/// each result strictly. This records what each of its files should hold.
struct Owned {
    expect: Vec<Option<(u32, u32)>>, // None: lower content
}

fn own_index(slot: usize, id: usize, n: usize) -> usize {
    slot * n + id
}

fn mmap_write(f: &fs::File, data: &[u8]) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            data.len(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), p as *mut u8, data.len());
        let rc = libc::msync(p, data.len(), libc::MS_SYNC);
        let e = io::Error::last_os_error();
        libc::munmap(p, data.len());
        if rc != 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// Lists merged directories: m/ (stable names from two branches, volatile
/// ones being unlinked and recreated), hot/, files/, r/.
fn readdir_op(w: &mut Worker) {
    let which = w.rng.below(4);
    let dir = ["m", "hot", "files", "r"][which];
    let rd = match fs::read_dir(w.p(dir)) {
        Ok(rd) => rd,
        Err(e) => return w.err("opendir", dir, &e, &[]),
    };
    let mut names = Vec::new();
    for e in rd {
        match e {
            Ok(e) => names.push(e.file_name().to_string_lossy().into_owned()),
            Err(e) => return w.err("readdir", dir, &e, &[]),
        }
    }
    let n = names.len();
    names.sort();
    names.dedup();
    if names.len() != n {
        w.bad(format!("readdir {}: {} duplicate names", dir, n - names.len()));
    }
    if let Some(x) = names.iter().find(|s| s.starts_with(".wh.")) {
        w.bad(format!("readdir {}: reserved name {} listed", dir, x));
    }
    let (must, may): (Vec<String>, Vec<String>) = match dir {
        "m" => (
            (0..STABLE_B1 + STABLE_B2).map(stable).collect(),
            (0..VOL_B1 + VOL_B2).map(vol).collect(),
        ),
        "hot" => ((0..HOT_N).map(hot).collect(), vec![]),
        "files" => ((0..FILES_N).map(file).collect(), vec![]),
        _ => (
            vec![],
            (0..PAIRS).flat_map(|i| pair_places(i)[0..2].to_vec()).collect(),
        ),
    };
    let strip = |s: &String| s[s.find('/').unwrap() + 1..].to_string();
    for m in &must {
        if names.binary_search(&strip(m)).is_err() {
            w.bad(format!("readdir {}: {} is missing", dir, m));
        }
    }
    let known: Vec<String> = must.iter().chain(may.iter()).map(strip).collect();
    for x in &names {
        if !known.contains(x) {
            w.bad(format!("readdir {}: unexpected name {}", dir, x));
        }
    }
}

/// Renames the pairs back and forth (r/aNN <-> r/bNN, r/aNN <-> r2/aNN),
/// a directory with a lower child (always EXDEV) and an empty lower
/// directory (ed <-> ed2). Other renamers move the same names: ENOENT is
/// the expected loss of a race.
fn rename_op(w: &mut Worker) {
    let op = w.rng.below(8);
    let (from, to, ok): (String, String, &[i32]) = match op {
        0 | 1 | 2 => {
            let i = w.rng.below(PAIRS);
            let pl = pair_places(i);
            let (a, b) = if w.rng.below(2) == 0 { (0, 1) } else { (1, 0) };
            (pl[a].clone(), pl[b].clone(), &[ENOENT])
        }
        3 | 4 => {
            let i = w.rng.below(PAIRS);
            let pl = pair_places(i);
            let (a, b) = if w.rng.below(2) == 0 { (0, 2) } else { (2, 0) };
            (pl[a].clone(), pl[b].clone(), &[ENOENT])
        }
        5 => ("rd".into(), "rd2".into(), &[]),
        _ => {
            if w.rng.below(2) == 0 {
                ("ed".into(), "ed2".into(), &[ENOENT])
            } else {
                ("ed2".into(), "ed".into(), &[ENOENT])
            }
        }
    };
    // RENAME_NOREPLACE: another process may have moved the pair to `to`
    // meanwhile from a third place; never clobber (that would lose a pair).
    let cf = CString::new(w.p(&from).as_os_str().as_bytes()).unwrap();
    let ct = CString::new(w.p(&to).as_os_str().as_bytes()).unwrap();
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    let what = format!("rename {} -> {}", from, to);
    if op == 5 {
        if rc == 0 {
            w.bad(format!("{}: succeeded, expected EXDEV (directory with a lower child)", what));
            // put it back, so the check sees the layout
            unsafe {
                libc::rename(ct.as_ptr(), cf.as_ptr());
            }
        } else {
            let e = io::Error::last_os_error();
            w.err("rename", "rd -> rd2", &e, &[EXDEV]);
        }
        return;
    }
    if rc != 0 {
        let e = io::Error::last_os_error();
        w.err(&what, "", &e, &[ok, &[EEXIST]].concat());
    }
}

/// Unlinks and recreates the volatile names of m/ (lower names of both
/// branches): unlink (ENOENT if gone), O_CREAT|O_EXCL + write (EEXIST if
/// there), O_CREAT|O_TRUNC + write (always succeeds).
fn unlink_op(w: &mut Worker) {
    let i = w.rng.below(VOL_B1 + VOL_B2);
    let rel = vol(i);
    let tag = tag_of(&rel);
    let path = w.p(&rel);
    match w.rng.below(3) {
        0 => {
            if let Err(e) = fs::remove_file(&path) {
                w.err("unlink", &rel, &e, &[ENOENT]);
            }
        }
        1 => {
            let gen = w.next_gen();
            let data = content(w.id, gen, VOL_BLOCKS, tag);
            match fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&path) {
                Ok(mut f) => {
                    if let Err(e) = f.write_all(&data) {
                        w.err("write", &rel, &e, &[]);
                    }
                }
                Err(e) => w.err("create O_EXCL", &rel, &e, &[EEXIST]),
            }
        }
        _ => {
            let gen = w.next_gen();
            let data = content(w.id, gen, VOL_BLOCKS, tag);
            match fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(&path) {
                Ok(mut f) => {
                    if let Err(e) = f.write_all(&data) {
                        w.err("write", &rel, &e, &[]);
                    }
                }
                // ENOENT: another process unlinked the name between our
                // lookup and the open of the (copied-up) file.
                // EEXIST: an rfs bug (open without O_EXCL must never give
                // it): our lookup found the lower file, another process
                // unlinked it and created the name again through the union
                // before our copy-up ran, and the copy-up then found the
                // new upper. Counted apart ("known rfs bug") so the run
                // still checks everything else; stress.sh reproduces it on
                // its own and reports it as a skip.
                Err(e) if e.raw_os_error() == Some(EEXIST) => {
                    w.known_bug("recreated name", format!("open O_CREAT|O_TRUNC {}: EEXIST", rel))
                }
                Err(e) => w.err("open O_CREAT|O_TRUNC", &rel, &e, &[ENOENT]),
            }
        }
    }
}

const KINDS: &[(&str, usize)] = &[
    ("hot-writer", 4),
    ("hot-reader", 2),
    ("owner", 3),
    ("readdir", 2),
    ("rename", 3),
    ("unlink", 3),
];

fn run(mnt: &Path, secs: u64) -> i32 {
    let mut pids = Vec::new();
    let mut id: u32 = 1;
    let nowners = KINDS.iter().find(|k| k.0 == "owner").unwrap().1;
    for &(kind, n) in KINDS {
        for k in 0..n {
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                die("fork failed");
            }
            if pid == 0 {
                let mut w = Worker {
                    kind,
                    id,
                    mnt: mnt.to_path_buf(),
                    rng: Rng::new(id as u64 * 7919 + secs),
                    ops: 0,
                    expected: 0,
                    unexpected: 0,
                    known: 0,
                    msgs: Vec::new(),
                    gen: 0,
                };
                let mut own = Owned { expect: vec![None; FILES_N / nowners] };
                let end = Instant::now() + Duration::from_secs(secs);
                while Instant::now() < end {
                    match kind {
                        "hot-writer" => hot_writer(&mut w),
                        "hot-reader" => hot_reader(&mut w),
                        "owner" => {
                            // owner k (0-based among the owners) owns the
                            // files k, k + n, k + 2n, ...
                            let slot = w.rng.below(own.expect.len());
                            owner_body(&mut w, &mut own, slot, own_index(slot, k, nowners));
                        }
                        "readdir" => readdir_op(&mut w),
                        "rename" => rename_op(&mut w),
                        _ => unlink_op(&mut w),
                    }
                    w.ops += 1;
                }
                let mut out = format!(
                    "worker {} {}: {} ops, {} expected errors, {} unexpected{}\n",
                    w.kind,
                    w.id,
                    w.ops,
                    w.expected,
                    w.unexpected,
                    if w.known > 0 { format!(", {} known rfs bug", w.known) } else { String::new() }
                );
                for m in &w.msgs {
                    out.push_str(&format!("  {} {}: {}\n", w.kind, w.id, m));
                }
                let _ = io::stdout().write_all(out.as_bytes());
                let _ = io::stdout().flush();
                unsafe { libc::_exit(if w.unexpected == 0 { 0 } else { 1 }) };
            }
            pids.push(pid);
            id += 1;
        }
    }
    let mut failed = 0;
    for pid in pids {
        let mut st = 0;
        unsafe { libc::waitpid(pid, &mut st, 0) };
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            failed += 1;
        }
    }
    if failed > 0 {
        println!("{} workers reported problems", failed);
        1
    } else {
        0
    }
}

/// One copy-up and write of a file this owner owns, then a strict check
/// of its content (nobody else writes it).
fn owner_body(w: &mut Worker, own: &mut Owned, slot: usize, idx: usize) {
    let rel = file(idx);
    let tag = tag_of(&rel);
    let path = w.p(&rel);
    let op = w.rng.below(6);
    let gen = w.next_gen();
    let data = content(w.id, gen, FILES_BLOCKS, tag);
    let r: io::Result<bool> = (|| {
        match op {
            0 => {
                let f = fs::OpenOptions::new().read(true).write(true).open(&path)?;
                f.write_all_at(&data, 0)?;
            }
            1 => {
                let mut f = fs::OpenOptions::new().write(true).truncate(true).open(&path)?;
                f.write_all(&data)?;
            }
            2 => {
                let c = CString::new(path.as_os_str().as_bytes()).unwrap();
                if unsafe { libc::truncate(c.as_ptr(), 0) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                let mut f = fs::OpenOptions::new().write(true).open(&path)?;
                f.write_all(&data)?;
            }
            3 => {
                let f = fs::OpenOptions::new().read(true).write(true).open(&path)?;
                mmap_write(&f, &data)?;
            }
            4 => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600 | (gen & 0o44)))?;
                return Ok(false);
            }
            _ => {
                let mut f = fs::OpenOptions::new().append(true).open(&path)?;
                f.set_len(0)?;
                f.write_all(&data)?;
            }
        }
        Ok(true)
    })();
    let opname = ["pwrite", "O_TRUNC+write", "truncate+write", "mmap+msync", "chmod", "ftruncate+O_APPEND"][op];
    match r {
        Ok(true) => own.expect[slot] = Some((w.id, gen)),
        Ok(false) => {}
        Err(e) => {
            w.err(opname, &rel, &e, &[]);
            return;
        }
    }
    match fs::read(&path) {
        Ok(d) => match whole_file(&d, FILES_BLOCKS, tag) {
            Ok(s) => {
                let want = own.expect[slot].unwrap_or((0, 0));
                if s != want {
                    w.bad(format!(
                        "{} after {}: content of source {} gen {}, expected source {} gen {}",
                        rel, opname, s.0, s.1, want.0, want.1
                    ));
                }
            }
            Err(m) => w.bad(format!("{} after {}: {}", rel, opname, m)),
        },
        Err(e) => w.err("read back", &rel, &e, &[]),
    }
}

// --- final check -------------------------------------------------------------------

fn check(mnt: &Path) -> usize {
    let mut bad = 0;
    let complain = |m: String, bad: &mut usize| {
        *bad += 1;
        println!("{}", m);
    };
    let mut stats = [0usize; 3]; // lower, written, absent
    let mut one = |rel: &str, blocks: usize, tag: u64, may_be_absent: bool, bad: &mut usize| {
        match fs::read(mnt.join(rel)) {
            Ok(d) => match whole_file(&d, blocks, tag) {
                Ok((0, _)) => stats[0] += 1,
                Ok(_) => stats[1] += 1,
                Err(m) => complain(format!("{}: {}", rel, m), bad),
            },
            Err(e) if may_be_absent && e.raw_os_error() == Some(ENOENT) => stats[2] += 1,
            Err(e) => complain(format!("{}: {}", rel, errno_name(&e)), bad),
        }
    };
    for i in 0..HOT_N {
        one(&hot(i), HOT_BLOCKS, tag_of(&hot(i)), false, &mut bad);
    }
    for i in 0..FILES_N {
        one(&file(i), FILES_BLOCKS, tag_of(&file(i)), false, &mut bad);
    }
    for i in 0..VOL_B1 + VOL_B2 {
        one(&vol(i), VOL_BLOCKS, tag_of(&vol(i)), true, &mut bad);
    }
    for i in 0..STABLE_B1 + STABLE_B2 {
        match fs::read(mnt.join(stable(i))) {
            Ok(d) if d == format!("{}\n", stable(i)).into_bytes() => {}
            Ok(_) => complain(format!("{}: wrong content", stable(i)), &mut bad),
            Err(e) => complain(format!("{}: {}", stable(i), errno_name(&e)), &mut bad),
        }
    }
    // Each pair is at exactly one of its places, with its lower content.
    for i in 0..PAIRS {
        let mut at = Vec::new();
        for pl in pair_places(i).iter() {
            match fs::read(mnt.join(pl)) {
                Ok(d) => {
                    at.push(pl.clone());
                    match whole_file(&d, PAIR_BLOCKS, pair_tag(i)) {
                        Ok((0, 0)) => {}
                        Ok(s) => complain(format!("{}: content of source {} gen {}, expected the lower one", pl, s.0, s.1), &mut bad),
                        Err(m) => complain(format!("{}: {}", pl, m), &mut bad),
                    }
                }
                Err(e) if e.raw_os_error() == Some(ENOENT) => {}
                Err(e) => complain(format!("{}: {}", pl, errno_name(&e)), &mut bad),
            }
        }
        if at.len() != 1 {
            complain(format!("pair {}: found at {:?}, expected exactly one place", i, at), &mut bad);
        }
    }
    match fs::read(mnt.join("rd/child")) {
        Ok(d) if d == b"child\n" => {}
        _ => complain("rd/child: missing or changed".into(), &mut bad),
    }
    if mnt.join("rd2").exists() {
        complain("rd2 exists".into(), &mut bad);
    }
    let ed = mnt.join("ed").is_dir() as u32 + mnt.join("ed2").is_dir() as u32;
    if ed != 1 {
        complain(format!("ed/ed2: {} of them exist, expected one", ed), &mut bad);
    }
    // readdir agrees with lookups.
    for dir in ["hot", "files", "m", "r", "r2", ""] {
        let listed: Vec<String> = match fs::read_dir(mnt.join(dir)) {
            Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
            Err(e) => {
                complain(format!("readdir {}: {}", dir, errno_name(&e)), &mut bad);
                continue;
            }
        };
        let mut sorted = listed.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != listed.len() {
            complain(format!("readdir {}: duplicate names", dir), &mut bad);
        }
        for n in &sorted {
            if n.starts_with(".wh.") {
                complain(format!("readdir {}: lists {}", dir, n), &mut bad);
            }
            if let Err(e) = fs::symlink_metadata(mnt.join(dir).join(n)) {
                complain(format!("readdir {}: lists {} but lstat gives {}", dir, n, errno_name(&e)), &mut bad);
            }
        }
        if dir == "m" {
            for i in 0..VOL_B1 + VOL_B2 {
                let n = &vol(i)[2..];
                let exists = mnt.join(vol(i)).exists();
                if exists != sorted.iter().any(|x| x == n) {
                    complain(format!("m/{}: lookup says {}, readdir disagrees", n, exists), &mut bad);
                }
            }
        }
    }
    println!(
        "check: {} files with their lower content, {} with one written content, {} removed; {} problems",
        stats[0], stats[1], stats[2], bad
    );
    bad
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let usage = "usage: rfsstress populate B1 B2 | run MNT SECONDS | check MNT | check-lower B1 B2";
    let rc = match a.get(1).map(|s| s.as_str()) {
        Some("populate") if a.len() == 4 => {
            populate(Path::new(&a[2]), Path::new(&a[3]));
            0
        }
        Some("run") if a.len() == 4 => {
            let secs: u64 = a[3].parse().unwrap_or_else(|_| die(usage));
            run(Path::new(&a[2]), secs)
        }
        Some("check") if a.len() == 3 => (check(Path::new(&a[2])) != 0) as i32,
        Some("check-lower") if a.len() == 4 => {
            let n = check_lower(Path::new(&a[2]), Path::new(&a[3]));
            println!("check-lower: {} problems", n);
            (n != 0) as i32
        }
        _ => die(usage),
    };
    std::process::exit(rc);
}
