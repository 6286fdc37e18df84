//! Fuzz target `chunked`: see `par_http_fuzz::check_chunked`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    par_http_fuzz::check_chunked(data);
});
