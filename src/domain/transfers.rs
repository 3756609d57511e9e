//! Transfers: money from a platform's balance to a connected account's (separate charges and
//! transfers, and the transfer inside every destination charge), and their reversals.

use serde::Serialize;
use serde_json::{json, Value};

use super::docs::{self, NewDoc};
use super::ledger::{self, Entry, Movement};
use super::metadata::{self, Metadata, MetadataChange};
use super::money::Currency;
use super::objects::{CHARGE, REFUND, TRANSFER, TRANSFER_REVERSAL};
use super::{accounts, events, Ctx, Error, Result};
use crate::ids;
use crate::store::{Scope, Tx};

pub struct NewTransfer<'a> {
    pub ctx: &'a Ctx,
    pub id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub destination: &'a str,
    pub destination_payment: &'a str,
    pub balance_transaction: &'a str,
    pub source_transaction: Option<&'a str>,
    pub transfer_group: Option<&'a str>,
    pub description: Option<&'a str>,
    pub metadata: Metadata,
}

pub fn new_transfer(new: NewTransfer) -> Value {
    json!({
        "id": new.id,
        "object": TRANSFER,
        "amount": new.amount,
        "amount_reversed": 0,
        "balance_transaction": new.balance_transaction,
        "created": new.ctx.now,
        "currency": new.currency,
        "description": new.description,
        "destination": new.destination,
        "destination_payment": new.destination_payment,
        "livemode": new.ctx.scope.livemode,
        "metadata": new.metadata,
        "reversals": {"object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/transfers/{}/reversals", new.id)},
        "reversed": false,
        "source_transaction": new.source_transaction,
        "source_type": "card",
        "transfer_group": new.transfer_group
    })
}

pub struct DestinationPayment<'a> {
    pub id: &'a str,
    pub destination: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub transfer: &'a str,
    pub balance_transaction: &'a str,
    pub application_fee: Option<&'a str>,
    pub application_fee_amount: Option<i64>,
}

/// The `py_` charge a transfer creates in the destination account.
pub fn store_destination_payment(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    payment: DestinationPayment,
) -> Result<()> {
    let url = format!("/v1/charges/{}/refunds", payment.id);
    let document = PaymentDocument {
        id: payment.id,
        object: CHARGE,
        amount: payment.amount,
        amount_captured: payment.amount,
        amount_refunded: 0,
        application: &ctx.scope.platform,
        application_fee: payment.application_fee,
        application_fee_amount: payment.application_fee_amount,
        balance_transaction: payment.balance_transaction,
        billing_details: BillingDetails::default(),
        calculated_statement_descriptor: (),
        captured: true,
        created: ctx.now,
        currency: payment.currency,
        customer: (),
        description: (),
        disputed: false,
        failure_balance_transaction: (),
        failure_code: (),
        failure_message: (),
        fraud_details: Empty {},
        livemode: ctx.scope.livemode,
        metadata: Empty {},
        on_behalf_of: (),
        outcome: (),
        paid: true,
        payment_intent: (),
        payment_method: (),
        payment_method_details: StripeAccountDetails {
            stripe_account: Empty {},
            kind: "stripe_account",
        },
        receipt_email: (),
        receipt_number: (),
        receipt_url: (),
        refunded: false,
        refunds: EmptyList {
            object: "list",
            data: [],
            has_more: false,
            total_count: 0,
            url: &url,
        },
        review: (),
        shipping: (),
        source_transfer: payment.transfer,
        statement_descriptor: (),
        statement_descriptor_suffix: (),
        status: "succeeded",
        transfer_data: (),
        transfer_group: (),
    };
    let scope = Scope {
        platform: ctx.scope.platform.clone(),
        account: payment.destination.to_string(),
        livemode: ctx.scope.livemode,
    };
    docs::insert_text(
        tx,
        ctx,
        NewDoc {
            id: payment.id,
            object: CHARGE,
            scope: &scope,
            parent: None,
        },
        docs::serialize(&document)?,
    )
}

/// The `py_` charge as it is first stored. It is only written here (never returned or sent in
/// an event), so it goes to text straight from this struct: built as a `Value`, its 45 members
/// and their hashing were 3% of the writer's time per destination charge. `()` is `null`.
#[derive(Serialize)]
struct PaymentDocument<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    amount_captured: i64,
    amount_refunded: i64,
    application: &'a str,
    application_fee: Option<&'a str>,
    application_fee_amount: Option<i64>,
    balance_transaction: &'a str,
    billing_details: BillingDetails,
    calculated_statement_descriptor: (),
    captured: bool,
    created: i64,
    currency: &'a str,
    customer: (),
    description: (),
    disputed: bool,
    failure_balance_transaction: (),
    failure_code: (),
    failure_message: (),
    fraud_details: Empty,
    livemode: bool,
    metadata: Empty,
    on_behalf_of: (),
    outcome: (),
    paid: bool,
    payment_intent: (),
    payment_method: (),
    payment_method_details: StripeAccountDetails,
    receipt_email: (),
    receipt_number: (),
    receipt_url: (),
    refunded: bool,
    refunds: EmptyList<'a>,
    review: (),
    shipping: (),
    source_transfer: &'a str,
    statement_descriptor: (),
    statement_descriptor_suffix: (),
    status: &'static str,
    transfer_data: (),
    transfer_group: (),
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize, Default)]
struct BillingDetails {
    address: Address,
    email: (),
    name: (),
    phone: (),
}

#[derive(Serialize, Default)]
struct Address {
    city: (),
    country: (),
    line1: (),
    line2: (),
    postal_code: (),
    state: (),
}

#[derive(Serialize)]
struct StripeAccountDetails {
    stripe_account: Empty,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct EmptyList<'a> {
    object: &'static str,
    data: [(); 0],
    has_more: bool,
    total_count: u64,
    url: &'a str,
}

/// `POST /v1/transfers`.
pub struct TransferRequest {
    pub amount: i64,
    pub currency: String,
    pub destination: String,
    pub description: Option<String>,
    pub metadata: MetadataChange,
    pub source_transaction: Option<String>,
    pub transfer_group: Option<String>,
}

/// Checks the destination can receive transfers, as Stripe does before moving money.
pub fn check_destination(tx: &mut dyn Tx, ctx: &Ctx, destination: &str, param: &str) -> Result<()> {
    let transfers =
        accounts::capability_status(tx, ctx, destination, "transfers").map_err(|_| {
            Error::invalid_param(param, format!("No such destination: '{destination}'"))
                .code("resource_missing")
        })?;
    if transfers.as_deref() != Some("active") {
        return Err(Error::invalid_param(
            param,
            "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
        )
        .code("insufficient_capabilities_for_transfer"));
    }
    Ok(())
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, request: TransferRequest) -> Result<Value> {
    ctx.require_platform("Transfers")?;
    let currency = Currency::parse(&request.currency, "currency")?;
    if request.amount < 1 {
        return Err(Error::invalid_param("amount", "Invalid positive integer")
            .code("parameter_invalid_integer"));
    }
    check_destination(tx, ctx, &request.destination, "destination")?;
    let platform = ctx.scope.platform.clone();
    tx.lock_ledger_account(&platform, currency.as_str())?;
    let available_on = match &request.source_transaction {
        Some(source) => {
            let (_, charge): (_, Value) = docs::load(tx, &ctx.scope, CHARGE, "charge", source)
                .map_err(|_| {
                    Error::invalid_param(
                        "source_transaction",
                        format!("No such charge: '{source}'"),
                    )
                    .code("resource_missing")
                })?;
            if charge["currency"] != currency.as_str() {
                return Err(Error::invalid_param(
                    "currency",
                    "The currency of a transfer must match its source_transaction's currency.",
                ));
            }
            if charge["captured"] != true {
                return Err(Error::invalid_param(
                    "source_transaction",
                    "The source_transaction has not been captured.",
                ));
            }
            let captured = charge["amount_captured"].as_i64().unwrap_or(0)
                - charge["amount_refunded"].as_i64().unwrap_or(0).max(0);
            let already = transferred_from(tx, ctx, source)?;
            if request.amount + already > captured {
                return Err(Error::invalid_param(
                    "amount",
                    format!("Transfer amount exceeds the source transaction's remaining amount ({} available).", captured - already),
                )
                .code("balance_insufficient"));
            }
            charge["_sluice"]["available_on"]
                .as_i64()
                .unwrap_or(ctx.now)
        }
        None => {
            let available = ledger::available(
                tx,
                &platform,
                ctx.scope.livemode,
                currency.as_str(),
                ctx.now,
            )?;
            if available < request.amount {
                return Err(Error::invalid_param(
                    "amount",
                    "You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card. For more details, see https://stripe.com/docs/testing#available-balance",
                )
                .code("balance_insufficient"));
            }
            ctx.now
        }
    };
    let mut meta = Metadata::new();
    metadata::apply(&mut meta, request.metadata)?;
    let transfer_id = ids::new_id("tr");
    let payment_id = ids::new_id("py");
    let mut movement = Movement::new(ctx, currency.as_str());
    let transfer_txn = movement.account(
        ctx,
        Entry {
            account: &platform,
            txn_type: "transfer",
            amount: -request.amount,
            fee_details: Vec::new(),
            source: Some(&transfer_id),
            available_on,
            description: request.description.clone(),
            payout: None,
        },
    );
    let payment_txn = movement.account(
        ctx,
        Entry {
            account: &request.destination,
            txn_type: "payment",
            amount: request.amount,
            fee_details: Vec::new(),
            source: Some(&payment_id),
            available_on,
            description: None,
            payout: None,
        },
    );
    movement.commit(tx, ctx)?;
    let transfer = new_transfer(NewTransfer {
        ctx,
        id: &transfer_id,
        amount: request.amount,
        currency: currency.as_str(),
        destination: &request.destination,
        destination_payment: &payment_id,
        balance_transaction: &transfer_txn,
        source_transaction: request.source_transaction.as_deref(),
        transfer_group: request.transfer_group.as_deref(),
        description: request.description.as_deref(),
        metadata: meta,
    });
    let scope = ctx.platform_scope();
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &transfer_id,
            object: TRANSFER,
            scope: &scope,
            parent: request.source_transaction.as_deref(),
        },
        &transfer,
    )?;
    events::record(tx, ctx, "transfer.created", &transfer)?;
    store_destination_payment(
        tx,
        ctx,
        DestinationPayment {
            id: &payment_id,
            destination: &request.destination,
            amount: request.amount,
            currency: currency.as_str(),
            transfer: &transfer_id,
            balance_transaction: &payment_txn,
            application_fee: None,
            application_fee_amount: None,
        },
    )?;
    Ok(transfer)
}

/// What earlier transfers already took from a source charge.
fn transferred_from(tx: &mut dyn Tx, ctx: &Ctx, charge: &str) -> Result<i64> {
    let request = docs::PageRequest {
        limit: 1_000,
        ..Default::default()
    };
    let page = docs::page(
        tx,
        &ctx.platform_scope(),
        &[TRANSFER],
        Some(charge),
        &request,
    )?;
    let mut total = 0;
    for doc in &page.docs {
        let transfer: Value = docs::from_json(doc)?;
        total += transfer["amount"].as_i64().unwrap_or(0)
            - transfer["amount_reversed"].as_i64().unwrap_or(0);
    }
    Ok(total)
}

pub fn load(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    ctx.require_platform("Transfers")?;
    let (_, transfer) = docs::load(tx, &ctx.scope, TRANSFER, "transfer", id)?;
    Ok(transfer)
}

pub fn update(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    description: Option<Option<String>>,
    change: MetadataChange,
) -> Result<Value> {
    ctx.require_platform("Transfers")?;
    let (_, mut transfer): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, TRANSFER, "transfer", id)?;
    let before = transfer.clone();
    if let Some(description) = description {
        transfer["description"] = json!(description);
    }
    metadata::apply_to_document(&mut transfer, change)?;
    docs::save(tx, id, &transfer)?;
    events::record_update(tx, ctx, "transfer.updated", &before, &transfer)?;
    Ok(transfer)
}

/// Reverses `amount` (all that is left when `None`) of a transfer: the destination gives it
/// back to the platform.
pub fn reverse(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    amount: Option<i64>,
    description: Option<String>,
    change: MetadataChange,
) -> Result<Value> {
    ctx.require_platform("Transfers")?;
    reverse_transfer(tx, ctx, id, amount, description, change, None)
}

/// `reverse`, also used by refunds with `reverse_transfer`, which name the refund as the
/// reversal's `source_refund`.
#[allow(clippy::too_many_arguments)]
pub fn reverse_transfer(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    amount: Option<i64>,
    description: Option<String>,
    change: MetadataChange,
    source_refund: Option<&str>,
) -> Result<Value> {
    let (_, mut transfer): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, TRANSFER, "transfer", id)?;
    let total = transfer["amount"].as_i64().unwrap_or(0);
    let reversed = transfer["amount_reversed"].as_i64().unwrap_or(0);
    let remaining = total - reversed;
    let amount = amount.unwrap_or(remaining);
    if amount < 1 {
        return Err(Error::invalid_param("amount", "Invalid positive integer")
            .code("parameter_invalid_integer"));
    }
    if amount > remaining {
        return Err(Error::invalid_param(
            "amount",
            format!("Transfer reversal amount ({amount}) is greater than the amount that remains on the transfer ({remaining})."),
        ));
    }
    let currency = transfer["currency"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let destination = transfer["destination"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reversal_id = ids::new_id("trr");
    let payment_refund_id = ids::new_id("pyr");
    let mut movement = Movement::new(ctx, &currency);
    let platform = ctx.scope.platform.clone();
    let reversal_txn = movement.account(
        ctx,
        Entry {
            account: &platform,
            txn_type: "transfer_refund",
            amount,
            fee_details: Vec::new(),
            source: Some(&reversal_id),
            available_on: ctx.now,
            description: None,
            payout: None,
        },
    );
    let payment_refund_txn = movement.account(
        ctx,
        Entry {
            account: &destination,
            txn_type: "payment_refund",
            amount: -amount,
            fee_details: Vec::new(),
            source: Some(&payment_refund_id),
            available_on: ctx.now,
            description: None,
            payout: None,
        },
    );
    movement.commit(tx, ctx)?;
    let mut meta = Metadata::new();
    metadata::apply(&mut meta, change)?;
    let reversal = json!({
        "id": reversal_id,
        "object": TRANSFER_REVERSAL,
        "amount": amount,
        "balance_transaction": reversal_txn,
        "created": ctx.now,
        "currency": currency,
        "description": description,
        "destination_payment_refund": payment_refund_id,
        "metadata": meta,
        "source_refund": source_refund,
        "transfer": id
    });
    let scope = ctx.platform_scope();
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &reversal_id,
            object: TRANSFER_REVERSAL,
            scope: &scope,
            parent: Some(id),
        },
        &reversal,
    )?;
    // The destination sees the reversal as a refund of its payment (`pyr_`).
    let payment_refund = json!({
        "id": payment_refund_id,
        "object": REFUND,
        "amount": amount,
        "balance_transaction": payment_refund_txn,
        "charge": transfer["destination_payment"],
        "created": ctx.now,
        "currency": transfer["currency"],
        "metadata": {},
        "payment_intent": null,
        "reason": null,
        "receipt_number": null,
        "source_transfer_reversal": reversal_id,
        "status": "succeeded",
        "transfer_reversal": null
    });
    let destination_scope = Scope {
        platform: ctx.scope.platform.clone(),
        account: destination.clone(),
        livemode: ctx.scope.livemode,
    };
    let charge_of_refund = transfer["destination_payment"].as_str().map(str::to_string);
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &payment_refund_id,
            object: REFUND,
            scope: &destination_scope,
            parent: charge_of_refund.as_deref(),
        },
        &payment_refund,
    )?;
    transfer["amount_reversed"] = Value::from(reversed + amount);
    transfer["reversed"] = Value::Bool(reversed + amount == total);
    docs::save(tx, id, &transfer)?;
    let platform = ctx.scope.platform.as_str();
    events::record_in(
        tx,
        ctx,
        Some(platform),
        "transfer.reversed",
        &transfer,
        None,
    )?;
    Ok(reversal)
}

/// The transfer as shown: its nested `reversals` list filled in.
pub fn render(tx: &mut dyn Tx, ctx: &Ctx, mut transfer: Value) -> Result<Value> {
    let id = transfer["id"].as_str().unwrap_or_default().to_string();
    let request = docs::PageRequest {
        limit: 10,
        ..Default::default()
    };
    let page = docs::page(
        tx,
        &ctx.platform_scope(),
        &[TRANSFER_REVERSAL],
        Some(&id),
        &request,
    )?;
    let data: Vec<Value> = page
        .docs
        .iter()
        .map(docs::from_json)
        .collect::<Result<_>>()?;
    transfer["reversals"] = json!({
        "object": "list",
        "data": data,
        "has_more": page.has_more,
        "total_count": data.len(),
        "url": format!("/v1/transfers/{id}/reversals")
    });
    Ok(transfer)
}

pub fn load_reversal(tx: &mut dyn Tx, ctx: &Ctx, transfer: &str, id: &str) -> Result<Value> {
    ctx.require_platform("Transfers")?;
    let (doc, reversal): (_, Value) =
        docs::load(tx, &ctx.scope, TRANSFER_REVERSAL, "transfer reversal", id)?;
    if doc.parent.as_deref() != Some(transfer) {
        return Err(Error::no_such("transfer reversal", id));
    }
    Ok(reversal)
}

pub fn update_reversal(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    transfer: &str,
    id: &str,
    change: MetadataChange,
) -> Result<Value> {
    let mut reversal = load_reversal(tx, ctx, transfer, id)?;
    metadata::apply_to_document(&mut reversal, change)?;
    docs::save(tx, id, &reversal)?;
    Ok(reversal)
}
