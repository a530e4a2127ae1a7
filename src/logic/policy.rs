//! Where changes go when a union has several writable branches: AUFS's
//! creation policies (`create=`) and copy-up policies (`cpup=`).
//!
//! # The questions
//!
//! - **Copy-up**: an object whose top member is in a read-only branch is
//!   about to change. Which writable branch *above* it gets the copy?
//!   (`cpup=`; an object whose top member is writable is changed in place
//!   and never asks.)
//! - **Creation**: a new name is made in a directory. Which writable branch
//!   gets it? (`create=`; the parent directory is then made in that branch,
//!   copied from the union's view, if it is not there yet.)
//!
//! # The facts a policy sees
//!
//! Branch indexes count from the top (0). For the object or the new name:
//!
//! - `top`: the branch of its top member. For a name that does not exist
//!   yet, the top branch of its parent directory (AUFS's negative dentry
//!   starts where the parent starts).
//! - `parent`: which branches hold the parent directory (its members), and
//!   `parent_top`/`parent_tail` the first and last of them.
//! - `whiteout`: the branch of a `.wh.NAME` that hides the name, if any.
//! - `reach`: the lowest branch the union still shows below the parent: an
//!   opaque directory on the way down from the root cuts every branch
//!   below it. A target below `reach` would be hidden, so policies that may
//!   go down are held at `reach` (AUFS's `au_wbr_nonopq`).
//! - `free`: the space available to unprivileged users in each writable
//!   branch (bytes), which the kernel measures at most every `SEC` seconds
//!   for the `mfs` family.
//!
//! # The policies (AUFS's, with AUFS's names)
//!
//! Copy-up (`cpup=`):
//! - `tdp` (top-down-parent, the default): the top-most writable branch
//!   between the parent's top and the object that holds the parent; else
//!   the nearest writable branch above the object (the parents are copied
//!   there).
//! - `bup` (bottom-up-parent): the same search, bottom-most first.
//! - `bu` (bottom-up): the nearest writable branch above the object,
//!   whether the parent is there or not.
//!
//! Creation (`create=`):
//! - `tdp` (the default): the parent's top branch when it is writable, else
//!   the nearest writable branch above it.
//! - `rr` (round-robin): the writable branches in turn (a new directory
//!   takes the current branch without advancing the turn).
//! - `mfs[:SEC]`: the writable branch with the most free space (measured
//!   again after SEC seconds, 30 by default; on a tie the lower branch).
//! - `mfsrr:LOW[:SEC]`: `mfs`, but when even that branch has less than LOW
//!   bytes free, `rr`.
//! - `tdmfs:LOW[:SEC]`: the top-most writable branch, down to the parent's
//!   last one, with more than LOW bytes free; else `mfs`.
//! - `pmfs[:SEC]`: `tdp`, unless another writable branch that holds the
//!   parent has more free space.
//! - `pmfsrr:LOW[:SEC]`: `pmfs` restricted to the parent's branches; when
//!   its choice has less than LOW bytes free, `mfsrr`.
//!
//! `rr`, `mfs` and `mfsrr` first honour a whiteout or an opaque parent:
//! when the name is whited out (or the parent is opaque) in branch `k`, the
//! new name must go in `k` or above, or the whiteout would hide it; if `k`
//! is writable it is taken ("exp" in AUFS). Every policy is held at
//! `reach`, which the kernel also lowers to above a whiteout of the name. A policy that finds no
//! writable branch gives `None`: the caller then tries the copy-up policy
//! (as AUFS does), and without a result the change is EROFS.

use super::vec::{NoMem, Vec, VecExt};

/// Default seconds between two free-space measurements (AUFS's
/// `AUFS_MFS_DEF_SEC`).
pub const MFS_DEFAULT_SEC: u32 = 30;
/// Largest accepted `SEC` (AUFS's `AUFS_MFS_MAX_SEC`).
pub const MFS_MAX_SEC: u32 = 3600;

/// A creation policy (`create=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Create {
    /// `tdp`, top-down-parent (the default).
    #[default]
    Tdp,
    /// `rr`, round-robin.
    Rr,
    /// `mfs[:SEC]`, most-free-space.
    Mfs {
        /// Seconds between measurements.
        sec: u32,
    },
    /// `mfsrr:LOW[:SEC]`.
    MfsRr {
        /// The watermark in bytes.
        low: u64,
        /// Seconds between measurements.
        sec: u32,
    },
    /// `tdmfs:LOW[:SEC]`.
    TdMfs {
        /// The watermark in bytes.
        low: u64,
        /// Seconds between measurements.
        sec: u32,
    },
    /// `pmfs[:SEC]`.
    Pmfs {
        /// Seconds between measurements.
        sec: u32,
    },
    /// `pmfsrr:LOW[:SEC]`.
    PmfsRr {
        /// The watermark in bytes.
        low: u64,
        /// Seconds between measurements.
        sec: u32,
    },
}

/// A copy-up policy (`cpup=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Copyup {
    /// `tdp`, top-down-parent (the default).
    #[default]
    Tdp,
    /// `bup`, bottom-up-parent.
    Bup,
    /// `bu`, bottom-up.
    Bu,
}

/// Why a policy value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// Not a policy name.
    Unknown,
    /// A number is missing, not a decimal number, or out of range.
    BadNumber,
}

impl PolicyError {
    /// The message shown to the user.
    pub fn message(self) -> &'static str {
        match self {
            PolicyError::Unknown => "unknown policy",
            PolicyError::BadNumber => "bad number in policy (LOW is bytes, SEC is 0 to 3600)",
        }
    }
}

fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| n.checked_mul(10)?.checked_add(u64::from(c.wrapping_sub(b'0'))))
}

fn seconds(s: &[u8]) -> Result<u32, PolicyError> {
    match number(s).and_then(|n| u32::try_from(n).ok()) {
        Some(n) if n <= MFS_MAX_SEC => Ok(n),
        _ => Err(PolicyError::BadNumber),
    }
}

fn watermark(s: &[u8]) -> Result<u64, PolicyError> {
    number(s).ok_or(PolicyError::BadNumber)
}

impl Create {
    /// Parses the value of `create=` (AUFS's spellings).
    pub fn parse(value: &[u8]) -> Result<Create, PolicyError> {
        let mut parts = value.split(|&c| c == b':');
        let name = parts.next().unwrap_or_default();
        let a = parts.next();
        let b = parts.next();
        if parts.next().is_some() {
            return Err(PolicyError::BadNumber);
        }
        let sec = |s: Option<&[u8]>| s.map_or(Ok(MFS_DEFAULT_SEC), seconds);
        match (name, a, b) {
            (b"tdp" | b"top-down-parent", None, None) => Ok(Create::Tdp),
            (b"rr" | b"round-robin", None, None) => Ok(Create::Rr),
            (b"mfs" | b"most-free-space", _, None) => Ok(Create::Mfs { sec: sec(a)? }),
            (b"pmfs", _, None) => Ok(Create::Pmfs { sec: sec(a)? }),
            (b"mfsrr", Some(low), _) => Ok(Create::MfsRr { low: watermark(low)?, sec: sec(b)? }),
            (b"tdmfs", Some(low), _) => Ok(Create::TdMfs { low: watermark(low)?, sec: sec(b)? }),
            (b"pmfsrr", Some(low), _) => Ok(Create::PmfsRr { low: watermark(low)?, sec: sec(b)? }),
            (b"tdp" | b"top-down-parent" | b"rr" | b"round-robin" | b"mfs" | b"most-free-space" | b"pmfs", _, _)
            | (b"mfsrr" | b"tdmfs" | b"pmfsrr", _, _) => Err(PolicyError::BadNumber),
            _ => Err(PolicyError::Unknown),
        }
    }

    /// Appends the canonical spelling (what /proc/mounts shows after
    /// `create=`).
    pub fn format(&self, out: &mut Vec<u8>) -> Result<(), NoMem> {
        let (name, low, sec) = match *self {
            Create::Tdp => ("tdp", None, None),
            Create::Rr => ("rr", None, None),
            Create::Mfs { sec } => ("mfs", None, Some(sec)),
            Create::Pmfs { sec } => ("pmfs", None, Some(sec)),
            Create::MfsRr { low, sec } => ("mfsrr", Some(low), Some(sec)),
            Create::TdMfs { low, sec } => ("tdmfs", Some(low), Some(sec)),
            Create::PmfsRr { low, sec } => ("pmfsrr", Some(low), Some(sec)),
        };
        out.try_extend_from_slice(name.as_bytes())?;
        if let Some(low) = low {
            out.try_push(b':')?;
            push_dec(out, low)?;
        }
        // The default interval is left out, as AUFS does.
        if let Some(sec) = sec.filter(|&s| s != MFS_DEFAULT_SEC) {
            out.try_push(b':')?;
            push_dec(out, u64::from(sec))?;
        }
        Ok(())
    }

    /// Seconds between free-space measurements (`None` for policies
    /// that do not measure).
    pub fn interval(&self) -> Option<u32> {
        match *self {
            Create::Tdp | Create::Rr => None,
            Create::Mfs { sec } | Create::Pmfs { sec } => Some(sec),
            Create::MfsRr { sec, .. } | Create::TdMfs { sec, .. } | Create::PmfsRr { sec, .. } => Some(sec),
        }
    }
}

impl Copyup {
    /// Parses the value of `cpup=`.
    pub fn parse(value: &[u8]) -> Result<Copyup, PolicyError> {
        match value {
            b"tdp" | b"top-down-parent" => Ok(Copyup::Tdp),
            b"bup" | b"bottom-up-parent" => Ok(Copyup::Bup),
            b"bu" | b"bottom-up" => Ok(Copyup::Bu),
            _ => Err(PolicyError::Unknown),
        }
    }

    /// The canonical spelling.
    pub fn name(&self) -> &'static str {
        match self {
            Copyup::Tdp => "tdp",
            Copyup::Bup => "bup",
            Copyup::Bu => "bu",
        }
    }
}

fn push_dec(out: &mut Vec<u8>, mut n: u64) -> Result<(), NoMem> {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i = i.saturating_sub(1);
        if let Some(d) = digits.get_mut(i) {
            *d = b'0'.wrapping_add((n % 10) as u8);
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.try_extend_from_slice(digits.get(i..).unwrap_or_default())
}

/// One branch as a policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slot {
    /// Changes may go there (`rw`).
    pub writable: bool,
    /// The parent directory has a member there.
    pub parent: bool,
    /// Bytes available there (meaningful for writable branches, measured
    /// by the kernel for the `mfs` family).
    pub free: u64,
}

/// The facts about one object or new name (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The branches, top first.
    pub slots: &'a [Slot],
    /// The object's top branch (a new name: the parent's top).
    pub top: usize,
    /// The branch of a `.wh.NAME` hiding the name, if any.
    pub whiteout: Option<usize>,
    /// The branch where the parent directory is opaque, if any.
    pub parent_opaque: Option<usize>,
    /// The lowest branch still shown below the parent (see module docs).
    pub reach: usize,
}

impl Facts<'_> {
    fn writable(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.writable)
    }

    fn has_parent(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.parent)
    }

    fn free(&self, i: usize) -> u64 {
        self.slots.get(i).map_or(0, |s| s.free)
    }

    fn parent_top(&self) -> Option<usize> {
        self.slots.iter().position(|s| s.parent)
    }

    fn parent_tail(&self) -> Option<usize> {
        self.slots.iter().rposition(|s| s.parent)
    }

    /// The nearest writable branch at `from` or above it.
    fn bottom_up(&self, from: Option<usize>) -> Option<usize> {
        let from = from?;
        (0..=from).rev().find(|&i| self.writable(i))
    }

    /// Holds a target at `reach`: below it the new entry would be hidden.
    /// A branch that is not writable is no target.
    fn non_opaque(&self, b: usize) -> Option<usize> {
        let b = b.min(self.reach);
        self.writable(b).then_some(b)
    }

    /// AUFS's "exp": a whiteout or an opaque parent forces the target to
    /// be at its branch or above; taken when that branch is writable.
    fn exp(&self) -> Option<usize> {
        let k = match (self.whiteout, self.parent_opaque) {
            (Some(w), Some(o)) => w.min(o),
            (Some(k), None) | (None, Some(k)) => k,
            (None, None) => return None,
        };
        self.non_opaque(k)
    }
}

/// The copy-up target of an object whose top member is not writable.
pub fn copyup(policy: Copyup, f: &Facts<'_>) -> Option<usize> {
    let ptop = f.parent_top().unwrap_or(f.top).min(f.top);
    match policy {
        Copyup::Tdp => (ptop..f.top)
            .find(|&i| f.has_parent(i) && f.writable(i))
            .or_else(|| f.bottom_up(f.top.checked_sub(1)).and_then(|b| f.non_opaque(b))),
        Copyup::Bup => (ptop..=f.top)
            .rev()
            .find(|&i| f.has_parent(i) && f.writable(i))
            .or_else(|| f.bottom_up(ptop.checked_sub(1))),
        Copyup::Bu => f.bottom_up(Some(f.top)),
    }
}

/// What a creation policy remembers between calls (per mount).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateState {
    /// The round-robin turn.
    pub turn: u64,
}

/// The creation target of a new name. `dir`: the new object is a
/// directory (round-robin does not advance for it).
pub fn create(policy: Create, f: &Facts<'_>, state: &mut CreateState, dir: bool) -> Option<usize> {
    match policy {
        Create::Tdp => tdp(f),
        Create::Rr => f.exp().or_else(|| round_robin(f, state, dir)),
        Create::Mfs { .. } => f.exp().or_else(|| most_free(f, false).and_then(|b| f.non_opaque(b))),
        Create::MfsRr { low, .. } => mfsrr(f, state, dir, low),
        Create::TdMfs { low, .. } => {
            let mut tail = f.parent_tail().unwrap_or(f.top);
            if let Some(w) = f.whiteout.filter(|&w| w < tail) {
                tail = w;
            }
            let tail = tail.min(f.reach);
            (0..=tail)
                .find(|&i| f.writable(i) && f.free(i) > low)
                .or_else(|| most_free(f, false).and_then(|b| f.non_opaque(b)))
        }
        Create::Pmfs { .. } => pmfs(f, false),
        Create::PmfsRr { low, .. } => {
            let b = pmfs(f, true)?;
            if f.free(b) < low {
                mfsrr(f, state, dir, low)
            } else {
                Some(b)
            }
        }
    }
}

fn tdp(f: &Facts<'_>) -> Option<usize> {
    if f.writable(f.top) {
        return Some(f.top);
    }
    let ptop = f.parent_top().unwrap_or(f.top).min(f.top);
    (ptop..f.top)
        .find(|&i| f.has_parent(i) && f.writable(i))
        .or_else(|| f.bottom_up(f.top.checked_sub(1)).and_then(|b| f.non_opaque(b)))
}

fn round_robin(f: &Facts<'_>, state: &mut CreateState, dir: bool) -> Option<usize> {
    let n = u64::try_from(f.slots.len()).ok().filter(|&n| n > 0)?;
    for _ in 0..f.slots.len() {
        let turn = state.turn;
        if !dir {
            state.turn = state.turn.wrapping_add(1);
        }
        let b = usize::try_from(turn.checked_rem(n)?).ok()?;
        if f.writable(b) {
            return f.non_opaque(b);
        }
        if dir {
            // A directory does not advance the turn: look further down.
            let next = (b..f.slots.len()).chain(0..b).find(|&i| f.writable(i))?;
            return f.non_opaque(next);
        }
    }
    None
}

/// The writable branch with the most free space (ties: the lower one).
/// `parent_only`: among the branches that hold the parent.
fn most_free(f: &Facts<'_>, parent_only: bool) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for (i, s) in f.slots.iter().enumerate() {
        if !s.writable || (parent_only && !s.parent) {
            continue;
        }
        if best.is_none_or(|(_, b)| s.free >= b) {
            best = Some((i, s.free));
        }
    }
    best.map(|(i, _)| i)
}

fn mfsrr(f: &Facts<'_>, state: &mut CreateState, dir: bool, low: u64) -> Option<usize> {
    if let Some(b) = f.exp() {
        return Some(b);
    }
    let b = most_free(f, false)?;
    if f.free(b) < low {
        round_robin(f, state, dir)
    } else {
        f.non_opaque(b)
    }
}

fn pmfs(f: &Facts<'_>, parent_only: bool) -> Option<usize> {
    let mut b = tdp(f)?;
    let (Some(ptop), Some(ptail)) = (f.parent_top(), f.parent_tail()) else { return Some(b) };
    if ptop == ptail {
        return Some(b);
    }
    if most_free(f, parent_only).is_none() {
        return Some(b);
    }
    // On a tie the upper branch stays.
    let mut best = f.free(b);
    for i in ptop..=ptail {
        if f.has_parent(i) && f.writable(i) && f.free(i) > best {
            best = f.free(i);
            b = i;
        }
    }
    f.non_opaque(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn slots(spec: &str) -> std::vec::Vec<Slot> {
        // One char per branch: 'w' writable with parent, 'W' writable
        // without parent, 'r' read-only with parent, 'R' without.
        spec.chars()
            .map(|c| Slot { writable: c.eq_ignore_ascii_case(&'w'), parent: c.is_ascii_lowercase(), free: 0 })
            .collect()
    }

    fn facts(s: &[Slot], top: usize) -> Facts<'_> {
        Facts { slots: s, top, whiteout: None, parent_opaque: None, reach: s.len().saturating_sub(1) }
    }

    fn fmt(c: Create) -> std::string::String {
        let mut v = Vec::new();
        c.format(&mut v).unwrap();
        std::string::String::from_utf8(v.to_vec()).unwrap()
    }

    #[test]
    fn parse_and_format() {
        assert_eq!(Create::parse(b"tdp"), Ok(Create::Tdp));
        assert_eq!(Create::parse(b"top-down-parent"), Ok(Create::Tdp));
        assert_eq!(Create::parse(b"round-robin"), Ok(Create::Rr));
        assert_eq!(Create::parse(b"mfs"), Ok(Create::Mfs { sec: 30 }));
        assert_eq!(Create::parse(b"most-free-space:5"), Ok(Create::Mfs { sec: 5 }));
        assert_eq!(Create::parse(b"mfsrr:1000"), Ok(Create::MfsRr { low: 1000, sec: 30 }));
        assert_eq!(Create::parse(b"mfsrr:1000:7"), Ok(Create::MfsRr { low: 1000, sec: 7 }));
        assert_eq!(Create::parse(b"tdmfs:1:0"), Ok(Create::TdMfs { low: 1, sec: 0 }));
        assert_eq!(Create::parse(b"pmfs:3600"), Ok(Create::Pmfs { sec: 3600 }));
        assert_eq!(Create::parse(b"pmfsrr:9"), Ok(Create::PmfsRr { low: 9, sec: 30 }));
        for bad in [&b"mfs:3601"[..], b"mfs:", b"mfs:x", b"mfsrr", b"tdmfs", b"pmfsrr:", b"tdp:1", b"rr:1", b"mfs:1:2", b"mfsrr:1:2:3", b"mfsrr:-1", b"mfsrr:99999999999999999999999"] {
            assert_eq!(Create::parse(bad), Err(PolicyError::BadNumber), "{:?}", core::str::from_utf8(bad));
        }
        for bad in [&b""[..], b"foo", b"TDP", b"mfs rr", b":1"] {
            assert_eq!(Create::parse(bad), Err(PolicyError::Unknown), "{:?}", core::str::from_utf8(bad));
        }
        assert_eq!(fmt(Create::Tdp), "tdp");
        assert_eq!(fmt(Create::Mfs { sec: 30 }), "mfs");
        assert_eq!(fmt(Create::Mfs { sec: 0 }), "mfs:0");
        assert_eq!(fmt(Create::MfsRr { low: 12345, sec: 30 }), "mfsrr:12345");
        assert_eq!(fmt(Create::PmfsRr { low: 0, sec: 60 }), "pmfsrr:0:60");
        for s in ["tdp", "rr", "mfs", "mfs:1", "pmfs", "pmfs:2", "mfsrr:3", "mfsrr:3:4", "tdmfs:5", "tdmfs:5:6", "pmfsrr:7:8"] {
            assert_eq!(fmt(Create::parse(s.as_bytes()).unwrap()), s);
        }
        assert_eq!(Copyup::parse(b"bottom-up-parent"), Ok(Copyup::Bup));
        assert_eq!(Copyup::parse(b"bu"), Ok(Copyup::Bu));
        assert_eq!(Copyup::parse(b"copy"), Err(PolicyError::Unknown));
        assert_eq!(Copyup::Bup.name(), "bup");
    }

    #[test]
    fn tdp_create() {
        // Parent on top and writable: there.
        let s = slots("wrw");
        assert_eq!(create(Create::Tdp, &facts(&s, 0), &mut CreateState::default(), false), Some(0));
        // Parent's top is read-only, a writable branch above it: that one
        // (the parent is copied up), never one below.
        let s = slots("WRrw");
        assert_eq!(create(Create::Tdp, &facts(&s, 2), &mut CreateState::default(), false), Some(0));
        // Read-only on top of everything: EROFS, as in AUFS.
        let s = slots("rwr");
        assert_eq!(create(Create::Tdp, &facts(&s, 0), &mut CreateState::default(), false), None);
        // Parent only in a writable middle branch.
        let s = slots("RwR");
        assert_eq!(create(Create::Tdp, &facts(&s, 1), &mut CreateState::default(), false), Some(1));
    }

    #[test]
    fn copyup_policies() {
        // ro0 : rw1 : ro2 : rw3 : ro4, parent everywhere, object at 4.
        let s = slots("rwrwr");
        let f = facts(&s, 4);
        assert_eq!(copyup(Copyup::Tdp, &f), Some(1));
        assert_eq!(copyup(Copyup::Bup, &f), Some(3));
        assert_eq!(copyup(Copyup::Bu, &f), Some(3));
        // Parent only in 4 and 0: tdp and bup find no writable branch with
        // the parent between, so go bottom-up from above.
        let s = slots("rWRWr");
        let f = facts(&s, 4);
        assert_eq!(copyup(Copyup::Tdp, &f), Some(3));
        assert_eq!(copyup(Copyup::Bu, &f), Some(3));
        // bup searches above the parent's top only.
        let s = slots("WRrWr");
        let f = Facts { top: 4, ..facts(&s, 4) };
        assert_eq!(copyup(Copyup::Bup, &f), Some(0));
        // Nothing writable above: none.
        let s = slots("rrwr");
        assert_eq!(copyup(Copyup::Tdp, &facts(&s, 1)), None);
        assert_eq!(copyup(Copyup::Bu, &facts(&s, 1)), None);
        // An opaque ancestor at branch 1 holds a bottom-up target there.
        let s = slots("WWWr");
        let f = Facts { reach: 1, ..facts(&s, 3) };
        assert_eq!(copyup(Copyup::Tdp, &f), Some(1));
    }

    #[test]
    fn round_robin_turns() {
        let s = slots("wrwwr");
        let mut st = CreateState::default();
        let f = facts(&s, 0);
        let got: std::vec::Vec<_> = (0..6).map(|_| create(Create::Rr, &f, &mut st, false).unwrap()).collect();
        assert_eq!(got, vec![0, 2, 3, 0, 2, 3]);
        // A directory takes the current turn without advancing it.
        let t = st.turn;
        let d = create(Create::Rr, &f, &mut st, true).unwrap();
        assert_eq!(st.turn, t);
        assert!(s[d].writable);
        // A whiteout in writable branch 2 forces the name there.
        let f = Facts { whiteout: Some(2), ..facts(&s, 0) };
        assert_eq!(create(Create::Rr, &f, &mut st, false), Some(2));
        // ... but not when that branch is read-only: the turn decides.
        let f = Facts { whiteout: Some(1), ..facts(&s, 0) };
        assert!(create(Create::Rr, &f, &mut st, false).is_some());
        // No writable branch at all.
        let s = slots("rr");
        assert_eq!(create(Create::Rr, &facts(&s, 0), &mut st, false), None);
    }

    #[test]
    fn free_space_policies() {
        let mut s = slots("wrwwr");
        s[0].free = 100;
        s[2].free = 300;
        s[3].free = 300;
        let mut st = CreateState::default();
        let f = facts(&s, 0);
        // Most free space; on a tie the lower branch.
        assert_eq!(create(Create::Mfs { sec: 30 }, &f, &mut st, false), Some(3));
        // mfsrr: above the watermark, mfs; below, round-robin.
        assert_eq!(create(Create::MfsRr { low: 200, sec: 30 }, &f, &mut st, false), Some(3));
        assert_eq!(create(Create::MfsRr { low: 1000, sec: 30 }, &f, &mut st, false), Some(0));
        // tdmfs: the top-most with more than LOW.
        assert_eq!(create(Create::TdMfs { low: 50, sec: 30 }, &f, &mut st, false), Some(0));
        assert_eq!(create(Create::TdMfs { low: 150, sec: 30 }, &f, &mut st, false), Some(2));
        assert_eq!(create(Create::TdMfs { low: 500, sec: 30 }, &f, &mut st, false), Some(3));
        // pmfs: tdp (0) unless a branch holding the parent has more.
        assert_eq!(create(Create::Pmfs { sec: 30 }, &f, &mut st, false), Some(2));
        let mut s2 = s.clone();
        s2[2].parent = false;
        s2[3].parent = false;
        let f2 = facts(&s2, 0);
        assert_eq!(create(Create::Pmfs { sec: 30 }, &f2, &mut st, false), Some(0));
        // pmfsrr: pmfs's choice below LOW → mfsrr.
        assert_eq!(create(Create::PmfsRr { low: 200, sec: 30 }, &f2, &mut st, false), Some(3));
        // An opaque ancestor at branch 2 holds mfs at 2.
        let f3 = Facts { reach: 2, ..facts(&s, 0) };
        assert_eq!(create(Create::Mfs { sec: 30 }, &f3, &mut st, false), Some(2));
    }
}
