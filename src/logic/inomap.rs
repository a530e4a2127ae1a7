//! Union inode numbers.
//!
//! Every object of the union gets one inode number, unique in the mount:
//! [`InoMap`] translates `(branch id, branch inode number)` to a union inode
//! number, handing out [`FIRST_INO`], 12, 13, ... in order of first use and
//! never handing one out twice. [`ROOT_INO`] is reserved for the union's
//! root.
//!
//! - A copy-up keeps the number: [`InoMap::alias`] points the copy's key at
//!   the number of the original (replacing whatever the key pointed at: the
//!   branch inode is this object now).
//! - An object created through the union gets a fresh number
//!   ([`InoMap::renumber`]) even when its branch inode number is one the
//!   map has seen: filesystems reuse the numbers of deleted inodes.
//! - [`InoMap::forget`] drops the key of a branch object that is gone (its
//!   last name was removed through the union), so the map holds only keys
//!   of objects that may still exist: its size follows the objects the
//!   union has seen that are still there, not every one it ever saw.
//!
//! Freed entries are reused (a free list threaded through them), and the
//! index removes without tombstones, so a create/unlink loop runs in
//! constant memory. The map is persisted as a log of these changes (the
//! xino file, `xino.rs`) and rebuilt by replaying it.

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

/// One entry: `key` has union number `ino`. A free entry has `ino` 0 and
/// keeps the next free entry's index plus one in `key.ino` (0: the last).
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Key,
    ino: u64,
}

/// `(branch id, branch inode number) -> union inode number`; see the module
/// docs. O(1) average per operation.
#[derive(Debug)]
pub struct InoMap {
    seed: u64,
    entries: Vec<Entry>,
    /// Hash of the key -> index in `entries` (live entries only).
    index: IndexTable,
    /// First free entry plus one (0: none).
    free: usize,
    /// Live entries.
    live: usize,
    /// The number the next new key gets.
    next: u64,
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
        InoMap { seed, entries: Vec::new(), index: IndexTable::new(), free: 0, live: 0, next: FIRST_INO }
    }

    fn hash(&self, k: Key) -> u64 {
        mix64(k.ino ^ mix64(self.seed ^ u64::from(k.brid)))
    }

    fn find(&self, k: Key) -> Option<usize> {
        self.index
            .find(self.hash(k), |i| self.entries.get(i).is_some_and(|e| e.ino != 0 && e.key == k))
    }

    /// Adds `k -> ino` for a key not in the map. On error the map is
    /// unchanged.
    fn put(&mut self, k: Key, ino: u64) -> Result<(), NoMem> {
        // Room in the index first, so the insert after cannot fail.
        self.index.reserve(1)?;
        let entry = Entry { key: k, ino };
        let i = match self.free.checked_sub(1) {
            Some(i) => {
                let slot = self.entries.get_mut(i).ok_or(NoMem)?;
                self.free = usize::try_from(slot.key.ino).map_err(|_| NoMem)?;
                *slot = entry;
                i
            }
            None => {
                self.entries.try_push(entry)?;
                self.entries.len().wrapping_sub(1)
            }
        };
        self.index.insert(self.hash(k), i)?;
        self.live = self.live.wrapping_add(1);
        Ok(())
    }

    /// Takes the next number (NoMem when the numbers ran out).
    fn take_next(&mut self) -> Result<u64, NoMem> {
        let ino = self.next;
        self.next = ino.checked_add(1).ok_or(NoMem)?;
        Ok(ino)
    }

    /// The union inode number of `(brid, lower_ino)`, if it has one.
    pub fn get(&self, brid: u32, lower_ino: u64) -> Option<u64> {
        let i = self.find(Key { brid, ino: lower_ino })?;
        self.entries.get(i).map(|e| e.ino)
    }

    /// The union inode number of `(brid, lower_ino)`, allocating the next
    /// one the first time. On error the map is unchanged.
    pub fn get_or_insert(&mut self, brid: u32, lower_ino: u64) -> Result<u64, NoMem> {
        if let Some(ino) = self.get(brid, lower_ino) {
            return Ok(ino);
        }
        self.renumber(brid, lower_ino)
    }

    /// Gives `(brid, lower_ino)` the next number, whether or not it had one
    /// (a new object made where a deleted one was). On error the map is
    /// unchanged.
    pub fn renumber(&mut self, brid: u32, lower_ino: u64) -> Result<u64, NoMem> {
        let k = Key { brid, ino: lower_ino };
        let ino = self.next;
        ino.checked_add(1).ok_or(NoMem)?;
        match self.find(k).and_then(|i| self.entries.get_mut(i)) {
            Some(e) => e.ino = ino,
            None => self.put(k, ino)?,
        }
        self.take_next()
    }

    /// Makes `(brid, lower_ino)` translate to `ino` (not 0): after copy-up
    /// the upper object keeps the number of the lower one. Returns whether
    /// the map changed. Numbers below `ino` are never handed out again.
    pub fn alias(&mut self, brid: u32, lower_ino: u64, ino: u64) -> Result<bool, NoMem> {
        if ino == 0 {
            return Err(NoMem);
        }
        let k = Key { brid, ino: lower_ino };
        let next = self.next.max(ino.checked_add(1).ok_or(NoMem)?);
        match self.find(k).and_then(|i| self.entries.get_mut(i)) {
            Some(e) if e.ino == ino => return Ok(false),
            Some(e) => e.ino = ino,
            None => self.put(k, ino)?,
        }
        self.next = next;
        Ok(true)
    }

    /// Drops `(brid, lower_ino)` from the map (the branch object is gone).
    /// Returns whether it was there. Never allocates.
    pub fn forget(&mut self, brid: u32, lower_ino: u64) -> bool {
        let k = Key { brid, ino: lower_ino };
        let Some(i) = self.find(k) else { return false };
        let h = self.hash(k);
        self.index.remove(h, i);
        let Some(e) = self.entries.get_mut(i) else { return false };
        *e = Entry { key: Key { brid: 0, ino: self.free as u64 }, ino: 0 };
        self.free = i.wrapping_add(1);
        self.live = self.live.wrapping_sub(1);
        true
    }

    /// The number the next new key will get.
    pub fn next_ino(&self) -> u64 {
        self.next
    }

    /// Makes sure no number below `ino` is handed out again.
    pub fn reserve_below(&mut self, ino: u64) {
        self.next = self.next.max(ino);
    }

    /// Every key in the map with its number: `(brid, lower_ino, ino)`.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64, u64)> + '_ {
        self.entries.iter().filter(|e| e.ino != 0).map(|e| (e.key.brid, e.key.ino, e.ino))
    }

    /// Number of keys in the map.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True if the map has no key.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Entries allocated (live and free): the map's memory.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_and_stable() {
        let mut m = InoMap::new();
        assert!(m.is_empty());
        assert_eq!(m.next_ino(), FIRST_INO);
        assert_eq!(m.get(64, 2), None);
        assert_eq!(m.get_or_insert(64, 2).unwrap(), 11);
        assert_eq!(m.get_or_insert(65, 2).unwrap(), 12);
        assert_eq!(m.get_or_insert(64, 3).unwrap(), 13);
        assert_eq!(m.get_or_insert(64, 2).unwrap(), 11);
        assert_eq!(m.get(65, 2), Some(12));
        assert_eq!(m.get(66, 2), None);
        assert_eq!(m.len(), 3);
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
        // Forgetting key (0, 0) must not confuse it with a free entry.
        assert!(m.forget(0, 0));
        assert_eq!(m.get(0, 0), None);
        assert_eq!(m.get(0, u64::MAX), Some(FIRST_INO + 2));
        assert_eq!(m.get_or_insert(0, 0).unwrap(), FIRST_INO + 5);
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
    fn alias_gives_the_copy_the_number_of_the_original() {
        let mut m = InoMap::new();
        let lower = m.get_or_insert(65, 1000).unwrap();
        let other = m.get_or_insert(64, 7).unwrap();
        assert!(m.alias(64, 500, lower).unwrap());
        assert!(!m.alias(64, 500, lower).unwrap());
        assert_eq!(m.get(64, 500), Some(lower));
        assert_eq!(m.get_or_insert(64, 500).unwrap(), lower);
        // A key that had a number (a branch inode number reused since)
        // takes the original's.
        assert!(m.alias(64, 7, lower).unwrap());
        assert_eq!(m.get(64, 7), Some(lower));
        // New keys still get fresh numbers; `other` is never handed out again.
        assert_eq!(m.get_or_insert(66, 1).unwrap(), other + 1);
        // An alias to a number above the next one moves the next one on.
        assert!(m.alias(66, 2, 100).unwrap());
        assert_eq!(m.get_or_insert(66, 3).unwrap(), 101);
        assert_eq!(m.alias(66, 4, 0), Err(NoMem));
    }

    #[test]
    fn renumber_and_forget() {
        let mut m = InoMap::new();
        let a = m.get_or_insert(64, 12).unwrap();
        // The branch reused inode 12 for a new object: a fresh number.
        let b = m.renumber(64, 12).unwrap();
        assert_ne!(a, b);
        assert_eq!(m.get(64, 12), Some(b));
        assert_eq!(m.len(), 1);
        assert!(m.forget(64, 12));
        assert!(!m.forget(64, 12));
        assert_eq!(m.get(64, 12), None);
        assert!(m.is_empty());
        let c = m.get_or_insert(64, 12).unwrap();
        assert!(c != a && c != b, "numbers are never handed out twice");
    }

    #[test]
    fn create_unlink_loop_runs_in_constant_memory() {
        let mut m = InoMap::new();
        for i in 0..1000u64 {
            m.get_or_insert(65, i).unwrap();
        }
        let cap = m.capacity();
        let slots = m.index.slots_len();
        let mut last = 0;
        for round in 0..200_000u64 {
            // Like ext4: the new file gets a number that was freed.
            let ino = 5000 + round % 3;
            let n = m.renumber(64, ino).unwrap();
            assert!(n > last);
            last = n;
            assert!(m.forget(64, ino));
        }
        assert_eq!(m.len(), 1000);
        assert!(m.capacity() <= cap + 1, "{} entries for 1000 keys", m.capacity());
        assert_eq!(m.index.slots_len(), slots);
        for i in (0..1000u64).step_by(7) {
            assert_eq!(m.get(65, i), Some(FIRST_INO + i));
        }
    }

    #[test]
    fn random_operations_match_a_reference() {
        extern crate std;
        use std::collections::HashMap;
        let mut m = InoMap::with_seed(9);
        let mut r: HashMap<(u32, u64), u64> = HashMap::new();
        let mut x: u64 = 0x1234_5678;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200_000 {
            x = mix64(x);
            let k = ((64 + (x % 3)) as u32, (x >> 8) % 500);
            match (x >> 20) % 5 {
                0 | 1 => {
                    let n = m.get_or_insert(k.0, k.1).unwrap();
                    let want = *r.entry(k).or_insert(n);
                    assert_eq!(n, want);
                    seen.insert(n);
                }
                2 => {
                    let n = m.renumber(k.0, k.1).unwrap();
                    assert!(seen.insert(n), "number {n} handed out twice");
                    r.insert(k, n);
                }
                3 => assert_eq!(m.forget(k.0, k.1), r.remove(&k).is_some()),
                _ => {
                    let to = FIRST_INO + (x >> 32) % 100;
                    m.alias(k.0, k.1, to).unwrap();
                    seen.insert(to);
                    r.insert(k, to);
                }
            }
            assert_eq!(m.len(), r.len());
        }
        for (k, n) in &r {
            assert_eq!(m.get(k.0, k.1), Some(*n));
        }
        assert_eq!(m.iter().count(), r.len());
        assert!(m.capacity() <= 1500);
    }
}
