//! Retries: the loop that tries a request again under its [`RetryPolicy`], and the
//! budget of a client that bounds how many retries all its requests may make together.
//!
//! A retry is a whole new attempt of a request (its redirects included), made by
//! [`Client::execute`](crate::Client::execute) inside the request's total time limit and,
//! in a scope, inside the scope's deadline and its `max_in_flight` slot. Only requests that
//! can be sent again are retried: a method the policy allows and a body held in memory.
//! The budget, as Finagle's and the gRPC retry throttle's, lets retries be at most a share
//! of the requests of the last ten seconds plus a small floor per second: a failing server
//! cannot turn a scope into a storm. Hedges (`hedge.rs`) spend from the same budget, and
//! each attempt of the loop may be hedged.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::client::Client;
use crate::client::hedge;
use crate::error::Result;
use crate::message::hedge_policy::HedgePolicy;
use crate::message::request::Request;
use crate::message::response::Response;
use crate::message::retry_policy::RetryPolicy;

/// A budget's share of the requests and its floor of retries per second.
pub(crate) type BudgetShare = (f64, u32);

/// The share a request without a retry policy spends from (hedges): the default policy's.
pub(crate) const DEFAULT_SHARE: BudgetShare = (0.1, 10);

/// Sends `request` through `client`, trying it again under `policy` while an attempt
/// fails in a way the policy retries, the request can be sent again, and the client's
/// budget has a retry to spare. Each attempt is hedged under `hedge`, if given. The
/// outcome says how many attempts were made, and how many hedges.
pub(crate) async fn with_retries(
    client: Client,
    mut request: Request,
    policy: Arc<RetryPolicy>,
    hedge: Option<Arc<HedgePolicy>>,
) -> Result<Response> {
    let runtime = client.runtime().clone();
    let budget = client.retry_budget();
    budget.deposit(runtime.now());
    let method_allowed = policy.allows_method(&request.method);
    let first_start = runtime.now();
    let mut attempt = 1;
    let mut hedges = 0;
    loop {
        // A copy for the next attempt, if there may be one (a streamed body has none).
        let again = if method_allowed && attempt < policy.attempts() {
            request.try_clone()
        } else {
            None
        };
        let outcome = match &hedge {
            Some(hedge) => {
                let (outcome, copies) =
                    hedge::attempt(&client, request, hedge, policy.budget_share()).await;
                hedges += copies;
                outcome
            }
            None => client.attempt(request).await,
        };
        let Some(next) = again else {
            return finish(outcome, attempt, hedges);
        };
        let wait = match &outcome {
            Ok(response) if policy.retries_status(response.status()) => {
                match policy.retry_after(response, SystemTime::now()) {
                    Ok(Some(wait)) => wait,
                    Ok(None) => policy.backoff_delay(attempt, budget.random()),
                    // The server asks for a longer wait than the policy allows.
                    Err(()) => return finish(outcome, attempt, hedges),
                }
            }
            Err(error) if policy.retries_error(error) => {
                policy.backoff_delay(attempt, budget.random())
            }
            _ => return finish(outcome, attempt, hedges),
        };
        // A retry must start within the policy's time limit, its delay included.
        if let Some(limit) = policy.retry_time_limit() {
            let starts_at = (runtime.now() + wait).saturating_duration_since(first_start);
            if starts_at > limit {
                return finish(outcome, attempt, hedges);
            }
        }
        if !budget.try_withdraw(runtime.now(), policy.budget_share()) {
            return finish(outcome, attempt, hedges);
        }
        // The failed attempt's response (and its connection, unless its body is in)
        // goes before the wait.
        drop(outcome);
        if !wait.is_zero() {
            runtime.sleep(wait).await;
        }
        request = next;
        attempt += 1;
    }
}

/// The outcome of the last attempt, saying how many were made, and how many hedges.
fn finish(outcome: Result<Response>, attempts: u32, hedges: u32) -> Result<Response> {
    match outcome {
        Ok(mut response) => {
            response.set_attempts(attempts);
            response.set_hedges(hedges);
            Ok(response)
        }
        Err(error) => Err(error.with_attempts(attempts).with_hedges(hedges)),
    }
}

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
    /// [`RetryPolicy::budget_share`]).
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
