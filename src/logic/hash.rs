//! Hashing and an open-addressing index table.
//!
//! The logic code needs hash sets and maps (readdir dedup, the inode map) but
//! has no `std` collections in the kernel. [`IndexTable`] is the one building
//! block: it maps a 64-bit hash to indexes into a caller-owned [`Vec`] of
//! records, and the caller decides what "equal" means. It is a plain
//! linear-probing array; removal shifts displaced slots back (no
//! tombstones). The array only grows (growth builds a new one), so its size
//! follows the most records indexed at once.
//!
//! Names from branch directories are hashed with keyed SipHash-1-3
//! ([`hash_bytes`]): a user who can create files in a lower branch should not
//! be able to make a merged readdir quadratic by choosing colliding names, as
//! long as the caller picks a random seed. Integer keys use [`mix64`].

use super::vec::{vec_with_capacity, NoMem, Vec, VecExt};

/// SipHash with `C` compression and `D` finalisation rounds, keys `k0`, `k1`.
fn siphash<const C: usize, const D: usize>(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        let [mut v0, mut v1, mut v2, mut v3] = *v;
        v0 = v0.wrapping_add(v1);
        v1 = v1.rotate_left(13) ^ v0;
        v0 = v0.rotate_left(32);
        v2 = v2.wrapping_add(v3);
        v3 = v3.rotate_left(16) ^ v2;
        v0 = v0.wrapping_add(v3);
        v3 = v3.rotate_left(21) ^ v0;
        v2 = v2.wrapping_add(v1);
        v1 = v1.rotate_left(17) ^ v2;
        v2 = v2.rotate_left(32);
        *v = [v0, v1, v2, v3];
    }
    fn le_word(bytes: &[u8]) -> u64 {
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let m = le_word(chunk);
        v[3] ^= m;
        for _ in 0..C {
            round(&mut v);
        }
        v[0] ^= m;
    }
    // The length is mixed in modulo 256, as the algorithm specifies.
    let last = ((data.len() as u64) << 56) | le_word(chunks.remainder());
    v[3] ^= last;
    for _ in 0..C {
        round(&mut v);
    }
    v[0] ^= last;
    v[2] ^= 0xff;
    for _ in 0..D {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Hashes a byte string (a file name, a path) with SipHash-1-3 keyed by `seed`.
pub fn hash_bytes(seed: u64, data: &[u8]) -> u64 {
    siphash::<1, 3>(seed, seed.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15, data)
}

/// A 64-bit finaliser (from SplitMix64): every input bit affects every output bit.
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One slot: `idx` is the record index plus one (0 = empty); `tag` is the
/// 32-bit folded hash, which also gives the home position.
#[derive(Debug, Clone, Copy)]
struct Slot {
    tag: u32,
    idx: u32,
}

const EMPTY: Slot = Slot { tag: 0, idx: 0 };

/// Most records one table can index (slot indexes are 32-bit).
pub const MAX_RECORDS: usize = 0x7fff_ffff;

/// A hash index over records kept elsewhere: `hash -> record index`.
///
/// The table stores only a 32-bit fold of each hash, so the caller confirms a
/// candidate with its own equality test (see [`IndexTable::find`]). Average
/// cost of `find` and `insert` is O(1) (load factor at most 3/4).
#[derive(Debug)]
pub struct IndexTable {
    slots: Vec<Slot>,
    used: usize,
    /// Probe count, for the complexity tests.
    #[cfg(test)]
    probes: core::cell::Cell<u64>,
}

impl Default for IndexTable {
    fn default() -> Self {
        IndexTable::new()
    }
}

fn fold(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

impl IndexTable {
    /// An empty table; it allocates on the first insert.
    pub const fn new() -> Self {
        IndexTable {
            slots: Vec::new(),
            used: 0,
            #[cfg(test)]
            probes: core::cell::Cell::new(0),
        }
    }

    /// Slots in the array (tests only).
    #[cfg(test)]
    pub fn slots_len(&self) -> usize {
        self.slots.len()
    }

    /// Number of records indexed.
    pub fn len(&self) -> usize {
        self.used
    }

    /// True if nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    #[cfg(test)]
    fn probe(&self) {
        self.probes.set(self.probes.get().wrapping_add(1));
    }

    #[cfg(not(test))]
    fn probe(&self) {}

    /// Total probes done so far (tests only).
    #[cfg(test)]
    pub fn probes(&self) -> u64 {
        self.probes.get()
    }

    /// Finds a record whose hash is `hash` and for which `is_match(index)`
    /// says yes.
    pub fn find(&self, hash: u64, mut is_match: impl FnMut(usize) -> bool) -> Option<usize> {
        let cap = self.slots.len();
        if cap == 0 {
            return None;
        }
        let mask = cap.wrapping_sub(1);
        let tag = fold(hash);
        let mut pos = tag as usize & mask;
        // The table is never full, so an empty slot ends the search; the
        // bound only guards against a broken invariant.
        for _ in 0..cap {
            self.probe();
            let slot = self.slots.get(pos)?;
            if slot.idx == 0 {
                return None;
            }
            let index = slot.idx.wrapping_sub(1) as usize;
            if slot.tag == tag && is_match(index) {
                return Some(index);
            }
            pos = pos.wrapping_add(1) & mask;
        }
        None
    }

    /// Makes sure `additional` more records can be inserted without allocating.
    pub fn reserve(&mut self, additional: usize) -> Result<(), NoMem> {
        let want = self.used.checked_add(additional).ok_or(NoMem)?;
        if want > MAX_RECORDS {
            return Err(NoMem);
        }
        let mut cap = self.slots.len();
        if fits(want, cap) {
            return Ok(());
        }
        if cap < 16 {
            cap = 16;
        }
        while !fits(want, cap) {
            cap = cap.checked_mul(2).ok_or(NoMem)?;
        }
        self.rebuild(cap)
    }

    fn rebuild(&mut self, cap: usize) -> Result<(), NoMem> {
        let mut slots: Vec<Slot> = vec_with_capacity(cap)?;
        for _ in 0..cap {
            slots.try_push(EMPTY)?;
        }
        let mask = cap.wrapping_sub(1);
        for old in self.slots.iter().filter(|s| s.idx != 0) {
            let mut pos = old.tag as usize & mask;
            // `cap` exceeds the number of records, so an empty slot exists.
            for _ in 0..cap {
                match slots.get_mut(pos) {
                    Some(slot) if slot.idx == 0 => {
                        *slot = *old;
                        break;
                    }
                    _ => pos = pos.wrapping_add(1) & mask,
                }
            }
        }
        self.slots = slots;
        Ok(())
    }

    /// Adds `index` under `hash`. The caller must have checked with
    /// [`IndexTable::find`] that no equal record is indexed. Does not allocate
    /// if [`IndexTable::reserve`] made room before.
    pub fn insert(&mut self, hash: u64, index: usize) -> Result<(), NoMem> {
        let idx = u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(1))
            .ok_or(NoMem)?;
        self.reserve(1)?;
        let cap = self.slots.len();
        let mask = cap.wrapping_sub(1);
        let tag = fold(hash);
        let mut pos = tag as usize & mask;
        for _ in 0..cap {
            self.probe();
            match self.slots.get_mut(pos) {
                Some(slot) if slot.idx == 0 => {
                    *slot = Slot { tag, idx };
                    self.used = self.used.wrapping_add(1);
                    return Ok(());
                }
                _ => pos = pos.wrapping_add(1) & mask,
            }
        }
        // Not reachable while the load factor stays below one.
        Err(NoMem)
    }

    /// Removes `index` (indexed under `hash`) from the table; false if it
    /// was not there. The slots after it that were displaced past the hole
    /// move back (backward-shift deletion), so no tombstones are left and
    /// `find` stays O(1). Never allocates.
    pub fn remove(&mut self, hash: u64, index: usize) -> bool {
        let Some(want) = u32::try_from(index).ok().and_then(|i| i.checked_add(1)) else {
            return false;
        };
        let cap = self.slots.len();
        if cap == 0 {
            return false;
        }
        let mask = cap.wrapping_sub(1);
        let mut pos = fold(hash) as usize & mask;
        let mut hole = None;
        for _ in 0..cap {
            match self.slots.get(pos) {
                Some(s) if s.idx == want => {
                    hole = Some(pos);
                    break;
                }
                Some(s) if s.idx != 0 => pos = pos.wrapping_add(1) & mask,
                _ => return false,
            }
        }
        let Some(mut hole) = hole else { return false };
        // A record at `j` may fill the hole if its home slot is not in
        // (hole, j]: the probe from its home then passes the hole.
        let mut j = hole;
        for _ in 0..cap {
            j = j.wrapping_add(1) & mask;
            let Some(&s) = self.slots.get(j) else { break };
            if s.idx == 0 {
                break;
            }
            let home = s.tag as usize & mask;
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = s;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = EMPTY;
        }
        self.used = self.used.wrapping_sub(1);
        true
    }
}

/// True if `n` records fit in `cap` slots at a load factor of at most 3/4.
fn fits(n: usize, cap: usize) -> bool {
    // n <= cap * 3 / 4, without overflow.
    n <= (cap / 4).saturating_mul(3) && cap != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn siphash24_matches_core() {
        use core::hash::Hasher;
        let mut data = [0u8; 64];
        for (i, b) in data.iter_mut().enumerate() {
            *b = i as u8;
        }
        for len in 0..64 {
            let (k0, k1) = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
            let mut h = core::hash::SipHasher::new_with_keys(k0, k1);
            h.write(&data[..len]);
            assert_eq!(siphash::<2, 4>(k0, k1, &data[..len]), h.finish(), "len {len}");
        }
    }

    #[test]
    fn siphash24_reference_vector() {
        // Test vector from the SipHash paper (64 bytes 0..63, key 00..0f): len 15.
        let data: [u8; 15] = core::array::from_fn(|i| i as u8);
        let out = siphash::<2, 4>(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, &data);
        assert_eq!(out, 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn seeds_change_hashes() {
        assert_ne!(hash_bytes(1, b"abc"), hash_bytes(2, b"abc"));
        assert_ne!(hash_bytes(1, b"abc"), hash_bytes(1, b"abd"));
        assert_ne!(mix64(1), mix64(2));
    }

    #[test]
    fn table_insert_find_grow() {
        let mut keys: Vec<u64> = Vec::new();
        let mut t = IndexTable::new();
        assert_eq!(t.find(5, |_| true), None);
        for k in 0..10_000u64 {
            let h = mix64(k);
            assert_eq!(t.find(h, |i| keys[i] == k), None);
            keys.try_push(k).unwrap();
            t.insert(h, keys.len() - 1).unwrap();
        }
        assert_eq!(t.len(), 10_000);
        for k in 0..10_000u64 {
            assert_eq!(t.find(mix64(k), |i| keys[i] == k), Some(k as usize));
        }
        assert_eq!(t.find(mix64(10_001), |i| keys[i] == 10_001), None);
    }

    #[test]
    fn all_same_hash_still_correct() {
        let mut t = IndexTable::new();
        for i in 0..100 {
            assert_eq!(t.find(42, |j| j == i), None);
            t.insert(42, i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(t.find(42, |j| j == i), Some(i));
        }
    }

    #[test]
    fn table_remove_keeps_every_other_record_findable() {
        // Few distinct hashes (long collision runs, wrapping around the
        // end of the array) and records removed in a scrambled order.
        let n = 3000usize;
        let h = |k: usize| mix64((k % 37) as u64);
        let mut t = IndexTable::new();
        for k in 0..n {
            t.insert(h(k), k).unwrap();
        }
        let slots = t.slots.len();
        let mut gone = [false; 3000];
        for step in 0..n {
            let k = (step * 1_237) % n;
            assert!(t.remove(h(k), k), "remove {k}");
            assert!(!t.remove(h(k), k), "second remove {k}");
            gone[k] = true;
            if step % 97 == 0 {
                for j in 0..n {
                    let want = if gone[j] { None } else { Some(j) };
                    assert_eq!(t.find(h(j), |i| i == j), want, "after {step} removals, record {j}");
                }
            }
        }
        assert!(t.is_empty());
        assert_eq!(t.slots.len(), slots, "removal never allocates");
        // Insert and remove in a loop: the array does not grow.
        for k in 0..100_000usize {
            t.insert(h(k), k).unwrap();
            assert!(t.remove(h(k), k));
        }
        assert_eq!(t.slots.len(), slots);
    }

    #[test]
    fn reserve_limits() {
        let mut t = IndexTable::new();
        assert_eq!(t.reserve(usize::MAX), Err(NoMem));
        assert_eq!(t.reserve(MAX_RECORDS + 1), Err(NoMem));
        assert_eq!(t.insert(1, u32::MAX as usize), Err(NoMem));
        assert!(t.is_empty());
    }
}
