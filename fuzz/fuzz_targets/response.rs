//! Fuzz target `response`: see `par_http_fuzz::check_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    par_http_fuzz::check_response(data);
});
