//! `/v1/payment_methods` (create, retrieve, update, list, attach, detach) and
//! `/v1/customers/{customer}/payment_methods`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};

use super::common::{self, ADDRESS};
use crate::domain::payment_methods::{self, CardInput, CreateInput, Listed, UpdateInput};
use crate::wire::list::{self, List};
use crate::wire::params::{Params, Result};
use crate::wire::shape::{self, Field, Shape};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/payment_methods", get(list).post(create))
        .route("/v1/payment_methods/{id}", get(retrieve).post(update))
        .route("/v1/payment_methods/{id}/attach", post(attach))
        .route("/v1/payment_methods/{id}/detach", post(detach))
        // `{id}` is the customer: the customer routes name that segment so.
        .route("/v1/customers/{id}/payment_methods", get(list_for_customer))
        .route(
            "/v1/customers/{id}/payment_methods/{payment_method}",
            get(retrieve_for_customer),
        )
}

const BILLING_DETAILS: Shape = &[
    ("address", Field::Obj(ADDRESS)),
    ("email", Field::Str(800)),
    ("name", Field::Str(5000)),
    ("phone", Field::Str(5000)),
];

const ALLOW_REDISPLAY: &[&str] = &["always", "limited", "unspecified"];

fn missing_card_field(name: &str) -> ApiError {
    ApiError::invalid_request(format!(
        "The payment method `card` requires the parameter: {name}."
    ))
    .with_code("parameter_missing")
    .with_param(name)
}

/// `card[...]` on create: details, or a token.
fn card_input(params: &mut Params) -> Result<Option<CardInput>> {
    let Some(mut card) = params.map("card")? else {
        return Ok(None);
    };
    let token = card
        .bounded_string("token", 5000)?
        .filter(|t| !t.is_empty());
    let number = card
        .bounded_string("number", 5000)?
        .filter(|n| !n.is_empty());
    let exp_month = card.int("exp_month")?;
    let exp_year = card.int("exp_year")?;
    let cvc = card.bounded_string("cvc", 5000)?;
    card.finish()?;
    if let Some(token) = token {
        if number.is_some() || exp_month.is_some() || exp_year.is_some() || cvc.is_some() {
            return Err(ApiError::invalid_request(
                "You cannot pass `card[token]` together with card details (`card[number]`, `card[exp_month]`, `card[exp_year]`, `card[cvc]`).",
            )
            .with_param("card[token]"));
        }
        return Ok(Some(CardInput::Token(token)));
    }
    let number = number.ok_or_else(|| missing_card_field("card[number]"))?;
    let exp_month = exp_month.ok_or_else(|| missing_card_field("card[exp_month]"))?;
    let exp_year = exp_year.ok_or_else(|| missing_card_field("card[exp_year]"))?;
    Ok(Some(CardInput::Details {
        number,
        exp_month,
        exp_year,
        cvc,
    }))
}

fn billing_details(params: &mut Params) -> Result<Option<Map<String, Value>>> {
    shape::read_key(params, "billing_details", BILLING_DETAILS)
}

fn allow_redisplay(params: &mut Params) -> Result<Option<&'static str>> {
    params.enum_of("allow_redisplay", ALLOW_REDISPLAY)
}

fn optional_id(params: &mut Params, key: &str) -> Result<Option<String>> {
    Ok(params.bounded_string(key, 5000)?.filter(|s| !s.is_empty()))
}

fn shown(mut pm: Value) -> Value {
    payment_methods::public_view(&mut pm);
    pm
}

fn shown_list(url: String, listed: Listed) -> List {
    List::new(
        url,
        listed.data.into_iter().map(shown).collect(),
        listed.has_more,
    )
}

async fn create(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let params = &mut request.params;
    let input = CreateInput {
        kind: optional_id(params, "type")?,
        card: card_input(params)?,
        billing_details: billing_details(params)?,
        metadata: common::metadata(params)?,
        customer: optional_id(params, "customer")?,
        payment_method: optional_id(params, "payment_method")?,
        allow_redisplay: allow_redisplay(params)?,
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_methods::create(tx, ctx, input).map(shown)
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
            payment_methods::retrieve(tx, ctx, &id).map(shown)
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
    let (exp_month, exp_year) = match params.map("card")? {
        None => (None, None),
        Some(mut card) => {
            let expiry = (card.int("exp_month")?, card.int("exp_year")?);
            card.finish()?;
            expiry
        }
    };
    let input = UpdateInput {
        billing_details: billing_details(params)?,
        exp_month,
        exp_year,
        metadata: common::metadata(params)?,
        allow_redisplay: allow_redisplay(params)?,
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_methods::update(tx, ctx, &id, input).map(shown)
        })
        .await)
}

async fn attach(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    let customer = request.params.required_string("customer")?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_methods::attach(tx, ctx, &id, &customer).map(shown)
        })
        .await)
}

async fn detach(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_methods::detach(tx, ctx, &id).map(shown)
        })
        .await)
}

async fn list(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let params = &mut request.params;
    let page = list::page_request(params)?;
    let customer = optional_id(params, "customer")?;
    let kind = optional_id(params, "type")?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let listed =
                payment_methods::list(tx, ctx, customer.as_deref(), kind.as_deref(), &page)?;
            Ok(shown_list("/v1/payment_methods".to_string(), listed))
        })
        .await)
}

async fn list_for_customer(
    State(app): State<Arc<App>>,
    Path(customer): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&customer)?;
    let params = &mut request.params;
    let mut page = list::page_request(params)?;
    let kind = optional_id(params, "type")?;
    if let Some(value) = allow_redisplay(params)? {
        page.filters.push((
            "allow_redisplay",
            crate::store::FieldValue::Text(value.to_string()),
        ));
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let listed =
                payment_methods::list_for_customer(tx, ctx, &customer, kind.as_deref(), &page)?;
            Ok(shown_list(
                format!("/v1/customers/{customer}/payment_methods"),
                listed,
            ))
        })
        .await)
}

async fn retrieve_for_customer(
    State(app): State<Arc<App>>,
    Path((customer, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    common::check_id(&customer)?;
    common::check_id(&id)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            payment_methods::retrieve_for_customer(tx, ctx, &customer, &id).map(shown)
        })
        .await)
}
