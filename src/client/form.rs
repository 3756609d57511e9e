//! Stripe's form encoding on the sending side: `-d key=value` pairs from the command line and
//! JSON fixture parameters become `a[b][0]=c` pairs, percent-encoded for a query string or an
//! `application/x-www-form-urlencoded` body.

use serde_json::Value;

/// One `key=value` pair before percent-encoding.
pub type Pair = (String, String);

/// Splits a command-line `-d` argument at its first `=`: the key keeps its brackets as typed
/// (`metadata[order]`, `expand[]`), the value may itself contain `=`.
pub fn parse_data_arg(arg: &str) -> Result<Pair, String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!(
            "`{arg}` is not a parameter: write it as key=value (for example -d \"metadata[order]=6735\")"
        )),
    }
}

/// Flattens a JSON object of fixture parameters into form pairs, in the object's order.
/// Objects nest as `parent[key]`, arrays as `parent[index]` (what the official SDKs send), and
/// `null` leaves are skipped so `--remove` and fixture authors can drop a parameter.
pub fn pairs_from_json(params: &Value) -> Vec<Pair> {
    let mut pairs = Vec::new();
    if let Value::Object(map) = params {
        for (key, value) in map {
            flatten(key.clone(), value, &mut pairs);
        }
    }
    pairs
}

fn flatten(key: String, value: &Value, pairs: &mut Vec<Pair>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (child, value) in map {
                flatten(format!("{key}[{child}]"), value, pairs);
            }
        }
        Value::Array(items) => {
            for (index, value) in items.iter().enumerate() {
                flatten(format!("{key}[{index}]"), value, pairs);
            }
        }
        scalar => pairs.push((key, scalar_text(scalar))),
    }
}

/// A JSON scalar as Stripe expects it in a form: strings bare, integral floats without `.0`
/// (JSON tools often write `25.0` for an amount).
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => match number.as_f64() {
            Some(float) if number.is_f64() && float.fract() == 0.0 && float.abs() < 9e15 => {
                format!("{}", float as i64)
            }
            _ => number.to_string(),
        },
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Joins pairs into `k=v&k=v`. Brackets in keys stay literal (the server accepts both forms and
/// literal ones keep logs readable); everything else outside the unreserved set is escaped.
pub fn encode(pairs: &[Pair]) -> String {
    let mut out = String::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        escape_into(&mut out, key, true);
        out.push('=');
        escape_into(&mut out, value, false);
    }
    out
}

fn escape_into(out: &mut String, text: &str, keep_brackets: bool) {
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_brackets && matches!(byte, b'[' | b']'));
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Escapes one path segment (an id typed by the user) so it cannot change the request's path.
pub fn escape_path_segment(segment: &str) -> String {
    let mut out = String::new();
    escape_into(&mut out, segment, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pair(key: &str, value: &str) -> Pair {
        (key.to_string(), value.to_string())
    }

    #[test]
    fn data_args_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_data_arg("metadata[order]=6735").unwrap(),
            pair("metadata[order]", "6735")
        );
        assert_eq!(
            parse_data_arg("description=a=b").unwrap(),
            pair("description", "a=b")
        );
        assert_eq!(
            parse_data_arg("description=").unwrap(),
            pair("description", "")
        );
        assert!(parse_data_arg("nokey").is_err());
        assert!(parse_data_arg("=value").is_err());
    }

    #[test]
    fn nested_objects_and_arrays_flatten_with_brackets() {
        let params = json!({
            "amount": 2000,
            "confirm": true,
            "metadata": {"order": "6735"},
            "individual": {"dob": {"day": 1, "month": 1, "year": 1901}},
            "expand": ["customer", "latest_charge"],
            "items": [{"price": "price_1", "quantity": 2}],
            "dropped": null
        });
        assert_eq!(
            pairs_from_json(&params),
            vec![
                pair("amount", "2000"),
                pair("confirm", "true"),
                pair("metadata[order]", "6735"),
                pair("individual[dob][day]", "1"),
                pair("individual[dob][month]", "1"),
                pair("individual[dob][year]", "1901"),
                pair("expand[0]", "customer"),
                pair("expand[1]", "latest_charge"),
                pair("items[0][price]", "price_1"),
                pair("items[0][quantity]", "2"),
            ]
        );
    }

    #[test]
    fn integral_floats_lose_their_fraction() {
        assert_eq!(scalar_text(&json!(25.0)), "25");
        assert_eq!(scalar_text(&json!(3.5)), "3.5");
        assert_eq!(scalar_text(&json!(-7)), "-7");
    }

    #[test]
    fn encoding_escapes_values_and_keeps_key_brackets() {
        let pairs = vec![
            pair("email", "jenny+1@example.com"),
            pair("metadata[note]", "a b&c=d"),
            pair("expand[]", "customer"),
        ];
        assert_eq!(
            encode(&pairs),
            "email=jenny%2B1%40example.com&metadata[note]=a%20b%26c%3Dd&expand[]=customer"
        );
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn path_segments_cannot_smuggle_slashes_or_queries() {
        assert_eq!(escape_path_segment("cus_123"), "cus_123");
        assert_eq!(escape_path_segment("../x?y"), "..%2Fx%3Fy");
    }
}
