//! Persistent inode numbers: the xino file.
//!
//! The union's inode-number map ([`InoMap`]) is logged to a file (format in
//! `logic/xino.rs`) so that an object keeps its `st_ino` across cache
//! eviction, remount and umount + mount with the same file:
//!
//! - `xino=PATH`: that file (created if missing);
//! - default: `.wh..wh.xino` at the top of the writable branch, hidden from
//!   the union by the reserved prefix; with no writable branch, the map
//!   lives in memory only (as with `noxino`);
//! - `noxino`: in memory only;
//! - `trunc_xino`: start the file afresh at mount.
//!
//! At mount the file is replayed into an empty map; a file that is not an
//! rfs xino file, or does not replay, is started afresh (with a warning).
//! Every new number or alias is logged as it is handed out, under the
//! superblock's inode-map mutex ([`InoState`]), and the records are
//! appended in batches by a kernel worker ([`Flusher`]): a full batch
//! ([`BATCH`] records) at once, else whatever waits [`MAX_WAIT_SECS`]
//! after the first record of it; sync(2)/syncfs(2) and freeze (sync_fs),
//! umount and a read of sysfs `xino` write what waits themselves. One
//! append per create, unlink or copy-up was an ext4 write with its journal
//! handle under the mount-wide mutex (issue 19: W6 rm -rf and untar, W9 at
//! 8 processes). What a crash can lose is the same kind as before: the
//! newest records (the file replays up to them), so objects made in the
//! last seconds get new numbers at the next mount. Branch ids are
//! positions (64 for the first branch, ...), so the file is meaningful for
//! the same branch list.

use crate::branch::Branch;
use crate::logic::inomap::InoMap;
use crate::logic::xino::{self, Record};
use crate::vfs::cred::Cred;
use crate::vfs::dentry::Dentry;
use crate::vfs::file::File;
use crate::vfs::fs::FcLog;
use crate::vfs::lower::{DirGuard, WriteAccess};
use crate::vfs::{path, sys};
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use core::ptr::NonNull;
use kernel::sync::{Arc, Mutex};
use kernel::new_mutex;

/// The name of the default xino file at the top of the writable branch.
pub(crate) const DEFAULT_NAME: &[u8] = crate::logic::whiteout::XINO_NAME;

/// Where the mount options put the map.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where<'a> {
    /// The default: the writable branch's `.wh..wh.xino`, else memory.
    Default,
    /// `xino=PATH`.
    Path(&'a [u8]),
    /// `noxino`.
    Memory,
}

/// Most records kept in memory while the file cannot be written (frozen,
/// past the caller's file size limit): beyond that the queue is dropped and
/// the file is rewritten from the map once it can be.
const MAX_PENDING: usize = 4096;

/// Records logged are appended this many at a time (one write of 1.5 KiB).
const BATCH: usize = 64;

/// ... or once the oldest waiting record is this old.
const MAX_WAIT_SECS: u32 = 5;

/// An open xino file.
pub(crate) struct Xino {
    file: File,
    /// Records in the file.
    records: u64,
    /// Records not written yet: the batch being gathered, and whatever the
    /// file's filesystem could not take while frozen (fsfreeze, a
    /// snapshot), written in order with a later batch. Lookups never wait
    /// for a thaw.
    pending: KVec<Record>,
    /// The file must be rewritten from the map (compaction, or more was
    /// pending than [`MAX_PENDING`]) before anything is appended.
    rewrite: bool,
}

/// The kernel worker that appends the xino file's batches (`rfs_flusher`
/// in include/rfs_helpers.c: a delayed work item). Dropping it waits for a
/// run under way and cancels a queued one.
struct Flusher(Arm);

/// A handle to arm a [`Flusher`], kept in the [`InoState`] it writes.
#[derive(Clone, Copy)]
pub(crate) struct Arm(NonNull<sys::rfs_flusher>);

// SAFETY: the work item is only armed (queue_delayed_work and
// mod_delayed_work are safe from any thread) and freed by its owner.
unsafe impl Send for Arm {}
// SAFETY: as above.
unsafe impl Sync for Arm {}

impl Arm {
    /// Runs the flusher in `secs` seconds, unless it is queued already;
    /// with 0, as soon as a worker is free.
    fn arm(self, secs: u32) {
        // SAFETY: the flusher lives until its owning `Inos` goes, and the
        // state holding this handle is part of that `Inos`.
        unsafe { sys::rfs_flusher_arm(self.0.as_ptr(), secs) }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // SAFETY: ours; nothing arms it any more (its `Inos` is going).
        unsafe { sys::rfs_flusher_free(self.0 .0.as_ptr()) }
    }
}

/// The flusher's work: writes what waits, and comes back later while the
/// file's filesystem is frozen.
///
/// # Safety
/// `data` is the `Inos` that owns the flusher (set before its first arm);
/// its fields outlive the flusher, whose drop waits for this run.
unsafe extern "C" fn flush_work(data: *mut core::ffi::c_void) {
    // SAFETY: see above.
    let inos = unsafe { &*data.cast::<Inos>() };
    let mut st = inos.state.lock();
    st.flush(&inos.cred);
    if st.unwritten() {
        if let Some(a) = st.arm {
            a.arm(MAX_WAIT_SECS);
        }
    }
}

/// The superblock's inode-number map behind its mutex, with the mounter's
/// credentials its file is written with and the worker that writes it;
/// shared with the mount's sysfs directory, whose `xino` writes what waits
/// before it shows the figures.
#[pin_data]
pub(crate) struct Inos {
    /// First, so that it is cancelled before the state goes.
    flusher: Option<Flusher>,
    #[pin]
    pub(crate) state: Mutex<InoState>,
    pub(crate) cred: Cred,
}

impl Inos {
    /// `state`, written with `cred`.
    pub(crate) fn new(state: InoState, cred: &Cred) -> Result<Arc<Inos>> {
        // SAFETY: `cred` holds a reference, so the cred is live.
        let cred = unsafe { Cred::get(cred.as_ptr()) }.ok_or(ENOMEM)?;
        let flusher = match state.xino {
            // SAFETY: `flush_work` has the signature the helper calls.
            Some(_) => Some(Flusher(Arm(NonNull::new(unsafe { sys::rfs_flusher_new(Some(flush_work)) }).ok_or(ENOMEM)?))),
            None => None,
        };
        let arm = flusher.as_ref().map(|f| f.0);
        let inos = Arc::pin_init(pin_init!(Inos { flusher, state <- new_mutex!(state, "rfs_inos"), cred }), GFP_KERNEL)?;
        if let Some(a) = arm {
            // SAFETY: not armed yet; the `Inos` is pinned in its `Arc` and
            // owns the flusher, so it outlives every run.
            unsafe { sys::rfs_flusher_set_data(a.0.as_ptr(), (&*inos as *const Inos).cast_mut().cast()) };
            inos.state.lock().arm = Some(a);
        }
        Ok(inos)
    }

    /// Has the worker write what waits, and waits for it (umount: the
    /// task that unmounts may be being killed, which cuts a write short,
    /// or have a small file size limit; the worker has neither). Called
    /// without the map's mutex.
    pub(crate) fn flush_by_worker(&self) {
        if let Some(f) = &self.flusher {
            // SAFETY: ours, its data set in `new`.
            unsafe { sys::rfs_flusher_sync(f.0 .0.as_ptr()) }
        }
    }

    /// Writes the records that wait, then `(entries, file bytes)` (sysfs
    /// `xino`: the bytes are then the file's size, unless it is frozen).
    pub(crate) fn flushed_usage(&self) -> (u64, u64) {
        let mut st = self.state.lock();
        st.flush(&self.cred);
        st.usage()
    }
}

/// The inode-number map and the file it is logged to, behind the
/// superblock's `inos` mutex ([`Inos`]).
pub(crate) struct InoState {
    /// The map.
    pub(crate) map: InoMap,
    /// Its file, unless it lives in memory only.
    pub(crate) xino: Option<Xino>,
    /// The worker that appends to the file (from [`Inos::new`] on; before
    /// that, records are written at once).
    arm: Option<Arm>,
}

impl InoState {
    /// The union inode number of `(brid, lower_ino)`, handing out (and
    /// logging) a new one the first time.
    pub(crate) fn get_or_insert(&mut self, brid: u32, lower_ino: u64, cred: &Cred) -> Result<u64> {
        if let Some(ino) = self.map.get(brid, lower_ino) {
            return Ok(ino);
        }
        self.renumber(brid, lower_ino, cred)
    }

    /// A new number for `(brid, lower_ino)` whether or not it had one: the
    /// branch object was just created through the union, and a number the
    /// branch reused must not bring back the number of a deleted object.
    pub(crate) fn renumber(&mut self, brid: u32, lower_ino: u64, cred: &Cred) -> Result<u64> {
        let ino = self.map.renumber(brid, lower_ino).map_err(|_| ENOMEM)?;
        self.log(Record::New { brid, lower_ino, ino }, cred);
        Ok(ino)
    }

    /// Makes `(brid, lower_ino)` have `ino` (and logs it).
    pub(crate) fn alias(&mut self, brid: u32, lower_ino: u64, ino: u64, cred: &Cred) -> Result {
        let next = self.map.next_ino();
        if self.map.alias(brid, lower_ino, ino).map_err(|_| ENOMEM)? {
            if self.map.next_ino() != next {
                // A number the map had not handed out (replay wants the
                // next number moved on first).
                self.log(Record::Next { ino: self.map.next_ino() }, cred);
            }
            self.log(Record::Alias { brid, lower_ino, ino }, cred);
        }
        Ok(())
    }

    /// Drops `(brid, lower_ino)`, a branch object that is gone (and logs it).
    pub(crate) fn forget(&mut self, brid: u32, lower_ino: u64, cred: &Cred) {
        if self.map.forget(brid, lower_ino) {
            self.log(Record::Forget { brid, lower_ino }, cred);
        }
    }

    /// Logs `r`, a change already made to the map: it joins `pending`,
    /// which is appended to the xino file once a batch is full or its
    /// oldest record has waited long enough (see the module's comment),
    /// with the mounter's credentials `cred` (the caller's would be
    /// checked by LSMs against a file of the writable branch). What the
    /// filesystem's freeze, or the calling task's file size limit, stops
    /// keeps waiting; when too much waits, or the file holds mostly
    /// forgotten keys, the file is rewritten from the map instead.
    fn log(&mut self, r: Record, cred: &Cred) {
        let Some(x) = self.xino.as_mut() else { return };
        if x.rewrite || xino::worth_compacting(x.records, self.map.len()) {
            x.rewrite = true;
            x.pending = KVec::new();
        } else if x.pending.len() >= MAX_PENDING || x.pending.push(r, GFP_KERNEL).is_err() {
            x.rewrite = true;
            x.pending = KVec::new();
        }
        if x.pending.len() == 1 {
            // The first of a batch: room for the whole batch at once.
            let _ = x.pending.reserve(BATCH - 1, GFP_KERNEL);
        }
        match self.arm {
            // A full batch or a rewrite at once, else within MAX_WAIT_SECS
            // of the first record that waits (arming a queued work does
            // nothing).
            Some(a) if x.rewrite || x.pending.len() == BATCH => a.arm(0),
            Some(a) => a.arm(MAX_WAIT_SECS),
            None => self.flush(cred),
        }
    }

    /// Writes what waits: the rewrite of the whole file, or the pending
    /// records. Stops quietly while the file's filesystem is frozen; any
    /// other failure ends the logging (the map stays right in memory; the
    /// file would no longer replay) with a warning.
    pub(crate) fn flush(&mut self, cred: &Cred) {
        let Some(x) = self.xino.as_mut() else { return };
        let _creds = cred.override_creds();
        let r = if x.rewrite { x.rewrite_from(&self.map) } else { x.write_pending() };
        match r {
            Ok(()) => {}
            // Frozen, the writer's file size limit, or cut short by a
            // fatal signal: written again in full later.
            Err(e) if e == EAGAIN || e == EINTR => {}
            Err(_) => {
                pr_warn!("rfs: cannot write the xino file; inode numbers are kept in memory only\n");
                x.invalidate();
                self.xino = None;
            }
        }
    }

    /// `(entries, file bytes)` for sysfs `xino`.
    pub(crate) fn usage(&self) -> (u64, u64) {
        let entries = self.map.len() as u64;
        let bytes = self.xino.as_ref().map_or(0, |x| xino::HEADER_LEN as u64 + x.records * xino::RECORD_LEN as u64);
        (entries, bytes)
    }

    /// Whether records are still waiting to be written (umount warns).
    pub(crate) fn unwritten(&self) -> bool {
        self.xino.as_ref().is_some_and(|x| x.rewrite || !x.pending.is_empty())
    }
}

impl Xino {
    /// Where record number `n` goes.
    fn pos_of(n: u64) -> Result<i64> {
        n.checked_mul(xino::RECORD_LEN as u64)
            .and_then(|b| b.checked_add(xino::HEADER_LEN as u64))
            .and_then(|b| i64::try_from(b).ok())
            .ok_or(EFBIG)
    }

    /// Appends the pending records in order, up to [`BATCH`] in one write;
    /// EAGAIN when the rest must wait (frozen, or no memory for the
    /// buffer).
    fn write_pending(&mut self) -> Result {
        let mut done = 0;
        let mut res = Ok(());
        for chunk in self.pending.chunks(BATCH) {
            let encoded = || -> Result<KVec<u8>> {
                let mut buf = KVec::with_capacity(chunk.len() * xino::RECORD_LEN, GFP_KERNEL).map_err(|_| EAGAIN)?;
                for r in chunk {
                    buf.extend_from_slice(&xino::encode(*r), GFP_KERNEL).map_err(|_| EAGAIN)?;
                }
                Ok(buf)
            };
            let pos = Self::pos_of(self.records);
            match encoded().and_then(|buf| self.file.write_at_unless_frozen(&buf, pos?)) {
                Ok(()) => {
                    self.records += chunk.len() as u64;
                    done += chunk.len();
                }
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        if done == self.pending.len() {
            // Emptied, its memory kept for the next batch (one batch's
            // worth; what a freeze made wait is freed).
            if self.pending.capacity() > BATCH {
                self.pending = KVec::new();
            } else {
                crate::vfs::truncate_kvec(&mut self.pending, 0);
            }
        } else if done > 0 {
            // In place: the records not written move to the front.
            let keep = self.pending.len() - done;
            self.pending.copy_within(done.., 0);
            crate::vfs::truncate_kvec(&mut self.pending, keep);
        }
        res
    }

    /// Rewrites the file from `map`: the header is cleared and synced, the
    /// compacted records and an End record are written over the start of
    /// the log and synced, the header is written back and synced, then the
    /// file is cut after the last alias. A crash before the header is back
    /// leaves a file that the next mount starts afresh (with a warning);
    /// one after it replays to the map (up to the End record). A freeze or
    /// the caller's file size limit (EAGAIN) or a lack of memory before
    /// the first step leaves the file as it was; after it, the rewrite is
    /// done again next time.
    fn rewrite_from(&mut self, map: &InoMap) -> Result {
        // An empty write at the end the rewrite will reach: EAGAIN at once
        // while frozen or past the file size limit, before building the
        // records (a lookup must not pay for them then).
        let end = Self::pos_of(map.len() as u64 + 2)?;
        self.file.write_at_unless_frozen(&[], end)?;
        let body = xino::compacted(map).map_err(|_| EAGAIN)?;
        // While the body is written the file carries no valid header, so a
        // crash in the middle never replays a mix of old and new records
        // (the next mount starts afresh instead); the header comes back
        // once the body is on disk.
        self.file.write_at_unless_frozen(&[0u8; 8], 0)?;
        self.file.fsync(0, i64::MAX, true)?;
        self.file.write_at_unless_frozen(&body, xino::HEADER_LEN as i64)?;
        self.file.fsync(0, i64::MAX, true)?;
        self.file.write_at_unless_frozen(&xino::header(), 0)?;
        self.file.fsync(0, i64::MAX, true)?;
        let records = (body.len() / xino::RECORD_LEN).saturating_sub(1) as u64;
        self.file.truncate_unless_frozen(Self::pos_of(records)?)?;
        self.records = records;
        self.rewrite = false;
        Ok(())
    }

    /// The file can no longer be trusted to follow the map (a write
    /// failed): its header is cleared, so that the next mount starts
    /// afresh instead of replaying a log that misses changes. Best effort.
    fn invalidate(&self) {
        let _ = self.file.write_at_unless_frozen(&[0u8; 8], 0);
    }
}

/// Opens the xino file the options ask for and rebuilds the map from it.
/// Runs with the mounter's credentials.
pub(crate) fn open(at: Where<'_>, rw: Option<&Arc<Branch>>, trunc: bool, cred: &Cred, log: &FcLog) -> Result<(InoState, Option<KVec<u8>>)> {
    if let Where::Path(p) = at {
        // AUFS's xino=PATH: a file of this mount alone, unlinked at once;
        // nothing is replayed and nothing is left at umount.
        let (file, name) = open_private(p, log)?;
        let mut state = InoState { map: InoMap::new(), xino: None, arm: None };
        file.write_at(&xino::header(), 0)?;
        state.xino = Some(Xino { file, records: 0, pending: KVec::new(), rewrite: false });
        return Ok((state, Some(name)));
    }
    let file = match at {
        Where::Memory | Where::Path(_) => None,
        Where::Default => match rw {
            Some(rw) => Some(open_default(rw, cred).inspect_err(|_| {
                log.error("cannot create the xino file in the writable branch", Some(&rw.name));
            })?),
            None => None,
        },
    };
    let mut state = InoState { map: InoMap::new(), xino: None, arm: None };
    let Some(file) = file else { return Ok((state, None)) };
    if file.inode().is_none_or(|i| i.mode() & crate::vfs::inode::mode::S_IFMT != crate::vfs::inode::mode::S_IFREG) {
        log.error("the xino file must be a regular file", None);
        return Err(EINVAL);
    }
    let name = file.name()?;
    let records = if trunc { None } else { replay(&file, &mut state.map) };
    let records = match records {
        Some(n) => n,
        None => {
            state.map = InoMap::new();
            file.truncate(0)?;
            file.write_at(&xino::header(), 0)?;
            0
        }
    };
    state.xino = Some(Xino { file, records, pending: KVec::new(), rewrite: false });
    Ok((state, Some(name)))
}

/// `xino=PATH`: a new, nameless file in PATH's directory (O_TMPFILE: AUFS
/// creates PATH and unlinks it at once), so any number of mounts may be
/// given the same PATH, as Docker's aufs driver does with
/// `/dev/shm/aufs.xino`. PATH itself must not be a directory.
/// Returns the file and the absolute PATH (for sysfs and /proc/mounts).
fn open_private(p: &[u8], log: &FcLog) -> Result<(File, KVec<u8>)> {
    if let Ok(f) = File::open_name(p, sys::O_PATH) {
        if f.inode().is_some_and(|i| i.mode() & crate::vfs::inode::mode::S_IFMT == crate::vfs::inode::mode::S_IFDIR) {
            log.error("the xino path is a directory", Some(p));
            return Err(EISDIR);
        }
    }
    let (dir, base): (&[u8], &[u8]) = match p.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", p.get(1..).unwrap_or_default()),
        Some(i) => (p.get(..i).unwrap_or_default(), p.get(i + 1..).unwrap_or_default()),
        None => (b".", p),
    };
    if base.is_empty() {
        log.error("the xino path is a directory", Some(p));
        return Err(EISDIR);
    }
    let dirf = File::open_name(dir, sys::O_PATH | sys::O_DIRECTORY).inspect_err(|_| {
        log.error("cannot open the directory of the xino file", Some(p));
    })?;
    let mut name = dirf.name()?;
    if name.last() != Some(&b'/') {
        name.push(b'/', GFP_KERNEL)?;
    }
    name.extend_from_slice(base, GFP_KERNEL)?;
    let file = File::open_name(dir, sys::O_TMPFILE | sys::O_RDWR | sys::O_LARGEFILE).inspect_err(|_| {
        log.error("cannot create the xino file (an O_TMPFILE file in its directory)", Some(p));
    })?;
    Ok((file, name))
}

/// Opens (creating) `.wh..wh.xino` at the top of `rw`.
fn open_default(rw: &Branch, cred: &Cred) -> Result<File> {
    let mnt = rw.root.mnt();
    let d: Dentry = {
        let _w = WriteAccess::get(mnt, &rw.root)?;
        let g = DirGuard::lock(mnt, rw.root.dentry())?;
        let d = g.lookup(DEFAULT_NAME)?;
        if d.inode().is_none() {
            g.create(&d, 0o600)?;
        }
        d
    };
    File::open(&path::at(mnt, &d), sys::O_RDWR | sys::O_LARGEFILE, cred)
}

/// Replays `file` into `map`; `None` when it must be started afresh (empty,
/// not an xino file, or damaged).
fn replay(file: &File, map: &mut InoMap) -> Option<u64> {
    let size = file.inode()?.size();
    if size == 0 {
        return None;
    }
    let mut header = [0u8; xino::HEADER_LEN];
    if file.read_at(&mut header, 0).ok()? != header.len() || xino::check_header(&header).is_err() {
        pr_warn!("rfs: the xino file is not an rfs xino file; starting it afresh\n");
        return None;
    }
    // Whole records, a chunk at a time.
    let mut records = 0u64;
    let mut pos = xino::HEADER_LEN as i64;
    let mut buf = KVec::from_elem(0u8, 4096 * xino::RECORD_LEN / 8, GFP_KERNEL).ok()?;
    loop {
        let n = file.read_at(&mut buf, pos).ok()?;
        let whole = n - n % xino::RECORD_LEN;
        if whole == 0 {
            break;
        }
        match xino::replay_until_end(buf.get(..whole)?, map) {
            Ok((k, end)) => {
                records += k as u64;
                if end {
                    // A rewrite was cut short after its data was synced:
                    // what follows the End record is the old log. Cut it
                    // now, so that appends never bring it back.
                    let len = xino::HEADER_LEN as i64 + records as i64 * xino::RECORD_LEN as i64;
                    file.truncate(len).ok()?;
                    break;
                }
            }
            Err(_) => {
                pr_warn!("rfs: the xino file is damaged; starting it afresh\n");
                return None;
            }
        }
        pos += whole as i64;
    }
    Some(records)
}
