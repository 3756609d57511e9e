//! `/v1/customers`

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::common;
use crate::domain::customers::{self, CustomerChanges, Retrieved};
use crate::domain::objects::CUSTOMER;
use crate::domain::{docs, Error};
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::params::{Params, Result};
use crate::wire::{ApiError, ApiRequest, App};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/customers", get(list).post(create))
        .route(
            "/v1/customers/{id}",
            get(retrieve).post(update).delete(delete),
        )
}

const TAX_EXEMPT: &[&str] = &["exempt", "none", "reverse"];

fn changes(params: &mut Params) -> Result<CustomerChanges> {
    Ok(CustomerChanges {
        address: common::address(params, "address")?,
        balance: params.int("balance")?,
        description: common::text(params, "description", 5000)?,
        email: email(params)?,
        invoice_prefix: params
            .bounded_string("invoice_prefix", 12)?
            .filter(|p| !p.is_empty()),
        metadata: common::metadata(params)?,
        name: common::text(params, "name", 256)?,
        phone: common::text(params, "phone", 20)?,
        preferred_locales: params.string_list("preferred_locales")?,
        shipping: common::shipping(params)?,
        tax_exempt: params
            .enum_of("tax_exempt", TAX_EXEMPT)?
            .map(str::to_string),
    })
}

/// Stripe rejects addresses that cannot be one (`email_invalid`).
fn email(params: &mut Params) -> Result<Option<Option<String>>> {
    let value = common::text(params, "email", 512)?;
    if let Some(Some(address)) = &value {
        let plausible = match address.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
        if !plausible || address.chars().any(char::is_whitespace) {
            return Err(
                ApiError::invalid_request(format!("Invalid email address: {address}"))
                    .with_code("email_invalid")
                    .with_param("email"),
            );
        }
    }
    Ok(value)
}

async fn create(
    State(app): State<Arc<App>>,
    mut request: ApiRequest,
) -> std::result::Result<Response, ApiError> {
    let input = changes(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| customers::create(tx, ctx, input))
        .await)
}

async fn retrieve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> std::result::Result<Response, ApiError> {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            Ok(match customers::retrieve(tx, ctx, &id)? {
                Retrieved::Live(customer) => {
                    serde_json::to_value(customer).map_err(|e| Error::invalid(e.to_string()))?
                }
                Retrieved::Deleted(stub) => {
                    serde_json::to_value(stub).map_err(|e| Error::invalid(e.to_string()))?
                }
            })
        })
        .await)
}

async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> std::result::Result<Response, ApiError> {
    common::check_id(&id)?;
    let input = changes(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            customers::update(tx, ctx, &id, input)
        })
        .await)
}

async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> std::result::Result<Response, ApiError> {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| customers::delete(tx, ctx, &id))
        .await)
}

async fn list(
    State(app): State<Arc<App>>,
    mut request: ApiRequest,
) -> std::result::Result<Response, ApiError> {
    let mut page = list::page_request(&mut request.params)?;
    if let Some(email) = request
        .params
        .bounded_string("email", 512)?
        .filter(|e| !e.is_empty())
    {
        page.filters.push(("email", FieldValue::Text(email)));
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let found = docs::page(tx, &ctx.scope, &[CUSTOMER], None, &page)?;
            let data = found
                .docs
                .iter()
                .map(docs::from_json)
                .collect::<crate::domain::Result<Vec<_>>>()?;
            Ok(List::new("/v1/customers", data, found.has_more))
        })
        .await)
}
