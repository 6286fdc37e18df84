//! The async scope on tokio.
//!
//! ```text
//! cargo run --example async_tokio --features tokio                    # offline
//! cargo run --example async_tokio --features tokio -- URL [URL ...]
//! ```
//!
//! Requests run on the application's own tokio runtime. It starts every request, then
//! collects each response through its handle, in start order, with a limit of four
//! requests in flight (the fifth and later wait in line in the background; starting
//! them never waits).

#[path = "demo_server/mod.rs"]
mod demo_server;

use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        urls = demo_server::demo_urls(demo_server::start_demo_server()?);
    }
    let client = par_http::tokio::AsyncClient::new();
    let started = Instant::now();
    let parallel = client.parallel_with(par_http::ParallelConfig::new().max_in_flight(4));
    let mut handles = Vec::new();
    for url in &urls {
        handles.push(parallel.get(url.as_str()).await);
    }
    for handle in handles {
        let elapsed = started.elapsed().as_millis();
        match handle.get_response().await {
            Ok(response) => {
                let url = response.url().to_string();
                let status = response.status();
                let text = response.text().await?;
                println!("{elapsed:>5} ms  {status}  {text:<16}  {url}");
            }
            Err(err) => println!("{elapsed:>5} ms  error: {err}"),
        }
    }
    parallel.close().await;
    Ok(())
}
