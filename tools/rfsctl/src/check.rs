//! `rfsctl check`: what a crash or careless hands leave in branches, found
//! offline (AUFS's auchk did the same for its branches).

use crate::layer::refuse;
use crate::plan::BranchArg;
use crate::safefs::{self, os};
use crate::Fail;
use rfs_logic::perm::Perm;
use rfs_logic::whiteout;
use rustix::io::Errno;
use serde::Serialize;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One thing found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// `leftover`, `whiteout`, `shadowed`, `orphan`, `xino`, `foreign`.
    pub kind: &'static str,
    /// The branch root.
    pub branch: String,
    /// The path inside the branch.
    pub path: String,
    /// What it is.
    pub detail: String,
    /// Whether `--fix` repaired it.
    pub fixed: bool,
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The branches, top first, as PATH=PERM.
    pub branches: Vec<String>,
    /// Branches that are part of a mounted union (mount point, branch).
    pub live: Vec<String>,
    /// What was found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Findings not fixed.
    pub fn open(&self) -> usize {
        self.findings.iter().filter(|f| !f.fixed).count()
    }
}

struct Br {
    path: PathBuf,
    perm: Perm,
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// The branch roots of every mounted rfs union that this process can see:
/// /sys/fs/rfs (all namespaces) and the mount table (this namespace).
fn live_branches(sysroot: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(sysroot) {
        for e in rd.flatten() {
            let si = e.file_name().to_string_lossy().into_owned();
            if !si.starts_with("si_") {
                continue;
            }
            if let Ok(info) = crate::sysfs::read_si(&e.path()) {
                for b in info.branches {
                    out.push((format!("{}/{si}", sysroot.display()), PathBuf::from(b.path)));
                }
            }
        }
    }
    if let Ok(mounts) = crate::mountinfo::read() {
        for m in mounts.iter().filter(|m| m.is_union()) {
            let u = crate::union::describe(m, Path::new("/nonexistent"));
            for b in u.branches {
                out.push((m.mount_point.display().to_string(), PathBuf::from(b.path)));
            }
        }
    }
    out
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A pseudo-link name: `[_]dev_ino_gen[_uuid_sec.nsec_size]` in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlinkKey {
    ino: u64,
    mtime: Option<i64>,
    size: Option<u64>,
}

fn parse_plink(name: &[u8]) -> Option<PlinkKey> {
    let s = std::str::from_utf8(name).ok()?;
    let s = s.strip_prefix('_').unwrap_or(s);
    let f: Vec<&str> = s.split('_').collect();
    let hex = |t: &str| u64::from_str_radix(t, 16).ok();
    match f.as_slice() {
        [dev, ino, gen] => {
            hex(dev)?;
            hex(gen)?;
            Some(PlinkKey { ino: hex(ino)?, mtime: None, size: None })
        }
        [dev, ino, gen, uuid, time, size] => {
            hex(dev)?;
            hex(gen)?;
            hex(uuid)?;
            let (sec, nsec) = time.split_once('.')?;
            hex(nsec)?;
            Some(PlinkKey {
                ino: hex(ino)?,
                mtime: Some(i64::try_from(hex(sec)?).ok()?),
                size: Some(hex(size)?),
            })
        }
        _ => None,
    }
}

/// Walks `dir` (not following symlinks, not into private `.wh..wh.`
/// directories), giving each object's path and metadata.
fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> bool) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else { return true };
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        if whiteout::is_private(n.as_bytes()) && !whiteout::is_opaque_marker(n.as_bytes()) {
            continue;
        }
        let p = dir.join(&n);
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        if !f(&p, &m) {
            return false;
        }
        if m.is_dir() && !walk(&p, f) {
            return false;
        }
    }
    true
}

struct Checker<'a> {
    brs: &'a [Br],
    fix: bool,
    out: Vec<Finding>,
}

impl Checker<'_> {
    fn add(&mut self, i: usize, kind: &'static str, rel: &Path, detail: String, fix: impl FnOnce() -> Result<(), Errno>) {
        let b = &self.brs[i];
        let mut fixed = false;
        if self.fix && b.perm.is_writable() {
            match fix() {
                Ok(()) => fixed = true,
                Err(e) => eprintln!("rfsctl: fix {}/{}: {e}", b.path.display(), rel.display()),
            }
        }
        self.out.push(Finding {
            kind,
            branch: b.path.display().to_string(),
            path: rel.display().to_string(),
            detail,
            fixed,
        });
    }

    fn work_dir(&mut self, i: usize) {
        let root = self.brs[i].path.clone();
        let wd = root.join(os(whiteout::WORK_DIR_NAME));
        let Ok(m) = std::fs::symlink_metadata(&wd) else { return };
        let rel = PathBuf::from(os(whiteout::WORK_DIR_NAME));
        if !m.is_dir() {
            self.add(i, "leftover", &rel, "the work directory's name is taken by a non-directory (mounts fail)".into(), || {
                safefs::remove_tree(&wd)
            });
            return;
        }
        let Ok(fd) = safefs::Root::open(&wd) else { return };
        let names = safefs::list_dir(fd.fd()).unwrap_or_default();
        for n in names {
            let what = if n.starts_with(b"#rfs.") { "a copy-up temporary" } else { "left in the work directory" };
            let detail = format!("{what} (rfs removes it at the next mount)");
            self.add(i, "leftover", &rel.join(os(&n)), detail, || safefs::remove_all_at(fd.fd(), &n));
        }
    }

    fn plinks(&mut self, i: usize) {
        let root = self.brs[i].path.clone();
        let dir = root.join(os(whiteout::PLINK_DIR_NAME));
        let Ok(rd) = std::fs::read_dir(&dir) else { return };
        let rel = PathBuf::from(os(whiteout::PLINK_DIR_NAME));
        let mut names: Vec<OsString> = rd.flatten().map(|e| e.file_name()).collect();
        names.sort();
        // Pseudo-links with no other name: is their lower file in a branch below?
        let mut single: Vec<(OsString, PlinkKey)> = Vec::new();
        for n in names {
            let p = dir.join(&n);
            let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
            match parse_plink(n.as_bytes()) {
                Some(k) if m.is_file() => {
                    if m.nlink() == 1 {
                        single.push((n, k));
                    }
                }
                _ => self.out.push(Finding {
                    kind: "foreign",
                    branch: root.display().to_string(),
                    path: rel.join(&n).display().to_string(),
                    detail: "not a pseudo-link of rfs (left alone)".into(),
                    fixed: false,
                }),
            }
        }
        if single.is_empty() {
            return;
        }
        let mut found: Vec<bool> = vec![false; single.len()];
        for lower in &self.brs[i + 1..] {
            walk(&lower.path, &mut |_, m| {
                if m.is_file() && m.nlink() > 1 {
                    for (k, (_, key)) in single.iter().enumerate() {
                        if key.ino == m.ino()
                            && key.size.is_none_or(|s| s == m.size())
                            && key.mtime.is_none_or(|t| t == m.mtime())
                        {
                            found[k] = true;
                        }
                    }
                }
                !found.iter().all(|&f| f)
            });
        }
        for ((n, _), used) in single.into_iter().zip(found) {
            if used {
                continue;
            }
            let p = dir.join(&n);
            self.add(
                i,
                "orphan",
                &rel.join(&n),
                "a pseudo-link with no other name, of a lower file in no branch below".into(),
                || std::fs::remove_file(&p).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO)),
            );
        }
    }

    fn xino(&mut self, i: usize, top_rw: Option<usize>) {
        let p = self.brs[i].path.join(os(whiteout::XINO_NAME));
        let Ok(m) = std::fs::symlink_metadata(&p) else { return };
        let rel = PathBuf::from(os(whiteout::XINO_NAME));
        let rm = || std::fs::remove_file(&p).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO));
        if !m.is_file() {
            self.add(i, "xino", &rel, "not a regular file".into(), rm);
            return;
        }
        let data = std::fs::read(&p).unwrap_or_default();
        let detail = if data.len() >= rfs_logic::xino::HEADER_LEN && data[..rfs_logic::xino::HEADER_LEN].iter().all(|&b| b == 0) {
            Some("its header was cleared after a write error: rfs starts it afresh".to_owned())
        } else if rfs_logic::xino::check_header(&data).is_err() {
            Some("not an rfs xino file (foreign): rfs starts it afresh".to_owned())
        } else {
            let mut map = rfs_logic::inomap::InoMap::default();
            match rfs_logic::xino::replay(&data[rfs_logic::xino::HEADER_LEN..], &mut map) {
                Ok(_) => None,
                Err(_) => Some("does not replay (a bad record): rfs starts it afresh".to_owned()),
            }
        };
        if let Some(d) = detail {
            self.add(i, "xino", &rel, d, rm);
        } else if top_rw != Some(i) {
            self.add(i, "xino", &rel, "stale: in a branch that is not the top rw one, no mount reads it".into(), rm);
        }
    }

    fn whiteouts(&mut self, i: usize) {
        if !self.brs[i].perm.honors_whiteouts() {
            return;
        }
        let root = self.brs[i].path.clone();
        let mut found: Vec<(PathBuf, Vec<u8>, bool)> = Vec::new();
        walk(&root, &mut |p, _| {
            let name = p.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
            if let Some(target) = whiteout::whiteout_target(&name) {
                let dir = p.parent().unwrap_or(&root).to_owned();
                let beside = std::fs::symlink_metadata(dir.join(os(target))).is_ok();
                found.push((p.to_owned(), target.to_vec(), beside));
            }
            true
        });
        for (p, target, beside) in found {
            let rel = p.strip_prefix(&root).unwrap_or(&p).to_owned();
            let dir_rel = rel.parent().unwrap_or(Path::new("")).to_owned();
            if beside {
                let t = p.parent().unwrap_or(&root).join(os(&target));
                let is_dir = std::fs::symlink_metadata(&t).is_ok_and(|m| m.is_dir());
                let detail = if is_dir {
                    "beside a directory of the same name (it is as if opaque; --fix makes it opaque)"
                } else {
                    "beside a real name (a crash between making the name and removing the whiteout)"
                };
                let pp = p.clone();
                self.add(i, "shadowed", &rel, detail.into(), move || {
                    if is_dir {
                        let m = t.join(os(whiteout::OPAQUE_NAME));
                        if std::fs::symlink_metadata(&m).is_err() {
                            std::fs::File::create(&m).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
                        }
                    }
                    std::fs::remove_file(&pp).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
                });
                continue;
            }
            let below = self.brs[i + 1..]
                .iter()
                .any(|b| std::fs::symlink_metadata(b.path.join(&dir_rel).join(os(&target))).is_ok());
            if !below {
                let pp = p.clone();
                self.add(i, "whiteout", &rel, format!("hides nothing: no {} in a branch below", lossy(&target)), move || {
                    match std::fs::symlink_metadata(&pp) {
                        Ok(m) if m.is_dir() => safefs::remove_tree(&pp),
                        _ => std::fs::remove_file(&pp).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO)),
                    }
                });
            }
        }
    }
}

/// Checks (and with `fix` repairs) `branches`, top first. `sysroot` is
/// /sys/fs/rfs (tests give another).
pub fn run(branches: &[OsString], fix: bool, sysroot: &Path) -> Result<Report, Fail> {
    let mut brs = Vec::new();
    for (i, a) in branches.iter().enumerate() {
        let b = BranchArg::parse(a.as_bytes()).map_err(Fail::from)?;
        let perm = match &b.perm {
            Some(p) => Perm::parse(p.as_bytes()).ok_or_else(|| Fail::usage(format!("{}: bad permission", b.display())))?,
            None if i == 0 => Perm::Rw,
            None => Perm::RoWh,
        };
        let p = Path::new(os(&b.path));
        let canon = std::fs::canonicalize(p).map_err(|e| crate::layer::read_fail(e, &b.display()))?;
        if !canon.is_dir() {
            return Err(refuse(Errno::NOTDIR, format!("branch {}: not a directory", b.display())));
        }
        brs.push(Br { path: canon, perm });
    }
    let mut rep = Report {
        branches: brs.iter().map(|b| format!("{}={}", b.path.display(), b.perm.as_str())).collect(),
        ..Report::default()
    };
    for (mnt, lp) in live_branches(sysroot) {
        for b in &brs {
            if same_dir(&lp, &b.path) || lp == b.path {
                let s = format!("{} (in the union at {mnt})", b.path.display());
                if !rep.live.contains(&s) {
                    rep.live.push(s);
                }
            }
        }
    }
    if fix && !rep.live.is_empty() {
        return Err(refuse(
            Errno::BUSY,
            format!("--fix refused: branches of a mounted union: {}; umount it first", rep.live.join(", ")),
        ));
    }
    let top_rw = brs.iter().position(|b| b.perm.is_writable());
    let mut c = Checker { brs: &brs, fix, out: Vec::new() };
    for i in 0..brs.len() {
        c.work_dir(i);
        c.plinks(i);
        c.xino(i, top_rw);
        c.whiteouts(i);
    }
    rep.findings = c.out;
    Ok(rep)
}

/// The human report.
pub fn report(r: &Report) -> String {
    let mut s = String::new();
    for l in &r.live {
        s.push_str(&format!("warning: {l} is mounted: what is found may be work in progress\n"));
    }
    for f in &r.findings {
        let fixed = if f.fixed { " [fixed]" } else { "" };
        s.push_str(&format!("{}: {} {}: {}{fixed}\n", f.branch, f.kind, f.path, f.detail));
    }
    let fixed = r.findings.len() - r.open();
    if r.findings.is_empty() {
        s.push_str(&format!("{} branches: nothing found\n", r.branches.len()));
    } else {
        s.push_str(&format!("{} branches: {} found, {fixed} fixed\n", r.branches.len(), r.findings.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plink_names() {
        assert_eq!(
            parse_plink(b"_803_1a_0_ff_65000000.5_10"),
            Some(PlinkKey { ino: 0x1a, mtime: Some(0x6500_0000), size: Some(0x10) })
        );
        assert_eq!(parse_plink(b"803_1a_3"), Some(PlinkKey { ino: 0x1a, mtime: None, size: None }));
        assert_eq!(parse_plink(b"12.34"), None);
        assert_eq!(parse_plink(b"x_y_z"), None);
    }
}
