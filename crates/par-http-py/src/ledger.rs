//! What a Python handle used after its block needs to know: whether the block has
//! ended, and which outcomes `next_response()` delivered.
//!
//! The core scope forgets its requests when it ends, so a handle asked afterwards gets
//! `AlreadyCollected` from it whether its outcome went to `next_response()` or was
//! cancelled by the end of the block. The ledger tells the two apart, so that a
//! cancelled request raises `RequestCancelled`, naming it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use http::Method;
use par_http::{Error, ErrorKind};

/// The method and URL of a request, as started.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub(crate) method: Method,
    pub(crate) url: String,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    closed: AtomicBool,
    delivered: Mutex<HashSet<usize>>,
}

impl Ledger {
    /// The block has ended.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Notes an outcome `next_response()` delivered.
    pub(crate) fn delivered<T>(
        &self,
        outcome: &par_http::Result<T>,
        index: impl Fn(&T) -> Option<usize>,
    ) {
        let index = match outcome {
            Ok(value) => index(value),
            Err(err) => err.index(),
        };
        if let Some(index) = index {
            self.delivered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(index);
        }
    }

    /// The error a handle's `get_response()` reports: `err`, or a cancellation if the
    /// block ended before anyone collected request `index`.
    pub(crate) fn explain(&self, err: Error, index: usize, name: &Name) -> Error {
        let cancelled = err.is_already_collected()
            && self.closed.load(Ordering::Acquire)
            && !self
                .delivered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&index);
        if cancelled {
            Error::new(ErrorKind::Cancelled).with_request(&name.method, &name.url)
        } else {
            err
        }
    }
}
