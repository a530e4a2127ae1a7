//! The current task: signals and scheduling during long branch operations.

use super::sys;

/// Whether the current task has been killed (SIGKILL pending): a long
/// copy-up stops early and cleans up.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: reads the current task's pending signals.
    unsafe { sys::rfs_fatal_signal_pending() }
}

/// Lets other tasks run between steps of a long operation.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context without spinlocks held (every rfs
    // operation runs in a sleepable context).
    unsafe { sys::rfs_cond_resched() };
}

/// Whether the current task has CAP_SYS_ADMIN (may see `trusted.` xattrs).
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: checks the current task's credentials (and may audit).
    unsafe { sys::capable(CAP_SYS_ADMIN) }
}

/// CAP_SYS_ADMIN (uapi capability.h).
const CAP_SYS_ADMIN: i32 = 21;
