//! Namespace operations on union directories: create, mkdir, mknod,
//! symlink, link, unlink, rmdir, rename and O_TMPFILE.
//!
//! Every change lands in the writable branch (the top branch; without one,
//! or when it is not on top, the union is read-only: EROFS):
//! - the parent directory is copied up first (`copyup.rs`);
//! - a new name replaces a whiteout `.wh.NAME`: the object is created, then
//!   the whiteout removed (a real name beats a whiteout in the same branch,
//!   so a crash in between shows the new object, and the whiteout still
//!   hides what lies below: namei.rs); a new directory there is made
//!   opaque, so the contents of the deleted one stay hidden;
//! - removing a name that also exists below the writable branch leaves a
//!   whiteout `.wh.NAME`, created before the upper object goes;
//! - a directory is removed only when its union view is empty; its upper is
//!   first moved into the work directory (so its inner whiteouts stop
//!   counting at once) and cleaned there;
//! - `rename(2)` of a directory whose union view has entries fails with
//!   EXDEV (tools fall back to copy and delete), as in AUFS; empty
//!   directories and files rename, with a whiteout at the old name when it
//!   exists below.
//!
//! Names with the reserved `.wh.` prefix cannot be created (EPERM).
//! New objects belong to the caller (fsuid/fsgid), created with the
//! mounter's other credentials.

use crate::copyup::{self, dir_in, exists_below, Writable};
use crate::inode::{Lower, UnionInode};
use crate::logic::whiteout;
use crate::namei::{self, Resolved};
use crate::super_::SbInfo;
use crate::sysfs::Stats;
use crate::vfs::cred::Cred;
use crate::vfs::dentry::{Dentry, UnionDentry};
use crate::vfs::file::{File, TmpFile};
use crate::union::SuperBlock;
use crate::vfs::inode::mode;
use crate::vfs::lower::{DirGuard, DirOps, RenameGuard, Source, WriteAccess};
use crate::union::union_inode_of;
use crate::vfs::{path, sys};
use crate::vfs::code;
use kernel::error::{code::*, Result};
use crate::vfs::path::Mount;
use kernel::prelude::*;

/// What a create-like operation makes.
pub(crate) use crate::vfs::ops::New;

/// Refuses names rfs reserves (EPERM, as AUFS does).
/// The flag checks of `may_delete` once more, on the union inodes
/// refreshed from their branches: the VFS made them on the union inodes as
/// last refreshed, and a `chattr +a` or `+i` made directly in a branch since
/// must count (`D5` in the parity audit). An append-only or immutable
/// victim, or an append-only directory, is EPERM, as natively. For an upper
/// victim the branch's own unlink or rename would refuse too, but a lower
/// one is only whited out, which nothing below checks.
fn check_deletable(dir: &UnionInode, victim: &UnionInode) -> Result {
    crate::inode::refresh(dir);
    crate::inode::refresh(victim);
    let v = victim.vfs();
    if dir.vfs().is_append() || v.is_append() || v.is_immutable() {
        return Err(EPERM);
    }
    Ok(())
}

fn check_name(name: &[u8]) -> Result {
    if whiteout::is_reserved(name) {
        return Err(EPERM);
    }
    if name.len() > whiteout::NAME_MAX {
        return Err(crate::vfs::code::enametoolong());
    }
    Ok(())
}

/// The member of the union directory `dir` in the writable branch `w`,
/// which it must have (the caller made it: `copyup::dir_in`).
fn dir_member(dir: &UnionInode, w: &Writable) -> Result<Dentry> {
    dir.data().view().member_in(w.rw.id).map(|u| u.dentry.clone()).ok_or(EIO)
}

/// `.wh.NAME`.
fn wh_name(name: &[u8]) -> Result<crate::logic::vec::Vec<u8>> {
    let mut wh = crate::logic::vec::Vec::new();
    whiteout::whiteout_name(name, &mut wh).map_err(|_| crate::vfs::code::enametoolong())?;
    Ok(wh)
}

/// Creates `.wh.NAME` in the locked directory (an empty regular file).
fn create_whiteout(sbi: &SbInfo, dir: &DirOps<'_>, name: &[u8]) -> Result {
    let wh = dir.lookup(&wh_name(name)?)?;
    if wh.inode().is_none() {
        dir.create(&wh, 0o600)?;
        Stats::add(&sbi.stats.whiteouts, 1);
    }
    Ok(())
}

/// Removes `.wh.NAME` from the locked directory if it is there.
fn remove_whiteout(dir: &DirOps<'_>, name: &[u8]) -> Result<bool> {
    let Ok(wh) = wh_name(name) else { return Ok(false) };
    let wh = dir.lookup(&wh)?;
    if wh.inode().is_none() {
        return Ok(false);
    }
    dir.remove(&wh)?;
    Ok(true)
}

/// Marks the upper directory `d` opaque (`.wh..wh..opq` inside it). The
/// caller may hold the lock of `d`'s parent.
fn set_opaque(mnt: Mount<'_>, d: &Dentry) -> Result {
    let g = DirGuard::lock_child(mnt, d)?;
    let m = g.lookup(whiteout::OPAQUE_NAME)?;
    if m.inode().is_none() {
        g.create(&m, 0o600)?;
    }
    Ok(())
}

/// create, mkdir, mknod, symlink and link: makes `what` at the negative
/// union dentry `dentry` in `dir`.
pub(crate) fn create(sb: SuperBlock<'_>, dir: &UnionInode, dentry: UnionDentry<'_>, what: New<'_>) -> Result {
    let sbi = sb.info();
    let name = dentry.name();
    check_name(name)?;
    let parent = dentry.get().parent();
    let w = match what {
        // A hard link goes where its file is: in place when that is
        // writable, else where the file's copy-up goes (AUFS does the same).
        // When the new name would not show from there, the link goes to
        // the nearest writable branch above where it does (as AUFS; EXDEV
        // when there is none). The file is copied there once: from its
        // read-only top, or promoted from a lower writable branch.
        New::Link(old) => {
            let tab = sbi.tab();
            let oui = union_inode_of(old).ok_or(ENOENT)?;
            let oparent = old.parent();
            let opui = union_inode_of(&oparent).ok_or(EIO)?;
            let own = copyup::change_target(sbi, &tab, &oui.data().view(), &opui.data().view())?;
            let mut i = own;
            if !copyup::shows_from(sbi, &tab, &parent, name, i)? {
                i = copyup::shown_above(sbi, &tab, &parent, name, i)?.ok_or(EXDEV)?;
                if !copyup::shows_from(sbi, &tab, &oparent, &old.name()?, i)? {
                    return Err(EXDEV);
                }
                // A file with other names (hard links, a pseudo-link) is
                // copied only where its copy-up goes: a copy elsewhere would
                // leave the other names on another file.
                let v = oui.data().view();
                if oui.vfs().nlink() > 1 || v.plink().is_some() || v.lowers().first().is_some_and(crate::plink::applies) {
                    return Err(EXDEV);
                }
            }
            let w = copyup::writable_at(&tab, i)?;
            if copyup::upper_index(&tab, &oui.data().view()).is_some_and(|u| u > w.index) {
                copyup::promote(sb, &tab, old, &w)?;
            } else {
                copyup::copy_into(sb, old, &w)?;
            }
            w
        }
        _ => {
            let tab = sbi.tab();
            let b = copyup::create_target(sbi, &tab, &parent, name, matches!(what, New::Dir(_)))?;
            copyup::writable_at(&tab, b)?
        }
    };
    let rw = &w.rw;
    if let New::Link(_) = what {
        let tab = sbi.tab();
        if !copyup::shows_from(sbi, &tab, &parent, name, w.index)? {
            return Err(EXDEV);
        }
    }
    dir_in(sb, &parent, &w)?;
    // The branch work, with write access and the mounter's credentials;
    // the union inode is made after (inode numbers may be logged to the
    // xino file, which must not nest in the write access).
    let (child, cut, change) = {
        let caller = Cred::current().ok_or(ENOMEM)?;
        let _creds = sbi.cred.override_creds();
        let object = match what {
            New::File(m) => Some(mode::S_IFREG | (m & 0o7777)),
            New::Dir(m) => Some(mode::S_IFDIR | (m & 0o7777)),
            New::Node(m, _) => Some(m),
            New::Symlink(_) => Some(mode::S_IFLNK | 0o777),
            New::Link(_) => None,
        };
        let creator = Cred::for_create(&caller, object.map(|m| (&dentry, m)))?;
        let _as_caller = creator.override_creds();
        let mnt = rw.root.mnt();
        let _w = WriteAccess::get(mnt, &rw.root)?;
        let udir = dir_member(dir, &w)?;
        let g = DirGuard::lock(mnt, &udir)?;
        let change = namei::OwnChange::begin(&udir);
        let child = g.lookup(name)?;
        if child.inode().is_some() {
            // Created directly in the branch behind the union's back.
            return Err(EEXIST);
        }
        // A name too long for a `.wh.` prefix cannot have a whiteout.
        let had_whiteout = match wh_name(name) {
            Ok(wh) => g.lookup(&wh)?.inode().is_some(),
            Err(_) => false,
        };
        let child = match what {
            New::File(mode) => {
                g.create(&child, mode)?;
                child
            }
            New::Dir(mode) => g.mkdir(child, name, mode)?,
            New::Node(mode, rdev) => {
                g.mknod(&child, mode, rdev)?;
                child
            }
            New::Symlink(target) => {
                g.symlink(&child, target)?;
                child
            }
            New::Link(old) => {
                let oui = union_inode_of(old).ok_or(ENOENT)?;
                let oui_view = oui.data().view();
                let oupper = oui_view.member_in(rw.id).ok_or(EIO)?;
                g.link(&oupper.dentry, &child)?;
                child
            }
        };
        if had_whiteout && child.is_dir() {
            // Until the marker is there, the whiteout beside the new
            // directory keeps what lies below hidden (namei.rs); it goes only
            // after the marker. Without the marker the directory goes too.
            if let Err(e) = set_opaque(mnt, &child) {
                let _ = g.rmdir(&child);
                return Err(e);
            }
        }
        if had_whiteout {
            remove_whiteout(&g, name)?;
        }
        let cut = had_whiteout && child.is_dir();
        (child, cut, change.and_then(|c| c.end(&udir)).map(|c| (c, udir.clone())))
    };
    // Without a record, the new name's stamp is read as soon as the branch
    // work is done (a change made directly in the branch after this point
    // must show).
    let early = if change.is_none() { namei::dir_stamp(sbi, w.gen, dir.data(), &dir.data().view()) } else { 0 };

    match what {
        New::Link(old) => {
            let oui = union_inode_of(old).ok_or(ENOENT)?;
            if let Some(i) = child.inode() {
                oui.set_nlink(i.nlink());
                oui.refresh_attr(i);
            }
            oui.instantiate_alias(&dentry);
        }
        _ => {
            // A new object: a new number, also when the branch gave it the
            // inode number of one removed before.
            if let Some(i) = child.inode() {
                sbi.new_ino(rw.id, i.ino())?;
            }
            let res = Resolved::upper_only(Lower { branch: rw.clone(), dentry: child });
            let res = if cut { res.cut() } else { res };
            let inode = namei::publish(namei::make_inode(sb, res)?)?;
            inode.instantiate(&dentry);
        }
    }
    // Only this name changed: the others in the directory stay valid. The
    // new name gets the stamp they have, unless the branch directory
    // changed since (then none: it is resolved again at its next walk).
    let stamp = match change {
        Some((c, udir)) => {
            let after = c.after();
            dir.data().record_own(c);
            let s = namei::dir_stamp(sbi, w.gen, dir.data(), &dir.data().view());
            if udir.inode().is_some_and(|i| i.change_stamp() == after) {
                s
            } else {
                0
            }
        }
        None => early,
    };
    dentry.set_stamp(stamp);
    Ok(())
}

/// O_TMPFILE in `dir`: an unnamed file in the upper directory, which
/// link(2) can later give a name.
pub(crate) fn tmpfile(sb: SuperBlock<'_>, dir: &UnionInode, file: TmpFile<'_>, mode: u16, dentry: UnionDentry<'_>) -> Result {
    let sbi = sb.info();
    let parent = dentry.get().parent();
    let w = {
        let tab = sbi.tab();
        copyup::writable_at(&tab, copyup::create_target(sbi, &tab, &parent, b"", false)?)?
    };
    let rw = &w.rw;
    dir_in(sb, &parent, &w)?;
    let flags = file.flags();
    let caller = Cred::current().ok_or(ENOMEM)?;
    let upper = {
        let _creds = sbi.cred.override_creds();
        let creator = Cred::for_create(&caller, Some((&dentry, mode::S_IFREG | (mode & 0o7777))))?;
        let _as_caller = creator.override_creds();
        let _w = WriteAccess::get(rw.root.mnt(), &rw.root)?;
        let udir = dir_member(dir, &w)?;
        let f = File::open_tmpfile(&path::at(rw.root.mnt(), &udir), mode, flags, &creator)?;
        f.dentry().ok_or(EIO)?
    };
    if let Some(i) = upper.inode() {
        sbi.new_ino(rw.id, i.ino())?;
    }
    let res = Resolved::upper_only(Lower { branch: rw.clone(), dentry: upper });
    let mut inode = namei::make_inode(sb, res)?;
    // d_tmpfile drops the link count from one to zero.
    inode.set_nlink_new(1);
    inode.tmpfile(&file);
    file.finish_open()
}

/// Whether the union directory `d` shows no entries (whiteouts and what they
/// hide do not count).
pub(crate) fn is_empty(sb: SuperBlock<'_>, d: &UnionInode) -> Result<bool> {
    let merged = crate::readdir::build(sb, d)?;
    Ok(merged.get(0).is_none())
}

/// Whether the union directory `d` has entries in a branch below the
/// writable one `w`: listed there and not whited out above, shown in the
/// union or shadowed by the same name higher up (AUFS counts those too). A
/// directory without its upper in `w` has all its entries below.
fn has_lower_entries(sb: SuperBlock<'_>, d: &UnionInode, w: &Writable) -> Result<bool> {
    let merged = crate::readdir::build(sb, d)?;
    if d.data().view().upper().is_some_and(|u| u.branch.id == w.rw.id) {
        Ok(merged.entries_below_first() > 0)
    } else {
        Ok(!merged.is_empty())
    }
}

/// unlink and rmdir of the positive union dentry `dentry` in `dir`.
pub(crate) fn remove(sb: SuperBlock<'_>, dir: &UnionInode, dentry: UnionDentry<'_>, is_dir: bool) -> Result {
    let sbi = sb.info();
    let name = dentry.name();
    let d = dentry.get();
    let ui = union_inode_of(&d).ok_or(ENOENT)?;
    // The change goes where a change of the victim would: its own branch
    // when that is writable (removed there, with a whiteout there if the
    // name exists below), else the copy-up target (a whiteout only).
    let tab = sbi.tab();
    let w = copyup::writable_at(&tab, copyup::change_target(sbi, &tab, &ui.data().view(), &dir.data().view())?)?;
    let rw = &w.rw;
    check_deletable(dir, ui)?;
    if is_dir && !is_empty(sb, ui)? {
        return Err(code::enotempty());
    }
    let need_wh = exists_below(sbi, &tab, dir, name, w.index)?;
    let parent = d.parent();
    dir_in(sb, &parent, &w)?;
    // A copy-up of the victim that is under way finishes first (its upper
    // is then removed with it); one that starts later finds the whiteout
    // and gives up (copyup.rs). Overlayfs: ovl_nlink_start.
    let _lock = ui.data().lock_copyup()?;
    // Copied up into another branch since the branch was chosen (a
    // policy's facts changed): choose again (the VFS walks once more).
    if ui.data().view().upper().is_some_and(|u| u.branch.id != rw.id) {
        return Err(code::estale());
    }
    let _creds = sbi.cred.override_creds();
    let mnt = rw.root.mnt();
    let write_access = WriteAccess::get(mnt, &rw.root)?;
    let udir = dir_member(dir, &w)?;
    let ui_view = ui.data().view();
    let upper = ui_view.member_in(rw.id).map(|u| u.dentry.clone());
    let mut gone: Option<Dentry> = None;
    let change = {
        let g = DirGuard::lock(mnt, &udir)?;
        let change = namei::OwnChange::begin(&udir);
        if need_wh {
            create_whiteout(sbi, &g, name)?;
        }
        if let Some(u) = upper.as_ref() {
            let cur = g.lookup(name)?;
            if cur.inode().is_none() && need_wh && !is_dir {
                // A name that shares its union inode with another name of
                // the same file (namei.rs `publish`) whose copy-up gave the
                // inode its upper: this name has none; the whiteout above
                // removes it.
            } else if !is_upper_of(&cur, u) {
                // The branch changed behind the union's back.
                return Err(code::estale());
            } else if !is_dir {
                g.unlink(&cur)?;
            } else if !need_wh {
                // Nothing of the name below: an upper directory that is
                // really empty goes at once, as in overlayfs
                // (ovl_remove_upper). One that holds whiteouts or an opaque
                // marker (ENOTEMPTY) is moved away and emptied first.
                match g.rmdir(&cur) {
                    Ok(()) => {}
                    Err(e) if e == code::enotempty() => gone = Some(cur),
                    Err(e) => return Err(e),
                }
            } else {
                gone = Some(cur);
            }
        }
        change.and_then(|c| c.end(&udir))
    };
    // A directory moved away and emptied is not recorded (two locks of
    // the directory, with others' changes possible in between).
    let change = if gone.is_some() { None } else { change };
    if let Some(u) = gone {
        remove_upper_dir(sbi, &w, &udir, name, &u)?;
    }
    match ui.data().view().member_in(rw.id).and_then(|u| u.dentry.inode()) {
        Some(i) if !is_dir => ui.set_nlink(i.nlink()),
        _ => ui.clear_nlink(),
    }
    let dead = upper.as_ref().and_then(dead_ino);
    drop(write_access);
    if let Some(ino) = dead {
        sbi.forget_ino(rw.id, ino);
    }
    // Only this name changed: the others in the directory stay valid.
    if let Some(c) = change {
        dir.data().record_own(c);
    }
    Ok(())
}

/// The inode number of the branch object `d` if its last name is gone (the
/// union removed it): the branch may give that number to a new object, so
/// the union forgets its key (see `SbInfo::forget_ino`).
fn dead_ino(d: &Dentry) -> Option<u64> {
    d.inode().filter(|i| i.nlink() == 0).map(|i| i.ino())
}

/// Whether `cur`, a name just looked up in an upper directory, is the upper
/// object `u` of the union inode being removed or renamed: the same dentry,
/// or another name of the same file (a union inode that gained a hard link
/// through the union keeps the upper dentry of the name it was made for, so
/// the operation must act on the name's own dentry, `cur`).
fn is_upper_of(cur: &Dentry, u: &Dentry) -> bool {
    cur.same(u) || matches!((cur.inode(), u.inode()), (Some(a), Some(b)) if a.as_ptr() == b.as_ptr())
}

/// Removes the upper directory `u` (named `name` in `udir`): moves it into
/// the work directory, then empties and removes it there.
fn remove_upper_dir(sbi: &SbInfo, w: &Writable, udir: &Dentry, name: &[u8], u: &Dentry) -> Result {
    let rw = &w.rw;
    let mnt = rw.root.mnt();
    let work = &w.work;
    let tmp_name = copyup::temp_name(sbi)?;
    {
        // A name gone from the branch (ENOENT) or now another object:
        // changed behind the union's back.
        let mut g = RenameGuard::start(mnt, udir, Source::Name(name), work, &tmp_name)
            .map_err(|e| if e == ENOENT { code::estale() } else { e })?;
        if !g.source()?.same(u) {
            return Err(code::estale());
        }
        g.rename(0)?;
    }
    // The directory is gone from the union now; what cannot be removed
    // here stays in the work directory until the next mount cleans it.
    copyup::clean_dir(rw, u, 0, false);
    if let Ok(g) = DirGuard::lock(mnt, work) {
        if u.parent().same(work) && g.rmdir(u).is_err() {
            pr_warn!("rfs: a removed directory stays in the work directory\n");
        }
    }
    Ok(())
}

/// Empties the upper directory `u` of whiteouts and opaque marker (its
/// union view is empty, so nothing else may be in it).
fn clean_whiteouts(rw: &crate::branch::Branch, u: &Dentry) -> Result {
    let names = copyup::list_names(rw, u)?;
    let g = DirGuard::lock(rw.root.mnt(), u)?;
    for n in names.split(|&c| c == 0).filter(|n| whiteout::is_reserved(n)) {
        let c = g.lookup(n)?;
        if c.inode().is_some() {
            g.remove(&c)?;
        }
    }
    Ok(())
}

/// The copy-up locks of `a` and, if it is another inode, `b`, taken in
/// address order (two renames never wait for each other's second lock).
fn lock_pair<'a>(
    a: &'a UnionInode,
    b: Option<&'a UnionInode>,
) -> Result<(crate::inode::CopyupLock<'a>, Option<crate::inode::CopyupLock<'a>>)> {
    match b {
        Some(b) if !core::ptr::eq(a, b) => {
            let (first, second) = if (a as *const UnionInode) < (b as *const UnionInode) { (a, b) } else { (b, a) };
            let l1 = first.data().lock_copyup()?;
            let l2 = second.data().lock_copyup()?;
            Ok((l1, Some(l2)))
        }
        _ => Ok((a.data().lock_copyup()?, None)),
    }
}

/// rename(2) in the union. `old`/`new` are union dentries in `odir`/`ndir`.
pub(crate) fn rename(
    sb: SuperBlock<'_>,
    odir: &UnionInode,
    old: UnionDentry<'_>,
    ndir: &UnionInode,
    new: UnionDentry<'_>,
    flags: u32,
) -> Result {
    let sbi = sb.info();
    if flags & (sys::RENAME_EXCHANGE | sys::RENAME_WHITEOUT) != 0 {
        return Err(EINVAL);
    }
    let (oname, nname) = (old.name(), new.name());
    check_name(nname)?;
    let od = old.get();
    let nd = new.get();
    let ui = union_inode_of(&od).ok_or(ENOENT)?;
    let target = union_inode_of(&nd);
    // The rename happens in one writable branch: where a change of the
    // renamed object goes (its own branch when writable, else its copy-up
    // target). The new name must show from there: not shadowed by a
    // replaced object higher up, nor hidden by a whiteout or an opaque
    // directory above it. As AUFS (`au_ren_wbr`): the rename goes to the
    // branch of the object it replaces when that is higher, else to the
    // nearest writable branch above where the new name shows; the object is
    // copied up there first (`copyup::promote` for a file whose upper lies
    // lower; a directory whose upper lies lower is made there over it by
    // `copy_into`, and must be empty: `has_lower_entries`).
    let tab = sbi.tab();
    let is_dir = od.is_dir();
    let src_index = copyup::change_target(sbi, &tab, &ui.data().view(), &odir.data().view())?;
    let mut index = src_index;
    if let Some(ti) = target.and_then(|t| copyup::change_target(sbi, &tab, &t.data().view(), &ndir.data().view()).ok()) {
        index = index.min(ti);
    }
    if !copyup::shows_from(sbi, &tab, &nd.parent(), nname, index)? {
        index = copyup::shown_above(sbi, &tab, &nd.parent(), nname, index)?.ok_or(EXDEV)?;
    }
    // Above the source's own target, the source must be able to get its
    // member there too.
    if index < src_index && !copyup::shows_from(sbi, &tab, &od.parent(), oname, index)? {
        return Err(EXDEV);
    }
    // A directory whose upper lies below that branch moves up only when
    // the VFS holds its lock (a rename to another directory: vfs_rename
    // locks a moved subdirectory then): within one directory a create in
    // it could otherwise slip into its old upper, which stays behind.
    // Whether the object's upper lies below that branch (it moves up), and
    // that upper (branch id, inode number).
    let (moves_up, old_upper) = {
        let v = ui.data().view();
        let below = copyup::upper_index(&tab, &v).is_some_and(|u| u > index);
        (below, v.upper().filter(|_| below).and_then(|u| Some((u.branch.id, u.dentry.inode()?.ino()))))
    };
    if is_dir && moves_up && core::ptr::eq(odir, ndir) {
        return Err(EXDEV);
    }
    let w = copyup::writable_at(&tab, index)?;
    let rw = &w.rw;
    check_deletable(odir, ui)?;
    if let Some(t) = target {
        check_deletable(ndir, t)?;
    }
    // AUFS's rule (semantics.md "Rename"): a directory renames, empty or
    // not, unless a branch below the writable one has entries in it; those
    // cannot move with it (no redirects), so EXDEV lets mv(1) copy.
    if is_dir && has_lower_entries(sb, ui, &w)? {
        return Err(EXDEV);
    }
    if let Some(t) = target {
        if nd.is_dir() && !is_empty(sb, t)? {
            return Err(code::enotempty());
        }
    }
    let old_wh = exists_below(sbi, &tab, odir, oname, w.index)?;
    let new_below = exists_below(sbi, &tab, ndir, nname, w.index)?;
    if !is_dir && moves_up {
        copyup::promote(sb, &tab, &od, &w)?;
    }
    copyup::copy_into(sb, &od, &w)?;
    dir_in(sb, &nd.parent(), &w)?;
    // No copy-up of the renamed object or of the one it replaces runs
    // meanwhile (see `remove`); a copy-up of the replaced one that waited
    // finds the name taken and gives up (copyup.rs).
    let _locks = lock_pair(ui, target)?;
    // As in `remove`: an upper elsewhere means the branch must be chosen
    // again; for the replaced object too.
    if Iterator::chain(core::iter::once(ui), target).any(|t| t.data().view().upper().is_some_and(|u| u.branch.id != rw.id && tab.index_of(&u.branch).is_some_and(|i| i < w.index))) {
        return Err(code::estale());
    }
    let _creds = sbi.cred.override_creds();
    let mnt = rw.root.mnt();
    let write_access = WriteAccess::get(mnt, &rw.root)?;
    let target_view = target.map(|t| t.data().view());
    if let Some(tu) = target_view.as_ref().and_then(|v| v.member_in(rw.id)) {
        if tu.dentry.is_dir() {
            // Only whiteouts are left in it; the rename replaces it, and the
            // branch rename needs it empty. While it is emptied, a whiteout
            // of its name beside it keeps what lies below hidden (a
            // directory whited out in its own branch merges nothing:
            // namei.rs), so a crash in between never shows the deleted
            // tree; the rename below removes that whiteout.
            if new_below {
                let nudir = dir_member(ndir, &w)?;
                let g = DirGuard::lock(mnt, &nudir)?;
                create_whiteout(sbi, &g, nname)?;
            }
            clean_whiteouts(rw, &tu.dentry)?;
        }
    }
    let ui_view = ui.data().view();
    let ou = ui_view.member_in(rw.id).ok_or(EIO)?;
    if is_dir && new_below {
        // At its new name it must not merge with what is below there.
        set_opaque(mnt, &ou.dentry)?;
    }
    let (oudir, nudir) = (dir_member(odir, &w)?, dir_member(ndir, &w)?);
    let same_dir = core::ptr::eq(odir, ndir);
    // Two union directories with one branch directory (a stale one still
    // someone's working directory, and its new lookup): the VFS moves only
    // the dentries of the two it was given, so neither records the change.
    let unrecorded = !same_dir && oudir.same(&nudir);
    let changes = {
        let mut g = RenameGuard::start(mnt, &oudir, Source::Name(oname), &nudir, nname)
            .map_err(|e| if e == ENOENT { code::estale() } else { e })?;
        let ochange = if unrecorded { None } else { namei::OwnChange::begin(&oudir) };
        let nchange = if same_dir || unrecorded { None } else { namei::OwnChange::begin(&nudir) };
        let src = g.source()?;
        if !is_upper_of(&src, &ou.dentry) {
            return Err(code::estale());
        }
        if old_wh {
            create_whiteout(sbi, &g.old(), oname)?;
        }
        let nu = g.target()?;
        if nu.inode().is_some() {
            // The new name has an object in the writable branch: it must
            // be the upper of the union object the rename replaces. One made
            // directly in the branch since (the union shows no target, or
            // another one) is not overwritten: ESTALE, the system call walks
            // the paths again (overlayfs checks the same).
            if !target.is_some_and(|t| t.data().view().member_in(rw.id).is_some_and(|tu| is_upper_of(&nu, &tu.dentry))) {
                return Err(code::estale());
            }
        }
        // RENAME_NOREPLACE is checked by the VFS on the union and, for a
        // name made directly in the branch since, by the ESTALE check
        // above; it is not passed on (NFS, 9p and old FUSE branches refuse
        // every rename flag), as overlayfs does.
        g.rename(0)?;
        remove_whiteout(&g.new(), nname)?;
        (ochange.and_then(|c| c.end(&oudir)), nchange.and_then(|c| c.end(&nudir)))
    };
    if is_dir {
        ui.data().make_opaque();
    }
    if let Some(t) = target {
        match t.data().view().member_in(rw.id).and_then(|u| u.dentry.inode()) {
            Some(i) if !nd.is_dir() => t.set_nlink(i.nlink()),
            _ => t.clear_nlink(),
        }
    }
    let dead = target_view.as_ref().and_then(|v| v.member_in(rw.id)).and_then(|tu| dead_ino(&tu.dentry));
    drop(write_access);
    if let Some(ino) = dead {
        sbi.forget_ino(rw.id, ino);
    }
    // A directory that moved up for the rename left its old upper at the
    // old name, hidden by the whiteout: should that show again (the
    // whiteout removed directly), it is another object, with a number of
    // its own. (A promoted file's entry went in `promote`.)
    if let Some((id, ino)) = old_upper.filter(|_| is_dir) {
        sbi.forget_ino(id, ino);
    }
    // Only the two names changed: the others in both directories stay
    // valid.
    if let Some(c) = changes.0 {
        odir.data().record_own(c);
    }
    if let Some(c) = changes.1 {
        ndir.data().record_own(c);
    }
    Ok(())
}
