//! A reference model of the union, for the model-based random tester
//! (`tests/tools/rfsmodel`). Host only: never built into the kernel module.
//!
//! The model keeps every branch as an in-memory tree, exactly as it would be
//! on disk: directories, regular files, symlinks, and the `.wh.` whiteouts
//! and `.wh..wh..opq` opaque markers as ordinary entries. The union view is
//! computed from the branches by the rules of `Documentation/filesystems/
//! rfs.rst` (Lookup, On-disk conventions), and every operation made through
//! the union changes the branches the way rfs does (The writable branches,
//! Copy-up, Removal and creation, Rename): the tester runs the same
//! operation on a real mount and compares.
//!
//! # Several writable branches
//!
//! Any branch may be `rw`, at any index (each [`Branch`] keeps its
//! [`Perm`]). Changes are placed as rfs does with its default policies
//! (`create=tdp`, `cpup=tdp`); the choice itself is made by the kernel's
//! own pure functions, [`policy::copyup`] and [`policy::create`], from
//! [`Facts`] the model builds the way `src/copyup.rs` does, so the model and
//! the kernel cannot disagree on the policy, only on the facts:
//!
//! - an object whose top member is in an `rw` branch is changed in place
//!   there ([`Model::change_target`]);
//! - an object whose top is read-only is copied up into the top-most `rw`
//!   branch between its parent's top and itself that holds the parent; if
//!   none, the nearest `rw` branch above it, where its parent directories
//!   are made first (a directory may so get a member below its read-only
//!   top); none: EROFS;
//! - a new name goes to its parent's top branch when that is `rw`, else to
//!   the nearest `rw` branch above it (parents made there); none: EROFS
//!   ([`Model::create_target`]);
//! - unlink and rmdir act in the branch a change of the victim goes to:
//!   removed there when it is there, `.wh.NAME` there when the name exists
//!   in a member of the parent below that branch;
//! - rename and link happen in the branch a change of the source goes to
//!   (after its copy-up) when the new name would show from there
//!   (`shows_from` in `src/copyup.rs`: no object, whiteout or opaque marker
//!   in a member of the new parent above that branch, and a member of the
//!   new parent there or one that can be made there); a rename of a
//!   non-directory goes to the branch of the object it replaces when that is
//!   higher. Otherwise a directory gets EXDEV; a non-directory goes to the
//!   nearest `rw` branch above where the name shows, copied up there first,
//!   also from a lower `rw` branch (`promote`: only a file with one link;
//!   EXDEV when none). A directory with entries below the branch: EXDEV.
//!
//! A stack whose only `rw` branch is branch 0 behaves exactly as the
//! single-writable-branch union did: every change goes to branch 0.
//!
//! # Conventions the tester relies on
//!
//! - Operations never remove branch 0 ([`Model::del_branch`]); with no `rw`
//!   branch left (or none the rules reach) changes fail with EROFS, as in
//!   rfs.
//! - Symlinks made by the tester point nowhere (an absolute target under a
//!   directory that does not exist), so following one, as a path walk or an
//!   open does, gives ENOENT.
//! - The caller is root with umask 0, so modes are as given and permission
//!   bits never refuse anything.
//! - No hard links inside read-only branches (pseudo-links are not
//!   modelled), no concurrent changes.
//!
//! Errors are Linux errno numbers ([`Errno`]).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::perm::Perm;
use super::policy::{self, Copyup, Create, CreateState, Facts, Slot};
use super::whiteout::{is_reserved, NAME_MAX, OPAQUE_NAME, WH_PREFIX};

/// A Linux errno number.
pub type Errno = i32;
/// No such file or directory.
pub const ENOENT: Errno = 2;
/// Operation not permitted (creating a reserved name, link of a directory).
pub const EPERM: Errno = 1;
/// File exists.
pub const EEXIST: Errno = 17;
/// Cross-device link (rename of a non-empty directory).
pub const EXDEV: Errno = 18;
/// Not a directory.
pub const ENOTDIR: Errno = 20;
/// Is a directory.
pub const EISDIR: Errno = 21;
/// Invalid argument.
pub const EINVAL: Errno = 22;
/// File name too long.
pub const ENAMETOOLONG: Errno = 36;
/// Directory not empty.
pub const ENOTEMPTY: Errno = 39;
/// Read-only file system (no writable branch takes the change).
pub const EROFS: Errno = 30;
/// Stale file handle (a copy-up finds its place taken: rfs's `copy_up_one`).
pub const ESTALE: Errno = 116;

/// One name (a path component).
pub type Name = Vec<u8>;
/// A path below the union root, as components (empty: the root).
pub type Path = Vec<Name>;
/// User extended attributes: name (with `user.`) to value.
pub type Xattrs = BTreeMap<Vec<u8>, Vec<u8>>;

/// An entry of a branch directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir(Dir),
    /// A non-directory: an index into its branch's inode table (several
    /// entries with one index are hard links).
    Obj(u64),
}

/// A directory of a branch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dir {
    /// Permission bits.
    pub mode: u32,
    /// User xattrs.
    pub xattrs: Xattrs,
    /// The entries, reserved names included.
    pub entries: BTreeMap<Name, Node>,
}

/// What a non-directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file with this data.
    File(Vec<u8>),
    /// A symlink with this target.
    Symlink(Vec<u8>),
}

/// A non-directory object of a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// File data or symlink target.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// User xattrs.
    pub xattrs: Xattrs,
    /// The mtime in seconds, when the model knows it (set by the tester or
    /// by utimes, kept by copy-up and rename, forgotten by a write).
    pub mtime: Option<i64>,
}

/// One branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The tester's name for the branch (its directory is `b<serial>`).
    pub serial: u32,
    /// Its permission.
    pub perm: Perm,
    /// Its root directory.
    pub root: Dir,
    /// Its non-directory objects.
    pub inodes: BTreeMap<u64, Inode>,
}

impl Branch {
    /// An empty branch.
    pub fn new(serial: u32, perm: Perm) -> Self {
        Branch {
            serial,
            perm,
            root: Dir {
                mode: 0o755,
                ..Dir::default()
            },
            inodes: BTreeMap::new(),
        }
    }

    /// The directory at `path` in this branch, if it is one.
    pub fn dir(&self, path: &[Name]) -> Option<&Dir> {
        let mut d = &self.root;
        for c in path {
            match d.entries.get(c) {
                Some(Node::Dir(x)) => d = x,
                _ => return None,
            }
        }
        Some(d)
    }

    /// The directory at `path` in this branch, mutable.
    pub fn dir_mut(&mut self, path: &[Name]) -> Option<&mut Dir> {
        let mut d = &mut self.root;
        for c in path {
            match d.entries.get_mut(c) {
                Some(Node::Dir(x)) => d = x,
                _ => return None,
            }
        }
        Some(d)
    }

    /// The entry at `path` (not the root).
    pub fn entry(&self, path: &[Name]) -> Option<&Node> {
        let (last, parent) = path.split_last()?;
        self.dir(parent)?.entries.get(last)
    }

    /// How many names the object `id` has in this branch.
    pub fn nlink(&self, id: u64) -> u32 {
        fn count(d: &Dir, id: u64) -> u32 {
            d.entries.values().fold(0u32, |n, e| match e {
                Node::Obj(x) if *x == id => n.saturating_add(1),
                Node::Dir(s) => n.saturating_add(count(s, id)),
                Node::Obj(_) => n,
            })
        }
        count(&self.root, id)
    }

    /// Drops inode table entries no name refers to any more.
    fn gc(&mut self) {
        fn ids(d: &Dir, out: &mut alloc::collections::BTreeSet<u64>) {
            for e in d.entries.values() {
                match e {
                    Node::Obj(x) => {
                        out.insert(*x);
                    }
                    Node::Dir(s) => ids(s, out),
                }
            }
        }
        let mut live = alloc::collections::BTreeSet::new();
        ids(&self.root, &mut live);
        self.inodes.retain(|k, _| live.contains(k));
    }
}

/// `.wh.NAME`, or `None` when that would be longer than `NAME_MAX`.
pub fn wh_of(name: &[u8]) -> Option<Name> {
    if name.len().checked_add(WH_PREFIX.len())? > NAME_MAX {
        return None;
    }
    let mut v = Vec::with_capacity(name.len().saturating_add(WH_PREFIX.len()));
    v.extend_from_slice(WH_PREFIX);
    v.extend_from_slice(name);
    Some(v)
}

/// What a union path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A directory and the branches (indexes, top first) that merge into it.
    Dir(Vec<usize>),
    /// A non-directory: its branch and object.
    Obj(usize, u64),
}

/// An object as the union shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewEntry {
    /// `None` for a directory, else the object's kind.
    pub kind: Option<Kind>,
    /// Permission bits.
    pub mode: u32,
    /// st_nlink, when rfs.rst defines it.
    pub nlink: Option<u32>,
    /// User xattrs.
    pub xattrs: Xattrs,
    /// The mtime, when known.
    pub mtime: Option<i64>,
}

/// The reference model: the branches, top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The branch stack, top first; any of them may be `rw`.
    pub branches: Vec<Branch>,
    next_id: u64,
}

fn too_long(name: &[u8]) -> bool {
    name.len() > NAME_MAX
}

/// Whether `a` is `b` or one of its ancestors.
fn is_prefix(a: &[Name], b: &[Name]) -> bool {
    b.starts_with(a)
}

/// The policy facts of a name whose parent shows every branch (no
/// whiteout, no opaque directory cutting the stack): `slots` top first,
/// the object's (or parent's) top branch `top`.
fn open_facts(slots: &[Slot], top: usize) -> Facts<'_> {
    Facts { slots, top, whiteout: None, parent_opaque: None, reach: slots.len().saturating_sub(1) }
}

impl Model {
    /// A model of these branches.
    pub fn new(branches: Vec<Branch>) -> Self {
        let next_id = branches
            .iter()
            .flat_map(|b| b.inodes.keys())
            .max()
            .map_or(1, |m| m.saturating_add(1));
        Model { branches, next_id }
    }

    /// A fresh object id, unique in the model.
    pub fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    fn honors(&self, b: usize) -> bool {
        self.branches
            .get(b)
            .is_some_and(|x| x.perm.honors_whiteouts())
    }

    fn is_opaque(&self, b: usize, path: &[Name]) -> bool {
        self.honors(b)
            && self
                .branches
                .get(b)
                .and_then(|x| x.dir(path))
                .is_some_and(|d| d.entries.contains_key(OPAQUE_NAME))
    }

    /// The members of the root directory.
    fn root_members(&self) -> Vec<usize> {
        let mut m = Vec::new();
        for b in 0..self.branches.len() {
            m.push(b);
            if self.is_opaque(b, &[]) {
                break;
            }
        }
        m
    }

    /// Resolves `name` in the directory `dir` whose members are `members`.
    /// `Ok(None)`: not in the union (also for reserved names).
    fn lookup_in(
        &self,
        dir: &[Name],
        members: &[usize],
        name: &[u8],
    ) -> Result<Option<Found>, Errno> {
        if too_long(name) {
            return Err(ENAMETOOLONG);
        }
        if is_reserved(name) {
            return Ok(None);
        }
        let wh = wh_of(name);
        let mut found: Option<Found> = None;
        for &b in members {
            let Some(d) = self.branches.get(b).and_then(|x| x.dir(dir)) else {
                continue;
            };
            match (d.entries.get(name), found.as_mut()) {
                (Some(Node::Obj(id)), None) => return Ok(Some(Found::Obj(b, *id))),
                (Some(Node::Obj(_)), Some(_)) => break,
                (Some(Node::Dir(sub)), f) => {
                    match f {
                        None => found = Some(Found::Dir(alloc::vec![b])),
                        Some(Found::Dir(m)) => m.push(b),
                        Some(Found::Obj(..)) => break,
                    }
                    // Opaque, or whited out in its own branch: nothing
                    // below merges in.
                    let wh_here = wh.as_ref().is_some_and(|w| d.entries.contains_key(w));
                    if self.honors(b) && (sub.entries.contains_key(OPAQUE_NAME) || wh_here) {
                        break;
                    }
                }
                (None, _) => {
                    if self.honors(b) && wh.as_ref().is_some_and(|w| d.entries.contains_key(w)) {
                        break;
                    }
                }
            }
        }
        Ok(found)
    }

    /// Resolves a path. The components before the last must be directories:
    /// ENOENT when one is missing or a (dangling) symlink, ENOTDIR when one
    /// is a file. `Ok(None)`: the last component is not in the union.
    pub fn lookup(&self, path: &[Name]) -> Result<Option<Found>, Errno> {
        let mut members = self.root_members();
        let Some((last, parents)) = path.split_last() else {
            return Ok(Some(Found::Dir(members)));
        };
        for (i, c) in parents.iter().enumerate() {
            let here = parents.get(..i).unwrap_or(&[]);
            match self.lookup_in(here, &members, c)? {
                None => return Err(ENOENT),
                Some(Found::Obj(b, id)) => {
                    return Err(if self.is_symlink(b, id) {
                        ENOENT
                    } else {
                        ENOTDIR
                    })
                }
                Some(Found::Dir(m)) => members = m,
            }
        }
        self.lookup_in(parents, &members, last)
    }

    fn is_symlink(&self, b: usize, id: u64) -> bool {
        self.inode(b, id)
            .is_some_and(|i| matches!(i.kind, Kind::Symlink(_)))
    }

    /// The object `id` of branch `b`.
    pub fn inode(&self, b: usize, id: u64) -> Option<&Inode> {
        self.branches.get(b)?.inodes.get(&id)
    }

    /// The members of the directory that is the parent of `path`.
    fn parent_members(&self, path: &[Name]) -> Result<Vec<usize>, Errno> {
        let parent = path.split_last().map_or(&[][..], |(_, p)| p);
        match self.lookup(parent)? {
            Some(Found::Dir(m)) => Ok(m),
            Some(Found::Obj(b, id)) => Err(if self.is_symlink(b, id) {
                ENOENT
            } else {
                ENOTDIR
            }),
            None => Err(ENOENT),
        }
    }

    /// The names the union directory with `members` at `dir` lists.
    pub fn readdir(&self, dir: &[Name], members: &[usize]) -> Vec<(Name, Found)> {
        let mut names = alloc::collections::BTreeSet::new();
        for &b in members {
            if let Some(d) = self.branches.get(b).and_then(|x| x.dir(dir)) {
                names.extend(d.entries.keys().filter(|n| !is_reserved(n)).cloned());
            }
        }
        names
            .into_iter()
            .filter_map(|n| match self.lookup_in(dir, members, &n) {
                Ok(Some(f)) => Some((n, f)),
                _ => None,
            })
            .collect()
    }

    /// Whether the union directory at `path` has no entries.
    fn is_empty_dir(&self, path: &[Name], members: &[usize]) -> bool {
        self.readdir(path, members).is_empty()
    }

    /// The rule for renaming a directory (rfs.rst "Rename", `dir.rs`
    /// `has_lower_entries`) when the rename happens in branch `w`: whether
    /// a member below `w` lists a name that no member above it whites out
    /// (shown, or shadowed by the same name higher up). A directory whose
    /// top member is not in `w` (it is copied there): whether it has
    /// entries at all.
    fn has_lower_entries(&self, path: &[Name], members: &[usize], w: usize) -> bool {
        if members.first() != Some(&w) {
            return !self.is_empty_dir(path, members);
        }
        for (i, &b) in members.iter().enumerate().skip(1) {
            let Some(d) = self.branches.get(b).and_then(|x| x.dir(path)) else {
                continue;
            };
            for n in d.entries.keys().filter(|n| !is_reserved(n)) {
                let wh = wh_of(n);
                let hidden = members.iter().take(i).any(|&a| {
                    self.honors(a)
                        && wh.as_ref().is_some_and(|w| {
                            self.branches
                                .get(a)
                                .and_then(|x| x.dir(path))
                                .is_some_and(|ad| ad.entries.contains_key(w))
                        })
                });
                if !hidden {
                    return true;
                }
            }
        }
        false
    }

    /// rfs's `exists_below`: NAME is in a member of the parent below branch
    /// `w` (and not whited out, nor cut off by an opaque member, above that
    /// member): removing or renaming it in `w` needs a whiteout there.
    fn exists_below(&self, parent: &[Name], members: &[usize], name: &[u8], w: usize) -> bool {
        let wh = wh_of(name);
        for &b in members.iter().filter(|&&b| b > w) {
            let Some(d) = self.branches.get(b).and_then(|x| x.dir(parent)) else {
                continue;
            };
            if d.entries.contains_key(name) {
                return true;
            }
            if self.honors(b) {
                if wh.as_ref().is_some_and(|w| d.entries.contains_key(w)) {
                    return false;
                }
                if d.entries.contains_key(OPAQUE_NAME) {
                    return false;
                }
            }
        }
        false
    }

    /// rfs's `shows_from`: whether NAME made (by rename or link) in branch
    /// `w` of the directory `parent` (members `members`) would show in the
    /// union: the directory has a member in `w` or gets one above its top,
    /// and no member above `w` has the name, a whiteout of it or an opaque
    /// marker.
    fn shows_from(&self, parent: &[Name], members: &[usize], name: &[u8], w: usize) -> bool {
        // The new parent has a member in `w`, or can get one there (no
        // ancestor without one has its writable top below `w`) where the
        // union still shows it (kernel: copyup.rs `shows_from`).
        if !members.contains(&w) && (!self.can_make_in(parent, w) || w > self.reach_of(parent)) {
            return false;
        }
        let wh = wh_of(name);
        for &b in members.iter().take_while(|&&b| b < w) {
            let Some(d) = self.branches.get(b).and_then(|x| x.dir(parent)) else {
                continue;
            };
            if d.entries.contains_key(name) {
                return false;
            }
            let whited = wh.as_ref().is_some_and(|x| d.entries.contains_key(x));
            if self.honors(b) && (whited || d.entries.contains_key(OPAQUE_NAME)) {
                return false;
            }
        }
        true
    }

    /// rfs's `shown_above`: the nearest writable branch above `w` from which
    /// NAME in `parent` would show.
    fn shown_above(&self, parent: &[Name], members: &[usize], name: &[u8], w: usize) -> Option<usize> {
        (0..w).rev().find(|&i| self.writable(i) && self.shows_from(parent, members, name, i))
    }

    /// rfs's `promote`: copies the non-directory at `path`, whose top is in
    /// a writable branch below `w`, up into `w` (its parents made there
    /// first); EXDEV for a file with more than one link, or when the copy
    /// would not show at its own name.
    fn promote(&mut self, path: &[Name], w: usize) -> Result<(), Errno> {
        let Some(Found::Obj(b, id)) = self.lookup(path)? else {
            return Err(EXDEV);
        };
        if self.branches.get(b).map_or(0, |x| x.nlink(id)) != 1 {
            return Err(EXDEV);
        }
        let (last, parent) = path.split_last().ok_or(EXDEV)?;
        let members = self.parent_members(path)?;
        if !self.shows_from(parent, &members, last, w) {
            return Err(EXDEV);
        }
        self.copy_into(parent, w)?;
        self.copy_into(path, w)
    }

    /// The members of the directory at `path` (which the caller knows to be
    /// a directory of the union).
    fn dir_members(&self, path: &[Name]) -> Vec<usize> {
        match self.lookup(path) {
            Ok(Some(Found::Dir(m))) => m,
            _ => Vec::new(),
        }
    }

    /// Whether the directory at `dir` can get a member in branch `w`
    /// (kernel: copyup.rs `can_make_in`): some ancestor-or-self has one
    /// there (the directories below it are made there, above or below
    /// their tops).
    fn can_make_in(&self, dir: &[Name], w: usize) -> bool {
        let mut len = dir.len();
        loop {
            let here = dir.get(..len).unwrap_or(&[]);
            let m = self.dir_members(here);
            if m.contains(&w) {
                return true;
            }
            if len == 0 {
                return false;
            }
            len -= 1;
        }
    }

    /// The lowest branch where something made inside the directory at
    /// `dir` still shows (kernel: copyup.rs `reach_of`).
    fn reach_of(&self, dir: &[Name]) -> usize {
        let mut reach = self.branches.len().saturating_sub(1);
        let mut len = dir.len();
        loop {
            let here = dir.get(..len).unwrap_or(&[]);
            let m = self.dir_members(here);
            let Some(&k) = m.last() else { return reach };
            if self.is_opaque(k, here) {
                reach = reach.min(k);
            }
            let Some((name, parent)) = here.split_last() else { return reach };
            let pm = self.dir_members(parent);
            let wh = wh_of(name);
            // From its last member's own branch: a whiteout of its name
            // beside that member cuts it there too (`lookup_in`).
            for &i in pm.iter().filter(|&&i| i >= k) {
                let Some(d) = self.branches.get(i).and_then(|x| x.dir(parent)) else { continue };
                if self.honors(i) && wh.as_ref().is_some_and(|x| d.entries.contains_key(x)) {
                    reach = reach.min(if i == k { k } else { i.saturating_sub(1) });
                    break;
                }
                if let Some(e) = d.entries.get(name) {
                    if !matches!(e, Node::Dir(_)) {
                        reach = reach.min(i.saturating_sub(1));
                        break;
                    }
                }
            }
            len -= 1;
        }
    }

    /// The whole union view: every path (the root is the empty path).
    pub fn view(&self) -> BTreeMap<Path, ViewEntry> {
        let mut out = BTreeMap::new();
        let root = self.root_members();
        out.insert(Vec::new(), self.view_entry(&[], &Found::Dir(root.clone())));
        self.view_dir(&mut Vec::new(), &root, &mut out);
        out
    }

    fn view_dir(&self, path: &mut Path, members: &[usize], out: &mut BTreeMap<Path, ViewEntry>) {
        for (n, f) in self.readdir(path, members) {
            path.push(n);
            out.insert(path.clone(), self.view_entry(path, &f));
            if let Found::Dir(m) = &f {
                self.view_dir(path, m, out);
            }
            path.pop();
        }
    }

    fn view_entry(&self, path: &[Name], f: &Found) -> ViewEntry {
        match f {
            Found::Obj(b, id) => {
                let nlink = self.branches.get(*b).map(|x| x.nlink(*id));
                match self.inode(*b, *id) {
                    Some(i) => ViewEntry {
                        kind: Some(i.kind.clone()),
                        mode: i.mode,
                        nlink,
                        xattrs: i.xattrs.clone(),
                        mtime: i.mtime,
                    },
                    None => ViewEntry {
                        kind: None,
                        mode: 0,
                        nlink: None,
                        xattrs: Xattrs::new(),
                        mtime: None,
                    },
                }
            }
            Found::Dir(m) => {
                let top = m
                    .first()
                    .and_then(|&b| self.branches.get(b))
                    .and_then(|x| x.dir(path));
                let nlink = match (m.as_slice(), top) {
                    (_, _) if path.is_empty() => None,
                    ([_], Some(d)) => Some(
                        d.entries
                            .values()
                            .filter(|e| matches!(e, Node::Dir(_)))
                            .count()
                            .try_into()
                            .unwrap_or(u32::MAX)
                            .saturating_add(2),
                    ),
                    _ => Some(1),
                };
                ViewEntry {
                    kind: None,
                    mode: top.map_or(0, |d| d.mode),
                    nlink,
                    xattrs: top.map(|d| d.xattrs.clone()).unwrap_or_default(),
                    mtime: None,
                }
            }
        }
    }

    fn writable(&self, b: usize) -> bool {
        self.branches.get(b).is_some_and(|x| x.perm.is_writable())
    }

    /// The branches as rfs's policies see them (`copyup.rs` `slots`), with
    /// the directory whose members are `pmembers` as the parent. Free space
    /// is not modelled (the default policies do not use it).
    fn slots(&self, pmembers: &[usize]) -> Vec<Slot> {
        let mut v: Vec<Slot> = self
            .branches
            .iter()
            .map(|b| Slot {
                writable: b.perm.is_writable(),
                parent: false,
                free: 0,
            })
            .collect();
        for &m in pmembers {
            if let Some(s) = v.get_mut(m) {
                s.parent = true;
            }
        }
        v
    }

    /// rfs's `change_target` for the object `found` whose parent directory
    /// has the members `pmembers`: its top member's branch when that is
    /// writable (changed in place), else the branch `cpup=tdp` picks above
    /// it; EROFS when there is none.
    fn target_of(&self, found: &Found, pmembers: &[usize]) -> Result<usize, Errno> {
        let top = match found {
            Found::Obj(b, _) => *b,
            Found::Dir(m) => *m.first().ok_or(ENOENT)?,
        };
        if self.writable(top) {
            return Ok(top);
        }
        let slots = self.slots(pmembers);
        policy::copyup(Copyup::Tdp, &open_facts(&slots, top)).ok_or(EROFS)
    }

    /// The branch a change of the object at `path` goes to (the root: branch
    /// 0 when it is writable); EROFS when none.
    pub fn change_target(&self, path: &[Name]) -> Result<usize, Errno> {
        let found = self.lookup(path)?.ok_or(ENOENT)?;
        if path.is_empty() {
            return if self.writable(0) { Ok(0) } else { Err(EROFS) };
        }
        let pm = self.parent_members(path)?;
        self.target_of(&found, &pm)
    }

    /// rfs's `create_target` with `create=tdp` (then `cpup=tdp`, as rfs
    /// falls back) for a new name in the directory with members
    /// `pmembers`; EROFS when none.
    fn create_in_members(&self, pmembers: &[usize], is_dir: bool) -> Result<usize, Errno> {
        let top = *pmembers.first().ok_or(ENOENT)?;
        let slots = self.slots(pmembers);
        let f = open_facts(&slots, top);
        policy::create(Create::Tdp, &f, &mut CreateState::default(), is_dir)
            .or_else(|| policy::copyup(Copyup::Tdp, &f))
            .ok_or(EROFS)
    }

    /// The branch a new name `path` would be made in (its parent must be a
    /// directory of the union); EROFS when none.
    pub fn create_target(&self, path: &[Name], is_dir: bool) -> Result<usize, Errno> {
        let pm = self.parent_members(path)?;
        self.create_in_members(&pm, is_dir)
    }

    fn branch_mut(&mut self, w: usize) -> Result<&mut Branch, Errno> {
        self.branches.get_mut(w).ok_or(ENOENT)
    }

    /// rfs's `copy_into`: makes sure the union object at `path` (and every
    /// directory above it) has a member in branch `w`, top-down: a
    /// directory is copied alone (mode and xattrs of its top member), also
    /// below its top (it then gains a lower member); a non-directory with
    /// all its data, only above its top (else EXDEV). EROFS when the root has
    /// no member in `w`; ESTALE when the place in `w` is taken by a name or
    /// a whiteout of it that the union does not show (rfs's `copy_up_one`).
    fn copy_into(&mut self, path: &[Name], w: usize) -> Result<(), Errno> {
        if !self.root_members().contains(&w) {
            return Err(EROFS);
        }
        for i in 1..=path.len() {
            let p = path.get(..i).unwrap_or(&[]);
            let found = self.lookup(p)?.ok_or(ENOENT)?;
            let (last, parent) = p.split_last().ok_or(ENOENT)?;
            match &found {
                Found::Dir(m) if m.contains(&w) => continue,
                Found::Obj(b, _) if *b == w => continue,
                Found::Obj(b, _) if *b < w => return Err(EXDEV),
                _ => {}
            }
            let wh = wh_of(last);
            let pd = self
                .branches
                .get(w)
                .and_then(|x| x.dir(parent))
                .ok_or(ENOENT)?;
            let whited = wh.as_ref().is_some_and(|x| pd.entries.contains_key(x));
            if pd.entries.contains_key(last) || whited {
                return Err(ESTALE);
            }
            let node = match &found {
                Found::Dir(m) => {
                    let top = m
                        .first()
                        .and_then(|&b| self.branches.get(b))
                        .and_then(|x| x.dir(p))
                        .ok_or(ENOENT)?;
                    Node::Dir(Dir {
                        mode: top.mode,
                        xattrs: top.xattrs.clone(),
                        entries: BTreeMap::new(),
                    })
                }
                Found::Obj(b, id) => {
                    let ino = self.inode(*b, *id).cloned().ok_or(ENOENT)?;
                    let nid = self.new_id();
                    self.branch_mut(w)?.inodes.insert(nid, ino);
                    Node::Obj(nid)
                }
            };
            let pd = self.branch_mut(w)?.dir_mut(parent).ok_or(ENOENT)?;
            pd.entries.insert(last.clone(), node);
        }
        Ok(())
    }

    /// Copies the union object at `path` to where a change of it goes
    /// (rfs's `copy_up`). Returns that branch and what the object is now.
    fn copy_up(&mut self, path: &[Name]) -> Result<(usize, Found), Errno> {
        let w = self.change_target(path)?;
        self.copy_into(path, w)?;
        Ok((w, self.lookup(path)?.ok_or(ENOENT)?))
    }

    /// The object `id` of branch `w`, to change.
    fn inode_mut(&mut self, w: usize, id: u64) -> Result<&mut Inode, Errno> {
        self.branch_mut(w)?.inodes.get_mut(&id).ok_or(ENOENT)
    }

    /// Puts `node` at `path` in branch `w` (whose parent must be there) and
    /// removes the whiteout of the name there; a directory over a whiteout
    /// is made opaque. EEXIST when `w` has the name (made there directly).
    fn create_in(&mut self, w: usize, path: &[Name], mut node: Node) -> Result<(), Errno> {
        let (last, parent) = path.split_last().ok_or(ENOENT)?;
        let wh = wh_of(last);
        let pd = self.branch_mut(w)?.dir_mut(parent).ok_or(ENOENT)?;
        if pd.entries.contains_key(last) {
            return Err(EEXIST);
        }
        let had_wh = wh.as_ref().is_some_and(|w| pd.entries.contains_key(w));
        if had_wh {
            if let Node::Dir(d) = &mut node {
                d.entries.insert(OPAQUE_NAME.to_vec(), Node::Obj(0));
            }
            if let Some(w) = wh {
                pd.entries.remove(&w);
            }
        }
        pd.entries.insert(last.clone(), node);
        self.fix_markers();
        Ok(())
    }

    /// Whiteouts and opaque markers made by the model are placeholders
    /// (`Obj(0)`): give each a real empty file.
    fn fix_markers(&mut self) {
        fn walk(d: &Dir, n: &mut u32) {
            for e in d.entries.values() {
                match e {
                    Node::Obj(0) => *n = n.saturating_add(1),
                    Node::Dir(s) => walk(s, n),
                    Node::Obj(_) => {}
                }
            }
        }
        for b in 0..self.branches.len() {
            let mut n = 0u32;
            if let Some(br) = self.branches.get(b) {
                walk(&br.root, &mut n);
            }
            for _ in 0..n {
                let id = self.new_id();
                let Some(br) = self.branches.get_mut(b) else {
                    return;
                };
                if replace_first_placeholder(&mut br.root, id) {
                    br.inodes.insert(id, marker_inode());
                }
            }
        }
    }

    /// Creates `.wh.NAME` in branch `w`'s directory `parent`.
    fn add_whiteout(&mut self, w: usize, parent: &[Name], name: &[u8]) -> Result<(), Errno> {
        let wh = wh_of(name).ok_or(ENAMETOOLONG)?;
        let pd = self.branch_mut(w)?.dir_mut(parent).ok_or(ENOENT)?;
        pd.entries.entry(wh).or_insert(Node::Obj(0));
        self.fix_markers();
        Ok(())
    }

    // ---- operations through the union -----------------------------------

    fn creatable(&self, path: &[Name]) -> Result<Vec<usize>, Errno> {
        let members = self.parent_members(path)?;
        let (last, _) = path.split_last().ok_or(EEXIST)?;
        match self.lookup(path)? {
            Some(_) => Err(EEXIST),
            None if is_reserved(last) => Err(EPERM),
            None => Ok(members),
        }
    }

    /// Checks a new name and makes its parent in the branch it goes to;
    /// returns that branch.
    fn prepare_create(&mut self, path: &[Name], is_dir: bool) -> Result<usize, Errno> {
        let members = self.creatable(path)?;
        let w = self.create_in_members(&members, is_dir)?;
        let parent = path.split_last().map_or(&[][..], |(_, p)| p);
        self.copy_into(parent, w)?;
        Ok(w)
    }

    /// A new regular file (open with O_CREAT, mode as given).
    fn create_file(&mut self, path: &[Name], mode: u32) -> Result<(usize, u64), Errno> {
        let w = self.prepare_create(path, false)?;
        let id = self.new_id();
        self.branch_mut(w)?.inodes.insert(
            id,
            Inode {
                kind: Kind::File(Vec::new()),
                mode,
                xattrs: Xattrs::new(),
                mtime: None,
            },
        );
        self.create_in(w, path, Node::Obj(id))?;
        Ok((w, id))
    }

    /// The regular file at `path` opened for writing (created with `mode`
    /// when missing): its branch and object there.
    fn open_write(&mut self, path: &[Name], mode: u32) -> Result<(usize, u64), Errno> {
        match self.lookup(path)? {
            None => self.create_file(path, mode),
            Some(Found::Dir(_)) => Err(EISDIR),
            Some(Found::Obj(b, id)) if self.is_symlink(b, id) => Err(ENOENT),
            Some(Found::Obj(..)) => match self.copy_up(path)? {
                (w, Found::Obj(_, id)) => Ok((w, id)),
                (_, Found::Dir(_)) => Err(EISDIR),
            },
        }
    }

    /// open(O_WRONLY|O_CREAT, mode) and pwrite(data, off).
    pub fn write(&mut self, path: &[Name], off: usize, data: &[u8]) -> Result<(), Errno> {
        let (w, id) = self.open_write(path, 0o644)?;
        let ino = self.inode_mut(w, id)?;
        ino.mtime = None;
        if let Kind::File(d) = &mut ino.kind {
            let end = off.checked_add(data.len()).ok_or(EINVAL)?;
            if d.len() < end {
                d.resize(end, 0);
            }
            if let Some(dst) = d.get_mut(off..end) {
                dst.copy_from_slice(data);
            }
        }
        Ok(())
    }

    /// open(O_WRONLY|O_CREAT|O_APPEND, mode) and write(data).
    pub fn append(&mut self, path: &[Name], data: &[u8]) -> Result<(), Errno> {
        let (w, id) = self.open_write(path, 0o644)?;
        let ino = self.inode_mut(w, id)?;
        ino.mtime = None;
        if let Kind::File(d) = &mut ino.kind {
            d.extend_from_slice(data);
        }
        Ok(())
    }

    /// The non-directory or directory at `path` for an attribute change
    /// (following symlinks): copied up. Returns its branch and what it is.
    fn for_setattr(&mut self, path: &[Name]) -> Result<(usize, Found), Errno> {
        match self.lookup(path)?.ok_or(ENOENT)? {
            Found::Obj(b, id) if self.is_symlink(b, id) => Err(ENOENT),
            _ => self.copy_up(path),
        }
    }

    /// truncate(2).
    pub fn truncate(&mut self, path: &[Name], len: usize) -> Result<(), Errno> {
        if let Some(Found::Dir(_)) = self.lookup(path)? {
            return Err(EISDIR);
        }
        if let (w, Found::Obj(_, id)) = self.for_setattr(path)? {
            let ino = self.inode_mut(w, id)?;
            ino.mtime = None;
            if let Kind::File(d) = &mut ino.kind {
                d.resize(len, 0);
            }
        }
        Ok(())
    }

    /// chmod(2).
    pub fn chmod(&mut self, path: &[Name], mode: u32) -> Result<(), Errno> {
        match self.for_setattr(path)? {
            (w, Found::Obj(_, id)) => self.inode_mut(w, id)?.mode = mode,
            (w, Found::Dir(_)) => self.branch_mut(w)?.dir_mut(path).ok_or(ENOENT)?.mode = mode,
        }
        Ok(())
    }

    /// utimes(2) with atime = mtime = `t` seconds.
    pub fn utimes(&mut self, path: &[Name], t: i64) -> Result<(), Errno> {
        if let (w, Found::Obj(_, id)) = self.for_setattr(path)? {
            self.inode_mut(w, id)?.mtime = Some(t);
        }
        Ok(())
    }

    /// setxattr(2) of a `user.` attribute.
    pub fn setxattr(&mut self, path: &[Name], key: &[u8], value: &[u8]) -> Result<(), Errno> {
        let x = match self.for_setattr(path)? {
            (w, Found::Obj(_, id)) => &mut self.inode_mut(w, id)?.xattrs,
            (w, Found::Dir(_)) => &mut self.branch_mut(w)?.dir_mut(path).ok_or(ENOENT)?.xattrs,
        };
        x.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    /// mkdir(2).
    pub fn mkdir(&mut self, path: &[Name], mode: u32) -> Result<(), Errno> {
        let w = self.prepare_create(path, true)?;
        self.create_in(
            w,
            path,
            Node::Dir(Dir {
                mode,
                ..Dir::default()
            }),
        )
    }

    /// symlink(2).
    pub fn symlink(&mut self, target: &[u8], path: &[Name]) -> Result<(), Errno> {
        let w = self.prepare_create(path, false)?;
        let id = self.new_id();
        let ino = Inode {
            kind: Kind::Symlink(target.to_vec()),
            mode: 0o777,
            xattrs: Xattrs::new(),
            mtime: None,
        };
        self.branch_mut(w)?.inodes.insert(id, ino);
        self.create_in(w, path, Node::Obj(id))
    }

    /// link(2) (not following a symlink `old`): in the branch a change of
    /// `old` goes to, after its copy-up; EXDEV (the copy-up stays) when the
    /// new name would not show from there.
    pub fn link(&mut self, old: &[Name], new: &[Name]) -> Result<(), Errno> {
        let src = self.lookup(old)?.ok_or(ENOENT)?;
        self.parent_members(new)?;
        if self.lookup(new)?.is_some() {
            return Err(EEXIST);
        }
        if matches!(src, Found::Dir(_)) {
            return Err(EPERM);
        }
        let (last, parent) = new.split_last().ok_or(EEXIST)?;
        if is_reserved(last) {
            return Err(EPERM);
        }
        // Where a change of the file goes, or the nearest writable branch
        // above it where the new name shows; the file is copied there once
        // (rfs: dir.rs `create`, New::Link).
        let omembers = self.parent_members(old)?;
        let own = self.target_of(&src, &omembers)?;
        let nmembers = self.parent_members(new)?;
        let mut w = own;
        if !self.shows_from(parent, &nmembers, last, w) {
            w = self.shown_above(parent, &nmembers, last, w).ok_or(EXDEV)?;
            let (oname, oparent) = old.split_last().ok_or(ENOENT)?;
            if !self.shows_from(oparent, &omembers, oname, w) {
                return Err(EXDEV);
            }
            // Not a file with other names (rfs: it is copied only where
            // its copy-up goes).
            if let Found::Obj(b, id) = src {
                if self.branches.get(b).map_or(0, |x| x.nlink(id)) != 1 {
                    return Err(EXDEV);
                }
            }
        }
        match src {
            Found::Obj(b, _) if b > w && self.writable(b) => self.promote(old, w)?,
            _ => self.copy_into(old, w)?,
        }
        let Some(Found::Obj(_, id)) = self.lookup(old)? else {
            return Err(ENOENT);
        };
        self.copy_into(parent, w)?;
        self.create_in(w, new, Node::Obj(id))
    }

    /// unlink(2).
    pub fn unlink(&mut self, path: &[Name]) -> Result<(), Errno> {
        self.remove(path, false)
    }

    /// rmdir(2).
    pub fn rmdir(&mut self, path: &[Name]) -> Result<(), Errno> {
        self.remove(path, true)
    }

    fn remove(&mut self, path: &[Name], want_dir: bool) -> Result<(), Errno> {
        let members = self.parent_members(path)?;
        let (last, parent) = path.split_last().ok_or(EINVAL)?;
        let found = self.lookup(path)?.ok_or(ENOENT)?;
        match (&found, want_dir) {
            (Found::Dir(_), false) => return Err(EISDIR),
            (Found::Obj(..), true) => return Err(ENOTDIR),
            _ => {}
        }
        let w = self.target_of(&found, &members)?;
        if let Found::Dir(m) = &found {
            if !self.is_empty_dir(path, m) {
                return Err(ENOTEMPTY);
            }
        }
        let need_wh = self.exists_below(parent, &members, last, w);
        self.copy_into(parent, w)?;
        if need_wh {
            self.add_whiteout(w, parent, last)?;
        }
        let in_w = match found {
            Found::Obj(b, _) => b == w,
            Found::Dir(m) => m.contains(&w),
        };
        if in_w {
            let br = self.branch_mut(w)?;
            br.dir_mut(parent).ok_or(ENOENT)?.entries.remove(last);
            br.gc();
        }
        Ok(())
    }

    /// rename(2), or renameat2(2) with RENAME_NOREPLACE.
    pub fn rename(&mut self, old: &[Name], new: &[Name], noreplace: bool) -> Result<(), Errno> {
        let omembers = self.parent_members(old)?;
        let nmembers = self.parent_members(new)?;
        let (oname, oparent) = old.split_last().ok_or(EBUSY_ROOT)?;
        let (nname, nparent) = new.split_last().ok_or(EBUSY_ROOT)?;
        let src = self.lookup(old)?.ok_or(ENOENT)?;
        let dst = self.lookup(new)?;
        if noreplace && dst.is_some() {
            return Err(EEXIST);
        }
        if oparent != nparent {
            if is_prefix(old, nparent) {
                return Err(EINVAL);
            }
            if is_prefix(new, oparent) {
                return Err(ENOTEMPTY);
            }
        }
        if dst.as_ref() == Some(&src) && (matches!(src, Found::Obj(..)) || old == new) {
            return Ok(());
        }
        let src_dir = matches!(src, Found::Dir(_));
        match (&dst, src_dir) {
            (Some(Found::Obj(..)), true) => return Err(ENOTDIR),
            (Some(Found::Dir(_)), false) => return Err(EISDIR),
            _ => {}
        }
        if is_reserved(nname) {
            return Err(EPERM);
        }
        // The rename happens in the branch a change of the source goes to,
        // or that of the object it replaces when higher; where the new name
        // would not show from there, it goes up to where it does (rfs:
        // dir.rs `rename`).
        let src_w = self.target_of(&src, &omembers)?;
        let mut w = src_w;
        if let Some(d) = &dst {
            if let Ok(t) = self.target_of(d, &nmembers) {
                w = w.min(t);
            }
        }
        if !self.shows_from(nparent, &nmembers, nname, w) {
            w = self.shown_above(nparent, &nmembers, nname, w).ok_or(EXDEV)?;
        }
        // Above the source's own target, the source must be able to get
        // its member there too.
        if w < src_w && !self.shows_from(oparent, &omembers, oname, w) {
            return Err(EXDEV);
        }
        // A directory whose writable top lies below `w` moves up only to
        // another directory (rfs: the VFS then holds its lock).
        if let Found::Dir(m) = &src {
            if oparent == nparent && m.first().is_some_and(|&t| self.writable(t) && t > w) {
                return Err(EXDEV);
            }
        }
        if let Found::Dir(m) = &src {
            if self.has_lower_entries(old, m, w) {
                return Err(EXDEV);
            }
        }
        if let Some(Found::Dir(m)) = &dst {
            if !self.is_empty_dir(new, m) {
                return Err(ENOTEMPTY);
            }
        }
        let old_wh = self.exists_below(oparent, &omembers, oname, w);
        let new_below = self.exists_below(nparent, &nmembers, nname, w);
        if let Found::Obj(b, _) = src {
            if b > w && self.writable(b) {
                self.promote(old, w)?;
            }
        }
        self.copy_into(old, w)?;
        self.copy_into(nparent, w)?;
        if let Some(Found::Dir(m)) = &dst {
            if m.contains(&w) {
                if let Some(d) = self.branch_mut(w)?.dir_mut(new) {
                    d.entries.retain(|k, _| !is_reserved(k));
                }
            }
        }
        if src_dir && new_below {
            if let Some(d) = self.branch_mut(w)?.dir_mut(old) {
                d.entries
                    .entry(OPAQUE_NAME.to_vec())
                    .or_insert(Node::Obj(0));
            }
            self.fix_markers();
        }
        if old_wh {
            self.add_whiteout(w, oparent, oname)?;
        }
        let br = self.branch_mut(w)?;
        let node = br
            .dir_mut(oparent)
            .ok_or(ENOENT)?
            .entries
            .remove(oname)
            .ok_or(ENOENT)?;
        let nd = br.dir_mut(nparent).ok_or(ENOENT)?;
        nd.entries.insert(nname.clone(), node);
        if let Some(x) = wh_of(nname) {
            nd.entries.remove(&x);
        }
        br.gc();
        Ok(())
    }

    // ---- direct changes to the branches ---------------------------------

    /// Adds `node` at `path` directly in branch `b` when its parent
    /// directory is there and the name is free; `false` when not done.
    pub fn direct_add(&mut self, b: usize, path: &[Name], node: Node, ino: Option<Inode>) -> bool {
        let Some((last, parent)) = path.split_last() else {
            return false;
        };
        let Some(br) = self.branches.get_mut(b) else {
            return false;
        };
        let Some(d) = br.dir_mut(parent) else {
            return false;
        };
        if d.entries.contains_key(last) {
            return false;
        }
        d.entries.insert(last.clone(), node.clone());
        if let (Node::Obj(id), Some(i)) = (node, ino) {
            br.inodes.insert(id, i);
        }
        true
    }

    /// Removes the non-directory at `path` directly from branch `b`;
    /// `false` when there is none.
    pub fn direct_remove(&mut self, b: usize, path: &[Name]) -> bool {
        let Some((last, parent)) = path.split_last() else {
            return false;
        };
        let Some(br) = self.branches.get_mut(b) else {
            return false;
        };
        let Some(d) = br.dir_mut(parent) else {
            return false;
        };
        if !matches!(d.entries.get(last), Some(Node::Obj(_))) {
            return false;
        }
        d.entries.remove(last);
        br.gc();
        true
    }

    /// `remount,append:BR`.
    pub fn append_branch(&mut self, b: Branch) {
        let top = b.inodes.keys().max().copied().unwrap_or(0);
        if top >= self.next_id {
            self.next_id = top.saturating_add(1);
        }
        self.branches.push(b);
    }

    /// `remount,del:BR` of branch index `i` (never branch 0).
    pub fn del_branch(&mut self, i: usize) -> Option<Branch> {
        if i == 0 || i >= self.branches.len() {
            return None;
        }
        Some(self.branches.remove(i))
    }
}

/// The errno of rename(2) of the root (not generated).
const EBUSY_ROOT: Errno = 16;

fn marker_inode() -> Inode {
    Inode {
        kind: Kind::File(Vec::new()),
        mode: 0o600,
        xattrs: Xattrs::new(),
        mtime: None,
    }
}

fn replace_first_placeholder(d: &mut Dir, id: u64) -> bool {
    for e in d.entries.values_mut() {
        match e {
            Node::Obj(0) => {
                *e = Node::Obj(id);
                return true;
            }
            Node::Dir(s) => {
                if replace_first_placeholder(s, id) {
                    return true;
                }
            }
            Node::Obj(_) => {}
        }
    }
    false
}

#[cfg(test)]
mod tests;
