//! `serve`: the page (www/) and the model files (weights/) over HTTP on
//! loopback, with the headers the page needs: the right MIME types,
//! cross-origin isolation (COOP/COEP, so wasm threads can come later) and a
//! Content-Security-Policy that allows nothing but the page's own origin.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use sentence_multitask::{Error, Result};
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

const DEFAULT_WWW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www");
const DEFAULT_WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights");

/// Requests served at once (a large weight file must not hold up the page).
const WORKERS: usize = 4;

/// Only the page's own origin, for everything; wasm may compile.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
     style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

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
    let server = Server::http((args.host.as_str(), args.port)).map_err(|e| {
        Error::InvalidArgument {
            what: format!("address {}:{}", args.host, args.port),
            reason: format!("cannot listen there ({e})"),
        }
    })?;
    let addr = server.server_addr().to_ip().ok_or_else(|| Error::InvalidArgument {
        what: "address".into(),
        reason: "not an IP address".into(),
    })?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    println!("Serving the page on http://{host}:{}/ (Ctrl-C stops)", addr.port());
    std::io::stdout().flush().map_err(Error::io("stdout"))?;
    let server = Arc::new(server);
    let roots = Arc::new(Roots {
        www: args.www,
        weights: args.weights,
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, roots) = (Arc::clone(&server), Arc::clone(&roots));
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    roots.answer(request);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// The two directories served.
struct Roots {
    www: PathBuf,
    weights: PathBuf,
}

impl Roots {
    /// The file a URL path names, or `None` for anything outside the roots:
    /// `..`, hidden files, odd characters.
    fn resolve(&self, url: &str) -> Option<PathBuf> {
        let path = url.split(['?', '#']).next().unwrap_or("");
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
        Some(match rest.strip_prefix("weights/") {
            Some(file) => self.weights.join(file),
            None => self.www.join(rest),
        })
    }

    fn answer(&self, request: Request) {
        let response = match request.method() {
            Method::Get | Method::Head => self.file_response(&request),
            _ => text(405, "only GET and HEAD are served"),
        };
        let _ = request.respond(with_policy(response));
    }

    fn file_response(&self, request: &Request) -> Response<Box<dyn std::io::Read + Send>> {
        let Some(path) = self.resolve(request.url()) else {
            return text(404, "not found");
        };
        let Ok(file) = File::open(&path) else {
            return text(404, "not found");
        };
        let Ok(meta) = file.metadata() else {
            return text(404, "not found");
        };
        if !meta.is_file() {
            return text(404, "not found");
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{:x}-{:x}\"", meta.len(), modified);
        let unchanged = request
            .headers()
            .iter()
            .any(|h| h.field.equiv("If-None-Match") && h.value.as_str() == etag);
        let response = if unchanged {
            Response::new(StatusCode(304), vec![], empty(), Some(0), None)
        } else {
            let len = meta.len() as usize;
            let body: Box<dyn std::io::Read + Send> = if request.method() == &Method::Head {
                empty()
            } else {
                Box::new(file)
            };
            // Sized bodies keep Content-Length (the page's progress bar reads it).
            Response::new(StatusCode(200), vec![], body, Some(len), None)
                .with_chunked_threshold(usize::MAX)
        };
        response
            .with_header(header("Content-Type", mime_type(&path)))
            .with_header(header("ETag", &etag))
            .with_header(header("Cache-Control", "no-cache"))
    }
}

fn empty() -> Box<dyn std::io::Read + Send> {
    Box::new(std::io::empty())
}

fn text(status: u16, body: &str) -> Response<Box<dyn std::io::Read + Send>> {
    let bytes = body.as_bytes().to_vec();
    let len = bytes.len();
    Response::new(
        StatusCode(status),
        vec![header("Content-Type", "text/plain; charset=utf-8")],
        Box::new(std::io::Cursor::new(bytes)),
        Some(len),
        None,
    )
}

/// Adds the headers every answer carries.
fn with_policy<R: std::io::Read>(response: Response<R>) -> Response<R> {
    response
        .with_header(header("Content-Security-Policy", CSP))
        .with_header(header("Cross-Origin-Opener-Policy", "same-origin"))
        .with_header(header("Cross-Origin-Embedder-Policy", "require-corp"))
        .with_header(header("Cross-Origin-Resource-Policy", "same-origin"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Referrer-Policy", "no-referrer"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
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
