//! Union inodes: what a union object is made of, and its attribute and
//! permission operations.
//!
//! A union inode holds the lower dentries it stands for (its *stack*):
//! for a non-directory, the one object that won the lookup; for a directory,
//! every same-named directory that merges into it, top first. The stack of an
//! ordinary inode is set before the inode is published and only grows an
//! upper (copy-up) or shrinks to it (made opaque); the root's stack is
//! replaced as a whole when a remount changes the branches. Readers go
//! through a [`View`]: a borrow of an ordinary stack, or a counted snapshot
//! of the root's, so a remount never frees what a reader is using.

use crate::branch::Branch;
use crate::vfs::dentry::Dentry;
use crate::vfs::fs::SuperBlock;
use crate::vfs::inode::{FsInode, InodeData};
use crate::vfs::path;
use crate::vfs::sys;
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};
use kernel::{new_spinlock, pin_init};
use crate::copyup::{copy_up, Data};
use crate::vfs::lower::{acl, xattr, Attr, WriteAccess};
use crate::vfs::ops::union_inode_of;
use crate::vfs::once::SetOnce;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A union inode as the operations see it.
pub(crate) type UnionInode = FsInode<InodeInfo>;

/// One lower object of a union inode.
pub(crate) struct Lower {
    /// The branch it lives in (keeps the branch mounted).
    pub(crate) branch: Arc<Branch>,
    /// The lower dentry (a reference).
    pub(crate) dentry: Dentry,
}

impl Lower {
    /// The lower object as a `struct path` (borrowing our references).
    pub(crate) fn path(&self) -> sys::path {
        path::at(self.branch.root.mnt(), &self.dentry)
    }
}

/// The members of the root directory: one branch root per branch, down to
/// the first opaque one.
pub(crate) struct Members {
    /// The writable branch's root, when that branch is on top.
    pub(crate) upper: Option<Lower>,
    /// The other branch roots.
    pub(crate) lowers: KVVec<Lower>,
}

/// The root's stack, replaced as a whole by a remount.
///
/// Locking: `cur` is a spinlock held only to copy or swap the pointer;
/// readers keep their snapshot (an `Arc`) for as long as they use it, so
/// they never block a remount and a remount never frees what they use.
#[pin_data]
pub(crate) struct LiveStack {
    #[pin]
    cur: SpinLock<Arc<Members>>,
}

impl LiveStack {
    /// A live stack starting with `m`.
    pub(crate) fn new(m: Members) -> Result<Arc<LiveStack>> {
        let m = Arc::new(m, GFP_KERNEL)?;
        Arc::pin_init(pin_init!(LiveStack { cur <- new_spinlock!(m, "rfs_root_stack") }), GFP_KERNEL)
    }

    /// The current members.
    pub(crate) fn get(&self) -> Arc<Members> {
        self.cur.lock().clone()
    }

    /// Publishes new members; returns the old ones (dropped by the caller,
    /// outside the lock).
    pub(crate) fn replace(&self, m: Arc<Members>) -> Arc<Members> {
        core::mem::replace(&mut *self.cur.lock(), m)
    }
}

/// The stack of one union inode.
enum Stack {
    /// Any inode but the root.
    ///
    /// - `lowers` is set before the inode is published and never changes; a
    ///   directory that becomes opaque stops showing them (`visible` drops to
    ///   0), but the references stay until the inode is destroyed, so readers
    ///   may borrow them without locks;
    /// - `upper` is set once, by copy-up or creation, under the superblock's
    ///   copy-up lock, and then stays until the inode is destroyed.
    /// - `plink` is the pseudo-link of a hard-linked lower file (plink.rs),
    ///   set before the inode is published.
    Fixed { upper: SetOnce<Lower>, lowers: KVVec<Lower>, visible: AtomicUsize, plink: Option<Lower> },
    /// The root directory.
    Live(Arc<LiveStack>),
}

/// rfs's data in every union inode: its stack of members (see [`Stack`]).
///
/// The members of a union object, top first, are its *upper* (the object in
/// the top-most writable branch, once there is one) and its *lowers* (the
/// same-named objects of the branches below, as lookup found them).
pub(crate) struct InodeInfo {
    stack: Stack,
}

impl InodeData for InodeInfo {
    fn empty() -> Self {
        InodeInfo {
            stack: Stack::Fixed { upper: SetOnce::new(), lowers: KVVec::new(), visible: AtomicUsize::new(0), plink: None },
        }
    }

    fn release(&mut self) {
        // Drops every reference the stack holds.
        *self = Self::empty();
    }
}

/// What a union inode is made of, at one moment (see [`InodeInfo::view`]).
pub(crate) enum View<'a> {
    /// Borrowed from an ordinary inode.
    Fixed { upper: Option<&'a Lower>, lowers: &'a [Lower], plink: Option<&'a Lower> },
    /// A snapshot of the root's members.
    Live(Arc<Members>),
}

impl View<'_> {
    /// The object in the writable branch, if any.
    pub(crate) fn upper(&self) -> Option<&Lower> {
        match self {
            View::Fixed { upper, .. } => *upper,
            View::Live(m) => m.upper.as_ref(),
        }
    }

    /// The lower members that count.
    pub(crate) fn lowers(&self) -> &[Lower] {
        match self {
            View::Fixed { lowers, .. } => lowers,
            View::Live(m) => &m.lowers,
        }
    }

    /// The members, top first: the upper (if any) then the lowers.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Lower> {
        Iterator::chain(self.upper().into_iter(), self.lowers().iter())
    }

    /// Where attributes and data come from: the top-most member, or the
    /// pseudo-link of a hard-linked lower file whose other name was copied
    /// up (plink.rs).
    pub(crate) fn top(&self) -> Result<&Lower> {
        if let (None, Some(p)) = (self.upper(), self.plink()) {
            return Ok(p);
        }
        self.members().next().ok_or(EIO)
    }

    /// The pseudo-link the object reads from, if any.
    pub(crate) fn plink(&self) -> Option<&Lower> {
        match self {
            View::Fixed { plink, .. } => *plink,
            View::Live(_) => None,
        }
    }

    /// How many members there are.
    pub(crate) fn depth(&self) -> usize {
        self.upper().map_or(0, |_| 1) + self.lowers().len()
    }
}

impl InodeInfo {
    /// An inode made of its members, top first (never none for a real
    /// object).
    pub(crate) fn new(upper: Option<Lower>, lowers: KVVec<Lower>) -> Result<Self> {
        let slot = SetOnce::new();
        if let Some(u) = upper {
            slot.set(u)?;
        }
        let visible = AtomicUsize::new(lowers.len());
        Ok(InodeInfo { stack: Stack::Fixed { upper: slot, lowers, visible, plink: None } })
    }

    /// The same inode data, reading from the pseudo-link `p` (before the
    /// inode is published).
    pub(crate) fn with_plink(mut self, p: Option<Lower>) -> Self {
        if let Stack::Fixed { plink, .. } = &mut self.stack {
            *plink = p;
        }
        self
    }

    /// The root's data: its members come from `live`.
    pub(crate) fn new_root(live: Arc<LiveStack>) -> Self {
        InodeInfo { stack: Stack::Live(live) }
    }

    /// The members as they are now.
    pub(crate) fn view(&self) -> View<'_> {
        match &self.stack {
            Stack::Fixed { upper, lowers, visible, plink } => {
                let n = visible.load(Ordering::Acquire).min(lowers.len());
                View::Fixed { upper: upper.get(), lowers: lowers.get(..n).unwrap_or(&[]), plink: plink.as_ref() }
            }
            Stack::Live(live) => View::Live(live.get()),
        }
    }

    /// Records the object in the writable branch (copy-up, creation).
    /// Returns false if another thread did first. The root's upper is the
    /// writable branch's root, never set this way.
    pub(crate) fn set_upper(&self, upper: Lower) -> Result<bool> {
        match &self.stack {
            Stack::Fixed { upper: slot, .. } => slot.set(upper),
            Stack::Live(_) => Err(EROFS),
        }
    }

    /// Hides every lower member (the directory became opaque). The root is
    /// never made opaque this way.
    pub(crate) fn make_opaque(&self) {
        if let Stack::Fixed { visible, .. } = &self.stack {
            visible.store(0, Ordering::Release);
        }
    }
}

/// getattr: the top lower object's attributes, with the union's device and
/// inode number. A merged directory reports one link, since its real count
/// is not known without reading every branch (as OverlayFS does).
pub(crate) fn getattr(
    sb: SuperBlock<'_>,
    ui: &UnionInode,
    stat: &mut sys::kstat,
    request_mask: u32,
    flags: u32,
) -> Result {
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    {
        let _creds = sb.info().cred.override_creds();
        crate::vfs::path::getattr(&top.path(), stat, request_mask, flags)?;
    }
    stat.dev = sb.dev();
    stat.ino = ui.vfs().ino();
    if ui.vfs().is_dir() && ui_view.depth() > 1 {
        stat.nlink = 1;
    }
    Ok(())
}

/// permission: the caller must pass the checks of the union inode and of the
/// top lower inode (so lower ACLs and the like are honored). Write access is
/// not asked of the lower inode: writes never go to a lower branch.
pub(crate) fn permission(ui: &UnionInode, mask: i32) -> Result {
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    let lower = top.dentry.inode().ok_or(ENOENT)?;
    // The union inode mirrors the top member, also after a change made
    // directly in its branch (chmod, chown).
    ui.refresh_attr(lower);
    crate::vfs::inode::generic_permission(ui.vfs(), mask)?;
    let lower_mask = mask & !((sys::MAY_WRITE | sys::MAY_APPEND) as i32);
    crate::vfs::inode::inode_permission(top.branch.root.mnt(), lower, lower_mask)
}

/// The lower dentry a symlink's target is read from.
pub(crate) fn link_source(ui: &UnionInode) -> Result<Dentry> {
    Ok(ui.data().view().top()?.dentry.clone())
}

/// setattr (chmod, chown, utimes, truncate): copies the object up (without
/// data when it is truncated to zero) and changes the upper. The caller's
/// right to make the change was checked on the union inode (setattr_prepare).
pub(crate) fn setattr(sb: SuperBlock<'_>, d: Dentry, attr: Attr) -> Result {
    let data = if attr.size() == Some(0) { Data::Empty } else { Data::All };
    copy_up(sb, &d, data)?;
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    let ui_view = ui.data().view();
    let upper = ui_view.upper().ok_or(EIO)?;
    let sbi = sb.info();
    {
        let _creds = sbi.cred.override_creds();
        let _w = WriteAccess::get(upper.branch.root.mnt(), &upper.branch.root)?;
        attr.apply(upper.branch.root.mnt(), &upper.dentry)?;
    }
    if let Some(i) = upper.dentry.inode() {
        ui.refresh_attr(i);
    }
    Ok(())
}

/// setxattr/removexattr (`value` None): copies the object up and changes the
/// upper. `name` is the full, NUL-terminated name.
pub(crate) fn set_xattr(sb: SuperBlock<'_>, d: Dentry, name: &[u8], value: Option<&[u8]>, flags: i32) -> Result {
    if value.is_none() {
        // Removing what is not there fails without a copy-up.
        let ui = union_inode_of(&d).ok_or(ENOENT)?;
        let ui_view = ui.data().view();
        let top = ui_view.top()?;
        let _creds = sb.info().cred.override_creds();
        xattr::get(top.branch.root.mnt(), &top.dentry, name)?;
    }
    copy_up(sb, &d, Data::All)?;
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    let ui_view = ui.data().view();
    let upper = ui_view.upper().ok_or(EIO)?;
    let sbi = sb.info();
    {
        let _creds = sbi.cred.override_creds();
        let mnt = upper.branch.root.mnt();
        let _w = WriteAccess::get(mnt, &upper.branch.root)?;
        match value {
            Some(v) => xattr::set(mnt, &upper.dentry, name, v, flags)?,
            None => xattr::remove(mnt, &upper.dentry, name)?,
        }
    }
    if let Some(i) = upper.dentry.inode() {
        ui.refresh_attr(i);
    }
    Ok(())
}

/// The ACL `kind` of the top member (get_acl: getxattr of
/// `system.posix_acl_*` and the like).
pub(crate) fn get_acl(sb: SuperBlock<'_>, ui: &UnionInode, kind: i32) -> Result<Option<acl::Acl>> {
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    let _creds = sb.info().cred.override_creds();
    match acl::get(top.branch.root.mnt(), &top.dentry, kind) {
        Err(e) if e == crate::vfs::code::eopnotsupp() => Ok(None),
        r => r,
    }
}

/// set_acl: copies the object up and sets (NULL: removes) its ACL `kind`.
///
/// # Safety
/// `a` must be NULL or an ACL the caller holds referenced during the call.
pub(crate) unsafe fn set_acl(sb: SuperBlock<'_>, d: Dentry, kind: i32, a: *mut sys::posix_acl) -> Result {
    copy_up(sb, &d, Data::All)?;
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    let ui_view = ui.data().view();
    let upper = ui_view.upper().ok_or(EIO)?;
    {
        let _creds = sb.info().cred.override_creds();
        let mnt = upper.branch.root.mnt();
        let _w = WriteAccess::get(mnt, &upper.branch.root)?;
        // SAFETY: guaranteed by the caller.
        unsafe { acl::set_raw(mnt, &upper.dentry, kind, a)? };
    }
    if let Some(i) = upper.dentry.inode() {
        ui.refresh_attr(i);
    }
    Ok(())
}

/// listxattr: the top member's names, read with the mounter's credentials,
/// without the `trusted.` names the caller may not see (the branch would
/// have hidden them from the caller, but not from the mounter).
pub(crate) fn list_xattr(sb: SuperBlock<'_>, ui: &UnionInode) -> Result<KVec<u8>> {
    let show_trusted = crate::vfs::task::capable_sys_admin();
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    let all = {
        let _creds = sb.info().cred.override_creds();
        xattr::list(&top.dentry)?
    };
    if show_trusted {
        return Ok(all);
    }
    let mut out = KVec::with_capacity(all.len(), GFP_KERNEL)?;
    for name in all.split_inclusive(|&c| c == 0) {
        if !name.starts_with(b"trusted.") {
            out.extend_from_slice(name, GFP_KERNEL)?;
        }
    }
    Ok(out)
}
