//! HTTP routes: one router per resource, each handler decoding parameters, calling one domain
//! function inside `App::read` or `App::write`, and letting the wire layer encode the answer.

mod accounts;
mod common;
mod customers;
mod disputes;
mod events;
mod listen;
mod money;
mod payment_methods;
mod payments;
mod payouts;
mod refunds;
mod webhook_endpoints;

use std::sync::Arc;

use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::wire::{ApiError, App};

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(customers::routes())
        .merge(disputes::routes())
        .merge(payments::routes())
        .merge(money::routes())
        .merge(refunds::routes())
        .merge(accounts::routes())
        .merge(payment_methods::routes())
        .merge(payouts::routes())
        .merge(events::routes())
        .merge(listen::routes())
        .merge(webhook_endpoints::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn(crate::wire::server::access_log))
        .with_state(app)
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    ApiError::unknown_route(method.as_str(), uri.path()).into_response()
}
