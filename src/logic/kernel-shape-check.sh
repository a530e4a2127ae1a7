#!/bin/sh
# Compiles src/logic the way the kernel module does, without a kernel tree:
# as `#[path = "logic/mod.rs"] mod logic;` inside a #![no_std] crate that has
# no `alloc` crate, with --cfg rfs_kernel, the kernel's Rust lints, and a
# stand-in `kernel` crate whose `kernel::alloc` is the rfs_strict wrapper from
# vec.rs (the API of the 6.12 KVVec). Catches `alloc::`/`std::` paths,
# `crate::` paths, missing docs and Vec methods the kernel lacks.
#
#   sh src/logic/kernel-shape-check.sh      (exit status 0 = fine)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The stand-in kernel crate: the body of `pub mod strict { ... }` in vec.rs.
awk '
    /^pub mod strict \{/ { on = 1; print "pub mod alloc {"; next }
    on && /^\}/ { print "}"; exit }
    on { gsub(/alloc::vec::Vec/, "std_alloc::vec::Vec"); print }
' "$here/vec.rs" > "$tmp/body.rs"
{
    echo '#![no_std]'
    echo '#![allow(missing_docs)]'
    echo 'extern crate alloc as std_alloc;'
    cat "$tmp/body.rs"
} > "$tmp/kernel.rs"
cat > "$tmp/rfs.rs" <<EOR
//! Stand-in module crate root.
#![no_std]
#[path = "$here/mod.rs"]
mod logic;
EOR
lints="-Dwarnings -Dunsafe_op_in_unsafe_fn -Wmissing_docs -Wrust_2018_idioms
 -Wunreachable_pub -Dnon_ascii_idents"
rustc --edition=2021 --crate-type rlib --crate-name kernel \
    -o "$tmp/libkernel.rlib" "$tmp/kernel.rs"
driver=rustc
clippy_lints=
if command -v clippy-driver >/dev/null 2>&1; then
    driver=clippy-driver
    clippy_lints="-Wclippy::all -Aclippy::collapsible_if -Wclippy::mut_mut
 -Wclippy::needless_bitwise_bool -Wclippy::ignored_unit_patterns
 -Wclippy::float_arithmetic"
fi
# shellcheck disable=SC2086
$driver --edition=2021 --crate-type rlib --crate-name rfs --cfg rfs_kernel \
    --extern kernel="$tmp/libkernel.rlib" -L "$tmp" -Cpanic=abort \
    -Coverflow-checks=on $lints $clippy_lints \
    -o "$tmp/librfs.rlib" "$tmp/rfs.rs"
echo "src/logic: kernel-shape build OK ($driver)"
