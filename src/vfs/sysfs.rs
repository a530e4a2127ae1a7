//! sysfs: `/sys/fs/rfs/` and its per-mount `si_<id>/` directories.
//!
//! Each directory is a kobject whose attribute files are read-only; reading
//! one calls [`Show::show`] of the object the directory was created for,
//! with the attribute's name (`config`, `br0`, `brid3`, ...). The object is
//! held by an `Arc` that the kobject owns, so a reader racing with umount
//! never sees it freed (kobject_del also waits for running `show` calls).

use super::sys;
use core::ptr::NonNull;
use kernel::error::{code::*, Result};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Output buffer of a sysfs `show` (one page).
pub(crate) struct SysfsOut {
    buf: *mut u8,
    len: isize,
}

impl SysfsOut {
    /// Appends `bytes` and a newline (sysfs_emit_at, truncated at a page).
    pub(crate) fn line(&mut self, bytes: &[u8]) {
        let n = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        let at = i32::try_from(self.len).unwrap_or(i32::MAX);
        // SAFETY: `buf` is the page sysfs gave to `show`; sysfs_emit_at
        // bounds the write to it (and writes nothing past its end).
        let r = unsafe { sys::rfs_sysfs_emit_bytes(self.buf, at, bytes.as_ptr(), n) };
        self.len += r as isize;
    }
}

/// What a sysfs directory shows.
pub(crate) trait Show: Send + Sync {
    /// Fills `out` for the attribute `name`.
    fn show(&self, name: &[u8], out: &mut SysfsOut) -> Result;
}

#[repr(C)]
struct Attr {
    kattr: sys::kobj_attribute,
    name: [u8; 24],
}

/// The heap object behind a directory: the kobject, its attributes and the
/// object shown. Freed by the kobject's release.
///
/// `attrs` is only touched by the [`SysfsDir`] that owns the directory
/// (creation, [`SysfsDir::add_file`], [`SysfsDir::remove_file`], all through
/// `&mut`), never by `show`, which gets its attribute by pointer; hence the
/// `UnsafeCell`. Each attribute is boxed so its address stays put while its
/// file exists; a removed file leaves an empty slot for the next one.
#[repr(C)]
struct Dir<T: Show> {
    kobj: sys::kobject,
    ktype: sys::kobj_type,
    attrs: core::cell::UnsafeCell<KVec<Option<KBox<Attr>>>>,
    owner: Arc<T>,
}

impl Attr {
    /// A read-only attribute called `name`, not yet a file.
    fn new<T: Show>(name: &[u8]) -> Result<KBox<Attr>> {
        let mut a = KBox::new(Attr { kattr: sys::kobj_attribute::default(), name: [0; 24] }, GFP_KERNEL)?;
        // One byte stays NUL.
        let dst = a.name.get_mut(..name.len()).filter(|_| name.len() < 24).ok_or(EINVAL)?;
        dst.copy_from_slice(name);
        a.kattr.attr.mode = 0o444;
        // SAFETY: `a` is ours; the helper sets the show function.
        unsafe { sys::rfs_kobj_attr_set_show(&mut a.kattr, Some(show::<T>)) };
        Ok(a)
    }

    fn name(&self) -> &[u8] {
        let len = self.name.iter().position(|&c| c == 0).unwrap_or(self.name.len());
        self.name.get(..len).unwrap_or(&[])
    }
}

/// Where a directory goes.
pub(crate) enum Parent {
    /// `/sys/fs/` (for `/sys/fs/rfs` itself).
    Fs,
    /// `/sys/fs/rfs/`, which must exist.
    Rfs,
}

/// The kobject of `/sys/fs/rfs`, while it exists (module lifetime).
static RFS_ROOT: core::sync::atomic::AtomicPtr<sys::kobject> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// A sysfs directory; removed (and its memory released once unused) on drop.
pub(crate) struct SysfsDir<T: Show> {
    dir: NonNull<Dir<T>>,
}

// SAFETY: the directory only points to heap memory owned through the kobject
// refcount, and `T` is Send + Sync.
unsafe impl<T: Show> Send for SysfsDir<T> {}
// SAFETY: see above.
unsafe impl<T: Show> Sync for SysfsDir<T> {}

impl<T: Show> SysfsDir<T> {
    /// Creates `parent/name` (or `/sys/fs/name` without a parent) with one
    /// read-only file per entry of `files`, showing `owner`.
    pub(crate) fn new(
        parent: Parent,
        name: &[u8],
        files: &[&[u8]],
        owner: Arc<T>,
    ) -> Result<Self> {
        let mut attrs = KVec::with_capacity(files.len(), GFP_KERNEL)?;
        for f in files {
            attrs.push(Some(Attr::new::<T>(f)?), GFP_KERNEL)?;
        }
        let mut cname = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
        cname.extend_from_slice(name, GFP_KERNEL)?;
        cname.push(0, GFP_KERNEL)?;

        let dir = KBox::new(
            Dir {
                kobj: sys::kobject::default(),
                ktype: sys::kobj_type::default(),
                attrs: core::cell::UnsafeCell::new(attrs),
                owner,
            },
            GFP_KERNEL,
        )?;
        let dir = KBox::into_raw(dir);
        // SAFETY: `dir` is a fresh, exclusively owned allocation. The
        // attributes are boxed and owned by it, so their addresses stay valid
        // while their files exist. From
        // kobject_init_and_add on, the kobject refcount owns the memory:
        // `release` frees it, also when kobject_init_and_add fails (the
        // documented error path is kobject_put).
        unsafe {
            (*dir).ktype.release = Some(release::<T>);
            (*dir).ktype.sysfs_ops = &sys::kobj_sysfs_ops;
            let parent_kobj = match parent {
                Parent::Rfs => RFS_ROOT.load(core::sync::atomic::Ordering::Acquire),
                Parent::Fs => sys::fs_kobj,
            };
            if parent_kobj.is_null() {
                sys::kobject_put(core::ptr::addr_of_mut!((*dir).kobj));
                return Err(ENOENT);
            }
            let ret = sys::kobject_init_and_add(
                core::ptr::addr_of_mut!((*dir).kobj),
                core::ptr::addr_of!((*dir).ktype),
                parent_kobj,
                c"%s".as_ptr().cast(),
                cname.as_ptr(),
            );
            if ret != 0 {
                sys::kobject_put(core::ptr::addr_of_mut!((*dir).kobj));
                return Err(kernel::error::Error::from_errno(ret));
            }
            // From here on `this` owns our kobject reference.
            let mut this = SysfsDir { dir: NonNull::new_unchecked(dir) };
            for i in 0..files.len() {
                // `this` drops on error: kobject_del removes the files made
                // so far.
                this.create_file(i)?;
            }
            if let Parent::Fs = parent {
                RFS_ROOT.store(core::ptr::addr_of_mut!((*dir).kobj), core::sync::atomic::Ordering::Release);
            }
            Ok(this)
        }
    }
}

impl<T: Show> SysfsDir<T> {
    /// The attributes (see [`Dir`]).
    fn attrs(&mut self) -> &mut KVec<Option<KBox<Attr>>> {
        // SAFETY: the `Dir` lives while we hold our kobject reference, and
        // only the owner of the `SysfsDir` (we, through `&mut self`) touches
        // `attrs`.
        unsafe { &mut *(*self.dir.as_ptr()).attrs.get() }
    }

    /// Makes the file of attribute `i`.
    fn create_file(&mut self, i: usize) -> Result {
        let kobj = self.dir.as_ptr().cast::<sys::kobject>();
        let a = self.attrs().get_mut(i).and_then(|a| a.as_mut()).ok_or(EINVAL)?;
        a.kattr.attr.name = a.name.as_ptr();
        // SAFETY: `kobj` is our registered kobject; the attribute is boxed
        // and stays owned by the directory until its file is removed
        // (remove_file) or the directory is released.
        let ret = unsafe {
            sys::rfs_sysfs_attr_init(&mut a.kattr.attr);
            sys::sysfs_create_file_ns(kobj, &a.kattr.attr, core::ptr::null())
        };
        if ret != 0 {
            return Err(kernel::error::Error::from_errno(ret));
        }
        Ok(())
    }

    /// Adds the read-only file `name` (at most 23 bytes).
    pub(crate) fn add_file(&mut self, name: &[u8]) -> Result {
        let a = Attr::new::<T>(name)?;
        let i = match self.attrs().iter().position(|a| a.is_none()) {
            Some(free) => free,
            None => {
                self.attrs().push(None, GFP_KERNEL)?;
                self.attrs().len() - 1
            }
        };
        let slot = self.attrs().get_mut(i).ok_or(EINVAL)?;
        *slot = Some(a);
        self.create_file(i).inspect_err(|_| {
            if let Some(slot) = self.attrs().get_mut(i) {
                *slot = None;
            }
        })
    }

    /// Removes the file `name`, if the directory has it.
    pub(crate) fn remove_file(&mut self, name: &[u8]) {
        let kobj = self.dir.as_ptr().cast::<sys::kobject>();
        let found = self.attrs().iter_mut().find(|a| a.as_ref().is_some_and(|a| a.name() == name));
        let Some(a) = found.and_then(|slot| slot.take()) else { return };
        // SAFETY: the file was made from `a` on our kobject;
        // sysfs_remove_file_ns waits for running `show` calls of it, so `a`
        // may be freed afterwards.
        unsafe { sys::sysfs_remove_file_ns(kobj, &a.kattr.attr, core::ptr::null()) };
        drop(a);
    }
}

impl<T: Show> Drop for SysfsDir<T> {
    fn drop(&mut self) {
        let kobj = self.dir.as_ptr().cast::<sys::kobject>();
        // Forget /sys/fs/rfs if this is it (no mount exists any more then).
        let _ = RFS_ROOT.compare_exchange(
            kobj,
            core::ptr::null_mut(),
            core::sync::atomic::Ordering::AcqRel,
            core::sync::atomic::Ordering::Relaxed,
        );
        // SAFETY: `kobj` is the first field of the `Dir` we created (repr(C));
        // kobject_del removes the directory and waits for running `show`
        // calls; kobject_put drops our reference and frees via `release`.
        unsafe {
            sys::kobject_del(kobj);
            sys::kobject_put(kobj);
        }
    }
}

unsafe extern "C" fn release<T: Show>(kobj: *mut sys::kobject) {
    // SAFETY: `kobj` is the first field of a `Dir<T>` made by `new` through
    // KBox::into_raw; this is its last reference.
    drop(unsafe { KBox::from_raw(kobj.cast::<Dir<T>>()) });
}

unsafe extern "C" fn show<T: Show>(
    kobj: *mut sys::kobject,
    attr: *mut sys::kobj_attribute,
    buf: *mut kernel::ffi::c_char,
) -> isize {
    // SAFETY: sysfs calls `show` only while the kobject is registered, so
    // the `Dir<T>` (first field `kobj`) and the attribute (inside it) are live.
    let (owner, attr) = unsafe { (&(*kobj.cast::<Dir<T>>()).owner, &*attr.cast::<Attr>()) };
    let mut out = SysfsOut { buf, len: 0 };
    match owner.show(attr.name(), &mut out) {
        Ok(()) => out.len,
        Err(e) => e.to_errno() as isize,
    }
}

/// `/sys/fs/aufs`, a link to `/sys/fs/rfs` (AUFS compatibility mode: the
/// per-mount `si_<id>/` directories with `brN`, `bridN` and `xi_path` are
/// where AUFS's tools look). Removed on drop.
pub(crate) struct AufsLink(());

impl AufsLink {
    /// Makes the link; `/sys/fs/rfs` must exist.
    pub(crate) fn create() -> Result<AufsLink> {
        let root = RFS_ROOT.load(core::sync::atomic::Ordering::Acquire);
        if root.is_null() {
            return Err(ENOENT);
        }
        // SAFETY: `root` is the registered /sys/fs/rfs kobject, alive while
        // the module is (the link goes first, see `Rfs`).
        let ret = unsafe { sys::rfs_aufs_sysfs_link(root) };
        if ret != 0 {
            pr_warn!("rfs: cannot make /sys/fs/aufs\n");
            return Err(kernel::error::Error::from_errno(ret));
        }
        Ok(AufsLink(()))
    }
}

impl Drop for AufsLink {
    fn drop(&mut self) {
        // SAFETY: made in `create`.
        unsafe { sys::rfs_aufs_sysfs_unlink() };
    }
}
