//! A value that is set at most once and then read without locks.

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::Result;
use kernel::prelude::*;

/// A slot written at most once (under the owner's lock of choice) and read
/// lock-free afterwards; the value lives until the slot is dropped or
/// emptied with [`SetOnce::take`] (which needs `&mut`, so no reader is left).
///
/// rfs keeps the writable-branch dentry of a union inode here: it appears
/// once, at copy-up or creation, and never changes while the inode lives,
/// so readers hold a plain `&T` for as long as they borrow the inode.
pub(crate) struct SetOnce<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: the slot hands out `&T` to any thread and moves `T` in and out, so
// it is Send/Sync exactly when `T` is.
unsafe impl<T: Send + Sync> Sync for SetOnce<T> {}
// SAFETY: see above.
unsafe impl<T: Send> Send for SetOnce<T> {}

impl<T> SetOnce<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        SetOnce { ptr: AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// The value, once set.
    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-NULL pointer came from `KBox::into_raw` in `set` and
        // is freed only through `&mut self` (take/drop), so it outlives this
        // shared borrow; the Acquire load pairs with the Release in `set`,
        // so the value's initialisation is visible.
        unsafe { p.as_ref() }
    }

    /// Stores `v` if the slot is empty. Returns whether it was stored (when
    /// another thread won the race, `v` is dropped).
    pub(crate) fn set(&self, v: T) -> Result<bool> {
        let b = KBox::new(v, GFP_KERNEL)?;
        let p = KBox::into_raw(b);
        match self.ptr.compare_exchange(core::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(true),
            Err(_) => {
                // SAFETY: `p` is ours: it was never published.
                drop(unsafe { KBox::from_raw(p) });
                Ok(false)
            }
        }
    }

    /// Empties the slot, returning the value.
    pub(crate) fn take(&mut self) -> Option<T> {
        let p = core::mem::replace(self.ptr.get_mut(), core::ptr::null_mut());
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `KBox::into_raw` in `set`; `&mut self` means
        // no reader holds a reference into it.
        Some(KBox::into_inner(unsafe { KBox::from_raw(p) }))
    }
}

impl<T> Drop for SetOnce<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// A value that may be replaced by newer versions, read without locks: every
/// version stays allocated until the owner is dropped (or emptied through
/// `&mut`), so a reader's `&T` stays valid for as long as it borrows the
/// owner, whatever replaced it since. Writers are serialised by the owner.
///
/// rfs keeps here the lower members a union directory gained after it was
/// looked up (a directory made in a writable branch below its top, for a
/// change further down): rare, so the few old versions cost little.
pub(crate) struct Versions<T> {
    cur: AtomicPtr<Version<T>>,
}

/// A version allocated by [`Versions::prepare`], not published yet.
pub(crate) struct Prepared<T>(KBox<Version<T>>);

struct Version<T> {
    value: T,
    /// The version it replaced (owned), or NULL.
    prev: *mut Version<T>,
}

// SAFETY: as for `SetOnce`: `&T` goes to any thread, `T` moves in and out.
unsafe impl<T: Send + Sync> Sync for Versions<T> {}
// SAFETY: see above.
unsafe impl<T: Send> Send for Versions<T> {}

impl<T> Versions<T> {
    /// No version yet.
    pub(crate) const fn new() -> Self {
        Versions { cur: AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// The newest version, if any.
    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.cur.load(Ordering::Acquire);
        // SAFETY: a non-NULL pointer came from `KBox::into_raw` in `push`;
        // versions are freed only through `&mut self`, so it outlives this
        // shared borrow. Acquire pairs with the Release in `push`.
        unsafe { p.as_ref().map(|v| &v.value) }
    }

    /// Publishes `v` as the newest version. The caller serialises writers
    /// (the old version it read must still be the newest).
    pub(crate) fn push(&self, v: T) -> Result {
        let prev = self.cur.load(Ordering::Acquire);
        let b = KBox::new(Version { value: v, prev }, GFP_KERNEL)?;
        self.cur.store(KBox::into_raw(b), Ordering::Release);
        Ok(())
    }

    /// Allocates `v` as a version to [`Self::publish`] later, so that the
    /// publishing itself cannot fail.
    pub(crate) fn prepare(&self, v: T) -> Result<Prepared<T>> {
        Ok(Prepared(KBox::new(Version { value: v, prev: core::ptr::null_mut() }, GFP_KERNEL)?))
    }

    /// Publishes a prepared version as the newest. The caller serialises
    /// writers, as for [`Self::push`].
    pub(crate) fn publish(&self, p: Prepared<T>) {
        let mut b = p.0;
        b.prev = self.cur.load(Ordering::Acquire);
        self.cur.store(KBox::into_raw(b), Ordering::Release);
    }

    /// Frees every version.
    pub(crate) fn clear(&mut self) {
        let mut p = core::mem::replace(self.cur.get_mut(), core::ptr::null_mut());
        while !p.is_null() {
            // SAFETY: every pointer in the chain came from `KBox::into_raw`
            // in `push` and is owned by the chain; `&mut self` means no
            // reader holds a reference into it.
            let v = unsafe { KBox::from_raw(p) };
            p = v.prev;
        }
    }
}

impl<T> Drop for Versions<T> {
    fn drop(&mut self) {
        self.clear();
    }
}
