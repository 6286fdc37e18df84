//! Fetch many URLs at once, in one `par_http::parallel` scope.
//!
//! ```text
//! cargo run --example parallel                    # offline: serves itself on 127.0.0.1
//! cargo run --example parallel -- URL [URL ...]   # fetch these URLs in parallel
//! ```
//!
//! Offline, the example starts a tiny HTTP/1.1 server whose `/delay/N` answers after N
//! milliseconds. It fetches ten such URLs in one scope and prints them in the order they
//! complete (`next_response`), then fetches them again and prints each through its own
//! handle (`get_response`), in the order they were started.

#[path = "demo_server/mod.rs"]
mod demo_server;

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        offline_demo()
    } else {
        fetch_all(&urls)
    }
}

/// Fetches `urls` in parallel and prints status and size per URL, in argument order.
fn fetch_all(urls: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let lines = par_http::parallel(|p| {
        let pending: Vec<_> = urls.iter().map(|url| (url, p.get(url.as_str()))).collect();
        let mut lines = Vec::new();
        for (url, pending) in pending {
            let line = match pending.get_response().and_then(|r| {
                let status = r.status();
                Ok((status, r.bytes()?.len()))
            }) {
                Ok((status, size)) => format!("{status}  {size:>9} bytes  {url}"),
                Err(err) => format!("error  {url}: {err}"),
            };
            lines.push(line);
        }
        Ok(lines)
    })?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn offline_demo() -> Result<(), Box<dyn std::error::Error>> {
    let urls = demo_server::demo_urls(demo_server::start_demo_server()?);

    println!("== in completion order (next_response) ==");
    let started = Instant::now();
    par_http::parallel(|p| {
        for url in &urls {
            p.get(url.as_str());
        }
        while p.has_pending_responses() {
            let response = p.next_response()?;
            let url = response.url().to_string();
            let body = response.text()?;
            println!("{:>5} ms  {url}  {body}", started.elapsed().as_millis());
        }
        Ok(())
    })?;

    println!("== through each handle, in start order (get_response) ==");
    let started = Instant::now();
    par_http::parallel(|p| {
        let handles: Vec<_> = urls.iter().map(|url| p.get(url.as_str())).collect();
        for handle in handles {
            match handle.get_response() {
                Ok(response) => {
                    let status = response.status();
                    let body = response.text()?;
                    println!("{:>5} ms  {status}  {body}", started.elapsed().as_millis());
                }
                Err(err) => println!("error: {err}"),
            }
        }
        Ok(())
    })?;
    println!("(the whole scope took about as long as its slowest request)");
    Ok(())
}
