//! `/sys/fs/rfs/`: the module's `config` file and one `si_<id>/` directory
//! per mount listing its branches (AUFS's layout: `brN` is `path=perm`,
//! `bridN` the branch id).

use crate::branch::Branch;
use crate::xino::Inos;
use crate::vfs::sysfs::{Parent, Show, SysfsDir, SysfsOut};
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::{Arc, SpinLock};
use kernel::new_spinlock;
use core::sync::atomic::{AtomicU64, Ordering};

/// The `/sys/fs/rfs/` directory itself.
pub(crate) struct Config;

impl Show for Config {
    fn show(&self, name: &[u8], out: &mut SysfsOut) -> Result {
        match name {
            b"config" => {
                out.line(b"version=0.1.0\nfeatures=read-path write-path posix-acl udba=reval,none,notify branch-management pseudo-links\nmax_branches=1024");
                Ok(())
            }
            _ => Err(ENOENT),
        }
    }
}

/// Creates `/sys/fs/rfs/` with its `config` file.
pub(crate) fn create_root() -> Result<SysfsDir<Config>> {
    SysfsDir::new(Parent::Fs, b"rfs", &[b"config"], Arc::new(Config, GFP_KERNEL)?)
}

/// rfs's own counters of one mount, shown in `si_<id>/`.
pub(crate) struct Stats {
    /// Objects copied up.
    pub(crate) copyups: AtomicU64,
    /// Bytes of file data copied up (a reflink counts the file size).
    pub(crate) copyup_bytes: AtomicU64,
    /// Whiteouts created.
    pub(crate) whiteouts: AtomicU64,
}

impl Stats {
    /// All counters at zero.
    pub(crate) fn new() -> Result<Arc<Stats>> {
        Ok(Arc::new(
            Stats {
                copyups: AtomicU64::new(0),
                copyup_bytes: AtomicU64::new(0),
                whiteouts: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The branch part of `si_<id>/`: one line (`path=perm`) and id per branch,
/// and the branches themselves (for their lookup counters).
struct Snapshot {
    lines: KVec<(KVec<u8>, u32)>,
    branches: KVec<Arc<Branch>>,
}

impl Snapshot {
    fn of<'a>(branches: impl ExactSizeIterator<Item = &'a Arc<Branch>>) -> Result<Arc<Snapshot>> {
        let mut lines = KVec::with_capacity(branches.len(), GFP_KERNEL)?;
        let mut held = KVec::with_capacity(branches.len(), GFP_KERNEL)?;
        for b in branches {
            held.push(b.clone(), GFP_KERNEL)?;
            let mut l = KVec::new();
            l.extend_from_slice(&b.name, GFP_KERNEL)?;
            l.push(b'=', GFP_KERNEL)?;
            l.extend_from_slice(b.perm.as_str().as_bytes(), GFP_KERNEL)?;
            lines.push((l, b.id), GFP_KERNEL)?;
        }
        Ok(Arc::new(Snapshot { lines, branches: held }, GFP_KERNEL)?)
    }
}

/// What `si_<id>/` shows: the current branch stack and the mount's live
/// counters.
///
/// Locking: `snap` is replaced whole by a remount (`update`); the spinlock
/// is held only to copy or swap the pointer, a reader keeps its snapshot.
#[pin_data]
pub(crate) struct SiView {
    #[pin]
    snap: SpinLock<Arc<Snapshot>>,
    xi_path: KVec<u8>,
    stats: Arc<Stats>,
    /// The inode-number map (sysfs `xino`).
    inos: Arc<Inos>,
}

impl SiView {
    /// A view of `branches`.
    pub(crate) fn new<'a>(
        branches: impl ExactSizeIterator<Item = &'a Arc<Branch>>,
        xi_path: Option<&[u8]>,
        stats: Arc<Stats>,
        inos: Arc<Inos>,
    ) -> Result<Arc<SiView>> {
        let snap = Snapshot::of(branches)?;
        let mut xi = KVec::new();
        xi.extend_from_slice(xi_path.unwrap_or(b""), GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(SiView { snap <- new_spinlock!(snap, "rfs_si_view"), xi_path: xi, stats, inos }),
            GFP_KERNEL,
        )
    }

    fn snap(&self) -> Arc<Snapshot> {
        self.snap.lock().clone()
    }

    /// How many branches the view shows.
    pub(crate) fn len(&self) -> usize {
        self.snap().lines.len()
    }

    /// Shows `branches` from now on.
    pub(crate) fn update<'a>(&self, branches: impl ExactSizeIterator<Item = &'a Arc<Branch>>) -> Result {
        let new = Snapshot::of(branches)?;
        let old = core::mem::replace(&mut *self.snap.lock(), new);
        drop(old);
        Ok(())
    }
}

/// `br<i>` or `brid<i>` into `out`; the name's length.
fn attr_name(prefix: &[u8], i: usize, out: &mut [u8; 16]) -> Result<usize> {
    let mut num = [0u8; 24];
    let digits = format_u64(i as u64, &mut num);
    let total = prefix.len() + digits.len();
    out.get_mut(..prefix.len()).ok_or(EINVAL)?.copy_from_slice(prefix);
    out.get_mut(prefix.len()..total).ok_or(EINVAL)?.copy_from_slice(digits);
    Ok(total)
}

/// Makes the files of `si_<id>/` (`dir`, showing `view`) match a stack of
/// `new_len` branches after one of `old_len`.
pub(crate) fn resize_si_dir(dir: &mut SysfsDir<SiView>, old_len: usize, new_len: usize) -> Result {
    let mut name = [0u8; 16];
    for i in new_len..old_len {
        for prefix in [&b"br"[..], &b"brid"[..]] {
            let n = attr_name(prefix, i, &mut name)?;
            dir.remove_file(name.get(..n).ok_or(EINVAL)?);
        }
    }
    for i in old_len..new_len {
        for prefix in [&b"br"[..], &b"brid"[..]] {
            let n = attr_name(prefix, i, &mut name)?;
            dir.add_file(name.get(..n).ok_or(EINVAL)?)?;
        }
    }
    Ok(())
}

/// Parses `prefix` + decimal index, e.g. `br12`.
fn index_of(name: &[u8], prefix: &[u8]) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || digits.len() > 6 {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &c| c.is_ascii_digit().then(|| n * 10 + usize::from(c - b'0')))
}

/// The counter files of `si_<id>/`.
const STAT_FILES: [&[u8]; 6] = [b"copyups", b"copyup_bytes", b"whiteouts", b"lookups", b"xi_path", b"xino"];

impl Show for SiView {
    fn show(&self, name: &[u8], out: &mut SysfsOut) -> Result {
        let mut buf = [0u8; 24];
        let counter = match name {
            b"copyups" => Some(&self.stats.copyups),
            b"copyup_bytes" => Some(&self.stats.copyup_bytes),
            b"whiteouts" => Some(&self.stats.whiteouts),
            _ => None,
        };
        if let Some(c) = counter {
            out.line(format_u64(c.load(Ordering::Relaxed), &mut buf));
            return Ok(());
        }
        if name == b"xi_path" {
            // Empty when the inode-number map lives in memory only.
            out.line(&self.xi_path);
            return Ok(());
        }
        if name == b"xino" {
            // Union inode numbers handed out, and the file's size once
            // the records that wait are written.
            let (entries, bytes) = self.inos.flushed_usage();
            let mut b2 = [0u8; 24];
            let mut l = KVec::new();
            l.extend_from_slice(format_u64(entries, &mut buf), GFP_KERNEL)?;
            l.push(b' ', GFP_KERNEL)?;
            l.extend_from_slice(format_u64(bytes, &mut b2), GFP_KERNEL)?;
            out.line(&l);
            return Ok(());
        }
        if name == b"lookups" {
            // One line per branch, in branch order: how often rfs looked a
            // name up in it.
            for b in self.snap().branches.iter() {
                out.line(format_u64(b.lookups.load(Ordering::Relaxed), &mut buf));
            }
            return Ok(());
        }
        if let Some(i) = index_of(name, b"brid") {
            let snap = self.snap();
            let (_, id) = snap.lines.get(i).ok_or(ENOENT)?;
            let mut buf = [0u8; 24];
            out.line(format_u32(*id, &mut buf));
            return Ok(());
        }
        if let Some(i) = index_of(name, b"br") {
            let snap = self.snap();
            let (line, _) = snap.lines.get(i).ok_or(ENOENT)?;
            out.line(line);
            return Ok(());
        }
        Err(ENOENT)
    }
}

fn format_u64(mut n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or(&[])
}

fn format_u32(n: u32, buf: &mut [u8; 24]) -> &[u8] {
    format_u64(u64::from(n), buf)
}

/// Creates `/sys/fs/rfs/si_<id>/` for a new mount.
pub(crate) fn create_si_dir(si: u64, view: Arc<SiView>) -> Result<SysfsDir<SiView>> {
    let mut dirname = crate::logic::vec::Vec::new();
    {
        use crate::logic::vec::VecExt;
        dirname.try_extend_from_slice(b"si_").map_err(|_| ENOMEM)?;
    }
    crate::super_::push_hex(&mut dirname, si)?;
    let n = view.len();
    // Attribute names: br0..brN-1 then brid0..bridN-1.
    let mut names: KVec<([u8; 16], usize)> = KVec::with_capacity(2 * n, GFP_KERNEL)?;
    for prefix in [&b"br"[..], &b"brid"[..]] {
        for i in 0..n {
            let mut name = [0u8; 16];
            let len = attr_name(prefix, i, &mut name)?;
            names.push((name, len), GFP_KERNEL)?;
        }
    }
    let mut files: KVec<&[u8]> = KVec::with_capacity(names.len() + STAT_FILES.len(), GFP_KERNEL)?;
    for f in STAT_FILES {
        files.push(f, GFP_KERNEL)?;
    }
    for (name, len) in names.iter() {
        files.push(name.get(..*len).unwrap_or(&[]), GFP_KERNEL)?;
    }
    SysfsDir::new(Parent::Rfs, &dirname, &files, view)
}
