//! The xino file format: an [`InoMap`] kept on disk.
//!
//! The file is a log: a 16-byte header, then one 24-byte record per change
//! to the map, in the order the changes happened. Replaying the records
//! into an empty map ([`replay`]) rebuilds it exactly, with every number
//! where it was. When most records are about keys since forgotten, the
//! writer rewrites the file from the map ([`compacted`]): a `Next` record,
//! then one `Alias` per key.
//!
//! ```text
//! header:  b"RFSXINO1"  u32 record size (24)  u32 reserved (0)
//! record:  u32 kind  u32 branch id  u64 branch inode  u64 union inode
//!          kind 1: the key got the next new number (`get_or_insert`,
//!                  `renumber`); union inode = that number
//!          kind 2: the key has the number union inode (`alias`)
//!          kind 3: the key is forgotten (`forget`); union inode 0
//!          kind 4: no number below union inode is handed out again;
//!                  branch id and branch inode 0
//!          kind 5: the end of the log (all fields 0); what follows is
//!                  left over from before a rewrite and is not replayed
//! ```
//! All integers little-endian. Files written before kinds 3 and 4 existed
//! replay the same. A torn last record (a crash while appending) is
//! ignored; anything else that does not parse makes the file unusable
//! ([`Corrupt`]) and the caller starts afresh.

use super::inomap::InoMap;
use super::vec::{NoMem, Vec, VecExt};

/// The magic at the start of every xino file.
pub const MAGIC: &[u8; 8] = b"RFSXINO1";
/// Size of the header.
pub const HEADER_LEN: usize = 16;
/// Size of one record.
pub const RECORD_LEN: usize = 24;

const KIND_NEW: u32 = 1;
const KIND_ALIAS: u32 = 2;
const KIND_FORGET: u32 = 3;
const KIND_NEXT: u32 = 4;
const KIND_END: u32 = 5;

/// One change to the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `(brid, lower_ino)` got the new number `ino`.
    New {
        /// Branch id.
        brid: u32,
        /// Inode number in the branch.
        lower_ino: u64,
        /// Union inode number.
        ino: u64,
    },
    /// `(brid, lower_ino)` has the number `ino`.
    Alias {
        /// Branch id.
        brid: u32,
        /// Inode number in the branch.
        lower_ino: u64,
        /// Union inode number.
        ino: u64,
    },
    /// `(brid, lower_ino)` left the map.
    Forget {
        /// Branch id.
        brid: u32,
        /// Inode number in the branch.
        lower_ino: u64,
    },
    /// No number below `ino` is handed out again.
    Next {
        /// The next number.
        ino: u64,
    },
    /// The end of the log: the rest of the file is not replayed.
    End,
}

/// Why a file cannot be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrupt {
    /// Not an rfs xino file (or another version).
    BadHeader,
    /// A record that does not fit the map (unknown kind, a number out of
    /// sequence).
    BadRecord,
    /// Out of memory while rebuilding.
    NoMem,
}

impl From<NoMem> for Corrupt {
    fn from(_: NoMem) -> Corrupt {
        Corrupt::NoMem
    }
}

/// The header of a new file.
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let (m, rest) = h.split_at_mut(MAGIC.len());
    m.copy_from_slice(MAGIC);
    if let Some(sz) = rest.get_mut(..4) {
        sz.copy_from_slice(&(RECORD_LEN as u32).to_le_bytes());
    }
    h
}

/// The bytes of `r`.
pub fn encode(r: Record) -> [u8; RECORD_LEN] {
    let (kind, brid, lower_ino, ino) = match r {
        Record::New { brid, lower_ino, ino } => (KIND_NEW, brid, lower_ino, ino),
        Record::Alias { brid, lower_ino, ino } => (KIND_ALIAS, brid, lower_ino, ino),
        Record::Forget { brid, lower_ino } => (KIND_FORGET, brid, lower_ino, 0),
        Record::Next { ino } => (KIND_NEXT, 0, 0, ino),
        Record::End => (KIND_END, 0, 0, 0),
    };
    let mut b = [0u8; RECORD_LEN];
    let parts: [&[u8]; 4] = [&kind.to_le_bytes(), &brid.to_le_bytes(), &lower_ino.to_le_bytes(), &ino.to_le_bytes()];
    let mut rest: &mut [u8] = &mut b;
    for p in parts {
        let (dst, tail) = rest.split_at_mut(p.len().min(rest.len()));
        dst.copy_from_slice(p.get(..dst.len()).unwrap_or(&[]));
        rest = tail;
    }
    b
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// The record in `b` (exactly [`RECORD_LEN`] bytes).
pub fn decode(b: &[u8]) -> Option<Record> {
    let (kind, brid, lower_ino, ino) = (u32_at(b, 0)?, u32_at(b, 4)?, u64_at(b, 8)?, u64_at(b, 16)?);
    match kind {
        KIND_NEW => Some(Record::New { brid, lower_ino, ino }),
        KIND_ALIAS => Some(Record::Alias { brid, lower_ino, ino }),
        KIND_FORGET if ino == 0 => Some(Record::Forget { brid, lower_ino }),
        KIND_NEXT if brid == 0 && lower_ino == 0 => Some(Record::Next { ino }),
        KIND_END if brid == 0 && lower_ino == 0 && ino == 0 => Some(Record::End),
        _ => None,
    }
}

/// Checks the header at the start of `file`.
pub fn check_header(file: &[u8]) -> Result<(), Corrupt> {
    let h = file.get(..HEADER_LEN).ok_or(Corrupt::BadHeader)?;
    if h.get(..MAGIC.len()) != Some(&MAGIC[..]) || u32_at(h, 8) != Some(RECORD_LEN as u32) {
        return Err(Corrupt::BadHeader);
    }
    Ok(())
}

/// Applies the records in `body` (the file after its header) to `map`.
/// Returns how many were applied; a torn trailing record is ignored.
pub fn replay(body: &[u8], map: &mut InoMap) -> Result<usize, Corrupt> {
    Ok(replay_until_end(body, map)?.0)
}

/// As [`replay`], also saying whether an End record stopped it (the count
/// does not include the End record).
pub fn replay_until_end(body: &[u8], map: &mut InoMap) -> Result<(usize, bool), Corrupt> {
    let mut n: usize = 0;
    for chunk in body.chunks_exact(RECORD_LEN) {
        let r = decode(chunk).ok_or(Corrupt::BadRecord)?;
        if r == Record::End {
            return Ok((n, true));
        }
        apply(r, map)?;
        n = n.saturating_add(1);
    }
    Ok((n, false))
}

/// Applies one record to `map`, checking that it fits (a new number is the
/// next one, an alias names a number handed out before).
pub fn apply(r: Record, map: &mut InoMap) -> Result<(), Corrupt> {
    match r {
        Record::New { brid, lower_ino, ino } => {
            if map.next_ino() != ino {
                return Err(Corrupt::BadRecord);
            }
            map.renumber(brid, lower_ino)?;
        }
        Record::Alias { brid, lower_ino, ino } => {
            if ino == 0 || ino >= map.next_ino() {
                return Err(Corrupt::BadRecord);
            }
            map.alias(brid, lower_ino, ino)?;
        }
        Record::Forget { brid, lower_ino } => {
            map.forget(brid, lower_ino);
        }
        Record::Next { ino } => {
            if ino < map.next_ino() {
                return Err(Corrupt::BadRecord);
            }
            map.reserve_below(ino);
        }
        Record::End => {}
    }
    Ok(())
}

/// The records of a file rewritten from `map` (after the header): the next
/// number, then every key with its number, then an End record (the writer
/// overwrites the old log with these and only then cuts the file after
/// the last alias, so a crash in between replays to the same map).
pub fn compacted(map: &InoMap) -> Result<Vec<u8>, NoMem> {
    let len = map.len().checked_add(2).and_then(|n| n.checked_mul(RECORD_LEN)).ok_or(NoMem)?;
    let mut out: Vec<u8> = super::vec::vec_with_capacity(len)?;
    out.try_extend_from_slice(&encode(Record::Next { ino: map.next_ino() }))?;
    for (brid, lower_ino, ino) in map.iter() {
        out.try_extend_from_slice(&encode(Record::Alias { brid, lower_ino, ino }))?;
    }
    out.try_extend_from_slice(&encode(Record::End))?;
    Ok(out)
}

/// Whether a file of `records` records for a map of `live` keys is worth
/// rewriting: at least 4096 records, three times as many as a rewrite
/// would write. A create/unlink loop so costs O(1) writes per change.
pub fn worth_compacting(records: u64, live: usize) -> bool {
    let live = u64::try_from(live).unwrap_or(u64::MAX);
    records >= 4096 && records / 3 > live
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn file_of(records: &[Record]) -> Vec<u8> {
        let mut f = header().to_vec();
        for r in records {
            f.extend_from_slice(&encode(*r));
        }
        f
    }

    #[test]
    fn records_round_trip() {
        let r = Record::Alias { brid: 64, lower_ino: u64::MAX - 1, ino: 12 };
        assert_eq!(decode(&encode(r)), Some(r));
        assert_eq!(decode(&[0u8; RECORD_LEN]), None);
    }

    #[test]
    fn replay_rebuilds_the_map() {
        let mut m = InoMap::new();
        let a = m.get_or_insert(65, 100).unwrap();
        let b = m.get_or_insert(65, 200).unwrap();
        m.alias(64, 7, a).unwrap();
        let c = m.get_or_insert(64, 8).unwrap();
        m.forget(64, 8);
        let d = m.renumber(64, 7).unwrap();
        let f = file_of(&[
            Record::New { brid: 65, lower_ino: 100, ino: a },
            Record::New { brid: 65, lower_ino: 200, ino: b },
            Record::Alias { brid: 64, lower_ino: 7, ino: a },
            Record::New { brid: 64, lower_ino: 8, ino: c },
            Record::Forget { brid: 64, lower_ino: 8 },
            Record::New { brid: 64, lower_ino: 7, ino: d },
        ]);
        check_header(&f).unwrap();
        let mut m2 = InoMap::new();
        // A torn record at the end is ignored.
        let mut torn = f.clone();
        torn.extend_from_slice(&[1, 0, 0]);
        assert_eq!(replay(&torn[HEADER_LEN..], &mut m2), Ok(6));
        assert_eq!(m2.get(65, 100), Some(a));
        assert_eq!(m2.get(65, 200), Some(b));
        assert_eq!(m2.get(64, 7), Some(d));
        assert_eq!(m2.get(64, 8), None);
        assert_eq!(m2.next_ino(), m.next_ino());
    }

    #[test]
    fn a_compacted_file_replays_to_the_same_map() {
        let mut m = InoMap::new();
        for i in 0..5000u64 {
            m.get_or_insert(65, i).unwrap();
        }
        for i in 0..5000u64 {
            if i % 3 != 0 {
                m.forget(65, i);
            }
        }
        m.alias(64, 1, 20).unwrap();
        let body = compacted(&m).unwrap();
        assert_eq!(body.len(), (m.len() + 2) * RECORD_LEN);
        let mut m2 = InoMap::new();
        assert_eq!(replay(&body, &mut m2), Ok(m.len() + 1));
        // Left-over records after the End record are not replayed.
        let mut stale = body.to_vec();
        stale.extend_from_slice(&encode(Record::New { brid: 99, lower_ino: 1, ino: 5 }));
        let mut m4 = InoMap::new();
        assert_eq!(replay_until_end(&stale, &mut m4), Ok((m.len() + 1, true)));
        assert_eq!(m4.get(99, 1), None);
        assert_eq!(m2.len(), m.len());
        assert_eq!(m2.next_ino(), m.next_ino());
        for (brid, lower, ino) in m.iter() {
            assert_eq!(m2.get(brid, lower), Some(ino));
        }
        // Appending goes on from there (after the End record is cut).
        let n = m.get_or_insert(66, 1).unwrap();
        let mut more = body[..body.len() - RECORD_LEN].to_vec();
        more.extend_from_slice(&encode(Record::New { brid: 66, lower_ino: 1, ino: n }));
        let mut m3 = InoMap::new();
        replay(&more, &mut m3).unwrap();
        assert_eq!(m3.get(66, 1), Some(n));
    }

    #[test]
    fn compaction_is_worth_it_only_with_much_garbage() {
        assert!(!worth_compacting(100, 0));
        assert!(!worth_compacting(4096, 2000));
        assert!(worth_compacting(4096, 1000));
        assert!(!worth_compacting(1_000_000, 400_000));
    }

    #[test]
    fn bad_files_are_refused() {
        assert_eq!(check_header(b"short"), Err(Corrupt::BadHeader));
        let mut f = header().to_vec();
        f[0] = b'X';
        assert_eq!(check_header(&f), Err(Corrupt::BadHeader));
        let mut m = InoMap::new();
        // A number out of sequence.
        let body = encode(Record::New { brid: 64, lower_ino: 1, ino: 99 });
        assert_eq!(replay(&body, &mut m), Err(Corrupt::BadRecord));
        // An alias of a number never handed out.
        let body = encode(Record::Alias { brid: 64, lower_ino: 1, ino: 11 });
        assert_eq!(replay(&body, &mut InoMap::new()), Err(Corrupt::BadRecord));
        // The next number going back.
        let mut body = encode(Record::Next { ino: 50 }).to_vec();
        body.extend_from_slice(&encode(Record::Next { ino: 40 }));
        assert_eq!(replay(&body, &mut InoMap::new()), Err(Corrupt::BadRecord));
        // Unknown kinds and stray fields.
        let mut r = encode(Record::Forget { brid: 64, lower_ino: 1 });
        r[16] = 1;
        assert_eq!(decode(&r), None);
        let mut r = encode(Record::Next { ino: 50 });
        r[0] = 9;
        assert_eq!(decode(&r), None);
    }
}
