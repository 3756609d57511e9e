//! `/v1/balance`, `/v1/balance_transactions`, `/v1/transfers` (+ reversals) and
//! `/v1/application_fees` (+ refunds).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::common;
use crate::domain::ledger::{self, BalanceTransaction};
use crate::domain::objects::{
    APPLICATION_FEE, BALANCE_TRANSACTION, FEE_REFUND, TRANSFER, TRANSFER_REVERSAL,
};
use crate::domain::transfers::{self, TransferRequest};
use crate::domain::{accounts, application_fees, docs, Error, ErrorKind};
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/balance", get(balance))
        .route("/v1/balance_transactions", get(list_balance_transactions))
        .route(
            "/v1/balance_transactions/{id}",
            get(retrieve_balance_transaction),
        )
        .route("/v1/transfers", get(list_transfers).post(create_transfer))
        .route(
            "/v1/transfers/{id}",
            get(retrieve_transfer).post(update_transfer),
        )
        .route(
            "/v1/transfers/{id}/reversals",
            get(list_reversals).post(create_reversal),
        )
        .route(
            "/v1/transfers/{transfer}/reversals/{id}",
            get(retrieve_reversal).post(update_reversal),
        )
        .route("/v1/application_fees", get(list_fees))
        .route("/v1/application_fees/{id}", get(retrieve_fee))
        .route(
            "/v1/application_fees/{id}/refunds",
            get(list_fee_refunds).post(create_fee_refund),
        )
        .route(
            "/v1/application_fees/{fee}/refunds/{id}",
            get(retrieve_fee_refund).post(update_fee_refund),
        )
}

async fn balance(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let currency = if ctx.connected {
                accounts::load(tx, ctx, &ctx.scope.account)?.default_currency
            } else {
                accounts::platform(tx, ctx)?.default_currency
            };
            ledger::balance(tx, ctx, &currency)
        })
        .await)
}

/// A stored balance transaction with its status as of now, as shown.
fn current(doc: &crate::store::Document, now: i64) -> crate::domain::Result<Value> {
    let mut txn: BalanceTransaction = docs::from_json(doc)?;
    txn.refresh_status(now);
    txn.sweep = Default::default();
    serde_json::to_value(txn).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
}

const TXN_TYPES: &[&str] = &[
    "adjustment",
    "application_fee",
    "application_fee_refund",
    "charge",
    "payment",
    "payment_failure_refund",
    "payment_refund",
    "payout",
    "payout_cancel",
    "payout_failure",
    "refund",
    "refund_failure",
    "stripe_fee",
    "transfer",
    "transfer_refund",
];

async fn list_balance_transactions(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    if let Some(kind) = request.params.enum_of("type", TXN_TYPES)? {
        page.filters
            .push(("type", FieldValue::Text(kind.to_string())));
    }
    if let Some(payout) = request
        .params
        .bounded_string("payout", 255)?
        .filter(|v| !v.is_empty())
    {
        page.filters
            .push(crate::domain::payouts::reconciliation_filter(payout));
    }
    for key in ["source", "currency"] {
        if let Some(value) = request
            .params
            .bounded_string(key, 255)?
            .filter(|v| !v.is_empty())
        {
            let value = if key == "currency" {
                value.to_ascii_lowercase()
            } else {
                value
            };
            page.filters.push((key, FieldValue::Text(value)));
        }
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let found = docs::page(tx, &ctx.scope, &[BALANCE_TRANSACTION], None, &page)?;
            let data = found
                .docs
                .iter()
                .map(|doc| current(doc, ctx.now))
                .collect::<crate::domain::Result<Vec<Value>>>()?;
            Ok(List::new("/v1/balance_transactions", data, found.has_more))
        })
        .await)
}

async fn retrieve_balance_transaction(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            match docs::find(tx, &ctx.scope, BALANCE_TRANSACTION, &id)? {
                Some(doc) => current(&doc, ctx.now),
                None => Err(Error::no_such("balance transaction", &id)),
            }
        })
        .await)
}

async fn create_transfer(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let params = &mut request.params;
    let Some(amount) = params.int("amount")? else {
        return Err(ApiError::parameter_missing("amount"));
    };
    let transfer = TransferRequest {
        amount,
        currency: params.required_string("currency")?,
        destination: params.required_string("destination")?,
        description: params
            .bounded_string("description", 1000)?
            .filter(|d| !d.is_empty()),
        metadata: common::metadata(params)?,
        source_transaction: params
            .bounded_string("source_transaction", 255)?
            .filter(|s| !s.is_empty()),
        transfer_group: params
            .bounded_string("transfer_group", 500)?
            .filter(|g| !g.is_empty()),
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let transfer = transfers::create(tx, ctx, transfer)?;
            transfers::render(tx, ctx, transfer)
        })
        .await)
}

async fn retrieve_transfer(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let transfer = transfers::load(tx, ctx, &id)?;
            transfers::render(tx, ctx, transfer)
        })
        .await)
}

async fn update_transfer(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let description = common::text(&mut request.params, "description", 1000)?;
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let transfer = transfers::update(tx, ctx, &id, description, change)?;
            transfers::render(tx, ctx, transfer)
        })
        .await)
}

async fn list_transfers(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    for key in ["destination", "transfer_group"] {
        if let Some(value) = request
            .params
            .bounded_string(key, 500)?
            .filter(|v| !v.is_empty())
        {
            page.filters.push((key, FieldValue::Text(value)));
        }
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            ctx.require_platform("Transfers")?;
            let found = docs::page(tx, &ctx.scope, &[TRANSFER], None, &page)?;
            let mut data = Vec::with_capacity(found.docs.len());
            for doc in &found.docs {
                data.push(transfers::render(tx, ctx, docs::from_json(doc)?)?);
            }
            Ok(List::new("/v1/transfers", data, found.has_more))
        })
        .await)
}

async fn create_reversal(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let amount = request.params.int("amount")?;
    let description = request
        .params
        .bounded_string("description", 1000)?
        .filter(|d| !d.is_empty());
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            transfers::reverse(tx, ctx, &id, amount, description, change)
        })
        .await)
}

async fn list_reversals(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let page = list::page_request(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            transfers::load(tx, ctx, &id)?;
            let found = docs::page(tx, &ctx.scope, &[TRANSFER_REVERSAL], Some(&id), &page)?;
            let data = found
                .docs
                .iter()
                .map(docs::from_json)
                .collect::<crate::domain::Result<Vec<Value>>>()?;
            Ok(List::new(
                format!("/v1/transfers/{id}/reversals"),
                data,
                found.has_more,
            ))
        })
        .await)
}

async fn retrieve_reversal(
    State(app): State<Arc<App>>,
    Path((transfer, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            transfers::load_reversal(tx, ctx, &transfer, &id)
        })
        .await)
}

async fn update_reversal(
    State(app): State<Arc<App>>,
    Path((transfer, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            transfers::update_reversal(tx, ctx, &transfer, &id, change)
        })
        .await)
}

async fn list_fees(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    if let Some(charge) = request
        .params
        .bounded_string("charge", 255)?
        .filter(|c| !c.is_empty())
    {
        page.filters.push(("charge", FieldValue::Text(charge)));
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            ctx.require_platform("Application fees")?;
            let found = docs::page(tx, &ctx.scope, &[APPLICATION_FEE], None, &page)?;
            let mut data = Vec::with_capacity(found.docs.len());
            for doc in &found.docs {
                data.push(application_fees::render(tx, ctx, docs::from_json(doc)?)?);
            }
            Ok(List::new("/v1/application_fees", data, found.has_more))
        })
        .await)
}

async fn retrieve_fee(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let fee = application_fees::load(tx, ctx, &id)?;
            application_fees::render(tx, ctx, fee)
        })
        .await)
}

async fn create_fee_refund(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let amount = request.params.int("amount")?;
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            application_fees::refund(tx, ctx, &id, amount, change)
        })
        .await)
}

async fn list_fee_refunds(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let page = list::page_request(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            application_fees::load(tx, ctx, &id)?;
            let found = docs::page(tx, &ctx.platform_scope(), &[FEE_REFUND], Some(&id), &page)?;
            let data = found
                .docs
                .iter()
                .map(docs::from_json)
                .collect::<crate::domain::Result<Vec<Value>>>()?;
            Ok(List::new(
                format!("/v1/application_fees/{id}/refunds"),
                data,
                found.has_more,
            ))
        })
        .await)
}

async fn retrieve_fee_refund(
    State(app): State<Arc<App>>,
    Path((fee, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            application_fees::load_refund(tx, ctx, &fee, &id)
        })
        .await)
}

async fn update_fee_refund(
    State(app): State<Arc<App>>,
    Path((fee, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            application_fees::update_refund(tx, ctx, &fee, &id, change)
        })
        .await)
}
