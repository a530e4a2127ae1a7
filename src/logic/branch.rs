//! The branch table, independent of kernel objects.
//!
//! A [`BranchTable<T>`] is the ordered list of branches of one mount (index 0
//! on top). Each branch carries the kernel's per-branch data `T` (e.g. a
//! refcounted pointer holding the branch's `struct path`). Branch ids start at
//! [`FIRST_BRANCH_ID`] (64, as AUFS shows them) and are never reused within a
//! table and its successors: a remount computes a *new* table with
//! [`BranchTable::apply_ops`] from the old one (all-or-none) and the ids of
//! the surviving branches stay the same.
//!
//! The path checks here are textual (see [`same_path`] and [`is_nested`]);
//! the kernel stores resolved paths (`d_path`) so that they mean something,
//! and does the authoritative checks on dentries.

use super::options::{
    format_branch, is_nested, same_path, BranchSpec, Errno, MountOption, OptError,
    MAX_BRANCHES, MAX_PATH_LEN,
};
use super::perm::Perm;
use super::vec::{vec_from_slice, vec_with_capacity, NoMem, Vec, VecExt};

/// The id of the first branch of a new table.
pub const FIRST_BRANCH_ID: u32 = 64;

/// One branch.
#[derive(Debug)]
pub struct Branch<T> {
    /// Stable id (sysfs `bridN`).
    pub id: u32,
    /// Permission.
    pub perm: Perm,
    /// Path as stored by the kernel (shown in sysfs `brN` and /proc/mounts).
    pub path: Vec<u8>,
    /// The kernel's per-branch data.
    pub data: T,
}

/// Why [`BranchTable::apply_ops`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ApplyError<E> {
    /// A rule was broken (bad index, no such branch, duplicate, ...).
    Opt(OptError),
    /// The caller's constructor for new branch data failed.
    Make(E),
}

impl<E> From<OptError> for ApplyError<E> {
    fn from(e: OptError) -> Self {
        ApplyError::Opt(e)
    }
}

impl<E> From<NoMem> for ApplyError<E> {
    fn from(e: NoMem) -> Self {
        ApplyError::Opt(e.into())
    }
}

const NO_SUCH_BRANCH: OptError = OptError {
    errno: Errno::NoEnt,
    msg: "no such branch",
};

/// The ordered branches of a mount; see the module docs.
#[derive(Debug)]
pub struct BranchTable<T> {
    branches: Vec<Branch<T>>,
    next_id: u32,
}

impl<T> Default for BranchTable<T> {
    fn default() -> Self {
        BranchTable::new()
    }
}

impl<T> BranchTable<T> {
    /// An empty table; the first branch pushed gets id 64.
    pub const fn new() -> Self {
        BranchTable {
            branches: Vec::new(),
            next_id: FIRST_BRANCH_ID,
        }
    }

    /// Number of branches.
    pub fn len(&self) -> usize {
        self.branches.len()
    }

    /// True if there are no branches.
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty()
    }

    /// The branch at `index` (0 = top).
    pub fn get(&self, index: usize) -> Option<&Branch<T>> {
        self.branches.get(index)
    }

    /// The branch at `index`, mutable (for the kernel's data; do not change
    /// `id`).
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Branch<T>> {
        self.branches.get_mut(index)
    }

    /// The branches, top first.
    pub fn iter(&self) -> core::slice::Iter<'_, Branch<T>> {
        self.branches.iter()
    }

    /// The branches as a slice, top first.
    pub fn as_slice(&self) -> &[Branch<T>] {
        self.branches.as_slice()
    }

    /// The index of the branch with id `id`.
    pub fn index_of_id(&self, id: u32) -> Option<usize> {
        self.branches.iter().position(|b| b.id == id)
    }

    /// The index of the branch whose path is textually `path` (see
    /// [`same_path`]: `//`, `.` and trailing `/` do not matter).
    pub fn index_of_path(&self, path: &[u8]) -> Option<usize> {
        self.branches.iter().position(|b| same_path(&b.path, path))
    }

    /// The index of the top-most writable (`rw`) branch.
    pub fn top_writable(&self) -> Option<usize> {
        self.branches.iter().position(|b| b.perm.is_writable())
    }

    /// The id the next new branch will get.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    fn check_new(&self, path: &[u8]) -> Result<(), OptError> {
        if self.branches.len() >= MAX_BRANCHES {
            return Err(OptError::inval("too many branches"));
        }
        check_path(path)?;
        for b in &self.branches {
            if is_nested(&b.path, path) {
                return Err(OptError::inval(if same_path(&b.path, path) {
                    "duplicate branch"
                } else {
                    "nested branches"
                }));
            }
        }
        Ok(())
    }

    fn take_id(&mut self) -> Result<u32, OptError> {
        let id = self.next_id;
        self.next_id = id
            .checked_add(1)
            .ok_or(OptError::inval("branch ids exhausted"))?;
        Ok(id)
    }

    /// Adds a branch at the bottom and returns its id.
    ///
    /// Fails (with the table unchanged) if there are already
    /// [`MAX_BRANCHES`] branches, if `path` is empty, too long or holds a
    /// NUL, or if it is textually the same as, inside, or above an existing
    /// branch's path.
    pub fn push(&mut self, path: &[u8], perm: Perm, data: T) -> Result<u32, OptError> {
        self.check_new(path)?;
        let path = vec_from_slice(path)?;
        self.branches.try_reserve_more(1)?;
        let id = self.take_id()?;
        self.branches.try_push(Branch { id, perm, path, data })?;
        Ok(id)
    }

    /// Appends `path=perm:path=perm...` (top first, paths escaped) to `out`,
    /// the value of a `br:` option that mounts the same branches.
    pub fn format(&self, out: &mut Vec<u8>) -> Result<(), NoMem> {
        for (i, b) in self.branches.iter().enumerate() {
            if i > 0 {
                out.try_push(b':')?;
            }
            format_branch(&b.path, b.perm, out)?;
        }
        Ok(())
    }
}

fn check_path(path: &[u8]) -> Result<(), OptError> {
    if path.is_empty() {
        return Err(OptError::inval("empty branch path"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(OptError {
            errno: Errno::NameTooLong,
            msg: "path too long",
        });
    }
    if path.contains(&0) {
        return Err(OptError::inval("NUL byte in path"));
    }
    Ok(())
}

impl<T: Clone> BranchTable<T> {
    /// A copy of the table (paths copied, data cloned), keeping ids.
    pub fn try_clone(&self) -> Result<BranchTable<T>, NoMem> {
        let mut branches = vec_with_capacity(self.branches.len())?;
        for b in &self.branches {
            branches.try_push(Branch {
                id: b.id,
                perm: b.perm,
                path: vec_from_slice(&b.path)?,
                data: b.data.clone(),
            })?;
        }
        Ok(BranchTable {
            branches,
            next_id: self.next_id,
        })
    }

    /// Builds a new table without the branch at `index`.
    fn removed(&self, index: usize) -> Result<BranchTable<T>, NoMem> {
        let mut branches = vec_with_capacity(self.branches.len())?;
        for (i, b) in self.branches.iter().enumerate() {
            if i != index {
                branches.try_push(Branch {
                    id: b.id,
                    perm: b.perm,
                    path: vec_from_slice(&b.path)?,
                    data: b.data.clone(),
                })?;
            }
        }
        Ok(BranchTable {
            branches,
            next_id: self.next_id,
        })
    }

    fn add_branch<E>(
        mut self,
        index: usize,
        spec: &BranchSpec,
        make: &mut impl FnMut(u32, &BranchSpec) -> Result<T, E>,
    ) -> Result<BranchTable<T>, ApplyError<E>> {
        if index > self.branches.len() {
            return Err(OptError::inval("bad branch index").into());
        }
        self.check_new(&spec.path)?;
        let id = self.take_id()?;
        let data = make(id, spec).map_err(ApplyError::Make)?;
        let branch = Branch {
            id,
            perm: spec.perm,
            path: vec_from_slice(&spec.path)?,
            data,
        };
        // In place: the table is ours (a copy made by `apply_ops`), so a
        // long list of additions costs no copy per addition.
        self.branches.try_push(branch)?;
        if let Some(tail) = self.branches.get_mut(index..) {
            tail.rotate_right(1);
        }
        Ok(self)
    }

    /// A whole new branch list (`dirs=`/`br=` given at remount): branches
    /// whose path is already in the table keep their id and data (with the
    /// new permission); the others are made with `make`.
    fn replace_all<E>(
        &self,
        specs: &[BranchSpec],
        make: &mut impl FnMut(u32, &BranchSpec) -> Result<T, E>,
    ) -> Result<BranchTable<T>, ApplyError<E>> {
        let mut new = BranchTable {
            branches: vec_with_capacity(specs.len())?,
            next_id: self.next_id,
        };
        for spec in specs {
            new.check_new(&spec.path)?;
            let branch = match self.index_of_path(&spec.path).and_then(|i| self.get(i)) {
                Some(old) => Branch {
                    id: old.id,
                    perm: spec.perm,
                    path: vec_from_slice(&old.path)?,
                    data: old.data.clone(),
                },
                None => {
                    let id = new.take_id()?;
                    Branch {
                        id,
                        perm: spec.perm,
                        path: vec_from_slice(&spec.path)?,
                        data: make(id, spec).map_err(ApplyError::Make)?,
                    }
                }
            };
            new.branches.try_push(branch)?;
        }
        Ok(new)
    }

    /// Computes the table after the branch operations in `ops`, in order,
    /// leaving `self` untouched (all-or-none: on error nothing changed, and
    /// the data made so far is dropped).
    ///
    /// - `Add { index, .. }` inserts at `index` (`0..=len`), `Append` at the
    ///   bottom, `Prepend` at the top; the new branch's data comes from
    ///   `make(id, spec)`, its id is new. A textual duplicate or nested path
    ///   is EINVAL.
    /// - `Del(path)` removes the branch at `path` (ENOENT if none).
    /// - `Mod { path, perm }` changes its permission (ENOENT if none).
    /// - `Branches(list)` replaces the whole list; branches already present
    ///   (same path) keep id and data.
    /// - Other options (`udba`, `xino`, ...) are not branch operations and are
    ///   skipped.
    ///
    /// The result has 1 to [`MAX_BRANCHES`] branches. Whether a `del` is
    /// allowed (open files, last writable branch with pending work) is for
    /// the kernel to decide before or after.
    pub fn apply_ops<E>(
        &self,
        ops: &[MountOption],
        mut make: impl FnMut(u32, &BranchSpec) -> Result<T, E>,
    ) -> Result<BranchTable<T>, ApplyError<E>> {
        let mut table = self.try_clone()?;
        for op in ops {
            table = match op {
                MountOption::Add { index, branch } => table.add_branch(*index, branch, &mut make)?,
                MountOption::Append(branch) => {
                    let end = table.len();
                    table.add_branch(end, branch, &mut make)?
                }
                MountOption::Prepend(branch) => table.add_branch(0, branch, &mut make)?,
                MountOption::Del(path) => {
                    let index = table.index_of_path(path).ok_or(NO_SUCH_BRANCH)?;
                    table.removed(index)?
                }
                MountOption::Mod { path, perm } => {
                    let index = table.index_of_path(path).ok_or(NO_SUCH_BRANCH)?;
                    if let Some(b) = table.get_mut(index) {
                        b.perm = *perm;
                    }
                    table
                }
                MountOption::Branches(specs) => table.replace_all(specs, &mut make)?,
                MountOption::Udba(_)
                | MountOption::Xino(_)
                | MountOption::NoXino
                | MountOption::TruncXino
                | MountOption::Dio(_)
                | MountOption::Sum(_)
                | MountOption::Create(_)
                | MountOption::Copyup(_)
                | MountOption::Accepted(_) => table,
            };
        }
        if table.is_empty() {
            return Err(OptError::inval("no branches").into());
        }
        Ok(table)
    }
}

/// The branch list of a new mount: the `dirs=` list (if any) with the
/// branch operations given at mount time applied in order (`append:PATH`
/// and friends let fsconfig(2) callers, whose values are limited to 255
/// bytes, build a long stack one key at a time).
pub fn mount_specs(base: Option<&[BranchSpec]>, ops: &[MountOption]) -> Result<Vec<BranchSpec>, OptError> {
    // Each branch remembers whether its permission was given (the kernel
    // picks `rr` for a read-only filesystem given without one).
    let mut t: BranchTable<bool> = BranchTable::new();
    for spec in base.unwrap_or(&[]) {
        t.push(&spec.path, spec.perm, spec.perm_given)?;
    }
    let t = if ops.is_empty() {
        t
    } else {
        t.apply_ops(ops, |_, spec| Ok::<bool, NoMem>(spec.perm_given)).map_err(|e| match e {
            ApplyError::Opt(o) => o,
            ApplyError::Make(m) => m.into(),
        })?
    };
    if t.is_empty() {
        return Err(OptError::inval("no branches (use dirs=BR[:BR...])"));
    }
    let mut out = vec_with_capacity(t.len())?;
    for b in t.iter() {
        out.try_push(BranchSpec { path: vec_from_slice(&b.path)?, perm: b.perm, perm_given: b.data })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::format;
    use super::super::options::parse_option;
    use super::*;

    fn table(paths: &[(&str, Perm)]) -> BranchTable<u32> {
        let mut t = BranchTable::new();
        for (i, (p, perm)) in paths.iter().enumerate() {
            t.push(p.as_bytes(), *perm, i as u32 * 10).unwrap();
        }
        t
    }

    fn ops(list: &[&str]) -> std::vec::Vec<MountOption> {
        list.iter().map(|o| parse_option(o.as_bytes()).unwrap()).collect()
    }

    /// (path, perm, id) of every branch.
    fn show(t: &BranchTable<u32>) -> std::vec::Vec<(std::string::String, &'static str, u32)> {
        t.iter()
            .map(|b| {
                (
                    std::string::String::from_utf8(b.path.to_vec()).unwrap(),
                    b.perm.as_str(),
                    b.id,
                )
            })
            .collect()
    }

    fn s(x: &str) -> std::string::String {
        x.into()
    }

    /// Data maker that counts calls and hands out 1000, 1001, ...
    fn maker(count: &mut u32) -> impl FnMut(u32, &BranchSpec) -> Result<u32, &'static str> + '_ {
        move |_, _| {
            *count += 1;
            Ok(999 + *count)
        }
    }

    #[test]
    fn push_and_lookups() {
        let t = table(&[("/rw", Perm::Rw), ("/l1", Perm::RoWh), ("/l2", Perm::Ro)]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.iter().map(|b| b.id).collect::<std::vec::Vec<_>>(), [64, 65, 66]);
        assert_eq!(t.get(1).unwrap().data, 10);
        assert!(t.get(3).is_none());
        assert_eq!(t.index_of_id(66), Some(2));
        assert_eq!(t.index_of_id(63), None);
        assert_eq!(t.index_of_path(b"/l1/"), Some(1));
        assert_eq!(t.index_of_path(b"//l2"), Some(2));
        assert_eq!(t.index_of_path(b"/l"), None);
        assert_eq!(t.top_writable(), Some(0));
        assert_eq!(t.next_id(), 67);
        let t2 = table(&[("/a", Perm::Ro), ("/b", Perm::Rr), ("/c", Perm::Rw), ("/d", Perm::Rw)]);
        assert_eq!(t2.top_writable(), Some(2));
        let t3 = table(&[("/a", Perm::Ro)]);
        assert_eq!(t3.top_writable(), None);
        assert!(BranchTable::<u32>::default().is_empty());
    }

    #[test]
    fn push_rejects() {
        let mut t = table(&[("/a/b", Perm::Rw)]);
        assert_eq!(t.push(b"/a/b/", Perm::Ro, 0).unwrap_err().msg, "duplicate branch");
        assert_eq!(t.push(b"/a", Perm::Ro, 0).unwrap_err().msg, "nested branches");
        assert_eq!(t.push(b"/a/b/c", Perm::Ro, 0).unwrap_err().msg, "nested branches");
        assert_eq!(t.push(b"", Perm::Ro, 0).unwrap_err().msg, "empty branch path");
        assert_eq!(t.push(b"/x\0", Perm::Ro, 0).unwrap_err().msg, "NUL byte in path");
        assert_eq!(t.push(&[b'/'; 5000], Perm::Ro, 0).unwrap_err().errno, Errno::NameTooLong);
        assert_eq!(t.len(), 1);
        // Failed pushes do not use up ids.
        assert_eq!(t.push(b"/a/c", Perm::Ro, 0), Ok(65));
        let mut big = BranchTable::new();
        for i in 0..MAX_BRANCHES {
            big.push(format!("/l/{i}").as_bytes(), Perm::Ro, ()).unwrap();
        }
        assert_eq!(big.push(b"/m", Perm::Ro, ()).unwrap_err().msg, "too many branches");
        assert_eq!(big.get(MAX_BRANCHES - 1).unwrap().id, 64 + MAX_BRANCHES as u32 - 1);
    }

    #[test]
    fn append_prepend_add_keep_ids() {
        let t = table(&[("/rw", Perm::Rw), ("/l1", Perm::RoWh)]);
        let mut n = 0;
        let t2 = t
            .apply_ops(&ops(&["append:/l2=ro+wh", "prepend:/new=rw", "add:2:/mid"]), maker(&mut n))
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            show(&t2),
            [
                (s("/new"), "rw", 67),
                (s("/rw"), "rw", 64),
                (s("/mid"), "ro", 68),
                (s("/l1"), "ro+wh", 65),
                (s("/l2"), "ro+wh", 66),
            ]
        );
        assert_eq!(t2.get(1).unwrap().data, 0);
        assert_eq!(t2.get(3).unwrap().data, 10);
        assert_eq!(t2.get(4).unwrap().data, 1000);
        assert_eq!(t2.get(0).unwrap().data, 1001);
        // The old table is untouched.
        assert_eq!(show(&t), [(s("/rw"), "rw", 64), (s("/l1"), "ro+wh", 65)]);
        // Ids are never reused, even after a delete.
        let t3 = t2.apply_ops(&ops(&["del:/l2", "append:/l3"]), maker(&mut n)).unwrap();
        assert_eq!(t3.get(4).unwrap().id, 69);
        assert_eq!(t3.index_of_path(b"/l2"), None);
    }

    #[test]
    fn add_at_every_index() {
        let t = table(&[("/a", Perm::Rw), ("/b", Perm::Ro), ("/c", Perm::Ro)]);
        for i in 0..=3 {
            let mut n = 0;
            let t2 = t
                .apply_ops(&ops(&[&format!("ins:{i}:/x")]), maker(&mut n))
                .unwrap();
            assert_eq!(t2.index_of_path(b"/x"), Some(i));
            assert_eq!(t2.len(), 4);
        }
        let mut n = 0;
        let e = t.apply_ops(&ops(&["add:4:/x"]), maker(&mut n)).unwrap_err();
        assert_eq!(e, ApplyError::Opt(OptError::inval("bad branch index")));
        assert_eq!(n, 0);
    }

    #[test]
    fn del_and_mod() {
        let t = table(&[("/rw", Perm::Rw), ("/l1", Perm::Ro), ("/l2", Perm::Ro)]);
        let mut n = 0;
        let t2 = t
            .apply_ops(&ops(&["del:/l1/", "mod:/l2=ro+wh", "mod:/rw=ro"]), maker(&mut n))
            .unwrap();
        assert_eq!(show(&t2), [(s("/rw"), "ro", 64), (s("/l2"), "ro+wh", 66)]);
        assert_eq!(t2.top_writable(), None);
        let e = t.apply_ops(&ops(&["del:/nope"]), maker(&mut n)).unwrap_err();
        assert_eq!(e, ApplyError::Opt(NO_SUCH_BRANCH));
        let e = t.apply_ops(&ops(&["mod:/nope=rw"]), maker(&mut n)).unwrap_err();
        assert_eq!(e, ApplyError::Opt(OptError { errno: Errno::NoEnt, msg: "no such branch" }));
        let e = t
            .apply_ops(&ops(&["del:/rw", "del:/l1", "del:/l2"]), maker(&mut n))
            .unwrap_err();
        assert_eq!(e, ApplyError::Opt(OptError::inval("no branches")));
        // Deleting then re-adding the same path gives a new id.
        let t3 = t.apply_ops(&ops(&["del:/l1", "append:/l1"]), maker(&mut n)).unwrap();
        assert_eq!(t3.get(2).unwrap().id, 67);
    }

    #[test]
    fn all_or_none() {
        let t = table(&[("/rw", Perm::Rw), ("/l1", Perm::Ro)]);
        let mut n = 0;
        // Second op fails: nothing of the first survives.
        let e = t.apply_ops(&ops(&["append:/l2", "append:/l1"]), maker(&mut n)).unwrap_err();
        assert_eq!(e, ApplyError::Opt(OptError::inval("duplicate branch")));
        assert_eq!(n, 1);
        let e = t.apply_ops(&ops(&["append:/rw/sub"]), maker(&mut n)).unwrap_err();
        assert_eq!(e, ApplyError::Opt(OptError::inval("nested branches")));
        // The maker's error is passed through.
        let e = t
            .apply_ops(&ops(&["append:/l2"]), |_: u32, _: &BranchSpec| Err::<u32, _>("boom"))
            .unwrap_err();
        assert_eq!(e, ApplyError::Make("boom"));
        assert_eq!(show(&t), [(s("/rw"), "rw", 64), (s("/l1"), "ro", 65)]);
    }

    #[test]
    fn other_options_are_skipped() {
        let t = table(&[("/rw", Perm::Rw)]);
        let mut n = 0;
        let t2 = t
            .apply_ops(&ops(&["udba=none", "noxino", "xino=/x", "trunc_xino"]), maker(&mut n))
            .unwrap();
        assert_eq!(show(&t2), [(s("/rw"), "rw", 64)]);
        assert_eq!(n, 0);
    }

    #[test]
    fn replace_whole_list_keeps_known_branches() {
        let t = table(&[("/rw", Perm::Rw), ("/l1", Perm::Ro)]);
        let mut n = 0;
        let t2 = t.apply_ops(&ops(&["br:/new:/l1/=ro+wh:/rw=ro"]), maker(&mut n)).unwrap();
        assert_eq!(
            show(&t2),
            [(s("/new"), "rw", 66), (s("/l1"), "ro+wh", 65), (s("/rw"), "ro", 64)]
        );
        assert_eq!(t2.get(1).unwrap().data, 10);
        assert_eq!(n, 1);
        // Same list again (fstab remount): nothing changes.
        let t3 = t.apply_ops(&ops(&["dirs=/rw:/l1"]), maker(&mut n)).unwrap();
        assert_eq!(show(&t3), show(&t));
        assert_eq!(n, 1);
    }

    #[test]
    fn many_appends_one_by_one() {
        // Docker adds layers with one remount each.
        let mut t = table(&[("/rw", Perm::Rw)]);
        let mut n = 0;
        for i in 0..(MAX_BRANCHES - 1) {
            let op = ops(&[&format!("append:/layers/{i:064}=ro+wh")]);
            t = t.apply_ops(&op, maker(&mut n)).unwrap();
        }
        assert_eq!(t.len(), MAX_BRANCHES);
        assert_eq!(t.get(MAX_BRANCHES - 1).unwrap().id, 64 + MAX_BRANCHES as u32 - 1);
        let e = t.apply_ops(&ops(&["append:/one-more"]), maker(&mut n)).unwrap_err();
        assert_eq!(e, ApplyError::Opt(OptError::inval("too many branches")));
    }

    #[test]
    fn format_round_trips() {
        let t = table(&[("/a:b", Perm::Rw), ("/c=d", Perm::RoWh), ("/e,f\\", Perm::Rr)]);
        let mut out = Vec::new();
        out.try_extend_from_slice(b"br:").unwrap();
        t.format(&mut out).unwrap();
        assert_eq!(out.as_slice(), br"br:/a\:b=rw:/c\=d=ro+wh:/e\,f\\=rr");
        match parse_option(&out).unwrap() {
            MountOption::Branches(b) => {
                assert_eq!(b.len(), 3);
                for (spec, br) in b.iter().zip(t.iter()) {
                    assert_eq!(spec.path.as_slice(), br.path.as_slice());
                    assert_eq!(spec.perm, br.perm);
                }
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn mount_specs_applies_ops_to_dirs() {
        let base = match parse_option(b"dirs=/rw:/l1=ro+wh").unwrap() {
            MountOption::Branches(b) => b,
            _ => unreachable!(),
        };
        let list = mount_specs(Some(&base), &ops(&["append:/l2", "append:/l3=rr"])).unwrap();
        let shown: std::vec::Vec<_> =
            list.iter().map(|b| (std::string::String::from_utf8(b.path.to_vec()).unwrap(), b.perm.as_str())).collect();
        assert_eq!(shown, [(s("/rw"), "rw"), (s("/l1"), "ro+wh"), (s("/l2"), "ro"), (s("/l3"), "rr")]);
        // Whether each permission was given is kept (defaults may change
        // with the branch's filesystem).
        let given: std::vec::Vec<bool> = list.iter().map(|b| b.perm_given).collect();
        assert_eq!(given, [false, true, false, true]);
        // Operations alone build a stack too.
        let list = mount_specs(None, &ops(&["append:/a=rw", "append:/b"])).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(mount_specs(None, &[]).unwrap_err().errno, Errno::Inval);
        assert_eq!(mount_specs(Some(&base), &ops(&["append:/rw/x"])).unwrap_err().msg, "nested branches");
        assert_eq!(mount_specs(Some(&base), &ops(&["del:/nope"])).unwrap_err().errno, Errno::NoEnt);
    }
}
