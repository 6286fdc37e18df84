//! Fetch one URL, curl -sS style: the body goes to stdout, `HTTP/1.1 <status>` to
//! stderr, and a failure exits non-zero with the error's message.
//!
//! ```text
//! cargo run --example get -- http://127.0.0.1:8080/
//! ```

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: get URL");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Add the causes to the message, skipping any it already spells out.
            let mut message = err.to_string();
            let mut source = err.source();
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !message.contains(&cause_text) {
                    message.push_str(&format!(": {cause_text}"));
                }
                source = cause.source();
            }
            eprintln!("get: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = par_http::Client::new();
    let mut response = client.get(url).send()?;
    eprintln!("{:?} {}", response.version(), response.status());
    let mut stdout = std::io::stdout().lock();
    std::io::copy(&mut response, &mut stdout)?;
    stdout.flush()?;
    Ok(())
}
