//! The ledger of numbered messages: which (producer id, seq) pairs were sent, acknowledged,
//! failed and consumed, and the verdict that compares them (lost, duplicated, reordered,
//! unexpected).
//!
//! Every message carries `(producer_id: u32, seq: u64)`; each producer instance numbers its
//! messages 0, 1, 2, ... Sets of sequence numbers are [`SeqBitmap`]s: chunked bitmaps whose
//! fully-set chunks take no memory, so a run of hours at tens of thousands of messages per
//! second keeps only its holes and its frontier (at most 8 KiB per 65,536 seqs even when every
//! other message is missing), never a set entry per message.
//!
//! Ownership follows the hot path: each producer worker owns its [`ProduceLedger`] and each
//! consumer worker its [`ConsumeLedger`], without locks; at the end the consume ledgers of one
//! consumer group are [merged](ConsumeLedger::merge) and [`verify`] compares them with every
//! produce ledger.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Sequence numbers per chunk (8 KiB of bits).
const CHUNK_BITS: u64 = 1 << 16;
const CHUNK_WORDS: usize = (CHUNK_BITS / 64) as usize;

/// One chunk of a [`SeqBitmap`]: absent (all clear), full, or explicit bits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunk {
    Full,
    Bits { words: Box<[u64]>, ones: u32 },
}

/// A read-only view of one chunk, absent chunks included.
#[derive(Clone, Copy)]
enum View<'a> {
    Empty,
    Full,
    Bits(&'a [u64]),
}

impl View<'_> {
    #[inline]
    fn word(&self, i: usize) -> u64 {
        match self {
            View::Empty => 0,
            View::Full => !0,
            View::Bits(w) => w[i],
        }
    }

    /// The word every position holds, when the chunk is uniform.
    fn uniform(&self) -> Option<u64> {
        match self {
            View::Empty => Some(0),
            View::Full => Some(!0),
            View::Bits(_) => None,
        }
    }
}

/// A set of sequence numbers stored as a chunked bitmap.
///
/// Chunks of 65,536 seqs are allocated on first use (8 KiB), dropped again once every seq in
/// them is set, and the contiguous fully-set prefix is a single number. Memory is therefore
/// proportional to the chunks that have holes, and a stray huge seq costs one chunk, not a
/// bitmap up to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqBitmap {
    /// Every chunk below this index is full and not stored.
    full_prefix: u64,
    /// Chunks at or above `full_prefix` that hold at least one seq.
    chunks: BTreeMap<u64, Chunk>,
    len: u64,
}

impl SeqBitmap {
    /// An empty set.
    pub fn new() -> SeqBitmap {
        SeqBitmap::default()
    }

    /// Number of seqs in the set.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the set holds no seq.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `seq` is in the set.
    pub fn contains(&self, seq: u64) -> bool {
        let (key, bit) = split(seq);
        self.view(key).word(bit / 64) & (1 << (bit % 64)) != 0
    }

    /// Adds `seq`; true if it was not there before.
    #[inline]
    pub fn insert(&mut self, seq: u64) -> bool {
        let (key, bit) = split(seq);
        if key < self.full_prefix {
            return false;
        }
        let chunk = self
            .chunks
            .entry(key)
            .or_insert_with(|| Chunk::Bits { words: vec![0; CHUNK_WORDS].into_boxed_slice(), ones: 0 });
        let now_full = match chunk {
            Chunk::Full => return false,
            Chunk::Bits { words, ones } => {
                let (w, mask) = (bit / 64, 1u64 << (bit % 64));
                if words[w] & mask != 0 {
                    return false;
                }
                words[w] |= mask;
                *ones += 1;
                u64::from(*ones) == CHUNK_BITS
            }
        };
        if now_full {
            *chunk = Chunk::Full;
            self.compact();
        }
        self.len += 1;
        true
    }

    /// Number of seqs in the set that are below `end`.
    pub fn count_below(&self, end: u64) -> u64 {
        count_pairs(self, self, Some(end), |a, _| a)
    }

    /// Number of seqs in `self` that are not in `other`.
    pub fn count_not_in(&self, other: &SeqBitmap) -> u64 {
        count_pairs(self, other, None, |a, b| a & !b)
    }

    /// Number of seqs below `end` that are in `self` but not in `other`.
    pub fn count_not_in_below(&self, other: &SeqBitmap, end: u64) -> u64 {
        count_pairs(self, other, Some(end), |a, b| a & !b)
    }

    /// Number of seqs in both sets.
    pub fn count_common(&self, other: &SeqBitmap) -> u64 {
        count_pairs(self, other, None, |a, b| a & b)
    }

    /// Adds every seq of `other`; returns how many of them were already in `self`.
    pub fn union_with(&mut self, other: &SeqBitmap) -> u64 {
        use std::collections::btree_map::Entry;
        let overlap = self.count_common(other);
        for key in self.full_prefix..other.full_prefix {
            self.chunks.insert(key, Chunk::Full);
        }
        for (key, theirs) in other.chunks.range(self.full_prefix..) {
            let Chunk::Bits { words: their_words, .. } = theirs else {
                self.chunks.insert(*key, Chunk::Full);
                continue;
            };
            match self.chunks.entry(*key) {
                Entry::Vacant(e) => {
                    e.insert(theirs.clone());
                }
                Entry::Occupied(mut e) => {
                    let now_full = match e.get_mut() {
                        Chunk::Full => false,
                        Chunk::Bits { words, ones } => {
                            for (a, b) in words.iter_mut().zip(their_words.iter()) {
                                *a |= b;
                            }
                            *ones = words.iter().map(|w| w.count_ones()).sum();
                            u64::from(*ones) == CHUNK_BITS
                        }
                    };
                    if now_full {
                        e.insert(Chunk::Full);
                    }
                }
            }
        }
        self.len = self.recount();
        self.compact();
        overlap
    }

    /// Bytes of chunk storage currently allocated (for memory tests and diagnostics).
    pub fn allocated_bytes(&self) -> usize {
        self.chunks.values().filter(|c| matches!(c, Chunk::Bits { .. })).count() * CHUNK_WORDS * 8
    }

    fn view(&self, key: u64) -> View<'_> {
        if key < self.full_prefix {
            return View::Full;
        }
        match self.chunks.get(&key) {
            None => View::Empty,
            Some(Chunk::Full) => View::Full,
            Some(Chunk::Bits { words, .. }) => View::Bits(words),
        }
    }

    /// Folds full chunks at the start of the map into `full_prefix`.
    fn compact(&mut self) {
        while let Some(entry) = self.chunks.first_entry() {
            if *entry.key() != self.full_prefix || *entry.get() != Chunk::Full {
                break;
            }
            entry.remove();
            self.full_prefix += 1;
        }
    }

    fn recount(&self) -> u64 {
        self.full_prefix * CHUNK_BITS
            + self
                .chunks
                .values()
                .map(|c| match c {
                    Chunk::Full => CHUNK_BITS,
                    Chunk::Bits { ones, .. } => u64::from(*ones),
                })
                .sum::<u64>()
    }
}

#[inline]
fn split(seq: u64) -> (u64, usize) {
    (seq / CHUNK_BITS, (seq % CHUNK_BITS) as usize)
}

/// Counts the set bits of `op(a, b)` over the seqs below `end` (all seqs for `None`), chunk
/// by chunk; uniform chunks (full or empty on both sides) are counted without touching words.
fn count_pairs(a: &SeqBitmap, b: &SeqBitmap, end: Option<u64>, op: impl Fn(u64, u64) -> u64) -> u64 {
    let mut keys: Vec<u64> = a.chunks.keys().chain(b.chunks.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let prefix = a.full_prefix.max(b.full_prefix);
    let end_key = end.map_or(u64::MAX, |e| e / CHUNK_BITS);
    let mut total = 0u64;
    // Chunks below the larger prefix that neither map stores are uniform on both sides.
    let mut stored = keys.iter().copied().filter(|k| *k < prefix).peekable();
    let mut key = 0;
    while key < prefix.min(end_key.saturating_add(1)) {
        if stored.peek() == Some(&key) {
            stored.next();
        } else {
            total += count_chunk(a.view(key), b.view(key), key, end, &op);
        }
        key += 1;
    }
    for key in keys {
        if key > end_key {
            break;
        }
        total += count_chunk(a.view(key), b.view(key), key, end, &op);
    }
    total
}

fn count_chunk(a: View<'_>, b: View<'_>, key: u64, end: Option<u64>, op: &impl Fn(u64, u64) -> u64) -> u64 {
    let base = key * CHUNK_BITS;
    let limit = match end {
        None => CHUNK_BITS as usize,
        Some(end) if end <= base => return 0,
        Some(end) => (end - base).min(CHUNK_BITS) as usize,
    };
    if let (Some(ua), Some(ub)) = (a.uniform(), b.uniform()) {
        return if op(ua, ub) == 0 { 0 } else { limit as u64 };
    }
    let mut total = 0u64;
    for i in 0..limit.div_ceil(64) {
        let mut w = op(a.word(i), b.word(i));
        let bits_here = limit - i * 64;
        if bits_here < 64 {
            w &= (1u64 << bits_here) - 1;
        }
        total += u64::from(w.count_ones());
    }
    total
}

/// What one producer instance sent and what came back: owned by that worker, no locks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProduceLedger {
    producer_id: u32,
    sent: u64,
    /// One past the highest seq sent (or acked/failed): seqs at or above were never sent.
    sent_end: u64,
    acked: SeqBitmap,
    failed: u64,
    errors: BTreeMap<String, u64>,
}

impl ProduceLedger {
    /// An empty ledger for producer instance `producer_id`.
    pub fn new(producer_id: u32) -> ProduceLedger {
        ProduceLedger { producer_id, ..ProduceLedger::default() }
    }

    /// The producer id every message of this ledger carries.
    pub fn producer_id(&self) -> u32 {
        self.producer_id
    }

    /// Message `seq` was handed to the client.
    #[inline]
    pub fn sent(&mut self, seq: u64) {
        self.sent += 1;
        self.sent_end = self.sent_end.max(seq.saturating_add(1));
    }

    /// Message `seq` was acknowledged by the cluster; a repeated ack counts once.
    #[inline]
    pub fn acked(&mut self, seq: u64) {
        self.sent_end = self.sent_end.max(seq.saturating_add(1));
        self.acked.insert(seq);
    }

    /// Message `seq` got a failed delivery report of kind `kind` (e.g. `MsgTimedOut`).
    ///
    /// # Caveats
    /// A failed message may still have been written (a timeout after the broker appended it);
    /// if it is consumed, [`verify`] counts it as `unacked_consumed`, not as an error.
    #[inline]
    pub fn failed(&mut self, seq: u64, kind: &str) {
        self.sent_end = self.sent_end.max(seq.saturating_add(1));
        self.failed += 1;
        match self.errors.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(kind.to_owned(), 1);
            }
        }
    }

    /// Messages handed to the client.
    pub fn sent_count(&self) -> u64 {
        self.sent
    }

    /// Distinct messages acknowledged.
    pub fn acked_count(&self) -> u64 {
        self.acked.len()
    }

    /// Failed delivery reports.
    pub fn failed_count(&self) -> u64 {
        self.failed
    }

    /// Failed delivery reports by error kind.
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// One past the highest seq this producer sent.
    pub fn sent_end(&self) -> u64 {
        self.sent_end
    }

    /// The seqs acknowledged.
    pub fn acked_bitmap(&self) -> &SeqBitmap {
        &self.acked
    }

    /// Adds another ledger of the same producer id (e.g. a restarted worker's).
    pub fn merge(&mut self, other: &ProduceLedger) {
        self.sent += other.sent;
        self.sent_end = self.sent_end.max(other.sent_end);
        self.acked.union_with(&other.acked);
        self.failed += other.failed;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
    }
}

/// How one consumed message was classified by [`ConsumeLedger::consumed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The first delivery of this (producer, seq); `reordered` when its seq is lower than the
    /// previous first delivery from the same producer on the same partition.
    First { reordered: bool },
    /// This (producer, seq) was consumed before, on any partition.
    Duplicate,
    /// The producer id is not one of this run's.
    Unexpected,
}

/// What consumers received: one per consumer instance, or several merged.
///
/// Only producer ids given to [`new`](Self::new) are tracked; anything else is `unexpected`
/// (a foreign writer, or an earlier run on a reused topic: give each run's producers fresh
/// ids to make that visible). A ledger made with [`adopting`](Self::adopting) is for a topic
/// that no producer of the run writes: it tracks every aftershock id it meets instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumeLedger {
    seen: BTreeMap<u32, SeqBitmap>,
    /// Track unknown producer ids instead of counting them as unexpected.
    adopt: bool,
    /// Last first-delivered seq per (partition, producer id). NB: a fast fixed hasher, not
    /// SipHash: this lookup is on every consumed message, and the keys are not attacker-chosen.
    last: HashMap<(i32, u32), u64, foldhash::fast::FixedState>,
    deliveries: u64,
    duplicates: u64,
    reordered: u64,
    unexpected: u64,
}

impl ConsumeLedger {
    /// An empty ledger that expects messages from the given producer ids.
    pub fn new(producer_ids: impl IntoIterator<Item = u32>) -> ConsumeLedger {
        ConsumeLedger {
            seen: producer_ids.into_iter().map(|id| (id, SeqBitmap::new())).collect(),
            ..ConsumeLedger::default()
        }
    }

    /// A ledger for a topic that this run only reads (another run, or another host, writes
    /// it): every aftershock producer id it meets is tracked, so duplicates and reordering are
    /// still counted; only payloads without an aftershock header are unexpected. Loss needs
    /// the producer's ledger and cannot be told here.
    pub fn adopting() -> ConsumeLedger {
        ConsumeLedger { adopt: true, ..ConsumeLedger::default() }
    }

    /// Records the delivery of message `(producer_id, seq)` from `partition`.
    ///
    /// Duplicates are detected across the whole topic; reordering per partition and producer
    /// (a first delivery whose seq is lower than the previous first delivery there; a
    /// duplicate is not also a reorder).
    #[inline]
    pub fn consumed(&mut self, partition: i32, producer_id: u32, seq: u64) -> Delivery {
        let seen = match self.seen.get_mut(&producer_id) {
            Some(seen) => seen,
            None if self.adopt => self.seen.entry(producer_id).or_default(),
            None => {
                self.unexpected += 1;
                return Delivery::Unexpected;
            }
        };
        self.deliveries += 1;
        if !seen.insert(seq) {
            self.duplicates += 1;
            return Delivery::Duplicate;
        }
        let last = self.last.entry((partition, producer_id)).or_insert(seq);
        let reordered = seq < *last;
        if reordered {
            self.reordered += 1;
        }
        *last = seq;
        Delivery::First { reordered }
    }

    /// Records a message that carries no aftershock id at all (counted as unexpected).
    pub fn foreign(&mut self) {
        self.unexpected += 1;
    }

    /// Deliveries of this run's messages, duplicates included.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Distinct (producer, seq) consumed.
    pub fn distinct(&self) -> u64 {
        self.seen.values().map(SeqBitmap::len).sum()
    }

    /// Extra deliveries of an already consumed (producer, seq).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// First deliveries that came after a higher seq of the same producer on the same partition.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Messages from unknown producer ids or without an id.
    pub fn unexpected(&self) -> u64 {
        self.unexpected
    }

    /// The seqs consumed from `producer_id`, if it is one of the expected producers.
    pub fn seen(&self, producer_id: u32) -> Option<&SeqBitmap> {
        self.seen.get(&producer_id)
    }

    /// Merges another consumer's ledger (of the same consumer group): a message both consumed
    /// is a duplicate, so `duplicates` becomes the overlap plus each ledger's own duplicates.
    /// Reorders and unexpected messages add up; per-partition order state is not merged.
    ///
    /// # Caveats
    /// Merge the consumers of one group only; separate groups each receive every message
    /// once, so verify them separately.
    pub fn merge(&mut self, other: &ConsumeLedger) {
        for (id, theirs) in &other.seen {
            let overlap = self.seen.entry(*id).or_default().union_with(theirs);
            self.duplicates += overlap;
        }
        self.adopt |= other.adopt;
        self.deliveries += other.deliveries;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.unexpected += other.unexpected;
    }
}

/// The verdict of comparing what was produced with what was consumed.
///
/// `consumed == (acked - lost) + unacked_consumed` always holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// Messages handed to the client.
    pub sent: u64,
    /// Distinct messages acknowledged by the cluster.
    pub acked: u64,
    /// Failed delivery reports.
    pub failed: u64,
    /// Sent messages that got neither an ack nor a failure (still in flight when the run ended).
    pub unresolved: u64,
    /// Distinct sent messages consumed at least once.
    pub consumed: u64,
    /// Acknowledged but never consumed: data loss, unless the consumers stopped early.
    pub lost: u64,
    /// Extra deliveries of an already consumed message.
    pub duplicates: u64,
    /// First deliveries that came after a higher seq of the same producer on the same partition.
    pub reordered: u64,
    /// Consumed messages that this run never sent: foreign producer ids, no id, or seqs
    /// beyond what the producer sent.
    pub unexpected: u64,
    /// Consumed but never acknowledged (a lost delivery report, or failed but written):
    /// normal under retries, not loss.
    pub unacked_consumed: u64,
}

/// Compares every producer's ledger with the (merged) consume ledger of one consumer group.
///
/// Ledgers that share a producer id are merged first.
pub fn verify(produce: &[ProduceLedger], consume: &ConsumeLedger) -> Verification {
    let mut by_id: BTreeMap<u32, Vec<&ProduceLedger>> = BTreeMap::new();
    for p in produce {
        by_id.entry(p.producer_id).or_default().push(p);
    }
    let empty = SeqBitmap::new();
    let mut v =
        Verification { duplicates: consume.duplicates, reordered: consume.reordered, ..Verification::default() };
    v.unexpected = consume.unexpected;
    for (id, ledgers) in &by_id {
        let merged;
        let p = if let [only] = ledgers.as_slice() {
            *only
        } else {
            let mut m = ProduceLedger::new(*id);
            ledgers.iter().for_each(|l| m.merge(l));
            merged = m;
            &merged
        };
        let c = consume.seen.get(id).unwrap_or(&empty);
        let acked = p.acked.len();
        v.sent += p.sent;
        v.acked += acked;
        v.failed += p.failed;
        v.unresolved += p.sent.saturating_sub(acked + p.failed);
        v.lost += p.acked.count_not_in(c);
        let consumed = c.count_below(p.sent_end);
        v.consumed += consumed;
        v.unacked_consumed += c.count_not_in_below(&p.acked, p.sent_end);
        v.unexpected += c.len() - consumed;
    }
    for (id, c) in &consume.seen {
        if by_id.contains_key(id) {
            continue;
        }
        // NB: adopted ids belong to another run's producers: read, but neither sent nor
        // acknowledged here, so they count as consumed and can be neither lost nor unacked.
        if consume.adopt {
            v.consumed += c.len();
        } else {
            v.unexpected += c.len();
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn bitmap_basics() {
        let mut b = SeqBitmap::new();
        assert!(b.is_empty());
        assert!(b.insert(5));
        assert!(!b.insert(5));
        assert!(b.insert(u64::MAX));
        assert!(b.contains(5) && b.contains(u64::MAX) && !b.contains(6));
        assert_eq!(b.len(), 2);
        assert_eq!(b.count_below(5), 0);
        assert_eq!(b.count_below(6), 1);
        assert_eq!(b.count_below(u64::MAX), 1);
        // A stray huge seq costs one chunk, not a bitmap up to it.
        assert_eq!(b.allocated_bytes(), 2 * CHUNK_WORDS * 8);
    }

    #[test]
    fn full_chunks_take_no_memory() {
        let mut b = SeqBitmap::new();
        let n = 10 * CHUNK_BITS + 123;
        // Out of order within a window, as acks from several partitions arrive.
        for base in (0..n).step_by(1000) {
            for s in (base..(base + 1000).min(n)).rev() {
                assert!(b.insert(s));
            }
        }
        assert_eq!(b.len(), n);
        assert_eq!(b.full_prefix, 10);
        assert_eq!(b.allocated_bytes(), CHUNK_WORDS * 8, "only the frontier chunk is stored");
        assert_eq!(b.count_below(n), n);
        assert_eq!(b.count_below(CHUNK_BITS + 1), CHUNK_BITS + 1);
        assert!(!b.insert(3));
    }

    #[test]
    fn set_operations_match_a_model() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..8 {
            let (mut a, mut b) = (SeqBitmap::new(), SeqBitmap::new());
            let (mut ma, mut mb) = (HashSet::new(), HashSet::new());
            let span = 2 * CHUNK_BITS + 999;
            // Dense prefixes make full chunks; random extras make partial ones.
            for s in 0..rng.random_range(0..span) {
                a.insert(s);
                ma.insert(s);
            }
            for s in 0..rng.random_range(0..span) {
                b.insert(s);
                mb.insert(s);
            }
            for _ in 0..2000 {
                let s = rng.random_range(0..2 * span);
                a.insert(s);
                ma.insert(s);
                let s = rng.random_range(0..2 * span);
                b.insert(s);
                mb.insert(s);
            }
            let end = rng.random_range(0..2 * span);
            assert_eq!(a.len(), ma.len() as u64);
            assert_eq!(a.count_not_in(&b), ma.difference(&mb).count() as u64);
            assert_eq!(a.count_common(&b), ma.intersection(&mb).count() as u64);
            assert_eq!(a.count_below(end), ma.iter().filter(|s| **s < end).count() as u64);
            assert_eq!(a.count_not_in_below(&b, end), ma.difference(&mb).filter(|s| **s < end).count() as u64);
            let overlap = a.union_with(&b);
            assert_eq!(overlap, ma.intersection(&mb).count() as u64);
            ma.extend(mb.iter().copied());
            assert_eq!(a.len(), ma.len() as u64);
            for s in (0..2 * span).step_by(7) {
                assert_eq!(a.contains(s), ma.contains(&s), "seq {s}");
            }
        }
    }

    #[test]
    fn ledger_counts_and_verdict() {
        let mut p = ProduceLedger::new(1);
        for s in 0..10 {
            p.sent(s);
        }
        for s in 0..8 {
            p.acked(s);
        }
        p.acked(3); // a repeated ack counts once
        p.failed(8, "MsgTimedOut");
        let mut c = ConsumeLedger::new([1]);
        for s in [0, 1, 2, 4, 3, 8] {
            c.consumed(0, 1, s);
        }
        assert_eq!(c.consumed(1, 1, 2), Delivery::Duplicate);
        assert_eq!(c.consumed(0, 9, 0), Delivery::Unexpected);
        c.foreign();
        assert_eq!(c.consumed(0, 1, 42), Delivery::First { reordered: false });
        let v = verify(&[p], &c);
        assert_eq!(
            v,
            Verification {
                sent: 10,
                acked: 8,
                failed: 1,
                unresolved: 1,
                consumed: 6,
                lost: 3, // 5, 6, 7
                duplicates: 1,
                reordered: 1,        // 3 after 4
                unexpected: 3,       // producer 9, the foreign one, seq 42 never sent
                unacked_consumed: 1, // 8: failed but written
            }
        );
        assert_eq!(v.consumed, v.acked - v.lost + v.unacked_consumed);
    }

    /// The naive model: a set of every message and a map of last seqs.
    #[derive(Default)]
    struct Model {
        seen: HashSet<(u32, u64)>,
        last: HashMap<(i32, u32), u64>,
        duplicates: u64,
        reordered: u64,
        unexpected: u64,
    }

    impl Model {
        fn consumed(&mut self, known: &HashSet<u32>, partition: i32, id: u32, seq: u64) {
            if !known.contains(&id) {
                self.unexpected += 1;
            } else if !self.seen.insert((id, seq)) {
                self.duplicates += 1;
            } else {
                if let Some(last) = self.last.get(&(partition, id))
                    && seq < *last
                {
                    self.reordered += 1;
                }
                self.last.insert((partition, id), seq);
            }
        }
    }

    /// Random runs with drops, lost acks, failures, duplicates, reorders and strays, checked
    /// against the naive model; consumption is split over two consumers and merged.
    #[test]
    fn random_runs_match_the_naive_model() {
        for seed in 0..10u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let producers: Vec<u32> = (0..rng.random_range(1..4)).map(|i| 100 + i).collect();
            let known: HashSet<u32> = producers.iter().copied().collect();
            let partitions = rng.random_range(1..5);
            let mut ledgers: Vec<ProduceLedger> = producers.iter().map(|id| ProduceLedger::new(*id)).collect();
            let (mut m_acked, mut m_sent_end) = (HashSet::new(), HashMap::new());
            let (mut m_sent, mut m_failed) = (0u64, 0u64);
            // Per-partition delivery queues of (id, seq).
            let mut queues: Vec<Vec<(u32, u64)>> = vec![Vec::new(); partitions];
            for (ledger, id) in ledgers.iter_mut().zip(&producers) {
                // Long enough to cross chunk boundaries sometimes.
                let n = if rng.random_bool(0.3) {
                    rng.random_range(0..2 * CHUNK_BITS + 500)
                } else {
                    rng.random_range(0..3000)
                };
                m_sent_end.insert(*id, n);
                for seq in 0..n {
                    ledger.sent(seq);
                    m_sent += 1;
                    let written = match rng.random_range(0..100) {
                        0..=1 => {
                            ledger.failed(seq, if seq % 2 == 0 { "MsgTimedOut" } else { "QueueFull" });
                            m_failed += 1;
                            rng.random_bool(0.3) // failed, but sometimes written anyway
                        }
                        2 => false, // unresolved: no report at all
                        3 => true,  // written, but the ack was lost
                        _ => {
                            ledger.acked(seq);
                            m_acked.insert((*id, seq));
                            true
                        }
                    };
                    if written && !rng.random_bool(0.02) {
                        let p = rng.random_range(0..partitions);
                        queues[p].push((*id, seq));
                        if rng.random_bool(0.03) {
                            queues[rng.random_range(0..partitions)].push((*id, seq));
                        }
                    }
                }
            }
            // Reorder: swap some neighbours, and strays from foreign ids and unsent seqs.
            for q in &mut queues {
                for i in 1..q.len() {
                    if rng.random_bool(0.01) {
                        q.swap(i - 1, i);
                    }
                }
                if rng.random_bool(0.2) && q.len() > 10 {
                    q[3..9].shuffle(&mut rng);
                }
                q.push((7, 1));
                q.push((producers[0], 1 << 40));
            }
            let mut model = Model::default();
            let (mut c1, mut c2) = (ConsumeLedger::new(producers.clone()), ConsumeLedger::new(producers.clone()));
            let mut m_reordered_split = 0;
            let (mut split1, mut split2) = (Model::default(), Model::default());
            for (p, q) in queues.iter().enumerate() {
                for &(id, seq) in q {
                    model.consumed(&known, p as i32, id, seq);
                    // Consumers split the partitions; a rebalance hands some messages to both.
                    let to_first = p % 2 == 0;
                    if to_first || rng.random_bool(0.01) {
                        c1.consumed(p as i32, id, seq);
                        split1.consumed(&known, p as i32, id, seq);
                    }
                    if !to_first || rng.random_bool(0.01) {
                        c2.consumed(p as i32, id, seq);
                        split2.consumed(&known, p as i32, id, seq);
                    }
                }
            }
            m_reordered_split += split1.reordered + split2.reordered;
            let mut merged = c1.clone();
            merged.merge(&c2);
            let v = verify(&ledgers, &merged);

            let both: HashSet<(u32, u64)> = split1.seen.union(&split2.seen).copied().collect();
            let overlap = split1.seen.intersection(&split2.seen).count() as u64;
            let sent_below = |(id, seq): &(u32, u64)| seq < &m_sent_end[id];
            let consumed: HashSet<(u32, u64)> = both.iter().copied().filter(sent_below).collect();
            let expect = Verification {
                sent: m_sent,
                acked: m_acked.len() as u64,
                failed: m_failed,
                unresolved: m_sent - m_acked.len() as u64 - m_failed,
                consumed: consumed.len() as u64,
                lost: m_acked.difference(&both).count() as u64,
                duplicates: split1.duplicates + split2.duplicates + overlap,
                reordered: m_reordered_split,
                unexpected: split1.unexpected + split2.unexpected + (both.len() - consumed.len()) as u64,
                unacked_consumed: consumed.difference(&m_acked).count() as u64,
            };
            assert_eq!(v, expect, "seed {seed}");
            assert_eq!(v.consumed, v.acked - v.lost + v.unacked_consumed, "seed {seed}");

            // One consumer seeing everything matches the single model exactly.
            let mut single = ConsumeLedger::new(producers.clone());
            for (p, q) in queues.iter().enumerate() {
                for &(id, seq) in q {
                    single.consumed(p as i32, id, seq);
                }
            }
            assert_eq!(single.duplicates(), model.duplicates, "seed {seed}");
            assert_eq!(single.reordered(), model.reordered, "seed {seed}");
            assert_eq!(single.unexpected(), model.unexpected, "seed {seed}");
            assert_eq!(single.distinct(), model.seen.len() as u64, "seed {seed}");
            // The merged ledger holds every distinct message either consumer saw.
            assert_eq!(merged.distinct(), both.len() as u64);
        }
    }

    #[test]
    fn produce_ledgers_with_one_id_merge() {
        let (mut a, mut b) = (ProduceLedger::new(3), ProduceLedger::new(3));
        for s in 0..5 {
            a.sent(s);
            a.acked(s);
        }
        for s in 5..8 {
            b.sent(s);
            b.failed(s, "x");
        }
        let mut c = ConsumeLedger::new([3]);
        for s in 0..8 {
            c.consumed(0, 3, s);
        }
        let v = verify(&[a, b], &c);
        assert_eq!((v.sent, v.acked, v.failed, v.consumed, v.unacked_consumed, v.unexpected), (8, 5, 3, 8, 3, 0));
    }

    #[test]
    fn an_adopting_ledger_verifies_ids_it_was_not_given() {
        // Two consumers of a group on a topic written by another run (ids 7 and 9).
        let (mut a, mut b) = (ConsumeLedger::adopting(), ConsumeLedger::adopting());
        for s in 0..10 {
            a.consumed(0, 7, s);
        }
        assert_eq!(a.consumed(0, 7, 3), Delivery::Duplicate);
        assert_eq!(a.consumed(1, 9, 5), Delivery::First { reordered: false });
        assert_eq!(a.consumed(1, 9, 4), Delivery::First { reordered: true });
        a.foreign();
        b.consumed(2, 9, 6);
        b.consumed(2, 7, 9); // also read by a: a duplicate once merged
        a.merge(&b);
        let v = verify(&[], &a);
        assert_eq!((v.consumed, v.duplicates, v.reordered, v.unexpected, v.lost), (13, 2, 1, 1, 0));
        // The same reads by a ledger that expects only id 7 see id 9 as unexpected.
        let mut strict = ConsumeLedger::new([7]);
        assert_eq!(strict.consumed(1, 9, 5), Delivery::Unexpected);
        assert_eq!(verify(&[], &strict).unexpected, 1);
    }

    #[test]
    fn verification_serializes() {
        let v = Verification { sent: 3, lost: 1, ..Verification::default() };
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Verification>(&text).unwrap(), v);
        assert!(serde_json::from_str::<Verification>(&text.replace("\"sent\"", "\"snet\"")).is_err());
    }
}
