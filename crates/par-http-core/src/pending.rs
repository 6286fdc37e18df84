//! The exactly-once outcome table a scope shares with its [`Pending`] handles.
//!
//! Each request of a scope has one [`Slot`]: `Running` while its task works, `Ready` once
//! the outcome is in, `Taken` once it has been delivered. Delivery moves `Ready` to
//! `Taken` under the lock, through the handle ([`Pending::get_response`]) or in completion
//! order ([`Outcomes::next`]), whichever comes first, so an outcome is delivered exactly
//! once and never lost. A handle whose outcome was taken by `next` gets
//! [`ErrorKind::AlreadyCollected`].
//!
//! ```text
//!   start ──▶ Running ──complete──▶ Ready ──get_response / next_response──▶ Taken
//!                │                                           (the other one: AlreadyCollected)
//!                └──scope ends──▶ task cancelled, outcome never produced
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use event_listener::Event;

use crate::error::{Error, ErrorKind, Result};
use crate::response::Response;
use crate::runtime::Task;

/// The outcome table of one scope.
pub(crate) struct Outcomes {
    state: Mutex<State>,
    /// Notified whenever an outcome becomes ready or the scope closes.
    changed: Event,
}

struct State {
    slots: Vec<Slot>,
    /// Ids in completion order; ids already taken through their handle are skipped.
    ready: VecDeque<usize>,
    running: usize,
    ready_count: usize,
    closed: bool,
}

enum Slot {
    Running(Option<Task>),
    // Boxed: most slots are Running or Taken, and a Response is large.
    Ready(Box<Result<Response>>),
    Taken,
}

/// What [`Outcomes::close`] removed: dropped by the caller, outside the lock.
pub(crate) struct Closed {
    _tasks: Vec<Task>,
    _outcomes: Vec<Result<Response>>,
}

impl Outcomes {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                slots: Vec::new(),
                ready: VecDeque::new(),
                running: 0,
                ready_count: 0,
                closed: false,
            }),
            changed: Event::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update keeps the counts consistent at each statement, so the state of a
        // poisoned lock is still valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a request that starts running. `None` if the scope has closed.
    pub(crate) fn add_running(&self) -> Option<usize> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let id = state.slots.len();
        state.slots.push(Slot::Running(None));
        state.running += 1;
        Some(id)
    }

    /// Registers a request whose outcome is known at once (for example an invalid URL).
    pub(crate) fn add_ready(&self, outcome: Result<Response>) -> usize {
        let mut state = self.lock();
        let id = state.slots.len();
        state.slots.push(Slot::Ready(Box::new(outcome)));
        state.ready.push_back(id);
        state.ready_count += 1;
        drop(state);
        self.changed.notify(usize::MAX);
        id
    }

    /// Keeps the task of request `id`, so that closing the scope can cancel it. Returns
    /// the task back if the request has finished or the scope has closed.
    pub(crate) fn attach_task(&self, id: usize, task: Task) -> Option<Task> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.closed {
            return Some(task);
        }
        match state.slots.get_mut(id) {
            Some(Slot::Running(slot @ None)) => {
                *slot = Some(task);
                None
            }
            _ => Some(task),
        }
    }

    /// Stores the outcome of request `id`. An outcome that arrives after the scope closed
    /// is dropped (closing its connection).
    pub(crate) fn complete(&self, id: usize, outcome: Result<Response>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let leftover = match state.slots.get_mut(id) {
            Some(slot @ Slot::Running(_)) if !state.closed => {
                let previous = std::mem::replace(slot, Slot::Ready(Box::new(outcome)));
                state.running = state.running.saturating_sub(1);
                state.ready_count += 1;
                state.ready.push_back(id);
                (previous, None)
            }
            _ => (Slot::Taken, Some(outcome)),
        };
        drop(guard);
        self.changed.notify(usize::MAX);
        // The finished task's own handle and any refused outcome are dropped here,
        // outside the lock.
        drop(leftover);
    }

    /// Delivers the outcome of `id` through its handle.
    pub(crate) async fn take(&self, id: usize) -> Result<Response> {
        self.wait_for(|outcomes| outcomes.try_take(id)).await
    }

    /// Delivers the next outcome in completion order.
    pub(crate) async fn next(&self) -> Result<Response> {
        self.wait_for(Self::try_next).await
    }

    /// Polls `attempt` until it gives an answer, sleeping on `changed` in between. A
    /// listener is only made when the first attempt finds nothing (the common case under
    /// load is that an outcome is already there), and the attempt is repeated after the
    /// listener exists, so no notification can be missed.
    async fn wait_for(
        &self,
        attempt: impl Fn(&Self) -> Option<Result<Response>>,
    ) -> Result<Response> {
        let mut listener = None;
        loop {
            if let Some(outcome) = attempt(self) {
                return outcome;
            }
            match listener.take() {
                None => listener = Some(self.changed.listen()),
                Some(listener) => listener.await,
            }
        }
    }

    /// The outcome of `id` if it is ready (or a typed error if it never will be).
    fn try_take(&self, id: usize) -> Option<Result<Response>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let closed = state.closed;
        let Some(slot) = state.slots.get_mut(id) else {
            return Some(Err(Error::new(ErrorKind::AlreadyCollected)));
        };
        match slot {
            Slot::Ready(_) => match std::mem::replace(slot, Slot::Taken) {
                Slot::Ready(outcome) => {
                    state.ready_count = state.ready_count.saturating_sub(1);
                    Some(*outcome)
                }
                _ => None,
            },
            Slot::Taken => Some(Err(Error::new(ErrorKind::AlreadyCollected))),
            Slot::Running(_) if closed => Some(Err(Error::new(ErrorKind::Cancelled))),
            Slot::Running(_) => None,
        }
    }

    /// The first ready outcome in completion order, or `NoPending` when none can come.
    fn try_next(&self) -> Option<Result<Response>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        while let Some(id) = state.ready.pop_front() {
            if let Some(slot @ Slot::Ready(_)) = state.slots.get_mut(id) {
                if let Slot::Ready(outcome) = std::mem::replace(slot, Slot::Taken) {
                    state.ready_count = state.ready_count.saturating_sub(1);
                    return Some(*outcome);
                }
            }
        }
        if state.running == 0 || state.closed {
            return Some(Err(Error::new(ErrorKind::NoPending)));
        }
        None
    }

    /// True once the outcome of `id` is ready (or already delivered).
    pub(crate) fn is_ready(&self, id: usize) -> bool {
        !matches!(self.lock().slots.get(id), Some(Slot::Running(_)))
    }

    /// True while any outcome is still to be delivered (running or ready).
    pub(crate) fn has_pending(&self) -> bool {
        let state = self.lock();
        state.running + state.ready_count > 0
    }

    /// Closes the table: no new requests, running tasks and undelivered outcomes are
    /// handed back to be dropped (cancelled and closed) by the caller, outside the lock.
    pub(crate) fn close(&self) -> Closed {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.closed = true;
        let mut tasks = Vec::new();
        let mut outcomes = Vec::new();
        for slot in &mut state.slots {
            match std::mem::replace(slot, Slot::Taken) {
                Slot::Running(task) => tasks.extend(task),
                Slot::Ready(outcome) => outcomes.push(*outcome),
                Slot::Taken => {}
            }
        }
        state.ready.clear();
        state.running = 0;
        state.ready_count = 0;
        drop(guard);
        self.changed.notify(usize::MAX);
        Closed {
            _tasks: tasks,
            _outcomes: outcomes,
        }
    }
}

impl fmt::Debug for Outcomes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Outcomes")
            .field("requests", &state.slots.len())
            .field("running", &state.running)
            .field("ready", &state.ready_count)
            .field("closed", &state.closed)
            .finish()
    }
}

/// A request started in a scope: collect its response with [`get_response`](Self::get_response).
///
/// Dropping a `Pending` does not cancel its request; its outcome stays in the scope for
/// `next_response`. Only the end of the scope cancels.
pub struct Pending {
    id: usize,
    outcomes: Arc<Outcomes>,
    name: Option<Arc<RequestName>>,
}

/// The method and URL of a request, shared by its task and its handle so that every
/// error about it can name it.
#[derive(Debug)]
pub(crate) struct RequestName {
    pub(crate) method: http::Method,
    pub(crate) url: String,
}

impl RequestName {
    pub(crate) fn name(&self, err: Error) -> Error {
        err.with_request(&self.method, &self.url)
    }
}

impl Pending {
    pub(crate) fn new(id: usize, outcomes: Arc<Outcomes>, name: Option<Arc<RequestName>>) -> Self {
        Self { id, outcomes, name }
    }

    /// Waits for this request's response.
    ///
    /// # Errors
    ///
    /// The request's own error; [`ErrorKind::AlreadyCollected`] if `next_response`
    /// delivered this outcome already; [`ErrorKind::Cancelled`] if the scope has ended.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before it completes, the outcome stays in
    /// the scope and `next_response` can still deliver it.
    pub async fn get_response(self) -> Result<Response> {
        let outcome = self.outcomes.take(self.id).await;
        match (outcome, &self.name) {
            (Err(err), Some(name)) => Err(name.name(err)),
            (outcome, _) => outcome,
        }
    }

    /// True once the outcome has arrived (or was delivered through `next_response`).
    pub fn is_ready(&self) -> bool {
        self.outcomes.is_ready(self.id)
    }

    /// The position of this request in its scope, counting from 0 in start order.
    pub fn index(&self) -> usize {
        self.id
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("index", &self.id)
            .field("ready", &self.is_ready())
            .finish()
    }
}
