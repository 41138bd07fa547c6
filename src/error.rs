//! The crate's one error type. Every message says what went wrong and where.

use std::path::PathBuf;

/// Everything that can go wrong in this crate, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The weights directory (or one file in it) does not exist.
    #[error("weights not found at {path}: {hint}")]
    WeightsMissing {
        /// The path that was looked up.
        path: PathBuf,
        /// What to run to get the weights.
        hint: &'static str,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A model file (config, tokenizer, weights) is malformed.
    #[error("{file}: {reason}")]
    BadModelFile {
        /// The file's name.
        file: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A tensor in a weights file is missing or does not have the expected shape or dtype.
    #[error("{file}: tensor `{tensor}` {reason}")]
    BadTensor {
        /// The weights file's name.
        file: String,
        /// The tensor's name.
        tensor: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A line of user input could not be used.
    #[error("{source_name}, line {line}: {reason}")]
    BadInput {
        /// Where the input came from (a path or `<stdin>`).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// An argument or option has a value that cannot be used.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        what: String,
        /// Why it was refused.
        reason: String,
    },

    /// The tokenizer failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A tensor computation failed.
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// Wraps an I/O error with the path it concerns: `.map_err(Error::io(path))`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// Shorthand for results with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
