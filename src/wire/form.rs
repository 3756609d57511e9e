//! Stripe's form encoding: `a[b][0][c]=x` pairs, in a query string or an
//! `application/x-www-form-urlencoded` body, decoded into a tree of strings.
//!
//! Brackets may arrive percent-encoded and spaces as `+`, so every key and value is decoded fully
//! before its brackets are parsed. Arrays arrive indexed (`expand[0]=a`, what the SDKs send) or as
//! `expand[]=a` (curl users); both become a node whose children are keyed `0`, `1`, ... Whether a
//! node is a list or a map is decided by whoever reads it, because `metadata[0]=x` is a valid map.

use super::error::ApiError;

/// Most nesting Stripe's parameters need is 5 (`individual[verification][document][front]`).
const MAX_DEPTH: usize = 8;
/// Bounds the work one request can cause; Stripe's biggest forms have a few hundred fields.
const MAX_PAIRS: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Leaf(String),
    Branch(Vec<(String, Node)>),
}

impl Node {
    fn branch_mut(&mut self) -> Option<&mut Vec<(String, Node)>> {
        match self {
            Node::Branch(children) => Some(children),
            Node::Leaf(_) => None,
        }
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one key or value (`+` is a space) and checks it is UTF-8.
fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = raw.get(i + 1).copied().and_then(hex_value);
                let low = raw.get(i + 2).copied().and_then(hex_value);
                match (high, low) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => {
                        return Err(ApiError::invalid_request(
                            "Invalid request body: a `%` escape is not followed by two hex digits.",
                        ))
                    }
                }
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::invalid_request("Invalid request: the parameters are not valid UTF-8.")
    })
}

/// Splits `a[b][]` into `["a", "b", ""]`.
fn split_key(key: &str) -> Result<Vec<&str>, ApiError> {
    let malformed = || ApiError::invalid_request(format!("Invalid parameter name: `{key}`."));
    let (head, mut rest) = match key.find('[') {
        Some(at) => (&key[..at], &key[at..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(malformed());
    }
    let mut parts = vec![head];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return Err(malformed());
        }
        let close = rest.find(']').ok_or_else(malformed)?;
        parts.push(&rest[1..close]);
        rest = &rest[close + 1..];
    }
    if parts.len() > MAX_DEPTH {
        return Err(ApiError::invalid_request(format!(
            "Invalid parameter name: `{key}` is nested too deeply."
        )));
    }
    Ok(parts)
}

fn insert(
    root: &mut Vec<(String, Node)>,
    path: &[&str],
    value: String,
    key: &str,
) -> Result<(), ApiError> {
    let conflict = || {
        ApiError::invalid_request(format!(
            "Invalid parameter: `{key}` conflicts with another parameter of the same name."
        ))
        .with_param(key)
    };
    let mut children = root;
    for (depth, segment) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        // `[]` appends a new element; for `items[][a]=1&items[][b]=2` that makes two elements,
        // which matches how the SDKs never send it and curl users rarely do.
        let name = if segment.is_empty() {
            children.len().to_string()
        } else {
            (*segment).to_string()
        };
        let position = children.iter().position(|(k, _)| *k == name);
        if last {
            match position {
                // A repeated scalar keeps the last value, as Rack and Stripe do.
                Some(at) => match &mut children[at].1 {
                    Node::Leaf(existing) => *existing = value,
                    Node::Branch(_) => return Err(conflict()),
                },
                None => children.push((name, Node::Leaf(value))),
            }
            return Ok(());
        }
        let at = match position {
            Some(at) => at,
            None => {
                children.push((name, Node::Branch(Vec::new())));
                children.len() - 1
            }
        };
        children = children[at].1.branch_mut().ok_or_else(conflict)?;
    }
    Ok(())
}

/// Parses a whole query string or form body into the root's children.
pub fn parse(input: &[u8], root: &mut Vec<(String, Node)>) -> Result<(), ApiError> {
    let mut count = 0;
    for pair in input.split(|b| *b == b'&') {
        if pair.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_PAIRS {
            return Err(ApiError::invalid_request(format!(
                "Too many parameters: a request may carry at most {MAX_PAIRS}."
            )));
        }
        let (raw_key, raw_value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let key = decode_component(raw_key)?;
        let value = decode_component(raw_value)?;
        let path = split_key(&key)?;
        insert(root, &path, value, &key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(input: &str) -> Vec<(String, Node)> {
        let mut root = Vec::new();
        parse(input.as_bytes(), &mut root).expect("parses");
        root
    }

    fn leaf(s: &str) -> Node {
        Node::Leaf(s.to_string())
    }

    #[test]
    fn nested_and_encoded_brackets_decode_alike() {
        let plain = tree("metadata[order]=42&individual[dob][year]=1901");
        let encoded = tree("metadata%5Border%5D=42&individual%5Bdob%5D%5Byear%5D=1901");
        assert_eq!(plain, encoded);
        assert_eq!(
            plain[1],
            (
                "individual".to_string(),
                Node::Branch(vec![(
                    "dob".to_string(),
                    Node::Branch(vec![("year".to_string(), leaf("1901"))])
                )])
            )
        );
    }

    #[test]
    fn both_array_forms_give_indexed_children() {
        let indexed = tree("expand[0]=a&expand[1]=b");
        let empty = tree("expand[]=a&expand[]=b");
        assert_eq!(indexed, empty);
    }

    #[test]
    fn plus_and_percent_twenty_are_spaces() {
        assert_eq!(tree("name=Jenny+Rosen")[0].1, leaf("Jenny Rosen"));
        assert_eq!(tree("name=Jenny%20Rosen")[0].1, leaf("Jenny Rosen"));
    }

    #[test]
    fn empty_value_is_kept_as_unset_marker() {
        assert_eq!(tree("description=")[0].1, leaf(""));
        assert_eq!(tree("metadata")[0].1, leaf(""));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let mut root = Vec::new();
        assert!(parse(b"a=%zz", &mut root).is_err());
        assert!(parse(b"a=%ff%fe", &mut root).is_err());
        assert!(parse(b"a[b=1", &mut root).is_err());
        assert!(parse(b"[b]=1", &mut root).is_err());
        assert!(parse(b"a=1&a[b]=2", &mut root).is_err());
        assert!(parse(b"a[b][c][d][e][f][g][h][i]=1", &mut root).is_err());
    }
}
