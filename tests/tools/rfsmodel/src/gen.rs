//! Random generation of cases, the `op` subcommand and reproducer scripts.

use std::collections::BTreeSet;
use std::path::Path as FsPath;

/// `rfsmodel run --opts`: more mount options, after the branches (e.g.
/// `udba=notify`); in the mount, remounts and reproducers.
pub static MOUNT_OPTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

use rfs_logic::model::{Branch, Dir, Found, Inode, Kind, Model, Node, Path, Xattrs};
use rfs_logic::perm::Perm;

use crate::{sys, Case, Failure, Runner};

/// splitmix64.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_0f75)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            v.get(self.below(v.len()))
        }
    }
}

/// One operation of a case.
#[derive(Clone, Debug)]
pub enum Op {
    /// open(O_WRONLY|O_CREAT, 0644) + pwrite.
    Write(Path, usize, Vec<u8>),
    /// open(O_WRONLY|O_CREAT|O_APPEND, 0644) + write.
    Append(Path, Vec<u8>),
    Truncate(Path, usize),
    Unlink(Path),
    Rmdir(Path),
    Mkdir(Path, u32),
    /// rename, or renameat2 with RENAME_NOREPLACE.
    Rename(Path, Path, bool),
    Link(Path, Path),
    Symlink(Vec<u8>, Path),
    Chmod(Path, u32),
    Utimes(Path, i64),
    Setxattr(Path, Vec<u8>, Vec<u8>),
    /// A file (or whiteout) made directly in the branch with this serial.
    DirectAdd(u32, Path, Inode),
    /// A non-directory removed directly from a branch.
    DirectRemove(u32, Path),
    /// remount,append of a new branch.
    AddBranch(Branch),
    /// remount,del of the branch with this serial.
    DelBranch(u32),
    /// sync; echo 3 >/proc/sys/vm/drop_caches: the union's dentries and
    /// inodes are made again from the branches (no change in the model).
    DropCaches,
}

/// Cases the generator leaves out, for known rfs bugs (see tests/model.sh).
#[derive(Clone)]
pub struct Avoid(BTreeSet<&'static str>);

impl Avoid {
    /// Every switch.
    pub const ALL: &'static [&'static str] = &["remove-hardlink"];
    /// On by default: the known bugs (none: remove-hardlink was fixed in
    /// src/dir.rs, tests/namespace.sh covers it).
    const DEFAULT: &'static [&'static str] = &[];

    pub fn default_set() -> Self {
        Avoid(Self::DEFAULT.iter().copied().collect())
    }
    pub fn parse(s: &str) -> Option<Self> {
        let mut set = BTreeSet::new();
        if s == "none" || s.is_empty() {
            return Some(Avoid(set));
        }
        for w in s.split(',') {
            set.insert(*Self::ALL.iter().find(|a| **a == w)?);
        }
        Some(Avoid(set))
    }
    pub fn show(&self) -> String {
        if self.0.is_empty() {
            "none".into()
        } else {
            self.0.iter().copied().collect::<Vec<_>>().join(",")
        }
    }
    /// Whether `op` in state `m` is one of the avoided cases.
    fn hits(&self, op: &Op, m: &Model) -> bool {
        // remove-hardlink: unlink or rename of (or over) a name of an upper
        // file with several links made through the union fails with ESTALE
        // when the name is not the one the union inode was first made for.
        let linked = |p: &Path| match m.lookup(p) {
            Ok(Some(Found::Obj(b, id))) => m
                .branches
                .get(b)
                .is_some_and(|x| x.perm.is_writable() && x.nlink(id) > 1),
            _ => false,
        };
        if self.0.contains("remove-hardlink") {
            match op {
                Op::Unlink(p) if linked(p) => return true,
                Op::Rename(a, b, _) if linked(a) || linked(b) => return true,
                _ => {}
            }
        }
        false
    }
}

/// The stack shapes `--stack random` chooses from (per seed), top first;
/// the first is the default (one writable branch, on top).
pub const SHAPES: &[&str] = &[
    "rw:ro+wh:ro",
    "rw:ro+wh:rw:ro",
    "ro+wh:rw:ro+wh:rw",
    "rw:rw:rw",
];

/// Parses a stack shape: permissions top first, separated by `:` or `,`
/// (`rw:ro+wh:rw:ro`); at least one branch, at most 8.
pub fn parse_stack(s: &str) -> Option<Vec<Perm>> {
    let v: Option<Vec<Perm>> = s
        .split([':', ','])
        .map(|p| Perm::parse(p.trim().as_bytes()))
        .collect();
    v.filter(|v| !v.is_empty() && v.len() <= 8)
}

/// The shape of `--stack random` for `seed`.
pub fn shape_for_seed(seed: u64) -> &'static str {
    let mut r = Rng::new(seed ^ 0x05ac_4a9e);
    SHAPES[r.below(SHAPES.len())]
}

/// The stack as the `--stack` option spells it.
pub fn show_stack(perms: &[Perm]) -> String {
    perms.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(":")
}

const NAMES: &[&str] = &["a", "b", "c", "d"];
const LONG: usize = 256;
/// The opaque marker's name.
const OPAQUE: &[u8] = b".wh..wh..opq";

pub fn show_name(n: &[u8]) -> String {
    if n.len() > 20 {
        format!("{}…({} bytes)", String::from_utf8_lossy(&n[..4]), n.len())
    } else {
        String::from_utf8_lossy(n).into_owned()
    }
}

fn letters(rng: &mut Rng, lo: usize, hi: usize) -> Vec<u8> {
    let n = lo + rng.below(hi - lo + 1);
    (0..n).map(|_| b'a' + rng.below(26) as u8).collect()
}

fn plain_name(rng: &mut Rng) -> Vec<u8> {
    rng.pick(NAMES)
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
}

/// A name for an operation through the union: mostly the small name space,
/// sometimes a reserved or a too long one.
fn op_name(rng: &mut Rng) -> Vec<u8> {
    match rng.below(100) {
        0..=2 => [b".wh.".as_slice(), &plain_name(rng)].concat(),
        3..=4 => vec![b'x'; LONG],
        _ => plain_name(rng),
    }
}

fn rand_path(rng: &mut Rng) -> Path {
    let depth = match rng.below(100) {
        0..=49 => 1,
        50..=84 => 2,
        _ => 3,
    };
    let mut p: Path = (1..depth).map(|_| plain_name(rng)).collect();
    p.push(op_name(rng));
    p
}

struct View {
    all: Vec<Path>,
    dirs: Vec<Path>,
    /// Directories other than the root.
    subdirs: Vec<Path>,
    files: Vec<Path>,
    nondirs: Vec<Path>,
    /// Only in a stack of another shape than the default: the directories
    /// where a new name can be made (some writable branch takes it), which
    /// new names then prefer (with a read-only branch on top, many are not).
    writable_dirs: Option<Vec<Path>>,
}

fn view_of(m: &Model, multi: bool) -> View {
    let v = m.view();
    let sel = |f: &dyn Fn(&Option<Kind>) -> bool| -> Vec<Path> {
        v.iter()
            .filter(|(_, e)| f(&e.kind))
            .map(|(p, _)| p.clone())
            .collect()
    };
    let dirs = sel(&|k| k.is_none());
    let subdirs = dirs.iter().filter(|p| !p.is_empty()).cloned().collect();
    let files = sel(&|k| matches!(k, Some(Kind::File(_))));
    let nondirs = sel(&|k| k.is_some());
    let all = v.keys().filter(|p| !p.is_empty()).cloned().collect();
    let writable_dirs = multi.then(|| {
        dirs.iter()
            .filter(|d| {
                let mut p = (*d).clone();
                p.push(b"a".to_vec());
                m.create_target(&p, false).is_ok()
            })
            .cloned()
            .collect()
    });
    View {
        all,
        dirs,
        subdirs,
        files,
        nondirs,
        writable_dirs,
    }
}

/// Mostly one of `from` (so the op has something to work on), else any path.
fn prefer(rng: &mut Rng, from: &[Path], v: &View) -> Path {
    if rng.chance(65) {
        if let Some(p) = rng.pick(from) {
            return p.clone();
        }
    }
    some_path(rng, v)
}

fn new_path(rng: &mut Rng, v: &View) -> Path {
    if let Some(w) = v.writable_dirs.as_ref().filter(|w| !w.is_empty()) {
        if rng.chance(50) {
            let mut p = rng.pick(w).cloned().unwrap_or_default();
            p.push(op_name(rng));
            return p;
        }
    }
    if rng.chance(70) {
        if let Some(d) = rng.pick(&v.dirs) {
            let mut p = d.clone();
            p.push(op_name(rng));
            return p;
        }
    }
    rand_path(rng)
}

fn some_path(rng: &mut Rng, v: &View) -> Path {
    if rng.chance(78) {
        if let Some(p) = rng.pick(&v.all) {
            return p.clone();
        }
    }
    new_path(rng, v)
}

/// An empty file, as whiteouts and opaque markers are made.
fn empty_file() -> Inode {
    Inode {
        kind: Kind::File(Vec::new()),
        mode: 0o644,
        xattrs: Xattrs::new(),
        mtime: None,
    }
}

fn file_inode(rng: &mut Rng, data: Vec<u8>) -> Inode {
    let mut x = Xattrs::new();
    if rng.chance(15) {
        x.insert(
            format!("user.k{}", rng.below(3)).into_bytes(),
            letters(rng, 1, 6),
        );
    }
    Inode {
        kind: Kind::File(data),
        mode: *rng.pick(&[0o644, 0o600, 0o755, 0o640]).unwrap_or(&0o644),
        xattrs: x,
        mtime: Some(1_600_000_000 + rng.below(100_000) as i64),
    }
}

/// Random contents for a branch: a few dirs, files, symlinks, whiteouts
/// and opaque markers in the small name space.
fn gen_branch(rng: &mut Rng, serial: u32, perm: Perm, n: usize, ids: &mut u64) -> Branch {
    let mut b = Branch::new(serial, perm);
    for _ in 0..n {
        let depth = 1 + rng.below(3);
        let path: Path = (0..depth).map(|_| plain_name(rng)).collect();
        let Some((last, parent)) = path.split_last() else {
            continue;
        };
        // Parents as directories, unless a non-directory is in the way.
        let mut ok = true;
        for i in 0..parent.len() {
            let Some(d) = b.dir_mut(&parent[..i]) else {
                ok = false;
                break;
            };
            let mode = *rng.pick(&[0o755, 0o700, 0o750]).unwrap_or(&0o755);
            d.entries.entry(parent[i].clone()).or_insert_with(|| {
                Node::Dir(Dir {
                    mode,
                    ..Dir::default()
                })
            });
        }
        if !ok {
            continue;
        }
        let Some(d) = b.dir_mut(parent) else { continue };
        let kind = rng.below(100);
        *ids += 1;
        let id = *ids;
        let (name, node, ino) = match kind {
            0..=34 => {
                let mut x = Xattrs::new();
                if rng.chance(10) {
                    x.insert(b"user.d".to_vec(), letters(rng, 1, 4));
                }
                let mode = *rng.pick(&[0o755, 0o700, 0o750]).unwrap_or(&0o755);
                (
                    last.clone(),
                    Node::Dir(Dir {
                        mode,
                        xattrs: x,
                        entries: Default::default(),
                    }),
                    None,
                )
            }
            35..=74 => {
                let data = letters(rng, 0, 24);
                (last.clone(), Node::Obj(id), Some(file_inode(rng, data)))
            }
            75..=81 => {
                let t = format!("/rfsmodel-nowhere/{}", rng.below(10)).into_bytes();
                let ino = Inode {
                    kind: Kind::Symlink(t),
                    mode: 0o777,
                    xattrs: Xattrs::new(),
                    mtime: None,
                };
                (last.clone(), Node::Obj(id), Some(ino))
            }
            82..=93 => {
                let ino = Inode {
                    kind: Kind::File(Vec::new()),
                    mode: 0o644,
                    xattrs: Xattrs::new(),
                    mtime: None,
                };
                (
                    [b".wh.".as_slice(), last].concat(),
                    Node::Obj(id),
                    Some(ino),
                )
            }
            _ => {
                if parent.is_empty() && !rng.chance(30) {
                    continue;
                }
                (OPAQUE.to_vec(), Node::Obj(id), Some(empty_file()))
            }
        };
        if d.entries.contains_key(&name) {
            continue;
        }
        d.entries.insert(name, node);
        if let Some(i) = ino {
            b.inodes.insert(id, i);
        }
    }
    b
}

pub struct Gen {
    rng: Rng,
    ids: u64,
    next_serial: u32,
    avoid: Avoid,
    /// Not the default shape (one `rw` branch, on top): remounts may also
    /// append `rw` branches, and new names prefer directories where some
    /// writable branch takes them.
    multi: bool,
}

impl Gen {
    /// A generator for `seed` and the initial branches of the stack
    /// `perms`, with random contents: 5 entries in an `rw` branch, 3 in a
    /// read-only branch 0 (so that more of the union is writable), 7 in
    /// the other read-only branches. The default shape gets the cases it
    /// always got.
    pub fn new(seed: u64, perms: &[Perm], avoid: &Avoid) -> (Gen, Vec<Branch>) {
        let rw = perms.iter().filter(|p| p.is_writable()).count();
        let mut g = Gen {
            rng: Rng::new(seed),
            ids: 0,
            next_serial: perms.len() as u32,
            avoid: avoid.clone(),
            multi: !(rw == 1 && perms.first() == Some(&Perm::Rw)),
        };
        let init = perms
            .iter()
            .enumerate()
            .map(|(i, &perm)| {
                let n = match (perm.is_writable(), i) {
                    (true, _) => 5,
                    (false, 0) => 3,
                    (false, _) => 7,
                };
                gen_branch(&mut g.rng, i as u32, perm, n, &mut g.ids)
            })
            .collect();
        (g, init)
    }

    pub fn op(&mut self, m: &Model) -> Op {
        for _ in 0..50 {
            let op = self.try_op(m);
            if !self.avoid.hits(&op, m) {
                return op;
            }
        }
        Op::Write(vec![b"a".to_vec()], 0, b"z".to_vec())
    }

    fn try_op(&mut self, m: &Model) -> Op {
        let v = view_of(m, self.multi);
        let rng = &mut self.rng;
        let w = rng.below(120);
        match w {
            0..=11 => {
                let p = prefer(rng, &v.files, &v);
                let off = match rng.below(100) {
                    0..=59 => 0,
                    60..=84 => rng.below(40),
                    _ => rng.below(5000),
                };
                Op::Write(p, off, letters(rng, 1, 16))
            }
            12..=17 => Op::Append(prefer(rng, &v.files, &v), letters(rng, 1, 10)),
            18..=23 => {
                let len = match rng.below(3) {
                    0 => 0,
                    1 => rng.below(40),
                    _ => 3000,
                };
                Op::Truncate(prefer(rng, &v.files, &v), len)
            }
            24..=33 => Op::Unlink(prefer(rng, &v.nondirs, &v)),
            34..=43 => Op::Mkdir(
                new_path(rng, &v),
                *rng.pick(&[0o755, 0o700]).unwrap_or(&0o755),
            ),
            44..=51 => Op::Rmdir(prefer(rng, &v.subdirs, &v)),
            52..=65 => {
                let a = if rng.chance(40) {
                    prefer(rng, &v.subdirs, &v)
                } else {
                    some_path(rng, &v)
                };
                let b = if rng.chance(50) {
                    new_path(rng, &v)
                } else {
                    some_path(rng, &v)
                };
                Op::Rename(a, b, rng.chance(15))
            }
            66..=70 => Op::Link(prefer(rng, &v.nondirs, &v), new_path(rng, &v)),
            71..=74 => Op::Symlink(
                format!("/rfsmodel-nowhere/{}", rng.below(10)).into_bytes(),
                new_path(rng, &v),
            ),
            75..=79 => Op::Chmod(
                some_path(rng, &v),
                *rng.pick(&[0o644, 0o600, 0o755, 0o700, 0o444, 0o640])
                    .unwrap_or(&0o644),
            ),
            80..=83 => Op::Utimes(
                some_path(rng, &v),
                1_700_000_000 + rng.below(100_000) as i64,
            ),
            84..=87 => {
                let k = format!("user.k{}", rng.below(3)).into_bytes();
                Op::Setxattr(some_path(rng, &v), k, letters(rng, 1, 6))
            }
            88..=89 => Op::DropCaches,
            90..=105 => self.direct_add(m),
            106..=115 => self.direct_remove(m),
            116..=117 if m.branches.len() < 5 => {
                let serial = self.next_serial;
                self.next_serial += 1;
                let perm = if self.multi {
                    [Perm::Ro, Perm::RoWh, Perm::Rw][self.rng.below(3)]
                } else if self.rng.chance(50) {
                    Perm::Ro
                } else {
                    Perm::RoWh
                };
                let n = self.rng.below(6);
                Op::AddBranch(gen_branch(&mut self.rng, serial, perm, n, &mut self.ids))
            }
            118..=119 if m.branches.len() > 1 => {
                // Never branch 0, nor the last writable branch.
                let cands: Vec<u32> = (1..m.branches.len())
                    .filter(|&i| deletable(m, i))
                    .filter_map(|i| m.branches.get(i).map(|b| b.serial))
                    .collect();
                match self.rng.pick(&cands) {
                    Some(&s) => Op::DelBranch(s),
                    None => Op::Write(some_path(&mut self.rng, &v), 0, letters(&mut self.rng, 1, 8)),
                }
            }
            _ => Op::Write(some_path(rng, &v), 0, letters(rng, 1, 8)),
        }
    }

    fn direct_add(&mut self, m: &Model) -> Op {
        let rng = &mut self.rng;
        let Some(b) = rng.pick(&m.branches) else {
            return Op::DelBranch(0);
        };
        let mut dirs = Vec::new();
        fn walk(d: &Dir, rel: &mut Path, out: &mut Vec<Path>) {
            out.push(rel.clone());
            for (n, e) in &d.entries {
                if let Node::Dir(s) = e {
                    rel.push(n.clone());
                    walk(s, rel, out);
                    rel.pop();
                }
            }
        }
        walk(&b.root, &mut Vec::new(), &mut dirs);
        let mut p = rng.pick(&dirs).cloned().unwrap_or_default();
        let name = plain_name(rng);
        let here = b.dir(&p).is_some_and(|d| d.entries.contains_key(&name));
        let opaque = b.dir(&p).is_some_and(|d| d.entries.contains_key(OPAQUE));
        // An opaque marker made directly in a (cached) directory; not at a
        // branch root, which rfs notices only at a remount (rfs.rst).
        if !p.is_empty() && !opaque && rng.chance(15) {
            p.push(OPAQUE.to_vec());
            Op::DirectAdd(b.serial, p, empty_file())
        } else if rng.chance(45) && !here {
            p.push([b".wh.".as_slice(), &name].concat());
            Op::DirectAdd(b.serial, p, empty_file())
        } else {
            p.push(name);
            let data = letters(rng, 0, 12);
            Op::DirectAdd(b.serial, p, file_inode(rng, data))
        }
    }

    fn direct_remove(&mut self, m: &Model) -> Op {
        let rng = &mut self.rng;
        let Some(b) = rng.pick(&m.branches) else {
            return Op::DelBranch(0);
        };
        let mut objs = Vec::new();
        fn walk(d: &Dir, rel: &mut Path, out: &mut Vec<Path>) {
            for (n, e) in &d.entries {
                rel.push(n.clone());
                match e {
                    Node::Dir(s) => walk(s, rel, out),
                    // Not the opaque marker of a branch root (rfs.rst:
                    // the union root notices it only at a remount).
                    Node::Obj(_) if rel.len() > 1 || n.as_slice() != OPAQUE => out.push(rel.clone()),
                    Node::Obj(_) => {}
                }
                rel.pop();
            }
        }
        walk(&b.root, &mut Vec::new(), &mut objs);
        // Whiteouts and opaque markers are the interesting ones (lower
        // names show again).
        let wh: Vec<Path> = objs
            .iter()
            .filter(|p| p.last().is_some_and(|n| n.starts_with(b".wh.")))
            .cloned()
            .collect();
        let from = if !wh.is_empty() && rng.chance(60) {
            &wh
        } else {
            &objs
        };
        match rng.pick(from) {
            Some(p) => Op::DirectRemove(b.serial, p.clone()),
            None => Op::DirectRemove(b.serial, vec![b"a".to_vec()]),
        }
    }
}

/// Whether `remount,del:` of branch index `i` is generated (and run): never
/// branch 0, never the last writable branch (the tester keeps one; the
/// model would give EROFS without).
pub fn deletable(m: &Model, i: usize) -> bool {
    let rw = m.branches.iter().filter(|b| b.perm.is_writable()).count();
    i > 0 && m.branches.get(i).is_some_and(|b| !b.perm.is_writable() || rw > 1)
}

/// Generates a case from `seed` on the stack `perms` while running it (the
/// ops depend on the state), stopping at the first difference.
pub fn generate_and_run(
    r: &mut Runner,
    seed: u64,
    nops: usize,
    avoid: &Avoid,
    perms: &[Perm],
) -> Result<(Case, Option<Failure>), String> {
    let (mut g, init) = Gen::new(seed, perms, avoid);
    let mut ops = Vec::new();
    let mut left = nops;
    let mut next = |m: &Model| {
        if left == 0 {
            return None;
        }
        left -= 1;
        Some(g.op(m))
    };
    let f = r.run(&init, &mut next, &mut ops, None)?;
    Ok((Case { init, ops }, f))
}

fn path_arg(base: &str, p: &Path) -> String {
    let mut s = base.to_string();
    for c in p {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    s
}

/// The kind of an op, for statistics.
pub fn kind(op: &Op) -> &'static str {
    match op {
        Op::Write(..) => "write",
        Op::Append(..) => "append",
        Op::Truncate(..) => "truncate",
        Op::Unlink(..) => "unlink",
        Op::Rmdir(..) => "rmdir",
        Op::Mkdir(..) => "mkdir",
        Op::Rename(_, _, false) => "rename",
        Op::Rename(_, _, true) => "rename-noreplace",
        Op::Link(..) => "link",
        Op::Symlink(..) => "symlink",
        Op::Chmod(..) => "chmod",
        Op::Utimes(..) => "utimes",
        Op::Setxattr(..) => "setxattr",
        Op::DirectAdd(..) => "direct-add",
        Op::DirectRemove(..) => "direct-remove",
        Op::AddBranch(..) => "remount-append",
        Op::DelBranch(..) => "remount-del",
        Op::DropCaches => "drop-caches",
    }
}

pub fn show_op(op: &Op) -> String {
    let sp = |p: &Path| crate::show_path(p);
    match op {
        Op::Write(p, o, d) => format!("write {} at {o}: {:?}", sp(p), String::from_utf8_lossy(d)),
        Op::Append(p, d) => format!("append {}: {:?}", sp(p), String::from_utf8_lossy(d)),
        Op::Truncate(p, n) => format!("truncate {} {n}", sp(p)),
        Op::Unlink(p) => format!("unlink {}", sp(p)),
        Op::Rmdir(p) => format!("rmdir {}", sp(p)),
        Op::Mkdir(p, m) => format!("mkdir {} {m:o}", sp(p)),
        Op::Rename(a, b, nr) => format!(
            "rename {} {}{}",
            sp(a),
            sp(b),
            if *nr { " (noreplace)" } else { "" }
        ),
        Op::Link(a, b) => format!("link {} {}", sp(a), sp(b)),
        Op::Symlink(t, p) => format!("symlink {} {}", String::from_utf8_lossy(t), sp(p)),
        Op::Chmod(p, m) => format!("chmod {} {m:o}", sp(p)),
        Op::Utimes(p, t) => format!("utimes {} {t}", sp(p)),
        Op::Setxattr(p, k, v) => {
            format!(
                "setxattr {} {}={}",
                sp(p),
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        }
        Op::DirectAdd(b, p, i) => format!(
            "direct: add {} to branch b{b} ({})",
            sp(p),
            crate::show_kind(&Some(i.kind.clone()))
        ),
        Op::DirectRemove(b, p) => format!("direct: remove {} from branch b{b}", sp(p)),
        Op::AddBranch(b) => format!("remount append b{}={}", b.serial, b.perm.as_str()),
        Op::DelBranch(s) => format!("remount del b{s}"),
        Op::DropCaches => "drop caches".into(),
    }
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Shell lines that make branch `b`'s contents under `dir`.
fn branch_lines(dir: &str, b: &Branch, out: &mut String) {
    fn walk(dir: &str, b: &Branch, d: &Dir, rel: &mut Path, out: &mut String) {
        for (n, e) in &d.entries {
            rel.push(n.clone());
            let p = path_arg(dir, rel);
            match e {
                Node::Dir(s) => {
                    out.push_str(&format!("mkdir {}\n", q(&p)));
                    walk(dir, b, s, rel, out);
                    for (k, v) in &s.xattrs {
                        out.push_str(&format!(
                            "rfsmodel op setxattr {} {} {}\n",
                            q(&p),
                            q(&String::from_utf8_lossy(k)),
                            q(&String::from_utf8_lossy(v))
                        ));
                    }
                    out.push_str(&format!("chmod {:o} {}\n", s.mode, q(&p)));
                }
                Node::Obj(id) => {
                    if let Some(i) = b.inodes.get(id) {
                        inode_lines(&p, i, out);
                    }
                }
            }
            rel.pop();
        }
    }
    walk(dir, b, &b.root, &mut Vec::new(), out);
}

fn inode_lines(p: &str, i: &Inode, out: &mut String) {
    match &i.kind {
        Kind::File(d) => {
            out.push_str(&format!(
                "printf '%s' {} >{}\n",
                q(&String::from_utf8_lossy(d)),
                q(p)
            ));
            for (k, v) in &i.xattrs {
                out.push_str(&format!(
                    "rfsmodel op setxattr {} {} {}\n",
                    q(p),
                    q(&String::from_utf8_lossy(k)),
                    q(&String::from_utf8_lossy(v))
                ));
            }
            out.push_str(&format!("chmod {:o} {}\n", i.mode, q(p)));
            if let Some(t) = i.mtime {
                out.push_str(&format!("rfsmodel op utimes {} {t}\n", q(p)));
            }
        }
        Kind::Symlink(t) => out.push_str(&format!(
            "ln -s {} {}\n",
            q(&String::from_utf8_lossy(t)),
            q(p)
        )),
    }
}

/// The reproducer: `executed` are (op index, expected errno, rfs's errno)
/// of the ops the last run performed; the difference shows after `step`.
pub fn script(case: &Case, executed: &[(usize, i32, i32)], step: usize) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n# rfsmodel reproducer: sh THIS [DIR] (rfs loaded, rfsmodel in PATH)\n");
    s.push_str("T=${1:-/tmp/rfsmodel-repro}\numount \"$T/mnt\" 2>/dev/null\nrm -rf \"$T\"\nmkdir -p \"$T/mnt\"\numask 0\n");
    let mut dirs = Vec::new();
    for b in &case.init {
        s.push_str(&format!(
            "mkdir \"$T/b{0}\"\nchmod {1:o} \"$T/b{0}\"\n",
            b.serial, b.root.mode
        ));
        let mut lines = String::new();
        branch_lines("@T@", b, &mut lines);
        s.push_str(&lines.replace("'@T@", &format!("\"$T/b{}\"'", b.serial)));
        dirs.push(format!("$T/b{}={}", b.serial, b.perm.as_str()));
    }
    let extra = MOUNT_OPTS.get().filter(|o| !o.is_empty()).map(|o| format!(",{o}")).unwrap_or_default();
    s.push_str(&format!(
        "mount -t rfs -o \"dirs={}{extra}\" none \"$T/mnt\" || exit 1\n",
        dirs.join(":")
    ));
    for &(i, want, real) in executed {
        let Some(op) = case.ops.get(i) else { continue };
        let m = |p: &Path| q(&path_arg("@M@", p)).replace("'@M@", "\"$T/mnt\"'");
        let br =
            |b: u32, p: &Path| q(&path_arg("@B@", p)).replace("'@B@", &format!("\"$T/b{b}\"'"));
        let st = |x: &[u8]| q(&String::from_utf8_lossy(x));
        let line = match op {
            Op::Write(p, o, d) => format!("rfsmodel op write {} {o} {}", m(p), st(d)),
            Op::Append(p, d) => format!("rfsmodel op append {} {}", m(p), st(d)),
            Op::Truncate(p, n) => format!("rfsmodel op truncate {} {n}", m(p)),
            Op::Unlink(p) => format!("rfsmodel op unlink {}", m(p)),
            Op::Rmdir(p) => format!("rfsmodel op rmdir {}", m(p)),
            Op::Mkdir(p, md) => format!("rfsmodel op mkdir {} {md:o}", m(p)),
            Op::Rename(a, b, nr) => format!(
                "rfsmodel op rename {} {}{}",
                m(a),
                m(b),
                if *nr { " noreplace" } else { "" }
            ),
            Op::Link(a, b) => format!("rfsmodel op link {} {}", m(a), m(b)),
            Op::Symlink(t, p) => format!("rfsmodel op symlink {} {}", st(t), m(p)),
            Op::Chmod(p, md) => format!("rfsmodel op chmod {} {md:o}", m(p)),
            Op::Utimes(p, t) => format!("rfsmodel op utimes-follow {} {t}", m(p)),
            Op::Setxattr(p, k, v) => format!("rfsmodel op setxattr {} {} {}", m(p), st(k), st(v)),
            Op::DirectAdd(b, p, ino) => {
                let mut l = String::from("# direct change to a branch:\n");
                inode_lines(&path_arg("@B@", p), ino, &mut l);
                l.replace("'@B@", &format!("\"$T/b{b}\"'"))
                    .trim_end()
                    .to_string()
            }
            Op::DirectRemove(b, p) => format!("# direct change to a branch:\nrm {}", br(*b, p)),
            Op::AddBranch(b) => {
                let mut l = format!(
                    "mkdir \"$T/b{0}\"\nchmod {1:o} \"$T/b{0}\"\n",
                    b.serial, b.root.mode
                );
                let mut lines = String::new();
                branch_lines("@T@", b, &mut lines);
                l.push_str(&lines.replace("'@T@", &format!("\"$T/b{}\"'", b.serial)));
                l.push_str(&format!(
                    "rfsmodel op remount \"$T/mnt\" \"append:$T/b{}={}\"",
                    b.serial,
                    b.perm.as_str()
                ));
                l
            }
            Op::DelBranch(sr) => format!("rfsmodel op remount \"$T/mnt\" \"del:$T/b{sr}\""),
            Op::DropCaches => "sync; echo 3 >/proc/sys/vm/drop_caches".into(),
        };
        let note = if want == real {
            format!("# expect {}", sys::errname(want))
        } else {
            format!(
                "# model: {}, rfs: {}",
                sys::errname(want),
                sys::errname(real)
            )
        };
        s.push_str(&format!("{line}   {note}\n"));
        if i == step {
            s.push_str("# ^ the union differs from the model after this command\n");
            break;
        }
    }
    s.push_str("find \"$T/mnt\" \"$T\"/b* | sort\n");
    s
}

/// `rfsmodel op OP ARGS...`: one operation, prints OK or the errno name;
/// exit status 0 when it succeeded.
pub fn op_cmd(a: &[String]) -> i32 {
    let p = |i: usize| FsPath::new(a.get(i).map_or("", |s| s.as_str())).to_path_buf();
    let s = |i: usize| a.get(i).cloned().unwrap_or_default();
    let n = |i: usize| s(i).parse::<usize>().unwrap_or(0);
    let o = |i: usize| u32::from_str_radix(&s(i), 8).unwrap_or(0o644);
    let e = match a.first().map(String::as_str) {
        Some("write") => sys::write(
            &p(1),
            libc::O_WRONLY | libc::O_CREAT,
            Some(n(2)),
            s(3).as_bytes(),
        ),
        Some("append") => sys::write(
            &p(1),
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
            None,
            s(2).as_bytes(),
        ),
        Some("truncate") => sys::truncate(&p(1), n(2)),
        Some("unlink") => sys::unlink(&p(1)),
        Some("rmdir") => sys::rmdir(&p(1)),
        Some("mkdir") => sys::mkdir(&p(1), o(2)),
        Some("rename") => sys::rename(&p(1), &p(2), s(3) == "noreplace"),
        Some("link") => sys::link(&p(1), &p(2)),
        Some("symlink") => sys::symlink(s(1).as_bytes(), &p(2)),
        Some("chmod") => sys::chmod(&p(1), o(2)),
        Some("utimes") => sys::utimes(&p(1), n(2) as i64, true),
        Some("utimes-follow") => sys::utimes(&p(1), n(2) as i64, false),
        Some("setxattr") => sys::setxattr(&p(1), s(2).as_bytes(), s(3).as_bytes()),
        Some("remount") => sys::mount(&s(2), &p(1), true),
        _ => {
            eprintln!("rfsmodel op: write P OFF DATA | append P DATA | truncate P LEN | unlink P | rmdir P | mkdir P MODE | rename A B [noreplace] | link A B | symlink T P | chmod P MODE | utimes P T | utimes-follow P T | setxattr P K V | remount MNT DATA");
            return 2;
        }
    };
    println!("{}", sys::errname(e));
    i32::from(e != 0)
}
