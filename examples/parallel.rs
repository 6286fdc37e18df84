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

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const DELAYS_MS: [u64; 10] = [300, 50, 250, 0, 200, 100, 150, 20, 350, 80];

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
    let addr = start_demo_server()?;
    let urls: Vec<String> = DELAYS_MS
        .iter()
        .map(|ms| format!("http://{addr}/delay/{ms}"))
        .collect();

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

/// Starts a minimal keep-alive HTTP/1.1 server on 127.0.0.1 for the demo: `/delay/N`
/// answers `waited N ms` after N milliseconds (capped at 5 s), anything else is 404.
fn start_demo_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve_connection(stream));
        }
    });
    Ok(addr)
}

fn serve_connection(stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Skip the header fields (the demo's requests have no body).
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {}
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/");
        let (status, body) = match path.strip_prefix("/delay/").map(str::parse::<u64>) {
            Some(Ok(ms)) => {
                thread::sleep(Duration::from_millis(ms.min(5_000)));
                ("200 OK", format!("waited {ms} ms"))
            }
            _ => ("404 Not Found", String::from("try /delay/N")),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
