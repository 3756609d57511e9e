//! PaymentMethods (`pm_`): cards a customer pays with, stored as JSON documents in Stripe's
//! `payment_method` shape.
//!
//! A PaymentMethod comes from card details (`card[number]`...), a test token (`card[token]=
//! tok_visa`), a test shortcut used in place of an id (`pm_card_visa`: `resolve` makes and stores
//! a fresh PaymentMethod, as Stripe does), or a platform PaymentMethod cloned into a connected
//! account. Only the last four digits and a fingerprint of a number are kept, never the CVC.
//!
//! Private state under `_sluice` (removed by `public_view`, and by `expand`):
//! - `test_card`: the catalogue number (`cards::CATALOGUE`) when the card is a Stripe test card,
//!   else `null`; `behaviour` reads it.
//! - `consumed`: the PaymentMethod was detached from its customer (or shared without one) and
//!   may not be used again.
//!
//! Attachment lives in the `customer` field (lists filter on it), not in the document's parent:
//! a PaymentMethod moves between customers over its life.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::cards::{self, Behaviour, Check, TestCard};
use super::docs::{self, NewDoc, PageRequest};
use super::metadata::{self, MetadataChange};
use super::objects::{CUSTOMER, PAYMENT_METHOD};
use super::{Ctx, Error, Result};
use crate::ids;
use crate::store::{FieldValue, Tx};

pub use super::docs::PRIVATE;
/// The only PaymentMethod type Sluice implements.
pub const CARD: &str = "card";
/// How Stripe names the object in `No such PaymentMethod: 'pm_x'`.
const WHAT: &str = "PaymentMethod";

/// Card details as a request gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum CardInput {
    Details {
        number: String,
        exp_month: i64,
        exp_year: i64,
        /// `None` when not sent (or sent empty): the CVC check is then never performed.
        cvc: Option<String>,
    },
    /// `card[token]=tok_visa`.
    Token(String),
}

/// `POST /v1/payment_methods`.
#[derive(Debug, Clone, Default)]
pub struct CreateInput {
    /// `type`; required unless cloning with `payment_method`.
    pub kind: Option<String>,
    pub card: Option<CardInput>,
    /// A patch of `billing_details` (`address`, `email`, `name`, `phone`); `null` unsets.
    pub billing_details: Option<Map<String, Value>>,
    pub metadata: MetadataChange,
    /// Cloning: the platform customer `payment_method` is attached to.
    pub customer: Option<String>,
    /// Cloning: the platform PaymentMethod to copy into the connected account.
    pub payment_method: Option<String>,
    /// `always`, `limited` or `unspecified` (the default).
    pub allow_redisplay: Option<&'static str>,
}

/// `POST /v1/payment_methods/{id}`.
#[derive(Debug, Clone, Default)]
pub struct UpdateInput {
    pub billing_details: Option<Map<String, Value>>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub metadata: MetadataChange,
    pub allow_redisplay: Option<&'static str>,
}

/// One page of PaymentMethods (stored documents, `_sluice` included).
pub struct Listed {
    pub data: Vec<Value>,
    pub has_more: bool,
}

/// What a new PaymentMethod takes from the request it is made in.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    platform: &'a str,
    livemode: bool,
    now: i64,
}

impl<'a> Origin<'a> {
    fn of(ctx: &'a Ctx) -> Self {
        Origin {
            platform: &ctx.scope.platform,
            livemode: ctx.scope.livemode,
            now: ctx.now,
        }
    }
}

/// A card as it is about to be stored.
struct NewCard<'a> {
    number: &'a str,
    exp_month: i64,
    exp_year: i64,
    cvc_given: bool,
}

// ---------------------------------------------------------------------------------------------
// Dates (card expiry is a calendar matter).

/// (year, month) of a unix time, in UTC.
fn year_month(unix: i64) -> (i64, i64) {
    // Howard Hinnant's civil-from-days.
    let days = unix.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Stripe takes two-digit years (`34` is 2034); one more than 50 years ahead is last century's.
fn full_year(year: i64, now_year: i64) -> i64 {
    if !(0..100).contains(&year) {
        return year;
    }
    let candidate = 2000 + year;
    if candidate > now_year + 50 {
        candidate - 100
    } else {
        candidate
    }
}

fn expiry_month_error() -> Error {
    cards::card_error(
        "invalid_expiry_month",
        None,
        "Your card's expiration month is invalid.",
        Some("card[exp_month]"),
    )
}

fn expiry_year_error() -> Error {
    cards::card_error(
        "invalid_expiry_year",
        None,
        "Your card's expiration year is invalid.",
        Some("card[exp_year]"),
    )
}

/// Checks an expiry against `now`; returns it with a four-digit year.
fn valid_expiry(month: i64, year: i64, now: i64) -> Result<(i64, i64)> {
    let (now_year, now_month) = year_month(now);
    if !(1..=12).contains(&month) {
        return Err(expiry_month_error());
    }
    let year = full_year(year, now_year);
    if year < now_year || year > now_year + 50 {
        return Err(expiry_year_error());
    }
    if year == now_year && month < now_month {
        return Err(expiry_month_error());
    }
    Ok((month, year))
}

// ---------------------------------------------------------------------------------------------
// Building the document.

/// Stripe-style 16-character fingerprint: the same number gives the same fingerprint within a
/// platform; it does not lead back to the number without the platform id and a search.
fn fingerprint(platform: &str, number: &str) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hasher = Sha256::new();
    hasher.update(b"sluice card fingerprint\0");
    hasher.update(platform.as_bytes());
    hasher.update([0]);
    hasher.update(number.as_bytes());
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
        .collect()
}

fn empty_billing_details() -> Value {
    json!({
        "address": {
            "city": null, "country": null, "line1": null, "line2": null,
            "postal_code": null, "state": null
        },
        "email": null,
        "name": null,
        "phone": null
    })
}

/// Applies a `billing_details` patch; an unset address reads back as an address of nulls.
fn apply_billing_details(pm: &mut Value, patch: Option<Map<String, Value>>) {
    let Some(patch) = patch else { return };
    let mut billing = pm
        .get("billing_details")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(empty_billing_details);
    docs::merge(&mut billing, patch);
    if !billing["address"].is_object() {
        billing["address"] = empty_billing_details()["address"].clone();
    } else {
        // A partial address keeps Stripe's full set of keys.
        let mut address = empty_billing_details()["address"].clone();
        if let (Some(full), Some(given)) = (address.as_object_mut(), billing["address"].as_object())
        {
            for (key, value) in given {
                full.insert(key.clone(), value.clone());
            }
        }
        billing["address"] = address;
    }
    pm["billing_details"] = billing;
}

fn apply_metadata(pm: &mut Value, change: MetadataChange) -> Result<()> {
    if change == MetadataChange::Keep {
        return Ok(());
    }
    metadata::apply_to_document(pm, change)?;
    Ok(())
}

fn has_text(value: &Value) -> bool {
    value.as_str().is_some_and(|text| !text.is_empty())
}

fn card_object(origin: Origin, card: &NewCard, billing: &Value) -> Value {
    let test_card = cards::by_number(card.number);
    let brand = cards::brand_of(card.number);
    let unchecked = |given: bool| {
        if given {
            Value::from("unchecked")
        } else {
            Value::Null
        }
    };
    let address = &billing["address"];
    json!({
        "brand": brand,
        "checks": {
            "address_line1_check": unchecked(has_text(&address["line1"])),
            "address_postal_code_check": unchecked(has_text(&address["postal_code"])),
            "cvc_check": unchecked(card.cvc_given)
        },
        "country": test_card.map(|c| c.country),
        "display_brand": cards::display_brand(brand),
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": fingerprint(origin.platform, card.number),
        "funding": test_card.map_or("unknown", |c| c.funding),
        "generated_from": null,
        "last4": &card.number[card.number.len().saturating_sub(4)..],
        "networks": {
            "available": if brand == "unknown" { json!([]) } else { json!([brand]) },
            "preferred": null
        },
        "three_d_secure_usage": {"supported": test_card.is_none_or(|c| c.three_d_secure)},
        "wallet": null
    })
}

fn new_document(
    origin: Origin,
    card: &NewCard,
    billing_details: Option<Map<String, Value>>,
    metadata_change: MetadataChange,
) -> Result<Value> {
    let mut pm = json!({
        "id": ids::new_id("pm"),
        "object": PAYMENT_METHOD,
        "allow_redisplay": "unspecified",
        "billing_details": null,
        "card": null,
        "created": origin.now,
        "customer": null,
        "livemode": origin.livemode,
        "metadata": {},
        "type": CARD,
    });
    // Moved in rather than serialised anew inside `json!`, key by hashed key.
    pm["billing_details"] = empty_billing_details();
    apply_billing_details(&mut pm, billing_details);
    apply_metadata(&mut pm, metadata_change)?;
    pm["card"] = card_object(origin, card, &pm["billing_details"]);
    pm[PRIVATE] = json!({
        "test_card": cards::by_number(card.number).map(|c| c.number),
        "consumed": false
    });
    Ok(pm)
}

fn store_new(tx: &mut dyn Tx, ctx: &Ctx, pm: &Value) -> Result<()> {
    let id = id_of(pm).to_string();
    let new = NewDoc {
        id: &id,
        object: PAYMENT_METHOD,
        scope: &ctx.scope,
        parent: None,
    };
    docs::insert(tx, ctx, new, pm)
}

fn id_of(pm: &Value) -> &str {
    pm["id"].as_str().unwrap_or_default()
}

/// The card of a catalogue entry, expiring a year from now (as Stripe's test PaymentMethods do).
fn test_card_input(now: i64, test_card: &'static TestCard) -> NewCard<'static> {
    let (year, month) = year_month(now);
    NewCard {
        number: test_card.number,
        exp_month: month,
        exp_year: year + 1,
        cvc_given: true,
    }
}

/// Stripe's test shortcuts and tokens exist in test mode only.
fn shortcut(livemode: bool, name: &str) -> Option<&'static TestCard> {
    if livemode {
        return None;
    }
    cards::by_shortcut(name)
}

fn invalid_number() -> Error {
    cards::card_error(
        "invalid_number",
        None,
        "Your card number is invalid.",
        Some("card[number]"),
    )
}

fn validated_number(raw: &str) -> Result<String> {
    let number: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if !number.bytes().all(|b| b.is_ascii_digit()) || !(12..=19).contains(&number.len()) {
        return Err(invalid_number());
    }
    if !cards::luhn_valid(&number) {
        return Err(cards::card_error(
            "incorrect_number",
            None,
            "Your card number is incorrect.",
            Some("card[number]"),
        ));
    }
    Ok(number)
}

fn validated_cvc(cvc: Option<String>) -> Result<bool> {
    match cvc.as_deref() {
        None | Some("") => Ok(false),
        Some(text) if (3..=4).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(true)
        }
        Some(_) => Err(cards::card_error(
            "invalid_cvc",
            None,
            "Your card's security code is invalid.",
            Some("card[cvc]"),
        )),
    }
}

fn no_such_token(token: &str) -> Error {
    Error::invalid_param("card[token]", format!("No such token: '{token}'"))
        .code("resource_missing")
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// The stored PaymentMethod `id` in the caller's scope (404 `No such PaymentMethod`).
pub fn load(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, pm) = docs::load(tx, &ctx.scope, PAYMENT_METHOD, WHAT, id)?;
    Ok(pm)
}

/// Like `load`, locking the document for the change that follows (PostgreSQL runs writers in
/// parallel).
fn load_for_update(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, pm) = docs::load_for_update(tx, &ctx.scope, PAYMENT_METHOD, WHAT, id)?;
    Ok(pm)
}

/// A live customer of the caller's scope.
fn customer_exists(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<bool> {
    Ok(docs::find(tx, &ctx.scope, CUSTOMER, id)?.is_some_and(|doc| !doc.deleted))
}

/// A stored PaymentMethod, or a fresh one made from a test shortcut; `missing` is the error for
/// anything else.
fn stored_or_shortcut(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    missing: impl FnOnce() -> Error,
) -> Result<Value> {
    let resolved = stored_or_new(tx, ctx, id, missing)?;
    resolved.save(tx, ctx)?;
    Ok(resolved.pm)
}

/// `stored_or_shortcut` without the write: a shortcut's fresh PaymentMethod is not stored yet.
fn stored_or_new(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    missing: impl FnOnce() -> Error,
) -> Result<Resolved> {
    let test_card = shortcut(ctx.scope.livemode, id);
    // A shortcut's name is never a stored id (ours have 22 characters after the prefix): no
    // lookup, which on PostgreSQL is a round trip per payment.
    if test_card.is_none() {
        // Callers change what they resolve (checks, attachment, use): lock it.
        let stored = tx.get_for_update(id)?.filter(|doc| {
            doc.object == PAYMENT_METHOD && doc.visible_to(&ctx.scope) && !doc.deleted
        });
        if let Some(doc) = stored {
            return Ok(Resolved {
                pm: docs::from_json(&doc)?,
                new: false,
                changed: false,
            });
        }
    }
    match test_card {
        Some(test_card) => Ok(Resolved {
            pm: new_document(
                Origin::of(ctx),
                &test_card_input(ctx.now, test_card),
                None,
                MetadataChange::Keep,
            )?,
            new: true,
            changed: false,
        }),
        None => Err(missing()),
    }
}

/// A PaymentMethod a payment resolved, with what it still owes the store. A payment changes the
/// PaymentMethod it uses (checks run, used up): a shortcut's fresh one is then written once, in
/// its final state, instead of inserted, read back and rewritten.
pub struct Resolved {
    /// The stored document, `_sluice` included.
    pub pm: Value,
    new: bool,
    /// Set by whoever changes `pm` after it was resolved.
    pub changed: bool,
}

impl Resolved {
    pub fn id(&self) -> &str {
        id_of(&self.pm)
    }

    /// Writes the PaymentMethod if it is new or changed; call once, when the payment is done
    /// with it.
    pub fn save(&self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<()> {
        if self.new {
            store_new(tx, ctx, &self.pm)
        } else if self.changed {
            docs::save(tx, self.id(), &self.pm)
        } else {
            Ok(())
        }
    }
}

/// What a payment's `payment_method` parameter names: a PaymentMethod of the caller's scope,
/// or a test shortcut (`pm_card_visa`, `pm_card_chargeDeclined`, `tok_visa`...), which makes
/// and stores a fresh PaymentMethod from the catalogue. Anything else is 400
/// `resource_missing` on `payment_method`. Returns the stored document (`_sluice` included:
/// pass it to `behaviour`, then `public_view` before showing it).
pub fn resolve(tx: &mut dyn Tx, ctx: &Ctx, id_or_shortcut: &str) -> Result<Value> {
    let resolved = resolve_unsaved(tx, ctx, id_or_shortcut)?;
    resolved.save(tx, ctx)?;
    Ok(resolved.pm)
}

/// `resolve` for a payment that changes the PaymentMethod and saves it when done
/// (`Resolved::save`).
pub fn resolve_unsaved(tx: &mut dyn Tx, ctx: &Ctx, id_or_shortcut: &str) -> Result<Resolved> {
    stored_or_new(tx, ctx, id_or_shortcut, || {
        Error::invalid_param(
            "payment_method",
            format!("No such {WHAT}: '{id_or_shortcut}'"),
        )
        .code("resource_missing")
    })
}

/// What charging this PaymentMethod does. The catalogue's behaviour, with two refinements:
/// the CVC check of `4000000000000101` fails when a CVC was given (Radar's CVC rule declines
/// it), and a test card used in live mode is declined as Stripe does (`live_mode_test_card`).
/// Cards outside the catalogue succeed.
pub fn behaviour(pm: &Value) -> Behaviour {
    let Some(test_card) = pm[PRIVATE]["test_card"].as_str().and_then(cards::by_number) else {
        return Behaviour::Succeed;
    };
    if pm["livemode"] == true {
        return Behaviour::Decline {
            code: "card_declined",
            decline_code: Some("live_mode_test_card"),
            message:
                "Your card was declined. Your request was in live mode, but used a known test card.",
        };
    }
    let cvc_given = !pm["card"]["checks"]["cvc_check"].is_null();
    if cvc_given && test_card.checks.cvc == Check::Fail {
        return Behaviour::Decline {
            code: "incorrect_cvc",
            decline_code: None,
            message: cards::MSG_INCORRECT_CVC,
        };
    }
    test_card.behaviour
}

/// The catalogue entry behind a PaymentMethod, if it is a Stripe test card.
pub fn test_card(pm: &Value) -> Option<&'static TestCard> {
    pm[PRIVATE]["test_card"].as_str().and_then(cards::by_number)
}

/// Removes what only Sluice reads before a PaymentMethod is shown.
pub fn public_view(pm: &mut Value) {
    super::docs::strip_private(pm);
}

/// Performs the card's pending verification checks (`unchecked` -> `pass`/`fail`/
/// `unavailable`), as attaching and charging do. Returns whether anything changed; the caller
/// saves.
pub fn run_checks(pm: &mut Value) -> bool {
    let results = match test_card(pm) {
        Some(test_card) => test_card.checks,
        None => cards::Checks {
            cvc: Check::Pass,
            address_line1: Check::Pass,
            address_postal_code: Check::Pass,
        },
    };
    let mut changed = false;
    for (field, result) in [
        ("cvc_check", results.cvc),
        ("address_line1_check", results.address_line1),
        ("address_postal_code_check", results.address_postal_code),
    ] {
        let slot = &mut pm["card"]["checks"][field];
        if slot == "unchecked" {
            *slot = Value::from(result.as_str());
            changed = true;
        }
    }
    changed
}

/// Whether the PaymentMethod may still be used (it was not detached, nor used once without a
/// customer): Stripe's error otherwise.
pub fn check_usable(pm: &Value) -> Result<()> {
    if pm[PRIVATE]["consumed"] == true {
        return Err(Error::invalid_param(
            "payment_method",
            "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.",
        ));
    }
    Ok(())
}

/// Marks a PaymentMethod that is not attached to a customer as used up (after a payment
/// without a customer, as Stripe does) and saves it. Attached ones are left as they are.
pub fn consume(tx: &mut dyn Tx, pm: &mut Value) -> Result<()> {
    if !mark_consumed(pm) {
        return Ok(());
    }
    let id = id_of(pm).to_string();
    docs::save(tx, &id, pm)
}

/// `consume` without the save, for callers that save the PaymentMethod once at the end;
/// returns whether it changed.
pub fn mark_consumed(pm: &mut Value) -> bool {
    if !pm["customer"].is_null() || pm[PRIVATE]["consumed"] == true {
        return false;
    }
    pm[PRIVATE]["consumed"] = Value::Bool(true);
    true
}

// ---------------------------------------------------------------------------------------------
// The API's operations. Each returns the stored document; handlers call `public_view`.

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, input: CreateInput) -> Result<Value> {
    if let Some(source) = input.payment_method.clone() {
        return clone_into_account(tx, ctx, &source, input);
    }
    if input.customer.is_some() {
        return Err(Error::invalid_param(
            "customer",
            "`customer` can only be used with `payment_method`, to clone a platform PaymentMethod into a connected account. To save a PaymentMethod to a customer, attach it: POST /v1/payment_methods/{payment_method}/attach.",
        ));
    }
    match input.kind.as_deref() {
        None => {
            return Err(
                Error::invalid_param("type", "Missing required param: type.")
                    .code("parameter_missing"),
            )
        }
        Some(CARD) => {}
        Some(other) => {
            return Err(Error::invalid_param(
                "type",
                format!(
                    "PaymentMethods of type `{other}` are not supported: Sluice implements `card`."
                ),
            ))
        }
    }
    let Some(card) = input.card else {
        return Err(Error::invalid_param(
            "card",
            "The payment method `card` requires the parameter: card.",
        )
        .code("parameter_missing"));
    };
    let (number, exp_month, exp_year, cvc_given) = match card {
        CardInput::Token(token) => {
            let test_card = if token.starts_with("tok_") {
                shortcut(ctx.scope.livemode, &token)
            } else {
                None
            };
            let Some(test_card) = test_card else {
                return Err(no_such_token(&token));
            };
            let card = test_card_input(ctx.now, test_card);
            (
                test_card.number.to_string(),
                card.exp_month,
                card.exp_year,
                card.cvc_given,
            )
        }
        CardInput::Details {
            number,
            exp_month,
            exp_year,
            cvc,
        } => {
            let number = validated_number(&number)?;
            let (exp_month, exp_year) = valid_expiry(exp_month, exp_year, ctx.now)?;
            let cvc_given = validated_cvc(cvc)?;
            (number, exp_month, exp_year, cvc_given)
        }
    };
    let card = NewCard {
        number: &number,
        exp_month,
        exp_year,
        cvc_given,
    };
    let mut pm = new_document(
        Origin::of(ctx),
        &card,
        input.billing_details,
        input.metadata,
    )?;
    if let Some(allow_redisplay) = input.allow_redisplay {
        pm["allow_redisplay"] = Value::from(allow_redisplay);
    }
    store_new(tx, ctx, &pm)?;
    Ok(pm)
}

/// Stripe Connect's "clone a PaymentMethod": a platform PaymentMethod (attached to the platform
/// customer `customer`, or unattached and then used up) copied into the connected account the
/// request acts in.
fn clone_into_account(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    source_id: &str,
    input: CreateInput,
) -> Result<Value> {
    if !ctx.connected {
        return Err(Error::invalid_param(
            "payment_method",
            "Cloning a PaymentMethod copies a platform PaymentMethod into a connected account: send this request with the connected account's `Stripe-Account` header.",
        ));
    }
    if input.card.is_some() {
        return Err(Error::invalid_param(
            "card",
            "You cannot pass `card` when cloning a PaymentMethod with `payment_method`.",
        ));
    }
    if input.kind.as_deref().is_some_and(|kind| kind != CARD) {
        return Err(Error::invalid_param(
            "type",
            "The `type` must match the type of the PaymentMethod being cloned (`card`).",
        ));
    }
    let platform = Ctx {
        scope: ctx.platform_scope(),
        connected: false,
        ..ctx.clone()
    };
    let mut source = stored_or_shortcut(tx, &platform, source_id, || {
        Error::invalid_param("payment_method", format!("No such {WHAT}: '{source_id}'"))
            .code("resource_missing")
    })?;
    check_usable(&source)?;
    match (source["customer"].as_str(), input.customer.as_deref()) {
        (Some(owner), Some(given)) if owner == given => {}
        (Some(_), None) => {
            return Err(Error::invalid_param(
                "customer",
                format!("The PaymentMethod '{source_id}' is attached to a customer: pass that customer as `customer` to clone it."),
            ))
        }
        (_, Some(given)) => {
            if !customer_exists(tx, &platform, given)? {
                return Err(Error::invalid_param("customer", format!("No such customer: '{given}'"))
                    .code("resource_missing"));
            }
            return Err(Error::invalid_param(
                "payment_method",
                format!("The customer does not have a payment method with the ID {source_id}. The payment method must be attached to the customer."),
            ));
        }
        (None, None) => consume(tx, &mut source)?,
    }
    let mut pm = source.clone();
    pm["id"] = Value::from(ids::new_id("pm"));
    pm["created"] = Value::from(ctx.now);
    pm["customer"] = Value::Null;
    pm["metadata"] = json!({});
    pm[PRIVATE]["consumed"] = Value::Bool(false);
    apply_billing_details(&mut pm, input.billing_details);
    apply_metadata(&mut pm, input.metadata)?;
    if let Some(allow_redisplay) = input.allow_redisplay {
        pm["allow_redisplay"] = Value::from(allow_redisplay);
    }
    store_new(tx, ctx, &pm)?;
    Ok(pm)
}

pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    load(tx, ctx, id)
}

/// `GET /v1/customers/{customer}/payment_methods/{id}`: the PaymentMethod, if it is attached to
/// that customer.
pub fn retrieve_for_customer(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    customer: &str,
    id: &str,
) -> Result<Value> {
    if !customer_exists(tx, ctx, customer)? {
        return Err(Error::no_such("customer", customer).param("customer"));
    }
    let pm = load(tx, ctx, id)?;
    if pm["customer"] != customer {
        return Err(Error::no_such(WHAT, id));
    }
    Ok(pm)
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, input: UpdateInput) -> Result<Value> {
    let mut pm = load_for_update(tx, ctx, id)?;
    let before = pm.clone();
    if pm["customer"].is_null() {
        return Err(Error::invalid(
            "You must save this PaymentMethod to a customer before you can update it.",
        ));
    }
    if input.exp_month.is_some() || input.exp_year.is_some() {
        let month = input
            .exp_month
            .or_else(|| pm["card"]["exp_month"].as_i64())
            .unwrap_or(0);
        let year = input
            .exp_year
            .or_else(|| pm["card"]["exp_year"].as_i64())
            .unwrap_or(0);
        let (month, year) = valid_expiry(month, year, ctx.now)?;
        pm["card"]["exp_month"] = Value::from(month);
        pm["card"]["exp_year"] = Value::from(year);
    }
    apply_billing_details(&mut pm, input.billing_details);
    apply_metadata(&mut pm, input.metadata)?;
    if let Some(allow_redisplay) = input.allow_redisplay {
        pm["allow_redisplay"] = Value::from(allow_redisplay);
    }
    docs::save(tx, id, &pm)?;
    super::events::record_update(tx, ctx, "payment_method.updated", &before, &pm)?;
    Ok(pm)
}

/// Attaches a PaymentMethod (or a fresh one from a test shortcut) to a customer. The card is
/// verified: its pending checks run, and a card Stripe documents as declining can't be
/// attached (`pm_card_chargeCustomerFail` can).
pub fn attach(tx: &mut dyn Tx, ctx: &Ctx, id: &str, customer: &str) -> Result<Value> {
    let mut pm = stored_or_shortcut(tx, ctx, id, || Error::no_such(WHAT, id))?;
    if !customer_exists(tx, ctx, customer)? {
        return Err(
            Error::invalid_param("customer", format!("No such customer: '{customer}'"))
                .code("resource_missing"),
        );
    }
    check_usable(&pm)?;
    if !pm["customer"].is_null() {
        return Err(Error::invalid(
            "The payment method you provided has already been attached to a customer.",
        ));
    }
    run_checks(&mut pm);
    if let Some(declined) = cards::decline_error(behaviour(&pm)) {
        return Err(declined);
    }
    pm["customer"] = Value::from(customer);
    let id = id_of(&pm).to_string();
    docs::save(tx, &id, &pm)?;
    super::events::record(tx, ctx, "payment_method.attached", &pm)?;
    Ok(pm)
}

/// Detaches a PaymentMethod from its customer; it can't be used again afterwards.
pub fn detach(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let mut pm = load_for_update(tx, ctx, id)?;
    if pm["customer"].is_null() {
        return Err(Error::invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        ));
    }
    pm["customer"] = Value::Null;
    pm[PRIVATE]["consumed"] = Value::Bool(true);
    docs::save(tx, id, &pm)?;
    super::events::record(tx, ctx, "payment_method.detached", &pm)?;
    Ok(pm)
}

fn page_of(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    customer: Option<&str>,
    kind: Option<&str>,
    page: &PageRequest,
) -> Result<Listed> {
    if kind.is_some_and(|kind| kind != CARD) {
        // Sluice stores cards only: every other type lists nothing.
        return Ok(Listed {
            data: Vec::new(),
            has_more: false,
        });
    }
    let mut request = page.clone();
    if let Some(customer) = customer {
        request
            .filters
            .push(("customer", FieldValue::Text(customer.to_string())));
    }
    let found = docs::page(tx, &ctx.scope, &[PAYMENT_METHOD], None, &request)?;
    let data = found
        .docs
        .iter()
        .map(docs::from_json)
        .collect::<Result<Vec<Value>>>()?;
    Ok(Listed {
        data,
        has_more: found.has_more,
    })
}

/// `GET /v1/payment_methods`: the account's PaymentMethods, newest first; `customer` and `type`
/// filter (both optional in the current API).
pub fn list(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    customer: Option<&str>,
    kind: Option<&str>,
    page: &PageRequest,
) -> Result<Listed> {
    if let Some(customer) = customer {
        if !customer_exists(tx, ctx, customer)? {
            return Err(Error::invalid_param(
                "customer",
                format!("No such customer: '{customer}'"),
            )
            .code("resource_missing"));
        }
    }
    page_of(tx, ctx, customer, kind, page)
}

/// `GET /v1/customers/{customer}/payment_methods`.
pub fn list_for_customer(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    customer: &str,
    kind: Option<&str>,
    page: &PageRequest,
) -> Result<Listed> {
    if !customer_exists(tx, ctx, customer)? {
        return Err(Error::no_such("customer", customer).param("customer"));
    }
    page_of(tx, ctx, Some(customer), kind, page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorKind;

    fn origin(now: i64, livemode: bool) -> Origin<'static> {
        Origin {
            platform: "acct_platform",
            livemode,
            now,
        }
    }

    // 2025-06-15T12:00:00Z
    const JUNE_2025: i64 = 1_749_988_800;

    fn document(number: &str, cvc: bool, livemode: bool) -> Value {
        let card = NewCard {
            number,
            exp_month: 12,
            exp_year: 2030,
            cvc_given: cvc,
        };
        new_document(
            origin(JUNE_2025, livemode),
            &card,
            None,
            MetadataChange::Keep,
        )
        .unwrap()
    }

    #[test]
    fn calendar() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(JUNE_2025), (2025, 6));
        assert_eq!(year_month(951_782_400), (2000, 2)); // 2000-02-29
        assert_eq!(year_month(-1), (1969, 12));
    }

    #[test]
    fn expiry_rules() {
        assert_eq!(valid_expiry(6, 2025, JUNE_2025).unwrap(), (6, 2025));
        assert_eq!(valid_expiry(12, 34, JUNE_2025).unwrap(), (12, 2034));
        let code = |month, year| valid_expiry(month, year, JUNE_2025).unwrap_err().code;
        assert_eq!(code(5, 2025), Some("invalid_expiry_month"));
        assert_eq!(code(13, 2030), Some("invalid_expiry_month"));
        assert_eq!(code(0, 2030), Some("invalid_expiry_month"));
        assert_eq!(code(1, 2024), Some("invalid_expiry_year"));
        assert_eq!(code(1, 95), Some("invalid_expiry_year"));
        assert_eq!(code(1, 2100), Some("invalid_expiry_year"));
        let error = valid_expiry(1, 2024, JUNE_2025).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Card);
        assert_eq!(error.param.as_deref(), Some("card[exp_year]"));
    }

    #[test]
    fn numbers_and_cvcs_are_checked() {
        assert_eq!(
            validated_number("4242 4242 4242 4242").unwrap(),
            "4242424242424242"
        );
        assert_eq!(
            validated_number("4242424242424241").unwrap_err().code,
            Some("incorrect_number")
        );
        assert_eq!(
            validated_number("42424242abcd4242").unwrap_err().code,
            Some("invalid_number")
        );
        assert_eq!(
            validated_number("42").unwrap_err().code,
            Some("invalid_number")
        );
        assert!(!validated_cvc(None).unwrap());
        assert!(!validated_cvc(Some(String::new())).unwrap());
        assert!(validated_cvc(Some("123".into())).unwrap());
        assert!(validated_cvc(Some("1234".into())).unwrap());
        assert_eq!(
            validated_cvc(Some("99".into())).unwrap_err().code,
            Some("invalid_cvc")
        );
    }

    #[test]
    fn document_has_stripes_shape_and_keeps_no_number() {
        let pm = document("4000000000000002", true, false);
        assert!(pm["id"].as_str().unwrap().starts_with("pm_"));
        assert_eq!(pm["object"], "payment_method");
        assert_eq!(pm["type"], "card");
        assert_eq!(pm["card"]["brand"], "visa");
        assert_eq!(pm["card"]["last4"], "0002");
        assert_eq!(pm["card"]["country"], "US");
        assert_eq!(pm["card"]["funding"], "credit");
        assert_eq!(pm["card"]["checks"]["cvc_check"], "unchecked");
        assert!(pm["card"]["checks"]["address_line1_check"].is_null());
        assert_eq!(pm["card"]["networks"]["available"], json!(["visa"]));
        assert_eq!(pm["card"]["fingerprint"].as_str().unwrap().len(), 16);
        assert_eq!(pm[PRIVATE]["test_card"], "4000000000000002");
        assert!(pm["customer"].is_null());
        assert_eq!(pm["billing_details"], empty_billing_details());
        let mut shown = pm.clone();
        public_view(&mut shown);
        assert!(shown.get(PRIVATE).is_none());

        // A number outside the catalogue is not kept anywhere in the document.
        let other = document("4111111111111111", false, false);
        assert!(!other.to_string().contains("4111111111111111"));
        assert!(other[PRIVATE]["test_card"].is_null());
        assert!(other["card"]["checks"]["cvc_check"].is_null());
        assert_eq!(other["card"]["funding"], "unknown");
        assert_eq!(behaviour(&other), Behaviour::Succeed);
    }

    #[test]
    fn fingerprints_are_per_number_and_platform() {
        let a = fingerprint("acct_1", "4242424242424242");
        assert_eq!(a, fingerprint("acct_1", "4242424242424242"));
        assert_ne!(a, fingerprint("acct_1", "4000056655665556"));
        assert_ne!(a, fingerprint("acct_2", "4242424242424242"));
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn behaviour_reads_the_catalogue() {
        assert_eq!(
            behaviour(&document("4000000000000077", true, false)),
            Behaviour::AvailableImmediately
        );
        assert_eq!(
            behaviour(&document("4000000000000341", true, false)),
            Behaviour::AttachOkChargeDeclines
        );
        // The CVC check of 0101 fails only when a CVC was given.
        assert!(matches!(
            behaviour(&document("4000000000000101", true, false)),
            Behaviour::Decline {
                code: "incorrect_cvc",
                ..
            }
        ));
        assert_eq!(
            behaviour(&document("4000000000000101", false, false)),
            Behaviour::Succeed
        );
        // Test cards are declined in live mode.
        assert!(matches!(
            behaviour(&document("4242424242424242", true, true)),
            Behaviour::Decline {
                decline_code: Some("live_mode_test_card"),
                ..
            }
        ));
        assert_eq!(behaviour(&json!({})), Behaviour::Succeed);
    }

    #[test]
    fn checks_run_once() {
        let mut pm = document("4000000000000101", true, false);
        pm["card"]["checks"]["address_postal_code_check"] = json!("unchecked");
        assert!(run_checks(&mut pm));
        assert_eq!(pm["card"]["checks"]["cvc_check"], "fail");
        assert_eq!(pm["card"]["checks"]["address_postal_code_check"], "pass");
        assert!(pm["card"]["checks"]["address_line1_check"].is_null());
        assert!(!run_checks(&mut pm));
    }

    #[test]
    fn billing_details_merge_and_keep_a_full_address() {
        let mut pm = document("4242424242424242", true, false);
        let patch = json!({"name": "Jenny", "address": {"line1": "1 Rue"}});
        apply_billing_details(&mut pm, patch.as_object().cloned());
        assert_eq!(pm["billing_details"]["name"], "Jenny");
        assert_eq!(pm["billing_details"]["address"]["line1"], "1 Rue");
        assert!(pm["billing_details"]["address"]["city"].is_null());
        assert_eq!(
            pm["billing_details"]["address"].as_object().unwrap().len(),
            6
        );
        let unset = json!({"address": null, "name": null});
        apply_billing_details(&mut pm, unset.as_object().cloned());
        assert!(pm["billing_details"]["name"].is_null());
        assert_eq!(
            pm["billing_details"]["address"],
            empty_billing_details()["address"]
        );
    }

    #[test]
    fn shortcuts_resolve_in_test_mode_only() {
        assert!(shortcut(false, "pm_card_visa").is_some());
        assert!(shortcut(true, "pm_card_visa").is_none());
        let test_card = cards::by_shortcut("pm_card_visa").unwrap();
        let card = test_card_input(JUNE_2025, test_card);
        assert_eq!((card.exp_month, card.exp_year), (6, 2026));
    }

    #[test]
    fn consumed_payment_methods_are_refused() {
        let mut pm = document("4242424242424242", true, false);
        assert!(check_usable(&pm).is_ok());
        pm[PRIVATE]["consumed"] = json!(true);
        let error = check_usable(&pm).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidRequest);
    }
}
