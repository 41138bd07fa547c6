//! Integer matrix products on the compact int8 weights (see
//! [`crate::model::quantize`]): the weights stay int8 in memory, each input
//! row is quantised on the fly to 14-bit integers (held in i16) in the
//! weights' groups of 64, products accumulate exactly in i32 per group, and
//! each group's sum is scaled back to f32. Inputs of 8 bits or fewer cost the
//! golden cosine (0.9967 at 8 bits, 0.992 at 7, against 0.99927 at 14); 14
//! bits keep the inputs' rounding error far below the weights' and split into
//! two 7-bit digits for relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s`.
//!
//! Every kernel computes the same integers and then the same f32 operations in
//! the same order (`sum += f32(group_sum) * (w_scale * x_scale)`, then `+ bias`),
//! so each matches the scalar [`Kernel::Reference`] bit for bit.

#[cfg(target_arch = "wasm32")]
mod lanes;
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
mod relaxed;
#[cfg(target_arch = "wasm32")]
mod simd128;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

use crate::model::quantize::Int8Matrix;

/// Outputs per packed block of weights (the unit of the kernels' loops).
const BLOCK: usize = 16;

/// The largest magnitude of a quantised input: 14 bits.
const INPUT_LEVELS: f32 = 8191.0;

/// A linear layer's weight `(outputs, inputs)` in int8 groups, with its bias.
#[derive(Clone, Debug)]
pub struct QMatrix {
    outputs: usize,
    inputs: usize,
    group: usize,
    /// The kernel the values are packed for.
    kernel: Kernel,
    /// The values packed for products with outputs in lanes: per block of
    /// [`BLOCK`] outputs, per [`Kernel::lane_inputs`] neighbouring inputs, each output's
    /// weights for them side by side, so those inputs of a row broadcast to
    /// every lane meet their weights in one dot instruction.
    packed: Vec<i8>,
    /// Scales transposed to `(inputs / group, outputs)`: a kernel reads the
    /// scales of neighbouring outputs (4, 8 or 16) with one load.
    scales_t: Vec<f32>,
    bias: Vec<f32>,
    /// For the relaxed kernel only, per group and output (laid out as
    /// `scales_t`), the sum of the group's weights times [`relaxed::OFFSET`]:
    /// its inputs are offset to be non-negative, and this takes it back out.
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    offsets_t: Vec<i32>,
}

impl QMatrix {
    /// Stacks int8 matrices `(outputs_i, inputs)` sharing inputs and group into
    /// one (as the fused query/key/value product), with the concatenated bias,
    /// packed for [`Kernel::best`]. `None` when they disagree or the shape does
    /// not suit the kernels (outputs a multiple of 16, inputs of the group, the
    /// group of 16).
    pub fn stack(parts: &[(&Int8Matrix, usize)], bias: Vec<f32>) -> Option<Self> {
        Self::stack_for(Kernel::best(), parts, bias)
    }

    /// [`QMatrix::stack`] packed for `kernel` (and for the reference, which reads any packing).
    pub fn stack_for(
        kernel: Kernel,
        parts: &[(&Int8Matrix, usize)],
        bias: Vec<f32>,
    ) -> Option<Self> {
        let (first, rows) = parts.first()?;
        if *rows == 0 {
            return None;
        }
        let group = first.group;
        let inputs = first.values.len() / rows;
        let outputs: usize = parts.iter().map(|(_, rows)| rows).sum();
        let fits = parts
            .iter()
            .all(|(m, rows)| m.group == group && m.values.len() == rows * inputs);
        if !fits
            || bias.len() != outputs
            || !outputs.is_multiple_of(BLOCK)
            || group == 0
            || !group.is_multiple_of(16)
            || !inputs.is_multiple_of(group)
        {
            return None;
        }
        let groups = inputs / group;
        let lanes = kernel.lane_inputs();
        let rows = || parts.iter().flat_map(|(m, _)| m.values.chunks(inputs));
        let mut packed = vec![0i8; outputs * inputs];
        for (o, row) in rows().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                packed[packed_index(inputs, lanes, o, k)] = v;
            }
        }
        let scale_rows = parts.iter().flat_map(|(m, _)| m.scales.chunks(groups));
        let mut scales_t = vec![0f32; outputs * groups];
        for (o, row) in scale_rows.enumerate() {
            for (g, s) in row.iter().enumerate() {
                scales_t[g * outputs + o] = s.to_f32();
            }
        }
        Some(Self {
            outputs,
            inputs,
            group,
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            offsets_t: match kernel {
                Kernel::Relaxed => relaxed::offsets(rows(), (outputs, inputs), group),
                _ => Vec::new(),
            },
            kernel,
            packed,
            scales_t,
            bias,
        })
    }

    /// Number of outputs (columns of the product).
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Number of inputs (the width of `x`).
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The bias, one per output.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The f32 values `(outputs, inputs)`, row-major, as
    /// [`Int8Matrix::dequantize`] gives them.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.outputs * self.inputs);
        for o in 0..self.outputs {
            out.extend((0..self.inputs).map(|k| {
                let scale = self.scales_t[(k / self.group) * self.outputs + o];
                f32::from(self.packed[self.index(o, k)]) * scale
            }));
        }
        out
    }

    fn groups(&self) -> usize {
        self.inputs / self.group
    }

    /// Where the weight of output `o` for input `k` sits in `packed`.
    fn index(&self, o: usize, k: usize) -> usize {
        packed_index(self.inputs, self.kernel.lane_inputs(), o, k)
    }

    /// The packed values of the block holding output `o0`.
    fn block(&self, o0: usize) -> &[i8] {
        let start = self.index(o0 - o0 % BLOCK, 0);
        &self.packed[start..start + BLOCK * self.inputs]
    }
}

/// Where the weight of output `o` for input `k` sits in [`QMatrix::packed`]
/// with `lanes` inputs side by side.
fn packed_index(inputs: usize, lanes: usize, o: usize, k: usize) -> usize {
    let l = lanes;
    (o / BLOCK) * BLOCK * inputs + (k / l) * l * BLOCK + (o % BLOCK) * l + k % l
}

/// Input rows quantised to 14 bits in groups: `values[r][k] * scales[r][k / group]`.
pub struct QRows {
    rows: usize,
    values: Vec<i16>,
    scales: Vec<f32>,
    /// For the relaxed kernel only, the values as it reads them ([`relaxed::digits`]).
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    digits: Vec<u8>,
}

impl QRows {
    /// Quantises row-major `(rows, inputs)` f32 `x` for `w`: per row and group,
    /// the largest magnitude maps to [`INPUT_LEVELS`] (rounding half to even,
    /// as `f32x4.nearest` does, so the simd128 form gives the same values).
    pub fn quantize(x: &[f32], w: &QMatrix, quantize: Quantizer) -> Self {
        let rows = x.len() / w.inputs;
        let mut values = vec![0i16; x.len()];
        let mut scales = Vec::with_capacity(rows * w.groups());
        for (group, out) in x.chunks(w.group).zip(values.chunks_mut(w.group)) {
            scales.push(quantize(group, out));
        }
        Self {
            rows,
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            digits: Vec::new(),
            values,
            scales,
        }
    }
}

/// Quantises one group (a multiple of 8 values) into `out`, returning its scale.
pub type Quantizer = fn(&[f32], &mut [i16]) -> f32;

/// The fastest way to quantise a group here; all give the same values (test).
/// Chosen once: every product asks.
fn quantizer() -> Quantizer {
    static CHOSEN: OnceLock<Quantizer> = OnceLock::new();
    *CHOSEN.get_or_init(fastest_quantizer)
}

fn fastest_quantizer() -> Quantizer {
    #[cfg(target_arch = "wasm32")]
    return lanes::quantize_group;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return |group, out| unsafe { x86::quantize_group_avx2(group, out) };
    }
    #[allow(unreachable_code)]
    quantize_group
}

/// The scalar [`Quantizer`], the definition of the others.
fn quantize_group(group: &[f32], out: &mut [i16]) -> f32 {
    let max = group.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = max / INPUT_LEVELS;
    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (o, &v) in out.iter_mut().zip(group) {
        *o = (v * inv).round_ties_even() as i16;
    }
    scale
}

/// A way to compute the product; every one gives the reference's bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Scalar Rust: the definition the others are tested against, and the
    /// fallback where no vector kernel applies.
    Reference,
    /// wasm simd128: `i32x4.dot_i16x8_s`, eight multiply-adds an instruction.
    #[cfg(target_arch = "wasm32")]
    Simd128,
    /// wasm relaxed SIMD: `i32x4.relaxed_dot_i8x16_i7x16_add_s`, sixteen
    /// multiply-adds and the sum in one where the engine has a native dot
    /// (x86 AVX-VNNI, Arm dotprod), else several instructions: the build
    /// times it against simd128 before choosing ([`relaxed::fastest`]).
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    Relaxed,
    /// x86_64 AVX2: `vpmaddwd` on 16 lanes.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// x86_64 AVX-512 VNNI: `vpdpwssd`, 32 multiply-adds and the sum in one.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

impl Kernel {
    /// The kernels this machine can run, fastest last.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut kernels = vec![Kernel::Reference];
        #[cfg(target_arch = "wasm32")]
        kernels.push(Kernel::Simd128);
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
        kernels.push(Kernel::Relaxed);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            kernels.push(Kernel::Avx2);
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
        {
            kernels.push(Kernel::Avx512Vnni);
        }
        kernels
    }

    /// The fastest kernel this machine can run (detected once: every product asks).
    /// In the relaxed-SIMD build, the faster of simd128 and relaxed as timed here.
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
        return *BEST.get_or_init(relaxed::fastest);
        #[allow(unreachable_code)]
        *BEST.get_or_init(|| *Self::available().last().unwrap_or(&Kernel::Reference))
    }

    /// What the page says it computes with.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Reference => "scalar integer kernels",
            #[cfg(target_arch = "wasm32")]
            Kernel::Simd128 => "SIMD integer kernels",
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Kernel::Relaxed => "relaxed-SIMD integer kernels",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "AVX2 integer kernels",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => "AVX-512 VNNI integer kernels",
        }
    }

    /// Neighbouring inputs whose weights the kernel reads side by side: pairs
    /// for `dot_i16x8` / `madd` / `dpwssd`, quads for relaxed SIMD's i8 dot.
    pub fn lane_inputs(self) -> usize {
        match self {
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Kernel::Relaxed => 4,
            _ => 2,
        }
    }

    /// `out[r][o] = x[r] . w[o] + bias[o]` for outputs `first..first + out_width`,
    /// `out` row-major `(x.rows, out_width)`; `first` and `out_width` multiples of 16.
    fn run(self, x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
        match self {
            Kernel::Reference => reference(x, w, first, out),
            #[cfg(target_arch = "wasm32")]
            Kernel::Simd128 => simd128::run(x, w, first, out),
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            Kernel::Relaxed => relaxed::run(x, w, first, out),
            // SAFETY: `available` lists Avx2 only when the CPU has it.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::run_avx2(x, w, first, out) },
            // SAFETY: listed only when the CPU has AVX-512 F, BW and VNNI.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => unsafe { x86::run_avx512(x, w, first, out) },
        }
    }
}

/// Where a kernel's block writes: input rows from `row`, outputs from
/// `output`, at column `column` of an output `width` wide.
#[derive(Clone, Copy)]
struct Tile {
    row: usize,
    output: usize,
    column: usize,
    width: usize,
}

/// Runs `$block::<$wide>(x, w, out, tile)` over the blocks of 16 outputs of
/// `out` (outputs from `first`) and its rows, `$wide` rows at a time while
/// they last, then `$block::<1>` row by row. A macro, so the blocks are
/// called from the kernel's own body and compile with its target features.
macro_rules! for_each_tile {
    ($x:expr, $w:expr, $first:expr, $out:expr, $wide:literal, $block:ident) => {{
        let (x, w, out) = ($x, $w, $out);
        let width = out.len() / x.rows.max(1);
        for column in (0..width).step_by(BLOCK) {
            let output = $first + column;
            let tile = |row| Tile {
                row,
                output,
                column,
                width,
            };
            let mut row = 0;
            while row + $wide <= x.rows {
                $block::<$wide>(x, w, out, tile(row));
                row += $wide;
            }
            for row in row..x.rows {
                $block::<1>(x, w, out, tile(row));
            }
        }
    }};
}
use for_each_tile;

/// `x @ w^T + bias` for row-major `(rows, w.inputs())` f32 `x`, with `kernel`
/// if `w` is packed for it, else with the reference (which reads any packing).
/// Natively, large products split their outputs across rayon's threads. The
/// reference kernel quantises with the scalar code, the others with the
/// fastest, so comparing them checks both.
pub fn matmul_with(kernel: Kernel, x: &[f32], w: &QMatrix) -> Vec<f32> {
    let kernel = if kernel.lane_inputs() == w.kernel.lane_inputs() {
        kernel
    } else {
        Kernel::Reference
    };
    let quantize = match kernel {
        Kernel::Reference => quantize_group,
        _ => quantizer(),
    };
    #[allow(unused_mut)]
    let mut q = QRows::quantize(x, w, quantize);
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    if kernel == Kernel::Relaxed {
        q.digits = relaxed::digits(&q.values);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let threads = rayon::current_num_threads();
        if threads > 1 && q.rows * w.outputs * w.inputs >= 1 << 20 {
            return split_outputs(kernel, &q, w, threads);
        }
    }
    let mut out = vec![0f32; q.rows * w.outputs];
    kernel.run(&q, w, 0, &mut out);
    out
}

/// `x @ w^T + bias` with the kernel `w` is packed for (the fastest here).
pub fn matmul(x: &[f32], w: &QMatrix) -> Vec<f32> {
    matmul_with(w.kernel, x, w)
}

/// Runs slices of the outputs on rayon's threads and interleaves their rows.
#[cfg(not(target_arch = "wasm32"))]
fn split_outputs(kernel: Kernel, q: &QRows, w: &QMatrix, threads: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let width = (w.outputs / threads).next_multiple_of(BLOCK);
    let parts: Vec<(usize, Vec<f32>)> = (0..w.outputs)
        .step_by(width)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|first| {
            let cols = width.min(w.outputs - first);
            let mut part = vec![0f32; q.rows * cols];
            kernel.run(q, w, first, &mut part);
            (first, part)
        })
        .collect();
    let mut out = vec![0f32; q.rows * w.outputs];
    for (first, part) in parts {
        let cols = part.len() / q.rows.max(1);
        for (dst, src) in out.chunks_mut(w.outputs).zip(part.chunks(cols)) {
            dst[first..first + cols].copy_from_slice(src);
        }
    }
    out
}

/// The definition: exact i32 sums per group, then the f32 steps every kernel repeats.
fn reference(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    let width = out.len() / x.rows.max(1);
    let groups = w.groups();
    for r in 0..x.rows {
        let xr = &x.values[r * w.inputs..(r + 1) * w.inputs];
        for c in 0..width {
            let o = first + c;
            let mut sum = 0f32;
            for g in 0..groups {
                let dot: i32 = (g * w.group..(g + 1) * w.group)
                    .map(|k| i32::from(xr[k]) * i32::from(w.packed[w.index(o, k)]))
                    .sum();
                let scale = w.scales_t[g * w.outputs + o] * x.scales[r * groups + g];
                sum += dot as f32 * scale;
            }
            out[r * width + c] = sum + w.bias[o];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random f32 in -1..1 (no rand in the library).
    fn noise(i: usize, salt: usize) -> f32 {
        let h = (i.wrapping_mul(2654435761) ^ salt.wrapping_mul(40503)).wrapping_mul(2246822519);
        ((h >> 8) % 20001) as f32 / 10000.0 - 1.0
    }

    #[test]
    fn the_product_is_close_to_f32() {
        let (rows, outputs, inputs) = (5, 64, 384);
        let data: Vec<f32> = (0..outputs * inputs).map(|i| noise(i, 5) * 0.2).collect();
        let m = Int8Matrix::quantize(&data, inputs).unwrap();
        let dense = m.dequantize();
        let w = QMatrix::stack(
            &[(&m, outputs)],
            (0..outputs).map(|i| noise(i, 2)).collect(),
        )
        .unwrap();
        let x: Vec<f32> = (0..rows * inputs).map(|i| noise(i, 4)).collect();
        let got = matmul(&x, &w);
        for r in 0..rows {
            for o in 0..outputs {
                let exact: f32 = (0..inputs)
                    .map(|k| x[r * inputs + k] * dense[o * inputs + k])
                    .sum::<f32>()
                    + w.bias[o];
                let err = (got[r * outputs + o] - exact).abs();
                assert!(
                    err < 1e-3,
                    "row {r} output {o}: {} vs {exact}",
                    got[r * outputs + o]
                );
            }
        }
    }

    #[test]
    fn mismatched_parts_are_refused() {
        let a = Int8Matrix::quantize(&[0.5; 16 * 64], 64).unwrap();
        let b = Int8Matrix::quantize(&[0.5; 16 * 128], 128).unwrap();
        assert!(QMatrix::stack(&[(&a, 16), (&b, 16)], vec![0.0; 32]).is_none());
        assert!(QMatrix::stack(&[(&a, 16)], vec![0.0; 15]).is_none());
        let odd = Int8Matrix::quantize(&[0.5; 12 * 64], 64).unwrap();
        assert!(QMatrix::stack(&[(&odd, 12)], vec![0.0; 12]).is_none());
    }
}
