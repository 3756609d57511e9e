//! Negative balances of connected accounts, and who carries them (`controller.losses.payments`).
//!
//! - `application`: the platform is liable. While an account's balance (available plus
//!   pending) is below zero, the platform holds as much of its own money in reserve
//!   (`connect_reserved`, one ledger account per connected account); the reserve is released as
//!   the account earns again. The account's balance itself stays negative until it earns,
//!   is debited, or the platform debits it.
//! - `stripe`: the operator is liable; at the account's next payout run whatever the account
//!   cannot repay (no bank debit allowed) is covered from the operator's loss account.

use super::accounts::Account;
use super::ledger::{self, operator, Entry, Movement};
use super::objects::ACCOUNT;
use super::{docs, Ctx, Result};
use crate::store::Tx;

/// An account's whole balance (available and pending) in `currency`.
pub fn total(tx: &mut dyn Tx, ctx: &Ctx, account: &str, currency: &str) -> Result<i64> {
    Ok(ledger::totals(tx, account, ctx.scope.livemode, ctx.now)?
        .into_iter()
        .find(|(code, _)| code == currency)
        .map(|(_, totals)| totals.available + totals.pending)
        .unwrap_or(0))
}

fn held(tx: &mut dyn Tx, ledger_account: &str, livemode: bool, currency: &str) -> Result<i64> {
    Ok(tx
        .balance(ledger_account, livemode)?
        .into_iter()
        .filter(|slice| slice.currency == currency)
        .map(|slice| slice.amount)
        .sum())
}

fn platform_liable(tx: &mut dyn Tx, ctx: &Ctx, account: &str) -> Result<bool> {
    let Some(doc) = tx.get(account)? else {
        return Ok(false);
    };
    if doc.object != ACCOUNT || doc.platform != ctx.scope.platform {
        return Ok(false);
    }
    let account: Account = docs::from_json(&doc)?;
    Ok(account.controller.losses.payments == "application")
}

/// Makes the platform's reserve for `account` equal to the account's negative balance in
/// `currency` (reserving more after a debit, releasing as the account earns).
pub fn rebalance(tx: &mut dyn Tx, ctx: &Ctx, account: &str, currency: &str) -> Result<()> {
    let reserve = ledger::reserve_account(&ctx.scope.platform, account);
    let reserved = held(tx, &reserve, ctx.scope.livemode, currency)?;
    let deficit = (-total(tx, ctx, account, currency)?).max(0);
    if deficit == reserved {
        return Ok(());
    }
    // Only a platform-liable account is ever reserved for; releasing needs no lookup.
    if deficit > reserved && !platform_liable(tx, ctx, account)? {
        return Ok(());
    }
    let change = deficit - reserved;
    let mut movement = Movement::new(ctx, currency);
    movement.account(
        ctx,
        Entry {
            account: &ctx.scope.platform,
            txn_type: "reserve_transaction",
            amount: -change,
            fee_details: Vec::new(),
            source: None,
            available_on: ctx.now,
            description: Some(if change > 0 {
                format!("Connect reserve for the negative balance of {account}")
            } else {
                format!("Connect reserve released: {account} earned again")
            }),
            payout: None,
        },
    );
    movement.operator_named(reserve, change);
    movement.commit(tx, ctx)
}

/// After a credit: releases what the account no longer needs reserved (one cheap lookup when
/// nothing is reserved, which is the payment path's case).
pub fn after_credit(tx: &mut dyn Tx, ctx: &Ctx, account: &str, currency: &str) -> Result<()> {
    let reserve = ledger::reserve_account(&ctx.scope.platform, account);
    if held(tx, &reserve, ctx.scope.livemode, currency)? == 0 {
        return Ok(());
    }
    rebalance(tx, ctx, account, currency)
}

/// Releases every reserve of the platform whose account has earned again (run by the
/// scheduler, so a reserve follows credits too without a lookup on every payment).
pub fn release_recovered(tx: &mut dyn Tx, ctx: &Ctx) -> Result<u64> {
    let prefix = ledger::reserve_prefix(&ctx.scope.platform);
    let mut changed = 0;
    for reserve in tx.ledger_totals_with_prefix(&prefix, ctx.scope.livemode)? {
        let account = &reserve.ledger_account[prefix.len()..];
        let deficit = (-total(tx, ctx, account, &reserve.currency)?).max(0);
        if deficit != reserve.amount {
            rebalance(tx, ctx, account, &reserve.currency)?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The operator covers what a `stripe`-liable account owes and cannot repay; returns the amount.
pub fn cover_by_operator(tx: &mut dyn Tx, ctx: &Ctx, account: &str, currency: &str) -> Result<i64> {
    let deficit = (-total(tx, ctx, account, currency)?).max(0);
    if deficit == 0 {
        return Ok(0);
    }
    let mut movement = Movement::new(ctx, currency);
    movement.operator(operator::LOSSES, -deficit);
    movement.account(
        ctx,
        Entry {
            account,
            txn_type: "adjustment",
            amount: deficit,
            fee_details: Vec::new(),
            source: None,
            available_on: ctx.now,
            description: Some("Negative balance covered by the operator".into()),
            payout: None,
        },
    );
    movement.commit(tx, ctx)?;
    Ok(deficit)
}
