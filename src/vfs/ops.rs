//! The operation tables handed to the VFS, and their entry points.
//!
//! The tables are built per filesystem `T` ([`Tables`]): each entry point
//! is a monomorphised `extern "C"` function that turns the raw pointers the
//! VFS passes into the binding layer's types and calls `T`'s implementation
//! of the traits below ([`DentryOperations`], [`InodeOperations`],
//! [`FileOperations`], [`DirOperations`]; the superblock's are in
//! [`FileSystem`]), then turns its `Result` back into what the VFS expects.
//! The binding layer names no type of the union; the union names no raw
//! pointer it would have to dereference.
//!
//! RCU-walk: d_revalidate, permission and get_inode_acl answer from the
//! copies of the stacks that RCU-walk may read (vfs/rcu.rs), or -ECHILD
//! when only ref-walk can tell; get_link always answers -ECHILD under RCU.

use super::dentry::UnionDentry;
use super::dir::DirEmitter;
use super::file::{File, TmpFile, UserFile};
use super::fs::{FileSystem, SuperBlock};
use super::inode::{mode, CachedInode, FsInode};
use super::rcu::RcuWalk;
use super::seq::SeqFile;
use super::sys;
use super::dentry::Dentry;
use super::lower::{acl, flags::FileAttr, Attr};
use core::marker::PhantomData;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::error::{code::*, Result};
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use super::to_result;
use kernel::prelude::*;

fn errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The inode of filesystem `T`: its data beside the VFS inode.
pub(crate) type Inode<T> = FsInode<<T as FileSystem>::Inode>;

/// What a create-like inode operation makes.
#[derive(Clone, Copy)]
pub(crate) enum New<'a> {
    /// A regular file with this mode.
    File(u16),
    /// A directory.
    Dir(u16),
    /// A fifo, socket or device node: mode and device number.
    Node(u16, u32),
    /// A symlink to this target.
    Symlink(&'a [u8]),
    /// A hard link to this object of the filesystem.
    Link(&'a Dentry),
}

/// The dentry operations (`d_revalidate`; `d_real` goes to
/// [`InodeOperations::with_top`]).
#[vtable]
pub(crate) trait DentryOperations: FileSystem {
    /// Ref-walk d_revalidate of `d` (inode `inode`, in directory `parent`;
    /// `force`: LOOKUP_REVAL): whether it is still valid.
    fn revalidate(
        _sb: SuperBlock<'_, Self>,
        _d: UnionDentry<'_>,
        _inode: Option<&Inode<Self>>,
        _parent: &Inode<Self>,
        _force: bool,
    ) -> Result<bool> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// RCU-walk d_revalidate: true when certainly valid, false when
    /// ref-walk must decide. `stamp` is the dentry's `d_fsdata`.
    fn revalidate_rcu(
        _sb: SuperBlock<'_, Self>,
        _stamp: u64,
        _inode: Option<&Inode<Self>>,
        _parent: &Inode<Self>,
        _w: &RcuWalk,
    ) -> bool {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The inode operations of every kind of inode, and the xattr handler.
#[vtable]
pub(crate) trait InodeOperations: FileSystem {
    /// Calls `f` with the branch object that gives `ui` its data and
    /// attributes (its mount and dentry), or fails when there is none.
    fn with_top<R>(_ui: &Inode<Self>, _f: impl FnOnce(super::path::Mount<'_>, &Dentry) -> R) -> Result<R>;
    /// lookup in directory `dir`: the inode for `d`, or `None` (negative).
    fn lookup(sb: SuperBlock<'_, Self>, _dir: &Inode<Self>, _d: UnionDentry<'_>) -> Result<Option<CachedInode>>;
    /// permission in ref-walk.
    fn permission(ui: &Inode<Self>, _mask: i32) -> Result;
    /// permission in RCU-walk (ECHILD: ref-walk must decide).
    fn permission_rcu(sb: SuperBlock<'_, Self>, _ui: &Inode<Self>, _mask: i32, _w: &RcuWalk) -> Result;
    /// getattr.
    fn getattr(sb: SuperBlock<'_, Self>, _ui: &Inode<Self>, _stat: &mut sys::kstat, _request_mask: u32, _flags: u32) -> Result;
    /// The symlink `get_link` reads (with the superblock's credentials).
    fn link_source(ui: &Inode<Self>) -> Result<Dentry>;
    /// get_inode_acl in RCU-walk: a cached ACL, NULL, or an ERR_PTR.
    fn inode_acl_rcu(_sb: SuperBlock<'_, Self>, _ui: &Inode<Self>, _kind: i32, _w: &RcuWalk) -> acl::CachedAcl {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// get_acl.
    fn get_acl(_sb: SuperBlock<'_, Self>, _ui: &Inode<Self>, _kind: i32) -> Result<Option<acl::Acl>> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// set_acl (`None`: remove).
    fn set_acl(_sb: SuperBlock<'_, Self>, _d: Dentry, _kind: i32, _acl: Option<acl::AclRef<'_>>) -> Result {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// listxattr: the NUL-separated names.
    fn list_xattr(_sb: SuperBlock<'_, Self>, _ui: &Inode<Self>) -> Result<KVec<u8>> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// fileattr_set.
    fn set_fileattr(_sb: SuperBlock<'_, Self>, _d: Dentry, _fa: &mut FileAttr<'_>) -> Result {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Brings the inode's attributes up to date with its branch objects.
    fn refresh(_ui: &Inode<Self>);
    /// setattr, after setattr_prepare.
    fn setattr(sb: SuperBlock<'_, Self>, _d: Dentry, _attr: Attr) -> Result;
    /// create, mkdir, mknod, symlink and link into `dir`.
    fn create(sb: SuperBlock<'_, Self>, _dir: &Inode<Self>, _d: UnionDentry<'_>, _what: New<'_>) -> Result;
    /// unlink and rmdir.
    fn remove(sb: SuperBlock<'_, Self>, _dir: &Inode<Self>, _d: UnionDentry<'_>, _is_dir: bool) -> Result;
    /// rename.
    fn rename(
        _sb: SuperBlock<'_, Self>,
        _odir: &Inode<Self>,
        _od: UnionDentry<'_>,
        _ndir: &Inode<Self>,
        _nd: UnionDentry<'_>,
        _flags: u32,
    ) -> Result {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// O_TMPFILE in `dir` (`d` is the new file's dentry).
    fn tmpfile(_sb: SuperBlock<'_, Self>, _dir: &Inode<Self>, _file: TmpFile<'_>, _mode: u16, _d: UnionDentry<'_>) -> Result {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// Sets (`None`: removes) the xattr `name` (NUL-terminated).
    fn set_xattr(_sb: SuperBlock<'_, Self>, _d: Dentry, _name: &[u8], _value: Option<&[u8]>, _flags: i32) -> Result;
}

/// The file operations of regular files, which pass I/O to a branch file.
#[vtable]
pub(crate) trait FileOperations: FileSystem {
    /// open: the private data of the new open file.
    fn open(sb: SuperBlock<'_, Self>, _ui: &Inode<Self>, _d: &Dentry, _flags: u32, _user: UserFile) -> Result<Self::RegFileData>;
    /// After a successful open, once the private data is in place.
    fn opened(ui: &Inode<Self>);
    /// release, before the private data is dropped.
    fn release(sb: SuperBlock<'_, Self>, _ui: &Inode<Self>, _rf: &Self::RegFileData);
    /// The branch file opened by `open`.
    fn real(rf: &Self::RegFileData) -> &File;
    /// The branch file switched to since the open, if any.
    fn copy(rf: &Self::RegFileData) -> Option<&File>;
    /// The branch file reads, seeks and syncs go to now.
    fn current<'a>(rf: &'a Self::RegFileData, _sb: SuperBlock<'_, Self>, _ui: &Inode<Self>) -> Result<&'a File>;
    /// After a change through the file: brings the inode up to date.
    fn refresh_file(ui: &Inode<Self>, _rf: &Self::RegFileData);
    /// After `real` was mapped for the file.
    fn mapped(rf: &Self::RegFileData, _real: &File);
    /// Whether `f` is the upper object of `ui`.
    fn on_upper(ui: &Inode<Self>, _f: &File) -> bool;
    /// Whether O_DIRECT is refused.
    fn nodio(sb: SuperBlock<'_, Self>) -> bool;
    /// `ioctl::PLINK_INFO`: (epoch, count).
    fn plink_info(_sb: SuperBlock<'_, Self>) -> Result<(u64, u64)> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `ioctl::PLINK_LINK` on the file's dentry.
    fn plink_link(_sb: SuperBlock<'_, Self>, _d: &Dentry) -> Result<bool> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `ioctl::PLINK_CLEAN` up to `epoch`: how many went.
    fn plink_clean(_sb: SuperBlock<'_, Self>, _epoch: u64) -> Result<u64> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `ioctl::AUFS_CTL_BRINFO`: one `ioctl::BRINFO_SIZE` record per
    /// branch, top first.
    fn branch_info(_sb: SuperBlock<'_, Self>) -> Result<KVVec<u8>> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `ioctl::MEMBERS` on the file's dentry: the ids of the branches its
    /// object has members in, top first (at most `ioctl::MEMBERS_MAX`),
    /// whether the top one is its upper (a writable branch), and which of
    /// them (bit i: the member at position i, i < `ioctl::MEMBERS_MAPPED_MAX`)
    /// are branch files with mappings.
    fn members(_sb: SuperBlock<'_, Self>, _d: &Dentry) -> Result<(KVec<u32>, bool, u32)> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The file operations of directories.
#[vtable]
pub(crate) trait DirOperations: FileSystem {
    /// The private data of a new open directory.
    fn open_dir() -> Self::DirFileData;
    /// A seek to 0.
    fn rewind(df: &mut Self::DirFileData);
    /// iterate_shared.
    fn iterate(sb: SuperBlock<'_, Self>, _dir: &Inode<Self>, _df: &mut Self::DirFileData, _ctx: &mut DirEmitter<'_>) -> Result;
    /// fsync.
    fn fsync(_sb: SuperBlock<'_, Self>, _dir: &Inode<Self>, _datasync: bool) -> Result {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A filesystem with every operation table.
pub(crate) trait Operations: DentryOperations + InodeOperations + FileOperations + DirOperations {}

impl<T: DentryOperations + InodeOperations + FileOperations + DirOperations> Operations for T {}

/// The inode and superblock behind a VFS inode of `T`.
///
/// # Safety
/// `inode` must be a live inode of a `T` superblock for `'a`.
unsafe fn union_inode<'a, T: FileSystem>(inode: *mut sys::inode) -> (SuperBlock<'a, T>, &'a Inode<T>) {
    // SAFETY: guaranteed by the caller; every inode of ours comes from `alloc`.
    unsafe {
        let ui = Inode::<T>::from_vfs(inode);
        (SuperBlock::<T>::from_raw((*inode).i_sb), ui)
    }
}

impl<T: Operations> Tables<T> {
    /// Whether `T` serves rfs's pseudo-link ioctls (`ioctl`).
    const HAS_PLINK: bool = T::HAS_PLINK_INFO && T::HAS_PLINK_LINK && T::HAS_PLINK_CLEAN;

    /// See [`VTable`].
    const VTABLE: VTable = VTable {
        super_ops: &Self::SUPER_OPS,
        dentry_ops: &Self::DENTRY_OPS,
        xattr_handlers: &Self::XATTR_HANDLERS,
        dir_iops: &Self::DIR_IOPS,
        file_iops: &Self::FILE_IOPS,
        symlink_iops: &Self::SYMLINK_IOPS,
        special_iops: &Self::SPECIAL_IOPS,
        dir_fops: &Self::DIR_FOPS,
        file_fops: &Self::FILE_FOPS,
        d_revalidate: d_revalidate::<T>,
        create: create::<T>,
        mkdir: mkdir::<T>,
    };

    pub(crate) const SUPER_OPS: sys::super_operations = sys::super_operations {
        alloc_inode: Some(alloc_inode::<T>),
        destroy_inode: Some(destroy_inode::<T>),
        free_inode: Some(free_inode::<T>),
        // Union inodes hashed in the inode cache (namei.rs `publish`) go as
        // soon as nobody uses them, as unhashed ones do: a cached inode would
        // pin its branch dentries (overlayfs: the same).
        drop_inode: Some(sys::rfs_drop_inode),
        statfs: Some(statfs::<T>),
        sync_fs: Some(sync_fs::<T>),
        show_options: Some(show_options::<T>),
        // SAFETY: all-zero is a valid super_operations (no operations).
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const DENTRY_OPS: sys::dentry_operations = sys::dentry_operations {
        d_revalidate: if T::HAS_REVALIDATE { Some(sys::rfs_d_revalidate_tramp) } else { None },
        d_real: Some(d_real::<T>),
        // SAFETY: all-zero is a valid dentry_operations.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const DIR_IOPS: sys::inode_operations = sys::inode_operations {
        lookup: Some(lookup::<T>),
        fileattr_get: Some(fileattr_get::<T>),
        fileattr_set: if T::HAS_SET_FILEATTR { Some(fileattr_set::<T>) } else { None },
        create: Some(sys::rfs_create_tramp),
        link: Some(link::<T>),
        unlink: Some(unlink::<T>),
        symlink: Some(symlink::<T>),
        mkdir: Some(sys::rfs_mkdir_tramp),
        rmdir: Some(rmdir::<T>),
        mknod: Some(mknod::<T>),
        rename: if T::HAS_RENAME { Some(rename::<T>) } else { None },
        tmpfile: if T::HAS_TMPFILE { Some(tmpfile::<T>) } else { None },
        ..Self::ATTR_IOPS
    };

    pub(crate) const FILE_IOPS: sys::inode_operations = sys::inode_operations {
        fileattr_get: Some(fileattr_get::<T>),
        fileattr_set: if T::HAS_SET_FILEATTR { Some(fileattr_set::<T>) } else { None },
        fiemap: Some(fiemap::<T>),
        ..Self::ATTR_IOPS
    };

    pub(crate) const SYMLINK_IOPS: sys::inode_operations = sys::inode_operations {
        get_link: Some(get_link::<T>),
        getattr: Some(getattr::<T>),
        setattr: Some(setattr::<T>),
        listxattr: if T::HAS_LIST_XATTR { Some(listxattr::<T>) } else { None },
        // SAFETY: all-zero is a valid inode_operations.
        ..unsafe { core::mem::zeroed() }
    };

    /// The attribute, permission and ACL callbacks every inode but a
    /// symlink has (also the whole table of device nodes, fifos, sockets).
    pub(crate) const ATTR_IOPS: sys::inode_operations = sys::inode_operations {
        permission: Some(permission::<T>),
        getattr: Some(getattr::<T>),
        setattr: Some(setattr::<T>),
        get_inode_acl: if T::HAS_INODE_ACL_RCU { Some(get_inode_acl::<T>) } else { None },
        get_acl: if T::HAS_GET_ACL { Some(get_acl::<T>) } else { None },
        set_acl: if T::HAS_SET_ACL { Some(set_acl::<T>) } else { None },
        listxattr: if T::HAS_LIST_XATTR { Some(listxattr::<T>) } else { None },
        // SAFETY: all-zero is a valid inode_operations.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const SPECIAL_IOPS: sys::inode_operations = Self::ATTR_IOPS;

    const XATTR_HANDLER: sys::xattr_handler = sys::xattr_handler {
        name: core::ptr::null(),
        prefix: c"".as_ptr().cast(),
        flags: 0,
        list: None,
        get: Some(xattr_get::<T>),
        set: Some(xattr_set::<T>),
    };

    /// The NULL-terminated handler list for `s_xattr`.
    pub(crate) const XATTR_HANDLERS: [*const sys::xattr_handler; 2] = [&Self::XATTR_HANDLER, core::ptr::null()];

    pub(crate) const DIR_FOPS: sys::file_operations = sys::file_operations {
        open: Some(dir_open::<T>),
        release: Some(dir_release::<T>),
        iterate_shared: Some(dir_iterate::<T>),
        llseek: Some(dir_llseek::<T>),
        read: Some(dir_read::<T>),
        fsync: if T::HAS_FSYNC { Some(dir_fsync::<T>) } else { None },
        unlocked_ioctl: if Self::HAS_PLINK { Some(union_ioctl::<T>) } else { None },
        // SAFETY: all-zero is a valid file_operations.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const FILE_FOPS: sys::file_operations = sys::file_operations {
        open: Some(file_open::<T>),
        release: Some(file_release::<T>),
        read_iter: Some(file_read_iter::<T>),
        write_iter: Some(file_write_iter::<T>),
        splice_read: Some(file_splice_read::<T>),
        splice_write: Some(file_splice_write::<T>),
        llseek: Some(file_llseek::<T>),
        mmap: Some(file_mmap::<T>),
        fsync: Some(file_fsync::<T>),
        fallocate: Some(file_fallocate::<T>),
        copy_file_range: Some(file_copy_range::<T>),
        flush: Some(file_flush::<T>),
        remap_file_range: Some(file_remap_range::<T>),
        fadvise: Some(file_fadvise::<T>),
        unlocked_ioctl: if Self::HAS_PLINK { Some(union_ioctl::<T>) } else { None },
        // SAFETY: all-zero is a valid file_operations.
        ..unsafe { core::mem::zeroed() }
    };
}

/// The operation tables of the registered filesystem, in one place: each
/// table is then at one address (a superblock's `s_op`, every inode's
/// `i_op`), and the exports below, which cannot be generic, reach the
/// filesystem's entry points.
pub(crate) struct VTable {
    pub(crate) super_ops: &'static sys::super_operations,
    pub(crate) dentry_ops: &'static sys::dentry_operations,
    pub(crate) xattr_handlers: &'static [*const sys::xattr_handler; 2],
    pub(crate) dir_iops: &'static sys::inode_operations,
    pub(crate) file_iops: &'static sys::inode_operations,
    pub(crate) symlink_iops: &'static sys::inode_operations,
    pub(crate) special_iops: &'static sys::inode_operations,
    pub(crate) dir_fops: &'static sys::file_operations,
    pub(crate) file_fops: &'static sys::file_operations,
    /// The entry points the C trampolines of include/rfs_helpers.c call
    /// (`rfs_op_*`: they adapt the kernel's signatures, which change
    /// between versions).
    d_revalidate: unsafe extern "C" fn(*mut sys::dentry, c_uint) -> c_int,
    create: unsafe extern "C" fn(*mut sys::inode, *mut sys::dentry, sys::umode_t) -> c_int,
    mkdir: unsafe extern "C" fn(*mut sys::inode, *mut sys::dentry, sys::umode_t) -> c_int,
}

// SAFETY: the tables hold only function pointers, NULLs and pointers to
// other such tables, and are never written, so sharing them is sound.
unsafe impl Sync for VTable {}

/// The `VTable` of the registered filesystem (set once, by
/// [`set_vtable`], before the filesystem type is registered).
static VTABLE: core::sync::atomic::AtomicPtr<VTable> = core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// Makes `T`'s tables the registered ones.
pub(crate) fn set_vtable<T: Operations>() {
    let v: &'static VTable = const { &Tables::<T>::VTABLE };
    VTABLE.store((v as *const VTable).cast_mut(), core::sync::atomic::Ordering::Release);
}

/// The registered tables (`None` before the registration).
pub(crate) fn vtable() -> Option<&'static VTable> {
    // SAFETY: NULL or a promoted constant, never freed.
    unsafe { VTABLE.load(core::sync::atomic::Ordering::Acquire).as_ref() }
}

/// d_revalidate, through `rfs_d_revalidate_tramp` (include/rfs_helpers.c),
/// which adapts the kernel's signature.
///
/// # Safety
/// Called by the VFS (through the trampoline) on one of our dentries.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_op_d_revalidate(dentry: *mut sys::dentry, flags: c_uint) -> c_int {
    let Some(v) = vtable() else { return EINVAL.to_errno() };
    // SAFETY: as guaranteed by our caller.
    unsafe { (v.d_revalidate)(dentry, flags) }
}

/// create, through `rfs_create_tramp` (include/rfs_helpers.c), which adapts
/// the kernel's signature (an `excl` argument on older kernels).
///
/// # Safety
/// Called by the VFS (through the trampoline) for a create in our locked
/// directory `dir`.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_op_create(dir: *mut sys::inode, d: *mut sys::dentry, mode: sys::umode_t) -> c_int {
    let Some(v) = vtable() else { return EINVAL.to_errno() };
    // SAFETY: as guaranteed by our caller.
    unsafe { (v.create)(dir, d, mode) }
}

/// mkdir, through `rfs_mkdir_tramp` (include/rfs_helpers.c), which adapts
/// the kernel's signature: 0 or an errno, the new directory at `d`.
///
/// # Safety
/// Called by the VFS (through the trampoline) for a mkdir in our locked
/// directory `dir`.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_op_mkdir(dir: *mut sys::inode, d: *mut sys::dentry, mode: sys::umode_t) -> c_int {
    let Some(v) = vtable() else { return EINVAL.to_errno() };
    // SAFETY: as guaranteed by our caller.
    unsafe { (v.mkdir)(dir, d, mode) }
}

const LOOKUP_RCU: c_uint = sys::RFS_LOOKUP_RCU;
const LOOKUP_REVAL: c_uint = sys::RFS_LOOKUP_REVAL;
const MAY_NOT_BLOCK: c_int = sys::MAY_NOT_BLOCK as c_int;

/// The operation tables of filesystem `T`, as constants: a table is used
/// through `const { &Tables::<T>::X }`, a `'static` promoted constant.
pub(crate) struct Tables<T>(PhantomData<T>);

// ---------------------------------------------------------------------------
// Superblock.


unsafe extern "C" fn alloc_inode<T: Operations>(sb: *mut sys::super_block) -> *mut sys::inode {
    // SAFETY: the VFS allocates an inode for our live superblock.
    unsafe { Inode::<T>::alloc(sb) }
}

unsafe extern "C" fn destroy_inode<T: Operations>(inode: *mut sys::inode) {
    // SAFETY: the VFS destroys an inode made by `alloc_inode`.
    unsafe { Inode::<T>::destroy(inode) }
}

unsafe extern "C" fn free_inode<T: Operations>(inode: *mut sys::inode) {
    // SAFETY: the VFS frees (after RCU) an inode made by `alloc_inode`.
    unsafe { Inode::<T>::free(inode) }
}

unsafe extern "C" fn statfs<T: Operations>(dentry: *mut sys::dentry, buf: *mut sys::kstatfs) -> c_int {
    // SAFETY: `dentry` is on our superblock; `buf` is the caller's output.
    let (sb, buf) = unsafe { (SuperBlock::<T>::from_raw((*dentry).d_sb), &mut *buf) };
    let r = T::statfs(sb, buf);
    if r.is_ok() && sb.is_aufs() {
        buf.f_type = super::fs::AUFS_SUPER_MAGIC as _;
    }
    errno(r)
}

unsafe extern "C" fn sync_fs<T: Operations>(sb: *mut sys::super_block, wait: c_int) -> c_int {
    // SAFETY: the VFS syncs our live superblock (s_umount held).
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    errno(T::sync_fs(sb, wait != 0))
}

unsafe extern "C" fn show_options<T: Operations>(m: *mut sys::seq_file, root: *mut sys::dentry) -> c_int {
    // SAFETY: `root` is our root dentry and `m` the seq_file being written.
    let (sb, m) = unsafe { (SuperBlock::<T>::from_raw((*root).d_sb), SeqFile::from_raw(m)) };
    let Some(mut m) = m else { return EINVAL.to_errno() };
    errno(T::show_options(sb, &mut m))
}

// ---------------------------------------------------------------------------
// Dentries.


/// d_real: for a union regular file, the branch dentry that holds its
/// data (its upper, else its pseudo-link, else its lower), which is what
/// runs when the file is executed or mapped (`file_mmap` maps the branch
/// file): the kernel's users of the real inode (uprobes placed by path,
/// IMA, EVM, IPE) act on it, as with ovl_d_real. Every other dentry is its
/// own. No reference is taken, as for overlayfs: the union inode holds its
/// members while the dentry is positive, and the caller holds the dentry.
///
/// # Safety
/// Called by the VFS on one of our dentries, which it holds.
unsafe extern "C" fn d_real<T: Operations>(dentry: *mut sys::dentry, ty: sys::d_real_type) -> *mut sys::dentry {
    // SAFETY: the caller holds `dentry`; its inode, if any, is an rfs inode
    // (ours are the only ones in our dentries).
    let inode = unsafe { (*dentry).d_inode };
    if inode.is_null() || unsafe { (*inode).i_mode } & mode::S_IFMT != mode::S_IFREG {
        return dentry;
    }
    // SAFETY: as above.
    let (_, ui) = unsafe { union_inode::<T>(inode) };
    // A branch that is itself a stacked filesystem (an overlayfs or
    // rfs mount) has a real dentry of its own (ovl_d_real recurses too).
    // SAFETY: the member is held by the union inode, as above.
    T::with_top(ui, |_, top| unsafe { sys::rfs_d_real(top.as_ptr(), ty) }).unwrap_or(dentry)
}

/// d_revalidate of `T`, behind `rfs_op_d_revalidate`.
///
/// # Safety
/// Called by the VFS (through the trampoline) on one of our dentries.
unsafe extern "C" fn d_revalidate<T: Operations>(dentry: *mut sys::dentry, flags: c_uint) -> c_int {
    if flags & LOOKUP_RCU != 0 {
        if flags & LOOKUP_REVAL != 0 {
            // A forced revalidation resolves the name: ref-walk only.
            return ECHILD.to_errno();
        }
        // SAFETY: LOOKUP_RCU: the VFS calls us inside rcu_read_lock().
        let w = unsafe { RcuWalk::assume() };
        // SAFETY: RCU-walk on a dentry of our superblock.
        return if unsafe { d_revalidate_rcu::<T>(dentry, &w) } { 1 } else { ECHILD.to_errno() };
    }
    // SAFETY: ref-walk: the VFS holds a reference on `dentry`, which is on
    // our superblock.
    let (sb, d) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return 0 };
        (SuperBlock::<T>::from_raw((*dentry).d_sb), d)
    };
    // The parent by reference (dget_parent): a concurrent rename may move
    // the dentry while we look.
    let parent = d.get().parent();
    let Some(pi) = union_inode_of::<T>(&parent) else { return 0 };
    let inode = d.inode_raw();
    // SAFETY: the VFS's reference on `dentry` keeps its inode live.
    let ui = unsafe { if inode.is_null() { None } else { Some(Inode::<T>::from_vfs(inode)) } };
    match T::revalidate(sb, d, ui, pi, flags & LOOKUP_REVAL != 0) {
        Ok(valid) => valid as c_int,
        Err(e) => e.to_errno(),
    }
}

/// d_revalidate in RCU-walk: true when certainly valid, false when ref-walk
/// must decide.
///
/// # Safety
/// `dentry` is a dentry of an rfs superblock that RCU-walk reached, and `w`
/// proves the read-side section the VFS holds.
unsafe fn d_revalidate_rcu<T: Operations>(dentry: *mut sys::dentry, w: &RcuWalk) -> bool {
    // SAFETY: dentries and inodes are freed only after a grace period, so
    // the dentry, its parent (read once: a rename may move it) and their
    // inodes stay allocated during `w`; the parent is on the same rfs
    // superblock, which lives while a walk is inside one of its mounts, and
    // every inode of it came from `alloc_inode`. Stale values are rejected
    // by the walk's sequence checks.
    unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return false };
        let sb = SuperBlock::<T>::from_raw((*dentry).d_sb);
        let pinode = sys::rfs_d_inode_rcu(sys::rfs_d_parent_rcu(dentry));
        if pinode.is_null() {
            return false;
        }
        let pi = Inode::<T>::from_vfs(pinode);
        let inode = sys::rfs_d_inode_rcu(dentry);
        let ui = if inode.is_null() { None } else { Some(Inode::<T>::from_vfs(inode)) };
        T::revalidate_rcu(sb, d.stamp(), ui, pi, w)
    }
}

// ---------------------------------------------------------------------------
// Inodes.





unsafe extern "C" fn lookup<T: Operations>(dir: *mut sys::inode, dentry: *mut sys::dentry, _flags: c_uint) -> *mut sys::dentry {
    // SAFETY: `dir` is our directory inode (locked shared by the VFS) and
    // `dentry` the new dentry being looked up in it.
    let (sb, ui, d) = unsafe {
        let (sb, ui) = union_inode::<T>(dir);
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_ptr() };
        (sb, ui, d)
    };
    let res = T::lookup(sb, ui, d).and_then(|inode| match inode {
        Some(inode) => inode.splice(dentry),
        None => {
            // A negative dentry: d_splice_alias(NULL) hashes it.
            // SAFETY: `dentry` is the lookup's dentry; a NULL inode is allowed.
            let r = unsafe { sys::d_splice_alias(core::ptr::null_mut(), dentry) };
            // SAFETY: d_splice_alias(NULL, ..) returns NULL or an error.
            super::from_err_ptr(r).map(|_| None)
        }
    });
    match res {
        Ok(Some(d)) => {
            let p = d.as_ptr();
            core::mem::forget(d);
            p
        }
        Ok(None) => core::ptr::null_mut(),
        Err(e) => e.to_ptr(),
    }
}

unsafe extern "C" fn permission<T: Operations>(_idmap: *mut sys::mnt_idmap, inode: *mut sys::inode, mask: c_int) -> c_int {
    if mask & MAY_NOT_BLOCK != 0 {
        // SAFETY: MAY_NOT_BLOCK: RCU-walk, inside rcu_read_lock(); the inode
        // stays allocated for the section (freed after a grace period).
        let (w, (sb, ui)) = unsafe { (RcuWalk::assume(), union_inode::<T>(inode)) };
        return errno(T::permission_rcu(sb, ui, mask, &w));
    }
    // SAFETY: ref-walk: the VFS holds the inode.
    let (_, ui) = unsafe { union_inode::<T>(inode) };
    errno(T::permission(ui, mask))
}

unsafe extern "C" fn getattr<T: Operations>(
    _idmap: *mut sys::mnt_idmap,
    path: *const sys::path,
    stat: *mut sys::kstat,
    request_mask: u32,
    flags: c_uint,
) -> c_int {
    // SAFETY: `path` is a union path the caller holds; `stat` its output.
    let (sb, ui, stat) = unsafe {
        let inode = sys::rfs_d_inode((*path).dentry);
        let (sb, ui) = union_inode::<T>(inode);
        (sb, ui, &mut *stat)
    };
    errno(T::getattr(sb, ui, stat, request_mask, flags))
}

unsafe extern "C" fn get_link<T: Operations>(
    dentry: *mut sys::dentry,
    inode: *mut sys::inode,
    done: *mut sys::delayed_call,
) -> *const c_char {
    if dentry.is_null() {
        // RCU-walk.
        return ECHILD.to_ptr();
    }
    // SAFETY: ref-walk: the VFS holds `dentry` and its inode.
    let (sb, ui) = unsafe { union_inode::<T>(inode) };
    let lower = match T::link_source(ui) {
        Ok(l) => l,
        Err(e) => return e.to_ptr(),
    };
    let _creds = sb.cred().override_creds();
    // SAFETY: `lower` is a referenced lower symlink; vfs_get_link arranges
    // for the returned string to live until `done` is called.
    unsafe { sys::vfs_get_link(lower.as_ptr(), done) }
}

unsafe extern "C" fn get_inode_acl<T: Operations>(inode: *mut sys::inode, kind: c_int, rcu: bool) -> *mut sys::posix_acl {
    if rcu {
        // SAFETY: `rcu`: called from get_cached_acl_rcu inside
        // rcu_read_lock(); the inode stays allocated for the section.
        let (w, (sb, ui)) = unsafe { (RcuWalk::assume(), union_inode::<T>(inode)) };
        return T::inode_acl_rcu(sb, ui, kind, &w).into_raw();
    }
    // SAFETY: ref-walk: the VFS holds the inode.
    let (_, ui) = unsafe { union_inode::<T>(inode) };
    match T::with_top(ui, |_, top| top.inode().map(|lower| acl::get_inode_acl(lower, kind))) {
        Ok(Some(a)) => a,
        Ok(None) => ENOENT.to_ptr(),
        Err(e) => e.to_ptr(),
    }
}

unsafe extern "C" fn get_acl<T: Operations>(_idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry, kind: c_int) -> *mut sys::posix_acl {
    // SAFETY: the VFS holds the positive union dentry.
    let (sb, ui) = unsafe { union_inode::<T>(sys::rfs_d_inode(dentry)) };
    match T::get_acl(sb, ui, kind) {
        Ok(Some(a)) => a.into_raw(),
        Ok(None) => core::ptr::null_mut(),
        Err(e) => e.to_ptr(),
    }
}

unsafe extern "C" fn set_acl<T: Operations>(
    _idmap: *mut sys::mnt_idmap,
    dentry: *mut sys::dentry,
    acl: *mut sys::posix_acl,
    kind: c_int,
) -> c_int {
    // SAFETY: the VFS holds the union dentry, its inode lock and a reference
    // on `acl` (or passes NULL to remove the ACL).
    let (sb, d) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        (SuperBlock::<T>::from_raw((*dentry).d_sb), d.get())
    };
    // SAFETY: `acl` stays referenced by the VFS during the call.
    let acl = unsafe { acl::AclRef::from_raw(acl) };
    errno(T::set_acl(sb, d, kind, acl))
}

unsafe extern "C" fn listxattr<T: Operations>(dentry: *mut sys::dentry, list: *mut c_char, size: usize) -> isize {
    // SAFETY: the VFS holds `dentry`, a positive union dentry.
    let (sb, ui) = unsafe { union_inode::<T>(sys::rfs_d_inode(dentry)) };
    let names = match T::list_xattr(sb, ui) {
        Ok(n) => n,
        Err(e) => return e.to_errno() as isize,
    };
    if size == 0 {
        return names.len() as isize;
    }
    if names.len() > size {
        return -(sys::ERANGE as isize);
    }
    // SAFETY: `list` is the caller's buffer of `size` bytes, which holds
    // the names (checked above).
    unsafe { core::ptr::copy_nonoverlapping(names.as_ptr(), list.cast::<u8>(), names.len()) };
    names.len() as isize
}

unsafe extern "C" fn fileattr_get<T: Operations>(dentry: *mut sys::dentry, fa: *mut sys::rfs_fileattr) -> c_int {
    // SAFETY: the VFS holds the positive union dentry; `fa` is its output.
    let (sb, ui) = unsafe { union_inode::<T>(sys::rfs_d_inode(dentry)) };
    // SAFETY: `fa` is the live output of this call, for us alone.
    let Some(mut fa) = (unsafe { FileAttr::from_raw(fa) }) else { return EINVAL.to_errno() };
    let r = T::with_top(ui, |_, top| {
        let _creds = sb.cred().override_creds();
        fa.get_real(top)
    });
    errno(r.and_then(|r| r))
}

unsafe extern "C" fn fiemap<T: Operations>(inode: *mut sys::inode, fieinfo: *mut sys::fiemap_extent_info, start: u64, len: u64) -> c_int {
    // SAFETY: FS_IOC_FIEMAP on our inode; `fieinfo` is the ioctl's.
    let (sb, ui) = unsafe { union_inode::<T>(inode) };
    let r = T::with_top(ui, |_, top| {
        let Some(real) = top.inode() else { return ENOENT.to_errno() };
        // The extents of the branch file that gives the data, asked as the
        // mounter (overlayfs: ovl_fiemap).
        let _creds = sb.cred().override_creds();
        // SAFETY: `real` is held by the inode; `fieinfo` is live for the call.
        unsafe { sys::rfs_fiemap_real(real.as_ptr(), fieinfo, start, len) }
    });
    r.unwrap_or_else(|e| e.to_errno())
}

unsafe extern "C" fn fileattr_set<T: Operations>(_idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry, fa: *mut sys::rfs_fileattr) -> c_int {
    // SAFETY: chattr through the union: the VFS holds the union dentry and
    // its inode lock and checked the caller's right (owner, and
    // CAP_LINUX_IMMUTABLE for append-only/immutable) on the union inode.
    let (sb, d) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        (SuperBlock::<T>::from_raw((*dentry).d_sb), d.get())
    };
    // SAFETY: `fa` stays live during the call, for us alone.
    let Some(mut fa) = (unsafe { FileAttr::from_raw(fa) }) else { return EINVAL.to_errno() };
    errno(T::set_fileattr(sb, d, &mut fa))
}

unsafe extern "C" fn setattr<T: Operations>(_idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry, attr: *mut sys::iattr) -> c_int {
    // SAFETY: the VFS holds `dentry` (positive, ours) and its inode lock,
    // and passes the live iattr of this change.
    let (sb, d, attr) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        // The checks below see the owner and mode the branch has now.
        T::refresh(union_inode::<T>(sys::rfs_d_inode(dentry)).1);
        let r = sys::setattr_prepare(sys::rfs_nop_mnt_idmap(), dentry, attr);
        if r != 0 {
            return r;
        }
        (SuperBlock::<T>::from_raw((*dentry).d_sb), d, Attr::from_union(attr))
    };
    errno(T::setattr(sb, d.get(), attr))
}

/// The pieces of a namespace operation on directory `dir` and dentry `d`.
///
/// # Safety
/// `dir` must be an rfs directory inode and `d` a dentry in it, both held by
/// the VFS (with `dir` locked) for `'a`.
unsafe fn dir_op<'a, T: Operations>(dir: *mut sys::inode, d: *mut sys::dentry) -> Option<(SuperBlock<'a, T>, &'a Inode<T>, UnionDentry<'a>)> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (sb, ui) = union_inode::<T>(dir);
        Some((sb, ui, UnionDentry::from_raw(d)?))
    }
}

/// create of `T`, behind `rfs_op_create`.
///
/// # Safety
/// Called by the VFS (through the trampoline) for a create in our locked
/// directory `dir`.
unsafe extern "C" fn create<T: Operations>(dir: *mut sys::inode, d: *mut sys::dentry, mode: sys::umode_t) -> c_int {
    // SAFETY: a create in our locked directory.
    let Some((sb, ui, d)) = (unsafe { dir_op::<T>(dir, d) }) else { return EINVAL.to_errno() };
    errno(T::create(sb, ui, d, New::File(mode)))
}

/// mkdir of `T`, behind `rfs_op_mkdir`.
///
/// # Safety
/// Called by the VFS (through the trampoline) for a mkdir in our locked
/// directory `dir`.
unsafe extern "C" fn mkdir<T: Operations>(dir: *mut sys::inode, d: *mut sys::dentry, mode: sys::umode_t) -> c_int {
    // SAFETY: a mkdir in our locked directory.
    let Some((sb, ui, d)) = (unsafe { dir_op::<T>(dir, d) }) else { return EINVAL.to_errno() };
    errno(T::create(sb, ui, d, New::Dir(mode)))
}

unsafe extern "C" fn mknod<T: Operations>(
    _idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    mode: sys::umode_t,
    dev: sys::dev_t,
) -> c_int {
    // SAFETY: a mknod in our locked directory.
    let Some((sb, ui, d)) = (unsafe { dir_op::<T>(dir, d) }) else { return EINVAL.to_errno() };
    errno(T::create(sb, ui, d, New::Node(mode, dev)))
}

unsafe extern "C" fn symlink<T: Operations>(
    _idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: a symlink in our locked directory; `target` is the
    // NUL-terminated target string copied from user space.
    let (Some((sb, ui, d)), target) = (unsafe { dir_op::<T>(dir, d) }, unsafe { core::ffi::CStr::from_ptr(target.cast()) }) else {
        return EINVAL.to_errno();
    };
    errno(T::create(sb, ui, d, New::Symlink(target.to_bytes())))
}

unsafe extern "C" fn link<T: Operations>(old: *mut sys::dentry, dir: *mut sys::inode, new: *mut sys::dentry) -> c_int {
    // SAFETY: a link into our locked directory; the VFS holds `old`, a
    // positive dentry of the same superblock, and its inode lock.
    let (Some((sb, ui, d)), Some(old)) = (unsafe { dir_op::<T>(dir, new) }, unsafe { UnionDentry::from_raw(old) }) else {
        return EINVAL.to_errno();
    };
    let old = old.get();
    errno(T::create(sb, ui, d, New::Link(&old)))
}

unsafe extern "C" fn unlink<T: Operations>(dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: an unlink in our locked directory; the VFS holds the victim's
    // inode lock too.
    let Some((sb, ui, d)) = (unsafe { dir_op::<T>(dir, d) }) else { return EINVAL.to_errno() };
    errno(T::remove(sb, ui, d, false))
}

unsafe extern "C" fn rmdir<T: Operations>(dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: as in `unlink`.
    let Some((sb, ui, d)) = (unsafe { dir_op::<T>(dir, d) }) else { return EINVAL.to_errno() };
    errno(T::remove(sb, ui, d, true))
}

unsafe extern "C" fn rename<T: Operations>(
    _idmap: *mut sys::mnt_idmap,
    odir: *mut sys::inode,
    od: *mut sys::dentry,
    ndir: *mut sys::inode,
    nd: *mut sys::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: a rename between our directories, both locked by the VFS
    // (lock_rename), with the dentries held.
    let (Some((sb, oui, od)), Some((_, nui, nd))) = (unsafe { dir_op::<T>(odir, od) }, unsafe { dir_op::<T>(ndir, nd) }) else {
        return EINVAL.to_errno();
    };
    errno(T::rename(sb, oui, od, nui, nd, flags))
}

unsafe extern "C" fn tmpfile<T: Operations>(
    _idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    file: *mut sys::file,
    mode: sys::umode_t,
) -> c_int {
    // SAFETY: an O_TMPFILE open in our directory: `file` is being opened on
    // a new dentry whose parent is the directory's dentry.
    let (Some((sb, ui, d)), Some(file)) =
        (unsafe { dir_op::<T>(dir, (*sys::rfs_file_path(file)).dentry) }, unsafe { super::file::TmpFile::from_raw(file) })
    else {
        return EINVAL.to_errno();
    };
    errno(T::tmpfile(sb, ui, file, mode, d))
}

// ---------------------------------------------------------------------------
// xattrs: read from the top member; changes copy up and go to the upper.



unsafe extern "C" fn xattr_get<T: Operations>(
    _h: *const sys::xattr_handler,
    _dentry: *mut sys::dentry,
    inode: *mut sys::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: the VFS holds the union dentry and its inode.
    let (sb, ui) = unsafe { union_inode::<T>(inode) };
    let r = T::with_top(ui, |mnt, top| {
        let _creds = sb.cred().override_creds();
        // SAFETY: `name` is the full NUL-terminated name; `buffer` holds
        // `size` bytes. The lower mount's idmap applies to the lower dentry.
        unsafe { sys::vfs_getxattr(sys::rfs_mnt_idmap(mnt.as_ptr()), top.as_ptr(), name, buffer, size) as c_int }
    });
    r.unwrap_or_else(|e| e.to_errno())
}

unsafe extern "C" fn xattr_set<T: Operations>(
    _h: *const sys::xattr_handler,
    _idmap: *mut sys::mnt_idmap,
    dentry: *mut sys::dentry,
    _inode: *mut sys::inode,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: the VFS holds the union dentry and its inode lock; `name` is
    // NUL-terminated; `value` holds `size` bytes, or is NULL for a removal.
    let (sb, d, name, value) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        let value = if value.is_null() { None } else { Some(core::slice::from_raw_parts(value.cast::<u8>(), size)) };
        (SuperBlock::<T>::from_raw((*dentry).d_sb), d, core::ffi::CStr::from_ptr(name.cast()), value)
    };
    errno(T::set_xattr(sb, d.get(), name.to_bytes_with_nul(), value, flags))
}

// ---------------------------------------------------------------------------
// Files.



/// The private data of an open union file.
///
/// # Safety
/// `file` must be an open union file whose `open` stored a `KBox<T>`; the
/// caller must not create overlapping `&mut` (the VFS serialises the users:
/// f_pos_lock for reads and seeks of one open file).
unsafe fn private<'a, T>(file: *mut sys::file) -> Option<&'a mut T> {
    // SAFETY: see above.
    unsafe { sys::rfs_file_private(file).cast::<T>().as_mut() }
}

unsafe extern "C" fn dir_open<T: Operations>(_inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    let df = match KBox::new(T::open_dir(), GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: the file is being opened by us; private_data is ours.
    unsafe { sys::rfs_set_file_private(file, KBox::into_raw(df).cast()) };
    0
}

unsafe extern "C" fn dir_release<T: Operations>(_inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: last user of the file; private_data is the box from dir_open.
    unsafe {
        let p = sys::rfs_file_private(file).cast::<T::DirFileData>();
        if !p.is_null() {
            drop(KBox::from_raw(p));
        }
    }
    0
}

unsafe extern "C" fn dir_iterate<T: Operations>(file: *mut sys::file, ctx: *mut sys::dir_context) -> c_int {
    // SAFETY: getdents holds f_pos_lock on the file; the inode is ours.
    let (sb, ui, df, emitter) = unsafe {
        let inode = (*file).f_inode;
        let (sb, ui) = union_inode::<T>(inode);
        let Some(df) = private::<T::DirFileData>(file) else { return EBADF.to_errno() };
        let Some(em) = DirEmitter::from_raw(file, ctx) else { return EINVAL.to_errno() };
        (sb, ui, df, em)
    };
    let mut emitter = emitter;
    errno(T::iterate(sb, ui, df, &mut emitter))
}

unsafe extern "C" fn dir_llseek<T: Operations>(file: *mut sys::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: the VFS holds f_pos_lock for seeks on this file.
    let (df, pos) = unsafe {
        let Some(df) = private::<T::DirFileData>(file) else { return EBADF.to_errno() as i64 };
        (df, &mut (*file).f_pos)
    };
    let new = match whence as u32 {
        sys::SEEK_SET => offset,
        sys::SEEK_CUR => match pos.checked_add(offset) {
            Some(p) => p,
            None => return EINVAL.to_errno() as i64,
        },
        _ => return EINVAL.to_errno() as i64,
    };
    if new < 0 {
        return EINVAL.to_errno() as i64;
    }
    if new == 0 {
        T::rewind(df);
    }
    *pos = new;
    new
}

unsafe extern "C" fn dir_fsync<T: Operations>(file: *mut sys::file, _start: i64, _end: i64, datasync: c_int) -> c_int {
    // SAFETY: fsync of our open directory, which pins its inode.
    let (sb, ui) = unsafe { union_inode::<T>((*file).f_inode) };
    errno(T::fsync(sb, ui, datasync != 0))
}

unsafe extern "C" fn dir_read<T: Operations>(_f: *mut sys::file, _b: *mut c_char, _n: usize, _p: *mut i64) -> isize {
    -(sys::EISDIR as isize)
}

unsafe extern "C" fn file_open<T: Operations>(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: the VFS opens our inode on f_path (held by the file); f_flags
    // is set.
    let (sb, ui, flags, d) = unsafe {
        let (sb, ui) = union_inode::<T>(inode);
        let Some(d) = UnionDentry::from_raw((*sys::rfs_file_path(file)).dentry) else { return EINVAL.to_errno() };
        (sb, ui, (*file).f_flags, d.get())
    };
    // SAFETY: the union file being opened; its RegFile (which keeps this)
    // is freed in file_release, before the file.
    let Some(user) = (unsafe { UserFile::from_raw(file) }) else { return EINVAL.to_errno() };
    let rf = match T::open(sb, ui, &d, flags, user).and_then(|rf| Ok(KBox::new(rf, GFP_KERNEL)?)) {
        Ok(rf) => rf,
        Err(e) => return e.to_errno(),
    };
    T::opened(ui);
    // SAFETY: private_data is ours.
    unsafe { sys::rfs_set_file_private(file, KBox::into_raw(rf).cast()) };
    0
}

unsafe extern "C" fn file_release<T: Operations>(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: last user of the file; private_data is the box from file_open;
    // the inode is ours.
    unsafe {
        let p = sys::rfs_file_private(file).cast::<T::RegFileData>();
        if !p.is_null() {
            let rf = KBox::from_raw(p);
            let (sb, ui) = union_inode::<T>(inode);
            T::release(sb, ui, &rf);
            drop(rf);
        }
    }
    0
}

/// The branch file of an open union file (shared access only).
///
/// # Safety
/// `file` must be an open union regular file.
unsafe fn real_file<'a, T: Operations>(file: *mut sys::file) -> Option<&'a T::RegFileData> {
    // SAFETY: private_data is the RegFile of file_open, alive until release;
    // only shared references are made here.
    unsafe { sys::rfs_file_private(file).cast::<T::RegFileData>().as_ref() }
}

/// The open union regular file `file`: its superblock, union inode and
/// `RegFile`, and the branch file its reads, seeks and maps go to now
/// (`RegFile::current`: the copy once the object was copied up).
///
/// # Safety
/// `file` must be an open union regular file.
unsafe fn current<'a, T: Operations>(file: *mut sys::file) -> Result<(SuperBlock<'a, T>, &'a Inode<T>, &'a T::RegFileData, &'a File)> {
    // SAFETY: guaranteed by the caller; an open file pins its rfs inode.
    let (rf, (sb, ui)) = unsafe { (real_file::<T>(file).ok_or(EBADF)?, union_inode::<T>((*file).f_inode)) };
    let real = T::current(rf, sb, ui)?;
    Ok((sb, ui, rf, real))
}

unsafe extern "C" fn file_read_iter<T: Operations>(iocb: *mut sys::kiocb, iter: *mut sys::iov_iter) -> isize {
    // SAFETY: `iocb` is live for the read, with ki_filp our file.
    let (iocb, (sb, _, _, real)) = unsafe {
        match current::<T>((*iocb).ki_filp) {
            Ok(c) => (&mut *iocb, c),
            Err(e) => return e.to_errno() as isize,
        }
    };
    // SAFETY: our open file.
    let r = unsafe { sync_flags::<T>(iocb.ki_filp, real) };
    if r != 0 {
        return r as isize;
    }
    // The branch file is read as the mounter, who opened it (overlayfs:
    // backing_file_read_iter with the mounter's credentials).
    let _creds = sb.cred().override_creds();
    // SAFETY: `iter` is the live iterator of this read.
    match unsafe { real.read_iter(iter, &mut iocb.ki_pos, 0) } {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

unsafe extern "C" fn file_write_iter<T: Operations>(iocb: *mut sys::kiocb, iter: *mut sys::iov_iter) -> isize {
    // SAFETY: `iocb` is live for the write, with ki_filp our file, opened for
    // writing (so its branch file is the upper one).
    let (rf, iocb, file) = unsafe {
        let file = (*iocb).ki_filp;
        let Some(rf) = real_file::<T>(file) else { return EBADF.to_errno() as isize };
        (rf, &mut *iocb, file)
    };
    // SAFETY: reads the flags of the live kiocb.
    let rwf = unsafe { sys::rfs_kiocb_write_flags(iocb) };
    if rwf < 0 {
        return rwf as isize;
    }
    // SAFETY: our open file.
    let r = unsafe { sync_flags::<T>(file, T::real(rf)) };
    if r != 0 {
        return r as isize;
    }
    // SAFETY: the file pins its inode, an rfs inode.
    let (sb, ui) = unsafe { union_inode::<T>((*file).f_inode) };
    let _lock = ui.vfs().lock();
    // Like any filesystem's write: setuid/setgid go first (through setattr
    // on the union inode, as the caller).
    // SAFETY: our open file, with its union inode locked.
    let r = unsafe { remove_privs::<T>(ui, file) };
    if r != 0 {
        return r as isize;
    }
    let _creds = sb.cred().override_creds();
    // SAFETY: `iter` is the live iterator of this write.
    let n = match unsafe { T::real(rf).write_iter(iter, &mut iocb.ki_pos, rwf) } {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    };
    T::refresh_file(ui, rf);
    n
}

/// Before I/O through the union file `file`: O_DIRECT, if set on it now
/// (at open or by fcntl since), is refused with `nodio`; O_DIRECT,
/// O_APPEND and O_NONBLOCK as they are now are passed on to the branch
/// file (fcntl F_SETFL changes them on the union file only). Returns 0 or a
/// negative errno.
///
/// # Safety
/// `file` must be an open union regular file and `real` its branch file.
unsafe fn sync_flags<T: Operations>(file: *mut sys::file, real: &File) -> c_int {
    // SAFETY: an open file's flags; the file pins its rfs inode.
    let (direct, sb) = unsafe { ((*file).f_flags & sys::O_DIRECT != 0, union_inode::<T>((*file).f_inode).0) };
    if direct && T::nodio(sb) {
        return EINVAL.to_errno();
    }
    // SAFETY: both files are open.
    unsafe { sys::rfs_file_sync_flags(file, real.as_ptr()) }
}

/// Before a write-like change of the union file `file` (of union inode
/// `ui`): clears setuid/setgid as the caller would natively
/// (file_remove_privs), judged by the mode and owner the branch has now (a
/// direct chmod counts). Returns 0 or a negative errno.
///
/// # Safety
/// `file` must be an open union file of `ui`, whose inode lock the caller
/// holds, as file_remove_privs needs.
unsafe fn remove_privs<T: Operations>(ui: &Inode<T>, file: *mut sys::file) -> c_int {
    T::refresh(ui);
    // SAFETY: guaranteed by the caller.
    unsafe { sys::file_remove_privs(file) }
}

unsafe extern "C" fn file_splice_write<T: Operations>(
    pipe: *mut sys::pipe_inode_info,
    file: *mut sys::file,
    ppos: *mut i64,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: a splice into our open file (opened for writing, so its
    // branch file is the upper one), which pins its inode.
    let (sb, ui, rf) = unsafe {
        let Some(rf) = real_file::<T>(file) else { return EBADF.to_errno() as isize };
        let (sb, ui) = union_inode::<T>((*file).f_inode);
        (sb, ui, rf)
    };
    // As a write: setuid/setgid dropped as the caller; then the branch
    // file's own splice_write, which takes its filesystem's freeze
    // protection before the pipe lock, as a splice into that filesystem
    // does (overlayfs: ovl_splice_write). Going through write_iter instead
    // would take the pipe lock first.
    // The union inode lock is held only to drop the privileges: the
    // branch's splice_write may wait for data in the pipe, and a writer
    // that fills the pipe must not wait for the union inode meanwhile (the
    // branch serialises on its own inode).
    // SAFETY: our open file and its branch file.
    let r = unsafe { sync_flags::<T>(file, T::real(rf)) };
    if r != 0 {
        return r as isize;
    }
    {
        let _lock = ui.vfs().lock();
        // SAFETY: our open file, with its union inode locked.
        let r = unsafe { remove_privs::<T>(ui, file) };
        if r != 0 {
            return r as isize;
        }
    }
    let n = {
        let _creds = sb.cred().override_creds();
        // SAFETY: the branch file is open and held by the union file; `pipe`
        // and `ppos` are the caller's, live for the call.
        unsafe { sys::rfs_splice_write_real(pipe, T::real(rf).as_ptr(), ppos, len, flags) }
    };
    T::refresh_file(ui, rf);
    n
}

unsafe extern "C" fn file_fallocate<T: Operations>(file: *mut sys::file, mode: c_int, offset: i64, len: i64) -> c_long {
    // SAFETY: fallocate on our open file (opened for writing, checked by
    // the VFS), which pins its inode.
    let (sb, ui, rf) = unsafe {
        let Some(rf) = real_file::<T>(file) else { return EBADF.to_errno() as c_long };
        let (sb, ui) = union_inode::<T>((*file).f_inode);
        (sb, ui, rf)
    };
    let _lock = ui.vfs().lock();
    // As for a write: setuid/setgid go first, as the caller.
    // SAFETY: our open file, with its union inode locked.
    let r = unsafe { remove_privs::<T>(ui, file) };
    if r != 0 {
        return r as c_long;
    }
    let r = {
        let _creds = sb.cred().override_creds();
        T::real(rf).fallocate(mode, offset, len)
    };
    T::refresh_file(ui, rf);
    errno(r) as c_long
}

/// The branch files of a copy or remap between two union files, and the
/// union inode of the destination.
///
/// # Safety
/// Both must be open union regular files (the VFS checked that they share
/// our file operations).
unsafe fn file_pair<'a, T: Operations>(fin: *mut sys::file, fout: *mut sys::file) -> Option<(SuperBlock<'a, T>, &'a Inode<T>, &'a T::RegFileData, &'a T::RegFileData)> {
    // SAFETY: guaranteed by the caller; open files pin their inodes.
    unsafe {
        let (sb, ui) = union_inode::<T>((*fout).f_inode);
        Some((sb, ui, real_file::<T>(fin)?, real_file::<T>(fout)?))
    }
}


/// A copy or remap into the union file `fout`: as for a write, the
/// destination's setuid/setgid bits go first, as the caller
/// (file_remove_privs with the union inode locked), then the branch files
/// do the work with the mounter's credentials (overlayfs: ovl_copyfile).
/// When `fin` belongs to another union, its mounter must be allowed to
/// read `read` (position, length) of its branch file first: the branch
/// call checks only the destination's. `op` runs with the union inode of
/// `fout` locked.
///
/// # Safety
/// `fin` and `fout` must be open union regular files.
unsafe fn copy_between<T: Operations>(
    fin: *mut sys::file,
    fout: *mut sys::file,
    drop_privs: bool,
    read: (i64, usize),
    op: impl FnOnce(&File, &File) -> i64,
) -> i64 {
    // SAFETY: the VFS passes two open union files with our f_op.
    let Some((sb, ui, rin, rout)) = (unsafe { file_pair::<T>(fin, fout) }) else { return EBADF.to_errno() as i64 };
    // The source reads from its copy if it was copied up since its open
    // (opened as the source union's mounter: the two may be different
    // unions).
    // SAFETY: an open union file pins its rfs inode.
    let (sbin, uin) = unsafe { union_inode::<T>((*fin).f_inode) };
    let src = match T::current(rin, sbin, uin) {
        Ok(f) => f,
        Err(e) => return e.to_errno() as i64,
    };
    for (f, real) in [(fin, src), (fout, T::real(rout))] {
        // SAFETY: our open files with these branch files.
        let r = unsafe { sync_flags::<T>(f, real) };
        if r != 0 {
            return r as i64;
        }
    }
    let _lock = ui.vfs().lock();
    if drop_privs {
        // SAFETY: our open file, with its union inode locked.
        let r = unsafe { remove_privs::<T>(ui, fout) };
        if r != 0 {
            return r as i64;
        }
    }
    if !core::ptr::eq(sbin.info(), sb.info()) {
        let _creds = sbin.cred().override_creds();
        // SAFETY: `src` is an open branch file.
        let r = unsafe { sys::rfs_verify_read(src.as_ptr(), read.0, read.1) };
        if r != 0 {
            return r as i64;
        }
    }
    let n = {
        let _creds = sb.cred().override_creds();
        op(src, T::real(rout))
    };
    T::refresh_file(ui, rout);
    n
}

unsafe extern "C" fn file_copy_range<T: Operations>(fin: *mut sys::file, pin: i64, fout: *mut sys::file, pout: i64, len: usize, flags: c_uint) -> isize {
    // SAFETY: the VFS passes two open union files with our f_op.
    unsafe {
        copy_between::<T>(fin, fout, true, (pin, len), |src, dst| {
            // SAFETY: both branch files are open and held by their union files.
            sys::vfs_copy_file_range(src.as_ptr(), pin, dst.as_ptr(), pout, len, flags) as i64
        }) as isize
    }
}

unsafe extern "C" fn file_remap_range<T: Operations>(fin: *mut sys::file, pin: i64, fout: *mut sys::file, pout: i64, len: i64, flags: c_uint) -> i64 {
    let dedupe = flags & sys::REMAP_FILE_DEDUP != 0;
    if dedupe {
        // A dedupe never copies up (it would duplicate the data it should
        // share) and never reaches a read-only branch's file, which a union
        // file opened for reading uses: EPERM unless both branch files are
        // upper objects, as overlayfs's ovl_remap_file_range does.
        // SAFETY: the VFS passes two open union files with our f_op.
        let both_upper = unsafe {
            let (Some(rin), Some(rout)) = (real_file::<T>(fin), real_file::<T>(fout)) else { return EBADF.to_errno() as i64 };
            let (sb, uin) = union_inode::<T>((*fin).f_inode);
            let (_, uout) = union_inode::<T>((*fout).f_inode);
            let src = match T::current(rin, sb, uin) {
                Ok(f) => f,
                Err(e) => return e.to_errno() as i64,
            };
            T::on_upper(uin, src) && T::on_upper(uout, T::real(rout))
        };
        if !both_upper {
            return EPERM.to_errno() as i64;
        }
    }
    // SAFETY: the VFS passes two open union files with our f_op.
    unsafe {
        copy_between::<T>(fin, fout, !dedupe, (pin, usize::try_from(len).unwrap_or(0)), |src, dst| {
            // SAFETY: both branch files are open and held by their union
            // files; a reflink or dedupe between them is checked by the branch.
            if dedupe {
                sys::vfs_dedupe_file_range_one(src.as_ptr(), pin, dst.as_ptr(), pout, len, flags)
            } else {
                sys::vfs_clone_file_range(src.as_ptr(), pin, dst.as_ptr(), pout, len, flags)
            }
        })
    }
}

unsafe extern "C" fn file_splice_read<T: Operations>(
    file: *mut sys::file,
    ppos: *mut i64,
    pipe: *mut sys::pipe_inode_info,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: the VFS passes our open file, its position and a live pipe.
    unsafe {
        let (sb, _, _, real) = match current::<T>(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno() as isize,
        };
        let r = sync_flags::<T>(file, real);
        if r != 0 {
            return r as isize;
        }
        let _creds = sb.cred().override_creds();
        match real.splice_read(&mut *ppos, pipe, len, flags) {
            Ok(n) => n,
            Err(e) => e.to_errno() as isize,
        }
    }
}

unsafe extern "C" fn file_llseek<T: Operations>(file: *mut sys::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: seeks hold f_pos_lock; the file is ours.
    unsafe {
        let (sb, _, _, real) = match current::<T>(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno() as i64,
        };
        let _creds = sb.cred().override_creds();
        match real.llseek((*file).f_pos, offset, whence) {
            Ok(p) => {
                (*file).f_pos = p;
                p
            }
            Err(e) => e.to_errno() as i64,
        }
    }
}

unsafe extern "C" fn file_mmap<T: Operations>(file: *mut sys::file, vma: *mut sys::vm_area_struct) -> c_int {
    // SAFETY: mmap of our open file; the caller holds mmap_lock.
    unsafe {
        // No open here (mmap_lock is held): the copy if the file switched
        // to it already, else the file opened (overlayfs: ovl_mmap maps
        // the file it opened).
        let Some(rf) = real_file::<T>(file) else { return EBADF.to_errno() };
        let (sb, _) = union_inode::<T>((*file).f_inode);
        let real = T::copy(rf).unwrap_or(T::real(rf));
        // The mapping gets the branch file (vma_set_file), mapped as the
        // mounter, once the LSM allowed it (overlayfs: backing_file_mmap).
        let r = {
            let _creds = sb.cred().override_creds();
            real.mmap(vma, file)
        };
        if r.is_ok() {
            T::mapped(rf, real);
        }
        errno(r)
    }
}

unsafe extern "C" fn file_fadvise<T: Operations>(file: *mut sys::file, offset: i64, len: i64, advice: c_int) -> c_int {
    // SAFETY: posix_fadvise/readahead of our open file: the branch file's
    // page cache is the one that holds the data (overlayfs: ovl_fadvise).
    unsafe {
        let (sb, _, _, real) = match current::<T>(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno(),
        };
        let _creds = sb.cred().override_creds();
        sys::vfs_fadvise(real.as_ptr(), offset, len, advice)
    }
}

/// rfs's own ioctls (Documentation/filesystems/rfs.rst, "Pseudo-link
/// flush"), on any open directory or regular file of the union. Anything
/// else is ENOTTY, as without the operation. No compat_ioctl: 32-bit
/// callers get ENOTTY (rfs's tools are 64-bit).
pub(crate) mod ioctl {
    /// `_IOR('r', 0x80, struct { __u64 epoch; __u64 count; })`
    pub(crate) const PLINK_INFO: u32 = (2 << 30) | (16 << 16) | ((b'r' as u32) << 8) | 0x80;
    /// `_IO('r', 0x81)`
    pub(crate) const PLINK_LINK: u32 = ((b'r' as u32) << 8) | 0x81;
    /// `_IOW('r', 0x82, __u64)`
    pub(crate) const PLINK_CLEAN: u32 = (1 << 30) | (8 << 16) | ((b'r' as u32) << 8) | 0x82;
    /// AUFS's `AUFS_CTL_BRINFO`: `_IOW('A', 5, union aufs_brinfo)`, one
    /// 4096-byte record per branch.
    pub(crate) const AUFS_CTL_BRINFO: u32 = (1 << 30) | (4096 << 16) | ((b'A' as u32) << 8) | 5;
    /// The size of one `AUFS_CTL_BRINFO` record.
    pub(crate) const BRINFO_SIZE: usize = 4096;
    /// `_IOR('r', 0x83, struct { __u32 count; __u32 flags; __u32 brid[62]; })`:
    /// the branches of the file's object (rfsctl busy). `flags`: bit 0,
    /// the top member is the upper; bit 1, bits 2.. are filled in; bit
    /// 2 + i, the branch file of `brid[i]` (i < 30) is mapped somewhere
    /// (/proc/PID/maps shows the union's inode for a mapping of a union
    /// file, so only this tells a mapping made before a copy-up from one
    /// made after it).
    pub(crate) const MEMBERS: u32 = (2 << 30) | (256 << 16) | ((b'r' as u32) << 8) | 0x83;
    /// How many branch ids `MEMBERS` returns at most.
    pub(crate) const MEMBERS_MAX: usize = 62;
    /// `MEMBERS` flag: the top member is the upper.
    pub(crate) const MEMBERS_UPPER: u32 = 1;
    /// `MEMBERS` flag: the mapped bits are filled in.
    pub(crate) const MEMBERS_MAPPED_KNOWN: u32 = 2;
    /// How many members `MEMBERS` tells mappings of (bits 2..31).
    pub(crate) const MEMBERS_MAPPED_MAX: usize = 30;
}

unsafe extern "C" fn union_ioctl<T: Operations>(file: *mut sys::file, cmd: c_uint, arg: c_ulong) -> c_long {
    if cmd == ioctl::AUFS_CTL_BRINFO && T::HAS_BRANCH_INFO {
        // SAFETY: as below.
        return unsafe { aufs_brinfo::<T>(file, arg) };
    }
    if cmd == ioctl::MEMBERS && T::HAS_MEMBERS {
        // SAFETY: as below.
        return unsafe { members::<T>(file, arg) };
    }
    if !matches!(cmd, ioctl::PLINK_INFO | ioctl::PLINK_LINK | ioctl::PLINK_CLEAN) {
        return ENOTTY.to_errno() as c_long;
    }
    if !crate::vfs::task::may_maintain() {
        return EPERM.to_errno() as c_long;
    }
    // SAFETY: our open file pins its dentry, inode and mount.
    let (sb, d, mnt) = unsafe {
        let path = sys::rfs_file_path(file);
        let Some(d) = UnionDentry::from_raw((*path).dentry) else { return EINVAL.to_errno() as c_long };
        (SuperBlock::<T>::from_raw((*(*path).dentry).d_sb), d, (*path).mnt)
    };
    let r: Result<c_long> = match cmd {
        ioctl::PLINK_INFO => T::plink_info(sb).and_then(|(epoch, count)| {
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&epoch.to_ne_bytes());
            out[8..].copy_from_slice(&count.to_ne_bytes());
            // SAFETY: `out` is 16 readable bytes; the helper checks `arg`.
            to_result(unsafe { sys::rfs_copy_to_user(arg, out.as_ptr().cast(), out.len()) }).map(|_| 0)
        }),
        _ => {
            // Both change the writable branch: the union mount must be
            // writable, as for any other change through it.
            // SAFETY: `mnt` is the file's mount, pinned by the file.
            if let Err(e) = to_result(unsafe { sys::mnt_want_write(mnt) }) {
                return e.to_errno() as c_long;
            }
            let r = if cmd == ioctl::PLINK_LINK {
                T::plink_link(sb, &d.get()).map(c_long::from)
            } else {
                let mut v = [0u8; 8];
                // SAFETY: `v` is 8 writable bytes; the helper checks `arg`.
                to_result(unsafe { sys::rfs_copy_from_user(v.as_mut_ptr().cast(), arg, v.len()) })
                    .and_then(|_| T::plink_clean(sb, u64::from_ne_bytes(v)))
                    .map(|n| c_long::try_from(n).unwrap_or(c_long::MAX))
            };
            // SAFETY: paired with the mnt_want_write above.
            unsafe { sys::mnt_drop_write(mnt) };
            r
        }
    };
    match r {
        Ok(v) => v,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `ioctl::MEMBERS`: which branches the object of an open union file or
/// directory lives in. Anybody who can open it may ask (it tells no more
/// than /sys/fs/rfs and the branches themselves).
///
/// # Safety
/// `file` is an open file of the union (ioctl).
unsafe fn members<T: Operations>(file: *mut sys::file, arg: c_ulong) -> c_long {
    // SAFETY: our open file pins its dentry, inode and superblock.
    let (sb, d) = unsafe {
        let path = sys::rfs_file_path(file);
        let Some(d) = UnionDentry::from_raw((*path).dentry) else { return EINVAL.to_errno() as c_long };
        (SuperBlock::<T>::from_raw((*(*path).dentry).d_sb), d)
    };
    let r = T::members(sb, &d.get()).and_then(|(ids, upper, mapped)| {
        let mut out = [0u8; 256];
        let n = ids.len().min(ioctl::MEMBERS_MAX);
        let mapped = mapped & ((1u32 << ioctl::MEMBERS_MAPPED_MAX) - 1);
        let upper = if upper { ioctl::MEMBERS_UPPER } else { 0 };
        let flags = upper | ioctl::MEMBERS_MAPPED_KNOWN | (mapped << 2);
        out[..4].copy_from_slice(&(n as u32).to_ne_bytes());
        out[4..8].copy_from_slice(&flags.to_ne_bytes());
        for (i, id) in ids.iter().take(n).enumerate() {
            let at = 8 + 4 * i;
            out[at..at + 4].copy_from_slice(&id.to_ne_bytes());
        }
        // SAFETY: `out` is 256 readable bytes; the helper checks `arg`.
        to_result(unsafe { sys::rfs_copy_to_user(arg, out.as_ptr().cast(), out.len()) })
    });
    match r {
        Ok(_) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// AUFS's `AUFS_CTL_BRINFO` on a directory of the union: with a NULL
/// argument the number of branches, else their records
/// ([`FileOperations::branch_info`]) copied to `arg`. ENOTTY on other
/// files, as AUFS.
///
/// # Safety
/// `file` is an open file of the union (ioctl).
unsafe fn aufs_brinfo<T: Operations>(file: *mut sys::file, arg: c_ulong) -> c_long {
    // SAFETY: our open file pins its dentry, inode and superblock.
    let (sb, is_dir) = unsafe {
        let d = (*sys::rfs_file_path(file)).dentry;
        (SuperBlock::<T>::from_raw((*d).d_sb), UnionDentry::from_raw(d).is_some_and(|d| d.get().is_dir()))
    };
    if !is_dir {
        return ENOTTY.to_errno() as c_long;
    }
    let r = T::branch_info(sb).and_then(|recs| {
        if arg == 0 {
            return Ok(c_long::try_from(recs.len() / ioctl::BRINFO_SIZE).unwrap_or(c_long::MAX));
        }
        // SAFETY: `recs` is readable for its length; the helper checks `arg`.
        to_result(unsafe { sys::rfs_copy_to_user(arg, recs.as_ptr().cast(), recs.len()) }).map(|_| 0)
    });
    match r {
        Ok(v) => v,
        Err(e) => e.to_errno() as c_long,
    }
}

unsafe extern "C" fn file_flush<T: Operations>(file: *mut sys::file, id: sys::fl_owner_t) -> c_int {
    // SAFETY: close (filp_flush) of our open file: the branch file's own
    // ->flush gets to report its close-time errors (overlayfs: ovl_flush).
    unsafe {
        let Some(rf) = real_file::<T>(file) else { return 0 };
        let (sb, _) = union_inode::<T>((*file).f_inode);
        let _creds = sb.cred().override_creds();
        let r = sys::rfs_file_flush(T::real(rf).as_ptr(), id);
        match T::copy(rf) {
            Some(c) if r == 0 => sys::rfs_file_flush(c.as_ptr(), id),
            _ => r,
        }
    }
}

unsafe extern "C" fn file_fsync<T: Operations>(file: *mut sys::file, start: i64, end: i64, datasync: c_int) -> c_int {
    // SAFETY: fsync of our open file, which pins its inode.
    unsafe {
        // Only the upper (the copy, for a file opened before its copy-up):
        // a read-only branch is never written (overlayfs: ovl_fsync).
        // Nothing of rfs's is unsynced in a lower file.
        let (sb, ui, _, real) = match current::<T>(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno(),
        };
        if !T::on_upper(ui, real) {
            return 0;
        }
        let _creds = sb.cred().override_creds();
        errno(real.fsync(start, end, datasync != 0))
    }
}

/// The inode of `T` of a dentry of a `T` superblock; `None` for a negative
/// dentry or one of another filesystem.
pub(crate) fn union_inode_of<T: FileSystem>(d: &Dentry) -> Option<&Inode<T>> {
    let inode = d.inode()?;
    let vt = vtable()?;
    // SAFETY: reads the superblock of a live inode (pinned by `d`).
    if !unsafe { sys::rfs_is_rfs_inode(inode.as_ptr(), vt.super_ops) } {
        return None;
    }
    // SAFETY: the inode belongs to a superblock with the registered
    // superblock operations, those of `T` (only one filesystem registers),
    // so it came from `alloc_inode`; `d` keeps it live for the returned
    // borrow.
    Some(unsafe { Inode::<T>::from_vfs(inode.as_ptr()) })
}
