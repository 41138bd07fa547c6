//! The x86_64 kernels, outputs in lanes like the simd128 one: per step one
//! i16 pair of each input row, broadcast, meets a block's weight pairs.
//! AVX2 uses `vpmaddwd` + `vpaddd` on eight outputs a vector; AVX-512 VNNI
//! `vpdpwssd` (multiply, add pairs and accumulate in one) on sixteen.

use std::arch::x86_64::*;

use super::{for_each_tile, QMatrix, QRows, Tile, BLOCK, INPUT_LEVELS};

/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn run_avx2(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    for_each_tile!(x, w, first, out, 4, avx2_block);
}

/// `R` rows by 16 outputs (two vectors of eight).
#[inline]
#[target_feature(enable = "avx2")]
fn avx2_block<const R: usize>(x: &QRows, w: &QMatrix, out: &mut [f32], t: Tile) {
    const V: usize = BLOCK / 8;
    let (r0, o0, c, width) = (t.row, t.output, t.column, t.width);
    let (k, groups) = (w.inputs, w.groups());
    let packed = w.block(o0);
    let xs = x.values[r0 * k..(r0 + R) * k].as_ptr();
    let mut total = [[_mm256_setzero_ps(); V]; R];
    for g in 0..groups {
        let mut acc = [[_mm256_setzero_si256(); V]; R];
        for p in g * w.group / 2..(g + 1) * w.group / 2 {
            // (No closures here: they would not inherit the target features.)
            let mut wv = [_mm256_setzero_si256(); V];
            for (v, lanes) in wv.iter_mut().enumerate() {
                // SAFETY: pair `p < k / 2`: its 32 bytes lie inside the block.
                let at = unsafe { packed.as_ptr().add(p * 2 * BLOCK + v * 16) };
                *lanes = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(at as *const __m128i) });
            }
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: the pair's two i16 lie inside row `r0 + r`.
                let pair = unsafe { (xs.add(r * k + 2 * p) as *const i32).read_unaligned() };
                let xv = _mm256_set1_epi32(pair);
                for (sum, wv) in row.iter_mut().zip(wv) {
                    *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(xv, wv));
                }
            }
        }
        for v in 0..V {
            // SAFETY: `o0 + 16 <= outputs`: eight scales follow.
            let at = g * w.outputs + o0 + 8 * v;
            let wscale = unsafe { _mm256_loadu_ps(w.scales_t.as_ptr().add(at)) };
            for r in 0..R {
                let scale = _mm256_mul_ps(wscale, _mm256_set1_ps(x.scales[(r0 + r) * groups + g]));
                let sums = _mm256_cvtepi32_ps(acc[r][v]);
                total[r][v] = _mm256_add_ps(total[r][v], _mm256_mul_ps(sums, scale));
            }
        }
    }
    for v in 0..V {
        // SAFETY: eight biases follow `o0 + 8v`; `c + 16 <= width` inside row `r0 + r`.
        let bias = unsafe { _mm256_loadu_ps(w.bias.as_ptr().add(o0 + 8 * v)) };
        for (r, t) in total.iter().enumerate() {
            let at = (r0 + r) * width + c + 8 * v;
            unsafe { _mm256_storeu_ps(out[at..at + 8].as_mut_ptr(), _mm256_add_ps(t[v], bias)) };
        }
    }
}

/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn run_avx512(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
    for_each_tile!(x, w, first, out, 8, avx512_block);
}

/// `R` rows by 16 outputs (one vector).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn avx512_block<const R: usize>(x: &QRows, w: &QMatrix, out: &mut [f32], t: Tile) {
    let (r0, o0, c, width) = (t.row, t.output, t.column, t.width);
    let (k, groups) = (w.inputs, w.groups());
    let packed = w.block(o0);
    let xs = x.values[r0 * k..(r0 + R) * k].as_ptr();
    let mut total = [_mm512_setzero_ps(); R];
    for g in 0..groups {
        let mut acc = [_mm512_setzero_si512(); R];
        for p in g * w.group / 2..(g + 1) * w.group / 2 {
            // SAFETY: pair `p < k / 2`: its 32 bytes lie inside the block.
            let at = unsafe { packed.as_ptr().add(p * 2 * BLOCK) };
            let wv = _mm512_cvtepi8_epi16(unsafe { _mm256_loadu_si256(at as *const __m256i) });
            for (r, sum) in acc.iter_mut().enumerate() {
                // SAFETY: the pair's two i16 lie inside row `r0 + r`.
                let pair = unsafe { (xs.add(r * k + 2 * p) as *const i32).read_unaligned() };
                *sum = _mm512_dpwssd_epi32(*sum, _mm512_set1_epi32(pair), wv);
            }
        }
        // SAFETY: `o0 + 16 <= outputs`: sixteen scales follow.
        let wscale = unsafe { _mm512_loadu_ps(w.scales_t.as_ptr().add(g * w.outputs + o0)) };
        for r in 0..R {
            let scale = _mm512_mul_ps(wscale, _mm512_set1_ps(x.scales[(r0 + r) * groups + g]));
            let sums = _mm512_cvtepi32_ps(acc[r]);
            total[r] = _mm512_add_ps(total[r], _mm512_mul_ps(sums, scale));
        }
    }
    // SAFETY: sixteen biases follow `o0`; `c + 16 <= width` inside row `r0 + r`.
    let bias = unsafe { _mm512_loadu_ps(w.bias.as_ptr().add(o0)) };
    for (r, t) in total.iter().enumerate() {
        let at = (r0 + r) * width + c;
        unsafe { _mm512_storeu_ps(out[at..at + 16].as_mut_ptr(), _mm512_add_ps(*t, bias)) };
    }
}

/// [`super::quantize_group`] eight lanes at a time (same values: max and
/// nearest-even rounding do not depend on the order).
///
/// # Safety
/// The CPU must have AVX2; the group's length is a multiple of 8.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_group_avx2(group: &[f32], out: &mut [i16]) -> f32 {
    let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut max = _mm256_setzero_ps();
    for i in (0..group.len()).step_by(8) {
        // SAFETY: `i + 8 <= group.len()`.
        let v = unsafe { _mm256_loadu_ps(group.as_ptr().add(i)) };
        max = _mm256_max_ps(max, _mm256_and_ps(v, magnitude));
    }
    let half = _mm_max_ps(_mm256_castps256_ps128(max), _mm256_extractf128_ps::<1>(max));
    let half = _mm_max_ps(half, _mm_movehl_ps(half, half));
    let half = _mm_max_ss(half, _mm_shuffle_ps::<1>(half, half));
    let scale = _mm_cvtss_f32(half) / INPUT_LEVELS;
    let inv = _mm256_set1_ps(if scale > 0.0 { 1.0 / scale } else { 0.0 });
    for i in (0..group.len()).step_by(8) {
        // SAFETY: `i + 8 <= group.len() == out.len()`.
        let v = unsafe { _mm256_loadu_ps(group.as_ptr().add(i)) };
        let rounded = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(v, inv),
        );
        let q = _mm256_cvtps_epi32(rounded);
        let packed = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q));
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, packed) };
    }
    scale
}
