//! The xino file format: an [`InoMap`] kept on disk.
//!
//! The map hands out union inode numbers sequentially, so the file is a log:
//! a 16-byte header, then one 24-byte record per change to the map, in the
//! order the changes happened. Replaying the records into an empty map
//! ([`replay`]) rebuilds it exactly, with every number where it was.
//!
//! ```text
//! header:  b"RFSXINO1"  u32 record size (24)  u32 reserved (0)
//! record:  u32 kind  u32 branch id  u64 lower inode  u64 union inode
//!          kind 1: a new number (`get_or_insert`); union inode = the number
//!          kind 2: an alias (`alias`): the key shares the union inode number
//! ```
//! All integers little-endian. A torn last record (a crash while appending)
//! is ignored; anything else that does not parse makes the file unusable
//! ([`Corrupt`]) and the caller starts afresh.

use super::inomap::InoMap;
use super::vec::NoMem;

/// The magic at the start of every xino file.
pub const MAGIC: &[u8; 8] = b"RFSXINO1";
/// Size of the header.
pub const HEADER_LEN: usize = 16;
/// Size of one record.
pub const RECORD_LEN: usize = 24;

const KIND_NEW: u32 = 1;
const KIND_ALIAS: u32 = 2;

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
    /// `(brid, lower_ino)` shares the number `ino`.
    Alias {
        /// Branch id.
        brid: u32,
        /// Inode number in the branch.
        lower_ino: u64,
        /// Union inode number.
        ino: u64,
    },
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
    let mut n: usize = 0;
    for chunk in body.chunks_exact(RECORD_LEN) {
        match decode(chunk).ok_or(Corrupt::BadRecord)? {
            Record::New { brid, lower_ino, ino } => {
                if map.next_ino() != Some(ino) || map.get(brid, lower_ino).is_some() {
                    return Err(Corrupt::BadRecord);
                }
                map.get_or_insert(brid, lower_ino)?;
            }
            Record::Alias { brid, lower_ino, ino } => {
                if map.key_of(ino).is_none() {
                    return Err(Corrupt::BadRecord);
                }
                map.alias(brid, lower_ino, ino)?;
            }
        }
        n = n.saturating_add(1);
    }
    Ok(n)
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
        let f = file_of(&[
            Record::New { brid: 65, lower_ino: 100, ino: a },
            Record::New { brid: 65, lower_ino: 200, ino: b },
            Record::Alias { brid: 64, lower_ino: 7, ino: a },
        ]);
        check_header(&f).unwrap();
        let mut m2 = InoMap::new();
        // A torn record at the end is ignored.
        let mut torn = f.clone();
        torn.extend_from_slice(&[1, 0, 0]);
        assert_eq!(replay(&torn[HEADER_LEN..], &mut m2), Ok(3));
        assert_eq!(m2.get(65, 100), Some(a));
        assert_eq!(m2.get(65, 200), Some(b));
        assert_eq!(m2.get(64, 7), Some(a));
        assert_eq!(m2.next_ino(), m.next_ino());
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
    }
}
