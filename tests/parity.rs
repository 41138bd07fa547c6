//! The encoder against Python sentence-transformers' reference output.

mod common;

use common::{cosine, encoder, golden, norm};

const MIN_COSINE: f64 = 0.99999;

#[test]
fn golden_fixture_covers_the_hard_cases() {
    let items = golden();
    assert_eq!(items.len(), 60);
    assert!(items.iter().any(|i| i.text.is_empty()), "empty string");
    assert!(items.iter().any(|i| i.n_tokens == 256), "a truncated text");
    assert!(items.iter().any(|i| !i.text.is_ascii()), "non-ASCII text");
}

#[test]
fn token_ids_equal_the_reference_exactly() {
    for item in golden() {
        let ids = encoder().tokenize(&item.text).unwrap();
        assert_eq!(ids, item.token_ids, "token ids of {:?}", item.text);
        assert_eq!(ids.len(), item.n_tokens);
    }
}

#[test]
fn batch_of_one_matches_the_reference() {
    for item in golden() {
        let got = &encoder().embed_batch(&[&item.text]).unwrap()[0];
        assert_eq!(got.tokens, item.n_tokens, "{:?}", item.text);
        let c = cosine(&got.vector, &item.embedding);
        assert!(c >= MIN_COSINE, "cosine {c} for {:?}", item.text);
        assert!(
            (norm(&got.vector) - 1.0).abs() <= 1e-5,
            "norm of {:?}",
            item.text
        );
    }
}

#[test]
fn mixed_length_batches_of_32_match_the_reference_and_one_by_one() {
    let items = golden();
    // Golden order mixes short, long, empty and truncated texts in each chunk.
    for chunk in items.chunks(32) {
        let texts: Vec<&str> = chunk.iter().map(|i| i.text.as_str()).collect();
        let lengths: Vec<usize> = chunk.iter().map(|i| i.n_tokens).collect();
        assert!(
            lengths.iter().max() > lengths.iter().min(),
            "chunk is mixed-length"
        );
        let batched = encoder().embed_batch(&texts).unwrap();
        for (item, got) in chunk.iter().zip(&batched) {
            let c = cosine(&got.vector, &item.embedding);
            assert!(c >= MIN_COSINE, "cosine {c} for {:?} in a batch", item.text);
            assert!((norm(&got.vector) - 1.0).abs() <= 1e-5);
            let alone = &encoder().embed_batch(&[&item.text]).unwrap()[0];
            let diff = got
                .vector
                .iter()
                .zip(&alone.vector)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff <= 1e-5,
                "batched vs alone differ by {diff} for {:?}",
                item.text
            );
        }
    }
}

#[test]
fn length_sorted_batching_keeps_input_order() {
    let items = golden();
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let all = encoder().embed(&texts, 7).unwrap();
    assert_eq!(all.len(), items.len());
    for (item, got) in items.iter().zip(&all) {
        assert_eq!(got.tokens, item.n_tokens);
        let c = cosine(&got.vector, &item.embedding);
        assert!(c >= MIN_COSINE, "cosine {c} for {:?}", item.text);
    }
}

#[test]
fn zero_batch_size_is_an_error_not_a_hang() {
    let err = encoder().embed(&["a"], 0).unwrap_err();
    assert!(err.to_string().contains("batch size"), "{err}");
}

#[test]
fn no_texts_give_no_embeddings() {
    assert!(encoder().embed::<&str>(&[], 32).unwrap().is_empty());
    assert!(encoder().embed_batch::<&str>(&[]).unwrap().is_empty());
}
