//! Union inode numbers.
//!
//! Every object of the union gets one inode number, unique in the mount and
//! stable while the map lives: [`InoMap`] translates `(branch id, lower inode
//! number)` to a union inode number, handing out [`FIRST_INO`], 12, 13, ... in
//! order of first use and never reusing one. [`ROOT_INO`] is reserved for the
//! union's root.
//!
//! Because numbers are handed out sequentially, the map can be persisted (the
//! xino file) as the list of keys in order and rebuilt by calling
//! [`InoMap::get_or_insert`] for each key in that order; [`InoMap::key_of`]
//! gives the key of a number.

use super::hash::{mix64, IndexTable};
use super::vec::{NoMem, Vec, VecExt};

/// Inode number of the union's root directory.
pub const ROOT_INO: u64 = 2;
/// The first inode number handed out by an [`InoMap`].
pub const FIRST_INO: u64 = 11;

const DEFAULT_SEED: u64 = 0x7266_735f_696e_6f73;

/// A key: (branch id, inode number in that branch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    brid: u32,
    ino: u64,
}

/// `(branch id, lower inode number) -> union inode number`; see the module
/// docs. O(1) average per operation.
#[derive(Debug)]
pub struct InoMap {
    seed: u64,
    /// Key of union inode number `FIRST_INO + i` at index `i`.
    keys: Vec<Key>,
    index: IndexTable,
    /// Keys that share a number allocated for another key (an object copied
    /// up keeps the number its lower object had): `(key, number)`.
    aliases: Vec<(Key, u64)>,
    alias_index: IndexTable,
}

impl Default for InoMap {
    fn default() -> Self {
        InoMap::new()
    }
}

impl InoMap {
    /// An empty map with a fixed hash seed.
    pub const fn new() -> InoMap {
        InoMap::with_seed(DEFAULT_SEED)
    }

    /// An empty map with hash seed `seed`.
    pub const fn with_seed(seed: u64) -> InoMap {
        InoMap {
            seed,
            keys: Vec::new(),
            index: IndexTable::new(),
            aliases: Vec::new(),
            alias_index: IndexTable::new(),
        }
    }

    fn hash(&self, k: Key) -> u64 {
        mix64(k.ino ^ mix64(self.seed ^ u64::from(k.brid)))
    }

    fn find(&self, k: Key) -> Option<usize> {
        self.index
            .find(self.hash(k), |i| self.keys.get(i) == Some(&k))
    }

    fn find_alias(&self, k: Key) -> Option<u64> {
        let i = self
            .alias_index
            .find(self.hash(k), |i| self.aliases.get(i).map(|a| a.0) == Some(k))?;
        self.aliases.get(i).map(|a| a.1)
    }

    fn ino_of_index(i: usize) -> Option<u64> {
        u64::try_from(i).ok()?.checked_add(FIRST_INO)
    }

    /// The union inode number of `(brid, lower_ino)`, if it has one.
    pub fn get(&self, brid: u32, lower_ino: u64) -> Option<u64> {
        let k = Key { brid, ino: lower_ino };
        if let Some(ino) = self.find_alias(k) {
            return Some(ino);
        }
        Self::ino_of_index(self.find(k)?)
    }

    /// Makes `(brid, lower_ino)` translate to `ino`, a number already handed
    /// out for another key: after copy-up the upper object keeps the union
    /// inode number of the lower one. A key that has a number keeps it.
    pub fn alias(&mut self, brid: u32, lower_ino: u64, ino: u64) -> Result<(), NoMem> {
        let k = Key { brid, ino: lower_ino };
        if self.get(brid, lower_ino).is_some() {
            return Ok(());
        }
        let i = self.aliases.len();
        self.alias_index.reserve(1)?;
        self.aliases.try_push((k, ino))?;
        self.alias_index.insert(self.hash(k), i)?;
        Ok(())
    }

    /// The union inode number of `(brid, lower_ino)`, allocating the next
    /// free one the first time. On error the map is unchanged.
    pub fn get_or_insert(&mut self, brid: u32, lower_ino: u64) -> Result<u64, NoMem> {
        let k = Key { brid, ino: lower_ino };
        if let Some(ino) = self.find_alias(k) {
            return Ok(ino);
        }
        if let Some(i) = self.find(k) {
            return Self::ino_of_index(i).ok_or(NoMem);
        }
        let i = self.keys.len();
        let ino = Self::ino_of_index(i).ok_or(NoMem)?;
        // Make room in the index first, so that the insert after the push
        // cannot fail and leave a key without an index entry.
        self.index.reserve(1)?;
        self.keys.try_push(k)?;
        self.index.insert(self.hash(k), i)?;
        Ok(ino)
    }

    /// The `(branch id, lower inode number)` that union inode `ino` was
    /// allocated for.
    pub fn key_of(&self, ino: u64) -> Option<(u32, u64)> {
        let i = usize::try_from(ino.checked_sub(FIRST_INO)?).ok()?;
        self.keys.get(i).map(|k| (k.brid, k.ino))
    }

    /// The number the next new key will get.
    pub fn next_ino(&self) -> Option<u64> {
        Self::ino_of_index(self.keys.len())
    }

    /// Number of union inode numbers handed out.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no number was handed out yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_and_stable() {
        let mut m = InoMap::new();
        assert!(m.is_empty());
        assert_eq!(m.next_ino(), Some(FIRST_INO));
        assert_eq!(m.get(64, 2), None);
        assert_eq!(m.get_or_insert(64, 2).unwrap(), 11);
        assert_eq!(m.get_or_insert(65, 2).unwrap(), 12);
        assert_eq!(m.get_or_insert(64, 3).unwrap(), 13);
        assert_eq!(m.get_or_insert(64, 2).unwrap(), 11);
        assert_eq!(m.get(65, 2), Some(12));
        assert_eq!(m.get(66, 2), None);
        assert_eq!(m.len(), 3);
        assert_eq!(m.key_of(12), Some((65, 2)));
        assert_eq!(m.key_of(ROOT_INO), None);
        assert_eq!(m.key_of(14), None);
        assert_eq!(m.key_of(0), None);
        assert_eq!(m.key_of(u64::MAX), None);
        assert_ne!(ROOT_INO, FIRST_INO);
    }

    #[test]
    fn extreme_keys() {
        let mut m = InoMap::with_seed(5);
        let keys = [(0, 0), (u32::MAX, u64::MAX), (0, u64::MAX), (u32::MAX, 0), (1, 1)];
        for (n, (b, i)) in keys.iter().enumerate() {
            assert_eq!(m.get_or_insert(*b, *i).unwrap(), FIRST_INO + n as u64);
        }
        for (n, (b, i)) in keys.iter().enumerate() {
            assert_eq!(m.get(*b, *i), Some(FIRST_INO + n as u64));
        }
    }

    #[test]
    fn a_million_inserts() {
        let mut m = InoMap::default();
        const N: u64 = 1_000_000;
        for i in 0..N {
            // Sequential lower inode numbers over 4 branches, as a real fs gives.
            let ino = m.get_or_insert(64 + (i % 4) as u32, i / 4 + 100).unwrap();
            assert_eq!(ino, FIRST_INO + i);
        }
        assert_eq!(m.len(), N as usize);
        for i in (0..N).step_by(997) {
            assert_eq!(m.get(64 + (i % 4) as u32, i / 4 + 100), Some(FIRST_INO + i));
            assert_eq!(m.get_or_insert(64 + (i % 4) as u32, i / 4 + 100).unwrap(), FIRST_INO + i);
        }
        assert_eq!(m.len(), N as usize);
        assert_eq!(m.get(68, 100), None);
        let probes = m.index.probes();
        assert!(probes < 10 * (N + N / 997 * 2), "{probes} probes");
    }

    #[test]
    fn rebuild_in_order_gives_same_numbers() {
        let mut a = InoMap::new();
        for i in 0..1000u64 {
            a.get_or_insert((i % 7) as u32, i * 31).unwrap();
        }
        let mut b = InoMap::with_seed(42);
        for ino in FIRST_INO..a.next_ino().unwrap() {
            let (brid, lower) = a.key_of(ino).unwrap();
            assert_eq!(b.get_or_insert(brid, lower).unwrap(), ino);
        }
    }

    #[test]
    fn alias_keeps_the_number_of_the_lower_object() {
        let mut m = InoMap::new();
        let lower = m.get_or_insert(65, 1000).unwrap();
        let other = m.get_or_insert(64, 7).unwrap();
        m.alias(64, 500, lower).unwrap();
        assert_eq!(m.get(64, 500), Some(lower));
        assert_eq!(m.get_or_insert(64, 500).unwrap(), lower);
        // A key with a number of its own keeps it.
        m.alias(64, 7, lower).unwrap();
        assert_eq!(m.get(64, 7), Some(other));
        // New keys still get fresh numbers.
        assert_eq!(m.get_or_insert(66, 1).unwrap(), other + 1);
    }
}
