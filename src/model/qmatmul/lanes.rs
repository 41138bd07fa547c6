//! What both wasm builds' kernels share (simd128 and relaxed SIMD): the
//! quantiser, and the f32 steps after each group's exact sums.

use core::arch::wasm32::*;

use super::{QMatrix, QRows, Tile, BLOCK, INPUT_LEVELS};

/// Vectors of four outputs per block.
pub(super) const V: usize = BLOCK / 4;

/// Adds group `g`'s exact i32 sums of rows `t.row..` and the block's outputs
/// into `total`: `total += f32(sum) * (w_scale * x_scale)`, as the reference.
#[inline(always)]
pub(super) fn add_group<const R: usize>(
    x: &QRows,
    w: &QMatrix,
    t: Tile,
    g: usize,
    sums: &[[v128; V]; R],
    total: &mut [[v128; V]; R],
) {
    let groups = w.groups();
    for v in 0..V {
        // SAFETY: `t.output + 16 <= outputs`: four scales follow.
        let at = g * w.outputs + t.output + 4 * v;
        let wscale = unsafe { v128_load(w.scales_t.as_ptr().add(at) as *const v128) };
        for r in 0..R {
            let scale = f32x4_mul(wscale, f32x4_splat(x.scales[(t.row + r) * groups + g]));
            let sums = f32x4_convert_i32x4(sums[r][v]);
            total[r][v] = f32x4_add(total[r][v], f32x4_mul(sums, scale));
        }
    }
}

/// Writes `total + bias` into the tile of `out`.
#[inline(always)]
pub(super) fn store<const R: usize>(w: &QMatrix, t: Tile, total: &[[v128; V]; R], out: &mut [f32]) {
    for v in 0..V {
        // SAFETY: four biases follow `t.output + 4v`.
        let bias = unsafe { v128_load(w.bias.as_ptr().add(t.output + 4 * v) as *const v128) };
        for (r, lanes) in total.iter().enumerate() {
            let at = (t.row + r) * t.width + t.column + 4 * v;
            let lanes = f32x4_add(lanes[v], bias);
            // SAFETY: `t.column + 16 <= t.width`, inside row `t.row + r` of `out`.
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
    let scale = f32x4_extract_lane::<0>(max) / INPUT_LEVELS;
    let inv = f32x4_splat(if scale > 0.0 { 1.0 / scale } else { 0.0 });
    for i in (0..group.len()).step_by(8) {
        let q = |i| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(lanes(i), inv)));
        let packed = i16x8_narrow_i32x4(q(i), q(i + 4));
        // SAFETY: `i + 8 <= out.len()` (groups are multiples of 8).
        unsafe { v128_store(out.as_mut_ptr().add(i) as *mut v128, packed) };
    }
    scale
}
