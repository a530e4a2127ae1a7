//! Open files of the branches below the union.

use super::{cred::Cred, from_err_ptr, sys, to_result};
use core::ptr::NonNull;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// One reference to an open lower `struct file` (fput on drop).
///
/// A union file opened for reading holds the lower file it reads from; a
/// union directory opens each merged lower directory while it builds its
/// listing.
pub(crate) struct File(NonNull<sys::file>);

// SAFETY: file refcounts are atomic and fput may be called from any task.
unsafe impl Send for File {}
// SAFETY: shared access only calls VFS functions that do their own locking.
unsafe impl Sync for File {}

impl File {
    /// Opens `path` with `flags` as `cred` (dentry_open).
    pub(crate) fn open(path: &sys::path, flags: u32, cred: &Cred) -> Result<File> {
        let flags = i32::try_from(flags).map_err(|_| EINVAL)?;
        // SAFETY: `path` names a dentry and mount the caller keeps referenced;
        // `cred` is live. dentry_open takes its own references.
        let f = from_err_ptr(unsafe { sys::dentry_open(path, flags, cred.as_ptr()) })?;
        NonNull::new(f).map(File).ok_or(EIO)
    }

    /// Opens the branch file of the union file `user` as a backing file
    /// (backing_file_open): its mappings show `user`'s path.
    pub(crate) fn open_backing(user: UserFile, path: &sys::path, flags: u32, cred: &Cred) -> Result<File> {
        let flags = i32::try_from(flags).map_err(|_| EINVAL)?;
        // SAFETY: `user` is an open union file (UserFile), `path` names a
        // dentry and mount the caller keeps referenced; `cred` is live.
        let f = from_err_ptr(unsafe { sys::rfs_backing_file_open(user.0.as_ptr(), flags, path, cred.as_ptr()) })?;
        NonNull::new(f).map(File).ok_or(EIO)
    }

    /// [`File::open_backing`] for a file of a read-only branch: with
    /// O_NOATIME (see [`File::open_lower`]).
    pub(crate) fn open_backing_lower(user: UserFile, path: &sys::path, flags: u32, cred: &Cred) -> Result<File> {
        File::open_backing(user, path, flags | sys::O_NOATIME, cred)
    }

    /// Opens a file of a read-only branch for reading: with O_NOATIME, so
    /// reading through the union never writes the branch's atime (overlayfs:
    /// ovl_path_open). dentry_open does not check O_NOATIME (only a path
    /// open does, in may_open), and the union only lets its mounter's
    /// credentials reach branches, so the flag is always taken.
    pub(crate) fn open_lower(path: &sys::path, flags: u32, cred: &Cred) -> Result<File> {
        File::open(path, flags | sys::O_NOATIME, cred)
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut sys::file {
        self.0.as_ptr()
    }

    /// Reads into `iter` at `*pos` (vfs_iter_read), advancing `*pos`.
    ///
    /// # Safety
    /// `iter` must be the live iov_iter of the caller's read.
    pub(crate) unsafe fn read_iter(&self, iter: *mut sys::iov_iter, pos: &mut i64, flags: i32) -> Result<isize> {
        // SAFETY: the file is open (we hold it) and `iter` is live (caller).
        let n = unsafe { sys::vfs_iter_read(self.as_ptr(), iter, pos, flags) };
        if n < 0 {
            Err(kernel::error::Error::from_errno(n as i32))
        } else {
            Ok(n)
        }
    }

    /// Splices from the file into `pipe` (vfs_splice_read).
    ///
    /// # Safety
    /// `pipe` must be the live pipe of the caller's splice.
    pub(crate) unsafe fn splice_read(
        &self,
        pos: &mut i64,
        pipe: *mut sys::pipe_inode_info,
        len: usize,
        flags: u32,
    ) -> Result<isize> {
        // SAFETY: file held, pipe live (caller).
        let n = unsafe { sys::vfs_splice_read(self.as_ptr(), pos, pipe, len, flags) };
        if n < 0 {
            Err(kernel::error::Error::from_errno(n as i32))
        } else {
            Ok(n)
        }
    }

    /// vfs_llseek on the lower file, starting from `pos`. Returns the new
    /// position.
    pub(crate) fn llseek(&self, pos: i64, offset: i64, whence: i32) -> Result<i64> {
        let f = self.as_ptr();
        // SAFETY: the union file's f_pos_lock serialises seeks of the union
        // file, and the lower file is private to it, so setting its f_pos
        // races with nobody.
        let r = unsafe {
            (*f).f_pos = pos;
            sys::vfs_llseek(f, offset, whence)
        };
        if r < 0 {
            Err(kernel::error::Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }

    /// vfs_fsync_range on the lower file.
    pub(crate) fn fsync(&self, start: i64, end: i64, datasync: bool) -> Result {
        // SAFETY: the file is open.
        to_result(unsafe { sys::vfs_fsync_range(self.as_ptr(), start, end, datasync as i32) }).map(|_| ())
    }

    /// Maps the lower file in place of the union file: the VMA takes a
    /// reference on the lower file (vma_set_file), so the mapping shares the
    /// lower page cache.
    ///
    /// # Safety
    /// `vma` must be the VMA of the caller's mmap.
    pub(crate) unsafe fn mmap(&self, vma: *mut sys::vm_area_struct, user: *mut sys::file) -> Result {
        let f = self.as_ptr();
        // SAFETY: mmap_lock is held by the caller; vma_set_file swaps the
        // VMA's file reference to `f`; the LSM then judges the mapping of the
        // backing file `f` of the union file `user` (security_mmap_backing_file
        // expects vm_file to be the backing file already, as
        // backing_file_mmap); the lower file's own mmap then sets up the VMA.
        // A lower file without mmap gives ENODEV, as mmap(2) would.
        unsafe {
            if !sys::rfs_can_mmap(f) {
                return Err(ENODEV);
            }
            sys::vma_set_file(vma, f);
            to_result(sys::rfs_mmap_backing_check(vma, f, user))?;
            to_result(sys::rfs_call_mmap(f, vma)).map(|_| ())
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::fput(self.as_ptr()) };
    }
}

/// Data and space operations on a lower file, for copy-up and for union
/// files whose data lives in the writable branch.
impl File {
    /// The inode of the open file.
    pub(crate) fn inode(&self) -> Option<super::inode::InodeRef<'_>> {
        // SAFETY: an open file pins its inode; f_inode never changes.
        unsafe { super::inode::InodeRef::from_raw((*self.as_ptr()).f_inode) }
    }

    /// Writes `iter` at `*pos` (vfs_iter_write; it takes the filesystem's
    /// freeze protection itself), advancing `*pos`.
    ///
    /// # Safety
    /// `iter` must be the live iov_iter of the caller's write.
    pub(crate) unsafe fn write_iter(&self, iter: *mut sys::iov_iter, pos: &mut i64, flags: i32) -> Result<isize> {
        // SAFETY: the file is open (we hold it) and `iter` is live (caller).
        let n = unsafe { sys::vfs_iter_write(self.as_ptr(), iter, pos, flags) };
        if n < 0 {
            Err(kernel::error::Error::from_errno(n as i32))
        } else {
            Ok(n)
        }
    }

    /// Copies up to `len` bytes from `self` at `*pos_in` to `out` at
    /// `*pos_out` through a pipe (do_splice_direct), advancing both.
    pub(crate) fn splice_to(&self, pos_in: &mut i64, out: &File, pos_out: &mut i64, len: usize) -> Result<usize> {
        // SAFETY: both files are open; do_splice_direct takes `out`'s write
        // protection itself.
        let n = unsafe { sys::do_splice_direct(self.as_ptr(), pos_in, out.as_ptr(), pos_out, len, 0) };
        if n < 0 {
            Err(kernel::error::Error::from_errno(n as i32))
        } else {
            Ok(n as usize)
        }
    }

    /// Shares all of `self`'s data with `out` (a reflink,
    /// vfs_clone_file_range from 0 to EOF). Returns the bytes cloned.
    pub(crate) fn clone_to(&self, out: &File) -> Result<i64> {
        // SAFETY: both files are open.
        let n = unsafe { sys::vfs_clone_file_range(self.as_ptr(), 0, out.as_ptr(), 0, 0, 0) };
        if n < 0 {
            Err(kernel::error::Error::from_errno(n as i32))
        } else {
            Ok(n)
        }
    }

    /// Where the next data (SEEK_DATA) or hole (SEEK_HOLE) at or after
    /// `pos` starts. The file must be private to the caller (it moves f_pos).
    pub(crate) fn seek_private(&self, pos: i64, whence: u32) -> Result<i64> {
        let r = self.llseek(0, pos, whence as i32)?;
        Ok(r)
    }

    /// vfs_fallocate.
    pub(crate) fn fallocate(&self, mode: i32, offset: i64, len: i64) -> Result {
        // SAFETY: the file is open.
        to_result(unsafe { sys::vfs_fallocate(self.as_ptr(), mode, offset, len) }).map(|_| ())
    }

    /// Opens an unnamed temporary file in the directory `dir` as `cred`
    /// (kernel_tmpfile_open), for O_TMPFILE through the union.
    pub(crate) fn open_tmpfile(dir: &sys::path, mode: u16, flags: u32, cred: &Cred) -> Result<File> {
        let flags = i32::try_from(flags).map_err(|_| EINVAL)?;
        // SAFETY: `dir` is referenced by the caller; `cred` is live.
        let f = from_err_ptr(unsafe {
            sys::kernel_tmpfile_open(sys::rfs_mnt_idmap(dir.mnt), dir, mode, flags, cred.as_ptr())
        })?;
        NonNull::new(f).map(File).ok_or(EIO)
    }

    /// The dentry the file was opened on (a new reference).
    pub(crate) fn dentry(&self) -> Option<super::dentry::Dentry> {
        // SAFETY: an open file pins f_path; dget adds a reference we own.
        unsafe {
            let d = (*sys::rfs_file_path(self.as_ptr())).dentry;
            sys::rfs_dget(d);
            super::dentry::Dentry::from_raw(d)
        }
    }
}

/// An open union file, for opening its branch files as backing files.
/// Valid while the union file is open: a `RegFile` (its private data)
/// keeps one and is freed before the union file.
#[derive(Clone, Copy)]
pub(crate) struct UserFile(NonNull<sys::file>);

impl UserFile {
    /// # Safety
    /// `f` must be an open union file that outlives every use of the result.
    pub(crate) unsafe fn from_raw(f: *mut sys::file) -> Option<Self> {
        NonNull::new(f).map(UserFile)
    }
}

/// The union file an O_TMPFILE open (the `tmpfile` inode operation) is
/// setting up, borrowed for the operation.
pub(crate) struct TmpFile<'a> {
    file: NonNull<sys::file>,
    _op: core::marker::PhantomData<&'a sys::file>,
}

impl<'a> TmpFile<'a> {
    /// # Safety
    /// `file` must be the file of the tmpfile operation in progress, for `'a`.
    pub(crate) unsafe fn from_raw(file: *mut sys::file) -> Option<Self> {
        NonNull::new(file).map(|file| TmpFile { file, _op: core::marker::PhantomData })
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut sys::file {
        self.file.as_ptr()
    }

    /// The open flags (f_flags, set by the VFS).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: the VFS passes a live file being opened; f_flags is set.
        unsafe { (*self.as_ptr()).f_flags }
    }

    /// Completes the open (finish_open_simple): calls the union file's
    /// `open`. The file's dentry must have its inode by now (d_tmpfile).
    pub(crate) fn finish_open(self) -> Result {
        // SAFETY: the file of the tmpfile operation in progress.
        to_result(unsafe { sys::rfs_finish_open_simple(self.as_ptr()) }).map(|_| ())
    }
}

/// Plain file I/O for rfs's own files in a branch (the xino file).
impl File {
    /// Opens (creating, mode 0600) the file `name` as the current task
    /// (filp_open): a path name given in the mount options.
    pub(crate) fn open_name(name: &[u8], flags: u32) -> Result<File> {
        let mut buf = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
        buf.extend_from_slice(name, GFP_KERNEL)?;
        buf.push(0, GFP_KERNEL)?;
        let flags = i32::try_from(flags).map_err(|_| EINVAL)?;
        // SAFETY: `buf` is NUL-terminated; filp_open returns a referenced
        // file or an ERR_PTR.
        let f = from_err_ptr(unsafe { sys::filp_open(buf.as_ptr(), flags, 0o600) })?;
        NonNull::new(f).map(File).ok_or(EIO)
    }

    /// The path name of the open file (d_path).
    pub(crate) fn name(&self) -> Result<KVec<u8>> {
        // SAFETY: an open file pins f_path.
        let raw = unsafe { *sys::rfs_file_path(self.as_ptr()) };
        super::path::name_of(&raw)
    }

    /// Reads at `pos` into `buf`; returns the bytes read (kernel_read).
    pub(crate) fn read_at(&self, buf: &mut [u8], mut pos: i64) -> Result<usize> {
        // SAFETY: the file is open; `buf` is writable for its length.
        let n = unsafe { sys::kernel_read(self.as_ptr(), buf.as_mut_ptr().cast(), buf.len(), &mut pos) };
        usize::try_from(n).map_err(|_| kernel::error::Error::from_errno(n as i32))
    }

    /// Writes `buf` at `pos` (kernel_write; it takes the freeze protection).
    pub(crate) fn write_at(&self, buf: &[u8], mut pos: i64) -> Result {
        // SAFETY: the file is open; `buf` is readable for its length.
        let n = unsafe { sys::kernel_write(self.as_ptr(), buf.as_ptr().cast(), buf.len(), &mut pos) };
        match usize::try_from(n) {
            Ok(w) if w == buf.len() => Ok(()),
            Ok(_) => Err(kernel::error::code::ENOSPC),
            Err(_) => Err(kernel::error::Error::from_errno(n as i32)),
        }
    }

    /// Writes all of `buf` at `pos` unless the file's filesystem is frozen
    /// (EAGAIN then: the caller keeps the data for later rather than sleep
    /// until the filesystem is thawed).
    pub(crate) fn write_at_unless_frozen(&self, buf: &[u8], pos: i64) -> Result {
        // SAFETY: the file is open; `buf` is readable for its length.
        let n = unsafe { sys::rfs_write_nofreeze(self.as_ptr(), buf.as_ptr().cast(), buf.len(), pos) };
        match usize::try_from(n) {
            Ok(w) if w == buf.len() => Ok(()),
            Ok(_) => Err(kernel::error::code::ENOSPC),
            Err(_) => Err(kernel::error::Error::from_errno(n as i32)),
        }
    }

    /// Truncates the file, opened for writing, to `size` unless its
    /// filesystem is frozen (EAGAIN then, as [`File::write_at_unless_frozen`]).
    pub(crate) fn truncate_unless_frozen(&self, size: i64) -> Result {
        // SAFETY: the file is open for writing.
        to_result(unsafe { sys::rfs_truncate_nofreeze(self.as_ptr(), size) }).map(|_| ())
    }

    /// Truncates the file to `size` (vfs_truncate on its path).
    pub(crate) fn truncate(&self, size: i64) -> Result {
        // SAFETY: an open file pins f_path; vfs_truncate takes its own
        // write access and locks.
        let r = unsafe { sys::rfs_vfs_truncate(sys::rfs_file_path(self.as_ptr()), size) };
        to_result(r).map(|_| ())
    }
}
