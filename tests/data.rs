//! The data readers and writers: SST-2, AG News, JSONL and CSV; quoting,
//! escapes, line endings, malformed rows and round trips.

use sentence_multitask::data::{
    decode_ag_news, read_examples, write_csv, write_jsonl, DataFormat, Dataset, Example,
    AG_NEWS_LABELS, SST2_LABELS,
};
use sentence_multitask::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/data");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture exists")
}

fn read(bytes: &[u8], format: DataFormat) -> Dataset {
    match read_examples(bytes, "in", format, false) {
        Ok(data) => data,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Reads with skipping: the examples and the skipped count.
fn read_skipping(bytes: &[u8], format: DataFormat) -> (Vec<Example>, usize) {
    match read_examples(bytes, "in", format, true) {
        Ok(data) => (data.examples, data.skipped),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// The error's line and full message; panics if the read succeeds or fails otherwise.
fn error(bytes: &[u8], format: DataFormat) -> (usize, String) {
    match read_examples(bytes, "data.in", format, false) {
        Ok(data) => panic!("malformed input accepted: {data:?}"),
        Err(e @ Error::BadInput { line, .. }) => {
            let message = e.to_string();
            if let Error::BadInput { source_name, .. } = &e {
                assert_eq!(source_name, "data.in");
            }
            (line, message)
        }
        Err(e) => panic!("wrong error kind: {e}"),
    }
}

fn ex(text: &str, label: &str) -> Example {
    Example {
        text: text.into(),
        label: label.into(),
        head: None,
    }
}

fn ex_head(text: &str, label: &str, head: &str) -> Example {
    Example {
        head: Some(head.into()),
        ..ex(text, label)
    }
}

fn texts(data: &Dataset) -> Vec<&str> {
    data.examples.iter().map(|e| e.text.as_str()).collect()
}

fn labels(data: &Dataset) -> Vec<&str> {
    data.examples.iter().map(|e| e.label.as_str()).collect()
}

// ---------------------------------------------------------------- formats

#[test]
fn format_names_parse_and_guess() {
    assert_eq!(DataFormat::parse("sst2"), Some(DataFormat::Sst2));
    assert_eq!(DataFormat::parse("ag-news"), Some(DataFormat::AgNews));
    assert_eq!(DataFormat::parse("agnews"), Some(DataFormat::AgNews));
    assert_eq!(DataFormat::parse("AG-News"), Some(DataFormat::AgNews));
    assert_eq!(DataFormat::parse("jsonl"), Some(DataFormat::Jsonl));
    assert_eq!(DataFormat::parse("csv"), Some(DataFormat::Csv));
    assert_eq!(DataFormat::parse("tsv"), None);
    assert_eq!(DataFormat::parse(""), None);
    for format in [
        DataFormat::Sst2,
        DataFormat::AgNews,
        DataFormat::Jsonl,
        DataFormat::Csv,
    ] {
        assert_eq!(DataFormat::parse(format.name()), Some(format));
    }

    assert_eq!(DataFormat::guess("train.tsv"), Some(DataFormat::Sst2));
    assert_eq!(DataFormat::guess("dir/dev.TSV"), Some(DataFormat::Sst2));
    assert_eq!(DataFormat::guess("a.b/x.jsonl"), Some(DataFormat::Jsonl));
    assert_eq!(
        DataFormat::guess("C:\\data\\train.csv"),
        Some(DataFormat::Csv)
    );
    assert_eq!(DataFormat::guess("data.v1/train"), None);
    assert_eq!(DataFormat::guess("train.json"), None);
    assert_eq!(DataFormat::guess("csv"), None);
}

#[test]
fn label_constants() {
    assert_eq!(SST2_LABELS, ["negative", "positive"]);
    assert_eq!(AG_NEWS_LABELS, ["World", "Sports", "Business", "Sci/Tech"]);
}

#[test]
fn empty_inputs_give_empty_datasets() {
    for format in [
        DataFormat::Sst2,
        DataFormat::AgNews,
        DataFormat::Jsonl,
        DataFormat::Csv,
    ] {
        for bytes in [&b""[..], b"\n", b"\r\n\r\n", b"\xEF\xBB\xBF", b"  \n\t\n"] {
            assert_eq!(
                read(bytes, format),
                Dataset::default(),
                "{format:?} {bytes:?}"
            );
        }
    }
    // A header and nothing else.
    assert!(read(b"sentence\tlabel\n", DataFormat::Sst2)
        .examples
        .is_empty());
    assert!(read(b"text,label\n", DataFormat::Csv).examples.is_empty());
}

// ---------------------------------------------------------------- SST-2

#[test]
fn sst2_fixture_parses() {
    let data = read(&fixture("sst2.tsv"), DataFormat::Sst2);
    assert_eq!(data.skipped, 0);
    assert_eq!(
        data.examples,
        [
            ex("hide new secretions from the parental units", "negative"),
            ex("contains no wit , only labored gags", "negative"),
            ex(
                "that loves its characters and communicates something rather beautiful about human nature",
                "positive"
            ),
            ex("remains utterly satisfied to remain the same throughout", "negative"),
            ex(
                "on the worst revenge-of-the-nerds clichés the filmmakers could dredge up",
                "negative"
            ),
            ex(
                "more than another `` best man '' clone by weaving a theme throughout this funny film",
                "positive"
            ),
        ]
    );
}

#[test]
fn sst2_trims_only_trailing_whitespace() {
    let data = read(
        b"sentence\tlabel\n  leading kept \t1\n\"quotes\" stay \t0\n\t1\n",
        DataFormat::Sst2,
    );
    assert_eq!(texts(&data), ["  leading kept", "\"quotes\" stay", ""]);
    assert_eq!(labels(&data), ["positive", "negative", "positive"]);
}

#[test]
fn sst2_bom_crlf_and_blank_lines() {
    let bytes = b"\xEF\xBB\xBF\r\nsentence\tlabel \r\na b \t1\r\n\r\n   \r\nc d\t0\r\n";
    let data = read(bytes, DataFormat::Sst2);
    assert_eq!(
        data.examples,
        [ex("a b", "positive"), ex("c d", "negative")]
    );
}

#[test]
fn sst2_header_is_required() {
    let (line, message) = error(b"hide new secretions \t0\n", DataFormat::Sst2);
    assert_eq!(line, 1);
    assert_eq!(
        message,
        "data.in, line 1: expected the SST-2 header `sentence<TAB>label`, found `hide new secretions \t0`"
    );
    // After blank lines, the header's own line is named; skipping does not help.
    let (line, _) = error(b"\n\nlabel\tsentence\n", DataFormat::Sst2);
    assert_eq!(line, 3);
    assert!(read_examples(b"text,label\n", "x", DataFormat::Sst2, true).is_err());
}

#[test]
fn sst2_malformed_rows_name_their_line() {
    let head = "sentence\tlabel\na\t1\n\n";
    let cases: [(&str, &str); 5] = [
        ("b\t2\n", "label must be 0 or 1, found `2`"),
        ("b\tpositive\n", "label must be 0 or 1, found `positive`"),
        ("b\t\n", "the label is empty"),
        (
            "b\t1\t0\n",
            "expected 2 tab-separated fields (sentence, label), found 3",
        ),
        (
            "no tab here\n",
            "expected 2 tab-separated fields (sentence, label), found 1",
        ),
    ];
    for (row, reason) in cases {
        let bytes = format!("{head}{row}c\t0\n");
        let (line, message) = error(bytes.as_bytes(), DataFormat::Sst2);
        assert_eq!(line, 4, "{row:?}");
        assert_eq!(message, format!("data.in, line 4: {reason}"));

        let (examples, skipped) = read_skipping(bytes.as_bytes(), DataFormat::Sst2);
        assert_eq!(examples, [ex("a", "positive"), ex("c", "negative")]);
        assert_eq!(skipped, 1);
    }
}

// ---------------------------------------------------------------- AG News

#[test]
fn ag_news_fixture_parses_and_decodes() {
    let data = read(&fixture("ag_news.csv"), DataFormat::AgNews);
    assert_eq!(data.skipped, 0);
    assert_eq!(
        labels(&data),
        [
            "Business", "World", "World", "Sci/Tech", "World", "World", "Business", "World",
            "World", "World", "World"
        ]
    );
    let texts = texts(&data);
    assert_eq!(
        texts[0],
        "Wall St. Bears Claw Back Into the Black (Reuters). Reuters - Short-sellers, \
         Wall Street's dwindling band of ultra-cynics, are seeing green again."
    );
    // `#39;` (its `&` turned into the space before it).
    assert!(texts[1].starts_with(
        "Israel welcomes Rice nomination; Palestinians wary. Israel on Tuesday warmly \
         welcomed the naming of Condoleezza Rice as America's top diplomat, but"
    ));
    // `\$`.
    assert!(texts[2].contains(" authorizing $24 million a year "));
    // `\\` between paragraphs; a title ending in `?` gets no extra full stop.
    assert!(texts[3].starts_with(
        "Will Microsoft Lose The Browser Wars? Will Microsoft Lose The Browser Wars? \
         Until recently, software giant,"
    ));
    assert!(texts[3].contains("in the world. Despite lawsuits"));
    assert!(texts[3].ends_with("over 90 market share. Microsoft's ..."));
    // Backslashes that stand for line breaks, `\n` included.
    assert_eq!(
        texts[4],
        "Sudan Talks in Nigeria Said Deadlocked (Reuters). Reuters - After two weeks of \
         talks to end the crisis in Sudan's Darfur region, government and rebel negotiators \
         remain far apart on key security issues, including disarming warring factions, \
         rebels and diplomats said on Monday."
    );
    // Doubled quotes and a Windows-1252 numeric entity.
    assert!(texts[5].contains(
        "John Kerry \"doesn't even know where he stands\" on the war, while the Democrat \
         accuses Bush of having \"no plan what to do\" in Iraq \u{2014} dueling television ads"
    ));
    assert_eq!(
        texts[6],
        "J&J's Big Buy. NEW YORK - In its biggest purchase ever, Johnson & Johnson is dropping \
         $24.5 billion to get into the fast-growing market for implantible devices that \
         automatically restart stopped hearts."
    );
    // Full `&lt;`/`&gt;` entities; the trailing space of the description is trimmed.
    assert!(texts[7].starts_with(
        "Sudan resolves Darfur issue with logic and positive action <b>...</b>. Sudanese President"
    ));
    assert!(texts[7].ends_with("In an address to the Sudanese National Council"));
    assert!(texts[8].contains(
        "plans to sell Israel $319 million worth of air-launched bombs, including 500 \
         \"bunker busters\" able to penetrate Iran's underground nuclear facilities,"
    ));
    assert!(texts[9].contains(
        "campaign spent $45.8 million in July, the bulk of it on advertising, but he still had \
         about $32.5 million left to spend before he accepts his party's nomination"
    ));
    assert_eq!(
        texts[10],
        "Does Tsvangirai outcome suit Mugabe? On hearing the verdict there was a broad smile from \
         Morgan Tsvangirai, applause from his supporters and tears of relief from his veteran \
         attorney."
    );
    for text in texts {
        for leftover in ["\\", "#39;", "#36;", "amp;", "quot;", "&lt;", "&gt;"] {
            assert!(!text.contains(leftover), "{leftover} in {text}");
        }
    }
}

#[test]
fn ag_news_title_and_description_join() {
    let data = read(
        b"\"1\",\"Title\",\"Body.\"\n\"2\",\"Done!\",\"Body\"\n\"3\",\"Ask?\",\"Body\"\n\
          \"4\",\"End.\",\"Body\"\n\"1\",\"\",\"Only body\"\n\"2\",\"Only title\",\"  \"\n\
          \"3\",\"  Spaced  \",\"  out  \"\n",
        DataFormat::AgNews,
    );
    assert_eq!(
        texts(&data),
        [
            "Title. Body.",
            "Done! Body",
            "Ask? Body",
            "End. Body",
            "Only body",
            "Only title",
            "Spaced. out",
        ]
    );
    assert_eq!(
        labels(&data),
        ["World", "Sports", "Business", "Sci/Tech", "World", "Sports", "Business"]
    );
}

#[test]
fn ag_news_escapes() {
    let cases = [
        (r"cost \$5", "cost $5"),
        (r"S\$3 and (\$4)", "S$3 and ($4)"),
        (r"dwindling\band", "dwindling band"),
        (r"a\nuclear expert", "a nuclear expert"),
        (r"Wars?\\Until", "Wars? Until"),
        (r"\The start", "The start"),
        (r"the end\", "the end"),
        (r"Inc.\ on Monday", "Inc. on Monday"),
        (r"spent\ #36;45.8", "spent $45.8"),
        (r#"."\\"In fact"#, r#"." "In fact"#),
        (r"&lt;p&gt;\&lt;/p&gt;", "<p> </p>"),
    ];
    for (raw, decoded) in cases {
        assert_eq!(decode_ag_news(raw), decoded, "{raw}");
    }
}

#[test]
fn ag_news_entities() {
    let cases = [
        // The `&` turned into a space, as in most of AG News.
        ("America #39;s", "America's"),
        ("Johnson  amp; Johnson", "Johnson & Johnson"),
        ("the  quot;horror quot; of", "the \"horror\" of"),
        ("many. quot; The", "many.\" The"),
        ("Israel  #36;319", "Israel $319"),
        ("Iraq  #151; dueling", "Iraq \u{2014} dueling"),
        ("x  lt;y gt; z", "x <y> z"),
        // Full forms.
        (
            "&amp; &quot; &#39; &lt; &gt; &#36; &apos;",
            "& \" ' < > $ '",
        ),
        ("AT&amp;T", "AT&T"),
        ("&#8220;hi&#8221;", "\u{201C}hi\u{201D}"),
        ("&#x41;&#X42;", "AB"),
        ("#038; #160; #225;", "&\u{a0}á"),
        // Bare at the start of a field or after punctuation.
        ("#39;s (#36;5) quot;x", "'s ($5)\"x"),
        ("a  hellip;. b  mdash; c", "a \u{2026}. b \u{2014} c"),
        ("one nbsp;two", "one two"),
        ("#147;#148;#146;#149;", "\u{201C}\u{201D}\u{2019}\u{2022}"),
        // Not entities: a name inside a word, unknown names, control characters,
        // unterminated or overlong forms, plain ampersands.
        ("champ; Iraq; clk;", "champ; Iraq; clk;"),
        ("#1; #0; #129; #99999999;", "#1; #0; #129; #99999999;"),
        ("&bogus; #39 &", "&bogus; #39 &"),
        ("R&D Q&A", "R&D Q&A"),
        ("&amp;lt;", "&lt;"),
    ];
    for (raw, decoded) in cases {
        assert_eq!(decode_ag_news(raw), decoded, "{raw}");
    }
}

#[test]
fn ag_news_quoting_and_crlf() {
    let bytes = b"\xEF\xBB\xBF\"2\",\"A \"\"quoted\"\", title\",\"line one\r\nline two\"\r\n\r\n\
                  3,unquoted title,plain body\r\n";
    let data = read(bytes, DataFormat::AgNews);
    assert_eq!(
        data.examples,
        [
            ex("A \"quoted\", title. line one\r\nline two", "Sports"),
            ex("unquoted title. plain body", "Business"),
        ]
    );
}

#[test]
fn ag_news_malformed_rows_name_their_line() {
    let good = "\"1\",\"t\",\"d\"\n";
    let cases: [(&str, &str); 6] = [
        (
            "\"5\",\"t\",\"d\"\n",
            "class must be 1, 2, 3 or 4, found `5`",
        ),
        (
            "\"World\",\"t\",\"d\"\n",
            "class must be 1, 2, 3 or 4, found `World`",
        ),
        ("\"\",\"t\",\"d\"\n", "the class is empty"),
        (
            "\"1\",\"t\"\n",
            "expected 3 fields (class, title, description), found 2",
        ),
        (
            "\"1\",\"t\",\"d\",\"e\"\n",
            "expected 3 fields (class, title, description), found 4",
        ),
        (
            "\"1\",\"t\"x,\"d\"\n",
            "unexpected text after the closing quote of field 2",
        ),
    ];
    for (row, reason) in cases {
        // Line 2 is a record spanning two lines, line 4 blank: the bad row is on line 5.
        let bytes = format!("{good}\"2\",\"multi\nline\",\"d\"\n\n{row}{good}");
        let (line, message) = error(bytes.as_bytes(), DataFormat::AgNews);
        assert_eq!(line, 5, "{row:?}");
        assert_eq!(message, format!("data.in, line 5: {reason}"));

        let (examples, skipped) = read_skipping(bytes.as_bytes(), DataFormat::AgNews);
        assert_eq!(skipped, 1, "{row:?}");
        assert_eq!(
            examples,
            [
                ex("t. d", "World"),
                ex("multi\nline. d", "Sports"),
                ex("t. d", "World")
            ]
        );
    }
}

#[test]
fn ag_news_unterminated_quote() {
    let bytes = b"\"1\",\"t\",\"d\"\n\"2\",\"never closed\n3,t,d\n";
    let (line, message) = error(bytes, DataFormat::AgNews);
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "data.in, line 2: a quoted field opened on line 2 is never closed"
    );
    let (examples, skipped) = read_skipping(bytes, DataFormat::AgNews);
    assert_eq!(examples, [ex("t. d", "World")]);
    assert_eq!(skipped, 1);
}

// ---------------------------------------------------------------- JSONL

#[test]
fn jsonl_fixture_parses() {
    let data = read(&fixture("examples.jsonl"), DataFormat::Jsonl);
    assert_eq!(data.skipped, 0);
    assert_eq!(
        data.examples,
        [
            ex("A great film.", "positive"),
            ex_head("Stocks fall, again", "Business", "ag_news"),
            ex("", "negative"),
            ex("naïve café, 東京 🎉", "positive"),
            ex("line one\nline two \"quoted\"", "neutral"),
        ]
    );
}

#[test]
fn jsonl_bom_crlf_blank_lines_and_extra_fields() {
    let bytes = b"\xEF\xBB\xBF{\"text\":\"a\",\"label\":\"x\"}\r\n\r\n  \n\
                  {\"label\":\"y\",\"id\":7,\"text\":\" b \",\"head\":null}\r\n";
    let data = read(bytes, DataFormat::Jsonl);
    assert_eq!(data.examples, [ex("a", "x"), ex(" b ", "y")]);
}

#[test]
fn jsonl_malformed_rows_name_their_line() {
    let good = "{\"text\":\"ok\",\"label\":\"l\"}\n";
    let cases: [(&str, &str); 8] = [
        ("{\"label\":\"l\"}", "no \"text\" field"),
        ("{\"text\":\"t\"}", "no \"label\" field"),
        (
            "{\"text\":5,\"label\":\"l\"}",
            "field \"text\" is not a string",
        ),
        (
            "{\"text\":\"t\",\"label\":1}",
            "field \"label\" is not a string",
        ),
        (
            "{\"text\":\"t\",\"label\":\"l\",\"head\":[]}",
            "field \"head\" is not a string",
        ),
        ("{\"text\":\"t\",\"label\":\"\"}", "the label is empty"),
        ("[\"t\",\"l\"]", "not a JSON object"),
        (
            "{\"text\":\"t\",",
            "not valid JSON at column 12: EOF while parsing a value",
        ),
    ];
    for (row, reason) in cases {
        let bytes = format!("{good}\n{good}{row}\n{good}");
        let (line, message) = error(bytes.as_bytes(), DataFormat::Jsonl);
        assert_eq!(line, 4, "{row}");
        assert_eq!(message, format!("data.in, line 4: {reason}"));

        let (examples, skipped) = read_skipping(bytes.as_bytes(), DataFormat::Jsonl);
        assert_eq!(examples.len(), 3);
        assert_eq!(skipped, 1);
    }
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_fixture_parses() {
    let data = read(&fixture("examples.csv"), DataFormat::Csv);
    assert_eq!(data.skipped, 0);
    assert_eq!(
        data.examples,
        [
            ex_head("Plain text", "positive", "sst2"),
            ex("Commas, inside, quotes", "negative"),
            ex_head("She said \"hi\"", "World", "ag_news"),
            ex("first line\nsecond line", "positive"),
            ex("", "negative"),
            ex("Ünïcödé — 東京 🎉", "positive"),
        ]
    );
}

#[test]
fn csv_columns_in_any_order_with_extra_columns() {
    let bytes = b"id, label ,extra,text\n1,pos,x,hello\n2,neg,,\"a,b\"\n";
    let data = read(bytes, DataFormat::Csv);
    assert_eq!(data.examples, [ex("hello", "pos"), ex("a,b", "neg")]);
}

#[test]
fn csv_bom_crlf_and_blank_lines() {
    let bytes = b"\xEF\xBB\xBF\r\ntext,label\r\n\r\n\"a\r\nb\",x\r\n  \r\nc ,y \r\n";
    let data = read(bytes, DataFormat::Csv);
    // Values are verbatim: a line break inside quotes keeps its `\r\n`.
    assert_eq!(data.examples, [ex("a\r\nb", "x"), ex("c ", "y ")]);
}

#[test]
fn csv_quotes_inside_unquoted_fields_are_literal() {
    let data = read(b"text,label\na 5\" screen,x\n", DataFormat::Csv);
    assert_eq!(data.examples, [ex("a 5\" screen", "x")]);
}

#[test]
fn csv_header_must_name_text_and_label() {
    let (line, message) = error(b"\nsentence,label\nx,y\n", DataFormat::Csv);
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "data.in, line 2: the header must name columns `text` and `label`; no `text` in `sentence,label`"
    );
    let (_, message) = error(b"text,category\n", DataFormat::Csv);
    assert!(
        message.ends_with("no `label` in `text,category`"),
        "{message}"
    );
    let (_, message) = error(b"text,label,text\n", DataFormat::Csv);
    assert_eq!(
        message,
        "data.in, line 1: the header has two `text` columns"
    );
    // A bad header is never skipped.
    assert!(read_examples(b"a,b\n1,2\n", "x", DataFormat::Csv, true).is_err());
}

#[test]
fn csv_malformed_rows_name_their_line() {
    let head = "text,label,head\n\"multi\nline\",l,\n";
    let cases: [(&str, &str); 5] = [
        (
            "only one field\n",
            "expected 3 fields as in the header, found 1",
        ),
        ("a,b\n", "expected 3 fields as in the header, found 2"),
        ("a,b,c,d\n", "expected 3 fields as in the header, found 4"),
        ("a,,h\n", "the label is empty"),
        (
            "\"a\" b,l,h\n",
            "unexpected text after the closing quote of field 1",
        ),
    ];
    for (row, reason) in cases {
        // The header is line 1, a two-line record lines 2-3, a blank line 4.
        let bytes = format!("{head}\n{row}ok,l,h\n");
        let (line, message) = error(bytes.as_bytes(), DataFormat::Csv);
        assert_eq!(line, 5, "{row:?}");
        assert_eq!(message, format!("data.in, line 5: {reason}"));

        let (examples, skipped) = read_skipping(bytes.as_bytes(), DataFormat::Csv);
        assert_eq!(examples, [ex("multi\nline", "l"), ex_head("ok", "l", "h")]);
        assert_eq!(skipped, 1);
    }
}

#[test]
fn csv_error_after_multiline_quoted_field_points_at_record_start() {
    let bytes = b"text,label\n\"one\ntwo\nthree\",x\n\"four\nfive\",\n";
    let (line, message) = error(bytes, DataFormat::Csv);
    assert_eq!(line, 5);
    assert_eq!(message, "data.in, line 5: the label is empty");

    let bytes = b"text,label\nok,x\n\"never\nclosed,x\nmore,y\n";
    let (line, message) = error(bytes, DataFormat::Csv);
    assert_eq!(line, 3);
    assert_eq!(
        message,
        "data.in, line 3: a quoted field opened on line 3 is never closed"
    );
    // The message names the line where the unclosed field opens.
    let (line, message) = error(b"text,label\n\"a\nb\",\"never\nclosed\n", DataFormat::Csv);
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "data.in, line 2: a quoted field opened on line 3 is never closed"
    );
    // And where the text after a closing quote is, when not on the first line.
    let (line, message) = error(b"text,label\n\"multi\nline\"x,l\n", DataFormat::Csv);
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "data.in, line 2: unexpected text after the closing quote of field 1 (on line 3)"
    );
}

#[test]
fn csv_broken_quoting_is_never_read_through() {
    // A quote never closed in the last column would swallow every later row
    // into one label; a quote inside a quoted field that was not doubled would
    // be read as text after the closing quote. Both fail, or are skipped.
    for bytes in [
        &b"text,label\nhello,\"pos\nworld,neg\nagain,pos\n"[..],
        b"text,label\n\"She said \"hi\" there\",pos\nworld,neg\n",
    ] {
        let (line, _) = error(bytes, DataFormat::Csv);
        assert_eq!(line, 2, "{bytes:?}");
        let (_, skipped) = read_skipping(bytes, DataFormat::Csv);
        assert_eq!(skipped, 1, "{bytes:?}");
    }
    let (examples, _) = read_skipping(
        b"text,label\n\"She said \"hi\" there\",pos\nworld,neg\n",
        DataFormat::Csv,
    );
    assert_eq!(examples, [ex("world", "neg")]);
}

#[test]
fn csv_lone_carriage_returns_end_lines() {
    // Old Mac exports end lines in `\r` alone; line numbers count them too.
    let data = read(b"text,label\ra,x\r\r\"b\rc\",y\r", DataFormat::Csv);
    assert_eq!(data.examples, [ex("a", "x"), ex("b\rc", "y")]);
    let (line, message) = error(b"text,label\ra,x\r\rb,\r", DataFormat::Csv);
    assert_eq!(line, 4);
    assert_eq!(message, "data.in, line 4: the label is empty");
}

// ---------------------------------------------------------------- UTF-8

#[test]
fn invalid_utf8_names_the_line() {
    let cases: [(DataFormat, &[u8], usize, &str); 6] = [
        (
            DataFormat::Sst2,
            b"sentence\tlabel\nok\t1\nab\xff\t0\n",
            3,
            "not valid UTF-8 (invalid byte at column 3)",
        ),
        (
            DataFormat::Jsonl,
            b"{\"text\":\"a\",\"label\":\"b\"}\n{\"text\":\"\xc3(\",\"label\":\"b\"}\n",
            2,
            "not valid UTF-8 (invalid byte at column 10)",
        ),
        (
            DataFormat::AgNews,
            b"\"1\",\"t\",\"d\"\n\n\"1\",\"t\xe2\x82\",\"d\"\n",
            3,
            "not valid UTF-8 (invalid byte at column 7)",
        ),
        (
            DataFormat::Csv,
            b"text,label\n\xfeabc,x\n",
            2,
            "not valid UTF-8 (invalid byte at column 1)",
        ),
        (
            DataFormat::Csv,
            b"text,label\n\"multi\nli\x80ne\",x\n",
            2,
            "not valid UTF-8 (invalid byte on line 3, column 3)",
        ),
        (
            DataFormat::Sst2,
            b"senten\xffce\tlabel\n",
            1,
            "not valid UTF-8 (invalid byte at column 7)",
        ),
    ];
    for (format, bytes, want_line, reason) in cases {
        let (line, message) = error(bytes, format);
        assert_eq!(line, want_line, "{format:?}");
        assert_eq!(message, format!("data.in, line {want_line}: {reason}"));
    }
    // A bad row is skippable like any other malformed row.
    let (examples, skipped) = read_skipping(b"text,label\n\xfe,x\ny,z\n", DataFormat::Csv);
    assert_eq!(examples, [ex("y", "z")]);
    assert_eq!(skipped, 1);
}

// ---------------------------------------------------------------- writing

fn tricky_examples() -> Vec<Example> {
    vec![
        ex("plain", "positive"),
        ex("commas, and \"quotes\", \"\"doubled\"\"", "negative"),
        ex_head("line one\nline two\r\nline three\rend", "World", "ag_news"),
        ex("", "Sci/Tech"),
        ex("  padded  ", " label with spaces "),
        ex("Ünïcödé — 東京 🎉 \u{2028} \u{feff}", "ラベル"),
        ex("tab\there, back\\slash, {\"json\": 1}", "a,b"),
        ex_head("\"starts with a quote", "\"", ""),
    ]
}

#[test]
fn jsonl_round_trip() {
    let examples = tricky_examples();
    let written = write_jsonl(&examples);
    assert_eq!(written.lines().count(), examples.len());
    assert!(written.ends_with('\n'));
    let data = read(written.as_bytes(), DataFormat::Jsonl);
    assert_eq!(data.examples, examples);
    assert_eq!(write_jsonl(&[]), "");
}

#[test]
fn jsonl_writer_output() {
    let written = write_jsonl(&[ex("a \"b\"\n", "x"), ex_head("c", "y", "h")]);
    assert_eq!(
        written,
        "{\"text\":\"a \\\"b\\\"\\n\",\"label\":\"x\"}\n{\"text\":\"c\",\"label\":\"y\",\"head\":\"h\"}\n"
    );
}

#[test]
fn csv_round_trip() {
    let examples = tricky_examples();
    let written = match write_csv(&examples) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert!(written.starts_with("text,label,head\n"));
    let data = read(written.as_bytes(), DataFormat::Csv);
    // An empty head is written as an empty cell, which reads back as no head.
    let mut expected = examples;
    expected[7].head = None;
    assert_eq!(data.examples, expected);
}

#[test]
fn csv_writer_output() {
    let written = write_csv(&[ex("a, \"b\"", "x"), ex("multi\nline", "y"), ex("", "z")]);
    assert_eq!(
        written.ok().as_deref(),
        Some("text,label\n\"a, \"\"b\"\"\",x\n\"multi\nline\",y\n,z\n")
    );
    let written = write_csv(&[ex("a", "x"), ex_head("b", "y", "h")]);
    assert_eq!(
        written.ok().as_deref(),
        Some("text,label,head\na,x,\nb,y,h\n")
    );
    assert_eq!(write_csv(&[]).ok().as_deref(), Some("text,label\n"));
}

#[test]
fn csv_writer_refuses_empty_labels() {
    match write_csv(&[ex("a", "x"), ex("b", " ")]) {
        Err(e @ Error::InvalidArgument { .. }) => {
            assert_eq!(e.to_string(), "invalid example 2: its label is empty")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn builtin_formats_round_trip_through_jsonl_and_csv() {
    for (name, format) in [
        ("sst2.tsv", DataFormat::Sst2),
        ("ag_news.csv", DataFormat::AgNews),
    ] {
        let examples = read(&fixture(name), format).examples;
        let jsonl = read(write_jsonl(&examples).as_bytes(), DataFormat::Jsonl);
        assert_eq!(jsonl.examples, examples, "{name}");
        let csv = match write_csv(&examples) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            read(csv.as_bytes(), DataFormat::Csv).examples,
            examples,
            "{name}"
        );
    }
}
