//! Truncation at 256 pieces on long and unusual texts, against the tokenizers
//! crate run on the whole text.

mod common;

use common::{encoder, model_files};
use sentence_multitask::model::tokenize::MAX_SEQ_LEN;
use tokenizers::{Tokenizer, TruncationParams};

/// The tokenizers crate with sentence-transformers' settings, run on the whole text.
fn whole_text_ids(text: &str) -> Vec<u32> {
    let mut t = Tokenizer::from_bytes(&model_files().tokenizer).unwrap();
    t.with_padding(None);
    t.with_truncation(Some(TruncationParams {
        max_length: MAX_SEQ_LEN,
        ..Default::default()
    }))
    .unwrap();
    t.encode(text, true).unwrap().get_ids().to_vec()
}

#[test]
fn long_texts_truncate_like_the_whole_text() {
    let word = "Supercalifragilistic ";
    let cases = [
        "word ".repeat(3000),
        word.repeat(500),
        "日本語の文章です。".repeat(400),
        format!(
            "{}{}",
            " ".repeat(5000),
            "late words after blanks ".repeat(200)
        ),
        "é".repeat(2000) + " ok",
        "a\u{301}".repeat(1500),
        "🙂 ".repeat(1000),
        "x".repeat(20_000),
        "hello, world! ".repeat(300),
    ];
    for text in &cases {
        let ids = encoder().tokenize(text).unwrap();
        assert_eq!(ids, whole_text_ids(text), "text starting {:?}", &text[..20]);
        assert!(ids.len() <= MAX_SEQ_LEN);
    }
}

#[test]
fn every_cut_near_the_limit_agrees() {
    // Texts whose length sits around the truncation point, one word at a time.
    for n in 240..270 {
        let text = (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            encoder().tokenize(&text).unwrap(),
            whole_text_ids(&text),
            "{n} words"
        );
    }
}

#[test]
fn truncated_text_ends_with_sep() {
    let ids = encoder().tokenize(&"token ".repeat(1000)).unwrap();
    assert_eq!(ids.len(), MAX_SEQ_LEN);
    assert_eq!(ids.first(), Some(&101));
    assert_eq!(ids.last(), Some(&102));
}

#[test]
fn enormous_text_is_cut_quickly_and_embeds() {
    let text = "many words here ".repeat(1_000_000); // 16 MB
    let e = &encoder().embed_batch(&[&text]).unwrap()[0];
    assert_eq!(e.tokens, MAX_SEQ_LEN);
    assert_eq!(e.vector.len(), 384);
}
