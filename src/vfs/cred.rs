//! Credentials: an owned reference and the override guard.
//!
//! rfs works on its branches with the credentials of the task that mounted it
//! (the OverlayFS model): permission checks on union objects use the caller,
//! the lookups and opens in the branches below use the mounter.

use super::sys;
use core::ptr::NonNull;
use kernel::error::{code::ENOMEM, to_result, Result};

/// One reference to a `struct cred` (get_cred / put_cred).
pub(crate) struct Cred(NonNull<sys::cred>);

// SAFETY: a `struct cred` is immutable once published and its refcount is
// atomic, so the reference may move between threads and be shared.
unsafe impl Send for Cred {}
// SAFETY: see above; `&Cred` only allows reading and taking more references.
unsafe impl Sync for Cred {}

impl Cred {
    /// Takes a new reference to `cred`.
    ///
    /// # Safety
    /// `cred` must point to a live `struct cred`.
    pub(crate) unsafe fn get(cred: *const sys::cred) -> Option<Self> {
        // SAFETY: the caller guarantees `cred` is live; get_cred takes a reference.
        let p = unsafe { sys::rfs_get_cred(cred) };
        NonNull::new(p.cast_mut()).map(Cred)
    }

    /// The current task's credentials (a new reference).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: the current task's credentials are live while it runs.
        unsafe { Self::get(sys::rfs_current_cred()) }
    }

    /// Credentials for creating an object in a branch on behalf of the
    /// current task: a copy of the current (mounter's, overridden)
    /// credentials whose fsuid/fsgid are the caller's, so the new object
    /// belongs to the caller (OverlayFS does the same). `object` is the
    /// union dentry being created and its mode (type included): the LSM may
    /// then give the credentials the label the caller would give it
    /// (security_dentry_create_files_as); `None` for a hard link.
    pub(crate) fn for_create(caller: &Cred, object: Option<(&super::dentry::UnionDentry<'_>, u16)>) -> Result<Self> {
        let (d, mode) = object.map_or((core::ptr::null_mut(), 0), |(d, m)| (d.as_ptr(), m));
        let mut out: *const sys::cred = core::ptr::null();
        // SAFETY: `caller` is live, `d` is null or a live union dentry (the
        // caller's); on success the helper gives us a new cred we own.
        to_result(unsafe { sys::rfs_creds_for_create(caller.as_ptr(), d, mode, &mut out) })?;
        NonNull::new(out.cast_mut()).map(Cred).ok_or(ENOMEM)
    }

    /// The credentials an LSM wants the copy-up of the union object `d` to
    /// run with (security_inode_copy_up), or `None`: the mounter's serve.
    pub(crate) fn for_copy_up(d: &super::dentry::Dentry) -> Result<Option<Self>> {
        let mut out: *const sys::cred = core::ptr::null();
        // SAFETY: `d` is a live union dentry (the caller holds it); on
        // success `out` is null or a new reference we own.
        to_result(unsafe { sys::rfs_copy_up_creds(d.as_ptr(), &mut out) })?;
        Ok(NonNull::new(out.cast_mut()).map(Cred))
    }

    /// The raw pointer, for calls into the VFS.
    pub(crate) fn as_ptr(&self) -> *const sys::cred {
        self.0.as_ptr()
    }

    /// Runs the current task with these credentials until the guard is dropped.
    pub(crate) fn override_creds(&self) -> CredGuard<'_> {
        // SAFETY: `self` holds a reference, so the cred stays live while the
        // guard (which borrows `self`) exists.
        let old = unsafe { sys::rfs_override_creds(self.as_ptr()) };
        CredGuard { old, _cred: self }
    }
}

impl Drop for Cred {
    fn drop(&mut self) {
        // SAFETY: we own one reference, taken in `get`.
        unsafe { sys::rfs_put_cred(self.as_ptr()) };
    }
}

/// Restores the task's own credentials when dropped.
pub(crate) struct CredGuard<'a> {
    old: *const sys::cred,
    _cred: &'a Cred,
}

impl Drop for CredGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: `old` is what override_creds returned on this task; guards
        // are not Send, so this runs on the same task, in LIFO order.
        unsafe { sys::rfs_revert_creds(self.old) };
    }
}
