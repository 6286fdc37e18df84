//! What a request may be retried for: [`RetryPolicy`], plain data carried by a client's
//! configuration, a scope or a request, and read by the client's retry loop
//! (`client/retry.rs`, which also keeps the client's retry budget).
//!
//! A policy says which failures are tried again (connect errors, timeouts before any
//! response byte, refused HTTP/2 streams, some statuses), how many times, after which
//! delays (exponential with full jitter, or the server's `Retry-After`, in seconds or as
//! an HTTP-date, up to a cap), and for which methods (idempotent ones unless told).

use std::time::{Duration, SystemTime};

use http::{Method, StatusCode, header};

use crate::error::{Error, ErrorKind, TimeoutPhase};
use crate::h1::ProtocolError;
use crate::message::response::Response;

/// Which failed attempts a client tries again, how many times, and when.
///
/// The default ([`RetryPolicy::new`]): up to 3 attempts; connect errors, timeouts
/// before any response byte, HTTP/2 streams the server refused, and the statuses 429,
/// 502, 503 and 504; delays from 100 ms doubling up to 10 s with full jitter;
/// `Retry-After` honoured up to 30 s; idempotent methods only; a budget of 10% of the
/// client's requests plus 10 retries per second.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use par_http_core::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .max_attempts(5)
///     .backoff(Duration::from_millis(50), Duration::from_secs(2))
///     .statuses([429, 503]);
/// assert_eq!(policy.attempts(), 5);
/// assert!(RetryPolicy::none().attempts() == 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    statuses: Vec<u16>,
    connect_errors: bool,
    timeouts: bool,
    base_delay: Duration,
    max_delay: Duration,
    retry_after_cap: Duration,
    non_idempotent: bool,
    budget_ratio: f64,
    budget_per_second: u32,
    jitter: bool,
    closed_connections: bool,
    max_retry_time: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// The default policy (see [`RetryPolicy`]).
    pub fn new() -> Self {
        Self {
            max_attempts: 3,
            statuses: vec![429, 502, 503, 504],
            connect_errors: true,
            timeouts: true,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            retry_after_cap: Duration::from_secs(30),
            non_idempotent: false,
            budget_ratio: 0.1,
            budget_per_second: 10,
            jitter: true,
            closed_connections: false,
            max_retry_time: None,
        }
    }

    /// No retries: one attempt (to turn a client's policy off for a scope or a request).
    pub fn none() -> Self {
        Self::new().max_attempts(1)
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The response statuses that are tried again (default 429, 502, 503, 504).
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Whether a connection that could not be opened is tried again (default true).
    pub fn connect_errors(mut self, retry: bool) -> Self {
        self.connect_errors = retry;
        self
    }

    /// Whether a timeout before any response byte (connecting, or waiting for the head)
    /// is tried again (default true). The total timeout never is: it bounds the retries.
    pub fn timeouts(mut self, retry: bool) -> Self {
        self.timeouts = retry;
        self
    }

    /// The delay before the first retry (`base`, doubled at each one) and the most a
    /// delay may be (`max`); each delay is drawn at random below that (full jitter).
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// Whether each delay is drawn at random below its bound (full jitter, the default)
    /// or is the whole bound. Without jitter, `backoff(d, d)` waits exactly `d` before
    /// every retry, as curl's `--retry-delay` does.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Whether a connection the server closed before sending any byte of the response
    /// is tried again (default false). The server may have processed the request, so
    /// only methods this policy allows are retried (idempotent ones unless told).
    pub fn closed_connections(mut self, retry: bool) -> Self {
        self.closed_connections = retry;
        self
    }

    /// Retries start only within `limit` of the first attempt's start, as with curl's
    /// `--retry-max-time`: a retry that would start later (its delay included) is not
    /// made, and the last outcome stands. An attempt under way is not cut short (the
    /// request's total timeout does that). Default: no limit.
    pub fn max_retry_time(mut self, limit: Duration) -> Self {
        self.max_retry_time = Some(limit);
        self
    }

    /// The time from the first attempt's start within which retries may start, if limited.
    pub(crate) fn retry_time_limit(&self) -> Option<Duration> {
        self.max_retry_time
    }

    /// The longest `Retry-After` honoured (default 30 s): a server asking for more is
    /// not tried again, and its answer is the outcome.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// Also retry methods that are not idempotent (`POST`, `PATCH`), which a server may
    /// have processed before it failed (default false). Their body must be in memory.
    pub fn non_idempotent(mut self, retry: bool) -> Self {
        self.non_idempotent = retry;
        self
    }

    /// The client's retry budget: retries may be at most `ratio` of the requests of the
    /// last ten seconds, plus `per_second` retries a second (default 0.1 and 10). The
    /// budget belongs to the client; the first policy that spends from it sets it.
    pub fn budget(mut self, ratio: f64, per_second: u32) -> Self {
        self.budget_ratio = if ratio.is_finite() {
            ratio.max(0.0)
        } else {
            0.0
        };
        self.budget_per_second = per_second;
        self
    }

    /// Attempts in all, the first included.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The budget's share of the requests and its floor of retries per second.
    pub(crate) fn budget_share(&self) -> (f64, u32) {
        (self.budget_ratio, self.budget_per_second)
    }

    /// True if `method` may be sent again under this policy.
    pub(crate) fn allows_method(&self, method: &Method) -> bool {
        self.non_idempotent
            || matches!(
                *method,
                Method::GET
                    | Method::HEAD
                    | Method::PUT
                    | Method::DELETE
                    | Method::OPTIONS
                    | Method::TRACE
            )
    }

    /// True if a response with `status` is tried again.
    pub(crate) fn retries_status(&self, status: StatusCode) -> bool {
        self.statuses.contains(&status.as_u16())
    }

    /// True if an attempt that failed with `error` is tried again.
    pub(crate) fn retries_error(&self, error: &Error) -> bool {
        match error.kind() {
            ErrorKind::Connect | ErrorKind::Timeout(TimeoutPhase::Connect) => self.connect_errors,
            ErrorKind::Timeout(TimeoutPhase::Head) => self.timeouts,
            // REFUSED_STREAM (RFC 9113 §8.7): the server did not process the request.
            ErrorKind::Http2(0x7) => true,
            ErrorKind::Protocol => {
                self.closed_connections
                    && matches!(
                        error.protocol_error(),
                        Some(ProtocolError::ClosedBeforeResponse)
                    )
            }
            _ => false,
        }
    }

    /// The delay before attempt `attempt + 1` (attempts count from 1), drawn with full
    /// jitter below the exponential bound, with `random` in 0..=u64::MAX (the bound
    /// itself without jitter).
    pub(crate) fn backoff_delay(&self, attempt: u32, random: u64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let bound = self
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 || !self.jitter {
            return bound;
        }
        Duration::from_nanos(random % (nanos + 1))
    }

    /// How long a response asks to wait (`Retry-After`), if it asks; `Err` when it asks
    /// for longer than the cap (the response is then the outcome).
    pub(crate) fn retry_after(
        &self,
        response: &Response,
        now: SystemTime,
    ) -> Result<Option<Duration>, ()> {
        let Some(wait) = retry_after(response, now) else {
            return Ok(None);
        };
        if wait > self.retry_after_cap {
            Err(())
        } else {
            Ok(Some(wait))
        }
    }
}

/// The wait a response's `Retry-After` asks for (RFC 9110 §10.2.3): delay-seconds, or
/// an HTTP-date (a date already past is no wait).
fn retry_after(response: &Response, now: SystemTime) -> Option<Duration> {
    let value = response
        .headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_under_a_cap_with_full_jitter() {
        let policy = RetryPolicy::new().backoff(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(
            policy.backoff_delay(1, u64::MAX),
            Duration::from_nanos(u64::MAX % 100_000_001)
        );
        for attempt in 1..10 {
            let bound =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(1));
            for random in [0, 1, 12_345_678_901, u64::MAX] {
                assert!(policy.backoff_delay(attempt, random) <= bound);
            }
        }
        assert_eq!(policy.backoff_delay(1, 0), Duration::ZERO);
    }

    #[test]
    fn without_jitter_a_fixed_backoff_is_a_fixed_delay() {
        let second = Duration::from_secs(1);
        let policy = RetryPolicy::new().backoff(second, second).jitter(false);
        for attempt in 1..10 {
            for random in [0, 12_345, u64::MAX] {
                assert_eq!(policy.backoff_delay(attempt, random), second);
            }
        }
    }

    #[test]
    fn closed_connections_are_retried_only_when_asked() {
        let closed =
            Error::new(ErrorKind::Protocol).with_source(ProtocolError::ClosedBeforeResponse);
        let truncated = Error::new(ErrorKind::Protocol).with_source(ProtocolError::TruncatedBody);
        assert!(!RetryPolicy::new().retries_error(&closed));
        let policy = RetryPolicy::new().closed_connections(true);
        assert!(policy.retries_error(&closed));
        assert!(!policy.retries_error(&truncated));
    }

    #[test]
    fn only_retryable_failures_and_methods() {
        let policy = RetryPolicy::new();
        assert!(policy.retries_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!policy.retries_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(policy.retries_error(&Error::new(ErrorKind::Connect)));
        assert!(policy.retries_error(&Error::new(ErrorKind::Timeout(TimeoutPhase::Head))));
        assert!(!policy.retries_error(&Error::new(ErrorKind::Timeout(TimeoutPhase::Total))));
        assert!(!policy.retries_error(&Error::new(ErrorKind::Protocol)));
        assert!(policy.allows_method(&Method::GET));
        assert!(!policy.allows_method(&Method::POST));
        assert!(policy.non_idempotent(true).allows_method(&Method::POST));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let url = url::Url::parse("http://example.test/").unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let with = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::RETRY_AFTER, value.parse().unwrap());
            let body = crate::ResponseBody::default();
            Response::new(
                Method::GET,
                url.clone(),
                StatusCode::SERVICE_UNAVAILABLE,
                headers,
                body,
            )
        };
        let policy = RetryPolicy::new().retry_after_cap(Duration::from_secs(60));
        assert_eq!(
            policy.retry_after(&with("3"), now),
            Ok(Some(Duration::from_secs(3)))
        );
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch.
        let date = "Sun, 06 Nov 1994 08:50:07 GMT";
        assert_eq!(
            policy.retry_after(&with(date), now),
            Ok(Some(Duration::from_secs(30)))
        );
        assert_eq!(
            policy.retry_after(&with("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Ok(Some(Duration::ZERO))
        );
        assert_eq!(policy.retry_after(&with("120"), now), Err(()));
        assert_eq!(policy.retry_after(&with("soon"), now), Ok(None));
    }
}
