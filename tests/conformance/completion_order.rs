//! `next_response` yields outcomes in the order the responses complete. The server
//! decides that order (a switch per request, flipped by the test), so nothing here
//! depends on timing.

use std::sync::Arc;
use std::thread;

use crate::support::{ScriptedServer, Switches, WAIT};

/// Holds each request until the test turns on the switch named by its target, then
/// answers with the target as the body.
fn switched_server(switches: &Arc<Switches>) -> ScriptedServer {
    let switches = Arc::clone(switches);
    ScriptedServer::new(move |conn| {
        while let Some(request) = conn.read_request() {
            switches.wait_for(&request.target, WAIT);
            conn.write_all(&crate::support::ok(&request.target));
        }
    })
}

#[test]
fn next_response_follows_the_order_the_server_answers_in() {
    let switches = Switches::new();
    let server = switched_server(&switches);
    crate::rt::client()
        .parallel(|p| {
            for name in ["/a", "/b", "/c", "/d"] {
                p.get(server.url(name));
            }
            assert!(server.wait_until(|s| s.in_flight == 4, WAIT));
            for name in ["/c", "/a", "/d", "/b"] {
                switches.turn_on(name);
                assert_eq!(p.next_response()?.text()?, name);
            }
            assert!(p.next_response().unwrap_err().is_no_pending());
            Ok(())
        })
        .unwrap();
}

#[test]
fn next_response_takes_the_first_completed_even_if_its_handle_is_kept() {
    let switches = Switches::new();
    let server = switched_server(&switches);
    crate::rt::client()
        .parallel(|p| {
            let a = p.get(server.url("/a"));
            let b = p.get(server.url("/b"));
            assert!(server.wait_until(|s| s.in_flight == 2, WAIT));
            switches.turn_on("/b");
            assert_eq!(p.next_response()?.text()?, "/b");
            assert!(b.get_response().unwrap_err().is_already_collected());
            switches.turn_on("/a");
            assert_eq!(a.get_response()?.text()?, "/a");
            assert!(p.next_response().unwrap_err().is_no_pending());
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_handle_waits_for_its_own_outcome_and_leaves_the_others() {
    let switches = Switches::new();
    let server = switched_server(&switches);
    crate::rt::client()
        .parallel(|p| {
            let a = p.get(server.url("/a"));
            p.get(server.url("/b"));
            assert!(server.wait_until(|s| s.in_flight == 2, WAIT));
            // /b completes first; /a only once the server has answered /b.
            switches.turn_on("/b");
            thread::scope(|scope| {
                scope.spawn(|| {
                    server.wait_until(|s| s.in_flight == 1, WAIT);
                    switches.turn_on("/a");
                });
                assert_eq!(a.get_response()?.text()?, "/a");
                Ok::<_, par_http::Error>(())
            })?;
            assert_eq!(p.next_response()?.text()?, "/b");
            assert!(!p.has_pending_responses());
            Ok(())
        })
        .unwrap();
}

#[test]
fn errors_take_their_place_in_completion_order() {
    let switches = Switches::new();
    let server = switched_server(&switches);
    crate::rt::client()
        .parallel(|p| {
            p.get(server.url("/slow"));
            p.get(crate::support::closed_port_url());
            assert!(server.wait_until(|s| s.in_flight == 1, WAIT));
            let err = p.next_response().unwrap_err();
            assert!(err.is_connect(), "{err:?}");
            switches.turn_on("/slow");
            assert_eq!(p.next_response()?.text()?, "/slow");
            Ok(())
        })
        .unwrap();
}
