//! `run_bounded`: runs a scenario that might hang on a thread of its own and waits for it
//! with a timeout, so that a hang fails its test with a message naming the case instead of
//! hanging the test binary.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long a scenario may run before it counts as hung, unless the environment variable
/// `PAR_HTTP_HANG_LIMIT_SECS` says otherwise. Generous: a scenario that works takes well
/// under a second, but a loaded 2-core CI machine can be slow.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// [`HANG_LIMIT`], or `PAR_HTTP_HANG_LIMIT_SECS` seconds when that is set.
pub fn hang_limit() -> Duration {
    std::env::var("PAR_HTTP_HANG_LIMIT_SECS")
        .ok()
        .and_then(|secs| secs.trim().parse().ok())
        .map_or(HANG_LIMIT, Duration::from_secs)
}

/// Runs `scenario` on a thread of its own and returns its result, or panics: with the
/// scenario's own panic message if it panicked, or with `HANG: <case> ...` and `status()`
/// (say, the server's gauges) if it has not finished within [`hang_limit`]. A hung
/// scenario's thread is left behind (nothing can stop it); the test fails at once.
pub fn run_bounded<T: Send + 'static>(
    case: &str,
    status: impl Fn() -> String,
    scenario: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, outcome) = mpsc::channel();
    let thread = thread::Builder::new()
        .name(format!("bounded {case}"))
        .spawn(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(scenario)));
        })
        .expect("spawn a scenario thread");
    let limit = hang_limit();
    match outcome.recv_timeout(limit) {
        Ok(Ok(value)) => {
            let _ = thread.join();
            value
        }
        Ok(Err(payload)) => {
            let _ = thread.join();
            panic!("{case}: failed: {}", panic_message(payload.as_ref()))
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!(
                "HANG: {case} did not finish within {limit:?} (status: {})",
                status()
            )
        }
        Err(RecvTimeoutError::Disconnected) => panic!("{case}: its thread vanished"),
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}
