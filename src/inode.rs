//! Union inodes: what a union object is made of, and its attribute and
//! permission operations.
//!
//! A union inode holds the lower dentries it stands for (its *stack*):
//! for a non-directory, the one object that won the lookup; for a directory,
//! every same-named directory that merges into it, top first. The stack is
//! set before the inode is published and never changes afterwards; the
//! references it holds are dropped when the inode is destroyed.

use crate::branch::Branch;
use crate::vfs::dentry::Dentry;
use crate::vfs::fs::SuperBlock;
use crate::vfs::inode::{FsInode, InodeData};
use crate::vfs::path;
use crate::vfs::sys;
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::Arc;

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

/// rfs's data in every union inode.
pub(crate) struct InodeInfo {
    stack: KVVec<Lower>,
}

impl InodeData for InodeInfo {
    fn empty() -> Self {
        InodeInfo { stack: KVVec::new() }
    }

    fn release(&mut self) {
        self.stack = KVVec::new();
    }
}

impl InodeInfo {
    /// An inode made of `stack` (top first; never empty for a real object).
    pub(crate) fn with_stack(stack: KVVec<Lower>) -> Self {
        InodeInfo { stack }
    }

    /// The lower objects, top first.
    pub(crate) fn stack(&self) -> &[Lower] {
        &self.stack
    }

    /// The top-most lower object: where attributes and data come from.
    pub(crate) fn top(&self) -> Result<&Lower> {
        self.stack.first().ok_or(EIO)
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
    let top = ui.data().top()?;
    {
        let _creds = sb.info().cred.override_creds();
        crate::vfs::path::getattr(&top.path(), stat, request_mask, flags)?;
    }
    stat.dev = sb.dev();
    stat.ino = ui.vfs().ino();
    if ui.data().stack().len() > 1 {
        stat.nlink = 1;
    }
    Ok(())
}

/// permission: the caller must pass the checks of the union inode and of the
/// top lower inode (so lower ACLs and the like are honored). Write access is
/// not asked of the lower inode: writes never go to a lower branch.
pub(crate) fn permission(ui: &UnionInode, mask: i32) -> Result {
    crate::vfs::inode::generic_permission(ui.vfs(), mask)?;
    let top = ui.data().top()?;
    let lower = top.dentry.inode().ok_or(ENOENT)?;
    let lower_mask = mask & !((sys::MAY_WRITE | sys::MAY_APPEND) as i32);
    crate::vfs::inode::inode_permission(top.branch.root.mnt(), lower, lower_mask)
}

/// The lower dentry a symlink's target is read from.
pub(crate) fn link_source(ui: &UnionInode) -> Result<&Dentry> {
    Ok(&ui.data().top()?.dentry)
}
