//! RCU-walk: what a lock-free path walk may read of a union inode.
//!
//! In RCU-walk the VFS holds no reference on the dentries and inodes it
//! passes through; it holds `rcu_read_lock()` and checks sequence counts
//! afterwards. An operation called in that mode (d_revalidate with
//! LOOKUP_RCU, permission with MAY_NOT_BLOCK, get_inode_acl with `rcu`) may
//! read any object that is freed only after an RCU grace period, even one
//! that is being torn down at that moment: what it reads is then stale, and
//! the walk's own checks throw the result away. It must not sleep, take a
//! reference it cannot give back without sleeping, or follow a pointer into
//! memory that is freed at once.
//!
//! Dentries, inodes and mounts are all freed after a grace period. So rfs
//! keeps, beside each union inode's counted stack, a copy of the stack as
//! plain pointers ([`RcuMember`]) that is freed with the union inode's own
//! memory (`free_inode`, an RCU callback), never before; for the root, whose
//! members a remount replaces, the old copy is freed only after
//! `synchronize_rcu()` ([`RcuPtr`]). Code reading these needs an [`RcuWalk`],
//! the proof that it runs inside an RCU read-side section.

use super::path::Mount;
use super::dentry::Dentry;
use super::inode::InodeRef;
use super::sys;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::sync::Arc;

/// Proof that the holder runs inside an RCU read-side critical section, for
/// as long as it lives: objects freed only after a grace period stay
/// allocated while it is borrowed.
pub(crate) struct RcuWalk {
    // Neither Send nor Sync: the read-side section belongs to this CPU/task.
    _not_send: PhantomData<*mut ()>,
}

impl RcuWalk {
    /// The proof for an operation the VFS calls in RCU-walk mode.
    ///
    /// # Safety
    /// The caller must be inside an RCU read-side section for as long as the
    /// value (and anything borrowed through it) lives: the VFS guarantees it
    /// for d_revalidate with LOOKUP_RCU, permission with MAY_NOT_BLOCK and
    /// get_inode_acl with `rcu` set.
    pub(crate) unsafe fn assume() -> Self {
        RcuWalk { _not_send: PhantomData }
    }
}

/// An RCU read-side section entered by rfs itself (rcu_read_lock); left on
/// drop. Borrow it as an [`RcuWalk`] with [`RcuReadGuard::walk`].
pub(crate) struct RcuReadGuard {
    walk: RcuWalk,
}

impl RcuReadGuard {
    /// rcu_read_lock().
    pub(crate) fn new() -> Self {
        // SAFETY: enters a read-side section; left in `drop`, on this task
        // (the guard is neither Send nor Sync).
        unsafe { sys::rfs_rcu_read_lock() };
        RcuReadGuard { walk: RcuWalk { _not_send: PhantomData } }
    }

    /// The proof that we are inside the section.
    pub(crate) fn walk(&self) -> &RcuWalk {
        &self.walk
    }
}

impl Drop for RcuReadGuard {
    fn drop(&mut self) {
        // SAFETY: pairs with the rcu_read_lock() in `new`.
        unsafe { sys::rfs_rcu_read_unlock() };
    }
}

/// Waits until every RCU read-side section that may have seen an old
/// pointer has ended (may sleep).
pub(crate) fn synchronize() {
    // SAFETY: called from process context without locks held (callers'
    // contract: remount, under s_umount only).
    unsafe { sys::synchronize_rcu() };
}

/// One member of a union stack as RCU-walk sees it: a lower dentry and the
/// branch mount, as plain pointers. Whoever builds it holds counted
/// references on both (the inode's stack) until at least the moment the
/// copy itself may be freed, which is never before a grace period has
/// passed after that stack dropped them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RcuMember {
    dentry: *mut sys::dentry,
    mnt: core::ptr::NonNull<sys::vfsmount>,
}

// SAFETY: plain pointers to objects that are freed only after an RCU grace
// period; they are dereferenced only under an `RcuWalk`.
unsafe impl Send for RcuMember {}
// SAFETY: see above.
unsafe impl Sync for RcuMember {}

impl RcuMember {
    /// The copy of a member: `dentry` in the branch mounted at `mnt`.
    pub(crate) fn new(mnt: Mount<'_>, dentry: &Dentry) -> Self {
        RcuMember { dentry: dentry.as_ptr(), mnt: mnt.as_nonnull() }
    }

    /// The branch mount.
    pub(crate) fn mnt(&self) -> Mount<'_> {
        // SAFETY: the mount of a branch, which the union holds while its
        // inodes (and their member copies) exist; under RCU-walk it stays
        // allocated for the read-side section.
        unsafe { Mount::from_nonnull(self.mnt) }
    }

    /// The member's inode now (NULL for a member that became negative).
    pub(crate) fn inode<'w>(&self, _w: &'w RcuWalk) -> Option<InodeRef<'w>> {
        // SAFETY: the dentry is freed only after a grace period (see the
        // type), and `_w` proves we are inside a read-side section; the inode
        // it points to is freed after a grace period too (i_callback), so it
        // stays allocated while `_w` is borrowed. READ_ONCE in the helper.
        unsafe { InodeRef::from_raw(sys::rfs_d_inode_rcu(self.dentry)) }
    }

    /// Whether the member is still hashed and positive (a member removed
    /// directly from its branch is not).
    pub(crate) fn is_live(&self, w: &RcuWalk) -> bool {
        // SAFETY: as in `inode`; d_unhashed reads one field.
        self.inode(w).is_some() && !unsafe { sys::rfs_d_unhashed(self.dentry) }
    }
}

/// A member slot set at most once (the upper of a union inode, set at
/// copy-up or creation), readable by RCU-walk.
pub(crate) struct RcuSlot {
    dentry: AtomicPtr<sys::dentry>,
    mnt: AtomicPtr<sys::vfsmount>,
}

impl RcuSlot {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        RcuSlot { dentry: AtomicPtr::new(core::ptr::null_mut()), mnt: AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// Fills the slot (once; the caller serialises, see `SetOnce`).
    pub(crate) fn set(&self, m: RcuMember) {
        self.mnt.store(m.mnt.as_ptr(), Ordering::Relaxed);
        // Release: a reader that sees the dentry sees the mount too.
        self.dentry.store(m.dentry, Ordering::Release);
    }

    /// The member, once set.
    pub(crate) fn get(&self) -> Option<RcuMember> {
        let dentry = self.dentry.load(Ordering::Acquire);
        if dentry.is_null() {
            return None;
        }
        // The mount was stored before the dentry (see `set`).
        let mnt = core::ptr::NonNull::new(self.mnt.load(Ordering::Relaxed))?;
        Some(RcuMember { dentry, mnt })
    }
}

/// An `Arc<T>` that is replaced as a whole and read both by counted readers
/// ([`RcuPtr::get`]) and by RCU-walk ([`RcuPtr::borrow`]).
///
/// Writers are serialised by the owner (remount holds s_umount). An old
/// value is dropped only after `synchronize_rcu()`, so a pointer an
/// RCU-walker loaded stays valid for its whole read-side section, and a
/// counted reader can always take its reference from a value whose count is
/// not zero.
pub(crate) struct RcuPtr<T> {
    /// From `Arc::into_raw`; owns one reference.
    ptr: AtomicPtr<T>,
}

// SAFETY: it hands out `&T` and `Arc<T>` to any thread.
unsafe impl<T: Send + Sync> Send for RcuPtr<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for RcuPtr<T> {}

impl<T> RcuPtr<T> {
    /// A pointer holding `v`.
    pub(crate) fn new(v: Arc<T>) -> Self {
        RcuPtr { ptr: AtomicPtr::new(Arc::into_raw(v).cast_mut()) }
    }

    /// A counted reference to the current value.
    pub(crate) fn get(&self) -> Arc<T> {
        let g = RcuReadGuard::new();
        let v = self.borrow(g.walk());
        // SAFETY: `v` came from `Arc::into_raw` and holds a reference that
        // `replace` drops only after a grace period, which cannot end while
        // `g` is held; so the count is not zero and may be raised.
        let b = unsafe { kernel::sync::ArcBorrow::from_raw(v) };
        Arc::from(b)
    }

    /// The current value, for the length of a read-side section.
    pub(crate) fn borrow<'w>(&self, _w: &'w RcuWalk) -> &'w T {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: non-NULL (set in `new`/`replace`), from `Arc::into_raw`;
        // `replace` drops it only after a grace period, which cannot end
        // while `_w` is borrowed.
        unsafe { &*p }
    }

    /// Publishes `v`. The old value comes back as a [`Retired`], which
    /// drops it once every reader that may have seen it is done.
    pub(crate) fn replace(&self, v: Arc<T>) -> Retired<T> {
        let old = self.ptr.swap(Arc::into_raw(v).cast_mut(), Ordering::AcqRel);
        Retired { ptr: old }
    }
}

/// A value an [`RcuPtr`] no longer publishes. Dropping it waits for an RCU
/// grace period (sleeps: `synchronize_rcu()`), then drops the value; so
/// drop it in process context, without locks, after whatever else must be
/// published together with the new value.
pub(crate) struct Retired<T> {
    /// From `Arc::into_raw`; owns one reference.
    ptr: *mut T,
}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        synchronize();
        // SAFETY: `ptr` came from `Arc::into_raw` and owned one reference,
        // which is ours; after the grace period no RCU reader still uses it.
        drop(unsafe { Arc::from_raw(self.ptr) });
    }
}

impl<T> Drop for RcuPtr<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        // SAFETY: the reference owned since `new`/`replace`. The owner drops
        // the pointer only when no RCU-walk can reach it (the root inode is
        // being destroyed: the mount is gone, after a grace period).
        drop(unsafe { Arc::from_raw(p) });
    }
}
