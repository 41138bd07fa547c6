//! `serve`: the page (www/), the model files (weights/) and DISCUSSION.md
//! (which the page links) over HTTP on
//! loopback, with the headers the page needs: the right MIME types,
//! cross-origin isolation (COOP/COEP, so wasm threads can come later) and a
//! Content-Security-Policy that allows nothing but the page's own origin.
//!
//! A deliberately small HTTP/1.1 server: GET and HEAD of static files, one
//! thread per connection, one request per connection (`Connection: close`),
//! so no response ever waits behind another.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sentence_multitask::{Error, Result};

const DEFAULT_WWW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www");
const DEFAULT_WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights");

/// Only the page's own origin, for everything; wasm may compile.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
     style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Longest request head read (request line plus headers).
const MAX_HEAD_BYTES: u64 = 16 * 1024;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on. The default answers this machine only; give
    /// 0.0.0.0 to let other machines in.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one; the URL printed says which).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
    /// The page's files.
    #[arg(long, default_value = DEFAULT_WWW)]
    www: PathBuf,
    /// Model files, served under /weights/.
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    for dir in [&args.www, &args.weights] {
        if !dir.is_dir() {
            return Err(Error::InvalidArgument {
                what: format!("directory {}", dir.display()),
                reason: "does not exist".into(),
            });
        }
    }
    if !args.www.join("pkg").is_dir() {
        eprintln!(
            "warning: {} has no pkg/ (the wasm build): run `make web` first",
            args.www.display()
        );
    }
    let listener =
        TcpListener::bind((args.host.as_str(), args.port)).map_err(|e| Error::InvalidArgument {
            what: format!("address {}:{}", args.host, args.port),
            reason: format!("cannot listen there ({e})"),
        })?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("listening socket"))?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    println!(
        "Serving the page on http://{host}:{}/ (Ctrl-C stops)",
        addr.port()
    );
    std::io::stdout().flush().map_err(Error::io("stdout"))?;
    let roots = Arc::new(Roots {
        www: args.www,
        weights: args.weights,
    });
    for stream in listener.incoming().flatten() {
        let roots = Arc::clone(&roots);
        std::thread::spawn(move || {
            // A client that goes away mid-answer is no error of ours.
            let _ = roots.answer(stream);
        });
    }
    Ok(())
}

/// The two directories served.
struct Roots {
    www: PathBuf,
    weights: PathBuf,
}

/// What a request asks for.
struct Request {
    method: String,
    target: String,
    if_none_match: Option<String>,
    accepts_gzip: bool,
}

/// Reads the request line and headers; `None` if they are not HTTP.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD_BYTES));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    parts.next()?.starts_with("HTTP/").then_some(())?;
    let mut if_none_match = None;
    let mut accepts_gzip = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("if-none-match") {
                if_none_match = Some(value.trim().to_string());
            }
            if name.eq_ignore_ascii_case("accept-encoding") {
                accepts_gzip |= value.split(',').any(|c| c.trim().starts_with("gzip"));
            }
        }
    }
    Some(Request {
        method,
        target,
        if_none_match,
        accepts_gzip,
    })
}

impl Roots {
    /// The file a URL path names, or `None` for anything outside the roots:
    /// `..`, hidden files, odd characters.
    fn resolve(&self, target: &str) -> Option<PathBuf> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let rest = path.strip_prefix('/')?;
        let rest = if rest.is_empty() || rest.ends_with('/') {
            format!("{rest}index.html")
        } else {
            rest.to_string()
        };
        let safe = rest.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
        if !safe {
            return None;
        }
        if rest == "DISCUSSION.md" {
            // The page links the project's write-up on what to freeze and why.
            return Some(self.www.parent()?.join(rest));
        }
        // Links written from the repository's top (DISCUSSION.md's charts) resolve too.
        let rest = rest.strip_prefix("www/").unwrap_or(&rest);
        Some(match rest.strip_prefix("weights/") {
            Some(file) => self.weights.join(file),
            None => self.www.join(rest),
        })
    }

    fn answer(&self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let Some(request) = read_request(&stream) else {
            return respond_text(&mut stream, "400 Bad Request", "not an HTTP request");
        };
        if request.method != "GET" && request.method != "HEAD" {
            return respond_text(
                &mut stream,
                "405 Method Not Allowed",
                "only GET and HEAD are served",
            );
        }
        let Some(path) = self.resolve(&request.target) else {
            return respond_text(&mut stream, "404 Not Found", "not found");
        };
        let Some((meta, file)) = open_file(&path) else {
            return respond_text(&mut stream, "404 Not Found", "not found");
        };
        // `make web` writes NAME.gz beside the wasm: sent instead when the
        // client takes gzip and it is not older than the file it compresses.
        let gzipped = (request.accepts_gzip)
            .then(|| open_file(&path.with_extension(gz_extension(&path))))
            .flatten()
            .filter(|(gz, _)| gz.modified().ok() >= meta.modified().ok());
        let (meta, mut file, encoding) = match gzipped {
            Some((gz, file)) => (gz, file, "Content-Encoding: gzip\r\n"),
            None => (meta, file, ""),
        };
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{:x}-{:x}\"", meta.len(), modified);
        let headers = format!(
            "Content-Type: {}\r\nETag: {etag}\r\nCache-Control: no-cache\r\n\
             Vary: Accept-Encoding\r\n{encoding}",
            mime_type(&path)
        );
        if request.if_none_match.as_deref() == Some(etag.as_str()) {
            return write_head(&mut stream, "304 Not Modified", &headers, 0);
        }
        write_head(&mut stream, "200 OK", &headers, meta.len())?;
        if request.method == "GET" {
            std::io::copy(&mut file, &mut stream)?;
        }
        stream.flush()
    }
}

/// A regular file's metadata and handle, if `path` is one.
fn open_file(path: &Path) -> Option<(std::fs::Metadata, File)> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((meta, file))
}

/// `wasm.gz` for `x.wasm`: the extension of the precompressed copy.
fn gz_extension(path: &Path) -> String {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    format!("{ext}.gz")
}

/// Status line, the given headers, the headers every answer carries, and the length.
fn write_head(
    stream: &mut TcpStream,
    status: &str,
    headers: &str,
    len: u64,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {len}\r\nConnection: close\r\n\
         Content-Security-Policy: {CSP}\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\n\
         Cross-Origin-Embedder-Policy: require-corp\r\n\
         Cross-Origin-Resource-Policy: same-origin\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\n\r\n"
    );
    stream.write_all(head.as_bytes())
}

fn respond_text(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let headers = "Content-Type: text/plain; charset=utf-8\r\n";
    write_head(stream, status, headers, body.len() as u64)?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// MIME type by extension; `.wasm` must be `application/wasm` for streaming compilation.
fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "md" | "txt" => "text/plain; charset=utf-8",
        "jsonl" => "application/x-ndjson",
        _ => "application/octet-stream",
    }
}
