//! Union inodes: what a union object is made of, and its attribute and
//! permission operations.
//!
//! A union inode holds the lower dentries it stands for (its *stack*):
//! for a non-directory, the one object that won the lookup; for a directory,
//! every same-named directory that merges into it, top first. The stack of an
//! ordinary inode is set before the inode is published and only grows an
//! upper (copy-up) or shrinks to it (made opaque); the root's stack is
//! replaced as a whole when a remount changes the branches. Readers go
//! through a [`View`]: a borrow of an ordinary stack, or a counted snapshot
//! of the root's, so a remount never frees what a reader is using.
//! RCU-walk reads neither: it reads a copy of the stack made of plain
//! pointers ([`InodeInfo::rcu_members`]), which lives as long as the inode's
//! memory (see vfs/rcu.rs).

use crate::branch::Branch;
use crate::vfs::dentry::Dentry;
use crate::union::SuperBlock;
use crate::vfs::inode::{mode, FsInode, InodeData};
use crate::vfs::path;
use crate::vfs::sys;
use kernel::error::{code::*, Result};
use crate::vfs::path::Mount;
use kernel::prelude::*;
use kernel::sync::Arc;
use crate::super_::SbInfo;
use crate::vfs::inode::{Destroying, Releasable};
use crate::vfs::notify::Watch;
use crate::vfs::rcu::{RcuMember, RcuPtr, RcuSlot, RcuWalk, Retired};
use crate::copyup::copy_up;
use crate::vfs::lower::{acl, flags::FileAttr, xattr, Attr, WriteAccess};
use crate::union::union_inode_of;
use crate::vfs::once::{SetOnce, Versions};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A union inode as the operations see it.
pub(crate) type UnionInode = FsInode<InodeInfo>;

/// One lower object of a union inode (a clone takes references of its own).
#[derive(Clone)]
pub(crate) struct Lower {
    /// The branch it lives in (keeps the branch mounted).
    pub(crate) branch: Arc<Branch>,
    /// The lower dentry (a reference).
    pub(crate) dentry: Dentry,
}

impl Lower {
    /// The lower object as a `struct path` (borrowing our references).
    pub(crate) fn path(&self) -> sys::path {
        path::at(self.branch.root.mnt(), &self.dentry)
    }

    /// Its copy for RCU-walk.
    fn rcu(&self) -> RcuMember {
        RcuMember::new(self.branch.root.mnt(), &self.dentry)
    }
}

/// The members of the root directory: one branch root per branch, down to
/// the first opaque one.
pub(crate) struct Members {
    /// The writable branch's root, when that branch is on top.
    pub(crate) upper: Option<Lower>,
    /// The other branch roots.
    pub(crate) lowers: KVVec<Lower>,
    /// The same members, top first, as RCU-walk reads them.
    rcu: KVVec<RcuMember>,
}

impl Members {
    /// The root's members: `upper` (the writable branch root on top, if
    /// any) then `lowers`.
    pub(crate) fn new(upper: Option<Lower>, lowers: KVVec<Lower>) -> Result<Self> {
        let mut rcu = KVVec::with_capacity(lowers.len() + 1, GFP_KERNEL)?;
        for l in Iterator::chain(upper.iter(), lowers.iter()) {
            rcu.push(l.rcu(), GFP_KERNEL)?;
        }
        Ok(Members { upper, lowers, rcu })
    }
}

/// The root's stack, replaced as a whole by a remount.
///
/// Readers either take a counted snapshot ([`LiveStack::get`]), which they
/// keep for as long as they use it, or, in RCU-walk, borrow the current
/// members for their read-side section ([`LiveStack::borrow`]). A remount
/// publishes new members and drops the old ones only after an RCU grace
/// period (vfs/rcu.rs `RcuPtr`): it never frees what a reader uses, and
/// never waits for counted readers.
pub(crate) struct LiveStack {
    cur: RcuPtr<Members>,
}

impl LiveStack {
    /// A live stack starting with `m`.
    pub(crate) fn new(m: Members) -> Result<Arc<LiveStack>> {
        let m = Arc::new(m, GFP_KERNEL)?;
        Ok(Arc::new(LiveStack { cur: RcuPtr::new(m) }, GFP_KERNEL)?)
    }

    /// The current members.
    pub(crate) fn get(&self) -> Arc<Members> {
        self.cur.get()
    }

    /// The current members, for RCU-walk.
    pub(crate) fn borrow<'w>(&self, w: &'w RcuWalk) -> &'w Members {
        self.cur.borrow(w)
    }

    /// Publishes new members; the old ones go when the returned value is
    /// dropped, after an RCU grace period (it sleeps; remount only).
    pub(crate) fn replace(&self, m: Arc<Members>) -> Retired<Members> {
        self.cur.replace(m)
    }
}

/// The stack of one union inode (the counted references).
enum Stack {
    /// Any inode but the root.
    ///
    /// - `lowers` is set before the inode is published and never changes; a
    ///   directory that becomes opaque stops showing them
    ///   ([`InodeInfo::visible`] drops to 0), but the references stay until
    ///   the inode is destroyed, so readers may borrow them without locks;
    /// - `upper` is set once, by copy-up or creation, under the superblock's
    ///   copy-up lock, and then stays until the inode is destroyed.
    /// - `plink` is the pseudo-link of a hard-linked lower file (plink.rs),
    ///   set before the inode is published.
    ///
    /// A directory may gain a lower member later: a change below it made
    /// the directory in a writable branch under its top (copyup.rs
    /// `dir_in`). `more` then holds the whole new list, which replaces
    /// `lowers` for readers; older lists stay allocated until the inode is
    /// destroyed (so borrowed views stay valid).
    ///
    /// A non-directory whose upper lies in a lower writable branch may be
    /// copied up to a higher one for a rename or link (copyup.rs
    /// `promote`): `promoted` then holds its new upper, which replaces
    /// `upper` for readers (the lowers stay as they are). A directory whose
    /// upper lies in a lower writable branch may be made in a higher one
    /// (copyup.rs `copy_up_one`, AUFS's `au_cpup_dirs`): the copy is its
    /// new upper in `promoted` and the old upper heads its new lower list in
    /// `more` ([`InodeInfo::promote_dir`]). Old values stay until the inode
    /// is destroyed.
    Fixed { upper: SetOnce<Lower>, lowers: KVVec<Lower>, more: Versions<KVVec<Lower>>, promoted: Versions<Lower>, plink: Option<Lower> },
    /// The root directory.
    Live(Arc<LiveStack>),
}

/// The members of an ordinary union inode as RCU-walk reads them: copies of
/// the pointers of [`Stack::Fixed`], made when those are set and freed only
/// with the inode's memory (`free_inode`, after a grace period), so they
/// stay readable while `destroy_inode` drops the references themselves.
struct RcuStack {
    upper: RcuSlot,
    lowers: RcuLowers,
    /// The lists that replaced `lowers` ([`Stack::Fixed`] `more`).
    more: Versions<KVVec<RcuMember>>,
    /// The uppers that replaced `upper` ([`Stack::Fixed`] `promoted`).
    promoted: Versions<RcuMember>,
    plink: Option<RcuMember>,
}

/// The lowers of an [`RcuStack`]: a non-directory has at most one, kept
/// inline (no allocation per inode); a merged directory has a list.
enum RcuLowers {
    One(RcuMember),
    Many(KVVec<RcuMember>),
}

impl RcuLowers {
    /// Copies of `lowers`.
    fn of(lowers: &[Lower]) -> Result<Self> {
        if let [one] = lowers {
            return Ok(RcuLowers::One(one.rcu()));
        }
        let mut v = KVVec::with_capacity(lowers.len(), GFP_KERNEL)?;
        for l in lowers {
            v.push(l.rcu(), GFP_KERNEL)?;
        }
        Ok(RcuLowers::Many(v))
    }

    fn as_slice(&self) -> &[RcuMember] {
        match self {
            RcuLowers::One(m) => core::slice::from_ref(m),
            RcuLowers::Many(v) => v,
        }
    }
}

/// rfs's data in every union inode: its stack of members (see [`Stack`]).
///
/// The members of a union object, top first, are its *upper* (the object in
/// the writable branch, once there is one) and its *lowers* (the same-named
/// objects of the branches below, as lookup found them).
///
/// `stack` holds the references; `destroy_inode` empties it while RCU-walk
/// may still read `rcu`, `visible` and `root` (which it never empties).
/// The own stamp of a directory whose members rfs itself changed: a copy-up
/// gave it an upper over its lowers, a lower writable branch gained a
/// member (`insert_lower`), a rename or a mkdir over a whiteout made it
/// opaque. An opaque marker added to or removed from one of its members
/// directly in a branch would otherwise go unseen (its parent's members do
/// not change). No stamp equals it (stamps are odd: namei.rs `StampFold`),
/// so the next walk resolves the name again and records the stamp then.
pub(crate) const OWN_STALE: u64 = 2;

pub(crate) struct InodeInfo {
    stack: Releasable<Stack>,
    rcu: RcuStack,
    /// How many of the lowers count (0 once the directory is opaque).
    visible: AtomicUsize,
    /// Readers take the upper, the lower list and `visible` as one value:
    /// a directory promotion changes all three ([`Seq`]).
    seq: Seq,
    /// For a directory whose members an opaque marker could change: the
    /// stamp of its members when they were last found right (namei.rs),
    /// or [`OWN_STALE`]; 0 for every other inode. RCU-walk reads it too.
    own: AtomicU64,
    /// Whether this is the root (its members are the superblock's
    /// [`LiveStack`]).
    root: bool,
    /// Bit 0: the copy-up lock ([`InodeInfo::lock_copyup`]).
    lock: AtomicUsize,
    /// Open union files of this inode (file.rs: the last close of a file
    /// without a name forgets its inode-number key).
    pub(crate) opens: AtomicUsize,
    /// Union files of this inode open or being opened (file.rs `open`
    /// counts one before it looks at the members), and whether a promotion
    /// is under way (copyup.rs `promote`): no file is ever left open on an
    /// upper a promotion replaced.
    pins: AtomicUsize,
    promoting: AtomicBool,
    /// `udba=notify`, a directory: the count of changes in its members
    /// (vfs/notify.rs). Its marks go in `destroy_inode`; the counter stays
    /// for RCU-walk until the memory goes. The root's is the superblock's.
    watch: Option<Watch>,
    /// A directory: what it knows about the whiteouts in its members
    /// (namei.rs `member_whites_out`, readdir.rs) and the changes rfs made
    /// itself in them, which do not make its cached names look changed
    /// behind the union's back (namei.rs `OwnChanges`).
    pub(crate) facts: crate::namei::DirFacts,
}

/// The copy-up lock of a union inode, held until dropped.
pub(crate) type CopyupLock<'a> = crate::vfs::bitlock::BitLock<'a>;

/// Takes bit 0 of `word` as a lock, waiting killably (EINTR when the task
/// is killed while it waits): the copy-up locks of union inodes and of the
/// superblock (`SbInfo::copyup`).
pub(crate) fn bit_lock_killable(word: &AtomicUsize) -> Result<CopyupLock<'_>> {
    CopyupLock::lock_killable(word)
}

impl InodeData for InodeInfo {
    fn empty() -> Self {
        InodeInfo {
            stack: Releasable::new(Stack::Fixed { upper: SetOnce::new(), lowers: KVVec::new(), more: Versions::new(), promoted: Versions::new(), plink: None }),
            rcu: RcuStack { upper: RcuSlot::new(), lowers: RcuLowers::Many(KVVec::new()), more: Versions::new(), promoted: Versions::new(), plink: None },
            visible: AtomicUsize::new(0),
            seq: Seq::new(),
            own: AtomicU64::new(0),
            root: false,
            lock: AtomicUsize::new(0),
            opens: AtomicUsize::new(0),
            pins: AtomicUsize::new(0),
            promoting: AtomicBool::new(false),
            watch: None,
            facts: crate::namei::DirFacts::new(),
        }
    }

    fn release(&self, d: &Destroying) {
        if let Some(w) = &self.watch {
            w.clear();
        }
        // Called once, from destroy_inode: nobody holds the inode any more,
        // so no borrow of the stack (`view`) is live; RCU-walk reads only
        // `rcu`, `visible`, `root`, `own` and `facts`, which stay.
        self.stack.release(Stack::Fixed { upper: SetOnce::new(), lowers: KVVec::new(), more: Versions::new(), promoted: Versions::new(), plink: None }, d);
    }
}

/// What a union inode is made of, at one moment (see [`InodeInfo::view`]).
pub(crate) enum View<'a> {
    /// Borrowed from an ordinary inode.
    Fixed { upper: Option<&'a Lower>, lowers: &'a [Lower], plink: Option<&'a Lower> },
    /// A snapshot of the root's members.
    Live(Arc<Members>),
}

impl View<'_> {
    /// The object in the writable branch, if any.
    pub(crate) fn upper(&self) -> Option<&Lower> {
        match self {
            View::Fixed { upper, .. } => *upper,
            View::Live(m) => m.upper.as_ref(),
        }
    }

    /// The lower members that count.
    pub(crate) fn lowers(&self) -> &[Lower] {
        match self {
            View::Fixed { lowers, .. } => lowers,
            View::Live(m) => &m.lowers,
        }
    }

    /// The members, top first: the upper (if any) then the lowers.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Lower> {
        Iterator::chain(self.upper().into_iter(), self.lowers().iter())
    }

    /// The member in the branch with id `id`, if the object has one there.
    pub(crate) fn member_in(&self, id: u32) -> Option<&Lower> {
        self.members().find(|l| l.branch.id == id)
    }

    /// Where attributes and data come from: the top-most member, or the
    /// pseudo-link of a hard-linked lower file whose other name was copied
    /// up (plink.rs).
    pub(crate) fn top(&self) -> Result<&Lower> {
        if let (None, Some(p)) = (self.upper(), self.plink()) {
            return Ok(p);
        }
        self.members().next().ok_or(EIO)
    }

    /// The pseudo-link the object reads from, if any.
    pub(crate) fn plink(&self) -> Option<&Lower> {
        match self {
            View::Fixed { plink, .. } => *plink,
            View::Live(_) => None,
        }
    }

    /// How many members there are.
    pub(crate) fn depth(&self) -> usize {
        self.upper().map_or(0, |_| 1) + self.lowers().len()
    }
}

impl InodeInfo {
    /// An inode made of its members, top first (never none for a real
    /// object).
    pub(crate) fn new(upper: Option<Lower>, lowers: KVVec<Lower>) -> Result<Self> {
        let rcu = RcuStack { upper: RcuSlot::new(), lowers: RcuLowers::of(&lowers)?, more: Versions::new(), promoted: Versions::new(), plink: None };
        let slot = SetOnce::new();
        if let Some(u) = upper {
            rcu.upper.set(u.rcu());
            slot.set(u)?;
        }
        let visible = AtomicUsize::new(lowers.len());
        let stack = Releasable::new(Stack::Fixed { upper: slot, lowers, more: Versions::new(), promoted: Versions::new(), plink: None });
        Ok(InodeInfo {
            stack,
            rcu,
            visible,
            seq: Seq::new(),
            own: AtomicU64::new(0),
            root: false,
            lock: AtomicUsize::new(0),
            opens: AtomicUsize::new(0),
            pins: AtomicUsize::new(0),
            promoting: AtomicBool::new(false),
            watch: None,
            facts: crate::namei::DirFacts::new(),
        })
    }

    /// The same inode data, with the watch of its members (before the
    /// inode is published).
    pub(crate) fn with_watch(mut self, watch: Option<Watch>) -> Self {
        self.watch = watch;
        self
    }

    /// The directory's watch (`udba=notify`; the root's is `sbi`'s).
    /// Readable in RCU-walk.
    pub(crate) fn watch<'a>(&'a self, sbi: &'a SbInfo) -> Option<&'a Watch> {
        if self.root {
            return sbi.root_watch();
        }
        self.watch.as_ref()
    }

    /// Records `change`, which rfs made in one of the directory's members
    /// (namei.rs `OwnChanges`).
    pub(crate) fn record_own(&self, change: crate::namei::OwnChange) {
        self.facts.record_own(self.view().depth(), change);
    }

    /// The same inode data, with the stamp of its own members (before the
    /// inode is published; 0: none kept).
    pub(crate) fn with_own_stamp(self, stamp: u64) -> Self {
        self.own.store(stamp, Ordering::Relaxed);
        self
    }

    /// The stamp of the directory's own members when they were last found
    /// right, or 0 when no opaque marker can change them.
    pub(crate) fn own_stamp(&self) -> u64 {
        self.own.load(Ordering::Relaxed)
    }

    /// Records that the members were found right at `stamp` (not 0).
    pub(crate) fn set_own_stamp(&self, stamp: u64) {
        self.own.store(stamp, Ordering::Relaxed);
    }

    /// The same inode data, reading from the pseudo-link `p` (before the
    /// inode is published).
    pub(crate) fn with_plink(mut self, p: Option<Lower>) -> Self {
        if let Stack::Fixed { plink, .. } = self.stack.get_mut() {
            self.rcu.plink = p.as_ref().map(Lower::rcu);
            *plink = p;
        }
        self
    }

    /// The root's data: its members come from `live`.
    pub(crate) fn new_root(live: Arc<LiveStack>) -> Self {
        InodeInfo { root: true, stack: Releasable::new(Stack::Live(live)), ..Self::empty() }
    }

    /// The members as they are now.
    pub(crate) fn view(&self) -> View<'_> {
        match self.stack.get() {
            Stack::Fixed { upper, lowers, more, promoted, plink } => self.seq.read(|| {
                let lowers = more.get().map_or(&lowers[..], |m| &m[..]);
                let n = self.visible.load(Ordering::Relaxed).min(lowers.len());
                let upper = promoted.get().or_else(|| upper.get());
                View::Fixed { upper, lowers: lowers.get(..n).unwrap_or(&[]), plink: plink.as_ref() }
            }),
            Stack::Live(live) => View::Live(live.get()),
        }
    }

    /// The members as RCU-walk sees them, top first: the upper (if any),
    /// then the lowers that count. `sbi` is the inode's superblock (the
    /// root's members live there).
    pub(crate) fn rcu_members<'w>(&'w self, sbi: &'w SbInfo, w: &'w RcuWalk) -> (Option<RcuMember>, &'w [RcuMember]) {
        if self.root {
            return (None, &sbi.root_stack().borrow(w).rcu);
        }
        self.seq.read(|| {
            let lowers = self.rcu.more.get().map_or(self.rcu.lowers.as_slice(), |m| &m[..]);
            let n = self.visible.load(Ordering::Relaxed).min(lowers.len());
            let upper = self.rcu.promoted.get().copied().or_else(|| self.rcu.upper.get());
            (upper, lowers.get(..n).unwrap_or(&[]))
        })
    }

    /// Where RCU-walk reads attributes from ([`View::top`]).
    pub(crate) fn rcu_top(&self, sbi: &SbInfo, w: &RcuWalk) -> Option<RcuMember> {
        let (upper, lowers) = self.rcu_members(sbi, w);
        upper.or(self.rcu.plink).or_else(|| lowers.first().copied())
    }

    /// Takes the inode's copy-up lock (killable: EINTR when the task is
    /// killed while it waits).
    ///
    /// A copy-up of the object holds it from its checks until the upper is
    /// recorded; unlink, rmdir and rename hold it (on the victim, and on the
    /// target of a rename) while they change the branch, so a removal never
    /// interleaves with a copy-up of the same object (overlayfs:
    /// ovl_copy_up_start and ovl_nlink_start take ovl_inode_lock).
    /// Order: VFS union inode locks -> copy-up locks (two at once only in
    /// rename, by address) -> the superblock's `copyup` mutex -> branch
    /// locks. Never held across a copy-up of another object.
    pub(crate) fn lock_copyup(&self) -> Result<CopyupLock<'_>> {
        bit_lock_killable(&self.lock)
    }

    /// Records the object in the writable branch (copy-up, creation).
    /// Returns false if another thread did first. The root's upper is the
    /// writable branch's root, never set this way.
    pub(crate) fn set_upper(&self, upper: Lower) -> Result<bool> {
        match self.stack.get() {
            Stack::Fixed { upper: slot, .. } => {
                let m = upper.rcu();
                let dir = upper.dentry.inode();
                // Watched before it is a member: no change in it unseen.
                if let (Some(w), Some(dir)) = (&self.watch, dir) {
                    w.add(dir);
                }
                let is_dir = upper.dentry.is_dir();
                let stored = slot.set(upper)?;
                if stored {
                    self.rcu.upper.set(m);
                    // A directory copied up over its lowers is merged now.
                    if is_dir && self.visible.load(Ordering::Acquire) > 0 {
                        self.own.store(OWN_STALE, Ordering::Relaxed);
                    }
                }
                Ok(stored)
            }
            Stack::Live(_) => Err(EROFS),
        }
    }

    /// Adds `member` to the lower members of a directory, at `pos` among
    /// all of them (the caller keeps branch order: copyup.rs `dir_in`).
    /// The caller holds the inode's copy-up lock (writers are serialised);
    /// readers see the old list or the new one. The root gains no members
    /// this way.
    pub(crate) fn insert_lower(&self, member: Lower, pos: usize) -> Result {
        let Stack::Fixed { lowers, more, .. } = self.stack.get() else { return Err(EROFS) };
        let old = more.get().map_or(&lowers[..], |m| &m[..]);
        let pos = pos.min(old.len());
        let mut list = KVVec::with_capacity(old.len() + 1, GFP_KERNEL)?;
        let mut rcu = KVVec::with_capacity(old.len() + 1, GFP_KERNEL)?;
        for (i, l) in old.iter().enumerate() {
            if i == pos {
                rcu.push(member.rcu(), GFP_KERNEL)?;
                list.push(member.clone(), GFP_KERNEL)?;
            }
            rcu.push(l.rcu(), GFP_KERNEL)?;
            list.push(l.clone(), GFP_KERNEL)?;
        }
        if pos == old.len() {
            rcu.push(member.rcu(), GFP_KERNEL)?;
            list.push(member.clone(), GFP_KERNEL)?;
        }
        if let (Some(w), Some(dir)) = (&self.watch, member.dentry.inode()) {
            w.add(dir);
        }
        // `visible` is all of the lowers or none (opaque).
        let visible = match self.visible.load(Ordering::Relaxed) {
            n if n == old.len() => n + 1,
            n => n,
        };
        let (list, rcu) = (more.prepare(list)?, self.rcu.more.prepare(rcu)?);
        self.seq.write(|| {
            // The counted list first: the RCU copy must never name a dentry
            // that no counted list holds.
            more.publish(list);
            self.rcu.more.publish(rcu);
            self.visible.store(visible, Ordering::Relaxed);
        });
        self.own.store(OWN_STALE, Ordering::Relaxed);
        Ok(())
    }

    /// Makes `new`, a copy of this directory in a writable branch above its
    /// upper, the directory's upper (copyup.rs `copy_up_one`); the old upper
    /// becomes its first lower member, over the lowers that counted (a
    /// directory that was opaque stays cut at its old upper, whose marker
    /// lookup honors). Readers see the old members or the new ones, never a
    /// mix ([`Seq`]). The caller holds the copy-up lock; the old upper and
    /// the rest stay referenced until the inode is destroyed.
    pub(crate) fn promote_dir(&self, new: Lower) -> Result {
        let Stack::Fixed { upper, lowers, more, promoted, .. } = self.stack.get() else { return Err(EROFS) };
        let old_upper = promoted.get().or_else(|| upper.get()).ok_or(EIO)?;
        let old = more.get().map_or(&lowers[..], |m| &m[..]);
        let n = self.visible.load(Ordering::Relaxed).min(old.len());
        let counted = old.get(..n).unwrap_or(&[]);
        let mut list = KVVec::with_capacity(n + 1, GFP_KERNEL)?;
        let mut rcu = KVVec::with_capacity(n + 1, GFP_KERNEL)?;
        for l in Iterator::chain(core::iter::once(old_upper), counted) {
            rcu.push(l.rcu(), GFP_KERNEL)?;
            list.push(l.clone(), GFP_KERNEL)?;
        }
        // Watched before it is a member: no change in it unseen.
        if let (Some(w), Some(dir)) = (&self.watch, new.dentry.inode()) {
            w.add(dir);
        }
        let m = new.rcu();
        let (list, rcu) = (more.prepare(list)?, self.rcu.more.prepare(rcu)?);
        let (new, m) = (promoted.prepare(new)?, self.rcu.promoted.prepare(m)?);
        self.seq.write(|| {
            more.publish(list);
            self.rcu.more.publish(rcu);
            promoted.publish(new);
            self.rcu.promoted.publish(m);
            self.visible.store(n + 1, Ordering::Relaxed);
        });
        // Merged over a new member now: its markers must be looked at again.
        self.own.store(OWN_STALE, Ordering::Relaxed);
        Ok(())
    }

    /// A union file of this inode is being opened (file.rs `open`): counted
    /// before the caller looks at the members, and, while a promotion runs,
    /// only once it is over (its copy-up lock). Undone by [`Self::unpin`].
    pub(crate) fn pin(&self) -> Result {
        self.pins.fetch_add(1, Ordering::SeqCst);
        if self.promoting.load(Ordering::SeqCst) {
            if let Err(e) = self.lock_copyup() {
                self.unpin();
                return Err(e);
            }
        }
        Ok(())
    }

    /// The union file counted by [`Self::pin`] was closed, or its open failed.
    pub(crate) fn unpin(&self) {
        self.pins.fetch_sub(1, Ordering::SeqCst);
    }

    /// Replaces the upper of a non-directory with `new`, a copy of it in a
    /// higher writable branch (copyup.rs `promote`). The old upper is no
    /// member any more (the copy hides it; a lower list naming it would
    /// make the union depend on a hidden file), but stays referenced until
    /// the inode is destroyed, so borrowed views stay valid. The caller
    /// holds the copy-up lock and has made sure no union file is open on
    /// the inode, with [`Self::start_promotion`].
    pub(crate) fn promote(&self, new: Lower) -> Result {
        let Stack::Fixed { promoted, .. } = self.stack.get() else { return Err(EROFS) };
        let m = new.rcu();
        promoted.push(new)?;
        self.rcu.promoted.push(m)?;
        Ok(())
    }

    /// Marks a promotion as under way: true when no union file of the
    /// inode is open or being opened, else the promotion cannot happen
    /// (end it with [`Self::end_promotion`] either way). With `pin`, one
    /// of the two sides sees the other (sequentially consistent).
    pub(crate) fn start_promotion(&self) -> bool {
        self.promoting.store(true, Ordering::SeqCst);
        self.pins.load(Ordering::SeqCst) == 0
    }

    /// Ends what [`Self::start_promotion`] started.
    pub(crate) fn end_promotion(&self) {
        self.promoting.store(false, Ordering::SeqCst);
    }

    /// Hides every lower member (the directory became opaque). The root is
    /// never made opaque this way.
    pub(crate) fn make_opaque(&self) {
        if !self.root {
            self.seq.write(|| self.visible.store(0, Ordering::Relaxed));
            // Cut by its marker now: removing it directly must show.
            self.own.store(OWN_STALE, Ordering::Relaxed);
        }
    }
}

/// A sequence count over the members of an ordinary union inode: writers
/// (who hold the inode's copy-up lock, so one at a time) change the upper,
/// the lower list and the visible count inside [`Seq::write`]; readers
/// ([`InodeInfo::view`], and RCU-walk's [`InodeInfo::rcu_members`]) read
/// them inside [`Seq::read`], which retries until no write overlapped. A
/// write section only stores (what it publishes is allocated before) with
/// preemption off, so a reader waits a few stores at most.
struct Seq(AtomicUsize);

impl Seq {
    const fn new() -> Self {
        Seq(AtomicUsize::new(0))
    }

    /// Runs `f` until it ran with no write section overlapping it.
    fn read<R>(&self, mut f: impl FnMut() -> R) -> R {
        loop {
            let s = self.0.load(Ordering::Acquire);
            if s & 1 == 0 {
                let r = f();
                core::sync::atomic::fence(Ordering::Acquire);
                if self.0.load(Ordering::Relaxed) == s {
                    return r;
                }
            }
            core::hint::spin_loop();
        }
    }

    /// Runs `f` (stores only) as one write section. Writers are serialised
    /// by their callers; should two ever meet, the second waits here
    /// rather than leave the count odd (readers would spin forever).
    fn write<R>(&self, f: impl FnOnce() -> R) -> R {
        // Not preempted inside: readers (RCU-walk too) spin while it runs.
        let _np = crate::vfs::task::NoPreempt::new();
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            if s & 1 == 0 {
                match self.0.compare_exchange_weak(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            } else {
                core::hint::spin_loop();
                s = self.0.load(Ordering::Relaxed);
            }
        }
        core::sync::atomic::fence(Ordering::Release);
        let r = f();
        self.0.store(s.wrapping_add(2), Ordering::Release);
        r
    }
}

/// getattr: the top lower object's attributes, with the union's device and
/// inode number. A merged directory reports one link, since its real count
/// is not known without reading every branch (as OverlayFS does).
pub(crate) fn getattr(
    sb: SuperBlock<'_>,
    ui: &UnionInode,
    stat: &mut sys::kstat,
    request_mask: u32,
    flags: u32,
) -> Result {
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    {
        let _creds = sb.info().cred.override_creds();
        crate::vfs::path::getattr(&top.path(), stat, request_mask, flags)?;
    }
    stat.dev = sb.dev();
    stat.ino = ui.vfs().ino();
    if ui.vfs().is_dir() && ui_view.depth() > 1 {
        stat.nlink = 1;
    }
    Ok(())
}

/// The access mask asked of the top member `top` for `mask` asked of the
/// union: all of it when `top` is the upper (the object that will be
/// written, so its own immutable flag and ACLs count) or a special file
/// (which is used in place), without write access for a lower file or
/// directory (writes go to a copy), as overlayfs's ovl_permission does.
fn member_mask(mask: i32, is_upper: bool, top: crate::vfs::inode::InodeRef<'_>) -> i32 {
    let special = !matches!(top.mode() & mode::S_IFMT, mode::S_IFREG | mode::S_IFDIR | mode::S_IFLNK);
    if is_upper || special {
        mask
    } else {
        mask & !((sys::MAY_WRITE | sys::MAY_APPEND) as i32)
    }
}

/// permission: the caller must pass the checks of the union inode and of the
/// top member's inode (so branch ACLs and the like are honored); see
/// [`member_mask`] for the access asked of the member. Unlike overlayfs,
/// the member is checked with the caller's credentials, not the mounter's
/// (as AUFS does): a union never grants more than its branches would.
pub(crate) fn permission(ui: &UnionInode, mask: i32) -> Result {
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    let lower = top.dentry.inode().ok_or(ENOENT)?;
    // The union inode mirrors the top member, also after a change made
    // directly in its branch (chmod, chown).
    ui.refresh_attr(lower);
    crate::vfs::inode::generic_permission(ui.vfs(), mask)?;
    let is_upper = ui_view.upper().is_some_and(|u| u.dentry.same(&top.dentry));
    crate::vfs::inode::inode_permission(top.branch.root.mnt(), lower, member_mask(mask, is_upper, lower))
}

/// permission in RCU-walk (`mask` has MAY_NOT_BLOCK): the checks of
/// [`permission`] on what RCU-walk may read (vfs/rcu.rs). ECHILD when the
/// top member is gone: ref-walk then decides.
pub(crate) fn permission_rcu(sbi: &SbInfo, ui: &UnionInode, mask: i32, w: &RcuWalk) -> Result {
    let (upper, _) = ui.data().rcu_members(sbi, w);
    let top = ui.data().rcu_top(sbi, w).ok_or(ECHILD)?;
    let lower = top.inode(w).ok_or(ECHILD)?;
    ui.refresh_attr(lower);
    crate::vfs::inode::generic_permission(ui.vfs(), mask)?;
    let is_upper = upper.is_some_and(|u| u == top);
    crate::vfs::inode::inode_permission(top.mnt(), lower, member_mask(mask, is_upper, lower))
}

/// get_inode_acl in RCU-walk: the top member's cached ACL (no reference:
/// the caller reads it under RCU), or ECHILD.
pub(crate) fn inode_acl_rcu(sbi: &SbInfo, ui: &UnionInode, kind: i32, w: &RcuWalk) -> acl::CachedAcl {
    match ui.data().rcu_top(sbi, w).and_then(|t| t.inode(w)) {
        Some(lower) => acl::get_cached_acl_rcu(lower, kind),
        None => acl::CachedAcl::echild(),
    }
}

/// Makes the union inode mirror its top member now: before the VFS checks
/// a change against the union inode's owner and mode (setattr_prepare), a
/// change made directly in the branch (chown, chmod, chattr) must count.
pub(crate) fn refresh(ui: &UnionInode) {
    if let Ok(top) = ui.data().view().top() {
        if let Some(i) = top.dentry.inode() {
            ui.refresh_attr(i);
        }
    }
}

/// [`refresh`], then the owner check of setfacl and chattr once more: the
/// VFS made it on the union inode as it was (no permission() refreshed it
/// first), and a chown made directly in the branch since must count (`D5`
/// in the parity audit). EPERM if the caller no longer owns the object.
fn refresh_owned(ui: &UnionInode) -> Result {
    refresh(ui);
    if ui.vfs().owner_or_capable() {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// The lower dentry a symlink's target is read from.
pub(crate) fn link_source(ui: &UnionInode) -> Result<Dentry> {
    Ok(ui.data().view().top()?.dentry.clone())
}

/// setattr (chmod, chown, utimes, truncate): copies the object up, with its
/// data also for a truncation to zero (the change below may still fail, and
/// the union must then show the file as it was, as ovl_setattr), and changes
/// the upper. The caller's right to make the change was checked on the union
/// inode (setattr_prepare).
pub(crate) fn setattr(sb: SuperBlock<'_>, d: Dentry, attr: Attr) -> Result {
    copy_up(sb, &d)?;
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    let _stay = upper_stays(ui)?;
    let ui_view = ui.data().view();
    let upper = ui_view.upper().ok_or(EIO)?;
    let sbi = sb.info();
    {
        let _creds = sbi.cred.override_creds();
        let _w = WriteAccess::get(upper.branch.root.mnt(), &upper.branch.root)?;
        // A size change needs write access to the upper inode: ETXTBSY while
        // a program runs from it (directly in the branch, say), as
        // overlayfs's ovl_setattr checks.
        let _wa = match attr.size() {
            Some(_) => Some(crate::vfs::lower::InodeWriteAccess::get(&upper.dentry)?),
            None => None,
        };
        attr.apply(upper.branch.root.mnt(), &upper.dentry)?;
    }
    if let Some(i) = upper.dentry.inode() {
        ui.refresh_attr(i);
    }
    Ok(())
}

/// Keeps the upper of `ui` from changing while an attribute change is made
/// to it: a directory's copy-up lock, for a directory moves up (copyup.rs
/// `copy_up_one`, `InodeInfo::promote_dir`) under that lock alone (a change
/// in a subdirectory does it, holding only the subdirectory's i_rwsem); a
/// change made to the old upper while the copy is built would be lost.
/// A file is promoted only under its union i_rwsem, which the attribute
/// changes hold.
fn upper_stays(ui: &UnionInode) -> Result<Option<CopyupLock<'_>>> {
    if !ui.vfs().is_dir() {
        return Ok(None);
    }
    ui.data().lock_copyup().map(Some)
}

/// setxattr/removexattr (`value` None): copies the object up and changes the
/// upper. `name` is the full, NUL-terminated name.
pub(crate) fn set_xattr(sb: SuperBlock<'_>, d: Dentry, name: &[u8], value: Option<&[u8]>, flags: i32) -> Result {
    if value.is_none() {
        // Removing what is not there fails without a copy-up.
        let ui = union_inode_of(&d).ok_or(ENOENT)?;
        let ui_view = ui.data().view();
        let top = ui_view.top()?;
        let _creds = sb.info().cred.override_creds();
        xattr::get(top.branch.root.mnt(), &top.dentry, name)?;
    }
    copy_up(sb, &d)?;
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    let _stay = upper_stays(ui)?;
    let ui_view = ui.data().view();
    let upper = ui_view.upper().ok_or(EIO)?;
    let sbi = sb.info();
    {
        let _creds = sbi.cred.override_creds();
        let mnt = upper.branch.root.mnt();
        let _w = WriteAccess::get(mnt, &upper.branch.root)?;
        match value {
            Some(v) => xattr::set(mnt, &upper.dentry, name, v, flags)?,
            None => xattr::remove(mnt, &upper.dentry, name)?,
        }
    }
    if let Some(i) = upper.dentry.inode() {
        ui.refresh_attr(i);
    }
    Ok(())
}

/// fileattr_set (chattr): copies the object up and sets its inode flags
/// there with the mounter's credentials (overlayfs: ovl_fileattr_set); the
/// union inode then mirrors them.
pub(crate) fn set_fileattr(sb: SuperBlock<'_>, d: Dentry, fa: &mut FileAttr<'_>) -> Result {
    refresh_owned(union_inode_of(&d).ok_or(ENOENT)?)?;
    change_upper(sb, &d, |mnt, upper| fa.set_real(mnt, upper))
}

/// Copies the object of `d` up, then makes `change` to its upper (on branch
/// mount `mnt`) with the mounter's credentials and write access to the
/// branch; the union inode then mirrors the upper.
fn change_upper(sb: SuperBlock<'_>, d: &Dentry, change: impl FnOnce(Mount<'_>, &Dentry) -> Result) -> Result {
    copy_up(sb, d)?;
    let ui = union_inode_of(d).ok_or(ENOENT)?;
    let _stay = upper_stays(ui)?;
    let ui_view = ui.data().view();
    let upper = ui_view.upper().ok_or(EIO)?;
    {
        let _creds = sb.info().cred.override_creds();
        let mnt = upper.branch.root.mnt();
        let _w = WriteAccess::get(mnt, &upper.branch.root)?;
        change(mnt, &upper.dentry)?;
    }
    if let Some(i) = upper.dentry.inode() {
        ui.refresh_attr(i);
    }
    Ok(())
}

/// The ACL `kind` of the top member (get_acl: getxattr of
/// `system.posix_acl_*` and the like).
pub(crate) fn get_acl(sb: SuperBlock<'_>, ui: &UnionInode, kind: i32) -> Result<Option<acl::Acl>> {
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    let _creds = sb.info().cred.override_creds();
    match acl::get(top.branch.root.mnt(), &top.dentry, kind) {
        Err(e) if e == crate::vfs::code::eopnotsupp() => Ok(None),
        r => r,
    }
}

/// set_acl: copies the object up and sets (`None`: removes) its ACL `kind`.
pub(crate) fn set_acl(sb: SuperBlock<'_>, d: Dentry, kind: i32, a: Option<acl::AclRef<'_>>) -> Result {
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    refresh_owned(ui)?;
    if a.is_none() {
        // Removing an ACL that is not there fails without a copy-up.
        let ui_view = ui.data().view();
        let top = ui_view.top()?;
        let _creds = sb.info().cred.override_creds();
        if acl::get(top.branch.root.mnt(), &top.dentry, kind)?.is_none() {
            return Err(crate::vfs::code::enodata());
        }
    }
    // The branch sets the ACL with the mounter's capabilities, which keep
    // the setgid bit that the VFS would clear for a caller outside the
    // file's group: clear it first, as that caller (overlayfs:
    // ovl_set_or_remove_acl).
    if kind == acl::ACL_TYPE_ACCESS && ui.vfs().acl_kills_sgid() {
        setattr(sb, d.clone(), Attr::new().kill_sgid())?;
    }
    change_upper(sb, &d, |mnt, upper| acl::set(mnt, upper, kind, a))?;
    Ok(())
}

/// listxattr: the top member's names, read with the mounter's credentials,
/// without the `trusted.` names the caller may not see (the branch would
/// have hidden them from the caller, but not from the mounter).
pub(crate) fn list_xattr(sb: SuperBlock<'_>, ui: &UnionInode) -> Result<KVec<u8>> {
    let show_trusted = crate::vfs::task::capable_sys_admin();
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    let all = {
        let _creds = sb.info().cred.override_creds();
        xattr::list(&top.dentry)?
    };
    if show_trusted {
        return Ok(all);
    }
    let mut out = KVec::with_capacity(all.len(), GFP_KERNEL)?;
    for name in all.split_inclusive(|&c| c == 0) {
        if !name.starts_with(b"trusted.") {
            out.extend_from_slice(name, GFP_KERNEL)?;
        }
    }
    Ok(out)
}
