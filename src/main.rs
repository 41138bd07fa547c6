//! The `sentence-multitask` command line: embed sentences, benchmark the
//! encoder, and rebuild the shipped weights.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// The CLI is native only; the wasm32 build of this crate is the library.
#[cfg(target_arch = "wasm32")]
fn main() {}
