//! `/proc/self/mountinfo`: which unions are mounted where.
//!
//! Each line is (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT MOUNTOPTS
//! [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS`, with space, tab, newline and
//! backslash in the path fields written as octal escapes (`\040`, ...).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// The filesystem types rfsctl works on: rfs itself, and `aufs` (rfs in
/// AUFS compatibility mode, `aufs_compat=1`, or AUFS).
pub const UNION_TYPES: [&str; 2] = ["rfs", "aufs"];

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount id.
    pub id: u32,
    /// Where it is mounted, octal escapes undone.
    pub mount_point: PathBuf,
    /// The per-mount options (`rw,nosuid,relatime`).
    pub mount_opts: String,
    /// The filesystem type.
    pub fstype: String,
    /// The source field (`none` for most unions).
    pub source: String,
    /// The superblock options, still with the kernel's octal escapes
    /// (they are split at their commas first).
    pub super_opts: String,
}

impl Mount {
    /// True for an rfs (or `aufs`-typed) union.
    pub fn is_union(&self) -> bool {
        UNION_TYPES.contains(&self.fstype.as_str())
    }

    /// The superblock options, split at the commas and with the octal
    /// escapes undone (rfs's own backslash escapes are kept).
    pub fn super_options(&self) -> Vec<String> {
        self.super_opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(|o| String::from_utf8_lossy(&unoctal(o.as_bytes())).into_owned())
            .collect()
    }

    /// The value of superblock option `key` (`si`, `udba`, ...).
    pub fn super_option(&self, key: &str) -> Option<String> {
        self.super_options()
            .into_iter()
            .find_map(|o| o.strip_prefix(key).and_then(|r| r.strip_prefix('=')).map(str::to_owned))
    }

    /// The union's sysfs id (`si=` in lowercase hex).
    pub fn si(&self) -> Option<String> {
        self.super_option("si")
    }
}

/// Undoes the kernel's octal escapes (`\NNN`); other bytes stay.
pub fn unoctal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 3 < s.len() && s[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = s[i + 1..i + 4].iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            if let Ok(b) = u8::try_from(v) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Parses one mountinfo line; `None` for a line of another shape.
pub fn parse_line(line: &str) -> Option<Mount> {
    let mut f = line.split(' ');
    let id = f.next()?.parse().ok()?;
    let _parent = f.next()?;
    let _dev = f.next()?;
    let _root = f.next()?;
    let mount_point = PathBuf::from(OsString::from_vec(unoctal(f.next()?.as_bytes())));
    let mount_opts = f.next()?.to_owned();
    // Optional fields up to the separator.
    for x in f.by_ref() {
        if x == "-" {
            break;
        }
    }
    let fstype = f.next()?.to_owned();
    let source = String::from_utf8_lossy(&unoctal(f.next()?.as_bytes())).into_owned();
    let super_opts = f.next().unwrap_or("").to_owned();
    Some(Mount { id, mount_point, mount_opts, fstype, source, super_opts })
}

/// Every mount in `text` (the contents of a mountinfo file).
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// The mounts of this process's mount namespace.
pub fn read() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/u\\040nion rw,nosuid,relatime shared:5 - rfs none rw,si=3,dirs=/up=rw:/lo\\054w=ro
41 22 0:36 / /var/lib/docker/aufs/mnt/x rw,relatime - aufs none rw,si=4,br:/a=rw:/b=ro+wh
";

    #[test]
    fn parses_lines() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].fstype, "ext4");
        assert!(!m[0].is_union());
        assert_eq!(m[1].id, 40);
        assert_eq!(m[1].mount_point, PathBuf::from("/mnt/u nion"));
        assert_eq!(m[1].mount_opts, "rw,nosuid,relatime");
        assert_eq!(m[1].fstype, "rfs");
        assert_eq!(m[1].si().as_deref(), Some("3"));
        assert_eq!(m[1].super_option("dirs").as_deref(), Some("/up=rw:/lo,w=ro"));
        assert!(m[2].is_union());
        assert_eq!(m[2].si().as_deref(), Some("4"));
    }

    #[test]
    fn unoctal_keeps_plain_backslashes() {
        assert_eq!(unoctal(b"a\\134b\\:c\\04"), b"a\\b\\:c\\04".to_vec());
        assert_eq!(unoctal(b"\\011x\\012"), b"\tx\n".to_vec());
    }

    #[test]
    fn bad_lines_are_skipped() {
        assert!(parse_line("").is_none());
        assert!(parse_line("x y").is_none());
    }
}
