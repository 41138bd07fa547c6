//! `serve`: the page (www/), the model files (weights/) and DISCUSSION.md
//! over HTTP on loopback. The server is the `sentence-multitask-serve` crate
//! (serve/), which `make demo` runs without building the model; this
//! subcommand runs the same server with the same flags.

use sentence_multitask::{Error, Result};

pub use sentence_multitask_serve::Args;

pub fn run(args: Args) -> Result<()> {
    sentence_multitask_serve::run(args).map_err(|e| Error::InvalidArgument {
        what: e.what,
        reason: e.reason,
    })
}
