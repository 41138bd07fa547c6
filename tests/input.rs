//! The sentence reader: line endings, JSONL, limits.

use std::io::Cursor;

use sentence_multitask::data::input::{LineFormat, Sentences, MAX_LINE_BYTES};

fn read(bytes: &[u8], format: LineFormat) -> Result<Vec<String>, String> {
    Sentences::new(Cursor::new(bytes.to_vec()), "in.txt", format)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

#[test]
fn plain_lines_are_kept_verbatim() {
    let got = read(b"a\n\n b \r\nc\r\n\td", LineFormat::Plain).unwrap();
    assert_eq!(got, ["a", "", " b ", "c", "\td"]);
}

#[test]
fn a_final_newline_adds_no_sentence() {
    assert_eq!(read(b"a\n", LineFormat::Plain).unwrap(), ["a"]);
    assert!(read(b"", LineFormat::Plain).unwrap().is_empty());
    assert_eq!(read(b"\n", LineFormat::Plain).unwrap(), [""]);
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let err = read(b"ok\nok\nab\xc3(\n", LineFormat::Plain).unwrap_err();
    assert_eq!(
        err,
        "in.txt, line 3: not valid UTF-8 (invalid byte at column 3)"
    );
}

#[test]
fn jsonl_reads_text_and_skips_blank_lines() {
    let got = read(
        b"{\"text\":\"x\",\"label\":\"y\"}\n\n  \n{\"text\":\"\"}",
        LineFormat::Jsonl,
    )
    .unwrap();
    assert_eq!(got, ["x", ""]);
}

#[test]
fn jsonl_errors_name_the_line() {
    let err = read(b"{\"text\":\"x\"}\n{\"text\": 3}\n", LineFormat::Jsonl).unwrap_err();
    assert_eq!(err, "in.txt, line 2: field \"text\" is not a string");
    let err = read(b"[1,2]\n", LineFormat::Jsonl).unwrap_err();
    assert_eq!(err, "in.txt, line 1: no \"text\" field");
}

#[test]
fn enormous_line_is_refused_without_reading_it_all() {
    let mut bytes = vec![b'a'; MAX_LINE_BYTES + 10];
    bytes.push(b'\n');
    let err = read(&bytes, LineFormat::Plain).unwrap_err();
    assert!(
        err.starts_with("in.txt, line 1: line is longer than"),
        "{err}"
    );
}
