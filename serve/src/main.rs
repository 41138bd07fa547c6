//! `sentence-multitask-serve`: the page's static server on its own, so
//! `make demo` serves the page without compiling the model natively.

use std::process::ExitCode;

use clap::Parser;

/// Serve the sentence-multitask page (www/) and its model files (weights/)
/// on 127.0.0.1, printing the URL; the page computes everything in the browser.
///
/// Every connection is bounded: a whole request head within 30 s, closed
/// after 30 s without a byte either way, at most 4096 open at once.
#[derive(Parser)]
#[command(name = "sentence-multitask-serve", version)]
struct Cli {
    #[command(flatten)]
    args: sentence_multitask_serve::Args,
}

fn main() -> ExitCode {
    match sentence_multitask_serve::run(Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
