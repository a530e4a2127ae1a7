// SPDX-License-Identifier: GPL-2.0

//! `/proc/fs/aufs/plink_maint`: the file through which AUFS's `auplink`
//! asks for pseudo-link maintenance (AUFS compatibility mode). The C side
//! (`rfs_aufs_proc_create`) checks CAP_SYS_ADMIN and copies the command in;
//! the handler given to [`AufsProc::create`] runs it.

use super::sys;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::Result;
use kernel::ffi::{c_char, c_long, c_void};
use kernel::prelude::*;

/// A plink_maint command: the text written (without trailing whitespace)
/// and the state of this open file (0 until a command sets it).
pub(crate) type MaintHandler = fn(cmd: &[u8], state: &mut u64) -> Result;

static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

unsafe extern "C" fn maint_cmd(state: *mut *mut c_void, buf: *const c_char, len: usize) -> c_long {
    let h = HANDLER.load(Ordering::Acquire);
    if h.is_null() {
        return EINVAL.to_errno() as c_long;
    }
    // SAFETY: HANDLER only ever holds a `MaintHandler` (set in `create`).
    let h: MaintHandler = unsafe { core::mem::transmute::<*mut (), MaintHandler>(h) };
    // SAFETY: the C side passes `len` bytes it copied in, and the open
    // file's private_data, which only this function writes.
    let (cmd, slot) = unsafe { (core::slice::from_raw_parts(buf.cast::<u8>(), len), &mut *state) };
    let end = cmd.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let cmd = cmd.get(..end).unwrap_or(&[]);
    let mut st = *slot as usize as u64;
    let r = h(cmd, &mut st);
    *slot = st as usize as *mut c_void;
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `/proc/fs/aufs/plink_maint`, removed on drop.
pub(crate) struct AufsProc(());

impl AufsProc {
    /// Makes the file; `handler` runs each command written to it.
    pub(crate) fn create(handler: MaintHandler) -> Result<AufsProc> {
        HANDLER.store(handler as *mut (), Ordering::Release);
        // SAFETY: both callbacks live as long as the module; the file is
        // removed (drop) before the module goes.
        let ret = unsafe { sys::rfs_aufs_proc_create(Some(maint_cmd)) };
        if ret != 0 {
            pr_warn!("rfs: cannot make /proc/fs/aufs/plink_maint\n");
            return Err(Error::from_errno(ret));
        }
        Ok(AufsProc(()))
    }
}

impl Drop for AufsProc {
    fn drop(&mut self) {
        // SAFETY: made in `create`; remove_proc_subtree waits for writers.
        unsafe { sys::rfs_aufs_proc_remove() };
    }
}
