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
#[repr(C)]
struct Dir<T: Show> {
    kobj: sys::kobject,
    ktype: sys::kobj_type,
    attrs: KVec<Attr>,
    owner: Arc<T>,
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
            let mut a = Attr { kattr: sys::kobj_attribute::default(), name: [0; 24] };
            let dst = a.name.get_mut(..f.len()).ok_or(EINVAL)?;
            dst.copy_from_slice(f);
            attrs.push(a, GFP_KERNEL)?;
        }
        let mut cname = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
        cname.extend_from_slice(name, GFP_KERNEL)?;
        cname.push(0, GFP_KERNEL)?;

        let dir = KBox::new(
            Dir { kobj: sys::kobject::default(), ktype: sys::kobj_type::default(), attrs, owner },
            GFP_KERNEL,
        )?;
        let dir = KBox::into_raw(dir);
        // SAFETY: `dir` is a fresh, exclusively owned allocation. The names
        // and attributes live inside it (the KVec never grows again), so
        // their addresses stay valid while the kobject exists. From
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
            let this = SysfsDir { dir: NonNull::new_unchecked(dir) };
            for a in (*dir).attrs.iter_mut() {
                a.kattr.attr.name = a.name.as_ptr();
                a.kattr.attr.mode = 0o444;
                a.kattr.show = Some(show::<T>);
                sys::rfs_sysfs_attr_init(&mut a.kattr.attr);
                let ret = sys::sysfs_create_file_ns(
                    core::ptr::addr_of_mut!((*dir).kobj),
                    &a.kattr.attr,
                    core::ptr::null(),
                );
                if ret != 0 {
                    // `this` drops: kobject_del removes the files made so far.
                    return Err(kernel::error::Error::from_errno(ret));
                }
            }
            if let Parent::Fs = parent {
                RFS_ROOT.store(core::ptr::addr_of_mut!((*dir).kobj), core::sync::atomic::Ordering::Release);
            }
            Ok(this)
        }
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
    let (dir, attr) = unsafe { (&*kobj.cast::<Dir<T>>(), &*attr.cast::<Attr>()) };
    let len = attr.name.iter().position(|&c| c == 0).unwrap_or(attr.name.len());
    let name = attr.name.get(..len).unwrap_or(&[]);
    let mut out = SysfsOut { buf, len: 0 };
    match dir.owner.show(name, &mut out) {
        Ok(()) => out.len,
        Err(e) => e.to_errno() as isize,
    }
}
