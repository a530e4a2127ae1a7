//! Raw bindings: the output of the module's bindgen pass over include/rfs_vfs.h
//! (see Kbuild and include/bindgen_parameters). Nothing outside `src/vfs/` uses
//! this module.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    improper_ctypes,
    unreachable_pub,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    dead_code,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    // A lint of newer compilers (rustc 1.85, Debian's, does not know it).
    unknown_lints,
    unnecessary_transmutes
)]

// Mapped by hand, as the kernel's own bindings do, so that they are `usize`/`isize`.
pub type __kernel_size_t = usize;
pub type __kernel_ssize_t = isize;
pub type __kernel_ptrdiff_t = isize;

include!("sys_generated.rs");
