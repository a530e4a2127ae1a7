//! Reading a union directory: the merged listing of its branches.
//!
//! On the first read (and after a rewind) the directories of the stack are
//! listed top-down into a [`DirMerge`], which keeps each name once, drops the
//! names whited out above and never lists `.wh.` names. The listing is kept
//! with the open file, so positions (telldir/seekdir) index into one stable
//! list: position 0 is `.`, 1 is `..`, and N + 2 is the N-th merged entry.
//! Entry inode numbers are translated to union inode numbers, so they match
//! what stat reports.

use crate::inode::UnionInode;
use crate::logic::merge::DirMerge;
use crate::vfs::dir::{for_each_entry, DirEmitter};
use crate::vfs::file::File;
use crate::union::SuperBlock;
use crate::vfs::sys;
use kernel::error::{code::*, Result};

/// Per open union directory: the merged listing, built on first use.
pub(crate) struct DirFile {
    merged: Option<DirMerge>,
}

impl DirFile {
    /// A directory opened, nothing read yet.
    pub(crate) fn new() -> Self {
        DirFile { merged: None }
    }

    /// Forgets the listing (rewinddir), so the next read sees changes.
    pub(crate) fn rewind(&mut self) {
        self.merged = None;
    }
}

/// The merged listing of `dir`. Entries remember their branch by id.
pub(crate) fn build(sb: SuperBlock<'_>, dir: &UnionInode) -> Result<DirMerge> {
    let sbi = sb.info();
    let _creds = sbi.cred.override_creds();
    let mut merge = DirMerge::with_seed(sbi.merge_seed);
    let mut failed: Option<kernel::error::Error> = None;
    let view = dir.data().view();
    let upper = view.upper().map(|u| u.dentry.as_ptr());
    let depth = view.depth();
    for (i, l) in view.members().enumerate() {
        // What this listing finds about the member's whiteouts, for later
        // lookups (namei.rs `member_whites_out`); its state read first.
        let key = if l.branch.honors_whiteouts() { crate::namei::member_key(&l.dentry) } else { None };
        let mut whiteouts = false;
        let path = l.path();
        let flags = sys::O_RDONLY | sys::O_DIRECTORY;
        // Listing a read-only branch's directory leaves its atime alone.
        let file = if Some(l.dentry.as_ptr()) == upper {
            File::open(&path, flags, &sbi.cred)?
        } else {
            File::open_lower(&path, flags, &sbi.cred)?
        };
        merge.begin_branch(l.branch.id as usize, l.branch.honors_whiteouts());
        for_each_entry(&file, &mut |name, ino, d_type| match merge.add(name, ino, d_type) {
            Ok(()) => {
                whiteouts = whiteouts || crate::logic::whfacts::is_whiteout(name);
                true
            }
            Err(_) => {
                failed = Some(ENOMEM);
                false
            }
        })?;
        merge.end_branch();
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(key) = key {
            dir.data().facts.record(depth, i, key, whiteouts);
        }
        if merge.saw_opaque() {
            // Made opaque directly in the branch: nothing below counts.
            break;
        }
    }
    Ok(merge)
}

/// `iterate_shared`: emits entries from the context's position on.
pub(crate) fn iterate(sb: SuperBlock<'_>, dir: &UnionInode, df: &mut DirFile, ctx: &mut DirEmitter<'_>) -> Result {
    if !ctx.emit_dots() {
        return Ok(());
    }
    if df.merged.is_none() {
        df.merged = Some(build(sb, dir)?);
    }
    let Some(merged) = df.merged.as_ref() else {
        return Ok(());
    };
    let sbi = sb.info();
    loop {
        let Ok(index) = usize::try_from(ctx.pos() - 2) else {
            return Ok(());
        };
        let Some(e) = merged.get(index) else {
            return Ok(());
        };
        let brid = u32::try_from(e.branch).map_err(|_| EIO)?;
        let ino = sbi.ino_of(brid, e.ino)?;
        if !ctx.emit(e.name, ino, e.d_type) {
            return Ok(());
        }
        ctx.advance();
    }
}

/// fsync of a union directory: syncs its directories in writable branches
/// (the only ones rfs changes); a directory without one has nothing of
/// rfs's to sync.
pub(crate) fn fsync(sb: SuperBlock<'_>, dir: &UnionInode, datasync: bool) -> Result {
    let view = dir.data().view();
    let sbi = sb.info();
    let _creds = sbi.cred.override_creds();
    for m in view.members().filter(|m| m.branch.perm.is_writable()) {
        let f = File::open(&m.path(), sys::O_RDONLY | sys::O_DIRECTORY, &sbi.cred)?;
        f.fsync(0, i64::MAX, datasync)?;
    }
    Ok(())
}
