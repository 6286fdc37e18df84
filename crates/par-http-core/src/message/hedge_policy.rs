//! When a request is hedged: [`HedgePolicy`], carried by a client's configuration, a
//! scope or a request, and read by the client's hedging layer (`client/hedge.rs`).
//!
//! A policy says how long the first copy of a request may go without a response head
//! before a second copy is sent (a fixed delay, or the 95th percentile of the latencies
//! this policy has observed), and how many extra copies a request may have. The observed
//! latencies live in the policy's shared state, a small ring buffer: clones of a policy
//! share it, so a policy set on a scope learns from that scope's requests, and one set on
//! the client from the client's.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::Method;

/// Latencies a policy remembers: the most recent ones, the older forgotten.
const WINDOW: usize = 128;

/// See [`HedgePolicy::MIN_SAMPLES`].
const MIN_SAMPLES: usize = 20;

/// The default floor (and fallback) delay of [`HedgePolicy::p95`].
const DEFAULT_MIN_DELAY: Duration = Duration::from_millis(10);

/// When a request is sent again while its first copy is still waiting for an answer
/// (hedged requests, as in "The Tail at Scale").
///
/// After a delay without a response head, another copy of the request goes out on
/// another connection (or HTTP/2 stream); the first copy to get a head wins and the others
/// are cancelled (an HTTP/1.1 connection mid-exchange is closed, an HTTP/2 stream reset).
/// Only idempotent methods (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`, `TRACE`) with a
/// body held in memory are hedged, and each extra copy is a withdrawal from the client's
/// retry budget (see [`RetryPolicy::budget`](crate::RetryPolicy::budget)): when the budget
/// refuses, the request goes on with the copies it has.
///
/// The delay is fixed ([`after`](Self::after)) or the 95th percentile of the latencies
/// (request sent to response head) this policy observed ([`p95`](Self::p95)), never less
/// than [`min_delay`](Self::min_delay), which is also the delay used until
/// [`MIN_SAMPLES`](Self::MIN_SAMPLES) latencies have been observed. The latencies are kept in the policy's
/// shared state: **clones share it**, so give each scope (or client) a policy of its own
/// when their servers differ.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use par_http_core::HedgePolicy;
///
/// let fixed = HedgePolicy::after(Duration::from_millis(50));
/// assert_eq!(fixed.delay(), Duration::from_millis(50));
/// assert_eq!(fixed.hedge_limit(), 1);
///
/// // Until 20 latencies are observed, the p95 policy waits its minimum delay.
/// let adaptive = HedgePolicy::p95().min_delay(Duration::from_millis(20)).max_hedges(2);
/// assert_eq!(adaptive.delay(), Duration::from_millis(20));
/// assert_eq!(adaptive.observed(), 0);
/// ```
#[derive(Clone)]
pub struct HedgePolicy {
    mode: Mode,
    min_delay: Duration,
    max_hedges: u32,
    latencies: Arc<Mutex<Latencies>>,
}

/// How the delay is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fixed(Duration),
    P95,
}

/// The most recent latencies, a ring buffer.
#[derive(Debug)]
struct Latencies {
    samples: Vec<Duration>,
    /// Where the next sample goes once the buffer is full.
    next: usize,
}

impl HedgePolicy {
    /// Latencies a [`p95`](Self::p95) policy observes before it trusts their 95th
    /// percentile; until then it waits its [`min_delay`](Self::min_delay).
    pub const MIN_SAMPLES: usize = MIN_SAMPLES;

    /// Hedges after a fixed `delay` without a response head, with one extra copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = par_http_core::HedgePolicy::after(Duration::from_millis(30));
    /// assert_eq!(policy.delay(), Duration::from_millis(30));
    /// ```
    pub fn after(delay: Duration) -> Self {
        Self::with_mode(Mode::Fixed(delay))
    }

    /// Hedges after the 95th percentile of the latencies this policy observed (request
    /// sent to response head, of the copies that won), with one extra copy. Until
    /// [`MIN_SAMPLES`](Self::MIN_SAMPLES) latencies are known, and whenever the percentile is lower, the
    /// delay is [`min_delay`](Self::min_delay) (10 ms unless set).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = par_http_core::HedgePolicy::p95();
    /// assert_eq!(policy.delay(), Duration::from_millis(10));
    /// ```
    pub fn p95() -> Self {
        Self::with_mode(Mode::P95)
    }

    /// No hedging (to turn a client's policy off for a scope or a request).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(par_http_core::HedgePolicy::none().hedge_limit(), 0);
    /// ```
    pub fn none() -> Self {
        Self::with_mode(Mode::P95).max_hedges(0)
    }

    fn with_mode(mode: Mode) -> Self {
        Self {
            mode,
            min_delay: DEFAULT_MIN_DELAY,
            max_hedges: 1,
            latencies: Arc::new(Mutex::new(Latencies {
                samples: Vec::new(),
                next: 0,
            })),
        }
    }

    /// The least delay of a [`p95`](Self::p95) policy, and its delay until
    /// [`MIN_SAMPLES`](Self::MIN_SAMPLES) latencies are observed (default 10 ms). A fixed policy ignores it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = par_http_core::HedgePolicy::p95().min_delay(Duration::from_millis(25));
    /// assert_eq!(policy.delay(), Duration::from_millis(25));
    /// ```
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The most extra copies of one request (default 1; 0 turns hedging off). Each one
    /// goes out a delay after the previous one, while no copy has a response head.
    ///
    /// # Examples
    ///
    /// ```
    /// let policy = par_http_core::HedgePolicy::p95().max_hedges(2);
    /// assert_eq!(policy.hedge_limit(), 2);
    /// ```
    pub fn max_hedges(mut self, copies: u32) -> Self {
        self.max_hedges = copies;
        self
    }

    /// The most extra copies of one request.
    pub fn hedge_limit(&self) -> u32 {
        self.max_hedges
    }

    /// The delay a request started now would wait before its next copy: the fixed delay,
    /// or the observed 95th percentile (at least [`min_delay`](Self::min_delay)), or
    /// `min_delay` while fewer than [`MIN_SAMPLES`](Self::MIN_SAMPLES) latencies are known.
    pub fn delay(&self) -> Duration {
        match self.mode {
            Mode::Fixed(delay) => delay,
            Mode::P95 => self
                .lock()
                .p95()
                .map_or(self.min_delay, |p95| p95.max(self.min_delay)),
        }
    }

    /// How many latencies the policy remembers (at most 128, the most recent; a fixed
    /// policy observes none).
    pub fn observed(&self) -> usize {
        self.lock().samples.len()
    }

    /// True if the policy may send extra copies at all.
    pub(crate) fn is_active(&self) -> bool {
        self.max_hedges > 0
    }

    /// True if the policy's delay comes from observed latencies.
    pub(crate) fn observes(&self) -> bool {
        self.mode == Mode::P95
    }

    /// True if a request with `method` may be hedged: the idempotent methods only.
    pub(crate) fn allows_method(method: &Method) -> bool {
        matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        )
    }

    /// Remembers the latency of a copy that got a response head.
    pub(crate) fn record(&self, latency: Duration) {
        if self.observes() {
            self.lock().push(latency);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Latencies> {
        self.latencies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Latencies {
    fn push(&mut self, latency: Duration) {
        if self.samples.len() < WINDOW {
            self.samples.push(latency);
        } else {
            self.samples[self.next] = latency;
            self.next = (self.next + 1) % WINDOW;
        }
    }

    /// The 95th percentile (nearest rank), once there are enough samples.
    fn p95(&self) -> Option<Duration> {
        let n = self.samples.len();
        if n < MIN_SAMPLES {
            return None;
        }
        let mut sorted = self.samples.clone();
        // Nearest rank: the smallest sample with at least 95% of them at or below it.
        let rank = (n * 95).div_ceil(100).max(1) - 1;
        let (_, p95, _) = sorted.select_nth_unstable(rank);
        Some(*p95)
    }
}

impl fmt::Debug for HedgePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgePolicy")
            .field("mode", &self.mode)
            .field("min_delay", &self.min_delay)
            .field("max_hedges", &self.max_hedges)
            .field("observed", &self.observed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_holds_until_enough_samples_then_the_p95_with_a_floor() {
        let policy = HedgePolicy::p95().min_delay(Duration::from_millis(5));
        for ms in 1..MIN_SAMPLES as u64 {
            policy.record(Duration::from_millis(ms * 10));
            assert_eq!(policy.delay(), Duration::from_millis(5), "{ms} samples");
        }
        // 20 samples of 10..=200 ms: the nearest-rank 95th percentile is the 19th.
        policy.record(Duration::from_millis(200));
        assert_eq!(policy.delay(), Duration::from_millis(190));
        // A floor above the percentile wins; clones share the samples.
        let floored = policy.clone().min_delay(Duration::from_secs(1));
        assert_eq!(floored.delay(), Duration::from_secs(1));
        floored.record(Duration::from_millis(1));
        assert_eq!(policy.observed(), MIN_SAMPLES + 1);
    }

    #[test]
    fn the_window_keeps_the_most_recent_latencies() {
        let policy = HedgePolicy::p95();
        for _ in 0..WINDOW {
            policy.record(Duration::from_secs(1));
        }
        assert_eq!(policy.delay(), Duration::from_secs(1));
        for _ in 0..WINDOW {
            policy.record(Duration::from_millis(30));
        }
        assert_eq!(policy.observed(), WINDOW);
        assert_eq!(policy.delay(), Duration::from_millis(30));
    }

    #[test]
    fn a_fixed_policy_observes_nothing_and_only_idempotent_methods_hedge() {
        let policy = HedgePolicy::after(Duration::from_millis(7));
        policy.record(Duration::from_secs(3));
        assert_eq!(
            (policy.delay(), policy.observed()),
            (Duration::from_millis(7), 0)
        );
        assert!(HedgePolicy::allows_method(&Method::GET));
        assert!(HedgePolicy::allows_method(&Method::PUT));
        assert!(!HedgePolicy::allows_method(&Method::POST));
        assert!(!HedgePolicy::allows_method(&Method::PATCH));
        assert!(!HedgePolicy::none().is_active());
    }
}
