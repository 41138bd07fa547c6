//! SST-2's training file holds phrases cut from parsed sentences, so a random
//! draw is mostly fragments (28% of three words or fewer), and a selection
//! set drawn beside it leaks: most selection phrases occur inside training
//! phrases. The studies' sentiment pool keeps only whole sentences: rows
//! that occur inside no other row. Each then stands for its own source
//! sentence, so a selection set drawn from them is split by source sentence.

use std::collections::HashSet;

/// Indices of the rows of `texts` that are not a word span of another row
/// (whitespace-separated words; a duplicate row counts once, its first).
pub fn whole_sentences(texts: &[String]) -> Vec<usize> {
    let words: Vec<Vec<&str>> = texts
        .iter()
        .map(|t| t.split_whitespace().collect())
        .collect();
    let rows: HashSet<String> = words.iter().map(|w| w.join(" ")).collect();
    let mut inside = HashSet::new();
    for w in &words {
        for start in 0..w.len() {
            for end in start + 1..=w.len() {
                if end - start == w.len() {
                    continue;
                }
                let span = w[start..end].join(" ");
                if rows.contains(&span) {
                    inside.insert(span);
                }
            }
        }
    }
    let mut seen = HashSet::new();
    words
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            let text = w.join(" ");
            !inside.contains(&text) && seen.insert(text)
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_rows_inside_no_other_row() {
        let texts: Vec<String> = [
            "a gorgeous , witty film",
            "gorgeous , witty",
            "witty",
            "a dull  mess",
            "a dull mess",
            "film",
            "an unrelated sentence about a gorgeous day",
        ]
        .map(String::from)
        .to_vec();
        // "film" is inside the first row; "a dull mess" is the same words as row 3.
        assert_eq!(whole_sentences(&texts), vec![0, 3, 6]);
        assert!(whole_sentences(&[]).is_empty());
    }
}
