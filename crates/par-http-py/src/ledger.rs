//! What a Python handle knows about its request ([`Handle`], shared by the blocking and
//! the async handle), and what it needs to know once its block has ended ([`Ledger`]):
//! whether the block has ended, and which outcomes `next_response()` delivered.
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
use pyo3::prelude::*;

use crate::errors::new_err;

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

/// The state of a pending handle: the core handle until its outcome is taken (by
/// `get_response()` or `cancel()`), the request's start index and name.
#[derive(Debug)]
pub(crate) struct Handle {
    pending: Mutex<Option<par_http::core::Pending>>,
    index: usize,
    name: Name,
}

impl Handle {
    pub(crate) fn new(pending: par_http::core::Pending, name: Name) -> Self {
        Self {
            index: pending.index(),
            pending: Mutex::new(Some(pending)),
            name,
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<par_http::core::Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The core handle, to collect its outcome.
    ///
    /// # Errors
    ///
    /// `AlreadyCollected` if this handle's outcome was taken before.
    pub(crate) fn take(&self, py: Python<'_>) -> PyResult<par_http::core::Pending> {
        self.slot().take().ok_or_else(|| {
            new_err(
                py,
                "AlreadyCollected",
                "this handle's outcome was already taken by get_response() or cancel()",
            )
        })
    }

    /// True once the outcome has arrived (or was taken).
    pub(crate) fn is_ready(&self) -> bool {
        self.slot()
            .as_ref()
            .is_none_or(par_http::core::Pending::is_ready)
    }

    /// Cancels the request; false if it had finished (or was taken) already.
    pub(crate) fn cancel(&self) -> bool {
        let pending = self.slot().take();
        pending.is_some_and(par_http::core::Pending::cancel)
    }

    /// The start index of the request in its scope.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The request's method and URL.
    pub(crate) fn name(&self) -> &Name {
        &self.name
    }
}
