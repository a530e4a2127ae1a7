//! Module-wide state: a value in a `static`, behind the module's one static
//! mutex (`rfs_global_mutex` in include/rfs_helpers.c).
//!
//! A static needs no set-up at module load and cannot outlive the module,
//! so code running on behalf of any mount may use it without proving that
//! the module is still there. There is a single mutex for all such values:
//! holding two [`GlobalGuard`]s at once deadlocks, so rfs keeps only one
//! [`Global`] (the users of writable branches, `workdir.rs`).
//!
//! Lock order: a superblock's `s_umount` → the global mutex → directory
//! locks of a branch (the work directory is cleaned under it). The mutex is
//! taken only at mount, remount and umount, never from a union operation,
//! so a union stacked on another rfs union cannot take it twice.

use super::sys;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

/// A value only reachable with the global mutex held.
pub(crate) struct Global<T> {
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `GlobalGuard`, and at most one
// guard exists at a time (the mutex), so sharing a `Global` between threads
// hands the value from thread to thread, one at a time: `T: Send` suffices.
unsafe impl<T: Send> Sync for Global<T> {}

impl<T> Global<T> {
    /// A value for a `static`.
    pub(crate) const fn new(value: T) -> Self {
        Global { value: UnsafeCell::new(value) }
    }

    /// Takes the global mutex (may sleep).
    pub(crate) fn lock(&self) -> GlobalGuard<'_, T> {
        // SAFETY: a plain mutex_lock of a static mutex; process context (the
        // callers are mount, remount and umount).
        unsafe { sys::rfs_global_lock() };
        GlobalGuard { global: self, _not_send: PhantomData }
    }
}

/// The global mutex, held; gives access to the value. Unlocks when dropped,
/// on the task that locked (the guard is not `Send`).
pub(crate) struct GlobalGuard<'a, T> {
    global: &'a Global<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for GlobalGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the mutex is held (we are the only guard).
        unsafe { &*self.global.value.get() }
    }
}

impl<T> DerefMut for GlobalGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the mutex is held (we are the only guard), and `&mut self`
        // makes this the only reference through it.
        unsafe { &mut *self.global.value.get() }
    }
}

impl<T> Drop for GlobalGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard's `lock` took the mutex on this task.
        unsafe { sys::rfs_global_unlock() };
    }
}
