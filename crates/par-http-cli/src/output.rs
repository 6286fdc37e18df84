//! Where a response body goes: discarded (only counted), streamed to a file of the
//! output directory (`-o DIR`, named from the URL), or written whole to stdout
//! (`--stdout`). Also the file names: [`file_names`] makes a safe, unique name for every
//! URL of the run before anything is fetched.
//!
//! A file is written under a temporary name beside its own (`.NAME.part-PID`, see
//! [`part_path`]) and renamed when the body is whole, so a final name never holds a
//! partial body. Every temporary is listed in [`PARTS`] while it exists: on Ctrl-C,
//! [`interrupt`] removes them all and stops any new one from being made or renamed.
//!
//! Bodies written to stdout are watched for their last byte ([`stdout_at_line_start`]),
//! so that a report sharing the terminal with them can start its lines on a line of
//! their own.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use par_http::Url;

/// Read size for bodies: each read is one round trip to the client's runtime thread.
const CHUNK: usize = 64 * 1024;

/// How much of a body `--stdout` holds in memory before it waits for stdout and streams
/// the rest. Below it, bodies are written whole in the order they complete; above it,
/// in the order they reach the limit. Either way two bodies never interleave.
const STDOUT_BUFFER: usize = 8 * 1024 * 1024;

/// Names longer than this (in bytes) are cut.
const MAX_NAME: usize = 120;

/// Where one body goes.
#[derive(Debug, Clone)]
pub(crate) enum Destination {
    Discard,
    File(PathBuf),
    Stdout,
}

/// Why a body was not delivered.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Reading the response failed.
    Read(io::Error),
    /// Writing the body (file or stdout) failed: a local problem.
    Write(io::Error),
    /// The run was interrupted (Ctrl-C): the body's file is not kept.
    Interrupted,
}

/// The temporary files being written, and whether the run was interrupted.
#[derive(Debug)]
struct Parts {
    interrupted: bool,
    paths: Vec<PathBuf>,
}

/// Every temporary file of the run that exists now. Each is made, renamed and removed
/// under this lock, so that [`interrupt`] leaves none behind.
static PARTS: Mutex<Parts> = Mutex::new(Parts {
    interrupted: false,
    paths: Vec::new(),
});

fn parts() -> MutexGuard<'static, Parts> {
    PARTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ctrl-C: removes every temporary file and makes [`deliver`] refuse to make or rename
/// any other from now on. Returns how many were removed.
pub(crate) fn interrupt() -> usize {
    let mut parts = parts();
    parts.interrupted = true;
    let paths = std::mem::take(&mut parts.paths);
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    paths.len()
}

/// The temporary name a body for `path` is written under: `.NAME.part-PID` in the same
/// directory (so the rename cannot cross file systems). A final name never starts with
/// a dot (see `sanitize`), so it cannot be another URL's file.
pub(crate) fn part_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

/// Makes the temporary file `part`, listed in [`PARTS`] (not once interrupted).
fn create_part(part: &Path) -> Result<File, BodyError> {
    let mut parts = parts();
    if parts.interrupted {
        return Err(BodyError::Interrupted);
    }
    let file = File::create(part).map_err(BodyError::Write)?;
    parts.paths.push(part.to_owned());
    Ok(file)
}

/// Takes `part` off the list; renames it to `path` if `path` is given and the run was
/// not interrupted, else removes it.
fn finish_part(part: &Path, path: Option<&Path>) -> Result<(), BodyError> {
    let mut parts = parts();
    parts.paths.retain(|listed| listed != part);
    match path {
        Some(_) if parts.interrupted => {
            let _ = std::fs::remove_file(part);
            Err(BodyError::Interrupted)
        }
        Some(path) => std::fs::rename(part, path).map_err(|err| {
            let _ = std::fs::remove_file(part);
            BodyError::Write(err)
        }),
        None => {
            let _ = std::fs::remove_file(part);
            Ok(())
        }
    }
}

/// Reads the whole of `body` into `destination` and returns the body's length (the
/// progress bar counts bytes as the scope receives them, see `run::fetch_all`). A file is written under its [`part_path`] and renamed
/// when whole; a body that fails leaves no file.
pub(crate) fn deliver(body: &mut impl Read, destination: &Destination) -> Result<u64, BodyError> {
    match destination {
        Destination::Discard => copy(body, &mut io::sink()),
        Destination::File(path) => {
            let part = part_path(path);
            let file = create_part(&part)?;
            let mut file = BufWriter::with_capacity(CHUNK, file);
            let written = copy(body, &mut file).and_then(|n| {
                let file = file
                    .into_inner()
                    .map_err(|err| BodyError::Write(err.into_error()))?;
                drop(file);
                Ok(n)
            });
            match written {
                Ok(n) => finish_part(&part, Some(path)).map(|()| n),
                Err(err) => {
                    let _ = finish_part(&part, None);
                    Err(err)
                }
            }
        }
        Destination::Stdout => to_stdout(body),
    }
}

/// Copies `body` to `out`.
fn copy(body: &mut impl Read, out: &mut impl Write) -> Result<u64, BodyError> {
    let mut buf = vec![0; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(BodyError::Read(error)),
        };
        out.write_all(&buf[..n]).map_err(BodyError::Write)?;
        total += n as u64;
    }
    out.flush().map_err(BodyError::Write)?;
    Ok(total)
}

/// False while the last byte written to stdout by a body is not a newline.
static STDOUT_AT_LINE_START: AtomicBool = AtomicBool::new(true);

/// True unless the last byte a body wrote to stdout is other than a newline.
pub(crate) fn stdout_at_line_start() -> bool {
    STDOUT_AT_LINE_START.load(Ordering::SeqCst)
}

/// Notes that stdout's last line was ended (by the report writing a newline).
pub(crate) fn set_stdout_at_line_start() {
    STDOUT_AT_LINE_START.store(true, Ordering::SeqCst);
}

/// A writer that notes whether the last byte it wrote was a newline.
struct LastByte<W> {
    out: W,
}

impl<W: Write> Write for LastByte<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(&last) = buf[..n].last() {
            STDOUT_AT_LINE_START.store(last == b'\n', Ordering::SeqCst);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Buffers up to [`STDOUT_BUFFER`] of `body`, then writes it to stdout holding the stdout
/// lock until the body's end, so bodies never interleave.
fn to_stdout(body: &mut impl Read) -> Result<u64, BodyError> {
    let mut buffered = Vec::new();
    let mut buf = vec![0; CHUNK];
    let complete = loop {
        match body.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                buffered.extend_from_slice(&buf[..n]);
                if buffered.len() >= STDOUT_BUFFER {
                    break false;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(BodyError::Read(error)),
        }
    };
    let mut out = LastByte {
        out: io::stdout().lock(),
    };
    out.write_all(&buffered).map_err(BodyError::Write)?;
    let rest = if complete {
        out.flush().map_err(BodyError::Write)?;
        0
    } else {
        copy(body, &mut out)?
    };
    Ok(buffered.len() as u64 + rest)
}

/// A file name for each URL, in order: safe on any file system and unique in the run
/// (a repeated name gets `-1`, `-2`, ... before its extension).
pub(crate) fn file_names(urls: &[String]) -> Vec<String> {
    let mut taken = HashSet::new();
    urls.iter()
        .map(|url| {
            let name = name_from_url(url);
            let unique = if taken.contains(&name) {
                let (stem, ext) = split_extension(&name);
                (1..)
                    .map(|n| format!("{stem}-{n}{ext}"))
                    .find(|candidate| !taken.contains(candidate))
                    .unwrap_or_default()
            } else {
                name
            };
            taken.insert(unique.clone());
            unique
        })
        .collect()
}

/// The file in `dir` for each URL.
pub(crate) fn file_paths(dir: &Path, urls: &[String]) -> Vec<PathBuf> {
    file_names(urls)
        .into_iter()
        .map(|name| dir.join(name))
        .collect()
}

/// The last path segment of `url` and its query (both percent-decoded), sanitized;
/// `index.html` when the path ends in `/`, or the URL's text when it does not parse.
fn name_from_url(url: &str) -> String {
    let raw = match Url::parse(url) {
        Ok(parsed) => {
            let segment = parsed
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .unwrap_or_default();
            let segment = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            let mut name = if segment.is_empty() {
                "index.html".to_owned()
            } else {
                segment.into_owned()
            };
            if let Some(query) = parsed.query().filter(|q| !q.is_empty()) {
                name.push('_');
                name.push_str(&percent_encoding::percent_decode_str(query).decode_utf8_lossy());
            }
            name
        }
        Err(_) => url.to_owned(),
    };
    sanitize(&raw)
}

/// Keeps ASCII letters, digits and `.-_+=,@`; anything else becomes `_`. A leading dot
/// becomes `_` (no hidden files, no `.` or `..`), and the name is cut to [`MAX_NAME`].
fn sanitize(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+=,@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    if name.len() > MAX_NAME {
        // All ASCII by now, so any byte index is a char boundary.
        let (stem, ext) = split_extension(&name);
        let ext = if ext.len() <= 16 { ext } else { "" };
        name = format!("{}{ext}", &stem[..MAX_NAME.saturating_sub(ext.len())]);
    }
    if name.is_empty() {
        name.push_str("index.html");
    }
    name
}

/// `("a.tar", ".gz")` for `a.tar.gz`; `("name", "")` without an extension. A dot that
/// starts the name is not an extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(0) | None => (name, ""),
        Some(dot) => name.split_at(dot),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(urls: &[&str]) -> Vec<String> {
        file_names(&urls.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn names_from_urls() {
        assert_eq!(
            names(&[
                "http://a.test/files/report.pdf",
                "http://a.test/",
                "http://a.test/dir/",
                "http://a.test/search?q=rust lang&page=2",
                "http://a.test/a%20b%2F..%2Fc.txt",
                "http://a.test/..%2F..%2Fetc%2Fpasswd",
                "http://a.test/.hidden",
                "http://a.test/caf%C3%A9",
                "not a url/../x",
            ]),
            [
                "report.pdf",
                "index.html",
                "index-1.html",
                "search_q=rust_lang_page=2",
                "a_b_.._c.txt",
                "_._.._etc_passwd",
                "_hidden",
                "caf_",
                "not_a_url_.._x",
            ]
        );
    }

    #[test]
    fn collisions_get_a_suffix_before_the_extension() {
        assert_eq!(
            names(&[
                "http://a.test/x/data.json",
                "http://b.test/y/data.json",
                "http://a.test/data-1.json",
                "http://c.test/data.json",
                "http://a.test/README",
                "http://b.test/README",
            ]),
            [
                "data.json",
                "data-1.json",
                "data-1-1.json",
                "data-2.json",
                "README",
                "README-1",
            ]
        );
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let url = format!("http://a.test/{}.txt", "x".repeat(500));
        let name = &names(&[&url])[0];
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with("x.txt"));
    }

    #[test]
    fn discard_counts_bytes() {
        let mut body = &b"hello"[..];
        assert_eq!(deliver(&mut body, &Destination::Discard).unwrap(), 5);
    }

    #[test]
    fn a_failed_body_removes_its_file() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("cut"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let dir = std::env::temp_dir().join(format!("par-http-cli-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.bin");
        let result = deliver(&mut Broken(3), &Destination::File(path.clone()));
        assert!(matches!(result, Err(BodyError::Read(_))));
        assert!(!path.exists());
        assert!(!part_path(&path).exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
