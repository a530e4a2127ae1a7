//! Regular files: the branch file a union file passes its I/O to.
//!
//! Opening a union file opens the top member's file in its branch with the
//! mounter's credentials. Opening for write (or with O_TRUNC) first copies
//! the file up, so writes, fallocate and shared writable mappings reach the
//! writable branch's file; a lower file is never opened for writing. A file
//! opened for reading before a copy-up switches to the copy at its next
//! read, seek, mmap or fsync (as with OverlayFS; AUFS keeps the lower
//! file). Mappings made before stay on the lower file in both.

use crate::branch::OpenGuard;
use crate::copyup::copy_up;
use crate::inode::UnionInode;
use crate::vfs::dentry::Dentry;
use crate::vfs::file::{File, UserFile};
use crate::union::SuperBlock;
use crate::vfs::once::SetOnce;
use crate::vfs::sys;
use kernel::error::{code::{EINVAL, EIO, EROFS}, Result};
use kernel::prelude::*;

/// Per open union file: the branch file it passes reads, writes, seeks and
/// maps to.
pub(crate) struct RegFile {
    /// The branch file, opened with the mounter's credentials: the upper
    /// file once the union file was opened for writing.
    pub(crate) real: File,
    /// Counts the file on its branch (a remount refuses to delete a branch
    /// with open files).
    open: OpenGuard,
    /// The flags `real` was opened with.
    flags: u32,
    /// `real` is the upper file.
    on_upper: bool,
    /// For a file opened on a lower file: the copy, opened when the union
    /// file is used after the object was copied up (see [`RegFile::current`]).
    copy: SetOnce<Copy>,
    /// The union file itself: its branch files are backing files of it.
    user: UserFile,
}

/// The upper file a union file opened on a lower one switched to.
struct Copy {
    file: File,
    open: OpenGuard,
}

impl RegFile {
    /// The branch file reads, seeks, maps and syncs of the union file go
    /// to: the one opened, or, once the object was copied up since (by
    /// another opener, or through another of its names), the copy, opened
    /// with the same flags on first use and kept. A file opened before a
    /// copy-up so sees the writes made through the union afterwards, as
    /// with OverlayFS (ovl_real_fdget_meta). `ui` is the union file's inode.
    pub(crate) fn current(&self, sb: SuperBlock<'_>, ui: &UnionInode) -> Result<&File> {
        if self.on_upper {
            return Ok(&self.real);
        }
        if let Some(c) = self.copy.get() {
            return Ok(&c.file);
        }
        let view = ui.data().view();
        let Some(upper) = view.upper() else { return Ok(&self.real) };
        let sbi = sb.info();
        let open = OpenGuard::new(&upper.branch, false)?;
        // Without O_DIRECT: the union file's O_DIRECT as it is now is
        // carried over before each read (ops.rs sync_flags).
        let file = File::open_backing(self.user, &upper.path(), self.flags & !sys::O_DIRECT, &sbi.cred)?;
        // A thread that raced us keeps its copy; ours is dropped.
        self.copy.set(Copy { file, open })?;
        self.copy.get().map(|c| &c.file).ok_or(EIO)
    }

    /// The branch that holds `f`, one of this file's branch files.
    fn branch_of(&self, f: &File) -> &crate::branch::BranchRoot {
        match self.copy.get() {
            Some(c) if core::ptr::eq(&c.file, f) => c.open.branch(),
            _ => self.open.branch(),
        }
    }

    /// The last close of the union file: a file of the writable branch
    /// left without a name (an O_TMPFILE never linked, or a file unlinked
    /// while open) can no longer be reached, so the inode-number map
    /// forgets it (the branch may reuse its number; dir.rs does the same
    /// at unlink for files that are not open).
    pub(crate) fn released(&self, sb: SuperBlock<'_>) {
        let (f, root) = match self.copy.get() {
            Some(c) => (&c.file, c.open.branch()),
            None if self.on_upper => (&self.real, self.open.branch()),
            None => return,
        };
        if let Some(i) = f.inode().filter(|i| i.nlink() == 0) {
            sb.info().forget_ino(root.id, i.ino());
        }
    }

    /// The copy this file switched to, if it did.
    pub(crate) fn copy(&self) -> Option<&File> {
        self.copy.get().map(|c| &c.file)
    }
}

/// Whether an open with `flags` may change the file: write access, or
/// O_TRUNC (Linux truncates with O_RDONLY too). O_APPEND alone does not:
/// `O_RDONLY|O_APPEND` opens for reading and must not copy up (overlayfs:
/// ovl_open_need_copy_up).
fn writes(flags: u32) -> bool {
    flags & sys::O_ACCMODE != sys::O_RDONLY || flags & sys::O_TRUNC != 0
}

/// `open` of the union file `user` of `dentry`, with open flags `flags`.
/// Its branch file is a backing file of it (overlayfs: ovl_open_realfile).
pub(crate) fn open(sb: SuperBlock<'_>, ui: &UnionInode, dentry: &Dentry, flags: u32, user: UserFile) -> Result<RegFile> {
    // Counted before the members are looked at, until the file is released
    // (union.rs): a promotion (copyup.rs `promote`) never replaces the
    // upper of an inode with open files.
    ui.data().pin()?;
    open_pinned(sb, ui, dentry, flags, user).inspect_err(|_| ui.data().unpin())
}

fn open_pinned(sb: SuperBlock<'_>, ui: &UnionInode, dentry: &Dentry, flags: u32, user: UserFile) -> Result<RegFile> {
    let sbi = sb.info();
    if flags & sys::O_DIRECT != 0 && sbi.nodio.load(core::sync::atomic::Ordering::Relaxed) {
        // `nodio`: AUFS's default, where O_DIRECT opens fail.
        return Err(EINVAL);
    }
    if writes(flags) {
        // With O_TRUNC too the whole file is copied: the VFS truncates it
        // (setattr) only after ->open returned, and may still fail the open
        // before that (ETXTBSY for a running program opened
        // O_RDONLY|O_TRUNC, an LSM's truncate hook): the union must then
        // still show the data. (overlayfs copies up empty here, and loses
        // the data in that case.)
        copy_up(sb, dentry)?;
    }
    let ui_view = ui.data().view();
    let top = ui_view.top()?;
    // O_TRUNC was (or will be) applied through setattr on the union inode.
    let real_flags = flags & !(sys::O_CREAT | sys::O_EXCL | sys::O_NOCTTY | sys::O_TRUNC);
    let write = writes(flags);
    let open = OpenGuard::new(&top.branch, write)?;
    if write {
        // A remount may have made the branch read-only between the copy-up
        // and the count just taken: it publishes the new table before it
        // stops refusing write counts (super_.rs `Closing`), so once
        // counted, the current table tells. A write open then gives up
        // rather than hand out a writable file of a read-only branch.
        let tab = sbi.tab();
        if !tab.index_of(&top.branch).is_some_and(|i| tab.branch(i).is_some_and(|b| b.perm.is_writable())) {
            return Err(EROFS);
        }
    }
    let is_upper = ui_view.upper().is_some_and(|u| u.dentry.same(&top.dentry));
    let real = if is_upper {
        File::open_backing(user, &top.path(), real_flags, &sbi.cred)?
    } else {
        // A lower file (opened for reading only): its atime stays.
        File::open_backing_lower(user, &top.path(), real_flags, &sbi.cred)?
    };
    Ok(RegFile { real, open, flags: real_flags, on_upper: is_upper, copy: SetOnce::new(), user })
}

/// After a successful mmap of `rf` through its branch file `f`: the mapping
/// holds the branch file (not the union file), so the branch remembers it
/// (see branch.rs).
pub(crate) fn mapped(rf: &RegFile, f: &File) {
    if rf.branch_of(f).note_mapped(f).is_err() {
        pr_warn!("rfs: cannot record a mapping; deleting its branch will not be refused\n");
    }
}

/// After a write-like operation: the union inode mirrors the branch file's
/// size, times and mode.
pub(crate) fn refresh(ui: &UnionInode, rf: &RegFile) {
    if let Some(i) = rf.real.inode() {
        ui.refresh_attr(i);
    }
}
