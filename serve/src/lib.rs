//! The static server of the sentence-multitask page: `www/` at `/`, the model
//! files at `/weights/`, with the headers the page needs (`application/wasm`,
//! cross-origin isolation, a Content-Security-Policy that allows only the
//! page's own origin).
//!
//! It is its own crate so that `make demo` can serve the page without
//! compiling the model natively. Files go through tower-http's `ServeDir`
//! (precompressed gzip, `Last-Modified` and 304, ranges) on hyper's HTTP/1.1,
//! and every connection is bounded in time and number ([`Limits`]), so no
//! client can hold the server's sockets or files open.

mod args;
mod conn;
mod site;

pub use args::{run, Args};
pub use conn::{Limits, Server};
pub use site::Site;

/// Why the server could not start: what was wrong, and why.
#[derive(Debug)]
pub struct Error {
    /// The argument or resource involved, e.g. `--www www`.
    pub what: String,
    /// What is wrong with it, and what to do.
    pub reason: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.reason)
    }
}

impl std::error::Error for Error {}
