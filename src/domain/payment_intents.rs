//! PaymentIntents: create, confirm, capture, cancel, with every test card's documented outcome.
//! A successful confirmation authorises a charge; capture (at once, or later with
//! `capture_method=manual`) settles it on the ledger through `charges::settle`.

use serde_json::{json, Value};

use super::cards::Behaviour;
use super::charges::{self, Capture, ChargeRequest};
use super::docs::{self, NewDoc};
use super::metadata::{self, Metadata, MetadataChange};
use super::money::{check_charge_amount, Currency};
use super::objects::{CUSTOMER, PAYMENT_INTENT};
use super::payment_methods::Resolved;
use super::{
    accounts, disputes, events, payment_methods, transfers, Ctx, Error, ErrorKind, Result,
};
use crate::ids;
use crate::store::Tx;

/// Parameters of a create (and the parts of an update or confirm that may change).
#[derive(Debug, Clone, Default)]
pub struct IntentInput {
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub customer: Option<String>,
    pub description: Option<Option<String>>,
    pub metadata: MetadataChange,
    pub payment_method: Option<String>,
    pub payment_method_types: Option<Vec<String>>,
    pub capture_method: Option<String>,
    pub confirmation_method: Option<String>,
    pub confirm: bool,
    pub application_fee_amount: Option<i64>,
    pub transfer_destination: Option<String>,
    pub transfer_amount: Option<i64>,
    pub on_behalf_of: Option<String>,
    pub transfer_group: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub return_url: Option<String>,
    pub setup_future_usage: Option<String>,
    pub automatic_payment_methods: Option<(bool, Option<String>)>,
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_string()
}

fn unexpected_state(intent: &Value, action: &str) -> Error {
    let status = intent["status"].as_str().unwrap_or_default();
    Error::invalid(format!(
        "You cannot {action} this PaymentIntent because it has a status of {status}."
    ))
    .code("payment_intent_unexpected_state")
    .with("payment_intent", public(intent.clone()))
}

/// The intent as shown (private parts removed).
pub fn public(mut intent: Value) -> Value {
    super::docs::strip_private(&mut intent);
    intent
}

fn check_connect(tx: &mut dyn Tx, ctx: &Ctx, input: &IntentInput) -> Result<()> {
    if let Some(destination) = &input.transfer_destination {
        if ctx.connected {
            return Err(Error::invalid_param(
                "transfer_data[destination]",
                "Destination charges are made by the platform: drop the Stripe-Account header or transfer_data.",
            ));
        }
        transfers::check_destination(tx, ctx, destination, "transfer_data[destination]")?;
    }
    if let Some(account) = &input.on_behalf_of {
        accounts::load(tx, ctx, account).map_err(|_| {
            Error::invalid_param("on_behalf_of", format!("No such account: '{account}'"))
                .code("resource_missing")
        })?;
    }
    if input.application_fee_amount.is_some()
        && !ctx.connected
        && input.transfer_destination.is_none()
    {
        return Err(Error::invalid_param(
            "application_fee_amount",
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).",
        ));
    }
    if let Some(fee) = input.application_fee_amount {
        if fee < 0 {
            return Err(Error::invalid_param(
                "application_fee_amount",
                "The application fee must be a positive integer.",
            ));
        }
    }
    Ok(())
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, input: IntentInput) -> Result<Value> {
    let amount = input.amount.ok_or_else(|| {
        Error::invalid_param("amount", "Missing required param: amount.").code("parameter_missing")
    })?;
    let currency = input
        .currency
        .as_deref()
        .ok_or_else(|| {
            Error::invalid_param("currency", "Missing required param: currency.")
                .code("parameter_missing")
        })
        .and_then(|code| Currency::parse(code, "currency"))?;
    check_charge_amount(amount, &currency, "amount")?;
    check_connect(tx, ctx, &input)?;
    if let Some(fee) = input.application_fee_amount {
        if fee > amount {
            return Err(Error::invalid_param(
                "application_fee_amount",
                "The application fee cannot be greater than the amount.",
            ));
        }
    }
    if let Some(transfer_amount) = input.transfer_amount {
        if transfer_amount < 0 || transfer_amount > amount {
            return Err(Error::invalid_param(
                "transfer_data[amount]",
                "The transfer amount must be between 0 and the amount of the PaymentIntent.",
            ));
        }
    }
    if let Some(customer) = &input.customer {
        docs::load::<Value>(tx, &ctx.scope, CUSTOMER, "customer", customer)
            .map_err(|e| e.param("customer"))?;
    }
    let mut meta = Metadata::new();
    metadata::apply(&mut meta, input.metadata.clone())?;
    let id = ids::new_id("pi");
    let secret = ids::secret_token(&format!("{id}_secret_"), 16);
    let automatic = input.automatic_payment_methods.clone();
    let types = input
        .payment_method_types
        .clone()
        .unwrap_or_else(|| vec!["card".to_string()]);
    let transfer_data =
        input
            .transfer_destination
            .as_ref()
            .map(|destination| match input.transfer_amount {
                Some(amount) => json!({"amount": amount, "destination": destination}),
                None => json!({"destination": destination}),
            });
    let mut intent = json!({
        "id": id,
        "object": PAYMENT_INTENT,
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": if ctx.connected { json!(ctx.scope.platform) } else { Value::Null },
        "application_fee_amount": input.application_fee_amount,
        "automatic_payment_methods": automatic.as_ref().map(|(enabled, redirects)| json!({"allow_redirects": redirects.clone().unwrap_or_else(|| "always".into()), "enabled": enabled})),
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": input.capture_method.clone().unwrap_or_else(|| "automatic".into()),
        "client_secret": secret,
        "confirmation_method": input.confirmation_method.clone().unwrap_or_else(|| "automatic".into()),
        "created": ctx.now,
        "currency": currency.as_str(),
        "customer": input.customer,
        "description": input.description.clone().flatten(),
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": ctx.scope.livemode,
        "metadata": meta,
        "next_action": null,
        "on_behalf_of": input.on_behalf_of,
        "payment_method": null,
        "payment_method_configuration_details": null,
        "payment_method_options": {"card": {"installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic"}},
        "payment_method_types": types,
        "processing": null,
        "receipt_email": input.receipt_email,
        "review": null,
        "setup_future_usage": input.setup_future_usage,
        "shipping": null,
        "source": null,
        "statement_descriptor": input.statement_descriptor,
        "statement_descriptor_suffix": input.statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": null,
        "transfer_group": input.transfer_group,
        "_sluice": {}
    });
    // Moved in rather than serialised anew inside `json!`, key by hashed key.
    intent["transfer_data"] = transfer_data.unwrap_or(Value::Null);
    let mut method = None;
    if let Some(pm) = &input.payment_method {
        let resolved = payment_methods::resolve_unsaved(tx, ctx, pm)?;
        intent["payment_method"] = Value::from(resolved.id());
        intent["status"] = Value::from("requires_confirmation");
        method = Some(resolved);
    }
    let stored = Stored::New;
    events::record(tx, ctx, "payment_intent.created", &intent)?;
    if input.confirm {
        // Confirmed at once: the intent and its PaymentMethod are written once, in their
        // final state.
        let input = IntentInput {
            return_url: input.return_url,
            ..Default::default()
        };
        return confirm_loaded(tx, ctx, &id, intent, input, stored, method);
    }
    if let Some(method) = method {
        method.save(tx, ctx)?;
    }
    persist(tx, ctx, &id, &intent, &stored)?;
    Ok(public(intent))
}

/// Whether an intent is already stored (and is updated) or new (and is inserted once, when
/// its request is done).
enum Stored {
    New,
    Existing,
}

fn persist(tx: &mut dyn Tx, ctx: &Ctx, id: &str, intent: &Value, stored: &Stored) -> Result<()> {
    match stored {
        Stored::Existing => docs::save(tx, id, intent),
        Stored::New => {
            let new = NewDoc {
                id,
                object: PAYMENT_INTENT,
                scope: &ctx.scope,
                parent: None,
            };
            docs::insert(tx, ctx, new, intent)
        }
    }
}

fn load_for_update(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, intent) = docs::load_for_update(tx, &ctx.scope, PAYMENT_INTENT, "payment_intent", id)?;
    Ok(intent)
}

pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, intent) = docs::load(tx, &ctx.scope, PAYMENT_INTENT, "payment_intent", id)?;
    Ok(public(intent))
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, input: IntentInput) -> Result<Value> {
    let mut intent = load_for_update(tx, ctx, id)?;
    let status = intent["status"].as_str().unwrap_or_default().to_string();
    let changes_money =
        input.amount.is_some() || input.currency.is_some() || input.payment_method.is_some();
    if changes_money
        && !matches!(
            status.as_str(),
            "requires_payment_method" | "requires_confirmation" | "requires_action"
        )
    {
        return Err(unexpected_state(&intent, "update"));
    }
    if let Some(amount) = input.amount {
        let currency = Currency::parse(
            input
                .currency
                .as_deref()
                .unwrap_or(intent["currency"].as_str().unwrap_or("usd")),
            "currency",
        )?;
        check_charge_amount(amount, &currency, "amount")?;
        intent["amount"] = Value::from(amount);
    }
    if let Some(currency) = &input.currency {
        intent["currency"] = Value::from(Currency::parse(currency, "currency")?.as_str());
    }
    if let Some(description) = input.description {
        intent["description"] = json!(description);
    }
    if let Some(customer) = &input.customer {
        docs::load::<Value>(tx, &ctx.scope, CUSTOMER, "customer", customer)
            .map_err(|e| e.param("customer"))?;
        intent["customer"] = Value::from(customer.as_str());
    }
    if let Some(fee) = input.application_fee_amount {
        if !ctx.connected && intent["transfer_data"].is_null() {
            return Err(Error::invalid_param(
                "application_fee_amount",
                "Can only apply an application_fee_amount to a direct or destination payment.",
            ));
        }
        intent["application_fee_amount"] = Value::from(fee);
    }
    if let Some(email) = input.receipt_email {
        intent["receipt_email"] = Value::from(email);
    }
    if let Some(group) = input.transfer_group {
        intent["transfer_group"] = Value::from(group);
    }
    if let Some(pm) = &input.payment_method {
        let method = payment_methods::resolve(tx, ctx, pm)?;
        intent["payment_method"] = method["id"].clone();
        intent["status"] = Value::from("requires_confirmation");
    }
    metadata::apply_to_document(&mut intent, input.metadata)?;
    docs::save(tx, id, &intent)?;
    Ok(public(intent))
}

/// The card error a decline answers with, carrying the intent as it now is.
fn decline_error(
    intent: &Value,
    charge: &str,
    pm: &Value,
    code: &'static str,
    decline_code: Option<&str>,
    message: &str,
) -> Error {
    let mut error = Error::new(ErrorKind::Card, message)
        .code(code)
        .with("charge", Value::from(charge))
        .with("payment_intent", public(intent.clone()))
        .with("payment_method", pm.clone())
        .keeping_changes();
    if let Some(decline_code) = decline_code {
        error = error.with("decline_code", Value::from(decline_code));
    }
    error
}

pub fn confirm(tx: &mut dyn Tx, ctx: &Ctx, id: &str, input: IntentInput) -> Result<Value> {
    let intent = load_for_update(tx, ctx, id)?;
    confirm_loaded(tx, ctx, id, intent, input, Stored::Existing, None)
}

fn confirm_loaded(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    mut intent: Value,
    input: IntentInput,
    stored: Stored,
    resolved: Option<Resolved>,
) -> Result<Value> {
    let status = intent["status"].as_str().unwrap_or_default().to_string();
    if !matches!(
        status.as_str(),
        "requires_payment_method" | "requires_confirmation" | "requires_action"
    ) {
        return Err(unexpected_state(&intent, "confirm"));
    }
    let pm_reference = input
        .payment_method
        .clone()
        .or_else(|| intent["payment_method"].as_str().map(str::to_string))
        .ok_or_else(|| {
            Error::invalid_param(
                "payment_method",
                "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
            )
            .code("payment_intent_unexpected_state")
        })?;
    let mut method = match resolved {
        Some(method) if method.id() == pm_reference => method,
        other => {
            if let Some(unused) = other {
                unused.save(tx, ctx)?;
            }
            payment_methods::resolve_unsaved(tx, ctx, &pm_reference)?
        }
    };
    payment_methods::check_usable(&method.pm)?;
    method.changed |= payment_methods::run_checks(&mut method.pm);
    intent["payment_method"] = Value::from(method.id());
    if let Some(url) = input.return_url {
        intent["_sluice"]["return_url"] = Value::from(url);
    }
    let behaviour = payment_methods::behaviour(&method.pm);
    if behaviour == Behaviour::RequiresAuthentication && status != "requires_action" {
        intent["status"] = Value::from("requires_action");
        let return_url = intent["_sluice"]["return_url"]
            .as_str()
            .unwrap_or("")
            .to_string();
        intent["next_action"] = json!({
            "type": "redirect_to_url",
            "redirect_to_url": {
                "return_url": if return_url.is_empty() { Value::Null } else { Value::from(return_url) },
                "url": format!("{}/v1/sluice/authenticate/{id}?client_secret={}",
                    ctx.base_url, intent["client_secret"].as_str().unwrap_or_default())
            }
        });
        method.save(tx, ctx)?;
        persist(tx, ctx, id, &intent, &stored)?;
        events::record(tx, ctx, "payment_intent.requires_action", &intent)?;
        return Ok(public(intent));
    }
    authorize(tx, ctx, id, intent, method, behaviour, stored)
}

/// Runs the authorisation of a confirmed intent; captures at once unless capture is manual.
/// Writes the intent and the PaymentMethod once each.
#[allow(clippy::too_many_arguments)]
fn authorize(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    mut intent: Value,
    mut method: Resolved,
    behaviour: Behaviour,
    stored: Stored,
) -> Result<Value> {
    let mut public_pm = method.pm.clone();
    payment_methods::public_view(&mut public_pm);
    let amount = intent["amount"].as_i64().unwrap_or(0);
    let currency = intent["currency"].as_str().unwrap_or_default().to_string();
    let destination = intent["transfer_data"]["destination"]
        .as_str()
        .map(str::to_string);
    let transfer_amount = intent["transfer_data"]["amount"].as_i64();
    let metadata: Metadata = serde_json::from_value(intent["metadata"].clone()).unwrap_or_default();
    let request = ChargeRequest {
        amount,
        currency: &currency,
        customer: intent["customer"].as_str(),
        description: intent["description"].as_str(),
        metadata,
        payment_intent: Some(id),
        payment_method: &method.pm,
        application_fee_amount: intent["application_fee_amount"].as_i64(),
        destination: destination.as_deref().map(|d| (d, transfer_amount)),
        on_behalf_of: intent["on_behalf_of"].as_str(),
        transfer_group: intent["transfer_group"].as_str(),
        receipt_email: intent["receipt_email"].as_str(),
        statement_descriptor: intent["statement_descriptor"].as_str(),
        statement_descriptor_suffix: intent["statement_descriptor_suffix"].as_str(),
    };
    let failure = match behaviour {
        Behaviour::Decline {
            code,
            decline_code,
            message,
        } => Some((code, message, decline_code)),
        Behaviour::AttachOkChargeDeclines => Some((
            "card_declined",
            "Your card was declined.",
            Some("generic_decline"),
        )),
        Behaviour::BlockedAsFraud => Some((
            "card_declined",
            "Your card was declined.",
            Some("fraudulent"),
        )),
        _ => None,
    };
    let mut charge = charges::new_charge(ctx, "ch", &request, failure);
    let charge_id = id_of(&charge);
    intent["latest_charge"] = Value::from(charge_id.as_str());
    intent["next_action"] = Value::Null;
    if let Some((code, message, decline_code)) = failure {
        charges::public_view(&mut charge);
        charges::store_new(tx, ctx, &charge)?;
        events::record(tx, ctx, "charge.failed", &charge)?;
        intent["status"] = Value::from("requires_payment_method");
        intent["last_payment_error"] = json!({
            "charge": charge_id,
            "code": code,
            "decline_code": decline_code,
            "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
            "message": message,
            "payment_method": public_pm,
            "type": "card_error"
        });
        method.save(tx, ctx)?;
        persist(tx, ctx, id, &intent, &stored)?;
        events::record(tx, ctx, "payment_intent.payment_failed", &intent)?;
        return Err(decline_error(
            &intent,
            &charge_id,
            &public_pm,
            code,
            decline_code,
            message,
        ));
    }
    method.changed |= payment_methods::mark_consumed(&mut method.pm);
    method.save(tx, ctx)?;
    let pm = method.pm;
    intent["last_payment_error"] = Value::Null;
    charge["_sluice"]["available_on"] = Value::from(charges::available_on_for(tx, ctx, &pm)?);
    let intent_event = if intent["capture_method"] == "manual" {
        intent["status"] = Value::from("requires_capture");
        intent["amount_capturable"] = Value::from(amount);
        charges::store_new(tx, ctx, &charge)?;
        events::record(tx, ctx, "charge.succeeded", &charge)?;
        "payment_intent.amount_capturable_updated"
    } else {
        let capture = capture_terms(tx, ctx, &intent, &charge, amount, None)?;
        charges::settle(tx, ctx, &mut charge, &capture)?;
        charges::store_new(tx, ctx, &charge)?;
        events::record(tx, ctx, "charge.succeeded", &charge)?;
        if let Behaviour::Dispute { reason, inquiry } = payment_methods::behaviour(&pm) {
            disputes::open(tx, ctx, &charge_id, reason, inquiry)?;
        }
        intent["status"] = Value::from("succeeded");
        intent["amount_received"] = Value::from(amount);
        "payment_intent.succeeded"
    };
    persist(tx, ctx, id, &intent, &stored)?;
    events::record(tx, ctx, intent_event, &intent)?;
    Ok(public(intent))
}

fn capture_terms(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    intent: &Value,
    charge: &Value,
    amount: i64,
    fee_override: Option<i64>,
) -> Result<Capture> {
    let platform_pays_fees = if ctx.connected {
        charges::platform_pays_fees(&accounts::load(tx, ctx, &ctx.scope.account)?)
    } else {
        false
    };
    let application_fee_amount = fee_override.or_else(|| intent["application_fee_amount"].as_i64());
    if let Some(fee) = application_fee_amount {
        if fee > amount {
            return Err(Error::invalid_param(
                "application_fee_amount",
                "The application fee cannot be greater than the captured amount.",
            ));
        }
    }
    Ok(Capture {
        amount,
        application_fee_amount,
        available_on: charge["_sluice"]["available_on"]
            .as_i64()
            .unwrap_or(ctx.now),
        platform_pays_fees,
    })
}

pub fn capture(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    amount_to_capture: Option<i64>,
    application_fee_amount: Option<i64>,
) -> Result<Value> {
    let mut intent = load_for_update(tx, ctx, id)?;
    if intent["status"] != "requires_capture" {
        return Err(unexpected_state(&intent, "capture"));
    }
    let capturable = intent["amount_capturable"].as_i64().unwrap_or(0);
    let amount = amount_to_capture.unwrap_or(capturable);
    if amount < 1 || amount > capturable {
        return Err(Error::invalid_param(
            "amount_to_capture",
            format!(
                "The amount to capture must be between 1 and the capturable amount ({capturable})."
            ),
        ));
    }
    if application_fee_amount.is_some() && !ctx.connected && intent["transfer_data"].is_null() {
        return Err(Error::invalid_param(
            "application_fee_amount",
            "Can only apply an application_fee_amount to a direct or destination payment.",
        ));
    }
    let charge_id = intent["latest_charge"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, mut charge): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, super::objects::CHARGE, "charge", &charge_id)?;
    let terms = capture_terms(tx, ctx, &intent, &charge, amount, application_fee_amount)?;
    charges::settle(tx, ctx, &mut charge, &terms)?;
    docs::save(tx, &charge_id, &charge)?;
    events::record(tx, ctx, "charge.captured", &charge)?;
    let pm = payment_methods::load(
        tx,
        ctx,
        charge["payment_method"].as_str().unwrap_or_default(),
    )?;
    if let Behaviour::Dispute { reason, inquiry } = payment_methods::behaviour(&pm) {
        disputes::open(tx, ctx, &charge_id, reason, inquiry)?;
    }
    intent["status"] = Value::from("succeeded");
    intent["amount_capturable"] = Value::from(0);
    intent["amount_received"] = Value::from(amount);
    if let Some(fee) = terms.application_fee_amount {
        intent["application_fee_amount"] = Value::from(fee);
    }
    docs::save(tx, id, &intent)?;
    events::record(tx, ctx, "payment_intent.succeeded", &intent)?;
    Ok(public(intent))
}

pub fn cancel(tx: &mut dyn Tx, ctx: &Ctx, id: &str, reason: Option<String>) -> Result<Value> {
    let mut intent = load_for_update(tx, ctx, id)?;
    let status = intent["status"].as_str().unwrap_or_default().to_string();
    if !matches!(
        status.as_str(),
        "requires_payment_method"
            | "requires_capture"
            | "requires_confirmation"
            | "requires_action"
    ) {
        return Err(unexpected_state(&intent, "cancel"));
    }
    if status == "requires_capture" {
        // Releasing the authorisation: Stripe reports the uncaptured charge as refunded.
        if let Some(charge_id) = intent["latest_charge"].as_str().map(str::to_string) {
            let (_, mut charge): (_, Value) = docs::load_for_update(
                tx,
                &ctx.scope,
                super::objects::CHARGE,
                "charge",
                &charge_id,
            )?;
            charge["amount_refunded"] = charge["amount"].clone();
            charge["refunded"] = Value::Bool(true);
            docs::save(tx, &charge_id, &charge)?;
            events::record(tx, ctx, "charge.refunded", &charge)?;
        }
    }
    intent["status"] = Value::from("canceled");
    intent["canceled_at"] = Value::from(ctx.now);
    intent["cancellation_reason"] = json!(reason);
    intent["amount_capturable"] = Value::from(0);
    intent["next_action"] = Value::Null;
    docs::save(tx, id, &intent)?;
    events::record(tx, ctx, "payment_intent.canceled", &intent)?;
    Ok(public(intent))
}

/// Completes or fails the authentication a `requires_action` intent waits for (the page a
/// customer is redirected to).
pub fn authenticate(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    client_secret: &str,
    approve: bool,
) -> Result<Value> {
    let mut intent = load_for_update(tx, ctx, id)?;
    if intent["client_secret"] != client_secret {
        return Err(Error::no_such("payment_intent", id));
    }
    if intent["status"] != "requires_action" {
        return Err(unexpected_state(&intent, "authenticate"));
    }
    let pm_id = intent["payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let method = payment_methods::resolve_unsaved(tx, ctx, &pm_id)?;
    if approve {
        return authorize(
            tx,
            ctx,
            id,
            intent,
            method,
            Behaviour::Succeed,
            Stored::Existing,
        );
    }
    method.save(tx, ctx)?;
    let mut public_pm = method.pm;
    payment_methods::public_view(&mut public_pm);
    intent["status"] = Value::from("requires_payment_method");
    intent["next_action"] = Value::Null;
    intent["last_payment_error"] = json!({
        "code": "payment_intent_authentication_failure",
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
        "message": "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
        "payment_method": public_pm,
        "type": "invalid_request_error"
    });
    docs::save(tx, id, &intent)?;
    events::record(tx, ctx, "payment_intent.payment_failed", &intent)?;
    Ok(public(intent))
}

/// `POST /v1/charges` with a `source` token: the pre-PaymentIntents way to charge a card.
pub fn create_charge(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    input: IntentInput,
    source: &str,
    capture: bool,
) -> Result<Value> {
    let amount = input.amount.ok_or_else(|| {
        Error::invalid_param("amount", "Missing required param: amount.").code("parameter_missing")
    })?;
    let currency = input
        .currency
        .as_deref()
        .ok_or_else(|| {
            Error::invalid_param("currency", "Missing required param: currency.")
                .code("parameter_missing")
        })
        .and_then(|code| Currency::parse(code, "currency"))?;
    check_charge_amount(amount, &currency, "amount")?;
    check_connect(tx, ctx, &input)?;
    let pm = payment_methods::resolve(tx, ctx, source).map_err(|e| e.param("source"))?;
    let mut public_pm = pm.clone();
    payment_methods::public_view(&mut public_pm);
    let mut meta = Metadata::new();
    metadata::apply(&mut meta, input.metadata.clone())?;
    let request = ChargeRequest {
        amount,
        currency: currency.as_str(),
        customer: input.customer.as_deref(),
        description: input.description.as_ref().and_then(|d| d.as_deref()),
        metadata: meta,
        payment_intent: None,
        payment_method: &pm,
        application_fee_amount: input.application_fee_amount,
        destination: input
            .transfer_destination
            .as_deref()
            .map(|d| (d, input.transfer_amount)),
        on_behalf_of: input.on_behalf_of.as_deref(),
        transfer_group: input.transfer_group.as_deref(),
        receipt_email: input.receipt_email.as_deref(),
        statement_descriptor: input.statement_descriptor.as_deref(),
        statement_descriptor_suffix: input.statement_descriptor_suffix.as_deref(),
    };
    let failure = match payment_methods::behaviour(&pm) {
        Behaviour::Decline {
            code,
            decline_code,
            message,
        } => Some((code, message, decline_code)),
        Behaviour::AttachOkChargeDeclines | Behaviour::RequiresAuthentication => Some((
            "card_declined",
            "Your card was declined.",
            Some("generic_decline"),
        )),
        Behaviour::BlockedAsFraud => Some((
            "card_declined",
            "Your card was declined.",
            Some("fraudulent"),
        )),
        _ => None,
    };
    let mut charge = charges::new_charge(ctx, "ch", &request, failure);
    let charge_id = id_of(&charge);
    if let Some((code, message, decline_code)) = failure {
        charges::store_new(tx, ctx, &charge)?;
        events::record(tx, ctx, "charge.failed", &charge)?;
        let mut error = Error::new(ErrorKind::Card, message)
            .code(code)
            .with("charge", Value::from(charge_id))
            .keeping_changes();
        if let Some(decline_code) = decline_code {
            error = error.with("decline_code", Value::from(decline_code));
        }
        return Err(error);
    }
    charge["_sluice"]["available_on"] = Value::from(charges::available_on_for(tx, ctx, &pm)?);
    if capture {
        let terms = capture_terms(
            tx,
            ctx,
            &Value::Null,
            &charge,
            amount,
            input.application_fee_amount,
        )?;
        charges::settle(tx, ctx, &mut charge, &terms)?;
    }
    charges::store_new(tx, ctx, &charge)?;
    events::record(tx, ctx, "charge.succeeded", &charge)?;
    if let (true, Behaviour::Dispute { reason, inquiry }) =
        (capture, payment_methods::behaviour(&pm))
    {
        disputes::open(tx, ctx, &charge_id, reason, inquiry)?;
    }
    Ok(charge)
}

/// `POST /v1/charges/{id}/capture`: through its PaymentIntent when it has one.
pub fn capture_charge(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    amount: Option<i64>,
    application_fee_amount: Option<i64>,
) -> Result<Value> {
    let (_, mut charge): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, super::objects::CHARGE, "charge", id)?;
    if charge["captured"] == true {
        return Err(Error::invalid_param(
            "charge",
            format!("Charge {id} has already been captured."),
        )
        .code("charge_already_captured"));
    }
    if charge["status"] == "failed" {
        return Err(Error::invalid_param(
            "charge",
            format!("Charge {id} failed and cannot be captured."),
        ));
    }
    if let Some(intent) = charge["payment_intent"].as_str().map(str::to_string) {
        capture(tx, ctx, &intent, amount, application_fee_amount)?;
        let (_, charge): (_, Value) =
            docs::load(tx, &ctx.scope, super::objects::CHARGE, "charge", id)?;
        return Ok(charge);
    }
    let authorised = charge["amount"].as_i64().unwrap_or(0);
    let amount = amount.unwrap_or(authorised);
    if amount < 1 || amount > authorised {
        return Err(Error::invalid_param(
            "amount",
            format!("The amount to capture must be between 1 and {authorised}."),
        ));
    }
    let terms = capture_terms(
        tx,
        ctx,
        &Value::Null,
        &charge,
        amount,
        application_fee_amount.or_else(|| charge["application_fee_amount"].as_i64()),
    )?;
    charges::settle(tx, ctx, &mut charge, &terms)?;
    docs::save(tx, id, &charge)?;
    events::record(tx, ctx, "charge.captured", &charge)?;
    let pm = payment_methods::load(
        tx,
        ctx,
        charge["payment_method"].as_str().unwrap_or_default(),
    )?;
    if let Behaviour::Dispute { reason, inquiry } = payment_methods::behaviour(&pm) {
        disputes::open(tx, ctx, id, reason, inquiry)?;
    }
    Ok(charge)
}
