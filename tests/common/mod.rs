//! Shared by the integration tests: the shipped encoder, loaded once, the golden
//! fixture, and synthetic embeddings.
#![allow(dead_code)]

pub mod kernels;
pub mod predictions;
pub mod synthetic;
pub mod vectors;

#[allow(unused_imports)]
pub use vectors::{cosine, norm};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use sentence_multitask::{Encoder, ModelFiles};

/// The repository's weights/ directory.
pub fn weights_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights")
}

/// A file under tests/fixtures/.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The shipped model files, read once.
pub fn model_files() -> &'static ModelFiles {
    static FILES: OnceLock<ModelFiles> = OnceLock::new();
    FILES.get_or_init(|| ModelFiles::read_dir(&weights_dir()).expect("weights/ is readable"))
}

/// The shipped encoder, loaded once per test binary.
pub fn encoder() -> &'static Encoder {
    static ENCODER: OnceLock<Encoder> = OnceLock::new();
    ENCODER.get_or_init(|| Encoder::from_files(model_files()).expect("weights/ loads"))
}

/// One reference sentence from Python sentence-transformers.
#[derive(serde::Deserialize)]
pub struct GoldenItem {
    pub text: String,
    pub n_tokens: usize,
    pub token_ids: Vec<u32>,
    pub embedding: Vec<f32>,
}

#[derive(serde::Deserialize)]
struct Golden {
    items: Vec<GoldenItem>,
}

/// The 60 reference sentences.
pub fn golden() -> &'static [GoldenItem] {
    static GOLDEN: OnceLock<Vec<GoldenItem>> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let bytes = std::fs::read(fixture("all-MiniLM-L6-v2.public.json")).expect("golden fixture");
        serde_json::from_slice::<Golden>(&bytes)
            .expect("golden JSON")
            .items
    })
}

/// Runs the binary with `args`, feeding `stdin`; the weights variable is unset.
pub fn run_cli(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentence-multitask"))
        .args(args)
        .env_remove("SENTENCE_MULTITASK_WEIGHTS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A child that exits before reading (bad arguments) closes the pipe early.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}
