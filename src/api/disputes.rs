//! `/v1/disputes`: list, retrieve, update (evidence, metadata, submit) and close. Disputes live
//! in the scope of the account that owns the disputed charge.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::common;
use crate::domain::disputes::{self, DisputeUpdate};
use crate::domain::docs;
use crate::domain::objects::DISPUTE;
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::shape::{self, Field, Shape};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

/// Stripe's limit for the long free-text evidence fields.
const LONG_TEXT: usize = 20_000;
const SHORT_TEXT: usize = 5_000;

/// `evidence[...]` of a dispute update: text fields, and file ids (`file_...`) for documents.
const EVIDENCE_SHAPE: Shape = &[
    ("access_activity_log", Field::Str(LONG_TEXT)),
    ("billing_address", Field::Str(SHORT_TEXT)),
    ("cancellation_policy", Field::Str(SHORT_TEXT)),
    ("cancellation_policy_disclosure", Field::Str(LONG_TEXT)),
    ("cancellation_rebuttal", Field::Str(LONG_TEXT)),
    ("customer_communication", Field::Str(SHORT_TEXT)),
    ("customer_email_address", Field::Str(SHORT_TEXT)),
    ("customer_name", Field::Str(SHORT_TEXT)),
    ("customer_purchase_ip", Field::Str(SHORT_TEXT)),
    ("customer_signature", Field::Str(SHORT_TEXT)),
    ("duplicate_charge_documentation", Field::Str(SHORT_TEXT)),
    ("duplicate_charge_explanation", Field::Str(LONG_TEXT)),
    ("duplicate_charge_id", Field::Str(SHORT_TEXT)),
    ("product_description", Field::Str(LONG_TEXT)),
    ("receipt", Field::Str(SHORT_TEXT)),
    ("refund_policy", Field::Str(SHORT_TEXT)),
    ("refund_policy_disclosure", Field::Str(LONG_TEXT)),
    ("refund_refusal_explanation", Field::Str(LONG_TEXT)),
    ("service_date", Field::Str(SHORT_TEXT)),
    ("service_documentation", Field::Str(SHORT_TEXT)),
    ("shipping_address", Field::Str(SHORT_TEXT)),
    ("shipping_carrier", Field::Str(SHORT_TEXT)),
    ("shipping_date", Field::Str(SHORT_TEXT)),
    ("shipping_documentation", Field::Str(SHORT_TEXT)),
    ("shipping_tracking_number", Field::Str(SHORT_TEXT)),
    ("uncategorized_file", Field::Str(SHORT_TEXT)),
    ("uncategorized_text", Field::Str(LONG_TEXT)),
];

/// Stripe limits the evidence of one dispute to this many characters in all.
const EVIDENCE_TOTAL: usize = 150_000;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/disputes", get(list_disputes))
        .route(
            "/v1/disputes/{id}",
            get(retrieve_dispute).post(update_dispute),
        )
        .route("/v1/disputes/{id}/close", post(close_dispute))
}

async fn list_disputes(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    for key in ["charge", "payment_intent"] {
        if let Some(value) = request
            .params
            .bounded_string(key, 5000)?
            .filter(|v| !v.is_empty())
        {
            page.filters.push((key, FieldValue::Text(value)));
        }
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let found = docs::page(tx, &ctx.scope, &[DISPUTE], None, &page)?;
            let data = found
                .docs
                .iter()
                .map(|doc| docs::from_json(doc).map(disputes::public))
                .collect::<crate::domain::Result<Vec<_>>>()?;
            Ok(List::new("/v1/disputes", data, found.has_more))
        })
        .await)
}

async fn retrieve_dispute(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| disputes::retrieve(tx, ctx, &id))
        .await)
}

async fn update_dispute(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    let params = &mut request.params;
    let evidence = shape::read_key(params, "evidence", EVIDENCE_SHAPE)?;
    if let Some(fields) = &evidence {
        let total: usize = fields
            .values()
            .filter_map(|value| value.as_str())
            .map(|text| text.chars().count())
            .sum();
        if total > EVIDENCE_TOTAL {
            return Err(ApiError::invalid_request(format!(
                "The evidence you provided is too long: its fields may hold at most {EVIDENCE_TOTAL} characters in all."
            ))
            .with_param("evidence"));
        }
    }
    let change = DisputeUpdate {
        evidence,
        metadata: common::metadata(params)?,
        submit: params.bool("submit")?,
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            disputes::update(tx, ctx, &id, change)
        })
        .await)
}

async fn close_dispute(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| disputes::close(tx, ctx, &id))
        .await)
}
