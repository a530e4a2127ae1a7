//! Listing a lower directory: iterate_dir with a Rust closure as the actor.

use super::{file::File, sys, to_result};
use kernel::error::Result;

/// What the actor is given for each entry: name, inode number, d_type.
pub(crate) type Actor<'a> = dyn FnMut(&[u8], u64, u8) -> bool + 'a;

/// Calls `actor` for every entry of the open lower directory `dir`, in the
/// order the lower filesystem returns them, until the end or until `actor`
/// returns false. Runs iterate_dir as often as it makes progress, since a
/// filesystem may return a directory in several batches.
///
/// Every [`BATCH`] entries the listing pauses (the entry is refused, as
/// when a getdents buffer is full, and listed again by the next batch) to
/// let other tasks run: a huge branch directory never hogs the CPU.
pub(crate) fn for_each_entry(dir: &File, actor: &mut Actor<'_>) -> Result {
    let mut state = ActorState { actor, count: 0, stop: false };
    loop {
        if state.count >= BATCH {
            super::task::cond_resched();
        }
        state.count = 0;
        let mut rctx = sys::rfs_dir_context::default();
        rctx.owner = (&mut state as *mut ActorState<'_, '_>).cast();
        // SAFETY: `dir` is an open directory; `rctx.owner` points to `state`,
        // which outlives the call; the C trampoline hands it back to
        // `rfs_filldir_actor` only during the call.
        to_result(unsafe { sys::rfs_iterate_dir(dir.as_ptr(), &mut rctx, 0) })?;
        if state.count == 0 || state.stop {
            return Ok(());
        }
    }
}

/// Entries listed between two chances for other tasks to run.
const BATCH: usize = 4096;

struct ActorState<'a, 'b> {
    actor: &'a mut Actor<'b>,
    count: usize,
    stop: bool,
}

/// The dir_context actor, called by include/rfs_helpers.c for each entry.
///
/// # Safety
/// `owner` is the `ActorState` set up by `for_each_entry` and `name` points
/// to `namelen` bytes, both valid for the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn rfs_filldir_actor(
    owner: *mut kernel::ffi::c_void,
    name: *const u8,
    namelen: kernel::ffi::c_int,
    ino: u64,
    d_type: kernel::ffi::c_uint,
) -> bool {
    // SAFETY: see the function's safety section.
    let state = unsafe { &mut *owner.cast::<ActorState<'_, '_>>() };
    let Ok(len) = usize::try_from(namelen) else {
        return false;
    };
    // SAFETY: the filesystem passes a name of `namelen` bytes.
    let name = unsafe { core::slice::from_raw_parts(name, len) };
    if state.count >= BATCH {
        // Pause: `for_each_entry` lets others run, then lists on from here.
        return false;
    }
    state.count += 1;
    let go_on = (state.actor)(name, ino, d_type as u8);
    if !go_on {
        state.stop = true;
    }
    go_on
}

/// The dir_context of a union directory read (`iterate_shared`): where to
/// put entries, and the position in the merged listing.
pub(crate) struct DirEmitter<'a> {
    file: *mut sys::file,
    ctx: &'a mut sys::dir_context,
}

impl<'a> DirEmitter<'a> {
    /// # Safety
    /// `file` and `ctx` must be the live arguments of `iterate_shared`.
    pub(crate) unsafe fn from_raw(file: *mut sys::file, ctx: *mut sys::dir_context) -> Option<Self> {
        // SAFETY: guaranteed by the caller.
        unsafe { ctx.as_mut() }.map(|ctx| DirEmitter { file, ctx })
    }

    /// The position: 0 and 1 are `.` and `..`, then the entries.
    pub(crate) fn pos(&self) -> i64 {
        self.ctx.pos
    }

    /// Emits `.` and `..` if the position is before them; false when the
    /// caller's buffer is full.
    pub(crate) fn emit_dots(&mut self) -> bool {
        // SAFETY: `file` and `ctx` are live (see from_raw); dir_emit_dots
        // reads the union dentry and its parent's inode number.
        unsafe { sys::rfs_dir_emit_dots(self.file, self.ctx) }
    }

    /// Emits one entry at the current position; false when the buffer is full.
    pub(crate) fn emit(&mut self, name: &[u8], ino: u64, d_type: u8) -> bool {
        let Ok(len) = i32::try_from(name.len()) else {
            return false;
        };
        // SAFETY: `ctx` is live; `name` is valid for `len` bytes.
        unsafe { sys::rfs_dir_emit(self.ctx, name.as_ptr(), len, ino, u32::from(d_type)) }
    }

    /// Moves past the entry just emitted.
    pub(crate) fn advance(&mut self) {
        self.ctx.pos += 1;
    }
}
