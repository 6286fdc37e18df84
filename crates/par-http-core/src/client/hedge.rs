//! Hedged requests: one attempt of a request sent as several racing copies under its
//! [`HedgePolicy`].
//!
//! ```text
//!  copy 1 ──────────────────────────────x (dropped: connection closed / stream reset)
//!            delay │
//!                  copy 2 ──────── head ✓  (the outcome)
//! ```
//!
//! The first copy goes out at once. While no copy has a response head, each time the
//! policy's delay passes another copy goes out (up to the policy's limit), if the client's
//! retry budget grants it one withdrawal. The first copy to produce a head wins; the
//! others are dropped there and then, which closes an HTTP/1.1 connection in mid-exchange
//! (it never goes back to the pool) and resets an HTTP/2 stream. A copy that fails while
//! another is still running does not end the attempt: the others are awaited, and when all
//! have failed the last error is the outcome. A failure before any extra copy went out is
//! the outcome at once (trying again after a failure is the retry policy's business).
//!
//! All copies run inside the one future of the request, so they share its total timeout,
//! its scope's deadline and its `max_in_flight` slot. Each copy is a whole attempt
//! (redirects and decoding included, see [`Client::attempt`]), and a copy's connection
//! comes from the pool like any other: the first copy holds its HTTP/1.1 connection, so a
//! hedge opens or takes another one.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use crate::client::Client;
use crate::client::budget::BudgetShare;
use crate::error::Result;
use crate::message::hedge_policy::HedgePolicy;
use crate::message::request::Request;
use crate::message::response::Response;
use crate::runtime::Boxed;

/// One copy in the race: its future and when it went out.
struct Racer {
    started: Instant,
    outcome: Pin<Box<dyn Future<Output = Result<Response>> + Send>>,
}

impl Racer {
    fn start(client: &Client, request: Request) -> Self {
        Self {
            started: client.runtime().now(),
            outcome: Box::pin(client.attempt(request)),
        }
    }
}

/// A request with a hedge policy and no retry policy: one hedged attempt, counted in the
/// client's retry budget as a request. The outcome says how many copies were added.
pub(crate) async fn single(
    client: Client,
    request: Request,
    policy: std::sync::Arc<HedgePolicy>,
    share: BudgetShare,
) -> Result<Response> {
    client.retry_budget().deposit(client.runtime().now());
    let (outcome, hedges) = attempt(&client, request, &policy, share).await;
    match outcome {
        Ok(mut response) => {
            response.set_hedges(hedges);
            Ok(response)
        }
        Err(error) => Err(error.with_hedges(hedges)),
    }
}

/// One attempt of `request` under `policy`: the outcome, and how many extra copies went
/// out. A method that is not idempotent, or a body that cannot be sent again, gets one copy.
pub(crate) async fn attempt(
    client: &Client,
    request: Request,
    policy: &HedgePolicy,
    share: BudgetShare,
) -> (Result<Response>, u32) {
    let spare = if policy.is_active() && HedgePolicy::allows_method(&request.method) {
        request.try_clone()
    } else {
        None
    };
    let Some(spare) = spare else {
        return (client.attempt(request).await, 0);
    };
    let mut race = Race {
        client,
        policy,
        share,
        copies: vec![Racer::start(client, request)],
        spare: Some(spare),
        timer: Some(client.runtime().sleep(policy.delay())),
        hedges: 0,
        error: None,
    };
    let outcome = poll_fn(|cx| race.poll(cx)).await;
    // The losers go now, before the outcome moves on: their connections close.
    let hedges = race.hedges;
    drop(race);
    (outcome, hedges)
}

/// The state of one hedged attempt.
struct Race<'a> {
    client: &'a Client,
    policy: &'a HedgePolicy,
    share: BudgetShare,
    /// The copies still running, oldest first.
    copies: Vec<Racer>,
    /// The request for the next copy, while one may still go out.
    spare: Option<Request>,
    /// Due when the next copy should go out.
    timer: Option<Boxed<()>>,
    /// Extra copies sent.
    hedges: u32,
    /// The error of the copy that failed last.
    error: Option<crate::Error>,
}

impl Race<'_> {
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<Response>> {
        loop {
            let mut index = 0;
            while let Some(copy) = self.copies.get_mut(index) {
                match copy.outcome.as_mut().poll(cx) {
                    Poll::Ready(Ok(response)) => {
                        let latency = self.client.runtime().now() - copy.started;
                        self.policy.record(latency);
                        return Poll::Ready(Ok(response));
                    }
                    Poll::Ready(Err(error)) => {
                        drop(self.copies.remove(index));
                        self.error = Some(error);
                    }
                    Poll::Pending => index += 1,
                }
            }
            if self.copies.is_empty() {
                if let Some(error) = self.error.take() {
                    return Poll::Ready(Err(error));
                }
            }
            let Some(timer) = self.timer.as_mut() else {
                return Poll::Pending;
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.timer = None;
            if !self.hedge() {
                return Poll::Pending;
            }
            // Poll the new copy once, so that it starts and registers its waker.
        }
    }

    /// Sends the next copy if the policy and the budget allow one; true if it went out.
    fn hedge(&mut self) -> bool {
        if self.hedges >= self.policy.hedge_limit() {
            return false;
        }
        let runtime = self.client.runtime();
        let Some(request) = self.spare.take() else {
            return false;
        };
        if !self
            .client
            .retry_budget()
            .try_withdraw(runtime.now(), self.share)
        {
            return false;
        }
        self.hedges += 1;
        if self.hedges < self.policy.hedge_limit() {
            self.spare = request.try_clone();
            self.timer = Some(runtime.sleep(self.policy.delay()));
        }
        self.copies.push(Racer::start(self.client, request));
        true
    }
}
