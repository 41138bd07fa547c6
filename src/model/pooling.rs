//! sentence-transformers' Pooling(mean) + Normalize: the one step after the
//! layers that must match the reference exactly, shared by inference and
//! training (it is differentiable).

use candle_core::{Tensor, D};

use crate::error::Result;

/// Sentence embeddings `(lengths.len(), dim)` from the layers' output over the
/// real pieces, packed one sentence after another (`(sum(lengths), dim)`):
/// the mean over each sentence's pieces (the reference's masked mean; every
/// input has at least `[CLS]` and `[SEP]`), then L2 normalisation (torch's
/// `F.normalize`, eps 1e-12).
pub fn mean_pool_normalize(packed: &Tensor, lengths: &[usize]) -> Result<Tensor> {
    let mut pooled = Vec::with_capacity(lengths.len());
    let mut start = 0;
    for &len in lengths {
        pooled.push(packed.narrow(0, start, len)?.mean_keepdim(0)?);
        start += len;
    }
    let mean = Tensor::cat(&pooled, 0)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    Ok(mean.broadcast_div(&norm)?)
}
