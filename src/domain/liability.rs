//! Negative balances of connected accounts, and who carries them (`controller.losses.payments`).
//!
//! - `application`: the platform is liable. While an account's balance (available plus
//!   pending) is below zero, the platform holds as much of its own money in reserve
//!   (`connect_reserved`, one ledger account per connected account); the reserve is released as
//!   the account earns again. The account's balance itself stays negative until it earns,
//!   is debited, or the platform debits it.
//! - `stripe`: the operator is liable; at the account's next payout run whatever the account
//!   cannot repay (no bank debit allowed) is covered from the operator's loss account.

use std::collections::HashMap;
use std::sync::Mutex;

use super::accounts::Account;
use super::ledger::{self, operator, Entry, Movement};
use super::objects::ACCOUNT;
use super::{docs, Ctx, Result};
use crate::store::Tx;

/// Which platforms (per mode) may hold a Connect reserve. A credit to a connected account
/// looks up the account's reserve only on those: the lookup was a round trip per payment on
/// PostgreSQL, a tenth of what a payment cost there. A platform is marked before a reserve of
/// its is written and never unmarked, so an unmarked platform has no reserve in any
/// transaction of this process, committed or not. Debits always look (`rebalance`); a release a
/// credit skipped here would still come with the platform's next clock step
/// (`release_recovered`).
#[derive(Debug, Default)]
pub struct Reserves {
    /// Absent until looked up once in the store.
    platforms: Mutex<HashMap<(String, bool), bool>>,
}

impl Reserves {
    fn known(&self, key: &(String, bool)) -> Option<bool> {
        self.platforms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .copied()
    }

    fn note(&self, key: (String, bool), may_hold: bool) {
        let mut platforms = self
            .platforms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = platforms.entry(key).or_insert(may_hold);
        // A mark made while the store was being read wins over what the read found.
        *entry |= may_hold;
    }

    /// Whether the platform of `ctx` may hold a reserve.
    fn may_hold(&self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<bool> {
        let key = (ctx.scope.platform.clone(), ctx.scope.livemode);
        if let Some(known) = self.known(&key) {
            return Ok(known);
        }
        let prefix = ledger::reserve_prefix(&ctx.scope.platform);
        let held = !tx
            .ledger_totals_with_prefix(&prefix, ctx.scope.livemode)?
            .is_empty();
        self.note(key, held);
        Ok(held)
    }

    fn mark(&self, ctx: &Ctx) {
        self.note((ctx.scope.platform.clone(), ctx.scope.livemode), true);
    }
}

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
    ctx.reserves.mark(ctx);
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

/// After a credit: releases what the account no longer needs reserved (no lookup on a platform
/// that holds no reserve: the payment path's case).
pub fn after_credit(tx: &mut dyn Tx, ctx: &Ctx, account: &str, currency: &str) -> Result<()> {
    if !ctx.reserves.may_hold(tx, ctx)? {
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_marked_while_the_store_was_read_is_not_forgotten() {
        let reserves = Reserves::default();
        let key = ("acct_p".to_string(), false);
        assert_eq!(reserves.known(&key), None);
        reserves.note(key.clone(), true);
        // A lookup that began before the mark found none.
        reserves.note(key.clone(), false);
        assert_eq!(reserves.known(&key), Some(true));
        let other = ("acct_q".to_string(), false);
        reserves.note(other.clone(), false);
        assert_eq!(reserves.known(&other), Some(false));
    }
}
