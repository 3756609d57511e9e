//! Each platform's clock. In test mode it starts at wall time and only moves forward: the
//! platform's time is wall time plus an offset that `advance` grows. Live mode runs on wall time.
//! The same record keeps how far the platform's scheduled work has run (`processed_through`).

use serde::{Deserialize, Serialize};

use super::docs::{self, NewDoc};
use super::objects::CLOCK;
use super::payouts::ConnectFees;
use super::{accounts, Ctx, Error, ErrorKind, Result};
use crate::store::{Scope, Tx};

/// The most one advance may move the clock (about thirteen months): bounds the work it runs.
pub const MAX_ADVANCE_SECONDS: i64 = 400 * 86_400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockState {
    pub id: String,
    pub object: String,
    pub livemode: bool,
    /// Seconds the test clock is ahead of wall time.
    pub offset_seconds: i64,
    /// Scheduled work (timers, payout days) has run up to this moment.
    pub processed_through: Option<i64>,
    /// The span after `processed_through` whose work is part done (it runs in steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_run: Option<SpanRun>,
}

/// How far the work of one span (at most a day) has gone: each step of it is one transaction,
/// so no run holds the store's writer for long, and the next step starts where this one
/// stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRun {
    /// The end of the span (a day boundary, or the clock's time when that came first).
    pub end: i64,
    pub phase: Phase,
    /// The last account the phase dealt with (accounts go in id order).
    #[serde(default)]
    pub after_account: String,
    /// The Connect fees of the day's payouts so far: charged once, when the payouts are done.
    #[serde(default)]
    pub fees: ConnectFees,
}

/// The parts of a span's work, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Payout lifecycle timers due by the span's end.
    Timers,
    /// `balance.available` for the accounts whose funds became available in the span.
    Announcements,
    /// The automatic payouts of the day the span ends on.
    Payouts,
}

pub fn doc_id(platform: &str, livemode: bool) -> String {
    format!("clk_{platform}_{}", if livemode { "live" } else { "test" })
}

/// The stored clock, or a fresh one (offset 0, nothing run yet).
pub fn load(tx: &mut dyn Tx, platform: &str, livemode: bool, lock: bool) -> Result<ClockState> {
    let id = doc_id(platform, livemode);
    let doc = if lock {
        tx.get_for_update(&id)?
    } else {
        tx.get(&id)?
    };
    match doc {
        Some(doc) => docs::from_json(&doc),
        None => Ok(ClockState {
            id,
            object: CLOCK.into(),
            livemode,
            offset_seconds: 0,
            processed_through: None,
            span_run: None,
        }),
    }
}

pub fn save(tx: &mut dyn Tx, ctx: &Ctx, platform: &str, state: &ClockState) -> Result<()> {
    if tx.get(&state.id)?.is_some() {
        return docs::save(tx, &state.id, state);
    }
    let scope = Scope {
        platform: platform.to_string(),
        account: accounts::OPERATOR.to_string(),
        livemode: state.livemode,
    };
    docs::insert(
        tx,
        ctx,
        NewDoc {
            id: &state.id,
            object: CLOCK,
            scope: &scope,
            parent: None,
        },
        state,
    )
}

pub enum Advance {
    By(i64),
    To(i64),
}

/// Moves the platform's test clock forward; returns its new time. `wall_now` is wall time: the
/// clock's current time is recomputed from the stored offset, so concurrent advances add up.
pub fn advance(tx: &mut dyn Tx, ctx: &Ctx, wall_now: i64, advance: Advance) -> Result<i64> {
    ctx.require_platform("The test clock")?;
    if ctx.scope.livemode {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "The test clock exists only in test mode: live mode runs on wall time.",
        ));
    }
    let platform = ctx.scope.platform.clone();
    let mut state = load(tx, &platform, false, true)?;
    let now = wall_now + state.offset_seconds;
    let target = match advance {
        Advance::By(seconds) if seconds < 1 => {
            return Err(Error::invalid_param(
                "seconds",
                "The clock only moves forward: `seconds` must be a positive integer.",
            ))
        }
        Advance::By(seconds) => now.saturating_add(seconds),
        Advance::To(to) if to < now => {
            return Err(Error::invalid_param(
                "to",
                format!(
                    "The clock only moves forward: `to` ({to}) is before its current time ({now})."
                ),
            ))
        }
        Advance::To(to) => to,
    };
    if target - now > MAX_ADVANCE_SECONDS {
        return Err(Error::invalid_param(
            "seconds",
            format!(
                "One advance may move the clock at most {MAX_ADVANCE_SECONDS} seconds (400 days); advance in several steps."
            ),
        ));
    }
    state.offset_seconds += target - now;
    // Work that falls due from here on runs, even if no run has marked where the last stopped.
    state.processed_through.get_or_insert(now);
    save(tx, ctx, &platform, &state)?;
    Ok(target)
}
