//! The wasm simd128 kernel: outputs in lanes. Per step, one i16 pair of each
//! of two input rows, broadcast, meets 16 outputs' weight pairs (four
//! `load8x8_s` widenings) in eight `i32x4.dot_i16x8_s`; per group, the sums
//! are scaled into f32 lane by lane, with no horizontal reduction.

use core::arch::wasm32::*;

use super::{for_each_tile, QMatrix, QRows, Tile, BLOCK};

/// Vectors of four outputs per block.
const V: usize = BLOCK / 4;

pub(super) fn run(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    for_each_tile!(x, w, first, out, 2, block);
}

/// `R` rows by 16 outputs.
#[inline(always)]
fn block<const R: usize>(x: &QRows, w: &QMatrix, out: &mut [f32], t: Tile) {
    let (r0, o0, c, width) = (t.row, t.output, t.column, t.width);
    let (k, groups) = (w.inputs, w.groups());
    let packed = w.block(o0);
    let xs: [&[i16]; R] = std::array::from_fn(|r| &x.values[(r0 + r) * k..(r0 + r + 1) * k]);
    let mut total = [[f32x4_splat(0.0); V]; R];
    for g in 0..groups {
        let mut acc = [[i32x4_splat(0); V]; R];
        for p in g * w.group / 2..(g + 1) * w.group / 2 {
            // SAFETY: pair `p < k / 2`: its 32 bytes lie inside the block of
            // `16 * k`, its two i16 inside each row of `k`; wasm loads need no alignment.
            let wv: [v128; V] = std::array::from_fn(|v| unsafe {
                i16x8_load_extend_i8x8(packed.as_ptr().add(p * 2 * BLOCK + v * 8))
            });
            for r in 0..R {
                let xv = unsafe { v128_load32_splat(xs[r].as_ptr().add(2 * p) as *const u32) };
                for v in 0..V {
                    acc[r][v] = i32x4_add(acc[r][v], i32x4_dot_i16x8(xv, wv[v]));
                }
            }
        }
        for v in 0..V {
            // SAFETY: `o0 + 16 <= outputs`: four scales follow.
            let at = g * w.outputs + o0 + 4 * v;
            let wscale = unsafe { v128_load(w.scales_t.as_ptr().add(at) as *const v128) };
            for r in 0..R {
                let scale = f32x4_mul(wscale, f32x4_splat(x.scales[(r0 + r) * groups + g]));
                let sums = f32x4_convert_i32x4(acc[r][v]);
                total[r][v] = f32x4_add(total[r][v], f32x4_mul(sums, scale));
            }
        }
    }
    for v in 0..V {
        // SAFETY: four biases follow `o0 + 4v`; `c + 16 <= width` inside row `r0 + r` of `out`.
        let bias = unsafe { v128_load(w.bias.as_ptr().add(o0 + 4 * v) as *const v128) };
        for (r, t) in total.iter().enumerate() {
            let at = (r0 + r) * width + c + 4 * v;
            let lanes = f32x4_add(t[v], bias);
            unsafe { v128_store(out[at..at + 4].as_mut_ptr() as *mut v128, lanes) };
        }
    }
}

/// [`super::quantize_group`] four lanes at a time (same values: max and
/// nearest-even rounding do not depend on the order).
pub(super) fn quantize_group(group: &[f32], out: &mut [i16]) -> f32 {
    // SAFETY: callers pass `i + 4 <= group.len()`.
    let lanes = |i: usize| unsafe { v128_load(group.as_ptr().add(i) as *const v128) };
    let mut max = f32x4_splat(0.0);
    for i in (0..group.len()).step_by(4) {
        max = f32x4_max(max, f32x4_abs(lanes(i)));
    }
    max = f32x4_max(max, i32x4_shuffle::<2, 3, 0, 1>(max, max));
    max = f32x4_max(max, i32x4_shuffle::<1, 0, 3, 2>(max, max));
    let scale = f32x4_extract_lane::<0>(max) / 32767.0;
    let inv = f32x4_splat(if scale > 0.0 { 1.0 / scale } else { 0.0 });
    for i in (0..group.len()).step_by(8) {
        let q = |i| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(lanes(i), inv)));
        let packed = i16x8_narrow_i32x4(q(i), q(i + 4));
        // SAFETY: `i + 8 <= out.len()` (groups are multiples of 8).
        unsafe { v128_store(out.as_mut_ptr().add(i) as *mut v128, packed) };
    }
    scale
}
