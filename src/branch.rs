//! Branches: the directories a union is stacked from.
//!
//! A [`Branch`] holds a reference on the branch's root (mount and dentry) for
//! as long as anything uses it: the superblock's branch table and every union
//! inode whose lower objects live in it keep an `Arc<Branch>`.

use crate::logic::options::BranchSpec;
use crate::logic::perm::Perm;
use crate::vfs::fs::FcLog;
use crate::vfs::path::Path;
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use core::sync::atomic::AtomicU64;
use kernel::sync::Arc;

/// The kernel's limit on stacking filesystems on each other.
pub(crate) const MAX_STACK_DEPTH: i32 = crate::vfs::sys::FILESYSTEM_MAX_STACK_DEPTH as i32;

/// AUFS numbers branch ids from 64; rfs does too, so sysfs looks familiar.
pub(crate) const FIRST_BRANCH_ID: u32 = 64;

/// One branch of a mounted union.
pub(crate) struct Branch {
    /// The branch root.
    pub(crate) root: Path,
    /// `rw`, `ro`, `ro+wh` or `rr`.
    pub(crate) perm: Perm,
    /// Stable id, shown as `bridN` in sysfs.
    pub(crate) id: u32,
    /// The absolute path of the root, resolved at mount (d_path).
    pub(crate) name: KVec<u8>,
    /// Position in the stack, 0 on top.
    pub(crate) index: usize,
    /// Names looked up in this branch (shown in sysfs `lookups`).
    pub(crate) lookups: AtomicU64,
}

impl Branch {
    /// Whether `.wh.` whiteouts and opaque markers in this branch count.
    pub(crate) fn honors_whiteouts(&self) -> bool {
        self.perm.honors_whiteouts()
    }
}

/// Resolves the branch list of a mount: every path must exist, be a
/// directory, and appear once, with no branch inside another. Relative paths
/// resolve against the mounter's working directory, as with AUFS.
pub(crate) fn open_branches(specs: &[BranchSpec], log: &FcLog) -> Result<KVec<Arc<Branch>>> {
    let mut out: KVec<Arc<Branch>> = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
    for (i, spec) in specs.iter().enumerate() {
        let root = Path::lookup(&spec.path).inspect_err(|_| {
            log.error("cannot find branch", Some(&spec.path));
        })?;
        if !root.dentry().is_dir() {
            log.error("branch is not a directory", Some(&spec.path));
            return Err(ENOTDIR);
        }
        for other in out.iter() {
            let (a_in_b, b_in_a) = (root.is_under(&other.root), other.root.is_under(&root));
            if a_in_b && b_in_a {
                log.error("duplicate branch", Some(&spec.path));
                return Err(EINVAL);
            }
            if a_in_b || b_in_a {
                log.error("branches must not be nested", Some(&spec.path));
                return Err(EINVAL);
            }
        }
        let name = root.name()?;
        let id = FIRST_BRANCH_ID + i as u32;
        out.push(Arc::new(Branch { root, perm: spec.perm, id, name, index: i, lookups: AtomicU64::new(0) }, GFP_KERNEL)?, GFP_KERNEL)?;
    }
    Ok(out)
}
