//! Reading and writing domain objects as stored documents.

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::Serialize;

use serde_json::Value;

use super::{json_text, Ctx, Error, Result};
use crate::store::{CreatedRange, Cursor, Document, FieldValue, ListQuery, Scope, StoreError, Tx};

pub fn to_json<T: Serialize + Any>(value: &T) -> Result<String> {
    // Most documents are `Value`s: they have a faster writer (same text).
    if let Some(json) = (value as &dyn Any).downcast_ref::<Value>() {
        return Ok(json_text::to_string(json));
    }
    serialize(value)
}

/// The text of a value that is not a `Value` (and may borrow, unlike what `to_json` takes).
pub fn serialize<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::from(StoreError::Corrupt("new".into(), e.to_string())))
}

pub fn from_json<T: DeserializeOwned>(doc: &Document) -> Result<T> {
    serde_json::from_str(&doc.body)
        .map_err(|e| Error::from(StoreError::Corrupt(doc.id.clone(), e.to_string())))
}

/// The live (not deleted) document `id` of type `object` that `scope` may see.
pub fn find(tx: &mut dyn Tx, scope: &Scope, object: &str, id: &str) -> Result<Option<Document>> {
    Ok(tx
        .get(id)?
        .filter(|doc| doc.object == object && doc.visible_to(scope)))
}

/// Like `load`, locking the document for the change that follows.
pub fn load_for_update<T: DeserializeOwned>(
    tx: &mut dyn Tx,
    scope: &Scope,
    object: &str,
    what: &str,
    id: &str,
) -> Result<(Document, T)> {
    match tx
        .get_for_update(id)?
        .filter(|doc| doc.object == object && doc.visible_to(scope))
    {
        Some(doc) if !doc.deleted => {
            let value = from_json(&doc)?;
            Ok((doc, value))
        }
        _ => Err(Error::no_such(what, id)),
    }
}

/// Like `find`, but a missing object is Stripe's `resource_missing` naming `what`.
pub fn load<T: DeserializeOwned>(
    tx: &mut dyn Tx,
    scope: &Scope,
    object: &str,
    what: &str,
    id: &str,
) -> Result<(Document, T)> {
    match find(tx, scope, object, id)? {
        Some(doc) if !doc.deleted => {
            let value = from_json(&doc)?;
            Ok((doc, value))
        }
        _ => Err(Error::no_such(what, id)),
    }
}

pub struct NewDoc<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub scope: &'a Scope,
    /// The document whose list of these it belongs to (the refunds of a charge, the persons of
    /// an account): set only where such a list is read (`page` with a parent). Every parent is
    /// an entry in the stores' parent index, and a payment's balance transactions, charges and
    /// fee were eleven percent of the embedded store's WAL with nothing ever reading them.
    pub parent: Option<&'a str>,
}

pub fn insert<T: Serialize + Any>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    new: NewDoc,
    value: &T,
) -> Result<()> {
    insert_text(tx, ctx, new, to_json(value)?)
}

/// `insert` of a document already turned into its text.
pub fn insert_text(tx: &mut dyn Tx, ctx: &Ctx, new: NewDoc, body: String) -> Result<()> {
    let doc = Document {
        id: new.id.to_string(),
        object: new.object,
        platform: new.scope.platform.clone(),
        account: new.scope.account.clone(),
        livemode: new.scope.livemode,
        created: ctx.now,
        parent: new.parent.map(str::to_string),
        deleted: false,
        body,
    };
    Ok(tx.insert(doc)?)
}

pub fn save<T: Serialize + Any>(tx: &mut dyn Tx, id: &str, value: &T) -> Result<()> {
    Ok(tx.update(id, &to_json(value)?, false)?)
}

/// Marks a document deleted, keeping `stub` (Stripe's `{"id", "object", "deleted": true}`) as
/// what a later retrieve shows.
pub fn mark_deleted<T: Serialize + Any>(tx: &mut dyn Tx, id: &str, stub: &T) -> Result<()> {
    Ok(tx.update(id, &to_json(stub)?, true)?)
}

/// A validated page request (`limit`, cursors, `created`).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub created: CreatedRange,
    /// JSON fields that must have a value (`email` on customers, `relationship.owner` on persons).
    pub filters: Vec<(&'static str, FieldValue)>,
}

pub struct Page {
    pub docs: Vec<Document>,
    pub has_more: bool,
}

/// One page of `objects` in `scope` (and under `parent`), newest first.
pub fn page(
    tx: &mut dyn Tx,
    scope: &Scope,
    objects: &[&'static str],
    parent: Option<&str>,
    request: &PageRequest,
) -> Result<Page> {
    let cursor = match (&request.starting_after, &request.ending_before) {
        (Some(after), _) => Cursor::After(after),
        (None, Some(before)) => Cursor::Before(before),
        (None, None) => Cursor::First,
    };
    for (param, id) in [
        ("starting_after", &request.starting_after),
        ("ending_before", &request.ending_before),
    ] {
        let Some(id) = id else { continue };
        let known = tx.get(id)?.is_some_and(|doc| {
            objects.contains(&doc.object)
                && doc.visible_to(scope)
                && parent.is_none_or(|parent| doc.parent.as_deref() == Some(parent))
        });
        if !known {
            // A bad cursor is a bad parameter (400), not a missing resource at this URL.
            return Err(Error::invalid(format!("No such object: '{id}'"))
                .code("resource_missing")
                .param(param));
        }
    }
    let query = ListQuery {
        objects,
        scope,
        parent,
        created: request.created,
        filters: &request.filters,
        cursor,
        limit: request.limit + 1,
    };
    let mut docs = tx.list(&query)?;
    let has_more = docs.len() > request.limit;
    if has_more {
        match cursor {
            // Walking backwards, the extra row is the oldest one, at the front.
            Cursor::Before(_) => {
                docs.remove(0);
            }
            _ => docs.truncate(request.limit),
        }
    }
    Ok(Page { docs, has_more })
}

/// Where a stored document keeps what only Sluice reads (test-card behaviour, payout failure
/// codes, verification inputs); never shown.
pub const PRIVATE: &str = "_sluice";

/// Removes the private part of a document before it is shown.
pub fn strip_private(document: &mut serde_json::Value) {
    if let Some(fields) = document.as_object_mut() {
        fields.remove(PRIVATE);
    }
}

/// Applies a JSON patch: nested objects merge, any other value (`null` included) replaces.
pub fn merge(target: &mut serde_json::Value, patch: serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value;
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Some(object) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch {
        match (object.get_mut(&key), value) {
            (Some(existing @ Value::Object(_)), Value::Object(nested)) => merge(existing, nested),
            (_, Value::Object(nested)) => {
                let mut fresh = Value::Object(serde_json::Map::new());
                merge(&mut fresh, nested);
                object.insert(key, fresh);
            }
            (_, value) => {
                object.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn merge_is_deep_and_null_unsets() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": 3});
        let patch = json!({"a": {"b": null, "e": {"f": 4}}, "d": 5});
        super::merge(&mut target, patch.as_object().unwrap().clone());
        assert_eq!(
            target,
            json!({"a": {"b": null, "c": 2, "e": {"f": 4}}, "d": 5})
        );
    }
}
