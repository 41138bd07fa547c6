//! Reading and writing labelled texts: SST-2 (GLUE TSV), AG News (CSV),
//! JSONL and CSV with a header.
//!
//! The readers take the file's bytes (no file system access, so they work in
//! the browser too) and never panic on bad input. In every format a UTF-8 BOM
//! at the start is ignored, `\n` and `\r\n` line endings both work (in CSV a
//! lone `\r` too, as old Mac exports have), blank lines are skipped and an
//! empty text is allowed. A row that cannot be used
//! (wrong number of fields, empty or unknown label, invalid UTF-8, bad JSON,
//! broken quoting) is an [`Error::BadInput`] naming the source and the
//! 1-based physical line where the row starts, or, with `skip_malformed`, is
//! skipped and counted. A missing or wrong header is always an error.

mod ag_news;
mod csv;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
pub mod input;
mod jsonl;
mod sst2;

pub use self::csv::write_csv;
pub use ag_news::decode_ag_news;
pub use jsonl::write_jsonl;

use crate::error::{Error, Result};

/// Label names of SST-2: class `0` is `negative`, class `1` is `positive`.
pub const SST2_LABELS: [&str; 2] = ["negative", "positive"];

/// Label names of AG News: classes `1` to `4` in this order.
pub const AG_NEWS_LABELS: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One labelled text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// The text to classify.
    pub text: String,
    /// Its label (a class name, never empty).
    pub label: String,
    /// The task head the example belongs to, if the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
}

/// The layout of a data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// GLUE SST-2 TSV: header `sentence<TAB>label`, rows `text<TAB>0|1`.
    Sst2,
    /// AG News CSV: no header, rows `"class","title","description"`, class 1 to 4.
    AgNews,
    /// One JSON object per line with string fields `text`, `label` and optionally `head`.
    Jsonl,
    /// CSV with a header naming columns `text`, `label` and optionally `head`.
    Csv,
}

impl DataFormat {
    /// The format called `name` (ASCII case ignored): `sst2`, `ag-news` or
    /// `agnews`, `jsonl`, `csv`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sst2" => Some(Self::Sst2),
            "ag-news" | "agnews" => Some(Self::AgNews),
            "jsonl" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The format a file name's extension suggests (case ignored): `.tsv` is
    /// SST-2, `.jsonl` is JSONL, `.csv` is generic CSV. AG News is never
    /// guessed: it must be asked for.
    pub fn guess(file_name: &str) -> Option<Self> {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let (_, ext) = base.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "tsv" => Some(Self::Sst2),
            "jsonl" => Some(Self::Jsonl),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    /// The name [`DataFormat::parse`] accepts for this format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sst2 => "sst2",
            Self::AgNews => "ag-news",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// The examples read from one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dataset {
    /// The examples, in file order.
    pub examples: Vec<Example>,
    /// How many malformed rows were skipped (always 0 unless asked to skip).
    pub skipped: usize,
}

/// Reads the examples in `bytes`, a whole file in `format`, calling it
/// `source_name` in error messages.
///
/// With `skip_malformed`, malformed rows are skipped and counted in
/// [`Dataset::skipped`] instead of failing the whole read; a missing or wrong
/// header still fails. A file without examples gives an empty dataset.
///
/// Per format:
/// - [`DataFormat::Sst2`]: the first non-blank line must be `sentence<TAB>label`.
///   The text is kept as is except that trailing whitespace (GLUE's files have
///   a space before the tab) is trimmed; label `0` is `negative`, `1` is `positive`.
/// - [`DataFormat::AgNews`]: the text is the title, `". "` and the description;
///   when the title already ends with `.`, `!` or `?` only a space is put between,
///   and an empty part is left out. Both parts are decoded as described in
///   [`decode_ag_news`] and trimmed.
/// - [`DataFormat::Jsonl`]: `head` may be missing or `null`; other fields are ignored.
/// - [`DataFormat::Csv`] (and AG News): RFC 4180, read by the `csv` crate. A
///   field starting with `"` runs to the next lone `"` (`""` is a quote; commas
///   and line breaks inside are kept verbatim, `\r\n` included); only a comma
///   or a line break may follow it. A `"` inside an unquoted field is a literal
///   character. The first non-blank record is the header; names are matched
///   after trimming whitespace, extra columns are ignored, every row must have
///   as many fields as the header, and an empty `head` cell means no head.
///   Values are verbatim.
pub fn read_examples(
    bytes: &[u8],
    source_name: &str,
    format: DataFormat,
    skip_malformed: bool,
) -> Result<Dataset> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut out = Collector {
        source_name,
        skip_malformed,
        data: Dataset::default(),
    };
    match format {
        DataFormat::Sst2 => sst2::read_sst2(bytes, &mut out)?,
        DataFormat::Jsonl => jsonl::read_jsonl(bytes, &mut out)?,
        DataFormat::AgNews => ag_news::read_ag_news(bytes, &mut out)?,
        DataFormat::Csv => self::csv::read_csv(bytes, &mut out)?,
    }
    Ok(out.data)
}

/// Accumulates examples, turning malformed rows into errors or skips.
struct Collector<'a> {
    source_name: &'a str,
    skip_malformed: bool,
    data: Dataset,
}

impl Collector<'_> {
    fn error(&self, line: usize, reason: impl Into<String>) -> Error {
        Error::BadInput {
            source_name: self.source_name.to_string(),
            line,
            reason: reason.into(),
        }
    }

    /// Takes one row's outcome: keeps the example, or skips or fails on a malformed row.
    fn row(&mut self, line: usize, row: Result<Example, String>) -> Result<()> {
        match row {
            Ok(example) => self.data.examples.push(example),
            Err(_) if self.skip_malformed => self.data.skipped += 1,
            Err(reason) => return Err(self.error(line, reason)),
        }
        Ok(())
    }
}

/// The physical lines of `bytes` with their 1-based numbers, without `\n` or `\r\n`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let all = if bytes.is_empty() {
        None
    } else {
        Some(body.split(|&b| b == b'\n'))
    };
    all.into_iter()
        .flatten()
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// `bytes` as text, or why not.
fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not valid UTF-8 (invalid byte at column {})",
            e.valid_up_to() + 1
        )
    })
}

/// Whether a line is empty or only whitespace: such lines are skipped.
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Refuses an empty label: it could not name a class.
fn check_label(label: &str) -> Result<(), String> {
    if label.trim().is_empty() {
        Err("the label is empty".into())
    } else {
        Ok(())
    }
}

/// At most 40 characters of `s`, for error messages.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}
