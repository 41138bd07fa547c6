//! The compact int8 weights (`model-int8.safetensors`): their accuracy against
//! the reference (on the integer kernels), the kernels against their scalar
//! reference, the quantiser's error bound, and broken int8 files.

mod common;

use std::collections::HashMap;

use candle_core::Device;
use common::{cosine, golden, model_files, weights_dir};
use half::f16;
use sentence_multitask::model::quantize::{pack_int4, unpack_int4, Int8Matrix, GROUP};
use sentence_multitask::model::weights::{
    load_tensors, parse_config, serialize_int8, COMPACT_WEIGHTS_FILE,
};
use sentence_multitask::{Encoder, ModelFiles};

/// The lossy path's bar (the f16 path keeps 0.99999, tests/parity.rs).
const MIN_COSINE: f64 = 0.999;

fn compact_files() -> ModelFiles {
    ModelFiles::read_dir_with(&weights_dir(), COMPACT_WEIGHTS_FILE).expect("compact weights")
}

#[test]
fn shipped_compact_weights_match_the_reference() {
    let encoder = Encoder::from_files(&compact_files()).unwrap();
    let items = golden();
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let got = encoder.embed(&texts, 8).unwrap();
    let mut min = 1.0f64;
    for (item, e) in items.iter().zip(&got) {
        assert_eq!(e.tokens, item.n_tokens, "{:?}", item.text);
        min = min.min(cosine(&e.vector, &item.embedding));
    }
    assert!(min >= MIN_COSINE, "minimum cosine {min}");
    // Lossy, but not by more than measured when it was built (0.99927).
    assert!(min < 0.99999, "int8 storage reproduced f32 exactly? {min}");
}

#[test]
fn every_integer_kernel_gives_the_reference_bits() {
    common::kernels::assert_every_kernel_matches_reference();
}

#[test]
fn compact_file_is_the_f16_weights_quantised() {
    let files = model_files();
    let config = parse_config(&files.config).unwrap();
    let exact = load_tensors(&files.weights, &files.weights_file, &config, &Device::Cpu).unwrap();
    let bytes = serialize_int8(&exact, HashMap::new()).unwrap();
    assert!(
        bytes.len() * 10 < files.weights.len() * 6,
        "about half of f16"
    );
    let compact = load_tensors(&bytes, COMPACT_WEIGHTS_FILE, &config, &Device::Cpu).unwrap();
    assert_eq!(compact.len(), exact.len());
    for (name, tensor) in &exact {
        let a = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = compact[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let max = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            // Half a step of the coarsest group, plus f16 rounding of the scale.
            assert!(
                (x - y).abs() <= max / 127.0 * 0.51 + 1e-3 * x.abs(),
                "{name}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn quantiser_error_is_at_most_half_a_step_per_group() {
    let cols = 2 * GROUP;
    let data: Vec<f32> = (0..3 * cols)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
        .collect();
    let mut zero_group = data.clone();
    zero_group[..GROUP].fill(0.0);
    for data in [data, zero_group] {
        let m = Int8Matrix::quantize(&data, cols).unwrap();
        assert_eq!(m.values.len(), data.len());
        assert_eq!(m.scales.len(), data.len() / GROUP);
        let back = m.dequantize();
        for (g, (orig, got)) in data.chunks(GROUP).zip(back.chunks(GROUP)).enumerate() {
            let step = m.scales[g].to_f32();
            for (x, y) in orig.iter().zip(got) {
                assert!((x - y).abs() <= step * 0.5 + 1e-6, "group {g}: {x} vs {y}");
            }
        }
    }
    assert!(
        Int8Matrix::quantize(&[0.0; 10], 10).is_none(),
        "width not a multiple of the group"
    );
}

#[test]
fn four_bit_values_pack_two_a_byte_and_come_back() {
    let values: Vec<i8> = (-8..=7).chain((-8..=7).rev()).collect();
    let packed = pack_int4(&values);
    assert_eq!(packed.len(), values.len() / 2);
    assert_eq!(packed[0], 0x98, "low nibble first: -8 then -7");
    assert_eq!(unpack_int4(&packed), values);
    // 4-bit quantising keeps -7..=7 and at most half a (16x coarser) step of error.
    let data: Vec<f32> = (0..GROUP * 2).map(|i| (i as f32 - 60.0) * 0.01).collect();
    let m = Int8Matrix::quantize_bits(&data, GROUP * 2, 4).unwrap();
    assert!(m.values.iter().all(|v| (-7..=7).contains(v)));
    assert!(m.values.contains(&7) && m.values.contains(&-7));
    for (g, (orig, got)) in data
        .chunks(GROUP)
        .zip(m.dequantize().chunks(GROUP))
        .enumerate()
    {
        let step = m.scales[g].to_f32();
        assert!(orig
            .iter()
            .zip(got)
            .all(|(x, y)| (x - y).abs() <= step * 0.5 + 1e-6));
    }
}

/// One tensor as stored: name, dtype, shape, bytes.
type Raw = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// The shipped compact file with `edit` applied to its raw tensors; the
/// error its load gives.
fn edited(edit: impl FnOnce(&mut Vec<Raw>)) -> String {
    let files = compact_files();
    let st = safetensors::SafeTensors::deserialize(&files.weights).unwrap();
    let mut raw: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    edit(&mut raw);
    let views: Vec<_> = raw
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let weights = safetensors::serialize(views, None).unwrap();
    match Encoder::from_files(&ModelFiles { weights, ..files }) {
        Ok(_) => panic!("broken int8 weights were accepted"),
        Err(e) => e.to_string(),
    }
}

const TENSOR: &str = "encoder.layer.2.intermediate.dense.weight";

/// [`edited`] with `edit` applied to the raw tensor `name` alone.
fn edited_tensor(name: &str, edit: impl FnOnce(&mut Raw)) -> String {
    edited(|raw| edit(raw.iter_mut().find(|(n, ..)| n == name).unwrap()))
}

#[test]
fn missing_scales_are_named() {
    let msg = edited(|raw| raw.retain(|(n, ..)| n != &format!("{TENSOR}.scale")));
    assert!(
        msg.contains(TENSOR) && msg.contains(".scale` is missing"),
        "{msg}"
    );
}

#[test]
fn scales_of_the_wrong_shape_are_refused() {
    let msg = edited_tensor(&format!("{TENSOR}.scale"), |scale| {
        scale.2 = vec![scale.2[1], scale.2[0]];
    });
    assert!(
        msg.contains(TENSOR) && msg.contains("need scales of shape"),
        "{msg}"
    );
}

#[test]
fn nan_scales_are_refused() {
    let msg = edited_tensor(&format!("{TENSOR}.scale"), |scale| {
        scale.3[..2].copy_from_slice(&f16::NAN.to_le_bytes());
    });
    assert!(msg.contains(TENSOR) && msg.contains("NaN"), "{msg}");
}

#[test]
fn unsupported_dtypes_are_named() {
    let msg = edited_tensor(TENSOR, |t| t.1 = safetensors::Dtype::U8);
    assert!(
        msg.contains(TENSOR) && msg.contains("expected F32, F16, BF16 or I8"),
        "{msg}"
    );
}
