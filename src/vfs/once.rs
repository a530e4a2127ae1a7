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
