//! A minimal keep-alive HTTP/1.1 server on 127.0.0.1 that the examples start in-process,
//! so that they run offline. Shared by the examples through `#[path]`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// The delays, in milliseconds, of the URLs the examples fetch.
pub const DELAYS_MS: [u64; 10] = [300, 50, 250, 0, 200, 100, 150, 20, 350, 80];

/// `http://ADDR/delay/N` for every delay of [`DELAYS_MS`].
pub fn demo_urls(addr: SocketAddr) -> Vec<String> {
    DELAYS_MS
        .iter()
        .map(|ms| format!("http://{addr}/delay/{ms}"))
        .collect()
}

/// Starts a minimal keep-alive HTTP/1.1 server on 127.0.0.1 for the demo: `/delay/N`
/// answers `waited N ms` after N milliseconds (capped at 5 s), anything else is 404.
pub fn start_demo_server() -> std::io::Result<SocketAddr> {
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
