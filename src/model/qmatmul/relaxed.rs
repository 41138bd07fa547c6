//! The wasm relaxed-SIMD kernel (the page's second build, for browsers that
//! have relaxed SIMD). `i32x4.relaxed_dot_i8x16_i7x16_add_s` multiplies i8
//! weights by inputs of 7 bits (0..=127: the range where every engine gives
//! the same answer), so each 14-bit input `x` is offset to `x + OFFSET` and
//! split into two 7-bit digits; per group, `128 * hi + lo - OFFSET * sum(w)`
//! is the reference's exact integer, and the f32 steps are simd128's.

use core::arch::wasm32::*;

use web_time::Instant;

use super::lanes::{add_group, store, V};
use super::{matmul_with, Kernel, QMatrix, QRows, Tile, BLOCK};
use crate::model::quantize::Int8Matrix;

/// Added to every quantised input (|x| <= 8191) to make it 0..=16383.
pub(super) const OFFSET: i32 = 8192;

/// Row by row: one row's 8 accumulators, 4 weight vectors and 2 splats fit
/// x86's 16 vector registers; two rows spilled (b8 in the page 234 against 287).
pub(super) fn run(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    let width = out.len() / x.rows.max(1);
    for column in (0..width).step_by(BLOCK) {
        for row in 0..x.rows {
            let output = first + column;
            block(
                x,
                w,
                out,
                Tile {
                    row,
                    output,
                    column,
                    width,
                },
            );
        }
    }
}

/// Rounds and time [`fastest`] takes at least: enough for V8 to have tiered
/// both kernels up (on a busy machine, after 12 rounds it sometimes had not,
/// and simd128 won) and for the best time of each to be a quiet one.
const MIN_ROUNDS: usize = 24;
const MIN_SECONDS: f64 = 0.03;
const MAX_ROUNDS: usize = 400;

/// The faster of this kernel and simd128, timed on an encoder-sized product.
/// The relaxed dot is one instruction only where the engine has a native one
/// (x86 AVX-VNNI, Arm dotprod); elsewhere it is emulated, and this kernel runs
/// at about half simd128's speed (measured in Chromium 156 with
/// `--js-flags=--no-enable-avx-vnni`: 63 sentences/s against 119). Both run
/// alternately; the best time of each counts. Both give the same bits.
pub(super) fn fastest() -> Kernel {
    let (rows, outputs, inputs) = (16, 384, 384);
    let noise = |i: usize| (i * 7919 % 255) as f32 / 127.0 - 1.0;
    let data: Vec<f32> = (0..outputs * inputs).map(noise).collect();
    let x: Vec<f32> = (0..rows * inputs).map(|i| noise(i + 1)).collect();
    let Some(m) = Int8Matrix::quantize(&data, inputs) else {
        return Kernel::Simd128;
    };
    let packed = |kernel| QMatrix::stack_for(kernel, &[(&m, outputs)], vec![0.0; outputs]);
    let (Some(simd), Some(relaxed)) = (packed(Kernel::Simd128), packed(Kernel::Relaxed)) else {
        return Kernel::Simd128;
    };
    let mut best = [
        (Kernel::Simd128, simd, f64::MAX),
        (Kernel::Relaxed, relaxed, f64::MAX),
    ];
    let start = Instant::now();
    for round in 0..MAX_ROUNDS {
        if round >= MIN_ROUNDS && start.elapsed().as_secs_f64() >= MIN_SECONDS {
            break;
        }
        for (kernel, w, time) in &mut best {
            let start = Instant::now();
            std::hint::black_box(matmul_with(*kernel, &x, w));
            *time = time.min(start.elapsed().as_secs_f64());
        }
    }
    if best[1].2 < best[0].2 {
        Kernel::Relaxed
    } else {
        Kernel::Simd128
    }
}

/// `OFFSET * sum(w)` per group of each output (`rows`: the `outputs` weight
/// rows, `inputs` wide), laid out as `scales_t`.
pub(super) fn offsets<'a>(
    rows: impl Iterator<Item = &'a [i8]>,
    (outputs, inputs): (usize, usize),
    group: usize,
) -> Vec<i32> {
    let mut offsets = vec![0i32; outputs * inputs / group];
    for (o, row) in rows.enumerate() {
        for (g, weights) in row.chunks(group).enumerate() {
            let sum: i32 = weights.iter().map(|&v| i32::from(v)).sum();
            offsets[g * outputs + o] = OFFSET * sum;
        }
    }
    offsets
}

/// Each quad of inputs as 8 bytes: the high 7 bits of `x + OFFSET` of the
/// four, then their low 7 bits (so one 32-bit splat feeds each dot).
pub(super) fn digits(values: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; values.len() * 2];
    let (offset, low) = (i16x8_splat(OFFSET as i16), i16x8_splat(127));
    for (i, chunk) in out.chunks_exact_mut(32).enumerate() {
        // SAFETY: values come in groups, multiples of 16: 16 follow `16 i`.
        let load =
            |j: usize| unsafe { v128_load(values.as_ptr().add(16 * i + 8 * j) as *const v128) };
        let (a, b) = (i16x8_add(load(0), offset), i16x8_add(load(1), offset));
        let hi = u8x16_narrow_i16x8(u16x8_shr(a, 7), u16x8_shr(b, 7));
        let lo = u8x16_narrow_i16x8(v128_and(a, low), v128_and(b, low));
        let first = i8x16_shuffle::<0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23>(hi, lo);
        let second =
            i8x16_shuffle::<8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31>(hi, lo);
        // SAFETY: the chunk is 32 bytes.
        unsafe {
            v128_store(chunk.as_mut_ptr() as *mut v128, first);
            v128_store(chunk.as_mut_ptr().add(16) as *mut v128, second);
        }
    }
    out
}

/// One row by 16 outputs: per quad of inputs, four weight vectors (four
/// outputs by four inputs each) meet the row's two digit splats.
#[inline(always)]
fn block(x: &QRows, w: &QMatrix, out: &mut [f32], t: Tile) {
    let k = w.inputs;
    let packed = w.block(t.output);
    let digits = &x.digits[t.row * 2 * k..][..2 * k];
    let mut total = [[f32x4_splat(0.0); V]];
    for g in 0..w.groups() {
        let mut hi = [i32x4_splat(0); V];
        let mut lo = [i32x4_splat(0); V];
        for q in g * w.group / 4..(g + 1) * w.group / 4 {
            // SAFETY: quad `q < k / 4`: its 64 bytes lie inside the block of
            // `16 * k`, its 8 digit bytes inside the row's `2 k`.
            let (h, l) = unsafe {
                let at = digits.as_ptr().add(8 * q);
                (
                    v128_load32_splat(at as *const u32),
                    v128_load32_splat(at.add(4) as *const u32),
                )
            };
            for v in 0..V {
                let wv = unsafe {
                    v128_load(packed.as_ptr().add(q * 4 * BLOCK + v * 16) as *const v128)
                };
                hi[v] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, h, hi[v]);
                lo[v] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, l, lo[v]);
            }
        }
        let sums = std::array::from_fn(|v| {
            // SAFETY: `t.output + 16 <= outputs`: four offsets follow.
            let at = g * w.outputs + t.output + 4 * v;
            let offset = unsafe { v128_load(w.offsets_t.as_ptr().add(at) as *const v128) };
            i32x4_sub(i32x4_add(i32x4_shl(hi[v], 7), lo[v]), offset)
        });
        add_group(x, w, t, g, &[sums], &mut total);
    }
    store(w, t, &total, out);
}
