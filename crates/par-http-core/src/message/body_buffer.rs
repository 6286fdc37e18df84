//! The memory budget of a scope's background body reading.
//!
//! A scope reads each response body in the background while the caller works, so that a
//! response is delivered with its body in memory and the downloads run in parallel, as
//! the responses of the seed's library do. Each body may take up to a per-response
//! limit, and all bodies of a scope not yet collected share one [`Budget`]. A [`Claim`]
//! is one response's share: it grows as bytes come in, and gives them back to the budget
//! when the response is collected (the memory is the user's from then on) or dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Default limit on the bytes of one body read in the background (1 MiB).
pub const DEFAULT_MAX_BODY_IN_MEMORY: usize = 1024 * 1024;

/// Default budget of a scope for bodies read in the background and not yet collected
/// (64 MiB).
pub const DEFAULT_BODY_BUDGET: usize = 64 * 1024 * 1024;

/// Bytes a scope may still hold in bodies read in the background.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    left: Arc<AtomicUsize>,
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Self {
        Self {
            left: Arc::new(AtomicUsize::new(bytes)),
        }
    }

    /// An empty claim on this budget.
    pub(crate) fn claim(&self) -> Claim {
        Claim {
            budget: Some(self.clone()),
            held: 0,
        }
    }

    /// Takes up to `bytes`; how many it got (0 when the budget is spent).
    fn take(&self, bytes: usize) -> usize {
        match self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                (left > 0).then(|| left - left.min(bytes))
            }) {
            Ok(left) => left.min(bytes),
            Err(_) => 0,
        }
    }

    fn give(&self, bytes: usize) {
        self.left.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Bytes left, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn left(&self) -> usize {
        self.left.load(Ordering::Acquire)
    }
}

/// One response's share of a [`Budget`]; given back when dropped.
#[derive(Debug, Default)]
pub(crate) struct Claim {
    /// `None`: a claim that is not counted (reading that must go on whatever the
    /// budget, see `Claim::unbounded`).
    budget: Option<Budget>,
    held: usize,
}

impl Claim {
    /// A claim that always grows: for a body that must be read to its end to give its
    /// connection back, budget or not.
    pub(crate) fn unbounded() -> Self {
        Self::default()
    }

    /// Takes up to `bytes` more from the budget: how many it got (0 once the budget is
    /// spent).
    pub(crate) fn grow(&mut self, bytes: usize) -> usize {
        match &self.budget {
            None => bytes,
            Some(budget) => {
                let got = budget.take(bytes);
                self.held += got;
                got
            }
        }
    }

    /// Gives `bytes` back (taken by [`grow`](Self::grow) but not used).
    pub(crate) fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.held);
        if let Some(budget) = &self.budget {
            budget.give(bytes);
        }
        self.held -= bytes;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.shrink(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::response::ResponseBody;

    #[test]
    fn a_claim_takes_from_the_budget_and_gives_back_on_drop() {
        let budget = Budget::new(100);
        let mut claim = budget.claim();
        assert_eq!(claim.grow(60), 60);
        assert_eq!(claim.grow(50), 40);
        assert_eq!(claim.grow(1), 0);
        assert_eq!(budget.left(), 0);
        claim.shrink(10);
        assert_eq!(budget.left(), 10);
        drop(claim);
        assert_eq!(budget.left(), 100);
    }

    fn body(len: usize) -> ResponseBody {
        let bytes: Vec<u8> = (0..len).map(|n| (n % 251) as u8).collect();
        ResponseBody::from_reader(futures_lite::io::Cursor::new(bytes))
    }

    fn fill(body: &mut ResponseBody, limit: usize, claim: &mut Claim) -> bool {
        futures_lite::future::block_on(body.fill(limit, claim)).unwrap()
    }

    #[test]
    fn a_body_of_exactly_the_limit_is_complete() {
        let budget = Budget::new(1 << 20);
        let mut claim = budget.claim();
        let mut body = body(40_000);
        assert!(fill(&mut body, 40_000, &mut claim));
        assert!(body.is_complete());
        let all = futures_lite::future::block_on(body.collect(None)).unwrap();
        assert_eq!(all.len(), 40_000);
        assert_eq!(all[39_999], (39_999 % 251) as u8);
    }

    #[test]
    fn a_body_past_the_limit_is_left_streaming_with_nothing_lost() {
        let budget = Budget::new(1 << 20);
        let mut claim = budget.claim();
        let mut body = body(40_001);
        assert!(!fill(&mut body, 40_000, &mut claim));
        assert!(!body.is_complete());
        let all = futures_lite::future::block_on(body.collect(None)).unwrap();
        let expected: Vec<u8> = (0..40_001).map(|n| (n % 251) as u8).collect();
        assert_eq!(all[..], expected[..]);
    }

    #[test]
    fn an_exhausted_budget_stops_the_reading_and_is_given_back() {
        let budget = Budget::new(20_000);
        let mut claim = budget.claim();
        let mut body = body(100_000);
        assert!(!fill(&mut body, 1 << 20, &mut claim));
        assert_eq!(budget.left(), 0);
        drop(claim);
        assert_eq!(budget.left(), 20_000);
        let all = futures_lite::future::block_on(body.collect(None)).unwrap();
        assert_eq!(all.len(), 100_000);
    }

    #[test]
    fn an_unbounded_claim_always_grows() {
        let mut claim = Claim::unbounded();
        assert_eq!(claim.grow(usize::MAX), usize::MAX);
    }
}
