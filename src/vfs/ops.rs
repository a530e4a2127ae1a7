//! The operation tables rfs hands to the VFS, and their entry points.
//!
//! Each entry point turns the raw pointers the VFS passes into the binding
//! layer's types and calls the union logic (`crate::namei`, `crate::inode`,
//! `crate::readdir`, `crate::file`, `crate::super_`), then turns its `Result`
//! back into what the VFS expects. Nothing here decides union semantics.
//!
//! RCU-walk: d_revalidate, permission and get_inode_acl answer from the
//! copies of the stacks that RCU-walk may read (vfs/rcu.rs), or -ECHILD
//! when only ref-walk can tell; get_link always answers -ECHILD under RCU.

use super::dentry::UnionDentry;
use super::dir::DirEmitter;
use super::fs::SuperBlock;
use super::inode::{mode, FsInode};
use super::rcu::RcuWalk;
use super::seq::SeqFile;
use super::sys;
use crate::file::RegFile;
use crate::inode::{InodeInfo, UnionInode};
use crate::dir::New;
use crate::readdir::DirFile;
use super::dentry::Dentry;
use super::lower::{acl, Attr};
use kernel::error::{code::*, Result};
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use super::to_result;
use kernel::prelude::*;

/// An operation table in static memory. The tables hold only function
/// pointers and NULLs and are never written, so sharing them is sound.
pub(crate) struct Table<T>(pub(crate) T);
// SAFETY: see above.
unsafe impl<T> Sync for Table<T> {}

fn errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The union inode and superblock behind a VFS inode of rfs.
///
/// # Safety
/// `inode` must be a live inode of an rfs superblock for `'a`.
unsafe fn union_inode<'a>(inode: *mut sys::inode) -> (SuperBlock<'a>, &'a UnionInode) {
    // SAFETY: guaranteed by the caller; every rfs inode comes from `alloc`.
    unsafe {
        let ui = FsInode::<InodeInfo>::from_vfs(inode);
        (SuperBlock::from_raw((*inode).i_sb), ui)
    }
}

const LOOKUP_RCU: c_uint = sys::RFS_LOOKUP_RCU;
const LOOKUP_REVAL: c_uint = sys::RFS_LOOKUP_REVAL;
const MAY_NOT_BLOCK: c_int = sys::MAY_NOT_BLOCK as c_int;

// ---------------------------------------------------------------------------
// Superblock.

pub(crate) static SUPER_OPS: Table<sys::super_operations> = Table(sys::super_operations {
    alloc_inode: Some(alloc_inode),
    destroy_inode: Some(destroy_inode),
    free_inode: Some(free_inode),
    // Union inodes hashed in the inode cache (namei.rs `publish`) go as
    // soon as nobody uses them, as unhashed ones do: a cached inode would
    // pin its branch dentries (overlayfs: the same).
    drop_inode: Some(sys::rfs_drop_inode),
    statfs: Some(statfs),
    sync_fs: Some(sync_fs),
    show_options: Some(show_options),
    // SAFETY: all-zero is a valid super_operations (no operations).
    ..unsafe { core::mem::zeroed() }
});

unsafe extern "C" fn alloc_inode(sb: *mut sys::super_block) -> *mut sys::inode {
    // SAFETY: the VFS allocates an inode for our live superblock.
    unsafe { FsInode::<InodeInfo>::alloc(sb) }
}

unsafe extern "C" fn destroy_inode(inode: *mut sys::inode) {
    // SAFETY: the VFS destroys an inode made by `alloc_inode`.
    unsafe { FsInode::<InodeInfo>::destroy(inode) }
}

unsafe extern "C" fn free_inode(inode: *mut sys::inode) {
    // SAFETY: the VFS frees (after RCU) an inode made by `alloc_inode`.
    unsafe { FsInode::<InodeInfo>::free(inode) }
}

unsafe extern "C" fn statfs(dentry: *mut sys::dentry, buf: *mut sys::kstatfs) -> c_int {
    // SAFETY: `dentry` is on our superblock; `buf` is the caller's output.
    let (sb, buf) = unsafe { (SuperBlock::from_raw((*dentry).d_sb), &mut *buf) };
    let r = crate::super_::statfs(sb.info(), buf);
    if r.is_ok() && sb.is_aufs() {
        buf.f_type = super::fs::AUFS_SUPER_MAGIC as _;
    }
    errno(r)
}

unsafe extern "C" fn sync_fs(sb: *mut sys::super_block, wait: c_int) -> c_int {
    // SAFETY: the VFS syncs our live superblock (s_umount held).
    let sb = unsafe { SuperBlock::from_raw(sb) };
    errno(crate::super_::sync_fs(sb.info(), wait != 0))
}

unsafe extern "C" fn show_options(m: *mut sys::seq_file, root: *mut sys::dentry) -> c_int {
    // SAFETY: `root` is our root dentry and `m` the seq_file being written.
    let (sb, m) = unsafe { (SuperBlock::from_raw((*root).d_sb), SeqFile::from_raw(m)) };
    let Some(mut m) = m else { return EINVAL.to_errno() };
    errno(crate::super_::show_options(sb.info(), &mut m))
}

// ---------------------------------------------------------------------------
// Dentries.

pub(crate) static DENTRY_OPS: Table<sys::dentry_operations> = Table(sys::dentry_operations {
    d_revalidate: Some(sys::rfs_d_revalidate_tramp),
    d_real: Some(d_real),
    // SAFETY: all-zero is a valid dentry_operations.
    ..unsafe { core::mem::zeroed() }
});

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
unsafe extern "C" fn d_real(dentry: *mut sys::dentry, ty: sys::d_real_type) -> *mut sys::dentry {
    // SAFETY: the caller holds `dentry`; its inode, if any, is an rfs inode
    // (ours are the only ones in our dentries).
    let inode = unsafe { (*dentry).d_inode };
    if inode.is_null() || unsafe { (*inode).i_mode } & mode::S_IFMT != mode::S_IFREG {
        return dentry;
    }
    // SAFETY: as above.
    let (_, ui) = unsafe { union_inode(inode) };
    match ui.data().view().top() {
        // A branch that is itself a stacked filesystem (an overlayfs or
        // rfs mount) has a real dentry of its own (ovl_d_real recurses too).
        // SAFETY: the member is held by the union inode, as above.
        Ok(top) => unsafe { sys::rfs_d_real(top.dentry.as_ptr(), ty) },
        Err(_) => dentry,
    }
}

/// d_revalidate, through `rfs_d_revalidate_tramp` (include/rfs_helpers.c),
/// which adapts the kernel's signature.
///
/// # Safety
/// Called by the VFS (through the trampoline) on one of our dentries.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_op_d_revalidate(dentry: *mut sys::dentry, flags: c_uint) -> c_int {
    if flags & LOOKUP_RCU != 0 {
        if flags & LOOKUP_REVAL != 0 {
            // A forced revalidation resolves the name: ref-walk only.
            return ECHILD.to_errno();
        }
        // SAFETY: LOOKUP_RCU: the VFS calls us inside rcu_read_lock().
        let w = unsafe { RcuWalk::assume() };
        // SAFETY: RCU-walk on a dentry of our superblock.
        return if unsafe { d_revalidate_rcu(dentry, &w) } { 1 } else { ECHILD.to_errno() };
    }
    // SAFETY: ref-walk: the VFS holds a reference on `dentry`, which is on
    // our superblock.
    let (sb, d) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return 0 };
        (SuperBlock::from_raw((*dentry).d_sb), d)
    };
    // The parent by reference (dget_parent): a concurrent rename may move
    // the dentry while we look.
    let parent = d.get().parent();
    let Some(pi) = union_inode_of(&parent) else { return 0 };
    let inode = d.inode_raw();
    // SAFETY: the VFS's reference on `dentry` keeps its inode live.
    let ui = unsafe { if inode.is_null() { None } else { Some(FsInode::<InodeInfo>::from_vfs(inode)) } };
    match crate::namei::revalidate(sb, d, ui, pi, flags & LOOKUP_REVAL != 0) {
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
unsafe fn d_revalidate_rcu(dentry: *mut sys::dentry, w: &RcuWalk) -> bool {
    // SAFETY: dentries and inodes are freed only after a grace period, so
    // the dentry, its parent (read once: a rename may move it) and their
    // inodes stay allocated during `w`; the parent is on the same rfs
    // superblock, which lives while a walk is inside one of its mounts, and
    // every inode of it came from `alloc_inode`. Stale values are rejected
    // by the walk's sequence checks.
    unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return false };
        let sb = SuperBlock::from_raw((*dentry).d_sb);
        let pinode = sys::rfs_d_inode_rcu(sys::rfs_d_parent_rcu(dentry));
        if pinode.is_null() {
            return false;
        }
        let pi = FsInode::<InodeInfo>::from_vfs(pinode);
        let inode = sys::rfs_d_inode_rcu(dentry);
        let ui = if inode.is_null() { None } else { Some(FsInode::<InodeInfo>::from_vfs(inode)) };
        crate::namei::revalidate_rcu(sb.info(), d.stamp(), ui, pi, w)
    }
}

// ---------------------------------------------------------------------------
// Inodes.

pub(crate) static DIR_IOPS: Table<sys::inode_operations> = Table(sys::inode_operations {
    lookup: Some(lookup),
    permission: Some(permission),
    getattr: Some(getattr),
    setattr: Some(setattr),
    get_inode_acl: Some(get_inode_acl),
    get_acl: Some(get_acl),
    set_acl: Some(set_acl),
    fileattr_get: Some(fileattr_get),
    fileattr_set: Some(fileattr_set),
    listxattr: Some(listxattr),
    create: Some(sys::rfs_create_tramp),
    link: Some(link),
    unlink: Some(unlink),
    symlink: Some(symlink),
    mkdir: Some(sys::rfs_mkdir_tramp),
    rmdir: Some(rmdir),
    mknod: Some(mknod),
    rename: Some(rename),
    tmpfile: Some(tmpfile),
    // SAFETY: all-zero is a valid inode_operations.
    ..unsafe { core::mem::zeroed() }
});

pub(crate) static FILE_IOPS: Table<sys::inode_operations> = Table(sys::inode_operations {
    permission: Some(permission),
    getattr: Some(getattr),
    setattr: Some(setattr),
    get_inode_acl: Some(get_inode_acl),
    get_acl: Some(get_acl),
    set_acl: Some(set_acl),
    fileattr_get: Some(fileattr_get),
    fileattr_set: Some(fileattr_set),
    listxattr: Some(listxattr),
    fiemap: Some(fiemap),
    // SAFETY: all-zero is a valid inode_operations.
    ..unsafe { core::mem::zeroed() }
});

pub(crate) static SYMLINK_IOPS: Table<sys::inode_operations> = Table(sys::inode_operations {
    get_link: Some(get_link),
    getattr: Some(getattr),
    setattr: Some(setattr),
    listxattr: Some(listxattr),
    // SAFETY: all-zero is a valid inode_operations.
    ..unsafe { core::mem::zeroed() }
});

pub(crate) static SPECIAL_IOPS: Table<sys::inode_operations> = Table(sys::inode_operations {
    permission: Some(permission),
    getattr: Some(getattr),
    setattr: Some(setattr),
    get_inode_acl: Some(get_inode_acl),
    get_acl: Some(get_acl),
    set_acl: Some(set_acl),
    listxattr: Some(listxattr),
    // SAFETY: all-zero is a valid inode_operations.
    ..unsafe { core::mem::zeroed() }
});

unsafe extern "C" fn lookup(dir: *mut sys::inode, dentry: *mut sys::dentry, _flags: c_uint) -> *mut sys::dentry {
    // SAFETY: `dir` is our directory inode (locked shared by the VFS) and
    // `dentry` the new dentry being looked up in it.
    let (sb, ui, d) = unsafe {
        let (sb, ui) = union_inode(dir);
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_ptr() };
        (sb, ui, d)
    };
    let res = crate::namei::lookup(sb, ui, d).and_then(|inode| match inode {
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

unsafe extern "C" fn permission(_idmap: *mut sys::mnt_idmap, inode: *mut sys::inode, mask: c_int) -> c_int {
    if mask & MAY_NOT_BLOCK != 0 {
        // SAFETY: MAY_NOT_BLOCK: RCU-walk, inside rcu_read_lock(); the inode
        // stays allocated for the section (freed after a grace period).
        let (w, (sb, ui)) = unsafe { (RcuWalk::assume(), union_inode(inode)) };
        return errno(crate::inode::permission_rcu(sb.info(), ui, mask, &w));
    }
    // SAFETY: ref-walk: the VFS holds the inode.
    let (_, ui) = unsafe { union_inode(inode) };
    errno(crate::inode::permission(ui, mask))
}

unsafe extern "C" fn getattr(
    _idmap: *mut sys::mnt_idmap,
    path: *const sys::path,
    stat: *mut sys::kstat,
    request_mask: u32,
    flags: c_uint,
) -> c_int {
    // SAFETY: `path` is a union path the caller holds; `stat` its output.
    let (sb, ui, stat) = unsafe {
        let inode = sys::rfs_d_inode((*path).dentry);
        let (sb, ui) = union_inode(inode);
        (sb, ui, &mut *stat)
    };
    errno(crate::inode::getattr(sb, ui, stat, request_mask, flags))
}

unsafe extern "C" fn get_link(
    dentry: *mut sys::dentry,
    inode: *mut sys::inode,
    done: *mut sys::delayed_call,
) -> *const c_char {
    if dentry.is_null() {
        // RCU-walk.
        return ECHILD.to_ptr();
    }
    // SAFETY: ref-walk: the VFS holds `dentry` and its inode.
    let (sb, ui) = unsafe { union_inode(inode) };
    let lower = match crate::inode::link_source(ui) {
        Ok(l) => l,
        Err(e) => return e.to_ptr(),
    };
    let _creds = sb.info().cred.override_creds();
    // SAFETY: `lower` is a referenced lower symlink; vfs_get_link arranges
    // for the returned string to live until `done` is called.
    unsafe { sys::vfs_get_link(lower.as_ptr(), done) }
}

unsafe extern "C" fn get_inode_acl(inode: *mut sys::inode, kind: c_int, rcu: bool) -> *mut sys::posix_acl {
    if rcu {
        // SAFETY: `rcu`: called from get_cached_acl_rcu inside
        // rcu_read_lock(); the inode stays allocated for the section.
        let (w, (sb, ui)) = unsafe { (RcuWalk::assume(), union_inode(inode)) };
        return crate::inode::inode_acl_rcu(sb.info(), ui, kind, &w);
    }
    // SAFETY: ref-walk: the VFS holds the inode.
    let (_, ui) = unsafe { union_inode(inode) };
    let view = ui.data().view();
    match view.top().map(|t| t.dentry.inode()) {
        Ok(Some(lower)) => acl::get_inode_acl(lower, kind),
        Ok(None) => ENOENT.to_ptr(),
        Err(e) => e.to_ptr(),
    }
}

unsafe extern "C" fn get_acl(_idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry, kind: c_int) -> *mut sys::posix_acl {
    // SAFETY: the VFS holds the positive union dentry.
    let (sb, ui) = unsafe { union_inode(sys::rfs_d_inode(dentry)) };
    match crate::inode::get_acl(sb, ui, kind) {
        Ok(Some(a)) => a.into_raw(),
        Ok(None) => core::ptr::null_mut(),
        Err(e) => e.to_ptr(),
    }
}

unsafe extern "C" fn set_acl(
    _idmap: *mut sys::mnt_idmap,
    dentry: *mut sys::dentry,
    acl: *mut sys::posix_acl,
    kind: c_int,
) -> c_int {
    // SAFETY: the VFS holds the union dentry, its inode lock and a reference
    // on `acl` (or passes NULL to remove the ACL).
    let (sb, d) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        (SuperBlock::from_raw((*dentry).d_sb), d.get())
    };
    // SAFETY: `acl` stays referenced by the VFS during the call.
    let acl = unsafe { acl::AclRef::from_raw(acl) };
    errno(crate::inode::set_acl(sb, d, kind, acl))
}

unsafe extern "C" fn listxattr(dentry: *mut sys::dentry, list: *mut c_char, size: usize) -> isize {
    // SAFETY: the VFS holds `dentry`, a positive union dentry.
    let (sb, ui) = unsafe { union_inode(sys::rfs_d_inode(dentry)) };
    let names = match crate::inode::list_xattr(sb, ui) {
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

unsafe extern "C" fn fileattr_get(dentry: *mut sys::dentry, fa: *mut sys::rfs_fileattr) -> c_int {
    // SAFETY: the VFS holds the positive union dentry; `fa` is its output.
    let (sb, ui) = unsafe { union_inode(sys::rfs_d_inode(dentry)) };
    let view = ui.data().view();
    let top = match view.top() {
        Ok(t) => t,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: `fa` is the live output of this call, for us alone.
    let Some(mut fa) = (unsafe { super::lower::flags::FileAttr::from_raw(fa) }) else { return EINVAL.to_errno() };
    let _creds = sb.info().cred.override_creds();
    errno(fa.get_real(&top.dentry))
}

unsafe extern "C" fn fiemap(inode: *mut sys::inode, fieinfo: *mut sys::fiemap_extent_info, start: u64, len: u64) -> c_int {
    // SAFETY: FS_IOC_FIEMAP on our inode; `fieinfo` is the ioctl's.
    let (sb, ui) = unsafe { union_inode(inode) };
    let view = ui.data().view();
    let top = match view.top() {
        Ok(t) => t,
        Err(e) => return e.to_errno(),
    };
    let Some(real) = top.dentry.inode() else { return ENOENT.to_errno() };
    // The extents of the branch file that gives the data, asked as the
    // mounter (overlayfs: ovl_fiemap).
    let _creds = sb.info().cred.override_creds();
    // SAFETY: `real` is held by the view; `fieinfo` is live for the call.
    unsafe { sys::rfs_fiemap_real(real.as_ptr(), fieinfo, start, len) }
}

unsafe extern "C" fn fileattr_set(_idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry, fa: *mut sys::rfs_fileattr) -> c_int {
    // SAFETY: chattr through the union: the VFS holds the union dentry and
    // its inode lock and checked the caller's right (owner, and
    // CAP_LINUX_IMMUTABLE for append-only/immutable) on the union inode.
    let (sb, d) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        (SuperBlock::from_raw((*dentry).d_sb), d.get())
    };
    // SAFETY: `fa` stays live during the call, for us alone.
    let Some(mut fa) = (unsafe { super::lower::flags::FileAttr::from_raw(fa) }) else { return EINVAL.to_errno() };
    errno(crate::inode::set_fileattr(sb, d, &mut fa))
}

unsafe extern "C" fn setattr(_idmap: *mut sys::mnt_idmap, dentry: *mut sys::dentry, attr: *mut sys::iattr) -> c_int {
    // SAFETY: the VFS holds `dentry` (positive, ours) and its inode lock,
    // and passes the live iattr of this change.
    let (sb, d, attr) = unsafe {
        let Some(d) = UnionDentry::from_raw(dentry) else { return EINVAL.to_errno() };
        // The checks below see the owner and mode the branch has now.
        crate::inode::refresh(union_inode(sys::rfs_d_inode(dentry)).1);
        let r = sys::setattr_prepare(sys::rfs_nop_mnt_idmap(), dentry, attr);
        if r != 0 {
            return r;
        }
        (SuperBlock::from_raw((*dentry).d_sb), d, Attr::from_union(attr))
    };
    errno(crate::inode::setattr(sb, d.get(), attr))
}

/// The pieces of a namespace operation on directory `dir` and dentry `d`.
///
/// # Safety
/// `dir` must be an rfs directory inode and `d` a dentry in it, both held by
/// the VFS (with `dir` locked) for `'a`.
unsafe fn dir_op<'a>(dir: *mut sys::inode, d: *mut sys::dentry) -> Option<(SuperBlock<'a>, &'a UnionInode, UnionDentry<'a>)> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (sb, ui) = union_inode(dir);
        Some((sb, ui, UnionDentry::from_raw(d)?))
    }
}

/// create, through `rfs_create_tramp` (include/rfs_helpers.c), which adapts
/// the kernel's signature (an `excl` argument on older kernels).
///
/// # Safety
/// Called by the VFS (through the trampoline) for a create in our locked
/// directory `dir`.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_op_create(dir: *mut sys::inode, d: *mut sys::dentry, mode: sys::umode_t) -> c_int {
    // SAFETY: a create in our locked directory.
    let Some((sb, ui, d)) = (unsafe { dir_op(dir, d) }) else { return EINVAL.to_errno() };
    errno(crate::dir::create(sb, ui, d, New::File(mode)))
}

/// mkdir, through `rfs_mkdir_tramp` (include/rfs_helpers.c), which adapts
/// the kernel's signature: 0 or an errno, the new directory at `d`.
///
/// # Safety
/// Called by the VFS (through the trampoline) for a mkdir in our locked
/// directory `dir`.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_op_mkdir(dir: *mut sys::inode, d: *mut sys::dentry, mode: sys::umode_t) -> c_int {
    // SAFETY: a mkdir in our locked directory.
    let Some((sb, ui, d)) = (unsafe { dir_op(dir, d) }) else { return EINVAL.to_errno() };
    errno(crate::dir::create(sb, ui, d, New::Dir(mode)))
}

unsafe extern "C" fn mknod(
    _idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    mode: sys::umode_t,
    dev: sys::dev_t,
) -> c_int {
    // SAFETY: a mknod in our locked directory.
    let Some((sb, ui, d)) = (unsafe { dir_op(dir, d) }) else { return EINVAL.to_errno() };
    errno(crate::dir::create(sb, ui, d, New::Node(mode, dev)))
}

unsafe extern "C" fn symlink(
    _idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    d: *mut sys::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: a symlink in our locked directory; `target` is the
    // NUL-terminated target string copied from user space.
    let (Some((sb, ui, d)), target) = (unsafe { dir_op(dir, d) }, unsafe { core::ffi::CStr::from_ptr(target.cast()) }) else {
        return EINVAL.to_errno();
    };
    errno(crate::dir::create(sb, ui, d, New::Symlink(target.to_bytes())))
}

unsafe extern "C" fn link(old: *mut sys::dentry, dir: *mut sys::inode, new: *mut sys::dentry) -> c_int {
    // SAFETY: a link into our locked directory; the VFS holds `old`, a
    // positive dentry of the same superblock, and its inode lock.
    let (Some((sb, ui, d)), Some(old)) = (unsafe { dir_op(dir, new) }, unsafe { UnionDentry::from_raw(old) }) else {
        return EINVAL.to_errno();
    };
    let old = old.get();
    errno(crate::dir::create(sb, ui, d, New::Link(&old)))
}

unsafe extern "C" fn unlink(dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: an unlink in our locked directory; the VFS holds the victim's
    // inode lock too.
    let Some((sb, ui, d)) = (unsafe { dir_op(dir, d) }) else { return EINVAL.to_errno() };
    errno(crate::dir::remove(sb, ui, d, false))
}

unsafe extern "C" fn rmdir(dir: *mut sys::inode, d: *mut sys::dentry) -> c_int {
    // SAFETY: as in `unlink`.
    let Some((sb, ui, d)) = (unsafe { dir_op(dir, d) }) else { return EINVAL.to_errno() };
    errno(crate::dir::remove(sb, ui, d, true))
}

unsafe extern "C" fn rename(
    _idmap: *mut sys::mnt_idmap,
    odir: *mut sys::inode,
    od: *mut sys::dentry,
    ndir: *mut sys::inode,
    nd: *mut sys::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: a rename between our directories, both locked by the VFS
    // (lock_rename), with the dentries held.
    let (Some((sb, oui, od)), Some((_, nui, nd))) = (unsafe { dir_op(odir, od) }, unsafe { dir_op(ndir, nd) }) else {
        return EINVAL.to_errno();
    };
    errno(crate::dir::rename(sb, oui, od, nui, nd, flags))
}

unsafe extern "C" fn tmpfile(
    _idmap: *mut sys::mnt_idmap,
    dir: *mut sys::inode,
    file: *mut sys::file,
    mode: sys::umode_t,
) -> c_int {
    // SAFETY: an O_TMPFILE open in our directory: `file` is being opened on
    // a new dentry whose parent is the directory's dentry.
    let (Some((sb, ui, d)), Some(file)) =
        (unsafe { dir_op(dir, (*sys::rfs_file_path(file)).dentry) }, unsafe { super::file::TmpFile::from_raw(file) })
    else {
        return EINVAL.to_errno();
    };
    errno(crate::dir::tmpfile(sb, ui, file, mode, d))
}

// ---------------------------------------------------------------------------
// xattrs: read from the top member; changes copy up and go to the upper.

static XATTR_HANDLER: Table<sys::xattr_handler> = Table(sys::xattr_handler {
    name: core::ptr::null(),
    prefix: c"".as_ptr().cast(),
    flags: 0,
    list: None,
    get: Some(xattr_get),
    set: Some(xattr_set),
});

/// The NULL-terminated handler list for `s_xattr`.
pub(crate) static XATTR_HANDLERS: Table<[*const sys::xattr_handler; 2]> =
    Table([&XATTR_HANDLER.0, core::ptr::null()]);

unsafe extern "C" fn xattr_get(
    _h: *const sys::xattr_handler,
    _dentry: *mut sys::dentry,
    inode: *mut sys::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: the VFS holds the union dentry and its inode.
    let (sb, ui) = unsafe { union_inode(inode) };
    let view = ui.data().view();
    let top = match view.top() {
        Ok(t) => t,
        Err(e) => return e.to_errno(),
    };
    let _creds = sb.info().cred.override_creds();
    // SAFETY: `name` is the full NUL-terminated name; `buffer` holds `size`
    // bytes. The lower mount's idmap applies to the lower dentry.
    unsafe {
        sys::vfs_getxattr(sys::rfs_mnt_idmap(top.branch.root.mnt()), top.dentry.as_ptr(), name, buffer, size)
            as c_int
    }
}

unsafe extern "C" fn xattr_set(
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
        (SuperBlock::from_raw((*dentry).d_sb), d, core::ffi::CStr::from_ptr(name.cast()), value)
    };
    errno(crate::inode::set_xattr(sb, d.get(), name.to_bytes_with_nul(), value, flags))
}

// ---------------------------------------------------------------------------
// Files.

pub(crate) static DIR_FOPS: Table<sys::file_operations> = Table(sys::file_operations {
    open: Some(dir_open),
    release: Some(dir_release),
    iterate_shared: Some(dir_iterate),
    llseek: Some(dir_llseek),
    read: Some(dir_read),
    fsync: Some(dir_fsync),
    unlocked_ioctl: Some(union_ioctl),
    // SAFETY: all-zero is a valid file_operations.
    ..unsafe { core::mem::zeroed() }
});

pub(crate) static FILE_FOPS: Table<sys::file_operations> = Table(sys::file_operations {
    open: Some(file_open),
    release: Some(file_release),
    read_iter: Some(file_read_iter),
    write_iter: Some(file_write_iter),
    splice_read: Some(file_splice_read),
    splice_write: Some(file_splice_write),
    llseek: Some(file_llseek),
    mmap: Some(file_mmap),
    fsync: Some(file_fsync),
    fallocate: Some(file_fallocate),
    copy_file_range: Some(file_copy_range),
    flush: Some(file_flush),
    remap_file_range: Some(file_remap_range),
    fadvise: Some(file_fadvise),
    unlocked_ioctl: Some(union_ioctl),
    // SAFETY: all-zero is a valid file_operations.
    ..unsafe { core::mem::zeroed() }
});

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

unsafe extern "C" fn dir_open(_inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    let df = match KBox::new(DirFile::new(), GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: the file is being opened by us; private_data is ours.
    unsafe { sys::rfs_set_file_private(file, KBox::into_raw(df).cast()) };
    0
}

unsafe extern "C" fn dir_release(_inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: last user of the file; private_data is the box from dir_open.
    unsafe {
        let p = sys::rfs_file_private(file).cast::<DirFile>();
        if !p.is_null() {
            drop(KBox::from_raw(p));
        }
    }
    0
}

unsafe extern "C" fn dir_iterate(file: *mut sys::file, ctx: *mut sys::dir_context) -> c_int {
    // SAFETY: getdents holds f_pos_lock on the file; the inode is ours.
    let (sb, ui, df, emitter) = unsafe {
        let inode = (*file).f_inode;
        let (sb, ui) = union_inode(inode);
        let Some(df) = private::<DirFile>(file) else { return EBADF.to_errno() };
        let Some(em) = DirEmitter::from_raw(file, ctx) else { return EINVAL.to_errno() };
        (sb, ui, df, em)
    };
    let mut emitter = emitter;
    errno(crate::readdir::iterate(sb, ui, df, &mut emitter))
}

unsafe extern "C" fn dir_llseek(file: *mut sys::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: the VFS holds f_pos_lock for seeks on this file.
    let (df, pos) = unsafe {
        let Some(df) = private::<DirFile>(file) else { return EBADF.to_errno() as i64 };
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
        df.rewind();
    }
    *pos = new;
    new
}

unsafe extern "C" fn dir_fsync(file: *mut sys::file, _start: i64, _end: i64, datasync: c_int) -> c_int {
    // SAFETY: fsync of our open directory, which pins its inode.
    let (sb, ui) = unsafe { union_inode((*file).f_inode) };
    errno(crate::readdir::fsync(sb, ui, datasync != 0))
}

unsafe extern "C" fn dir_read(_f: *mut sys::file, _b: *mut c_char, _n: usize, _p: *mut i64) -> isize {
    -(sys::EISDIR as isize)
}

unsafe extern "C" fn file_open(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: the VFS opens our inode on f_path (held by the file); f_flags
    // is set.
    let (sb, ui, flags, d) = unsafe {
        let (sb, ui) = union_inode(inode);
        let Some(d) = UnionDentry::from_raw((*sys::rfs_file_path(file)).dentry) else { return EINVAL.to_errno() };
        (sb, ui, (*file).f_flags, d.get())
    };
    // SAFETY: the union file being opened; its RegFile (which keeps this)
    // is freed in file_release, before the file.
    let Some(user) = (unsafe { super::file::UserFile::from_raw(file) }) else { return EINVAL.to_errno() };
    let rf = match crate::file::open(sb, ui, &d, flags, user).and_then(|rf| Ok(KBox::new(rf, GFP_KERNEL)?)) {
        Ok(rf) => rf,
        Err(e) => return e.to_errno(),
    };
    ui.data().opens.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: private_data is ours.
    unsafe { sys::rfs_set_file_private(file, KBox::into_raw(rf).cast()) };
    0
}

unsafe extern "C" fn file_release(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: last user of the file; private_data is the box from file_open;
    // the inode is ours.
    unsafe {
        let p = sys::rfs_file_private(file).cast::<RegFile>();
        if !p.is_null() {
            let rf = KBox::from_raw(p);
            let (sb, ui) = union_inode(inode);
            // The last open file of the inode: a file without a name can
            // no longer be reached.
            if ui.data().opens.fetch_sub(1, core::sync::atomic::Ordering::AcqRel) == 1 {
                rf.released(sb);
            }
            drop(rf);
        }
    }
    0
}

/// The branch file of an open union file (shared access only).
///
/// # Safety
/// `file` must be an open union regular file.
unsafe fn real_file<'a>(file: *mut sys::file) -> Option<&'a RegFile> {
    // SAFETY: private_data is the RegFile of file_open, alive until release;
    // only shared references are made here.
    unsafe { sys::rfs_file_private(file).cast::<RegFile>().as_ref() }
}

/// The open union regular file `file`: its superblock, union inode and
/// `RegFile`, and the branch file its reads, seeks and maps go to now
/// (`RegFile::current`: the copy once the object was copied up).
///
/// # Safety
/// `file` must be an open union regular file.
unsafe fn current<'a>(file: *mut sys::file) -> Result<(SuperBlock<'a>, &'a UnionInode, &'a RegFile, &'a crate::vfs::file::File)> {
    // SAFETY: guaranteed by the caller; an open file pins its rfs inode.
    let (rf, (sb, ui)) = unsafe { (real_file(file).ok_or(EBADF)?, union_inode((*file).f_inode)) };
    let real = rf.current(sb, ui)?;
    Ok((sb, ui, rf, real))
}

unsafe extern "C" fn file_read_iter(iocb: *mut sys::kiocb, iter: *mut sys::iov_iter) -> isize {
    // SAFETY: `iocb` is live for the read, with ki_filp our file.
    let (iocb, (sb, _, _, real)) = unsafe {
        match current((*iocb).ki_filp) {
            Ok(c) => (&mut *iocb, c),
            Err(e) => return e.to_errno() as isize,
        }
    };
    // SAFETY: our open file.
    let r = unsafe { sync_flags(iocb.ki_filp, real) };
    if r != 0 {
        return r as isize;
    }
    // The branch file is read as the mounter, who opened it (overlayfs:
    // backing_file_read_iter with the mounter's credentials).
    let _creds = sb.info().cred.override_creds();
    // SAFETY: `iter` is the live iterator of this read.
    match unsafe { real.read_iter(iter, &mut iocb.ki_pos, 0) } {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

unsafe extern "C" fn file_write_iter(iocb: *mut sys::kiocb, iter: *mut sys::iov_iter) -> isize {
    // SAFETY: `iocb` is live for the write, with ki_filp our file, opened for
    // writing (so its branch file is the upper one).
    let (rf, iocb, file) = unsafe {
        let file = (*iocb).ki_filp;
        let Some(rf) = real_file(file) else { return EBADF.to_errno() as isize };
        (rf, &mut *iocb, file)
    };
    // SAFETY: reads the flags of the live kiocb.
    let rwf = unsafe { sys::rfs_kiocb_write_flags(iocb) };
    if rwf < 0 {
        return rwf as isize;
    }
    // SAFETY: our open file.
    let r = unsafe { sync_flags(file, &rf.real) };
    if r != 0 {
        return r as isize;
    }
    // SAFETY: the file pins its inode, an rfs inode.
    let (sb, ui) = unsafe { union_inode((*file).f_inode) };
    let _lock = ui.vfs().lock();
    // Like any filesystem's write: setuid/setgid go first (through setattr
    // on the union inode, as the caller).
    // SAFETY: our open file, with its union inode locked.
    let r = unsafe { remove_privs(ui, file) };
    if r != 0 {
        return r as isize;
    }
    let _creds = sb.info().cred.override_creds();
    // SAFETY: `iter` is the live iterator of this write.
    let n = match unsafe { rf.real.write_iter(iter, &mut iocb.ki_pos, rwf) } {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    };
    crate::file::refresh(ui, rf);
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
unsafe fn sync_flags(file: *mut sys::file, real: &crate::vfs::file::File) -> c_int {
    // SAFETY: an open file's flags; the file pins its rfs inode.
    let (direct, sb) = unsafe { ((*file).f_flags & sys::O_DIRECT != 0, union_inode((*file).f_inode).0) };
    if direct && sb.info().nodio.load(core::sync::atomic::Ordering::Relaxed) {
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
unsafe fn remove_privs(ui: &UnionInode, file: *mut sys::file) -> c_int {
    crate::inode::refresh(ui);
    // SAFETY: guaranteed by the caller.
    unsafe { sys::file_remove_privs(file) }
}

unsafe extern "C" fn file_splice_write(
    pipe: *mut sys::pipe_inode_info,
    file: *mut sys::file,
    ppos: *mut i64,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: a splice into our open file (opened for writing, so its
    // branch file is the upper one), which pins its inode.
    let (sb, ui, rf) = unsafe {
        let Some(rf) = real_file(file) else { return EBADF.to_errno() as isize };
        let (sb, ui) = union_inode((*file).f_inode);
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
    let r = unsafe { sync_flags(file, &rf.real) };
    if r != 0 {
        return r as isize;
    }
    {
        let _lock = ui.vfs().lock();
        // SAFETY: our open file, with its union inode locked.
        let r = unsafe { remove_privs(ui, file) };
        if r != 0 {
            return r as isize;
        }
    }
    let n = {
        let _creds = sb.info().cred.override_creds();
        // SAFETY: the branch file is open and held by the union file; `pipe`
        // and `ppos` are the caller's, live for the call.
        unsafe { sys::rfs_splice_write_real(pipe, rf.real.as_ptr(), ppos, len, flags) }
    };
    crate::file::refresh(ui, rf);
    n
}

unsafe extern "C" fn file_fallocate(file: *mut sys::file, mode: c_int, offset: i64, len: i64) -> c_long {
    // SAFETY: fallocate on our open file (opened for writing, checked by
    // the VFS), which pins its inode.
    let (sb, ui, rf) = unsafe {
        let Some(rf) = real_file(file) else { return EBADF.to_errno() as c_long };
        let (sb, ui) = union_inode((*file).f_inode);
        (sb, ui, rf)
    };
    let _lock = ui.vfs().lock();
    // As for a write: setuid/setgid go first, as the caller.
    // SAFETY: our open file, with its union inode locked.
    let r = unsafe { remove_privs(ui, file) };
    if r != 0 {
        return r as c_long;
    }
    let r = {
        let _creds = sb.info().cred.override_creds();
        rf.real.fallocate(mode, offset, len)
    };
    crate::file::refresh(ui, rf);
    errno(r) as c_long
}

/// The branch files of a copy or remap between two union files, and the
/// union inode of the destination.
///
/// # Safety
/// Both must be open union regular files (the VFS checked that they share
/// our file operations).
unsafe fn file_pair<'a>(fin: *mut sys::file, fout: *mut sys::file) -> Option<(SuperBlock<'a>, &'a UnionInode, &'a RegFile, &'a RegFile)> {
    // SAFETY: guaranteed by the caller; open files pin their inodes.
    unsafe {
        let (sb, ui) = union_inode((*fout).f_inode);
        Some((sb, ui, real_file(fin)?, real_file(fout)?))
    }
}

/// Whether `f`, a branch file of a union file of `ui`, is the upper object
/// of `ui` (the union file was opened for writing, or after the copy-up).
fn on_upper(ui: &UnionInode, f: &crate::vfs::file::File) -> bool {
    let Some(real) = f.inode() else { return false };
    ui.data().view().upper().and_then(|u| u.dentry.inode()).is_some_and(|u| u.as_ptr() == real.as_ptr())
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
unsafe fn copy_between(
    fin: *mut sys::file,
    fout: *mut sys::file,
    drop_privs: bool,
    read: (i64, usize),
    op: impl FnOnce(&crate::vfs::file::File, &crate::vfs::file::File) -> i64,
) -> i64 {
    // SAFETY: the VFS passes two open union files with our f_op.
    let Some((sb, ui, rin, rout)) = (unsafe { file_pair(fin, fout) }) else { return EBADF.to_errno() as i64 };
    // The source reads from its copy if it was copied up since its open
    // (opened as the source union's mounter: the two may be different
    // unions).
    // SAFETY: an open union file pins its rfs inode.
    let (sbin, uin) = unsafe { union_inode((*fin).f_inode) };
    let src = match rin.current(sbin, uin) {
        Ok(f) => f,
        Err(e) => return e.to_errno() as i64,
    };
    for (f, real) in [(fin, src), (fout, &rout.real)] {
        // SAFETY: our open files with these branch files.
        let r = unsafe { sync_flags(f, real) };
        if r != 0 {
            return r as i64;
        }
    }
    let _lock = ui.vfs().lock();
    if drop_privs {
        // SAFETY: our open file, with its union inode locked.
        let r = unsafe { remove_privs(ui, fout) };
        if r != 0 {
            return r as i64;
        }
    }
    if !core::ptr::eq(sbin.info(), sb.info()) {
        let _creds = sbin.info().cred.override_creds();
        // SAFETY: `src` is an open branch file.
        let r = unsafe { sys::rfs_verify_read(src.as_ptr(), read.0, read.1) };
        if r != 0 {
            return r as i64;
        }
    }
    let n = {
        let _creds = sb.info().cred.override_creds();
        op(src, &rout.real)
    };
    crate::file::refresh(ui, rout);
    n
}

unsafe extern "C" fn file_copy_range(fin: *mut sys::file, pin: i64, fout: *mut sys::file, pout: i64, len: usize, flags: c_uint) -> isize {
    // SAFETY: the VFS passes two open union files with our f_op.
    unsafe {
        copy_between(fin, fout, true, (pin, len), |src, dst| {
            // SAFETY: both branch files are open and held by their union files.
            sys::vfs_copy_file_range(src.as_ptr(), pin, dst.as_ptr(), pout, len, flags) as i64
        }) as isize
    }
}

unsafe extern "C" fn file_remap_range(fin: *mut sys::file, pin: i64, fout: *mut sys::file, pout: i64, len: i64, flags: c_uint) -> i64 {
    let dedupe = flags & sys::REMAP_FILE_DEDUP != 0;
    if dedupe {
        // A dedupe never copies up (it would duplicate the data it should
        // share) and never reaches a read-only branch's file, which a union
        // file opened for reading uses: EPERM unless both branch files are
        // upper objects, as overlayfs's ovl_remap_file_range does.
        // SAFETY: the VFS passes two open union files with our f_op.
        let both_upper = unsafe {
            let (Some(rin), Some(rout)) = (real_file(fin), real_file(fout)) else { return EBADF.to_errno() as i64 };
            let (sb, uin) = union_inode((*fin).f_inode);
            let (_, uout) = union_inode((*fout).f_inode);
            let src = match rin.current(sb, uin) {
                Ok(f) => f,
                Err(e) => return e.to_errno() as i64,
            };
            on_upper(uin, src) && on_upper(uout, &rout.real)
        };
        if !both_upper {
            return EPERM.to_errno() as i64;
        }
    }
    // SAFETY: the VFS passes two open union files with our f_op.
    unsafe {
        copy_between(fin, fout, !dedupe, (pin, usize::try_from(len).unwrap_or(0)), |src, dst| {
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

unsafe extern "C" fn file_splice_read(
    file: *mut sys::file,
    ppos: *mut i64,
    pipe: *mut sys::pipe_inode_info,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: the VFS passes our open file, its position and a live pipe.
    unsafe {
        let (sb, _, _, real) = match current(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno() as isize,
        };
        let r = sync_flags(file, real);
        if r != 0 {
            return r as isize;
        }
        let _creds = sb.info().cred.override_creds();
        match real.splice_read(&mut *ppos, pipe, len, flags) {
            Ok(n) => n,
            Err(e) => e.to_errno() as isize,
        }
    }
}

unsafe extern "C" fn file_llseek(file: *mut sys::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: seeks hold f_pos_lock; the file is ours.
    unsafe {
        let (sb, _, _, real) = match current(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno() as i64,
        };
        let _creds = sb.info().cred.override_creds();
        match real.llseek((*file).f_pos, offset, whence) {
            Ok(p) => {
                (*file).f_pos = p;
                p
            }
            Err(e) => e.to_errno() as i64,
        }
    }
}

unsafe extern "C" fn file_mmap(file: *mut sys::file, vma: *mut sys::vm_area_struct) -> c_int {
    // SAFETY: mmap of our open file; the caller holds mmap_lock.
    unsafe {
        // No open here (mmap_lock is held): the copy if the file switched
        // to it already, else the file opened (overlayfs: ovl_mmap maps
        // the file it opened).
        let Some(rf) = real_file(file) else { return EBADF.to_errno() };
        let (sb, _) = union_inode((*file).f_inode);
        let real = rf.copy().unwrap_or(&rf.real);
        // The mapping gets the branch file (vma_set_file), mapped as the
        // mounter, once the LSM allowed it (overlayfs: backing_file_mmap).
        let r = {
            let _creds = sb.info().cred.override_creds();
            real.mmap(vma, file)
        };
        if r.is_ok() {
            crate::file::mapped(rf, real);
        }
        errno(r)
    }
}

unsafe extern "C" fn file_fadvise(file: *mut sys::file, offset: i64, len: i64, advice: c_int) -> c_int {
    // SAFETY: posix_fadvise/readahead of our open file: the branch file's
    // page cache is the one that holds the data (overlayfs: ovl_fadvise).
    unsafe {
        let (sb, _, _, real) = match current(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno(),
        };
        let _creds = sb.info().cred.override_creds();
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
}

unsafe extern "C" fn union_ioctl(file: *mut sys::file, cmd: c_uint, arg: c_ulong) -> c_long {
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
        (SuperBlock::from_raw((*(*path).dentry).d_sb), d, (*path).mnt)
    };
    let r: Result<c_long> = match cmd {
        ioctl::PLINK_INFO => crate::plink::info(sb.info()).and_then(|(epoch, count)| {
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
                crate::copyup::link_pseudo(sb, &d.get()).map(c_long::from)
            } else {
                let mut v = [0u8; 8];
                // SAFETY: `v` is 8 writable bytes; the helper checks `arg`.
                to_result(unsafe { sys::rfs_copy_from_user(v.as_mut_ptr().cast(), arg, v.len()) })
                    .and_then(|_| crate::plink::clean(sb.info(), u64::from_ne_bytes(v)))
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

unsafe extern "C" fn file_flush(file: *mut sys::file, id: sys::fl_owner_t) -> c_int {
    // SAFETY: close (filp_flush) of our open file: the branch file's own
    // ->flush gets to report its close-time errors (overlayfs: ovl_flush).
    unsafe {
        let Some(rf) = real_file(file) else { return 0 };
        let (sb, _) = union_inode((*file).f_inode);
        let _creds = sb.info().cred.override_creds();
        let r = sys::rfs_file_flush(rf.real.as_ptr(), id);
        match rf.copy() {
            Some(c) if r == 0 => sys::rfs_file_flush(c.as_ptr(), id),
            _ => r,
        }
    }
}

unsafe extern "C" fn file_fsync(file: *mut sys::file, start: i64, end: i64, datasync: c_int) -> c_int {
    // SAFETY: fsync of our open file, which pins its inode.
    unsafe {
        // Only the upper (the copy, for a file opened before its copy-up):
        // a read-only branch is never written (overlayfs: ovl_fsync).
        // Nothing of rfs's is unsynced in a lower file.
        let (sb, ui, _, real) = match current(file) {
            Ok(c) => c,
            Err(e) => return e.to_errno(),
        };
        if !on_upper(ui, real) {
            return 0;
        }
        let _creds = sb.info().cred.override_creds();
        errno(real.fsync(start, end, datasync != 0))
    }
}

/// The union inode of a dentry of an rfs superblock; `None` for a negative
/// dentry or one of another filesystem.
pub(crate) fn union_inode_of(d: &Dentry) -> Option<&UnionInode> {
    let inode = d.inode()?;
    // SAFETY: reads the superblock of a live inode (pinned by `d`).
    if !unsafe { sys::rfs_is_rfs_inode(inode.as_ptr(), &SUPER_OPS.0) } {
        return None;
    }
    // SAFETY: the inode belongs to an rfs superblock, so it came from
    // `alloc_inode`; `d` keeps it live for the returned borrow.
    Some(unsafe { FsInode::<InodeInfo>::from_vfs(inode.as_ptr()) })
}
