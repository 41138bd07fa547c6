//! GLUE SST-2: a TSV file with header `sentence<TAB>label` and labels `0`/`1`.

use super::{is_blank, lines, shorten, utf8, Collector, Example, SST2_LABELS};
use crate::error::Result;

/// Reads SST-2 rows into `out`; the header must come first, before any row.
pub(super) fn read_sst2(bytes: &[u8], out: &mut Collector) -> Result<()> {
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
