//! Replays every corpus file (and every regression input under `regressions/`) through
//! the checks of the fuzz targets, on stable Rust: the targets' property as a plain test.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{} fails the {target} check",
                path.display()
            );
            count += 1;
        }
    }
    count
}

#[test]
fn response_head_corpus() {
    assert!(replay("response_head", par_http_fuzz::check_head) > 0);
}

#[test]
fn chunked_corpus() {
    assert!(replay("chunked", par_http_fuzz::check_chunked) > 0);
}

#[test]
fn response_corpus() {
    assert!(replay("response", par_http_fuzz::check_response) > 0);
}
