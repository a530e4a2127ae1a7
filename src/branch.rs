//! Branches: the directories a union is stacked from.
//!
//! A branch has two parts:
//! - [`BranchRoot`]: what stays the same for the branch's whole life in the
//!   mount (its root path, id, name, counters and open-file counts). It is
//!   shared by every version of the branch.
//! - [`Branch`]: one *version* of the branch, i.e. the root with a
//!   permission. A remount that changes a branch's permission (`mod:`) makes
//!   a new `Branch` around the same root; union inodes built before keep the
//!   old version until they are revalidated (see `namei.rs`).
//!
//! Both are refcounted (`Arc`): the superblock's branch table and every union
//! inode whose lower objects live in the branch keep the branch (and so the
//! lower mount) alive, also after the branch was deleted from the stack.

use crate::logic::options::BranchSpec;
use crate::logic::perm::Perm;
use crate::vfs::fs::FcLog;
use crate::vfs::path::Path;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use crate::vfs::dentry::Dentry;
use crate::vfs::file::File;
use kernel::sync::{Arc, Mutex};
use kernel::{new_mutex, try_pin_init};

/// The kernel's limit on stacking filesystems on each other.
pub(crate) const MAX_STACK_DEPTH: i32 = crate::vfs::sys::FILESYSTEM_MAX_STACK_DEPTH as i32;

/// AUFS numbers branch ids from 64; rfs does too, so sysfs looks familiar.
pub(crate) const FIRST_BRANCH_ID: u32 = crate::logic::branch::FIRST_BRANCH_ID;

/// What a branch is, whatever its permission.
#[pin_data]
pub(crate) struct BranchRoot {
    /// The branch root.
    pub(crate) root: Path,
    /// Stable id, shown as `bridN` in sysfs.
    pub(crate) id: u32,
    /// The absolute path of the root, resolved when the branch was added
    /// (d_path).
    pub(crate) name: KVec<u8>,
    /// Names looked up in this branch (shown in sysfs `lookups`).
    pub(crate) lookups: AtomicU64,
    /// Union files open on a file of this branch, and how many of them for
    /// writing (see [`OpenGuard`]).
    open: AtomicUsize,
    open_write: AtomicUsize,
    /// Set by a remount while it checks whether the branch may be deleted
    /// (`closing`) or lose its write permission (`closing_write`): opens
    /// racing with it fail instead of being missed.
    closing: AtomicBool,
    closing_write: AtomicBool,
    /// Set once the branch filesystem refused to make an unnamed file
    /// (O_TMPFILE): copy-ups then make their copies under a name.
    pub(crate) no_tmpfile: AtomicBool,
    /// The branch objects of union files that were mmapped (a dentry
    /// reference each, see [`BranchRoot::note_mapped`]): a mapping keeps
    /// the branch file, not the union file, so the open count alone misses
    /// them.
    #[pin]
    mapped: Mutex<KVec<Dentry>>,
}

/// One version of a branch: its root and a permission.
pub(crate) struct Branch {
    /// `rw`, `ro`, `ro+wh` or `rr`.
    pub(crate) perm: Perm,
    core: Arc<BranchRoot>,
}

impl Deref for Branch {
    type Target = BranchRoot;

    fn deref(&self) -> &BranchRoot {
        &self.core
    }
}

impl Branch {
    /// Opens a new branch `spec` with id `id`: the path must exist and be a
    /// directory. Relative paths resolve against the caller's working
    /// directory, as with AUFS.
    pub(crate) fn open(spec: &BranchSpec, id: u32, log: &FcLog) -> Result<Arc<Branch>> {
        let root = Path::lookup(&spec.path).inspect_err(|_| {
            log.error("cannot find branch", Some(&spec.path));
        })?;
        if !root.dentry().is_dir() {
            log.error("branch is not a directory", Some(&spec.path));
            return Err(ENOTDIR);
        }
        // rfs copies owners between branches and into union inodes as the
        // filesystems store them; through an idmapped mount those would be
        // the wrong ids (parity audit: idmaps). Refused until rfs maps them.
        if root.is_idmapped() {
            log.error("idmapped branch mounts are not supported", Some(&spec.path));
            return Err(EINVAL);
        }
        // Case-folding filesystems compare names in their own way, which
        // whiteouts and the readdir merge cannot follow; automount points
        // and the like cannot be stacked on (overlayfs refuses both).
        if root.has_encoding() {
            log.error("case-insensitive capable filesystem not supported", Some(&spec.path));
            return Err(EINVAL);
        }
        if root.dentry().is_weird() {
            log.error("filesystem not supported as a branch", Some(&spec.path));
            return Err(EINVAL);
        }
        let name = root.name().inspect_err(|_| {
            log.error("cannot name branch (its absolute path is too long?)", Some(&spec.path));
        })?;
        // No permission given on a filesystem that cannot be written (a
        // squashfs or iso9660 image, a read-only mount): `rr`, as AUFS
        // picks, rather than a default `rw` that would fail (live CDs:
        // `dirs=/cdrom` gives a read-only union).
        let perm = if !spec.perm_given && root.natively_ro() {
            Perm::Rr
        } else {
            spec.perm
        };
        let core = Arc::pin_init(
            try_pin_init!(BranchRoot {
                root,
                id,
                name,
                lookups: AtomicU64::new(0),
                open: AtomicUsize::new(0),
                open_write: AtomicUsize::new(0),
                closing: AtomicBool::new(false),
                closing_write: AtomicBool::new(false),
                no_tmpfile: AtomicBool::new(false),
                mapped <- new_mutex!(KVec::new(), "rfs_branch_mapped"),
            }),
            GFP_KERNEL,
        )?;
        Ok(Arc::new(Branch { perm, core }, GFP_KERNEL)?)
    }

    /// The same branch with permission `perm` (a new version).
    pub(crate) fn with_perm(&self, perm: Perm) -> Result<Arc<Branch>> {
        Ok(Arc::new(Branch { perm, core: self.core.clone() }, GFP_KERNEL)?)
    }

    /// Whether `.wh.` whiteouts and opaque markers in this branch count.
    pub(crate) fn honors_whiteouts(&self) -> bool {
        self.perm.honors_whiteouts()
    }

    /// Whether `self` and `other` are the same version of the same branch.
    pub(crate) fn same(self: &Arc<Self>, other: &Arc<Self>) -> bool {
        Arc::ptr_eq(self, other)
    }
}

/// Checks that a new branch `b` is neither the same directory as, nor
/// nested with, any branch in `others` (compared by dentry, so that two
/// spellings of one directory are caught).
pub(crate) fn check_distinct<'a>(b: &Branch, others: impl Iterator<Item = &'a Arc<Branch>>, log: &FcLog) -> Result {
    for other in others {
        if other.id == b.id {
            continue;
        }
        let (a_in_b, b_in_a) = (b.root.is_under(&other.root), other.root.is_under(&b.root));
        if a_in_b && b_in_a {
            log.error("duplicate branch", Some(&b.name));
            return Err(EINVAL);
        }
        if a_in_b || b_in_a {
            log.error("branches must not be nested", Some(&b.name));
            return Err(EINVAL);
        }
    }
    Ok(())
}

/// Resolves the branch list of a new mount: every path must exist, be a
/// directory, and appear once, with no branch inside another.
pub(crate) fn open_branches(specs: &[BranchSpec], log: &FcLog) -> Result<KVec<Arc<Branch>>> {
    let mut out: KVec<Arc<Branch>> = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
    for (i, spec) in specs.iter().enumerate() {
        let b = Branch::open(spec, FIRST_BRANCH_ID + i as u32, log)?;
        check_distinct(&b, out.iter(), log)?;
        out.push(b, GFP_KERNEL)?;
    }
    Ok(out)
}

/// Counts one union file open on a branch for as long as it lives, so that a
/// remount can refuse (EBUSY) to delete a branch with open files, or to take
/// write permission from a branch with files open for writing.
///
/// Protocol with [`BranchRoot::begin_closing`]: the opener counts itself,
/// then checks the branch's closing flags; the remount sets the flags, then
/// reads the counts. Both use sequentially consistent atomics, so at least
/// one of the two sees the other: either the open fails with ESTALE or the
/// remount fails with EBUSY.
pub(crate) struct OpenGuard {
    branch: Arc<BranchRoot>,
    write: bool,
}

impl OpenGuard {
    /// The branch the file is counted on.
    pub(crate) fn branch(&self) -> &BranchRoot {
        &self.branch
    }
}

impl OpenGuard {
    /// Counts a file opened on `b` (for writing if `write`).
    pub(crate) fn new(b: &Branch, write: bool) -> Result<OpenGuard> {
        let g = OpenGuard { branch: b.core.clone(), write };
        g.branch.open.fetch_add(1, Ordering::SeqCst);
        if write {
            g.branch.open_write.fetch_add(1, Ordering::SeqCst);
        }
        let refused = g.branch.closing.load(Ordering::SeqCst) || (write && g.branch.closing_write.load(Ordering::SeqCst));
        if refused {
            // Dropping `g` uncounts it.
            return Err(crate::vfs::code::estale());
        }
        Ok(g)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.branch.open.fetch_sub(1, Ordering::SeqCst);
        if self.write {
            self.branch.open_write.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl BranchRoot {
    /// Forgets the mapped objects nothing maps any more.
    fn prune_mapped(list: &mut KVec<Dentry>) -> Result {
        let mut kept = KVec::with_capacity(list.len(), GFP_KERNEL)?;
        for d in core::mem::take(list) {
            if d.inode().is_some_and(|i| i.is_mapped()) {
                kept.push(d, GFP_KERNEL)?;
            }
        }
        *list = kept;
        Ok(())
    }

    /// Records that the branch file `f` of a union file was mmapped, so a
    /// remount sees the branch busy for as long as a mapping keeps it. The
    /// list holds the file's dentry, not the file: the file is a backing
    /// file that holds the union's path, and a reference to it would keep
    /// the union mounted after the last mapping went. Any mapping of the
    /// object counts, also one made directly in the branch.
    pub(crate) fn note_mapped(&self, f: &File) -> Result {
        let Some(d) = f.dentry() else { return Ok(()) };
        let mut list = self.mapped.lock();
        Self::prune_mapped(&mut list)?;
        if !list.iter().any(|m| m.same(&d)) {
            list.push(d, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Whether a mapping still holds a file of the branch.
    fn is_mapped(&self) -> bool {
        let mut list = self.mapped.lock();
        // Without memory to prune, count every entry as busy.
        let _ = Self::prune_mapped(&mut list);
        !list.is_empty()
    }

    /// Marks the branch as about to be deleted (`write_only`: about to lose
    /// write permission) and tells whether files that forbid it are open.
    /// The caller ends with [`BranchRoot::end_closing`] whatever happens.
    pub(crate) fn begin_closing(&self, write_only: bool) -> bool {
        if write_only {
            self.closing_write.store(true, Ordering::SeqCst);
            self.open_write.load(Ordering::SeqCst) != 0
        } else {
            self.closing.store(true, Ordering::SeqCst);
            self.open.load(Ordering::SeqCst) != 0 || self.is_mapped()
        }
    }

    /// Clears the flags of [`BranchRoot::begin_closing`].
    pub(crate) fn end_closing(&self) {
        self.closing.store(false, Ordering::SeqCst);
        self.closing_write.store(false, Ordering::SeqCst);
    }
}
