//! Persons: the people behind an account (`/v1/accounts/{id}/persons`), and the shape an
//! individual account's `individual` shares with them. Sensitive numbers (`id_number`,
//! `ssn_last_4`) are never stored: they are checked against Stripe's test values when given, and
//! only the `*_provided` flags and the verification outcome are kept.

use serde_json::{json, Map, Value};

use super::docs::{self, NewDoc};
use super::objects::PERSON;
use super::requirements;
use super::{Ctx, Error, Result};
use crate::ids;
use crate::store::Tx;

/// A new person document (Stripe's `person` shape) in `account`.
pub fn blank(id: &str, account: &str, created: i64) -> Value {
    let address = json!({"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null});
    json!({
        "id": id,
        "object": PERSON,
        "account": account,
        "address": address,
        "created": created,
        "dob": {"day": null, "month": null, "year": null},
        "email": null,
        "first_name": null,
        "future_requirements": empty_person_requirements(),
        "id_number_provided": false,
        "last_name": null,
        "metadata": {},
        "phone": null,
        "relationship": {
            "director": false, "executive": false, "legal_guardian": false, "owner": false,
            "percent_ownership": null, "representative": false, "title": null
        },
        "requirements": empty_person_requirements(),
        "ssn_last_4_provided": false,
        "verification": {
            "additional_document": {"back": null, "details": null, "details_code": null, "front": null},
            "details": null,
            "details_code": null,
            "document": {"back": null, "details": null, "details_code": null, "front": null},
            "status": "unverified"
        }
    })
}

fn empty_person_requirements() -> Value {
    json!({"alternatives": [], "currently_due": [], "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []})
}

/// Applies a validated patch to a person (or an account's `individual`), consuming the sensitive
/// fields, then re-runs identity verification over what the person now holds.
pub fn apply(person: &mut Value, mut patch: Map<String, Value>) -> Result<()> {
    let id_number = take_secret(&mut patch, "id_number")?;
    let ssn_last_4 = take_secret(&mut patch, "ssn_last_4")?;
    if let Some(ssn) = &ssn_last_4 {
        if ssn.len() != 4 || !ssn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid_param(
                "ssn_last_4",
                "The SSN last 4 must be exactly 4 digits.",
            ));
        }
    }
    if let Some(Value::Object(metadata)) = patch.remove("metadata") {
        let pairs = metadata
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect();
        let mut current: super::metadata::Metadata =
            serde_json::from_value(person.get("metadata").cloned().unwrap_or(json!({})))
                .unwrap_or_default();
        super::metadata::apply(&mut current, super::metadata::MetadataChange::Merge(pairs))?;
        person["metadata"] = json!(current);
    }
    let before = person.clone();
    docs::merge(person, patch);
    if id_number.is_some() {
        person["id_number_provided"] = Value::Bool(true);
    }
    if ssn_last_4.is_some() {
        person["ssn_last_4_provided"] = Value::Bool(true);
    }
    // Numbers are checked when given and only their outcome is kept; an earlier number's
    // failure stands until a new number arrives.
    let result = requirements::verify_person(
        person,
        Some(&before),
        id_number.as_deref(),
        ssn_last_4.as_deref(),
    );
    requirements::apply_verification(&mut person["verification"], &result);
    Ok(())
}

fn take_secret(patch: &mut Map<String, Value>, key: &str) -> Result<Option<String>> {
    match patch.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Error::invalid_param(
            key,
            format!("Invalid {key}: must be a string."),
        )),
    }
}

/// Removes what only Sluice needs from a stored person before it is shown.
pub fn public_view(person: &mut Value) {
    super::docs::strip_private(person);
}

fn parent_of(account: &str) -> String {
    account.to_string()
}

pub fn create(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    patch: Map<String, Value>,
) -> Result<Value> {
    let id = ids::new_id("person");
    let mut person = blank(&id, account, ctx.now);
    apply(&mut person, patch)?;
    let parent = parent_of(account);
    let new = NewDoc {
        id: &id,
        object: PERSON,
        scope: &ctx.platform_scope(),
        parent: Some(&parent),
    };
    docs::insert(tx, ctx, new, &person)?;
    Ok(person)
}

pub fn load(tx: &mut dyn Tx, ctx: &Ctx, account: &str, id: &str) -> Result<Value> {
    let (doc, person): (_, Value) = docs::load(tx, &ctx.platform_scope(), PERSON, "person", id)?;
    if doc.parent.as_deref() != Some(account) {
        return Err(Error::no_such("person", id));
    }
    Ok(person)
}

pub fn update(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    id: &str,
    patch: Map<String, Value>,
) -> Result<Value> {
    let mut person = load(tx, ctx, account, id)?;
    apply(&mut person, patch)?;
    docs::save(tx, id, &person)?;
    Ok(person)
}

pub fn delete(tx: &mut dyn Tx, ctx: &Ctx, account: &str, id: &str) -> Result<Value> {
    load(tx, ctx, account, id)?;
    let stub = json!({"id": id, "object": PERSON, "deleted": true});
    docs::mark_deleted(tx, id, &stub)?;
    Ok(stub)
}

/// Every live person of `account`, oldest first (the requirements engine reads them all).
pub fn all(tx: &mut dyn Tx, ctx: &Ctx, account: &str) -> Result<Vec<Value>> {
    let request = docs::PageRequest {
        limit: 1_000,
        ..Default::default()
    };
    let page = docs::page(
        tx,
        &ctx.platform_scope(),
        &[PERSON],
        Some(account),
        &request,
    )?;
    let mut people = Vec::with_capacity(page.docs.len());
    for doc in page.docs.iter().rev() {
        people.push(docs::from_json(doc)?);
    }
    Ok(people)
}
