//! What is served: which directory a URL path names, which paths are refused,
//! and the headers that go with the answer.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Every answer's body: a file streamed by `ServeDir`, or a short text.
pub(crate) type Body = UnsyncBoxBody<Bytes, io::Error>;

/// Only the page's own origin, for everything; wasm may compile.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
     style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Beside a gzip'd answer's `Content-Length` (the compressed size), the
/// file's own: the page counts its download progress in the bytes it reads.
const DECODED_LENGTH: header::HeaderName = header::HeaderName::from_static("x-decoded-length");

/// The headers every answer to the page carries. COOP and COEP make the page
/// cross-origin isolated (the Stop button of training needs a
/// SharedArrayBuffer); `no-cache` makes the browser revalidate each file
/// (a 304 when unchanged) instead of running an old wasm with a new page.
const PAGE_HEADERS: [(header::HeaderName, &str); 8] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        header::HeaderName::from_static("cross-origin-embedder-policy"),
        "require-corp",
    ),
    (
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-cache"),
    (header::VARY, "accept-encoding"),
];

/// What to serve.
#[derive(Clone, Debug)]
pub enum Site {
    /// The page: `www` at `/`, `weights` at `/weights/`, `DISCUSSION.md` and
    /// the charts it shows (`studies/docs/`) from `www`'s parent, with the
    /// page's headers and gzip copies.
    Page { www: PathBuf, weights: PathBuf },
    /// One directory as any static host would serve it: no other routes, no
    /// gzip copies, none of the page's headers (to check `make dist`).
    Plain { root: PathBuf },
}

/// A served directory.
struct Root {
    dir: PathBuf,
    files: ServeDir,
}

impl Root {
    fn new(dir: &Path, gzip: bool) -> Root {
        let files = ServeDir::new(dir);
        Root {
            dir: dir.to_path_buf(),
            files: if gzip {
                files.precompressed_gzip()
            } else {
                files
            },
        }
    }
}

/// The page's other roots beside `www`.
struct PageRoots {
    weights: Root,
    /// `www`'s parent, for `/DISCUSSION.md` and `/studies/docs/` only.
    top: Root,
}

/// Answers requests for a [`Site`].
pub(crate) struct Files {
    www: Root,
    page: Option<PageRoots>,
}

impl Files {
    pub(crate) fn new(site: &Site) -> Files {
        match site {
            Site::Page { www, weights } => Files {
                www: Root::new(www, true),
                page: Some(PageRoots {
                    weights: Root::new(weights, true),
                    top: Root::new(www.parent().unwrap_or(www), false),
                }),
            },
            Site::Plain { root } => Files {
                www: Root::new(root, false),
                page: None,
            },
        }
    }

    /// Whether answers get the page's headers.
    pub(crate) fn is_page(&self) -> bool {
        self.page.is_some()
    }

    /// The answer to one request: the file its path names, or 404.
    pub(crate) async fn answer<B: Send + 'static>(
        &self,
        mut request: Request<B>,
    ) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let Some((root, rel)) = self.route(&path) else {
            return text(StatusCode::NOT_FOUND, "not found");
        };
        let file = root.dir.join(with_index(rel));
        if self.is_page() && gzip_copy_is_stale(&file).await {
            request.headers_mut().remove(header::ACCEPT_ENCODING);
        }
        *request.uri_mut() = Uri::try_from(format!("/{rel}")).expect("a plain path is a URI");
        let Ok(response) = root.files.clone().oneshot(request).await;
        let mut response = response.map(BodyExt::boxed_unsync);
        if response.status().is_success() {
            if let Some(mime) = mime_type(&file) {
                let value = HeaderValue::from_static(mime);
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            if response.headers().contains_key(header::CONTENT_ENCODING) {
                if let Ok(meta) = tokio::fs::metadata(&file).await {
                    let length = HeaderValue::from(meta.len());
                    response.headers_mut().insert(DECODED_LENGTH, length);
                }
            }
        }
        response
    }

    /// The root and the path inside it that a URL path names, or `None` for
    /// anything that could leave the roots (see [`is_plain_path`]).
    fn route<'a>(&'a self, path: &'a str) -> Option<(&'a Root, &'a str)> {
        let rest = path.strip_prefix('/')?;
        if !is_plain_path(rest) {
            return None;
        }
        let Some(page) = &self.page else {
            return Some((&self.www, rest));
        };
        if rest == "DISCUSSION.md" || rest.starts_with("studies/docs/") {
            // The page links the project's write-up on what to freeze and
            // why, which shows the studies' charts by their repository paths.
            return Some((&page.top, rest));
        }
        Some(match rest.strip_prefix("weights/") {
            Some(file) => (&page.weights, file),
            None => (&self.www, rest),
        })
    }
}

/// Adds [`PAGE_HEADERS`], replacing any of the same name.
pub(crate) fn add_page_headers(headers: &mut HeaderMap) {
    for (name, value) in PAGE_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Whether a path (without its leading `/`) is one the server may answer:
/// segments of ASCII letters, digits, `.`, `_` and `-` that do not start
/// with a dot (so no `..`, no hidden files, no percent-escapes that
/// `ServeDir` would decode), the last one empty for a directory's index.
fn is_plain_path(rest: &str) -> bool {
    let segments: Vec<&str> = rest.split('/').collect();
    let (last, inner) = segments.split_last().expect("split yields one at least");
    let plain = |s: &&str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    inner.iter().all(plain) && (last.is_empty() || plain(last))
}

/// `index.html` for a directory's path (empty or ending in `/`), as `ServeDir` does.
fn with_index(rel: &str) -> String {
    if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_string()
    }
}

/// Whether `FILE.gz` exists and is older than `FILE`. `make web` writes gzip
/// copies of the wasm and the weights; `ServeDir` would send one even after a
/// rebuild (or new weights) without `make web`, so an old copy is not offered
/// (the request's `Accept-Encoding` is dropped and the file goes as it is).
async fn gzip_copy_is_stale(file: &Path) -> bool {
    let mut gz = file.as_os_str().to_owned();
    gz.push(".gz");
    let modified = |path: PathBuf| async move { tokio::fs::metadata(path).await?.modified() };
    match (
        modified(gz.into()).await,
        modified(file.to_path_buf()).await,
    ) {
        (Ok(gz), Ok(original)) => gz < original,
        _ => false,
    }
}

/// MIME type by extension, with the charset for text. `ServeDir` guesses
/// most of these, but sends Markdown as `text/markdown` (which browsers
/// download instead of showing) and text without a charset.
fn mime_type(file: &Path) -> Option<&'static str> {
    Some(match file.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "md" | "txt" => "text/plain; charset=utf-8",
        "jsonl" => "application/x-ndjson",
        _ => return None,
    })
}

/// A short plain-text answer.
fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    let value = HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(header::CONTENT_TYPE, value);
    response
}
