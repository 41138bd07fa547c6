//! The integer kernels against their scalar reference, bit for bit: natively
//! (tests/compact.rs: AVX2, AVX-512 VNNI where the CPU has them) and in
//! Chromium (tests/wasm.rs: simd128, and relaxed SIMD in its build).

use sentence_multitask::model::qmatmul::{matmul_with, Kernel, QMatrix};
use sentence_multitask::model::quantize::Int8Matrix;

/// A deterministic pseudo-random value in -1..1.
fn noise(i: usize, salt: usize) -> f32 {
    let h = (i.wrapping_mul(2654435761) ^ salt.wrapping_mul(40503)).wrapping_mul(2246822519);
    ((h >> 8) % 20001) as f32 / 10000.0 - 1.0
}

/// Every available kernel (and its quantiser) gives the reference's bits on
/// the encoder's shapes and odd row counts, with BERT-like outliers.
pub fn assert_every_kernel_matches_reference() {
    let kernels = Kernel::available();
    assert!(
        kernels.len() > 1,
        "no vector kernel on this machine: {kernels:?}"
    );
    for (rows, outputs, inputs) in [(1, 16, 64), (3, 48, 128), (17, 1152, 384), (9, 384, 1536)] {
        let data: Vec<f32> = (0..outputs * inputs).map(|i| noise(i, 1) * 0.2).collect();
        let m = Int8Matrix::quantize(&data, inputs).unwrap();
        let bias: Vec<f32> = (0..outputs).map(|i| noise(i, 2)).collect();
        let x: Vec<f32> = (0..rows * inputs)
            .map(|i| noise(i, 3) * if i % 97 == 0 { 40.0 } else { 1.0 })
            .collect();
        let plain = QMatrix::stack_for(Kernel::Reference, &[(&m, outputs)], bias.clone()).unwrap();
        let want = matmul_with(Kernel::Reference, &x, &plain);
        assert!(want.iter().all(|v| v.is_finite()));
        for &kernel in &kernels[1..] {
            // Packed for the kernel; the reference reads that packing too.
            let w = QMatrix::stack_for(kernel, &[(&m, outputs)], bias.clone()).unwrap();
            let reference = matmul_with(Kernel::Reference, &x, &w);
            assert!(reference
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            let got = matmul_with(kernel, &x, &w);
            let differ = got
                .iter()
                .zip(&want)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(
                differ.count(),
                0,
                "{kernel:?} at {rows}x{inputs} -> {outputs}"
            );
        }
    }
}
