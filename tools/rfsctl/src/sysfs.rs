//! `/sys/fs/rfs/si_<id>/`: the branches and counters of one union
//! (Documentation/filesystems/rfs.rst, "sysfs").

use rfs_logic::perm::Perm;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where rfs's sysfs directory is (`/sys/fs/aufs` is a link to it in AUFS
/// compatibility mode).
pub const SYSFS_ROOT: &str = "/sys/fs/rfs";

/// One branch as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// Its index, 0 on top.
    pub index: usize,
    /// Its id (`bridN`): stays with the branch across remounts.
    pub id: Option<u32>,
    /// The branch root (not escaped).
    pub path: String,
    /// The permission in its canonical spelling (`rw`, `ro`, `ro+wh`, `rr`),
    /// or as shown when rfsctl does not know it.
    pub perm: String,
    /// Names looked up in it since mount (`lookups`), when shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookups: Option<u64>,
}

/// rfs's counters of one union.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Objects copied up.
    pub copyups: Option<u64>,
    /// Bytes of file data copied up.
    pub copyup_bytes: Option<u64>,
    /// Whiteouts created.
    pub whiteouts: Option<u64>,
    /// Union inode numbers handed out.
    pub xino_entries: Option<u64>,
    /// Size of the xino file.
    pub xino_bytes: Option<u64>,
}

/// Everything `si_<id>/` tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Info {
    /// The branches, top first.
    pub branches: Vec<Branch>,
    /// The xino file (empty: in memory).
    pub xino_path: Option<String>,
    /// The counters.
    pub counters: Counters,
}

/// Splits a `brN` line (`path=perm`) at its last `=`; the permission is
/// given in canonical spelling when the logic crate knows it.
pub fn split_branch_line(line: &str) -> (String, String) {
    match line.rsplit_once('=') {
        Some((path, perm)) => {
            let canon = Perm::parse(perm.as_bytes()).map_or(perm, |p| p.as_str());
            (path.to_owned(), canon.to_owned())
        }
        None => (line.to_owned(), String::new()),
    }
}

/// The directory of the union with sysfs id `si` under `root`.
pub fn si_dir(root: &Path, si: &str) -> PathBuf {
    root.join(format!("si_{si}"))
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim_end_matches('\n').to_owned())
}

fn read_u64(p: &Path) -> Option<u64> {
    read_trimmed(p)?.trim().parse().ok()
}

/// Reads `dir` (a `si_<id>` directory). Fails only if the directory
/// itself cannot be read; a missing file leaves its field empty.
pub fn read_si(dir: &Path) -> std::io::Result<Info> {
    std::fs::metadata(dir)?;
    let mut info = Info::default();
    let lookups: Vec<u64> = read_trimmed(&dir.join("lookups"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default();
    for index in 0.. {
        let Some(line) = read_trimmed(&dir.join(format!("br{index}"))) else { break };
        let (path, perm) = split_branch_line(&line);
        let id = read_trimmed(&dir.join(format!("brid{index}"))).and_then(|s| s.trim().parse().ok());
        info.branches.push(Branch { index, id, path, perm, lookups: lookups.get(index).copied() });
    }
    info.xino_path = read_trimmed(&dir.join("xi_path"));
    let c = &mut info.counters;
    c.copyups = read_u64(&dir.join("copyups"));
    c.copyup_bytes = read_u64(&dir.join("copyup_bytes"));
    c.whiteouts = read_u64(&dir.join("whiteouts"));
    if let Some(x) = read_trimmed(&dir.join("xino")) {
        let mut it = x.split_whitespace().map(|n| n.parse().ok());
        c.xino_entries = it.next().flatten();
        c.xino_bytes = it.next().flatten();
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_lines() {
        assert_eq!(split_branch_line("/a=b=rw"), ("/a=b".into(), "rw".into()));
        assert_eq!(split_branch_line("/l=rr+wh"), ("/l".into(), "ro+wh".into()));
        assert_eq!(split_branch_line("/x"), ("/x".into(), String::new()));
    }

    #[test]
    fn reads_a_directory() {
        let d = std::env::temp_dir().join(format!("rfsctl-sysfs-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for (n, v) in [
            ("br0", "/up=rw\n"),
            ("brid0", "64\n"),
            ("br1", "/lo=ro+wh\n"),
            ("brid1", "66\n"),
            ("lookups", "5\n7\n"),
            ("xi_path", "\n"),
            ("xino", "12 4096\n"),
            ("copyups", "3\n"),
            ("copyup_bytes", "100\n"),
            ("whiteouts", "1\n"),
        ] {
            std::fs::write(d.join(n), v).unwrap();
        }
        let i = read_si(&d).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(i.branches.len(), 2);
        assert_eq!(i.branches[1], Branch { index: 1, id: Some(66), path: "/lo".into(), perm: "ro+wh".into(), lookups: Some(7) });
        assert_eq!(i.xino_path.as_deref(), Some(""));
        assert_eq!(i.counters.xino_entries, Some(12));
        assert_eq!(i.counters.xino_bytes, Some(4096));
        assert_eq!(i.counters.copyups, Some(3));
        assert!(read_si(Path::new("/nonexistent/si_1")).is_err());
    }
}
