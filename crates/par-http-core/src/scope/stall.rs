//! How a caller waiting for one request tells that it can never be answered.
//!
//! A scope frees what its uncollected responses hold when a caller needs it (see
//! `scope.rs`): a parked body is read into memory and gives its connection and slot back.
//! A response the caller asked to `stream()` is not read behind its back, so if every
//! connection to a host, or every slot under the scope's limit, is held by such responses
//! while the caller waits for another request that needs one, nothing can ever end the
//! wait. [`StallWatch`] finds that state while a `get_response` waits, and ends the
//! request with a typed [`ErrorKind::Stalled`] error that says what holds the
//! connections, instead of a hang.
//!
//! Over HTTP/2 the same happens one level down: a request waits for a *stream* (the
//! server allows `SETTINGS_MAX_CONCURRENT_STREAMS` at once on each connection, and the
//! per-host cap allows no more connections), and uncollected streamed responses hold
//! every one. The dispatch counts the streams ([`ConnectionCounts::stream_capacity`],
//! `streams_active`, `streams_waiting`); a request is stalled when one waits for a
//! stream, the uncollected responses number at least the streams allowed, and no other
//! stream is in use (a stream in use by anyone else will end and free its slot).
//!
//! [`ConnectionCounts::stream_capacity`]: crate::ConnectionCounts::stream_capacity

use std::time::Duration;

use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::scope::pending::{Meta, Outcomes};

/// How often a waiting `get_response` looks; a request is stalled after two looks in a
/// row find it so (another thread may be collecting the responses that hold it).
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// What a waiting `get_response` needs to judge a stall: the client's dispatch (its
/// connection counts), its timers, and the scope's limit.
#[derive(Debug)]
pub(crate) struct StallWatch {
    pub(crate) client: Client,
    pub(crate) max_in_flight: Option<usize>,
}

impl StallWatch {
    /// Completes only when request `id` is stalled: it has been ended then, and this is
    /// its error.
    pub(crate) async fn stalled(&self, outcomes: &Outcomes, id: usize, meta: &Meta) -> Error {
        let mut strikes = 0;
        loop {
            self.client.runtime().sleep(LOOK_EVERY).await;
            match self.reason(outcomes, id, meta) {
                Some(reason) => {
                    strikes += 1;
                    if strikes >= 2 && outcomes.cancel_running(id) {
                        return meta.name(Error::new(ErrorKind::Stalled).with_source(reason));
                    }
                }
                None => strikes = 0,
            }
        }
    }

    /// Why request `id` cannot progress, if it cannot.
    fn reason(&self, outcomes: &Outcomes, id: usize, meta: &Meta) -> Option<String> {
        if !outcomes.is_running(id) {
            return None;
        }
        let url = meta.url()?;
        let origin = url.origin();
        let (connections, slots) = outcomes.held_by_uncollected(&origin);
        if let Some(limit) = self.max_in_flight {
            if slots >= limit {
                return Some(format!(
                    "every slot under the scope's max_in_flight ({limit}) is held by a \
                     response that was not collected, its body unread; collect those \
                     responses first, or read them in another order"
                ));
            }
        }
        if connections == 0 {
            return None;
        }
        let counts = self.client.dispatch().connections(&url)?;
        let streams_held = counts.stream_capacity > 0
            && connections >= counts.stream_capacity
            && counts.streams_active <= connections;
        if counts.streams_waiting > 0 && streams_held {
            return Some(format!(
                "every HTTP/2 stream to {} ({} at once, as the server allows, on {} \
                 connection(s), the client's per-host cap) is held by a response of this \
                 scope that was not collected, its body still on the wire; collect those \
                 responses first, or raise max_connections_per_host",
                origin.ascii_serialization(),
                counts.stream_capacity,
                counts.open
            ));
        }
        (counts.waiting > 0 && counts.idle == 0 && counts.open <= connections).then(|| {
            format!(
                "every connection to {} ({} open, the client's per-host cap) is held by a \
                 response of this scope that was not collected, its body still on the \
                 wire; collect those responses first, or raise max_connections_per_host",
                origin.ascii_serialization(),
                counts.open
            )
        })
    }
}
