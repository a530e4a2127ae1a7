//! Mount options as the fs_context collects them.
//!
//! The syntax is parsed by the pure-logic crate (`logic::options`); this file
//! keeps what one mount or remount asked for, and reports errors to the user
//! through the fs_context log.

use crate::logic::options::{self, Errno, MountOption, Udba};
use crate::logic::vec::Vec as LVec;
use crate::vfs::fs::FcLog;
use kernel::error::{code::*, Error, Result};
use kernel::prelude::*;

/// The options of one mount(2)/fsconfig(2) session.
pub(crate) struct MountConfig {
    /// `dirs=`/`br=`: the branch list, top first (the last one given wins).
    pub(crate) branches: Option<LVec<options::BranchSpec>>,
    /// `udba=`.
    pub(crate) udba: Option<Udba>,
    /// Remount branch operations, in the order given.
    pub(crate) branch_ops: KVec<MountOption>,
    /// `xino=PATH`.
    pub(crate) xino_path: Option<LVec<u8>>,
    /// `noxino`.
    pub(crate) noxino: bool,
    /// `trunc_xino`.
    pub(crate) trunc_xino: bool,
    /// `dio` / `nodio` (the last one given).
    pub(crate) dio: Option<bool>,
    /// `sum` / `nosum` (the last one given).
    pub(crate) sum: Option<bool>,
    /// `create=` (the last one given).
    pub(crate) create: Option<crate::logic::policy::Create>,
    /// `cpup=` (the last one given).
    pub(crate) cpup: Option<crate::logic::policy::Copyup>,
}

impl MountConfig {
    /// No options yet.
    pub(crate) fn new() -> Self {
        MountConfig { branches: None, udba: None, branch_ops: KVec::new(), xino_path: None, noxino: false, trunc_xino: false, dio: None, sum: None, create: None, cpup: None }
    }

    /// Takes one option: `key` and its value as fsconfig(2) or the split
    /// mount(2) data give them.
    pub(crate) fn parse_param(&mut self, key: &[u8], value: Option<&[u8]>, log: &FcLog) -> Result {
        if key == b"si" {
            // Shown in /proc/mounts; accepted and ignored so that the line
            // can be used to mount again.
            return Ok(());
        }
        let opt = options::parse_option_kv(key, value).map_err(|e| {
            log.error(e.msg, Some(key));
            errno_of(e.errno)
        })?;
        if opt.is_branch_op() || matches!(opt, MountOption::Branches(_)) {
            note_branch_attrs(value.unwrap_or_default());
        }
        match opt {
            MountOption::Branches(list) => self.branches = Some(list),
            MountOption::Udba(u) => self.udba = Some(u),
            MountOption::Xino(path) => {
                self.xino_path = Some(path);
                self.noxino = false;
            }
            MountOption::NoXino => {
                self.noxino = true;
                self.xino_path = None;
            }
            MountOption::TruncXino => self.trunc_xino = true,
            MountOption::Dio(on) => self.dio = Some(on),
            MountOption::Sum(on) => self.sum = Some(on),
            MountOption::Create(c) => self.create = Some(c),
            MountOption::Copyup(c) => self.cpup = Some(c),
            MountOption::Accepted(note) => {
                if let Some(note) = note {
                    let mut buf = [0u8; 64];
                    pr_info!("rfs: option {} has no effect: {}\n", shown(key, &mut buf), note);
                }
            }
            op => self.branch_ops.push(op, GFP_KERNEL)?,
        }
        Ok(())
    }
}

/// Logs a note for each AUFS branch attribute in `value` (a branch list
/// or operation) that has no effect in rfs (`+unpin`, `+coo_reg`, ...).
fn note_branch_attrs(value: &[u8]) {
    for br in value.split(|&c| c == b':') {
        let perm = br.rsplit(|&c| c == b'=').next().unwrap_or_default();
        if !perm.contains(&b'+') {
            continue;
        }
        for (name, why) in crate::logic::perm::Perm::ignored_attrs(perm) {
            pr_info!("rfs: branch attribute +{} has no effect: {}\n", name, why);
        }
    }
}

/// The first 64 bytes of `bytes` as text for the kernel log: printable
/// ASCII kept, anything else `?` (a `str`, which every kernel's `pr_*`
/// formats).
fn shown<'a>(bytes: &[u8], buf: &'a mut [u8; 64]) -> &'a str {
    let n = bytes.len().min(buf.len());
    for (d, &c) in buf.iter_mut().zip(bytes) {
        *d = if c.is_ascii_graphic() { c } else { b'?' };
    }
    core::str::from_utf8(buf.get(..n).unwrap_or(&[])).unwrap_or("?")
}

/// The kernel error for a parse error.
pub(crate) fn errno_of(e: Errno) -> Error {
    match e {
        Errno::Inval => EINVAL,
        Errno::NoEnt => ENOENT,
        Errno::NameTooLong => crate::vfs::code::enametoolong(),
        Errno::NoMem => ENOMEM,
    }
}
