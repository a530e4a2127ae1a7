//! The union superblock: building it from the mount options (fill_super),
//! its per-mount state ([`SbInfo`]), statfs, /proc/mounts and remount.

use crate::branch::{self, Branch, MAX_STACK_DEPTH};
use crate::inode::{InodeInfo, LiveStack, Lower, Members};
use crate::vfs::notify::{Group, Watch};
use crate::logic::branch::{ApplyError, BranchTable};
use crate::logic::inomap::ROOT_INO;
use crate::logic::options::{self, BranchSpec, MountOption, Udba};
use crate::logic::vec::{Vec as LVec, VecExt};
use crate::options::MountConfig;
use crate::sysfs::{SiView, Stats};
use crate::vfs::cred::Cred;
use crate::vfs::dentry::Dentry;
use crate::union::{SuperBlock, SuperSetup};
use crate::vfs::fs::{FcLog, SuperParams};
use crate::vfs::inode::Kind;
use crate::vfs::path::Path;
use crate::vfs::seq::SeqFile;
use crate::vfs::sys;
use crate::vfs::sysfs::SysfsDir;
use crate::workdir::WorkClaim;
use crate::xino::{self, Inos};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex, SpinLock};
use kernel::{new_mutex, new_spinlock, try_pin_init};

/// `f_type` of statfs on a union ("rfs!").
pub(crate) const RFS_SUPER_MAGIC: u64 = 0x7266_7321;

/// Source of the `si` ids (per module load).
static NEXT_SI: AtomicU64 = AtomicU64::new(1);

/// A writable branch's private directories, made at mount (or by the
/// remount that made the branch writable): its work directory (copyup.rs)
/// and its pseudo-link directory (plink.rs).
pub(crate) struct Wbr {
    /// The branch's id.
    pub(crate) id: u32,
    /// `.wh..wh.orph` at its top.
    pub(crate) work: Dentry,
    /// `.wh..wh.plnk` at its top.
    pub(crate) plnk: Dentry,
}

/// One version of the branch stack. A remount builds a new `Tab` and
/// publishes it whole (see [`SbInfo`]); a `Tab` never changes.
pub(crate) struct Tab {
    /// Bumped by every remount that changes the branches; union dentries
    /// remember it (namei.rs) so that they are checked again after one.
    pub(crate) gen: u64,
    /// The branches, top (index 0) first, with their stable ids.
    pub(crate) table: BranchTable<Arc<Branch>>,
    /// Every writable branch's private directories, top first.
    pub(crate) wbr: KVVec<Wbr>,
}

impl Tab {
    /// The branches, top first.
    pub(crate) fn branches(&self) -> impl ExactSizeIterator<Item = &Arc<Branch>> + '_ {
        self.table.as_slice().iter().map(|b| &b.data)
    }

    /// The branch at `index` (0 is the top).
    pub(crate) fn branch(&self, index: usize) -> Option<&Arc<Branch>> {
        self.table.get(index).map(|b| &b.data)
    }

    /// The index of the branch `b` in this stack, if it is in it (the same
    /// version of it: a remount that changes a branch's permission makes a
    /// new one).
    pub(crate) fn index_of(&self, b: &Branch) -> Option<usize> {
        self.table.index_of_id(b.id).filter(|&i| self.branch(i).is_some_and(|x| core::ptr::eq(&**x, b)))
    }

    /// The top-most writable branch, if any.
    pub(crate) fn rw(&self) -> Option<&Arc<Branch>> {
        self.branches().find(|b| b.perm.is_writable())
    }

    /// The private directories of the writable branch with id `id`.
    pub(crate) fn wbr(&self, id: u32) -> Option<&Wbr> {
        self.wbr.iter().find(|w| w.id == id)
    }

    /// The members of the root directory in this stack: every branch root,
    /// down to the first opaque one. Runs with the mounter's credentials.
    fn root_members(&self) -> Result<Members> {
        let mut upper = None;
        let mut lowers = KVVec::with_capacity(self.table.len(), GFP_KERNEL)?;
        for (i, b) in self.branches().enumerate() {
            let member = Lower { branch: b.clone(), dentry: b.root.dentry().clone() };
            if i == 0 && b.perm.is_writable() {
                upper = Some(member);
            } else {
                lowers.push(member, GFP_KERNEL)?;
            }
            if crate::namei::is_opaque(b, b.root.dentry())? {
                break;
            }
        }
        Members::new(upper, lowers)
    }
}

/// The private directories of every writable branch among `branches`:
/// those `old` has are kept, the others are made (with this mount's claim
/// on the work directory, which cleans what an earlier mount left there).
/// The caller runs with the mounter's credentials.
fn prepare_wbrs<'a>(
    branches: impl Iterator<Item = &'a Arc<Branch>>,
    old: Option<&Tab>,
    log: &FcLog,
) -> Result<(KVVec<Wbr>, KVVec<(u32, WorkClaim)>)> {
    let mut wbr = KVVec::new();
    let mut claims = KVVec::new();
    for b in branches.filter(|b| b.perm.is_writable()) {
        if let Some(w) = old.and_then(|o| o.wbr(b.id)) {
            wbr.push(Wbr { id: w.id, work: w.work.clone(), plnk: w.plnk.clone() }, GFP_KERNEL)?;
            continue;
        }
        let (work, claim) = crate::copyup::prepare_workdir(b, log)?;
        let plnk = crate::plink::prepare_dir(b, log)?;
        wbr.push(Wbr { id: b.id, work, plnk }, GFP_KERNEL)?;
        claims.push((b.id, claim), GFP_KERNEL)?;
    }
    Ok((wbr, claims))
}

/// The mount's policies (logic/policy.rs) and what they remember.
pub(crate) struct Policies {
    /// `create=`.
    pub(crate) create: crate::logic::policy::Create,
    /// `cpup=`.
    pub(crate) cpup: crate::logic::policy::Copyup,
    /// The creation policy's memory.
    pub(crate) state: PolicyState,
}

/// What a creation policy remembers between creations.
#[derive(Default)]
pub(crate) struct PolicyState {
    /// The round-robin turn.
    pub(crate) rr: crate::logic::policy::CreateState,
    /// The free space of the writable branches (branch id, bytes), as
    /// measured at `measured` (seconds since boot); empty until the first
    /// measurement.
    pub(crate) free: KVec<(u32, u64)>,
    /// When `free` was measured.
    pub(crate) measured: u64,
}

/// Per-mount state, owned by the superblock (`s_fs_info`).
///
/// Locking and lifetimes:
/// - `tab` is the current branch stack. It is replaced only by a remount
///   (which the VFS serialises with `s_umount`), never changed in place:
///   the spinlock is held just to copy or swap the `Arc`, and a reader keeps
///   the version it took for the rest of its operation. The root inode's
///   members are swapped the same way ([`LiveStack`]), *before* `tab`, so a
///   lookup that sees the new generation also sees the new root.
/// - `gen` mirrors `tab.gen` for the revalidation fast path; it is stored
///   after `tab` is published, so it is never newer than `tab`.
/// - `inos` (the inode-number map) is a mutex: it may allocate and write
///   the xino file. Never taken with a branch's write access held. Shared
///   with sysfs (`xino` writes what waits before it shows the figures).
/// - `copyup` serialises copy-ups of hard-linked lower files (see
///   `copyup.rs` and inode.rs `lock_copyup` for the lock order).
/// - `work_claims` are this mount's counts on the work directories of its
///   writable branches (workdir.rs); changed only under `s_umount` (remount), dropped with
///   the superblock, like `_xino_claim` (the branch of the default xino
///   file, which the mount writes for its whole life).
/// - `sysfs` is held while the `si_<id>/` directory is replaced.
#[pin_data]
pub(crate) struct SbInfo {
    #[pin]
    tab: SpinLock<Arc<Tab>>,
    gen: AtomicU64,
    /// The root directory's members.
    root: Arc<LiveStack>,
    /// The mounter's credentials: every operation on a branch runs with them.
    pub(crate) cred: Cred,
    /// How direct changes to branches are noticed ([`Udba::to_u8`]): a
    /// remount may switch between `reval` and `none`, not to or from
    /// `notify` (whose marks exist only in a mount made with it).
    udba: AtomicU8,
    /// `nodio`: O_DIRECT opens and I/O are refused (EINVAL), as AUFS
    /// does without `dio`. Changeable by remount.
    pub(crate) nodio: AtomicBool,
    /// `sum`: statfs adds up the branches' filesystems (AUFS's meaning).
    /// Changeable by remount.
    pub(crate) sum: AtomicBool,
    /// `create=` and `cpup=`, with what the creation policy remembers
    /// (copyup.rs). Changeable by remount.
    #[pin]
    pub(crate) policy: Mutex<Policies>,
    /// (branch id, lower inode number) -> union inode number, and the xino
    /// file it is logged to.
    pub(crate) inos: Arc<Inos>,
    /// The xino file's path (sysfs `xi_path`), if the map has a file.
    pub(crate) xi_path: Option<KVec<u8>>,
    /// Whether /proc/mounts shows `xino=PATH`, `noxino` or nothing (default).
    xino_shown: xino::Where<'static>,
    /// The id of `/sys/fs/rfs/si_<id>` and of `si=` in /proc/mounts.
    pub(crate) si: u64,
    /// A bit lock (`inode::bit_lock_killable`), held while a hard-linked
    /// lower file is copied up: only the first copy of it may be made
    /// (plink.rs), and names looked up before the copy's pseudo-link
    /// existed may be other union inodes. Killable, like the per-inode
    /// copy-up locks; other copy-ups hold only their inode's lock, so they
    /// run in parallel (inode.rs `lock_copyup`).
    pub(crate) copyup: core::sync::atomic::AtomicUsize,
    /// The hash seed of this mount's directory merges (readdir.rs): random,
    /// so nobody can choose names that collide and make every listing and
    /// emptiness check slow.
    pub(crate) merge_seed: u64,
    /// Source of temporary names in the work directory.
    pub(crate) tmp_seq: AtomicU64,
    /// This mount's claims on the work directories of its writable
    /// branches (branch id, claim).
    #[pin]
    work_claims: Mutex<KVVec<(u32, WorkClaim)>>,
    /// A claim on the branch that holds the default xino file, for the
    /// whole mount (the file stays open there).
    _xino_claim: Option<WorkClaim>,
    /// `/sys/fs/rfs/si_<id>/`, removed when the superblock goes; a remount
    /// updates `si_view` and adds or removes its `brN`/`bridN` files.
    #[pin]
    sysfs: Mutex<SysfsDir<SiView>>,
    si_view: Arc<SiView>,
    /// The mount's counters (shown in sysfs).
    pub(crate) stats: Arc<Stats>,
    /// Bumped when a pseudo-link is created (plink.rs); part of every
    /// dentry stamp.
    plink_epoch: AtomicU64,
    /// `udba=notify`: the root's watch (vfs/notify.rs), marked again when a
    /// remount changes the root's members; cleared in `shutdown`.
    root_watch: Option<Watch>,
    /// `udba=notify`: the mount's fsnotify group. Last: it goes after the
    /// inodes and the root's watch let go of their marks.
    notify: Option<Group>,
}

impl SbInfo {
    /// The current branch stack.
    pub(crate) fn tab(&self) -> Arc<Tab> {
        self.tab.lock().clone()
    }

    /// How direct changes to branches are noticed.
    pub(crate) fn udba(&self) -> Udba {
        Udba::from_u8(self.udba.load(Ordering::Relaxed))
    }

    /// The root directory's members.
    pub(crate) fn root_stack(&self) -> &LiveStack {
        &self.root
    }

    /// `udba=notify`: the root's watch.
    pub(crate) fn root_watch(&self) -> Option<&Watch> {
        self.root_watch.as_ref()
    }

    /// `udba=notify`: a watch for a new union directory, or `None` in the
    /// other modes.
    pub(crate) fn new_watch(&self) -> Result<Option<Watch>> {
        self.notify.as_ref().map(Watch::new).transpose()
    }

    /// Marks the root's members in its watch again (after a remount).
    fn watch_root(&self) {
        if let Some(w) = &self.root_watch {
            w.clear();
            let m = self.root.get();
            for l in Iterator::chain(m.upper.iter(), m.lowers.iter()) {
                if let Some(i) = l.dentry.inode() {
                    w.add(i);
                }
            }
        }
    }

    /// The copy-up policy (`cpup=`; logic/policy.rs).
    pub(crate) fn copyup_policy(&self) -> crate::logic::policy::Copyup {
        self.policy.lock().cpup
    }

    /// The pseudo-link epoch (see `plink.rs`).
    pub(crate) fn plink_epoch(&self) -> u64 {
        self.plink_epoch.load(Ordering::Acquire)
    }

    /// A pseudo-link was created: cached names look up again.
    pub(crate) fn bump_plink_epoch(&self) {
        self.plink_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether another mount shares one of this one's writable branches
    /// (their work directories, workdir.rs).
    pub(crate) fn writable_branch_shared(&self) -> bool {
        let claims = self.work_claims.lock();
        claims.iter().any(|(_, c)| {
            // This mount's own claims: the branch's, and the default xino
            // file's if it is in the same branch.
            let own = 1 + u32::from(self._xino_claim.as_ref().is_some_and(|x| x.same_dir(c)));
            c.users() > own
        })
    }

    /// The current generation (see [`Tab::gen`]).
    pub(crate) fn gen(&self) -> u64 {
        self.gen.load(Ordering::Acquire)
    }

    /// The union inode number of a lower object: stable for the life of the
    /// mount, unique within it.
    pub(crate) fn ino_of(&self, branch_id: u32, lower_ino: u64) -> Result<u64> {
        let mut st = self.inos.state.lock();
        let ino = st.get_or_insert(branch_id, lower_ino, &self.cred)?;
        Ok(ino)
    }

    /// A fresh union inode number for an object just created through the
    /// union in branch `branch_id` (its branch inode number may be that of
    /// a deleted object, which must not lend it its number).
    pub(crate) fn new_ino(&self, branch_id: u32, lower_ino: u64) -> Result<u64> {
        let mut st = self.inos.state.lock();
        let ino = st.renumber(branch_id, lower_ino, &self.cred)?;
        Ok(ino)
    }

    /// Drops the number of a branch object whose last name the union just
    /// removed: the branch may reuse its inode number for something else.
    /// Must not be called with the branch's write access held.
    pub(crate) fn forget_ino(&self, branch_id: u32, lower_ino: u64) {
        let mut st = self.inos.state.lock();
        st.forget(branch_id, lower_ino, &self.cred);
    }

    /// Writes the xino records that wait (sync, umount).
    pub(crate) fn flush_xino(&self) {
        let mut st = self.inos.state.lock();
        st.flush(&self.cred);
    }

    /// The union is going (kill_sb): the last xino records are written if
    /// they can be; if not (the branch is frozen), the file is left behind
    /// the map and says so in the kernel log.
    pub(crate) fn shutdown(&self) {
        if let Some(w) = &self.root_watch {
            w.clear();
        }
        // The worker writes them (nothing is logged any more): it is the
        // only writer while the mount has a file.
        self.inos.flush_by_worker();
        let mut st = self.inos.state.lock();
        if st.unwritten() {
            pr_warn!("rfs: umount with the xino file's filesystem frozen: its last records are lost; some inode numbers change at the next mount\n");
        }
        // Nothing is written after this (a sysfs read or the flusher may
        // still come before the superblock's data goes, and the branch's
        // claim, `_xino_claim`, may then be another mount's).
        st.xino = None;
    }

    /// Makes `(branch_id, lower_ino)` share the union inode number `ino`
    /// (an object copied up keeps its number).
    pub(crate) fn alias_ino(&self, branch_id: u32, lower_ino: u64, ino: u64) -> Result {
        let mut st = self.inos.state.lock();
        st.alias(branch_id, lower_ino, ino, &self.cred)?;
        Ok(())
    }

    /// Makes `si_<id>/` show `tab`.
    fn publish_sysfs(&self, tab: &Tab) -> Result {
        let mut dir = self.sysfs.lock();
        let old_len = self.si_view.len();
        self.si_view.update(tab.branches())?;
        crate::sysfs::resize_si_dir(&mut dir, old_len, tab.table.len())
    }
}

/// The `BranchTable` of the branches opened for a new mount (their ids are
/// the table's, in order).
fn table_of(branches: KVec<Arc<Branch>>) -> Result<BranchTable<Arc<Branch>>> {
    let mut table = BranchTable::new();
    for b in branches {
        let (id, perm) = (b.id, b.perm);
        let got = {
            let name = bytes(&b.name)?;
            table.push(&name, perm, b).map_err(|e| crate::options::errno_of(e.errno))?
        };
        if got != id {
            return Err(EINVAL);
        }
    }
    Ok(table)
}

/// Builds a union superblock from the mount options.
pub(crate) fn fill_super(sb: &mut SuperSetup, cfg: &MountConfig, cred: Option<Cred>, log: &FcLog) -> Result {
    let cred = cred.ok_or(EINVAL)?;
    // dirs= and then any append:/prepend:/add:/del:/mod: given at mount.
    let specs = crate::logic::branch::mount_specs(cfg.branches.as_deref(), &cfg.branch_ops).map_err(|e| {
        log.error(e.msg, None);
        crate::options::errno_of(e.errno)
    })?;
    let branches = branch::open_branches(&specs, log)?;

    let mut maxbytes = 0i64;
    let mut depth = 0i32;
    let mut posix_acl = false;
    for b in branches.iter() {
        // The branch root pins its superblock.
        let (bytes, d, acl) = b.root.sb_limits();
        maxbytes = maxbytes.max(bytes);
        depth = depth.max(d);
        posix_acl |= acl;
    }
    let depth = depth + 1;
    if depth > MAX_STACK_DEPTH {
        log.error("maximum filesystem stacking depth exceeded", None);
        return Err(EINVAL);
    }
    sb.set_params(&SuperParams { magic: RFS_SUPER_MAGIC, maxbytes, stack_depth: depth, time_gran: 1, posix_acl });

    let si = NEXT_SI.fetch_add(1, Ordering::Relaxed);
    let at = match (&cfg.xino_path, cfg.noxino) {
        (_, true) => xino::Where::Memory,
        (Some(p), false) => xino::Where::Path(p),
        (None, false) => xino::Where::Default,
    };
    let xino_shown = match at {
        xino::Where::Default => xino::Where::Default,
        xino::Where::Path(_) => xino::Where::Path(b""),
        xino::Where::Memory => xino::Where::Memory,
    };
    let (wbr, claims) = {
        let _creds = cred.override_creds();
        prepare_wbrs(branches.iter(), None, log)?
    };
    // The default xino file goes to the top-most writable branch (AUFS's
    // default too), beside its work directory.
    let rw_top = branches.iter().find(|b| b.perm.is_writable());
    let top_claim = rw_top.and_then(|b| claims.iter().find(|(id, _)| *id == b.id)).map(|(_, c)| c);
    // A mount that shares its writable branch with a live one (workdir.rs)
    // must not write the same default xino file: its numbers stay in memory.
    let at = match (&at, top_claim) {
        (xino::Where::Default, Some(c)) if !c.is_first() => {
            pr_info!("rfs: the writable branch is in use by another mount: inode numbers of this one are kept in memory\n");
            xino::Where::Memory
        }
        _ => at,
    };
    // The default xino file stays open for the whole mount, even after a
    // remount makes its branch read-only or deletes it: a second claim
    // stands for it.
    let top_work = rw_top.and_then(|b| wbr.iter().find(|w| w.id == b.id)).map(|w| &w.work);
    let xino_claim = match (&at, top_work) {
        (xino::Where::Default, Some(work)) => Some(WorkClaim::take(work, || {})?),
        _ => None,
    };
    let (ino_state, xi_path) = {
        let _creds = cred.override_creds();
        xino::open(at, rw_top, cfg.trunc_xino, &cred, log)?
    };
    let udba = cfg.udba.unwrap_or(Udba::Reval);
    let tab = Tab { gen: 1, table: table_of(branches)?, wbr };
    let members = {
        let _creds = cred.override_creds();
        tab.root_members()?
    };
    let stats = Stats::new()?;
    let inos = Inos::new(ino_state, &cred)?;
    let view = SiView::new(tab.branches(), xi_path.as_deref(), stats.clone(), inos.clone())?;
    let sysfs = crate::sysfs::create_si_dir(si, view.clone())?;
    let tab = Arc::new(tab, GFP_KERNEL)?;
    let root_stack = LiveStack::new(members)?;
    let root_for_info = root_stack.clone();
    let notify = if udba == Udba::Notify { Some(Group::new()?) } else { None };
    let root_watch = notify.as_ref().map(Watch::new).transpose()?;
    let info = KBox::pin_init(
        try_pin_init!(SbInfo {
            tab <- new_spinlock!(tab, "rfs_branch_table"),
            gen: AtomicU64::new(1),
            root: root_for_info,
            cred,
            udba: AtomicU8::new(udba.to_u8()),
            nodio: AtomicBool::new(cfg.dio == Some(false)),
            sum: AtomicBool::new(cfg.sum == Some(true)),
            policy <- new_mutex!(Policies {
                create: cfg.create.unwrap_or_default(),
                cpup: cfg.cpup.unwrap_or_default(),
                state: PolicyState::default(),
            }),
            inos,
            xi_path,
            xino_shown,
            si,
            copyup: core::sync::atomic::AtomicUsize::new(0),
            merge_seed: crate::vfs::task::random_u64(),
            tmp_seq: AtomicU64::new(0),
            work_claims <- new_mutex!(claims),
            _xino_claim: xino_claim,
            sysfs <- new_mutex!(sysfs),
            si_view: view,
            stats,
            plink_epoch: AtomicU64::new(0),
            root_watch,
            notify,
        }),
        GFP_KERNEL,
    )?;
    sb.set_info(info);
    let info = sb.info().ok_or(EINVAL)?;
    info.watch_root();

    let tab = info.tab();
    let top = tab.branches().next().ok_or(EINVAL)?;
    let top_inode = top.root.dentry().inode().ok_or(EIO)?;
    let mut root = sb.new_inode()?;
    root.init(ROOT_INO, top_inode.mode(), Kind::Dir);
    root.copy_attr(top_inode);
    *root.data_mut() = InodeInfo::new_root(root_stack);
    sb.set_root(root)
}

/// Remount: generic flags, and branch operations.
///
/// The branch operations (`add:`/`ins:`, `append:`, `prepend:`, `del:`,
/// `mod:`, and a `dirs=` that differs from the current list, which applies
/// first) are applied in order to a copy of the table; if any fails nothing
/// changes. Then the new table is checked against the live mount (busy
/// branches, the union itself as a branch, stacking depth), the root's new
/// members and work directory are prepared, and everything is published at
/// once (see [`SbInfo`]). Cached dentries notice the new generation when
/// next used; unused ones are dropped at once when a branch went away or
/// changed permission, which releases the old branches.
pub(crate) fn reconfigure(sb: SuperBlock<'_>, cfg: &MountConfig, log: &FcLog) -> Result {
    let sbi = sb.info();
    // reval <-> none: every cached name is resolved again once (its stamp
    // is built another way). notify cannot be turned on or off: only a
    // mount made with it has marks on its directories.
    if let Some(u) = cfg.udba.filter(|&u| u != sbi.udba()) {
        if u == Udba::Notify || sbi.udba() == Udba::Notify {
            log.error("udba=notify cannot be turned on or off by remount (umount and mount again)", None);
            return Err(EINVAL);
        }
        sbi.udba.store(u.to_u8(), Ordering::Relaxed);
    }
    let old = sbi.tab();
    let mut ops: KVec<MountOption> = KVec::new();
    if let Some(specs) = cfg.branches.as_ref() {
        if !same_branches(&old, specs) {
            ops.push(MountOption::Branches(canon_specs(&old, specs)?), GFP_KERNEL)?;
        }
    }
    for op in cfg.branch_ops.iter() {
        ops.push(canon_op(&old, op)?, GFP_KERNEL)?;
    }
    if ops.is_empty() {
        return Ok(());
    }

    // A path that names no directory, or no branch, is a bad option here
    // (EINVAL, as for duplicates and nesting), not a missing file.
    let mut table = old
        .table
        .apply_ops(&ops, |id, spec| {
            // A long list of additions must not hog the CPU.
            crate::vfs::task::cond_resched();
            Branch::open(spec, id, log)
        })
        .map_err(|e| {
        let e = match e {
            ApplyError::Opt(o) => {
                log.error(o.msg, None);
                crate::options::errno_of(o.errno)
            }
            ApplyError::Make(e) => e,
        };
        if e == ENOENT { EINVAL } else { e }
    })?;
    // A branch opened by this remount has the permission `Branch::open`
    // chose (`rr` for a read-only filesystem given without one): the table
    // takes it. Otherwise `mod:` changed the permission in the table: give
    // such branches a new version with it.
    for i in 0..table.len() {
        if let Some(b) = table.get_mut(i) {
            if old.table.index_of_id(b.data.id).is_none() {
                b.perm = b.data.perm;
            } else if b.perm != b.data.perm {
                b.data = b.data.with_perm(b.perm)?;
            }
        }
    }
    check_new_branches(sb, &old, &table, log)?;

    // Busy branches. The guard clears the marks on every way out.
    let closing = Closing::mark(&old, &table, log)?;
    // The writable branches' private directories: kept for a branch that
    // stays writable, made (with a new claim) for one that becomes so.
    let (wbr, new_claims) = {
        let _creds = sbi.cred.override_creds();
        prepare_wbrs(table.as_slice().iter().map(|b| &b.data), Some(&old), log)?
    };
    let tab = Tab { gen: old.gen.wrapping_add(1), table, wbr };
    // Room for the claims after the change, taken before it is published.
    let mut kept_claims = KVVec::with_capacity(sbi.work_claims.lock().len() + new_claims.len(), GFP_KERNEL)?;
    let members = {
        let _creds = sbi.cred.override_creds();
        Arc::new(tab.root_members()?, GFP_KERNEL)?
    };
    let tab = Arc::new(tab, GFP_KERNEL)?;

    // Publish: the root's members, then the table, then the generation.
    let old_members = sbi.root.replace(members);
    sbi.watch_root();
    let old_tab = core::mem::replace(&mut *sbi.tab.lock(), tab.clone());
    sbi.gen.store(tab.gen, Ordering::Release);
    // A pseudo-link flush in progress walked the old branches (plink.rs).
    sbi.bump_plink_epoch();
    // After an RCU grace period: RCU-walk may still read the old members.
    drop(old_members);
    let shrink = closing.shrink_needed();
    closing.done();
    if let Err(e) = sbi.publish_sysfs(&tab) {
        pr_warn!("rfs: si_{:x}: cannot update sysfs ({:?})\n", sbi.si, e);
    }
    drop(old_tab);
    {
        // Claims of branches no longer writable go (s_umount is held: see
        // vfs/global.rs); the new ones join.
        let mut claims = sbi.work_claims.lock();
        let old_claims = core::mem::replace(&mut *claims, KVVec::new());
        for (id, c) in old_claims {
            if tab.wbr(id).is_some() {
                // Within the capacity taken above: no allocation.
                let _ = kept_claims.push((id, c), GFP_KERNEL);
            }
        }
        for c in new_claims {
            let _ = kept_claims.push(c, GFP_KERNEL);
        }
        *claims = kept_claims;
    }
    if shrink {
        sb.shrink_dcache();
    }
    Ok(())
}

/// The marks a remount puts on the branches it deletes or takes write
/// permission from (see `branch::OpenGuard`); cleared when dropped, except
/// on deleted branches once the remount succeeded.
struct Closing<'a> {
    deleted: KVec<&'a Arc<Branch>>,
    lost_write: KVec<&'a Arc<Branch>>,
    changed: bool,
    success: bool,
}

impl<'a> Closing<'a> {
    /// Marks the branches of `old` that `new` deletes or makes read-only;
    /// EBUSY if files that forbid it are open.
    fn mark(old: &'a Tab, new: &BranchTable<Arc<Branch>>, log: &FcLog) -> Result<Closing<'a>> {
        let mut c = Closing { deleted: KVec::new(), lost_write: KVec::new(), changed: false, success: false };
        for b in old.branches() {
            match new.index_of_id(b.id).and_then(|i| new.get(i)) {
                None => {
                    c.deleted.push(b, GFP_KERNEL)?;
                    c.changed = true;
                    if b.begin_closing(false) {
                        log.error("branch is busy: files are open in it", Some(&b.name));
                        return Err(EBUSY);
                    }
                }
                Some(n) => {
                    if n.perm != b.perm {
                        c.changed = true;
                    }
                    if b.perm.is_writable() && !n.perm.is_writable() {
                        c.lost_write.push(b, GFP_KERNEL)?;
                        if b.begin_closing(true) {
                            log.error("branch is busy: files are open for writing in it", Some(&b.name));
                            return Err(EBUSY);
                        }
                    }
                }
            }
        }
        Ok(c)
    }

    /// Whether a branch went away or changed permission.
    fn shrink_needed(&self) -> bool {
        self.changed
    }

    /// The remount is published.
    fn done(mut self) {
        self.success = true;
    }
}

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        if !self.success {
            for b in self.deleted.iter() {
                b.end_closing();
            }
        }
        for b in self.lost_write.iter() {
            b.end_closing();
        }
    }
}

/// Checks the branches a remount adds: distinct from (and not nested with)
/// every other branch, not the union itself or a union stacked on it, and
/// not stacked deeper than the mount allows.
fn check_new_branches(sb: SuperBlock<'_>, old: &Tab, table: &BranchTable<Arc<Branch>>, log: &FcLog) -> Result {
    let all = || table.as_slice().iter().map(|b| &b.data);
    for b in all().filter(|b| old.table.index_of_id(b.id).is_none()) {
        crate::vfs::task::cond_resched();
        if sb.is(b.root.sb_key()) {
            log.error("a branch cannot be in the union itself", Some(&b.name));
            return Err(EINVAL);
        }
        let (_, depth, _) = b.root.sb_limits();
        if depth + 1 > sb.stack_depth() {
            log.error("branch is stacked deeper than the union allows", Some(&b.name));
            return Err(EINVAL);
        }
        branch::check_distinct(b, all(), log)?;
    }
    Ok(())
}

/// A path of a remount option as the table stores it: the d_path of what it
/// names (so relative paths, symlinks and `..` do not matter). For a path
/// that names the root of a current branch, that branch's name. A path that
/// does not resolve stays as written.
fn canon(old: &Tab, path: &[u8], existing: bool) -> Result<LVec<u8>> {
    let mut out = LVec::new();
    let resolved = match Path::lookup(path) {
        // A branch to find (`del:`, `mod:`, a `dirs=` entry): its name, if
        // the path names the root of one.
        Ok(p) if existing => match old.branches().find(|b| p.is_under(&b.root) && b.root.is_under(&p)) {
            Some(b) => Some(bytes(&b.name)?),
            None => Some(p.name()?),
        },
        Ok(p) => Some(p.name()?),
        Err(_) => None,
    };
    out.try_extend_from_slice(resolved.as_deref().unwrap_or(path)).map_err(|_| ENOMEM)?;
    Ok(out)
}

fn canon_spec(old: &Tab, s: &BranchSpec, existing: bool) -> Result<BranchSpec> {
    Ok(BranchSpec { path: canon(old, &s.path, existing)?, perm: s.perm, perm_given: s.perm_given })
}

fn canon_specs(old: &Tab, specs: &[BranchSpec]) -> Result<LVec<BranchSpec>> {
    let mut out = LVec::new();
    for s in specs {
        out.try_push(canon_spec(old, s, true)?).map_err(|_| ENOMEM)?;
    }
    Ok(out)
}

/// One branch operation with its paths made canonical (see [`canon`]).
fn canon_op(old: &Tab, op: &MountOption) -> Result<MountOption> {
    Ok(match op {
        MountOption::Add { index, branch } => MountOption::Add { index: *index, branch: canon_spec(old, branch, false)? },
        MountOption::Append(b) => MountOption::Append(canon_spec(old, b, false)?),
        MountOption::Prepend(b) => MountOption::Prepend(canon_spec(old, b, false)?),
        MountOption::Del(p) => MountOption::Del(canon(old, p, true)?),
        MountOption::Mod { path, perm } => MountOption::Mod { path: canon(old, path, true)?, perm: *perm },
        MountOption::Branches(list) => MountOption::Branches(canon_specs(old, list)?),
        MountOption::Udba(u) => MountOption::Udba(*u),
        MountOption::NoXino => MountOption::NoXino,
        MountOption::TruncXino => MountOption::TruncXino,
        MountOption::Dio(on) => MountOption::Dio(*on),
        MountOption::Sum(on) => MountOption::Sum(*on),
        MountOption::Create(c) => MountOption::Create(*c),
        MountOption::Copyup(c) => MountOption::Copyup(*c),
        MountOption::Accepted(n) => MountOption::Accepted(*n),
        MountOption::Xino(p) => {
            let mut v = LVec::new();
            v.try_extend_from_slice(p).map_err(|_| ENOMEM)?;
            MountOption::Xino(v)
        }
    })
}

/// A copy of `v`.
fn bytes(v: &[u8]) -> Result<KVec<u8>> {
    let mut out = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    out.extend_from_slice(v, GFP_KERNEL)?;
    Ok(out)
}

/// Whether `specs` name the mounted branches, in order, with their perms.
fn same_branches(tab: &Tab, specs: &[BranchSpec]) -> bool {
    if specs.len() != tab.table.len() {
        return false;
    }
    for (spec, b) in specs.iter().zip(tab.branches()) {
        let Ok(p) = Path::lookup(&spec.path) else { return false };
        // A permission left out where the branch is `rr` because its
        // filesystem is read-only (Branch::open) is that same `rr`.
        let same_perm = spec.perm == b.perm || (!spec.perm_given && b.perm == crate::logic::perm::Perm::Rr);
        if !same_perm || !(p.is_under(&b.root) && b.root.is_under(&p)) {
            return false;
        }
    }
    true
}

/// After a successful remount: the options that are flags of the mount
/// (`dio`/`nodio`, `sum`/`nosum`, the policies) take effect, for files
/// open now too.
pub(crate) fn apply_remount_flags(sbi: &SbInfo, cfg: &MountConfig) {
    if let Some(on) = cfg.dio {
        sbi.nodio.store(!on, Ordering::Relaxed);
    }
    if let Some(on) = cfg.sum {
        sbi.sum.store(on, Ordering::Relaxed);
    }
    if cfg.create.is_some() || cfg.cpup.is_some() {
        let mut p = sbi.policy.lock();
        if let Some(c) = cfg.create {
            if p.create != c {
                // A new policy starts afresh (no measurement, first turn).
                p.state = PolicyState::default();
            }
            p.create = c;
        }
        if let Some(c) = cfg.cpup {
            p.cpup = c;
        }
    }
}

/// statfs of the union: that of the top writable branch, else the first.
/// With `sum`, the block and inode counts are those of every branch's
/// filesystem added up, each filesystem once, in units of the smallest
/// block size among them (AUFS's `sum`; sums that overflow stay at the
/// largest value).
pub(crate) fn statfs(sbi: &SbInfo, buf: &mut sys::kstatfs) -> Result {
    let tab = sbi.tab();
    let b = tab.rw().or_else(|| tab.branches().next()).ok_or(EIO)?;
    let _creds = sbi.cred.override_creds();
    b.root.statfs(buf)?;
    buf.f_type = RFS_SUPER_MAGIC as _;
    if !sbi.sum.load(Ordering::Relaxed) {
        return Ok(());
    }
    // Bytes (blocks times their size) and inodes, summed; a sum that
    // overflows stays at u64::MAX (no 128-bit division in the kernel).
    let (mut blocks, mut bfree, mut bavail, mut files, mut ffree) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut bsize = isize::MAX;
    let mut seen: KVec<crate::vfs::path::SbKey> = KVec::new();
    for br in tab.branches() {
        let sb = br.root.sb_key();
        if seen.iter().any(|&s| s == sb) {
            continue;
        }
        seen.push(sb, GFP_KERNEL)?;
        let st = br.root.statfs_new()?;
        // Block counts are in fragment units (f_frsize; f_bsize when a
        // filesystem leaves that 0).
        let frsize = if st.f_frsize > 0 { st.f_frsize } else { st.f_bsize.max(1) };
        let unit = u64::try_from(frsize).unwrap_or(1);
        bsize = bsize.min(frsize);
        blocks = blocks.saturating_add(st.f_blocks.saturating_mul(unit));
        bfree = bfree.saturating_add(st.f_bfree.saturating_mul(unit));
        bavail = bavail.saturating_add(st.f_bavail.saturating_mul(unit));
        files = files.saturating_add(st.f_files);
        ffree = ffree.saturating_add(st.f_ffree);
        crate::vfs::task::cond_resched();
    }
    let unit = u64::try_from(bsize).unwrap_or(1).max(1);
    let scale = |v: u64| if v == u64::MAX { v } else { v / unit };
    buf.f_bsize = bsize;
    buf.f_frsize = bsize;
    buf.f_blocks = scale(blocks);
    buf.f_bfree = scale(bfree);
    buf.f_bavail = scale(bavail);
    buf.f_files = files;
    buf.f_ffree = ffree;
    Ok(())
}

/// The options part of the /proc/mounts line: `,si=ID,dirs=BR:BR...`, with
/// paths escaped so that the line can be given to mount(8) again.
/// syncfs(2) (and sync(2)) of the union: syncs the writable branches'
/// filesystems, where everything rfs writes lands, once, in the waiting pass
/// (overlayfs: ovl_sync_fs). The read-only branches have nothing of rfs's.
pub(crate) fn sync_fs(sbi: &SbInfo, wait: bool) -> Result {
    if !wait {
        return Ok(());
    }
    sbi.flush_xino();
    let tab = sbi.tab();
    let _creds = sbi.cred.override_creds();
    let mut seen: KVec<crate::vfs::path::SbKey> = KVec::new();
    for rw in tab.branches().filter(|b| b.perm.is_writable()) {
        // Each filesystem once.
        let key = rw.root.sb_key();
        if seen.iter().any(|&s| s == key) {
            continue;
        }
        seen.push(key, GFP_KERNEL)?;
        // The helper takes the branch's s_umount (order: the union's, then
        // the branch's).
        rw.root.sync_fs()?;
    }
    Ok(())
}

pub(crate) fn show_options(sbi: &SbInfo, m: &mut SeqFile<'_>) -> Result {
    // Keys and separators as they are; values with rfs's own escapes
    // (`\,` `\:` `\=` `\\`), then the kernel's octal escaping of space,
    // tab, newline, `\` and `,` (seq_show_option's set): no bare comma is
    // left inside a value, so the line splits at its commas like any
    // filesystem's, and once the octal escapes are undone (`\134\054` ->
    // `\,`) the options parse back to the same branches.
    let mut value = crate::logic::vec::Vec::new();
    push_hex(&mut value, sbi.si)?;
    m.write_raw(b",si=");
    m.write_escaped(&value);
    m.write_raw(b",dirs=");
    for (i, b) in sbi.tab().branches().enumerate() {
        if i > 0 {
            m.write_raw(b":");
        }
        value = crate::logic::vec::Vec::new();
        options::escape_path(&b.name, &mut value).map_err(|_| ENOMEM)?;
        m.write_escaped(&value);
        m.write_raw(b"=");
        m.write_raw(b.perm.as_str().as_bytes());
    }
    match (sbi.xino_shown, sbi.xi_path.as_ref()) {
        (xino::Where::Path(_), Some(p)) => {
            // Escaped like a branch path, so the line can be given back.
            m.write_raw(b",xino=");
            value = crate::logic::vec::Vec::new();
            options::escape_path(p, &mut value).map_err(|_| ENOMEM)?;
            m.write_escaped(&value);
        }
        (xino::Where::Memory, _) => m.write_raw(b",noxino"),
        _ => {}
    }
    if sbi.udba() != Udba::Reval {
        m.write_raw(b",udba=");
        m.write_raw(sbi.udba().as_str().as_bytes());
    }
    if sbi.nodio.load(Ordering::Relaxed) {
        m.write_raw(b",nodio");
    }
    if sbi.sum.load(Ordering::Relaxed) {
        m.write_raw(b",sum");
    }
    let (create, cpup) = {
        let p = sbi.policy.lock();
        (p.create, p.cpup)
    };
    if create != crate::logic::policy::Create::Tdp {
        value = crate::logic::vec::Vec::new();
        create.format(&mut value).map_err(|_| ENOMEM)?;
        m.write_raw(b",create=");
        m.write_raw(&value);
    }
    if cpup != crate::logic::policy::Copyup::Tdp {
        m.write_raw(b",cpup=");
        m.write_raw(cpup.name().as_bytes());
    }
    Ok(())
}

fn push_str(v: &mut crate::logic::vec::Vec<u8>, s: &[u8]) -> Result {
    use crate::logic::vec::VecExt;
    v.try_extend_from_slice(s).map_err(|_| ENOMEM)
}

/// Appends `n` in lowercase hex.
pub(crate) fn push_hex(v: &mut crate::logic::vec::Vec<u8>, n: u64) -> Result {
    push_radix(v, n, 16)
}

/// Appends `n` in decimal.
pub(crate) fn push_dec(v: &mut crate::logic::vec::Vec<u8>, n: u64) -> Result {
    push_radix(v, n, 10)
}

/// Appends `n` in base `radix` (2 to 16, lowercase digits).
fn push_radix(v: &mut crate::logic::vec::Vec<u8>, n: u64, radix: u64) -> Result {
    // Enough for u64::MAX in base 2.
    let mut digits = [0u8; 64];
    let mut len = 0;
    let mut x = n;
    loop {
        let d = (x % radix) as u8;
        if let Some(slot) = digits.get_mut(len) {
            *slot = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        }
        len += 1;
        x /= radix;
        if x == 0 || len == digits.len() {
            break;
        }
    }
    let s = digits.get_mut(..len).ok_or(EINVAL)?;
    s.reverse();
    push_str(v, s)
}
