//! JSONL: one JSON object per line, `{"text": ..., "label": ..., "head": ...}`.

use super::{check_label, is_blank, lines, utf8, Collector, Example};
use crate::error::Result;

/// Reads JSONL rows into `out`, one object per non-blank line.
pub(super) fn read_jsonl(bytes: &[u8], out: &mut Collector) -> Result<()> {
    for (n, raw) in lines(bytes) {
        if is_blank(raw) {
            continue;
        }
        let row = utf8(raw).and_then(parse_json_example);
        out.row(n, row)?;
    }
    Ok(())
}

/// One line as an example; the fields are read by hand, not by `Example`'s
/// `Deserialize`, so that each way of being wrong gets its own message.
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

/// Writes `examples` as JSONL, one [`Example`] per line in its serde form
/// (`text`, `label`, then `head` if set), each line ending in `\n`. Reads
/// back identically.
pub fn write_jsonl(examples: &[Example]) -> String {
    examples
        .iter()
        .map(|example| {
            // Only strings: serde_json cannot fail on them.
            let mut line = serde_json::to_string(example).unwrap_or_default();
            line.push('\n');
            line
        })
        .collect()
}
