//! One BERT layer with candle ops, over the real pieces of a batch (no padding).
//!
//! Same maths as candle-transformers' `BertLayer`, which it replaces for two
//! reasons: speed (one fused QKV product, weights stored transposed so gemm
//! reads them in place, attention per sentence without a mask, a vectorisable
//! GELU) and gradients (candle-nn's fused layer norm and softmax have no
//! backward pass, so training switches to the composed ones).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, IndexOp, Layout, Module, Shape, Tensor, D};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::Config;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::qmatmul::{self, QMatrix};
use crate::model::quantize::Int8Matrix;

/// What a layer's weights look like: an adapter records it, so a file made
/// for another encoder shape is refused before any weight is read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerShape {
    /// Hidden width.
    pub hidden: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// Attention heads.
    pub heads: usize,
    /// Layer norm epsilon.
    pub layer_norm_eps: f64,
}

impl From<&Config> for LayerShape {
    fn from(c: &Config) -> Self {
        Self {
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            layer_norm_eps: c.layer_norm_eps,
        }
    }
}

/// The name prefix of layer `i`'s weights (`encoder.layer.{i}`), as the
/// reference's files spell it.
pub(crate) fn layer_prefix(i: usize) -> String {
    format!("encoder.layer.{i}")
}

/// One BERT layer (candle-transformers' `BertLayer`, same maths) over the real
/// pieces of a batch, packed one sentence after another. Attention runs
/// sentence by sentence: the masked reference gives padded keys weight exactly
/// 0, so no mask and no `(batch, heads, len, len)` tensor is needed.
#[derive(Clone)]
pub(crate) struct Layer {
    /// query, key and value as one `(hidden, 3 * hidden)` product.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    inter: Dense,
    out: Dense,
    out_norm: LayerNorm,
    heads: usize,
    eps: f64,
}

impl Layer {
    /// The layer under `vb`'s prefix; its products run on the integer kernels
    /// where `int8` holds their weights as stored (see [`crate::model::qmatmul`]);
    /// the matrices it packs leave `int8`, so each is held once.
    pub(crate) fn load(vb: VarBuilder, c: &LayerShape, int8: &mut Int8Weights) -> Result<Self> {
        let (h, i) = (c.hidden, c.intermediate);
        let ln = |vb: VarBuilder| candle_nn::layer_norm(h, c.layer_norm_eps, vb);
        let mut dense = |vb: &VarBuilder, names: &[&str], fan_in, fan_out| {
            Dense::load(vb, names, fan_in, fan_out, int8)
        };
        Ok(Self {
            qkv: dense(&vb.pp("attention.self"), &["query", "key", "value"], h, h)?,
            attn_out: dense(&vb, &["attention.output.dense"], h, h)?,
            attn_norm: ln(vb.pp("attention.output.LayerNorm"))?,
            inter: dense(&vb, &["intermediate.dense"], h, i)?,
            out: dense(&vb, &["output.dense"], i, h)?,
            out_norm: ln(vb.pp("output.LayerNorm"))?,
            heads: c.heads,
            eps: c.layer_norm_eps,
        })
    }

    /// `x`: the real pieces of each sentence, one after another, `(sum(lengths), hidden)`.
    pub(crate) fn forward(&self, x: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let (rows, dim) = x.dims2()?;
        let head_dim = dim / self.heads;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((rows, 3, self.heads, head_dim))?;
        let mut context = Vec::with_capacity(lengths.len());
        let mut start = 0;
        for &n in lengths {
            // (heads, n, head_dim) view of query, key or value for this sentence.
            let view = |which: usize| qkv.narrow(0, start, n)?.i((.., which))?.transpose(0, 1);
            let scores = (view(0)?.matmul(&view(1)?.t()?)? / (head_dim as f64).sqrt())?;
            let probs = match scores.track_op() {
                true => candle_nn::ops::softmax(&scores, D::Minus1)?,
                false => candle_nn::ops::softmax_last_dim(&scores)?,
            };
            context.push(probs.matmul(&view(2)?)?.transpose(0, 1)?);
            start += n;
        }
        let context = Tensor::cat(&context, 0)?.reshape((rows, dim))?;
        let x = self.norm(&self.attn_norm, &(self.attn_out.forward(&context)? + x)?)?;
        let inter = self.inter.forward(&x)?;
        let inter = match inter.track_op() {
            true => inter.gelu_erf()?,
            false => inter.apply_op1_no_bwd(&GeluErf)?,
        };
        self.norm(&self.out_norm, &(self.out.forward(&inter)? + x)?)
    }

    /// Whether its products run on the integer kernels (weights stored in int8).
    pub(crate) fn on_integer_kernels(&self) -> bool {
        self.qkv.int8.is_some()
    }

    /// The f32 values of the weights this layer holds only in int8, by name.
    pub(crate) fn int8_parts(&self) -> Vec<(String, Vec<f32>)> {
        [&self.qkv, &self.attn_out, &self.inter, &self.out]
            .iter()
            .flat_map(|d| d.int8_parts())
            .collect()
    }

    /// candle-nn's fused layer norm has no backward pass: the composed one when training.
    fn norm(&self, norm: &LayerNorm, x: &Tensor) -> Result<Tensor> {
        match (x.track_op(), norm.bias()) {
            (true, Some(b)) => Ok(candle_nn::ops::layer_norm_slow(
                x,
                norm.weight(),
                b,
                self.eps as f32,
            )?),
            _ => Ok(norm.forward(x)?),
        }
    }
}

/// Int8 matrices as a weights file stores them, by tensor name.
pub(crate) type Int8Weights = HashMap<String, Int8Matrix>;

/// Linear layer(s) sharing an input, kept as one transposed `(in, out)` contiguous
/// weight: gemm reads it in place, where candle-nn's `Linear` (a `(out, in)`
/// weight seen through `.t()`) has gemm repack the whole weight on every call.
#[derive(Clone)]
struct Dense {
    /// `(weight, bias)` of each part as loaded (trainable when they are variables).
    parts: Vec<(Tensor, Tensor)>,
    /// The fused `(weight_t, bias)` for f32 products: made at load, or on first
    /// use when the integer kernels serve inference (saving its bytes).
    /// Empty when the weights are int8 only.
    fused: OnceLock<(Tensor, Tensor)>,
    /// The same product on the integer kernels, when stored in int8.
    int8: Option<Arc<QMatrix>>,
    /// Each part's full weight name, for [`Dense::int8_parts`].
    names: Vec<String>,
}

impl Dense {
    /// The product of parts `names` under `vb`: on the integer kernels when
    /// `int8` holds every part's weight (taken from it; no f32 copy is made), else f32.
    fn load(
        vb: &VarBuilder,
        names: &[&str],
        fan_in: usize,
        fan_out: usize,
        int8: &mut Int8Weights,
    ) -> Result<Self> {
        let bias = |n: &str| vb.get(fan_out, &format!("{n}.bias"));
        let full: Vec<String> = (names.iter())
            .map(|n| format!("{}.{n}.weight", vb.prefix()))
            .collect();
        let stored: Option<Vec<_>> = full
            .iter()
            .map(|n| int8.get(n))
            .map(|m| m.map(|m| (m, fan_out)))
            .collect();
        if let Some(stored) = stored {
            let mut biases = Vec::with_capacity(fan_out * names.len());
            for n in names {
                biases.extend(bias(n)?.to_vec1::<f32>()?);
            }
            if let Some(q) = QMatrix::stack(&stored, biases) {
                for name in &full {
                    int8.remove(name);
                }
                return Ok(Self {
                    parts: Vec::new(),
                    fused: OnceLock::new(),
                    int8: Some(Arc::new(q)),
                    names: full,
                });
            }
        }
        let parts = (names.iter().zip(&full))
            .map(|(n, name)| {
                let weight = match int8.get(name) {
                    Some(m) => Tensor::from_vec(m.dequantize(), (fan_out, fan_in), vb.device())?,
                    None => vb.get((fan_out, fan_in), &format!("{n}.weight"))?,
                };
                Ok((weight, bias(n)?))
            })
            .collect::<Result<Vec<_>>>()?;
        // Variables are fused anew on every call (their values move), so
        // fusing them here would only hold a copy.
        let fused = match parts.first().is_some_and(|(w, _)| w.is_variable()) {
            true => OnceLock::new(),
            false => OnceLock::from(Self::fuse(&parts)?),
        };
        Ok(Self {
            parts,
            fused,
            int8: None,
            names: full,
        })
    }

    /// The f32 values of each part's weight when held only in int8, by name.
    fn int8_parts(&self) -> Vec<(String, Vec<f32>)> {
        let Some(q) = &self.int8 else {
            return Vec::new();
        };
        let values = q.dequantize();
        let size = values.len() / self.names.len();
        (self.names.iter().cloned())
            .zip(values.chunks(size).map(<[f32]>::to_vec))
            .collect()
    }

    fn fuse(parts: &[(Tensor, Tensor)]) -> Result<(Tensor, Tensor)> {
        let (w, b): (Vec<_>, Vec<_>) = parts.iter().cloned().unzip();
        Ok((Tensor::cat(&w, 0)?.t()?.contiguous()?, Tensor::cat(&b, 0)?))
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.parts.first().is_some_and(|(w, _)| w.is_variable()) {
            let (w, b) = Self::fuse(&self.parts)?;
            return Ok(x.matmul(&w)?.broadcast_add(&b)?);
        }
        if let (Some(q), false) = (&self.int8, x.track_op()) {
            return Ok(x.apply_op1_no_bwd(&IntegerProduct(q.clone()))?);
        }
        let (weight_t, bias) = match self.fused.get() {
            Some(fused) => fused,
            None => {
                // Only integer weights: an f32 product (a gradient through
                // these layers) uses their f32 values, made once.
                let q = self.int8.as_ref().ok_or_else(|| Error::InvalidArgument {
                    what: "dense layer".into(),
                    reason: "has neither f32 nor int8 weights".into(),
                })?;
                let weight =
                    Tensor::from_vec(q.dequantize(), (q.outputs(), q.inputs()), x.device())?;
                let weight_t = weight.t()?.contiguous()?;
                let bias = Tensor::new(q.bias(), x.device())?;
                self.fused.get_or_init(|| (weight_t, bias))
            }
        };
        Ok(x.matmul(weight_t)?.broadcast_add(bias)?)
    }
}

/// A [`Dense`] product on the integer kernels (inference only: no gradient).
struct IntegerProduct(Arc<QMatrix>);

impl candle_core::CustomOp1 for IntegerProduct {
    fn name(&self) -> &'static str {
        "int8-matmul"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(xs), Some((start, end)), (rows, cols)) =
            (s, l.contiguous_offsets(), l.shape().dims2()?)
        else {
            candle_core::bail!("int8-matmul: expected a contiguous 2-d f32 tensor");
        };
        if cols != self.0.inputs() {
            candle_core::bail!(
                "int8-matmul: {cols} inputs for a {}-input weight",
                self.0.inputs()
            );
        }
        let out = qmatmul::matmul(&xs[start..end], &self.0);
        Ok((CpuStorage::F32(out), Shape::from((rows, self.0.outputs()))))
    }
}

/// GELU (erf form) for inference. candle's `gelu_erf` calls libm's scalar
/// `erff` per element; this rational erf (Eigen's `generic_fast_erf_float`,
/// within a few ulp) is branch-free, so it vectorises (SSE/AVX, wasm simd128).
struct GeluErf;

impl candle_core::CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-rational"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(xs), Some((start, end))) = (s, l.contiguous_offsets()) else {
            candle_core::bail!("gelu-erf-rational: expected a contiguous f32 tensor");
        };
        let out = xs[start..end].iter().map(|&x| gelu_erf(x)).collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

#[inline(always)]
#[allow(clippy::excessive_precision)]
fn gelu_erf(x: f32) -> f32 {
    const ALPHA: [f32; 7] = [
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    ];
    const BETA: [f32; 5] = [
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    ];
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).clamp(-4.0, 4.0);
    let z2 = z * z;
    let p = ALPHA.iter().fold(0.0, |acc, &a| acc * z2 + a);
    let q = BETA.iter().fold(0.0, |acc, &b| acc * z2 + b);
    (z * p / q + 1.0) * 0.5 * x
}
