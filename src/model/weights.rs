//! The encoder's files (config, tokenizer, weights), loaded from bytes and checked.
//!
//! Everything here works on byte buffers so the page can hand over what it
//! downloaded; reading a directory is a thin convenience on top.

use std::collections::HashMap;

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::Config;
use half::f16;
use safetensors::SafeTensors;

use crate::error::{Error, Result};
use crate::model::quantize::{group_of, pack_int4, unpack_int4, Int8Matrix, SCALE_SUFFIX};

/// File name of the BERT configuration inside a weights directory.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the Hugging Face tokenizer inside a weights directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// File name of the encoder weights inside a weights directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// File name of the compact (int8, see [`crate::model::quantize`]) encoder weights.
pub const COMPACT_WEIGHTS_FILE: &str = "model-int8.safetensors";

/// The raw bytes of the three files that make an encoder.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// `config.json`.
    pub config: Vec<u8>,
    /// `tokenizer.json`.
    pub tokenizer: Vec<u8>,
    /// `model.safetensors` (f32 or f16, upcast to f32 at load; or int8 with
    /// scales, kept int8 for the integer kernels).
    pub weights: Vec<u8>,
    /// The weights' file name, for messages ([`WEIGHTS_FILE`] or [`COMPACT_WEIGHTS_FILE`]).
    pub weights_file: String,
}

/// What to run when the weights directory is missing.
pub const FETCH_HINT: &str =
    "run `make weights` in the repository (see weights/README.md) or pass --weights DIR";

/// What to do when a weights directory has no compact file.
pub const COMPACT_HINT: &str = "this folder has no compact weights: leave out --compact, or write them with `sentence-multitask import-weights --from DIR --out DIR --dtype int8`";

#[cfg(not(target_arch = "wasm32"))]
impl ModelFiles {
    /// Reads the three files from `dir`, naming the missing path if any.
    pub fn read_dir(dir: &std::path::Path) -> Result<Self> {
        Self::read_dir_with(dir, WEIGHTS_FILE)
    }

    /// Like [`ModelFiles::read_dir`], with the weights read from `weights_file`
    /// (e.g. [`COMPACT_WEIGHTS_FILE`]).
    pub fn read_dir_with(dir: &std::path::Path, weights_file: &str) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::WeightsMissing {
                path: dir.to_path_buf(),
                hint: FETCH_HINT,
            });
        }
        let hint = if weights_file == COMPACT_WEIGHTS_FILE && dir.join(WEIGHTS_FILE).is_file() {
            COMPACT_HINT
        } else {
            FETCH_HINT
        };
        let read = |name: &str, hint: &'static str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => Error::WeightsMissing { path, hint },
                _ => Error::Io { path, source },
            })
        };
        Ok(Self {
            config: read(CONFIG_FILE, FETCH_HINT)?,
            tokenizer: read(TOKENIZER_FILE, FETCH_HINT)?,
            weights: read(weights_file, hint)?,
            weights_file: weights_file.into(),
        })
    }
}

/// Parses and sanity-checks a BERT `config.json`.
pub fn parse_config(bytes: &[u8]) -> Result<Config> {
    let bad = |reason: String| Error::BadModelFile {
        file: CONFIG_FILE.into(),
        reason,
    };
    let config: Config =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a BERT config: {e}")))?;
    if config.hidden_size == 0
        || config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(bad(format!(
            "hidden_size {} is not a positive multiple of num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        )));
    }
    if config.vocab_size == 0 || config.max_position_embeddings == 0 {
        return Err(bad(
            "vocab_size and max_position_embeddings must be positive".into(),
        ));
    }
    Ok(config)
}

/// The tensors a BERT encoder with `config` needs, with their shapes.
pub fn expected_tensors(config: &Config) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden_size;
    let i = config.intermediate_size;
    let mut out = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![config.vocab_size, h],
        ),
        (
            "embeddings.position_embeddings.weight".to_string(),
            vec![config.max_position_embeddings, h],
        ),
        (
            "embeddings.token_type_embeddings.weight".to_string(),
            vec![config.type_vocab_size, h],
        ),
        ("embeddings.LayerNorm.weight".to_string(), vec![h]),
        ("embeddings.LayerNorm.bias".to_string(), vec![h]),
    ];
    for layer in 0..config.num_hidden_layers {
        out.extend(layer_tensors(layer, h, i));
    }
    out
}

/// The tensors of transformer layer `layer` (hidden width `h`, feed-forward `i`), with their shapes.
pub fn layer_tensors(layer: usize, h: usize, i: usize) -> Vec<(String, Vec<usize>)> {
    let p = crate::model::layer::layer_prefix(layer);
    [
        ("attention.self.query.weight", vec![h, h]),
        ("attention.self.query.bias", vec![h]),
        ("attention.self.key.weight", vec![h, h]),
        ("attention.self.key.bias", vec![h]),
        ("attention.self.value.weight", vec![h, h]),
        ("attention.self.value.bias", vec![h]),
        ("attention.output.dense.weight", vec![h, h]),
        ("attention.output.dense.bias", vec![h]),
        ("attention.output.LayerNorm.weight", vec![h]),
        ("attention.output.LayerNorm.bias", vec![h]),
        ("intermediate.dense.weight", vec![i, h]),
        ("intermediate.dense.bias", vec![i]),
        ("output.dense.weight", vec![h, i]),
        ("output.dense.bias", vec![h]),
        ("output.LayerNorm.weight", vec![h]),
        ("output.LayerNorm.bias", vec![h]),
    ]
    .into_iter()
    .map(|(name, shape)| (format!("{p}.{name}"), shape))
    .collect()
}

/// Reads every tensor the encoder needs from safetensors bytes, checking
/// presence, shape, dtype and finiteness, and returns them as f32 on `device`.
///
/// Stored f16 or bf16 is upcast to f32, so compute is always f32. Extra
/// tensors (a pooler, `position_ids`) are ignored.
pub fn load_tensors(
    bytes: &[u8],
    file: &str,
    config: &Config,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    Ok(load_weights(bytes, file, config, device, |_| false)?.0)
}

/// As [`load_tensors`], except that int8 matrices whose name `keep` accepts
/// stay int8 (the second map) and are never made f32: the compact encoder's
/// large matrices, which the integer kernels read as they are.
pub(crate) fn load_weights(
    bytes: &[u8],
    file: &str,
    config: &Config,
    device: &Device,
    keep: impl Fn(&str) -> bool,
) -> Result<(HashMap<String, Tensor>, HashMap<String, Int8Matrix>)> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| Error::BadModelFile {
        file: file.into(),
        reason: format!("not a readable safetensors file ({e})"),
    })?;
    let bad = |tensor: &str, reason: String| Error::BadTensor {
        file: file.into(),
        tensor: tensor.into(),
        reason,
    };
    let (mut out, mut int8) = (HashMap::new(), HashMap::new());
    for (name, shape) in expected_tensors(config) {
        let view = st
            .tensor(&name)
            .map_err(|_| bad(&name, "is missing".into()))?;
        if view.shape() != shape.as_slice() {
            return Err(bad(
                &name,
                format!("has shape {:?}, expected {:?}", view.shape(), shape),
            ));
        }
        if view.dtype() == safetensors::Dtype::I8 && keep(&name) {
            let matrix = read_int8(&st, &name, &view).map_err(|reason| bad(&name, reason))?;
            if !matrix.scales.iter().all(|s| s.is_finite()) {
                return Err(bad(&name, "contains NaN or infinite values".into()));
            }
            int8.insert(name, matrix);
            continue;
        }
        let tensor = read_tensor(&st, &name, &view, device).map_err(|reason| bad(&name, reason))?;
        if !all_finite(&tensor)? {
            return Err(bad(&name, "contains NaN or infinite values".into()));
        }
        out.insert(name, tensor);
    }
    Ok((out, int8))
}

/// Reads one stored tensor as f32: f32, f16 and bf16 as they are (upcast),
/// int8 with its `NAME.scale` tensor.
pub(crate) fn read_tensor(
    st: &SafeTensors,
    name: &str,
    view: &safetensors::tensor::TensorView,
    device: &Device,
) -> std::result::Result<Tensor, String> {
    match view.dtype() {
        safetensors::Dtype::F32 | safetensors::Dtype::F16 | safetensors::Dtype::BF16 => view
            .load(device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| format!("could not be read: {e}")),
        safetensors::Dtype::I8 => load_int8(st, name, view, device),
        other => Err(format!(
            "has dtype {other:?}, expected F32, F16, BF16 or I8 with scales"
        )),
    }
}

/// Upcasts an int8 matrix (see [`crate::model::quantize`]) with its `NAME.scale` tensor.
fn load_int8(
    st: &SafeTensors,
    name: &str,
    view: &safetensors::tensor::TensorView,
    device: &Device,
) -> std::result::Result<Tensor, String> {
    Tensor::from_vec(
        read_int8(st, name, view)?.dequantize(),
        stored_shape(view),
        device,
    )
    .map_err(|e| format!("could not be read: {e}"))
}

/// An int8 matrix with its `NAME.scale` tensor, as stored.
pub(crate) fn read_int8(
    st: &SafeTensors,
    name: &str,
    view: &safetensors::tensor::TensorView,
) -> std::result::Result<Int8Matrix, String> {
    let scale_name = format!("{name}{SCALE_SUFFIX}");
    let scales = st
        .tensor(&scale_name)
        .map_err(|_| format!("is int8 but `{scale_name}` is missing"))?;
    if scales.dtype() != safetensors::Dtype::F16 {
        return Err(format!(
            "`{scale_name}` has dtype {:?}, expected F16",
            scales.dtype()
        ));
    }
    let values = match view.dtype() {
        safetensors::Dtype::U8 => unpack_int4(view.data()),
        _ => view.data().iter().map(|&b| b as i8).collect(),
    };
    Ok(Int8Matrix {
        values,
        scales: (scales.data().chunks_exact(2))
            .map(|b| f16::from_le_bytes([b[0], b[1]]))
            .collect(),
        group: group_of(&stored_shape(view), scales.shape())?,
    })
}

/// The shape of the matrix a quantised tensor stores: a 4-bit (`U8`) one
/// holds two values a byte along its rows.
pub(crate) fn stored_shape(view: &safetensors::tensor::TensorView) -> Vec<usize> {
    match (view.dtype(), view.shape()) {
        (safetensors::Dtype::U8, [rows, half]) => vec![*rows, half * 2],
        (_, shape) => shape.to_vec(),
    }
}

/// True when every value of an f32 tensor is finite (no NaN, no infinity).
pub(crate) fn all_finite(tensor: &Tensor) -> Result<bool> {
    let (storage, layout) = tensor.storage_and_layout();
    // A contiguous f32 tensor is read in place (the encoder's 23M weights at load).
    if let (candle_core::Storage::Cpu(candle_core::CpuStorage::F32(values)), Some((start, end))) =
        (&*storage, layout.contiguous_offsets())
    {
        return Ok(values[start..end].iter().all(|v| v.is_finite()));
    }
    drop(storage);
    Ok(tensor
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .all(|v| v.is_finite()))
}

/// Serialises `tensors` as safetensors bytes in `dtype`, names sorted, with
/// `metadata` in the header. Used to build the shipped weights.
pub fn serialize_tensors(
    tensors: &HashMap<String, Tensor>,
    dtype: DType,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let converted = names
        .iter()
        .map(|name| {
            let t = tensors[*name].to_dtype(dtype)?;
            Ok(((*name).clone(), t))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(
        converted.iter().map(|(n, t)| (n.as_str(), t)),
        Some(metadata),
    )
    .map_err(|e| Error::BadModelFile {
        file: WEIGHTS_FILE.into(),
        reason: format!("could not serialise: {e}"),
    })
}

/// One tensor as a safetensors file stores it: name, dtype, shape, bytes.
pub(crate) type Stored = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// `tensor` in compact int8 storage (see [`crate::model::quantize`]): a
/// matrix whose width is a multiple of the group as int8 plus `NAME.scale`,
/// anything else as f16.
pub(crate) fn stored_int8(name: &str, tensor: &Tensor) -> Result<Vec<Stored>> {
    stored_quantized(name, tensor, 8)
}

/// As [`stored_int8`], in `bits` (8, or 4: two values a byte, `U8` of shape
/// `(rows, cols / 2)`) per matrix value.
pub(crate) fn stored_quantized(name: &str, tensor: &Tensor, bits: u8) -> Result<Vec<Stored>> {
    use safetensors::Dtype;
    let shape = tensor.dims().to_vec();
    let data = tensor
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let quantized = match shape.as_slice() {
        [_, cols] => Int8Matrix::quantize_bits(&data, *cols, bits),
        _ => None,
    };
    Ok(match quantized {
        Some(m) => {
            let groups = shape[1] / m.group;
            let values = match bits {
                4 => (
                    Dtype::U8,
                    vec![shape[0], shape[1] / 2],
                    pack_int4(&m.values),
                ),
                _ => (
                    Dtype::I8,
                    shape.clone(),
                    m.values.iter().map(|&v| v as u8).collect(),
                ),
            };
            let scales = m.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            vec![
                (name.to_string(), values.0, values.1, values.2),
                (
                    format!("{name}{SCALE_SUFFIX}"),
                    Dtype::F16,
                    vec![shape[0], groups],
                    scales,
                ),
            ]
        }
        None => {
            let bytes = data.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes());
            vec![(name.to_string(), Dtype::F16, shape, bytes.collect())]
        }
    })
}

/// Safetensors bytes of `stored`, in the order given, with `metadata`.
pub(crate) fn serialize_stored(
    stored: &[Stored],
    metadata: Option<HashMap<String, String>>,
    file: &str,
) -> Result<Vec<u8>> {
    use safetensors::tensor::TensorView;
    let views = stored
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data).map(|view| (name.as_str(), view))
        })
        .collect::<std::result::Result<Vec<_>, _>>();
    let serialised = views.and_then(|views| safetensors::serialize(views, metadata));
    serialised.map_err(|e| Error::BadModelFile {
        file: file.into(),
        reason: format!("could not serialise: {e}"),
    })
}

/// Serialises `tensors` in compact int8 storage ([`stored_int8`]), names
/// sorted, `metadata` in the header.
pub fn serialize_int8(
    tensors: &HashMap<String, Tensor>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut stored = Vec::new();
    for name in names {
        stored.extend(stored_int8(name, &tensors[name])?);
    }
    serialize_stored(&stored, Some(metadata), COMPACT_WEIGHTS_FILE)
}
