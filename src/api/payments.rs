//! `/v1/payment_intents`, `/v1/charges`, and the page a customer completes 3D Secure on.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use super::common;
use crate::domain::objects::{CHARGE, PAYMENT_INTENT};
use crate::domain::payment_intents::{self, IntentInput};
use crate::domain::{charges, docs};
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::params::{Params, Result};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/payment_intents", get(list_intents).post(create_intent))
        .route(
            "/v1/payment_intents/{id}",
            get(retrieve_intent).post(update_intent),
        )
        .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
        .route("/v1/payment_intents/{id}/capture", post(capture_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/charges", get(list_charges).post(create_charge))
        .route("/v1/charges/{id}", get(retrieve_charge).post(update_charge))
        .route("/v1/charges/{id}/capture", post(capture_charge))
        .route("/v1/sluice/authenticate/{id}", get(authentication_page))
        .route(
            "/v1/sluice/authenticate/{id}/complete",
            post(complete_authentication),
        )
        .route(
            "/v1/sluice/authenticate/{id}/fail",
            post(fail_authentication),
        )
}

const CAPTURE_METHODS: &[&str] = &["automatic", "automatic_async", "manual"];
const CANCELLATION_REASONS: &[&str] = &[
    "abandoned",
    "duplicate",
    "fraudulent",
    "requested_by_customer",
];

/// The parameters PaymentIntent create, update and confirm share; `creating` adds create-only ones.
fn intent_input(params: &mut Params, creating: bool) -> Result<IntentInput> {
    let mut input = IntentInput {
        amount: params.int("amount")?,
        currency: params
            .bounded_string("currency", 3)?
            .filter(|c| !c.is_empty()),
        customer: params
            .bounded_string("customer", 255)?
            .filter(|c| !c.is_empty()),
        description: common::text(params, "description", 1000)?,
        metadata: common::metadata(params)?,
        payment_method: params
            .bounded_string("payment_method", 255)?
            .filter(|p| !p.is_empty()),
        payment_method_types: params.string_list("payment_method_types")?,
        application_fee_amount: params.int("application_fee_amount")?,
        receipt_email: params
            .bounded_string("receipt_email", 800)?
            .filter(|e| !e.is_empty()),
        transfer_group: params
            .bounded_string("transfer_group", 500)?
            .filter(|g| !g.is_empty()),
        setup_future_usage: params
            .enum_of("setup_future_usage", &["off_session", "on_session"])?
            .map(str::to_string),
        statement_descriptor: params
            .bounded_string("statement_descriptor", 22)?
            .filter(|s| !s.is_empty()),
        statement_descriptor_suffix: params
            .bounded_string("statement_descriptor_suffix", 22)?
            .filter(|s| !s.is_empty()),
        ..Default::default()
    };
    if let Some(types) = &input.payment_method_types {
        if let Some(other) = types.iter().find(|t| t.as_str() != "card") {
            return Err(ApiError::invalid_request(format!(
                "The payment method type `{other}` is not supported by Sluice: use `card`."
            ))
            .with_param("payment_method_types"));
        }
    }
    if let Some(mut transfer) = params.map("transfer_data")? {
        input.transfer_amount = transfer.int("amount")?;
        if creating {
            input.transfer_destination = Some(transfer.required_string("destination")?);
        }
        transfer.finish()?;
    }
    if creating {
        input.capture_method = params
            .enum_of("capture_method", CAPTURE_METHODS)?
            .map(str::to_string);
        input.confirmation_method = params
            .enum_of("confirmation_method", &["automatic", "manual"])?
            .map(str::to_string);
        input.confirm = params.bool("confirm")?.unwrap_or(false);
        input.on_behalf_of = params
            .bounded_string("on_behalf_of", 255)?
            .filter(|a| !a.is_empty());
        input.return_url = params
            .bounded_string("return_url", 5000)?
            .filter(|u| !u.is_empty());
        if let Some(mut automatic) = params.map("automatic_payment_methods")? {
            let enabled = automatic.bool("enabled")?.unwrap_or(false);
            let redirects = automatic
                .enum_of("allow_redirects", &["always", "never"])?
                .map(str::to_string);
            automatic.finish()?;
            input.automatic_payment_methods = Some((enabled, redirects));
        }
        // Accepted and without effect here: Sluice has no saved-card or off-session rules.
        params.bool("off_session")?;
        params.bool("error_on_requires_action")?;
        params.bool("use_stripe_sdk")?;
    }
    Ok(input)
}

async fn create_intent(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let input = intent_input(&mut request.params, true)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::create(tx, ctx, input)
        })
        .await)
}

async fn retrieve_intent(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    // The SDKs send `client_secret` on publishable-key retrieves; a secret key may ignore it.
    request.params.string("client_secret")?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            payment_intents::retrieve(tx, ctx, &id)
        })
        .await)
}

async fn update_intent(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let input = intent_input(&mut request.params, false)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::update(tx, ctx, &id, input)
        })
        .await)
}

async fn confirm_intent(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let input = IntentInput {
        payment_method: request
            .params
            .bounded_string("payment_method", 255)?
            .filter(|p| !p.is_empty()),
        return_url: request
            .params
            .bounded_string("return_url", 5000)?
            .filter(|u| !u.is_empty()),
        ..Default::default()
    };
    request.params.bool("off_session")?;
    request.params.bool("error_on_requires_action")?;
    request.params.bool("use_stripe_sdk")?;
    request.params.string("client_secret")?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::confirm(tx, ctx, &id, input)
        })
        .await)
}

async fn capture_intent(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let amount = request.params.int("amount_to_capture")?;
    let fee = request.params.int("application_fee_amount")?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::capture(tx, ctx, &id, amount, fee)
        })
        .await)
}

async fn cancel_intent(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let reason = request
        .params
        .enum_of("cancellation_reason", CANCELLATION_REASONS)?
        .map(str::to_string);
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::cancel(tx, ctx, &id, reason)
        })
        .await)
}

fn public_list(
    docs: &[crate::store::Document],
    view: fn(Value) -> Value,
) -> crate::domain::Result<Vec<Value>> {
    docs.iter()
        .map(|doc| docs::from_json(doc).map(view))
        .collect()
}

async fn list_intents(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    if let Some(customer) = request
        .params
        .bounded_string("customer", 255)?
        .filter(|c| !c.is_empty())
    {
        page.filters.push(("customer", FieldValue::Text(customer)));
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let found = docs::page(tx, &ctx.scope, &[PAYMENT_INTENT], None, &page)?;
            let data = public_list(&found.docs, payment_intents::public)?;
            Ok(List::new("/v1/payment_intents", data, found.has_more))
        })
        .await)
}

fn charge_view(mut charge: Value) -> Value {
    charges::public_view(&mut charge);
    charge
}

async fn create_charge(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let params = &mut request.params;
    let mut input = IntentInput {
        amount: params.int("amount")?,
        currency: params
            .bounded_string("currency", 3)?
            .filter(|c| !c.is_empty()),
        customer: params
            .bounded_string("customer", 255)?
            .filter(|c| !c.is_empty()),
        description: common::text(params, "description", 1000)?,
        metadata: common::metadata(params)?,
        application_fee_amount: params.int("application_fee_amount")?,
        receipt_email: params
            .bounded_string("receipt_email", 800)?
            .filter(|e| !e.is_empty()),
        transfer_group: params
            .bounded_string("transfer_group", 500)?
            .filter(|g| !g.is_empty()),
        on_behalf_of: params
            .bounded_string("on_behalf_of", 255)?
            .filter(|a| !a.is_empty()),
        statement_descriptor: params
            .bounded_string("statement_descriptor", 22)?
            .filter(|s| !s.is_empty()),
        statement_descriptor_suffix: params
            .bounded_string("statement_descriptor_suffix", 22)?
            .filter(|s| !s.is_empty()),
        ..Default::default()
    };
    if let Some(mut transfer) = params.map("transfer_data")? {
        input.transfer_amount = transfer.int("amount")?;
        input.transfer_destination = Some(transfer.required_string("destination")?);
        transfer.finish()?;
    }
    let source = params.required_string("source")?;
    let capture = params.bool("capture")?.unwrap_or(true);
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::create_charge(tx, ctx, input, &source, capture).map(charge_view)
        })
        .await)
}

async fn retrieve_charge(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            charges::load(tx, &ctx.scope, &id).map(charge_view)
        })
        .await)
}

async fn update_charge(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let description = common::text(&mut request.params, "description", 1000)?;
    let change = common::metadata(&mut request.params)?;
    let receipt_email = common::text(&mut request.params, "receipt_email", 800)?;
    let transfer_group = request
        .params
        .bounded_string("transfer_group", 500)?
        .filter(|g| !g.is_empty());
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let change = charges::ChargeUpdate {
                description,
                receipt_email,
                transfer_group,
                metadata: change,
            };
            charges::update(tx, ctx, &id, change).map(charge_view)
        })
        .await)
}

async fn capture_charge(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let amount = request.params.int("amount")?;
    let fee = request.params.int("application_fee_amount")?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            payment_intents::capture_charge(tx, ctx, &id, amount, fee).map(charge_view)
        })
        .await)
}

async fn list_charges(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    for key in ["customer", "payment_intent", "transfer_group"] {
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
            let found = docs::page(tx, &ctx.scope, &[CHARGE], None, &page)?;
            let data = public_list(&found.docs, charge_view)?;
            Ok(List::new("/v1/charges", data, found.has_more))
        })
        .await)
}

/// The simulated issuer's 3D Secure page. It needs no API key: the intent's client secret in
/// the URL is what authorises it, as on Stripe's hosted page.
async fn authentication_page(Path(id): Path<String>, uri: axum::http::Uri) -> Response {
    let secret = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("client_secret="))
        .unwrap_or_default()
        .to_string();
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;")
    };
    let (id, secret) = (escape(&id), escape(&secret));
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sluice: 3D Secure test</title></head>\
<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>3D Secure authentication</h1>\
<p>This simulated issuer asks you to confirm payment <code>{id}</code>.</p>\
<form method=\"post\" action=\"/v1/sluice/authenticate/{id}/complete\"><input type=\"hidden\" name=\"client_secret\" value=\"{secret}\">\
<button id=\"complete\" type=\"submit\">Complete authentication</button></form>\
<form method=\"post\" action=\"/v1/sluice/authenticate/{id}/fail\"><input type=\"hidden\" name=\"client_secret\" value=\"{secret}\">\
<button id=\"fail\" type=\"submit\">Fail authentication</button></form></body></html>"
    ))
    .into_response()
}

async fn complete_authentication(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    finish_authentication(app, id, body, true).await
}

async fn fail_authentication(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    finish_authentication(app, id, body, false).await
}

async fn finish_authentication(
    app: Arc<App>,
    id: String,
    body: axum::body::Bytes,
    approve: bool,
) -> Response {
    let mut tree = Vec::new();
    if let Err(error) = crate::wire::form::parse(&body, &mut tree) {
        return error.into_response();
    }
    let mut params = Params::new(tree);
    let secret = match params.required_string("client_secret") {
        Ok(secret) => secret,
        Err(error) => return error.into_response(),
    };
    match app.authenticate_intent(&id, &secret, approve).await {
        Ok(return_url) => match return_url {
            Some(url) => axum::response::Redirect::to(&url).into_response(),
            None => Html(format!(
                "<!doctype html><html><body><p id=\"result\">Authentication {}. You may close this page.</p></body></html>",
                if approve { "completed" } else { "failed" }
            ))
            .into_response(),
        },
        Err(error) => error.into_response(),
    }
}
