//! `/v1/events`: the events of the account the request acts in (the platform's own, or a
//! connected account's with `Stripe-Account`), newest first, kept 30 days.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::common;
use crate::domain::events;
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(retrieve))
}

/// Stripe caps `types[]` at 20 entries.
const MAX_TYPES: usize = 20;

async fn list(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    let params = &mut request.params;
    let single = params
        .bounded_string("type", 5000)?
        .filter(|t| !t.is_empty());
    let several = params.string_list("types")?.filter(|t| !t.is_empty());
    match (single, several) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_request(
                "You may only specify one of these parameters: type, types.",
            )
            .with_param("types"))
        }
        (Some(single), None) => {
            page.filters.push(("type", type_filter(single)));
        }
        (None, Some(several)) => {
            if several.len() > MAX_TYPES {
                return Err(ApiError::invalid_request(format!(
                    "Invalid array: `types` can have at most {MAX_TYPES} entries."
                ))
                .with_param("types"));
            }
            if several.iter().any(|t| t.contains('*')) {
                return Err(ApiError::invalid_request(
                    "Invalid types: wildcards (`*`) are only allowed in `type`.",
                )
                .with_param("types"));
            }
            page.filters.push(("type", FieldValue::AnyText(several)));
        }
        (None, None) => {}
    }
    match params.bool("delivery_success")? {
        // Delivered to every endpoint it was meant for.
        Some(true) => page.filters.push(("pending_webhooks", FieldValue::Int(0))),
        Some(false) => {
            return Err(ApiError::invalid_request(
                "`delivery_success=false` is not supported yet: list with `delivery_success=true` or without it, or read `/v1/sluice/events/{id}/deliveries`.",
            )
            .with_param("delivery_success"))
        }
        None => {}
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let (data, has_more) = events::list(tx, ctx, &page)?;
            Ok(List::new("/v1/events", data, has_more))
        })
        .await)
}

/// `type` takes a wildcard at its end (`charge.*`); the store matches exact values, so the
/// wildcard expands to every known type under that prefix.
fn type_filter(single: String) -> FieldValue {
    match single.strip_suffix('*') {
        Some(prefix) => FieldValue::AnyText(
            crate::domain::event_types::KNOWN
                .iter()
                .filter(|known| known.starts_with(prefix))
                .map(|known| known.to_string())
                .collect(),
        ),
        None => FieldValue::Text(single),
    }
}

async fn retrieve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| events::retrieve(tx, ctx, &id))
        .await)
}
