//! The wasm simd128 kernel: blocks of two input rows by four outputs, per
//! group eight `i32x4.dot_i16x8_s` steps (weights widened by `load8x8_s`),
//! then the four outputs' group sums in one vector for the f32 steps.

use core::arch::wasm32::*;

use super::{QMatrix, QRows, LANES};

pub(super) fn run(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    let width = out.len() / x.rows.max(1);
    let mut r = 0;
    while r + 2 <= x.rows {
        for c in (0..width).step_by(LANES) {
            block::<2>(x, w, r, first + c, out, width, c);
        }
        r += 2;
    }
    if r < x.rows {
        for c in (0..width).step_by(LANES) {
            block::<1>(x, w, r, first + c, out, width, c);
        }
    }
}

/// Rows `r0..r0 + R`, outputs `o0..o0 + 4`, written at column `c` of `out`.
#[inline(always)]
fn block<const R: usize>(
    x: &QRows,
    w: &QMatrix,
    r0: usize,
    o0: usize,
    out: &mut [f32],
    width: usize,
    c: usize,
) {
    let (k, group, groups) = (w.inputs, w.group, w.groups());
    let xs: [&[i16]; R] = std::array::from_fn(|r| &x.values[(r0 + r) * k..(r0 + r + 1) * k]);
    let ws: [&[i8]; LANES] = std::array::from_fn(|j| &w.values[(o0 + j) * k..(o0 + j + 1) * k]);
    let mut total = [f32x4_splat(0.0); R];
    for g in 0..groups {
        let mut acc = [[i32x4_splat(0); LANES]; R];
        for s in (g * group..(g + 1) * group).step_by(8) {
            // SAFETY: `s + 8 <= k` (groups are multiples of 8 inside rows of k);
            // wasm loads have no alignment requirement.
            let wv: [v128; LANES] =
                std::array::from_fn(|j| unsafe { i16x8_load_extend_i8x8(ws[j].as_ptr().add(s)) });
            for r in 0..R {
                let xv = unsafe { v128_load(xs[r].as_ptr().add(s) as *const v128) };
                for j in 0..LANES {
                    acc[r][j] = i32x4_add(acc[r][j], i32x4_dot_i16x8(xv, wv[j]));
                }
            }
        }
        let at = g * w.outputs + o0;
        // SAFETY: `o0 + 4 <= outputs`, so four scales follow `at`.
        let wscale = unsafe { v128_load(w.scales_t.as_ptr().add(at) as *const v128) };
        for r in 0..R {
            let scale = f32x4_mul(wscale, f32x4_splat(x.scales[(r0 + r) * groups + g]));
            let sums = f32x4_convert_i32x4(reduce4(acc[r]));
            total[r] = f32x4_add(total[r], f32x4_mul(sums, scale));
        }
    }
    // SAFETY: four biases follow `o0`.
    let bias = unsafe { v128_load(w.bias.as_ptr().add(o0) as *const v128) };
    for (r, t) in total.iter().enumerate() {
        let at = (r0 + r) * width + c;
        let lanes = f32x4_add(*t, bias);
        // SAFETY: `c + 4 <= width`, inside row `r0 + r` of `out`.
        unsafe { v128_store(out[at..at + LANES].as_mut_ptr() as *mut v128, lanes) };
    }
}

/// `[sum(a), sum(b), sum(c), sum(d)]` of four i32x4 (exact: integers).
#[inline(always)]
fn reduce4([a, b, c, d]: [v128; 4]) -> v128 {
    let ab = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(a, b),
        i32x4_shuffle::<2, 6, 3, 7>(a, b),
    );
    let cd = i32x4_add(
        i32x4_shuffle::<0, 4, 1, 5>(c, d),
        i32x4_shuffle::<2, 6, 3, 7>(c, d),
    );
    i32x4_add(
        i32x4_shuffle::<0, 1, 4, 5>(ab, cd),
        i32x4_shuffle::<2, 3, 6, 7>(ab, cd),
    )
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
