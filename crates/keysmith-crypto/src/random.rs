//! Random bytes for new secrets, drawn from a backend's CSPRNG a block at a time.
//!
//! One call into OpenSSL's or AWS-LC's DRBG costs about 0.5 µs whatever its size up to a few
//! hundred bytes (the per-call work is the DRBG's lookup, locking and state update, not the
//! bytes), which was most of the time to make an HMAC secret. A [`RandomBlock`] asks its backend
//! for 4 KiB at once and hands the bytes out in order. Invariants:
//! - every byte handed out is zeroized in the block as it leaves, so no byte is handed out twice
//!   and a used secret does not stay behind in the block;
//! - a block is per thread (the backends keep it in a `thread_local!`), never shared between
//!   backends, and zeroized when its thread ends;
//! - a block notices a fork: if the process id changed since it was filled, its bytes (which the
//!   parent process may also hand out) are discarded before anything is handed out.

use zeroize::Zeroize;

use crate::Error;

/// Bytes asked of the backend at once.
pub const BLOCK_LEN: usize = 4096;

/// A block of a backend's random bytes; see the module documentation.
pub struct RandomBlock {
    bytes: [u8; BLOCK_LEN],
    /// Bytes at and after this index have not been handed out.
    next: usize,
    /// The process that filled the block.
    filled_by: u32,
}

impl RandomBlock {
    /// An empty block: the first request fills it.
    pub const fn new() -> Self {
        Self {
            bytes: [0; BLOCK_LEN],
            next: BLOCK_LEN,
            filled_by: 0,
        }
    }

    /// Fills `out` with random bytes from this block, refilling it with `refill` (the backend's
    /// CSPRNG) when it has fewer than `out.len()` left. Requests over a quarter of a block go to
    /// `refill` directly.
    pub fn fill(
        &mut self,
        out: &mut [u8],
        refill: impl FnOnce(&mut [u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if out.len() > BLOCK_LEN / 4 {
            return refill(out);
        }
        let process = std::process::id();
        if process != self.filled_by {
            self.discard();
        }
        if BLOCK_LEN - self.next < out.len() {
            self.discard();
            refill(&mut self.bytes)?;
            self.next = 0;
            self.filled_by = process;
        }
        let end = self.next + out.len();
        let taken = self
            .bytes
            .get_mut(self.next..end)
            .ok_or_else(|| Error::rejected("random block bounds"))?;
        out.copy_from_slice(taken);
        taken.zeroize();
        self.next = end;
        Ok(())
    }

    /// Hands out nothing more from the current bytes.
    fn discard(&mut self) {
        self.bytes.zeroize();
        self.next = BLOCK_LEN;
    }
}

impl Default for RandomBlock {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RandomBlock {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl std::fmt::Debug for RandomBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomBlock")
            .field("bytes_left", &(BLOCK_LEN - self.next))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refill that writes a running counter, so every byte handed out can be traced back to
    /// its position and the counter shows how much was drawn.
    fn counting(next: &mut u64) -> impl FnOnce(&mut [u8]) -> Result<(), Error> + '_ {
        move |out: &mut [u8]| {
            for chunk in out.chunks_mut(8) {
                let bytes = next.to_be_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
                *next += 1;
            }
            Ok(())
        }
    }

    #[test]
    fn bytes_are_handed_out_once_in_order_and_refilled_when_short() {
        let mut block = RandomBlock::new();
        let mut counter = 0u64;
        let mut seen = Vec::new();
        for _ in 0..(BLOCK_LEN / 32) * 3 {
            let mut out = [0u8; 32];
            block.fill(&mut out, counting(&mut counter)).expect("fill");
            seen.push(out);
        }
        assert_eq!(counter, (3 * BLOCK_LEN / 8) as u64, "three blocks drawn");
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no 32 bytes handed out twice");
        assert!(block.bytes[..block.next].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_request_that_does_not_fit_draws_a_new_block() {
        let mut block = RandomBlock::new();
        let mut counter = 0u64;
        let mut out = vec![0u8; BLOCK_LEN / 4];
        for _ in 0..4 {
            block.fill(&mut out, counting(&mut counter)).expect("fill");
        }
        let mut small = [0u8; 64];
        block
            .fill(&mut small, counting(&mut counter))
            .expect("fill");
        assert_eq!(counter, 2 * (BLOCK_LEN / 8) as u64);
        assert_eq!(block.next, 64);
    }

    #[test]
    fn large_requests_and_refill_errors_go_straight_to_the_backend() {
        let mut block = RandomBlock::new();
        let mut big = vec![0u8; BLOCK_LEN];
        let mut asked = 0;
        block
            .fill(&mut big, |out| {
                asked = out.len();
                Ok(())
            })
            .expect("fill");
        assert_eq!(asked, BLOCK_LEN);
        assert_eq!(block.next, BLOCK_LEN, "the block itself was not filled");
        let failed = block.fill(&mut [0u8; 32], |_| Err(Error::rejected("no entropy")));
        assert!(failed.is_err());
        assert_eq!(
            block.next, BLOCK_LEN,
            "nothing handed out after a failed refill"
        );
    }

    #[test]
    fn a_block_filled_by_another_process_is_discarded() {
        let mut block = RandomBlock::new();
        let mut counter = 0u64;
        block
            .fill(&mut [0u8; 32], counting(&mut counter))
            .expect("fill");
        block.filled_by = block.filled_by.wrapping_add(1);
        block
            .fill(&mut [0u8; 32], counting(&mut counter))
            .expect("fill");
        assert_eq!(
            counter,
            2 * (BLOCK_LEN / 8) as u64,
            "refilled after the fork"
        );
    }
}
