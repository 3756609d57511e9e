//! Typed reading of a decoded form tree. Every read marks its key as used; `finish` rejects what
//! nobody read with `parameter_unknown`, so a typo never passes silently.

use super::error::ApiError;
use super::form::Node;

/// A field of an update: absent, set to empty (Stripe's "unset"), or given.
#[derive(Debug, Clone, PartialEq)]
pub enum Patch<T> {
    Absent,
    Unset,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }
}

pub struct Params {
    prefix: String,
    items: Vec<(String, Node)>,
    used: Vec<bool>,
}

pub type Result<T> = std::result::Result<T, ApiError>;

/// The `[0]`, `[1]`... children of a node read as a list, in index order.
fn as_list(children: Vec<(String, Node)>, name: &str) -> Result<Vec<Node>> {
    let mut indexed = Vec::with_capacity(children.len());
    for (key, node) in children {
        let index: usize = key.parse().map_err(|_| {
            ApiError::invalid_request(format!("Invalid array: `{name}` must be a list."))
                .with_param(name)
        })?;
        indexed.push((index, node));
    }
    indexed.sort_by_key(|(index, _)| *index);
    Ok(indexed.into_iter().map(|(_, node)| node).collect())
}

impl Params {
    pub fn new(items: Vec<(String, Node)>) -> Self {
        Self::nested(String::new(), items)
    }

    fn nested(prefix: String, items: Vec<(String, Node)>) -> Self {
        let used = vec![false; items.len()];
        Params {
            prefix,
            items,
            used,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The parameter's full name as the client wrote it: `individual[dob][year]`.
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}[{key}]", self.prefix)
        }
    }

    fn take(&mut self, key: &str) -> Option<Node> {
        let at = self.items.iter().position(|(k, _)| k == key)?;
        if self.used[at] {
            return None;
        }
        self.used[at] = true;
        Some(std::mem::replace(
            &mut self.items[at].1,
            Node::Leaf(String::new()),
        ))
    }

    /// True when `key` arrived as a hash (`key[sub]=...`) rather than a plain value.
    pub fn is_hash(&self, key: &str) -> bool {
        self.items
            .iter()
            .any(|(k, node)| k == key && matches!(node, Node::Branch(_)))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.items.iter().any(|(k, _)| k == key)
    }

    /// Keys not yet read, in the order they arrived.
    pub fn keys(&self) -> Vec<String> {
        self.items
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|((k, _), _)| k.clone())
            .collect()
    }

    fn expected_string(&self, key: &str) -> ApiError {
        let name = self.name(key);
        ApiError::invalid_request(format!(
            "Invalid string: `{name}` must be a string, not an object."
        ))
        .with_param(name)
    }

    /// A string as given; `Some("")` when sent empty.
    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Node::Leaf(value)) => Ok(Some(value)),
            Some(Node::Branch(_)) => Err(self.expected_string(key)),
        }
    }

    pub fn required_string(&mut self, key: &str) -> Result<String> {
        match self.string(key)? {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::parameter_missing(&self.name(key))),
        }
    }

    /// A string no longer than `max` characters.
    pub fn bounded_string(&mut self, key: &str, max: usize) -> Result<Option<String>> {
        let value = self.string(key)?;
        if let Some(text) = &value {
            if text.chars().count() > max {
                let name = self.name(key);
                return Err(ApiError::invalid_request(format!(
                    "Invalid string: `{name}` must be at most {max} characters long."
                ))
                .with_param(name));
            }
        }
        Ok(value)
    }

    /// A string field of an update, where empty means unset.
    pub fn patch_string(&mut self, key: &str, max: usize) -> Result<Patch<String>> {
        Ok(match self.bounded_string(key, max)? {
            None => Patch::Absent,
            Some(value) if value.is_empty() => Patch::Unset,
            Some(value) => Patch::Set(value),
        })
    }

    pub fn int(&mut self, key: &str) -> Result<Option<i64>> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        text.trim().parse::<i64>().map(Some).map_err(|_| {
            let name = self.name(key);
            ApiError::invalid_request(format!("Invalid integer: {text}"))
                .with_code("parameter_invalid_integer")
                .with_param(name)
        })
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.string(key)?.as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => {
                let name = self.name(key);
                Err(ApiError::invalid_request(format!(
                    "Invalid boolean: {other}. Expected `true` or `false`."
                ))
                .with_param(name))
            }
        }
    }

    /// One of `allowed`; `Some("")` is not allowed (use `patch_enum` where unsetting is).
    pub fn enum_of(&mut self, key: &str, allowed: &[&'static str]) -> Result<Option<&'static str>> {
        let Some(text) = self.string(key)? else {
            return Ok(None);
        };
        match allowed.iter().find(|candidate| **candidate == text) {
            Some(found) => Ok(Some(found)),
            None => {
                let name = self.name(key);
                Err(ApiError::invalid_request(format!(
                    "Invalid {name}: must be one of {}",
                    allowed.join(", ")
                ))
                .with_param(name))
            }
        }
    }

    /// A nested object. Sending the key empty (`individual=`) reads as an empty object.
    pub fn map(&mut self, key: &str) -> Result<Option<Params>> {
        match self.patch_map(key)? {
            Patch::Absent => Ok(None),
            Patch::Unset => Ok(Some(Params::nested(self.name(key), Vec::new()))),
            Patch::Set(params) => Ok(Some(params)),
        }
    }

    /// A nested object of an update, where sending the key empty unsets it.
    pub fn patch_map(&mut self, key: &str) -> Result<Patch<Params>> {
        match self.take(key) {
            None => Ok(Patch::Absent),
            Some(Node::Leaf(value)) if value.is_empty() => Ok(Patch::Unset),
            Some(Node::Leaf(_)) => {
                let name = self.name(key);
                Err(ApiError::invalid_request(format!(
                    "Invalid object: `{name}` must be a hash of parameters (for example `{name}[key]=value`)."
                ))
                .with_param(name))
            }
            Some(Node::Branch(children)) => {
                Ok(Patch::Set(Params::nested(self.name(key), children)))
            }
        }
    }

    /// A list of strings, from `key[0]=a&key[1]=b` or `key[]=a`; a single `key=a` reads as `[a]`.
    pub fn string_list(&mut self, key: &str) -> Result<Option<Vec<String>>> {
        let name = self.name(key);
        match self.take(key) {
            None => Ok(None),
            Some(Node::Leaf(value)) if value.is_empty() => Ok(Some(Vec::new())),
            Some(Node::Leaf(value)) => Ok(Some(vec![value])),
            Some(Node::Branch(children)) => {
                let mut out = Vec::with_capacity(children.len());
                for node in as_list(children, &name)? {
                    match node {
                        Node::Leaf(value) => out.push(value),
                        Node::Branch(_) => {
                            return Err(ApiError::invalid_request(format!(
                                "Invalid array: `{name}` must hold strings."
                            ))
                            .with_param(name))
                        }
                    }
                }
                Ok(Some(out))
            }
        }
    }

    /// A list of objects (`items[0][price]=...`).
    pub fn map_list(&mut self, key: &str) -> Result<Option<Vec<Params>>> {
        let name = self.name(key);
        match self.take(key) {
            None => Ok(None),
            Some(Node::Leaf(value)) if value.is_empty() => Ok(Some(Vec::new())),
            Some(Node::Leaf(_)) => Err(ApiError::invalid_request(format!(
                "Invalid array: `{name}` must be a list of objects."
            ))
            .with_param(name)),
            Some(Node::Branch(children)) => {
                let mut out = Vec::with_capacity(children.len());
                for (index, node) in as_list(children, &name)?.into_iter().enumerate() {
                    match node {
                        Node::Branch(fields) => {
                            out.push(Params::nested(format!("{name}[{index}]"), fields))
                        }
                        Node::Leaf(_) => {
                            return Err(ApiError::invalid_request(format!(
                                "Invalid array: `{name}` must be a list of objects."
                            ))
                            .with_param(name))
                        }
                    }
                }
                Ok(Some(out))
            }
        }
    }

    /// The remaining entries as string pairs (for free-form maps such as `metadata`).
    pub fn into_string_pairs(mut self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::with_capacity(self.items.len());
        let prefix = std::mem::take(&mut self.prefix);
        for ((key, node), used) in self.items.into_iter().zip(self.used) {
            if used {
                continue;
            }
            match node {
                Node::Leaf(value) => out.push((key, value)),
                Node::Branch(_) => {
                    let name = format!("{prefix}[{key}]");
                    return Err(ApiError::invalid_request(format!(
                        "Invalid value for `{name}`: nested objects are not allowed here."
                    ))
                    .with_param(name));
                }
            }
        }
        Ok(out)
    }

    /// Rejects every key nobody read.
    pub fn finish(self) -> Result<()> {
        match self.items.iter().zip(&self.used).find(|(_, used)| !**used) {
            None => Ok(()),
            Some(((key, _), _)) => Err(ApiError::parameter_unknown(&self.name(key))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::form::parse;

    fn params(input: &str) -> Params {
        let mut root = Vec::new();
        parse(input.as_bytes(), &mut root).expect("parses");
        Params::new(root)
    }

    #[test]
    fn unknown_nested_parameter_is_named_in_full() {
        let mut p = params("individual[dob][yeer]=1901");
        let mut individual = p.map("individual").unwrap().unwrap();
        let mut dob = individual.map("dob").unwrap().unwrap();
        assert_eq!(dob.int("year").unwrap(), None);
        let error = dob.finish().unwrap_err();
        assert_eq!(error.code, Some("parameter_unknown"));
        assert_eq!(error.param.as_deref(), Some("individual[dob][yeer]"));
    }

    #[test]
    fn integers_and_booleans_are_checked() {
        let mut p = params("amount=12x&live=maybe");
        assert_eq!(
            p.int("amount").unwrap_err().code,
            Some("parameter_invalid_integer")
        );
        assert!(p.bool("live").is_err());
    }

    #[test]
    fn empty_means_unset() {
        let mut p = params("description=&metadata=");
        assert_eq!(p.patch_string("description", 10).unwrap(), Patch::Unset);
        assert!(matches!(p.patch_map("metadata").unwrap(), Patch::Unset));
        p.finish().unwrap();
    }

    #[test]
    fn lists_in_both_forms() {
        let mut p = params("expand[1]=b&expand[0]=a");
        assert_eq!(p.string_list("expand").unwrap().unwrap(), vec!["a", "b"]);
        let mut p = params("expand[]=a&expand[]=b");
        assert_eq!(p.string_list("expand").unwrap().unwrap(), vec!["a", "b"]);
    }
}
