//! Numbered, deterministic payloads: a fixed header (producer id, sequence number, intended
//! and actual send time) followed by filler that is a pure function of the sequence number,
//! so the consumer side can number, time and check every message without shared state.

/// Marks an aftershock message; anything else on the topic is counted as unexpected.
pub const MAGIC: [u8; 4] = *b"AFS1";
/// Bytes taken by the header; the smallest payload aftershock sends.
pub const HEADER_LEN: usize = 32;
/// Length of the filler block payloads are cut from.
const BLOCK_LEN: usize = 64 * 1024;

/// What every message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub producer_id: u32,
    pub seq: u64,
    /// Intended send time, nanoseconds since the run's clock origin.
    pub intended_ns: u64,
    /// Actual send time, nanoseconds since the same origin.
    pub sent_ns: u64,
}

/// Builds payloads; holds the filler block so that building one is a header write and a copy.
#[derive(Debug, Clone)]
pub struct PayloadBuilder {
    block: Vec<u8>,
}

impl PayloadBuilder {
    /// A builder whose filler is derived from `seed`, so runs with one seed send the same bytes.
    pub fn new(seed: u64) -> PayloadBuilder {
        let mut block = Vec::with_capacity(BLOCK_LEN + 8);
        let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
        while block.len() < BLOCK_LEN {
            x = splitmix64(x);
            block.extend_from_slice(&x.to_le_bytes());
        }
        block.truncate(BLOCK_LEN);
        PayloadBuilder { block }
    }

    /// Writes a payload of `size` bytes (at least [`HEADER_LEN`]) into `buf`, replacing its content.
    pub fn build(&self, buf: &mut Vec<u8>, header: &Header, size: usize) {
        let size = size.max(HEADER_LEN);
        buf.clear();
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&header.producer_id.to_le_bytes());
        buf.extend_from_slice(&header.seq.to_le_bytes());
        buf.extend_from_slice(&header.intended_ns.to_le_bytes());
        buf.extend_from_slice(&header.sent_ns.to_le_bytes());
        let mut left = size - HEADER_LEN;
        let mut at = self.offset(header.seq);
        while left > 0 {
            let n = left.min(BLOCK_LEN - at);
            buf.extend_from_slice(&self.block[at..at + n]);
            left -= n;
            at = 0;
        }
    }

    /// True when the filler after the header is what [`build`](Self::build) wrote for this
    /// header's sequence number: a corrupted message fails this.
    pub fn filler_intact(&self, payload: &[u8], header: &Header) -> bool {
        let mut rest = &payload[HEADER_LEN.min(payload.len())..];
        let mut at = self.offset(header.seq);
        while !rest.is_empty() {
            let n = rest.len().min(BLOCK_LEN - at);
            if rest[..n] != self.block[at..at + n] {
                return false;
            }
            rest = &rest[n..];
            at = 0;
        }
        true
    }

    fn offset(&self, seq: u64) -> usize {
        (splitmix64(seq) % BLOCK_LEN as u64) as usize
    }
}

/// Reads the header of an aftershock payload; `None` for anything else.
pub fn decode(payload: &[u8]) -> Option<Header> {
    if payload.len() < HEADER_LEN || payload[..4] != MAGIC {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(payload[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(payload[i..i + 8].try_into().expect("8 bytes"));
    Some(Header { producer_id: u32_at(4), seq: u64_at(8), intended_ns: u64_at(16), sent_ns: u64_at(24) })
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_at_every_size() {
        let b = PayloadBuilder::new(7);
        let mut buf = Vec::new();
        for (seq, size) in [(0u64, 0usize), (1, 32), (2, 33), (3, 1024), (u64::MAX, 200_000)] {
            let h = Header { producer_id: 9, seq, intended_ns: 123, sent_ns: 456 };
            b.build(&mut buf, &h, size);
            assert_eq!(buf.len(), size.max(HEADER_LEN));
            assert_eq!(decode(&buf), Some(h));
            assert!(b.filler_intact(&buf, &h));
        }
    }

    #[test]
    fn payloads_are_deterministic_and_corruption_is_seen() {
        let (a, b) = (PayloadBuilder::new(1), PayloadBuilder::new(1));
        let h = Header { producer_id: 1, seq: 42, intended_ns: 0, sent_ns: 0 };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.build(&mut x, &h, 500);
        b.build(&mut y, &h, 500);
        assert_eq!(x, y);
        x[400] ^= 1;
        assert!(!a.filler_intact(&x, &h));
        // another seed fills differently
        let mut z = Vec::new();
        PayloadBuilder::new(2).build(&mut z, &h, 500);
        assert_ne!(z[HEADER_LEN..], y[HEADER_LEN..]);
    }

    #[test]
    fn foreign_payloads_are_rejected() {
        assert_eq!(decode(b"hello"), None);
        assert_eq!(decode(&[0u8; 64]), None);
    }

    #[test]
    fn the_smallest_message_a_scenario_allows_holds_the_header() {
        assert_eq!(crate::scenario::defaults::MIN_MESSAGE_SIZE, HEADER_LEN);
    }
}
