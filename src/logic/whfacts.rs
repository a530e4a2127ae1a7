//! What a union directory remembers about the whiteouts in its members.
//!
//! # Why
//!
//! An AUFS-style whiteout is a name of its own (`.wh.NAME`), so a lookup
//! that does not find NAME in a member directory of a branch that honors
//! whiteouts must look up `.wh.NAME` there too, before it goes on to the
//! next member: two lookups per member where OverlayFS's same-name
//! whiteouts cost one (benchmark W2: cold lookups through 128 `ro+wh`
//! branches). Most member directories hold no whiteout at all (image layers
//! delete little), and when a directory is known to hold none, the second
//! lookup can be skipped.
//!
//! # The rule
//!
//! Per member of a union directory, one word ([`Slot`]) holds either a count
//! of `.wh.NAME` lookups that found nothing, or a *fact*: "the member
//! directory, in the state with key K, holds no whiteout" (or "holds
//! some"). The key is made of the member inode's address and its change
//! stamp (change counter and ctime, read *before* the directory is listed):
//! any entry added or removed since changes the stamp, so a fact about an
//! older state never matches and is simply ignored. Facts are kept only for
//! filesystems whose directories have a change counter (`i_version`), which
//! changes on every entry added; a ctime alone could miss a change made in
//! the same clock tick.
//!
//! A member directory is listed (once per state) when it has cost enough
//! lookups to pay for it ([`scan_due`]): one more probe for each block of
//! the directory, so a big directory that is looked up in only a few times
//! is never listed. A listing made anyway (readdir of the union directory)
//! records its fact for free.
//!
//! Only names that can white out a union name count ([`is_whiteout`]):
//! `.wh..wh.` meta names (the opaque marker, AUFS's and rfs's private
//! directories) never hide anything in the directory's children.

use super::whiteout;

/// One member's word: 0 is "nothing known".
pub type Slot = u64;

/// The word holds a fact (else a count of fruitless probes).
const FACT: u64 = 1 << 63;
/// With [`FACT`]: the member holds whiteouts.
const HAS_WHITEOUTS: u64 = 1 << 62;
/// The bits of the key kept in a fact.
const KEY_MASK: u64 = HAS_WHITEOUTS - 1;

/// What a slot says about a member whose key is now `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// The member holds no whiteout: `.wh.NAME` need not be looked up.
    NoWhiteouts,
    /// The member holds whiteouts (in this state): look each one up, but do
    /// not list the directory again.
    Whiteouts,
    /// Nothing known about this state; `probes` lookups of `.wh.NAME` found
    /// nothing since the count began.
    Unknown {
        /// Fruitless probes counted so far.
        probes: u64,
    },
}

/// The key of a member directory's state: its inode's address and change
/// stamp, mixed.
pub fn key(inode_addr: usize, stamp: u64) -> u64 {
    let a = (inode_addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (a ^ stamp.rotate_left(17)).wrapping_mul(0xbf58_476d_1ce4_e5b9) & KEY_MASK
}

/// Reads `slot` for a member whose key is now `key`.
pub fn read(slot: Slot, key: u64) -> Known {
    if slot & FACT == 0 {
        return Known::Unknown { probes: slot };
    }
    if slot & KEY_MASK != key & KEY_MASK {
        // A fact about another state (or another inode): start counting
        // again.
        return Known::Unknown { probes: 0 };
    }
    if slot & HAS_WHITEOUTS != 0 {
        Known::Whiteouts
    } else {
        Known::NoWhiteouts
    }
}

/// The slot after one more fruitless probe, when it said
/// `Unknown { probes }` (a fact is left as it is).
pub fn counted(probes: u64) -> Slot {
    probes.saturating_add(1).min(KEY_MASK)
}

/// The slot recording what a listing of the member in state `key` found.
pub fn fact(key: u64, has_whiteouts: bool) -> Slot {
    FACT | if has_whiteouts { HAS_WHITEOUTS } else { 0 } | (key & KEY_MASK)
}

/// Whether a member directory of `dir_bytes` bytes (its `i_size`) has cost
/// enough probes (`probes`) to be worth listing: four, plus one per 4 KiB
/// block.
pub fn scan_due(probes: u64, dir_bytes: u64) -> bool {
    probes >= (dir_bytes / 4096).saturating_add(4)
}

/// Whether an entry named `name` of a member directory can hide a name of
/// the union directory's children: `.wh.X`, X not itself reserved.
pub fn is_whiteout(name: &[u8]) -> bool {
    whiteout::whiteout_target(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_then_a_fact() {
        let k = key(0xffff_8880_1234_5678, 42);
        let mut s: Slot = 0;
        assert_eq!(read(s, k), Known::Unknown { probes: 0 });
        for n in 1..=5 {
            let Known::Unknown { probes } = read(s, k) else { panic!() };
            s = counted(probes);
            assert_eq!(read(s, k), Known::Unknown { probes: n });
        }
        assert!(!scan_due(3, 4096));
        assert!(scan_due(5, 4096));
        assert!(!scan_due(5, 1 << 20));
        s = fact(k, false);
        assert_eq!(read(s, k), Known::NoWhiteouts);
        s = fact(k, true);
        assert_eq!(read(s, k), Known::Whiteouts);
    }

    #[test]
    fn a_fact_about_another_state_is_ignored() {
        let old = key(0x1000, 7);
        let new = key(0x1000, 8);
        let other = key(0x2000, 7);
        assert_ne!(old, new);
        assert_ne!(old, other);
        let s = fact(old, false);
        assert_eq!(read(s, new), Known::Unknown { probes: 0 });
        assert_eq!(read(s, other), Known::Unknown { probes: 0 });
        // Counting starts again from a stale fact.
        assert_eq!(counted(0), 1);
    }

    #[test]
    fn a_count_never_reads_as_a_fact() {
        assert_eq!(read(counted(u64::MAX), 0), Known::Unknown { probes: KEY_MASK });
        assert_eq!(read(KEY_MASK, 5), Known::Unknown { probes: KEY_MASK });
    }

    #[test]
    fn which_names_are_whiteouts() {
        assert!(is_whiteout(b".wh.a"));
        assert!(is_whiteout(b".wh.lib"));
        assert!(!is_whiteout(b".wh..wh..opq"));
        assert!(!is_whiteout(b".wh..wh.orph"));
        assert!(!is_whiteout(b".wh."));
        assert!(!is_whiteout(b"a.wh.b"));
        assert!(!is_whiteout(b"x"));
    }
}
