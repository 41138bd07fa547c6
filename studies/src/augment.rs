//! A simple text augmentation for the task with few examples: word dropout
//! and one swap of neighbouring words, seeded.

use sentence_multitask::rng::Rng;

/// Probability that a word is dropped.
pub const WORD_DROPOUT: f32 = 0.1;

/// `copies` variants of `text`: each word (split on whitespace) is dropped
/// with probability `WORD_DROPOUT` (0.1), keeping at least one, then one random
/// pair of neighbouring words is swapped. Texts of one word come back as they are.
pub fn augment(text: &str, copies: usize, rng: &mut Rng) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    (0..copies)
        .map(|_| {
            if words.len() < 2 {
                return text.to_string();
            }
            let mut kept: Vec<&str> = words
                .iter()
                .copied()
                .filter(|_| rng.next_f32() >= WORD_DROPOUT)
                .collect();
            if kept.is_empty() {
                kept.push(words[rng.below(words.len())]);
            }
            if kept.len() >= 2 {
                let i = rng.below(kept.len() - 1);
                kept.swap(i, i + 1);
            }
            kept.join(" ")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_keep_words_and_are_seeded() {
        let text = "a gripping , beautifully acted film about grief";
        let a = augment(text, 4, &mut Rng::new(7));
        assert_eq!(a, augment(text, 4, &mut Rng::new(7)));
        assert_eq!(a.len(), 4);
        let original: Vec<&str> = text.split_whitespace().collect();
        for variant in &a {
            assert_ne!(variant, text);
            assert!(variant.split_whitespace().all(|w| original.contains(&w)));
        }
        assert_eq!(augment("single", 2, &mut Rng::new(0)), ["single", "single"]);
    }
}
