//! `/v1/accounts`, `/v1/account`, and what hangs under an account: capabilities, persons,
//! external accounts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};

use super::common::{self, ADDRESS};
use crate::domain::accounts::{self, AccountChanges};
use crate::domain::money::Currency;
use crate::domain::objects::{ACCOUNT, PERSON};
use crate::domain::{docs, external_accounts, persons, Error, ErrorKind};
use crate::store::FieldValue;
use crate::wire::list::{self, List};
use crate::wire::params::{Params, Result};
use crate::wire::shape::{self, Field, Shape};
use crate::wire::{ApiError, ApiRequest, App};

type Reply = std::result::Result<Response, ApiError>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/account", get(retrieve_own))
        .route("/v1/accounts", get(list).post(create))
        .route(
            "/v1/accounts/{account}",
            get(retrieve).post(update).delete(delete),
        )
        .route("/v1/accounts/{account}/reject", post(reject))
        .route(
            "/v1/accounts/{account}/capabilities",
            get(list_capabilities),
        )
        .route(
            "/v1/accounts/{account}/capabilities/{name}",
            get(retrieve_capability).post(update_capability),
        )
        .route(
            "/v1/accounts/{account}/persons",
            get(list_persons).post(create_person),
        )
        .route(
            "/v1/accounts/{account}/persons/{id}",
            get(retrieve_person)
                .post(update_person)
                .delete(delete_person),
        )
        .route(
            "/v1/accounts/{account}/external_accounts",
            get(list_external).post(create_external),
        )
        .route(
            "/v1/accounts/{account}/external_accounts/{id}",
            get(retrieve_external)
                .post(update_external)
                .delete(delete_external),
        )
}

const DOB: Shape = &[
    ("day", Field::IntIn(1, 31)),
    ("month", Field::IntIn(1, 12)),
    ("year", Field::IntIn(1900, 2100)),
];
const DOCUMENT: Shape = &[("back", Field::Str(500)), ("front", Field::Str(500))];
const VERIFICATION: Shape = &[
    ("additional_document", Field::Obj(DOCUMENT)),
    ("document", Field::Obj(DOCUMENT)),
];
const RELATIONSHIP: Shape = &[
    ("director", Field::Bool),
    ("executive", Field::Bool),
    ("legal_guardian", Field::Bool),
    ("owner", Field::Bool),
    ("percent_ownership", Field::Percent),
    ("representative", Field::Bool),
    ("title", Field::Str(500)),
];
const INDIVIDUAL: Shape = &[
    ("address", Field::Obj(ADDRESS)),
    ("dob", Field::Obj(DOB)),
    ("email", Field::Str(800)),
    ("first_name", Field::Str(100)),
    ("full_name_aliases", Field::StrList),
    ("gender", Field::Str(20)),
    ("id_number", Field::Str(100)),
    ("id_number_secondary", Field::Str(100)),
    ("last_name", Field::Str(100)),
    ("maiden_name", Field::Str(100)),
    ("metadata", Field::StrMap),
    ("nationality", Field::Str(2)),
    ("phone", Field::Str(100)),
    ("political_exposure", Field::Enum(&["existing", "none"])),
    ("registered_address", Field::Obj(ADDRESS)),
    ("ssn_last_4", Field::Digits(4)),
    ("verification", Field::Obj(VERIFICATION)),
];
const PERSON_FIELDS: Shape = &[
    ("address", Field::Obj(ADDRESS)),
    ("dob", Field::Obj(DOB)),
    ("email", Field::Str(800)),
    ("first_name", Field::Str(100)),
    ("full_name_aliases", Field::StrList),
    ("gender", Field::Str(20)),
    ("id_number", Field::Str(100)),
    ("id_number_secondary", Field::Str(100)),
    ("last_name", Field::Str(100)),
    ("maiden_name", Field::Str(100)),
    ("metadata", Field::StrMap),
    ("nationality", Field::Str(2)),
    ("phone", Field::Str(100)),
    ("political_exposure", Field::Enum(&["existing", "none"])),
    ("registered_address", Field::Obj(ADDRESS)),
    ("relationship", Field::Obj(RELATIONSHIP)),
    ("ssn_last_4", Field::Digits(4)),
    ("verification", Field::Obj(VERIFICATION)),
];
const COMPANY: Shape = &[
    ("address", Field::Obj(ADDRESS)),
    ("directors_provided", Field::Bool),
    ("executives_provided", Field::Bool),
    ("name", Field::Str(100)),
    ("owners_provided", Field::Bool),
    (
        "ownership_declaration",
        Field::Obj(&[
            ("date", Field::Int),
            ("ip", Field::Str(100)),
            ("user_agent", Field::Str(500)),
        ]),
    ),
    ("phone", Field::Str(100)),
    ("registration_number", Field::Str(100)),
    ("structure", Field::Str(64)),
    ("tax_id", Field::Str(100)),
    ("tax_id_registrar", Field::Str(100)),
    ("vat_id", Field::Str(100)),
    (
        "verification",
        Field::Obj(&[("document", Field::Obj(DOCUMENT))]),
    ),
];
const MONEY: Shape = &[("amount", Field::Int), ("currency", Field::Str(3))];
const BUSINESS_PROFILE: Shape = &[
    (
        "annual_revenue",
        Field::Obj(&[
            ("amount", Field::Int),
            ("currency", Field::Str(3)),
            ("fiscal_year_end", Field::Str(10)),
        ]),
    ),
    ("estimated_worker_count", Field::Int),
    ("mcc", Field::Str(4)),
    ("monthly_estimated_revenue", Field::Obj(MONEY)),
    ("name", Field::Str(500)),
    ("product_description", Field::Str(40000)),
    ("support_address", Field::Obj(ADDRESS)),
    ("support_email", Field::Str(800)),
    ("support_phone", Field::Str(100)),
    ("support_url", Field::Str(5000)),
    ("url", Field::Str(5000)),
];
const WEEKDAYS: &[&str] = &[
    "friday",
    "monday",
    "saturday",
    "sunday",
    "thursday",
    "tuesday",
    "wednesday",
];
const SETTINGS: Shape = &[
    (
        "branding",
        Field::Obj(&[
            ("icon", Field::Str(500)),
            ("logo", Field::Str(500)),
            ("primary_color", Field::Str(7)),
            ("secondary_color", Field::Str(7)),
        ]),
    ),
    (
        "card_payments",
        Field::Obj(&[
            (
                "decline_on",
                Field::Obj(&[("avs_failure", Field::Bool), ("cvc_failure", Field::Bool)]),
            ),
            ("statement_descriptor_prefix", Field::Str(10)),
            ("statement_descriptor_prefix_kana", Field::Str(10)),
            ("statement_descriptor_prefix_kanji", Field::Str(10)),
        ]),
    ),
    (
        "dashboard",
        Field::Obj(&[
            ("display_name", Field::Str(100)),
            ("timezone", Field::Str(100)),
        ]),
    ),
    (
        "payments",
        Field::Obj(&[
            ("statement_descriptor", Field::Str(22)),
            ("statement_descriptor_kana", Field::Str(22)),
            ("statement_descriptor_kanji", Field::Str(22)),
        ]),
    ),
    (
        "payouts",
        Field::Obj(&[
            ("debit_negative_balances", Field::Bool),
            (
                "schedule",
                Field::Obj(&[
                    ("delay_days", Field::Str(8)),
                    (
                        "interval",
                        Field::Enum(&["daily", "manual", "monthly", "weekly"]),
                    ),
                    ("monthly_anchor", Field::Int),
                    ("weekly_anchor", Field::Enum(WEEKDAYS)),
                ]),
            ),
            ("statement_descriptor", Field::Str(22)),
        ]),
    ),
];
const TOS_ACCEPTANCE: Shape = &[
    ("date", Field::Int),
    ("ip", Field::Str(100)),
    ("service_agreement", Field::Enum(&["full", "recipient"])),
    ("user_agent", Field::Str(5000)),
];
const CONTROLLER: Shape = &[
    (
        "fees",
        Field::Obj(&[("payer", Field::Enum(&["account", "application"]))]),
    ),
    (
        "losses",
        Field::Obj(&[("payments", Field::Enum(&["application", "stripe"]))]),
    ),
    (
        "requirement_collection",
        Field::Enum(&["application", "stripe"]),
    ),
    (
        "stripe_dashboard",
        Field::Obj(&[("type", Field::Enum(&["express", "full", "none"]))]),
    ),
];
const EXTERNAL_ACCOUNT: Shape = &[
    ("account_holder_name", Field::Str(500)),
    (
        "account_holder_type",
        Field::Enum(&["company", "individual"]),
    ),
    ("account_number", Field::Str(64)),
    (
        "account_type",
        Field::Enum(&["checking", "futsu", "savings", "toza"]),
    ),
    ("address_city", Field::Str(200)),
    ("address_country", Field::Str(200)),
    ("address_line1", Field::Str(200)),
    ("address_line2", Field::Str(200)),
    ("address_state", Field::Str(200)),
    ("address_zip", Field::Str(200)),
    ("country", Field::Str(2)),
    ("currency", Field::Str(3)),
    ("cvc", Field::Str(4)),
    ("default_for_currency", Field::Bool),
    ("exp_month", Field::Int),
    ("exp_year", Field::Int),
    ("metadata", Field::StrMap),
    ("name", Field::Str(500)),
    ("number", Field::Str(32)),
    ("object", Field::Enum(&["bank_account", "card"])),
    ("routing_number", Field::Str(32)),
];
const BUSINESS_TYPES: &[&str] = &["company", "government_entity", "individual", "non_profit"];

fn external_input(params: &mut Params, key: &str) -> Result<Option<external_accounts::Input>> {
    if params.is_hash(key) {
        let map = shape::read_key(params, key, EXTERNAL_ACCOUNT)?.unwrap_or_default();
        let input = match map.get("object").and_then(Value::as_str) {
            Some("card") => external_accounts::Input::Card(map),
            Some("bank_account") | None => external_accounts::Input::Bank(map),
            Some(_) => unreachable_object(),
        };
        return Ok(Some(input));
    }
    Ok(params
        .string(key)?
        .filter(|token| !token.is_empty())
        .map(external_accounts::Input::Token))
}

/// `object` is an enum of two checked values; anything else was rejected while reading.
fn unreachable_object() -> external_accounts::Input {
    external_accounts::Input::Bank(Map::new())
}

fn capabilities(params: &mut Params) -> Result<Vec<(String, bool)>> {
    let Some(mut map) = params.map("capabilities")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in map.keys() {
        let Some(mut capability) = map.map(&name)? else {
            continue;
        };
        if let Some(requested) = capability.bool("requested")? {
            out.push((name.clone(), requested));
        }
        capability.finish()?;
    }
    map.finish()?;
    Ok(out)
}

fn changes(params: &mut Params, creating: bool) -> Result<AccountChanges> {
    let mut changes = AccountChanges::default();
    if creating {
        changes.legacy_type = params
            .enum_of("type", &["custom", "express", "standard"])?
            .map(str::to_string);
        changes.controller = shape::read_key(params, "controller", CONTROLLER)?;
        changes.country = params
            .bounded_string("country", 2)?
            .filter(|c| !c.is_empty());
    }
    changes.email = common::text(params, "email", 800)?;
    changes.default_currency = match params
        .bounded_string("default_currency", 3)?
        .filter(|c| !c.is_empty())
    {
        Some(code) => Some(
            Currency::parse(&code, "default_currency")?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    changes.business_type = match params.string("business_type")? {
        None => None,
        Some(text) if text.is_empty() => Some(None),
        Some(text) if BUSINESS_TYPES.contains(&text.as_str()) => Some(Some(text)),
        Some(text) => {
            return Err(ApiError::invalid_request(format!(
                "Invalid business_type: must be one of {} (got {text}).",
                BUSINESS_TYPES.join(", ")
            ))
            .with_param("business_type"))
        }
    };
    changes.business_profile = shape::read_key(params, "business_profile", BUSINESS_PROFILE)?;
    changes.individual = shape::read_key(params, "individual", INDIVIDUAL)?;
    changes.company = shape::read_key(params, "company", COMPANY)?;
    changes.settings = shape::read_key(params, "settings", SETTINGS)?;
    changes.tos_acceptance = shape::read_key(params, "tos_acceptance", TOS_ACCEPTANCE)?;
    changes.metadata = common::metadata(params)?;
    changes.capabilities = capabilities(params)?;
    changes.external_account = external_input(params, "external_account")?;
    Ok(changes)
}

async fn create(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let input = changes(&mut request.params, true)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let account = accounts::create(tx, ctx, input)?;
            accounts::render(tx, ctx, &account)
        })
        .await)
}

async fn retrieve_own(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let account = if ctx.connected {
                accounts::load(tx, ctx, &ctx.scope.account)?
            } else {
                accounts::platform(tx, ctx)?
            };
            accounts::render(tx, ctx, &account)
        })
        .await)
}

async fn retrieve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let account = accounts::load(tx, ctx, &id)?;
            accounts::render(tx, ctx, &account)
        })
        .await)
}

async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let input = changes(&mut request.params, false)?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let account = accounts::update(tx, ctx, &id, input)?;
            accounts::render(tx, ctx, &account)
        })
        .await)
}

async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    let forget = id.clone();
    let response = app
        .write(request, move |tx, ctx| accounts::delete(tx, ctx, &id))
        .await;
    if response.status().is_success() {
        app.forget_account(&forget);
    }
    Ok(response)
}

async fn reject(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let Some(reason) = request
        .params
        .enum_of("reason", &["fraud", "other", "terms_of_service"])?
    else {
        return Err(ApiError::parameter_missing("reason"));
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let account = accounts::reject(tx, ctx, &id, reason)?;
            accounts::render(tx, ctx, &account)
        })
        .await)
}

async fn list(State(app): State<Arc<App>>, mut request: ApiRequest) -> Reply {
    let page = list::page_request(&mut request.params)?;
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            if ctx.connected {
                return Err(Error::new(ErrorKind::Permission, "Only a platform can list its connected accounts: make this request without the Stripe-Account header."));
            }
            let found = docs::page(tx, &ctx.platform_scope(), &[ACCOUNT], None, &page)?;
            let mut data = Vec::with_capacity(found.docs.len());
            for doc in &found.docs {
                let account: accounts::Account = docs::from_json(doc)?;
                data.push(accounts::render(tx, ctx, &account)?);
            }
            Ok(List::new("/v1/accounts", data, found.has_more))
        })
        .await)
}

async fn list_capabilities(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            let data = accounts::capabilities(tx, ctx, &account)?;
            Ok(List::new(
                format!("/v1/accounts/{account}/capabilities"),
                data,
                false,
            ))
        })
        .await)
}

async fn retrieve_capability(
    State(app): State<Arc<App>>,
    Path((account, name)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            accounts::capability(tx, ctx, &account, &name)
        })
        .await)
}

async fn update_capability(
    State(app): State<Arc<App>>,
    Path((account, name)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    let requested = request.params.bool("requested")?;
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            accounts::update_capability(tx, ctx, &account, &name, requested)
        })
        .await)
}

fn person_patch(params: &mut Params) -> Result<Map<String, Value>> {
    let taken = std::mem::replace(params, Params::new(Vec::new()));
    // Persons take their fields at the top level: read them all against the person shape,
    // leaving only `expand` (already taken by the extractor).
    shape::read(taken, PERSON_FIELDS)
}

async fn create_person(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let patch = person_patch(&mut request.params)?;
    Ok(app
        .write(request, move |tx, ctx| {
            let mut person = accounts::create_person(tx, ctx, &account, patch)?;
            persons::public_view(&mut person);
            Ok(person)
        })
        .await)
}

async fn update_person(
    State(app): State<Arc<App>>,
    Path((account, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    let patch = person_patch(&mut request.params)?;
    Ok(app
        .write(request, move |tx, ctx| {
            let mut person = accounts::update_person(tx, ctx, &account, &id, patch)?;
            persons::public_view(&mut person);
            Ok(person)
        })
        .await)
}

async fn retrieve_person(
    State(app): State<Arc<App>>,
    Path((account, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            accounts::load(tx, ctx, &account)?;
            let mut person = persons::load(tx, ctx, &account, &id)?;
            persons::public_view(&mut person);
            Ok(person)
        })
        .await)
}

async fn delete_person(
    State(app): State<Arc<App>>,
    Path((account, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            accounts::delete_person(tx, ctx, &account, &id)
        })
        .await)
}

async fn list_persons(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let mut page = list::page_request(&mut request.params)?;
    if let Some(mut map) = request.params.map("relationship")? {
        const ROLES: &[(&str, &str)] = &[
            ("director", "relationship.director"),
            ("executive", "relationship.executive"),
            ("legal_guardian", "relationship.legal_guardian"),
            ("owner", "relationship.owner"),
            ("representative", "relationship.representative"),
        ];
        for (role, path) in ROLES {
            if let Some(flag) = map.bool(role)? {
                page.filters.push((path, FieldValue::Bool(flag)));
            }
        }
        map.finish()?;
    }
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            accounts::load(tx, ctx, &account)?;
            let found = docs::page(tx, &ctx.platform_scope(), &[PERSON], Some(&account), &page)?;
            let mut data = Vec::with_capacity(found.docs.len());
            for doc in &found.docs {
                let mut person: Value = docs::from_json(doc)?;
                persons::public_view(&mut person);
                data.push(person);
            }
            Ok(List::new(
                format!("/v1/accounts/{account}/persons"),
                data,
                found.has_more,
            ))
        })
        .await)
}

async fn create_external(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let Some(input) = external_input(&mut request.params, "external_account")? else {
        return Err(ApiError::parameter_missing("external_account"));
    };
    let make_default = request
        .params
        .bool("default_for_currency")?
        .unwrap_or(false);
    let metadata = match request.params.map("metadata")? {
        None => None,
        Some(map) => Some(
            map.into_string_pairs()?
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ),
    };
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            let mut external =
                accounts::add_external_account(tx, ctx, &account, input, make_default, metadata)?;
            external_accounts::public_view(&mut external);
            Ok(external)
        })
        .await)
}

async fn retrieve_external(
    State(app): State<Arc<App>>,
    Path((account, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            accounts::load(tx, ctx, &account)?;
            let mut external = external_accounts::load(tx, ctx, &account, &id)?;
            external_accounts::public_view(&mut external);
            Ok(external)
        })
        .await)
}

const EXTERNAL_UPDATE: Shape = &[
    ("account_holder_name", Field::Str(500)),
    (
        "account_holder_type",
        Field::Enum(&["company", "individual"]),
    ),
    (
        "account_type",
        Field::Enum(&["checking", "futsu", "savings", "toza"]),
    ),
    ("address_city", Field::Str(200)),
    ("address_country", Field::Str(200)),
    ("address_line1", Field::Str(200)),
    ("address_line2", Field::Str(200)),
    ("address_state", Field::Str(200)),
    ("address_zip", Field::Str(200)),
    ("default_for_currency", Field::Bool),
    ("exp_month", Field::Int),
    ("exp_year", Field::Int),
    ("metadata", Field::StrMap),
    ("name", Field::Str(500)),
];

async fn update_external(
    State(app): State<Arc<App>>,
    Path((account, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    let taken = std::mem::replace(&mut request.params, Params::new(Vec::new()));
    let mut patch = shape::read(taken, EXTERNAL_UPDATE)?;
    let make_default = patch
        .remove("default_for_currency")
        .and_then(|v| v.as_bool());
    Ok(app
        .write(request, move |tx, ctx| {
            let mut external =
                accounts::update_external_account(tx, ctx, &account, &id, patch, make_default)?;
            external_accounts::public_view(&mut external);
            Ok(external)
        })
        .await)
}

async fn delete_external(
    State(app): State<Arc<App>>,
    Path((account, id)): Path<(String, String)>,
    mut request: ApiRequest,
) -> Reply {
    request.finish_params()?;
    Ok(app
        .write(request, move |tx, ctx| {
            accounts::delete_external_account(tx, ctx, &account, &id)
        })
        .await)
}

async fn list_external(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    mut request: ApiRequest,
) -> Reply {
    let page = list::page_request(&mut request.params)?;
    let kinds: &'static [&'static str] = match request
        .params
        .enum_of("object", &["bank_account", "card"])?
    {
        Some("bank_account") => &["bank_account"],
        Some(_) => &["card"],
        None => external_accounts::KINDS,
    };
    request.finish_params()?;
    Ok(app
        .read(request, move |tx, ctx| {
            accounts::load(tx, ctx, &account)?;
            let found = docs::page(tx, &ctx.platform_scope(), kinds, Some(&account), &page)?;
            let mut data = Vec::with_capacity(found.docs.len());
            for doc in &found.docs {
                let mut external: Value = docs::from_json(doc)?;
                external_accounts::public_view(&mut external);
                data.push(external);
            }
            Ok(List::new(
                format!("/v1/accounts/{account}/external_accounts"),
                data,
                found.has_more,
            ))
        })
        .await)
}
