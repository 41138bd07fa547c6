//! Tokenisation exactly as sentence-transformers does it for all-MiniLM-L6-v2:
//! the shipped tokenizer.json with its fixed padding and 128-piece truncation
//! turned off, and truncation at 256 word pieces including `[CLS]` and `[SEP]`.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};
use crate::model::weights::TOKENIZER_FILE;

/// Maximum sequence length of sentence-transformers' all-MiniLM-L6-v2, specials included.
pub const MAX_SEQ_LEN: usize = 256;

/// Characters tokenised at first for a long text; doubled until the cut
/// provably does not change the first `MAX_SEQ_LEN` pieces.
const FIRST_PREFIX_CHARS: usize = 4 * MAX_SEQ_LEN;

/// A tokenizer that produces the reference token ids.
#[derive(Clone)]
pub struct SentenceTokenizer {
    inner: Tokenizer,
    max_len: usize,
}

impl SentenceTokenizer {
    /// Builds the tokenizer from `tokenizer.json` bytes, truncating at `max_len` pieces.
    pub fn from_bytes(bytes: &[u8], max_len: usize) -> Result<Self> {
        let bad = |reason: String| Error::BadModelFile {
            file: TOKENIZER_FILE.into(),
            reason,
        };
        if max_len < 3 {
            return Err(Error::InvalidArgument {
                what: "max sequence length".into(),
                reason: format!("{max_len} leaves no room for text between [CLS] and [SEP]"),
            });
        }
        let mut inner = Tokenizer::from_bytes(bytes)
            .map_err(|e| bad(format!("not a Hugging Face tokenizer ({e})")))?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| bad(format!("truncation rejected: {e}")))?;
        let probe = inner
            .encode("", true)
            .map_err(|e| bad(format!("cannot encode: {e}")))?;
        if probe.get_ids().len() != 2 {
            return Err(bad(format!(
                "expected [CLS] and [SEP] around every input, got {} special tokens for the empty string",
                probe.get_ids().len()
            )));
        }
        Ok(Self { inner, max_len })
    }

    /// Token ids of `text` with `[CLS]`/`[SEP]`, truncated to the maximum length.
    ///
    /// Work is bounded by the truncation length, not the text length: a long
    /// text is tokenised on growing prefixes until the cut lies beyond the
    /// last piece kept, which gives the same ids as tokenising it whole.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut chars = FIRST_PREFIX_CHARS;
        loop {
            let (prefix, whole) = match text.char_indices().nth(chars) {
                Some((byte, _)) => (&text[..byte], false),
                None => (text, true),
            };
            let encoding = self
                .inner
                .encode(prefix, true)
                .map_err(|e| Error::Tokenizer(e.to_string()))?;
            if whole || self.cut_is_past_kept_pieces(&encoding) {
                return Ok(encoding.get_ids().to_vec());
            }
            chars *= 2;
        }
    }

    /// True when the prefix's last word (the one a cut may have split) lies
    /// wholly in the part truncation dropped, so the kept pieces are final.
    fn cut_is_past_kept_pieces(&self, encoding: &tokenizers::Encoding) -> bool {
        let Some(overflow) = encoding.get_overflowing().last() else {
            return false;
        };
        let kept_last_word = encoding.get_word_ids().iter().rev().find_map(|w| *w);
        let dropped_last_word = overflow.get_word_ids().iter().rev().find_map(|w| *w);
        match (kept_last_word, dropped_last_word) {
            (Some(kept), Some(dropped)) => dropped > kept,
            _ => false,
        }
    }

    /// The truncation length in pieces, specials included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}
