//! Application fees a platform collected, and their refunds (`fr_`), which give the fee back to
//! the connected account it came from.

use serde_json::{json, Value};

use super::docs::{self, NewDoc};
use super::ledger::{Entry, Movement};
use super::metadata::{self, Metadata, MetadataChange};
use super::objects::{APPLICATION_FEE, FEE_REFUND};
use super::{events, Ctx, Error, Result};
use crate::ids;
use crate::store::Tx;

pub fn load(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    ctx.require_platform("Application fees")?;
    let (_, fee) = docs::load(
        tx,
        &ctx.platform_scope(),
        APPLICATION_FEE,
        "application fee",
        id,
    )?;
    Ok(fee)
}

/// A fee of the caller's platform, from either side of the charge.
pub fn load_any(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, fee) = docs::load(
        tx,
        &ctx.platform_scope(),
        APPLICATION_FEE,
        "application fee",
        id,
    )?;
    Ok(fee)
}

/// The fee as shown: its nested `refunds` list filled in.
pub fn render(tx: &mut dyn Tx, ctx: &Ctx, mut fee: Value) -> Result<Value> {
    let id = fee["id"].as_str().unwrap_or_default().to_string();
    let request = docs::PageRequest {
        limit: 10,
        ..Default::default()
    };
    let page = docs::page(
        tx,
        &ctx.platform_scope(),
        &[FEE_REFUND],
        Some(&id),
        &request,
    )?;
    let data: Vec<Value> = page
        .docs
        .iter()
        .map(docs::from_json)
        .collect::<Result<_>>()?;
    fee["refunds"] = json!({
        "object": "list", "data": data, "has_more": page.has_more, "total_count": data.len(),
        "url": format!("/v1/application_fees/{id}/refunds")
    });
    Ok(fee)
}

/// Refunds `amount` (all that is left when `None`) of an application fee to its account.
pub fn refund(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    amount: Option<i64>,
    change: MetadataChange,
) -> Result<Value> {
    ctx.require_platform("Application fees")?;
    refund_fee(tx, ctx, id, amount, change)
}

/// `refund` for a charge refund's `refund_application_fee`, which a connected account's
/// direct-charge refund triggers too.
pub fn refund_fee(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    amount: Option<i64>,
    change: MetadataChange,
) -> Result<Value> {
    let (_, mut fee): (_, Value) = docs::load_for_update(
        tx,
        &ctx.platform_scope(),
        APPLICATION_FEE,
        "application fee",
        id,
    )?;
    let total = fee["amount"].as_i64().unwrap_or(0);
    let refunded = fee["amount_refunded"].as_i64().unwrap_or(0);
    let remaining = total - refunded;
    let amount = amount.unwrap_or(remaining);
    if amount < 1 || amount > remaining {
        return Err(Error::invalid_param(
            "amount",
            format!("Refund amount ({amount}) is greater than the unrefunded amount on the application fee ({remaining})."),
        ));
    }
    let currency = fee["currency"].as_str().unwrap_or_default().to_string();
    let account = fee["account"].as_str().unwrap_or_default().to_string();
    let platform = ctx.scope.platform.clone();
    let refund_id = ids::new_id("fr");
    let mut movement = Movement::new(ctx, &currency);
    let platform_txn = movement.account(
        ctx,
        Entry {
            account: &platform,
            txn_type: "application_fee_refund",
            amount: -amount,
            fee_details: Vec::new(),
            source: Some(&refund_id),
            available_on: ctx.now,
            description: None,
            payout: None,
        },
    );
    movement.account(
        ctx,
        Entry {
            account: &account,
            txn_type: "application_fee_refund",
            amount,
            fee_details: Vec::new(),
            source: Some(&refund_id),
            available_on: ctx.now,
            description: None,
            payout: None,
        },
    );
    movement.commit(tx, ctx)?;
    let mut meta = Metadata::new();
    metadata::apply(&mut meta, change)?;
    let refund = json!({
        "id": refund_id,
        "object": FEE_REFUND,
        "amount": amount,
        "balance_transaction": platform_txn,
        "created": ctx.now,
        "currency": currency,
        "fee": id,
        "metadata": meta
    });
    let scope = ctx.platform_scope();
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &refund_id,
            object: FEE_REFUND,
            scope: &scope,
            parent: Some(id),
        },
        &refund,
    )?;
    fee["amount_refunded"] = Value::from(refunded + amount);
    fee["refunded"] = Value::Bool(refunded + amount == total);
    docs::save(tx, id, &fee)?;
    let platform = ctx.scope.platform.as_str();
    events::record_in(
        tx,
        ctx,
        Some(platform),
        "application_fee.refunded",
        &fee,
        None,
    )?;
    Ok(refund)
}

pub fn load_refund(tx: &mut dyn Tx, ctx: &Ctx, fee: &str, id: &str) -> Result<Value> {
    ctx.require_platform("Application fees")?;
    let (doc, refund): (_, Value) =
        docs::load(tx, &ctx.platform_scope(), FEE_REFUND, "fee refund", id)?;
    if doc.parent.as_deref() != Some(fee) {
        return Err(Error::no_such("fee refund", id));
    }
    Ok(refund)
}

pub fn update_refund(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    fee: &str,
    id: &str,
    change: MetadataChange,
) -> Result<Value> {
    let mut refund = load_refund(tx, ctx, fee, id)?;
    let before = refund.clone();
    metadata::apply_to_document(&mut refund, change)?;
    docs::save(tx, id, &refund)?;
    let platform = Some(ctx.scope.platform.as_str());
    let event_type = "application_fee.refund.updated";
    events::record_update_in(tx, ctx, platform, event_type, &before, &refund)?;
    Ok(refund)
}
