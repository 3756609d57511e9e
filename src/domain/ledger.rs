//! The double-entry ledger. Every movement of money is one ledger transaction whose postings sum
//! to zero per currency. A Stripe account's balance is one ledger account (its id); each posting
//! carries `available_on`, so "pending" and "available" are the postings before and after now.
//! Balance transactions (`txn_`) are the account-visible view: each one's `net` is exactly its
//! posting, which `sluice ledger verify` checks.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::docs::{self, NewDoc};
use super::objects::BALANCE_TRANSACTION;
use super::{Ctx, Error, ErrorKind, Result};
use crate::ids;
use crate::store::{Posting, Scope, Tx};

/// Operator ledger accounts: where money comes from and goes to outside Stripe accounts.
pub mod operator {
    /// Card networks: customers' money enters here (negative: what the networks owe us).
    pub const CARD_NETWORK: &str = "operator:card_network";
    /// Processing fees the operator earned.
    pub const PROCESSING_FEES: &str = "operator:processing_fees";
    /// Dispute fees the operator charged.
    pub const DISPUTE_FEES: &str = "operator:dispute_fees";
    /// Payouts on their way to (or debits on their way from) external accounts.
    pub const PAYOUTS_IN_TRANSIT: &str = "operator:payouts_in_transit";
    /// Banks: what left through paid payouts (positive), or came in through debits (negative).
    pub const BANKS: &str = "operator:banks";
    /// Instant payout fees the operator earned.
    pub const INSTANT_PAYOUT_FEES: &str = "operator:instant_payout_fees";
    /// Connect fees (per account, per payout, on volume) platforms paid.
    pub const CONNECT_FEES: &str = "operator:connect_fees";
    /// Negative balances the operator covered for accounts it carries the losses of.
    pub const LOSSES: &str = "operator:losses";
}

/// The ledger account holding a platform's reserve for one connected account's negative
/// balance; the platform's `connect_reserved` is the sum of these.
pub fn reserve_account(platform: &str, account: &str) -> String {
    format!("{}{account}", reserve_prefix(platform))
}

pub fn reserve_prefix(platform: &str) -> String {
    format!("reserve:{platform}:")
}

const DAY_SECONDS: i64 = 86_400;

/// Midnight UTC `delay_days` after `now`: when funds captured at `now` become available.
pub fn available_on(now: i64, delay_days: i64) -> i64 {
    let day = (now + delay_days * DAY_SECONDS).div_euclid(DAY_SECONDS);
    day * DAY_SECONDS
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeDetail {
    pub amount: i64,
    pub application: Option<String>,
    pub currency: String,
    pub description: String,
    #[serde(rename = "type")]
    pub fee_type: String,
}

impl FeeDetail {
    pub fn stripe_fee(amount: i64, currency: &str) -> Self {
        FeeDetail {
            amount,
            application: None,
            currency: currency.to_string(),
            description: "Stripe processing fees".into(),
            fee_type: "stripe_fee".into(),
        }
    }

    pub fn application_fee(amount: i64, currency: &str, platform: &str) -> Self {
        FeeDetail {
            amount,
            application: Some(platform.to_string()),
            currency: currency.to_string(),
            description: "Application fee".into(),
            fee_type: "application_fee".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceTransaction {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub available_on: i64,
    pub created: i64,
    pub currency: String,
    pub description: Option<String>,
    pub exchange_rate: Option<f64>,
    pub fee: i64,
    pub fee_details: Vec<FeeDetail>,
    pub net: i64,
    pub reporting_category: String,
    pub source: Option<String>,
    pub status: String,
    #[serde(rename = "type")]
    pub txn_type: String,
    /// Which payout this transaction went out with (`?payout=` reconciliation).
    #[serde(rename = "_sluice", default, skip_serializing_if = "Sweep::is_empty")]
    pub sweep: Sweep,
}

/// A balance transaction's place in payouts: the payout that lists it, and whether an automatic
/// payout has already paid it out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swept: bool,
}

impl Sweep {
    pub fn is_empty(&self) -> bool {
        self.payout.is_none() && !self.swept
    }
}

impl BalanceTransaction {
    /// Stripe shows `available` once `available_on` has passed.
    pub fn refresh_status(&mut self, now: i64) {
        self.status = if self.available_on <= now {
            "available"
        } else {
            "pending"
        }
        .into();
    }
}

/// Stripe's reporting category for a balance transaction type.
fn reporting_category(txn_type: &str) -> &'static str {
    match txn_type {
        "charge" | "payment" => "charge",
        "refund" | "payment_refund" => "refund",
        "refund_failure" => "refund_failure",
        "application_fee" => "platform_earning",
        "application_fee_refund" => "platform_earning_refund",
        "transfer" => "transfer",
        "transfer_refund" => "transfer_reversal",
        "adjustment" => "dispute",
        "payout" => "payout",
        "payout_failure" | "payout_cancel" => "payout_reversal",
        "reserve_transaction" => "connect_reserved_funds",
        "stripe_fee" => "fee",
        _ => "other_adjustment",
    }
}

/// What a balance transaction records; `net` is `amount - fees`.
pub struct Entry<'a> {
    /// The account whose balance moves (a platform or a connected account).
    pub account: &'a str,
    pub txn_type: &'static str,
    pub amount: i64,
    pub fee_details: Vec<FeeDetail>,
    pub source: Option<&'a str>,
    pub available_on: i64,
    pub description: Option<String>,
    /// The payout this transaction belongs to, when it is a payout's own.
    pub payout: Option<&'a str>,
}

/// One ledger transaction being assembled; `commit` checks it balances and writes it.
pub struct Movement {
    id: String,
    currency: String,
    livemode: bool,
    created: i64,
    postings: Vec<Posting>,
    balance_transactions: Vec<(Scope, BalanceTransaction)>,
    /// Whether the connected accounts it posts to are noted as payout candidates (see
    /// `commit`); not when the payout run that makes it sets the account's candidate after it.
    marks_candidates: bool,
}

impl Movement {
    pub fn new(ctx: &Ctx, currency: &str) -> Self {
        Movement {
            id: ids::new_id("ltx"),
            currency: currency.to_string(),
            livemode: ctx.scope.livemode,
            created: ctx.now,
            postings: Vec::new(),
            balance_transactions: Vec::new(),
            marks_candidates: true,
        }
    }

    /// Moves money to or from an operator account (no balance transaction: nobody's view).
    pub fn operator(&mut self, ledger_account: &'static str, amount: i64) {
        self.postings.push(Posting {
            ledger_txn: self.id.clone(),
            balance_transaction: None,
            ledger_account: ledger_account.to_string(),
            livemode: self.livemode,
            currency: self.currency.clone(),
            amount,
            available_on: self.created,
            created: self.created,
        });
    }

    /// Moves money to or from a ledger account named at run time (a platform's reserve).
    pub fn operator_named(&mut self, ledger_account: String, amount: i64) {
        self.postings.push(Posting {
            ledger_txn: self.id.clone(),
            balance_transaction: None,
            ledger_account,
            livemode: self.livemode,
            currency: self.currency.clone(),
            amount,
            available_on: self.created,
            created: self.created,
        });
    }

    /// Moves money in or out of a Stripe account's balance, with the balance transaction that
    /// shows it; returns that balance transaction's id.
    pub fn account(&mut self, ctx: &Ctx, entry: Entry) -> String {
        let fee: i64 = entry.fee_details.iter().map(|detail| detail.amount).sum();
        let net = entry.amount - fee;
        let mut txn = BalanceTransaction {
            id: ids::new_id("txn"),
            object: BALANCE_TRANSACTION.into(),
            amount: entry.amount,
            available_on: entry.available_on,
            created: self.created,
            currency: self.currency.clone(),
            description: entry.description,
            exchange_rate: None,
            fee,
            fee_details: entry.fee_details,
            net,
            reporting_category: reporting_category(entry.txn_type).into(),
            source: entry.source.map(str::to_string),
            status: String::new(),
            txn_type: entry.txn_type.into(),
            sweep: Sweep {
                payout: entry.payout.map(str::to_string),
                swept: false,
            },
        };
        txn.refresh_status(ctx.now);
        self.postings.push(Posting {
            ledger_txn: self.id.clone(),
            balance_transaction: Some(txn.id.clone()),
            ledger_account: entry.account.to_string(),
            livemode: self.livemode,
            currency: self.currency.clone(),
            amount: net,
            available_on: entry.available_on,
            created: self.created,
        });
        let scope = Scope {
            platform: ctx.scope.platform.clone(),
            account: entry.account.to_string(),
            livemode: self.livemode,
        };
        let id = txn.id.clone();
        self.balance_transactions.push((scope, txn));
        id
    }

    /// Marks one of this movement's balance transactions as paid out already (an automatic
    /// payout's own), so that it is written once, in its final state.
    pub fn mark_swept(&mut self, balance_transaction: &str) {
        if let Some((_, txn)) = self
            .balance_transactions
            .iter_mut()
            .find(|(_, txn)| txn.id == balance_transaction)
        {
            txn.sweep.swept = true;
        }
    }

    /// The payout run making this movement sets the account's payout candidate itself, from
    /// everything it read: a mark noted here would only be overwritten (on PostgreSQL, a lock
    /// and a round trip per payout to write it first; or, written at the batch's end, it would
    /// bring the account up again the next day for nothing).
    pub fn leave_candidates_to_the_run(&mut self) {
        self.marks_candidates = false;
    }

    /// Checks the postings balance, then writes them and their balance transactions.
    pub fn commit(self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<()> {
        let total: i64 = self.postings.iter().map(|posting| posting.amount).sum();
        if total != 0 {
            // A bug, never a client mistake: refuse to write money that does not balance.
            tracing::error!(ledger_txn = %self.id, total, "unbalanced ledger transaction refused");
            return Err(Error::new(
                ErrorKind::Internal,
                "An internal error occurred: the movement did not balance.",
            ));
        }
        for (scope, txn) in &self.balance_transactions {
            let new = NewDoc {
                id: &txn.id,
                object: BALANCE_TRANSACTION,
                scope,
                parent: None,
            };
            docs::insert(tx, ctx, new, txn)?;
        }
        tx.post(&self.postings)?;
        // A debit may leave a connected account negative (the platform reserves for it at
        // once); a credit may let a reserve go. Either gives its payout schedule work.
        for (index, posting) in self.postings.iter().enumerate() {
            let connected = posting.ledger_account.starts_with("acct_")
                && posting.ledger_account != ctx.scope.platform;
            if !connected || posting.amount == 0 {
                continue;
            }
            let first_for_account = !self.postings[..index]
                .iter()
                .any(|earlier| earlier.ledger_account == posting.ledger_account);
            if first_for_account && self.marks_candidates {
                let since = self
                    .postings
                    .iter()
                    .filter(|other| other.ledger_account == posting.ledger_account)
                    .map(|other| other.available_on)
                    .min()
                    .unwrap_or(posting.available_on);
                tx.payout_candidate_mark(
                    &ctx.scope.platform,
                    self.livemode,
                    &posting.ledger_account,
                    since,
                )?;
            }
            if posting.amount < 0 {
                super::liability::rebalance(tx, ctx, &posting.ledger_account, &self.currency)?;
            } else {
                super::liability::after_credit(tx, ctx, &posting.ledger_account, &self.currency)?;
            }
        }
        Ok(())
    }
}

/// Amounts of one currency in a balance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub available: i64,
    pub pending: i64,
}

/// An account's balance per currency at `now`.
pub fn totals(
    tx: &mut dyn Tx,
    ledger_account: &str,
    livemode: bool,
    now: i64,
) -> Result<Vec<(String, Totals)>> {
    let mut out: Vec<(String, Totals)> = Vec::new();
    for slice in tx.balance(ledger_account, livemode)? {
        let index = match out
            .iter()
            .position(|(currency, _)| *currency == slice.currency)
        {
            Some(index) => index,
            None => {
                out.push((slice.currency.clone(), Totals::default()));
                out.len() - 1
            }
        };
        if slice.available_on <= now {
            out[index].1.available += slice.amount;
        } else {
            out[index].1.pending += slice.amount;
        }
    }
    Ok(out)
}

/// What an account may spend now in `currency`.
pub fn available(
    tx: &mut dyn Tx,
    ledger_account: &str,
    livemode: bool,
    currency: &str,
    now: i64,
) -> Result<i64> {
    Ok(totals(tx, ledger_account, livemode, now)?
        .into_iter()
        .find(|(code, _)| code == currency)
        .map(|(_, totals)| totals.available)
        .unwrap_or(0))
}

/// `/v1/balance` for the account `ctx` acts in.
pub fn balance(tx: &mut dyn Tx, ctx: &Ctx, default_currency: &str) -> Result<Value> {
    let mut totals = totals(tx, &ctx.scope.account, ctx.scope.livemode, ctx.now)?;
    if !totals
        .iter()
        .any(|(currency, _)| currency == default_currency)
    {
        totals.insert(0, (default_currency.to_string(), Totals::default()));
    }
    let amounts = |pick: fn(&Totals) -> i64| -> Vec<Value> {
        totals
            .iter()
            .map(|(currency, t)| serde_json::json!({"amount": pick(t), "currency": currency, "source_types": {"card": pick(t)}}))
            .collect()
    };
    let mut balance = serde_json::json!({
        "object": "balance",
        "available": amounts(|t| t.available),
        "livemode": ctx.scope.livemode,
        "pending": amounts(|t| t.pending),
    });
    if !ctx.connected {
        let held =
            tx.ledger_totals_with_prefix(&reserve_prefix(&ctx.scope.platform), ctx.scope.livemode)?;
        let reserved: Vec<Value> = totals
            .iter()
            .map(|(currency, _)| {
                let amount: i64 = held
                    .iter()
                    .filter(|total| total.currency == *currency)
                    .map(|total| total.amount)
                    .sum();
                serde_json::json!({"amount": amount, "currency": currency, "source_types": {"card": amount}})
            })
            .collect();
        balance["connect_reserved"] = Value::Array(reserved);
    } else {
        // Stripe shows what an account could pay out instantly; Sluice pays instant payouts
        // from the available balance.
        balance["instant_available"] = Value::Array(amounts(|t| t.available.max(0)));
    }
    Ok(balance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_is_midnight_utc_after_the_delay() {
        let now = 1_700_000_123; // 2023-11-14T22:15:23Z
        assert_eq!(available_on(now, 2), 1_700_092_800); // 2023-11-16T00:00:00Z
        assert_eq!(available_on(now, 0) % DAY_SECONDS, 0);
    }
}
