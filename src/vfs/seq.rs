//! seq_file output, for /proc/mounts (show_options).

use super::sys;

/// A seq_file being written by a `show_*` super operation.
pub(crate) struct SeqFile<'a>(&'a mut sys::seq_file);

impl<'a> SeqFile<'a> {
    /// # Safety
    /// `m` must be the live seq_file of the caller's show operation.
    pub(crate) unsafe fn from_raw(m: *mut sys::seq_file) -> Option<Self> {
        // SAFETY: guaranteed by the caller.
        unsafe { m.as_mut() }.map(SeqFile)
    }

    /// Writes bytes as they are.
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) {
        // SAFETY: as above.
        unsafe { sys::rfs_seq_puts(self.0, bytes.as_ptr(), bytes.len()) };
    }

    /// Writes an option value with the /proc/mounts escaping of space, tab,
    /// newline, backslash and comma (octal, as seq_show_option does).
    pub(crate) fn write_escaped(&mut self, bytes: &[u8]) {
        // SAFETY: as above.
        unsafe { sys::rfs_seq_puts_escaped(self.0, bytes.as_ptr(), bytes.len()) };
    }
}
