//! The `tracing` feature: each request of a scope gets a `par_http.request` span with its
//! method, URL, scope, index, status and attempts, and the connection, the first byte and
//! the end of the body are events inside it. Checked with a subscriber that records
//! everything, installed as the global default in a process of its own.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::support::{ScriptedServer, response};

/// A span: its name and fields as text.
#[derive(Debug, Default, Clone)]
struct SpanRecord {
    name: String,
    fields: HashMap<String, String>,
}

/// What the subscriber saw: spans by id, and each event's message with its span.
#[derive(Default)]
struct Seen {
    spans: HashMap<u64, SpanRecord>,
    events: Vec<(Option<u64>, String)>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
    next: Arc<AtomicU64>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut record = SpanRecord {
            name: span.metadata().name().to_owned(),
            fields: HashMap::new(),
        };
        span.record(&mut Fields(&mut record.fields));
        self.seen.lock().unwrap().spans.insert(id, record);
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.seen.lock().unwrap();
        if let Some(record) = seen.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut record.fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = event
            .parent()
            .map(Id::into_u64)
            .or_else(|| CURRENT.with(|current| current.borrow().last().copied()));
        let message = fields.remove("message").unwrap_or_default();
        self.seen.lock().unwrap().events.push((parent, message));
    }
    fn enter(&self, span: &Id) {
        CURRENT.with(|current| current.borrow_mut().push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            if let Some(at) = current.iter().rposition(|id| *id == span.into_u64()) {
                current.remove(at);
            }
        });
    }
}

#[test]
fn each_request_of_a_scope_has_a_span_with_its_fields_and_events() {
    if let Some(passed) = crate::support::isolated(
        module_path!(),
        "each_request_of_a_scope_has_a_span_with_its_fields_and_events",
    ) {
        assert!(passed);
        return;
    }
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();
    let server = ScriptedServer::new(|conn| {
        while let Some(request) = conn.read_request() {
            if request.target == "/gone" {
                conn.close();
                return;
            }
            conn.write_all(&response(201, &[], b"traced"));
        }
    });
    let client = crate::rt::client();
    client
        .parallel(|p| {
            let ok = p.get(server.url("/traced"));
            let gone = p.get(server.url("/gone"));
            assert_eq!(ok.get_response()?.text()?, "traced");
            assert!(gone.get_response().is_err());
            Ok(())
        })
        .unwrap();

    let seen = recorder.seen.lock().unwrap();
    let requests: Vec<_> = seen
        .spans
        .iter()
        .filter(|(_, span)| span.name == "par_http.request")
        .collect();
    assert_eq!(requests.len(), 2, "{:?}", seen.spans);
    let (ok_id, ok) = requests
        .iter()
        .find(|(_, span)| {
            span.fields
                .get("url")
                .is_some_and(|u| u.ends_with("/traced"))
        })
        .expect("a span for /traced");
    assert_eq!(ok.fields.get("method").map(String::as_str), Some("GET"));
    assert_eq!(ok.fields.get("status").map(String::as_str), Some("201"));
    assert_eq!(ok.fields.get("attempts").map(String::as_str), Some("1"));
    assert!(ok.fields.contains_key("scope") && ok.fields.contains_key("index"));
    let ok_events: Vec<_> = seen
        .events
        .iter()
        .filter(|(parent, _)| *parent == Some(**ok_id))
        .map(|(_, message)| message.as_str())
        .collect();
    for expected in [
        "par-http: sent",
        "par-http: connected",
        "par-http: response head",
        "par-http: body done",
    ] {
        assert!(ok_events.contains(&expected), "{expected}: {ok_events:?}");
    }
    let (_, gone) = requests
        .iter()
        .find(|(_, span)| span.fields.get("url").is_some_and(|u| u.ends_with("/gone")))
        .expect("a span for /gone");
    assert!(gone.fields.contains_key("error"), "{gone:?}");
}
