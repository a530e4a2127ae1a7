//! Lookup through the branches, and revalidation of cached union dentries.
//!
//! Lookup walks the parent's stack top-down (see semantics in
//! Documentation/filesystems/rfs.rst):
//! - the first branch where NAME exists decides; a non-directory ends the
//!   walk; a directory merges with same-named directories below it until a
//!   branch where it is opaque (`.wh..wh..opq`) or where NAME is not a
//!   directory;
//! - in a branch that honors whiteouts, `.wh.NAME` hides NAME in every branch
//!   below it (a real NAME in the same branch still wins);
//! - names starting with `.wh.` are never found.
//!
//! Revalidation (udba=reval): each union dentry remembers in `d_fsdata` a
//! stamp of its parent's lower directories (their change counters). While the
//! stamp is unchanged the dentry is valid; when it changed, the name is
//! resolved again and the dentry stays valid only if it resolves to the same
//! lower objects. Changes made directly in a branch thus show up at the next
//! lookup, and unrelated changes cost one re-resolution, not an invalidation.
//!
//! A directory's members can also change without its parent changing: an
//! opaque marker added to, or removed from, one of its own directories. So a
//! directory whose members could change that way (it merges more than one
//! directory, or an opaque marker cut its merge short) also remembers a stamp
//! of its own members, in its inode ([`InodeInfo::own_stamp`]); when that
//! stamp changed, the name is resolved again too.

use crate::branch::Branch;
use crate::inode::{InodeInfo, Lower, UnionInode, View};
use crate::logic::options::Udba;
use crate::logic::whfacts::{self, Known};
use crate::logic::whiteout;
use crate::super_::SbInfo;
use crate::vfs::once::SetOnce;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::vfs::dentry::{Dentry, UnionDentry};
use crate::union::SuperBlock;
use crate::vfs::inode::{mode, CachedInode, InodeRef, Kind, NewInode};
use crate::vfs::notify::Watch;
use crate::vfs::rcu::RcuWalk;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// The result of resolving a name: its members, top first (none when the
/// name does not exist in the union).
pub(crate) struct Resolved {
    /// The object in the writable branch, when it is the top member.
    pub(crate) upper: Option<Lower>,
    /// The other members.
    pub(crate) lowers: KVVec<Lower>,
    /// For a directory whose members could change by an opaque marker added
    /// or removed in one of them: the stamp of its members, read before
    /// their markers were probed (see the module docs); 0 otherwise.
    own: u64,
}

impl Resolved {
    fn empty() -> Self {
        Resolved { upper: None, lowers: KVVec::new(), own: 0 }
    }

    /// A name made of one object in the writable branch (a creation).
    pub(crate) fn upper_only(upper: Lower) -> Self {
        Resolved { upper: Some(upper), lowers: KVVec::new(), own: 0 }
    }

    /// The same name, for a new directory made opaque over the directories
    /// below it (a mkdir over a whiteout): its marker removed directly in
    /// the branch must show, so its own stamp starts stale.
    pub(crate) fn cut(mut self) -> Self {
        self.own = crate::inode::OWN_STALE;
        self
    }

    /// Whether the name exists in the union.
    pub(crate) fn is_positive(&self) -> bool {
        self.upper.is_some() || !self.lowers.is_empty()
    }

    /// The top member.
    pub(crate) fn top(&self) -> Option<&Lower> {
        self.upper.as_ref().or(self.lowers.first())
    }

    /// Adds the next member, top first: the first one is the upper when
    /// its branch is writable (changed in place; copyup.rs).
    fn push(&mut self, l: Lower) -> Result {
        let is_upper = !self.is_positive() && l.branch.perm.is_writable();
        if is_upper {
            self.upper = Some(l);
        } else {
            self.lowers.push(l, GFP_KERNEL)?;
        }
        Ok(())
    }
}

/// Whether `dir` (a directory of `branch`) is opaque.
pub(crate) fn is_opaque(branch: &Branch, dir: &Dentry) -> Result<bool> {
    if !branch.honors_whiteouts() {
        return Ok(false);
    }
    dir.probe_child(whiteout::OPAQUE_NAME)
}

/// What a union directory knows about its members, made the first time it
/// is needed (a directory that never needs it costs one pointer): whether
/// each holds whiteouts (logic/whfacts.rs; one slot per member), and the
/// changes rfs made itself in them ([`OwnChanges`]).
pub(crate) struct DirFacts(SetOnce<Facts>);

struct Facts {
    wh: KVec<AtomicU64>,
    own: OwnChanges,
}

impl DirFacts {
    /// Nothing known yet.
    pub(crate) const fn new() -> Self {
        DirFacts(SetOnce::new())
    }

    /// The facts, made for `depth` members if there are none yet (None if
    /// that allocation fails: the lookups then probe every time, and the
    /// union's own changes count as any change).
    fn facts(&self, depth: usize) -> Option<&Facts> {
        if self.0.get().is_none() {
            let mut wh = KVec::with_capacity(depth, GFP_KERNEL).ok()?;
            for _ in 0..depth {
                wh.push(AtomicU64::new(0), GFP_KERNEL).ok()?;
            }
            self.0.set(Facts { wh, own: OwnChanges::new() }).ok()?;
        }
        self.0.get()
    }

    /// The whiteout slot of member `i`, when there is one (members added
    /// after the slots were made have none).
    fn slot(&self, depth: usize, i: usize) -> Option<&AtomicU64> {
        self.facts(depth)?.wh.get(i)
    }

    /// Records what a listing of member `i` (of `depth`) found; `key` is its
    /// state's key read before the listing (see [`member_key`]).
    pub(crate) fn record(&self, depth: usize, i: usize, key: u64, has_whiteouts: bool) {
        if let Some(s) = self.slot(depth, i) {
            s.store(whfacts::fact(key, has_whiteouts), Ordering::Relaxed);
        }
    }

    /// Records `change`, which rfs made in one of the directory's `depth`
    /// members.
    pub(crate) fn record_own(&self, depth: usize, change: OwnChange) {
        if let Some(f) = self.facts(depth) {
            f.own.record(change);
        }
    }

    /// The stamp `stamp` of the member whose inode is `inode`, with the
    /// changes rfs made itself taken out ([`OwnChanges::translate`]).
    pub(crate) fn translate(&self, inode: InodeRef<'_>, stamp: u64) -> u64 {
        match self.0.get() {
            Some(f) => f.own.translate(inode, stamp),
            None => stamp,
        }
    }
}

/// The changes rfs made itself in the member directories of a union
/// directory (udba=reval).
///
/// Every change in a branch directory moves its change stamp, and with it
/// the stamp of every name cached in the union directory: each is then
/// resolved again at its next use, in ref-walk. For a change rfs makes
/// itself (a create, unlink, rename or copy-up through the union) that is
/// wasted work: the VFS updates the one name the change is about, and the
/// other names show what they showed. So rfs records, for each such change,
/// the member's stamp just before and just after it, both read under the
/// member directory's lock, and the stamps are then computed with "after"
/// standing for "before" ([`OwnChanges::translate`]). Changes that follow
/// one another chain: the stamp after the last stands for the stamp before
/// the first. Any other change (made directly in the branch, or one rfs
/// does not record) breaks the chain: the member's stamp no longer matches
/// the recorded "after", and every cached name is resolved again, as
/// before.
///
/// Only a change that succeeded as a whole is recorded: one that failed
/// half-way may have changed a name the VFS then keeps as it was.
/// One record per union directory (the member last changed); it lives in
/// the directory's [`DirFacts`].
pub(crate) struct OwnChanges {
    /// Set while a record is written.
    busy: AtomicBool,
    /// The member inode (its address), the stamp before the first change
    /// and the stamp after the last. `latest` is 0 while the three are
    /// rewritten; readers read it before and after the others.
    inode: AtomicUsize,
    base: AtomicU64,
    latest: AtomicU64,
}

impl OwnChanges {
    /// Nothing recorded.
    const fn new() -> Self {
        OwnChanges {
            busy: AtomicBool::new(false),
            inode: AtomicUsize::new(0),
            base: AtomicU64::new(0),
            latest: AtomicU64::new(0),
        }
    }

    /// The stamp `stamp` of the member whose inode is `inode`, with the
    /// changes rfs made itself taken out (see the type's docs).
    fn translate(&self, inode: InodeRef<'_>, stamp: u64) -> u64 {
        let at = inode.as_ptr() as usize;
        let latest = self.latest.load(Ordering::SeqCst);
        if latest == 0 || latest != stamp || self.inode.load(Ordering::SeqCst) != at {
            return stamp;
        }
        let base = self.base.load(Ordering::SeqCst);
        // Rewritten meanwhile: the stamp as it is.
        if self.latest.load(Ordering::SeqCst) != latest || self.inode.load(Ordering::SeqCst) != at {
            return stamp;
        }
        base
    }

    /// Records `change`, made in one of the directory's members.
    fn record(&self, change: OwnChange) {
        // Another record under way (a change in another member): this one
        // is left out, which only breaks the chain.
        if self.busy.swap(true, Ordering::SeqCst) {
            return;
        }
        let latest = self.latest.load(Ordering::SeqCst);
        if latest != 0 && latest == change.before && self.inode.load(Ordering::SeqCst) == change.inode {
            self.latest.store(change.after, Ordering::SeqCst);
        } else {
            self.latest.store(0, Ordering::SeqCst);
            self.inode.store(change.inode, Ordering::SeqCst);
            self.base.store(change.before, Ordering::SeqCst);
            self.latest.store(change.after, Ordering::SeqCst);
        }
        self.busy.store(false, Ordering::SeqCst);
    }
}

/// The start of a change rfs makes in a branch directory: its stamp before,
/// read with the directory locked ([`OwnChange::begin`]).
pub(crate) struct OwnChangeStart {
    inode: usize,
    before: u64,
}

/// A change rfs made in a branch directory, to be recorded once the whole
/// operation succeeded ([`crate::inode::InodeInfo::record_own`]).
pub(crate) struct OwnChange {
    inode: usize,
    before: u64,
    after: u64,
}

impl OwnChange {
    /// Reads the stamp of `dir` before a change; the caller holds its lock
    /// and keeps it until [`OwnChangeStart::end`].
    pub(crate) fn begin(dir: &Dentry) -> Option<OwnChangeStart> {
        let i = dir.inode()?;
        // Without a change counter the stamp is the ctime alone, which a
        // direct change in the same clock tick would leave as it is: such a
        // change would join the chain unseen. Those filesystems (and remote
        // ones, whose attributes change without the local lock) record
        // nothing.
        if !i.has_change_counter() {
            return None;
        }
        Some(OwnChangeStart { inode: i.as_ptr() as usize, before: i.change_stamp() })
    }

    /// The branch directory's stamp after the change.
    pub(crate) fn after(&self) -> u64 {
        self.after
    }
}

impl OwnChangeStart {
    /// Reads the stamp of `dir` after the change, still under its lock.
    pub(crate) fn end(self, dir: &Dentry) -> Option<OwnChange> {
        let i = dir.inode().filter(|i| i.as_ptr() as usize == self.inode)?;
        // A zero stamp could not be told from "nothing recorded".
        let after = i.change_stamp();
        if after == 0 || self.before == 0 {
            return None;
        }
        Some(OwnChange { inode: self.inode, before: self.before, after })
    }
}

/// The key of a member directory's present state, when its facts can be
/// kept: its filesystem must keep a change counter (logic/whfacts.rs).
pub(crate) fn member_key(dir: &Dentry) -> Option<u64> {
    let inode = dir.inode()?;
    if !inode.has_change_counter() {
        return None;
    }
    Some(whfacts::key(inode.as_ptr() as usize, inode.change_stamp()))
}

/// Whether `.wh.NAME` exists in `dir`, member `i` of a union directory
/// whose facts are `facts` (of `depth` members): skipped when the member is
/// known to hold no whiteout in its present state; after enough fruitless
/// probes the member is listed once to learn that (logic/whfacts.rs).
fn member_whites_out(sbi: &SbInfo, facts: Option<(&DirFacts, usize)>, i: usize, branch: &Branch, dir: &Dentry, name: &[u8]) -> Result<bool> {
    if !branch.honors_whiteouts() {
        return Ok(false);
    }
    let Some((facts, depth)) = facts else {
        return is_whited_out(branch, dir, name);
    };
    let (Some(slot), Some(key)) = (facts.slot(depth, i), member_key(dir)) else {
        return is_whited_out(branch, dir, name);
    };
    let probes = match whfacts::read(slot.load(Ordering::Relaxed), key) {
        Known::NoWhiteouts => return Ok(false),
        Known::Whiteouts => return is_whited_out(branch, dir, name),
        Known::Unknown { probes } => probes,
    };
    if is_whited_out(branch, dir, name)? {
        return Ok(true);
    }
    let size = dir.inode().map_or(0, |i| u64::try_from(i.size()).unwrap_or(u64::MAX));
    let probes = whfacts::counted(probes);
    if !whfacts::scan_due(probes, size) {
        slot.store(probes, Ordering::Relaxed);
        return Ok(false);
    }
    // List it (with the key read before: an entry added meanwhile changes
    // the stamp, and the fact then matches nothing). A failed listing
    // leaves the count to start again.
    match has_whiteouts(sbi, branch, dir) {
        Ok(has) => slot.store(whfacts::fact(key, has), Ordering::Relaxed),
        Err(_) => slot.store(0, Ordering::Relaxed),
    }
    Ok(false)
}

/// Whether directory `dir` of `branch` holds a whiteout (a listing, as the
/// mounter, without touching its atime).
fn has_whiteouts(sbi: &SbInfo, branch: &Branch, dir: &Dentry) -> Result<bool> {
    let f = crate::vfs::file::File::open_lower(&crate::vfs::path::at(branch.root.mnt(), dir), crate::vfs::sys::O_RDONLY | crate::vfs::sys::O_DIRECTORY, &sbi.cred)?;
    let mut found = false;
    crate::vfs::dir::for_each_entry(&f, &mut |name, _ino, _t| {
        found = whfacts::is_whiteout(name);
        !found
    })?;
    Ok(found)
}

/// Whether `.wh.NAME` exists in `dir` of `branch`.
fn is_whited_out(branch: &Branch, dir: &Dentry, name: &[u8]) -> Result<bool> {
    if !branch.honors_whiteouts() {
        return Ok(false);
    }
    let mut wh = crate::logic::vec::Vec::new();
    if whiteout::whiteout_name(name, &mut wh).is_err() {
        // `.wh.NAME` would be longer than NAME_MAX: it cannot exist.
        return Ok(false);
    }
    dir.probe_child(&wh)
}

/// Resolves `name` in the directory whose members are `parent` (mounter's
/// credentials must be in force); `dir` is that directory's data, whose
/// whiteout facts spare probes (None: probe every member).
pub(crate) fn resolve(sbi: &SbInfo, dir: Option<&InodeInfo>, parent: &View<'_>, name: &[u8]) -> Result<Resolved> {
    let mut res = Resolved::empty();
    if whiteout::is_reserved(name) {
        return Ok(res);
    }
    let depth = parent.depth();
    let facts = dir.map(|d| (&d.facts, depth));
    let mut own = StampFold::new(0);
    let mut cut = false;
    for (i, layer) in parent.members().enumerate() {
        layer.branch.lookups.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let child = match layer.dentry.lookup_child(name) {
            Ok(c) => c,
            // The lower directory was removed directly in its branch.
            Err(e) if e == ENOENT => continue,
            Err(e) => return Err(e),
        };
        match child.inode() {
            Some(_) if child.is_weird() => {
                // An automount point, a case-folded name and the like:
                // not stacked on (overlayfs: ovl_lookup_single).
                return Err(crate::vfs::code::eremote());
            }
            Some(inode) => {
                let is_dir = inode.is_dir();
                if res.is_positive() && !is_dir {
                    // A non-directory below a directory ends the merge.
                    break;
                }
                let last = i + 1 == depth;
                if is_dir {
                    // Before the marker is probed: a marker added meanwhile
                    // changes the stamp.
                    own.add(inode.change_stamp());
                }
                // A directory is cut from the branches below by its opaque
                // marker, and also by a whiteout of its name in its own
                // branch (`.wh.NAME` hides NAME in every branch below it):
                // the state between creating a directory over a whiteout
                // and marking it opaque, or between emptying a directory
                // and renaming another over it (dir.rs), so a crash there
                // never shows the deleted tree again.
                let opaque = is_dir
                    && !last
                    && (is_opaque(&layer.branch, &child)? || member_whites_out(sbi, facts, i, &layer.branch, &layer.dentry, name)?);
                res.push(Lower { branch: layer.branch.clone(), dentry: child })?;
                if opaque {
                    cut = true;
                }
                if !is_dir || opaque {
                    break;
                }
            }
            // A whiteout in the last member hides nothing: no probe.
            None if i + 1 == depth => {}
            None => {
                if member_whites_out(sbi, facts, i, &layer.branch, &layer.dentry, name)? {
                    break;
                }
            }
        }
    }
    let merged = res.upper.iter().count() + res.lowers.len() > 1;
    let is_dir = res.top().and_then(|t| t.dentry.inode()).is_some_and(|i| i.is_dir());
    // With notify too: make_inode compares it once the marks are there.
    if is_dir && (merged || cut) && sbi.udba() != Udba::None {
        res.own = own.finish();
    }
    Ok(res)
}

/// Folds change stamps into one number (FNV-1a over 64-bit words). The
/// result is never 0, which means "no stamp".
struct StampFold(u64);

impl StampFold {
    fn new(seed: u64) -> Self {
        StampFold((0xcbf2_9ce4_8422_2325u64 ^ seed).wrapping_mul(0x100_0000_01b3))
    }

    fn add(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x100_0000_01b3);
    }

    fn finish(self) -> u64 {
        self.0 | 1
    }
}

/// The stamp of a directory's own members (see [`Resolved::own`]), from
/// their inodes (None for a negative member).
fn own_stamp_of<'a>(facts: &DirFacts, inodes: impl Iterator<Item = Option<InodeRef<'a>>>) -> u64 {
    let mut f = StampFold::new(0);
    for inode in inodes.flatten() {
        f.add(facts.translate(inode, inode.change_stamp()));
    }
    f.finish()
}

/// The stamp of a directory's lower directories (see the module docs) in
/// branch-table generation `gen`: `dir` is the directory's data, `view`
/// its members. With udba=none only the generation counts; with
/// udba=notify the count of its watch (vfs/notify.rs) stands for its
/// members' change counters.
pub(crate) fn dir_stamp(sbi: &SbInfo, gen: u64, dir: &InodeInfo, view: &View<'_>) -> u64 {
    stamp_of(sbi, gen, dir, view.depth(), view.members().map(|l| l.dentry.inode()))
}

/// [`dir_stamp`] from the directory's watch, its number of members and
/// their inodes (None for a negative member), these read only when the
/// watch cannot say. The number covers a member added or hidden by rfs
/// after the branch operation's events were counted (vfs/notify.rs).
fn stamp_of<'a>(sbi: &SbInfo, gen: u64, dir: &InodeInfo, depth: usize, inodes: impl Iterator<Item = Option<InodeRef<'a>>>) -> u64 {
    let mut stamp = StampFold::new(gen);
    stamp.add(sbi.plink_epoch());
    match (sbi.udba(), dir.watch(sbi).and_then(Watch::events)) {
        (Udba::None, _) => {}
        (Udba::Notify, Some(n)) => {
            stamp.add(n);
            stamp.add(depth as u64);
        }
        // reval, or a directory whose watch is missing a mark.
        (Udba::Reval | Udba::Notify, _) => {
            for inode in inodes.flatten() {
                stamp.add(dir.facts.translate(inode, inode.change_stamp()));
            }
        }
    }
    // Zero means "no stamp" in a fresh dentry.
    stamp.finish()
}

/// The stamp of a directory's own members now (compared with
/// [`InodeInfo::own_stamp`]): with udba=notify its watch's count, else (or
/// when the watch cannot say) their change counters.
fn own_now<'a>(sbi: &SbInfo, dir: &InodeInfo, depth: usize, inodes: impl Iterator<Item = Option<InodeRef<'a>>>) -> u64 {
    match dir.watch(sbi).and_then(Watch::events) {
        Some(n) => watch_stamp(n, depth),
        None => own_stamp_of(&dir.facts, inodes),
    }
}

/// A watch's count and the directory's number of members as an own stamp
/// (never 0).
fn watch_stamp(events: u64, depth: usize) -> u64 {
    let mut f = StampFold::new(1);
    f.add(events);
    f.add(depth as u64);
    f.finish()
}

/// Builds the union inode for a resolved, positive name.
pub(crate) fn make_inode(sb: SuperBlock<'_>, res: Resolved) -> Result<NewInode<InodeInfo>> {
    let sbi: &SbInfo = sb.info();
    let top = res.top().ok_or(ENOENT)?;
    let lower = top.dentry.inode().ok_or(ENOENT)?;
    let plink = plink_of(sbi, &res)?;
    // A name served by a pseudo-link has the number of the copy it reads
    // (which the copy-up gave the original's number): every name of the
    // file then shows one number whichever is looked up first, also in a
    // later mount with a fresh xino file, and it is the number the
    // AUFS-style pseudo-link names give (plink.rs `aufs_names`).
    let ino = match plink.as_ref().and_then(|p| Some((p.branch.id, p.dentry.inode()?.ino()))) {
        Some((brid, hino)) => sbi.ino_of(brid, hino)?,
        None => sbi.ino_of(top.branch.id, lower.ino())?,
    };
    let imode = lower.mode();
    let kind = match imode & mode::S_IFMT {
        mode::S_IFDIR => Kind::Dir,
        mode::S_IFREG => Kind::Reg,
        mode::S_IFLNK => Kind::Symlink,
        _ => Kind::Special(crate::vfs::inode::rdev(lower)),
    };
    let is_dir = matches!(kind, Kind::Dir);
    let mut inode = sb.new_inode()?;
    inode.init(ino, imode, kind);
    inode.copy_attr(lower);
    let mut own = res.own;
    // udba=notify: a directory watches its members from now on. What
    // changed in them since they were looked at is caught by comparing
    // their change counters (`own`, read before the markers were probed)
    // once the marks are there; a difference leaves the own stamp stale,
    // so the next walk resolves the name again.
    // Without memory for a watch, the directory is checked as with reval.
    let watch = if is_dir { sbi.new_watch().ok().flatten() } else { None };
    // The watch is in the data before it gets marks: from here on, a
    // failure releases the inode, and its data's marks with it.
    let data = InodeInfo::new(res.upper, res.lowers)?.with_plink(plink).with_watch(watch);
    if let Some(w) = data.watch(sbi) {
        for l in data.view().members() {
            if let Some(i) = l.dentry.inode() {
                w.add(i);
            }
        }
    }
    if own != 0 {
        if let Some(n) = data.watch(sbi).and_then(Watch::events) {
            let before = own;
            let view = data.view();
            own = watch_stamp(n, view.depth());
            if own_stamp_of(&data.facts, view.members().map(|l| l.dentry.inode())) != before {
                own ^= 2;
            }
        }
    }
    *inode.data_mut() = data.with_own_stamp(own);
    Ok(inode)
}

/// Publishes a new union inode through the union inode cache: a
/// non-directory is keyed by the branch inode that gives it its data (its
/// upper, else the pseudo-link, else its lower), so all names of one file
/// share one union inode (overlayfs: ovl_get_inode); if one is cached under
/// that key already, it is returned instead. Directories are not cached
/// (they have one name).
pub(crate) fn publish(mut inode: NewInode<InodeInfo>) -> Result<CachedInode> {
    if inode.is_dir() {
        return Ok(inode.uncached());
    }
    let (key, upper) = {
        let data = inode.data_mut();
        let view = data.view();
        // Only an upper with several links can be another name's
        // pseudo-link (the pseudo-link is one of them).
        let upper = view.upper().filter(|u| u.dentry.inode().is_some_and(|i| i.nlink() > 1)).cloned();
        (view.top()?.dentry.inode().ok_or(ENOENT)?.key(), upper)
    };
    Ok(inode.cached(key, |existing| {
        // A name of a hard-linked lower file that has no upper of its own
        // was looked up first: its union inode reads the pseudo-link, which
        // is this name's upper. It gets this upper, so that copy-ups of its
        // names link them to it (copy_up_one) instead of failing on the
        // name this lookup found in the writable branch.
        let Some(u) = upper else { return };
        let view = existing.data().view();
        if view.upper().is_none() && view.plink().is_some_and(|p| p.dentry.inode().map(|i| i.key()) == Some(key)) {
            drop(view);
            let _ = existing.data().set_upper(u);
        }
    }))
}

/// The pseudo-link a resolved name reads from: for a hard-linked lower file
/// without an upper, a copy of another of its names (plink.rs).
fn plink_of(sbi: &SbInfo, res: &Resolved) -> Result<Option<Lower>> {
    let Some(l) = res.lowers.first().filter(|l| res.upper.is_none() && crate::plink::applies(l)) else {
        return Ok(None);
    };
    let tab = sbi.tab();
    let _creds = sbi.cred.override_creds();
    // In the writable branch a copy of another name went to (top first).
    for w in tab.wbr.iter() {
        let Some(rw) = tab.table.index_of_id(w.id).and_then(|i| tab.branch(i)) else { continue };
        if let Some(d) = crate::plink::find(&w.plnk, l)? {
            return Ok(Some(Lower { branch: rw.clone(), dentry: d }));
        }
    }
    Ok(None)
}

/// `lookup` in a union directory: returns the inode for `dentry`, or `None`
/// for a negative dentry (cached, and revalidated as described above).
pub(crate) fn lookup(sb: SuperBlock<'_>, dir: &UnionInode, dentry: UnionDentry<'_>) -> Result<Option<CachedInode>> {
    let name = dentry.name();
    if name.len() > whiteout::NAME_MAX {
        return Err(crate::vfs::code::enametoolong());
    }
    let sbi = sb.info();
    let res = {
        let _creds = sbi.cred.override_creds();
        // Stamped with the generation of the table the name is resolved in.
        let tab = sbi.tab();
        let view = dir.data().view();
        let stamp = dir_stamp(sbi, tab.gen, dir.data(), &view);
        let res = resolve(sbi, Some(dir.data()), &view, name)?;
        dentry.set_stamp(stamp);
        res
    };
    if !res.is_positive() {
        return Ok(None);
    }
    publish(make_inode(sb, res)?).map(Some)
}

/// d_revalidate in RCU-walk: true when the name is certainly still valid
/// (its stamp matches its parent's lower directories and its own members are
/// all there); false when only ref-walk can tell, which the caller answers
/// with -ECHILD. Reads nothing but what RCU-walk may (vfs/rcu.rs).
pub(crate) fn revalidate_rcu(sbi: &SbInfo, stamp: u64, inode: Option<&UnionInode>, parent: &UnionInode, w: &RcuWalk) -> bool {
    if let Some(ui) = inode {
        let (upper, lowers) = ui.data().rcu_members(sbi, w);
        if !Iterator::chain(upper.iter(), lowers.iter()).all(|m| m.is_live(w)) {
            return false;
        }
        // udba=none: no opaque marker is looked for after lookup.
        let own = if sbi.udba() == Udba::None { 0 } else { ui.data().own_stamp() };
        let depth = usize::from(upper.is_some()) + lowers.len();
        if own != 0 && own != own_now(sbi, ui.data(), depth, Iterator::chain(upper.into_iter(), lowers.iter().copied()).map(|m| m.inode(w))) {
            return false;
        }
    }
    let (upper, lowers) = parent.data().rcu_members(sbi, w);
    let depth = usize::from(upper.is_some()) + lowers.len();
    let members = Iterator::chain(upper.into_iter(), lowers.iter().copied());
    stamp != 0 && stamp == stamp_of(sbi, sbi.gen(), parent.data(), depth, members.map(|m| m.inode(w)))
}

/// `d_revalidate` in ref-walk mode: whether the cached `dentry` still shows
/// what a fresh lookup would.
///
/// The parent's stamp covers the branch-table generation, so after a remount
/// every cached name is resolved again once (also with udba=none), and stays
/// only if it is made of the same versions of the same branches' objects.
///
/// `force` (LOOKUP_REVAL: the system call got ESTALE and walks the path
/// again): the name is resolved again whatever the stamps say, also with
/// udba=none, so an ESTALE never sticks to a cached name.
pub(crate) fn revalidate(sb: SuperBlock<'_>, dentry: UnionDentry<'_>, inode: Option<&UnionInode>, parent: &UnionInode, force: bool) -> Result<bool> {
    let sbi = sb.info();
    // Even with udba=none: a member removed directly from its branch (an
    // unhashed or negative lower dentry) is never shown again.
    if let Some(ui) = inode {
        if ui.data().view().members().any(|l| l.dentry.is_unhashed() || l.dentry.inode().is_none()) {
            return Ok(false);
        }
    }
    let _creds = sbi.cred.override_creds();
    let gen = sbi.gen();
    let pview = parent.data().view();
    let stamp = dir_stamp(sbi, gen, parent.data(), &pview);
    // A directory's own members, when an opaque marker in them matters.
    let own = inode
        .filter(|ui| sbi.udba() != Udba::None && ui.data().own_stamp() != 0)
        .map(|ui| {
            let view = ui.data().view();
            (ui, own_now(sbi, ui.data(), view.depth(), view.members().map(|l| l.dentry.inode())))
        });
    if !force && stamp == dentry.stamp() && own.is_none_or(|(ui, s)| s == ui.data().own_stamp()) {
        return Ok(true);
    }
    // A copy of the name: without the parent's lock a rename may change it.
    let name = dentry.get().name()?;
    // The union inodes may change while the name is resolved: a copy-up
    // (of the object or of its directory) that finishes meanwhile gives
    // them an upper or a member the resolution did not see yet. A mismatch
    // found then is not a change behind the union's back: the name is
    // resolved again (a few times at most), so the dentry and its union
    // inode stay (`D48` in the parity audit: a new lookup would build a
    // second union inode, with locks and leases of its own).
    let shape = |ui: &UnionInode| {
        let v = ui.data().view();
        (v.upper().is_some(), v.depth())
    };
    let mut tries = 0;
    let same = loop {
        let before = (inode.map(shape), shape(parent));
        let pview = parent.data().view();
        let res = resolve(sbi, Some(parent.data()), &pview, &name)?;
        // The name has an upper its union inode does not know: a copy-up may be
        // between renaming its copy into place and recording it in the union
        // inode (copyup.rs). Its lock is held until then: once it is free, the
        // union inode shows what the copy-up made, and the comparison below
        // keeps the dentry and its inode (a new lookup would build a second
        // union inode for the same object, with locks, leases and the like of
        // its own: `D48` in the parity audit). Lock order: the union directory
        // (a lookup may hold it) before an object's copy-up lock, as in unlink.
        // A promotion (copyup.rs `promote`) is in the same window: the
        // name's upper is a copy its union inode does not know yet.
        let unknown_upper = |ui: &&UnionInode| {
            res.upper.as_ref().is_some_and(|r| !ui.data().view().upper().is_some_and(|u| u.dentry.same(&r.dentry)))
        };
        if let Some(ui) = inode.filter(unknown_upper) {
            drop(ui.data().lock_copyup()?);
        }
        let same = match inode {
            None => !res.is_positive(),
            Some(ui) if !ui.vfs().is_dir() => {
                // A non-directory is the union inode of the branch inode that
                // gives it its data (the union inode cache, `publish`), which
                // may be shared with other names of the same file: it is still
                // right when the name resolves to that same branch inode.
                let old = ui.data().view();
                let old_top = old.top()?.dentry.inode().map(|i| i.as_ptr());
                let plink = plink_of(sbi, &res)?;
                let new_top = match (&res.upper, &plink) {
                    (None, Some(p)) => p.dentry.inode().map(|i| i.as_ptr()),
                    _ => res.top().and_then(|t| t.dentry.inode()).map(|i| i.as_ptr()),
                };
                // ... in the same role: after a remount the old upper may be a
                // lower (copy-up would then refuse it with ESTALE for ever).
                old_top.is_some() && old_top == new_top && old.upper().is_some() == res.upper.is_some()
            }
            Some(ui) => {
                let old = ui.data().view();
                let new = Iterator::chain(res.upper.iter(), res.lowers.iter());
                old.depth() == res.upper.iter().count() + res.lowers.len()
                    && old.upper().is_some() == res.upper.is_some()
                    && old.members().zip(new).all(|(a, b)| a.branch.same(&b.branch) && a.dentry.same(&b.dentry))
                    && old.plink().is_some() == plink_of(sbi, &res)?.is_some()
            }
        };
        tries += 1;
        if same || tries >= 3 || (inode.map(shape), shape(parent)) == before {
            break same;
        }
    };
    if same {
        dentry.set_stamp(stamp);
        if let Some((ui, s)) = own {
            ui.data().set_own_stamp(s);
        }
    }
    Ok(same)
}
