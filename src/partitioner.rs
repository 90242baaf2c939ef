//! Choosing a partition for an event, the way Kafka's Java client does.
//!
//! A topic is split into partitions; each partition is an ordered log, and within a consumer group each
//! partition is read by exactly one member. Which partition an event lands in therefore decides which
//! consumer sees it:
//! - **Keyed events** go to `murmur2(key) & 0x7fffffff % partitions`, Java's default partitioner, so every
//!   event with the same key lands in the same partition (and so is read in order, by one consumer), and a
//!   kafka-lab producer agrees with a Java or librdkafka (`murmur2_random`) producer on the same topic.
//! - **Unkeyed events** are dealt out round-robin, so two consumers of one group visibly take turns.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as a signed 32-bit value.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's default partitioner picks for a key.
pub fn partition_for_key(key: &[u8], partitions: usize) -> usize {
    let positive = (murmur2(key) & 0x7fff_ffff) as usize;
    positive % partitions
}

/// Deals unkeyed events out to partitions in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The partition for the next unkeyed event.
    pub fn next_partition(&self, partitions: usize) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % partitions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_java() {
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()), expected, "murmur2({key:?})");
        }
    }

    #[test]
    fn key_partition_is_positive_modulo() {
        // murmur2("21") = -973932308; & 0x7fffffff = 1173551340; % 2 = 0, % 3 = 0, % 7 = 5.
        assert_eq!(partition_for_key(b"21", 2), 0);
        assert_eq!(partition_for_key(b"21", 3), 0);
        assert_eq!(partition_for_key(b"21", 7), 1_173_551_340 % 7);
        // murmur2("abc") = 479470107 is already positive.
        assert_eq!(partition_for_key(b"abc", 2), 1);
    }

    #[test]
    fn round_robin_alternates() {
        let rr = RoundRobin::default();
        let picks: Vec<usize> = (0..6).map(|_| rr.next_partition(2)).collect();
        assert_eq!(picks, [0, 1, 0, 1, 0, 1]);
    }
}
