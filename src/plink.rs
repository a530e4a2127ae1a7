//! Pseudo-links: hard links of a lower branch stay one object in the union,
//! also after one of their names is copied up.
//!
//! A lower file with several links is one inode with several names; a
//! copy-up works on one name, so without help the first name copied up
//! would get a new file of its own and the other names would keep showing
//! the old data (AUFS's "pseudo-link" problem). rfs keeps, for every such
//! copy, a hard link to it in `.wh..wh.plnk/` at the top of the writable
//! branch, named after the lower inode and what tells it from another file
//! that gets its number later (see [`key`]), also in a later mount:
//!
//! - copying up another name of the same lower inode links that pseudo-link
//!   into place instead of copying, so all names share the upper inode;
//! - a name not copied up yet reads its data and attributes from the
//!   pseudo-link (it is the object's *plink* member, see `inode.rs`);
//! - the union inode number is the same for all of them anyway (xino).
//!
//! Creating a pseudo-link bumps the mount's plink epoch, which is part of
//! every dentry stamp (namei.rs), so cached names of the other links are
//! looked up again and pick the pseudo-link up. The directory stays in the
//! branch after umount (the links remain valid for the next mount).

use crate::branch::Branch;
use crate::copyup::{list_names, Writable};
use crate::inode::Lower;
use crate::super_::SbInfo;
use crate::vfs::dentry::Dentry;
use crate::vfs::fs::FcLog;
use crate::vfs::inode::{mode, InodeRef};
use crate::vfs::lower::{DirGuard, WriteAccess};
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The pseudo-link directory at the top of the writable branch.
pub(crate) const PLINK_DIR: &[u8] = crate::logic::whiteout::PLINK_DIR_NAME;

/// Creates the pseudo-link directory in `rw` if needed. The caller runs with
/// the mounter's credentials.
pub(crate) fn prepare_dir(rw: &Arc<Branch>, log: &FcLog) -> Result<Dentry> {
    let mnt = rw.root.mnt();
    let _w = WriteAccess::get(mnt, &rw.root)?;
    let g = DirGuard::lock(mnt, rw.root.dentry())?;
    let d = g.lookup(PLINK_DIR)?;
    match d.inode() {
        Some(i) if i.is_dir() => Ok(d),
        Some(_) => {
            log.error("pseudo-link directory name is taken by a non-directory", Some(PLINK_DIR));
            Err(EEXIST)
        }
        None => g.mkdir(d, PLINK_DIR, 0o700).inspect_err(|_| {
            log.error("cannot create the pseudo-link directory in the writable branch", Some(&rw.name));
        }),
    }
}

/// Whether the lower object `l` may have other names: a regular file with
/// more than one link.
pub(crate) fn applies(l: &Lower) -> bool {
    l.dentry.inode().is_some_and(|i| i.mode() & mode::S_IFMT == mode::S_IFREG && i.nlink() > 1)
}

/// The pseudo-link name of a lower inode: its device, inode number and
/// generation, then what tells one file at that place from another: its
/// filesystem's UUID (folded to 64 bits), its mtime and its size
/// (`<dev>_<ino>_<gen>_<uuid>_<mtime s>.<ns>_<size>` in hex). Filesystems
/// with generation 0 (squashfs, erofs) and a loop device given another
/// image reuse the first three for another file; the rest differ for it,
/// so its names never read a copy made of the old one. A lower file
/// changed in place while the union was not mounted is a new object too,
/// as with AUFS (whose pseudo-links end at umount).
///
/// The name starts with `_` (`KEY_PREFIX`): AUFS's `auplink` reads every
/// name in the directory as `<union inode number>.<anything>` (AUFS names
/// its pseudo-links so), and a name that starts with a digit would make it
/// touch the union file that happens to have that number. Names made
/// before the prefix (`old_key`) are still found.
fn key(inode: InodeRef<'_>) -> Result<KVec<u8>> {
    let old = old_key(inode)?;
    let mut v = KVec::with_capacity(old.len() + 1, GFP_KERNEL)?;
    v.push(KEY_PREFIX, GFP_KERNEL)?;
    v.extend_from_slice(&old, GFP_KERNEL)?;
    Ok(v)
}

/// The first byte of a pseudo-link name (see [`key`]).
const KEY_PREFIX: u8 = b'_';

/// [`key`] without its prefix, as rfs named pseudo-links before it.
fn old_key(inode: InodeRef<'_>) -> Result<KVec<u8>> {
    let mut v = legacy_key(inode)?;
    let uuid = inode.sb_uuid();
    let fold = uuid.chunks(8).fold(0u64, |acc, c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        acc ^ u64::from_le_bytes(b)
    });
    let (_, mtime) = inode.times();
    let mut tail = crate::logic::vec::Vec::new();
    for (sep, n) in [
        (b'_', fold),
        (b'_', mtime.tv_sec as u64),
        (b'.', mtime.tv_nsec as u64),
        (b'_', inode.size() as u64),
    ] {
        crate::logic::vec::VecExt::try_push(&mut tail, sep).map_err(|_| ENOMEM)?;
        crate::super_::push_hex(&mut tail, n)?;
    }
    v.extend_from_slice(&tail, GFP_KERNEL)?;
    Ok(v)
}

/// The name pseudo-links had before the identity was added:
/// `<dev>_<ino>_<gen>`. Still read for lower filesystems with nonzero
/// generations, where it cannot name another file.
fn legacy_key(inode: InodeRef<'_>) -> Result<KVec<u8>> {
    let (dev, ino, gen) = inode.identity();
    let mut v = crate::logic::vec::Vec::new();
    crate::super_::push_hex(&mut v, u64::from(dev))?;
    v.push(b'_', GFP_KERNEL)?;
    crate::super_::push_hex(&mut v, ino)?;
    v.push(b'_', GFP_KERNEL)?;
    crate::super_::push_hex(&mut v, u64::from(gen))?;
    let mut out = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    out.extend_from_slice(&v, GFP_KERNEL)?;
    Ok(out)
}

/// The pseudo-link of the lower object `l` in `dir`, if there is one. The
/// caller runs with the mounter's credentials.
pub(crate) fn find(dir: &Dentry, l: &Lower) -> Result<Option<Dentry>> {
    let inode = l.dentry.inode().ok_or(ENOENT)?;
    for name in [key(inode)?, old_key(inode)?] {
        let d = dir.lookup_child(&name)?;
        match d.inode() {
            Some(i) if i.mode() & mode::S_IFMT == mode::S_IFREG => return Ok(Some(d)),
            _ => {}
        }
    }
    if inode.identity().2 == 0 {
        return Ok(None);
    }
    let d = dir.lookup_child(&legacy_key(inode)?)?;
    match d.inode() {
        Some(i) if i.mode() & mode::S_IFMT == mode::S_IFREG => Ok(Some(d)),
        _ => Ok(None),
    }
}

/// Records `upper`, the copy of the lower object `l`, as its pseudo-link.
/// The caller runs with the mounter's credentials and holds the copy-up
/// lock.
pub(crate) fn record(rw: &Branch, dir: &Dentry, l: &Lower, upper: &Dentry) -> Result {
    let inode = l.dentry.inode().ok_or(ENOENT)?;
    let name = key(inode)?;
    let mnt = rw.root.mnt();
    let _w = WriteAccess::get(mnt, &rw.root)?;
    let g = DirGuard::lock(mnt, dir)?;
    let d = g.lookup(&name)?;
    if d.inode().is_some() {
        // A stale link (a copy made in an earlier mount and since removed
        // through the union): replace it.
        g.unlink(&d)?;
        let d = g.lookup(&name)?;
        return g.link(upper, &d);
    }
    g.link(upper, &d)
}

/// Flushing pseudo-links (what AUFS's `auplink flush` does before umount,
/// so that a committed layer holds every name of a hard-linked file):
///
/// 1. [`info`] gives the plink epoch (and the number of pseudo-links);
/// 2. a tool walks the union and gives every regular file to
///    `copyup::link_pseudo`, which makes each name of a hard-linked lower
///    file that has a copy a real hard link to it in the writable branch
///    (the union's link count does not tell: the copy may have only its
///    pseudo-link left when the names copied up were removed);
/// 3. [`clean`] with that epoch removes every pseudo-link: no name needs
///    one any more, and those whose names were all removed (orphans) go
///    too. If a pseudo-link was made or the branches changed meanwhile
///    (the epoch moved: remount bumps it too), nothing is removed and the
///    caller gets EAGAIN: it walks again.
///
/// `clean` holds the mount's hard-link copy-up lock, so no pseudo-link is
/// made while it checks the epoch and removes them. Another mount sharing
/// the writable branch has its own names, lock and epoch: `clean` refuses
/// (EBUSY) while there is one.
pub(crate) fn info(sbi: &SbInfo) -> Result<(u64, u64)> {
    let epoch = sbi.plink_epoch();
    let _creds = sbi.cred.override_creds();
    let mut n = 0u64;
    for w in writables(sbi)? {
        let Some(plnk) = w.plnk.as_ref() else { continue };
        let names = list_names(&w.rw, plnk)?;
        // AUFS-style names (`aufs_names`) are second names of the same links.
        n += names.split(|&b| b == 0).filter(|n| !n.is_empty() && !is_aufs_name(n)).count() as u64;
    }
    Ok((epoch, n))
}

/// The regular files among `names` (NUL-separated, from `list_names`) in
/// the locked pseudo-link directory, with their dentries. Regular files
/// only (what rfs makes there): a directory or other object put there by
/// hand stays.
fn regular_entries<'a>(g: &'a DirGuard<'_>, names: &'a [u8]) -> impl Iterator<Item = (&'a [u8], Result<Dentry>)> + 'a {
    names.split(|&b| b == 0).filter(|n| !n.is_empty()).filter_map(move |name| match g.lookup(name) {
        Ok(d) if !d.inode().is_some_and(|i| i.mode() & mode::S_IFMT == mode::S_IFREG) => None,
        r => Some((name, r)),
    })
}

/// Whether `name` in the pseudo-link directory is an AUFS-style second
/// name (`<union ino>.<branch ino>`, decimal), made by [`aufs_names`].
fn is_aufs_name(name: &[u8]) -> bool {
    name.first().is_some_and(u8::is_ascii_digit) && name.iter().all(|&c| c.is_ascii_digit() || c == b'.')
}

/// The pseudo-link directory as AUFS's `auplink` expects it (AUFS
/// compatibility mode, `/proc/fs/aufs/plink_maint`): every pseudo-link
/// also gets the name AUFS gives it, `<union inode number>.<branch inode
/// number>`, which `auplink` reads to find the union names to copy up
/// (it then makes them real hard links with a `chown(-1, -1)` through the
/// union, and removes every name in the directory). AUFS-style names left
/// by an earlier run are made again (the union inode numbers may have
/// changed since), and names from before [`KEY_PREFIX`] get it (`auplink`
/// would read a number from them). Returns how many pseudo-links there
/// are. The caller runs with the mounter's credentials.
pub(crate) fn aufs_names(sbi: &SbInfo) -> Result<u64> {
    let _serial = crate::inode::bit_lock_killable(&sbi.copyup)?;
    let mut count = 0u64;
    for w in writables(sbi)? {
        count += aufs_names_in(sbi, &w)?;
    }
    Ok(count)
}

/// [`aufs_names`] in the writable branch `w`.
fn aufs_names_in(sbi: &SbInfo, w: &Writable) -> Result<u64> {
    let Some(plnk) = w.plnk.as_ref() else { return Ok(0) };
    let names = list_names(&w.rw, plnk)?;
    let mnt = w.rw.root.mnt();
    // The links, with the names their union objects have. The numbers are
    // taken outside the branch's write access (the xino file may be on the
    // same filesystem, as in copyup.rs).
    let mut links = KVec::new();
    {
        let _w = WriteAccess::get(mnt, &w.rw.root)?;
        let g = DirGuard::lock(mnt, plnk)?;
        for (name, d) in regular_entries(&g, &names) {
            let d = d?;
            if is_aufs_name(name) {
                g.unlink(&d)?;
                continue;
            }
            if name.first() != Some(&KEY_PREFIX) {
                let mut new = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
                new.push(KEY_PREFIX, GFP_KERNEL)?;
                new.extend_from_slice(name, GFP_KERNEL)?;
                let nd = g.lookup(&new)?;
                if nd.inode().is_none() {
                    g.link(&d, &nd)?;
                }
                g.unlink(&d)?;
                links.push(g.lookup(&new)?, GFP_KERNEL)?;
                continue;
            }
            links.push(d, GFP_KERNEL)?;
        }
    }
    let mut named = KVec::new();
    for d in links {
        let Some(hino) = d.inode().map(|i| i.ino()) else { continue };
        // The number the union gives the copy's names (copyup.rs keeps the
        // original's for it).
        let uino = sbi.ino_of(w.rw.id, hino)?;
        let mut name = crate::logic::vec::Vec::new();
        crate::super_::push_dec(&mut name, uino)?;
        crate::logic::vec::VecExt::try_push(&mut name, b'.').map_err(|_| ENOMEM)?;
        crate::super_::push_dec(&mut name, hino)?;
        named.push((d, name), GFP_KERNEL)?;
    }
    let _w = WriteAccess::get(mnt, &w.rw.root)?;
    let g = DirGuard::lock(mnt, plnk)?;
    let mut count = 0u64;
    for (d, name) in &named {
        let nd = g.lookup(name)?;
        if nd.inode().is_none() && !d.is_unhashed() {
            g.link(d, &nd)?;
        }
        count += 1;
    }
    Ok(count)
}

/// Removes every pseudo-link if the plink epoch is still `epoch` (see
/// [`info`]); EAGAIN if it moved. Returns how many were removed.
pub(crate) fn clean(sbi: &SbInfo, epoch: u64) -> Result<u64> {
    let all = writables(sbi)?;
    if all.is_empty() {
        return Err(EROFS);
    }
    let _serial = crate::inode::bit_lock_killable(&sbi.copyup)?;
    if sbi.plink_epoch() != epoch {
        return Err(EAGAIN);
    }
    if sbi.writable_branch_shared() {
        return Err(EBUSY);
    }
    let _creds = sbi.cred.override_creds();
    let mut removed = 0u64;
    let mut first_err = None;
    for w in all.iter() {
        match clean_in(sbi, w) {
            Ok(n) => removed += n,
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Every writable branch of the current table, top first.
fn writables(sbi: &SbInfo) -> Result<KVec<Writable>> {
    let tab = sbi.tab();
    let mut v = KVec::new();
    for (i, b) in tab.branches().enumerate() {
        if b.perm.is_writable() {
            v.push(crate::copyup::writable_at(&tab, i)?, GFP_KERNEL)?;
        }
    }
    Ok(v)
}

/// [`clean`] in the writable branch `w` (locks and checks done).
fn clean_in(sbi: &SbInfo, w: &Writable) -> Result<u64> {
    let Some(plnk) = w.plnk.as_ref() else { return Ok(0) };
    let names = list_names(&w.rw, plnk)?;
    let mnt = w.rw.root.mnt();
    let mut dead = KVec::new();
    let mut removed = 0u64;
    let r = (|| -> Result {
        let _w = WriteAccess::get(mnt, &w.rw.root)?;
        let g = DirGuard::lock(mnt, plnk)?;
        for (_, d) in regular_entries(&g, &names) {
            let d = d?;
            // A second reference keeps the inode on the dentry after the
            // unlink, to see whether that was its last name.
            let keep = d.clone();
            g.unlink(&d)?;
            removed += 1;
            // The last name of an orphan: its inode number goes with it.
            if let Some(i) = keep.inode().filter(|i| i.nlink() == 0) {
                dead.push(i.ino(), GFP_KERNEL)?;
            }
        }
        Ok(())
    })();
    if removed > 0 {
        // Names still cached with a pseudo-link look theirs up again.
        sbi.bump_plink_epoch();
    }
    for ino in dead {
        sbi.forget_ino(w.rw.id, ino);
    }
    r.map(|()| removed)
}
