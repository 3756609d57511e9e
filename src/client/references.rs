//! `${name:path.to.field}` references in fixture files: a value from the response of an earlier
//! fixture request (`${payment_intent:latest_charge}`, `${list:data.0.id}`), or from the
//! environment (`${.env:VAR}`, falling back to a `.env` file in the working directory).
//! `${name:path|fallback}` gives a value to use when the reference finds nothing.

use std::collections::HashMap;

use serde_json::Value;

/// Where `${.env:VAR}` looks: the process environment, then `KEY=VALUE` lines of a `.env` file.
pub struct EnvSource {
    dotenv: HashMap<String, String>,
}

impl EnvSource {
    /// Reads `.env` in the working directory if there is one; a missing file is no error.
    pub fn from_working_dir() -> EnvSource {
        let text = std::fs::read_to_string(".env").unwrap_or_default();
        EnvSource {
            dotenv: parse_dotenv(&text),
        }
    }

    pub fn empty() -> EnvSource {
        EnvSource {
            dotenv: HashMap::new(),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut values = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            values.insert(key.trim().to_string(), unquoted.to_string());
        }
    }
    values
}

/// Replaces every reference in `text`. Text without `${name:...}` comes back unchanged.
pub fn resolve(
    text: &str,
    responses: &HashMap<String, Value>,
    env: &EnvSource,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        match inner.split_once(':') {
            Some((name, query)) => out.push_str(&lookup(name, query, responses, env)?),
            // `${x}` without a colon is not a reference: leave it as written.
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(
    name: &str,
    query: &str,
    responses: &HashMap<String, Value>,
    env: &EnvSource,
) -> Result<String, String> {
    let (path, fallback) = match query.split_once('|') {
        Some((path, fallback)) => (path, Some(fallback)),
        None => (query, None),
    };
    let written = format!("${{{name}:{query}}}");
    let found = if name == ".env" {
        env.get(path).ok_or_else(|| {
            format!("{written}: the environment variable {path} is not set (nor in ./.env)")
        })
    } else {
        match responses.get(name) {
            None => Err(format!(
                "{written}: no earlier fixture is named `{name}` (fixtures run in file order)"
            )),
            Some(response) => field(response, path)
                .and_then(|value| text_of(value).ok_or(()))
                .map_err(|()| {
                    format!("{written}: the response of `{name}` has no value at `{path}`")
                }),
        }
    };
    match (found, fallback) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(fallback)) => Ok(fallback.to_string()),
        (Err(message), None) => Err(message),
    }
}

/// Walks a dot path; numeric segments index arrays (`data.0.id`).
fn field<'a>(value: &'a Value, path: &str) -> Result<&'a Value, ()> {
    let mut current = value;
    for segment in path.split('.').filter(|segment| !segment.is_empty()) {
        current = match current {
            Value::Object(map) => map.get(segment).ok_or(())?,
            Value::Array(items) => {
                let index: usize = segment.parse().map_err(|_| ())?;
                items.get(index).ok_or(())?
            }
            _ => return Err(()),
        };
    }
    Ok(current)
}

/// A value as it goes into a form: scalars as text; an expanded object stands for its id.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Number(_) | Value::Bool(_) => Some(super::form::scalar_text(value)),
        Value::Object(map) => map.get("id").and_then(Value::as_str).map(str::to_string),
        Value::Array(_) => None,
    }
}

/// Resolves references in every string of a JSON tree (keys are left alone).
pub fn resolve_tree(
    value: &Value,
    responses: &HashMap<String, Value>,
    env: &EnvSource,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(resolve(text, responses, env)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve_tree(item, responses, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut resolved = serde_json::Map::new();
            for (key, item) in map {
                resolved.insert(key.clone(), resolve_tree(item, responses, env)?);
            }
            Value::Object(resolved)
        }
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn responses() -> HashMap<String, Value> {
        let mut responses = HashMap::new();
        responses.insert(
            "payment_intent".to_string(),
            json!({"id": "pi_1", "amount": 2000, "latest_charge": "ch_1", "customer": null,
                   "transfer_data": {"destination": {"id": "acct_1", "object": "account"}}}),
        );
        responses.insert(
            "disputes".to_string(),
            json!({"object": "list", "data": [{"id": "du_1"}, {"id": "du_2"}]}),
        );
        responses
    }

    #[test]
    fn references_resolve_inside_text_and_through_arrays() {
        let env = EnvSource::empty();
        let responses = responses();
        assert_eq!(
            resolve(
                "/v1/payment_intents/${payment_intent:id}/capture",
                &responses,
                &env
            )
            .unwrap(),
            "/v1/payment_intents/pi_1/capture"
        );
        assert_eq!(
            resolve("${disputes:data.1.id}", &responses, &env).unwrap(),
            "du_2"
        );
        assert_eq!(
            resolve("${payment_intent:amount}", &responses, &env).unwrap(),
            "2000"
        );
        assert_eq!(
            resolve(
                "${payment_intent:transfer_data.destination}",
                &responses,
                &env
            )
            .unwrap(),
            "acct_1"
        );
        assert_eq!(
            resolve("plain text", &responses, &env).unwrap(),
            "plain text"
        );
        assert_eq!(
            resolve("${not a reference}", &responses, &env).unwrap(),
            "${not a reference}"
        );
        assert_eq!(
            resolve("${unclosed", &responses, &env).unwrap(),
            "${unclosed"
        );
    }

    #[test]
    fn missing_values_are_clear_errors_unless_a_fallback_is_given() {
        let env = EnvSource::empty();
        let responses = responses();
        let error = resolve("${customer:id}", &responses, &env).unwrap_err();
        assert!(
            error.contains("no earlier fixture is named `customer`"),
            "{error}"
        );
        let error = resolve("${payment_intent:customer}", &responses, &env).unwrap_err();
        assert!(error.contains("has no value at `customer`"), "{error}");
        let error = resolve("${disputes:data.5.id}", &responses, &env).unwrap_err();
        assert!(error.contains("data.5.id"), "{error}");
        assert_eq!(
            resolve("${payment_intent:customer|cus_default}", &responses, &env).unwrap(),
            "cus_default"
        );
        assert_eq!(
            resolve("${never_ran:id|cus_default}", &responses, &env).unwrap(),
            "cus_default"
        );
    }

    #[test]
    fn env_references_read_the_environment_then_dotenv() {
        let env = EnvSource {
            dotenv: parse_dotenv(
                "# comment\nexport SLUICE_REF_TEST_A=\"from file\"\nSLUICE_REF_TEST_B=b=c\n",
            ),
        };
        let responses = HashMap::new();
        assert_eq!(
            resolve("${.env:SLUICE_REF_TEST_A}", &responses, &env).unwrap(),
            "from file"
        );
        assert_eq!(
            resolve("${.env:SLUICE_REF_TEST_B}", &responses, &env).unwrap(),
            "b=c"
        );
        assert_eq!(
            resolve("${.env:PATH}", &responses, &env).unwrap(),
            std::env::var("PATH").unwrap()
        );
        let error = resolve("${.env:SLUICE_REF_TEST_UNSET}", &responses, &env).unwrap_err();
        assert!(
            error.contains("SLUICE_REF_TEST_UNSET is not set"),
            "{error}"
        );
    }

    #[test]
    fn trees_resolve_every_string() {
        let env = EnvSource::empty();
        let tree = json!({"charge": "${payment_intent:latest_charge}", "metadata": {"n": 1},
                          "list": ["${disputes:data.0.id}"]});
        assert_eq!(
            resolve_tree(&tree, &responses(), &env).unwrap(),
            json!({"charge": "ch_1", "metadata": {"n": 1}, "list": ["du_1"]})
        );
    }
}
