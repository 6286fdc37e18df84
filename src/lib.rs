//! The par-http conformance suite and examples live in `tests/` and `examples/` of this
//! (unpublished) package; this library is intentionally empty.
#![forbid(unsafe_code)]
