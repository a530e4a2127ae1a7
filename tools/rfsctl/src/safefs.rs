//! Writing beneath one directory and nowhere else.
//!
//! Every path is a list of checked components ([`components`]: no `..`, no
//! absolute path, no empty or over-long name) and is reached from the root's
//! file descriptor one component at a time with `openat(O_NOFOLLOW |
//! O_DIRECTORY)`. A symlink or non-directory on the way stops the walk
//! (ELOOP/ENOTDIR), so nothing written through a [`Root`] can land outside
//! it, whatever symlinks the tree holds.

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path below a root: its components, none of them `.`, `..` or empty.
pub type Rel = Vec<Vec<u8>>;

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// An absolute path.
    Absolute,
    /// A `..` component.
    DotDot,
    /// A component longer than NAME_MAX.
    TooLong,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::Absolute => "absolute path",
            PathError::DotDot => "'..' component",
            PathError::TooLong => "a name longer than 255 bytes",
        })
    }
}

/// Splits a relative path (as an archive names it) into components: `.`
/// and empty components go (`./a//b/` is `a/b`), `..` and absolute paths
/// are refused. The empty list is the root itself.
pub fn components(p: &[u8]) -> Result<Rel, PathError> {
    if p.starts_with(b"/") {
        return Err(PathError::Absolute);
    }
    let mut out = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(PathError::DotDot),
            c if c.len() > rfs_logic::whiteout::NAME_MAX => return Err(PathError::TooLong),
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

/// A path for messages.
pub fn show(rel: &[Vec<u8>]) -> String {
    if rel.is_empty() {
        return ".".into();
    }
    String::from_utf8_lossy(&rel.join(&b'/')).into_owned()
}

/// `name` as a path argument.
pub fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

/// A directory that everything is written beneath.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

/// Opens a directory below `dir` (never following a symlink).
pub fn open_dir_at(dir: impl AsFd, name: &[u8]) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl Root {
    /// Opens `path` (which may itself be reached through symlinks: it is
    /// the caller's choice) as the root.
    pub fn open(path: &Path) -> Result<Root, Errno> {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    /// The root's descriptor.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// The directory `rel` (the root for an empty `rel`), walked without
    /// following symlinks. With `create`, missing directories are made
    /// (mode 0755 less the umask); `created` gets each one made.
    pub fn dir(&self, rel: &[Vec<u8>], create: bool, created: &mut Vec<Rel>) -> Result<OwnedFd, Errno> {
        let mut cur = rustix::io::dup(&self.fd)?;
        for (i, c) in rel.iter().enumerate() {
            let next = match open_dir_at(&cur, c) {
                Err(Errno::NOENT) if create => {
                    rustix::fs::mkdirat(&cur, os(c), Mode::from_raw_mode(0o755))?;
                    created.push(rel[..=i].to_vec());
                    open_dir_at(&cur, c)?
                }
                r => r?,
            };
            cur = next;
        }
        Ok(cur)
    }

    /// The parent directory of `rel` and its last component (`None` for
    /// the root itself).
    pub fn parent<'a>(
        &self,
        rel: &'a [Vec<u8>],
        create: bool,
        created: &mut Vec<Rel>,
    ) -> Result<Option<(OwnedFd, &'a [u8])>, Errno> {
        let Some((last, dirs)) = rel.split_last() else { return Ok(None) };
        Ok(Some((self.dir(dirs, create, created)?, last.as_slice())))
    }
}

/// Removes `name` in `dir` and, for a directory, everything below it (never
/// following a symlink).
pub fn remove_all_at(dir: impl AsFd, name: &[u8]) -> Result<(), Errno> {
    match rustix::fs::unlinkat(&dir, os(name), AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(e) => return Err(e),
    }
    let sub = open_dir_at(&dir, name)?;
    // A directory left without write or search permission (mode 0555
    // from an archive) is made writable first.
    let _ = rustix::fs::fchmod(&sub, Mode::from_raw_mode(0o700));
    for name in list_dir(&sub)? {
        remove_all_at(&sub, &name)?;
    }
    rustix::fs::unlinkat(&dir, os(name), AtFlags::REMOVEDIR)
}

/// The names in directory `dir` (without `.` and `..`), sorted bytewise.
pub fn list_dir(dir: impl AsFd) -> Result<Vec<Vec<u8>>, Errno> {
    let fd = rustix::fs::openat(dir, c".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut d = rustix::fs::Dir::read_from(&fd)?;
    let mut out = Vec::new();
    while let Some(e) = d.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    out.sort();
    Ok(out)
}

/// Removes a whole tree by path (its top may not be a symlink).
pub fn remove_tree(p: &Path) -> Result<(), Errno> {
    let parent = p.parent().filter(|x| !x.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Some(name) = p.file_name() else { return Err(Errno::INVAL) };
    let d = rustix::fs::open(parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    match remove_all_at(&d, name.as_bytes()) {
        Err(Errno::NOENT) => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths() {
        assert_eq!(components(b"./a//b/").unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(components(b"./").unwrap(), Rel::new());
        assert_eq!(components(b"/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(components(b"a/../../b"), Err(PathError::DotDot));
        assert_eq!(components(b".."), Err(PathError::DotDot));
        assert_eq!(components(&[b'x'; 256]), Err(PathError::TooLong));
        assert_eq!(show(&components(b"a/b").unwrap()), "a/b");
    }

    #[test]
    fn never_walks_through_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(out.path(), t.path().join("link")).unwrap();
        let r = Root::open(t.path()).unwrap();
        let mut made = Vec::new();
        let e = r.dir(&components(b"link/sub").unwrap(), true, &mut made).unwrap_err();
        assert!(e == Errno::LOOP || e == Errno::NOTDIR, "{e:?}");
        assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
        r.dir(&components(b"a/b").unwrap(), true, &mut made).unwrap();
        assert_eq!(made.len(), 2);
        assert!(t.path().join("a/b").is_dir());
        remove_tree(&t.path().join("a")).unwrap();
        assert!(!t.path().join("a").exists());
    }
}
