//! `/v1/payouts` and the test clock (`/v1/test_helpers/clock`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::common;
use crate::domain::clock::{self, Advance};
use crate::domain::objects::PAYOUT;
use crate::domain::payouts::{self, Method, PayoutRequest};
use crate::domain::{docs, unix_now};
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/payouts", get(list_payouts).post(create_payout))
        .route("/v1/payouts/{id}", get(retrieve_payout).post(update_payout))
        .route("/v1/payouts/{id}/cancel", post(cancel_payout))
        .route("/v1/test_helpers/clock", get(show_clock))
        .route("/v1/test_helpers/clock/advance", post(advance_clock))
}

const METHODS: &[&str] = &["standard", "instant"];
const STATUSES: &[&str] = &["pending", "in_transit", "paid", "failed", "canceled"];
const SOURCE_TYPES: &[&str] = &["card", "bank_account", "fpx"];

async fn create_payout(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let params = &mut request.params;
    let Some(amount) = params.int("amount")? else {
        return Err(ApiError::parameter_missing("amount"));
    };
    let payout = PayoutRequest {
        amount,
        currency: params.required_string("currency")?,
        description: params
            .bounded_string("description", 1000)?
            .filter(|d| !d.is_empty()),
        destination: params
            .bounded_string("destination", 255)?
            .filter(|d| !d.is_empty()),
        metadata: common::metadata(params)?,
        method: match params.enum_of("method", METHODS)? {
            Some("instant") => Method::Instant,
            _ => Method::Standard,
        },
        statement_descriptor: params
            .bounded_string("statement_descriptor", 22)?
            .filter(|d| !d.is_empty()),
    };
    // Sluice pays out card funds only; the parameter is accepted for compatibility.
    let _ = params.enum_of("source_type", SOURCE_TYPES)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| payouts::create(tx, ctx, payout))
        .await)
}

async fn retrieve_payout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| payouts::retrieve(tx, ctx, &id))
        .await)
}

async fn update_payout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payouts::update(tx, ctx, &id, change)
        })
        .await)
}

async fn cancel_payout(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| payouts::cancel(tx, ctx, &id))
        .await)
}

async fn list_payouts(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    if let Some(status) = request.params.enum_of("status", STATUSES)? {
        page.filters
            .push(("status", FieldValue::Text(status.to_string())));
    }
    if let Some(destination) = request
        .params
        .bounded_string("destination", 255)?
        .filter(|d| !d.is_empty())
    {
        page.filters
            .push(("destination", FieldValue::Text(destination)));
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let found = docs::page(tx, &ctx.scope, &[PAYOUT], None, &page)?;
            let data = found
                .docs
                .iter()
                .map(|doc| docs::from_json::<Value>(doc).map(payouts::public_view))
                .collect::<crate::domain::Result<Vec<Value>>>()?;
            Ok(List::new("/v1/payouts", data, found.has_more))
        })
        .await)
}

fn clock_view(now: i64, report: Option<&crate::domain::scheduler::Report>) -> Value {
    let mut view = json!({"object": "test_clock_state", "now": now});
    if let Some(report) = report {
        view["ran"] = json!(report);
    }
    view
}

async fn show_clock(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    request.finish_params()?;
    if request.caller.livemode {
        return Err(ApiError::invalid_request(
            "The test clock exists only in test mode: live mode runs on wall time.",
        ));
    }
    Ok(app
        .read(request, |_, ctx| Ok(clock_view(ctx.now, None)))
        .await)
}

/// Moves the test clock forward and runs everything that fell due, in order, before answering
/// (the answer's `ran` says what ran). Not idempotent: each call moves the clock.
async fn advance_clock(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let seconds = request.params.int("seconds")?;
    let to = request.params.int("to")?;
    request.finish_params()?;
    let advance = match (seconds, to) {
        (Some(seconds), None) => Advance::By(seconds),
        (None, Some(to)) => Advance::To(to),
        (None, None) => return Err(ApiError::parameter_missing("seconds")),
        (Some(_), Some(_)) => {
            return Err(
                ApiError::invalid_request("Pass either `seconds` or `to`, not both.")
                    .with_param("to"),
            )
        }
    };
    let ctx = request.ctx();
    let platform = ctx.scope.platform.clone();
    let wall_now = unix_now();
    let target = app
        .store
        .write(
            move |tx: &mut dyn crate::store::Tx| -> Result<i64, ApiError> {
                Ok(clock::advance(tx, &ctx, wall_now, advance)?)
            },
        )
        .await?;
    app.set_clock_offset(&platform, target - wall_now);
    let report = app.catch_up(&platform, false).await?;
    let view = clock_view(target, Some(&report));
    Ok(app.read(request, move |_, _| Ok(view)).await)
}
