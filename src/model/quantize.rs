//! Compact int8 storage of the encoder's weight matrices: each row is cut into
//! groups of [`GROUP`] values that share one f16 scale (`value = q * scale`,
//! `q` in -127..=127). About half the bytes of f16. The encoder keeps its
//! matrices int8 and multiplies on the integer kernels ([`crate::model::qmatmul`]).
//! Measured on the golden set: minimum cosine 0.99926 to the reference (f16
//! storage: 0.9999989).
//!
//! In a safetensors file a quantised matrix `NAME` is an `I8` tensor of its
//! own shape plus `NAME.scale`, an `F16` tensor of shape `(rows, cols / GROUP)`.
//! Adapters may store their matrices in 4 bits (`q` in -7..=7, the same
//! groups): then `NAME` is a `U8` tensor of shape `(rows, cols / 2)`, two
//! values a byte, the low nibble first; in memory they are int8 as any other.

use half::f16;

/// Values per scale along a row.
pub const GROUP: usize = 64;

/// Suffix of the tensor holding a quantised matrix's scales.
pub const SCALE_SUFFIX: &str = ".scale";

/// A matrix in int8 groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Matrix {
    /// `rows * cols` quantised values, row-major.
    pub values: Vec<i8>,
    /// `rows * cols / group` scales, row-major.
    pub scales: Vec<f16>,
    /// Values per scale along a row.
    pub group: usize,
}

impl Int8Matrix {
    /// Quantises a row-major `(rows, cols)` f32 matrix; `None` when `cols`
    /// is not a multiple of [`GROUP`] (such a matrix stays in f16).
    pub fn quantize(data: &[f32], cols: usize) -> Option<Self> {
        Self::quantize_bits(data, cols, 8)
    }

    /// As [`Int8Matrix::quantize`], with `q` in `-levels(bits)..=levels(bits)`.
    pub fn quantize_bits(data: &[f32], cols: usize, bits: u8) -> Option<Self> {
        let levels = f32::from(levels(bits));
        if cols == 0 || !cols.is_multiple_of(GROUP) || !data.len().is_multiple_of(cols) {
            return None;
        }
        let mut values = Vec::with_capacity(data.len());
        let mut scales = Vec::with_capacity(data.len() / GROUP);
        for group in data.chunks(GROUP) {
            let max = group.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = f16::from_f32(max / levels);
            let s = scale.to_f32();
            scales.push(scale);
            values.extend(group.iter().map(|&v| match s > 0.0 {
                true => (v / s).round().clamp(-levels, levels) as i8,
                false => 0,
            }));
        }
        Some(Self {
            values,
            scales,
            group: GROUP,
        })
    }

    /// The f32 values, row-major (a file's group comes from [`group_of`]).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.values.len());
        extend_groups(&self.values, &self.scales, self.group, &mut out);
        out
    }

    /// Appends the f32 values of row `row` of this `cols`-wide matrix to
    /// `out`; false (and nothing appended) when there is no such row.
    pub fn extend_row(&self, row: usize, cols: usize, out: &mut Vec<f32>) -> bool {
        let groups = cols / self.group;
        let values = self.values.get(row * cols..(row + 1) * cols);
        let scales = self.scales.get(row * groups..(row + 1) * groups);
        let (Some(values), Some(scales)) = (values, scales) else {
            return false;
        };
        extend_groups(values, scales, self.group, out);
        true
    }
}

/// The largest stored magnitude in `bits`-bit storage: 127 for 8 bits, 7 for 4.
pub fn levels(bits: u8) -> i8 {
    match bits {
        4 => 7,
        _ => 127,
    }
}

/// Values in -8..=7, two a byte, the low nibble first (`values.len()` even).
pub fn pack_int4(values: &[i8]) -> Vec<u8> {
    (values.chunks(2))
        .map(|p| (p[0] as u8 & 0x0f) | ((p.get(1).copied().unwrap_or(0) as u8) << 4))
        .collect()
}

/// The values [`pack_int4`] packed.
pub fn unpack_int4(bytes: &[u8]) -> Vec<i8> {
    // Shifting the nibble to the top and back (arithmetically) restores its sign.
    (bytes.iter())
        .flat_map(|&b| [((b << 4) as i8) >> 4, (b as i8) >> 4])
        .collect()
}

/// Appends `values`, in groups of `group` sharing one of `scales`, as f32.
fn extend_groups(values: &[i8], scales: &[f16], group: usize, out: &mut Vec<f32>) {
    for (q, s) in values.chunks(group).zip(scales) {
        let s = s.to_f32();
        out.extend(q.iter().map(|&v| f32::from(v) * s));
    }
}

/// The group size implied by a `(rows, cols)` matrix and its scales' shape,
/// or why the two disagree.
pub fn group_of(shape: &[usize], scale_shape: &[usize]) -> Result<usize, String> {
    match (shape, scale_shape) {
        ([rows, cols], [scale_rows, groups])
            if rows == scale_rows && *groups > 0 && cols.is_multiple_of(*groups) =>
        {
            Ok(cols / groups)
        }
        _ => Err(format!(
            "int8 values of shape {shape:?} need scales of shape (rows, a divisor of cols), got {scale_shape:?}"
        )),
    }
}
