// SPDX-License-Identifier: GPL-2.0

//! rfs: a union filesystem with AUFS-style branch stacking.
//!
//! The crate root only wires the pieces together; see
//! Documentation/filesystems/rfs.rst for what rfs does and how.
//!
//! - `vfs/`: the binding layer, the only code that touches the C VFS
//!   (all `unsafe` lives there); generic over the filesystem;
//! - `union`: `Union`, which implements the binding layer's traits by
//!   calling the modules below;
//! - `logic/`: the pure union logic (option syntax, whiteout names, readdir
//!   merge, inode-number map), shared with the host crate and its tests;
//! - `super_`, `options`, `branch`: mounting and the per-mount state;
//! - `namei`, `inode`, `readdir`, `file`: the union operations;
//! - `copyup`, `dir`: the write path (copy-up, namespace operations).
//! - `sysfs`: /sys/fs/rfs;
//! - `workdir`: unions that share a writable branch.

// The pin-init of SbInfo (super_.rs) nests deeper than the default limit.
#![recursion_limit = "256"]

use kernel::prelude::*;

#[path = "logic/mod.rs"]
mod logic;

mod aufs;
mod branch;
mod copyup;
mod dir;
mod file;
mod inode;
mod namei;
mod options;
mod plink;
mod readdir;
mod super_;
mod sysfs;
mod union;
mod vfs;
mod workdir;
mod xino;

/// The module's version, shown in /sys/fs/rfs/config.
pub(crate) const VERSION: &str = "0.1.0";

// The author is set in include/rfs_helpers.c (MODULE_AUTHOR): the key here
// is `author` before Linux 6.13 and `authors` after.
module! {
    type: Rfs,
    name: "rfs",
    description: "union filesystem with AUFS-style branch stacking",
    license: "GPL",
}

/// The loaded module. Fields drop in declaration order: the filesystem is
/// unregistered first, then /sys/fs/rfs goes, then the inode cache.
struct Rfs {
    /// `/proc/fs/aufs/plink_maint` and `/sys/fs/aufs` in AUFS
    /// compatibility mode (dropped first).
    _aufs_proc: Option<vfs::proc::AufsProc>,
    _aufs_link: Option<vfs::sysfs::AufsLink>,
    _fs: vfs::fs::Registration,
    _sysfs: vfs::sysfs::SysfsDir<sysfs::Config>,
    _cache: vfs::inode::InodeCache,
}

impl kernel::Module for Rfs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let cache = vfs::inode::InodeCache::create::<inode::InodeInfo>()?;
        let sysfs = sysfs::create_root()?;
        let fs = vfs::fs::Registration::register::<union::Union>(module)?;
        let aufs_link = if fs.aufs() { vfs::sysfs::AufsLink::create().ok() } else { None };
        let aufs_proc = if fs.aufs() { vfs::proc::AufsProc::create(aufs::plink_maint).ok() } else { None };
        pr_info!("rfs {} loaded\n", VERSION);
        Ok(Rfs { _aufs_proc: aufs_proc, _aufs_link: aufs_link, _fs: fs, _sysfs: sysfs, _cache: cache })
    }
}
