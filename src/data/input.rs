//! Reading sentences from files or stdin: one per line verbatim, or JSONL
//! objects with a `"text"` field. Errors name the source and the line.

use std::io::BufRead;

use crate::error::{Error, Result};

/// Longest line accepted, in bytes. Anything longer is refused rather than
/// read into memory; the encoder keeps only the first 256 word pieces anyway.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// How each input line holds its sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// The whole line is the sentence, untrimmed; an empty line is an empty sentence.
    Plain,
    /// Each non-empty line is a JSON object with a string field `"text"`.
    Jsonl,
}

/// Iterates over the sentences of a reader, one per line.
pub struct Sentences<R> {
    reader: R,
    source_name: String,
    format: LineFormat,
    line: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> Sentences<R> {
    /// Reads `reader`, calling it `source_name` in error messages.
    pub fn new(reader: R, source_name: impl Into<String>, format: LineFormat) -> Self {
        Self {
            reader,
            source_name: source_name.into(),
            format,
            line: 0,
            buf: Vec::new(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::BadInput {
            source_name: self.source_name.clone(),
            line: self.line,
            reason: reason.into(),
        }
    }

    /// Reads the next line's bytes without its `\n` or `\r\n`; `None` at the end.
    fn next_line(&mut self) -> Option<Result<()>> {
        self.buf.clear();
        let limit = (MAX_LINE_BYTES + 2) as u64;
        let read = std::io::Read::take(&mut self.reader, limit).read_until(b'\n', &mut self.buf);
        self.line += 1;
        match read {
            Ok(0) => None,
            Err(e) => Some(Err(self.error(format!("could not read: {e}")))),
            Ok(_) => {
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                    if self.buf.last() == Some(&b'\r') {
                        self.buf.pop();
                    }
                }
                if self.buf.len() > MAX_LINE_BYTES {
                    return Some(Err(
                        self.error(format!("line is longer than {MAX_LINE_BYTES} bytes"))
                    ));
                }
                Some(Ok(()))
            }
        }
    }

    fn parse(&self) -> Result<Option<String>> {
        let text = std::str::from_utf8(&self.buf).map_err(|e| {
            self.error(format!(
                "not valid UTF-8 (invalid byte at column {})",
                e.valid_up_to() + 1
            ))
        })?;
        match self.format {
            LineFormat::Plain => Ok(Some(text.to_string())),
            LineFormat::Jsonl if text.trim().is_empty() => Ok(None),
            LineFormat::Jsonl => {
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| self.error(format!("not a JSON object: {e}")))?;
                match value.get("text") {
                    Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(self.error("field \"text\" is not a string")),
                    None => Err(self.error("no \"text\" field")),
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for Sentences<R> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_line()? {
                Err(e) => return Some(Err(e)),
                Ok(()) => match self.parse() {
                    Ok(Some(text)) => return Some(Ok(text)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(e)),
                },
            }
        }
    }
}
