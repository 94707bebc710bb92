//! Random picks drawn from a command's seed (SPOP, SRANDMEMBER,
//! HRANDFIELD, RANDOMKEY): the seed travels in the command, so every
//! replica picks the same.

/// A tiny deterministic generator (SplitMix64) for choices drawn from a
/// command's seed. Not for anything secret.
pub(super) struct SplitMix(pub u64);

impl SplitMix {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0), without modulo bias worth
    /// mentioning for set sizes (128-bit multiply).
    pub(super) fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).unwrap_or(u64::MAX);
        let product = u128::from(self.next()) * u128::from(bound);
        usize::try_from(product >> 64).expect("below bound")
    }

    /// `min(wanted, len)` distinct indices in `0..len`, in the order drawn
    /// (a partial Fisher-Yates shuffle).
    pub(super) fn distinct(&mut self, len: usize, wanted: usize) -> Vec<usize> {
        let take = wanted.min(len);
        let mut indices: Vec<usize> = (0..len).collect();
        for i in 0..take {
            let j = i + self.below(len - i);
            indices.swap(i, j);
        }
        indices.truncate(take);
        indices
    }

    /// `wanted` indices in `0..len` (`len` > 0), repeats allowed, or None
    /// as soon as the reply they make would pass
    /// [`crate::redis::output::REPLY_BYTES_MAX`]; `bytes_of(i)` is what index `i`
    /// adds to it.
    pub(super) fn with_repeats(
        &mut self,
        len: usize,
        wanted: usize,
        bytes_of: impl Fn(usize) -> usize,
    ) -> Option<Vec<usize>> {
        use crate::redis::output::{REPLY_BYTES_MAX, REPLY_ELEMENT_OVERHEAD_BYTES};
        assert!(len > 0);
        let mut chosen = Vec::new();
        let mut reply_bytes = 0usize;
        for _ in 0..wanted {
            let index = self.below(len);
            reply_bytes = reply_bytes
                .saturating_add(bytes_of(index))
                .saturating_add(REPLY_ELEMENT_OVERHEAD_BYTES);
            if reply_bytes > REPLY_BYTES_MAX {
                return None;
            }
            chosen.push(index);
        }
        Some(chosen)
    }
}
