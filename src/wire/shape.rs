//! Declarative parameter shapes for Stripe's deep, mostly free-form hashes (`business_profile`,
//! `settings`, `individual`...): read a hash against its shape into a JSON patch, rejecting unknown
//! keys and wrong types. An empty string becomes `null` (Stripe's "unset").

use serde_json::{Map, Value};

use super::error::ApiError;
use super::params::{Params, Patch, Result};

pub type Shape = &'static [(&'static str, Field)];

#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// A string of at most this many characters.
    Str(usize),
    Int,
    /// An integer within bounds (a day of the month, a year).
    IntIn(i64, i64),
    /// Exactly this many ASCII digits (`ssn_last_4`).
    Digits(usize),
    /// A decimal number (`percent_ownership`).
    Decimal,
    /// A decimal number from 0 to 100.
    Percent,
    Bool,
    Enum(&'static [&'static str]),
    Obj(Shape),
    StrList,
    /// A hash whose keys are free (string values).
    StrMap,
}

fn read_field(params: &mut Params, key: &str, field: Field) -> Result<Option<Value>> {
    Ok(match field {
        Field::Str(max) => params.bounded_string(key, max)?.map(|text| {
            if text.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            }
        }),
        Field::Int => match params.string(key)? {
            None => None,
            Some(text) if text.is_empty() => Some(Value::Null),
            Some(text) => {
                let number: i64 = text.trim().parse().map_err(|_| {
                    ApiError::invalid_request(format!("Invalid integer: {text}"))
                        .with_code("parameter_invalid_integer")
                        .with_param(params.name(key))
                })?;
                Some(Value::from(number))
            }
        },
        Field::IntIn(min, max) => match read_field(params, key, Field::Int)? {
            Some(Value::Number(number))
                if !(min..=max).contains(&number.as_i64().unwrap_or(i64::MIN)) =>
            {
                let name = params.name(key);
                return Err(ApiError::invalid_request(format!(
                    "Invalid {name}: must be between {min} and {max}."
                ))
                .with_param(name));
            }
            other => other,
        },
        Field::Digits(count) => match params.string(key)? {
            None => None,
            Some(text) if text.is_empty() => Some(Value::Null),
            Some(text) if text.len() == count && text.bytes().all(|b| b.is_ascii_digit()) => {
                Some(Value::String(text))
            }
            Some(_) => {
                let name = params.name(key);
                return Err(ApiError::invalid_request(format!(
                    "Invalid {name}: must be exactly {count} digits."
                ))
                .with_param(name));
            }
        },
        Field::Decimal => match params.string(key)? {
            None => None,
            Some(text) if text.is_empty() => Some(Value::Null),
            Some(text) => {
                let number = text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .and_then(serde_json::Number::from_f64)
                    .ok_or_else(|| {
                        ApiError::invalid_request(format!("Invalid decimal: {text}"))
                            .with_param(params.name(key))
                    })?;
                Some(Value::Number(number))
            }
        },
        Field::Percent => match read_field(params, key, Field::Decimal)? {
            Some(Value::Number(number))
                if !(0.0..=100.0).contains(&number.as_f64().unwrap_or(-1.0)) =>
            {
                let name = params.name(key);
                return Err(ApiError::invalid_request(format!(
                    "Invalid {name}: must be between 0 and 100."
                ))
                .with_param(name));
            }
            other => other,
        },
        Field::Bool => params.bool(key)?.map(Value::Bool),
        Field::Enum(allowed) => match params.string(key)? {
            None => None,
            Some(text) if text.is_empty() => Some(Value::Null),
            Some(text) => {
                if !allowed.contains(&text.as_str()) {
                    let name = params.name(key);
                    return Err(ApiError::invalid_request(format!(
                        "Invalid {name}: must be one of {}",
                        allowed.join(", ")
                    ))
                    .with_param(name));
                }
                Some(Value::String(text))
            }
        },
        Field::Obj(shape) => match params.patch_map(key)? {
            Patch::Absent => None,
            Patch::Unset => Some(Value::Null),
            Patch::Set(nested) => Some(Value::Object(read(nested, shape)?)),
        },
        Field::StrList => params
            .string_list(key)?
            .map(|items| Value::Array(items.into_iter().map(Value::String).collect())),
        Field::StrMap => match params.patch_map(key)? {
            Patch::Absent => None,
            Patch::Unset => Some(Value::Null),
            Patch::Set(nested) => Some(Value::Object(
                nested
                    .into_string_pairs()?
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )),
        },
    })
}

/// Reads every key of `shape` that `params` holds, then rejects what is left.
pub fn read(mut params: Params, shape: Shape) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (key, field) in shape {
        if let Some(value) = read_field(&mut params, key, *field)? {
            out.insert((*key).to_string(), value);
        }
    }
    params.finish()?;
    Ok(out)
}

/// Reads one top-level hash of `params` against `shape`.
pub fn read_key(
    params: &mut Params,
    key: &str,
    shape: Shape,
) -> Result<Option<Map<String, Value>>> {
    match read_field(params, key, Field::Obj(shape))? {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Ok(Some(Map::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::form::parse;

    const DOB: Shape = &[
        ("day", Field::Int),
        ("month", Field::Int),
        ("year", Field::Int),
    ];
    const PERSON: Shape = &[("first_name", Field::Str(100)), ("dob", Field::Obj(DOB))];

    fn params(input: &str) -> Params {
        let mut root = Vec::new();
        parse(input.as_bytes(), &mut root).unwrap();
        Params::new(root)
    }

    #[test]
    fn reads_nested_values_and_unsets() {
        let mut p = params("individual[first_name]=&individual[dob][year]=1901");
        let patch = read_key(&mut p, "individual", PERSON).unwrap().unwrap();
        assert_eq!(
            Value::Object(patch),
            serde_json::json!({"first_name": null, "dob": {"year": 1901}})
        );
    }

    #[test]
    fn unknown_nested_key_is_named() {
        let mut p = params("individual[dob][yr]=1901");
        let error = read_key(&mut p, "individual", PERSON).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("individual[dob][yr]"));
    }
}
