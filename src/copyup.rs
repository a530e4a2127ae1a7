//! Copy-up: bringing a lower object into the writable branch before it is
//! changed.
//!
//! An object is copied whole (data with its holes, mode, owner, times,
//! xattrs, symlink target; fifos and device nodes re-created) in the
//! mount's private work directory, as an unnamed file (regular files, when
//! the branch has O_TMPFILE) linked into place, or under a temporary name
//! and renamed into place, so a crash never leaves a partial object
//! visible. Missing parent directories are copied first, top-down, the same
//! way.
//!
//! Locking: the superblock's `copyup` mutex is held for one object's copy, so
//! two callers never copy the same object (the second finds the upper set
//! when it gets the mutex). Order: union inode locks (taken by the VFS) →
//! `copyup` → branch directory locks (work directory, then lock_rename of
//! work and target directories; for an unnamed copy only the target
//! directory's). Branch work runs with the mounter's
//! credentials; the caller's rights were checked on the union object before.

use crate::branch::Branch;
use crate::inode::{InodeInfo, Lower, UnionInode, View};
use crate::logic::policy::{self, Facts, Slot};
use crate::namei::OwnChange;
use crate::super_::Tab;
use crate::logic::whiteout;
use crate::super_::SbInfo;
use crate::sysfs::Stats;
use crate::vfs::cred::Cred;
use crate::vfs::dentry::Dentry;
use crate::vfs::dir::for_each_entry;
use crate::vfs::file::File;
use crate::union::{union_inode_of, SuperBlock};
use crate::vfs::fs::FcLog;
use crate::vfs::inode::{mode, InodeRef};
use crate::vfs::lower::{self, Attr, DirGuard, RenameGuard, Source, WriteAccess};
use crate::vfs::{path, sys, task};
use core::sync::atomic::Ordering;
use crate::vfs::code;
use crate::workdir::WorkClaim;
use kernel::error::{code::*, Result};
use crate::vfs::path::Mount;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The name of the private work directory at the top of the writable
/// branch. The reserved `.wh.` prefix hides it from the union; AUFS keeps its
/// temporaries under the same name.
pub(crate) const WORKDIR_NAME: &[u8] = crate::logic::whiteout::WORK_DIR_NAME;

/// Bytes spliced per step: between steps the copy checks for a fatal signal
/// and lets others run.
const CHUNK: usize = 1 << 20;

/// Creates the work directory in `rw` if needed and, unless another mount
/// uses it now (workdir.rs), removes what an earlier mount left in it
/// (temporaries of interrupted copy-ups). Returns it with this mount's claim
/// on it. The caller runs with the mounter's credentials.
pub(crate) fn prepare_workdir(rw: &Arc<Branch>, log: &FcLog) -> Result<(Dentry, WorkClaim)> {
    let mnt = rw.root.mnt();
    let _w = WriteAccess::get(mnt, &rw.root).inspect_err(|_| {
        log.error("writable branch is on a read-only filesystem", Some(&rw.name));
    })?;
    let root = rw.root.dentry();
    let work = {
        let g = DirGuard::lock(mnt, root)?;
        let d = g.lookup(WORKDIR_NAME)?;
        match d.inode() {
            Some(i) if i.is_dir() => d,
            Some(_) => {
                log.error("work directory name is taken by a non-directory", Some(WORKDIR_NAME));
                return Err(EEXIST);
            }
            None => g.mkdir(d, WORKDIR_NAME, 0o700).inspect_err(|_| {
                log.error("cannot create the work directory in the writable branch", Some(&rw.name));
            })?,
        }
    };
    let claim = WorkClaim::take(&work, || clean_dir(rw, &work, 1, false))?;
    Ok((work, claim))
}

/// Removes everything in `dir` (a directory of `rw`), descending `depth`
/// levels into subdirectories. Best effort: what cannot be removed stays.
/// `nested`: the caller holds the lock of `dir`'s parent.
pub(crate) fn clean_dir(rw: &Branch, dir: &Dentry, depth: u32, nested: bool) {
    let mnt = rw.root.mnt();
    let Ok(names) = list_names(rw, dir) else { return };
    let locked = if nested { DirGuard::lock_child(mnt, dir) } else { DirGuard::lock(mnt, dir) };
    let g = match locked {
        Ok(g) => g,
        Err(_) => return,
    };
    for name in names.split(|&c| c == 0).filter(|n| !n.is_empty()) {
        let Ok(child) = g.lookup(name) else { continue };
        let Some(inode) = child.inode() else { continue };
        if inode.is_dir() && depth > 0 {
            clean_dir(rw, &child, depth - 1, true);
        }
        if g.remove(&child).is_err() {
            pr_warn!("rfs: could not remove a leftover in the work directory\n");
        }
    }
}

/// The names in directory `dir` of branch `b` (without `.` and `..`),
/// NUL-separated.
pub(crate) fn list_names(b: &Branch, dir: &Dentry) -> Result<KVec<u8>> {
    let cred = crate::vfs::cred::Cred::current().ok_or(ENOMEM)?;
    let f = File::open(&path::at(b.root.mnt(), dir), sys::O_RDONLY | sys::O_DIRECTORY, &cred)?;
    let mut out = KVec::new();
    let mut failed = false;
    for_each_entry(&f, &mut |name, _ino, _t| {
        if name == b"." || name == b".." {
            return true;
        }
        if out.extend_from_slice(name, GFP_KERNEL).is_err() || out.push(0, GFP_KERNEL).is_err() {
            failed = true;
            return false;
        }
        true
    })?;
    if failed {
        return Err(ENOMEM);
    }
    Ok(out)
}

/// A writable branch and its private directories, taken from the branch
/// table at the start of an operation (a remount may change the table
/// meanwhile; the operation finishes on what it took).
pub(crate) struct Writable {
    pub(crate) rw: Arc<Branch>,
    /// Its index in the table it comes from (0 is the top).
    pub(crate) index: usize,
    pub(crate) work: Dentry,
    /// The pseudo-link directory (plink.rs).
    pub(crate) plnk: Option<Dentry>,
    /// The generation of the table they come from.
    pub(crate) gen: u64,
}

/// The writable branch at `index` of `tab`; EROFS if it is not writable.
pub(crate) fn writable_at(tab: &Tab, index: usize) -> Result<Writable> {
    let b = tab.branch(index).ok_or(EROFS)?;
    let w = tab.wbr(b.id).filter(|_| b.perm.is_writable()).ok_or(EROFS)?;
    Ok(Writable { rw: b.clone(), index, work: w.work.clone(), plnk: Some(w.plnk.clone()), gen: tab.gen })
}

/// The index in `tab` of the branch of member `l`; ESTALE when the branch
/// is no longer in the table as it was (a remount since the object was
/// looked up: the caller looks it up again).
fn index_in(tab: &Tab, l: &Lower) -> Result<usize> {
    tab.index_of(&l.branch).ok_or_else(code::estale)
}

/// The branches as the policies see them (logic/policy.rs), with the
/// directory whose members are `pview` as the parent.
fn slots(tab: &Tab, pview: &View<'_>) -> Result<KVVec<Slot>> {
    let mut v = KVVec::with_capacity(tab.table.len(), GFP_KERNEL)?;
    for b in tab.branches() {
        v.push(Slot { writable: b.perm.is_writable(), parent: false, free: 0 }, GFP_KERNEL)?;
    }
    for l in pview.members() {
        if let Some(s) = tab.index_of(&l.branch).and_then(|i| v.get_mut(i)) {
            s.parent = true;
        }
    }
    Ok(v)
}

/// The index of the top member of `view` (not a pseudo-link).
fn top_index(tab: &Tab, view: &View<'_>) -> Result<usize> {
    index_in(tab, view.members().next().ok_or(EIO)?)
}

/// Where a change of an existing object goes (`view`: its members; `pview`:
/// its parent directory's): its top member's branch when that is writable
/// (changed in place), else the branch the copy-up policy picks above it.
/// EROFS when there is none.
pub(crate) fn change_target(sbi: &SbInfo, tab: &Tab, view: &View<'_>, pview: &View<'_>) -> Result<usize> {
    let top = top_index(tab, view)?;
    if view.members().next().is_some_and(|l| l.branch.perm.is_writable()) {
        return Ok(top);
    }
    // A name of a hard-linked lower file whose other name was copied up
    // goes where that copy is (its pseudo-link), so the names stay one
    // file: the policy may have picked another branch for the other name.
    if let (None, Some(p)) = (view.upper(), view.plink()) {
        if let Some(i) = tab.index_of(&p.branch).filter(|_| p.branch.perm.is_writable()) {
            return Ok(i);
        }
    }
    let slots = slots(tab, pview)?;
    let f = Facts { slots: &slots, top, whiteout: None, parent_opaque: None, reach: slots.len().saturating_sub(1) };
    policy::copyup(sbi.copyup_policy(), &f).ok_or(EROFS)
}

/// Where a new name `name` in the union directory `dir` goes: the branch
/// the creation policy picks (then the copy-up policy, as AUFS does).
/// EROFS when there is none. A branch where the new name would not show
/// (below a whiteout of it, an opaque directory, or what an opaque
/// ancestor cuts off) is never picked: the policy's choice is held there
/// (`Facts::reach`), and `tdp` never goes below the parent's top.
pub(crate) fn create_target(sbi: &SbInfo, tab: &Tab, dir: &Dentry, name: &[u8], is_dir: bool) -> Result<usize> {
    let pui = union_inode_of(dir).ok_or(ENOENT)?;
    let pview = pui.data().view();
    let top = top_index(tab, &pview)?;
    let mut slots = slots(tab, &pview)?;
    let (create, cpup) = {
        let p = sbi.policy.lock();
        (p.create, p.cpup)
    };
    if create == policy::Create::Tdp {
        let f = Facts { slots: &slots, top, whiteout: None, parent_opaque: None, reach: slots.len().saturating_sub(1) };
        let mut none = policy::CreateState::default();
        let b = policy::create(create, &f, &mut none, is_dir).or_else(|| policy::copyup(cpup, &f)).ok_or(EROFS)?;
        return Ok(b);
    }
    // The other policies may go below the parent's top, or above a parent
    // that lives only in a lower writable branch: they need to know where
    // the name is whited out, where the parent is opaque, how far down the
    // union still shows, which branches the parent can be made in, and the
    // free space of each branch. Found without the policy lock (lookups
    // and statfs may be slow); the lock is taken for the turn and the
    // measurements only.
    let (mut whiteout, mut parent_opaque) = (None, None);
    {
        let _creds = sbi.cred.override_creds();
        for l in pview.members() {
            let i = index_in(tab, l)?;
            if l.branch.honors_whiteouts() {
                if whiteout.is_none() && !name.is_empty() && whited_out(&l.dentry, name)? {
                    whiteout = Some(i);
                }
                if crate::namei::is_opaque(&l.branch, &l.dentry)? {
                    parent_opaque = Some(i);
                    break;
                }
            }
        }
    }
    let reach = {
        let _creds = sbi.cred.override_creds();
        reach_of(tab, dir)?.min(whiteout.unwrap_or(usize::MAX))
    };
    // A branch the parent cannot be made in is no choice (the root has no
    // member there: it is below an opaque root member).
    for (i, s) in slots.iter_mut().enumerate() {
        if s.writable && !can_make_in(tab, dir, i)? {
            s.writable = false;
        }
    }
    if let Some(sec) = create.interval() {
        let now = task::boot_seconds();
        let stale = {
            let p = sbi.policy.lock();
            p.state.free.is_empty() || now.saturating_sub(p.state.measured) >= u64::from(sec)
        };
        if stale {
            let free = {
                let _creds = sbi.cred.override_creds();
                measure_free(tab)?
            };
            let mut p = sbi.policy.lock();
            p.state.free = free;
            p.state.measured = now;
        }
        let p = sbi.policy.lock();
        for (i, b) in tab.branches().enumerate() {
            if let (Some(s), Some((_, free))) = (slots.get_mut(i), p.state.free.iter().find(|(id, _)| *id == b.id)) {
                s.free = *free;
            }
        }
    }
    let f = Facts { slots: &slots, top, whiteout, parent_opaque, reach };
    let mut p = sbi.policy.lock();
    policy::create(create, &f, &mut p.state.rr, is_dir).or_else(|| policy::copyup(cpup, &f)).ok_or(EROFS)
}

/// Whether the union directory `dir` can get a member in branch `index`
/// (`copy_into`): some ancestor-or-self has one there (every directory
/// below it is then made there: above its top as its new upper, even over
/// an upper in a lower writable branch, or below its top as a lower
/// member).
pub(crate) fn can_make_in(tab: &Tab, dir: &Dentry, index: usize) -> Result<bool> {
    let mut d = dir.clone();
    loop {
        let ui = union_inode_of(&d).ok_or(ENOENT)?;
        let view = ui.data().view();
        if view.members().any(|l| tab.index_of(&l.branch) == Some(index)) {
            return Ok(true);
        }
        let parent = d.parent();
        if parent.same(&d) {
            // The root has every branch down to an opaque one.
            return Ok(false);
        }
        d = parent;
    }
}

/// The bytes available to unprivileged users in each writable branch
/// (branch id, bytes). A branch whose statfs fails counts as full.
fn measure_free(tab: &Tab) -> Result<KVec<(u32, u64)>> {
    let mut v = KVec::new();
    for b in tab.branches().filter(|b| b.perm.is_writable()) {
        let free = b.root.statfs_new().map_or(0, |st| {
            let unit = if st.f_frsize > 0 { st.f_frsize } else { st.f_bsize };
            st.f_bavail.saturating_mul(u64::try_from(unit).unwrap_or(0))
        });
        v.push((b.id, free), GFP_KERNEL)?;
        task::cond_resched();
    }
    Ok(v)
}

/// The lowest branch (largest index) where something made inside the
/// union directory `dir` still shows: every directory from the root down
/// to `dir` merges its branches only down to an opaque one, or to where
/// its own name is whited out or is not a directory in its parent.
fn reach_of(tab: &Tab, dir: &Dentry) -> Result<usize> {
    let mut reach = tab.table.len().saturating_sub(1);
    let mut d = dir.clone();
    loop {
        let ui = union_inode_of(&d).ok_or(ENOENT)?;
        let view = ui.data().view();
        let last = view.members().last().ok_or(EIO)?;
        let k = index_in(tab, last)?;
        if last.branch.honors_whiteouts() && crate::namei::is_opaque(&last.branch, &last.dentry)? {
            reach = reach.min(k);
        }
        let parent = d.parent();
        if parent.same(&d) {
            return Ok(reach);
        }
        // In its parent's directories, from its last member's branch down:
        // a whiteout of its name beside that member cuts the directory
        // there (lookup merges nothing below it: namei.rs `resolve`); below
        // it, a whiteout or anything else of that name ends it just above.
        let name = d.name()?;
        let pui = union_inode_of(&parent).ok_or(ENOENT)?;
        let pview = pui.data().view();
        for l in pview.members() {
            let i = index_in(tab, l)?;
            if i < k {
                continue;
            }
            if l.branch.honors_whiteouts() && whited_out(&l.dentry, &name)? {
                reach = reach.min(if i == k { k } else { i.saturating_sub(1) });
                break;
            }
            if i == k {
                // The member itself.
                continue;
            }
            match l.dentry.lookup_child(&name) {
                Ok(c) if c.inode().is_some_and(|n| !n.is_dir()) => {
                    reach = reach.min(i.saturating_sub(1));
                    break;
                }
                Ok(_) => {}
                Err(e) if e == ENOENT => {}
                Err(e) => return Err(e),
            }
        }
        d = parent;
    }
}

/// Whether the name `d` has the member of its union object `ui` in the
/// writable branch `rw` (the object has one there). A union inode is
/// shared by the names of one file (namei.rs `publish`), and the copy-up of
/// one name gives the union inode its upper without giving the other names
/// theirs; only such a shared inode (a non-directory with more than one
/// link) is checked.
fn name_has_upper(ui: &UnionInode, d: &Dentry, rw: &Branch) -> Result<bool> {
    // Directories are never shared (they have one name, and are not in
    // the union inode cache). A file is shared only if it has several
    // links, or had them in its lower branch: its copy may keep a single
    // link (the pseudo-link) once the names copied up were removed, while
    // the other lower names still belong to it.
    let view = ui.data().view();
    if ui.vfs().is_dir() || (ui.vfs().nlink() <= 1 && !view.lowers().first().is_some_and(crate::plink::applies)) {
        return Ok(true);
    }
    let Some(u) = view.member_in(rw.id).and_then(|u| u.dentry.inode()) else { return Ok(false) };
    let parent = d.parent();
    let Some(pui) = union_inode_of(&parent) else { return Ok(true) };
    let pview = pui.data().view();
    let Some(udir) = pview.member_in(rw.id) else { return Ok(false) };
    let name = d.name()?;
    let cur = udir.dentry.lookup_child(&name)?;
    Ok(cur.inode().is_some_and(|i| i.as_ptr() == u.as_ptr()))
}

/// Makes sure the union object of `d` can be changed: it has its upper (a
/// top member in a writable branch), copied up (with every ancestor that
/// lacks a member there) into the branch the copy-up policy picks when it
/// has none. Returns that branch.
pub(crate) fn copy_up(sb: SuperBlock<'_>, d: &Dentry) -> Result<Writable> {
    let sbi = sb.info();
    let tab = sbi.tab();
    let ui = union_inode_of(d).ok_or(ENOENT)?;
    let parent = d.parent();
    let b = if parent.same(d) {
        // The root: changed in place, in branch 0, or not at all.
        if ui.data().view().upper().is_none() {
            return Err(EROFS);
        }
        0
    } else {
        let pui = union_inode_of(&parent).ok_or(EIO)?;
        change_target(sbi, &tab, &ui.data().view(), &pui.data().view())?
    };
    let w = writable_at(&tab, b)?;
    match copy_into(sb, d, &w) {
        // The object got its upper elsewhere meanwhile (a concurrent
        // copy-up chose another branch): the change goes there now.
        Err(e) if e == code::estale() && !parent.same(d) => {
            let pui = union_inode_of(&parent).ok_or(EIO)?;
            let b = change_target(sbi, &tab, &ui.data().view(), &pui.data().view())?;
            let w = writable_at(&tab, b)?;
            copy_into(sb, d, &w)?;
            Ok(w)
        }
        r => r.map(|()| w),
    }
}

/// Makes sure the union object of `d` has a member in the writable branch
/// `w`: copies `d` there and, first, every ancestor that lacks one. A
/// non-directory is only ever copied above its top member (it becomes the
/// upper); a directory may also be made below its top, as a lower member
/// (a change further down goes to a branch under the directory's top).
pub(crate) fn copy_into(sb: SuperBlock<'_>, d: &Dentry, w: &Writable) -> Result {
    loop {
        let ui = union_inode_of(d).ok_or(ENOENT)?;
        if ui.data().view().member_in(w.rw.id).is_some() && name_has_upper(ui, d, &w.rw)? {
            return Ok(());
        }
        // The top-most ancestor-or-self whose parent has a member there.
        let mut cur = d.clone();
        loop {
            let parent = cur.parent();
            if parent.same(&cur) {
                // The root has every branch down to an opaque one.
                return Err(EROFS);
            }
            let pui = union_inode_of(&parent).ok_or(EIO)?;
            if pui.data().view().member_in(w.rw.id).is_some() {
                copy_up_one(sb, w, &cur, &parent, false)?;
                break;
            }
            cur = parent;
        }
    }
}

/// The member of the union directory `dir` in the writable branch `w`,
/// made there first if it has none (see [`copy_into`]).
pub(crate) fn dir_in(sb: SuperBlock<'_>, dir: &Dentry, w: &Writable) -> Result<Dentry> {
    copy_into(sb, dir, w)?;
    let ui = union_inode_of(dir).ok_or(ENOENT)?;
    let view = ui.data().view();
    view.member_in(w.rw.id).map(|l| l.dentry.clone()).ok_or(EIO)
}

/// The pseudo-link flush of one name (`RFS_IOC_PLINK_LINK`, plink.rs): if
/// `d` names a hard-linked lower file of which another name was copied up
/// (its copy has a pseudo-link), `d` becomes a real hard link to that copy
/// in the writable branch. Nothing is ever copied: without a pseudo-link,
/// or when the name changed meanwhile, nothing happens. Returns whether a
/// link was made.
pub(crate) fn link_pseudo(sb: SuperBlock<'_>, d: &Dentry) -> Result<bool> {
    let sbi = sb.info();
    let ui = union_inode_of(d).ok_or(ENOENT)?;
    if ui.vfs().mode() & mode::S_IFMT != mode::S_IFREG || d.is_unhashed() {
        return Ok(false);
    }
    // Decided by what this name is in the branches, not by the union inode
    // (shared by all names of the file, it may have been made for another
    // name, and its link count may be 1: the copy's pseudo-link).
    let parent = d.parent();
    let pui = union_inode_of(&parent).ok_or(ENOENT)?;
    let name = d.name()?;
    let tab = sbi.tab();
    let lower = {
        let _creds = sbi.cred.override_creds();
        let res = crate::namei::resolve(sbi, Some(pui.data()), &pui.data().view(), &name)?;
        match (&res.upper, res.lowers.first()) {
            (None, Some(l)) if crate::plink::applies(l) => l.clone(),
            _ => return Ok(false),
        }
    };
    // The branch a copy-up of the name would go to holds the pseudo-link
    // if one was made for it (the other name went there by the same rule).
    let w = writable_at(&tab, change_target(sbi, &tab, &ui.data().view(), &pui.data().view())?)?;
    let Some(plnk) = w.plnk.as_ref() else { return Ok(false) };
    let found = {
        let _creds = sbi.cred.override_creds();
        crate::plink::find(plnk, &lower)?.is_some()
    };
    if !found {
        return Ok(false);
    }
    // The directories above the name get their members there first.
    copy_into(sb, &parent, &w)?;
    // Then, as copy_up_one: the object's copy-up lock, the mount's lock for
    // hard-linked files, and everything checked again under them.
    let _lock = ui.data().lock_copyup()?;
    let _serial = crate::inode::bit_lock_killable(&sbi.copyup)?;
    let pui_view = pui.data().view();
    let upper_dir = &pui_view.member_in(w.rw.id).ok_or(EIO)?.dentry;
    let _creds = sbi.cred.override_creds();
    if d.is_unhashed() || upper_dir.lookup_child(&name)?.inode().is_some() || whited_out(upper_dir, &name)? {
        return Ok(false);
    }
    match crate::plink::find(plnk, &lower)? {
        Some(p) => link_up(sbi, &w.rw, ui, upper_dir, &name, &p).map(|()| true),
        None => Ok(false),
    }
}

/// Copies the non-directory of `d`, whose upper lies in a writable branch
/// below `w`, up into `w`, for a rename or link whose new name would not
/// show from its own branch (AUFS copies such an object up as well): the
/// copy becomes its upper and the old one stays below it, hidden (inode.rs
/// `promote`). Only a file with one link, no pseudo-link, no union file
/// open or being opened and no memory mapping: else EXDEV (mv(1) then
/// copies; an open file or a mapping would go on using the old upper). The
/// caller holds the object's union inode lock (link and rename take it),
/// and `w` comes from `tab`.
pub(crate) fn promote(sb: SuperBlock<'_>, tab: &Tab, d: &Dentry, w: &Writable) -> Result {
    let ui = union_inode_of(d).ok_or(ENOENT)?;
    if ui.vfs().is_dir() || !promotable(ui) {
        return Err(EXDEV);
    }
    let parent = d.parent();
    // The copy must show at the object's own name too: its directory can
    // be made in `w` (no ancestor has its upper below it) and the union
    // reaches down to it there.
    let sbi = sb.info();
    if !shows_from(sbi, tab, &parent, &d.name()?, w.index)? {
        return Err(EXDEV);
    }
    dir_in(sb, &parent, w)?;
    copy_up_one(sb, w, d, &parent, true)
}

/// Whether the file `ui` may be promoted: one name (the union's and its
/// upper's link counts), no pseudo-link, no hard-linked lower file (their
/// other names would stay behind).
fn promotable(ui: &UnionInode) -> bool {
    let view = ui.data().view();
    ui.vfs().nlink() == 1
        && view.upper().and_then(|u| u.dentry.inode()).is_some_and(|i| i.nlink() == 1)
        && view.plink().is_none()
        && !view.lowers().iter().any(crate::plink::applies)
}

/// Ends a promotion started under the copy-up lock, on every path.
struct Promoting<'a>(&'a InodeInfo);

impl Drop for Promoting<'_> {
    fn drop(&mut self) {
        self.0.end_promotion();
    }
}

/// Copies the object of `d` into the writable branch `w`, where its parent
/// `parent` has a member; with `promote`, over its upper in a branch below
/// `w` ([`promote`]).
fn copy_up_one(sb: SuperBlock<'_>, w: &Writable, d: &Dentry, parent: &Dentry, promote: bool) -> Result {
    let sbi = sb.info();
    let (rw, work) = (&w.rw, &w.work);
    let ui = union_inode_of(d).ok_or(ENOENT)?;
    let pui = union_inode_of(parent).ok_or(ENOENT)?;
    // The object's own copy-up lock (killable), held until its upper is
    // recorded: unlink and rename of the same object wait for it (dir.rs).
    let _lock = ui.data().lock_copyup()?;
    let mut _promoting = None;
    if promote {
        let view = ui.data().view();
        match view.member_in(rw.id) {
            // Promoted meanwhile (by an earlier try of the same call, which
            // failed after it): nothing left to do.
            Some(m) if view.upper().is_some_and(|u| u.dentry.same(&m.dentry)) => return Ok(()),
            Some(_) => return Err(code::estale()),
            None => {}
        }
        if view.upper().is_none() {
            return Err(code::estale());
        }
        if !promotable(ui) {
            return Err(EXDEV);
        }
        let started = ui.data().start_promotion();
        _promoting = Some(Promoting(ui.data()));
        // A mapping outlives its union file; a new one needs an open,
        // which now waits.
        if !started || view.upper().and_then(|u| u.dentry.inode()).is_some_and(|i| i.is_mapped()) {
            return Err(EXDEV);
        }
    }
    if ui.data().view().member_in(rw.id).is_some() {
        if name_has_upper(ui, d, rw)? {
            return Ok(());
        }
        // Another name of the same file was copied up: this name becomes
        // another link to that copy.
        let _creds = sbi.cred.override_creds();
        let view = ui.data().view();
        let upper = view.member_in(rw.id).ok_or(EIO)?.dentry.clone();
        let pui_view = pui.data().view();
        let upper_dir = &pui_view.member_in(rw.id).ok_or(EIO)?.dentry;
        let name = d.name()?;
        if d.is_unhashed() || whited_out(upper_dir, &name)? {
            return Err(code::estale());
        }
        return link_up(sbi, rw, ui, upper_dir, &name, &upper);
    }
    let ui_view = ui.data().view();
    let src = ui_view.top()?;
    // A hard-linked lower file: its other names are other union inodes with
    // locks of their own, and the first copy must be the one the others
    // link to (plink.rs); such copy-ups are serialised per mount.
    let linked = ui_view.lowers().first().filter(|l| crate::plink::applies(l));
    let _serial = match linked {
        Some(_) => Some(crate::inode::bit_lock_killable(&sbi.copyup)?),
        None => None,
    };
    let pui_view = pui.data().view();
    let upper_dir = &pui_view.member_in(rw.id).ok_or(EIO)?.dentry;
    let name = d.name()?;
    // Where the copy goes among the members: on top (it becomes the
    // upper), or, for a directory made under its top for a change further
    // down, among the lowers (`pos`: how many lie above it).
    let below_top = {
        let tab = sbi.tab();
        let top = index_in(&tab, src)?;
        let here = tab.index_of(rw).ok_or_else(code::estale)?;
        if here > top && !src.dentry.is_dir() {
            // A file is never copied down.
            return Err(EXDEV);
        }
        if here > top {
            let mut pos = 0;
            for l in ui_view.lowers() {
                if index_in(&tab, l)? < here {
                    pos += 1;
                }
            }
            Some(pos)
        } else {
            None
        }
    };
    // A directory whose upper lies in a writable branch below this one is
    // made here over it, and merges with it (AUFS copies directories up
    // the same way, `au_cpup_dirs`): a change below it (or a rename into
    // it) goes to a branch above its top.
    let over_upper = below_top.is_none() && ui_view.upper().is_some();
    let promote_dir = over_upper && src.dentry.is_dir();
    if over_upper && !promote && !promote_dir {
        // Given an upper in another branch while this caller chose its
        // target (a policy's facts changed): the caller chooses again.
        return Err(code::estale());
    }
    let _creds = sbi.cred.override_creds();
    // An LSM may want the copy created with credentials of its choosing
    // (security_inode_copy_up): `make_temp` creates it with them, and only
    // the creation, as ovl_prep_cu_creds around ovl_create_temp.
    let cu_creds = Cred::for_copy_up(d)?;

    // While we waited for the lock, the name may have been removed (the
    // union dentry is unhashed, or an unlink left its whiteout) or given an
    // upper through another union inode (a file made over it, or the
    // copy-up of a newer lookup of the same name). A copy now would bring a
    // removed name back, or clash with that upper: ESTALE makes the system
    // call walk the path again (LOOKUP_REVAL) and act on what the name is
    // now. `finish` checks the same again under the directory lock.
    if d.is_unhashed() || upper_dir.lookup_child(&name)?.inode().is_some() || whited_out(upper_dir, &name)? {
        return Err(code::estale());
    }

    // A hard-linked lower file: if another of its names was copied up
    // already, this name becomes another link to that copy (plink.rs).
    if let (Some(l), Some(plnk)) = (linked, w.plnk.as_ref()) {
        if let Some(p) = crate::plink::find(plnk, l)? {
            return link_up(sbi, rw, ui, upper_dir, &name, &p);
        }
    }

    // Write access to the branch is taken around each namespace or
    // attribute change, not around the data copy: the copy takes the
    // filesystem's freeze protection itself, and it must not nest.
    let src_flags = inode_flags(src)?;
    let temp = make_temp(sbi, rw, work, src, src_flags, cu_creds.as_ref())?;
    // Copy-up does not change what the union shows in the parent: its
    // upper keeps its times.
    let parent_times = upper_dir.inode().ok_or(ENOENT)?.times();
    // The copy keeps the union inode number of the original, recorded
    // before the copy is in place (the rename keeps its inode number): a
    // lookup of the name right after the rename must find the number, not
    // make a new one (readdir would then show the old one). Not under the
    // write access: the xino file may be on the same filesystem.
    let tmp_ino = temp.dentry.inode().map(|i| i.ino());
    if let Some(ino) = tmp_ino {
        if let Err(e) = sbi.alias_ino(rw.id, ino, ui.vfs().ino()) {
            remove_temp(rw, work, &temp.dentry);
            return Err(e);
        }
    }
    let placed = WriteAccess::get(rw.root.mnt(), &rw.root).and_then(|_w| finish(rw, work, upper_dir, &name, &temp, parent_times));
    // From here on `tmp` is the copy in place, or the one that did not
    // make it (an unnamed one goes with its file).
    let (placed, tmp, change) = match placed {
        Ok((d, change)) => (Ok(()), d, change),
        Err(e) => (Err(e), temp.dentry.clone(), None),
    };
    drop(temp);
    // Append-only and immutable go on once the copy is in place (a file
    // with them cannot be renamed). `make_temp` made sure the branch takes
    // them; if setting them fails now, the copy stays (it is complete) and
    // the operation fails, with a message.
    // Directories keep neither here: a file below an immutable directory may
    // still be written, and its copy-up must be able to create its copy in
    // the directory's (documented in rfs.rst, known limitations).
    let protect = if src.dentry.is_dir() { 0 } else { src_flags & lower::flags::PROTECT };
    // The pseudo-link first: a file with those flags cannot be linked.
    if placed.is_ok() {
        if let (Some(l), Some(plnk)) = (linked, w.plnk.as_ref()) {
            // Best effort: without it the other names keep the old data.
            match crate::plink::record(rw, plnk, l, &tmp) {
                Ok(()) => sbi.bump_plink_epoch(),
                Err(e) => pr_warn!("rfs: cannot record a pseudo-link ({:?})\n", e),
            }
        }
    }
    let placed = placed.and_then(|()| {
        if protect == 0 {
            return Ok(());
        }
        let _w = WriteAccess::get(rw.root.mnt(), &rw.root)?;
        lower::flags::set(rw.root.mnt(), &tmp, protect, lower::flags::PROTECT).inspect_err(|_| {
            pr_warn!("rfs: a copy-up could not make its copy append-only/immutable like the original\n");
            // The copy must not stay without them: it goes again (the
            // union keeps showing the lower file).
            if let Ok(g) = DirGuard::lock(rw.root.mnt(), upper_dir) {
                if tmp.parent().same(upper_dir) && !tmp.is_unhashed() {
                    let _ = g.unlink(&tmp);
                }
            }
        })
    });
    // Only this name changed in the parent: its other names stay valid.
    // The VFS does not lock the parent for a copy-up, so a lookup of the
    // same name may have made a second dentry meanwhile, resolved before
    // the copy was in place; that can only happen if `d` was unhashed
    // (one hashed dentry per name), and then the change is not recorded:
    // the second dentry is resolved again at its next walk.
    let record = || {
        if let Some(c) = change.filter(|_| !d.is_unhashed()) {
            pui.data().record_own(c);
        }
    };
    match placed {
        Ok(()) if below_top.is_some() => {
            // A directory made under its top: the union keeps its
            // attributes from the top.
            ui.data().insert_lower(Lower { branch: rw.clone(), dentry: tmp }, below_top.unwrap_or(0))?;
            record();
            Ok(())
        }
        Ok(()) => {
            if let Some(inode) = tmp.inode() {
                ui.refresh_attr(inode);
            }
            if let Some(i) = tmp.inode() {
                // The copy gives the union inode its data from now on.
                crate::vfs::inode::cache_rekey(ui.vfs(), i);
            }
            if promote_dir {
                ui.data().promote_dir(Lower { branch: rw.clone(), dentry: tmp })?;
            } else if promote {
                let old = ui_view.upper().and_then(|u| Some((u.branch.id, u.dentry.inode()?.ino())));
                ui.data().promote(Lower { branch: rw.clone(), dentry: tmp })?;
                // The hidden original is another object now: should it show
                // again (its whiteout removed directly), it gets a number of
                // its own.
                if let Some((id, ino)) = old {
                    sbi.forget_ino(id, ino);
                }
            } else {
                ui.data().set_upper(Lower { branch: rw.clone(), dentry: tmp })?;
            }
            record();
            let stats = &sbi.stats;
            Stats::add(&stats.copyups, 1);
            if !src.dentry.is_dir() {
                let bytes = src.dentry.inode().map_or(0, |i| i.size());
                Stats::add(&stats.copyup_bytes, u64::try_from(bytes).unwrap_or(0));
            }
            Ok(())
        }
        Err(e) => {
            remove_temp(rw, work, &tmp);
            // Only once the copy is gone: one left in place (its removal
            // failed too) keeps the number a lookup may have given its name.
            if let Some(ino) = tmp_ino.filter(|_| tmp.inode().is_none_or(|i| i.nlink() == 0)) {
                sbi.forget_ino(rw.id, ino);
            }
            Err(e)
        }
    }
}

/// Gives the union object `ui` (name `name` in `upper_dir`) its upper by
/// linking the pseudo-link `p` of its lower file there.
fn link_up(sbi: &SbInfo, rw: &Arc<Branch>, ui: &UnionInode, upper_dir: &Dentry, name: &[u8], p: &Dentry) -> Result {
    let mnt = rw.root.mnt();
    let parent_times = upper_dir.inode().ok_or(ENOENT)?.times();
    let new = {
        let _w = WriteAccess::get(mnt, &rw.root)?;
        let new = {
            let g = DirGuard::lock(mnt, upper_dir)?;
            let t = g.lookup(name)?;
            if t.inode().is_some() {
                return Err(EEXIST);
            }
            g.link(p, &t)?;
            t
        };
        // Best effort, as for a copy: the parent keeps its times.
        let _ = Attr::new().set_times(parent_times).apply(mnt, upper_dir);
        new
    };
    if let Some(inode) = new.inode() {
        ui.refresh_attr(inode);
        ui.set_nlink(inode.nlink());
        sbi.alias_ino(rw.id, inode.ino(), ui.vfs().ino())?;
        crate::vfs::inode::cache_rekey(ui.vfs(), inode);
    }
    ui.data().set_upper(Lower { branch: rw.clone(), dentry: new })?;
    Stats::add(&sbi.stats.copyups, 1);
    Ok(())
}

/// A new, unique name in the work directory: `#rfs.SI.N`, the mount's `si`
/// id and a counter (hex), so mounts sharing the directory (workdir.rs)
/// never pick the same one.
pub(crate) fn temp_name(sbi: &SbInfo) -> Result<KVec<u8>> {
    let n = sbi.tmp_seq.fetch_add(1, Ordering::Relaxed);
    let mut v = crate::logic::vec::Vec::new();
    crate::super_::push_hex(&mut v, sbi.si)?;
    v.push(b'.', GFP_KERNEL)?;
    crate::super_::push_hex(&mut v, n)?;
    let mut name = KVec::new();
    name.extend_from_slice(b"#rfs.", GFP_KERNEL)?;
    name.extend_from_slice(&v, GFP_KERNEL)?;
    Ok(name)
}

/// The inode flags (chattr) of a regular file or directory `src`; 0 when
/// its filesystem has none.
fn inode_flags(src: &Lower) -> Result<u32> {
    let m = src.dentry.inode().ok_or(ENOENT)?.mode() & mode::S_IFMT;
    if m != mode::S_IFREG && m != mode::S_IFDIR {
        return Ok(0);
    }
    match lower::flags::get(&src.dentry) {
        Ok(f) => Ok(f),
        Err(e) if lower::flags::unsupported(e) => Ok(0),
        Err(e) => Err(e),
    }
}

/// A copy being made in the work directory: under a temporary name, or,
/// for a regular file on a filesystem that has them, as an unnamed file
/// (O_TMPFILE) held open by `file` until it is linked into place.
struct Temp {
    dentry: Dentry,
    file: Option<File>,
}

/// Builds the copy of `src` in the work directory: the object with its data
/// and attributes, unnamed (a regular file, as ovl_copy_up_tmpfile) or
/// under a temporary name. `flags`: the inode flags of `src` (the copy gets
/// those of `lower::flags::COPY`).
///
/// An unnamed copy takes no lock of the work directory and, put in place
/// by a link instead of a rename, none of the branch's rename lock either:
/// copy-ups of different files run side by side. A crash leaves nothing of
/// it behind (the branch filesystem drops unlinked files).
fn make_temp(sbi: &SbInfo, rw: &Branch, work: &Dentry, src: &Lower, flags: u32, cu_creds: Option<&Cred>) -> Result<Temp> {
    let mnt = rw.root.mnt();
    let src_inode = src.dentry.inode().ok_or(ENOENT)?;
    let imode = src_inode.mode();
    if imode & mode::S_IFMT == mode::S_IFREG && !rw.no_tmpfile.load(Ordering::Relaxed) {
        let made = {
            let _cu = cu_creds.map(|c| c.override_creds());
            let _w = WriteAccess::get(mnt, &rw.root)?;
            File::open_tmpfile(&path::at(mnt, work), mode::S_IFREG | 0o600, sys::O_WRONLY | sys::O_LARGEFILE, &sbi.cred)
        };
        match made {
            Ok(out) => {
                let tmp = out.dentry().ok_or(EIO)?;
                fill(sbi, rw, src, &tmp, Some(&out), flags)?;
                return Ok(Temp { dentry: tmp, file: Some(out) });
            }
            // The filesystem has no unnamed files: named ones from now on.
            Err(e) if e == code::eopnotsupp() => rw.no_tmpfile.store(true, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    let name = temp_name(sbi)?;
    let tmp = {
        let _cu = cu_creds.map(|c| c.override_creds());
        let _w = WriteAccess::get(mnt, &rw.root)?;
        let g = DirGuard::lock(mnt, work)?;
        let t = g.lookup(&name)?;
        if t.inode().is_some() {
            return Err(EEXIST);
        }
        match imode & mode::S_IFMT {
            mode::S_IFREG => {
                g.create(&t, 0o600)?;
                t
            }
            mode::S_IFDIR => g.mkdir(t, &name, 0o700)?,
            mode::S_IFLNK => {
                let target = lower::read_link(&src.dentry)?;
                g.symlink(&t, &target)?;
                t
            }
            _ => {
                g.mknod(&t, imode, crate::vfs::inode::rdev(src_inode))?;
                t
            }
        }
    };
    match fill(sbi, rw, src, &tmp, None, flags) {
        Ok(()) => Ok(Temp { dentry: tmp, file: None }),
        Err(e) => {
            remove_temp(rw, work, &tmp);
            Err(e)
        }
    }
}

/// Gives the new object `tmp` the data (a regular file, through `out` if
/// it is open already), attributes and inode flags of `src`.
fn fill(sbi: &SbInfo, rw: &Branch, src: &Lower, tmp: &Dentry, out: Option<&File>, flags: u32) -> Result {
    let mnt = rw.root.mnt();
    let src_inode = src.dentry.inode().ok_or(ENOENT)?;
    // An empty file has no data to copy (`copy_data`): a named one is not
    // even opened.
    if src_inode.mode() & mode::S_IFMT == mode::S_IFREG && src_inode.size() > 0 {
        let opened;
        let out = match out {
            Some(f) => f,
            None => {
                opened = File::open(&path::at(mnt, tmp), sys::O_WRONLY | sys::O_LARGEFILE, &sbi.cred)?;
                &opened
            }
        };
        copy_data(sbi, rw, src, out, src_inode.size())?;
    }
    let _w = WriteAccess::get(mnt, &rw.root)?;
    copy_attrs(src, mnt, tmp, src_inode)?;
    copy_flags(mnt, tmp, flags)
}

/// Copies `size` bytes of `src`'s data into the new file `out`: a reflink
/// when both live on one filesystem that can share extents, else the data
/// ranges only (holes stay holes), a chunk at a time; then syncs them. An
/// empty file has nothing to sync (overlayfs skips it too).
fn copy_data(sbi: &SbInfo, rw: &Branch, src: &Lower, out: &File, size: i64) -> Result {
    if size <= 0 {
        return Ok(());
    }
    let inp = File::open_lower(&src.path(), sys::O_RDONLY | sys::O_LARGEFILE, &sbi.cred)?;
    let cloned = inp.clone_to(out).ok() == Some(size);
    if !cloned {
        copy_ranges(&inp, out, size)?;
    }
    // The size also covers a trailing hole and a shortened copy; a copy
    // that already has it needs no attribute change (one journal update
    // less per copy-up).
    let copy = out.dentry().ok_or(EIO)?;
    if copy.inode().map(|i| i.size()) != Some(size) {
        let _w = WriteAccess::get(rw.root.mnt(), &rw.root)?;
        Attr::new().set_size(size).apply(rw.root.mnt(), &copy)?;
    }
    out.fsync(0, i64::MAX, false)
}

fn copy_ranges(inp: &File, out: &File, size: i64) -> Result {
    let mut pos = 0i64;
    while pos < size {
        let data = match inp.seek_private(pos, sys::SEEK_DATA) {
            Ok(p) => p,
            // Nothing but a hole up to EOF.
            Err(e) if e == ENXIO => break,
            // No SEEK_DATA support: everything is data.
            Err(_) => pos,
        };
        if data >= size {
            break;
        }
        let hole = inp.seek_private(data, sys::SEEK_HOLE).unwrap_or(size).min(size);
        let (mut pin, mut pout) = (data, data);
        while pin < hole {
            if task::fatal_signal_pending() {
                return Err(EINTR);
            }
            let len = usize::try_from(hole - pin).unwrap_or(CHUNK).min(CHUNK);
            let n = inp.splice_to(&mut pin, out, &mut pout, len)?;
            if n == 0 {
                // The file shrank under us: the size set afterwards wins.
                return Ok(());
            }
            task::cond_resched();
        }
        pos = hole.max(pos + 1);
    }
    Ok(())
}

/// Copies xattrs, owner, mode and times of `src` (whose inode is `si`) to
/// the new object `dst` on branch mount `mnt`.
fn copy_attrs(src: &Lower, mnt: Mount<'_>, dst: &Dentry, si: InodeRef<'_>) -> Result {
    copy_xattrs(src, mnt, dst)?;
    let is_link = si.mode() & mode::S_IFMT == mode::S_IFLNK;
    if !is_link {
        for (kind, _) in lower::acl::KINDS {
            if kind == lower::acl::ACL_TYPE_DEFAULT && !si.is_dir() {
                continue;
            }
            match lower::acl::copy(src.branch.root.mnt(), &src.dentry, mnt, dst, kind) {
                Err(e) if e == code::eopnotsupp() => {}
                r => r?,
            }
        }
    }
    Attr::new().like(si, sys::ATTR_UID | sys::ATTR_GID).apply(mnt, dst)?;
    if !is_link {
        // After chown, which may clear setuid/setgid.
        Attr::new().like(si, sys::ATTR_MODE).apply(mnt, dst)?;
    }
    Attr::new().like(si, sys::ATTR_ATIME | sys::ATTR_MTIME).apply(mnt, dst)
}

/// Gives the new object `dst` the inode flags of `flags` that a copy keeps
/// (sync, noatime; skipped when the writable branch has no inode flags, as
/// overlayfs does), and makes sure that the append-only and immutable flags,
/// set once the copy is in place, can be: if the branch cannot keep them,
/// the copy-up fails (EPERM) rather than lose the protection.
fn copy_flags(mnt: Mount<'_>, dst: &Dentry, flags: u32) -> Result {
    let protect = if dst.is_dir() { 0 } else { flags & lower::flags::PROTECT };
    let copy = flags & lower::flags::COPY;
    if copy == 0 && protect == 0 {
        return Ok(());
    }
    match lower::flags::get(dst) {
        Ok(_) => {}
        Err(e) if lower::flags::unsupported(e) => {
            if protect != 0 {
                pr_warn!("rfs: the writable branch cannot keep append-only/immutable flags: copy-up refused\n");
                return Err(EPERM);
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    if copy != 0 {
        // Best effort: a branch may take some flags and not others (tmpfs
        // has no sync flag).
        match lower::flags::set(mnt, dst, copy, lower::flags::COPY) {
            Err(e) if lower::flags::unsupported(e) => {}
            r => r?,
        }
    }
    Ok(())
}

/// Copies the xattrs of `src` to `dst` (POSIX ACLs go through the ACL API,
/// in `copy_attrs`); namespaces the writable branch does not support are
/// skipped, except `user.`, whose loss would be visible.
fn copy_xattrs(src: &Lower, mnt: Mount<'_>, dst: &Dentry) -> Result {
    let names = match lower::xattr::list(&src.dentry) {
        Ok(n) => n,
        Err(e) if e == code::eopnotsupp() => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut rest: &[u8] = &names;
    while let Some(end) = rest.iter().position(|&c| c == 0) {
        let name = rest.get(..=end).ok_or(EIO)?;
        rest = rest.get(end + 1..).unwrap_or(&[]);
        if name.len() <= 1 || name.starts_with(b"system.posix_acl_") {
            continue;
        }
        if !lower::xattr::copy_up_allowed(&src.dentry, name)? {
            continue;
        }
        let value = match lower::xattr::get(src.branch.root.mnt(), &src.dentry, name) {
            Ok(v) => v,
            Err(e) if e == code::enodata() || e == code::eopnotsupp() => continue,
            Err(e) => return Err(e),
        };
        // A security label (SELinux, Smack, IMA, EVM, file capabilities)
        // must not be lost: the copy-up fails if the writable branch
        // refuses it (ovl_must_copy_xattr). Others it refuses are left out.
        let must = name.starts_with(b"user.") || name.starts_with(b"security.");
        match lower::xattr::set(mnt, dst, name, &value, 0) {
            Ok(()) => {}
            Err(e) if (e == code::eopnotsupp() || e == EPERM) && !must => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Puts the finished copy in place as `name` in `upper_dir`: links an
/// unnamed one there, renames a named one. Then gives `upper_dir` back the
/// times it had (`times`: a copy-up does not change what the union shows
/// for the parent; best effort). Returns the copy's dentry there and the
/// change to `upper_dir`, read under its lock (namei.rs `OwnChanges`).
fn finish(
    rw: &Branch,
    work: &Dentry,
    upper_dir: &Dentry,
    name: &[u8],
    tmp: &Temp,
    times: (sys::timespec64, sys::timespec64),
) -> Result<(Dentry, Option<OwnChange>)> {
    let mnt = rw.root.mnt();
    if tmp.file.is_none() {
        // The temporary moved away (EINVAL) is the work directory changed
        // behind rfs's back.
        let mut g = RenameGuard::start(mnt, work, Source::Dentry(&tmp.dentry), upper_dir, name)
            .map_err(|e| if e == EINVAL { EIO } else { e })?;
        let change = OwnChange::begin(upper_dir);
        placeable(&g.target()?, |wh| Ok(g.lookup_new(wh)?.probed()), name)?;
        g.rename(0)?;
        let _ = Attr::new().set_times(times).apply_locked(&g.new());
        return Ok((tmp.dentry.clone(), change.and_then(|c| c.end(upper_dir))));
    }
    let g = DirGuard::lock(mnt, upper_dir)?;
    let change = OwnChange::begin(upper_dir);
    let target = g.lookup(name)?;
    placeable(&target, |wh| Ok(g.lookup(wh)?.probed()), name)?;
    g.link(&tmp.dentry, &target)?;
    let placed = if target.inode().is_some() && !target.is_unhashed() {
        target
    } else {
        // A filesystem that leaves the new name's dentry negative: that
        // dentry leaves the dcache, and the name is looked up again.
        let _ = target.probed();
        let again = g.lookup(name)?;
        if again.inode().is_none() {
            return Err(EIO);
        }
        again
    };
    let _ = Attr::new().set_times(times).apply_locked(&g);
    Ok((placed, change.and_then(|c| c.end(upper_dir))))
}

/// Whether a copy may take `name`, whose dentry looked up under the
/// directory lock is `target`; `probe` looks a name up there and tells
/// whether it exists.
fn placeable(target: &Dentry, probe: impl FnOnce(&[u8]) -> Result<bool>, name: &[u8]) -> Result {
    if target.inode().is_some() {
        // Created directly in the branch meanwhile (udba): keep it, and let
        // the caller walk the path again (see `copy_up_one`).
        return Err(code::estale());
    }
    // Removed meanwhile: an unlink that ran before this copy-up took the
    // object's lock left `.wh.NAME` here. The copy must not bring the name
    // back (the unlink has succeeded); the caller walks the path again. A
    // name too long for a `.wh.` prefix has no whiteout.
    if let Ok(wh) = wh_name(name) {
        if probe(&wh)? {
            return Err(code::estale());
        }
    }
    Ok(())
}

/// `.wh.NAME`, or `None` for a name too long to have a whiteout.
fn wh_name(name: &[u8]) -> Result<crate::logic::vec::Vec<u8>> {
    let mut wh = crate::logic::vec::Vec::new();
    whiteout::whiteout_name(name, &mut wh).map_err(|_| code::enametoolong())?;
    Ok(wh)
}

/// Whether the upper directory `dir` has a whiteout for `name`.
fn whited_out(dir: &Dentry, name: &[u8]) -> Result<bool> {
    match wh_name(name) {
        Ok(wh) => dir.probe_child(&wh),
        Err(_) => Ok(false),
    }
}

/// Removes a temporary that did not make it into place.
fn remove_temp(rw: &Branch, work: &Dentry, tmp: &Dentry) {
    let Ok(_w) = WriteAccess::get(rw.root.mnt(), &rw.root) else { return };
    if let Ok(g) = DirGuard::lock(rw.root.mnt(), work) {
        // Only if it is still ours, in the work directory.
        if tmp.inode().is_some() && !tmp.is_unhashed() && tmp.parent().same(work) {
            if tmp.is_dir() {
                drop(g);
                clean_dir(rw, tmp, 0, false);
                if let Ok(g) = DirGuard::lock(rw.root.mnt(), work) {
                    let _ = g.rmdir(tmp);
                }
            } else {
                let _ = g.unlink(tmp);
            }
        }
    }
}

/// Whether `name` exists (or would, without the branches above) in a
/// branch below branch `index` of `tab`, in the directory `dir`: deciding
/// whether removing or renaming it in that branch needs a whiteout there.
pub(crate) fn exists_below(sbi: &SbInfo, tab: &Tab, dir: &UnionInode, name: &[u8], index: usize) -> Result<bool> {
    let _creds = sbi.cred.override_creds();
    let view = dir.data().view();
    for l in view.members() {
        if index_in(tab, l)? <= index {
            continue;
        }
        let child = match l.dentry.lookup_child(name) {
            Ok(c) => c,
            Err(e) if e == ENOENT => continue,
            Err(e) => return Err(e),
        };
        if child.inode().is_some() {
            return Ok(true);
        }
        if l.branch.honors_whiteouts() {
            let mut wh = crate::logic::vec::Vec::new();
            if whiteout::whiteout_name(name, &mut wh).is_ok() {
                let w = l.dentry.lookup_child(&wh)?;
                if w.inode().is_some() {
                    return Ok(false);
                }
            }
            if crate::namei::is_opaque(&l.branch, &l.dentry)? {
                return Ok(false);
            }
        }
    }
    Ok(false)
}

/// Whether a name made (by rename or link) in branch `index` of the union
/// directory `dir` would show in the union: the directory has a member
/// there, or can get one (`can_make_in`) where the union still shows it
/// (`reach_of`), and no member above `index` has the name (a replaced
/// object there would stay on top), a whiteout of it, or an opaque marker.
pub(crate) fn shows_from(sbi: &SbInfo, tab: &Tab, dir: &Dentry, name: &[u8], index: usize) -> Result<bool> {
    let pui = union_inode_of(dir).ok_or(ENOENT)?;
    let pview = pui.data().view();
    if !pview.members().any(|l| tab.index_of(&l.branch) == Some(index)) {
        if !can_make_in(tab, dir, index)? {
            return Ok(false);
        }
        let _creds = sbi.cred.override_creds();
        if index > reach_of(tab, dir)? {
            return Ok(false);
        }
    }
    let _creds = sbi.cred.override_creds();
    for l in pview.members() {
        if index_in(tab, l)? >= index {
            break;
        }
        let child = match l.dentry.lookup_child(name) {
            Ok(c) => c,
            Err(e) if e == ENOENT => continue,
            Err(e) => return Err(e),
        };
        if child.inode().is_some() {
            // Only a replaced object can be there (the name is negative
            // in the union otherwise), and it would stay on top.
            return Ok(false);
        }
        if l.branch.honors_whiteouts() && (whited_out(&l.dentry, name)? || crate::namei::is_opaque(&l.branch, &l.dentry)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Where a rename or link that would happen in branch `index` goes when its
/// new name `name` in the union directory `dir` would not show from there:
/// the nearest writable branch above it where the name does show (the
/// object is then copied up there first: [`promote`]); None when there is
/// none (EXDEV).
pub(crate) fn shown_above(sbi: &SbInfo, tab: &Tab, dir: &Dentry, name: &[u8], index: usize) -> Result<Option<usize>> {
    for i in (0..index).rev() {
        if tab.branch(i).is_some_and(|b| b.perm.is_writable()) && shows_from(sbi, tab, dir, name, i)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The index in `tab` of the upper of `view` (its top member in a
/// writable branch), if it has one.
pub(crate) fn upper_index(tab: &Tab, view: &View<'_>) -> Option<usize> {
    view.upper().and_then(|u| tab.index_of(&u.branch))
}
