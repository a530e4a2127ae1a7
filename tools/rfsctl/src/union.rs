//! The unions of this mount namespace: found in mountinfo, described from
//! sysfs (or from `dirs=` when sysfs has nothing), shown as a table or JSON.

use crate::mountinfo::{self, Mount};
use crate::sysfs::{self, Branch, Counters};
use crate::Fail;
use rfs_logic::options::{parse_option, MountOption};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One union as `rfsctl list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Union {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `rfs` or `aufs`.
    pub fstype: String,
    /// The sysfs id (`si=`).
    pub si: Option<String>,
    /// The per-mount options.
    pub mount_options: String,
    /// The superblock options other than `si=` and the branch list.
    pub options: Vec<String>,
    /// The branches, top first.
    pub branches: Vec<Branch>,
    /// Where the branches were read: `sysfs` or `mountinfo`.
    pub branches_from: &'static str,
    /// The xino file (empty: in memory).
    pub xino_path: Option<String>,
    /// rfs's counters.
    pub counters: Counters,
}

impl Union {
    /// The top-most writable branch.
    pub fn rw_branch(&self) -> Option<&Branch> {
        self.branches.iter().find(|b| b.perm == "rw")
    }
}

/// The branches of `dirs=`/`br=` in the super options (parsed by the logic
/// crate), for when sysfs does not show the union.
fn branches_of_options(m: &Mount) -> Vec<Branch> {
    let Some(opt) = m.super_options().into_iter().find(|o| o.starts_with("dirs=") || o.starts_with("br")) else {
        return Vec::new();
    };
    match parse_option(opt.as_bytes()) {
        Ok(MountOption::Branches(list)) => list
            .as_slice()
            .iter()
            .enumerate()
            .map(|(index, b)| Branch {
                index,
                id: None,
                path: String::from_utf8_lossy(b.path.as_slice()).into_owned(),
                perm: b.perm.as_str().to_owned(),
                lookups: None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Describes the union of mount `m`, reading sysfs under `sysroot`.
pub fn describe(m: &Mount, sysroot: &Path) -> Union {
    let si = m.si();
    let info = si.as_deref().and_then(|si| sysfs::read_si(&sysfs::si_dir(sysroot, si)).ok());
    let options = m
        .super_options()
        .into_iter()
        .filter(|o| !o.starts_with("si=") && !o.starts_with("dirs=") && !o.starts_with("br:") && !o.starts_with("br="))
        .collect();
    let (branches, from, xino_path, counters) = match info {
        Some(i) if !i.branches.is_empty() => (i.branches, "sysfs", i.xino_path, i.counters),
        _ => (branches_of_options(m), "mountinfo", None, Counters::default()),
    };
    Union {
        mount_point: m.mount_point.clone(),
        fstype: m.fstype.clone(),
        si,
        mount_options: m.mount_opts.clone(),
        options,
        branches,
        branches_from: from,
        xino_path,
        counters,
    }
}

/// Every union mounted, in mount order.
pub fn all() -> Result<Vec<Union>, Fail> {
    let mounts = mountinfo::read().map_err(|e| Fail::io(e, "read /proc/self/mountinfo".into()))?;
    let root = Path::new(sysfs::SYSFS_ROOT);
    Ok(mounts.iter().filter(|m| m.is_union()).map(|m| describe(m, root)).collect())
}

/// The union mounted at `path` (its root): a clear error when `path` is
/// not an rfs mount or not its root.
pub fn find(path: &Path) -> Result<Mount, Fail> {
    let canon = std::fs::canonicalize(path).map_err(|e| Fail::io(e, path.display().to_string()))?;
    let mounts = mountinfo::read().map_err(|e| Fail::io(e, "read /proc/self/mountinfo".into()))?;
    find_in(&mounts, &canon, path)
}

/// [`find`] on a list of mounts; `canon` is `shown` resolved.
pub fn find_in(mounts: &[Mount], canon: &Path, shown: &Path) -> Result<Mount, Fail> {
    if let Some(m) = mounts.iter().rev().find(|m| m.mount_point == canon) {
        if m.is_union() {
            return Ok(m.clone());
        }
        return Err(Fail::usage(format!("{}: not an rfs mount (type {})", shown.display(), m.fstype)));
    }
    // The mount that holds it: the longest mount point above it.
    let holder = mounts
        .iter()
        .rev()
        .filter(|m| canon.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    match holder {
        Some(m) if m.is_union() => Err(Fail::usage(format!(
            "{}: inside the union mounted at {}; give its mount point",
            shown.display(),
            m.mount_point.display()
        ))),
        Some(m) => Err(Fail::usage(format!(
            "{}: not an rfs mount (it is on {} mounted at {})",
            shown.display(),
            m.fstype,
            m.mount_point.display()
        ))),
        None => Err(Fail::usage(format!("{}: not an rfs mount", shown.display()))),
    }
}

fn n(v: Option<u64>) -> String {
    v.map_or_else(|| "?".into(), |v| v.to_string())
}

/// The human table of one union.
pub fn table(u: &Union) -> String {
    let mut s = String::new();
    let si = u.si.as_deref().map(|si| format!(", si={si}")).unwrap_or_default();
    let _ = writeln!(s, "{} ({}{}, {})", u.mount_point.display(), u.fstype, si, u.mount_options);
    if !u.options.is_empty() {
        let _ = writeln!(s, "  options: {}", u.options.join(","));
    }
    let _ = writeln!(s, "  {:>4}  {:>5}  {:<6} {:>9}  PATH", "BR", "ID", "PERM", "LOOKUPS");
    for b in &u.branches {
        let id = b.id.map_or_else(|| "-".into(), |i| i.to_string());
        let lk = b.lookups.map_or_else(|| "-".into(), |l| l.to_string());
        let _ = writeln!(s, "  {:>4}  {:>5}  {:<6} {:>9}  {}", b.index, id, b.perm, lk, b.path);
    }
    if u.branches_from == "sysfs" {
        let c = &u.counters;
        let xino = match u.xino_path.as_deref() {
            Some(p) if !p.is_empty() => format!("{}, {} bytes", p, n(c.xino_bytes)),
            _ => "in memory".into(),
        };
        let _ = writeln!(
            s,
            "  copy-ups {} ({} bytes), whiteouts {}, inode numbers {} (xino {})",
            n(c.copyups),
            n(c.copyup_bytes),
            n(c.whiteouts),
            n(c.xino_entries),
            xino
        );
    } else {
        let _ = writeln!(s, "  (no sysfs directory: branches from the mount options)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::parse;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/u rw,relatime - rfs none rw,si=3,udba=none,dirs=/up=rw:/lo\\134:x=ro+wh
";

    #[test]
    fn finds_the_union_or_says_why_not() {
        let m = parse(INFO);
        let got = find_in(&m, Path::new("/mnt/u"), Path::new("/mnt/u")).unwrap();
        assert_eq!(got.id, 40);
        let e = find_in(&m, Path::new("/mnt/u/sub"), Path::new("sub")).unwrap_err();
        assert!(e.msg.contains("inside the union mounted at /mnt/u"), "{}", e.msg);
        let e = find_in(&m, Path::new("/"), Path::new("/")).unwrap_err();
        assert!(e.msg.contains("not an rfs mount (type ext4)"), "{}", e.msg);
        let e = find_in(&m, Path::new("/etc"), Path::new("/etc")).unwrap_err();
        assert!(e.msg.contains("on ext4 mounted at /"), "{}", e.msg);
    }

    #[test]
    fn falls_back_to_the_options() {
        let m = parse(INFO);
        let u = describe(&m[1], Path::new("/nonexistent"));
        assert_eq!(u.branches_from, "mountinfo");
        assert_eq!(u.options, vec!["rw".to_string(), "udba=none".to_string()]);
        let paths: Vec<_> = u.branches.iter().map(|b| (b.path.as_str(), b.perm.as_str())).collect();
        assert_eq!(paths, vec![("/up", "rw"), ("/lo:x", "ro+wh")]);
        let t = table(&u);
        assert!(t.contains("/mnt/u (rfs, si=3, rw,relatime)"), "{t}");
        assert!(t.contains("ro+wh"), "{t}");
        let j = serde_json::to_value(&u).unwrap();
        assert_eq!(j["branches"][1]["path"], "/lo:x");
        assert_eq!(j["si"], "3");
    }
}
