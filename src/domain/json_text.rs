//! JSON text of `serde_json::Value`s: byte for byte what `serde_json::to_string` writes, in
//! fewer instructions. Payments build their documents as `Value`s and the single writer thread
//! turns each into text (and again inside every event), where serde_json's string escaping, one
//! table lookup per byte, was the largest cost of its own. Here strings are scanned eight bytes
//! at a time for the bytes that need an escape (`"`, `\` and controls), which are rare.

use std::fmt::Write as _;

use serde_json::{Map, Value};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes is `"` or `\` or below 0x20.
fn needs_escape(chunk: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let below_space = chunk.wrapping_sub(ONES * 0x20) & !chunk & HIGHS != 0;
    below_space
        || has_zero(chunk ^ (ONES * u64::from(b'"')))
        || has_zero(chunk ^ (ONES * u64::from(b'\\')))
}

/// The bytes JSON strings escape: controls, `"` and `\`.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

fn push_escape(out: &mut String, byte: u8) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        0x08 => out.push_str("\\b"),
        0x0C => out.push_str("\\f"),
        _ => {
            out.push_str("\\u00");
            out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(HEX_DIGITS[usize::from(byte & 0xF)]));
        }
    }
}

/// `text` as a JSON string, quotes included.
pub fn write_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    // Start of the run not yet copied; every escaped byte is ASCII, so the cuts are on
    // character boundaries.
    let mut run_start = 0;
    let mut index = 0;
    while index < bytes.len() {
        if let Some(chunk) = bytes.get(index..index + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(word)) {
                index += 8;
                continue;
            }
        }
        let chunk_end = (index + 8).min(bytes.len());
        while index < chunk_end {
            let byte = bytes[index];
            if ESCAPED[usize::from(byte)] {
                out.push_str(&text[run_start..index]);
                push_escape(out, byte);
                run_start = index + 1;
            }
            index += 1;
        }
    }
    out.push_str(&text[run_start..]);
    out.push('"');
}

pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // serde_json prints numbers as their `Display` does (itoa, or the shortest float).
        Value::Number(number) => {
            let _ = write!(out, "{number}");
        }
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => write_object_without(out, fields, None),
    }
}

/// An object's JSON with the top-level field `left_out` (if any) left out.
pub fn write_object_without(out: &mut String, fields: &Map<String, Value>, left_out: Option<&str>) {
    out.push('{');
    let mut first = true;
    for (key, value) in fields {
        if Some(key.as_str()) == left_out {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// The JSON text of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(1024);
    write_value(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn same_as_serde_json(value: &Value) {
        assert_eq!(
            super::to_string(value),
            serde_json::to_string(value).unwrap()
        );
    }

    #[test]
    fn escapes_like_serde_json() {
        for text in [
            "",
            "plain",
            "exactly8",
            "quote \" backslash \\ slash / end",
            "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f}",
            "ünïcødé and emoji 🦀 with \"quotes\" past the eighth byte\n",
            "0123456\"",
            "01234567\\",
        ] {
            same_as_serde_json(&Value::from(text));
        }
    }

    #[test]
    fn writes_documents_like_serde_json() {
        same_as_serde_json(&json!({
            "id": "ch_1", "amount": 1000, "negative": -5, "big": u64::MAX, "ratio": 0.1,
            "tiny": 1e-7, "huge": 1.5e300, "whole_float": 3.0, "nothing": null, "yes": true,
            "no": false, "list": [1, "two", {"three": [null]}], "empty": {}, "none": [],
            "nested": {"a": {"b": "c\td"}}
        }));
    }

    #[test]
    fn leaves_out_one_top_level_field() {
        let value = json!({"id": "pm_1", "_sluice": {"secret": 1}, "card": {"_sluice": 2}});
        let mut out = String::new();
        super::write_object_without(&mut out, value.as_object().unwrap(), Some("_sluice"));
        assert_eq!(out, r#"{"id":"pm_1","card":{"_sluice":2}}"#);
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[\\x00-\\x7f]{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
                prop::collection::vec((any::<String>(), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_is_written_as_serde_json_writes_it(value in any_json()) {
            prop_assert_eq!(super::to_string(&value), serde_json::to_string(&value).unwrap());
        }
    }
}
