//! What a mount or remount asks of the kernel, worked out before any
//! system call: the fsconfig(2) keys and the mount attributes.
//!
//! The option syntax is the logic crate's (`rfs_logic::options`): rfsctl
//! splits `-o` with its splitter, pre-checks every rfs option with its
//! parser (the kernel parses the same text again) and escapes branch paths
//! with its escaper.
//!
//! fsconfig(2) copies a string value of at most 255 bytes
//! (`strndup_user(value, 256)` in fs/fsopen.c). A branch list longer than
//! that is therefore given as one `dirs=` with the branches that fit,
//! followed by one `append=BR` per further branch: the kernel applies the
//! `append` operations of a new mount after `dirs=` (see `mount_specs` in
//! src/logic/branch.rs), and their default permission (`ro`) is the one a
//! branch below the top gets in `dirs=`, so the result is the same stack.

use rfs_logic::options::{self, MountOption, MAX_BRANCHES};
use rfs_logic::perm::Perm;
use std::fmt;

/// Longest string value fsconfig(2) takes, without its NUL.
pub const FSCONFIG_VALUE_MAX: usize = 255;

/// An error in what the user asked for, found before any system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError(msg.into()))
}

/// One branch as given: its path (plain bytes, no escapes) and the
/// permission text if one was written (`ro+wh`, `rw`, `rr+unpin`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchArg {
    /// The branch root.
    pub path: Vec<u8>,
    /// `=PERM` as written, if any.
    pub perm: Option<String>,
}

impl BranchArg {
    /// Parses `PATH[=PERM]` as typed on a command line or in a branch list
    /// file: the text after the last `=` is a permission if the logic crate
    /// knows it, else it is part of the path. No escapes are interpreted.
    pub fn parse(s: &[u8]) -> Result<BranchArg, PlanError> {
        if let Some(i) = s.iter().rposition(|&c| c == b'=') {
            let (path, perm) = (&s[..i], &s[i + 1..]);
            if Perm::parse(perm).is_some() && !path.is_empty() {
                return Ok(BranchArg { path: path.to_vec(), perm: Some(String::from_utf8_lossy(perm).into_owned()) });
            }
        }
        if s.is_empty() {
            return err("empty branch path");
        }
        Ok(BranchArg { path: s.to_vec(), perm: None })
    }

    /// The branch in option syntax (`BR`: escaped path, `=PERM` if given).
    pub fn to_option_text(&self) -> String {
        let mut out = rfs_logic::vec::Vec::new();
        // Host allocation failure aborts anyway.
        let _ = options::escape_path(&self.path, &mut out);
        let mut s = String::from_utf8_lossy(out.as_slice()).into_owned();
        if let Some(p) = &self.perm {
            s.push('=');
            s.push_str(p);
        }
        s
    }

    /// The path for messages.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Reads a branch list file: one `PATH[=PERM]` a line, top first; empty
/// lines and lines starting with `#` are skipped.
pub fn parse_branch_list(text: &[u8]) -> Result<Vec<BranchArg>, PlanError> {
    text.split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
        .map(BranchArg::parse)
        .collect()
}

/// Mount attributes (`MOUNT_ATTR_*` of fsmount(2)) by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `ro`.
    pub rdonly: bool,
    /// `nosuid`.
    pub nosuid: bool,
    /// `nodev`.
    pub nodev: bool,
    /// `noexec`.
    pub noexec: bool,
    /// `noatime` / `relatime` / `strictatime` (the last given).
    pub atime: Option<Atime>,
    /// `nodiratime`.
    pub nodiratime: bool,
}

/// The access time update rule of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atime {
    /// `noatime`.
    No,
    /// `relatime`.
    Relative,
    /// `strictatime`.
    Strict,
}

/// One fsconfig(2) call: a key with a string value, or a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The key (`dirs`, `append`, `udba`, `ro`, ...).
    pub key: String,
    /// The value; `None` for a flag.
    pub value: Option<String>,
}

impl Param {
    fn kv(key: &str, value: String) -> Param {
        Param { key: key.to_owned(), value: Some(value) }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}", self.key, v),
            None => f.write_str(&self.key),
        }
    }
}

/// A parsed `-o` option string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOpts {
    /// Branches from `dirs=`/`br=`/`br:` (the last one given).
    pub branches: Option<Vec<BranchArg>>,
    /// The other rfs options, in order, as fsconfig parameters.
    pub params: Vec<Param>,
    /// The generic flags.
    pub attrs: Attrs,
    /// `remount` was given (mount.rfs: a remount of the union at DIR).
    pub remount: bool,
    /// `rw` was given (a remount makes the union writable again).
    pub rw: bool,
}

/// Options mount(8) handles itself, or that mean the default: ignored.
const USERSPACE_ONLY: [&str; 14] = [
    "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "_netdev", "nofail", "suid",
    "dev", "exec", "loud",
];

/// Parses a `-o` string (comma-separated, `\` escapes as in rfs's mount
/// data). Every rfs option is checked with the logic crate's parser.
pub fn parse_mount_opts(data: &str) -> Result<MountOpts, PlanError> {
    let mut o = MountOpts::default();
    for raw in options::split_options(data.as_bytes()) {
        let text = String::from_utf8_lossy(raw).into_owned();
        let a = &mut o.attrs;
        match text.as_str() {
            "ro" => a.rdonly = true,
            "nosuid" => a.nosuid = true,
            "nodev" => a.nodev = true,
            "noexec" => a.noexec = true,
            "noatime" => a.atime = Some(Atime::No),
            "relatime" => a.atime = Some(Atime::Relative),
            "strictatime" => a.atime = Some(Atime::Strict),
            "nodiratime" => a.nodiratime = true,
            "remount" => o.remount = true,
            "rw" => o.rw = true,
            t if USERSPACE_ONLY.contains(&t) || t.starts_with("x-") || t.starts_with("si=") => {}
            "sync" | "dirsync" | "lazytime" | "silent" | "nolazytime" => {
                o.params.push(Param { key: text.clone(), value: None });
            }
            _ => {
                let parsed = options::parse_option(raw)
                    .map_err(|e| PlanError(format!("option {text}: {}", e.msg)))?;
                if let MountOption::Branches(list) = parsed {
                    let mut v = Vec::new();
                    for b in list.as_slice() {
                        v.push(BranchArg {
                            path: b.path.as_slice().to_vec(),
                            perm: b.perm_given.then(|| b.perm.as_str().to_owned()),
                        });
                    }
                    o.branches = Some(v);
                } else {
                    // As the kernel's mount(2) path does: the key is up to
                    // the first '=', the rest is the value.
                    let p = match text.split_once('=') {
                        Some((k, v)) => Param::kv(k, v.to_owned()),
                        None => Param { key: text.clone(), value: None },
                    };
                    o.params.push(p);
                }
            }
        }
    }
    Ok(o)
}

/// Checks a branch list with the logic crate (count, duplicates, path
/// length, permissions), as the kernel will check `dirs=` textually.
pub fn check_branches(branches: &[BranchArg]) -> Result<(), PlanError> {
    if branches.is_empty() {
        return err("no branches given");
    }
    if branches.len() > MAX_BRANCHES {
        return err(format!("{} branches: rfs takes at most {MAX_BRANCHES}", branches.len()));
    }
    let joined = branches.iter().map(BranchArg::to_option_text).collect::<Vec<_>>().join(":");
    options::parse_option(format!("dirs={joined}").as_bytes())
        .map(drop)
        .map_err(|e| PlanError(format!("branches: {}", e.msg)))
}

/// The fsconfig parameters that give `branches` to a new mount: `dirs=`
/// with as many as fit in [`FSCONFIG_VALUE_MAX`] bytes, then `append=`
/// for each of the others.
pub fn branch_params(branches: &[BranchArg]) -> Result<Vec<Param>, PlanError> {
    let mut out = Vec::new();
    let mut dirs = String::new();
    let mut rest = branches.iter();
    for b in rest.by_ref() {
        let t = b.to_option_text();
        if t.len() > FSCONFIG_VALUE_MAX {
            return err(too_long(b));
        }
        let need = if dirs.is_empty() { t.len() } else { dirs.len() + 1 + t.len() };
        if need > FSCONFIG_VALUE_MAX {
            out.push(Param::kv("dirs", std::mem::take(&mut dirs)));
            out.push(Param::kv("append", t));
            break;
        }
        if !dirs.is_empty() {
            dirs.push(':');
        }
        dirs.push_str(&t);
    }
    if !dirs.is_empty() {
        out.push(Param::kv("dirs", dirs));
    }
    for b in rest {
        out.push(one_branch("append", b)?);
    }
    Ok(out)
}

fn too_long(b: &BranchArg) -> String {
    format!(
        "branch {}: longer than the {FSCONFIG_VALUE_MAX} bytes fsconfig(2) takes for a value (use a shorter path, e.g. through a symlink)",
        b.display()
    )
}

/// `KEY=BR` for one branch, within the fsconfig limit.
pub fn one_branch(key: &str, b: &BranchArg) -> Result<Param, PlanError> {
    let t = b.to_option_text();
    if t.len() > FSCONFIG_VALUE_MAX {
        return err(too_long(b));
    }
    Ok(Param::kv(key, t))
}

/// A live branch operation (`rfsctl branch ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchOp {
    /// Add at the bottom, in the order given.
    Append(Vec<BranchArg>),
    /// Add on top; the first one given ends up on top.
    Prepend(Vec<BranchArg>),
    /// Insert at an index; the first one given gets that index.
    Add(usize, Vec<BranchArg>),
    /// Remove the branches at these paths.
    Del(Vec<Vec<u8>>),
    /// Change permissions (`PATH=PERM` each).
    Mod(Vec<BranchArg>),
}

/// The fsconfig parameters of a branch operation, applied by the kernel in
/// order on one copy of the branch table (all or nothing).
pub fn op_params(op: &BranchOp) -> Result<Vec<Param>, PlanError> {
    let mut out = Vec::new();
    match op {
        BranchOp::Append(list) => {
            for b in list {
                out.push(one_branch("append", b)?);
            }
        }
        BranchOp::Prepend(list) => {
            for b in list.iter().rev() {
                out.push(one_branch("prepend", b)?);
            }
        }
        BranchOp::Add(index, list) => {
            for (i, b) in list.iter().enumerate() {
                let mut p = one_branch("add", b)?;
                let v = format!("{}:{}", index + i, p.value.unwrap_or_default());
                if v.len() > FSCONFIG_VALUE_MAX {
                    return err(too_long(b));
                }
                p.value = Some(v);
                out.push(p);
            }
        }
        BranchOp::Del(paths) => {
            for p in paths {
                let b = BranchArg { path: p.clone(), perm: None };
                out.push(one_branch("del", &b)?);
            }
        }
        BranchOp::Mod(list) => {
            for b in list {
                if b.perm.is_none() {
                    return err(format!("mod {}: give PATH=PERM (rw, ro, ro+wh, rr)", b.display()));
                }
                out.push(one_branch("mod", b)?);
            }
        }
    }
    if out.is_empty() {
        return err("no branch given");
    }
    // The logic crate's parser must take every one (the kernel runs it).
    for p in &out {
        let v = p.value.as_deref().map(str::as_bytes);
        options::parse_option_kv(p.key.as_bytes(), v).map_err(|e| PlanError(format!("{p}: {}", e.msg)))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> BranchArg {
        BranchArg::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn branch_args() {
        assert_eq!(b("/a"), BranchArg { path: b"/a".to_vec(), perm: None });
        assert_eq!(b("/a=ro+wh"), BranchArg { path: b"/a".to_vec(), perm: Some("ro+wh".into()) });
        // Not a permission: part of the path.
        assert_eq!(b("/a=b"), BranchArg { path: b"/a=b".to_vec(), perm: None });
        assert_eq!(b("/a=b").to_option_text(), "/a\\=b");
        assert_eq!(b("/x:y,z=rw").to_option_text(), "/x\\:y\\,z=rw");
        assert!(BranchArg::parse(b"").is_err());
    }

    #[test]
    fn branch_list_file() {
        let l = parse_branch_list(b"# top\n/up=rw\n\n/lo\r\n").unwrap();
        assert_eq!(l, vec![b("/up=rw"), b("/lo")]);
    }

    #[test]
    fn options() {
        let o = parse_mount_opts("ro,nosuid,dirs=/u=rw:/l\\:1,udba=none,noatime,defaults,xino=/tmp/x").unwrap();
        assert!(o.attrs.rdonly && o.attrs.nosuid && !o.attrs.nodev);
        assert_eq!(o.attrs.atime, Some(Atime::No));
        assert_eq!(o.branches, Some(vec![b("/u=rw"), BranchArg { path: b"/l:1".to_vec(), perm: None }]));
        assert_eq!(o.params, vec![Param::kv("udba", "none".into()), Param::kv("xino", "/tmp/x".into())]);
        let e = parse_mount_opts("udba=sometimes").unwrap_err();
        assert!(e.0.contains("udba"), "{e}");
        assert!(parse_mount_opts("remount,append:/x").unwrap().remount);
    }

    #[test]
    fn short_lists_are_one_dirs() {
        let p = branch_params(&[b("/u=rw"), b("/l")]).unwrap();
        assert_eq!(p, vec![Param::kv("dirs", "/u=rw:/l".into())]);
    }

    #[test]
    fn long_lists_are_chunked() {
        let list: Vec<BranchArg> = (0..300).map(|i| b(&format!("/scratch/layers/l{i:04}"))).collect();
        check_branches(&list).unwrap();
        let p = branch_params(&list).unwrap();
        let dirs = p[0].value.as_deref().unwrap();
        assert_eq!(p[0].key, "dirs");
        assert!(dirs.len() <= FSCONFIG_VALUE_MAX);
        let n_dirs = dirs.split(':').count();
        assert_eq!(p.len(), 1 + 300 - n_dirs);
        assert!(p[1..].iter().all(|x| x.key == "append"));
        assert_eq!(p.last().unwrap().value.as_deref(), Some("/scratch/layers/l0299"));
        // The order is kept.
        assert_eq!(p[1].value.as_deref().unwrap(), format!("/scratch/layers/l{n_dirs:04}"));
    }

    #[test]
    fn too_long_and_too_many() {
        let long = b(&format!("/{}", "x".repeat(300)));
        assert!(branch_params(&[long]).unwrap_err().0.contains("255"));
        let many: Vec<BranchArg> = (0..=MAX_BRANCHES).map(|i| b(&format!("/l{i}"))).collect();
        assert!(check_branches(&many).is_err());
        assert!(check_branches(&[b("/a"), b("/a/")]).is_err(), "duplicate");
        assert!(check_branches(&[]).is_err());
    }

    #[test]
    fn branch_ops() {
        let p = op_params(&BranchOp::Prepend(vec![b("/a"), b("/b")])).unwrap();
        assert_eq!(p, vec![Param::kv("prepend", "/b".into()), Param::kv("prepend", "/a".into())]);
        let p = op_params(&BranchOp::Add(2, vec![b("/a=ro"), b("/b")])).unwrap();
        assert_eq!(p, vec![Param::kv("add", "2:/a=ro".into()), Param::kv("add", "3:/b".into())]);
        let p = op_params(&BranchOp::Del(vec![b"/x:y".to_vec()])).unwrap();
        assert_eq!(p, vec![Param::kv("del", "/x\\:y".into())]);
        assert!(op_params(&BranchOp::Mod(vec![b("/a")])).is_err());
        assert_eq!(op_params(&BranchOp::Mod(vec![b("/a=rr")])).unwrap(), vec![Param::kv("mod", "/a=rr".into())]);
        assert!(op_params(&BranchOp::Append(vec![])).is_err());
    }
}
