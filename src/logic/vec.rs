//! The one allocation seam of the logic code.
//!
//! Everything in `logic` that allocates uses [`Vec`] and the fallible methods of
//! [`VecExt`]; nothing else. [`Vec`] is:
//!
//! - on the host: `alloc::vec::Vec<T>`;
//! - in the kernel (`--cfg rfs_kernel`): `kernel::alloc::KVVec<T>` (kmalloc with a
//!   vmalloc fallback, so big merged directories and inode maps work);
//! - with `--cfg rfs_strict` on the host: a wrapper that exposes exactly the API
//!   of the kernel's 6.12 `Vec` that the logic code may use, so a host build
//!   catches calls the kernel would not have (`truncate`, `clear`, `collect`,
//!   `Clone`, `Default`, `vec!`, ...).
//!
//! Operations the code may use on [`Vec`]: `Vec::new()`, the [`VecExt`] methods,
//! `len`, `is_empty`, `capacity`, `as_slice`, `as_mut_slice`, `Deref`/`DerefMut`
//! to a slice (and so every slice method of `core`), `Index`, iteration over
//! `&Vec`/`&mut Vec`, `Debug`, `PartialEq`, `Eq`.

/// Allocation failure (`ENOMEM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMem;

/// Fallible growth of [`Vec`], the same on the host and in the kernel.
pub trait VecExt<T>: Sized {
    /// Appends `v`, or fails without changing the vector.
    fn try_push(&mut self, v: T) -> Result<(), NoMem>;
    /// Makes an empty vector that can hold at least `n` elements.
    fn try_with_capacity(n: usize) -> Result<Self, NoMem>;
    /// Makes room for at least `n` more elements.
    fn try_reserve_more(&mut self, n: usize) -> Result<(), NoMem>;
    /// Appends clones of all of `s`, or fails without changing the vector.
    fn try_extend_from_slice(&mut self, s: &[T]) -> Result<(), NoMem>
    where
        T: Clone;
}

/// Makes an empty vector that can hold at least `n` elements.
///
/// Use this rather than `Vec::try_with_capacity`: the host's `Vec` has an
/// unstable inherent method of that name that would take precedence once
/// stabilised.
pub fn vec_with_capacity<T>(n: usize) -> Result<Vec<T>, NoMem> {
    <Vec<T> as VecExt<T>>::try_with_capacity(n)
}

/// Makes a new vector holding clones of `s`.
pub fn vec_from_slice<T: Clone>(s: &[T]) -> Result<Vec<T>, NoMem> {
    let mut v = vec_with_capacity(s.len())?;
    v.try_extend_from_slice(s)?;
    Ok(v)
}

// ---------------------------------------------------------------------------
// Plain host build.

/// The growable array used by all logic code (host: `alloc::vec::Vec`).
#[cfg(all(not(rfs_kernel), not(rfs_strict)))]
pub type Vec<T> = alloc::vec::Vec<T>;

#[cfg(all(not(rfs_kernel), not(rfs_strict)))]
impl<T> VecExt<T> for Vec<T> {
    fn try_push(&mut self, v: T) -> Result<(), NoMem> {
        self.try_reserve(1).map_err(|_| NoMem)?;
        self.push(v);
        Ok(())
    }

    fn try_with_capacity(n: usize) -> Result<Self, NoMem> {
        let mut v = Vec::new();
        v.try_reserve(n).map_err(|_| NoMem)?;
        Ok(v)
    }

    fn try_reserve_more(&mut self, n: usize) -> Result<(), NoMem> {
        self.try_reserve(n).map_err(|_| NoMem)
    }

    fn try_extend_from_slice(&mut self, s: &[T]) -> Result<(), NoMem>
    where
        T: Clone,
    {
        self.try_reserve(s.len()).map_err(|_| NoMem)?;
        self.extend_from_slice(s);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Kernel build, and the host build that imitates it.

#[cfg(rfs_kernel)]
use kernel::alloc as kalloc;

#[cfg(all(not(rfs_kernel), rfs_strict))]
use self::strict as kalloc;

/// The growable array used by all logic code (kernel: `KVVec`).
#[cfg(any(rfs_kernel, rfs_strict))]
pub type Vec<T> = kalloc::KVVec<T>;

// Allocations are charged to the memory cgroup of the task that makes them
// (`GFP_KERNEL_ACCOUNT`): merged directory listings kept with open files and
// the inode-number map grow with what users do, and must count against
// their limits.
#[cfg(any(rfs_kernel, rfs_strict))]
impl<T> VecExt<T> for Vec<T> {
    fn try_push(&mut self, v: T) -> Result<(), NoMem> {
        self.push(v, kalloc::flags::GFP_KERNEL_ACCOUNT).map_err(|_: kalloc::AllocError| NoMem)
    }

    fn try_with_capacity(n: usize) -> Result<Self, NoMem> {
        Vec::with_capacity(n, kalloc::flags::GFP_KERNEL_ACCOUNT).map_err(|_: kalloc::AllocError| NoMem)
    }

    fn try_reserve_more(&mut self, n: usize) -> Result<(), NoMem> {
        self.reserve(n, kalloc::flags::GFP_KERNEL_ACCOUNT).map_err(|_: kalloc::AllocError| NoMem)
    }

    fn try_extend_from_slice(&mut self, s: &[T]) -> Result<(), NoMem>
    where
        T: Clone,
    {
        self.extend_from_slice(s, kalloc::flags::GFP_KERNEL_ACCOUNT)
            .map_err(|_: kalloc::AllocError| NoMem)
    }
}

/// A host stand-in for the part of `kernel::alloc` the logic code uses.
///
/// `KVVec` here wraps `alloc::vec::Vec` but offers only what the kernel's
/// `Vec` (6.12 backport) offers. Deliberately missing: `Default` (only `KVec`
/// has it in the kernel), `Clone`, `truncate`, `clear`, `pop`, `remove`,
/// `insert`, `retain`, `FromIterator`, `Extend`.
#[cfg(all(not(rfs_kernel), rfs_strict))]
pub mod strict {
    use core::ops::{Deref, DerefMut};

    /// Allocation failure, as `kernel::alloc::AllocError`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct AllocError;

    /// Allocation flags, as `kernel::alloc::flags`.
    pub mod flags {
        /// Stand-in for `kernel::alloc::Flags`.
        #[derive(Debug, Clone, Copy)]
        pub struct Flags(pub u32);
        /// Stand-in for `GFP_KERNEL`.
        pub const GFP_KERNEL: Flags = Flags(0);
        /// Stand-in for `GFP_KERNEL_ACCOUNT`.
        pub const GFP_KERNEL_ACCOUNT: Flags = Flags(1);
    }

    /// The kernel `Vec` API surface over a host vector.
    #[derive(Debug, PartialEq, Eq)]
    pub struct KVVec<T>(alloc::vec::Vec<T>);

    // No `Default`: the kernel has it for `KVec` only, not for `KVVec`.
    #[allow(clippy::new_without_default)]
    impl<T> KVVec<T> {
        /// As the kernel's `Vec::new`.
        pub const fn new() -> Self {
            KVVec(alloc::vec::Vec::new())
        }
        /// As the kernel's `Vec::push`.
        pub fn push(&mut self, v: T, _f: flags::Flags) -> Result<(), AllocError> {
            self.0.try_reserve(1).map_err(|_| AllocError)?;
            self.0.push(v);
            Ok(())
        }
        /// As the kernel's `Vec::with_capacity`.
        pub fn with_capacity(n: usize, _f: flags::Flags) -> Result<Self, AllocError> {
            let mut v = alloc::vec::Vec::new();
            v.try_reserve(n).map_err(|_| AllocError)?;
            Ok(KVVec(v))
        }
        /// As the kernel's `Vec::reserve`.
        pub fn reserve(&mut self, n: usize, _f: flags::Flags) -> Result<(), AllocError> {
            self.0.try_reserve(n).map_err(|_| AllocError)
        }
        /// As the kernel's `Vec::len`.
        pub fn len(&self) -> usize {
            self.0.len()
        }
        /// As the kernel's `Vec::is_empty`.
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        /// As the kernel's `Vec::capacity`.
        pub fn capacity(&self) -> usize {
            self.0.capacity()
        }
        /// As the kernel's `Vec::as_slice`.
        pub fn as_slice(&self) -> &[T] {
            &self.0
        }
        /// As the kernel's `Vec::as_mut_slice`.
        pub fn as_mut_slice(&mut self) -> &mut [T] {
            &mut self.0
        }
    }

    impl<T: Clone> KVVec<T> {
        /// As the kernel's `Vec::extend_from_slice`.
        pub fn extend_from_slice(&mut self, s: &[T], _f: flags::Flags) -> Result<(), AllocError> {
            self.0.try_reserve(s.len()).map_err(|_| AllocError)?;
            self.0.extend_from_slice(s);
            Ok(())
        }
    }

    impl<T> Deref for KVVec<T> {
        type Target = [T];
        fn deref(&self) -> &[T] {
            &self.0
        }
    }

    impl<T> DerefMut for KVVec<T> {
        fn deref_mut(&mut self) -> &mut [T] {
            &mut self.0
        }
    }

    impl<'a, T> IntoIterator for &'a KVVec<T> {
        type Item = &'a T;
        type IntoIter = core::slice::Iter<'a, T>;
        fn into_iter(self) -> Self::IntoIter {
            self.0.iter()
        }
    }

    impl<'a, T> IntoIterator for &'a mut KVVec<T> {
        type Item = &'a mut T;
        type IntoIter = core::slice::IterMut<'a, T>;
        fn into_iter(self) -> Self::IntoIter {
            self.0.iter_mut()
        }
    }

    impl<T, I: core::slice::SliceIndex<[T]>> core::ops::Index<I> for KVVec<T> {
        type Output = I::Output;
        fn index(&self, i: I) -> &I::Output {
            core::ops::Index::index(&*self.0, i)
        }
    }

    impl<T, I: core::slice::SliceIndex<[T]>> core::ops::IndexMut<I> for KVVec<T> {
        fn index_mut(&mut self, i: I) -> &mut I::Output {
            core::ops::IndexMut::index_mut(&mut *self.0, i)
        }
    }

    impl<T: PartialEq<U>, U> PartialEq<[U]> for KVVec<T> {
        fn eq(&self, other: &[U]) -> bool {
            self.0[..] == other[..]
        }
    }

    impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for KVVec<T> {
        fn eq(&self, other: &[U; N]) -> bool {
            self.0[..] == other[..]
        }
    }

    impl<T: PartialEq<U>, U> PartialEq<&[U]> for KVVec<T> {
        fn eq(&self, other: &&[U]) -> bool {
            self.0[..] == other[..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_reserve_extend() {
        let mut v: Vec<u32> = vec_with_capacity(2).unwrap();
        assert!(v.capacity() >= 2);
        v.try_push(1).unwrap();
        v.try_extend_from_slice(&[2, 3]).unwrap();
        v.try_reserve_more(10).unwrap();
        assert!(v.capacity() >= 13);
        assert_eq!(v.as_slice(), &[1, 2, 3]);
        let w = vec_from_slice(v.as_slice()).unwrap();
        assert_eq!(w.as_slice(), v.as_slice());
    }

    #[test]
    fn huge_reservation_fails_cleanly() {
        let mut v: Vec<u64> = Vec::new();
        assert_eq!(v.try_reserve_more(usize::MAX), Err(NoMem));
        assert_eq!(vec_with_capacity::<u64>(usize::MAX / 2).err(), Some(NoMem));
        assert!(v.is_empty());
    }
}
