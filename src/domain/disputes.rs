//! Disputes (`du_`): a cardholder contests a charge with their bank. A dispute lives in the
//! scope of the account that owns the charge (the platform for its own and destination charges,
//! the connected account for its direct charges), and that account's balance bears it.
//!
//! A chargeback withdraws the disputed amount and the dispute fee at once, in one `adjustment`
//! balance transaction (fee_details: the `stripe_fee` "Dispute fee"); the card network gets the
//! amount back and the operator keeps the fee. Winning reinstates both with a second `adjustment`.
//! An inquiry (`warning_*` statuses) moves no money unless it is escalated to a chargeback.
//!
//! Test mode, as Stripe documents it: the dispute test cards open a dispute as soon as the charge
//! is captured, and `evidence[uncategorized_text]` decides the outcome when evidence is submitted:
//! `winning_evidence` wins, `losing_evidence` loses, `escalate_inquiry_evidence` turns an inquiry
//! into a chargeback; anything else leaves the dispute under review. Stripe settles these a few
//! seconds later; Sluice settles them in the submitting request.

use serde_json::{json, Map, Value};

use super::docs::{self, NewDoc};
use super::ledger::{self, operator, BalanceTransaction, Entry, FeeDetail, Movement};
use super::metadata::{self, MetadataChange};
use super::objects::{BALANCE_TRANSACTION, CHARGE, DISPUTE};
use super::{events, Ctx, Error, ErrorKind, Result};
use crate::ids;
use crate::store::Tx;

/// Every evidence field of Stripe's `dispute.evidence` (and of the update's `evidence[...]`).
pub const EVIDENCE_FIELDS: &[&str] = &[
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
];

/// Stripe's test-mode evidence values (`evidence[uncategorized_text]`).
pub const WINNING_EVIDENCE: &str = "winning_evidence";
pub const LOSING_EVIDENCE: &str = "losing_evidence";
pub const ESCALATE_INQUIRY_EVIDENCE: &str = "escalate_inquiry_evidence";

/// Days the owner has to respond; the deadline is the end of that day (UTC), as Stripe shows it.
pub const RESPONSE_DAYS: i64 = 7;

/// True while a chargeback holds the charge's funds (open or lost): a refund must be refused
/// (`charge_disputed`). An inquiry, or a dispute the owner won, leaves the charge refundable, as
/// on Stripe. Reads the charge document as stored (its `disputed` flag and Sluice's note of
/// whether the dispute still allows refunds); without that note a disputed charge counts as
/// charged back.
pub fn is_disputed(charge: &Value) -> bool {
    charge["disputed"] == true && charge["_sluice"]["dispute_refundable"] != true
}

/// Stripe's answer to a refund of a charged-back charge.
pub fn charged_back(charge_id: &str) -> Error {
    Error::invalid(format!(
        "Charge {charge_id} has been charged back; cannot issue a refund."
    ))
    .code("charge_disputed")
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

fn closed(status: &str) -> bool {
    matches!(status, "won" | "lost" | "warning_closed")
}

fn is_inquiry_status(status: &str) -> bool {
    status.starts_with("warning_")
}

fn dispute_fee_detail(amount: i64, currency: &str) -> FeeDetail {
    FeeDetail {
        amount,
        application: None,
        currency: currency.to_string(),
        description: "Dispute fee".into(),
        fee_type: "stripe_fee".into(),
    }
}

/// Opens the dispute a test card asks for on a charge that was just captured: the charge is in
/// `ctx.scope`, whose account bears the dispute.
pub fn open(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    charge_id: &str,
    reason: &str,
    inquiry: bool,
) -> Result<()> {
    let (_, mut charge): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, CHARGE, "charge", charge_id)?;
    let amount =
        charge["amount"].as_i64().unwrap_or(0) - charge["amount_refunded"].as_i64().unwrap_or(0);
    let currency = text(&charge["currency"]);
    let id = ids::new_id("du");
    let due_by = ledger::available_on(ctx.now, RESPONSE_DAYS + 1) - 1;
    let evidence: Map<String, Value> = EVIDENCE_FIELDS
        .iter()
        .map(|field| (field.to_string(), Value::Null))
        .collect();
    let mut dispute = json!({
        "id": id,
        "object": DISPUTE,
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id,
        "created": ctx.now,
        "currency": currency,
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": due_by,
            "has_evidence": false,
            "past_due": false,
            "submission_count": 0
        },
        "is_charge_refundable": inquiry,
        "livemode": ctx.scope.livemode,
        "metadata": {},
        "network_reason_code": null,
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": charge["payment_method_details"]["card"]["brand"],
                "network_reason_code": null
            },
            "type": "card"
        },
        "reason": reason,
        "status": if inquiry { "warning_needs_response" } else { "needs_response" },
        "_sluice": {"fee": 0}
    });
    if !inquiry {
        withdraw(tx, ctx, &mut dispute)?;
    }
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &id,
            object: DISPUTE,
            scope: &ctx.scope,
            parent: None,
        },
        &dispute,
    )?;
    events::record(tx, ctx, "charge.dispute.created", &dispute)?;
    if !inquiry {
        events::record(tx, ctx, "charge.dispute.funds_withdrawn", &dispute)?;
    }
    charge["disputed"] = Value::Bool(true);
    charge["_sluice"]["dispute"] = Value::from(id.as_str());
    charge["_sluice"]["dispute_refundable"] = Value::Bool(inquiry);
    docs::save(tx, charge_id, &charge)
}

/// The balance transaction a movement just wrote, as stored.
fn stored_balance_transaction(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<BalanceTransaction> {
    match docs::find(tx, &ctx.scope, BALANCE_TRANSACTION, id)? {
        Some(doc) => docs::from_json(&doc),
        None => Err(Error::new(
            ErrorKind::Internal,
            "An internal error occurred: a dispute's balance transaction is missing.",
        )),
    }
}

fn push_balance_transaction(dispute: &mut Value, txn: &BalanceTransaction) -> Result<()> {
    let value =
        serde_json::to_value(txn).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    if let Some(list) = dispute["balance_transactions"].as_array_mut() {
        list.push(value);
    }
    Ok(())
}

/// Chargeback: takes the disputed amount and the dispute fee from the owner's balance at once.
fn withdraw(tx: &mut dyn Tx, ctx: &Ctx, dispute: &mut Value) -> Result<()> {
    let id = text(&dispute["id"]);
    let charge_id = text(&dispute["charge"]);
    let currency = text(&dispute["currency"]);
    let amount = dispute["amount"].as_i64().unwrap_or(0);
    let fee = ctx.pricing.dispute_fee(&currency);
    let owner = ctx.scope.account.clone();
    let mut movement = Movement::new(ctx, &currency);
    let txn = movement.account(
        ctx,
        Entry {
            account: &owner,
            txn_type: "adjustment",
            amount: -amount,
            fee_details: vec![dispute_fee_detail(fee, &currency)],
            source: Some(&id),
            available_on: ctx.now,
            description: Some(format!("Chargeback withdrawal for {charge_id}")),
            payout: None,
        },
    );
    movement.operator(operator::CARD_NETWORK, amount);
    movement.operator(operator::DISPUTE_FEES, fee);
    movement.commit(tx, ctx)?;
    let stored = stored_balance_transaction(tx, ctx, &txn)?;
    push_balance_transaction(dispute, &stored)?;
    dispute["_sluice"]["fee"] = Value::from(fee);
    Ok(())
}

/// A won chargeback: gives the owner back the amount and the fee that `withdraw` took.
fn reinstate(tx: &mut dyn Tx, ctx: &Ctx, dispute: &mut Value) -> Result<()> {
    let id = text(&dispute["id"]);
    let charge_id = text(&dispute["charge"]);
    let currency = text(&dispute["currency"]);
    let amount = dispute["amount"].as_i64().unwrap_or(0);
    let fee = dispute["_sluice"]["fee"].as_i64().unwrap_or(0);
    let owner = ctx.scope.account.clone();
    let mut movement = Movement::new(ctx, &currency);
    let txn = movement.account(
        ctx,
        Entry {
            account: &owner,
            txn_type: "adjustment",
            amount,
            fee_details: vec![dispute_fee_detail(-fee, &currency)],
            source: Some(&id),
            available_on: ctx.now,
            description: Some(format!("Chargeback reversal for {charge_id}")),
            payout: None,
        },
    );
    movement.operator(operator::CARD_NETWORK, -amount);
    movement.operator(operator::DISPUTE_FEES, -fee);
    movement.commit(tx, ctx)?;
    // The ledger names every `adjustment` a `dispute`; Stripe reports a reinstatement as a
    // `dispute_reversal`. Only the reporting category changes: amounts stay as posted.
    let mut stored = stored_balance_transaction(tx, ctx, &txn)?;
    stored.reporting_category = "dispute_reversal".into();
    docs::save(tx, &txn, &stored)?;
    push_balance_transaction(dispute, &stored)
}

/// Marks the charge refundable again (a won dispute) or not (an escalated inquiry).
fn set_charge_refundable(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    charge_id: &str,
    refundable: bool,
) -> Result<()> {
    let (_, mut charge): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, CHARGE, "charge", charge_id)?;
    charge["_sluice"]["dispute_refundable"] = Value::Bool(refundable);
    docs::save(tx, charge_id, &charge)
}

/// The dispute as shown (private parts removed).
pub fn public(mut dispute: Value) -> Value {
    super::docs::strip_private(&mut dispute);
    dispute
}

pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, dispute) = docs::load(tx, &ctx.scope, DISPUTE, "dispute", id)?;
    Ok(public(dispute))
}

/// What `POST /v1/disputes/{id}` asks for.
#[derive(Debug, Clone, Default)]
pub struct DisputeUpdate {
    /// Evidence fields to set (`null` unsets one).
    pub evidence: Option<Map<String, Value>>,
    pub metadata: MetadataChange,
    /// `submit`; Stripe's default is `true`.
    pub submit: Option<bool>,
}

fn already_closed(dispute: &Value) -> Error {
    let id = text(&dispute["id"]);
    let status = text(&dispute["status"]);
    Error::invalid(format!(
        "This dispute ({id}) is already closed (status {status}): its evidence can no longer be changed or submitted."
    ))
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, change: DisputeUpdate) -> Result<Value> {
    let (_, mut dispute): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, DISPUTE, "dispute", id)?;
    let before = dispute.clone();
    let status = text(&dispute["status"]);
    // Submitting is the default, but a request without evidence (metadata only) submits
    // nothing unless it says `submit=true`.
    let submit = change.submit.unwrap_or(change.evidence.is_some());
    if closed(&status) && (change.evidence.is_some() || change.submit == Some(true)) {
        return Err(already_closed(&dispute));
    }
    if let Some(evidence) = change.evidence {
        for (field, value) in evidence {
            dispute["evidence"][field] = value;
        }
        let has_evidence = dispute["evidence"]
            .as_object()
            .is_some_and(|fields| fields.values().any(|value| !value.is_null()));
        dispute["evidence_details"]["has_evidence"] = Value::Bool(has_evidence);
    }
    metadata::apply_to_document(&mut dispute, change.metadata)?;
    if submit && !closed(&status) {
        submit_evidence(tx, ctx, &mut dispute)?;
    }
    docs::save(tx, id, &dispute)?;
    events::record_update(tx, ctx, "charge.dispute.updated", &before, &dispute)?;
    let now = text(&dispute["status"]);
    if is_inquiry_status(&status) && now == "needs_response" {
        events::record(tx, ctx, "charge.dispute.funds_withdrawn", &dispute)?;
    }
    if now == "won" {
        events::record(tx, ctx, "charge.dispute.funds_reinstated", &dispute)?;
    }
    if closed(&now) && !closed(&status) {
        events::record(tx, ctx, "charge.dispute.closed", &dispute)?;
    }
    Ok(public(dispute))
}

/// Sends the staged evidence to the (simulated) issuer, which decides at once in test mode.
fn submit_evidence(tx: &mut dyn Tx, ctx: &Ctx, dispute: &mut Value) -> Result<()> {
    let details = &mut dispute["evidence_details"];
    let count = details["submission_count"].as_i64().unwrap_or(0);
    details["submission_count"] = Value::from(count + 1);
    let due_by = details["due_by"].as_i64().unwrap_or(i64::MAX);
    details["past_due"] = Value::Bool(ctx.now > due_by);
    let charge_id = text(&dispute["charge"]);
    let inquiry = is_inquiry_status(dispute["status"].as_str().unwrap_or_default());
    let verdict = dispute["evidence"]["uncategorized_text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let status = match (inquiry, verdict.as_str()) {
        (true, WINNING_EVIDENCE | LOSING_EVIDENCE) => "warning_closed",
        (true, ESCALATE_INQUIRY_EVIDENCE) => {
            withdraw(tx, ctx, dispute)?;
            dispute["is_charge_refundable"] = Value::Bool(false);
            set_charge_refundable(tx, ctx, &charge_id, false)?;
            "needs_response"
        }
        (true, _) => "warning_under_review",
        (false, WINNING_EVIDENCE) => {
            reinstate(tx, ctx, dispute)?;
            set_charge_refundable(tx, ctx, &charge_id, true)?;
            "won"
        }
        (false, LOSING_EVIDENCE) => "lost",
        (false, _) => "under_review",
    };
    dispute["status"] = Value::from(status);
    Ok(())
}

/// `POST /v1/disputes/{id}/close`: the owner accepts the dispute. A chargeback is lost (its
/// funds stay withdrawn); an inquiry is closed without a chargeback.
pub fn close(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, mut dispute): (_, Value) =
        docs::load_for_update(tx, &ctx.scope, DISPUTE, "dispute", id)?;
    let status = text(&dispute["status"]);
    if closed(&status) {
        return Err(Error::invalid(format!(
            "This dispute ({id}) is already closed (status {status})."
        )));
    }
    let next = if is_inquiry_status(&status) {
        "warning_closed"
    } else {
        "lost"
    };
    dispute["status"] = Value::from(next);
    docs::save(tx, id, &dispute)?;
    events::record(tx, ctx, "charge.dispute.closed", &dispute)?;
    Ok(public(dispute))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_SECONDS: i64 = 86_400;

    #[test]
    fn a_chargeback_blocks_refunds_an_inquiry_does_not() {
        let plain = json!({"disputed": false, "_sluice": {}});
        assert!(!is_disputed(&plain));
        let chargeback = json!({"disputed": true, "_sluice": {"dispute_refundable": false}});
        assert!(is_disputed(&chargeback));
        let inquiry = json!({"disputed": true, "_sluice": {"dispute_refundable": true}});
        assert!(!is_disputed(&inquiry));
        // Shown without Sluice's notes, a disputed charge counts as charged back.
        assert!(is_disputed(&json!({"disputed": true})));
        let error = charged_back("ch_1");
        assert_eq!(error.code, Some("charge_disputed"));
        assert_eq!(error.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn statuses() {
        for status in ["won", "lost", "warning_closed"] {
            assert!(closed(status), "{status}");
        }
        for status in [
            "needs_response",
            "under_review",
            "warning_needs_response",
            "warning_under_review",
        ] {
            assert!(!closed(status), "{status}");
        }
        assert!(is_inquiry_status("warning_under_review"));
        assert!(!is_inquiry_status("needs_response"));
    }

    #[test]
    fn the_dispute_fee_is_a_stripe_fee() {
        let detail = dispute_fee_detail(1500, "usd");
        assert_eq!(detail.fee_type, "stripe_fee");
        assert_eq!(detail.description, "Dispute fee");
        assert_eq!(detail.amount, 1500);
    }

    #[test]
    fn evidence_has_every_stripe_field_once() {
        let mut fields = EVIDENCE_FIELDS.to_vec();
        fields.sort_unstable();
        fields.dedup();
        assert_eq!(fields.len(), 27);
        assert_eq!(fields, EVIDENCE_FIELDS, "kept in alphabetical order");
    }

    #[test]
    fn the_deadline_is_the_end_of_a_day_a_week_out() {
        let now = 1_700_000_123;
        let due_by = ledger::available_on(now, RESPONSE_DAYS + 1) - 1;
        assert_eq!((due_by + 1) % DAY_SECONDS, 0);
        assert!(due_by >= now + RESPONSE_DAYS * DAY_SECONDS);
        assert!(due_by < now + (RESPONSE_DAYS + 1) * DAY_SECONDS);
    }
}
