//! Paths: a (vfsmount, dentry) pair with one reference on each.

use super::{dentry::Dentry, sys, to_result};
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// The identity of a superblock (its address), for comparisons only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SbKey(usize);

impl SbKey {
    /// The key of `sb`.
    pub(crate) fn of(sb: *const sys::super_block) -> Self {
        SbKey(sb as usize)
    }
}

/// A mount someone holds a reference on for `'a` (a branch's [`Path`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mount<'a>(NonNull<sys::vfsmount>, core::marker::PhantomData<&'a sys::vfsmount>);

impl Mount<'_> {
    /// The raw pointer.
    pub(crate) fn as_ptr(self) -> *mut sys::vfsmount {
        self.0.as_ptr()
    }

    /// The pointer, never NULL.
    pub(crate) fn as_nonnull(self) -> NonNull<sys::vfsmount> {
        self.0
    }

    /// # Safety
    /// `mnt` must be a mount the caller keeps referenced (or, in RCU-walk,
    /// allocated) for the lifetime it gives the result.
    pub(crate) unsafe fn from_nonnull<'a>(mnt: NonNull<sys::vfsmount>) -> Mount<'a> {
        Mount(mnt, core::marker::PhantomData)
    }
}

/// An owned `struct path` (path_get / path_put): how rfs holds on to the
/// root of each branch.
pub(crate) struct Path {
    mnt: NonNull<sys::vfsmount>,
    // Released before the mount in `drop`, as path_put does.
    dentry: ManuallyDrop<Dentry>,
}

// SAFETY: vfsmount and dentry refcounts are safe to drop on any thread.
unsafe impl Send for Path {}
// SAFETY: shared access only reads.
unsafe impl Sync for Path {}

impl Path {
    /// Resolves an absolute path name as the current task (kern_path),
    /// following symlinks.
    pub(crate) fn lookup(name: &[u8]) -> Result<Path> {
        // kern_path wants a NUL-terminated string.
        let mut buf = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
        buf.extend_from_slice(name, GFP_KERNEL)?;
        buf.push(0, GFP_KERNEL)?;
        let mut raw = sys::path::default();
        // SAFETY: `buf` is NUL-terminated; `raw` is written on success only.
        to_result(unsafe { sys::kern_path(buf.as_ptr(), sys::RFS_LOOKUP_FOLLOW, &mut raw) })?;
        // SAFETY: on success kern_path returned a path holding one reference
        // on each of mnt and dentry, which we take over here.
        let dentry = unsafe { Dentry::from_raw(raw.dentry) }.ok_or(EIO)?;
        let mnt = NonNull::new(raw.mnt).ok_or(EIO)?;
        Ok(Path { mnt, dentry: ManuallyDrop::new(dentry) })
    }

    /// The dentry.
    pub(crate) fn dentry(&self) -> &Dentry {
        &self.dentry
    }

    /// The mount.
    pub(crate) fn mnt(&self) -> Mount<'_> {
        Mount(self.mnt, core::marker::PhantomData)
    }

    /// The identity of the superblock the path lives on, for comparisons.
    pub(crate) fn sb_key(&self) -> SbKey {
        SbKey(self.sb() as usize)
    }

    /// `(s_maxbytes, s_stack_depth, POSIX ACLs?)` of the path's superblock.
    pub(crate) fn sb_limits(&self) -> (i64, i32, bool) {
        super::fs::sb_limits(self.sb())
    }

    /// The superblock the path lives on.
    pub(crate) fn sb(&self) -> *mut sys::super_block {
        // SAFETY: we hold a reference on the mount, so its superblock is live.
        unsafe { (*self.mnt.as_ptr()).mnt_sb }
    }

    /// A borrowed `struct path` for this path.
    pub(crate) fn raw(&self) -> sys::path {
        at(self.mnt(), &self.dentry)
    }

    /// Whether `self` lies at or below `other` (path_is_under).
    pub(crate) fn is_under(&self, other: &Path) -> bool {
        let a = self.raw();
        let b = other.raw();
        // SAFETY: both paths hold references for the duration of the call.
        unsafe { sys::path_is_under(&a, &b) }
    }

    /// The absolute path name as seen from the current task's root (d_path).
    pub(crate) fn name(&self) -> Result<KVec<u8>> {
        name_of(&self.raw())
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        // SAFETY: the dentry is dropped exactly once, here, and not used
        // after; it goes before the mount so that the last mntput never finds
        // a dentry of its superblock still referenced.
        unsafe { ManuallyDrop::drop(&mut self.dentry) };
        // SAFETY: we own one reference on the mount.
        unsafe { sys::mntput(self.mnt.as_ptr()) };
    }
}

/// A `struct path` value naming `dentry` on `mnt`, taking no references: the
/// caller keeps both alive while the value is used.
pub(crate) fn at(mnt: Mount<'_>, dentry: &Dentry) -> sys::path {
    sys::path { mnt: mnt.as_ptr(), dentry: dentry.as_ptr() }
}

impl Path {
    /// Whether the mount is idmapped.
    pub(crate) fn is_idmapped(&self) -> bool {
        // SAFETY: we hold a reference on the mount.
        unsafe { sys::rfs_mnt_is_idmapped(self.mnt.as_ptr()) }
    }

    /// Whether the path's filesystem may fold case (has an encoding).
    pub(crate) fn has_encoding(&self) -> bool {
        // SAFETY: we hold a reference on the mount, so its superblock is live.
        unsafe { sys::rfs_sb_has_encoding(self.sb()) }
    }

    /// Whether the mount or its filesystem cannot be written at all.
    pub(crate) fn natively_ro(&self) -> bool {
        // SAFETY: we hold a reference on the mount.
        unsafe { sys::rfs_mnt_natively_ro(self.mnt.as_ptr()) }
    }

    /// Syncs the filesystem the path is on (`rfs_sync_branch_fs`, which
    /// takes its s_umount).
    pub(crate) fn sync_fs(&self) -> Result {
        // SAFETY: we hold a reference on the mount, so its superblock is live.
        to_result(unsafe { sys::rfs_sync_branch_fs(self.sb()) }).map(|_| ())
    }

    /// statfs of the filesystem the path is on (vfs_statfs), into a new
    /// buffer.
    pub(crate) fn statfs_new(&self) -> Result<sys::kstatfs> {
        // SAFETY: all-zero is a valid kstatfs to fill.
        let mut st: sys::kstatfs = unsafe { core::mem::zeroed() };
        self.statfs(&mut st)?;
        Ok(st)
    }

    /// statfs of the filesystem the path is on (vfs_statfs).
    pub(crate) fn statfs(&self, buf: &mut sys::kstatfs) -> Result {
        let raw = self.raw();
        // SAFETY: `raw` borrows our references; `buf` is a plain struct.
        to_result(unsafe { sys::vfs_statfs(&raw, buf) }).map(|_| ())
    }
}

/// getattr of a lower object for the union's getattr, as overlayfs asks
/// its real one (`rfs_getattr_lower`: without a second security check
/// where the VFS made it on the union object).
pub(crate) fn getattr(path: &sys::path, stat: &mut sys::kstat, request_mask: u32, flags: u32) -> Result {
    // SAFETY: the caller keeps the path's mount and dentry referenced;
    // `stat` is a plain struct.
    let ret = unsafe { sys::rfs_getattr_lower(path, stat, request_mask, flags) };
    to_result(ret).map(|_| ())
}

/// The absolute path name of `raw` as seen from the current task's root
/// (d_path). The caller keeps the path referenced.
pub(crate) fn name_of(raw: &sys::path) -> Result<KVec<u8>> {
    let mut buf = KVec::from_elem(0u8, sys::PATH_MAX as usize, GFP_KERNEL)?;
    // SAFETY: `buf` is PATH_MAX bytes long; d_path writes inside it and
    // returns a pointer into it (or an ERR_PTR).
    let p = unsafe { sys::d_path(raw, buf.as_mut_ptr(), sys::PATH_MAX as i32) };
    let p = super::from_err_ptr(p)?;
    let start = (p as usize).checked_sub(buf.as_ptr() as usize).ok_or(EIO)?;
    let tail = buf.get(start..).ok_or(EIO)?;
    let len = tail.iter().position(|&c| c == 0).ok_or(EIO)?;
    let mut out = KVec::with_capacity(len, GFP_KERNEL)?;
    out.extend_from_slice(tail.get(..len).ok_or(EIO)?, GFP_KERNEL)?;
    Ok(out)
}
