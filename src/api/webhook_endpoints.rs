//! `/v1/webhook_endpoints` (platform keys only) and Sluice's delivery extensions:
//!
//! - `POST /v1/sluice/events/{id}/resend` with `webhook_endpoint=we_...`: queues the event for
//!   that endpoint again (whatever happened to earlier attempts) and answers the event, its
//!   `pending_webhooks` raised by one. The event may be the platform's own (for an endpoint
//!   with `connect=false`) or any connected account's (for `connect=true`); without
//!   `Stripe-Account`.
//! - `GET /v1/sluice/events/{id}/deliveries`: the delivery log of an event, oldest attempt
//!   first: `{"object": "list", "data": [{"object": "webhook_delivery_attempt", "event",
//!   "webhook_endpoint", "attempted_at_ms", "status_code" (null when no answer came),
//!   "latency_ms", "response_excerpt" (the first 1,000 bytes of the answer), "error" (why the
//!   attempt failed: timeout, connection refused...), "succeeded"}], "has_more": false}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::common;
use crate::domain::webhook_endpoints::{self, EndpointChanges};
use crate::domain::{event_types, Error};
use crate::wire::list::{self, List};
use crate::wire::params::{Params, Result};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/webhook_endpoints", get(list).post(create))
        .route(
            "/v1/webhook_endpoints/{id}",
            get(retrieve).post(update).delete(delete),
        )
        .route("/v1/sluice/events/{id}/resend", post(resend))
        .route("/v1/sluice/events/{id}/deliveries", get(deliveries))
}

const MAX_URL_CHARS: usize = 5000;

/// An absolute http(s) URL with a host; Stripe answers `url_invalid` otherwise.
fn url(params: &mut Params, required: bool) -> Result<Option<String>> {
    let value = params.bounded_string("url", MAX_URL_CHARS)?;
    let Some(text) = value else {
        return if required {
            Err(ApiError::parameter_missing("url"))
        } else {
            Ok(None)
        };
    };
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let valid = match host {
        Some(host) => {
            let name = host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.parse::<u16>().is_ok() {
                    name
                } else {
                    ""
                }
            });
            !name.is_empty()
                && !host.contains('@')
                && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        return Err(ApiError::invalid_request(format!("Invalid URL: {text}"))
            .with_code("url_invalid")
            .with_param("url"));
    }
    Ok(Some(text))
}

fn enabled_events(params: &mut Params, required: bool) -> Result<Option<Vec<String>>> {
    let Some(types) = params.string_list("enabled_events")? else {
        return if required {
            Err(ApiError::parameter_missing("enabled_events"))
        } else {
            Ok(None)
        };
    };
    if types.is_empty() {
        return Err(ApiError::invalid_request(
            "Invalid enabled_events: select at least one event type (or `*` for all).",
        )
        .with_param("enabled_events"));
    }
    for (index, event_type) in types.iter().enumerate() {
        if event_type != "*" && !event_types::is_known(event_type) {
            return Err(ApiError::invalid_request(format!(
                "Invalid enabled_events[{index}]: must be one of *, {}",
                event_types::KNOWN.join(", ")
            ))
            .with_param(format!("enabled_events[{index}]")));
        }
    }
    let mut unique = Vec::with_capacity(types.len());
    for event_type in types {
        if !unique.contains(&event_type) {
            unique.push(event_type);
        }
    }
    Ok(Some(unique))
}

/// `2024-06-20` or `2024-06-20.acacia`.
fn api_version(params: &mut Params) -> Result<Option<String>> {
    let Some(version) = params.bounded_string("api_version", 100)? else {
        return Ok(None);
    };
    let (date, name) = version.split_once('.').unwrap_or((&version, "a"));
    let date_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !date_ok || name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(
            ApiError::invalid_request(format!("Invalid api_version: {version}"))
                .with_param("api_version"),
        );
    }
    Ok(Some(version))
}

async fn create(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let params = &mut request.params;
    let input = EndpointChanges {
        url: url(params, true)?,
        enabled_events: enabled_events(params, true)?,
        description: common::text(params, "description", 5000)?,
        metadata: common::metadata(params)?,
        connect: params.bool("connect")?,
        api_version: api_version(params)?,
        disabled: None,
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            webhook_endpoints::create(tx, ctx, input)
        })
        .await)
}

async fn retrieve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            webhook_endpoints::retrieve(tx, ctx, &id)
        })
        .await)
}

async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    let params = &mut request.params;
    let input = EndpointChanges {
        url: url(params, false)?,
        enabled_events: enabled_events(params, false)?,
        description: common::text(params, "description", 5000)?,
        metadata: common::metadata(params)?,
        connect: None,
        api_version: None,
        disabled: params.bool("disabled")?,
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            webhook_endpoints::update(tx, ctx, &id, input)
        })
        .await)
}

async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            webhook_endpoints::delete(tx, ctx, &id)
        })
        .await)
}

async fn list(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let page = list::page_request(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let (data, has_more) = webhook_endpoints::list(tx, ctx, &page)?;
            Ok(List::new("/v1/webhook_endpoints", data, has_more))
        })
        .await)
}

async fn resend(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    let endpoint = request.params.required_string("webhook_endpoint")?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            webhook_endpoints::resend(tx, ctx, &id, &endpoint)
        })
        .await)
}

async fn deliveries(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            webhook_endpoints::deliveries(tx, ctx, &id).map_err(|e: Error| e)
        })
        .await)
}
