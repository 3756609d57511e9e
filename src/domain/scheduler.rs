//! Work that falls due on a platform's clock: payout lifecycle timers, the payout schedules of
//! connected accounts (one run per day boundary, midnight UTC), and releasing Connect reserves
//! of accounts that earned again. Runs in steps of at most one day, each one command (on the
//! embedded store the next step is queued behind the running one, and two may share a commit),
//! in order: the clock advance runs them all before it answers; a background ticker runs them
//! on wall time.

use serde::Serialize;

use super::objects::ACCOUNT;
use super::payouts::Payee;
use super::{clock, docs, events, ledger, liability, payouts, Ctx, Result};
use crate::store::{Tx, NOTHING_DUE};

const DAY_SECONDS: i64 = 86_400;
/// Timers and accounts read per query.
const BATCH: usize = 1_000;

/// What a run did (the clock advance reports it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub steps: u64,
    pub timers_run: u64,
    pub payout_days: u64,
    pub payouts_created: u64,
    pub negative_balances_covered: u64,
    pub reserves_changed: u64,
    pub balances_available: u64,
}

impl Report {
    pub fn add(&mut self, other: &Report) {
        self.steps += other.steps;
        self.timers_run += other.timers_run;
        self.payout_days += other.payout_days;
        self.payouts_created += other.payouts_created;
        self.negative_balances_covered += other.negative_balances_covered;
        self.reserves_changed += other.reserves_changed;
        self.balances_available += other.balances_available;
    }
}

/// Runs what falls due after the last run, up to the next day boundary or `up_to`, whichever
/// comes first. Returns whether more remains before `up_to`. `base` is any context of the
/// platform (its pricing and scope).
pub fn step(tx: &mut dyn Tx, base: &Ctx, up_to: i64, report: &mut Report) -> Result<bool> {
    let platform = base.scope.platform.clone();
    let livemode = base.scope.livemode;
    let mut state = clock::load(tx, &platform, livemode, true)?;
    if state.processed_through.is_some_and(|done| done >= up_to) {
        // A step queued behind the one that finished the run (`catch_up` keeps one waiting).
        return Ok(false);
    }
    let from = state.processed_through.unwrap_or(up_to);
    let boundary = (from.div_euclid(DAY_SECONDS) + 1) * DAY_SECONDS;
    let end = boundary.min(up_to).max(from);
    report.steps += 1;
    let mut arrivals = payouts::Arrivals::default();
    loop {
        let due = tx.timers_due(&platform, livemode, end, BATCH)?;
        if due.is_empty() {
            break;
        }
        for timer in &due {
            let ctx = Ctx::system(base, &platform, timer.due_at.max(from));
            payouts::run_timer(tx, &ctx, timer, &mut arrivals)?;
            report.timers_run += 1;
        }
        let ran: Vec<i64> = due.iter().map(|timer| timer.id).collect();
        tx.timers_remove(&ran)?;
    }
    arrivals.post(tx, &Ctx::system(base, &platform, end))?;
    if end > from {
        announce_available(tx, base, from, end, report)?;
    }
    if end == boundary && end > from {
        pay_out_day(tx, base, end, report)?;
    }
    let ctx = Ctx::system(base, &platform, end);
    report.reserves_changed += liability::release_recovered(tx, &ctx)?;
    state.processed_through = Some(end);
    clock::save(tx, &ctx, &platform, &state)?;
    Ok(end < up_to)
}

/// `balance.available` for each of the platform's accounts (itself included) whose funds became
/// available in `(from, end]`, with the balance as it is at `end`.
fn announce_available(
    tx: &mut dyn Tx,
    base: &Ctx,
    from: i64,
    end: i64,
    report: &mut Report,
) -> Result<()> {
    let platform = base.scope.platform.clone();
    for account in tx.accounts_available_between(base.scope.livemode, from, end)? {
        let Some(doc) = tx.get(&account)? else {
            continue;
        };
        if doc.object != ACCOUNT || doc.platform != platform || doc.deleted {
            continue;
        }
        let holder: Holder = docs::from_json(&doc)?;
        let ctx = Ctx::system(base, &account, end);
        let balance = ledger::balance(tx, &ctx, &holder.default_currency)?;
        events::record(tx, &ctx, "balance.available", &balance)?;
        report.balances_available += 1;
    }
    Ok(())
}

/// What `balance.available` reads of an account.
#[derive(serde::Deserialize)]
struct Holder {
    default_currency: String,
}

/// The automatic payouts of every connected account whose schedule pays on `day`.
fn pay_out_day(tx: &mut dyn Tx, base: &Ctx, day: i64, report: &mut Report) -> Result<()> {
    report.payout_days += 1;
    let platform = base.scope.platform.clone();
    let livemode = base.scope.livemode;
    let mut after = String::new();
    let mut fees = payouts::ConnectFees::default();
    loop {
        let page = tx.payout_candidates_due(&platform, livemode, day, &after, BATCH)?;
        for (id, sweep_after) in &page {
            let Some(doc) = tx
                .get(id)?
                .filter(|doc| doc.object == ACCOUNT && doc.platform == platform && !doc.deleted)
            else {
                tx.payout_candidate_set(&platform, livemode, id, NOTHING_DUE, sweep_after)?;
                continue;
            };
            let payee: Payee = docs::from_json(&doc)?;
            if !payouts::scheduled_on(payee.schedule(), day) {
                continue;
            }
            let ctx = Ctx::system(base, &payee.id, day);
            if !payee.payouts_enabled {
                // No payout, but what the operator carries is still covered on schedule.
                if payee.losses_payer() == Some("stripe") {
                    report.negative_balances_covered += payouts::cover_losses(tx, &ctx, &payee.id)?;
                }
                continue;
            }
            let outcome = payouts::sweep(tx, &ctx, &payee, sweep_after, &mut fees)?;
            report.payouts_created += outcome.payouts;
            report.negative_balances_covered += outcome.covered;
        }
        match page.last() {
            Some((last, _)) if page.len() == BATCH => after = last.clone(),
            _ => break,
        }
    }
    fees.charge(tx, &Ctx::system(base, &platform, day))
}
