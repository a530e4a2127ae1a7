// SPDX-License-Identifier: GPL-2.0

//! What AUFS's own tools ask of the kernel, for AUFS compatibility mode:
//! `auplink` (aufs-util), which Docker's aufs driver runs before umount,
//! flushes pseudo-links through `/proc/fs/aufs/plink_maint` and reads the
//! branch list with the `AUFS_CTL_BRINFO` ioctl.
//!
//! `auplink MNT flush`: write `si=<id>` to plink_maint (rfs then gives each
//! pseudo-link the name AUFS would, `plink::aufs_names`); BRINFO on the
//! union root; read `.wh..wh.plnk/` of each writable branch; walk the union
//! and `chown(-1, -1)` every name whose inode number a pseudo-link names
//! (rfs copies it up by linking the pseudo-link, copyup.rs); write `clean`
//! (rfs: cached names look their pseudo-links up again); remove every name
//! in `.wh..wh.plnk/` directly in the branch.
//!
//! AUFS's "maintenance mode" (other tasks get EAGAIN from lookups while
//! `auplink` runs) is not reproduced: rfs's pseudo-links live in the
//! branch, not in memory, so a name copied up meanwhile is a real hard link
//! already; `auplink` runs before umount, when nothing else uses the union.

use crate::logic::perm::Perm;
use crate::super_::SbInfo;
use crate::union::SuperBlock;
use crate::vfs::fs::for_each_super;
use kernel::error::{code::*, Result};
use kernel::prelude::*;

/// One BRINFO record: `__s16 id` at 0, `int perm` at 4, the path
/// (NUL-terminated) from 8; one page each.
const BRINFO_SIZE: usize = crate::vfs::ops::ioctl::BRINFO_SIZE;

/// AUFS's permission bits (aufs_type.h): `AuBrPerm_RW`, `_RO`, `_RR`, and
/// the `+wh` attribute.
fn aufs_perm(p: Perm) -> i32 {
    match p {
        Perm::Rw => 1,
        Perm::Ro => 2,
        Perm::RoWh => 2 | 0x1000,
        Perm::Rr => 4,
    }
}

/// The branch list as `AUFS_CTL_BRINFO` returns it: one record per branch,
/// top first. A path is as `d_path` gives it from the caller's root, with
/// AUFS's escaping (octal `\ooo` for bytes up to space, `\` and DEL); one
/// that does not fit in a record is E2BIG.
pub(crate) fn brinfo(sbi: &SbInfo) -> Result<KVVec<u8>> {
    let tab = sbi.tab();
    let mut out = KVVec::from_elem(0u8, tab.branches().len() * BRINFO_SIZE, GFP_KERNEL)?;
    for (b, rec) in tab.branches().zip(out.chunks_mut(BRINFO_SIZE)) {
        let name = b.root.name().or_else(|_| {
            let mut v = KVec::new();
            v.extend_from_slice(&b.name, GFP_KERNEL)?;
            Ok::<_, Error>(v)
        })?;
        let mut path = KVec::new();
        for &c in name.iter() {
            if c <= b' ' || c == b'\\' || c == 0x7f {
                path.extend_from_slice(&[b'\\', b'0' + (c >> 6), b'0' + ((c >> 3) & 7), b'0' + (c & 7)], GFP_KERNEL)?;
            } else {
                path.push(c, GFP_KERNEL)?;
            }
        }
        // The record is zeroed: the byte after the path is its NUL, so the
        // path must end before the record's last byte.
        let mut put = |at: usize, bytes: &[u8]| -> Result {
            rec.get_mut(at..at + bytes.len()).ok_or(E2BIG)?.copy_from_slice(bytes);
            Ok(())
        };
        put(0, &(b.id as u16).to_ne_bytes())?;
        put(4, &aufs_perm(b.perm).to_ne_bytes())?;
        put(8, &path)?;
        if 8 + path.len() >= BRINFO_SIZE {
            return Err(E2BIG);
        }
    }
    Ok(out)
}

/// Runs `f` on the union whose `si` id is `si`, if it is mounted.
fn with_union<R>(si: u64, f: impl FnOnce(SuperBlock<'_>) -> Result<R>) -> Result<R> {
    let mut f = Some(f);
    let mut r = None;
    for_each_super(&mut |sb: SuperBlock<'_>| {
        if sb.info().si == si {
            if let Some(f) = f.take() {
                r = Some(f(sb));
            }
        }
    });
    r.unwrap_or(Err(EINVAL))
}

/// A command written to `/proc/fs/aufs/plink_maint` (CAP_SYS_ADMIN was
/// checked); `state` is the union this open file picked (0: none yet).
/// `si=<hex>` picks a union and prepares its pseudo-link directory for
/// `auplink`; `clean` tells it the pseudo-links are being removed. Unknown
/// union ids and commands are EINVAL, as with AUFS.
pub(crate) fn plink_maint(cmd: &[u8], state: &mut u64) -> Result {
    if let Some(hex) = cmd.strip_prefix(b"si=") {
        let si = parse_hex(hex).ok_or(EINVAL)?;
        with_union(si, |sb| {
            let sbi = sb.info();
            let _creds = sbi.cred.override_creds();
            crate::plink::aufs_names(sbi)
        })?;
        *state = si;
        return Ok(());
    }
    if cmd == b"clean" {
        if *state == 0 {
            return Err(EINVAL);
        }
        // Names whose pseudo-link `auplink` is about to remove look up
        // what they are now at their next use.
        return with_union(*state, |sb| {
            sb.info().bump_plink_epoch();
            Ok(())
        });
    }
    Err(EINVAL)
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| Some(acc << 4 | u64::from((c as char).to_digit(16)?)))
}
