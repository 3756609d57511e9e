//! External accounts: where a connected account's payouts go. Bank accounts (`ba_`) and debit
//! cards (`card_`), from Stripe's test tokens or raw details, one default per currency.
//!
//! The payout outcome a test bank account number stands for (`000111111116` fails `no_account`...)
//! is kept privately under `_sluice`, so the payout simulator knows it without storing numbers.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::docs::{self, NewDoc};
use super::objects::{BANK_ACCOUNT, CARD};
use super::{Ctx, Error, Result};
use crate::ids;
use crate::store::Tx;

pub const KINDS: &[&str] = &[BANK_ACCOUNT, CARD];
use super::docs::PRIVATE;

/// What a request gives as an external account.
#[derive(Debug, Clone)]
pub enum Input {
    Token(String),
    Bank(Map<String, Value>),
    Card(Map<String, Value>),
}

struct BankDetails {
    country: String,
    currency: String,
    routing_number: Option<String>,
    account_number: String,
    holder_name: Option<String>,
    holder_type: Option<String>,
}

struct CardDetails {
    number: String,
    exp_month: i64,
    exp_year: i64,
    currency: Option<String>,
    name: Option<String>,
}

/// Stripe's test outcome for a US test account number (CONVENTIONS.md section 11).
fn payout_failure_for(account_number: &str) -> Option<&'static str> {
    match account_number {
        "000111111116" => Some("no_account"),
        "000111111113" => Some("account_closed"),
        "000222222227" => Some("insufficient_funds"),
        "000333333335" => Some("debit_not_authorized"),
        "000444444440" => Some("invalid_currency"),
        _ => None,
    }
}

fn bank_token(token: &str) -> Option<BankDetails> {
    let (country, currency, routing, number) = match token {
        "btok_us" | "btok_us_verified" => ("US", "usd", Some("110000000"), "000123456789"),
        "btok_us_verified_noAccount" => ("US", "usd", Some("110000000"), "000111111116"),
        "btok_us_verified_accountClosed" => ("US", "usd", Some("110000000"), "000111111113"),
        "btok_us_verified_insufficientFunds" => ("US", "usd", Some("110000000"), "000222222227"),
        "btok_us_verified_debitNotAuthorized" => ("US", "usd", Some("110000000"), "000333333335"),
        "btok_us_verified_invalidCurrency" => ("US", "usd", Some("110000000"), "000444444440"),
        "btok_de" | "btok_de_verified" => ("DE", "eur", None, "DE89370400440532013000"),
        "btok_fr" | "btok_fr_verified" => ("FR", "eur", None, "FR1420041010050500013M02606"),
        "btok_gb" | "btok_gb_verified" => ("GB", "gbp", Some("108800"), "00012345"),
        _ => return None,
    };
    Some(BankDetails {
        country: country.into(),
        currency: currency.into(),
        routing_number: routing.map(str::to_string),
        account_number: number.into(),
        holder_name: None,
        holder_type: None,
    })
}

fn card_token(token: &str) -> Option<CardDetails> {
    let number = match token {
        "tok_visa_debit" | "tok_visa_debit_us_transferSuccess" => "4000056655665556",
        "tok_mastercard_debit" | "tok_mastercard_debit_transferSuccess" => "5200828282828210",
        "tok_visa" => "4242424242424242",
        "tok_mastercard" => "5555555555554444",
        "tok_amex" => "378282246310005",
        _ => return None,
    };
    Some(CardDetails {
        number: number.into(),
        exp_month: 12,
        exp_year: 2034,
        currency: None,
        name: None,
    })
}

fn luhn_valid(number: &str) -> bool {
    let mut sum = 0;
    for (index, digit) in number.bytes().rev().enumerate() {
        let mut value = (digit - b'0') as u32;
        if index % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
}

/// Brand and funding of a test card number.
fn card_kind(number: &str) -> (&'static str, &'static str) {
    let brand = match number.as_bytes().first() {
        Some(b'4') => "Visa",
        Some(b'5') | Some(b'2') => "MasterCard",
        Some(b'3') if number.starts_with("34") || number.starts_with("37") => "American Express",
        Some(b'6') => "Discover",
        _ => "Unknown",
    };
    let funding = match number {
        "4000056655665556" | "5200828282828210" => "debit",
        _ => "credit",
    };
    (brand, funding)
}

fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    // Stripe's fingerprints are 16 characters.
    digest
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

fn string_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_string)
}

fn bank_from_raw(map: &Map<String, Value>) -> Result<BankDetails> {
    let missing = |field: &str| {
        Error::invalid(format!(
            "Missing required param: external_account[{field}]."
        ))
        .code("parameter_missing")
        .param(format!("external_account[{field}]"))
    };
    let country = string_field(map, "country")
        .ok_or_else(|| missing("country"))?
        .to_ascii_uppercase();
    let currency = string_field(map, "currency")
        .ok_or_else(|| missing("currency"))?
        .to_ascii_lowercase();
    let account_number =
        string_field(map, "account_number").ok_or_else(|| missing("account_number"))?;
    let routing_number = string_field(map, "routing_number");
    if country == "US" {
        let routing = routing_number
            .as_deref()
            .ok_or_else(|| missing("routing_number"))?;
        if routing.len() != 9 || !routing.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid_param(
                "external_account[routing_number]",
                format!("Routing number must have 9 digits: '{routing}' is not valid."),
            )
            .code("routing_number_invalid"));
        }
        if !(4..=17).contains(&account_number.len())
            || !account_number.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::invalid_param(
                "external_account[account_number]",
                "The account number must be between 4 and 17 digits.",
            )
            .code("account_number_invalid"));
        }
    }
    Ok(BankDetails {
        country,
        currency,
        routing_number,
        account_number,
        holder_name: string_field(map, "account_holder_name"),
        holder_type: string_field(map, "account_holder_type"),
    })
}

fn card_from_raw(map: &Map<String, Value>) -> Result<CardDetails> {
    let number: String = string_field(map, "number")
        .ok_or_else(|| {
            Error::invalid("Missing required param: external_account[number].")
                .code("parameter_missing")
                .param("external_account[number]")
        })?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if number.len() < 12 || !number.bytes().all(|b| b.is_ascii_digit()) || !luhn_valid(&number) {
        return Err(
            Error::new(super::ErrorKind::Card, "Your card number is incorrect.")
                .code("incorrect_number")
                .param("external_account[number]"),
        );
    }
    let month = map.get("exp_month").and_then(Value::as_i64).unwrap_or(0);
    let year = map.get("exp_year").and_then(Value::as_i64).unwrap_or(0);
    if !(1..=12).contains(&month) {
        return Err(Error::new(
            super::ErrorKind::Card,
            "Your card's expiration month is invalid.",
        )
        .code("invalid_expiry_month")
        .param("external_account[exp_month]"));
    }
    if year < 2000 {
        return Err(Error::new(
            super::ErrorKind::Card,
            "Your card's expiration year is invalid.",
        )
        .code("invalid_expiry_year")
        .param("external_account[exp_year]"));
    }
    Ok(CardDetails {
        number,
        exp_month: month,
        exp_year: year,
        currency: string_field(map, "currency"),
        name: string_field(map, "name"),
    })
}

fn bank_document(id: &str, account: &str, bank: &BankDetails) -> Value {
    let last4 = &bank.account_number[bank.account_number.len().saturating_sub(4)..];
    let mut doc = json!({
        "id": id,
        "object": BANK_ACCOUNT,
        "account": account,
        "account_holder_name": bank.holder_name,
        "account_holder_type": bank.holder_type,
        "account_type": null,
        "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK",
        "country": bank.country,
        "currency": bank.currency,
        "default_for_currency": false,
        "fingerprint": fingerprint(&[bank.routing_number.as_deref().unwrap_or(""), &bank.account_number]),
        "future_requirements": {"currently_due": [], "errors": [], "past_due": [], "pending_verification": []},
        "last4": last4,
        "metadata": {},
        "requirements": {"currently_due": [], "errors": [], "past_due": [], "pending_verification": []},
        "routing_number": bank.routing_number,
        "status": "new"
    });
    doc[PRIVATE] = json!({"payout_failure": payout_failure_for(&bank.account_number)});
    doc
}

fn card_document(
    id: &str,
    account: &str,
    card: &CardDetails,
    default_currency: &str,
) -> Result<Value> {
    let (brand, funding) = card_kind(&card.number);
    if funding != "debit" {
        return Err(Error::invalid_param(
            "external_account",
            "This card doesn't appear to be a debit card. Payouts can only be sent to debit cards.",
        )
        .code("invalid_card_type"));
    }
    let last4 = &card.number[card.number.len() - 4..];
    let mut doc = json!({
        "id": id,
        "object": CARD,
        "account": account,
        "address_city": null, "address_country": null, "address_line1": null,
        "address_line1_check": null, "address_line2": null, "address_state": null,
        "address_zip": null, "address_zip_check": null,
        "available_payout_methods": ["standard", "instant"],
        "brand": brand,
        "country": "US",
        "currency": card.currency.clone().unwrap_or_else(|| default_currency.to_string()),
        "cvc_check": "pass",
        "default_for_currency": false,
        "dynamic_last4": null,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": fingerprint(&[&card.number]),
        "funding": funding,
        "last4": last4,
        "metadata": {},
        "name": card.name,
        "tokenization_method": null
    });
    doc[PRIVATE] = json!({"payout_failure": null});
    Ok(doc)
}

/// Removes what only Sluice reads before an external account is shown.
pub fn public_view(external: &mut Value) {
    super::docs::strip_private(external);
}

/// All live external accounts of `account`, newest first, read as `T` (a `Value`, or only the
/// fields a caller uses).
pub fn all<T: serde::de::DeserializeOwned>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
) -> Result<Vec<T>> {
    let request = docs::PageRequest {
        limit: 1_000,
        ..Default::default()
    };
    let page = docs::page(tx, &ctx.platform_scope(), KINDS, Some(account), &request)?;
    page.docs.iter().map(docs::from_json).collect()
}

pub fn create(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    default_currency: &str,
    input: Input,
    make_default: bool,
    metadata: Option<Map<String, Value>>,
) -> Result<Value> {
    let mut external = match input {
        Input::Token(token) => {
            if let Some(bank) = bank_token(&token) {
                bank_document(&ids::new_id("ba"), account, &bank)
            } else if let Some(card) = card_token(&token) {
                card_document(&ids::new_id("card"), account, &card, default_currency)?
            } else {
                return Err(Error::invalid_param(
                    "external_account",
                    format!("No such token: '{token}'"),
                )
                .code("resource_missing"));
            }
        }
        Input::Bank(map) => bank_document(&ids::new_id("ba"), account, &bank_from_raw(&map)?),
        Input::Card(map) => card_document(
            &ids::new_id("card"),
            account,
            &card_from_raw(&map)?,
            default_currency,
        )?,
    };
    if let Some(metadata) = metadata {
        external["metadata"] = Value::Object(metadata);
    }
    let currency = external["currency"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let existing: Vec<Value> = all(tx, ctx, account)?;
    let first_of_currency = !existing
        .iter()
        .any(|other| other["currency"] == currency.as_str());
    if make_default || first_of_currency {
        clear_default(tx, &existing, &currency)?;
        external["default_for_currency"] = Value::Bool(true);
    }
    let id = external["id"].as_str().unwrap_or_default().to_string();
    let object = if external["object"] == CARD {
        CARD
    } else {
        BANK_ACCOUNT
    };
    let new = NewDoc {
        id: &id,
        object,
        scope: &ctx.platform_scope(),
        parent: Some(account),
    };
    docs::insert(tx, ctx, new, &external)?;
    Ok(external)
}

fn clear_default(tx: &mut dyn Tx, existing: &[Value], currency: &str) -> Result<()> {
    for other in existing {
        if other["currency"] == currency && other["default_for_currency"] == true {
            let mut other = other.clone();
            other["default_for_currency"] = Value::Bool(false);
            let id = other["id"].as_str().unwrap_or_default().to_string();
            docs::save(tx, &id, &other)?;
        }
    }
    Ok(())
}

pub fn load(tx: &mut dyn Tx, ctx: &Ctx, account: &str, id: &str) -> Result<Value> {
    let scope = ctx.platform_scope();
    let doc = tx.get(id)?.filter(|doc| {
        KINDS.contains(&doc.object)
            && doc.visible_to(&scope)
            && !doc.deleted
            && doc.parent.as_deref() == Some(account)
    });
    match doc {
        Some(doc) => docs::from_json(&doc),
        None => Err(Error::no_such("external account", id)),
    }
}

pub fn update(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    id: &str,
    patch: Map<String, Value>,
    make_default: Option<bool>,
) -> Result<Value> {
    let mut external = load(tx, ctx, account, id)?;
    let is_card = external["object"] == CARD;
    for key in patch.keys() {
        let allowed = if is_card {
            matches!(
                key.as_str(),
                "metadata"
                    | "name"
                    | "exp_month"
                    | "exp_year"
                    | "address_city"
                    | "address_country"
                    | "address_line1"
                    | "address_line2"
                    | "address_state"
                    | "address_zip"
            )
        } else {
            matches!(
                key.as_str(),
                "metadata" | "account_holder_name" | "account_holder_type" | "account_type"
            )
        };
        if !allowed {
            return Err(Error::invalid_param(
                key.clone(),
                format!("Received unknown parameter: {key}"),
            )
            .code("parameter_unknown"));
        }
    }
    let mut patch = patch;
    if let Some(Value::Object(changes)) = patch.remove("metadata") {
        let pairs = changes
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect();
        let mut current: super::metadata::Metadata =
            serde_json::from_value(external["metadata"].clone()).unwrap_or_default();
        super::metadata::apply(&mut current, super::metadata::MetadataChange::Merge(pairs))?;
        external["metadata"] = json!(current);
    }
    docs::merge(&mut external, patch);
    match make_default {
        Some(true) => {
            let currency = external["currency"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let existing = all(tx, ctx, account)?;
            clear_default(tx, &existing, &currency)?;
            external["default_for_currency"] = Value::Bool(true);
        }
        Some(false) if external["default_for_currency"] == true => {
            return Err(Error::invalid_param(
                "default_for_currency",
                "You cannot unset the default external account for a currency; make another one the default instead.",
            ));
        }
        _ => {}
    }
    docs::save(tx, id, &external)?;
    Ok(external)
}

pub fn delete(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    default_currency: &str,
    id: &str,
) -> Result<Value> {
    let external = load(tx, ctx, account, id)?;
    if external["default_for_currency"] == true && external["currency"] == default_currency {
        return Err(Error::invalid_param(
            "id",
            "You cannot delete the default external account for your default currency. Please make another external account the default using the `default_for_currency` param, and then delete this one.",
        ));
    }
    let stub = json!({
        "id": id,
        "object": external["object"],
        "currency": external["currency"],
        "deleted": true
    });
    docs::mark_deleted(tx, id, &stub)?;
    Ok(stub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_pass_luhn_and_debit_cards_are_recognised() {
        assert!(luhn_valid("4000056655665556"));
        assert!(!luhn_valid("4242424242424241"));
        assert_eq!(card_kind("4000056655665556"), ("Visa", "debit"));
        assert_eq!(card_kind("4242424242424242").1, "credit");
    }

    #[test]
    fn failing_test_accounts_carry_their_payout_failure() {
        let bank = bank_token("btok_us_verified_noAccount").unwrap();
        let doc = bank_document("ba_1", "acct_1", &bank);
        assert_eq!(doc[PRIVATE]["payout_failure"], "no_account");
        assert_eq!(doc["last4"], "1116");
    }
}
