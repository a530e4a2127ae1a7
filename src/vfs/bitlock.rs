//! A sleeping lock in bit 0 of a word (wait_on_bit_lock / clear_and_wake_up_bit).

use super::sys;
use core::sync::atomic::AtomicUsize;
use kernel::error::{code::*, Result};

/// Bit 0 of a word, held as a lock until dropped.
pub(crate) struct BitLock<'a>(&'a AtomicUsize);

impl<'a> BitLock<'a> {
    /// Takes bit 0 of `word`, waiting killably (EINTR when the task is
    /// killed while it waits).
    pub(crate) fn lock_killable(word: &'a AtomicUsize) -> Result<Self> {
        // SAFETY: a bit lock on a live word; the word is an `unsigned long`
        // (AtomicUsize on a 64-bit kernel).
        let r = unsafe { sys::rfs_bit_lock_killable(word.as_ptr().cast(), 0) };
        if r != 0 {
            return Err(EINTR);
        }
        Ok(BitLock(word))
    }
}

impl Drop for BitLock<'_> {
    fn drop(&mut self) {
        // SAFETY: the bit was set by `lock_killable`; the word outlives the
        // borrow the lock holds.
        unsafe { sys::rfs_bit_unlock(self.0.as_ptr().cast(), 0) };
    }
}
