//! The union as a filesystem of the binding layer: `Union` implements the
//! traits of `vfs::fs` and `vfs::ops` by calling the union modules, and
//! names the binding layer's generic types for them.

use crate::dir;
use crate::file::RegFile;
use crate::inode::{InodeInfo, UnionInode};
use crate::options::MountConfig;
use crate::readdir::DirFile;
use crate::super_::SbInfo;
use crate::vfs::cred::Cred;
use crate::vfs::dentry::{Dentry, UnionDentry};
use crate::vfs::dir::DirEmitter;
use crate::vfs::file::{File, TmpFile, UserFile};
use crate::vfs::fs::{FcLog, FileSystem};
use crate::vfs::inode::CachedInode;
use crate::vfs::lower::{acl, flags::FileAttr, Attr};
use crate::vfs::ops::{DentryOperations, DirOperations, FileOperations, InodeOperations, New};
use crate::vfs::rcu::RcuWalk;
use crate::vfs::seq::SeqFile;
use crate::vfs::sys;
use core::sync::atomic::Ordering;
use kernel::error::Result;
use crate::vfs::path::Mount;
use kernel::prelude::*;

/// The union filesystem (`rfs`, and `aufs` in compatibility mode).
pub(crate) struct Union;

/// A live union superblock.
pub(crate) type SuperBlock<'a> = crate::vfs::fs::SuperBlock<'a, Union>;

/// A union superblock being set up.
pub(crate) type SuperSetup = crate::vfs::fs::SuperSetup<Union>;

/// The union inode of a dentry of a union; `None` for a negative dentry or
/// one of another filesystem.
pub(crate) fn union_inode_of(d: &Dentry) -> Option<&UnionInode> {
    crate::vfs::ops::union_inode_of::<Union>(d)
}

impl FileSystem for Union {
    type Data = SbInfo;
    type Config = MountConfig;
    type Inode = InodeInfo;
    type RegFileData = RegFile;
    type DirFileData = DirFile;

    fn new_config() -> MountConfig {
        MountConfig::new()
    }

    fn parse_param(cfg: &mut MountConfig, key: &[u8], value: Option<&[u8]>, log: &FcLog) -> Result {
        cfg.parse_param(key, value, log)
    }

    fn fill_super(sb: &mut SuperSetup, cfg: &MountConfig, cred: Option<Cred>, log: &FcLog) -> Result {
        crate::super_::fill_super(sb, cfg, cred, log)
    }

    fn reconfigure(sb: SuperBlock<'_>, cfg: &MountConfig, log: &FcLog) -> Result {
        crate::super_::reconfigure(sb, cfg, log)
    }

    fn apply_remount_flags(sb: SuperBlock<'_>, cfg: &MountConfig) {
        crate::super_::apply_remount_flags(sb.info(), cfg)
    }

    fn shutdown(data: &SbInfo) {
        data.shutdown()
    }

    fn cred(data: &SbInfo) -> &Cred {
        &data.cred
    }

    fn statfs(sb: SuperBlock<'_>, buf: &mut sys::kstatfs) -> Result {
        crate::super_::statfs(sb.info(), buf)
    }

    fn sync_fs(sb: SuperBlock<'_>, wait: bool) -> Result {
        crate::super_::sync_fs(sb.info(), wait)
    }

    fn show_options(sb: SuperBlock<'_>, m: &mut SeqFile<'_>) -> Result {
        crate::super_::show_options(sb.info(), m)
    }
}

#[vtable]
impl DentryOperations for Union {
    fn revalidate(
        sb: SuperBlock<'_>,
        d: UnionDentry<'_>,
        inode: Option<&UnionInode>,
        parent: &UnionInode,
        force: bool,
    ) -> Result<bool> {
        crate::namei::revalidate(sb, d, inode, parent, force)
    }

    fn revalidate_rcu(sb: SuperBlock<'_>, stamp: u64, inode: Option<&UnionInode>, parent: &UnionInode, w: &RcuWalk) -> bool {
        crate::namei::revalidate_rcu(sb.info(), stamp, inode, parent, w)
    }
}

#[vtable]
impl InodeOperations for Union {
    fn with_top<R>(ui: &UnionInode, f: impl FnOnce(Mount<'_>, &Dentry) -> R) -> Result<R> {
        let view = ui.data().view();
        let top = view.top()?;
        Ok(f(top.branch.root.mnt(), &top.dentry))
    }

    fn lookup(sb: SuperBlock<'_>, dir: &UnionInode, d: UnionDentry<'_>) -> Result<Option<CachedInode>> {
        crate::namei::lookup(sb, dir, d)
    }

    fn permission(ui: &UnionInode, mask: i32) -> Result {
        crate::inode::permission(ui, mask)
    }

    fn permission_rcu(sb: SuperBlock<'_>, ui: &UnionInode, mask: i32, w: &RcuWalk) -> Result {
        crate::inode::permission_rcu(sb.info(), ui, mask, w)
    }

    fn getattr(sb: SuperBlock<'_>, ui: &UnionInode, stat: &mut sys::kstat, request_mask: u32, flags: u32) -> Result {
        crate::inode::getattr(sb, ui, stat, request_mask, flags)
    }

    fn link_source(ui: &UnionInode) -> Result<Dentry> {
        crate::inode::link_source(ui)
    }

    fn inode_acl_rcu(sb: SuperBlock<'_>, ui: &UnionInode, kind: i32, w: &RcuWalk) -> acl::CachedAcl {
        crate::inode::inode_acl_rcu(sb.info(), ui, kind, w)
    }

    fn get_acl(sb: SuperBlock<'_>, ui: &UnionInode, kind: i32) -> Result<Option<acl::Acl>> {
        crate::inode::get_acl(sb, ui, kind)
    }

    fn set_acl(sb: SuperBlock<'_>, d: Dentry, kind: i32, a: Option<acl::AclRef<'_>>) -> Result {
        crate::inode::set_acl(sb, d, kind, a)
    }

    fn list_xattr(sb: SuperBlock<'_>, ui: &UnionInode) -> Result<KVec<u8>> {
        crate::inode::list_xattr(sb, ui)
    }

    fn set_fileattr(sb: SuperBlock<'_>, d: Dentry, fa: &mut FileAttr<'_>) -> Result {
        crate::inode::set_fileattr(sb, d, fa)
    }

    fn refresh(ui: &UnionInode) {
        crate::inode::refresh(ui)
    }

    fn setattr(sb: SuperBlock<'_>, d: Dentry, attr: Attr) -> Result {
        crate::inode::setattr(sb, d, attr)
    }

    fn create(sb: SuperBlock<'_>, dir: &UnionInode, d: UnionDentry<'_>, what: New<'_>) -> Result {
        dir::create(sb, dir, d, what)
    }

    fn remove(sb: SuperBlock<'_>, dir: &UnionInode, d: UnionDentry<'_>, is_dir: bool) -> Result {
        dir::remove(sb, dir, d, is_dir)
    }

    fn rename(
        sb: SuperBlock<'_>,
        odir: &UnionInode,
        od: UnionDentry<'_>,
        ndir: &UnionInode,
        nd: UnionDentry<'_>,
        flags: u32,
    ) -> Result {
        dir::rename(sb, odir, od, ndir, nd, flags)
    }

    fn tmpfile(sb: SuperBlock<'_>, dir: &UnionInode, file: TmpFile<'_>, mode: u16, d: UnionDentry<'_>) -> Result {
        dir::tmpfile(sb, dir, file, mode, d)
    }

    fn set_xattr(sb: SuperBlock<'_>, d: Dentry, name: &[u8], value: Option<&[u8]>, flags: i32) -> Result {
        crate::inode::set_xattr(sb, d, name, value, flags)
    }
}

#[vtable]
impl FileOperations for Union {
    fn open(sb: SuperBlock<'_>, ui: &UnionInode, d: &Dentry, flags: u32, user: UserFile) -> Result<RegFile> {
        crate::file::open(sb, ui, d, flags, user)
    }

    fn opened(ui: &UnionInode) {
        ui.data().opens.fetch_add(1, Ordering::Relaxed);
    }

    fn release(sb: SuperBlock<'_>, ui: &UnionInode, rf: &RegFile) {
        ui.data().unpin();
        // The last open file of the inode: a file without a name can no
        // longer be reached.
        if ui.data().opens.fetch_sub(1, Ordering::AcqRel) == 1 {
            rf.released(sb);
        }
    }

    fn real(rf: &RegFile) -> &File {
        &rf.real
    }

    fn copy(rf: &RegFile) -> Option<&File> {
        rf.copy()
    }

    fn current<'a>(rf: &'a RegFile, sb: SuperBlock<'_>, ui: &UnionInode) -> Result<&'a File> {
        rf.current(sb, ui)
    }

    fn refresh_file(ui: &UnionInode, rf: &RegFile) {
        crate::file::refresh(ui, rf)
    }

    fn mapped(rf: &RegFile, real: &File) {
        crate::file::mapped(rf, real)
    }

    /// Whether `f`, a branch file of a union file of `ui`, is the upper
    /// object of `ui` (the union file was opened for writing, or after the
    /// copy-up).
    fn on_upper(ui: &UnionInode, f: &File) -> bool {
        let Some(real) = f.inode() else { return false };
        ui.data().view().upper().and_then(|u| u.dentry.inode()).is_some_and(|u| u.key() == real.key())
    }

    fn nodio(sb: SuperBlock<'_>) -> bool {
        sb.info().nodio.load(Ordering::Relaxed)
    }

    fn plink_info(sb: SuperBlock<'_>) -> Result<(u64, u64)> {
        crate::plink::info(sb.info())
    }

    fn plink_link(sb: SuperBlock<'_>, d: &Dentry) -> Result<bool> {
        crate::copyup::link_pseudo(sb, d)
    }

    fn plink_clean(sb: SuperBlock<'_>, epoch: u64) -> Result<u64> {
        crate::plink::clean(sb.info(), epoch)
    }

    fn branch_info(sb: SuperBlock<'_>) -> Result<KVVec<u8>> {
        crate::aufs::brinfo(sb.info())
    }

    fn members(_sb: SuperBlock<'_>, d: &Dentry) -> Result<(KVec<u32>, bool, u32)> {
        let ui = union_inode_of(d).ok_or(ENOENT)?;
        let view = ui.data().view();
        let mut ids = KVec::new();
        let mut mapped = 0u32;
        for (i, l) in view.members().enumerate() {
            ids.push(l.branch.id, GFP_KERNEL)?;
            // A mapping of the union file maps one of these branch files
            // (file_mmap); the member keeps a mapping made before the
            // copy-up telling which.
            if i < crate::vfs::ops::ioctl::MEMBERS_MAPPED_MAX && l.dentry.inode().is_some_and(|i| i.is_mapped()) {
                mapped |= 1 << i;
            }
        }
        Ok((ids, view.upper().is_some(), mapped))
    }
}

#[vtable]
impl DirOperations for Union {
    fn open_dir() -> DirFile {
        DirFile::new()
    }

    fn rewind(df: &mut DirFile) {
        df.rewind()
    }

    fn iterate(sb: SuperBlock<'_>, dir: &UnionInode, df: &mut DirFile, ctx: &mut DirEmitter<'_>) -> Result {
        crate::readdir::iterate(sb, dir, df, ctx)
    }

    fn fsync(sb: SuperBlock<'_>, dir: &UnionInode, datasync: bool) -> Result {
        crate::readdir::fsync(sb, dir, datasync)
    }
}
