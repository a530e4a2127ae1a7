//! Unions that share a writable branch.
//!
//! Nothing stops two rfs mounts from having the same `rw` branch (AUFS
//! allows it too). They then share its work directory, and each mount
//! cleans that directory when it starts (copyup::prepare_workdir), which
//! would delete the temporaries of copy-ups the other mount has in flight.
//! So the mounts using each work directory are counted here, module-wide:
//! only the first one cleans, and it cleans with the count's lock held, so
//! no second mount can get going (and start a copy-up) in the middle of it.
//! Later mounts use the directory as it is. Temporary names carry the
//! mount's `si` id (copyup::temp_name), so sharing mounts never pick the same
//! one, and a mount that is not the first one keeps its inode-number map in
//! memory instead of sharing the branch's default xino file (super_.rs).
//!
//! Ownership: a [`WorkClaim`] is one mount's count on one work directory.
//! The superblock holds the claim for its branch 0 (`SbInfo::work_claim`);
//! a claim is dropped at umount, or by the remount that gives branch 0 to
//! another branch, and always with only `s_umount` held (see
//! vfs/global.rs for the lock order).

use crate::vfs::dentry::Dentry;
use crate::vfs::global::Global;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// A work directory's identity: its inode's (device, number, generation).
/// The claim's mount holds the directory, so the inode cannot be reused.
type Key = (u32, u64, u32);

/// The work directories in use, each with its number of mounts. An entry
/// whose count fell to 0 is free for the next directory (the kernel's 6.12
/// `KVec` cannot remove elements); when all are free the vector is emptied.
static USERS: Global<KVec<(Key, u32)>> = Global::new(KVec::new());

/// One mount's use of one work directory (see the module docs).
pub(crate) struct WorkClaim {
    key: Key,
    first: bool,
}

impl WorkClaim {
    /// Counts one more mount using the work directory `work`. If it had none,
    /// `clean` runs first, with the count's lock held.
    pub(crate) fn take(work: &Dentry, clean: impl FnOnce()) -> Result<WorkClaim> {
        let key = work.inode().ok_or(ENOENT)?.identity();
        let mut users = USERS.lock();
        if let Some(entry) = users.iter_mut().find(|(k, n)| *k == key && *n > 0) {
            entry.1 = entry.1.checked_add(1).ok_or(EBUSY)?;
            return Ok(WorkClaim { key, first: false });
        }
        match users.iter_mut().find(|(_, n)| *n == 0) {
            Some(free) => *free = (key, 1),
            None => users.push((key, 1), GFP_KERNEL)?,
        }
        clean();
        Ok(WorkClaim { key, first: true })
    }

    /// How many claims the work directory has now (a mount may hold two:
    /// see `SbInfo::writable_branch_shared`).
    pub(crate) fn users(&self) -> u32 {
        USERS.lock().iter().find(|(k, n)| *k == self.key && *n > 0).map_or(0, |e| e.1)
    }

    /// Whether `other` is a claim on the same work directory.
    pub(crate) fn same_dir(&self, other: &WorkClaim) -> bool {
        self.key == other.key
    }

    /// Whether no other mount used the work directory when this claim was
    /// taken.
    pub(crate) fn is_first(&self) -> bool {
        self.first
    }
}

impl Drop for WorkClaim {
    fn drop(&mut self) {
        let mut users = USERS.lock();
        if let Some(entry) = users.iter_mut().find(|(k, n)| *k == self.key && *n > 0) {
            entry.1 -= 1;
        }
        if users.iter().all(|(_, n)| *n == 0) {
            // Frees the buffer: the static must hold no memory when the
            // module goes (kmemleak would see it lost).
            *users = KVec::new();
        }
    }
}
