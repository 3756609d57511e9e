//! One top-level member of a stored JSON object, found without parsing the others. A payment
//! reads a single member of a large document (the destination account's `capabilities`), and
//! parsing the whole 2.6 KB account to skip what it did not need was 3% of the writer's time.
//! A few members of a stored object change the same way (`edit`).

use std::ops::Range;

/// The text that starts with the value of the top-level member `key` of the JSON object in
/// `text` and runs to the end of `text` (parse one value from its start); `None` if `text` is
/// not an object or has no such member. Keys are compared as written (no escapes decoded). The
/// members after it are not looked at.
pub fn value_text<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let mut at = object_start(bytes)?;
    while let Some((member, next)) = member_at(bytes, at?)? {
        if &text[member.key.clone()] == key {
            return Some(&text[member.value.start..]);
        }
        at = next;
    }
    None
}

/// Where the first member of the object in `bytes` starts (`Some(None)`: it has none).
fn object_start(bytes: &[u8]) -> Option<Option<usize>> {
    let at = skip_space(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    let at = skip_space(bytes, at + 1);
    Some((bytes.get(at) != Some(&b'}')).then_some(at))
}

/// The member whose key starts at `at`, and where the next one starts (`None` after the last);
/// `None` if the text there is no member.
#[allow(clippy::type_complexity)]
fn member_at(bytes: &[u8], at: usize) -> Option<Option<(Member, Option<usize>)>> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let key_end = string_end(bytes, at + 1)?;
    let key = at + 1..key_end;
    let colon = skip_space(bytes, key_end + 1);
    if bytes.get(colon) != Some(&b':') {
        return None;
    }
    let value_start = skip_space(bytes, colon + 1);
    let value_end = value_end(bytes, value_start)?;
    let member = Member {
        key,
        value: value_start..value_end,
    };
    let after = skip_space(bytes, value_end);
    match bytes.get(after)? {
        b',' => Some(Some((member, Some(skip_space(bytes, after + 1))))),
        b'}' => Some(Some((member, None))),
        _ => None,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `word` is `byte` (exact: no false positives).
fn has_byte(word: u64, byte: u8) -> bool {
    let v = word ^ (ONES * u64::from(byte));
    v.wrapping_sub(ONES) & !v & HIGHS != 0
}

/// The eight bytes from `at`, if there are eight.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at + 8)?;
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    Some(u64::from_le_bytes(word))
}

/// The index of the `"` that closes the string whose text starts at `start`. UTF-8 never uses
/// the bytes `"` and `\` inside a multi-byte character, so a byte scan is exact; it looks at
/// eight bytes at a time, as strings are long and escapes rare.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    while at < bytes.len() {
        if let Some(word) = word_at(bytes, at) {
            if !has_byte(word, b'"') && !has_byte(word, b'\\') {
                at += 8;
                continue;
            }
        }
        // The word holds the end or an escape: its bytes one at a time.
        let word_end = (at + 8).min(bytes.len());
        while at < word_end {
            match bytes[at] {
                b'\\' => at += 2,
                b'"' => return Some(at),
                _ => at += 1,
            }
        }
    }
    None
}

/// Where one top-level member of an object's text lies: its key (between the quotes, as
/// written) and its value.
struct Member {
    key: Range<usize>,
    value: Range<usize>,
}

/// The top-level members of a JSON object's text, found in one scan: a stored document is read
/// and changed by a few of its members without parsing the rest (a payout's lifecycle step
/// parsed all of it into a `Value` and wrote it back, and again into each of its events).
pub struct Members<'a> {
    text: &'a str,
    members: Vec<Member>,
}

/// A change of an object's text made by `Members::edit`.
#[derive(Debug)]
pub struct Edited {
    /// The object with the new values.
    pub text: String,
    /// The same without the member `edit` was told to hide (what an API caller is shown).
    pub shown: String,
    /// The members whose value changed, with their old values, as an object's text
    /// (`previous_attributes`); `None` if no value changed.
    pub previous: Option<String>,
}

impl<'a> Members<'a> {
    /// `None` if `text` is not a JSON object.
    pub fn scan(text: &'a str) -> Option<Members<'a>> {
        let bytes = text.as_bytes();
        let mut members = Vec::with_capacity(32);
        let mut at = object_start(bytes)?;
        while let Some(start) = at {
            let (member, next) = member_at(bytes, start)??;
            members.push(member);
            at = next;
        }
        Some(Members { text, members })
    }

    fn key(&self, member: &Member) -> &'a str {
        &self.text[member.key.clone()]
    }

    /// The JSON text of member `key`'s value.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.members
            .iter()
            .find(|member| self.key(member) == key)
            .map(|member| &self.text[member.value.clone()])
    }

    /// Member `key`'s value parsed as `T`; `None` if it is missing or is not a `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        serde_json::from_str(self.get(key)?).ok()
    }

    /// The object with the members in `changes` set to the given JSON texts (a member it has
    /// keeps its place, one it lacks is added at the end, its old value counting as null), and
    /// the same without the member `hidden`. Keys are written and compared as given.
    pub fn edit<V: AsRef<str>>(&self, changes: &[(&str, V)], hidden: Option<&str>) -> Edited {
        let text = self.text;
        let mut out = String::with_capacity(text.len() + 64);
        let mut shown = String::with_capacity(text.len() + 64);
        let mut previous = String::new();
        let mut note_previous = |key: &str, old_value: &str| {
            previous.push(if previous.is_empty() { '{' } else { ',' });
            previous.push('"');
            previous.push_str(key);
            previous.push_str("\":");
            previous.push_str(old_value);
        };
        let mut written = 0;
        let mut first_hidden = false;
        for member in &self.members {
            let key = self.key(member);
            let change = changes.iter().find(|(name, _)| *name == key);
            let value = match change {
                Some((_, new_value)) => {
                    let new_value = new_value.as_ref();
                    let old_value = &text[member.value.clone()];
                    if old_value != new_value {
                        note_previous(key, old_value);
                    }
                    new_value
                }
                None => &text[member.value.clone()],
            };
            // From the member's leading comma (or the opening brace) to its value.
            let lead = &text[written..member.value.start];
            out.push_str(lead);
            out.push_str(value);
            if hidden == Some(key) {
                if written == 0 {
                    shown.push('{');
                    first_hidden = true;
                }
            } else {
                if first_hidden {
                    // The first member shown after a hidden first one: no comma before it.
                    shown.push_str(
                        lead.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace()),
                    );
                    first_hidden = false;
                } else {
                    shown.push_str(lead);
                }
                shown.push_str(value);
            }
            written = member.value.end;
        }
        if self.members.is_empty() {
            // Up to the closing brace: `{` and any space.
            let close = text.rfind('}').unwrap_or(text.len());
            out.push_str(&text[..close]);
            shown.push_str(&text[..close]);
            written = close;
        }
        for (name, value) in changes {
            let value = value.as_ref();
            if self.members.iter().any(|m| self.key(m) == *name) {
                continue;
            }
            for target in [&mut out, &mut shown] {
                if !target.trim_end().ends_with('{') {
                    target.push(',');
                }
                target.push('"');
                target.push_str(name);
                target.push_str("\":");
                target.push_str(value);
            }
            if value != "null" {
                note_previous(name, "null");
            }
        }
        out.push_str(&text[written..]);
        shown.push_str(&text[written..]);
        let previous = (!previous.is_empty()).then(|| previous + "}");
        Edited {
            text: out,
            shown,
            previous,
        }
    }

    /// The object without its member `key` (all of it if it has none).
    pub fn without(&self, key: &str) -> String {
        let members = &self.members;
        let Some(index) = members.iter().position(|member| self.key(member) == key) else {
            return self.text.to_string();
        };
        // The member goes with the comma after it, or (the last one) the comma before it.
        let cut = match (index.checked_sub(1), members.get(index + 1)) {
            (_, Some(next)) => members[index].key.start - 1..next.key.start - 1,
            (Some(before), None) => members[before].value.end..members[index].value.end,
            (None, None) => members[index].key.start - 1..members[index].value.end,
        };
        let mut out = String::with_capacity(self.text.len() - cut.len());
        out.push_str(&self.text[..cut.start]);
        out.push_str(&self.text[cut.end..]);
        out
    }
}

fn skip_space(bytes: &[u8], from: usize) -> usize {
    from + bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|byte| byte.is_ascii_whitespace())
        .count()
}

/// The index just past the JSON value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => Some(string_end(bytes, start + 1)? + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            // Nested values are dense (a string every few bytes): a byte at a time.
            while at < bytes.len() {
                match bytes[at] {
                    b'"' => at = string_end(bytes, at + 1)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            None
        }
        _ => {
            let length = bytes[start..]
                .iter()
                .take_while(|byte| {
                    !matches!(byte, b',' | b'}' | b']') && !byte.is_ascii_whitespace()
                })
                .count();
            (length > 0).then_some(start + length)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::{value_text, Edited, Members};

    fn edit(text: &str, changes: &[(&str, &str)]) -> Option<Edited> {
        Some(Members::scan(text)?.edit(changes, None))
    }

    fn without(text: &str, key: &str) -> Option<String> {
        Some(Members::scan(text)?.without(key))
    }

    fn parsed(text: &str, key: &str) -> Option<serde_json::Value> {
        let rest = value_text(text, key)?;
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter();
        Some(stream.next()?.expect("a value"))
    }

    #[test]
    fn finds_the_top_level_member_and_not_a_nested_one() {
        let text = r#"{"id":"acct_1","profile":{"capabilities":{"a":"x"}},"list":[{"capabilities":1}],"capabilities":{"transfers":"active"},"z":2}"#;
        assert_eq!(
            parsed(text, "capabilities"),
            Some(serde_json::json!({"transfers": "active"}))
        );
    }

    #[test]
    fn a_key_inside_a_string_value_is_not_a_member() {
        let text =
            r#"{"name":"say \"capabilities\": {} ,\"capabilities\":","n":"\\","capabilities":[1]}"#;
        assert_eq!(parsed(text, "capabilities"), Some(serde_json::json!([1])));
    }

    #[test]
    fn spaces_and_multibyte_text_are_read_through() {
        let text =
            "{ \"name\" : \"Zoë ✓\" , \"capabilities\" :\n {\"card_payments\":\"inactive\"} }";
        assert_eq!(
            parsed(text, "capabilities"),
            Some(serde_json::json!({"card_payments": "inactive"}))
        );
    }

    #[test]
    fn a_missing_member_or_a_text_that_is_no_object_gives_none() {
        assert_eq!(
            value_text(r#"{"a":{"capabilities":{}}}"#, "capabilities"),
            None
        );
        assert_eq!(value_text(r#"[{"capabilities":{}}]"#, "capabilities"), None);
        assert_eq!(value_text(r#"{"capabilities""#, "capabilities"), None);
        assert_eq!(value_text(r#"{"capabilities" 1}"#, "capabilities"), None);
        assert_eq!(value_text("", "capabilities"), None);
    }

    /// Keys and strings that look like the member, inside and outside strings and nested objects.
    fn tricky_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("capabilities".to_string()),
            Just("\"capabilities\":{".to_string()),
            Just("capabilities\\".to_string()),
            "[a-c\"\\:{},\\[\\] ]{0,12}",
            any::<String>(),
        ]
    }

    fn any_object() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            tricky_text().prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                prop::collection::vec((tricky_text(), inner), 0..5)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        });
        prop::collection::vec((tricky_text(), value), 0..8)
            .prop_map(|fields| Value::Object(fields.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn finds_what_a_full_parse_finds(object in any_object(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                serde_json::to_string(&object).unwrap()
            };
            prop_assert_eq!(parsed(&text, "capabilities"), object.get("capabilities").cloned());
        }
    }

    #[test]
    fn edit_replaces_values_in_place_and_reports_the_old_ones() {
        let text = r#"{"id":"po_1","status":"pending","n":{"a":[1,"}"]},"failure_code":null,"_sluice":{"x":1}}"#;
        let edited = edit(text, &[("status", r#""paid""#), ("failure_code", "null")]).unwrap();
        assert_eq!(
            edited.text,
            r#"{"id":"po_1","status":"paid","n":{"a":[1,"}"]},"failure_code":null,"_sluice":{"x":1}}"#
        );
        assert_eq!(edited.previous.as_deref(), Some(r#"{"status":"pending"}"#));
        assert!(edit(text, &[("status", r#""pending""#)])
            .unwrap()
            .previous
            .is_none());
        // A member it lacks is added; its old value was null.
        let edited = edit(r#"{"a":1}"#, &[("b", "2"), ("a", "3"), ("c", "null")]).unwrap();
        assert_eq!(edited.text, r#"{"a":3,"b":2,"c":null}"#);
        assert_eq!(edited.previous.as_deref(), Some(r#"{"a":1,"b":null}"#));
        assert_eq!(edit("{ }", &[("b", "2")]).unwrap().text, r#"{ "b":2}"#);
        assert!(edit("[]", &[("b", "2")]).is_none());
    }

    #[test]
    fn without_drops_a_member_wherever_it_is() {
        assert_eq!(
            without(r#"{"a":1,"b":2,"c":3}"#, "a").unwrap(),
            r#"{"b":2,"c":3}"#
        );
        assert_eq!(
            without(r#"{"a":1,"b":2,"c":3}"#, "b").unwrap(),
            r#"{"a":1,"c":3}"#
        );
        assert_eq!(
            without(r#"{"a":1,"b":2,"c":3}"#, "c").unwrap(),
            r#"{"a":1,"b":2}"#
        );
        assert_eq!(without(r#"{"a":{"c":1}}"#, "a").unwrap(), "{}");
        assert_eq!(
            without(r#"{"a":{"c":1}}"#, "c").unwrap(),
            r#"{"a":{"c":1}}"#
        );
        assert!(without("[1]", "a").is_none());
    }

    proptest! {
        #[test]
        fn edit_and_without_agree_with_a_full_parse(
            object in any_object(),
            pretty in any::<bool>(),
            new_value in any_object(),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                serde_json::to_string(&object).unwrap()
            };
            let Some(fields) = object.as_object() else { unreachable!() };
            let dropped = without(&text, "capabilities").unwrap();
            let mut expected = fields.clone();
            expected.remove("capabilities");
            prop_assert_eq!(serde_json::from_str::<Value>(&dropped).unwrap(), Value::Object(expected));
            let new_text = serde_json::to_string(&new_value).unwrap();
            let edited = edit(&text, &[("capabilities", &new_text)]).unwrap();
            let mut expected = fields.clone();
            expected.insert("capabilities".into(), new_value.clone());
            prop_assert_eq!(
                serde_json::from_str::<Value>(&edited.text).unwrap(),
                Value::Object(expected)
            );
            // The same change with the first member hidden from what is shown.
            if let Some(first) = fields.keys().next() {
                let hidden = Members::scan(&text)
                    .unwrap()
                    .edit(&[("capabilities", &new_text)], Some(first.as_str()));
                prop_assert_eq!(&hidden.text, &edited.text);
                let mut shown = fields.clone();
                shown.insert("capabilities".into(), new_value.clone());
                // A key written with escapes is compared as written: only a plain one hides.
                if serde_json::to_string(first).unwrap() == format!("\"{first}\"") {
                    shown.shift_remove(first.as_str());
                }
                prop_assert_eq!(
                    serde_json::from_str::<Value>(&hidden.shown).unwrap(),
                    Value::Object(shown)
                );
            }
            let previous = edited.previous.map(|p| serde_json::from_str::<Value>(&p).unwrap());
            let old = fields.get("capabilities").cloned().unwrap_or(Value::Null);
            // Values compare as written: a pretty old value differs from a compact new one.
            if !pretty {
                let changed = old != new_value;
                prop_assert_eq!(previous, changed.then(|| serde_json::json!({"capabilities": old})));
            }
        }
    }
}
