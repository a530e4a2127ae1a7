//! Regular files: opening the lower file the union file reads from.

use crate::inode::UnionInode;
use crate::vfs::file::File;
use crate::vfs::fs::SuperBlock;
use crate::vfs::sys;
use kernel::error::{code::*, Result};

/// Per open union file: the lower file it passes reads, seeks and maps to.
pub(crate) struct RegFile {
    /// The lower file, opened with the mounter's credentials.
    pub(crate) lower: File,
}

/// Flags that ask for write access of some kind.
const WRITE_FLAGS: u32 = sys::O_WRONLY | sys::O_RDWR | sys::O_TRUNC | sys::O_APPEND;

/// `open` of a union file. Writes are not supported yet: the union is
/// read-only for now (EROFS).
pub(crate) fn open(sb: SuperBlock<'_>, ui: &UnionInode, flags: u32) -> Result<RegFile> {
    if flags & WRITE_FLAGS != 0 {
        return Err(EROFS);
    }
    let sbi = sb.info();
    let top = ui.data().top()?;
    let lower_flags = flags & !(sys::O_CREAT | sys::O_EXCL | sys::O_NOCTTY);
    let lower = File::open(&top.path(), lower_flags, &sbi.cred)?;
    Ok(RegFile { lower })
}
