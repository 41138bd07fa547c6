//! The wasm simd128 kernel: outputs in lanes. Per step, one i16 pair of each
//! of two input rows, broadcast, meets 16 outputs' weight pairs (four
//! `load8x8_s` widenings) in eight `i32x4.dot_i16x8_s`; per group, the sums
//! are scaled into f32 lane by lane, with no horizontal reduction.

use core::arch::wasm32::*;

use super::lanes::{add_group, store, V};
use super::{for_each_tile, QMatrix, QRows, Tile, BLOCK};

pub(super) fn run(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    for_each_tile!(x, w, first, out, 2, block);
}

/// `R` rows by 16 outputs.
#[inline(always)]
fn block<const R: usize>(x: &QRows, w: &QMatrix, out: &mut [f32], t: Tile) {
    let k = w.inputs;
    let packed = w.block(t.output);
    let xs: [&[i16]; R] = std::array::from_fn(|r| &x.values[(t.row + r) * k..][..k]);
    let mut total = [[f32x4_splat(0.0); V]; R];
    for g in 0..w.groups() {
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
        add_group(x, w, t, g, &acc, &mut total);
    }
    store(w, t, &total, out);
}
