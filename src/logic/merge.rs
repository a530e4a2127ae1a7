//! Readdir merge: one directory listing from the same-named directories of
//! several branches.
//!
//! The kernel lists each branch's directory, top branch first, and feeds the
//! entries in the branch's own order:
//!
//! ```text
//! let mut m = DirMerge::new();            // or with_seed(random)
//! for each branch b that the directory covers, top first {
//!     m.begin_branch(b, perm.honors_whiteouts());
//!     for each (name, ino, d_type) listed { m.add(name, ino, d_type)?; }
//!     m.end_branch();
//!     if m.saw_opaque() { break; }        // nothing below merges in
//! }
//! // m.get(pos) for pos = 0.. is the merged listing (pos is the file position)
//! ```
//!
//! Rules (see [`whiteout`](super::whiteout)):
//!
//! - `.` and `..` are ignored (the kernel emits its own).
//! - Reserved names (`.wh.*`) are never entries.
//! - In a branch that honors whiteouts, `.wh.X` hides `X` in the branches
//!   below it; an `X` in the same branch is still shown.
//! - A name shown by a higher branch hides the same name below (first wins).
//!
//! Output order: entries of the top branch first, each branch's entries in
//! the order that branch listed them. Cost: O(1) average per `add` (a hash
//! index over a name arena), so O(total entries) for a whole directory.

use super::hash::{hash_bytes, IndexTable};
use super::vec::{NoMem, Vec, VecExt};
use super::whiteout::{is_opaque_marker, is_reserved, whiteout_target};

/// The hash seed of [`DirMerge::new`].
const DEFAULT_SEED: u64 = 0x7266_735f_6d65_7267;

/// One entry of a merged listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name.
    pub name: &'a [u8],
    /// The inode number the branch reported.
    pub ino: u64,
    /// The `DT_*` type the branch reported.
    pub d_type: u8,
    /// The branch that provides the entry (as given to `begin_branch`).
    pub branch: usize,
}

/// What is known about a name.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Listed (an entry exists); `whited` once a branch at or below the
    /// one that shows it whites it out: the name is then hidden in the
    /// branches below that whiteout, so their entries of it do not count
    /// as entries below the first branch (soak seed 109).
    Shown { whited: bool },
    /// Whited out by the branch with this sequence number: hidden in later
    /// branches, still allowed in that same branch.
    WhitedOut(usize),
}

/// A distinct name: its bytes in the arena and its state.
#[derive(Debug)]
struct NameRec {
    start: usize,
    end: usize,
    state: State,
}

/// A merged entry, in output order.
#[derive(Debug)]
struct EntryRec {
    start: usize,
    end: usize,
    ino: u64,
    d_type: u8,
    branch: usize,
}

/// The merged listing of one union directory; see the module docs.
#[derive(Debug)]
pub struct DirMerge {
    seed: u64,
    arena: Vec<u8>,
    names: Vec<NameRec>,
    index: IndexTable,
    entries: Vec<EntryRec>,
    /// Sequence number of the current branch (1 for the first).
    seq: usize,
    branch: usize,
    honors: bool,
    opaque: bool,
    /// Entries listed by branches after the first that are not whited out
    /// above them: shown, or hidden only by the same name higher up.
    below_first: usize,
}

impl Default for DirMerge {
    fn default() -> Self {
        DirMerge::new()
    }
}

impl DirMerge {
    /// An empty merge with a fixed hash seed.
    pub const fn new() -> DirMerge {
        DirMerge::with_seed(DEFAULT_SEED)
    }

    /// An empty merge with hash seed `seed` (pass a random number so that
    /// nobody can choose names that collide).
    pub const fn with_seed(seed: u64) -> DirMerge {
        DirMerge {
            seed,
            arena: Vec::new(),
            names: Vec::new(),
            index: IndexTable::new(),
            entries: Vec::new(),
            seq: 0,
            branch: 0,
            honors: false,
            opaque: false,
            below_first: 0,
        }
    }

    /// Starts the listing of the next branch down: `branch` is its index
    /// (reported in [`Entry::branch`]); `honors_whiteouts` from its
    /// permission. Branches must come top first.
    pub fn begin_branch(&mut self, branch: usize, honors_whiteouts: bool) {
        self.seq = self.seq.saturating_add(1);
        self.branch = branch;
        self.honors = honors_whiteouts;
        self.opaque = false;
    }

    /// Ends the current branch's listing.
    pub fn end_branch(&mut self) {
        // Whiteouts become effective for lower branches through the sequence
        // number; nothing to do here.
    }

    /// True if the current (or just ended) branch listed the opaque marker
    /// and honors whiteouts: the branches below must not be merged.
    pub fn saw_opaque(&self) -> bool {
        self.opaque
    }

    fn name_of(&self, rec: &NameRec) -> &[u8] {
        self.arena.get(rec.start..rec.end).unwrap_or_default()
    }

    fn lookup(&self, hash: u64, name: &[u8]) -> Option<usize> {
        self.index.find(hash, |i| {
            self.names
                .get(i)
                .is_some_and(|rec| self.name_of(rec) == name)
        })
    }

    /// Records a new distinct name; returns its arena span.
    fn new_name(&mut self, hash: u64, name: &[u8], state: State) -> Result<(usize, usize), NoMem> {
        // Reserve first so that the final insert cannot fail: a name is
        // either fully recorded or not at all (stray arena bytes are harmless).
        self.index.reserve(1)?;
        let start = self.arena.len();
        self.arena.try_extend_from_slice(name)?;
        let end = self.arena.len();
        self.names.try_push(NameRec { start, end, state })?;
        self.index.insert(hash, self.names.len().wrapping_sub(1))?;
        Ok((start, end))
    }

    /// Feeds one entry of the current branch's listing.
    ///
    /// On `Err(NoMem)` the merge is unchanged.
    pub fn add(&mut self, name: &[u8], ino: u64, d_type: u8) -> Result<(), NoMem> {
        if name.is_empty() || name == b"." || name == b".." {
            return Ok(());
        }
        if is_reserved(name) {
            if self.honors {
                if is_opaque_marker(name) {
                    self.opaque = true;
                } else if let Some(target) = whiteout_target(name) {
                    return self.whiteout(target);
                }
            }
            return Ok(());
        }
        let hash = hash_bytes(self.seed, name);
        let below = self.seq >= 2;
        let span = match self.lookup(hash, name) {
            None => {
                self.entries.try_reserve_more(1)?;
                self.new_name(hash, name, State::Shown { whited: false })?
            }
            Some(i) => {
                let Some(rec) = self.names.get(i) else {
                    return Ok(());
                };
                match rec.state {
                    // Shown by a higher branch (or twice in this one) and
                    // whited out since: hidden here.
                    State::Shown { whited: true } => return Ok(()),
                    // Shown by a higher branch (or twice in this one).
                    State::Shown { whited: false } => {
                        if below {
                            self.below_first = self.below_first.saturating_add(1);
                        }
                        return Ok(());
                    }
                    // Whited out by a higher branch.
                    State::WhitedOut(seq) if seq != self.seq => return Ok(()),
                    // Whited out in this very branch: the real entry wins.
                    State::WhitedOut(_) => {
                        self.entries.try_reserve_more(1)?;
                        let span = (rec.start, rec.end);
                        if let Some(rec) = self.names.get_mut(i) {
                            rec.state = State::Shown { whited: true };
                        }
                        span
                    }
                }
            }
        };
        self.entries.try_push(EntryRec {
            start: span.0,
            end: span.1,
            ino,
            d_type,
            branch: self.branch,
        })?;
        if below {
            self.below_first = self.below_first.saturating_add(1);
        }
        Ok(())
    }

    /// How many entries the branches after the first one listed that no
    /// branch above them whites out, whether a higher branch shows the same
    /// name or not. With the writable branch first: whether the directory
    /// has anything in a branch below it (the rule for renaming a
    /// directory, semantics.md "Rename").
    pub fn entries_below_first(&self) -> usize {
        self.below_first
    }

    /// Records that the current branch whites out `target`.
    fn whiteout(&mut self, target: &[u8]) -> Result<(), NoMem> {
        let hash = hash_bytes(self.seed, target);
        let Some(i) = self.lookup(hash, target) else {
            self.new_name(hash, target, State::WhitedOut(self.seq))?;
            return Ok(());
        };
        if let Some(rec) = self.names.get_mut(i) {
            // Shown higher up (or earlier in this branch): still shown, but
            // hidden below this branch. Already whited out: nothing changes.
            if let State::Shown { .. } = rec.state {
                rec.state = State::Shown { whited: true };
            }
        }
        Ok(())
    }

    /// Number of merged entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the merged directory has no entries (an empty union
    /// directory, e.g. for the rmdir check).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at output position `i`.
    pub fn get(&self, i: usize) -> Option<Entry<'_>> {
        let e = self.entries.get(i)?;
        Some(Entry {
            name: self.arena.get(e.start..e.end)?,
            ino: e.ino,
            d_type: e.d_type,
            branch: e.branch,
        })
    }

    /// True if `name` is an entry of the merged listing.
    pub fn contains(&self, name: &[u8]) -> bool {
        let hash = hash_bytes(self.seed, name);
        self.lookup(hash, name)
            .and_then(|i| self.names.get(i))
            .is_some_and(|rec| matches!(rec.state, State::Shown { .. }))
    }

    /// The entries in output order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { merge: self, pos: 0 }
    }
}

/// Iterator over the entries of a [`DirMerge`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    merge: &'a DirMerge,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let e = self.merge.get(self.pos)?;
        self.pos = self.pos.saturating_add(1);
        Some(e)
    }
}

impl<'a> IntoIterator for &'a DirMerge {
    type Item = Entry<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::format;
    use std::string::ToString;
    use super::*;

    const DT_REG: u8 = 8;
    const DT_DIR: u8 = 4;

    #[test]
    fn entries_below_the_first_branch() {
        let mut m = DirMerge::new();
        m.begin_branch(0, true);
        for n in [&b"a"[..], b".wh.b", b".wh.c", b"d"] {
            m.add(n, 1, 0).unwrap();
        }
        m.end_branch();
        assert_eq!(m.entries_below_first(), 0);
        m.begin_branch(1, true);
        // b and c are whited out above: they do not count.
        m.add(b"b", 2, 0).unwrap();
        m.add(b"c", 2, 0).unwrap();
        assert_eq!(m.entries_below_first(), 0);
        // a is shadowed by the first branch: it counts.
        m.add(b"a", 2, 0).unwrap();
        assert_eq!(m.entries_below_first(), 1);
        m.add(b"e", 2, 0).unwrap();
        assert_eq!(m.entries_below_first(), 2);
        m.add(b".wh..wh..opq", 2, 0).unwrap();
        assert_eq!(m.entries_below_first(), 2);
        let mut only_wh = DirMerge::new();
        only_wh.begin_branch(0, true);
        only_wh.add(b".wh.x", 1, 0).unwrap();
        only_wh.begin_branch(1, true);
        only_wh.add(b"x", 2, 0).unwrap();
        assert_eq!(only_wh.entries_below_first(), 0);
        assert!(only_wh.is_empty());
    }

    /// Soak seed 109: a name shown by the first branch and whited out by a
    /// middle one is hidden in the branches below the whiteout; those do
    /// not count as entries below the first branch (rename of the directory
    /// is allowed). Both orders of the whiteout and a same-branch entry.
    #[test]
    fn whiteout_of_a_shown_name_hides_it_below() {
        let m = merge(&[(true, &["a"]), (true, &[".wh.a"]), (false, &["a"])]);
        assert_eq!(m.entries_below_first(), 0);
        assert_eq!(m.len(), 1);
        // The whiteout's own branch still shows its entry (it counts), the
        // branch below it does not.
        let m = merge(&[(true, &["x"]), (true, &[".wh.a", "a"]), (false, &["a"])]);
        assert_eq!(m.entries_below_first(), 1);
        let m = merge(&[(true, &["x"]), (true, &["a", ".wh.a"]), (false, &["a"])]);
        assert_eq!(m.entries_below_first(), 1);
        let m = merge(&[(true, &["a"]), (true, &["a", ".wh.a"]), (false, &["a"])]);
        assert_eq!(m.entries_below_first(), 1);
        // A branch that does not honor whiteouts hides nothing.
        let m = merge(&[(true, &["a"]), (false, &[".wh.a"]), (false, &["a"])]);
        assert_eq!(m.entries_below_first(), 1);
    }

    /// Merges branches given as (honors_whiteouts, names).
    fn merge(branches: &[(bool, &[&str])]) -> DirMerge {
        let mut m = DirMerge::new();
        for (b, (honors, names)) in branches.iter().enumerate() {
            m.begin_branch(b, *honors);
            for (i, n) in names.iter().enumerate() {
                m.add(n.as_bytes(), (b * 1000 + i) as u64, DT_REG).unwrap();
            }
            m.end_branch();
        }
        m
    }

    fn names(m: &DirMerge) -> std::vec::Vec<std::string::String> {
        m.iter()
            .map(|e| std::string::String::from_utf8(e.name.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn dedup_first_branch_wins() {
        let m = merge(&[(true, &["a", "b"]), (false, &["b", "c", "a"]), (false, &["d", "c"])]);
        assert_eq!(names(&m), ["a", "b", "c", "d"]);
        assert_eq!(m.get(1), Some(Entry { name: b"b", ino: 1, d_type: DT_REG, branch: 0 }));
        assert_eq!(m.get(2).unwrap().branch, 1);
        assert_eq!(m.get(2).unwrap().ino, 1001);
        assert_eq!(m.get(3).unwrap().branch, 2);
        assert_eq!(m.get(4), None);
        assert_eq!(m.len(), 4);
        assert!(m.contains(b"d") && !m.contains(b"e"));
    }

    #[test]
    fn dot_entries_and_reserved_names_never_listed() {
        let m = merge(&[
            (true, &[".", "..", ".wh..wh.rfs.work", ".wh..wh.aufs", ".wh..wh.plnk", "x", ""]),
            (false, &[".wh.y", ".wh..wh..opq", "."]),
        ]);
        assert_eq!(names(&m), ["x"]);
    }

    #[test]
    fn whiteouts_hide_lower_branches_only() {
        let m = merge(&[(true, &[".wh.a", "z"]), (false, &["a", "b"])]);
        assert_eq!(names(&m), ["z", "b"]);
        // Whiteout in a middle ro+wh layer.
        let m = merge(&[(true, &["top"]), (true, &[".wh.a"]), (false, &["a", "b"]), (false, &["a"])]);
        assert_eq!(names(&m), ["top", "b"]);
        // A whiteout does not hide the name in a higher branch.
        let m = merge(&[(true, &["a"]), (true, &[".wh.a"]), (false, &["a"])]);
        assert_eq!(names(&m), ["a"]);
        assert_eq!(m.get(0).unwrap().branch, 0);
        // Whiteout of a dotfile.
        let m = merge(&[(true, &[".wh..bashrc"]), (false, &[".bashrc", ".profile"])]);
        assert_eq!(names(&m), [".profile"]);
    }

    #[test]
    fn whiteouts_ignored_where_not_honored() {
        // ro and rr branches: .wh. names are neither listed nor effective.
        let m = merge(&[(true, &["t"]), (false, &[".wh.a"]), (false, &["a"])]);
        assert_eq!(names(&m), ["t", "a"]);
        let m = merge(&[(false, &[".wh..wh..opq", "x"]), (false, &["y"])]);
        assert_eq!(names(&m), ["x", "y"]);
    }

    #[test]
    fn same_branch_entry_wins_over_its_whiteout() {
        // Either order inside the branch.
        for top in [&[".wh.a", "a"][..], &["a", ".wh.a"][..]] {
            let m = merge(&[(true, top), (false, &["a", "b"])]);
            assert_eq!(names(&m), ["a", "b"]);
            assert_eq!(m.get(0).unwrap().branch, 0);
        }
        // The same holds in a lower honoring branch.
        let m = merge(&[(true, &["t"]), (true, &[".wh.a", "a"]), (false, &["a"])]);
        assert_eq!(names(&m), ["t", "a"]);
        assert_eq!(m.get(1).unwrap().branch, 1);
    }

    #[test]
    fn duplicate_names_within_one_branch() {
        let m = merge(&[(true, &["a", "a", ".wh.b", ".wh.b"]), (false, &["b", "a"])]);
        assert_eq!(names(&m), ["a"]);
    }

    #[test]
    fn opaque_marker_reported() {
        let mut m = DirMerge::new();
        m.begin_branch(0, true);
        m.add(b"x", 1, DT_DIR).unwrap();
        assert!(!m.saw_opaque());
        m.add(b".wh..wh..opq", 2, DT_REG).unwrap();
        m.end_branch();
        assert!(m.saw_opaque());
        m.begin_branch(1, false);
        assert!(!m.saw_opaque());
        m.add(b".wh..wh..opq", 2, DT_REG).unwrap();
        assert!(!m.saw_opaque());
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn order_and_fields_preserved() {
        let mut m = DirMerge::with_seed(99);
        m.begin_branch(3, true);
        m.add(b"zeta", 7, DT_DIR).unwrap();
        m.add(b"alpha", 8, DT_REG).unwrap();
        m.end_branch();
        m.begin_branch(5, true);
        m.add(b"mid", 9, 10).unwrap();
        m.end_branch();
        let all: std::vec::Vec<_> = (&m).into_iter().collect();
        assert_eq!(
            all,
            [
                Entry { name: b"zeta", ino: 7, d_type: DT_DIR, branch: 3 },
                Entry { name: b"alpha", ino: 8, d_type: DT_REG, branch: 3 },
                Entry { name: b"mid", ino: 9, d_type: 10, branch: 5 },
            ]
        );
        assert!(DirMerge::default().is_empty());
    }

    #[test]
    fn odd_names_are_fine() {
        let long = [b'n'; 300];
        let mut m = DirMerge::new();
        m.begin_branch(0, true);
        m.add(&long, 1, 0).unwrap();
        m.add(b"\xff\x00", 2, 0).unwrap();
        m.add(b".wh.", 3, 0).unwrap();
        m.end_branch();
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(0).unwrap().name, &long[..]);
    }

    /// 100k entries over 8 branches (half of each branch overlapping the
    /// branch above, some whiteouts): the hash index does O(1) probes per
    /// operation on average.
    #[test]
    fn large_merge_is_linear() {
        let mut m = DirMerge::with_seed(0x1234);
        let mut fed = 0u64;
        let mut name = std::vec::Vec::new();
        for b in 0..8usize {
            m.begin_branch(b, true);
            for i in 0..12_500usize {
                // Branch b lists ids b*6250 .. b*6250+12500.
                let id = b * 6_250 + i;
                name.clear();
                name.extend_from_slice(format!("file-{id:08}").as_bytes());
                m.add(&name, id as u64, DT_REG).unwrap();
                fed += 1;
                if i % 100 == 0 {
                    name.clear();
                    name.extend_from_slice(format!(".wh.file-{:08}", id + 20_000).as_bytes());
                    m.add(&name, 0, DT_REG).unwrap();
                    fed += 1;
                }
            }
            m.end_branch();
        }
        assert!(fed > 100_000);
        // Distinct ids 0 ..= 7*6250+12499 = 56249, minus the whited-out ones
        // that were first listed in a branch below the whiteout.
        let n = m.len();
        assert!(n > 50_000 && n < 56_250, "{n}");
        let mut seen = std::collections::HashSet::new();
        for e in m.iter() {
            assert!(seen.insert(e.name.to_vec()), "duplicate entry");
        }
        // Each add does one lookup (and maybe one insert): a few probes each
        // (linear probing at load <= 3/4); a quadratic merge would need ~n/2.
        let probes = m.index.probes();
        assert!(probes < fed * 10, "{probes} probes for {fed} adds");
    }

    #[test]
    fn whiteout_count_matches_model() {
        // Cross-check against a naive model on pseudo-random input.
        let mut seed = 77u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for _ in 0..200 {
            let nb = 1 + (rnd() % 5) as usize;
            let mut listing: std::vec::Vec<(bool, std::vec::Vec<std::string::String>)> =
                std::vec::Vec::new();
            for _ in 0..nb {
                let honors = rnd() % 2 == 0;
                let n = rnd() % 12;
                let names = (0..n)
                    .map(|_| {
                        let x = rnd() % 8;
                        if rnd() % 3 == 0 { format!(".wh.n{x}") } else { format!("n{x}") }
                    })
                    .collect();
                listing.push((honors, names));
            }
            // Naive model.
            let mut expect: std::vec::Vec<std::string::String> = std::vec::Vec::new();
            let mut hidden: std::collections::HashSet<std::string::String> = Default::default();
            for (honors, names) in &listing {
                for n in names {
                    if !n.starts_with(".wh.") && !hidden.contains(n) && !expect.contains(n) {
                        expect.push(n.clone());
                    }
                }
                if *honors {
                    for n in names {
                        if let Some(t) = n.strip_prefix(".wh.") {
                            hidden.insert(t.to_string());
                        }
                    }
                }
            }
            let refs: std::vec::Vec<(bool, std::vec::Vec<&str>)> = listing
                .iter()
                .map(|(h, ns)| (*h, ns.iter().map(|s| s.as_str()).collect()))
                .collect();
            let refs2: std::vec::Vec<(bool, &[&str])> =
                refs.iter().map(|(h, ns)| (*h, &ns[..])).collect();
            let m = merge(&refs2);
            assert_eq!(names(&m), expect, "{listing:?}");
        }
    }
}
