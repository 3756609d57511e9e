//! `/v1/refunds` and the older `/v1/charges/{id}/refunds`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::common;
use crate::domain::objects::REFUND;
use crate::domain::refunds::{self, RefundRequest};
use crate::domain::{docs, Error};
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::params::{Params, Result};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/refunds", get(list_refunds).post(create_refund))
        .route("/v1/refunds/{id}", get(retrieve_refund).post(update_refund))
        .route(
            "/v1/charges/{id}/refunds",
            get(list_charge_refunds).post(create_charge_refund),
        )
        .route(
            "/v1/charges/{charge}/refunds/{id}",
            get(retrieve_charge_refund),
        )
}

const REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

fn refund_request(params: &mut Params) -> Result<RefundRequest> {
    Ok(RefundRequest {
        charge: params
            .bounded_string("charge", 255)?
            .filter(|c| !c.is_empty()),
        payment_intent: params
            .bounded_string("payment_intent", 255)?
            .filter(|p| !p.is_empty()),
        amount: params.int("amount")?,
        reason: params.enum_of("reason", REASONS)?.map(str::to_string),
        metadata: common::metadata(params)?,
        refund_application_fee: params.bool("refund_application_fee")?.unwrap_or(false),
        reverse_transfer: params.bool("reverse_transfer")?.unwrap_or(false),
    })
}

async fn create_refund(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let input = refund_request(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| refunds::create(tx, ctx, input))
        .await)
}

async fn create_charge_refund(
    State(app): State<Arc<App>>,
    Path(charge): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let mut input = refund_request(&mut request.params)?;
    input.charge = Some(charge);
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| refunds::create(tx, ctx, input))
        .await)
}

async fn retrieve_refund(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| refunds::load(tx, ctx, &id))
        .await)
}

async fn retrieve_charge_refund(
    State(app): State<Arc<App>>,
    Path((charge, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let refund = refunds::load(tx, ctx, &id)?;
            if refund["charge"] != charge.as_str() {
                return Err(Error::no_such("refund", &id));
            }
            Ok(refund)
        })
        .await)
}

async fn update_refund(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let change = common::metadata(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            refunds::update(tx, ctx, &id, change)
        })
        .await)
}

fn page_of(
    tx: &mut dyn crate::store::Tx,
    ctx: &crate::domain::Ctx,
    parent: Option<&str>,
    page: &crate::domain::docs::PageRequest,
) -> crate::domain::Result<(Vec<Value>, bool)> {
    let found = docs::page(tx, &ctx.scope, &[REFUND], parent, page)?;
    let data = found
        .docs
        .iter()
        .map(docs::from_json)
        .collect::<crate::domain::Result<Vec<Value>>>()?;
    Ok((data, found.has_more))
}

async fn list_refunds(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    let charge = request
        .params
        .bounded_string("charge", 255)?
        .filter(|c| !c.is_empty());
    if let Some(intent) = request
        .params
        .bounded_string("payment_intent", 255)?
        .filter(|p| !p.is_empty())
    {
        page.filters
            .push(("payment_intent", FieldValue::Text(intent)));
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let (data, has_more) = page_of(tx, ctx, charge.as_deref(), &page)?;
            Ok(List::new("/v1/refunds", data, has_more))
        })
        .await)
}

async fn list_charge_refunds(
    State(app): State<Arc<App>>,
    Path(charge): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let page = list::page_request(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let (data, has_more) = page_of(tx, ctx, Some(&charge), &page)?;
            Ok(List::new(
                format!("/v1/charges/{charge}/refunds"),
                data,
                has_more,
            ))
        })
        .await)
}
