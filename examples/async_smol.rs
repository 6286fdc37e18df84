//! The async scope on smol (the default feature).
//!
//! ```text
//! cargo run --example async_smol                    # offline: serves itself on 127.0.0.1
//! cargo run --example async_smol -- URL [URL ...]   # fetch these URLs in parallel
//! ```
//!
//! It starts every request with `parallel.get(url).await`, then takes the responses as a
//! `Stream`, in the order they complete. Dropping the scope would cancel what is left.

#[path = "demo_server/mod.rs"]
mod demo_server;

use std::time::Instant;

use futures_lite::StreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        urls = demo_server::demo_urls(demo_server::start_demo_server()?);
    }
    futures_lite::future::block_on(async {
        let client = par_http::smol::AsyncClient::new();
        let started = Instant::now();
        let mut parallel = client.parallel();
        for url in &urls {
            // Returns at once: a request over the scope's limit (none here) waits in line.
            parallel.get(url.as_str()).await;
        }
        while let Some(outcome) = parallel.next().await {
            let elapsed = started.elapsed().as_millis();
            match outcome {
                Ok(response) => {
                    let url = response.url().to_string();
                    let status = response.status();
                    let size = response.bytes().await?.len();
                    println!("{elapsed:>5} ms  {status}  {size:>7} bytes  {url}");
                }
                Err(err) => println!("{elapsed:>5} ms  error: {err}"),
            }
        }
        Ok(())
    })
}
