//! Charges and the money they move. A charge lives in the account that owns the payment: the
//! platform (its own charges and destination charges) or a connected account (direct charges).
//! Capturing settles it on the ledger in one movement: the card network pays, the operator
//! takes its processing fee, and the platform and connected accounts receive what each flow
//! gives them (see `settle`).

use serde_json::{json, Value};

use super::docs::{self, NewDoc};
use super::ledger::{self, operator, Entry, FeeDetail, Movement};
use super::metadata::Metadata;
use super::objects::{APPLICATION_FEE, CHARGE, TRANSFER};
use super::payment_methods;
use super::{Ctx, Result};
use crate::ids;
use crate::store::{Scope, Tx};

/// Where a platform's own account is (its charges' availability follows this country's delay).
pub const PLATFORM_COUNTRY: &str = "US";

/// What a new charge is asked to do.
pub struct ChargeRequest<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub customer: Option<&'a str>,
    pub description: Option<&'a str>,
    pub metadata: Metadata,
    pub payment_intent: Option<&'a str>,
    pub payment_method: &'a Value,
    pub application_fee_amount: Option<i64>,
    /// Destination charges: the connected account and, optionally, the amount it receives.
    pub destination: Option<(&'a str, Option<i64>)>,
    pub on_behalf_of: Option<&'a str>,
    pub transfer_group: Option<&'a str>,
    pub receipt_email: Option<&'a str>,
    pub statement_descriptor: Option<&'a str>,
    pub statement_descriptor_suffix: Option<&'a str>,
}

fn card_details(pm: &Value) -> Value {
    let card = &pm["card"];
    let mut details = json!({
        "card": {
            "amount_authorization": null,
            "brand": card["brand"],
            "checks": null,
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "installments": null,
            "last4": card["last4"],
            "mandate": null,
            "network": card["brand"],
            "network_token": {"used": false},
            "three_d_secure": null,
            "wallet": null
        },
        "type": "card"
    });
    // Moved in rather than serialised anew inside `json!` (see `new_charge`).
    details["card"]["checks"] = card["checks"].clone();
    details
}

/// A new charge document (not yet stored): `succeeded` and uncaptured, or `failed`.
pub fn new_charge(
    ctx: &Ctx,
    id_prefix: &str,
    request: &ChargeRequest,
    failure: Option<(&str, &str, Option<&str>)>,
) -> Value {
    let id = ids::new_id(id_prefix);
    let failed = failure.is_some();
    let (network_status, outcome_type, reason, seller_message, risk) = match failure {
        None => (
            "approved_by_network",
            "authorized",
            Value::Null,
            "Payment complete.",
            "normal",
        ),
        Some((_, _, Some("fraudulent"))) => (
            "not_sent_to_network",
            "blocked",
            json!("highest_risk_level"),
            "Stripe blocked this payment as too risky.",
            "highest",
        ),
        Some((_, _, decline_code)) => (
            "declined_by_network",
            "issuer_declined",
            json!(decline_code.unwrap_or("generic_decline")),
            "The bank did not return any further details with this decline.",
            "normal",
        ),
    };
    let description = request.description.map(str::to_string);
    // Members that are already `Value`s are moved in after: inside `json!` they would be
    // serialised into new `Value`s, key by hashed key.
    let mut charge = json!({
        "id": id,
        "object": CHARGE,
        "amount": request.amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": if ctx.connected || request.destination.is_some() { json!(ctx.scope.platform) } else { Value::Null },
        "application_fee": null,
        "application_fee_amount": request.application_fee_amount,
        "balance_transaction": null,
        "billing_details": null,
        "calculated_statement_descriptor": request.statement_descriptor.unwrap_or("SLUICE"),
        "captured": false,
        "created": ctx.now,
        "currency": request.currency,
        "customer": request.customer,
        "description": description,
        "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": failure.map(|(code, _, _)| code),
        "failure_message": failure.map(|(_, message, _)| message),
        "fraud_details": {},
        "livemode": ctx.scope.livemode,
        "metadata": request.metadata,
        "on_behalf_of": request.on_behalf_of,
        "outcome": {
            "network_status": network_status,
            "reason": reason,
            "risk_level": risk,
            "risk_score": if risk == "highest" { 95 } else { 20 },
            "seller_message": seller_message,
            "type": outcome_type
        },
        "paid": !failed,
        "payment_intent": request.payment_intent,
        "payment_method": request.payment_method["id"],
        "payment_method_details": null,
        "receipt_email": request.receipt_email,
        "receipt_number": null,
        "receipt_url": null,
        "refunded": false,
        "refunds": {"object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/charges/{id}/refunds")},
        "review": null,
        "shipping": null,
        "source_transfer": null,
        "statement_descriptor": request.statement_descriptor,
        "statement_descriptor_suffix": request.statement_descriptor_suffix,
        "status": if failed { "failed" } else { "succeeded" },
        "transfer_data": request.destination.map(|(destination, amount)| json!({"amount": amount, "destination": destination})),
        "transfer_group": request.transfer_group,
        "_sluice": {"available_on": null}
    });
    charge["billing_details"] = request.payment_method["billing_details"].clone();
    charge["payment_method_details"] = card_details(request.payment_method);
    charge
}

pub fn store_new(tx: &mut dyn Tx, ctx: &Ctx, charge: &Value) -> Result<()> {
    let id = charge["id"].as_str().unwrap_or_default().to_string();
    let new = NewDoc {
        id: &id,
        object: CHARGE,
        scope: &ctx.scope,
        parent: None,
    };
    docs::insert(tx, ctx, new, charge)
}

/// Who pays the processing fee on a direct charge: the connected account, unless its controller
/// says the platform does.
pub fn platform_pays_fees(account: &super::accounts::Account) -> bool {
    account.controller.fees.payer.starts_with("application")
}

/// What capturing needs to know beyond the charge itself.
pub struct Capture {
    pub amount: i64,
    pub application_fee_amount: Option<i64>,
    pub available_on: i64,
    /// On a direct charge, whether the platform pays the processing fee.
    pub platform_pays_fees: bool,
}

/// Captures `capture.amount` of an authorised charge and settles it on the ledger. Updates the
/// charge document (the caller saves it) and writes every object the flow creates.
pub fn settle(tx: &mut dyn Tx, ctx: &Ctx, charge: &mut Value, capture: &Capture) -> Result<()> {
    let amount = capture.amount;
    let currency = charge["currency"].as_str().unwrap_or_default().to_string();
    let charge_id = charge["id"].as_str().unwrap_or_default().to_string();
    let owner = ctx.scope.account.clone();
    let platform = ctx.scope.platform.clone();
    let processing_fee = ctx.pricing.card_fee(amount, &currency);
    let application_fee = capture.application_fee_amount.unwrap_or(0);
    let available_on = capture.available_on;
    let mut movement = Movement::new(ctx, &currency);
    movement.operator(operator::CARD_NETWORK, -amount);
    movement.operator(operator::PROCESSING_FEES, processing_fee);

    let destination = charge["transfer_data"]["destination"]
        .as_str()
        .map(str::to_string);
    let charge_fees = if ctx.connected {
        // A direct charge: the connected account owns it; the platform takes its fee.
        let mut details = Vec::new();
        if !capture.platform_pays_fees {
            details.push(FeeDetail::stripe_fee(processing_fee, &currency));
        }
        if application_fee > 0 {
            details.push(FeeDetail::application_fee(
                application_fee,
                &currency,
                &platform,
            ));
        }
        details
    } else {
        vec![FeeDetail::stripe_fee(processing_fee, &currency)]
    };
    let charge_txn = movement.account(
        ctx,
        Entry {
            account: &owner,
            txn_type: "charge",
            amount,
            fee_details: charge_fees,
            source: Some(&charge_id),
            available_on,
            description: charge["description"].as_str().map(str::to_string),
            payout: None,
        },
    );
    charge["balance_transaction"] = Value::from(charge_txn);

    if ctx.connected {
        if capture.platform_pays_fees {
            movement.account(
                ctx,
                Entry {
                    account: &platform,
                    txn_type: "stripe_fee",
                    amount: -processing_fee,
                    fee_details: Vec::new(),
                    source: Some(&charge_id),
                    available_on,
                    description: Some(format!("Processing fee for {charge_id} on {owner}")),
                    payout: None,
                },
            );
        }
        if application_fee > 0 {
            let fee_id = ids::new_id("fee");
            let fee_txn = movement.account(
                ctx,
                Entry {
                    account: &platform,
                    txn_type: "application_fee",
                    amount: application_fee,
                    fee_details: Vec::new(),
                    source: Some(&fee_id),
                    available_on,
                    description: None,
                    payout: None,
                },
            );
            store_application_fee(
                tx,
                ctx,
                &fee_id,
                &owner,
                &charge_id,
                None,
                application_fee,
                &currency,
                &fee_txn,
            )?;
            charge["application_fee"] = Value::from(fee_id);
        }
    } else if let Some(destination) = destination {
        // A destination charge: the platform owns it, transfers to the connected account, and
        // takes its application fee back from what it transferred.
        let transfer_amount = charge["transfer_data"]["amount"].as_i64().unwrap_or(amount);
        let transfer_id = ids::new_id("tr");
        let payment_id = ids::new_id("py");
        let transfer_txn = movement.account(
            ctx,
            Entry {
                account: &platform,
                txn_type: "transfer",
                amount: -transfer_amount,
                fee_details: Vec::new(),
                source: Some(&transfer_id),
                available_on,
                description: None,
                payout: None,
            },
        );
        let mut payment_fees = Vec::new();
        let fee_id = (application_fee > 0).then(|| ids::new_id("fee"));
        if application_fee > 0 {
            payment_fees.push(FeeDetail::application_fee(
                application_fee,
                &currency,
                &platform,
            ));
        }
        let payment_txn = movement.account(
            ctx,
            Entry {
                account: &destination,
                txn_type: "payment",
                amount: transfer_amount,
                fee_details: payment_fees,
                source: Some(&payment_id),
                available_on,
                description: None,
                payout: None,
            },
        );
        if let Some(fee_id) = &fee_id {
            let fee_txn = movement.account(
                ctx,
                Entry {
                    account: &platform,
                    txn_type: "application_fee",
                    amount: application_fee,
                    fee_details: Vec::new(),
                    source: Some(fee_id),
                    available_on,
                    description: None,
                    payout: None,
                },
            );
            store_application_fee(
                tx,
                ctx,
                fee_id,
                &destination,
                &payment_id,
                Some(&charge_id),
                application_fee,
                &currency,
                &fee_txn,
            )?;
            charge["application_fee"] = Value::from(fee_id.as_str());
        }
        let transfer = super::transfers::new_transfer(super::transfers::NewTransfer {
            ctx,
            id: &transfer_id,
            amount: transfer_amount,
            currency: &currency,
            destination: &destination,
            destination_payment: &payment_id,
            balance_transaction: &transfer_txn,
            source_transaction: Some(&charge_id),
            transfer_group: charge["transfer_group"].as_str(),
            description: None,
            metadata: Metadata::new(),
        });
        let platform_scope = ctx.platform_scope();
        docs::insert(
            tx,
            ctx,
            NewDoc {
                id: &transfer_id,
                object: TRANSFER,
                scope: &platform_scope,
                parent: None,
            },
            &transfer,
        )?;
        let platform = ctx.scope.platform.as_str();
        super::events::record_in(tx, ctx, Some(platform), "transfer.created", &transfer, None)?;
        super::transfers::store_destination_payment(
            tx,
            ctx,
            super::transfers::DestinationPayment {
                id: &payment_id,
                destination: &destination,
                amount: transfer_amount,
                currency: &currency,
                transfer: &transfer_id,
                balance_transaction: &payment_txn,
                application_fee: fee_id.as_deref(),
                application_fee_amount: (application_fee > 0).then_some(application_fee),
            },
        )?;
        charge["transfer"] = Value::from(transfer_id);
    }
    movement.commit(tx, ctx)?;
    charge["captured"] = Value::Bool(true);
    charge["amount_captured"] = Value::from(amount);
    let authorised = charge["amount"].as_i64().unwrap_or(amount);
    // The uncaptured part of a partial capture is released, which Stripe reports as refunded.
    charge["amount_refunded"] = Value::from(authorised - amount);
    charge["_sluice"]["available_on"] = Value::from(available_on);
    if capture.application_fee_amount.is_some() {
        charge["application_fee_amount"] = Value::from(application_fee);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn store_application_fee(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    account: &str,
    charge: &str,
    originating_transaction: Option<&str>,
    amount: i64,
    currency: &str,
    balance_transaction: &str,
) -> Result<()> {
    let fee = json!({
        "id": id,
        "object": APPLICATION_FEE,
        "account": account,
        "amount": amount,
        "amount_refunded": 0,
        "application": ctx.scope.platform,
        "balance_transaction": balance_transaction,
        "charge": charge,
        "created": ctx.now,
        "currency": currency,
        "fee_source": {"charge": charge, "type": "charge"},
        "livemode": ctx.scope.livemode,
        "originating_transaction": originating_transaction,
        "refunded": false,
        "refunds": {"object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/application_fees/{id}/refunds")}
    });
    let scope = ctx.platform_scope();
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id,
            object: APPLICATION_FEE,
            scope: &scope,
            parent: None,
        },
        &fee,
    )?;
    let platform = ctx.scope.platform.as_str();
    super::events::record_in(
        tx,
        ctx,
        Some(platform),
        "application_fee.created",
        &fee,
        None,
    )
}

/// What `POST /v1/charges/{id}` may change.
pub struct ChargeUpdate {
    pub description: Option<Option<String>>,
    pub receipt_email: Option<Option<String>>,
    pub transfer_group: Option<String>,
    pub metadata: super::metadata::MetadataChange,
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, change: ChargeUpdate) -> Result<Value> {
    let (_, mut charge): (_, Value) = docs::load_for_update(tx, &ctx.scope, CHARGE, "charge", id)?;
    let before = charge.clone();
    if let Some(description) = change.description {
        charge["description"] = json!(description);
    }
    if let Some(email) = change.receipt_email {
        charge["receipt_email"] = json!(email);
    }
    if let Some(group) = change.transfer_group {
        charge["transfer_group"] = Value::from(group);
    }
    super::metadata::apply_to_document(&mut charge, change.metadata)?;
    docs::save(tx, id, &charge)?;
    super::events::record_update(tx, ctx, "charge.updated", &before, &charge)?;
    Ok(charge)
}

/// Removes what only Sluice reads before a charge is shown.
pub fn public_view(charge: &mut Value) {
    super::docs::strip_private(charge);
}

/// A charge of the scope `ctx` acts in.
pub fn load(tx: &mut dyn Tx, scope: &Scope, id: &str) -> Result<Value> {
    let (_, charge) = docs::load(tx, scope, CHARGE, "charge", id)?;
    Ok(charge)
}

/// When a payment with this PaymentMethod, settling in the account `ctx` acts in, becomes
/// available: the operator's delay for the account's country (the platform's: `US`).
pub fn available_on_for(tx: &mut dyn Tx, ctx: &Ctx, pm: &Value) -> Result<i64> {
    if let super::cards::Behaviour::AvailableImmediately = payment_methods::behaviour(pm) {
        return Ok(ctx.now);
    }
    let country = if ctx.connected {
        super::accounts::load(tx, ctx, &ctx.scope.account)?.country
    } else {
        PLATFORM_COUNTRY.to_string()
    };
    let days = ctx.pricing.availability_delay_days(&country);
    Ok(ledger::available_on(ctx.now, days))
}
