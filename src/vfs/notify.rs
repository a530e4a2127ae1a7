//! `udba=notify`: changes made directly in a branch are noticed through
//! fsnotify instead of being looked for at every walk.
//!
//! With `udba=reval` a cached name is checked at each walk against a stamp
//! of its parent's branch directories (their change counters: one load per
//! member of the parent, namei.rs). With `udba=notify` every union
//! directory that is cached has a *watch*: a counter, and one fsnotify mark
//! on each of its branch directories (members) that adds one to it whenever
//! an entry of that directory is created, removed or renamed, or the
//! directory's own attributes change (an opaque marker, a mode, an xattr).
//! A name's stamp then covers the one counter of its parent's watch, so the
//! hot path reads a single number whatever the depth of the stack; a change
//! made in a branch, by rfs or by anybody, makes the names below the
//! directory resolve again at their next walk, as with reval.
//!
//! Lifetimes (include/rfs_helpers.c holds the C side; namei.rs the stamps):
//! - a watch is counted: the union inode holds one reference, each of its
//!   marks one. fsnotify frees a mark after a grace period of its own, so
//!   a callback still running after the inode went finds the counter alive;
//! - the union inode takes its marks away when it is destroyed
//!   (`destroy_inode`, which may sleep) and the root's when a remount
//!   changes its members; the mount's group goes in `kill_sb`, after every
//!   inode, once fsnotify has freed every mark (and dropped the branch
//!   inodes they held);
//! - a mark that cannot be added (no memory, or a branch filesystem that
//!   revalidates its own dentries, as NFS or FUSE: its contents change
//!   without local events) leaves the watch *broken*: that directory is
//!   then checked as with reval, never trusted;
//! - the stamp also covers how many members the directory has: a member
//!   added (copy-up) or hidden (made opaque) changes the stamp even when
//!   the events of the branch operation were counted before the union
//!   inode showed the change.
//!
//! Events on a directory arrive under its own lock, in the middle of the
//! branch filesystem's operation: the callback only counts.

use super::inode::InodeRef;
use super::{from_err_ptr, sys};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{code::*, Result};

/// A mount's fsnotify group (`udba=notify` only).
pub(crate) struct Group(NonNull<sys::fsnotify_group>);

// SAFETY: the group is used through fsnotify's own locking.
unsafe impl Send for Group {}
// SAFETY: as above.
unsafe impl Sync for Group {}

impl Group {
    /// A new group.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: no preconditions; an ERR_PTR on failure.
        let g = unsafe { sys::rfs_notify_group_new() };
        let g = from_err_ptr(g)?;
        NonNull::new(g).map(Group).ok_or(ENOMEM)
    }
}

impl Drop for Group {
    /// The group goes with the superblock's data, after every union inode
    /// (each took its marks away) and the root's watch were cleared: waits
    /// for fsnotify to free the marks.
    fn drop(&mut self) {
        // SAFETY: our reference, dropped once.
        unsafe { sys::rfs_notify_group_end(self.0.as_ptr()) };
    }
}

/// The watch of one union directory: a counter of the changes in its branch
/// directories, and the marks that count them (see the module docs).
pub(crate) struct Watch {
    w: NonNull<sys::rfs_watch>,
    /// The mount's group: it outlives every watch (the superblock's data
    /// holds it; union inodes go before).
    group: NonNull<sys::fsnotify_group>,
    /// A mark could not be added: the counter does not see every change.
    broken: AtomicBool,
}

// SAFETY: the counter is atomic and the marks' list has its own lock.
unsafe impl Send for Watch {}
// SAFETY: as above.
unsafe impl Sync for Watch {}

impl Watch {
    /// A new watch with no marks, in `group`.
    pub(crate) fn new(group: &Group) -> Result<Self> {
        // SAFETY: no preconditions; NULL without memory.
        let w = NonNull::new(unsafe { sys::rfs_watch_new() }).ok_or(ENOMEM)?;
        Ok(Watch { w, group: group.0, broken: AtomicBool::new(false) })
    }

    /// The changes counted so far, or `None` when the watch cannot be
    /// trusted (a mark is missing). Readable in RCU-walk.
    pub(crate) fn events(&self) -> Option<u64> {
        if self.broken.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `w` is live while we hold our reference.
        Some(unsafe { sys::rfs_watch_events(self.w.as_ptr()) })
    }

    /// Counts a change rfs itself knows of (a mark added).
    fn bump(&self) {
        // SAFETY: as above.
        unsafe { sys::rfs_watch_bump(self.w.as_ptr()) };
    }

    /// Watches the branch directory `dir` too, then counts one change (so
    /// what changed in it before the mark was there is looked at again).
    /// On failure the watch is broken (trusted again only after `clear`).
    pub(crate) fn add(&self, dir: InodeRef<'_>) {
        // SAFETY: the group and `w` are live; `dir` is a live directory
        // inode (the member's dentry holds it); fsnotify takes its own
        // reference.
        let r = unsafe { sys::rfs_watch_add(self.group.as_ptr(), self.w.as_ptr(), dir.as_ptr()) };
        if r != 0 {
            self.broken.store(true, Ordering::Release);
        }
        self.bump();
    }

    /// Takes every mark away (they are freed after a grace period), and
    /// trusts the watch again (the root's is marked anew). May sleep.
    pub(crate) fn clear(&self) {
        // SAFETY: `w` is live; fsnotify's locks are sleeping ones.
        unsafe { sys::rfs_watch_clear(self.w.as_ptr()) };
        self.broken.store(false, Ordering::Release);
    }
}

impl Drop for Watch {
    /// In `free_inode` (an RCU callback: no sleeping), after `clear` took
    /// the marks away in `destroy_inode` (the C side warns otherwise).
    fn drop(&mut self) {
        // SAFETY: our reference, dropped once.
        unsafe { sys::rfs_watch_release(self.w.as_ptr()) };
    }
}
