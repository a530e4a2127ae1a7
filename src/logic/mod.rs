//! rfs's pure union logic: everything that needs no kernel object.
//!
//! # The split
//!
//! `src/logic/` holds the rules of the union that can be stated on bytes and
//! numbers: option parsing ([`options`]), branch permissions ([`perm`]), the
//! branch table and remount operations ([`branch`]), whiteout names
//! ([`whiteout`]), the readdir merge ([`merge`]) and the inode number map
//! ([`inomap`]). The kernel glue in `src/` (VFS operations, dentries, inodes,
//! locking, credentials, sysfs) calls into it.
//!
//! The same files are built two ways:
//!
//! - on the host as the `rfs_logic` library crate (top-level `Cargo.toml`),
//!   so `cargo test` checks the logic in milliseconds, without a VM;
//! - inside the kernel module as a plain module: the module's crate root
//!   says `#[path = "logic/mod.rs"] mod logic;` and the build passes
//!   `--cfg rfs_kernel`.
//!
//! Rules that keep both builds working:
//!
//! - No `crate::` paths (in the kernel `crate` is the module's root); siblings
//!   are reached with `super::`.
//! - No `alloc` or `std`: all allocation goes through [`vec`] (`Vec` is the
//!   kernel's `KVVec` there) with fallible methods only. Host build with
//!   `RUSTFLAGS='--cfg rfs_strict'` to check that only the kernel's `Vec` API
//!   is used.
//! - No `unsafe`, no panics on any input (no `unwrap`, no unchecked indexing
//!   or arithmetic on input-derived values), names and paths as `&[u8]`.
//! - Every public item documented (the kernel builds with `missing_docs`).

#![cfg_attr(not(rfs_kernel), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]
// In the kernel this is a private module of the module crate, and the glue
// uses only part of the API.
#![cfg_attr(rfs_kernel, allow(unreachable_pub, dead_code))]

#[cfg(not(rfs_kernel))]
extern crate alloc;

#[cfg(all(test, not(rfs_kernel)))]
extern crate std;

pub mod branch;
pub mod hash;
pub mod inomap;
pub mod merge;
#[cfg(not(rfs_kernel))]
pub mod model;
pub mod options;
pub mod perm;
pub mod policy;
pub mod vec;
pub mod whfacts;
pub mod whiteout;
pub mod xino;
