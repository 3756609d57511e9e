//! Work that falls due on a platform's clock: payout lifecycle timers, the payout schedules of
//! connected accounts (one run per day boundary, midnight UTC), and releasing Connect reserves
//! of accounts that earned again. Runs span by span (at most a day each), in order, and each
//! span in steps of bounded work, each step one command (on the embedded store one commit of
//! its own, taking turns with API requests, with the next step queued behind it): the clock
//! advance runs them all before it answers; a background ticker runs them on wall time.

use serde::{Deserialize, Serialize};

use super::clock::{Phase, SpanRun};
use super::objects::ACCOUNT;
use super::payouts::Payee;
use super::{clock, docs, events, json_member, ledger, liability, payouts, Ctx, Result};
use crate::store::{Tx, NOTHING_DUE};

const DAY_SECONDS: i64 = 86_400;
/// The most work one step does, in timers run and accounts dealt with (announced, swept). A
/// day of 10,000 payouts in one transaction held the store's single writer for about two
/// seconds, and every platform's writes waited behind it.
pub const CHUNK: usize = 500;

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
    /// Whether the run changed anything (most runs of the wall-time ticker find nothing due).
    pub fn did_work(&self) -> bool {
        self.timers_run
            + self.payouts_created
            + self.negative_balances_covered
            + self.reserves_changed
            + self.balances_available
            > 0
    }

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

/// Runs at most `chunk` units of what falls due after the last run, up to the next day
/// boundary or `up_to`, whichever comes first. Returns whether more remains before `up_to`.
/// `base` is any context of the platform (its pricing and scope).
pub fn step(
    tx: &mut dyn Tx,
    base: &Ctx,
    up_to: i64,
    chunk: usize,
    report: &mut Report,
) -> Result<bool> {
    let platform = base.scope.platform.clone();
    let livemode = base.scope.livemode;
    let mut state = clock::load(tx, &platform, livemode, true)?;
    let from = state.processed_through.unwrap_or(up_to);
    let boundary = (from.div_euclid(DAY_SECONDS) + 1) * DAY_SECONDS;
    let mut run = match state.span_run.take() {
        Some(run) => run,
        // A step queued behind the one that finished the run (`catch_up` keeps one waiting).
        None if state.processed_through.is_some_and(|done| done >= up_to) => return Ok(false),
        None => SpanRun {
            end: boundary.min(up_to).max(from),
            phase: Phase::Timers,
            after_account: String::new(),
            fees: payouts::ConnectFees::default(),
        },
    };
    let end = run.end;
    report.steps += 1;
    let mut budget = chunk.max(1);
    if run.phase == Phase::Timers && run_timers(tx, base, from, end, &mut budget, report)? {
        run.phase = Phase::Announcements;
    }
    if run.phase == Phase::Announcements
        && (end == from
            || (budget > 0 && announce_available(tx, base, from, &mut run, &mut budget, report)?))
    {
        run.phase = Phase::Payouts;
        run.after_account.clear();
    }
    let pays_out = end == boundary && end > from;
    let finished = run.phase == Phase::Payouts
        && (!pays_out || (budget > 0 && pay_out_day(tx, base, &mut run, &mut budget, report)?));
    let ctx = Ctx::system(base, &platform, end);
    if !finished {
        state.span_run = Some(run);
        clock::save(tx, &ctx, &platform, &state)?;
        return Ok(true);
    }
    report.reserves_changed += liability::release_recovered(tx, &ctx)?;
    state.processed_through = Some(end);
    clock::save(tx, &ctx, &platform, &state)?;
    Ok(end < up_to)
}

/// Runs lifecycle timers due by `end`, as many as `budget` allows; returns whether none is left.
fn run_timers(
    tx: &mut dyn Tx,
    base: &Ctx,
    from: i64,
    end: i64,
    budget: &mut usize,
    report: &mut Report,
) -> Result<bool> {
    let platform = base.scope.platform.clone();
    let asked = *budget;
    let due = tx.timers_due(&platform, base.scope.livemode, end, asked)?;
    let targets: Vec<&str> = due.iter().map(|timer| timer.target.as_str()).collect();
    tx.prefetch(&targets, true)?;
    let mut arrivals = payouts::Arrivals::default();
    for timer in &due {
        let ctx = Ctx::system(base, &platform, timer.due_at.max(from));
        payouts::run_timer(tx, &ctx, timer, &mut arrivals)?;
        report.timers_run += 1;
    }
    let ran: Vec<i64> = due.iter().map(|timer| timer.id).collect();
    tx.timers_remove(&ran)?;
    arrivals.post(tx, &Ctx::system(base, &platform, end))?;
    *budget -= due.len();
    Ok(due.len() < asked)
}

/// `balance.available` for the platform's accounts (itself included) whose funds became
/// available in `(from, end]`, with the balance as it is at `end`, as many as `budget` allows;
/// returns whether none is left.
fn announce_available(
    tx: &mut dyn Tx,
    base: &Ctx,
    from: i64,
    run: &mut SpanRun,
    budget: &mut usize,
    report: &mut Report,
) -> Result<bool> {
    let platform = base.scope.platform.clone();
    let asked = *budget;
    let accounts = tx.accounts_available_between(
        base.scope.livemode,
        from,
        run.end,
        &run.after_account,
        asked,
    )?;
    *budget -= accounts.len();
    let ids: Vec<&str> = accounts.iter().map(String::as_str).collect();
    tx.prefetch(&ids, false)?;
    for account in &accounts {
        let Some(doc) = tx.get(account)? else {
            continue;
        };
        if doc.object != ACCOUNT || doc.platform != platform || doc.deleted {
            continue;
        }
        let currency = default_currency(&doc)?;
        let ctx = Ctx::system(base, account, run.end);
        let balance = ledger::balance(tx, &ctx, &currency)?;
        events::record(tx, &ctx, "balance.available", &balance)?;
        report.balances_available += 1;
    }
    if let Some(last) = accounts.last() {
        run.after_account.clone_from(last);
    }
    Ok(accounts.len() < asked)
}

/// What `balance.available` reads of an account.
#[derive(serde::Deserialize)]
struct Holder {
    default_currency: String,
}

/// An account's `default_currency`, read without parsing the rest of its 3 KB document.
fn default_currency(doc: &crate::store::Document) -> Result<String> {
    let member = json_member::value_text(&doc.body, "default_currency")
        .and_then(|text| String::deserialize(&mut serde_json::Deserializer::from_str(text)).ok());
    match member {
        Some(currency) => Ok(currency),
        // Not where it should be: the whole document's parse says what is wrong with it.
        None => Ok(docs::from_json::<Holder>(doc)?.default_currency),
    }
}

/// The automatic payouts of connected accounts whose schedule pays on the day the span ends,
/// as many accounts as `budget` allows; once none is left, charges the day's Connect fees and
/// returns true.
fn pay_out_day(
    tx: &mut dyn Tx,
    base: &Ctx,
    run: &mut SpanRun,
    budget: &mut usize,
    report: &mut Report,
) -> Result<bool> {
    let platform = base.scope.platform.clone();
    let livemode = base.scope.livemode;
    let day = run.end;
    let asked = *budget;
    let page = tx.payout_candidates_due(&platform, livemode, day, &run.after_account, asked)?;
    *budget -= page.len();
    let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
    tx.prefetch(&ids, false)?;
    let mut timers = Vec::with_capacity(2 * page.len());
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
        let outcome = payouts::sweep(tx, &ctx, &payee, sweep_after, &mut run.fees, &mut timers)?;
        report.payouts_created += outcome.payouts;
        report.negative_balances_covered += outcome.covered;
    }
    tx.timers_add(&timers)?;
    if let Some((last, _)) = page.last() {
        run.after_account.clone_from(last);
    }
    if page.len() == asked {
        return Ok(false);
    }
    report.payout_days += 1;
    std::mem::take(&mut run.fees).charge(tx, &Ctx::system(base, &platform, day))?;
    Ok(true)
}
