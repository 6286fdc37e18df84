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
//!                │        ◀─reclaim─┘                    (the other one: AlreadyCollected)
//!                └──scope ends / Pending::cancel──▶ future dropped, outcome never produced
//! ```
//!
//! The table also owns each request's *future* (in a [`FutureCell`] that the spawned task
//! only polls), so that ending the scope drops every future, and with it every socket,
//! on the thread that ends the scope, before the end returns, whatever the executor
//! does with its tasks later. An outcome that is ready but not collected keeps a
//! [`Hold`]: the request's slot under the scope's limit and its share of the body
//! budget, given back when it is collected. A collector that waits is counted, so that a
//! response parked with part of its body unread can tell when its connection is what
//! the waiting caller needs (see `scope.rs`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_lock::SemaphoreGuardArc;
use event_listener::{Event, EventListener};
use http::Method;

use crate::error::{Error, ErrorKind, Result, Tag};
use crate::message::body_buffer::Claim;
use crate::message::response::Response;
use crate::runtime::{Boxed, Task};
use crate::scope::stall::StallWatch;

/// The outcome table of one scope.
pub(crate) struct Outcomes {
    state: Mutex<State>,
    /// Notified whenever an outcome becomes ready or the scope closes.
    changed: Event,
    /// Notified when a collector starts or stops waiting, and when a request starts
    /// waiting for a slot under the scope's limit.
    pressure: Event,
    /// Collectors waiting right now.
    blocked: AtomicUsize,
    /// Requests waiting for a slot under the scope's limit right now.
    slot_waiters: AtomicUsize,
    /// The first error cancels the other running requests and is delivered first.
    fail_fast: bool,
}

struct State {
    slots: Vec<Slot>,
    /// Ids in completion order; ids already taken through their handle are skipped.
    ready: VecDeque<usize>,
    running: usize,
    ready_count: usize,
    closed: bool,
    /// Under fail-fast: the request whose error cancelled the others, until delivered.
    first_error: Option<usize>,
    /// Futures of requests cancelled by a fail-fast that were being polled elsewhere at
    /// that moment: dropped by the next collection, or the scope's end.
    deferred: Vec<Arc<FutureCell>>,
}

struct Slot {
    state: SlotState,
    meta: Arc<Meta>,
    /// The request's task and its future, while they live.
    task: Option<Task>,
    future: Option<Arc<FutureCell>>,
}

enum SlotState {
    Running,
    // Boxed: most slots are Running or Taken, and a Response is large.
    Ready(Box<Delivery>),
    Taken,
}

/// An outcome waiting to be collected, and what it keeps until then.
pub(crate) struct Delivery {
    pub(crate) outcome: Result<Response>,
    pub(crate) hold: Hold,
}

/// What a ready outcome keeps until it is collected (or the scope ends).
#[derive(Default)]
pub(crate) struct Hold {
    /// Its slot under the scope's limit: a response whose body is still on the wire
    /// counts as in flight until it is handed over.
    pub(crate) permit: Option<SemaphoreGuardArc>,
    /// Its share of the scope's body budget.
    pub(crate) claim: Option<Claim>,
    /// Dropped on collection: tells the request's parked task that it may end.
    pub(crate) parked: Option<async_channel::Sender<()>>,
}

/// Who a request is: its method and URL (for errors) and the user's tag.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) name: Option<(Method, String)>,
    pub(crate) tag: Mutex<Option<Tag>>,
    /// The request's span (`tracing` feature), made when it starts.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

impl Meta {
    pub(crate) fn new(name: Option<(Method, String)>, tag: Option<Tag>) -> Arc<Self> {
        Arc::new(Self {
            name,
            tag: Mutex::new(tag),
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
        })
    }

    /// This request's name and tag, and `span` as its span.
    #[cfg(feature = "tracing")]
    pub(crate) fn with_span(
        name: Option<(Method, String)>,
        tag: Option<Tag>,
        span: tracing::Span,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            tag: Mutex::new(tag),
            span,
        })
    }

    /// Names `err` after this request, unless it names one already.
    pub(crate) fn name(&self, err: Error) -> Error {
        match &self.name {
            Some((method, url)) => err.with_request(method, url),
            None => err,
        }
    }

    /// The request's URL as started, if it was valid.
    pub(crate) fn url(&self) -> Option<url::Url> {
        self.name
            .as_ref()
            .and_then(|(_, url)| url::Url::parse(url).ok())
    }

    fn tag(&self) -> Option<Tag> {
        self.tag.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_tag(&self, tag: Tag) {
        *self.tag.lock().unwrap_or_else(|p| p.into_inner()) = Some(tag);
    }
}

/// A request's future, owned by the scope's table and polled by its task. Whoever ends
/// the request (the scope's end, [`Pending::cancel`]) takes the future out and drops it
/// on its own thread; the task then finds the cell empty and ends.
pub(crate) struct FutureCell {
    future: Mutex<Option<Boxed<()>>>,
}

impl FutureCell {
    pub(crate) fn new(future: Boxed<()>) -> Arc<Self> {
        Arc::new(Self {
            future: Mutex::new(Some(future)),
        })
    }

    /// The task to spawn: it polls the future while the cell holds one.
    pub(crate) fn task(self: &Arc<Self>) -> Boxed<()> {
        Box::pin(Polled(self.clone()))
    }

    /// Drops the future, if it is still in the cell (waits for a poll under way on
    /// another thread to end first).
    pub(crate) fn drop_future(&self) {
        let future = self.future.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(future);
    }

    /// Drops the future unless a poll of it is under way (on another thread, or the
    /// caller's own); false if it could not.
    fn try_drop_future(&self) -> bool {
        let mut guard = match self.future.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        let future = guard.take();
        drop(guard);
        drop(future);
        true
    }
}

/// The spawned side of a [`FutureCell`]. An executor that drops the task (a runtime
/// shutting down) drops the request's future with it.
struct Polled(Arc<FutureCell>);

impl Drop for Polled {
    fn drop(&mut self) {
        self.0.drop_future();
    }
}

impl Future for Polled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = self.0.future.lock().unwrap_or_else(|p| p.into_inner());
        let Some(future) = guard.as_mut() else {
            return Poll::Ready(());
        };
        match future.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let done = guard.take();
                drop(guard);
                drop(done);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What the table hands back to be dropped outside its lock: futures first (their
/// sockets close), then tasks, then outcomes nobody collected.
#[derive(Default)]
pub(crate) struct Leftovers {
    futures: Vec<Arc<FutureCell>>,
    tasks: Vec<Task>,
    deliveries: Vec<Delivery>,
}

impl Leftovers {
    /// The errors among the outcomes nobody collected (cancellations aside), each named
    /// after its request.
    pub(crate) fn uncollected_errors(&self) -> impl Iterator<Item = &Error> {
        self.deliveries
            .iter()
            .filter_map(|delivery| match &delivery.outcome {
                Err(err) if !err.is_cancelled() => Some(err),
                _ => None,
            })
    }

    fn add(&mut self, slot: &mut Slot) {
        self.futures.extend(slot.future.take());
        self.tasks.extend(slot.task.take());
        if let SlotState::Ready(delivery) = std::mem::replace(&mut slot.state, SlotState::Taken) {
            self.deliveries.push(*delivery);
        }
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for cell in self.futures.drain(..) {
            cell.drop_future();
        }
    }
}

/// Drops the futures of `cells` (each after any poll of it under way).
fn drop_all(cells: Vec<Arc<FutureCell>>) {
    for cell in cells {
        cell.drop_future();
    }
}

/// Counts a waiting collector for as long as it waits.
struct Blocked<'a>(&'a Outcomes);

impl<'a> Blocked<'a> {
    fn new(outcomes: &'a Outcomes) -> Self {
        outcomes.blocked.fetch_add(1, Ordering::AcqRel);
        outcomes.pressure.notify(usize::MAX);
        Self(outcomes)
    }
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        self.0.blocked.fetch_sub(1, Ordering::AcqRel);
        self.0.pressure.notify(usize::MAX);
    }
}

/// Counts a request waiting for a slot under the scope's limit for as long as it waits.
pub(crate) struct SlotWait<'a>(&'a Outcomes);

impl Drop for SlotWait<'_> {
    fn drop(&mut self) {
        self.0.slot_waiters.fetch_sub(1, Ordering::AcqRel);
    }
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
                first_error: None,
                deferred: Vec::new(),
            }),
            changed: Event::new(),
            pressure: Event::new(),
            blocked: AtomicUsize::new(0),
            slot_waiters: AtomicUsize::new(0),
            fail_fast: false,
        }
    }

    /// A table whose first error cancels the other running requests and is delivered by
    /// the next collection, whichever request it asks for.
    pub(crate) fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update keeps the counts consistent at each statement, so the state of a
        // poisoned lock is still valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a request that starts running. `None` if the scope has closed.
    pub(crate) fn add_running(&self, meta: Arc<Meta>) -> Option<usize> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let id = state.slots.len();
        state.slots.push(Slot {
            state: SlotState::Running,
            meta,
            task: None,
            future: None,
        });
        state.running += 1;
        Some(id)
    }

    /// Registers a request whose outcome is known at once (for example an invalid URL).
    pub(crate) fn add_ready(&self, outcome: Result<Response>, meta: Arc<Meta>) -> usize {
        let mut state = self.lock();
        let id = state.slots.len();
        let delivery = Delivery {
            outcome,
            hold: Hold::default(),
        };
        state.slots.push(Slot {
            state: SlotState::Ready(Box::new(delivery)),
            meta,
            task: None,
            future: None,
        });
        state.ready.push_back(id);
        state.ready_count += 1;
        drop(state);
        self.changed.notify(usize::MAX);
        id
    }

    /// Keeps the task and future of request `id`, so that ending the scope (or the
    /// request) can drop them. Hands them back if the scope or the request has ended.
    pub(crate) fn attach(
        &self,
        id: usize,
        task: Task,
        future: Arc<FutureCell>,
    ) -> Option<(Task, Arc<FutureCell>)> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.closed {
            return Some((task, future));
        }
        match state.slots.get_mut(id) {
            Some(slot) if !matches!(slot.state, SlotState::Taken) => {
                slot.task = Some(task);
                slot.future = Some(future);
                None
            }
            _ => Some((task, future)),
        }
    }

    /// Stores the outcome of request `id`. An outcome that arrives after the scope closed
    /// (or the request was cancelled) is dropped, closing its connection.
    pub(crate) fn complete(&self, id: usize, delivery: Delivery) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let fails = self.fail_fast
            && state.first_error.is_none()
            && matches!(&delivery.outcome, Err(err) if !err.is_cancelled());
        let leftover = match state.slots.get_mut(id) {
            Some(slot) if !state.closed && matches!(slot.state, SlotState::Running) => {
                slot.state = SlotState::Ready(Box::new(delivery));
                state.running = state.running.saturating_sub(1);
                state.ready_count += 1;
                state.ready.push_back(id);
                None
            }
            _ => Some(delivery),
        };
        let cancelled = if fails && leftover.is_none() {
            state.first_error = Some(id);
            Self::cancel_others(state, id)
        } else {
            Vec::new()
        };
        drop(guard);
        self.changed.notify(usize::MAX);
        drop(leftover);
        // Dropped here unless a poll of them is under way (this task may be polled by the
        // same thread's executor inside another cell's poll; waiting for that lock could
        // deadlock two requests failing at once): those wait for the next collection.
        let busy: Vec<_> = cancelled
            .into_iter()
            .filter(|cell| !cell.try_drop_future())
            .collect();
        if !busy.is_empty() {
            self.lock().deferred.extend(busy);
        }
    }

    /// Fail-fast: every running request but `id` gets a `Cancelled` outcome; their
    /// futures are handed back to be dropped outside the lock.
    fn cancel_others(state: &mut State, id: usize) -> Vec<Arc<FutureCell>> {
        let mut futures = Vec::new();
        for (other, slot) in state.slots.iter_mut().enumerate() {
            if other == id || !matches!(slot.state, SlotState::Running) {
                continue;
            }
            let err = slot.meta.name(Error::new(ErrorKind::Cancelled));
            slot.state = SlotState::Ready(Box::new(Delivery {
                outcome: Err(err),
                hold: Hold::default(),
            }));
            futures.extend(slot.future.take());
            state.running = state.running.saturating_sub(1);
            state.ready_count += 1;
            state.ready.push_back(other);
        }
        futures
    }

    /// Under fail-fast, the first error while it is not delivered: it goes before any
    /// other outcome.
    fn deliver_first_error(state: &mut State, hold: &mut Option<Hold>) -> Option<Result<Response>> {
        let first = state.first_error?;
        let slot = state.slots.get_mut(first)?;
        let outcome = Self::deliver(slot, first, hold)?;
        state.ready_count = state.ready_count.saturating_sub(1);
        Some(outcome)
    }

    /// Takes the futures a fail-fast could not drop at once, to be dropped by the caller.
    fn take_deferred(state: &mut State) -> Vec<Arc<FutureCell>> {
        if state.deferred.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut state.deferred)
        }
    }

    /// Ends every request still running or uncollected, without closing the scope: what
    /// a race does once it has its winner. Returns when their futures are dropped.
    pub(crate) fn cancel_all(&self) {
        let mut leftovers = Leftovers::default();
        let mut guard = self.lock();
        let state = &mut *guard;
        for slot in &mut state.slots {
            if !matches!(slot.state, SlotState::Taken) {
                leftovers.add(slot);
            }
        }
        leftovers.futures.append(&mut state.deferred);
        state.ready.clear();
        state.running = 0;
        state.ready_count = 0;
        drop(guard);
        self.changed.notify(usize::MAX);
        self.pressure.notify(usize::MAX);
        drop(leftovers);
    }

    /// Takes back the ready, uncollected outcome of `id` (to finish reading its body);
    /// the slot is `Running` again until [`complete`](Self::complete).
    pub(crate) fn reclaim(&self, id: usize) -> Option<Delivery> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.closed {
            return None;
        }
        let slot = state.slots.get_mut(id)?;
        if !matches!(slot.state, SlotState::Ready(_)) {
            return None;
        }
        let SlotState::Ready(delivery) = std::mem::replace(&mut slot.state, SlotState::Running)
        else {
            return None;
        };
        state.ready_count = state.ready_count.saturating_sub(1);
        state.running += 1;
        Some(*delivery)
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
        let mut blocked = None;
        loop {
            if let Some(outcome) = attempt(self) {
                return outcome;
            }
            match listener.take() {
                None => listener = Some(self.changed.listen()),
                Some(listener) => {
                    blocked.get_or_insert_with(|| Blocked::new(self));
                    listener.await;
                }
            }
        }
    }

    /// Marks the delivery of slot `id` (ready) and gives its outcome, named after its
    /// request. The hold goes to `dropped`, to be dropped outside the lock.
    fn deliver(slot: &mut Slot, id: usize, dropped: &mut Option<Hold>) -> Option<Result<Response>> {
        if !matches!(slot.state, SlotState::Ready(_)) {
            // Running again (its body being read to its end) or taken: not now.
            return None;
        }
        let SlotState::Ready(delivery) = std::mem::replace(&mut slot.state, SlotState::Taken)
        else {
            return None;
        };
        let Delivery { outcome, hold } = *delivery;
        *dropped = Some(hold);
        let tag = slot.meta.tag();
        Some(match outcome {
            Ok(mut response) => {
                response.set_origin(id, tag);
                Ok(response)
            }
            Err(err) => Err(slot.meta.name(err).with_origin(id, tag)),
        })
    }

    /// The outcome of `id` if it is ready (or a typed error if it never will be).
    fn try_take(&self, id: usize) -> Option<Result<Response>> {
        let mut hold = None;
        let mut guard = self.lock();
        let state = &mut *guard;
        let deferred = Self::take_deferred(state);
        if state.first_error.is_some_and(|first| first != id) {
            if let Some(first) = Self::deliver_first_error(state, &mut hold) {
                drop(guard);
                drop(hold);
                drop_all(deferred);
                return Some(first);
            }
        }
        let closed = state.closed;
        let Some(slot) = state.slots.get_mut(id) else {
            drop(guard);
            drop_all(deferred);
            return Some(Err(Error::new(ErrorKind::AlreadyCollected)));
        };
        let answer = match slot.state {
            SlotState::Ready(_) => {
                let outcome = Self::deliver(slot, id, &mut hold);
                state.ready_count = state.ready_count.saturating_sub(1);
                outcome
            }
            SlotState::Taken => Some(Err(Error::new(ErrorKind::AlreadyCollected))),
            SlotState::Running if closed => Some(Err(Error::new(ErrorKind::Cancelled))),
            SlotState::Running => None,
        };
        drop(guard);
        drop(hold);
        drop_all(deferred);
        answer
    }

    /// The first ready outcome in completion order, or `NoPending` when none can come.
    fn try_next(&self) -> Option<Result<Response>> {
        let mut hold = None;
        let mut deferred = Vec::new();
        let answer = self.try_next_locked(&mut hold, &mut deferred);
        drop(hold);
        drop_all(deferred);
        answer
    }

    fn try_next_locked(
        &self,
        hold: &mut Option<Hold>,
        deferred: &mut Vec<Arc<FutureCell>>,
    ) -> Option<Result<Response>> {
        let mut guard = self.lock();
        let state = &mut *guard;
        *deferred = Self::take_deferred(state);
        if let Some(first) = Self::deliver_first_error(state, hold) {
            return Some(first);
        }
        while let Some(id) = state.ready.pop_front() {
            if let Some(slot) = state.slots.get_mut(id) {
                if let Some(outcome) = Self::deliver(slot, id, hold) {
                    state.ready_count = state.ready_count.saturating_sub(1);
                    return Some(outcome);
                }
            }
        }
        if state.running == 0 || state.closed {
            return Some(Err(Error::new(ErrorKind::NoPending)));
        }
        None
    }

    /// The next outcome if one is ready now; `None` if none is (requests may still be
    /// running: see [`has_pending`](Self::has_pending)).
    pub(crate) fn try_next_now(&self) -> Option<Result<Response>> {
        match self.try_next() {
            Some(Err(err)) if err.is_no_pending() => None,
            outcome => outcome,
        }
    }

    /// True once the outcome of `id` is ready (or already delivered).
    pub(crate) fn is_ready(&self, id: usize) -> bool {
        !matches!(
            self.lock().slots.get(id).map(|slot| &slot.state),
            Some(SlotState::Running)
        )
    }

    /// True while any outcome is still to be delivered (running or ready).
    pub(crate) fn has_pending(&self) -> bool {
        let state = self.lock();
        state.running + state.ready_count > 0
    }

    /// Ends request `id` unless its outcome was delivered already: its future is dropped
    /// (closing its connection) and its outcome, whatever it was, is never delivered.
    /// True if it was still running.
    pub(crate) fn cancel(&self, id: usize) -> bool {
        self.end(id, false)
    }

    /// Ends request `id` only if it is still running; true if it was.
    pub(crate) fn cancel_running(&self, id: usize) -> bool {
        self.end(id, true)
    }

    fn end(&self, id: usize, only_running: bool) -> bool {
        let mut leftovers = Leftovers::default();
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(slot) = state.slots.get_mut(id) else {
            return false;
        };
        if only_running && !matches!(slot.state, SlotState::Running) {
            return false;
        }
        let was_running = match slot.state {
            SlotState::Running => {
                state.running = state.running.saturating_sub(1);
                true
            }
            SlotState::Ready(_) => {
                state.ready_count = state.ready_count.saturating_sub(1);
                false
            }
            SlotState::Taken => false,
        };
        leftovers.add(slot);
        drop(guard);
        self.changed.notify(usize::MAX);
        drop(leftovers);
        was_running
    }

    /// Closes the table: no new requests; running requests and undelivered outcomes are
    /// handed back to be dropped (cancelled and closed) by the caller, outside the lock.
    pub(crate) fn close(&self) -> Leftovers {
        let mut leftovers = Leftovers::default();
        let mut guard = self.lock();
        let state = &mut *guard;
        state.closed = true;
        for slot in &mut state.slots {
            leftovers.add(slot);
        }
        leftovers.futures.append(&mut state.deferred);
        state.ready.clear();
        state.running = 0;
        state.ready_count = 0;
        drop(guard);
        self.changed.notify(usize::MAX);
        self.pressure.notify(usize::MAX);
        leftovers
    }

    /// True while request `id` runs (no outcome yet).
    pub(crate) fn is_running(&self, id: usize) -> bool {
        matches!(
            self.lock().slots.get(id).map(|slot| &slot.state),
            Some(SlotState::Running)
        )
    }

    /// What uncollected responses that will not give anything back by themselves hold:
    /// how many of them (to `origin`) have a body still on the wire, which holds its
    /// connection, and how many slots under the scope's limit they hold in all. Parked
    /// responses are not counted: they give both back when needed.
    pub(crate) fn held_by_uncollected(&self, origin: &url::Origin) -> (usize, usize) {
        let state = self.lock();
        let mut connections = 0;
        let mut slots = 0;
        for slot in &state.slots {
            let SlotState::Ready(delivery) = &slot.state else {
                continue;
            };
            if delivery.hold.parked.is_some() {
                continue;
            }
            if delivery.hold.permit.is_some() {
                slots += 1;
            }
            if let Ok(response) = &delivery.outcome {
                if !response.body_is_complete() && response.url().origin() == *origin {
                    connections += 1;
                }
            }
        }
        (connections, slots)
    }

    /// Requests waiting for a slot under the scope's limit right now.
    pub(crate) fn queued(&self) -> usize {
        self.slot_waiters.load(Ordering::Acquire)
    }

    /// Listens for a change in the pressure on the scope (see [`Outcomes::pressure`]).
    pub(crate) fn pressure(&self) -> EventListener {
        self.pressure.listen()
    }

    /// True while a collector waits for an outcome.
    pub(crate) fn collector_waits(&self) -> bool {
        self.blocked.load(Ordering::Acquire) > 0
    }

    /// True while a request waits for a slot under the scope's limit.
    pub(crate) fn slot_wanted(&self) -> bool {
        self.slot_waiters.load(Ordering::Acquire) > 0
    }

    /// Counts a request waiting for a slot under the scope's limit, until the guard drops.
    pub(crate) fn waiting_for_slot(&self) -> SlotWait<'_> {
        self.slot_waiters.fetch_add(1, Ordering::AcqRel);
        self.pressure.notify(usize::MAX);
        SlotWait(self)
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
/// `next_response`. Only the end of the scope, or [`cancel`](Self::cancel), cancels.
pub struct Pending {
    id: usize,
    outcomes: Arc<Outcomes>,
    meta: Arc<Meta>,
    watch: Option<Arc<StallWatch>>,
}

impl Pending {
    pub(crate) fn new(
        id: usize,
        outcomes: Arc<Outcomes>,
        meta: Arc<Meta>,
        watch: Option<Arc<StallWatch>>,
    ) -> Self {
        Self {
            id,
            outcomes,
            meta,
            watch,
        }
    }

    /// Waits for this request's response.
    ///
    /// # Errors
    ///
    /// The request's own error; [`ErrorKind::AlreadyCollected`] if `next_response`
    /// delivered this outcome already; [`ErrorKind::Cancelled`] if the scope has ended or
    /// the request was cancelled; [`ErrorKind::Stalled`] if the request can never
    /// progress because what it waits for (every connection to its host, or every slot
    /// under the scope's limit) is held by responses of the scope that were not collected
    /// and will not give it back by themselves (their bodies streaming, unread).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if the future is dropped before it completes, the outcome stays in
    /// the scope and `next_response` can still deliver it.
    pub async fn get_response(self) -> Result<Response> {
        let take = self.outcomes.take(self.id);
        let outcome = match &self.watch {
            None => take.await,
            Some(watch) => {
                let stalled =
                    async { Err(watch.stalled(&self.outcomes, self.id, &self.meta).await) };
                futures_lite::future::or(take, stalled).await
            }
        };
        outcome.map_err(|err| self.meta.name(err).with_origin(self.id, self.meta.tag()))
    }

    /// True once the outcome has arrived (or was delivered through `next_response`).
    pub fn is_ready(&self) -> bool {
        self.outcomes.is_ready(self.id)
    }

    /// The position of this request in its scope, counting from 0 in start order.
    pub fn index(&self) -> usize {
        self.id
    }

    /// Attaches `tag` to this request: its response or error gives it back
    /// (`Response::tag`, [`Error::tag`]), wherever it is collected. A tag set after the
    /// outcome was delivered is not seen.
    pub fn set_tag(&self, tag: Tag) {
        self.meta.set_tag(tag);
    }

    /// Cancels this request, unless its outcome was delivered already: its connection
    /// is closed before this returns, and its outcome is never delivered (nothing
    /// arrives for it through `next_response`). Returns true if it was still running.
    pub fn cancel(self) -> bool {
        self.outcomes.cancel(self.id)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> Response {
        let url = url::Url::parse("http://outcomes.test/").unwrap_or_else(|_| unreachable!());
        Response::new(
            Method::GET,
            url,
            http::StatusCode::OK,
            Default::default(),
            crate::message::response::ResponseBody::from("body"),
        )
    }

    fn delivery() -> Delivery {
        Delivery {
            outcome: Ok(response()),
            hold: Hold::default(),
        }
    }

    #[test]
    fn an_outcome_taken_back_to_finish_its_body_is_delivered_once_it_is_back() {
        let outcomes = Outcomes::new();
        let id = outcomes
            .add_running(Meta::new(None, None))
            .unwrap_or(usize::MAX);
        outcomes.complete(id, delivery());
        let reclaimed = outcomes.reclaim(id);
        assert!(reclaimed.is_some());
        // A collector looking meanwhile finds nothing, and must not lose the request.
        assert!(outcomes.try_next_now().is_none());
        assert!(outcomes.has_pending());
        assert!(!outcomes.is_ready(id));
        outcomes.complete(id, delivery());
        let delivered = outcomes.try_next_now();
        assert!(matches!(delivered, Some(Ok(ref r)) if r.index() == Some(id)));
        assert!(!outcomes.has_pending());
    }
}
