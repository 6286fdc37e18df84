//! Fuzz target `response_head`: see `par_http_fuzz::check_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    par_http_fuzz::check_head(data);
});
