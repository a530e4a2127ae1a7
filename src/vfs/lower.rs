//! Changing a branch: locked lower directories and the namespace operations
//! rfs performs in the writable branch (create, mkdir, unlink, rename, ...).
//!
//! Locking rules (the VFS's, see Documentation/filesystems/locking.rst):
//! - a directory is changed with its inode lock held ([`DirGuard`], class
//!   I_MUTEX_PARENT); names in it are looked up under that lock
//!   (`rfs_lookup_locked`) so the result stays valid until the guard goes;
//! - a rename locks both directories and looks both names up in one step
//!   ([`RenameGuard`]: lock_rename, or start_renaming on newer kernels),
//!   which orders them against every other rename on the filesystem;
//! - every change runs between mnt_want_write and mnt_drop_write on the
//!   branch's mount ([`WriteAccess`]), so a branch remounted read-only
//!   refuses it with EROFS.
//!
//! rfs takes these locks after the VFS took the union's own (the union
//! directory's inode lock, for a namespace operation): union locks always
//! come first, branch locks second; the lock classes differ (they belong to
//! different filesystem types), so lockdep sees no inversion.

use super::path::Mount;
use super::{dentry::Dentry, from_err_ptr, sys, to_result};
use core::marker::PhantomData;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// Write access to a branch's mount, held while rfs changes the branch.
pub(crate) struct WriteAccess<'a> {
    mnt: Mount<'a>,
}

impl<'a> WriteAccess<'a> {
    /// mnt_want_write on `mnt`, which the caller keeps referenced for `'a`.
    pub(crate) fn get(mnt: Mount<'a>, _owner: &'a super::path::Path) -> Result<Self> {
        // SAFETY: `mnt` is referenced by `_owner`, borrowed for 'a.
        to_result(unsafe { sys::mnt_want_write(mnt.as_ptr()) })?;
        Ok(WriteAccess { mnt })
    }
}

impl Drop for WriteAccess<'_> {
    fn drop(&mut self) {
        // SAFETY: paired with the successful mnt_want_write in `get`.
        unsafe { sys::mnt_drop_write(self.mnt.as_ptr()) };
    }
}

/// The idmap of a branch mount.
fn idmap(mnt: Mount<'_>) -> *mut sys::mnt_idmap {
    // SAFETY: the callers hold a reference on the mount.
    unsafe { sys::rfs_mnt_idmap(mnt.as_ptr()) }
}

/// The inode of a positive dentry, or ENOENT.
fn inode_of(d: &Dentry) -> Result<*mut sys::inode> {
    d.inode().map(|i| i.as_ptr()).ok_or(ENOENT)
}

fn name_len(name: &[u8]) -> Result<i32> {
    i32::try_from(name.len()).map_err(|_| EINVAL)
}

/// Operations in a lower directory whose inode lock the holder of this
/// value has (through a [`DirGuard`] or a [`RenameGuard`]). Holds no
/// reference of its own: the caller's `Dentry` outlives it.
#[derive(Clone, Copy)]
pub(crate) struct DirOps<'a> {
    dir: &'a Dentry,
    inode: *mut sys::inode,
    mnt: Mount<'a>,
}

/// A lower directory with its inode lock held (I_MUTEX_PARENT, or the
/// normal class for a child locked below its locked parent); unlocked on
/// drop. Its operations are those of [`DirOps`].
pub(crate) struct DirGuard<'a> {
    ops: DirOps<'a>,
}

impl<'a> DirGuard<'a> {
    /// Locks `dir`, a directory of the branch mounted at `mnt`.
    pub(crate) fn lock(mnt: Mount<'a>, dir: &'a Dentry) -> Result<Self> {
        let inode = inode_of(dir)?;
        // SAFETY: `dir` is referenced, so its inode is live; unlocked in drop.
        unsafe { sys::rfs_inode_lock_parent(inode) };
        Ok(DirGuard { ops: DirOps { dir, inode, mnt } })
    }

    /// Locks `dir` while the caller holds its parent's lock (a
    /// [`DirGuard`] on the parent): the normal lock class, nested below the
    /// parent's, as vfs_rmdir locks its victim.
    pub(crate) fn lock_child(mnt: Mount<'a>, dir: &'a Dentry) -> Result<Self> {
        let inode = inode_of(dir)?;
        // SAFETY: as in `lock`.
        unsafe { sys::rfs_inode_lock(inode) };
        Ok(DirGuard { ops: DirOps { dir, inode, mnt } })
    }
}

impl<'a> core::ops::Deref for DirGuard<'a> {
    type Target = DirOps<'a>;
    fn deref(&self) -> &DirOps<'a> {
        &self.ops
    }
}

impl Drop for DirGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked in `lock`; the inode is pinned by the caller's dentry.
        unsafe { sys::rfs_inode_unlock(self.ops.inode) };
    }
}

impl DirOps<'_> {
    /// Looks `name` up in the locked directory; the result may be negative.
    pub(crate) fn lookup(&self, name: &[u8]) -> Result<Dentry> {
        lookup_locked(self.dir, name)
    }

    /// Creates a regular file at the negative `child` (vfs_create).
    pub(crate) fn create(&self, child: &Dentry, mode: u16) -> Result {
        // SAFETY: the directory is locked; `child` is a referenced negative
        // dentry looked up in it.
        to_result(unsafe { sys::rfs_vfs_create(idmap(self.mnt), self.dir.as_ptr(), child.as_ptr(), mode) })?;
        Ok(())
    }

    /// Creates a directory at `child` (vfs_mkdir). Some filesystems leave
    /// the dentry negative and unhashed, or give another one; the caller
    /// gets the one to use. Only in a directory locked by
    /// [`DirGuard::lock`] (`rfs_vfs_mkdir` relocks it with that class when
    /// the kernel's vfs_mkdir unlocked it on failure).
    pub(crate) fn mkdir(&self, child: Dentry, name: &[u8], mode: u16) -> Result<Dentry> {
        let raw = child.into_raw();
        // SAFETY: as in `create`; the call takes over `raw`'s reference and
        // returns a referenced dentry or an error.
        let made = from_err_ptr(unsafe { sys::rfs_vfs_mkdir(idmap(self.mnt), self.dir.as_ptr(), raw, mode) })?;
        // SAFETY: see above.
        let child = unsafe { Dentry::from_raw(made) }.ok_or(EIO)?;
        if child.inode().is_some() && !child.is_unhashed() {
            return Ok(child);
        }
        let again = self.lookup(name)?;
        if again.inode().is_none() {
            return Err(ENOENT);
        }
        Ok(again)
    }

    /// Creates a device node, fifo or socket at `child` (vfs_mknod).
    pub(crate) fn mknod(&self, child: &Dentry, mode: u16, rdev: u32) -> Result {
        // SAFETY: as in `create`.
        to_result(unsafe { sys::rfs_vfs_mknod(idmap(self.mnt), self.dir.as_ptr(), child.as_ptr(), mode, rdev) })?;
        Ok(())
    }

    /// Creates a symlink to `target` (without its NUL) at `child`.
    pub(crate) fn symlink(&self, child: &Dentry, target: &[u8]) -> Result {
        let mut t = KVec::with_capacity(target.len() + 1, GFP_KERNEL)?;
        t.extend_from_slice(target, GFP_KERNEL)?;
        t.push(0, GFP_KERNEL)?;
        // SAFETY: as in `create`; `t` is NUL-terminated.
        to_result(unsafe { sys::rfs_vfs_symlink(idmap(self.mnt), self.dir.as_ptr(), child.as_ptr(), t.as_ptr()) })?;
        Ok(())
    }

    /// Hard-links `old` (same filesystem) as `child` (vfs_link).
    pub(crate) fn link(&self, old: &Dentry, child: &Dentry) -> Result {
        // SAFETY: as in `create`; `old` is referenced.
        to_result(unsafe { sys::rfs_vfs_link(old.as_ptr(), idmap(self.mnt), self.dir.as_ptr(), child.as_ptr()) })?;
        Ok(())
    }

    /// Removes the non-directory `child` of the locked directory.
    pub(crate) fn unlink(&self, child: &Dentry) -> Result {
        // SAFETY: as in `create`; `child` is positive, in this directory.
        to_result(unsafe { sys::rfs_vfs_unlink(idmap(self.mnt), self.dir.as_ptr(), child.as_ptr()) })?;
        Ok(())
    }

    /// Removes the empty directory `child` of the locked directory.
    pub(crate) fn rmdir(&self, child: &Dentry) -> Result {
        // SAFETY: as in `unlink`.
        to_result(unsafe { sys::rfs_vfs_rmdir(idmap(self.mnt), self.dir.as_ptr(), child.as_ptr()) })?;
        Ok(())
    }

    /// Removes `child` whatever its type.
    pub(crate) fn remove(&self, child: &Dentry) -> Result {
        if child.is_dir() {
            self.rmdir(child)
        } else {
            self.unlink(child)
        }
    }
}

/// A lookup in a directory the caller has locked.
fn lookup_locked(dir: &Dentry, name: &[u8]) -> Result<Dentry> {
    let len = name_len(name)?;
    // SAFETY: the caller holds `dir`'s inode lock (DirGuard or RenameGuard)
    // and a reference on it; `name` holds `len` bytes.
    let ptr = from_err_ptr(unsafe { sys::rfs_lookup_locked(dir.as_ptr(), name.as_ptr(), len) })?;
    // SAFETY: a successful lookup returns a referenced dentry.
    unsafe { Dentry::from_raw(ptr) }.ok_or(EIO)
}

/// What a rename moves: a name in the old directory, or a dentry of it
/// the caller looked up before (which must still be there).
pub(crate) enum Source<'a> {
    /// The name, looked up under the lock.
    Name(&'a [u8]),
    /// A dentry in the old directory.
    Dentry(&'a Dentry),
}

/// A rename in one branch: both directories locked and both names looked
/// up under the lock (`rfs_rename_start`); unlocked on drop.
pub(crate) struct RenameGuard<'a> {
    r: sys::rfs_rename,
    old_dir: &'a Dentry,
    new_dir: &'a Dentry,
    old_inode: *mut sys::inode,
    new_inode: *mut sys::inode,
    mnt: Mount<'a>,
    /// Our references to the two dentries `r` holds.
    source: Option<Dentry>,
    target: Option<Dentry>,
}

impl<'a> RenameGuard<'a> {
    /// Locks `old_dir` and `new_dir` (possibly the same directory) of the
    /// branch mounted at `mnt` and looks up `src` and `new_name`. ENOENT if
    /// the source name is negative, EINVAL if the source dentry moved or
    /// a directory would move below itself, ENOTEMPTY if over an ancestor.
    pub(crate) fn start(
        mnt: Mount<'a>,
        old_dir: &'a Dentry,
        src: Source<'_>,
        new_dir: &'a Dentry,
        new_name: &[u8],
    ) -> Result<Self> {
        let old_inode = inode_of(old_dir)?;
        let new_inode = inode_of(new_dir)?;
        let (child, oname): (*mut sys::dentry, &[u8]) = match src {
            Source::Name(n) => (core::ptr::null_mut(), n),
            Source::Dentry(d) => (d.as_ptr(), b""),
        };
        let (olen, nlen) = (name_len(oname)?, name_len(new_name)?);
        // SAFETY: all-zero is a valid rfs_rename (null pointers); it is
        // filled by rfs_rename_start.
        let mut r: sys::rfs_rename = unsafe { core::mem::zeroed() };
        // SAFETY: both directories are referenced directories of one
        // filesystem, `child` (if any) is referenced, the names hold the
        // given lengths; on success rfs_rename_end in drop.
        to_result(unsafe {
            sys::rfs_rename_start(
                &mut r,
                idmap(mnt),
                old_dir.as_ptr(),
                child,
                oname.as_ptr(),
                olen,
                new_dir.as_ptr(),
                new_name.as_ptr(),
                nlen,
            )
        })?;
        let mut g = RenameGuard { r, old_dir, new_dir, old_inode, new_inode, mnt, source: None, target: None };
        // SAFETY: rfs_rename_start stored two referenced dentries, which
        // `g.r` holds until drop; rfs_dget takes one more for each copy.
        let (source, target) = unsafe {
            (Dentry::from_raw(sys::rfs_dget(g.r.old)), Dentry::from_raw(sys::rfs_dget(g.r.new)))
        };
        let (Some(source), Some(target)) = (source, target) else { return Err(EIO) };
        if source.inode().is_none() {
            return Err(ENOENT);
        }
        g.source = Some(source);
        g.target = Some(target);
        Ok(g)
    }

    /// The source dentry (positive).
    pub(crate) fn source(&self) -> Result<Dentry> {
        self.source.clone().ok_or(EIO)
    }

    /// The target dentry (may be negative).
    pub(crate) fn target(&self) -> Result<Dentry> {
        self.target.clone().ok_or(EIO)
    }

    /// Operations in the (locked) old directory.
    pub(crate) fn old(&self) -> DirOps<'a> {
        DirOps { dir: self.old_dir, inode: self.old_inode, mnt: self.mnt }
    }

    /// Operations in the (locked) new directory.
    pub(crate) fn new(&self) -> DirOps<'a> {
        DirOps { dir: self.new_dir, inode: self.new_inode, mnt: self.mnt }
    }

    /// Looks `name` up in the new directory.
    pub(crate) fn lookup_new(&self, name: &[u8]) -> Result<Dentry> {
        lookup_locked(self.new_dir, name)
    }

    /// Renames the source to the target. `flags` are RENAME_* flags the
    /// branch filesystem must honour.
    pub(crate) fn rename(&mut self, flags: u32) -> Result {
        // SAFETY: both directories are locked and both dentries were looked
        // up under the lock (rfs_rename_start).
        to_result(unsafe { sys::rfs_rename_do(&mut self.r, flags) })?;
        Ok(())
    }
}

impl Drop for RenameGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: paired with the successful rfs_rename_start in `start`.
        unsafe { sys::rfs_rename_end(&mut self.r) };
    }
}

/// Attribute changes of a lower object (notify_change), built field by
/// field from a source inode.
pub(crate) struct Attr(sys::iattr);

impl Attr {
    /// No change yet.
    pub(crate) fn new() -> Self {
        Attr(sys::iattr::default())
    }

    /// From the attributes the VFS asked the union to change: the same
    /// change, without the union's open file (ATTR_FILE) and, when the
    /// VFS asks to kill setuid/setgid, without the mode it computed for the
    /// union inode (the branch computes its own, as OverlayFS does).
    ///
    /// # Safety
    /// `attr` must be the live iattr of the caller's setattr.
    pub(crate) unsafe fn from_union(attr: *const sys::iattr) -> Self {
        // SAFETY: guaranteed by the caller; iattr is plain data.
        let mut a = unsafe { core::ptr::read(attr) };
        // Neither the union file nor "this is open(O_TRUNC)" means anything
        // to the branch (rfs opens branch files without O_TRUNC; a FUSE
        // branch would skip the truncate): overlayfs clears both too.
        a.ia_valid &= !(sys::ATTR_FILE | sys::ATTR_OPEN);
        if a.ia_valid & (sys::ATTR_KILL_SUID | sys::ATTR_KILL_SGID) != 0 {
            a.ia_valid &= !sys::ATTR_MODE;
        }
        a.ia_file = core::ptr::null_mut();
        Attr(a)
    }

    /// The new size, when ATTR_SIZE is set.
    pub(crate) fn size(&self) -> Option<i64> {
        (self.0.ia_valid & sys::ATTR_SIZE != 0).then_some(self.0.ia_size)
    }

    /// Asks the branch to clear the setgid bit (ATTR_KILL_SGID: the branch
    /// computes the mode from its own inode).
    pub(crate) fn kill_sgid(mut self) -> Self {
        self.0.ia_valid |= sys::ATTR_KILL_SGID;
        self
    }

    /// Sets the size.
    pub(crate) fn set_size(mut self, size: i64) -> Self {
        self.0.ia_valid |= sys::ATTR_SIZE;
        self.0.ia_size = size;
        self
    }

    /// Sets atime and mtime explicitly.
    pub(crate) fn set_times(mut self, (atime, mtime): (sys::timespec64, sys::timespec64)) -> Self {
        self.0.ia_valid |= sys::ATTR_ATIME | sys::ATTR_MTIME | sys::ATTR_ATIME_SET | sys::ATTR_MTIME_SET;
        self.0.ia_atime = atime;
        self.0.ia_mtime = mtime;
        self
    }

    /// Sets owner, mode and/or times (`what`: ATTR_UID, ATTR_GID, ATTR_MODE,
    /// ATTR_ATIME, ATTR_MTIME) to those of `src`.
    pub(crate) fn like(mut self, src: super::inode::InodeRef<'_>, what: u32) -> Self {
        // SAFETY: `src` is live for the borrow; the helper only reads it and
        // writes our iattr.
        unsafe { sys::rfs_iattr_from_inode(&mut self.0, src.as_ptr(), what) };
        self
    }

    /// Applies the change to `d` on branch mount `mnt` (notify_change,
    /// with `d`'s inode locked as it requires).
    pub(crate) fn apply(mut self, mnt: Mount<'_>, d: &Dentry) -> Result {
        let inode = inode_of(d)?;
        if self.0.ia_valid == 0 {
            return Ok(());
        }
        // SAFETY: `d` is referenced and positive; its inode is locked around
        // notify_change as required; no delegation (local branches).
        unsafe {
            sys::rfs_inode_lock_child(inode);
            let r = sys::notify_change(idmap(mnt), d.as_ptr(), &mut self.0, core::ptr::null_mut());
            sys::rfs_inode_unlock(inode);
            to_result(r)?;
        }
        Ok(())
    }

    /// [`Attr::apply`] to the directory `dir` locks (a [`DirGuard`], or
    /// one side of a [`RenameGuard`]).
    pub(crate) fn apply_locked(mut self, dir: &DirOps<'_>) -> Result {
        if self.0.ia_valid == 0 {
            return Ok(());
        }
        // SAFETY: `dir.dir` is referenced and positive (its inode is
        // `dir.inode`) and locked by the guard `dir` comes from, as
        // notify_change requires; no delegation (local branches).
        to_result(unsafe { sys::notify_change(idmap(dir.mnt), dir.dir.as_ptr(), &mut self.0, core::ptr::null_mut()) })?;
        Ok(())
    }
}

/// Extended attributes of lower objects.
/// Write access to a branch inode (get_write_access), held until dropped:
/// ETXTBSY while a program runs from it.
pub(crate) struct InodeWriteAccess(*mut sys::inode);

impl InodeWriteAccess {
    /// Takes write access to the inode of the positive dentry `d`.
    pub(crate) fn get(d: &Dentry) -> Result<Self> {
        let i = d.inode().ok_or(ENOENT)?.as_ptr();
        // SAFETY: `d` pins its inode; the count is dropped in `drop`, and
        // the inode outlives it (the caller keeps `d`).
        to_result(unsafe { sys::rfs_get_write_access(i) })?;
        Ok(InodeWriteAccess(i))
    }
}

impl Drop for InodeWriteAccess {
    fn drop(&mut self) {
        // SAFETY: taken in `get`; the inode is still pinned by the caller.
        unsafe { sys::rfs_put_write_access(self.0) };
    }
}

/// Inode flags (`FS_*_FL`, the chattr flags) of branch objects.
pub(crate) mod flags {
    use super::{idmap, sys, to_result, Dentry, Mount, Result};

    /// Kept by a copy-up on the copy before it is moved into place
    /// (overlayfs: OVL_COPY_FS_FLAGS_MASK).
    pub(crate) const COPY: u32 = sys::FS_SYNC_FL | sys::FS_NOATIME_FL;
    /// Append-only and immutable: set on the copy only once it is in
    /// place, since a file with them cannot be renamed.
    pub(crate) const PROTECT: u32 = sys::FS_APPEND_FL | sys::FS_IMMUTABLE_FL;

    /// The flags of `d` (vfs_fileattr_get); ENOTTY or EINVAL when its
    /// filesystem has none.
    pub(crate) fn get(d: &Dentry) -> Result<u32> {
        let mut f = 0u32;
        // SAFETY: `d` is a referenced positive dentry; `f` is ours.
        to_result(unsafe { sys::rfs_fileattr_get_flags(d.as_ptr(), &mut f) })?;
        Ok(f)
    }

    /// Sets the flags of `d` (on branch mount `mnt`) named by `mask` to
    /// those of `flags` (vfs_fileattr_set; the caller has write access).
    pub(crate) fn set(mnt: Mount<'_>, d: &Dentry, flags: u32, mask: u32) -> Result {
        // SAFETY: `d` is a referenced positive dentry on `mnt`.
        to_result(unsafe { sys::rfs_fileattr_set_flags(idmap(mnt), d.as_ptr(), flags, mask) })?;
        Ok(())
    }

    /// The `struct fileattr` of a fileattr_get/fileattr_set on the union
    /// (chattr, lsattr), borrowed for the operation.
    pub(crate) struct FileAttr<'a>(&'a mut sys::rfs_fileattr);

    impl<'a> FileAttr<'a> {
        /// # Safety
        /// `fa` must be NULL or the live fileattr of the operation in
        /// progress, which nobody else uses during `'a`.
        pub(crate) unsafe fn from_raw(fa: *mut sys::rfs_fileattr) -> Option<Self> {
            // SAFETY: guaranteed by the caller.
            unsafe { fa.as_mut() }.map(FileAttr)
        }

        /// Fills it with the attributes of `real` (a positive branch
        /// object): vfs_fileattr_get.
        pub(crate) fn get_real(&mut self, real: &Dentry) -> Result {
            // SAFETY: `real` is referenced; the fileattr is ours for 'a.
            to_result(unsafe { sys::rfs_fileattr_get_real(real.as_ptr(), self.0) }).map(|_| ())
        }

        /// Sets these attributes on `real` (a positive branch object on
        /// mount `mnt`; the caller has write access): vfs_fileattr_set.
        pub(crate) fn set_real(&mut self, mnt: Mount<'_>, real: &Dentry) -> Result {
            // SAFETY: `real` is referenced and on `mnt`; the fileattr is
            // ours for 'a.
            to_result(unsafe { sys::rfs_fileattr_set_real(idmap(mnt), real.as_ptr(), self.0) }).map(|_| ())
        }
    }

    /// Whether `e` means "this filesystem has no inode flags".
    pub(crate) fn unsupported(e: kernel::error::Error) -> bool {
        e == crate::vfs::errno(sys::ENOTTY) || e == kernel::error::code::EINVAL || e == crate::vfs::code::eopnotsupp()
    }
}

pub(crate) mod xattr {
    use super::*;

    /// The names of `d`'s xattrs, NUL-separated (vfs_listxattr).
    pub(crate) fn list(d: &Dentry) -> Result<KVec<u8>> {
        // SAFETY: `d` is referenced; a NULL buffer of size 0 asks for the size.
        let n = unsafe { sys::vfs_listxattr(d.as_ptr(), core::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(kernel::error::Error::from_errno(n as i32));
        }
        let mut buf = KVec::from_elem(0u8, n as usize, GFP_KERNEL)?;
        // SAFETY: `buf` holds `n` bytes.
        let m = unsafe { sys::vfs_listxattr(d.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if m < 0 {
            return Err(kernel::error::Error::from_errno(m as i32));
        }
        crate::vfs::truncate_bytes(&mut buf, m as usize);
        Ok(buf)
    }

    /// Whether a copy-up copies xattr `name` (NUL-terminated) of the branch
    /// object `d`: false when an LSM leaves it out (its own label, which it
    /// sets on the copy itself); an error when it forbids the copy-up
    /// (security_inode_copy_up_xattr, as ovl_copy_xattr).
    pub(crate) fn copy_up_allowed(d: &Dentry, name: &[u8]) -> Result<bool> {
        if name.last() != Some(&0) {
            return Err(EINVAL);
        }
        // SAFETY: `d` is referenced and `name` NUL-terminated.
        let r = unsafe { sys::rfs_copy_up_xattr_allowed(d.as_ptr(), name.as_ptr()) };
        match r {
            0 => Ok(true),
            r if r == -(sys::ECANCELED as i32) => Ok(false),
            r if r == -(sys::EOPNOTSUPP as i32) => Ok(true),
            r => Err(kernel::error::Error::from_errno(r)),
        }
    }

    /// The value of xattr `name` (NUL-terminated) of `d`.
    pub(crate) fn get(mnt: Mount<'_>, d: &Dentry, name: &[u8]) -> Result<KVec<u8>> {
        if name.last() != Some(&0) {
            return Err(EINVAL);
        }
        // SAFETY: `d` referenced, `name` NUL-terminated; size query first.
        let n = unsafe {
            sys::vfs_getxattr(idmap(mnt), d.as_ptr(), name.as_ptr(), core::ptr::null_mut(), 0)
        };
        if n < 0 {
            return Err(kernel::error::Error::from_errno(n as i32));
        }
        let mut buf = KVec::from_elem(0u8, n as usize, GFP_KERNEL)?;
        // SAFETY: `buf` holds `n` bytes.
        let m = unsafe {
            sys::vfs_getxattr(idmap(mnt), d.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
        };
        if m < 0 {
            return Err(kernel::error::Error::from_errno(m as i32));
        }
        crate::vfs::truncate_bytes(&mut buf, m as usize);
        Ok(buf)
    }

    /// Sets xattr `name` (NUL-terminated) of `d` (vfs_setxattr; it locks the
    /// inode itself).
    pub(crate) fn set(mnt: Mount<'_>, d: &Dentry, name: &[u8], value: &[u8], flags: i32) -> Result {
        if name.last() != Some(&0) {
            return Err(EINVAL);
        }
        // SAFETY: `d` referenced, `name` NUL-terminated, `value` readable.
        to_result(unsafe {
            sys::vfs_setxattr(idmap(mnt), d.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), flags)
        })?;
        Ok(())
    }

    /// Removes xattr `name` (NUL-terminated) of `d`.
    pub(crate) fn remove(mnt: Mount<'_>, d: &Dentry, name: &[u8]) -> Result {
        if name.last() != Some(&0) {
            return Err(EINVAL);
        }
        // SAFETY: `d` referenced, `name` NUL-terminated.
        to_result(unsafe { sys::vfs_removexattr(idmap(mnt), d.as_ptr(), name.as_ptr()) })?;
        Ok(())
    }
}

/// Reads the target of the lower symlink `d` (vfs_get_link into a buffer).
pub(crate) fn read_link(d: &Dentry) -> Result<KVec<u8>> {
    let mut done = sys::delayed_call::default();
    // SAFETY: `d` is a referenced symlink; the string lives until `done` is
    // called, which happens below after the copy.
    let p = from_err_ptr(unsafe { sys::vfs_get_link(d.as_ptr(), &mut done) }.cast_mut())?;
    let mut out = KVec::new();
    if !p.is_null() {
        // SAFETY: `p` is a NUL-terminated string valid until do_delayed_call.
        let s = unsafe { core::ffi::CStr::from_ptr(p.cast()) };
        let r = out.extend_from_slice(s.to_bytes(), GFP_KERNEL);
        // SAFETY: releases what vfs_get_link set up, once.
        unsafe { sys::rfs_do_delayed_call(&mut done) };
        r?;
    } else {
        // SAFETY: as above.
        unsafe { sys::rfs_do_delayed_call(&mut done) };
    }
    Ok(out)
}

/// POSIX ACLs of lower objects (the VFS's ACL API: they are not plain
/// xattrs since Linux 6.2).
pub(crate) mod acl {
    use super::*;

    /// The two ACL kinds, with their xattr names.
    pub(crate) const KINDS: [(i32, &[u8]); 2] = [
        (ACL_TYPE_ACCESS, b"system.posix_acl_access\0"),
        (ACL_TYPE_DEFAULT, b"system.posix_acl_default\0"),
    ];
    /// ACL_TYPE_ACCESS (uapi).
    pub(crate) const ACL_TYPE_ACCESS: i32 = 0x8000;
    /// ACL_TYPE_DEFAULT (uapi).
    pub(crate) const ACL_TYPE_DEFAULT: i32 = 0x4000;

    /// The xattr name of ACL `kind`.
    pub(crate) fn name_of(kind: i32) -> Result<&'static [u8]> {
        KINDS.iter().find(|k| k.0 == kind).map(|k| k.1).ok_or(EINVAL)
    }

    /// One reference to a `struct posix_acl` (posix_acl_release on drop).
    pub(crate) struct Acl(core::ptr::NonNull<sys::posix_acl>);

    impl Acl {
        /// The raw pointer; `into_raw` hands the reference to the caller.
        pub(crate) fn into_raw(self) -> *mut sys::posix_acl {
            let p = self.0.as_ptr();
            core::mem::forget(self);
            p
        }
    }

    impl Acl {
        /// The ACL, borrowed.
        pub(crate) fn borrow(&self) -> AclRef<'_> {
            AclRef(self.0, PhantomData)
        }
    }

    /// An ACL someone holds a reference on for `'a` (the ACL a set_acl
    /// operation is given).
    #[derive(Clone, Copy)]
    pub(crate) struct AclRef<'a>(core::ptr::NonNull<sys::posix_acl>, PhantomData<&'a sys::posix_acl>);

    impl AclRef<'_> {
        /// # Safety
        /// `acl` must be NULL or an ACL the caller holds referenced for `'a`.
        pub(crate) unsafe fn from_raw(acl: *mut sys::posix_acl) -> Option<Self> {
            core::ptr::NonNull::new(acl).map(|p| AclRef(p, PhantomData))
        }
    }

    impl Drop for Acl {
        fn drop(&mut self) {
            // SAFETY: we own one reference.
            unsafe { sys::rfs_posix_acl_release(self.0.as_ptr()) };
        }
    }

    /// ACL `kind` of `d` (vfs_get_acl); `None` when it has none.
    pub(crate) fn get(mnt: Mount<'_>, d: &Dentry, kind: i32) -> Result<Option<Acl>> {
        let name = name_of(kind)?;
        // SAFETY: `d` is referenced; `name` is NUL-terminated.
        let p = unsafe { sys::vfs_get_acl(idmap(mnt), d.as_ptr(), name.as_ptr().cast()) };
        match from_err_ptr(p) {
            Ok(p) => Ok(core::ptr::NonNull::new(p).map(Acl)),
            Err(e) if e.to_errno() == -(sys::ENODATA as i32) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The ACL the VFS caches for permission checks (get_inode_acl) of the
    /// lower inode, as a raw referenced pointer, NULL or ERR_PTR.
    /// The ACL `kind` the VFS has cached for a lower inode, without taking
    /// a reference (RCU-walk; may be ACL_NOT_CACHED or NULL).
    pub(crate) fn get_cached_acl_rcu(inode: super::super::inode::InodeRef<'_>, kind: i32) -> CachedAcl {
        // SAFETY: the inode stays allocated for the borrow (the caller is in
        // an RCU read-side section); the helper only reads i_acl/i_default_acl
        // or asks the lower fs in its RCU mode.
        CachedAcl(unsafe { sys::get_cached_acl_rcu(inode.as_ptr(), kind) })
    }

    /// What get_inode_acl answers in RCU-walk: a cached ACL (no reference),
    /// NULL, ACL_NOT_CACHED, or an ERR_PTR.
    pub(crate) struct CachedAcl(*mut sys::posix_acl);

    impl CachedAcl {
        /// ECHILD: ref-walk must answer.
        pub(crate) fn echild() -> Self {
            CachedAcl(ECHILD.to_ptr())
        }

        /// The raw value for the VFS.
        pub(crate) fn into_raw(self) -> *mut sys::posix_acl {
            self.0
        }
    }

    pub(crate) fn get_inode_acl(inode: super::super::inode::InodeRef<'_>, kind: i32) -> *mut sys::posix_acl {
        // SAFETY: the inode is live for the borrow.
        unsafe { sys::get_inode_acl(inode.as_ptr(), kind) }
    }

    /// Sets (or, with `None`, removes) ACL `kind` of `d`.
    pub(crate) fn set(mnt: Mount<'_>, d: &Dentry, kind: i32, acl: Option<AclRef<'_>>) -> Result {
        let name = name_of(kind)?;
        // SAFETY: `d` is referenced, `name` NUL-terminated, `acl` live for
        // the borrow.
        let r = unsafe {
            match acl {
                None => sys::vfs_remove_acl(idmap(mnt), d.as_ptr(), name.as_ptr().cast()),
                Some(a) => sys::vfs_set_acl(idmap(mnt), d.as_ptr(), name.as_ptr().cast(), a.0.as_ptr()),
            }
        };
        match to_result(r) {
            Err(e) if acl.is_none() && e.to_errno() == -(sys::ENODATA as i32) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Copies ACL `kind` of `src` to `dst`.
    pub(crate) fn copy(src_mnt: Mount<'_>, src: &Dentry, mnt: Mount<'_>, dst: &Dentry, kind: i32) -> Result {
        let Some(a) = get(src_mnt, src, kind)? else { return Ok(()) };
        set(mnt, dst, kind, Some(a.borrow()))
    }
}
