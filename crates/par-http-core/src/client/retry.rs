//! Retries: the loop that tries a request again under its [`RetryPolicy`], within the
//! budget of its client (`budget.rs`), which bounds how many retries all its requests may
//! make together.
//!
//! A retry is a whole new attempt of a request (its redirects included), made by
//! [`Client::execute`](crate::Client::execute) inside the request's total time limit and,
//! in a scope, inside the scope's deadline and its `max_in_flight` slot. Only requests that
//! can be sent again are retried: a method the policy allows and a body held in memory.
//! The budget, as Finagle's and the gRPC retry throttle's, lets retries be at most a share
//! of the requests of the last ten seconds plus a small floor per second: a failing server
//! cannot turn a scope into a storm. Hedges (`hedge.rs`) spend from the same budget, and
//! each attempt of the loop may be hedged.

use std::sync::Arc;
use std::time::SystemTime;

use crate::client::Client;
use crate::client::hedge;
use crate::error::Result;
use crate::message::hedge_policy::HedgePolicy;
use crate::message::request::Request;
use crate::message::response::Response;
use crate::message::retry_policy::RetryPolicy;

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
