//! Metadata: a string map with Stripe's limits, updated by merge (an empty value deletes a key,
//! an empty `metadata` clears all).

use std::collections::BTreeMap;

use super::{Error, Result};

pub type Metadata = BTreeMap<String, String>;

pub const MAX_KEYS: usize = 50;
pub const MAX_KEY_CHARS: usize = 40;
pub const MAX_VALUE_CHARS: usize = 500;

/// What a request says about metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum MetadataChange {
    #[default]
    Keep,
    Clear,
    Merge(Vec<(String, String)>),
}

pub fn apply(current: &mut Metadata, change: MetadataChange) -> Result<()> {
    match change {
        MetadataChange::Keep => {}
        MetadataChange::Clear => current.clear(),
        MetadataChange::Merge(pairs) => {
            for (key, value) in pairs {
                if key.chars().count() > MAX_KEY_CHARS {
                    return Err(Error::invalid_param(
                        format!("metadata[{key}]"),
                        format!("Invalid metadata: keys can be at most {MAX_KEY_CHARS} characters long (`{key}` is too long)."),
                    ));
                }
                if value.is_empty() {
                    current.remove(&key);
                    continue;
                }
                if value.chars().count() > MAX_VALUE_CHARS {
                    return Err(Error::invalid_param(
                        format!("metadata[{key}]"),
                        format!("Invalid metadata: values can be at most {MAX_VALUE_CHARS} characters long (the value of `{key}` is too long)."),
                    ));
                }
                current.insert(key, value);
            }
        }
    }
    if current.len() > MAX_KEYS {
        return Err(Error::invalid_param(
            "metadata",
            format!(
                "Invalid metadata: metadata can have up to {MAX_KEYS} keys, but {} were given.",
                current.len()
            ),
        ));
    }
    Ok(())
}

/// Applies a change to the `metadata` of a stored JSON document.
pub fn apply_to_document(document: &mut serde_json::Value, change: MetadataChange) -> Result<()> {
    if change == MetadataChange::Keep {
        return Ok(());
    }
    let mut current: Metadata =
        serde_json::from_value(document["metadata"].take()).unwrap_or_default();
    let outcome = apply(&mut current, change);
    document["metadata"] = serde_json::to_value(&current).unwrap_or_default();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_deletes_on_empty_and_enforces_limits() {
        let mut m = Metadata::new();
        apply(
            &mut m,
            MetadataChange::Merge(vec![("a".into(), "1".into()), ("b".into(), "2".into())]),
        )
        .unwrap();
        apply(&mut m, MetadataChange::Merge(vec![("a".into(), "".into())])).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["b"]);
        let too_many = (0..51)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert!(apply(&mut Metadata::new(), MetadataChange::Merge(too_many)).is_err());
        assert!(apply(
            &mut m,
            MetadataChange::Merge(vec![("k".repeat(41), "v".into())])
        )
        .is_err());
        assert!(apply(
            &mut m,
            MetadataChange::Merge(vec![("k".into(), "v".repeat(501))])
        )
        .is_err());
        apply(&mut m, MetadataChange::Clear).unwrap();
        assert!(m.is_empty());
    }
}
