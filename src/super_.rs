//! The union superblock: building it from the mount options (fill_super),
//! its per-mount state ([`SbInfo`]), statfs, /proc/mounts and remount.

use crate::branch::{self, Branch, MAX_STACK_DEPTH};
use crate::inode::{InodeInfo, Lower};
use crate::logic::inomap::ROOT_INO;
use crate::xino::{self, InoState};
use crate::logic::options::{self, Udba};
use crate::options::MountConfig;
use crate::sysfs::SiView;
use crate::vfs::cred::Cred;
use crate::vfs::dentry::Dentry;
use crate::vfs::fs::{FcLog, SuperParams, SuperSetup};
use crate::vfs::inode::Kind;
use crate::vfs::seq::SeqFile;
use crate::vfs::sys;
use crate::vfs::sysfs::SysfsDir;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::{new_mutex, try_pin_init};

/// `f_type` of statfs on a union ("rfs!").
pub(crate) const RFS_SUPER_MAGIC: u64 = 0x7266_7321;

/// Source of the `si` ids (per module load).
static NEXT_SI: AtomicU64 = AtomicU64::new(1);

/// Per-mount state, owned by the superblock (`s_fs_info`).
///
/// The branch table is fixed for the life of the mount in this version, so
/// it is read without locks. The inode-number map is behind a mutex
/// (sleeping: it may allocate). `copyup` serialises copy-ups (see
/// `copyup.rs` for the lock order).
#[pin_data]
pub(crate) struct SbInfo {
    /// The branches, top (index 0) first.
    pub(crate) branches: KVec<Arc<Branch>>,
    /// The mounter's credentials: every operation on a branch runs with them.
    pub(crate) cred: Cred,
    /// How direct changes to branches are noticed.
    pub(crate) udba: Udba,
    /// (branch id, lower inode number) -> union inode number, and the xino
    /// file it is logged to.
    #[pin]
    pub(crate) inos: Mutex<InoState>,
    /// The xino file's path (sysfs `xi_path`), if the map has a file.
    pub(crate) xi_path: Option<KVec<u8>>,
    /// Whether /proc/mounts shows `xino=PATH`, `noxino` or nothing (default).
    xino_shown: xino::Where<'static>,
    /// The id of `/sys/fs/rfs/si_<id>` and of `si=` in /proc/mounts.
    pub(crate) si: u64,
    /// The private work directory in the writable branch (copy-up
    /// temporaries are built there), when there is a writable branch.
    pub(crate) work: Option<Dentry>,
    /// Held while an object is copied up: one copy-up at a time per mount,
    /// so two callers never copy the same object twice.
    #[pin]
    pub(crate) copyup: Mutex<()>,
    /// Source of temporary names in the work directory.
    pub(crate) tmp_seq: AtomicU64,
    /// `/sys/fs/rfs/si_<id>/`, removed when the superblock goes.
    _sysfs: SysfsDir<SiView>,
    /// What the sysfs directory shows, with the mount's counters.
    pub(crate) view: Arc<SiView>,
}

impl SbInfo {
    /// The union inode number of a lower object: stable for the life of the
    /// mount, unique within it.
    pub(crate) fn ino_of(&self, branch_id: u32, lower_ino: u64) -> Result<u64> {
        let mut st = self.inos.lock();
        let ino = st.get_or_insert(branch_id, lower_ino)?;
        self.publish_usage(&st);
        Ok(ino)
    }

    /// Updates the sysfs `xino` figures.
    fn publish_usage(&self, st: &InoState) {
        let (entries, bytes) = st.usage();
        self.view.stats.xino_entries.store(entries, Ordering::Relaxed);
        self.view.stats.xino_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Makes `(branch_id, lower_ino)` share the union inode number `ino`
    /// (an object copied up keeps its number).
    pub(crate) fn alias_ino(&self, branch_id: u32, lower_ino: u64, ino: u64) -> Result {
        let mut st = self.inos.lock();
        st.alias(branch_id, lower_ino, ino)?;
        self.publish_usage(&st);
        Ok(())
    }

    /// The index of the top-most writable branch, if any.
    pub(crate) fn top_writable(&self) -> Option<usize> {
        self.branches.iter().position(|b| b.perm.is_writable())
    }

    /// The writable branch: where copy-ups, new objects and whiteouts go.
    pub(crate) fn rw(&self) -> Option<&Arc<Branch>> {
        self.branches.get(self.top_writable()?)
    }
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
        let (bytes, d, acl) = crate::vfs::fs::sb_limits(b.root.sb());
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
    let rw0 = branches.first().filter(|b| b.perm.is_writable());
    let at = match (&cfg.xino_path, cfg.noxino) {
        (_, true) => xino::Where::Memory,
        (Some(p), false) => xino::Where::Path(p),
        (None, false) => xino::Where::Default,
    };
    let (ino_state, xi_path) = {
        let _creds = cred.override_creds();
        xino::open(at, rw0, cfg.trunc_xino, &cred, log)?
    };
    let xino_shown = match at {
        xino::Where::Default => xino::Where::Default,
        xino::Where::Path(_) => xino::Where::Path(b""),
        xino::Where::Memory => xino::Where::Memory,
    };
    let view = SiView::new(&branches, xi_path.as_deref())?;
    let sysfs = crate::sysfs::create_si_dir(si, view.clone())?;
    let udba = cfg.udba.unwrap_or(Udba::Reval);
    let work = match branches.iter().find(|b| b.perm.is_writable()) {
        Some(rw) => {
            let _creds = cred.override_creds();
            Some(crate::copyup::prepare_workdir(rw, log)?)
        }
        None => None,
    };
    let info = KBox::pin_init(
        try_pin_init!(SbInfo {
            branches,
            cred,
            udba,
            inos <- new_mutex!(ino_state),
            xi_path,
            xino_shown,
            si,
            work,
            copyup <- new_mutex!(()),
            tmp_seq: AtomicU64::new(0),
            _sysfs: sysfs,
            view,
        }),
        GFP_KERNEL,
    )?;
    sb.set_info(info);
    let info = sb.info().ok_or(EINVAL)?;

    // The root: every branch root merges, down to the first opaque one.
    let mut upper = None;
    let mut lowers = KVVec::with_capacity(info.branches.len(), GFP_KERNEL)?;
    for (i, b) in info.branches.iter().enumerate() {
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
    let mut root = sb.new_inode()?;
    let top = info.branches.first().ok_or(EINVAL)?;
    let top_inode = top.root.dentry().inode().ok_or(EIO)?;
    root.init(ROOT_INO, top_inode.mode(), Kind::Dir);
    root.copy_attr(top_inode);
    *root.data_mut() = InodeInfo::new(upper, lowers)?;
    sb.set_root(root)
}

/// Remount. Branch changes on a live mount are not supported yet: they are
/// refused with a message. A `dirs=` that names the current branches (as
/// mount(8) may pass the options from /proc/mounts back on a remount) is
/// accepted, like the other options.
pub(crate) fn reconfigure(sbi: &SbInfo, cfg: &MountConfig, log: &FcLog) -> Result {
    let same = match cfg.branches.as_ref() {
        None => true,
        Some(specs) => same_branches(sbi, specs)?,
    };
    if !cfg.branch_ops.is_empty() || !same {
        log.error("changing branches on a live mount is not supported yet", None);
        return Err(EINVAL);
    }
    Ok(())
}

/// Whether `specs` name the mounted branches, in order, with their perms.
fn same_branches(sbi: &SbInfo, specs: &[options::BranchSpec]) -> Result<bool> {
    if specs.len() != sbi.branches.len() {
        return Ok(false);
    }
    for (spec, b) in specs.iter().zip(sbi.branches.iter()) {
        let Ok(p) = crate::vfs::path::Path::lookup(&spec.path) else { return Ok(false) };
        if spec.perm != b.perm || !(p.is_under(&b.root) && b.root.is_under(&p)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// statfs of the union: that of the top writable branch, else the first.
pub(crate) fn statfs(sbi: &SbInfo, buf: &mut sys::kstatfs) -> Result {
    let i = sbi.top_writable().unwrap_or(0);
    let b = sbi.branches.get(i).ok_or(EIO)?;
    let _creds = sbi.cred.override_creds();
    b.root.statfs(buf)?;
    buf.f_type = RFS_SUPER_MAGIC as _;
    Ok(())
}

/// The options part of the /proc/mounts line: `,si=ID,dirs=BR:BR...`, with
/// paths escaped so that the line can be given to mount(8) again.
pub(crate) fn show_options(sbi: &SbInfo, m: &mut SeqFile<'_>) -> Result {
    let mut line = crate::logic::vec::Vec::new();
    push_str(&mut line, b",si=")?;
    push_hex(&mut line, sbi.si)?;
    push_str(&mut line, b",dirs=")?;
    for (i, b) in sbi.branches.iter().enumerate() {
        if i > 0 {
            push_str(&mut line, b":")?;
        }
        options::format_branch(&b.name, b.perm, &mut line).map_err(|_| ENOMEM)?;
    }
    match (sbi.xino_shown, sbi.xi_path.as_ref()) {
        (xino::Where::Path(_), Some(p)) => {
            // Escaped like a branch path, so the line can be given back.
            push_str(&mut line, b",xino=")?;
            options::escape_path(p, &mut line).map_err(|_| ENOMEM)?;
        }
        (xino::Where::Memory, _) => push_str(&mut line, b",noxino")?,
        _ => {}
    }
    if sbi.udba != Udba::Reval {
        push_str(&mut line, b",udba=")?;
        push_str(&mut line, sbi.udba.as_str().as_bytes())?;
    }
    m.write_escaped(&line);
    Ok(())
}

fn push_str(v: &mut crate::logic::vec::Vec<u8>, s: &[u8]) -> Result {
    use crate::logic::vec::VecExt;
    v.try_extend_from_slice(s).map_err(|_| ENOMEM)
}

/// Appends `n` in lowercase hex.
pub(crate) fn push_hex(v: &mut crate::logic::vec::Vec<u8>, n: u64) -> Result {
    let mut digits = [0u8; 16];
    let mut len = 0;
    let mut x = n;
    loop {
        let d = (x & 0xf) as u8;
        if let Some(slot) = digits.get_mut(len) {
            *slot = if d < 10 { b'0' + d } else { b'a' + d - 10 };
        }
        len += 1;
        x >>= 4;
        if x == 0 || len == digits.len() {
            break;
        }
    }
    let s = digits.get_mut(..len).ok_or(EINVAL)?;
    s.reverse();
    push_str(v, s)
}
