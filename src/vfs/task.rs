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

/// Preemption off on this CPU until dropped: a short section that others
/// wait for by spinning (a sequence count's writer) must not be preempted
/// in the middle. Nothing inside may sleep.
pub(crate) struct NoPreempt(core::marker::PhantomData<*const ()>);

impl NoPreempt {
    /// Turns preemption off.
    pub(crate) fn new() -> Self {
        // SAFETY: balanced by the drop below, on the same CPU (the guard is
        // not Send, and the task cannot move while preemption is off).
        unsafe { sys::rfs_preempt_disable() };
        NoPreempt(core::marker::PhantomData)
    }
}

impl Drop for NoPreempt {
    fn drop(&mut self) {
        // SAFETY: preemption was turned off by `new`.
        unsafe { sys::rfs_preempt_enable() };
    }
}

/// Whether the current task has CAP_SYS_ADMIN in the initial user
/// namespace (may see `trusted.` xattrs). No audit record: listing names is
/// not a privileged operation (overlayfs's ovl_can_list does the same).
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: checks the current task's credentials, without auditing.
    unsafe { sys::rfs_capable_sys_admin_noaudit() }
}

/// A random 64-bit number (get_random_u64), e.g. a per-mount hash seed.
pub(crate) fn random_u64() -> u64 {
    // SAFETY: no preconditions.
    unsafe { sys::rfs_random_u64() }
}

/// Whether the current task may run a maintenance ioctl: CAP_SYS_ADMIN in
/// the initial user namespace, with an audit record.
pub(crate) fn may_maintain() -> bool {
    // SAFETY: checks the current task's credentials.
    unsafe { sys::rfs_capable_sys_admin() }
}

/// Seconds since boot (ktime_get_boottime_seconds).
pub(crate) fn boot_seconds() -> u64 {
    // SAFETY: no arguments, no state; callable from any context.
    unsafe { sys::rfs_boot_seconds() }
}
