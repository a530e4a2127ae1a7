//! The filesystem type, mount contexts (fs_context) and superblocks.
//!
//! Mounting goes through the new mount API: `init_fs_context` attaches an
//! empty configuration ([`FileSystem::Config`]) to the context,
//! `parse_monolithic`/`parse_param` fill it (from mount(2) data or
//! fsconfig(2) keys), `get_tree` builds the superblock with
//! [`FileSystem::fill_super`], and `reconfigure` serves remount.
//!
//! Ownership: the configuration belongs to the fs_context (freed by
//! `free`); the superblock's data ([`FileSystem::Data`]) belongs to the
//! superblock (`s_fs_info`), created in `fill_super` and freed in `kill_sb`
//! after kill_anon_super has evicted every inode (which hold references
//! into the branches).

use super::{cred::Cred, inode::{InodeData, NewInode}, seq::SeqFile, sys};
use core::marker::PhantomData;
use kernel::error::{code::*, Error, Result};
use kernel::prelude::*;

/// A filesystem served through this binding layer: its types, its mount
/// and superblock operations. The other operation tables are the traits
/// of `ops.rs`.
pub(crate) trait FileSystem: Sized + 'static {
    /// The superblock's data (`s_fs_info`).
    type Data: Send + Sync;
    /// A mount context's data (`fs_private`): the options being parsed.
    type Config;
    /// The filesystem's part of each inode.
    type Inode: InodeData;
    /// The private data of an open regular file.
    type RegFileData;
    /// The private data of an open directory.
    type DirFileData;

    /// An empty configuration, for a new mount context.
    fn new_config() -> Self::Config;
    /// One option (`key`, with its value if it has one).
    fn parse_param(cfg: &mut Self::Config, key: &[u8], value: Option<&[u8]>, log: &FcLog) -> Result;
    /// Sets up a new superblock from `cfg`, as the mounter `cred`.
    fn fill_super(sb: &mut SuperSetup<Self>, cfg: &Self::Config, cred: Option<Cred>, log: &FcLog) -> Result;
    /// remount: changes the mounted superblock as `cfg` says.
    fn reconfigure(sb: SuperBlock<'_, Self>, cfg: &Self::Config, log: &FcLog) -> Result;
    /// After a successful `reconfigure`: the flags of `cfg` take effect.
    fn apply_remount_flags(sb: SuperBlock<'_, Self>, cfg: &Self::Config);
    /// kill_sb, once the inodes are gone: stops what still runs for `data`.
    fn shutdown(data: &Self::Data);
    /// The credentials the filesystem works with (the mounter's).
    fn cred(data: &Self::Data) -> &Cred;
    /// statfs.
    fn statfs(sb: SuperBlock<'_, Self>, buf: &mut sys::kstatfs) -> Result;
    /// sync_fs.
    fn sync_fs(sb: SuperBlock<'_, Self>, wait: bool) -> Result;
    /// show_options: the options part of the /proc/mounts line.
    fn show_options(sb: SuperBlock<'_, Self>, m: &mut SeqFile<'_>) -> Result;
}

/// The `rfs` file_system_type. It must be static: lockdep requires the
/// lock class keys embedded in it (s_umount_key, i_mutex_key, ...) to live
/// in static memory.
struct FsTypeCell(core::cell::UnsafeCell<sys::file_system_type>);

// SAFETY: written only in `Registration::register` (module init, before the
// type is visible to anyone) and otherwise handed to the VFS, which does its
// own locking on it.
unsafe impl Sync for FsTypeCell {}

static FS_TYPE: FsTypeCell = FsTypeCell(core::cell::UnsafeCell::new(sys::file_system_type {
    name: c"rfs".as_ptr().cast(),
    // `init_fs_context` and `kill_sb` are set in `Registration::register`.
    // SAFETY: all-zero is a valid file_system_type (no flags, no keys
    // registered yet, empty lists that register_filesystem sets up).
    ..unsafe { core::mem::zeroed() }
}));

/// The same filesystem under AUFS's name, registered in AUFS
/// compatibility mode only (module parameter `aufs_compat`): programs that
/// look for AUFS by name (`/proc/filesystems`, `mount -t aufs`, its statfs
/// magic) find rfs. A separate static for lockdep's keys, as `FS_TYPE`.
static AUFS_TYPE: FsTypeCell = FsTypeCell(core::cell::UnsafeCell::new(sys::file_system_type {
    name: c"aufs".as_ptr().cast(),
    // SAFETY: as for FS_TYPE.
    ..unsafe { core::mem::zeroed() }
}));

/// statfs `f_type` of a union mounted as `aufs` (AUFS_SUPER_MAGIC, "aufs").
pub(crate) const AUFS_SUPER_MAGIC: u64 = 0x6175_6673;

/// The registered `rfs` filesystem type (and `aufs` in compatibility
/// mode); unregistered on drop.
pub(crate) struct Registration {
    aufs: bool,
}

impl Registration {
    /// Registers `rfs` (it then shows as `nodev rfs` in /proc/filesystems)
    /// and, with the module parameter `aufs_compat`, `aufs` too, unless a
    /// filesystem of that name is registered already (the real AUFS): then
    /// compatibility mode stays off, with a message. Only one registration
    /// exists: the module's, of filesystem `T`.
    pub(crate) fn register<T: super::ops::Operations>(module: &'static ThisModule) -> Result<Self> {
        super::ops::set_vtable::<T>();
        let fs = FS_TYPE.0.get();
        // SAFETY: module init runs once, before the type is registered, so
        // nobody else accesses FS_TYPE; the static lives as long as the
        // module, and unregistering it (drop) happens before unload.
        let ret = unsafe {
            (*fs).owner = module.as_ptr().cast();
            (*fs).init_fs_context = Some(init_fs_context::<T>);
            (*fs).kill_sb = Some(kill_sb::<T>);
            sys::register_filesystem(fs)
        };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        let mut reg = Registration { aufs: false };
        // SAFETY: reads a module parameter.
        if unsafe { sys::rfs_aufs_compat() } {
            let afs = AUFS_TYPE.0.get();
            // SAFETY: as for FS_TYPE.
            let ret = unsafe {
                (*afs).owner = module.as_ptr().cast();
                (*afs).init_fs_context = Some(init_fs_context::<T>);
                (*afs).kill_sb = Some(kill_sb::<T>);
                sys::register_filesystem(afs)
            };
            if ret == 0 {
                reg.aufs = true;
                pr_info!("rfs: AUFS compatibility mode: also registered as aufs\n");
            } else {
                pr_err!("rfs: a filesystem named aufs is registered already (AUFS itself?): compatibility mode stays off\n");
            }
        }
        Ok(reg)
    }

    /// Whether the `aufs` name is registered.
    pub(crate) fn aufs(&self) -> bool {
        self.aufs
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered in `register`. The module refcount (fs->owner)
        // guarantees no superblock of ours exists when the module unloads.
        unsafe {
            if self.aufs {
                sys::unregister_filesystem(AUFS_TYPE.0.get());
            }
            sys::unregister_filesystem(FS_TYPE.0.get());
        }
    }
}

/// Calls `f` for every live union (both names), with its `s_umount` held
/// shared, as sync(2) walks superblocks: a union being mounted or
/// unmounted is skipped.
pub(crate) fn for_each_super<T: FileSystem>(f: &mut dyn FnMut(SuperBlock<'_, T>)) {
    unsafe extern "C" fn one<T: FileSystem>(sb: *mut sys::super_block, arg: *mut core::ffi::c_void) {
        // SAFETY: `arg` is the `&mut dyn FnMut` below, alive for the walk;
        // iterate_supers_type gives only superblocks set up by fill_super
        // (SB_BORN with a root), which have their data.
        unsafe {
            let f = &mut *arg.cast::<&mut dyn FnMut(SuperBlock<'_, T>)>();
            f(SuperBlock::from_raw(sb));
        }
    }
    let mut f = f;
    for t in [FS_TYPE.0.get(), AUFS_TYPE.0.get()] {
        // SAFETY: the types are this module's statics; an unregistered one
        // has no superblocks (its list is empty).
        unsafe { sys::rfs_for_each_super(t, Some(one::<T>), (&mut f as *mut &mut dyn FnMut(SuperBlock<'_, T>)).cast()) };
    }
}

/// Whether `sb` was mounted as `aufs` (compatibility mode).
pub(crate) fn is_aufs_sb(sb: *const sys::super_block) -> bool {
    // SAFETY: the caller's superblock is live; s_type is set at creation.
    unsafe { core::ptr::eq((*sb).s_type, AUFS_TYPE.0.get()) }
}

/// The error log of a mount context: messages end up in the fs_context log
/// (read by mount(8) with the new API) or in the kernel log.
pub(crate) struct FcLog(*mut sys::fs_context);

impl FcLog {
    /// Reports `msg` (and the offending text, if any) to the user.
    pub(crate) fn error(&self, msg: &str, detail: Option<&[u8]>) {
        let mut cmsg = [0u8; 96];
        let n = msg.len().min(cmsg.len() - 1);
        if let (Some(d), Some(s)) = (cmsg.get_mut(..n), msg.as_bytes().get(..n)) {
            d.copy_from_slice(s);
        }
        let (ptr, len) = match detail {
            Some(d) => (d.as_ptr(), i32::try_from(d.len().min(256)).unwrap_or(256)),
            None => (core::ptr::null(), 0),
        };
        // SAFETY: `self.0` is the live fs_context of the current operation;
        // `cmsg` is NUL-terminated; `ptr` is valid for `len` bytes.
        unsafe { sys::rfs_fc_error(self.0, cmsg.as_ptr(), ptr, len) };
    }
}

/// The superblock being set up by `fill_super`.
pub(crate) struct SuperSetup<T: FileSystem> {
    sb: *mut sys::super_block,
    _fs: PhantomData<T>,
}

/// SB_POSIXACL (include/linux/fs.h: BIT(16), which bindgen cannot read).
const SB_POSIXACL: kernel::ffi::c_ulong = 1 << 16;
/// SB_RDONLY (include/linux/fs.h: BIT(0)).
const SB_RDONLY: kernel::ffi::c_uint = 1;

/// Superblock parameters `fill_super` decides.
pub(crate) struct SuperParams {
    /// `s_magic`.
    pub(crate) magic: u64,
    /// `s_maxbytes`: the largest of the branches'.
    pub(crate) maxbytes: i64,
    /// `s_stack_depth`: one more than the deepest branch's.
    pub(crate) stack_depth: i32,
    /// `s_time_gran`.
    pub(crate) time_gran: u32,
    /// Whether POSIX ACLs apply (SB_POSIXACL): when a branch supports them.
    pub(crate) posix_acl: bool,
}

impl<T: FileSystem> SuperSetup<T> {
    /// Sets the superblock's fixed parameters and operations.
    pub(crate) fn set_params(&mut self, p: &SuperParams) {
        let sb = self.sb;
        // SAFETY: the superblock is being set up by us under s_umount; nobody
        // else looks at these fields yet.
        unsafe {
            (*sb).s_magic = p.magic as _;
            (*sb).s_maxbytes = p.maxbytes;
            (*sb).s_stack_depth = p.stack_depth;
            (*sb).s_time_gran = p.time_gran;
            if p.posix_acl {
                (*sb).s_flags |= SB_POSIXACL;
            }
            if let Some(vt) = super::ops::vtable() {
                (*sb).s_op = vt.super_ops;
                sys::rfs_set_default_d_op(sb, vt.dentry_ops);
                (*sb).s_xattr = vt.xattr_handlers.as_ptr();
            }
        }
    }

    /// Hands the filesystem's data to the superblock (s_fs_info); from now
    /// on `kill_sb` frees it.
    pub(crate) fn set_info(&mut self, info: Pin<KBox<T::Data>>) {
        // SAFETY: the box is never moved out of again (kill_sb rebuilds it
        // with from_raw to drop it), so the pin holds.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(info) });
        // SAFETY: as in `set_params`.
        unsafe { (*self.sb).s_fs_info = raw.cast() };
    }

    /// The data set by `set_info`.
    pub(crate) fn info(&self) -> Option<&T::Data> {
        // SAFETY: s_fs_info is NULL or the data set above, alive until kill_sb.
        unsafe { (*self.sb).s_fs_info.cast::<T::Data>().as_ref() }
    }

    /// A new inode on this superblock.
    pub(crate) fn new_inode(&self) -> Result<NewInode<T::Inode>> {
        // SAFETY: our superblock, live during fill_super.
        unsafe { NewInode::new(self.sb) }
    }

    /// Installs the root directory.
    pub(crate) fn set_root(&mut self, root: NewInode<T::Inode>) -> Result {
        let d = root.make_root()?;
        // SAFETY: as in `set_params`.
        unsafe { (*self.sb).s_root = d };
        Ok(())
    }
}

/// A live superblock of filesystem `T`, as seen by operations on it.
pub(crate) struct SuperBlock<'a, T: FileSystem> {
    sb: &'a sys::super_block,
    _fs: PhantomData<T>,
}

impl<T: FileSystem> Clone for SuperBlock<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: FileSystem> Copy for SuperBlock<'_, T> {}

impl<'a, T: FileSystem> SuperBlock<'a, T> {
    /// # Safety
    /// `sb` must be a live superblock of `T` with its data set, for `'a`.
    pub(crate) unsafe fn from_raw(sb: *mut sys::super_block) -> Self {
        // SAFETY: guaranteed by the caller.
        SuperBlock { sb: unsafe { &*sb }, _fs: PhantomData }
    }

    /// The filesystem's data.
    pub(crate) fn info(&self) -> &'a T::Data {
        // SAFETY: s_fs_info is set in fill_super before any inode exists,
        // and freed only in kill_sb after the last inode is gone.
        unsafe { &*self.sb.s_fs_info.cast::<T::Data>() }
    }

    /// The credentials the filesystem works with ([`FileSystem::cred`]).
    pub(crate) fn cred(&self) -> &'a Cred {
        T::cred(self.info())
    }

    /// A new inode.
    pub(crate) fn new_inode(&self) -> Result<NewInode<T::Inode>> {
        // SAFETY: live rfs superblock (see from_raw).
        unsafe { NewInode::new((self.sb as *const sys::super_block).cast_mut()) }
    }

    /// Whether the union was mounted as `aufs` (compatibility mode).
    pub(crate) fn is_aufs(&self) -> bool {
        is_aufs_sb(self.sb)
    }

    /// Whether the union is mounted read-only (SB_RDONLY) now.
    pub(crate) fn is_rdonly(&self) -> bool {
        self.sb.s_flags & (SB_RDONLY as kernel::ffi::c_ulong) != 0
    }

    /// `s_dev`.
    pub(crate) fn dev(&self) -> u32 {
        self.sb.s_dev
    }

    /// `s_stack_depth`, set at mount.
    pub(crate) fn stack_depth(&self) -> i32 {
        self.sb.s_stack_depth
    }

    /// Whether `other` (e.g. a branch's superblock) is this superblock.
    pub(crate) fn is(&self, other: super::path::SbKey) -> bool {
        super::path::SbKey::of(self.sb) == other
    }

    /// Drops every unused dentry of the union (and with them the inodes and
    /// the branch references they held).
    pub(crate) fn shrink_dcache(&self) {
        // SAFETY: a live superblock; shrink_dcache_sb takes the locks it
        // needs and only frees dentries nobody holds.
        unsafe { sys::shrink_dcache_sb((self.sb as *const sys::super_block).cast_mut()) }
    }
}

// ---------------------------------------------------------------------------
// Entry points called by the VFS.

/// The fs_context operations of filesystem `T`.
struct FcOps<T>(PhantomData<T>);

impl<T: super::ops::Operations> FcOps<T> {
    const OPS: sys::fs_context_operations = sys::fs_context_operations {
        free: Some(fc_free::<T>),
        dup: None,
        parse_param: Some(fc_parse_param::<T>),
        parse_monolithic: Some(fc_parse_monolithic),
        get_tree: Some(fc_get_tree::<T>),
        reconfigure: Some(fc_reconfigure::<T>),
    };
}

unsafe extern "C" fn init_fs_context<T: super::ops::Operations>(fc: *mut sys::fs_context) -> kernel::ffi::c_int {
    let cfg = match KBox::new(T::new_config(), GFP_KERNEL) {
        Ok(c) => c,
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: `fc` is the new context, ours to set up.
    unsafe {
        (*fc).fs_private = KBox::into_raw(cfg).cast();
        (*fc).ops = const { &FcOps::<T>::OPS };
    }
    0
}

/// The configuration of a context.
///
/// # Safety
/// `fc` must be a live fs_context of `T`; the VFS serialises operations on
/// it (fc->uapi_mutex or the mount syscall itself), so `&mut` is exclusive.
unsafe fn config<'a, T: FileSystem>(fc: *mut sys::fs_context) -> Option<&'a mut T::Config> {
    // SAFETY: fs_private is the configuration set in init_fs_context (or NULL).
    unsafe { (*fc).fs_private.cast::<T::Config>().as_mut() }
}

unsafe extern "C" fn fc_free<T: FileSystem>(fc: *mut sys::fs_context) {
    // SAFETY: called once, when the context goes away.
    let p = unsafe { (*fc).fs_private.cast::<T::Config>() };
    if !p.is_null() {
        // SAFETY: made by KBox::into_raw in init_fs_context.
        drop(unsafe { KBox::from_raw(p) });
    }
}

unsafe extern "C" fn fc_parse_param<T: FileSystem>(fc: *mut sys::fs_context, param: *mut sys::fs_parameter) -> kernel::ffi::c_int {
    let log = FcLog(fc);
    // SAFETY: the VFS passes a live context and parameter.
    let (Some(cfg), Some(param)) = (unsafe { config::<T>(fc) }, unsafe { param.as_ref() }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: `key` is a NUL-terminated string owned by the parameter.
    let key = unsafe { core::ffi::CStr::from_ptr(param.key.cast()) }.to_bytes();
    // SAFETY: reading the parameter's type tag and, for strings, its
    // NUL-terminated value of `size` bytes.
    let value = unsafe {
        match sys::rfs_param_type(param) {
            sys::fs_value_type_fs_value_is_flag => None,
            sys::fs_value_type_fs_value_is_string if !param.__bindgen_anon_1.string.is_null() => Some(
                core::slice::from_raw_parts(param.__bindgen_anon_1.string.cast::<u8>(), param.size),
            ),
            _ => {
                log.error("rfs: option value must be a string", Some(key));
                return EINVAL.to_errno();
            }
        }
    };
    if key == b"source" {
        // Leave the device name ("none") to the VFS.
        return -(sys::ENOPARAM as i32);
    }
    match T::parse_param(cfg, key, value, &log) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn fc_parse_monolithic(fc: *mut sys::fs_context, data: *mut kernel::ffi::c_void) -> kernel::ffi::c_int {
    if data.is_null() {
        return 0;
    }
    // SAFETY: mount(2) data for a filesystem without binary data is a
    // NUL-terminated string of at most a page.
    let data = unsafe { core::ffi::CStr::from_ptr(data.cast()) }.to_bytes();
    let mut key = KVec::new();
    for opt in crate::logic::options::split_options(data) {
        // Split KEY=VALUE at the first '='; the key goes to the VFS (which
        // handles the generic flags like "ro" itself) as a C string.
        let (k, v) = match opt.iter().position(|&c| c == b'=') {
            Some(i) => (opt.get(..i).unwrap_or(&[]), opt.get(i + 1..)),
            None => (opt, None),
        };
        key = KVec::new();
        if key.extend_from_slice(k, GFP_KERNEL).is_err() || key.push(0, GFP_KERNEL).is_err() {
            return ENOMEM.to_errno();
        }
        let (vp, vlen) = match v {
            Some(v) => (v.as_ptr(), v.len()),
            None => (core::ptr::null(), 0),
        };
        // SAFETY: `key` is NUL-terminated; the value is valid for `vlen`
        // bytes (vfs_parse_fs_string copies it).
        let ret = unsafe { sys::rfs_vfs_parse_fs_string(fc, key.as_ptr(), vp, vlen) };
        if ret != 0 {
            return ret;
        }
    }
    drop(key);
    0
}

unsafe extern "C" fn fc_get_tree<T: super::ops::Operations>(fc: *mut sys::fs_context) -> kernel::ffi::c_int {
    // SAFETY: `fc` is live; fill_super_tramp gets it back from the VFS.
    unsafe { sys::get_tree_nodev(fc, Some(fill_super_tramp::<T>)) }
}

unsafe extern "C" fn fill_super_tramp<T: super::ops::Operations>(sb: *mut sys::super_block, fc: *mut sys::fs_context) -> kernel::ffi::c_int {
    let log = FcLog(fc);
    // SAFETY: the context outlives get_tree.
    let Some(cfg) = (unsafe { config::<T>(fc) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: `fc->cred` is the mounter's credentials, live with the context.
    let cred = unsafe { (*fc).cred };
    let mut setup = SuperSetup::<T> { sb, _fs: PhantomData };
    // SAFETY: as above.
    match T::fill_super(&mut setup, cfg, unsafe { super::cred::Cred::get(cred) }, &log) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn fc_reconfigure<T: FileSystem>(fc: *mut sys::fs_context) -> kernel::ffi::c_int {
    let log = FcLog(fc);
    // SAFETY: on reconfigure, fc->root is the root of the mounted union.
    let (cfg, sb) = unsafe {
        let Some(cfg) = config::<T>(fc) else { return EINVAL.to_errno() };
        (cfg, (*(*fc).root).d_sb)
    };
    // SAFETY: the superblock of a mounted union (s_umount held).
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    // rw -> ro: what rfs wrote to the writable branch goes to disk first,
    // before a branch change in the same remount can take the branch away
    // (overlayfs: ovl_reconfigure syncs its upper).
    // SAFETY: the context and the superblock are live (s_umount held).
    let to_ro = unsafe {
        (*fc).sb_flags_mask & SB_RDONLY != 0 && (*fc).sb_flags & SB_RDONLY != 0 && !sb.is_rdonly()
    };
    if to_ro {
        if let Err(e) = T::sync_fs(sb, true) {
            return e.to_errno();
        }
    }
    if let Err(e) = T::reconfigure(sb, cfg, &log) {
        return e.to_errno();
    }
    T::apply_remount_flags(sb, cfg);
    0
}

unsafe extern "C" fn kill_sb<T: FileSystem>(sb: *mut sys::super_block) {
    // SAFETY: the VFS tears down our superblock; s_fs_info is NULL (failed
    // early in fill_super) or the box made by `set_info`.
    unsafe {
        let info = (*sb).s_fs_info.cast::<T::Data>();
        sys::kill_anon_super(sb);
        if !info.is_null() {
            T::shutdown(&*info);
            // RCU-walk reads the data and the root's member list without
            // references (d_revalidate, permission: vfs/rcu.rs); a walk that
            // started before the last mount went may still be inside. Free
            // only after a grace period, as overlayfs and fuse do.
            super::rcu::synchronize();
            drop(KBox::from_raw(info));
        }
    }
}


/// `(s_maxbytes, s_stack_depth, POSIX ACLs?)` of a branch's superblock.
pub(crate) fn sb_limits(sb: *mut sys::super_block) -> (i64, i32, bool) {
    // SAFETY: the caller holds a reference on a mount of this superblock.
    unsafe { ((*sb).s_maxbytes, (*sb).s_stack_depth, (*sb).s_flags & SB_POSIXACL != 0) }
}
