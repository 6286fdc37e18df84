//! The retry budget of a client: how many retries (and hedges) all its requests may make
//! together.
//!
//! As Finagle's retry budget and the gRPC retry throttle, it lets retries be at most a
//! share of the requests of the last ten seconds plus a small floor per second, so that a
//! failing server cannot turn a scope of 10,000 requests into 50,000. The retry loop
//! (`retry.rs`) and the hedges (`hedge.rs`) both withdraw from it; every request deposits.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A budget's share of the requests and its floor of retries per second.
pub(crate) type BudgetShare = (f64, u32);

/// The share a request without a retry policy spends from (hedges): the default policy's.
pub(crate) const DEFAULT_SHARE: BudgetShare = (0.1, 10);

/// Seconds a budget remembers.
const WINDOW: usize = 10;

/// A client's retry budget: requests and retries per second over the last ten seconds.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    window: Mutex<Window>,
    /// Feeds the jitter of the delays.
    draws: AtomicU64,
    seed: RandomState,
}

#[derive(Debug, Default)]
struct Window {
    /// The instant second 0 starts at (the first use).
    start: Option<Instant>,
    /// The second the newest bucket counts.
    second: u64,
    requests: [u64; WINDOW],
    retries: [u64; WINDOW],
}

impl Window {
    /// Moves the window on to `now`, emptying the buckets of the seconds passed.
    fn advance(&mut self, now: Instant) -> usize {
        let start = *self.start.get_or_insert(now);
        let second = now.saturating_duration_since(start).as_secs();
        if second > self.second {
            let passed = second - self.second;
            for step in 1..=passed.min(WINDOW as u64) {
                let index = ((self.second + step) % WINDOW as u64) as usize;
                self.requests[index] = 0;
                self.retries[index] = 0;
            }
            self.second = second;
        }
        (self.second % WINDOW as u64) as usize
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            window: Mutex::new(Window::default()),
            draws: AtomicU64::new(0),
            seed: RandomState::new(),
        }
    }
}

impl RetryBudget {
    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a request (its first attempt) made at `now`.
    pub(crate) fn deposit(&self, now: Instant) {
        let mut window = self.lock();
        let index = window.advance(now);
        window.requests[index] += 1;
    }

    /// Takes one retry (or hedge) from the budget if `share` of it allows it (a policy's
    /// `RetryPolicy::budget_share`).
    pub(crate) fn try_withdraw(&self, now: Instant, share: BudgetShare) -> bool {
        let mut window = self.lock();
        let index = window.advance(now);
        let requests: u64 = window.requests.iter().sum();
        let retries: u64 = window.retries.iter().sum();
        // The share of the requests, rounded down, plus the floor over the window.
        let (ratio, per_second) = share;
        let share = (requests as f64 * ratio) as u64;
        let allowed = share + u64::from(per_second) * WINDOW as u64;
        if retries < allowed {
            window.retries[index] += 1;
            true
        } else {
            false
        }
    }

    /// A random number for a delay's jitter.
    pub(crate) fn random(&self) -> u64 {
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.draws.fetch_add(1, Ordering::Relaxed));
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::message::retry_policy::RetryPolicy;

    #[test]
    fn the_budget_is_a_share_of_the_requests_plus_a_floor() {
        let policy = RetryPolicy::new().budget(0.1, 1);
        let budget = RetryBudget::default();
        let start = Instant::now();
        for _ in 0..100 {
            budget.deposit(start);
        }
        // 10% of 100, plus 1 a second over the 10-second window.
        let granted = (0..100)
            .filter(|_| budget.try_withdraw(start, policy.budget_share()))
            .count();
        assert_eq!(granted, 20);
        // Eleven seconds on, the window has forgotten them.
        let later = start + Duration::from_secs(11);
        let granted = (0..100)
            .filter(|_| budget.try_withdraw(later, policy.budget_share()))
            .count();
        assert_eq!(granted, 10);
    }
}
