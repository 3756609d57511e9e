//! Refunds: money back to the customer from the account that owns the charge, with Stripe's
//! Connect options: `reverse_transfer` pulls the refunded share back from a destination
//! charge's connected account, `refund_application_fee` gives back the platform's share of its
//! fee, both proportionally to the refunded amount.

use serde_json::{json, Value};

use super::cards::Behaviour;
use super::docs::{self, NewDoc};
use super::ledger::{operator, Entry, Movement};
use super::metadata::{self, Metadata, MetadataChange};
use super::money::proportion;
use super::objects::{CHARGE, PAYMENT_INTENT, REFUND};
use super::{application_fees, disputes, events, payment_methods, transfers, Ctx, Error, Result};
use crate::ids;
use crate::store::Tx;

#[derive(Debug, Clone, Default)]
pub struct RefundRequest {
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub metadata: MetadataChange,
    pub refund_application_fee: bool,
    pub reverse_transfer: bool,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// The charge a refund names, directly or through its PaymentIntent.
fn charge_of(tx: &mut dyn Tx, ctx: &Ctx, request: &RefundRequest) -> Result<String> {
    match (&request.charge, &request.payment_intent) {
        (Some(_), Some(_)) => Err(Error::invalid_param("payment_intent", "You may only specify one of these parameters: charge, payment_intent.")),
        (Some(charge), None) => Ok(charge.clone()),
        (None, Some(intent)) => {
            let (_, intent): (_, Value) = docs::load(tx, &ctx.scope, PAYMENT_INTENT, "payment_intent", intent)
                .map_err(|e| e.param("payment_intent"))?;
            match intent["latest_charge"].as_str() {
                Some(charge) if intent["status"] == "succeeded" => Ok(charge.to_string()),
                _ => Err(Error::invalid_param(
                    "payment_intent",
                    format!("This PaymentIntent ({}) does not have a successful charge to refund.", text(&intent["id"])),
                )),
            }
        }
        (None, None) => Err(Error::invalid("One of the following params should be provided for this request: payment_intent or charge.").code("parameter_missing")),
    }
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, request: RefundRequest) -> Result<Value> {
    let charge_id = charge_of(tx, ctx, &request)?;
    let (_, mut charge): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, CHARGE, "charge", &charge_id).map_err(|e| {
            if request.charge.is_some() {
                e.param("charge")
            } else {
                e
            }
        })?;
    // Inquiries may still be refunded; a chargeback holding the funds may not.
    if disputes::is_disputed(&charge) {
        return Err(disputes::charged_back(&charge_id));
    }
    if charge["captured"] != true {
        return Err(Error::invalid_param(
            "charge",
            format!("Charge {charge_id} has not been captured: cancel its PaymentIntent instead."),
        ));
    }
    let captured = charge["amount_captured"].as_i64().unwrap_or(0);
    let already = charge["_sluice"]["refunded"].as_i64().unwrap_or(0);
    let remaining = captured - already;
    if remaining <= 0 {
        return Err(Error::invalid_param(
            "charge",
            format!("Charge {charge_id} has already been refunded."),
        )
        .code("charge_already_refunded"));
    }
    let amount = request.amount.unwrap_or(remaining);
    if amount < 1 {
        return Err(Error::invalid_param("amount", "Invalid positive integer")
            .code("parameter_invalid_integer"));
    }
    if amount > remaining {
        return Err(Error::invalid_param(
            "amount",
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"),
        ));
    }
    let transfer = charge["transfer"].as_str().map(str::to_string);
    if request.reverse_transfer && transfer.is_none() {
        return Err(Error::invalid_param("reverse_transfer", "This charge has no transfer to reverse: reverse_transfer applies to destination charges."));
    }
    let currency = text(&charge["currency"]);
    let owner = ctx.scope.account.clone();
    let refund_id = ids::new_id("re");
    let behaviour = match charge["payment_method"].as_str() {
        Some(pm) => payment_methods::load(tx, ctx, pm)
            .map(|pm| payment_methods::behaviour(&pm))
            .unwrap_or(Behaviour::Succeed),
        None => Behaviour::Succeed,
    };

    let mut movement = Movement::new(ctx, &currency);
    movement.operator(operator::CARD_NETWORK, amount);
    let refund_txn = movement.account(
        ctx,
        Entry {
            account: &owner,
            txn_type: "refund",
            amount: -amount,
            fee_details: Vec::new(),
            source: Some(&refund_id),
            available_on: ctx.now,
            description: request
                .reason
                .as_ref()
                .map(|reason| format!("REFUND FOR CHARGE ({reason})")),
            payout: None,
        },
    );
    // A card whose refunds fail: the refund is answered as succeeded, then fails, and the
    // money comes back (Stripe does this asynchronously; here it lands in the same commit).
    let failure_txn = (behaviour == Behaviour::RefundFailsLater).then(|| {
        movement.operator(operator::CARD_NETWORK, -amount);
        movement.account(
            ctx,
            Entry {
                account: &owner,
                txn_type: "refund_failure",
                amount,
                fee_details: Vec::new(),
                source: Some(&refund_id),
                available_on: ctx.now,
                description: Some("REFUND FAILURE".into()),
                payout: None,
            },
        )
    });
    movement.commit(tx, ctx)?;

    let mut transfer_reversal = Value::Null;
    if let (true, Some(transfer)) = (request.reverse_transfer, &transfer) {
        let transferred = charge["transfer_data"]["amount"]
            .as_i64()
            .unwrap_or(captured);
        let share = proportion(transferred, amount, captured);
        if share > 0 {
            let reversal = transfers::reverse_transfer(
                tx,
                ctx,
                transfer,
                Some(share),
                None,
                MetadataChange::Keep,
                Some(&refund_id),
            )?;
            transfer_reversal = reversal["id"].clone();
        }
    }
    if request.refund_application_fee {
        if let Some(fee_id) = charge["application_fee"].as_str().map(str::to_string) {
            let fee_amount = charge["application_fee_amount"].as_i64().unwrap_or(0);
            let share = if amount == remaining && already == 0 {
                fee_amount
            } else {
                proportion(fee_amount, amount, captured)
            };
            let fee = application_fees::load_any(tx, ctx, &fee_id)?;
            let left =
                fee["amount"].as_i64().unwrap_or(0) - fee["amount_refunded"].as_i64().unwrap_or(0);
            let share = share.min(left);
            if share > 0 {
                application_fees::refund_fee(tx, ctx, &fee_id, Some(share), MetadataChange::Keep)?;
            }
        }
    }

    let mut meta = Metadata::new();
    metadata::apply(&mut meta, request.metadata)?;
    let failed = failure_txn.is_some();
    let mut refund = json!({
        "id": refund_id,
        "object": REFUND,
        "amount": amount,
        "balance_transaction": refund_txn,
        "charge": charge_id,
        "created": ctx.now,
        "currency": currency,
        "destination_details": {"card": {"reference": null, "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}, "type": "card"},
        "metadata": meta,
        "payment_intent": charge["payment_intent"],
        "reason": request.reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": if failed { "failed" } else if behaviour == Behaviour::RefundStaysPending { "pending" } else { "succeeded" },
        "transfer_reversal": transfer_reversal
    });
    if let Some(failure) = &failure_txn {
        refund["failure_balance_transaction"] = Value::from(failure.as_str());
        refund["failure_reason"] = Value::from("expired_or_canceled_card");
    }
    let parent = charge_id.clone();
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &refund_id,
            object: REFUND,
            scope: &ctx.scope,
            parent: Some(&parent),
        },
        &refund,
    )?;
    events::record(tx, ctx, "refund.created", &refund)?;

    let refunded = already + if failed { 0 } else { amount };
    charge["_sluice"]["refunded"] = Value::from(refunded);
    let released = charge["amount"].as_i64().unwrap_or(0) - captured;
    charge["amount_refunded"] = Value::from(released + refunded);
    charge["refunded"] = Value::Bool(refunded == captured);
    let mut listed = charge["refunds"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    listed.insert(0, refund.clone());
    listed.truncate(10);
    let count = charge["refunds"]["total_count"].as_i64().unwrap_or(0) + 1;
    charge["refunds"] = json!({"object": "list", "data": listed, "has_more": count > 10, "total_count": count, "url": format!("/v1/charges/{charge_id}/refunds")});
    docs::save(tx, &charge_id, &charge)?;
    events::record(tx, ctx, "charge.refunded", &charge)?;
    if failed {
        // What the create call answers: the refund as it stood before its failure.
        refund["status"] = Value::from("succeeded");
        if let Some(fields) = refund.as_object_mut() {
            fields.remove("failure_balance_transaction");
            fields.remove("failure_reason");
        }
    }
    Ok(refund)
}

pub fn load(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, refund) = docs::load(tx, &ctx.scope, REFUND, "refund", id)?;
    Ok(refund)
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, change: MetadataChange) -> Result<Value> {
    let (_, mut refund): (_, Value) = docs::load_for_update(tx, &ctx.scope, REFUND, "refund", id)?;
    let before = refund.clone();
    metadata::apply_to_document(&mut refund, change)?;
    docs::save(tx, id, &refund)?;
    events::record_update(tx, ctx, "refund.updated", &before, &refund)?;
    Ok(refund)
}
