//! Payouts: money from an account's balance to its external account (bank account or debit
//! card) on the simulated bank, made by hand (`POST /v1/payouts`) or by the account's payout
//! schedule (see `scheduler`).
//!
//! Money: creating a payout takes it from the balance at once into
//! `operator:payouts_in_transit`; at `arrival_date` the bank either accepts it (to
//! `operator:banks`, `paid`) or rejects it (`failed`: the funds come back with a
//! `payout_failure` balance transaction). A canceled payout comes back with `payout_cancel`.
//! A debit of a negative balance (`settings.payouts.debit_negative_balances`) is a payout with a
//! negative amount: the same path, money flowing the other way.
//!
//! Lifecycle timers: `pending` until an hour after creation (never later than arrival), then
//! `in_transit`, then `paid` or `failed` at `arrival_date`. Standard payouts arrive at the next
//! midnight UTC; instant ones at once.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::accounts::{self, Account};
use super::docs::{self, NewDoc};
use super::json_member::Members;
use super::ledger::{self, operator, BalanceTransaction, Entry, FeeDetail, Movement};
use super::metadata::{self, Metadata, MetadataChange};
use super::money::{percent_of, Currency};
use super::objects::{BALANCE_TRANSACTION, PAYOUT};
use super::{events, external_accounts, json_text, Ctx, Error, Result};
use crate::ids;
use crate::store::{Cursor, FieldValue, ListQuery, Scope, StoreError, Timer, Tx, NOTHING_DUE};

const DAY_SECONDS: i64 = 86_400;
/// How long a standard payout waits before the bank takes it (`pending` -> `in_transit`).
const SUBMIT_DELAY_SECONDS: i64 = 3_600;
pub const TIMER_IN_TRANSIT: &str = "payout.in_transit";
pub const TIMER_SETTLE: &str = "payout.settle";
/// Balance transactions read per page while sweeping an account.
const SWEEP_PAGE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Standard,
    Instant,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Standard => "standard",
            Method::Instant => "instant",
        }
    }
}

pub struct PayoutRequest {
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub destination: Option<String>,
    pub metadata: MetadataChange,
    pub method: Method,
    pub statement_descriptor: Option<String>,
}

/// What an account's payout run reads of it. Only these fields are built: the account's whole
/// `settings` and `controller` as JSON values cost more than the rest of choosing whom to pay.
#[derive(Debug, serde::Deserialize)]
pub struct Payee {
    pub id: String,
    pub payouts_enabled: bool,
    #[serde(default)]
    settings: Option<PayeeSettings>,
    #[serde(default)]
    controller: Option<PayeeController>,
}

#[derive(Debug, serde::Deserialize)]
struct PayeeSettings {
    #[serde(default)]
    payouts: Option<PayeePayouts>,
}

#[derive(Debug, serde::Deserialize)]
struct PayeePayouts {
    #[serde(default)]
    schedule: Value,
    #[serde(default)]
    debit_negative_balances: Option<bool>,
}

#[derive(Debug, serde::Deserialize)]
struct PayeeController {
    #[serde(default)]
    fees: Option<Payer>,
    #[serde(default)]
    losses: Option<LossesPayer>,
}

#[derive(Debug, serde::Deserialize)]
struct Payer {
    #[serde(default)]
    payer: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct LossesPayer {
    #[serde(default)]
    payments: Option<String>,
}

impl Payee {
    fn payouts(&self) -> Option<&PayeePayouts> {
        self.settings.as_ref()?.payouts.as_ref()
    }

    /// `settings.payouts.schedule` (`null` if absent).
    pub fn schedule(&self) -> &Value {
        static NONE: Value = Value::Null;
        self.payouts().map_or(&NONE, |payouts| &payouts.schedule)
    }

    pub fn debit_negative_balances(&self) -> bool {
        self.payouts()
            .and_then(|payouts| payouts.debit_negative_balances)
            .unwrap_or(false)
    }

    /// `controller.fees.payer`.
    pub fn fees_payer(&self) -> Option<&str> {
        self.controller.as_ref()?.fees.as_ref()?.payer.as_deref()
    }

    /// `controller.losses.payments`.
    pub fn losses_payer(&self) -> Option<&str> {
        self.controller
            .as_ref()?
            .losses
            .as_ref()?
            .payments
            .as_deref()
    }
}

fn payout_failure_message(code: &str) -> &'static str {
    match code {
        "no_account" => "The bank account details on file are probably incorrect. No bank account could be located with those details.",
        "account_closed" => "The bank account has been closed.",
        "insufficient_funds" => "Your Stripe account has insufficient funds to cover the payout.",
        "debit_not_authorized" => "Debit transactions are not approved on the bank account.",
        "invalid_currency" => "The bank was unable to process this payout because of its currency.",
        _ => "The payout could not be completed by the bank.",
    }
}

fn next_midnight(now: i64) -> i64 {
    (now.div_euclid(DAY_SECONDS) + 1) * DAY_SECONDS
}

/// The account acting (`ctx.scope.account`): the platform's own or a connected one.
fn acting_account(tx: &mut dyn Tx, ctx: &Ctx) -> Result<Account> {
    if ctx.connected {
        accounts::load(tx, ctx, &ctx.scope.account)
    } else {
        accounts::platform(tx, ctx)
    }
}

/// What a payout reads of the external account it goes to (parsing whole documents into JSON
/// values for these fields was a twentieth of an automatic payout run).
#[derive(Debug, Deserialize)]
struct Destination {
    id: String,
    object: String,
    currency: Option<String>,
    default_for_currency: Option<bool>,
    available_payout_methods: Option<Vec<String>>,
    #[serde(rename = "_sluice", default)]
    private: DestinationPrivate,
}

/// The simulated bank's outcome for payouts to this account (Stripe's failing test numbers); a
/// payout keeps its destination's.
#[derive(Debug, Default, Deserialize)]
struct DestinationPrivate {
    payout_failure: Option<String>,
}

/// The external account a payout in `currency` goes to: the named one, or the default.
fn destination_for(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &str,
    currency: &str,
    named: Option<&str>,
) -> Result<Option<Destination>> {
    let externals: Vec<Destination> = external_accounts::all(tx, ctx, account)?;
    match named {
        Some(id) => {
            let Some(found) = externals.into_iter().find(|external| external.id == id) else {
                return Err(Error::invalid_param(
                    "destination",
                    format!("No such external account: '{id}'"),
                )
                .code("resource_missing"));
            };
            if found.currency.as_deref() != Some(currency) {
                return Err(Error::invalid_param(
                    "destination",
                    format!(
                        "The currency of the payout ({currency}) does not match the currency of the external account ({}).",
                        found.currency.as_deref().unwrap_or_default()
                    ),
                ));
            }
            Ok(Some(found))
        }
        None => Ok(externals.into_iter().find(|external| {
            external.currency.as_deref() == Some(currency)
                && external.default_for_currency == Some(true)
        })),
    }
}

/// The operator's instant payout fee for `amount`.
pub fn instant_fee(ctx: &Ctx, amount: i64) -> i64 {
    percent_of(amount, ctx.pricing.instant_payout_rate_ppm).max(ctx.pricing.instant_payout_minimum)
}

struct NewPayout<'a> {
    account: &'a str,
    amount: i64,
    currency: &'a str,
    destination: &'a Destination,
    method: Method,
    automatic: bool,
    description: Option<String>,
    statement_descriptor: Option<String>,
    metadata: Metadata,
    /// The platform pays this account's fees (`controller.fees.payer` = application...): the
    /// operator's Connect pricing applies to its payouts.
    platform_pays: bool,
}

/// The operator's Connect fees the platform owes for payouts to accounts whose fees it pays: a
/// fee per payout, and the monthly active-account fee with an account's first payout of a
/// month. A scheduled run adds up its payouts' fees and charges them once per currency; a payout
/// made by hand is charged on its own. A run kept in chunks carries it in the clock's record
/// between them, so it holds counts and the one payout a single fee is described by, not a list.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectFees {
    by_currency: Vec<ConnectFeeTotals>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ConnectFeeTotals {
    currency: String,
    payout_fees: i64,
    payouts: u64,
    /// The first payout and its account (the description when it is the only one).
    first_payout: (String, String),
    active_fees: i64,
    active_accounts: u64,
    /// The first account charged the active-account fee.
    first_active_account: String,
}

impl ConnectFees {
    fn add(
        &mut self,
        tx: &mut dyn Tx,
        ctx: &Ctx,
        account: &str,
        payout: &str,
        amount: i64,
        currency: &str,
    ) -> Result<()> {
        let (year, month, _) = civil_from_days(ctx.now.div_euclid(DAY_SECONDS));
        let month_start = days_from_civil(year, month, 1) * DAY_SECONDS;
        let scope = Scope {
            platform: ctx.scope.platform.clone(),
            account: account.to_string(),
            livemode: ctx.scope.livemode,
        };
        // The payout itself is already written: a second one means not the month's first.
        let first_of_month = tx
            .list(&ListQuery {
                objects: &[PAYOUT],
                scope: &scope,
                parent: None,
                created: crate::store::CreatedRange {
                    gte: Some(month_start),
                    ..Default::default()
                },
                filters: &[],
                cursor: Cursor::First,
                limit: 2,
            })?
            .len()
            <= 1;
        let index = match self.by_currency.iter().position(|t| t.currency == currency) {
            Some(index) => index,
            None => {
                self.by_currency.push(ConnectFeeTotals {
                    currency: currency.to_string(),
                    payout_fees: 0,
                    payouts: 0,
                    first_payout: (payout.to_string(), account.to_string()),
                    active_fees: 0,
                    active_accounts: 0,
                    first_active_account: String::new(),
                });
                self.by_currency.len() - 1
            }
        };
        let totals = &mut self.by_currency[index];
        totals.payout_fees += ctx.pricing.connect_payout_fee(amount, currency);
        totals.payouts += 1;
        if first_of_month {
            totals.active_fees += ctx.pricing.connect_active_account_fee(currency);
            if totals.active_accounts == 0 {
                totals.first_active_account = account.to_string();
            }
            totals.active_accounts += 1;
        }
        Ok(())
    }

    /// Charges what was added to the platform (`stripe_fee` balance transactions).
    pub fn charge(self, tx: &mut dyn Tx, ctx: &Ctx) -> Result<()> {
        let platform = ctx.scope.platform.clone();
        let (year, month, day) = civil_from_days(ctx.now.div_euclid(DAY_SECONDS));
        for totals in self.by_currency {
            let payout_fee = match totals.payouts {
                1 => {
                    let (payout, account) = &totals.first_payout;
                    format!("Connect payout fee: {payout} to {account}")
                }
                many => {
                    format!("Connect payout fees: {many} payouts on {year}-{month:02}-{day:02}")
                }
            };
            let active_fee = match totals.active_accounts {
                1 => format!(
                    "Connect active account fee: {}, {year}-{month:02}",
                    totals.first_active_account
                ),
                many => format!("Connect active account fees: {many} accounts, {year}-{month:02}"),
            };
            for (fee, description) in [
                (totals.payout_fees, payout_fee),
                (totals.active_fees, active_fee),
            ] {
                if fee <= 0 {
                    continue;
                }
                let mut movement = Movement::new(ctx, &totals.currency);
                movement.account(
                    ctx,
                    Entry {
                        account: &platform,
                        txn_type: "stripe_fee",
                        amount: -fee,
                        fee_details: Vec::new(),
                        source: None,
                        available_on: ctx.now,
                        description: Some(description),
                        payout: None,
                    },
                );
                movement.operator(operator::CONNECT_FEES, fee);
                movement.commit(tx, ctx)?;
            }
        }
        Ok(())
    }
}

/// Writes a payout and takes its money from the balance; adds the Connect fees it costs the
/// platform to `fees` and its lifecycle timers to `timers`, for the caller to write once for
/// every payout it opens (a clock step opens up to 500: on PostgreSQL a round trip each).
fn open(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    new: NewPayout,
    fees: &mut ConnectFees,
    timers: &mut Vec<Timer>,
) -> Result<Value> {
    let id = ids::new_id("po");
    let fee = match new.method {
        Method::Instant => instant_fee(ctx, new.amount),
        Method::Standard => 0,
    };
    let mut movement = Movement::new(ctx, new.currency);
    let fee_details = if fee > 0 {
        vec![FeeDetail {
            amount: fee,
            application: None,
            currency: new.currency.to_string(),
            description: "Instant payout fee".into(),
            fee_type: "stripe_fee".into(),
        }]
    } else {
        Vec::new()
    };
    let balance_transaction = movement.account(
        ctx,
        Entry {
            account: new.account,
            txn_type: "payout",
            amount: -new.amount,
            fee_details,
            source: Some(&id),
            available_on: ctx.now,
            description: new.description.clone(),
            payout: Some(&id),
        },
    );
    if new.automatic {
        // The run that opens it has paid it out: nothing later may sweep it.
        movement.mark_swept(&balance_transaction);
        movement.leave_candidates_to_the_run();
    }
    movement.operator(operator::PAYOUTS_IN_TRANSIT, new.amount);
    if fee > 0 {
        movement.operator(operator::INSTANT_PAYOUT_FEES, fee);
    }
    movement.commit(tx, ctx)?;
    let arrival_date = match new.method {
        Method::Instant => ctx.now,
        Method::Standard => next_midnight(ctx.now),
    };
    let destination_type = if new.destination.object == "card" {
        "card"
    } else {
        "bank_account"
    };
    let payout = json!({
        "id": id,
        "object": PAYOUT,
        "amount": new.amount,
        "application_fee": null,
        "application_fee_amount": null,
        "arrival_date": arrival_date,
        "automatic": new.automatic,
        "balance_transaction": balance_transaction,
        "created": ctx.now,
        "currency": new.currency,
        "description": new.description,
        "destination": new.destination.id,
        "failure_balance_transaction": null,
        "failure_code": null,
        "failure_message": null,
        "livemode": ctx.scope.livemode,
        "metadata": new.metadata,
        "method": new.method.as_str(),
        "original_payout": null,
        "reconciliation_status": if new.automatic { "in_progress" } else { "not_applicable" },
        "reversed_by": null,
        "source_type": "card",
        "statement_descriptor": new.statement_descriptor,
        "status": "pending",
        "type": destination_type,
        "_sluice": {
            "payout_failure": new.destination.private.payout_failure,
        }
    });
    let scope = Scope {
        platform: ctx.scope.platform.clone(),
        account: new.account.to_string(),
        livemode: ctx.scope.livemode,
    };
    // Written once: the event carries the stored text without its private part.
    let body = json_text::to_string(&payout);
    let object = Members::scan(&body)
        .ok_or_else(|| not_an_object(&id))?
        .without(docs::PRIVATE);
    docs::insert_text(
        tx,
        ctx,
        NewDoc {
            id: &id,
            object: PAYOUT,
            scope: &scope,
            parent: None,
        },
        body,
    )?;
    events::record_text_in(tx, ctx, Some(new.account), "payout.created", &object, None)?;
    let timer = |kind: &str, due_at: i64| Timer {
        id: 0,
        platform: ctx.scope.platform.clone(),
        livemode: ctx.scope.livemode,
        due_at,
        kind: kind.to_string(),
        target: id.clone(),
    };
    if new.method == Method::Standard {
        timers.push(timer(
            TIMER_IN_TRANSIT,
            (ctx.now + SUBMIT_DELAY_SECONDS).min(arrival_date),
        ));
    }
    timers.push(timer(TIMER_SETTLE, arrival_date));
    if new.platform_pays && new.amount > 0 && new.account != ctx.scope.platform {
        fees.add(tx, ctx, new.account, &id, new.amount, new.currency)?;
    }
    Ok(payout)
}

/// `POST /v1/payouts`.
pub fn create(tx: &mut dyn Tx, ctx: &Ctx, request: PayoutRequest) -> Result<Value> {
    let currency = Currency::parse(&request.currency, "currency")?;
    if request.amount < 1 {
        return Err(Error::invalid_param("amount", "Invalid positive integer")
            .code("parameter_invalid_integer"));
    }
    let account = acting_account(tx, ctx)?;
    if !account.payouts_enabled {
        return Err(Error::invalid(
            "Payouts are not enabled on this account: it must finish onboarding (see `requirements`) before it can be paid out.",
        )
        .code("payouts_not_allowed"));
    }
    let interval = account.settings["payouts"]["schedule"]["interval"]
        .as_str()
        .unwrap_or("manual");
    if ctx.connected && request.method == Method::Standard && interval != "manual" {
        return Err(Error::invalid(format!(
            "This account is paid out automatically (settings[payouts][schedule][interval] is {interval}): set the interval to manual to create payouts yourself, or use method=instant."
        ))
        .code("payouts_not_allowed"));
    }
    let Some(destination) = destination_for(
        tx,
        ctx,
        &account.id,
        currency.as_str(),
        request.destination.as_deref(),
    )?
    else {
        return Err(Error::invalid_param(
            "currency",
            format!(
                "This account has no external account in {} to pay out to. Add one (default_for_currency) or pass `destination`.",
                currency.as_str()
            ),
        ));
    };
    if request.method == Method::Instant {
        let instant_capable = destination
            .available_payout_methods
            .as_ref()
            .is_some_and(|methods| methods.iter().any(|method| method == "instant"));
        if !instant_capable {
            return Err(Error::invalid_param(
                "method",
                "Instant payouts go to debit cards: this destination does not support them.",
            )
            .code("instant_payouts_unsupported"));
        }
    }
    tx.lock_ledger_account(&account.id, currency.as_str())?;
    let available = ledger::available(
        tx,
        &account.id,
        ctx.scope.livemode,
        currency.as_str(),
        ctx.now,
    )?;
    let fee = match request.method {
        Method::Instant => instant_fee(ctx, request.amount),
        Method::Standard => 0,
    };
    if request.amount + fee > available {
        return Err(Error::invalid_param(
            "amount",
            format!(
                "You have insufficient funds in your Stripe account for this payout: {} {} available{}. In test mode, add funds to the available balance with a charge using the 4000000000000077 test card.",
                available,
                currency.as_str(),
                if fee > 0 { format!(", and the instant payout fee is {fee}") } else { String::new() }
            ),
        )
        .code("balance_insufficient"));
    }
    let mut meta = Metadata::new();
    metadata::apply(&mut meta, request.metadata)?;
    let mut fees = ConnectFees::default();
    let mut timers = Vec::with_capacity(2);
    let payout = open(
        tx,
        ctx,
        NewPayout {
            account: &account.id,
            amount: request.amount,
            currency: currency.as_str(),
            destination: &destination,
            method: request.method,
            automatic: false,
            description: request.description,
            statement_descriptor: request.statement_descriptor,
            metadata: meta,
            platform_pays: super::charges::platform_pays_fees(&account),
        },
        &mut fees,
        &mut timers,
    )?;
    tx.timers_add(&timers)?;
    fees.charge(tx, ctx)?;
    Ok(payout)
}

fn load_doc(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, payout) = docs::load(tx, &ctx.scope, PAYOUT, "payout", id)?;
    Ok(payout)
}

/// Removes what only Sluice reads before a payout is shown.
pub fn public_view(mut payout: Value) -> Value {
    docs::strip_private(&mut payout);
    payout
}

pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    load_doc(tx, ctx, id).map(public_view)
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, change: MetadataChange) -> Result<Value> {
    let (_, mut payout): (_, Value) = docs::load_for_update(tx, &ctx.scope, PAYOUT, "payout", id)?;
    let before = payout.clone();
    metadata::apply_to_document(&mut payout, change)?;
    docs::save(tx, id, &payout)?;
    events::record_update(tx, ctx, "payout.updated", &before, &payout)?;
    Ok(public_view(payout))
}

/// Returns a payout's money to the balance it left (`payout_cancel`, `payout_failure`).
fn return_funds(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    payout: PaidOut,
    txn_type: &'static str,
) -> Result<String> {
    let PaidOut {
        id,
        amount,
        currency,
    } = payout;
    let account = owner(tx, id)?;
    let mut movement = Movement::new(ctx, currency);
    movement.operator(operator::PAYOUTS_IN_TRANSIT, -amount);
    let txn = movement.account(
        ctx,
        Entry {
            account: &account,
            txn_type,
            amount,
            fee_details: Vec::new(),
            source: Some(id),
            available_on: ctx.now,
            description: None,
            payout: Some(id),
        },
    );
    movement.commit(tx, ctx)?;
    Ok(txn)
}

fn not_an_object(payout: &str) -> Error {
    StoreError::Corrupt(payout.to_string(), "a payout is not a JSON object".into()).into()
}

/// The money a payout took from its balance.
#[derive(Clone, Copy)]
struct PaidOut<'a> {
    id: &'a str,
    amount: i64,
    currency: &'a str,
}

impl<'a> PaidOut<'a> {
    fn of(payout: &'a Value) -> PaidOut<'a> {
        PaidOut {
            id: payout["id"].as_str().unwrap_or_default(),
            amount: payout["amount"].as_i64().unwrap_or(0),
            currency: payout["currency"].as_str().unwrap_or_default(),
        }
    }
}

fn owner(tx: &mut dyn Tx, payout: &str) -> Result<String> {
    match tx.get(payout)? {
        Some(doc) => Ok(doc.account),
        None => Err(Error::no_such("payout", payout)),
    }
}

/// `POST /v1/payouts/{id}/cancel`: only a payout the bank has not taken yet.
pub fn cancel(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, mut payout): (_, Value) = docs::load_for_update(tx, &ctx.scope, PAYOUT, "payout", id)?;
    if payout["status"] != "pending" || payout["method"] == "instant" {
        return Err(Error::invalid(format!(
            "Payout {id} cannot be canceled: only pending standard payouts can be canceled, and this one is {}.",
            payout["status"].as_str().unwrap_or_default()
        ))
        .code("payout_not_cancelable"));
    }
    let before = payout.clone();
    let txn = return_funds(tx, ctx, PaidOut::of(&payout), "payout_cancel")?;
    payout["status"] = json!("canceled");
    payout["reversed_by"] = Value::Null;
    payout["failure_balance_transaction"] = json!(txn);
    docs::save(tx, id, &payout)?;
    events::record_update(tx, ctx, "payout.updated", &before, &payout)?;
    events::record(tx, ctx, "payout.canceled", &payout)?;
    Ok(public_view(payout))
}

/// What paid payouts moved from transit to the banks during a scheduler step, per moment and
/// currency. It goes into the ledger once per step: one movement per payout updated the same two
/// operator balances thousands of times in one transaction (on PostgreSQL each update of a row
/// the transaction already changed costs more than the last).
#[derive(Debug, Default)]
pub struct Arrivals {
    totals: Vec<(i64, String, i64)>,
}

impl Arrivals {
    fn add(&mut self, at: i64, currency: &str, amount: i64) {
        match self
            .totals
            .iter_mut()
            .find(|(when, code, _)| *when == at && code == currency)
        {
            Some((_, _, total)) => *total += amount,
            None => self.totals.push((at, currency.to_string(), amount)),
        }
    }

    /// Moves the totals out of transit; `base` is a context of the platform.
    pub fn post(self, tx: &mut dyn Tx, base: &Ctx) -> Result<()> {
        for (at, currency, amount) in self.totals {
            let ctx = Ctx {
                now: at,
                ..base.clone()
            };
            let mut movement = Movement::new(&ctx, &currency);
            movement.operator(operator::PAYOUTS_IN_TRANSIT, -amount);
            movement.operator(operator::BANKS, amount);
            movement.commit(tx, &ctx)?;
        }
        Ok(())
    }
}

/// Runs one lifecycle timer of a payout; a payout that moved on (canceled) ignores it. The money
/// of a paid payout is added to `arrivals`, for the caller to post. The stored payout changes by
/// the members the step sets, without a parse of the rest: a month of automatic payouts runs two
/// steps for each.
pub fn run_timer(tx: &mut dyn Tx, ctx: &Ctx, timer: &Timer, arrivals: &mut Arrivals) -> Result<()> {
    let Some(doc) = tx.get_for_update(&timer.target)? else {
        return Ok(());
    };
    let members = Members::scan(&doc.body).ok_or_else(|| not_an_object(&doc.id))?;
    let status: String = members.parse("status").unwrap_or_default();
    let automatic = members.parse("automatic").unwrap_or(false);
    // The payout's events happen in the account it belongs to.
    let ctx = &Ctx {
        scope: Scope {
            platform: doc.platform.clone(),
            account: doc.account.clone(),
            livemode: doc.livemode,
        },
        connected: doc.account != doc.platform,
        ..ctx.clone()
    };
    // Members the step sets, with their new JSON texts.
    let mut changes: Vec<(&str, String)> = Vec::with_capacity(5);
    let text = |value: &str| {
        let mut out = String::with_capacity(value.len() + 2);
        json_text::write_str(&mut out, value);
        out
    };
    let mut outcome: Option<&'static str> = None;
    match timer.kind.as_str() {
        TIMER_IN_TRANSIT if status == "pending" => {
            changes.push(("status", text("in_transit")));
        }
        TIMER_SETTLE if status == "pending" || status == "in_transit" => {
            let amount = members.parse("amount").unwrap_or(0);
            let currency: String = members.parse("currency").unwrap_or_default();
            let private: DestinationPrivate = members.parse(docs::PRIVATE).unwrap_or_default();
            match &private.payout_failure {
                Some(code) => {
                    let paid_out = PaidOut {
                        id: &doc.id,
                        amount,
                        currency: &currency,
                    };
                    let txn = return_funds(tx, ctx, paid_out, "payout_failure")?;
                    outcome = Some("payout.failed");
                    changes.push(("status", text("failed")));
                    changes.push(("failure_balance_transaction", text(&txn)));
                    changes.push(("failure_message", text(payout_failure_message(code))));
                    changes.push(("failure_code", text(code)));
                }
                None => {
                    arrivals.add(ctx.now, &currency, amount);
                    changes.push(("status", text("paid")));
                    outcome = Some("payout.paid");
                }
            }
            if automatic {
                changes.push(("reconciliation_status", text("completed")));
            }
        }
        _ => return Ok(()),
    }
    let edited = members.edit(&changes, Some(docs::PRIVATE));
    let object = &edited.shown;
    tx.update(&timer.target, &edited.text, false)?;
    if let Some(previous) = &edited.previous {
        events::record_text_in(tx, ctx, None, "payout.updated", object, Some(previous))?;
    }
    if let Some(outcome) = outcome {
        events::record_text_in(tx, ctx, None, outcome, object, None)?;
        if automatic {
            events::record_text_in(
                tx,
                ctx,
                None,
                "payout.reconciliation_completed",
                object,
                None,
            )?;
        }
    }
    Ok(())
}

/// Whether an account's schedule pays out on the day starting at `day` (midnight UTC).
pub fn scheduled_on(schedule: &Value, day: i64) -> bool {
    let days_since_epoch = day.div_euclid(DAY_SECONDS);
    match schedule["interval"].as_str() {
        Some("daily") => true,
        Some("weekly") => {
            // 1970-01-01 was a Thursday.
            const WEEKDAYS: [&str; 7] = [
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "monday",
                "tuesday",
                "wednesday",
            ];
            let weekday = WEEKDAYS[days_since_epoch.rem_euclid(7) as usize];
            schedule["weekly_anchor"].as_str().unwrap_or("monday") == weekday
        }
        Some("monthly") => {
            let (year, month, day_of_month) = civil_from_days(days_since_epoch);
            let anchor = schedule["monthly_anchor"].as_i64().unwrap_or(1);
            let last = days_in_month(year, month);
            day_of_month == anchor.min(last)
        }
        _ => false,
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of `civil_from_days`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// What an automatic run did for one account.
#[derive(Debug, Default, Clone, Copy)]
pub struct SweepOutcome {
    pub payouts: u64,
    pub covered: u64,
}

/// The automatic payout of `account` at `ctx.now` (a scheduled day): every balance transaction
/// that is available and not yet paid out, per currency, goes out in one payout to the
/// currency's default external account; a negative sum is debited from it when the account
/// allows (`debit_negative_balances`); what a `stripe`-liable account still owes is covered.
/// `sweep_after`: where the account's last run stopped (every balance transaction up to it is
/// swept). The payouts' lifecycle timers are added to `timers`, for the caller to write.
pub fn sweep(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: &Payee,
    sweep_after: &str,
    fees: &mut ConnectFees,
    timers: &mut Vec<Timer>,
) -> Result<SweepOutcome> {
    let mut outcome = SweepOutcome::default();
    let scope = Scope {
        platform: ctx.scope.platform.clone(),
        account: account.id.clone(),
        livemode: ctx.scope.livemode,
    };
    let cursor = sweep_after.to_string();
    // Unswept, available transactions per currency: (transactions, sum).
    let mut taken: Vec<(String, Vec<BalanceTransaction>, i64)> = Vec::new();
    let mut scanned: Vec<(String, bool, i64)> = Vec::new();
    let mut after = cursor.clone();
    loop {
        let query = ListQuery {
            objects: &[BALANCE_TRANSACTION],
            scope: &scope,
            parent: None,
            created: Default::default(),
            filters: &[],
            cursor: Cursor::Before(&after),
            limit: SWEEP_PAGE,
        };
        let mut page = tx.list(&query)?;
        page.reverse(); // oldest first
        let full = page.len() == SWEEP_PAGE;
        for doc in &page {
            let txn: BalanceTransaction = docs::from_json(doc)?;
            scanned.push((txn.id.clone(), txn.sweep.swept, txn.available_on));
            if txn.sweep.swept || txn.available_on > ctx.now {
                continue;
            }
            match taken
                .iter_mut()
                .find(|(currency, _, _)| *currency == txn.currency)
            {
                Some((_, txns, sum)) => {
                    *sum += txn.net;
                    txns.push(txn);
                }
                None => {
                    let (currency, net) = (txn.currency.clone(), txn.net);
                    taken.push((currency, vec![txn], net));
                }
            }
        }
        match page.last() {
            Some(last) if full => after = last.id.clone(),
            _ => break,
        }
    }
    let debit_allowed = account.debit_negative_balances();
    let mut swept_ids: Vec<String> = Vec::new();
    for (currency, txns, sum) in taken {
        if sum == 0 {
            // What cancels out (a refund and the charge it refunds) is settled without a payout.
            for txn in txns {
                swept_ids.push(mark_swept(tx, txn, None)?);
            }
            continue;
        }
        if sum < 0 && !debit_allowed {
            continue;
        }
        let Some(destination) = destination_for(tx, ctx, &account.id, &currency, None)? else {
            continue;
        };
        tx.lock_ledger_account(&account.id, &currency)?;
        let payout = open(
            tx,
            ctx,
            NewPayout {
                account: &account.id,
                amount: sum,
                currency: &currency,
                destination: &destination,
                method: Method::Standard,
                automatic: true,
                description: Some(
                    if sum > 0 {
                        "STRIPE PAYOUT"
                    } else {
                        "STRIPE DEBIT"
                    }
                    .into(),
                ),
                statement_descriptor: None,
                metadata: Metadata::new(),
                platform_pays: account
                    .fees_payer()
                    .is_some_and(|payer| payer.starts_with("application")),
            },
            fees,
            timers,
        )?;
        let payout_id = payout["id"].as_str().unwrap_or_default();
        for txn in txns {
            swept_ids.push(mark_swept(tx, txn, Some(payout_id))?);
        }
        outcome.payouts += 1;
    }
    if account.losses_payer() == Some("stripe") {
        outcome.covered += cover_losses(tx, ctx, &account.id)?;
    }
    // The next run starts after the longest prefix of what it has seen that is now swept...
    let mut new_cursor = cursor;
    let mut prefix = true;
    // ...and the account comes up again when its next funds become available, tomorrow if
    // available funds are left (no external account, a negative sum it may not be debited).
    let mut left_available = outcome.covered > 0;
    let mut next_pending: Option<i64> = None;
    for (id, swept_before, available_on) in scanned {
        let swept = swept_before || swept_ids.contains(&id);
        if swept && prefix {
            new_cursor = id;
            continue;
        }
        prefix = false;
        if swept {
            continue;
        }
        if available_on <= ctx.now {
            left_available = true;
        } else {
            next_pending = Some(next_pending.map_or(available_on, |n: i64| n.min(available_on)));
        }
    }
    let since = if left_available {
        ctx.now + DAY_SECONDS
    } else {
        next_pending.unwrap_or(NOTHING_DUE)
    };
    tx.payout_candidate_set(
        &ctx.scope.platform,
        ctx.scope.livemode,
        &account.id,
        since,
        &new_cursor,
    )?;
    Ok(outcome)
}

/// The operator covers, in every currency, what a `stripe`-liable account owes; returns in how
/// many currencies it did.
pub fn cover_losses(tx: &mut dyn Tx, ctx: &Ctx, account: &str) -> Result<u64> {
    let owed: Vec<String> = ledger::totals(tx, account, ctx.scope.livemode, ctx.now)?
        .into_iter()
        .filter(|(_, totals)| totals.available + totals.pending < 0)
        .map(|(currency, _)| currency)
        .collect();
    let mut covered = 0;
    for currency in owed {
        if super::liability::cover_by_operator(tx, ctx, account, &currency)? > 0 {
            covered += 1;
        }
    }
    Ok(covered)
}

/// Marks a balance transaction the run has read as paid out; returns its id.
fn mark_swept(
    tx: &mut dyn Tx,
    mut txn: BalanceTransaction,
    payout: Option<&str>,
) -> Result<String> {
    txn.sweep.swept = true;
    txn.sweep.payout = payout.map(str::to_string);
    docs::save(tx, &txn.id, &txn)?;
    Ok(txn.id)
}

/// `?payout=po_...` on balance transactions: the filter that finds a payout's transactions.
pub fn reconciliation_filter(payout: String) -> (&'static str, FieldValue) {
    ("_sluice.payout", FieldValue::Text(payout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timers_changes_are_the_previous_attributes_a_comparison_finds() {
        let before = json!({
            "id": "po_1",
            "amount": 100,
            "status": "in_transit",
            "failure_code": null,
            "reconciliation_status": "in_progress",
            "_sluice": {"payout_failure": "account_closed"},
        });
        let text = json_text::to_string(&before);
        let edited = Members::scan(&text).unwrap().edit(
            &[
                ("status", r#""failed""#),
                ("failure_code", r#""account_closed""#),
                // Unchanged: left out.
                ("reconciliation_status", r#""in_progress""#),
                // Missing before: null.
                ("failure_message", r#""closed""#),
            ],
            Some(docs::PRIVATE),
        );
        let after: Value = serde_json::from_str(&edited.text).unwrap();
        assert_eq!(after["failure_message"], "closed");
        assert_eq!(after["_sluice"], before["_sluice"]);
        let previous: Value = serde_json::from_str(&edited.previous.unwrap()).unwrap();
        assert_eq!(
            previous.as_object(),
            events::previous_attributes(&before, &after).as_ref(),
            "{after}"
        );
        let object: Value = serde_json::from_str(&edited.shown).unwrap();
        assert_eq!(object, public_view(after));
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2026-11-26
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for days in [0, 11_016, 20_783, -1, 59, 60] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn schedules_fire_on_their_anchor_days() {
        let thursday_1970 = 0;
        let daily = json!({"interval": "daily"});
        assert!(scheduled_on(&daily, thursday_1970));
        let weekly = json!({"interval": "weekly", "weekly_anchor": "friday"});
        assert!(!scheduled_on(&weekly, thursday_1970));
        assert!(scheduled_on(&weekly, DAY_SECONDS));
        // Monthly on the 31st pays on the last day of shorter months: 1970-02-28.
        let monthly = json!({"interval": "monthly", "monthly_anchor": 31});
        assert!(scheduled_on(&monthly, 58 * DAY_SECONDS));
        assert!(!scheduled_on(&monthly, 57 * DAY_SECONDS));
        assert!(scheduled_on(&monthly, 30 * DAY_SECONDS));
        assert!(!scheduled_on(&json!({"interval": "manual"}), 0));
    }
}
