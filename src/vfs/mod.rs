//! The binding layer: the only part of rfs that touches the C VFS.
//!
//! Every `unsafe` block of the module lives below this directory. The types
//! here own exactly one reference each (a dentry, a path, an open file, a set
//! of credentials) and release it on drop, so the union logic above works with
//! plain values and `?`. The extern "C" entry points that the VFS calls
//! (`ops.rs`, `fs.rs`) turn raw pointers into these types and call the
//! filesystem through the traits it implements ([`fs::FileSystem`] and the
//! operation traits of `ops.rs`, the Rust-for-Linux way: `#[vtable]`,
//! tables built per filesystem). Nothing here names a type of the union
//! (`src/union.rs` implements the traits for it).
//!
//! Layout:
//! - `sys`: the bindgen output over `include/rfs_vfs.h`;
//! - `bitlock`: a sleeping lock in one bit of a word;
//! - `dentry`, `path`, `inode`, `file`, `cred`: refcounted object wrappers;
//! - `dir`: iterating a lower directory;
//! - `fs`: the `FileSystem` trait; file_system_type, fs_context and
//!   superblock glue;
//! - `ops`: the operation traits and the tables handed to the VFS;
//! - `lower`: changing a branch (locked directories, namespace operations,
//!   attributes, xattrs);
//! - `once`, `task`: a set-once slot; the current task;
//! - `global`: module-wide state behind the module's one static mutex;
//! - `rcu`: what RCU-walk may read of a union inode (raw member copies, an
//!   RCU-replaced `Arc`);
//! - `sysfs`, `seq`: /sys/fs/rfs and /proc/mounts output.

pub(crate) mod sys;

pub(crate) mod bitlock;
pub(crate) mod cred;
pub(crate) mod dentry;
pub(crate) mod dir;
pub(crate) mod file;
pub(crate) mod fs;
pub(crate) mod global;
pub(crate) mod inode;
pub(crate) mod lower;
pub(crate) mod notify;
pub(crate) mod once;
pub(crate) mod ops;
pub(crate) mod path;
pub(crate) mod proc;
pub(crate) mod rcu;
pub(crate) mod seq;
pub(crate) mod sysfs;
pub(crate) mod task;

use kernel::error::{Error, Result};

/// Turns a negative errno from the C side into a `Result`.
pub(crate) fn to_result(ret: kernel::ffi::c_int) -> Result<kernel::ffi::c_int> {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(ret)
    }
}

/// Turns an `ERR_PTR`-style return into a `Result` (NULL stays a valid value).
pub(crate) fn from_err_ptr<T>(ptr: *mut T) -> Result<*mut T> {
    kernel::error::from_err_ptr(ptr)
}

/// An errno the `kernel::error::code` module does not name.
pub(crate) fn errno(e: u32) -> Error {
    // Errno constants are small positive numbers (uapi errno.h).
    Error::from_errno(-(e as i32))
}

/// Errnos used by rfs that `kernel::error::code` lacks.
pub(crate) mod code {
    use super::{errno, sys, Error};

    /// ENAMETOOLONG.
    pub(crate) fn enametoolong() -> Error {
        errno(sys::ENAMETOOLONG)
    }

    /// EOPNOTSUPP.
    pub(crate) fn eopnotsupp() -> Error {
        errno(sys::EOPNOTSUPP)
    }

    /// ENODATA (no such xattr).
    pub(crate) fn enodata() -> Error {
        errno(sys::ENODATA)
    }

    /// ENOTEMPTY.
    pub(crate) fn enotempty() -> Error {
        errno(sys::ENOTEMPTY)
    }

    /// ESTALE: the branch changed under an operation.
    pub(crate) fn eremote() -> Error {
        errno(sys::EREMOTE)
    }

    pub(crate) fn estale() -> Error {
        errno(sys::ESTALE)
    }
}

/// Shortens a vector of plain (`Copy`) values to `len` elements.
pub(crate) fn truncate_kvec<T: Copy>(v: &mut kernel::alloc::KVec<T>, len: usize) {
    if len < v.len() {
        let (ptr, _, cap) = core::mem::replace(v, kernel::alloc::KVec::new()).into_raw_parts();
        // SAFETY: the parts of a vector whose first `len` (below its
        // length) elements are initialised; `Copy` values need no drop.
        *v = unsafe { kernel::alloc::KVec::from_raw_parts(ptr, len, cap) };
    }
}

/// Shortens a byte buffer to `len` bytes (the kernel's `KVec` of this
/// version has no `truncate`).
pub(crate) fn truncate_bytes(buf: &mut kernel::alloc::KVec<u8>, len: usize) {
    if len < buf.len() {
        truncate_kvec(buf, len);
    }
}
