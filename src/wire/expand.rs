//! `expand[]`: replaces id references in a response with the objects they name. Dotted paths
//! recurse (`payment_intent.customer`), list responses start with `data.`, at most 4 levels.

use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::expandable::EXPANDABLE;
use crate::domain::Ctx;
use crate::store::Tx;

const MAX_DEPTH: usize = 4;
/// Bounds the work one response can ask for.
const MAX_PATHS: usize = 20;

fn serialise<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("cannot encode the response: {e}")))
}

/// Encodes a response, expanding the requested paths first.
pub fn render<T: Serialize>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    value: &T,
    paths: &[String],
) -> Result<Vec<u8>, ApiError> {
    if paths.is_empty() {
        return serialise(value);
    }
    if paths.len() > MAX_PATHS {
        return Err(ApiError::invalid_request(format!(
            "You may expand at most {MAX_PATHS} paths per request."
        ))
        .with_param("expand"));
    }
    let mut tree = serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))?;
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        let depth = segments.iter().filter(|s| **s != "data").count();
        if depth > MAX_DEPTH || segments.iter().any(|s| s.is_empty()) {
            return Err(ApiError::invalid_request(format!(
                "You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}"
            ))
            .with_param("expand"));
        }
        expand_path(tx, ctx, &mut tree, &segments, path)?;
    }
    serialise(&tree)
}

fn expandable(object: &str, field: &str) -> bool {
    EXPANDABLE
        .iter()
        .any(|(name, fields)| *name == object && fields.contains(&field))
}

fn expand_path(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    value: &mut Value,
    segments: &[&str],
    path: &str,
) -> Result<(), ApiError> {
    let Some((field, rest)) = segments.split_first() else {
        return Ok(());
    };
    let object = value
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if object == "list" && *field == "data" {
        if let Some(items) = value.get_mut("data").and_then(Value::as_array_mut) {
            for item in items {
                expand_path(tx, ctx, item, rest, path)?;
            }
        }
        return Ok(());
    }
    if !expandable(&object, field) {
        return Err(ApiError::invalid_request(format!(
            "This property cannot be expanded ({path}). You may want to try expanding 'data.{path}' instead."
        ))
        .with_param("expand"));
    }
    let Some(slot) = value.get_mut(*field) else {
        return Ok(());
    };
    if let Some(id) = slot.as_str().map(str::to_string) {
        if let Some(doc) = tx.get(&id)? {
            if doc.platform == ctx.scope.platform && doc.livemode == ctx.scope.livemode {
                let mut loaded: Value = serde_json::from_str(&doc.body).map_err(|e| {
                    ApiError::internal(format!("stored object {id} is unreadable: {e}"))
                })?;
                crate::domain::docs::strip_private(&mut loaded);
                *slot = loaded;
            }
        }
    }
    if !rest.is_empty() && slot.is_object() {
        expand_path(tx, ctx, slot, rest, path)?;
    }
    Ok(())
}
