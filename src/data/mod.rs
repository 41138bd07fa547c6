//! Reading and writing labelled texts: SST-2 (GLUE TSV), AG News (CSV),
//! JSONL and CSV with a header.
//!
//! The readers take the file's bytes (no file system access, so they work in
//! the browser too) and never panic on bad input. In every format a UTF-8 BOM
//! at the start is ignored, `\n` and `\r\n` line endings both work, blank
//! lines are skipped and an empty text is allowed. A row that cannot be used
//! (wrong number of fields, empty or unknown label, invalid UTF-8, bad JSON,
//! broken quoting) is an [`Error::BadInput`] naming the source and the
//! 1-based physical line where the row starts, or, with `skip_malformed`, is
//! skipped and counted. A missing or wrong header is always an error.

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
/// - [`DataFormat::Csv`] (and AG News): RFC 4180. A field starting with `"` runs
///   to the next lone `"` (`""` is a quote; commas and line breaks inside are
///   kept verbatim, `\r\n` included); only a comma or a line break may follow
///   it. A `"` inside an unquoted field is a literal character. The first
///   non-blank record is the header; names are matched after trimming
///   whitespace, extra columns are ignored, every row must have as many fields
///   as the header, and an empty `head` cell means no head. Values are verbatim.
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
        DataFormat::Sst2 => read_sst2(bytes, &mut out)?,
        DataFormat::Jsonl => read_jsonl(bytes, &mut out)?,
        DataFormat::AgNews => read_ag_news(bytes, &mut out)?,
        DataFormat::Csv => read_csv(bytes, &mut out)?,
    }
    Ok(out.data)
}

/// Writes `examples` as JSONL, one object per line (`text`, `label`, then
/// `head` if set), each line ending in `\n`. Reads back identically.
pub fn write_jsonl(examples: &[Example]) -> String {
    let mut out = String::new();
    for example in examples {
        out.push_str("{\"text\":");
        out.push_str(&json_string(&example.text));
        out.push_str(",\"label\":");
        out.push_str(&json_string(&example.label));
        if let Some(head) = &example.head {
            out.push_str(",\"head\":");
            out.push_str(&json_string(head));
        }
        out.push_str("}\n");
    }
    out
}

/// Writes `examples` as CSV with header `text,label`, plus a `head` column if
/// any example has a head (empty for those without). Fields holding a comma,
/// quote, `\r` or `\n` are quoted, quotes doubled; lines end in `\n`. Reads
/// back identically, except that `head: Some("")` reads back as `None`.
///
/// Fails if an example's label is empty or only whitespace, since such a row
/// would not read back.
pub fn write_csv(examples: &[Example]) -> Result<String> {
    let with_head = examples.iter().any(|e| e.head.is_some());
    let mut out = String::from(if with_head {
        "text,label,head\n"
    } else {
        "text,label\n"
    });
    for (i, example) in examples.iter().enumerate() {
        if example.label.trim().is_empty() {
            return Err(Error::InvalidArgument {
                what: format!("example {}", i + 1),
                reason: "its label is empty".into(),
            });
        }
        push_csv_field(&mut out, &example.text);
        out.push(',');
        push_csv_field(&mut out, &example.label);
        if with_head {
            out.push(',');
            push_csv_field(&mut out, example.head.as_deref().unwrap_or(""));
        }
        out.push('\n');
    }
    Ok(out)
}

/// Decodes the escapes found in AG News text fields (after CSV unquoting).
///
/// The rules come from what occurs in the real data (checked on a 20,000-row
/// training subset), not only from its readme:
///
/// - `\$` is `$`.
/// - Any other backslash, or run of backslashes, stands for a line break in
///   the original article (`dwindling\band` is "dwindling band", `a\nuclear`
///   is "a nuclear", `Wars?\\Until` separates two paragraphs): it becomes one
///   space, or nothing next to whitespace or at either end of the field. So
///   `\n` is not read as a newline escape: in the data it is always a wrapped
///   word starting with `n`, and `\\` is never a literal backslash.
/// - HTML entities, in full (`&lt;`, `&#39;`) or with the `&` turned into a
///   space as AG News mostly has them (`America #39;s` is "America's",
///   `Johnson  amp; Johnson` is "Johnson & Johnson"): `quot amp lt gt apos
///   nbsp hellip lsquo rsquo ldquo rdquo ndash mdash` by name, and `#NNN;` /
///   `#xHH;` by number, `#128;` to `#159;` read as Windows-1252 (`#151;` is an
///   em dash). A name without `&` counts only when not preceded by a letter or
///   digit (so `champ;` stays); `nbsp` becomes a plain space; control
///   characters and unknown names are left as written.
///
/// HTML tags (`<b>...</b>` once decoded) are kept. Whitespace is not trimmed
/// or collapsed here.
pub fn decode_ag_news(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    // A line break (backslash) not yet written: it becomes a space before the
    // next character unless that is whitespace or follows whitespace.
    let mut pending_break = false;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let (ch, len) = if let Some(after) = rest.strip_prefix("\\$") {
            ('$', rest.len() - after.len())
        } else if c == '\\' {
            pending_break = true;
            rest = rest.trim_start_matches('\\');
            prev = Some(c);
            continue;
        } else {
            // An entity's length counts its `&` or the space standing for it.
            let entity = match c {
                '&' | ' ' => parse_entity(&rest[1..]).map(|(ch, len)| (ch, len + 1)),
                // Bare: not straight after a decoded `&` (`&amp;lt;` is `&lt;`).
                '#' if prev != Some('&') => parse_entity(rest),
                c if c.is_ascii_alphabetic()
                    && !prev.is_some_and(|p| p.is_alphanumeric() || p == '&') =>
                {
                    parse_entity(rest)
                }
                _ => None,
            };
            entity.unwrap_or((c, c.len_utf8()))
        };
        if pending_break {
            pending_break = false;
            let after_space = out.chars().next_back().is_none_or(char::is_whitespace);
            if !ch.is_whitespace() && !after_space {
                out.push(' ');
            }
        }
        out.push(ch);
        prev = if len == c.len_utf8() {
            Some(c)
        } else {
            Some(ch)
        };
        rest = &rest[len..];
    }
    out
}

/// The character for the entity at the start of `s` (a name or `#` number,
/// then `;`, no `&`) and the entity's length in bytes.
fn parse_entity(s: &str) -> Option<(char, usize)> {
    let end = s.bytes().take(12).position(|b| b == b';')?;
    let body = &s[..end];
    let ch = if let Some(number) = body.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) if (1..=6).contains(&hex.len()) => u32::from_str_radix(hex, 16).ok()?,
            Some(_) => return None,
            None if (1..=7).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit()) =>
            {
                number.parse().ok()?
            }
            None => return None,
        };
        numeric_char(code)?
    } else {
        match body {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            "nbsp" => ' ',
            "hellip" => '\u{2026}',
            "lsquo" => '\u{2018}',
            "rsquo" => '\u{2019}',
            "ldquo" => '\u{201C}',
            "rdquo" => '\u{201D}',
            "ndash" => '\u{2013}',
            "mdash" => '\u{2014}',
            _ => return None,
        }
    };
    Some((ch, end + 1))
}

/// The character a numeric entity stands for; 128..=159 as Windows-1252,
/// which is what the web pages behind AG News meant. `None` for control
/// characters and non-characters.
fn numeric_char(code: u32) -> Option<char> {
    const CP1252: [u32; 32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
        0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
        0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ];
    let code = match code {
        0x80..=0x9F => CP1252[(code - 0x80) as usize],
        _ => code,
    };
    match code {
        0x09 | 0x0A | 0x0D => char::from_u32(code),
        0..=0x1F | 0x7F => None,
        _ => char::from_u32(code),
    }
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

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn check_label(label: &str) -> Result<(), String> {
    if label.trim().is_empty() {
        Err("the label is empty".into())
    } else {
        Ok(())
    }
}

fn read_sst2(bytes: &[u8], out: &mut Collector) -> Result<()> {
    let mut header_seen = false;
    for (n, raw) in lines(bytes) {
        if is_blank(raw) {
            continue;
        }
        if !header_seen {
            let line = utf8(raw).map_err(|reason| out.error(n, reason))?;
            if line.trim_end() != "sentence\tlabel" {
                return Err(out.error(
                    n,
                    format!(
                        "expected the SST-2 header `sentence<TAB>label`, found `{}`",
                        shorten(line)
                    ),
                ));
            }
            header_seen = true;
            continue;
        }
        let row = utf8(raw).and_then(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [text, label] = fields[..] else {
                return Err(format!(
                    "expected 2 tab-separated fields (sentence, label), found {}",
                    fields.len()
                ));
            };
            let label = match label.trim() {
                "0" => SST2_LABELS[0],
                "1" => SST2_LABELS[1],
                "" => return Err("the label is empty".into()),
                other => return Err(format!("label must be 0 or 1, found `{}`", shorten(other))),
            };
            Ok(Example {
                text: text.trim_end().to_string(),
                label: label.to_string(),
                head: None,
            })
        });
        out.row(n, row)?;
    }
    Ok(())
}

fn read_jsonl(bytes: &[u8], out: &mut Collector) -> Result<()> {
    for (n, raw) in lines(bytes) {
        if is_blank(raw) {
            continue;
        }
        let row = utf8(raw).and_then(parse_json_example);
        out.row(n, row)?;
    }
    Ok(())
}

fn parse_json_example(line: &str) -> Result<Example, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json's own "at line 1 column N" would only confuse: name the column.
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(&*message, |(m, _)| m);
        format!("not valid JSON at column {}: {message}", e.column())
    })?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    let string = |name: &str| match object.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(format!("field \"{name}\" is not a string")),
    };
    let text = string("text")?.ok_or("no \"text\" field")?;
    let label = string("label")?.ok_or("no \"label\" field")?;
    check_label(&label)?;
    let head = string("head")?;
    Ok(Example { text, label, head })
}

fn read_ag_news(bytes: &[u8], out: &mut Collector) -> Result<()> {
    for record in CsvRecords::new(bytes) {
        let row = record.fields.and_then(|fields| {
            let [class, title, description] = &fields[..] else {
                return Err(format!(
                    "expected 3 fields (class, title, description), found {}",
                    fields.len()
                ));
            };
            let label = match class.trim() {
                "1" => AG_NEWS_LABELS[0],
                "2" => AG_NEWS_LABELS[1],
                "3" => AG_NEWS_LABELS[2],
                "4" => AG_NEWS_LABELS[3],
                "" => return Err("the class is empty".into()),
                other => {
                    return Err(format!(
                        "class must be 1, 2, 3 or 4, found `{}`",
                        shorten(other)
                    ))
                }
            };
            let title = decode_ag_news(title);
            let description = decode_ag_news(description);
            Ok(Example {
                text: join_title(title.trim(), description.trim()),
                label: label.to_string(),
                head: None,
            })
        });
        out.row(record.line, row)?;
    }
    Ok(())
}

/// Title and description as one text (see [`read_examples`]).
fn join_title(title: &str, description: &str) -> String {
    if title.is_empty() {
        description.to_string()
    } else if description.is_empty() {
        title.to_string()
    } else if title.ends_with(['.', '!', '?']) {
        format!("{title} {description}")
    } else {
        format!("{title}. {description}")
    }
}

fn read_csv(bytes: &[u8], out: &mut Collector) -> Result<()> {
    let mut records = CsvRecords::new(bytes);
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

/// One CSV record: the line it starts on and its fields, or why it is malformed.
struct CsvRecord {
    line: usize,
    fields: Result<Vec<String>, String>,
}

/// RFC 4180 records of a byte slice, comma-separated.
///
/// A field starting with `"` is quoted: it runs to the next lone `"`, `""`
/// inside is one quote, and commas and line breaks inside are kept verbatim.
/// After the closing quote only a comma or the end of the line may follow.
/// A quote inside an unquoted field is kept as a literal character. A line
/// outside quotes that is empty or only whitespace is skipped. Line breaks
/// are `\n` or `\r\n`.
struct CsvRecords<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// 1-based number of the physical line `pos` is on.
    line: usize,
}

impl<'a> CsvRecords<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            line: 1,
        }
    }

    /// Index of the next `\n` at or after `from`, or the end.
    fn line_end(&self, from: usize) -> usize {
        self.bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |i| from + i)
    }

    /// Moves past the `\n` at `at` (or to the end).
    fn next_line_after(&mut self, at: usize) {
        if at < self.bytes.len() {
            self.line += 1;
            self.pos = at + 1;
        } else {
            self.pos = at;
        }
    }

    /// Reads the raw fields of the record at `pos`; `pos` ends up after it.
    fn raw_record(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let bytes = self.bytes;
        let start_line = self.line;
        let mut fields = Vec::new();
        loop {
            let mut field = Vec::new();
            if bytes.get(self.pos) == Some(&b'"') {
                self.pos += 1;
                loop {
                    match bytes.get(self.pos) {
                        None => {
                            return Err(format!(
                                "a quoted field opened on line {start_line} is never closed"
                            ))
                        }
                        Some(b'"') if bytes.get(self.pos + 1) == Some(&b'"') => {
                            field.push(b'"');
                            self.pos += 2;
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(&b) => {
                            if b == b'\n' {
                                self.line += 1;
                            }
                            field.push(b);
                            self.pos += 1;
                        }
                    }
                }
                fields.push(field);
                match (bytes.get(self.pos), bytes.get(self.pos + 1)) {
                    (Some(b','), _) => self.pos += 1,
                    (None, _) => return Ok(fields),
                    (Some(b'\n'), _) => {
                        self.next_line_after(self.pos);
                        return Ok(fields);
                    }
                    (Some(b'\r'), Some(b'\n')) => {
                        self.next_line_after(self.pos + 1);
                        return Ok(fields);
                    }
                    (Some(_), _) => {
                        let line = self.line;
                        let end = self.line_end(self.pos);
                        self.next_line_after(end);
                        return Err(format!(
                            "unexpected text after the closing quote of field {}{}",
                            fields.len(),
                            if line == start_line {
                                String::new()
                            } else {
                                format!(" (on line {line})")
                            }
                        ));
                    }
                }
            } else {
                let rest = &bytes[self.pos..];
                let len = rest
                    .iter()
                    .position(|&b| b == b',' || b == b'\n')
                    .unwrap_or(rest.len());
                let mut value = &rest[..len];
                self.pos += len;
                match bytes.get(self.pos) {
                    Some(b',') => {
                        fields.push(value.to_vec());
                        self.pos += 1;
                    }
                    Some(_) => {
                        value = value.strip_suffix(b"\r").unwrap_or(value);
                        fields.push(value.to_vec());
                        self.next_line_after(self.pos);
                        return Ok(fields);
                    }
                    None => {
                        fields.push(value.to_vec());
                        return Ok(fields);
                    }
                }
            }
        }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = CsvRecord;

    fn next(&mut self) -> Option<CsvRecord> {
        // Skip blank lines.
        loop {
            if self.pos >= self.bytes.len() {
                return None;
            }
            let end = self.line_end(self.pos);
            if !is_blank(&self.bytes[self.pos..end]) {
                break;
            }
            self.next_line_after(end);
        }
        let line = self.line;
        let start = self.pos;
        let fields = self.raw_record().and_then(|raw| {
            // The record's bytes, to report where invalid UTF-8 is.
            let span = &self.bytes[start..self.pos];
            if let Err(e) = std::str::from_utf8(span) {
                let before = &span[..e.valid_up_to()];
                let newlines = before.iter().filter(|&&b| b == b'\n').count();
                let column = before.len()
                    - before
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |i| i + 1)
                    + 1;
                return Err(if newlines == 0 {
                    format!("not valid UTF-8 (invalid byte at column {column})")
                } else {
                    format!(
                        "not valid UTF-8 (invalid byte on line {}, column {column})",
                        line + newlines
                    )
                });
            }
            raw.into_iter()
                .map(|f| String::from_utf8(f).map_err(|_| "not valid UTF-8".to_string()))
                .collect()
        });
        Some(CsvRecord { line, fields })
    }
}

/// Appends `value` to a CSV line, quoted if it needs to be.
fn push_csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// At most 40 characters of `s`, for error messages.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}
