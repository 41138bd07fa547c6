//! The x86_64 AVX2 kernel: the simd128 kernel's blocks (two input rows by four
//! outputs) on 16 lanes, `vpmaddwd` per step, the f32 steps on four lanes.

use std::arch::x86_64::*;

use super::{QMatrix, QRows, LANES};

/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn run_avx2(x: &QRows, w: &QMatrix, first: usize, out: &mut [f32]) {
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
#[inline]
#[target_feature(enable = "avx2")]
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
    let mut total = [_mm_setzero_ps(); R];
    for g in 0..groups {
        let mut acc = [[_mm256_setzero_si256(); LANES]; R];
        for s in (g * group..(g + 1) * group).step_by(16) {
            // SAFETY: `s + 16 <= k` (groups are multiples of 16 inside rows of k).
            let wv: [__m256i; LANES] = std::array::from_fn(|j| unsafe {
                _mm256_cvtepi8_epi16(_mm_loadu_si128(ws[j].as_ptr().add(s) as *const __m128i))
            });
            for r in 0..R {
                let xv = unsafe { _mm256_loadu_si256(xs[r].as_ptr().add(s) as *const __m256i) };
                for j in 0..LANES {
                    acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(xv, wv[j]));
                }
            }
        }
        let at = g * w.outputs + o0;
        // SAFETY: `o0 + 4 <= outputs`, so four scales follow `at`.
        let wscale = unsafe { _mm_loadu_ps(w.scales_t.as_ptr().add(at)) };
        for r in 0..R {
            let scale = _mm_mul_ps(wscale, _mm_set1_ps(x.scales[(r0 + r) * groups + g]));
            let sums = _mm_cvtepi32_ps(reduce4(acc[r]));
            total[r] = _mm_add_ps(total[r], _mm_mul_ps(sums, scale));
        }
    }
    // SAFETY: four biases follow `o0`.
    let bias = unsafe { _mm_loadu_ps(w.bias.as_ptr().add(o0)) };
    for (r, t) in total.iter().enumerate() {
        let at = (r0 + r) * width + c;
        // SAFETY: `c + 4 <= width`, inside row `r0 + r` of `out`.
        unsafe { _mm_storeu_ps(out[at..at + LANES].as_mut_ptr(), _mm_add_ps(*t, bias)) };
    }
}

/// `[sum(a), sum(b), sum(c), sum(d)]` of four 8-lane i32 vectors (exact: integers).
#[inline]
#[target_feature(enable = "avx2")]
fn reduce4([a, b, c, d]: [__m256i; 4]) -> __m128i {
    let abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    _mm_add_epi32(
        _mm256_castsi256_si128(abcd),
        _mm256_extracti128_si256::<1>(abcd),
    )
}
