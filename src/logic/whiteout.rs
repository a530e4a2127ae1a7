//! Whiteout and reserved names.
//!
//! Rules (AUFS's):
//!
//! - Every name starting with [`WH_PREFIX`] (`.wh.`) is reserved: readdir never
//!   lists it, lookup never finds it, and creating one through the union fails.
//! - `.wh.NAME` in branch `k` (if branch `k` honors whiteouts, see
//!   [`Perm::honors_whiteouts`](super::perm::Perm::honors_whiteouts)) hides
//!   NAME in every branch strictly *below* `k`. A real `NAME` in the same
//!   branch `k` wins over its own whiteout: it is visible, and the whiteout
//!   still hides the lower ones (they are hidden by the visible `NAME` anyway).
//! - [`OPAQUE_NAME`] (`.wh..wh..opq`) inside a directory makes it opaque:
//!   nothing below merges in.
//! - Names starting with [`PRIVATE_PREFIX`] (`.wh..wh.`) are meta names
//!   (rfs's work directory, AUFS's `.wh..wh.aufs`, the opaque marker); they
//!   are never whiteouts of anything.

/// Prefix of whiteouts and of all reserved names.
pub const WH_PREFIX: &[u8] = b".wh.";
/// The marker file that makes a directory opaque.
pub const OPAQUE_NAME: &[u8] = b".wh..wh..opq";
/// Prefix of meta names (work directory and the like).
pub const PRIVATE_PREFIX: &[u8] = b".wh..wh.";
/// rfs's work directory at the top of the writable branch (copy-up
/// temporaries, directories being removed).
pub const WORK_DIR_NAME: &[u8] = b".wh..wh.orph";
/// The pseudo-link directory at the top of the writable branch.
pub const PLINK_DIR_NAME: &[u8] = b".wh..wh.plnk";
/// The default xino file at the top of the writable branch.
pub const XINO_NAME: &[u8] = b".wh..wh.xino";
/// AUFS's base directory name at the top of a branch.
pub const AUFS_BASE_NAME: &[u8] = b".wh..wh.aufs";
/// Longest file name (bytes), as the kernel's `NAME_MAX`.
pub const NAME_MAX: usize = 255;

use super::vec::{NoMem, Vec, VecExt};

/// Why a whiteout name could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhError {
    /// `.wh.` + name is longer than [`NAME_MAX`] (`ENAMETOOLONG`).
    NameTooLong,
    /// The name is empty, `.`, `..`, reserved, or contains `/` or NUL (`EINVAL`).
    Invalid,
    /// Allocation failure (`ENOMEM`).
    NoMem,
}

impl From<NoMem> for WhError {
    fn from(_: NoMem) -> Self {
        WhError::NoMem
    }
}

/// True if `name` is reserved (starts with `.wh.`).
pub fn is_reserved(name: &[u8]) -> bool {
    name.starts_with(WH_PREFIX)
}

/// True if `name` is a meta name (starts with `.wh..wh.`).
pub fn is_private(name: &[u8]) -> bool {
    name.starts_with(PRIVATE_PREFIX)
}

/// True if `name` is the opaque-directory marker.
pub fn is_opaque_marker(name: &[u8]) -> bool {
    name == OPAQUE_NAME
}

/// The name that `.wh.X` whites out: `Some(X)`.
///
/// `None` if `name` is not a whiteout: no `.wh.` prefix, empty `X`, or `X`
/// itself reserved (meta names like `.wh..wh..opq`).
pub fn whiteout_target(name: &[u8]) -> Option<&[u8]> {
    let target = name.strip_prefix(WH_PREFIX)?;
    if target.is_empty() || is_reserved(target) {
        None
    } else {
        Some(target)
    }
}

/// True if `name` can be an entry of a union directory (and so be whited
/// out): not empty, not `.`/`..`, not reserved, no `/` and no NUL, at most
/// [`NAME_MAX`] bytes.
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name != b"."
        && name != b".."
        && !is_reserved(name)
        && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// Appends the whiteout name of `name` (`.wh.` + `name`) to `out`.
///
/// `out` is appended to, not cleared. On error `out` is unchanged.
pub fn whiteout_name(name: &[u8], out: &mut Vec<u8>) -> Result<(), WhError> {
    let total = WH_PREFIX.len().checked_add(name.len()).ok_or(WhError::NameTooLong)?;
    if total > NAME_MAX {
        return Err(WhError::NameTooLong);
    }
    if !is_valid_name(name) {
        return Err(WhError::Invalid);
    }
    out.try_reserve_more(total)?;
    out.try_extend_from_slice(WH_PREFIX)?;
    out.try_extend_from_slice(name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_private() {
        assert!(is_reserved(b".wh.x"));
        assert!(is_reserved(b".wh."));
        assert!(is_reserved(OPAQUE_NAME));
        assert!(!is_reserved(b".wh"));
        assert!(!is_reserved(b"x.wh.y"));
        assert!(!is_reserved(b""));
        assert!(is_private(b".wh..wh.rfs.work"));
        assert!(is_private(OPAQUE_NAME));
        assert!(!is_private(b".wh.x"));
        assert!(is_opaque_marker(b".wh..wh..opq"));
        assert!(!is_opaque_marker(b".wh..wh..opq2"));
        for n in [WORK_DIR_NAME, PLINK_DIR_NAME, XINO_NAME, AUFS_BASE_NAME] {
            assert!(is_private(n) && whiteout_target(n).is_none() && !is_opaque_marker(n));
        }
    }

    #[test]
    fn targets() {
        assert_eq!(whiteout_target(b".wh.file"), Some(&b"file"[..]));
        assert_eq!(whiteout_target(b".wh..hidden"), Some(&b".hidden"[..]));
        assert_eq!(whiteout_target(b".wh."), None);
        assert_eq!(whiteout_target(b".wh..wh..opq"), None);
        assert_eq!(whiteout_target(b".wh..wh.aufs"), None);
        assert_eq!(whiteout_target(b"file"), None);
        assert_eq!(whiteout_target(b""), None);
    }

    #[test]
    fn build_names() {
        let mut out = Vec::new();
        whiteout_name(b"newfile", &mut out).unwrap();
        assert_eq!(out.as_slice(), b".wh.newfile");
        let max = [b'a'; NAME_MAX - 4];
        let mut out2 = Vec::new();
        whiteout_name(&max, &mut out2).unwrap();
        assert_eq!(out2.len(), NAME_MAX);
        assert_eq!(whiteout_target(&out2), Some(&max[..]));
        let long = [b'a'; NAME_MAX - 3];
        assert_eq!(whiteout_name(&long, &mut out), Err(WhError::NameTooLong));
        assert_eq!(whiteout_name(&[b'a'; 5000], &mut out), Err(WhError::NameTooLong));
        for bad in [&b""[..], b".", b"..", b".wh.x", b"a/b", b"a\0b"] {
            assert_eq!(whiteout_name(bad, &mut out), Err(WhError::Invalid), "{bad:?}");
        }
        assert_eq!(out.as_slice(), b".wh.newfile");
    }
}
