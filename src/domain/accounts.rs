//! Connected accounts: creation with legacy `type` or controller properties (each mapped to the
//! other as Stripe documents), updates, capabilities, rejection, deletion, and the requirements
//! that decide `charges_enabled` and `payouts_enabled`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::docs::{self, NewDoc};
use super::external_accounts;
use super::json_member;
use super::metadata::{self, Metadata, MetadataChange};
use super::objects::{ACCOUNT, CAPABILITY};
use super::persons;
use super::requirements;
use super::{events, Ctx, Error, ErrorKind, Result};
use crate::ids;
use crate::store::{Document, Scope, Tx};

/// The `account` column of a platform's own account document: it belongs to nobody's list.
pub const OPERATOR: &str = "operator";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub object: String,
    pub business_profile: Value,
    pub business_type: Option<String>,
    pub capabilities: BTreeMap<String, String>,
    pub charges_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Value>,
    pub controller: Controller,
    pub country: String,
    pub created: i64,
    pub default_currency: String,
    pub details_submitted: bool,
    pub email: Option<String>,
    pub future_requirements: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<Value>,
    pub metadata: Metadata,
    pub payouts_enabled: bool,
    pub requirements: Value,
    pub settings: Value,
    pub tos_acceptance: Value,
    #[serde(rename = "type")]
    pub account_type: String,
    #[serde(rename = "_sluice", default)]
    pub private: AccountPrivate,
}

/// What Sluice keeps about an account that Stripe does not show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountPrivate {
    pub rejected: Option<String>,
    pub livemode: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    pub fees: Fees,
    pub is_controller: bool,
    pub losses: Losses,
    pub requirement_collection: String,
    pub stripe_dashboard: Dashboard,
    #[serde(rename = "type")]
    pub controller_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fees {
    pub payer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    pub payments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    #[serde(rename = "type")]
    pub dashboard_type: String,
}

impl Controller {
    fn new(payer: &str, losses: &str, collection: &str, dashboard: &str) -> Self {
        Controller {
            fees: Fees {
                payer: payer.into(),
            },
            is_controller: true,
            losses: Losses {
                payments: losses.into(),
            },
            requirement_collection: collection.into(),
            stripe_dashboard: Dashboard {
                dashboard_type: dashboard.into(),
            },
            controller_type: "application".into(),
        }
    }

    /// The controller properties Stripe sets for an account created with a legacy `type`.
    pub fn for_legacy_type(account_type: &str) -> Self {
        match account_type {
            "standard" => Controller::new("account", "stripe", "stripe", "full"),
            "express" => Controller::new("application_express", "application", "stripe", "express"),
            _ => Controller::new("application_custom", "application", "application", "none"),
        }
    }

    /// The legacy `type` an account with these properties reports (`none` when no type matches).
    pub fn legacy_type(&self) -> &'static str {
        let payer = self.fees.payer.as_str();
        match (
            self.stripe_dashboard.dashboard_type.as_str(),
            self.requirement_collection.as_str(),
            self.losses.payments.as_str(),
        ) {
            ("full", "stripe", "stripe") if payer == "account" => "standard",
            ("express", "stripe", "application") if payer.starts_with("application") => "express",
            ("none", "application", "application") if payer.starts_with("application") => "custom",
            _ => "none",
        }
    }

    /// Reads `controller[...]` as Stripe does: unspecified properties take their defaults, and
    /// combinations Stripe does not offer are refused.
    pub fn from_params(params: &Map<String, Value>) -> Result<Self> {
        let text = |pointer: &str| -> Option<String> {
            Value::Object(params.clone())
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let payer = text("/fees/payer").unwrap_or_else(|| "account".into());
        let losses = text("/losses/payments").unwrap_or_else(|| "stripe".into());
        let collection = text("/requirement_collection").unwrap_or_else(|| "stripe".into());
        let dashboard = text("/stripe_dashboard/type").unwrap_or_else(|| "full".into());
        if collection == "application" && (dashboard != "none" || losses != "application") {
            return Err(Error::invalid_param(
                "controller[requirement_collection]",
                "`controller[requirement_collection]=application` requires `controller[losses][payments]=application` and `controller[stripe_dashboard][type]=none`.",
            ));
        }
        if losses == "stripe" && payer == "application" {
            return Err(Error::invalid_param(
                "controller[fees][payer]",
                "`controller[fees][payer]=application` requires `controller[losses][payments]=application`.",
            ));
        }
        if dashboard == "express" && losses != "application" {
            return Err(Error::invalid_param(
                "controller[stripe_dashboard][type]",
                "`controller[stripe_dashboard][type]=express` requires `controller[losses][payments]=application`.",
            ));
        }
        if dashboard == "full" && payer != "account" {
            return Err(Error::invalid_param(
                "controller[fees][payer]",
                "Accounts with the full Stripe Dashboard pay their own fees: `controller[fees][payer]` must be `account`.",
            ));
        }
        Ok(Controller::new(&payer, &losses, &collection, &dashboard))
    }

    /// True when the platform, not Stripe, collects the account's information.
    pub fn platform_collects(&self) -> bool {
        self.requirement_collection == "application"
    }
}

/// What a create or update may change. `None` keeps a field; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub legacy_type: Option<String>,
    pub controller: Option<Map<String, Value>>,
    pub country: Option<String>,
    pub email: Option<Option<String>>,
    pub default_currency: Option<String>,
    pub business_type: Option<Option<String>>,
    pub business_profile: Option<Map<String, Value>>,
    pub individual: Option<Map<String, Value>>,
    pub company: Option<Map<String, Value>>,
    pub settings: Option<Map<String, Value>>,
    pub tos_acceptance: Option<Map<String, Value>>,
    pub metadata: MetadataChange,
    /// Capability name and whether it is requested.
    pub capabilities: Vec<(String, bool)>,
    pub external_account: Option<external_accounts::Input>,
}

/// Countries accounts may be created in, with their default currency.
const COUNTRIES: &[(&str, &str)] = &[
    ("AT", "eur"),
    ("AU", "aud"),
    ("BE", "eur"),
    ("CA", "cad"),
    ("CH", "chf"),
    ("DE", "eur"),
    ("DK", "dkk"),
    ("ES", "eur"),
    ("FI", "eur"),
    ("FR", "eur"),
    ("GB", "gbp"),
    ("IE", "eur"),
    ("IT", "eur"),
    ("JP", "jpy"),
    ("LU", "eur"),
    ("NL", "eur"),
    ("NO", "nok"),
    ("NZ", "nzd"),
    ("PT", "eur"),
    ("SE", "sek"),
    ("SG", "sgd"),
    ("US", "usd"),
];

/// Capabilities an account may request.
pub const CAPABILITIES: &[&str] = &[
    "acss_debit_payments",
    "affirm_payments",
    "afterpay_clearpay_payments",
    "bancontact_payments",
    "card_issuing",
    "card_payments",
    "cashapp_payments",
    "eps_payments",
    "giropay_payments",
    "ideal_payments",
    "klarna_payments",
    "legacy_payments",
    "link_payments",
    "p24_payments",
    "sepa_debit_payments",
    "sofort_payments",
    "tax_reporting_us_1099_k",
    "transfers",
    "treasury",
    "us_bank_account_ach_payments",
];

fn country_currency(country: &str) -> Option<&'static str> {
    COUNTRIES
        .iter()
        .find(|(code, _)| *code == country)
        .map(|(_, currency)| *currency)
}

fn empty_requirements() -> Value {
    json!({
        "alternatives": [], "current_deadline": null, "currently_due": [], "disabled_reason": null,
        "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []
    })
}

fn default_business_profile(currency: &str) -> Value {
    json!({
        "annual_revenue": null, "estimated_worker_count": null, "mcc": null,
        "monthly_estimated_revenue": {"amount": 0, "currency": currency}, "name": null,
        "product_description": null, "support_address": null, "support_email": null,
        "support_phone": null, "support_url": null, "url": null
    })
}

fn default_settings(debit_negative_balances: bool, delay_days: i64) -> Value {
    json!({
        "bacs_debit_payments": {"display_name": null, "service_user_number": null},
        "branding": {"icon": null, "logo": null, "primary_color": null, "secondary_color": null},
        "card_issuing": {"tos_acceptance": {"date": null, "ip": null}},
        "card_payments": {
            "decline_on": {"avs_failure": false, "cvc_failure": false},
            "statement_descriptor_prefix": null,
            "statement_descriptor_prefix_kana": null,
            "statement_descriptor_prefix_kanji": null
        },
        "dashboard": {"display_name": null, "timezone": "Etc/UTC"},
        "invoices": {"default_account_tax_ids": null},
        "payments": {"statement_descriptor": null, "statement_descriptor_kana": null, "statement_descriptor_kanji": null},
        "payouts": {
            "debit_negative_balances": debit_negative_balances,
            "schedule": {"delay_days": delay_days, "interval": "daily"},
            "statement_descriptor": null
        },
        "sepa_debit_payments": {}
    })
}

/// The shortest payout delay Sluice's simulated banks allow (Stripe's US standard).
pub const MINIMUM_DELAY_DAYS: i64 = 2;
const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Checks a `settings` patch and fills in what a schedule change implies.
fn normalise_settings(patch: &mut Map<String, Value>) -> Result<()> {
    let Some(Value::Object(schedule)) =
        patch.get_mut("payouts").and_then(|p| p.get_mut("schedule"))
    else {
        return Ok(());
    };
    if let Some(delay) = schedule.get("delay_days").cloned() {
        let days = match &delay {
            Value::String(text) if text == "minimum" => MINIMUM_DELAY_DAYS,
            Value::String(text) => text.parse::<i64>().map_err(|_| {
                Error::invalid_param(
                    "settings[payouts][schedule][delay_days]",
                    format!("Invalid delay_days: {text}. Use an integer or `minimum`."),
                )
            })?,
            _ => MINIMUM_DELAY_DAYS,
        };
        if !(MINIMUM_DELAY_DAYS..=365).contains(&days) {
            return Err(Error::invalid_param(
                "settings[payouts][schedule][delay_days]",
                format!("The payout delay_days must be between {MINIMUM_DELAY_DAYS} and 365 (got {days})."),
            ));
        }
        schedule.insert("delay_days".into(), Value::from(days));
    }
    match schedule.get("interval").and_then(Value::as_str) {
        Some("weekly") => {
            if !schedule.contains_key("weekly_anchor") {
                schedule.insert("weekly_anchor".into(), Value::from("monday"));
            }
            schedule.remove("monthly_anchor");
        }
        Some("monthly") => {
            let anchor = schedule
                .get("monthly_anchor")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if !(1..=31).contains(&anchor) {
                return Err(Error::invalid_param(
                    "settings[payouts][schedule][monthly_anchor]",
                    "The monthly_anchor must be a day of the month between 1 and 31.",
                ));
            }
            schedule.insert("monthly_anchor".into(), Value::from(anchor));
            schedule.remove("weekly_anchor");
        }
        Some(_) => {
            for anchor in ["weekly_anchor", "monthly_anchor"] {
                if schedule.get(anchor).is_some_and(|v| !v.is_null()) {
                    return Err(Error::invalid_param(
                        format!("settings[payouts][schedule][{anchor}]"),
                        format!("`{anchor}` applies only to a matching `interval`."),
                    ));
                }
                schedule.remove(anchor);
            }
        }
        None => {}
    }
    if let Some(anchor) = schedule.get("weekly_anchor").and_then(Value::as_str) {
        if !WEEKDAYS.contains(&anchor) {
            return Err(Error::invalid_param(
                "settings[payouts][schedule][weekly_anchor]",
                "Invalid weekly_anchor.",
            ));
        }
    }
    Ok(())
}

/// An anchor shows only beside the interval it belongs to, as Stripe shows it.
fn drop_stale_anchors(settings: &mut Value) {
    let Some(schedule) = settings
        .pointer_mut("/payouts/schedule")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let interval = schedule
        .get("interval")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if interval != "weekly" {
        schedule.remove("weekly_anchor");
    }
    if interval != "monthly" {
        schedule.remove("monthly_anchor");
    }
}

fn capability_doc_id(account: &str, name: &str) -> String {
    format!("{account}~{name}")
}

fn apply_company(company: &mut Value, mut patch: Map<String, Value>) -> Result<()> {
    for secret in ["tax_id", "vat_id"] {
        if let Some(value) = patch.remove(secret) {
            let Some(text) = value.as_str() else { continue };
            company[format!("{secret}_provided")] = Value::Bool(true);
            if secret == "tax_id" {
                let outcome = requirements::verify_company_tax_id(text);
                company["tax_id_verification"] = requirements::tax_id_verification_value(&outcome);
            }
        }
    }
    docs::merge(company, patch);
    Ok(())
}

fn blank_company() -> Value {
    json!({
        "address": {"city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null},
        "directors_provided": false,
        "executives_provided": false,
        "name": null,
        "owners_provided": false,
        "phone": null,
        "tax_id_provided": false,
        "vat_id_provided": false,
        "verification": {"document": {"back": null, "details": null, "details_code": null, "front": null}}
    })
}

/// Applies the changes every create and update share.
fn apply(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &mut Account,
    changes: &mut AccountChanges,
) -> Result<()> {
    if let Some(email) = changes.email.take() {
        account.email = email;
    }
    if let Some(currency) = changes.default_currency.take() {
        account.default_currency = currency.to_ascii_lowercase();
    }
    if let Some(business_type) = changes.business_type.take() {
        account.business_type = business_type;
    }
    if let Some(profile) = changes.business_profile.take() {
        docs::merge(&mut account.business_profile, profile);
    }
    if let Some(mut settings) = changes.settings.take() {
        normalise_settings(&mut settings)?;
        docs::merge(&mut account.settings, settings);
        drop_stale_anchors(&mut account.settings);
    }
    if let Some(tos) = changes.tos_acceptance.take() {
        if !account.controller.platform_collects() {
            return Err(Error::invalid_param(
                "tos_acceptance",
                "You cannot accept the Terms of Service on behalf of accounts where Stripe collects requirements (Standard and Express accounts).",
            ));
        }
        docs::merge(&mut account.tos_acceptance, tos);
    }
    if let Some(individual) = changes.individual.take() {
        if account.business_type.as_deref() != Some("individual") {
            return Err(Error::invalid_param(
                "individual",
                "You cannot provide `individual` unless `business_type` is `individual`.",
            ));
        }
        let person = account
            .individual
            .get_or_insert_with(|| persons::blank(&ids::new_id("person"), &account.id, ctx.now));
        persons::apply(person, individual)?;
    }
    if let Some(company) = changes.company.take() {
        if matches!(account.business_type.as_deref(), Some("individual") | None) {
            return Err(Error::invalid_param(
                "company",
                "You cannot provide `company` unless `business_type` is `company`, `non_profit` or `government_entity`.",
            ));
        }
        apply_company(account.company.get_or_insert_with(blank_company), company)?;
    }
    if account.business_type.as_deref() == Some("individual") {
        account.company = None;
        account
            .individual
            .get_or_insert_with(|| persons::blank(&ids::new_id("person"), &account.id, ctx.now));
    } else if account.business_type.is_some() {
        account.individual = None;
        account.company.get_or_insert_with(blank_company);
    }
    metadata::apply(&mut account.metadata, std::mem::take(&mut changes.metadata))?;
    for (name, requested) in std::mem::take(&mut changes.capabilities) {
        set_capability(tx, ctx, &account.id, &name, requested)?;
    }
    if let Some(input) = changes.external_account.take() {
        let external = external_accounts::create(
            tx,
            ctx,
            &account.id,
            &account.default_currency,
            input,
            false,
            None,
        )?;
        let event_type = "account.external_account.created";
        external_event(tx, ctx, &account.id, event_type, external)?;
    }
    Ok(())
}

fn blank_capability(account: &str, name: &str) -> Value {
    json!({
        "id": name,
        "object": CAPABILITY,
        "account": account,
        "future_requirements": capability_requirements_empty(),
        "requested": false,
        "requested_at": null,
        "requirements": capability_requirements_empty(),
        "status": "unrequested"
    })
}

fn capability_requirements_empty() -> Value {
    json!({
        "alternatives": [], "current_deadline": null, "currently_due": [], "disabled_reason": null,
        "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []
    })
}

fn set_capability(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    name: &str,
    requested: bool,
) -> Result<()> {
    if !CAPABILITIES.contains(&name) {
        return Err(Error::invalid_param(
            format!("capabilities[{name}]"),
            format!("Received unknown parameter: capabilities[{name}]"),
        )
        .code("parameter_unknown"));
    }
    let doc_id = capability_doc_id(account, name);
    let existing = tx.get(&doc_id)?;
    let mut capability = match &existing {
        Some(doc) => docs::from_json(doc)?,
        None => blank_capability(account, name),
    };
    if capability["requested"] == requested {
        return Ok(());
    }
    let before = capability.clone();
    capability["requested"] = Value::Bool(requested);
    capability["requested_at"] = if requested {
        Value::from(ctx.now)
    } else {
        Value::Null
    };
    if !requested {
        capability["status"] = Value::from("unrequested");
    }
    if existing.is_some() {
        docs::save(tx, &doc_id, &capability)?;
    } else {
        let new = NewDoc {
            id: &doc_id,
            object: CAPABILITY,
            scope: &ctx.platform_scope(),
            parent: Some(account),
        };
        docs::insert(tx, ctx, new, &capability)?;
    }
    let event_type = "capability.updated";
    events::record_update_in(tx, ctx, Some(account), event_type, &before, &capability)
}

/// Every capability document of `account`, oldest first.
fn capability_docs(tx: &mut dyn Tx, ctx: &Ctx, account: &str) -> Result<Vec<Document>> {
    let request = docs::PageRequest {
        limit: 1_000,
        ..Default::default()
    };
    let mut page = docs::page(
        tx,
        &ctx.platform_scope(),
        &[CAPABILITY],
        Some(account),
        &request,
    )?;
    page.docs.reverse();
    Ok(page.docs)
}

/// Re-evaluates requirements and capability statuses after anything the engine reads changed.
pub fn refresh(tx: &mut dyn Tx, ctx: &Ctx, account: &mut Account) -> Result<()> {
    let people = persons::all(tx, ctx, &account.id)?;
    let externals: Vec<Value> = external_accounts::all(tx, ctx, &account.id)?;
    let capabilities = capability_docs(tx, ctx, &account.id)?;
    let mut capability_values = Vec::with_capacity(capabilities.len());
    for doc in &capabilities {
        capability_values.push((doc.id.clone(), docs::from_json::<Value>(doc)?));
    }
    let requested: Vec<&str> = capability_values
        .iter()
        .filter(|(_, value)| value["requested"] == true)
        .filter_map(|(_, value)| value["id"].as_str())
        .collect();
    let mut view = serde_json::to_value(&*account)
        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    view["external_accounts"] = json!({"object": "list", "data": externals, "has_more": false});
    let outcome = requirements::evaluate(&requirements::Input {
        account: &view,
        requested_capabilities: &requested,
        persons: &people,
        rejected_reason: account.private.rejected.as_deref(),
        now: ctx.now,
    });
    for person in &outcome.persons {
        let Some(stored) = people.iter().find(|p| p["id"] == person.id.as_str()) else {
            continue;
        };
        if stored["requirements"] != person.requirements
            || stored["future_requirements"] != person.future_requirements
        {
            let mut updated = stored.clone();
            updated["requirements"] = person.requirements.clone();
            updated["future_requirements"] = person.future_requirements.clone();
            docs::save(tx, &person.id, &updated)?;
        }
    }
    if let Some(individual) = account.individual.as_mut() {
        let id = individual["id"].as_str().unwrap_or_default().to_string();
        if let Some(own) = outcome.persons.iter().find(|p| p.id == id) {
            individual["requirements"] = own.requirements.clone();
            individual["future_requirements"] = own.future_requirements.clone();
        }
    }
    account.requirements = outcome.requirements;
    account.future_requirements = outcome.future_requirements;
    account.charges_enabled = outcome.charges_enabled;
    account.payouts_enabled = outcome.payouts_enabled;
    account.details_submitted = outcome.details_submitted;
    account.capabilities.clear();
    for capability in outcome.capabilities {
        account
            .capabilities
            .insert(capability.name.clone(), capability.status.to_string());
        if let Some((doc_id, value)) = capability_values
            .iter_mut()
            .find(|(_, v)| v["id"] == capability.name.as_str())
        {
            let before = value.clone();
            value["status"] = Value::from(capability.status);
            value["requirements"] = capability.requirements;
            value["future_requirements"] = capability.future_requirements;
            if *value != before {
                docs::save(tx, doc_id, value)?;
                let event_type = "capability.updated";
                let owner = Some(account.id.as_str());
                events::record_update_in(tx, ctx, owner, event_type, &before, &*value)?;
            }
        }
    }
    Ok(())
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, mut changes: AccountChanges) -> Result<Account> {
    if ctx.connected {
        return Err(Error::new(
            ErrorKind::Permission,
            "Connected accounts cannot create accounts: make this request without the Stripe-Account header.",
        ));
    }
    let controller = match (changes.legacy_type.take(), changes.controller.take()) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_param(
                "controller",
                "You cannot specify both `type` and `controller`: use one or the other.",
            ))
        }
        (Some(legacy), None) => Controller::for_legacy_type(&legacy),
        (None, Some(params)) => Controller::from_params(&params)?,
        (None, None) => Controller::for_legacy_type("standard"),
    };
    let country = changes
        .country
        .take()
        .unwrap_or_else(|| "US".into())
        .to_ascii_uppercase();
    let Some(currency) = country_currency(&country) else {
        return Err(Error::invalid_param(
            "country",
            format!("Country '{country}' is unknown or not supported. Use a two-letter ISO country code such as 'US', 'DE' or 'FR'."),
        ));
    };
    let account_type = controller.legacy_type().to_string();
    if account_type == "standard" && changes.capabilities.is_empty() {
        changes.capabilities = vec![("card_payments".into(), true), ("transfers".into(), true)];
    }
    let debit_negative_balances = !controller.platform_collects();
    let delay_days = ctx
        .pricing
        .availability_delay_days(&country)
        .max(MINIMUM_DELAY_DAYS);
    let id = ids::new_id("acct");
    let mut account = Account {
        id: id.clone(),
        object: ACCOUNT.into(),
        business_profile: default_business_profile(currency),
        business_type: None,
        capabilities: BTreeMap::new(),
        charges_enabled: false,
        company: None,
        controller,
        country,
        created: ctx.now,
        default_currency: currency.into(),
        details_submitted: false,
        email: None,
        future_requirements: empty_requirements(),
        individual: None,
        metadata: Metadata::new(),
        payouts_enabled: false,
        requirements: empty_requirements(),
        settings: default_settings(debit_negative_balances, delay_days),
        tos_acceptance: json!({"date": null, "ip": null, "service_agreement": "full", "user_agent": null}),
        account_type,
        private: AccountPrivate {
            rejected: None,
            livemode: ctx.scope.livemode,
        },
    };
    let scope = ctx.platform_scope();
    let new = NewDoc {
        id: &id,
        object: ACCOUNT,
        scope: &scope,
        parent: None,
    };
    docs::insert(tx, ctx, new, &account)?;
    apply(tx, ctx, &mut account, &mut changes)?;
    refresh(tx, ctx, &mut account)?;
    docs::save(tx, &id, &account)?;
    Ok(account)
}

/// A connected account of the caller's platform, or Stripe's error for any other id. Acting as
/// a connected account (`Stripe-Account`), only that account itself is reachable.
pub fn load(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Account> {
    if ctx.connected && id != ctx.scope.account {
        return Err(no_access(id));
    }
    match docs::find(tx, &ctx.platform_scope(), ACCOUNT, id)? {
        Some(doc) if !doc.deleted => docs::from_json(&doc),
        _ => Err(no_access(id)),
    }
}

/// The status of one capability of an account the caller may see (`load`'s rules), reading
/// only the account's capabilities: destination charges check `transfers` on every payment,
/// and parsing the whole account there was 6% of the writer's time.
pub fn capability_status(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    capability: &str,
) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct Capabilities {
        capabilities: BTreeMap<String, String>,
    }
    if ctx.connected && id != ctx.scope.account {
        return Err(no_access(id));
    }
    let doc = match docs::find(tx, &ctx.platform_scope(), ACCOUNT, id)? {
        Some(doc) if !doc.deleted => doc,
        _ => return Err(no_access(id)),
    };
    let member = json_member::value_text(&doc.body, "capabilities").and_then(|text| {
        BTreeMap::<String, String>::deserialize(&mut serde_json::Deserializer::from_str(text)).ok()
    });
    let mut capabilities = match member {
        Some(capabilities) => capabilities,
        // Not where it should be: the whole document's parse says what is wrong with it.
        None => docs::from_json::<Capabilities>(&doc)?.capabilities,
    };
    Ok(capabilities.remove(capability))
}

/// `load`, locking the account for the change that follows.
fn load_for_update(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Account> {
    if ctx.connected && id != ctx.scope.account {
        return Err(no_access(id));
    }
    match tx
        .get_for_update(id)?
        .filter(|doc| doc.object == ACCOUNT && doc.visible_to(&ctx.platform_scope()))
    {
        Some(doc) if !doc.deleted => docs::from_json(&doc),
        _ => Err(no_access(id)),
    }
}

pub fn no_access(id: &str) -> Error {
    Error::new(
        ErrorKind::Permission,
        format!("The provided key does not have access to account '{id}' (or that account does not exist). Application access may have been revoked."),
    )
    .code("account_invalid")
    .param("account")
}

pub fn update(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    mut changes: AccountChanges,
) -> Result<Account> {
    let mut account = load_for_update(tx, ctx, id)?;
    let before = render(tx, ctx, &account)?;
    apply(tx, ctx, &mut account, &mut changes)?;
    refresh(tx, ctx, &mut account)?;
    save_and_record(tx, ctx, &before, &account)?;
    Ok(account)
}

pub fn reject(tx: &mut dyn Tx, ctx: &Ctx, id: &str, reason: &str) -> Result<Account> {
    let mut account = load_for_update(tx, ctx, id)?;
    let before = render(tx, ctx, &account)?;
    account.private.rejected = Some(reason.to_string());
    refresh(tx, ctx, &mut account)?;
    save_and_record(tx, ctx, &before, &account)?;
    Ok(account)
}

pub fn delete(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    if ctx.connected {
        return Err(Error::new(
            ErrorKind::Permission,
            "Connected accounts cannot delete accounts.",
        ));
    }
    load_for_update(tx, ctx, id)?;
    let stub = json!({"id": id, "object": ACCOUNT, "deleted": true});
    docs::mark_deleted(tx, id, &stub)?;
    // The platform loses access to the account: Stripe tells Connect endpoints so.
    let event_type = "account.application.deauthorized";
    let application = json!({"id": ctx.scope.platform, "object": "application", "name": null});
    events::record_in(tx, ctx, Some(id), event_type, &application, None)?;
    Ok(stub)
}

/// Saves a changed account and records `account.updated` (in that account) if what the API
/// shows of it changed since `before` (its `render` when loaded).
fn save_and_record(tx: &mut dyn Tx, ctx: &Ctx, before: &Value, account: &Account) -> Result<()> {
    docs::save(tx, &account.id, account)?;
    let after = render(tx, ctx, account)?;
    if let Some(previous) = events::previous_attributes(before, &after) {
        let id = account.id.as_str();
        events::record_in(tx, ctx, Some(id), "account.updated", &after, Some(previous))?;
    }
    Ok(())
}

fn person_event(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    event_type: &'static str,
    mut person: Value,
    previous: Option<Map<String, Value>>,
) -> Result<()> {
    persons::public_view(&mut person);
    events::record_in(tx, ctx, Some(account), event_type, &person, previous)
}

fn external_event(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    event_type: &'static str,
    mut external: Value,
) -> Result<()> {
    external_accounts::public_view(&mut external);
    events::record_in(tx, ctx, Some(account), event_type, &external, None)
}

/// The account as the API shows it: private parts removed, external accounts listed.
pub fn render(tx: &mut dyn Tx, ctx: &Ctx, account: &Account) -> Result<Value> {
    let mut value = serde_json::to_value(account)
        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    super::docs::strip_private(&mut value);
    if let Some(individual) = value.get_mut("individual") {
        persons::public_view(individual);
    }
    if let Some(company) = value.get_mut("company").and_then(Value::as_object_mut) {
        company.remove("tax_id_verification");
        // Stripe leaves `structure` out until it is set.
        if company.get("structure").is_some_and(Value::is_null) {
            company.remove("structure");
        }
    }
    {
        let mut externals: Vec<Value> = external_accounts::all(tx, ctx, &account.id)?;
        for external in &mut externals {
            external_accounts::public_view(external);
        }
        value["external_accounts"] = json!({
            "object": "list",
            "data": externals,
            "has_more": false,
            "total_count": externals.len(),
            "url": format!("/v1/accounts/{}/external_accounts", account.id)
        });
    }
    Ok(value)
}

pub fn capability(tx: &mut dyn Tx, ctx: &Ctx, account: &str, name: &str) -> Result<Value> {
    load(tx, ctx, account)?;
    match tx.get(&capability_doc_id(account, name))? {
        Some(doc) if doc.visible_to(&ctx.platform_scope()) => docs::from_json(&doc),
        _ if CAPABILITIES.contains(&name) => Ok(blank_capability(account, name)),
        _ => Err(Error::no_such("capability", name)),
    }
}

pub fn capabilities(tx: &mut dyn Tx, ctx: &Ctx, account: &str) -> Result<Vec<Value>> {
    load(tx, ctx, account)?;
    let docs = capability_docs(tx, ctx, account)?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in &docs {
        out.push(docs::from_json(doc)?);
    }
    out.sort_by(|a: &Value, b: &Value| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(out)
}

pub fn update_capability(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account_id: &str,
    name: &str,
    requested: Option<bool>,
) -> Result<Value> {
    if !CAPABILITIES.contains(&name) {
        return Err(Error::no_such("capability", name));
    }
    let mut account = load_for_update(tx, ctx, account_id)?;
    let before = render(tx, ctx, &account)?;
    if let Some(requested) = requested {
        set_capability(tx, ctx, account_id, name, requested)?;
    }
    refresh(tx, ctx, &mut account)?;
    save_and_record(tx, ctx, &before, &account)?;
    capability(tx, ctx, account_id, name)
}

/// After a person or external account changed: recompute the account that holds it.
pub fn refresh_by_id(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<()> {
    let mut account = load_for_update(tx, ctx, id)?;
    let before = render(tx, ctx, &account)?;
    refresh(tx, ctx, &mut account)?;
    save_and_record(tx, ctx, &before, &account)
}

/// A platform's own account document (what `GET /v1/account` shows without `Stripe-Account`).
pub fn new_platform(tx: &mut dyn Tx, id: &str, now: i64) -> Result<()> {
    let account = Account {
        id: id.to_string(),
        object: ACCOUNT.into(),
        business_profile: default_business_profile("usd"),
        business_type: Some("company".into()),
        capabilities: BTreeMap::from([
            ("card_payments".to_string(), "active".to_string()),
            ("transfers".to_string(), "active".to_string()),
        ]),
        charges_enabled: true,
        company: None,
        controller: Controller {
            fees: Fees {
                payer: "account".into(),
            },
            is_controller: false,
            losses: Losses {
                payments: "stripe".into(),
            },
            requirement_collection: "stripe".into(),
            stripe_dashboard: Dashboard {
                dashboard_type: "full".into(),
            },
            controller_type: "account".into(),
        },
        country: super::charges::PLATFORM_COUNTRY.into(),
        created: now,
        default_currency: "usd".into(),
        details_submitted: true,
        email: None,
        future_requirements: empty_requirements(),
        individual: None,
        metadata: Metadata::new(),
        payouts_enabled: true,
        requirements: empty_requirements(),
        settings: default_settings(true, MINIMUM_DELAY_DAYS),
        tos_acceptance: json!({"date": now, "ip": null, "service_agreement": "full", "user_agent": null}),
        account_type: "standard".into(),
        private: AccountPrivate::default(),
    };
    let scope = Scope {
        platform: id.to_string(),
        account: OPERATOR.to_string(),
        livemode: false,
    };
    let doc = Document {
        id: id.to_string(),
        object: ACCOUNT,
        platform: scope.platform.clone(),
        account: scope.account.clone(),
        livemode: false,
        created: now,
        parent: None,
        deleted: false,
        body: docs::to_json(&account)?,
    };
    Ok(tx.insert(doc)?)
}

/// The platform's own account.
pub fn platform(tx: &mut dyn Tx, ctx: &Ctx) -> Result<Account> {
    match tx.get(&ctx.scope.platform)? {
        Some(doc) if doc.object == ACCOUNT => docs::from_json(&doc),
        _ => Err(Error::no_such("account", &ctx.scope.platform)),
    }
}

pub fn create_person(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    patch: Map<String, Value>,
) -> Result<Value> {
    let mut holder = load_for_update(tx, ctx, account)?;
    let before = render(tx, ctx, &holder)?;
    let person = persons::create(tx, ctx, account, patch)?;
    refresh(tx, ctx, &mut holder)?;
    // The refresh wrote the person's own requirements.
    let person = persons::load(tx, ctx, account, person["id"].as_str().unwrap_or_default())?;
    person_event(tx, ctx, account, "person.created", person.clone(), None)?;
    save_and_record(tx, ctx, &before, &holder)?;
    Ok(person)
}

pub fn update_person(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    id: &str,
    patch: Map<String, Value>,
) -> Result<Value> {
    let mut holder = load_for_update(tx, ctx, account)?;
    let before = render(tx, ctx, &holder)?;
    let mut person_before = persons::load(tx, ctx, account, id)?;
    persons::update(tx, ctx, account, id, patch)?;
    refresh(tx, ctx, &mut holder)?;
    let person = persons::load(tx, ctx, account, id)?;
    let mut person_after = person.clone();
    persons::public_view(&mut person_before);
    persons::public_view(&mut person_after);
    if let Some(previous) = events::previous_attributes(&person_before, &person_after) {
        person_event(
            tx,
            ctx,
            account,
            "person.updated",
            person_after,
            Some(previous),
        )?;
    }
    save_and_record(tx, ctx, &before, &holder)?;
    Ok(person)
}

pub fn delete_person(tx: &mut dyn Tx, ctx: &Ctx, account: &str, id: &str) -> Result<Value> {
    let mut holder = load_for_update(tx, ctx, account)?;
    let before = render(tx, ctx, &holder)?;
    let person = persons::load(tx, ctx, account, id)?;
    let stub = persons::delete(tx, ctx, account, id)?;
    person_event(tx, ctx, account, "person.deleted", person, None)?;
    refresh(tx, ctx, &mut holder)?;
    save_and_record(tx, ctx, &before, &holder)?;
    Ok(stub)
}

pub fn add_external_account(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    input: external_accounts::Input,
    make_default: bool,
    metadata: Option<Map<String, Value>>,
) -> Result<Value> {
    let mut holder = load_for_update(tx, ctx, account)?;
    let before = render(tx, ctx, &holder)?;
    let external = external_accounts::create(
        tx,
        ctx,
        account,
        &holder.default_currency,
        input,
        make_default,
        metadata,
    )?;
    external_event(
        tx,
        ctx,
        account,
        "account.external_account.created",
        external.clone(),
    )?;
    refresh(tx, ctx, &mut holder)?;
    save_and_record(tx, ctx, &before, &holder)?;
    Ok(external)
}

pub fn update_external_account(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    id: &str,
    patch: Map<String, Value>,
    make_default: Option<bool>,
) -> Result<Value> {
    load_for_update(tx, ctx, account)?;
    let updated = external_accounts::update(tx, ctx, account, id, patch, make_default)?;
    let event_type = "account.external_account.updated";
    external_event(tx, ctx, account, event_type, updated.clone())?;
    Ok(updated)
}

pub fn delete_external_account(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    id: &str,
) -> Result<Value> {
    let mut holder = load_for_update(tx, ctx, account)?;
    let before = render(tx, ctx, &holder)?;
    let external = external_accounts::load(tx, ctx, account, id)?;
    let stub = external_accounts::delete(tx, ctx, account, &holder.default_currency, id)?;
    let event_type = "account.external_account.deleted";
    external_event(tx, ctx, account, event_type, external)?;
    refresh(tx, ctx, &mut holder)?;
    save_and_record(tx, ctx, &before, &holder)?;
    Ok(stub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_types_round_trip_through_controller_properties() {
        for legacy in ["standard", "express", "custom"] {
            assert_eq!(Controller::for_legacy_type(legacy).legacy_type(), legacy);
        }
    }

    #[test]
    fn controller_defaults_are_a_standard_account() {
        let controller = Controller::from_params(&Map::new()).unwrap();
        assert_eq!(controller.legacy_type(), "standard");
        let custom = json!({"fees": {"payer": "application"}, "losses": {"payments": "application"},
            "requirement_collection": "application", "stripe_dashboard": {"type": "none"}});
        assert_eq!(
            Controller::from_params(custom.as_object().unwrap())
                .unwrap()
                .legacy_type(),
            "custom"
        );
        let odd = json!({"requirement_collection": "application"});
        assert!(Controller::from_params(odd.as_object().unwrap()).is_err());
    }

    #[test]
    fn schedule_settings_are_checked() {
        let mut patch =
            json!({"payouts": {"schedule": {"interval": "weekly", "delay_days": "minimum"}}});
        normalise_settings(patch.as_object_mut().unwrap()).unwrap();
        assert_eq!(patch["payouts"]["schedule"]["weekly_anchor"], "monday");
        assert_eq!(patch["payouts"]["schedule"]["delay_days"], 2);
        let mut bad = json!({"payouts": {"schedule": {"delay_days": "1"}}});
        assert!(normalise_settings(bad.as_object_mut().unwrap()).is_err());
    }
}
