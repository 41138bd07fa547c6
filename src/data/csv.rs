//! CSV (RFC 4180, comma-separated) through the `csv` crate: the records AG
//! News and CSV with a header are read from, and the CSV writer.

use ::csv::{ByteRecord, Reader, ReaderBuilder, Writer};

use super::{check_label, is_blank, shorten, Collector, Example};
use crate::error::{Error, Result};

/// Reads CSV with a header into `out`. The header is the first non-blank
/// record; its names are matched after trimming whitespace.
pub(super) fn read_csv(bytes: &[u8], out: &mut Collector) -> Result<()> {
    let mut records = records(bytes);
    let Some(header) = records.next() else {
        return Ok(());
    };
    let names = header
        .fields
        .map_err(|reason| out.error(header.line, reason))?;
    let find = |name: &str| -> Result<Option<usize>> {
        let mut found = names.iter().enumerate().filter(|(_, n)| n.trim() == name);
        let first = found.next().map(|(i, _)| i);
        if found.next().is_some() {
            return Err(out.error(header.line, format!("the header has two `{name}` columns")));
        }
        Ok(first)
    };
    let missing = |name: &str| {
        out.error(
            header.line,
            format!(
                "the header must name columns `text` and `label`; no `{name}` in `{}`",
                shorten(&names.join(","))
            ),
        )
    };
    let text_at = find("text")?.ok_or_else(|| missing("text"))?;
    let label_at = find("label")?.ok_or_else(|| missing("label"))?;
    let head_at = find("head")?;
    let width = names.len();
    for record in records {
        let row = record.fields.and_then(|mut fields| {
            if fields.len() != width {
                return Err(format!(
                    "expected {width} fields as in the header, found {}",
                    fields.len()
                ));
            }
            let head = head_at
                .map(|i| std::mem::take(&mut fields[i]))
                .filter(|h| !h.is_empty());
            let label = std::mem::take(&mut fields[label_at]);
            check_label(&label)?;
            let text = std::mem::take(&mut fields[text_at]);
            Ok(Example { text, label, head })
        });
        out.row(record.line, row)?;
    }
    Ok(())
}

/// Writes `examples` as CSV with header `text,label`, plus a `head` column if
/// any example has a head (empty for those without). Fields holding a comma,
/// quote, `\r` or `\n` are quoted, quotes doubled; lines end in `\n`. Reads
/// back identically, except that `head: Some("")` reads back as `None`.
///
/// Fails if an example's label is empty or only whitespace, since such a row
/// would not read back.
pub fn write_csv(examples: &[Example]) -> Result<String> {
    let columns: &[&str] = if examples.iter().any(|e| e.head.is_some()) {
        &["text", "label", "head"]
    } else {
        &["text", "label"]
    };
    let mut writer = Writer::from_writer(Vec::new());
    writer.write_record(columns).map_err(unwritable)?;
    for (i, example) in examples.iter().enumerate() {
        if example.label.trim().is_empty() {
            return Err(Error::InvalidArgument {
                what: format!("example {}", i + 1),
                reason: "its label is empty".into(),
            });
        }
        let head = example.head.as_deref().unwrap_or("");
        let row = [example.text.as_str(), &example.label, head];
        writer
            .write_record(&row[..columns.len()])
            .map_err(unwritable)?;
    }
    let bytes = writer.into_inner().map_err(unwritable)?;
    String::from_utf8(bytes).map_err(unwritable)
}

/// Writing strings to memory does not fail; this only keeps the writer
/// free of panics.
fn unwritable(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument {
        what: "CSV output".into(),
        reason: e.to_string(),
    }
}

/// One CSV record: the line it starts on and its fields, or why it is malformed.
pub(super) struct Record {
    pub(super) line: usize,
    pub(super) fields: Result<Vec<String>, String>,
}

/// The records of `bytes`, blank lines (empty or only whitespace) skipped.
///
/// The csv crate splits and unquotes; a line break is `\n`, `\r\n` or a lone
/// `\r`, and one inside quotes is kept verbatim. What this adds: each
/// record's first line (the crate's positions include the empty lines it
/// skipped), errors for the quoting the crate reads through (see
/// [`check_quoting`]) and for invalid UTF-8, naming the line and column.
pub(super) fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        bytes,
        // Flexible: rows of the wrong width are the caller's error to name.
        reader: ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes),
        record: ByteRecord::new(),
        line: 1,
        counted: 0,
    }
}

/// The iterator [`records`] returns.
pub(super) struct Records<'a> {
    bytes: &'a [u8],
    reader: Reader<&'a [u8]>,
    record: ByteRecord,
    /// The 1-based line that byte `counted` is on.
    line: usize,
    counted: usize,
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let bytes = self.bytes;
        loop {
            let start = self.reader.position().byte() as usize;
            let read = self.reader.read_byte_record(&mut self.record);
            let end = self.reader.position().byte() as usize;
            // The record proper starts after the empty lines the crate skipped.
            let skipped = bytes[start..end]
                .iter()
                .take_while(|&&b| matches!(b, b'\r' | b'\n'))
                .count();
            let begin = start + skipped;
            self.line += line_breaks(&bytes[self.counted..begin]);
            self.counted = begin;
            let line = self.line;
            match read {
                Ok(false) => return None,
                // Only I/O errors are possible, and reading memory has none.
                Err(e) => {
                    return Some(Record {
                        line,
                        fields: Err(e.to_string()),
                    })
                }
                Ok(true) => {}
            }
            let raw = &bytes[begin..end];
            let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if is_blank(raw) {
                continue;
            }
            let fields = check_quoting(raw, line)
                .and_then(|()| check_utf8(raw, line))
                // Valid UTF-8 once the whole record is.
                .map(|()| {
                    self.record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect()
                });
            return Some(Record { line, fields });
        }
    }
}

/// Fails on the two quoting errors the csv crate reads through (it has no
/// strict mode, BurntSushi/rust-csv#77): text after a closing quote, which
/// it appends (`"a"b` is `ab`), and a quote never closed, which swallows the
/// rest of the file into one field. Both mean a broken file, typically a
/// quote inside a quoted field that was not doubled. `raw` is one record
/// starting on `line`, without its line break.
fn check_quoting(raw: &[u8], line: usize) -> Result<(), String> {
    let line_of = |at: usize| line + line_breaks(&raw[..at]);
    let mut at = 0;
    for field in 1.. {
        if raw.get(at) != Some(&b'"') {
            // Unquoted: runs to the next comma, quotes inside are literal.
            match raw[at..].iter().position(|&b| b == b',') {
                Some(len) => at += len + 1,
                None => break,
            }
            continue;
        }
        // The closing quote is the first one not doubled.
        let mut close = at + 1;
        loop {
            let Some(len) = raw[close..].iter().position(|&b| b == b'"') else {
                let opened = line_of(at);
                return Err(format!(
                    "a quoted field opened on line {opened} is never closed"
                ));
            };
            close += len;
            if raw.get(close + 1) != Some(&b'"') {
                break;
            }
            close += 2;
        }
        match raw.get(close + 1) {
            None => break,
            Some(b',') => at = close + 2,
            Some(_) => {
                let closed = line_of(close);
                let on_line = if closed == line {
                    String::new()
                } else {
                    format!(" (on line {closed})")
                };
                return Err(format!(
                    "unexpected text after the closing quote of field {field}{on_line}"
                ));
            }
        }
    }
    Ok(())
}

/// Fails if `raw`, one record starting on `line`, is not UTF-8, naming the
/// invalid byte's column (and line, when the record spans several).
fn check_utf8(raw: &[u8], line: usize) -> Result<(), String> {
    let Err(e) = std::str::from_utf8(raw) else {
        return Ok(());
    };
    let before = &raw[..e.valid_up_to()];
    let line_start = before
        .iter()
        .rposition(|&b| matches!(b, b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let column = before.len() - line_start + 1;
    Err(match line_breaks(before) {
        0 => format!("not valid UTF-8 (invalid byte at column {column})"),
        n => format!(
            "not valid UTF-8 (invalid byte on line {}, column {column})",
            line + n
        ),
    })
}

/// How many line breaks `bytes` holds, counting `\r\n` once and a lone `\r`
/// too, as the csv crate does when it splits records.
fn line_breaks(bytes: &[u8]) -> usize {
    let lone_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    (0..bytes.len())
        .filter(|&i| bytes[i] == b'\n' || lone_cr(i))
        .count()
}
