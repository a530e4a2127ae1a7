//! Branch permissions.

/// What rfs may do with a branch, and whether its whiteouts count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// `rw`: writable; new files, copy-ups and whiteouts go to the top-most
    /// `rw` branch. Its whiteouts are honored.
    Rw,
    /// `ro`: read-only; rfs never writes to it and ignores `.wh.` names in it.
    Ro,
    /// `ro+wh` (also spelt `rr+wh`): read-only, but its whiteouts and opaque
    /// markers are honored (image layers).
    RoWh,
    /// `rr`: "really read-only", nobody modifies it; revalidation may be
    /// skipped. Its whiteouts are not honored.
    Rr,
}

/// AUFS's branch attributes other than `wh`, accepted after a permission
/// (`ro+wh+unpin`, `rw+nolwh`), with why each has no effect in rfs.
pub const ATTRS: &[(&str, &str)] = &[
    ("nolwh", "rfs whiteouts are never hard links"),
    ("unpin", "AUFS ignores it too"),
    ("coo_reg", "copy-up on open is not implemented; files are copied up when opened for writing"),
    ("coo_all", "copy-up on open is not implemented; files are copied up when opened for writing"),
    ("moo", "move-up on open is not implemented"),
    ("fhsm", "file-based HSM is not implemented"),
    ("icexsec", "xattr copy-up errors: rfs skips non-user xattrs a branch refuses and fails on user ones"),
    ("icexsys", "xattr copy-up errors: rfs skips non-user xattrs a branch refuses and fails on user ones"),
    ("icextr", "xattr copy-up errors: rfs skips non-user xattrs a branch refuses and fails on user ones"),
    ("icexusr", "xattr copy-up errors: rfs skips non-user xattrs a branch refuses and fails on user ones"),
    ("icexoth", "xattr copy-up errors: rfs skips non-user xattrs a branch refuses and fails on user ones"),
    ("icex", "xattr copy-up errors: rfs skips non-user xattrs a branch refuses and fails on user ones"),
];

impl Perm {
    /// Parses a permission as written after `=` in a branch spec.
    ///
    /// Accepts `rw`, `ro`, `ro+wh`, `rr+wh` (same as `ro+wh`) and `rr`,
    /// followed by any of AUFS's other branch attributes ([`ATTRS`], each
    /// after a `+`, in any order); `+wh` on `rw` and anything else
    /// (including other case) is `None`.
    pub fn parse(s: &[u8]) -> Option<Perm> {
        let mut parts = s.split(|&c| c == b'+');
        let base = parts.next()?;
        let mut wh = false;
        // Each attribute at most once (bit i: ATTRS[i]).
        let mut seen = 0u32;
        for a in parts {
            if a == b"wh" {
                if wh {
                    return None;
                }
                wh = true;
            } else {
                let i = ATTRS.iter().position(|(name, _)| name.as_bytes() == a)?;
                let bit = 1u32.checked_shl(u32::try_from(i).ok()?)?;
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
            }
        }
        match (base, wh) {
            (b"rw", false) => Some(Perm::Rw),
            (b"ro", false) => Some(Perm::Ro),
            (b"ro" | b"rr", true) => Some(Perm::RoWh),
            (b"rr", false) => Some(Perm::Rr),
            _ => None,
        }
    }

    /// The AUFS attributes written in `s` (a permission that [`Perm::parse`]
    /// accepts) that have no effect in rfs, with why: for a note in the
    /// kernel log.
    pub fn ignored_attrs(s: &[u8]) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        s.split(|&c| c == b'+')
            .skip(1)
            .filter_map(|a| ATTRS.iter().find(|(name, _)| name.as_bytes() == a).copied())
    }

    /// The canonical spelling: `rw`, `ro`, `ro+wh` or `rr`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Perm::Rw => "rw",
            Perm::Ro => "ro",
            Perm::RoWh => "ro+wh",
            Perm::Rr => "rr",
        }
    }

    /// True only for `rw`.
    pub fn is_writable(&self) -> bool {
        matches!(self, Perm::Rw)
    }

    /// True if `.wh.` whiteouts and opaque markers in the branch count
    /// (`rw` and `ro+wh`).
    pub fn honors_whiteouts(&self) -> bool {
        matches!(self, Perm::Rw | Perm::RoWh)
    }

    /// The permission a branch gets when none is given: `rw` for index 0
    /// (the top), `ro` for every other index.
    pub fn default_for_index(i: usize) -> Perm {
        if i == 0 {
            Perm::Rw
        } else {
            Perm::Ro
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn parse_all_spellings() {
        assert_eq!(Perm::parse(b"rw"), Some(Perm::Rw));
        assert_eq!(Perm::parse(b"ro"), Some(Perm::Ro));
        assert_eq!(Perm::parse(b"ro+wh"), Some(Perm::RoWh));
        assert_eq!(Perm::parse(b"rr+wh"), Some(Perm::RoWh));
        assert_eq!(Perm::parse(b"rr"), Some(Perm::Rr));
        for bad in [&b""[..], b"RW", b"xx", b"rw+wh", b"ro+", b"ro+wh ", b" rw", b"rw\0", b"ro+bogus", b"+wh", b"rw+nolwh+wh", b"ro+wh+wh", b"ro+unpin+unpin"] {
            assert_eq!(Perm::parse(bad), None, "{bad:?}");
        }
        // AUFS's other attributes are accepted, in any order.
        assert_eq!(Perm::parse(b"rw+nolwh"), Some(Perm::Rw));
        assert_eq!(Perm::parse(b"ro+wh+unpin"), Some(Perm::RoWh));
        assert_eq!(Perm::parse(b"rr+icex+wh"), Some(Perm::RoWh));
        assert_eq!(Perm::parse(b"ro+coo_reg+icexsec"), Some(Perm::Ro));
        let notes: std::vec::Vec<&str> = Perm::ignored_attrs(b"ro+wh+unpin+icex").map(|(n, _)| n).collect();
        assert_eq!(notes, ["unpin", "icex"]);
    }

    #[test]
    fn canonical_round_trip() {
        for p in [Perm::Rw, Perm::Ro, Perm::RoWh, Perm::Rr] {
            assert_eq!(Perm::parse(p.as_str().as_bytes()), Some(p));
        }
        assert_eq!(Perm::parse(b"rr+wh").map(|p| p.as_str()), Some("ro+wh"));
    }

    #[test]
    fn properties() {
        assert!(Perm::Rw.is_writable());
        assert!(!Perm::Ro.is_writable() && !Perm::RoWh.is_writable() && !Perm::Rr.is_writable());
        assert!(Perm::Rw.honors_whiteouts() && Perm::RoWh.honors_whiteouts());
        assert!(!Perm::Ro.honors_whiteouts() && !Perm::Rr.honors_whiteouts());
        assert_eq!(Perm::default_for_index(0), Perm::Rw);
        assert_eq!(Perm::default_for_index(1), Perm::Ro);
        assert_eq!(Perm::default_for_index(usize::MAX), Perm::Ro);
    }
}
