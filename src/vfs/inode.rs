//! Inodes: read access to lower inodes, and the union inode container.
//!
//! A union inode is a `FsInode<T>`: rfs's per-inode data `T` next to the
//! VFS's `struct inode`, allocated from rfs's own slab cache by the
//! `alloc_inode` super operation (like `struct ovl_inode`). The data is
//! created empty in `alloc_inode`, filled in by the code that builds the
//! inode before it is published (`NewInode`), released in `destroy_inode`
//! (dropping every reference it holds) and freed after an RCU grace period in
//! `free_inode`.

use super::path::Mount;
use super::{dentry::{Dentry, UnionDentry}, sys};
use core::ptr::NonNull;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::{code::*, Result};

/// File type bits of `i_mode` (S_IFMT and friends, from the uapi).
pub(crate) mod mode {
    /// Type mask.
    pub(crate) const S_IFMT: u16 = 0o170000;
    /// Directory.
    pub(crate) const S_IFDIR: u16 = 0o040000;
    /// Regular file.
    pub(crate) const S_IFREG: u16 = 0o100000;
    /// Symbolic link.
    pub(crate) const S_IFLNK: u16 = 0o120000;
}

/// The identity of an inode (its address), which outlives no borrow: it
/// only compares, and keys the union inode cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct InodeKey(usize);

/// A borrowed inode (of a branch, or of the union) that the caller keeps
/// alive, e.g. through a dentry reference.
#[derive(Clone, Copy)]
pub(crate) struct InodeRef<'a>(&'a sys::inode);

impl<'a> InodeRef<'a> {
    /// # Safety
    /// `ptr` must be NULL or a live inode for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut sys::inode) -> Option<Self> {
        // SAFETY: guaranteed by the caller.
        unsafe { ptr.as_ref() }.map(InodeRef)
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut sys::inode {
        (self.0 as *const sys::inode).cast_mut()
    }

    /// The inode's identity, for comparisons only.
    pub(crate) fn key(&self) -> InodeKey {
        InodeKey(self.as_ptr() as usize)
    }

    /// Whether setting an access ACL on this inode clears its setgid bit
    /// for the current task (posix_acl_update_mode's rule).
    pub(crate) fn acl_kills_sgid(&self) -> bool {
        // SAFETY: the inode is live for 'a.
        unsafe { sys::rfs_acl_kills_sgid(self.as_ptr()) }
    }

    /// `i_mode`.
    pub(crate) fn mode(&self) -> u16 {
        self.0.i_mode
    }

    /// Whether the current task owns this inode or has CAP_FOWNER over it
    /// (inode_owner_or_capable, without an idmap: unions are not
    /// idmapped).
    pub(crate) fn owner_or_capable(&self) -> bool {
        // SAFETY: the inode is live for 'a.
        unsafe { sys::inode_owner_or_capable(sys::rfs_nop_mnt_idmap(), self.as_ptr()) }
    }

    /// Whether a memory mapping maps this inode's pages (mapping_mapped).
    pub(crate) fn is_mapped(&self) -> bool {
        // SAFETY: the inode is live for 'a.
        unsafe { sys::rfs_inode_mapped(self.as_ptr()) }
    }

    /// Whether the inode is append-only (`S_APPEND`).
    pub(crate) fn is_append(&self) -> bool {
        self.0.i_flags & sys::S_APPEND != 0
    }

    /// Whether the inode is immutable (`S_IMMUTABLE`).
    pub(crate) fn is_immutable(&self) -> bool {
        self.0.i_flags & sys::S_IMMUTABLE != 0
    }

    /// Whether this is a directory.
    pub(crate) fn is_dir(&self) -> bool {
        self.mode() & mode::S_IFMT == mode::S_IFDIR
    }

    /// `i_size`.
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: the inode is live for 'a; i_size_read is a plain load on
        // 64-bit.
        self.0.i_size
    }

    /// `(atime, mtime)`.
    pub(crate) fn times(&self) -> (sys::timespec64, sys::timespec64) {
        let p = self.as_ptr();
        // SAFETY: the inode is live for 'a; the helpers only read.
        unsafe { (sys::rfs_inode_get_atime(p), sys::rfs_inode_get_mtime(p)) }
    }

    /// `i_nlink`.
    pub(crate) fn nlink(&self) -> u32 {
        // SAFETY: reading the union's field of a live inode.
        unsafe { self.0.__bindgen_anon_1.i_nlink }
    }

    /// `i_ino`.
    pub(crate) fn ino(&self) -> u64 {
        self.0.i_ino as u64
    }

    /// `(s_dev of its superblock, i_ino, i_generation)`: names the inode
    /// across mounts of its filesystem (pseudo-link keys).
    pub(crate) fn identity(&self) -> (u32, u64, u32) {
        // SAFETY: a live inode's i_sb is its live superblock.
        let dev = unsafe { (*self.0.i_sb).s_dev };
        (dev, self.0.i_ino as u64, self.0.i_generation)
    }

    /// The UUID of the inode's filesystem (zero for filesystems without
    /// one: squashfs, tmpfs, ...).
    pub(crate) fn sb_uuid(&self) -> [u8; 16] {
        // SAFETY: a live inode's i_sb is its live superblock; s_uuid is
        // set at mount and not changed after.
        unsafe { (*self.0.i_sb).s_uuid.b }
    }

    /// Takes the inode lock (i_rwsem, exclusive) until the guard is dropped.
    pub(crate) fn lock(&self) -> InodeLock<'a> {
        // SAFETY: the inode is live for 'a; unlocked by the guard.
        unsafe { sys::rfs_inode_lock(self.as_ptr()) };
        InodeLock(*self)
    }

    /// Whether its filesystem keeps a change counter (`i_version`) that
    /// every change of the inode increments once the counter was read
    /// ([`InodeRef::change_stamp`] reads it).
    pub(crate) fn has_change_counter(&self) -> bool {
        // SAFETY: the inode is live for 'a; the helper reads its sb flags.
        unsafe { sys::rfs_inode_has_iversion(self.as_ptr()) }
    }

    /// A number that changes whenever the directory (or file) changes: the
    /// change counter (i_version) mixed with the ctime. Used to notice direct
    /// changes to branches (udba=reval).
    pub(crate) fn change_stamp(&self) -> u64 {
        let p = self.as_ptr();
        // SAFETY: `p` is live for 'a; both helpers only read (querying
        // i_version sets its "queried" flag atomically so the next change
        // increments it).
        let (iv, ct) = unsafe { (sys::rfs_inode_query_iversion(p), sys::rfs_inode_get_ctime(p)) };
        iv.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (ct.tv_sec as u64).rotate_left(32)
            ^ (ct.tv_nsec as u64)
    }
}

/// rfs's part of a union inode.
pub(crate) trait InodeData: Sized {
    /// The empty value `alloc_inode` starts with.
    fn empty() -> Self;
    /// Drops every reference the data holds (called in `destroy_inode`, may
    /// sleep); the memory itself goes in `free_inode`. RCU-walk may still
    /// be reading the data meanwhile (vfs/rcu.rs): only what is kept in a
    /// [`Releasable`] may change.
    fn release(&self, d: &Destroying);
}

/// Proof that the inode whose data is at hand is in `destroy_inode`: only
/// [`FsInode::destroy`] makes one.
pub(crate) struct Destroying(());

/// The part of an inode's data that `destroy_inode` empties while RCU-walk
/// may still read the *other* parts of the same data.
///
/// Ordinary readers borrow the value ([`Releasable::get`]) while they hold
/// the inode (through a dentry or inode reference), so `destroy_inode`
/// cannot run meanwhile; RCU-walk never borrows it.
pub(crate) struct Releasable<T>(UnsafeCell<T>);

// SAFETY: shared access hands out `&T` (needs T: Sync); `release` moves a
// `T` out on another thread (needs T: Send).
unsafe impl<T: Send + Sync> Sync for Releasable<T> {}
// SAFETY: owning it is owning a `T`.
unsafe impl<T: Send> Send for Releasable<T> {}

impl<T> Releasable<T> {
    /// Holds `v`.
    pub(crate) fn new(v: T) -> Self {
        Releasable(UnsafeCell::new(v))
    }

    /// The value.
    pub(crate) fn get(&self) -> &T {
        // SAFETY: only `release` writes through a shared reference, and its
        // contract is that no borrow from `get` is live then or later.
        unsafe { &*self.0.get() }
    }

    /// The value, before the inode is published.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// Replaces the value with `empty`, dropping the old one, in
    /// `destroy_inode` (`Destroying`).
    pub(crate) fn release(&self, empty: T, _: &Destroying) {
        // SAFETY: the inode is being destroyed: nobody holds it, so no
        // reference from [`Releasable::get`] is live or can be taken.
        let old = unsafe { core::ptr::replace(self.0.get(), empty) };
        drop(old);
    }
}

/// A union inode: rfs's data beside the VFS inode.
#[repr(C)]
pub(crate) struct FsInode<T> {
    data: T,
    vfs: sys::inode,
}

/// The slab cache union inodes come from; set at module load.
static INODE_CACHE: AtomicPtr<sys::kmem_cache> = AtomicPtr::new(core::ptr::null_mut());

/// The union inode cache, for the module's lifetime: created at load,
/// destroyed on drop (after the filesystem is unregistered).
pub(crate) struct InodeCache(());

impl InodeCache {
    /// Creates the cache for inodes carrying `T`.
    pub(crate) fn create<T: InodeData>() -> Result<InodeCache> {
        create_cache::<T>()?;
        Ok(InodeCache(()))
    }
}

impl Drop for InodeCache {
    fn drop(&mut self) {
        destroy_cache();
    }
}

/// Creates the union inode cache (module init).
fn create_cache<T: InodeData>() -> Result {
    let size = core::mem::size_of::<FsInode<T>>();
    let off = core::mem::offset_of!(FsInode<T>, vfs);
    // SAFETY: plain slab cache creation; the constructor initialises the
    // embedded VFS inode at `off`.
    let cache = unsafe { sys::rfs_inode_cache_create(size, off) };
    if cache.is_null() {
        return Err(ENOMEM);
    }
    INODE_CACHE.store(cache, Ordering::Release);
    Ok(())
}

/// Destroys the inode cache (module exit, after every superblock is gone).
fn destroy_cache() {
    let cache = INODE_CACHE.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !cache.is_null() {
        // SAFETY: waits for pending RCU frees of union inodes (free_inode
        // runs from call_rcu), then destroys the now empty cache.
        unsafe {
            sys::rcu_barrier();
            sys::kmem_cache_destroy(cache);
        }
    }
}

impl<T: InodeData> FsInode<T> {
    fn container(inode: *mut sys::inode) -> *mut FsInode<T> {
        let off = core::mem::offset_of!(FsInode<T>, vfs);
        inode.cast::<u8>().wrapping_sub(off).cast::<FsInode<T>>()
    }

    /// `alloc_inode`: a new union inode with empty data.
    ///
    /// # Safety
    /// Called by the VFS with a live superblock of rfs.
    pub(crate) unsafe fn alloc(sb: *mut sys::super_block) -> *mut sys::inode {
        let cache = INODE_CACHE.load(Ordering::Acquire);
        // SAFETY: `sb` is live (caller) and the cache exists while the module
        // is loaded.
        let inode = unsafe { sys::rfs_alloc_inode_sb(sb, cache) };
        if inode.is_null() {
            return inode;
        }
        let c = Self::container(inode);
        // SAFETY: the slab object is a whole `FsInode<T>`; `data` holds no
        // value yet (it is dropped in `free`), so it is written, not assigned.
        unsafe { core::ptr::addr_of_mut!((*c).data).write(T::empty()) };
        inode
    }

    /// `destroy_inode`: releases the references the data holds.
    ///
    /// # Safety
    /// `inode` came from `alloc` and is being destroyed by the VFS.
    pub(crate) unsafe fn destroy(inode: *mut sys::inode) {
        // SAFETY: the inode is being torn down: no ordinary user is left, and
        // RCU-walkers only read (`InodeData::release` keeps what they read).
        unsafe { (*Self::container(inode)).data.release(&Destroying(())) };
    }

    /// `free_inode`: drops the data and returns the memory (RCU callback).
    ///
    /// # Safety
    /// `inode` came from `alloc`; called once, after `destroy`.
    pub(crate) unsafe fn free(inode: *mut sys::inode) {
        let c = Self::container(inode);
        // SAFETY: `data` was written in `alloc` and is dropped only here;
        // then the slab object goes back to the cache it came from.
        unsafe {
            core::ptr::drop_in_place(core::ptr::addr_of_mut!((*c).data));
            sys::kmem_cache_free(INODE_CACHE.load(Ordering::Acquire), c.cast());
        }
    }

    /// The union inode behind a VFS inode of rfs.
    ///
    /// # Safety
    /// `inode` must be a live inode of an rfs superblock for `'a`.
    pub(crate) unsafe fn from_vfs<'a>(inode: *mut sys::inode) -> &'a FsInode<T> {
        // SAFETY: every inode of an rfs superblock comes from `alloc`.
        unsafe { &*Self::container(inode) }
    }

    /// rfs's data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// The VFS inode.
    pub(crate) fn vfs(&self) -> InodeRef<'_> {
        InodeRef(&self.vfs)
    }
}

/// A freshly allocated union inode, not yet visible to anyone: its data may be
/// filled in freely. Dropping it unused releases it (iput).
pub(crate) struct NewInode<T: InodeData> {
    inode: NonNull<sys::inode>,
    _t: core::marker::PhantomData<T>,
}

/// What kind of object a union inode stands for; selects its operations.
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    Reg,
    /// A symbolic link.
    Symlink,
    /// A fifo, socket or device node: opened through the union inode itself.
    Special(u32),
}

impl<T: InodeData> NewInode<T> {
    /// Allocates a union inode on `sb` (new_inode, which calls `alloc`).
    ///
    /// # Safety
    /// `sb` must be a live rfs superblock.
    pub(crate) unsafe fn new(sb: *mut sys::super_block) -> Result<Self> {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { sys::new_inode(sb) };
        let inode = NonNull::new(inode).ok_or(ENOMEM)?;
        Ok(NewInode { inode, _t: core::marker::PhantomData })
    }

    /// rfs's data, exclusively: the inode is not published yet.
    pub(crate) fn data_mut(&mut self) -> &mut T {
        let c = FsInode::<T>::container(self.inode.as_ptr());
        // SAFETY: the inode came from `alloc` (so `data` is initialised) and
        // is referenced only by `self` until it is published.
        unsafe { &mut (*c).data }
    }

    /// Sets the inode number, the mode and, from `kind`, the operations.
    pub(crate) fn init(&mut self, ino: u64, imode: u16, kind: Kind) {
        let i = self.inode.as_ptr();
        let Some(vt) = super::ops::vtable() else { return };
        // SAFETY: the inode is ours alone (see `data_mut`); the op tables are
        // static.
        unsafe {
            (*i).i_ino = ino as _;
            (*i).i_mode = imode;
            sys::rfs_inode_set_lock_class(i);
            sys::rfs_inode_dont_cache_acl(i);
            match kind {
                Kind::Dir => {
                    (*i).i_op = vt.dir_iops;
                    (*i).__bindgen_anon_3.i_fop = vt.dir_fops;
                }
                Kind::Reg => {
                    (*i).i_op = vt.file_iops;
                    (*i).__bindgen_anon_3.i_fop = vt.file_fops;
                    sys::rfs_inode_allow_odirect(i);
                }
                Kind::Symlink => {
                    (*i).i_op = vt.symlink_iops;
                }
                Kind::Special(rdev) => {
                    (*i).i_op = vt.special_iops;
                    sys::init_special_inode(i, imode, rdev);
                }
            }
        }
    }

    /// Copies owner, times, size, link count and inode flags from a lower
    /// inode, so that
    /// checks done on the union inode alone (RCU-walk permission) see the
    /// lower object's attributes.
    pub(crate) fn copy_attr(&mut self, from: InodeRef<'_>) {
        let i = self.inode.as_ptr();
        let f = from.as_ptr();
        // SAFETY: `i` is ours alone; `f` is live (the caller holds a dentry).
        unsafe {
            sys::rfs_i_uid_gid(i, f);
            (*i).i_size = (*f).i_size;
            (*i).i_blocks = (*f).i_blocks;
            sys::rfs_inode_set_times(
                i,
                sys::rfs_inode_get_atime(f),
                sys::rfs_inode_get_mtime(f),
                sys::rfs_inode_get_ctime(f),
            );
            sys::rfs_set_nlink(i, (*f).__bindgen_anon_1.i_nlink);
            // Append-only, immutable, noatime, sync: the VFS checks them on
            // the union inode before any operation of rfs is called.
            sys::rfs_copy_inode_flags(i, f);
        }
    }

    /// Publishes the inode through the union inode cache under `key` (the
    /// branch inode that gives it its data): returns it, or the union inode
    /// already cached under that key (then this one is dropped). For
    /// non-directories only.
    /// `found` is called with the cached inode if there was one (ours is
    /// dropped then).
    pub(crate) fn cached(self, key: InodeKey, found: impl FnOnce(&FsInode<T>)) -> CachedInode {
        let i = self.inode.as_ptr();
        core::mem::forget(self);
        // SAFETY: we own the only reference to the unpublished inode; the
        // helper returns a referenced inode (ours, or the cached one with
        // ours put). The key is only compared, never dereferenced.
        let r = unsafe { sys::rfs_inode_cache_insert(i, key.0 as *mut kernel::ffi::c_void) };
        if r != i {
            // SAFETY: the cache of this superblock holds only inodes made by
            // `NewInode<T>` of it, with data `T`; `r` is referenced.
            found(unsafe { FsInode::<T>::from_vfs(r) });
        }
        CachedInode(r)
    }

    /// The inode as it is, not cached (directories).
    pub(crate) fn uncached(self) -> CachedInode {
        let i = self.inode.as_ptr();
        core::mem::forget(self);
        CachedInode(i)
    }

    /// Whether it is a directory.
    pub(crate) fn is_dir(&self) -> bool {
        // SAFETY: the inode is ours and live.
        unsafe { (*self.inode.as_ptr()).i_mode & mode::S_IFMT == mode::S_IFDIR }
    }

    /// Makes the inode the root of its superblock (d_make_root).
    pub(crate) fn make_root(self) -> Result<*mut sys::dentry> {
        let i = self.inode.as_ptr();
        core::mem::forget(self);
        // SAFETY: d_make_root consumes the inode reference, also on failure.
        let root = unsafe { sys::d_make_root(i) };
        if root.is_null() {
            Err(ENOMEM)
        } else {
            Ok(root)
        }
    }
}

impl<T: InodeData> Drop for NewInode<T> {
    fn drop(&mut self) {
        // SAFETY: we own the only reference to an unpublished inode.
        unsafe { sys::iput(self.inode.as_ptr()) };
    }
}

/// The device number of a device node.
pub(crate) fn rdev(inode: InodeRef<'_>) -> u32 {
    // SAFETY: the inode is live for the borrow.
    unsafe { sys::rfs_inode_rdev(inode.as_ptr()) }
}

/// generic_permission on a union inode, for the current task.
pub(crate) fn generic_permission(inode: InodeRef<'_>, mask: i32) -> Result {
    // SAFETY: the inode is live; union inodes are not idmapped.
    super::to_result(unsafe { sys::generic_permission(sys::rfs_nop_mnt_idmap(), inode.as_ptr(), mask) })
        .map(|_| ())
}

/// inode_permission on a lower inode reached through `mnt`, for the current
/// task.
pub(crate) fn inode_permission(mnt: Mount<'_>, inode: InodeRef<'_>, mask: i32) -> Result {
    // SAFETY: `mnt` is a branch mount the caller holds; the inode is live.
    super::to_result(unsafe { sys::inode_permission(sys::rfs_mnt_idmap(mnt.as_ptr()), inode.as_ptr(), mask) })
        .map(|_| ())
}

impl<T: InodeData> FsInode<T> {
    /// Mirrors `from`'s mode bits, owner, size, blocks and times into the
    /// union inode (after an operation changed the branch object). Word-size
    /// racy updates, as the VFS itself does for i_size outside i_rwsem.
    pub(crate) fn refresh_attr(&self, from: InodeRef<'_>) {
        // SAFETY: both inodes are live for the borrows; the helper writes
        // only attribute fields that readers already treat as racy.
        unsafe { sys::rfs_copy_attr(self.vfs().as_ptr(), from.as_ptr()) };
    }

    /// Sets the link count (from the branch object, after a link change).
    pub(crate) fn set_nlink(&self, n: u32) {
        // SAFETY: set_nlink is the VFS's way to update i_nlink.
        unsafe { sys::rfs_set_nlink(self.vfs().as_ptr(), n) };
    }

    /// Marks the union inode as having no names left.
    pub(crate) fn clear_nlink(&self) {
        // SAFETY: as in `set_nlink`.
        unsafe { sys::rfs_clear_nlink(self.vfs().as_ptr()) };
    }

    /// Gives the union inode one more name: `dentry`, the negative union
    /// dentry of the link(2) in progress (ihold + d_instantiate).
    pub(crate) fn instantiate_alias(&self, dentry: &UnionDentry<'_>) {
        let i = self.vfs().as_ptr();
        // SAFETY: the inode is live (the VFS holds the old dentry); a
        // `UnionDentry` is the dentry of the operation in progress;
        // d_instantiate consumes the reference ihold takes.
        unsafe {
            sys::ihold(i);
            sys::d_instantiate(dentry.as_ptr(), i);
        }
    }
}


impl<T: InodeData> NewInode<T> {
    /// Publishes the inode as the one of an O_TMPFILE file (d_tmpfile).
    pub(crate) fn tmpfile(self, file: &super::file::TmpFile<'_>) {
        let i = self.inode.as_ptr();
        core::mem::forget(self);
        // SAFETY: `file` is the file of the tmpfile operation in progress;
        // d_tmpfile takes over our inode reference.
        unsafe { sys::d_tmpfile(file.as_ptr(), i) };
    }
}

/// A union inode reference from the cache ([`NewInode::cached`]): new or
/// shared with other names of the same file. Dropping it unused puts it.
pub(crate) struct CachedInode(*mut sys::inode);

impl CachedInode {
    /// Publishes it under a new union dentry (d_splice_alias), as
    /// [`NewInode::splice`].
    pub(crate) fn splice(self, dentry: *mut sys::dentry) -> Result<Option<Dentry>> {
        let i = self.0;
        core::mem::forget(self);
        // SAFETY: d_splice_alias consumes our inode reference, even on error;
        // `dentry` is the VFS's dentry for this lookup.
        let d = super::from_err_ptr(unsafe { sys::d_splice_alias(i, dentry) })?;
        // SAFETY: a non-NULL result is a referenced dentry given to us.
        Ok(unsafe { Dentry::from_raw(d) })
    }

    /// Publishes it under `dentry`, the negative dentry of the create in
    /// progress (d_instantiate).
    pub(crate) fn instantiate(self, dentry: &UnionDentry<'_>) {
        let i = self.0;
        core::mem::forget(self);
        // SAFETY: a `UnionDentry` is the dentry of the operation in
        // progress; d_instantiate takes our reference.
        unsafe { sys::d_instantiate(dentry.as_ptr(), i) };
    }
}

impl Drop for CachedInode {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::iput(self.0) };
    }
}

/// Gives the cached union inode `inode` its new key (after a copy-up).
pub(crate) fn cache_rekey(inode: InodeRef<'_>, key: InodeRef<'_>) {
    // SAFETY: both inodes are live; the helper only rehashes `inode`.
    unsafe { sys::rfs_inode_cache_rekey(inode.as_ptr(), key.as_ptr().cast()) };
}

/// An inode's i_rwsem held exclusively; released on drop.
pub(crate) struct InodeLock<'a>(InodeRef<'a>);

impl Drop for InodeLock<'_> {
    fn drop(&mut self) {
        // SAFETY: locked in `InodeRef::lock`; the inode outlives the guard.
        unsafe { sys::rfs_inode_unlock(self.0.as_ptr()) };
    }
}

impl<T: InodeData> NewInode<T> {
    /// Sets the link count of the unpublished inode.
    pub(crate) fn set_nlink_new(&mut self, n: u32) {
        // SAFETY: the inode is ours alone.
        unsafe { sys::rfs_set_nlink(self.inode.as_ptr(), n) };
    }
}
