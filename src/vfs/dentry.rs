//! Dentries of the branches below the union, and the union's own dentries.

use super::{from_err_ptr, inode::InodeRef, sys};
use core::ptr::NonNull;
use kernel::error::{code::*, Result};

/// One reference to a `struct dentry` (dget / dput).
///
/// rfs holds these for the lower dentries a union inode is made of; the
/// reference keeps the lower dentry (and through it the lower inode) alive
/// until the union inode is evicted.
pub(crate) struct Dentry(NonNull<sys::dentry>);

// SAFETY: dentry refcounts are atomic (lockref); a reference may be dropped on
// any thread, and shared access only reads fields the VFS keeps stable while
// a reference is held.
unsafe impl Send for Dentry {}
// SAFETY: see above.
unsafe impl Sync for Dentry {}

impl Dentry {
    /// Takes over one reference the caller owns.
    ///
    /// # Safety
    /// `ptr` must be a live dentry carrying a reference that now belongs to
    /// the returned value.
    pub(crate) unsafe fn from_raw(ptr: *mut sys::dentry) -> Option<Self> {
        NonNull::new(ptr).map(Dentry)
    }

    /// The raw pointer, for calls into the VFS.
    pub(crate) fn as_ptr(&self) -> *mut sys::dentry {
        self.0.as_ptr()
    }

    /// Gives up the reference to the caller (a VFS call that consumes it).
    pub(crate) fn into_raw(self) -> *mut sys::dentry {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The inode, or `None` for a negative dentry.
    pub(crate) fn inode(&self) -> Option<InodeRef<'_>> {
        // SAFETY: we hold a reference; d_inode of a referenced dentry stays
        // valid until the dentry is killed, which our reference prevents.
        unsafe { InodeRef::from_raw(sys::rfs_d_inode(self.as_ptr())) }
    }

    /// Whether the dentry is a directory (or an automount point on one).
    pub(crate) fn is_dir(&self) -> bool {
        // SAFETY: we hold a reference.
        unsafe { sys::rfs_d_is_dir(self.as_ptr()) }
    }

    /// A dentry rfs does not stack on (automount point, own name hashing
    /// or comparison, an unknown type): see `rfs_dentry_weird`.
    pub(crate) fn is_weird(&self) -> bool {
        // SAFETY: we hold a reference.
        unsafe { sys::rfs_dentry_weird(self.as_ptr()) }
    }

    /// Whether the dentry has been unhashed, e.g. because its name was
    /// removed directly in the branch.
    pub(crate) fn is_unhashed(&self) -> bool {
        // SAFETY: we hold a reference.
        unsafe { sys::rfs_d_unhashed(self.as_ptr()) }
    }

    /// Looks `name` up in this directory (lookup_one_unlocked: takes the
    /// directory's inode lock itself when it has to ask the filesystem).
    /// The result may be negative.
    pub(crate) fn lookup_child(&self, name: &[u8]) -> Result<Dentry> {
        let len = i32::try_from(name.len()).map_err(|_| EINVAL)?;
        // SAFETY: we hold a reference on the parent; `name` is valid for
        // `len` bytes and need not be NUL-terminated.
        let ptr = unsafe { sys::rfs_lookup_unlocked(self.as_ptr(), name.as_ptr(), len) };
        let ptr = from_err_ptr(ptr)?;
        // SAFETY: on success the lookup returns a referenced dentry.
        unsafe { Dentry::from_raw(ptr) }.ok_or(EIO)
    }

    /// Drops this dentry from the dcache if it is negative and unused: for
    /// a probe (whiteout, opaque marker) made with the directory locked.
    /// Returns whether it is positive.
    pub(crate) fn probed(self) -> bool {
        if self.inode().is_some() {
            return true;
        }
        // SAFETY: we hold a reference on `self`; the helper takes its d_lock.
        unsafe { sys::rfs_forget_negative(self.as_ptr()) };
        false
    }

    /// Whether `name` exists in this directory, for names rfs only probes
    /// for (whiteouts, opaque markers): a negative answer is not kept in
    /// the dcache, so probing every branch for them costs no memory.
    pub(crate) fn probe_child(&self, name: &[u8]) -> Result<bool> {
        let d = self.lookup_child(name)?;
        if d.inode().is_some() {
            return Ok(true);
        }
        // SAFETY: we hold a reference on `d`; the helper takes its d_lock.
        unsafe { sys::rfs_forget_negative(d.as_ptr()) };
        Ok(false)
    }

    /// The parent dentry (dget_parent: stable against concurrent renames).
    pub(crate) fn parent(&self) -> Dentry {
        // SAFETY: we hold a reference; dget_parent returns a referenced
        // dentry (the dentry itself for a root).
        let p = unsafe { sys::dget_parent(self.as_ptr()) };
        NonNull::new(p).map(Dentry).unwrap_or_else(|| self.clone())
    }

    /// A copy of the dentry's current name (taken under d_lock, so a
    /// concurrent rename cannot tear it).
    pub(crate) fn name(&self) -> Result<kernel::alloc::KVec<u8>> {
        let mut buf = kernel::alloc::KVec::from_elem(0u8, sys::NAME_MAX as usize, kernel::alloc::flags::GFP_KERNEL)?;
        let size = i32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: `buf` holds `size` bytes; we hold a reference on the dentry.
        let len = unsafe { sys::rfs_dentry_name_copy(self.as_ptr(), buf.as_mut_ptr().cast(), size) };
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        if len > buf.len() {
            return Err(EINVAL);
        }
        super::truncate_bytes(&mut buf, len);
        Ok(buf)
    }

    /// Whether two values refer to the same dentry.
    pub(crate) fn same(&self, other: &Dentry) -> bool {
        self.0 == other.0
    }
}

impl Clone for Dentry {
    fn clone(&self) -> Self {
        // SAFETY: we hold a reference, so the dentry is live; dget adds one.
        unsafe { sys::rfs_dget(self.as_ptr()) };
        Dentry(self.0)
    }
}

impl Drop for Dentry {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::dput(self.as_ptr()) };
    }
}

/// A union dentry the VFS handed to an operation, borrowed for its duration.
#[derive(Clone, Copy)]
pub(crate) struct UnionDentry<'a> {
    raw: &'a sys::dentry,
}

impl<'a> UnionDentry<'a> {
    /// # Safety
    /// `ptr` must be a live dentry for `'a` (the VFS pins it during the op).
    pub(crate) unsafe fn from_raw(ptr: *mut sys::dentry) -> Option<Self> {
        // SAFETY: the caller guarantees validity for 'a.
        unsafe { ptr.as_ref() }.map(|raw| UnionDentry { raw })
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut sys::dentry {
        (self.raw as *const sys::dentry).cast_mut()
    }

    /// The dentry's name. Stable while the VFS holds the parent's lock or a
    /// reference for the operation (which it does for every op rfs serves).
    pub(crate) fn name(&self) -> &'a [u8] {
        let mut len = 0u32;
        // SAFETY: rfs calls this only from operations that hold the
        // parent's inode lock (lookup, create, unlink, rename, ...), which
        // keeps `d_name` stable; the name is `len` bytes. Code without
        // that lock copies the name with `Dentry::name`.
        let name = unsafe { sys::rfs_dentry_name(self.raw, &mut len) };
        // SAFETY: see above.
        unsafe { core::slice::from_raw_parts(name, len as usize) }
    }

    /// The stamp stored by rfs in `d_fsdata` (see `namei.rs`).
    pub(crate) fn stamp(&self) -> u64 {
        // SAFETY: d_fsdata is a plain word rfs uses as a number, read once.
        unsafe { sys::rfs_d_fsdata(self.as_ptr()) as usize as u64 }
    }

    /// Stores the stamp in `d_fsdata`.
    pub(crate) fn set_stamp(&self, stamp: u64) {
        // SAFETY: d_fsdata belongs to the filesystem; a word-sized WRITE_ONCE.
        unsafe { sys::rfs_set_d_fsdata(self.as_ptr(), stamp as usize as *mut _) };
    }

    /// A new reference to the dentry.
    pub(crate) fn get(&self) -> Dentry {
        // SAFETY: the dentry is live for 'a; dget adds a reference we own.
        unsafe { sys::rfs_dget(self.as_ptr()) };
        Dentry(NonNull::from(self.raw))
    }

    /// The union inode, or `None` if negative.
    pub(crate) fn inode_raw(&self) -> *mut sys::inode {
        // SAFETY: the dentry is live.
        unsafe { sys::rfs_d_inode(self.as_ptr()) }
    }
}
