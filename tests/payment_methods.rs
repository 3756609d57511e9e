//! `/v1/payment_methods` and `/v1/customers/{customer}/payment_methods` over HTTP against both
//! stores: Stripe's shape, card validation errors, test tokens and shortcuts, attach/detach
//! rules, lists and their filters, and isolation between accounts.

mod common;

use common::TestApp;
use serde_json::{json, Value};

/// Every property Sluice renders for a card PaymentMethod.
const PM_KEYS: &[&str] = &[
    "allow_redisplay",
    "billing_details",
    "card",
    "created",
    "customer",
    "id",
    "livemode",
    "metadata",
    "object",
    "type",
];

const CARD_KEYS: &[&str] = &[
    "brand",
    "checks",
    "country",
    "display_brand",
    "exp_month",
    "exp_year",
    "fingerprint",
    "funding",
    "generated_from",
    "last4",
    "networks",
    "three_d_secure_usage",
    "wallet",
];

const VISA: &str =
    "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034&card[cvc]=123";

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

#[track_caller]
fn assert_pm_shape(pm: &Value) {
    assert_eq!(keys(pm), PM_KEYS, "payment_method properties of {pm}");
    assert_eq!(keys(&pm["card"]), CARD_KEYS, "card properties of {pm}");
    let id = pm["id"].as_str().unwrap();
    assert!(id.starts_with("pm_") && id.len() > 10, "id {id}");
    assert_eq!(pm["object"], "payment_method");
    assert_eq!(pm["type"], "card");
    assert_eq!(pm["livemode"], false);
    assert_eq!(pm["allow_redisplay"], "unspecified");
    assert!(pm["created"].is_i64());
    assert!(pm["metadata"].is_object());
    assert_eq!(
        keys(&pm["billing_details"]),
        ["address", "email", "name", "phone"]
    );
    assert_eq!(
        keys(&pm["billing_details"]["address"]),
        ["city", "country", "line1", "line2", "postal_code", "state"]
    );
    let card = &pm["card"];
    assert_eq!(card["last4"].as_str().unwrap().len(), 4);
    assert!(card["exp_month"].is_i64() && card["exp_year"].is_i64());
    assert_eq!(card["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(
        keys(&card["checks"]),
        [
            "address_line1_check",
            "address_postal_code_check",
            "cvc_check"
        ]
    );
    assert!(card["networks"]["available"].is_array());
    assert!(card["three_d_secure_usage"]["supported"].is_boolean());
}

async fn create(app: &TestApp, form: &str) -> Value {
    let resp = app.post("/v1/payment_methods", form, &[]).await;
    let pm = resp.ok().clone();
    assert_pm_shape(&pm);
    pm
}

async fn customer(app: &TestApp) -> String {
    id_of(&app.customer("name=Buyer").await)
}

async fn pm_create_from_card_details(app: TestApp) {
    let pm = create(
        &app,
        &format!(
            "{VISA}&billing_details[name]=Jenny+Rosen&billing_details[email]=jenny%40example.com\
             &billing_details[address][line1]=510+Townsend+St&billing_details[address][postal_code]=94103\
             &metadata[order]=42"
        ),
    )
    .await;
    let card = &pm["card"];
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["display_brand"], "visa");
    assert_eq!(card["last4"], "4242");
    assert_eq!(card["exp_month"], 12);
    assert_eq!(card["exp_year"], 2034);
    assert_eq!(card["funding"], "credit");
    assert_eq!(card["country"], "US");
    assert_eq!(
        card["checks"],
        json!({"address_line1_check": "unchecked", "address_postal_code_check": "unchecked",
               "cvc_check": "unchecked"})
    );
    assert_eq!(
        card["networks"],
        json!({"available": ["visa"], "preferred": null})
    );
    assert_eq!(card["three_d_secure_usage"], json!({"supported": true}));
    assert!(card["wallet"].is_null() && card["generated_from"].is_null());
    assert!(pm["customer"].is_null());
    assert_eq!(pm["billing_details"]["name"], "Jenny Rosen");
    assert_eq!(pm["billing_details"]["email"], "jenny@example.com");
    assert_eq!(
        pm["billing_details"]["address"],
        json!({"city": null, "country": null, "line1": "510 Townsend St", "line2": null,
               "postal_code": "94103", "state": null})
    );
    assert!(pm["billing_details"]["phone"].is_null());
    assert_eq!(pm["metadata"], json!({"order": "42"}));

    // What was answered is what is stored and listed; no private state, no number.
    let id = id_of(&pm);
    let fetched = app.get(&format!("/v1/payment_methods/{id}"), &[]).await;
    assert_eq!(fetched.ok(), &pm);
    assert!(!fetched.text.contains("_sluice") && !fetched.text.contains("4242424242424242"));
    let listed = app.get("/v1/payment_methods", &[]).await;
    assert_eq!(listed.ok()["data"][0], pm);
    assert_eq!(listed.body["url"], "/v1/payment_methods");

    // The same number has the same fingerprint; another number another one.
    let again = create(&app, VISA).await;
    assert_eq!(again["card"]["fingerprint"], card["fingerprint"]);
    assert_ne!(id_of(&again), id);
    assert!(again["card"]["checks"]["address_line1_check"].is_null());
    let amex = create(
        &app,
        "type=card&card[number]=378282246310005&card[exp_month]=1&card[exp_year]=40",
    )
    .await;
    assert_eq!(amex["card"]["brand"], "amex");
    assert_eq!(amex["card"]["display_brand"], "american_express");
    assert_eq!(amex["card"]["exp_year"], 2040);
    assert!(amex["card"]["checks"]["cvc_check"].is_null());
    assert_ne!(amex["card"]["fingerprint"], card["fingerprint"]);
    // A Luhn-valid number outside Stripe's catalogue is accepted (test mode).
    let other = create(
        &app,
        "type=card&card[number]=5425233430109903&card[exp_month]=4&card[exp_year]=2031",
    )
    .await;
    assert_eq!(other["card"]["brand"], "mastercard");
    assert_eq!(other["card"]["last4"], "9903");
}

/// An expected error: status, `error.type`, `error.code` ("" for none), `error.param`.
type Expected = (u16, &'static str, &'static str, &'static str);

async fn pm_create_rejects_bad_cards(app: TestApp) {
    let card_error = |code: &'static str, param: &'static str| (402, "card_error", code, param);
    let cases: Vec<(String, Expected)> =
        vec![
        (
            "type=card&card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2034".into(),
            card_error("incorrect_number", "card[number]"),
        ),
        (
            "type=card&card[number]=4242abcd&card[exp_month]=12&card[exp_year]=2034".into(),
            card_error("invalid_number", "card[number]"),
        ),
        (
            "type=card&card[number]=4242424242424242&card[exp_month]=13&card[exp_year]=2034".into(),
            card_error("invalid_expiry_month", "card[exp_month]"),
        ),
        (
            "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2001".into(),
            card_error("invalid_expiry_year", "card[exp_year]"),
        ),
        (
            format!("{VISA}45"),
            card_error("invalid_cvc", "card[cvc]"),
        ),
        (
            "type=card&card[exp_month]=12&card[exp_year]=2034".into(),
            (400, "invalid_request_error", "parameter_missing", "card[number]"),
        ),
        (
            "type=card&card[number]=4242424242424242&card[exp_year]=2034".into(),
            (400, "invalid_request_error", "parameter_missing", "card[exp_month]"),
        ),
        (
            "type=card".into(),
            (400, "invalid_request_error", "parameter_missing", "card"),
        ),
        (
            "card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2034".into(),
            (400, "invalid_request_error", "parameter_missing", "type"),
        ),
        (
            "type=card&card[number]=4242424242424242&card[exp_month]=twelve&card[exp_year]=2034"
                .into(),
            (
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "card[exp_month]",
            ),
        ),
        (
            format!("{VISA}&card[nmber]=1"),
            (400, "invalid_request_error", "parameter_unknown", "card[nmber]"),
        ),
        (
            format!("{VISA}&sepa_debit[iban]=DE89370400440532013000"),
            (400, "invalid_request_error", "parameter_unknown", "sepa_debit"),
        ),
        (
            "type=card&card[token]=tok_nope".into(),
            (400, "invalid_request_error", "resource_missing", "card[token]"),
        ),
        (
            format!("{VISA}&customer=cus_123"),
            (400, "invalid_request_error", "", "customer"),
        ),
    ];
    for (form, (status, kind, code, param)) in cases {
        let resp = app.post("/v1/payment_methods", &form, &[]).await;
        let code = (!code.is_empty()).then_some(code);
        resp.error(status, kind, code, Some(param));
    }
    let unsupported = app
        .post("/v1/payment_methods", "type=sepa_debit", &[])
        .await;
    unsupported.error(400, "invalid_request_error", None, Some("type"));
    let declined = app
        .post(
            "/v1/payment_methods",
            "type=card&card[number]=4242424242424241&card[exp_month]=12&card[exp_year]=2034",
            &[],
        )
        .await;
    assert_eq!(declined.message(), "Your card number is incorrect.");
    assert_eq!(app.count("/v1/payment_methods", &[]).await, 0);
}

async fn pm_create_from_test_tokens(app: TestApp) {
    let visa = create(&app, "type=card&card[token]=tok_visa").await;
    assert_eq!(visa["card"]["last4"], "4242");
    assert_eq!(visa["card"]["checks"]["cvc_check"], "unchecked");
    let debit = create(&app, "type=card&card[token]=tok_mastercard_debit").await;
    assert_eq!(debit["card"]["brand"], "mastercard");
    assert_eq!(debit["card"]["funding"], "debit");
    let jcb = create(&app, "type=card&card[token]=tok_jcb").await;
    assert_eq!(jcb["card"]["country"], "JP");
    let declined = create(&app, "type=card&card[token]=tok_chargeDeclined").await;
    assert_eq!(declined["card"]["last4"], "0002");
    // A token and card details together are refused.
    app.post(
        "/v1/payment_methods",
        "type=card&card[token]=tok_visa&card[number]=4242424242424242",
        &[],
    )
    .await
    .error(400, "invalid_request_error", None, Some("card[token]"));
}

async fn pm_attach_detach_lifecycle(app: TestApp) {
    let cus = customer(&app).await;
    let pm = create(&app, VISA).await;
    let id = id_of(&pm);
    let attach = format!("/v1/payment_methods/{id}/attach");

    // `customer` is required, and must exist.
    app.post(&attach, "", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("customer"),
    );
    app.post(&attach, "customer=cus_nope", &[]).await.error(
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("customer"),
    );

    let attached = app.post(&attach, &format!("customer={cus}"), &[]).await;
    let attached = attached.ok().clone();
    assert_pm_shape(&attached);
    assert_eq!(attached["customer"], cus.as_str());
    assert_eq!(attached["card"]["checks"]["cvc_check"], "pass");
    assert_eq!(
        app.get(&format!("/v1/payment_methods/{id}"), &[])
            .await
            .ok(),
        &attached
    );
    // Expandable customer.
    let expanded = app
        .get(&format!("/v1/payment_methods/{id}?expand[]=customer"), &[])
        .await;
    assert_eq!(expanded.ok()["customer"]["id"], cus.as_str());
    assert_eq!(expanded.body["customer"]["object"], "customer");

    // The customer's lists.
    let by_customer = app
        .get(&format!("/v1/customers/{cus}/payment_methods"), &[])
        .await;
    assert_eq!(by_customer.ids(), vec![id.clone()]);
    assert_eq!(
        by_customer.body["url"],
        format!("/v1/customers/{cus}/payment_methods")
    );
    let one = app
        .get(&format!("/v1/customers/{cus}/payment_methods/{id}"), &[])
        .await;
    assert_eq!(one.ok(), &attached);
    let filtered = app
        .get(
            &format!("/v1/payment_methods?customer={cus}&type=card"),
            &[],
        )
        .await;
    assert_eq!(filtered.ids(), vec![id.clone()]);

    // Attached again, to the same or another customer: refused.
    let other = customer(&app).await;
    for to in [&cus, &other] {
        let again = app.post(&attach, &format!("customer={to}"), &[]).await;
        again.error(400, "invalid_request_error", None, None);
        assert_eq!(
            again.message(),
            "The payment method you provided has already been attached to a customer."
        );
    }

    // Detach: the customer goes, and the PaymentMethod can't be used again.
    let detach = format!("/v1/payment_methods/{id}/detach");
    let detached = app.post(&detach, "", &[]).await;
    assert!(detached.ok()["customer"].is_null());
    assert!(app
        .get(&format!("/v1/customers/{cus}/payment_methods"), &[])
        .await
        .ids()
        .is_empty());
    app.get(&format!("/v1/customers/{cus}/payment_methods/{id}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    let twice = app.post(&detach, "", &[]).await;
    twice.error(400, "invalid_request_error", None, None);
    assert_eq!(
        twice.message(),
        "The payment method you provided is not attached to a customer so detachment is impossible."
    );
    let reattach = app.post(&attach, &format!("customer={other}"), &[]).await;
    reattach.error(400, "invalid_request_error", None, Some("payment_method"));
    assert!(reattach.message().contains("may not be used again"));
}

async fn pm_attach_test_shortcuts(app: TestApp) {
    let cus = customer(&app).await;
    // A shortcut attaches a fresh PaymentMethod from the catalogue.
    let visa = app
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            &format!("customer={cus}"),
            &[],
        )
        .await;
    let visa = visa.ok().clone();
    assert_pm_shape(&visa);
    assert_ne!(visa["id"], "pm_card_visa");
    assert_eq!(visa["customer"], cus.as_str());
    assert_eq!(visa["card"]["last4"], "4242");
    let second = app
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            &format!("customer={cus}"),
            &[],
        )
        .await;
    assert_ne!(second.ok()["id"], visa["id"]);
    // Decline after attaching: attaching works.
    let fail = app
        .post(
            "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
            &format!("customer={cus}"),
            &[],
        )
        .await;
    assert_eq!(fail.ok()["card"]["last4"], "0341");
    // The declining cards can't be attached.
    for (shortcut, code, decline_code, message) in [
        (
            "pm_card_visa_chargeDeclined",
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            None,
            "Your card has expired.",
        ),
        (
            "pm_card_chargeDeclinedIncorrectCvc",
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
        (
            "pm_card_chargeDeclinedProcessingError",
            "processing_error",
            None,
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ] {
        let resp = app
            .post(
                &format!("/v1/payment_methods/{shortcut}/attach"),
                &format!("customer={cus}"),
                &[],
            )
            .await;
        let error = resp.error(402, "card_error", Some(code), None);
        assert_eq!(error["decline_code"].as_str(), decline_code, "{shortcut}");
        assert_eq!(error["message"], message, "{shortcut}");
    }
    // Nothing was kept of the refused attachments.
    assert_eq!(
        app.count(&format!("/v1/customers/{cus}/payment_methods"), &[])
            .await,
        3
    );
    assert_eq!(app.count("/v1/payment_methods", &[]).await, 3);
    // An unknown shortcut or id is a 404.
    for id in ["pm_card_nope", "pm_doesnotexist"] {
        let resp = app
            .post(
                &format!("/v1/payment_methods/{id}/attach"),
                &format!("customer={cus}"),
                &[],
            )
            .await;
        let error = resp.error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
        assert_eq!(error["message"], format!("No such PaymentMethod: '{id}'"));
    }
}

async fn pm_update_requires_a_customer(app: TestApp) {
    let pm = create(&app, VISA).await;
    let id = id_of(&pm);
    let path = format!("/v1/payment_methods/{id}");
    let refused = app.post(&path, "metadata[a]=1", &[]).await;
    refused.error(400, "invalid_request_error", None, None);
    assert_eq!(
        refused.message(),
        "You must save this PaymentMethod to a customer before you can update it."
    );
    let cus = customer(&app).await;
    app.post(&format!("{path}/attach"), &format!("customer={cus}"), &[])
        .await
        .ok();
    let updated = app
        .post(
            &path,
            "metadata[a]=1&billing_details[name]=Jo&billing_details[address][city]=Paris\
             &card[exp_month]=3&card[exp_year]=2033&allow_redisplay=always",
            &[],
        )
        .await;
    let updated = updated.ok().clone();
    assert_pm_shape_loose(&updated);
    assert_eq!(updated["metadata"], json!({"a": "1"}));
    assert_eq!(updated["billing_details"]["name"], "Jo");
    assert_eq!(updated["billing_details"]["address"]["city"], "Paris");
    assert_eq!(updated["card"]["exp_month"], 3);
    assert_eq!(updated["card"]["exp_year"], 2033);
    assert_eq!(updated["allow_redisplay"], "always");
    assert_eq!(updated["card"]["last4"], "4242");
    // Unsetting and merging.
    let merged = app
        .post(
            &path,
            "metadata[a]=&metadata[b]=2&billing_details[name]=&billing_details[address][line1]=1+Rue",
            &[],
        )
        .await;
    assert_eq!(merged.ok()["metadata"], json!({"b": "2"}));
    assert!(merged.body["billing_details"]["name"].is_null());
    assert_eq!(merged.body["billing_details"]["address"]["city"], "Paris");
    assert_eq!(merged.body["billing_details"]["address"]["line1"], "1 Rue");
    // Bad values are refused and change nothing.
    app.post(&path, "card[exp_month]=13", &[]).await.error(
        402,
        "card_error",
        Some("invalid_expiry_month"),
        Some("card[exp_month]"),
    );
    app.post(&path, "card[number]=4242424242424242", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("card[number]"),
        );
    assert_eq!(app.get(&path, &[]).await.ok(), merged.ok());
    // And 404 for what does not exist.
    app.post("/v1/payment_methods/pm_doesnotexist", "metadata[a]=1", &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
}

#[track_caller]
fn assert_pm_shape_loose(pm: &Value) {
    assert_eq!(keys(pm), PM_KEYS);
    assert_eq!(keys(&pm["card"]), CARD_KEYS);
}

async fn pm_lists_filter_and_page(app: TestApp) {
    let a = customer(&app).await;
    let b = customer(&app).await;
    let mut of_a = Vec::new();
    for _ in 0..3 {
        let pm = create(&app, VISA).await;
        let id = id_of(&pm);
        app.post(
            &format!("/v1/payment_methods/{id}/attach"),
            &format!("customer={a}"),
            &[],
        )
        .await
        .ok();
        of_a.push(id);
    }
    let pm_b = create(&app, "type=card&card[token]=tok_amex").await;
    app.post(
        &format!("/v1/payment_methods/{}/attach", id_of(&pm_b)),
        &format!("customer={b}"),
        &[],
    )
    .await
    .ok();
    let loose = create(&app, VISA).await;
    of_a.reverse(); // newest first

    let all = app.get("/v1/payment_methods?limit=100", &[]).await;
    assert_eq!(all.ids().len(), 5);
    let listed = app
        .get(&format!("/v1/payment_methods?customer={a}"), &[])
        .await;
    assert_eq!(listed.ids(), of_a);
    let page = app
        .get(&format!("/v1/customers/{a}/payment_methods?limit=2"), &[])
        .await;
    assert_eq!(page.ids(), of_a[..2].to_vec());
    assert_eq!(page.body["has_more"], true);
    let rest = app
        .get(
            &format!(
                "/v1/customers/{a}/payment_methods?limit=2&starting_after={}",
                of_a[1]
            ),
            &[],
        )
        .await;
    assert_eq!(rest.ids(), of_a[2..].to_vec());
    assert_eq!(rest.body["has_more"], false);
    // Types other than card list nothing; `allow_redisplay` filters.
    assert!(app
        .get(
            &format!("/v1/customers/{a}/payment_methods?type=sepa_debit"),
            &[]
        )
        .await
        .ids()
        .is_empty());
    assert_eq!(
        app.get(
            &format!("/v1/customers/{a}/payment_methods?allow_redisplay=unspecified"),
            &[]
        )
        .await
        .ids(),
        of_a
    );
    assert!(app
        .get(
            &format!("/v1/customers/{a}/payment_methods?allow_redisplay=always"),
            &[]
        )
        .await
        .ids()
        .is_empty());
    assert_eq!(
        app.get(&format!("/v1/customers/{b}/payment_methods"), &[])
            .await
            .ids(),
        vec![id_of(&pm_b)]
    );
    // Unknown customers.
    app.get("/v1/payment_methods?customer=cus_nope", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
        );
    app.get("/v1/customers/cus_nope/payment_methods", &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("customer"),
        );
    // A PaymentMethod of another customer is not found under this one.
    app.get(
        &format!("/v1/customers/{b}/payment_methods/{}", of_a[0]),
        &[],
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    // Expanding on lists.
    let expanded = app
        .get(
            &format!("/v1/payment_methods?customer={a}&expand[]=data.customer"),
            &[],
        )
        .await;
    assert_eq!(expanded.ok()["data"][0]["customer"]["id"], a.as_str());
    assert!(!expanded.text.contains("_sluice"));
    let _ = loose;
}

async fn pm_isolated_between_accounts_and_platforms(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap().to_string();
    let on = [("stripe-account", acct.as_str())];
    let platform_pm = create(&app, VISA).await;
    let connected = app.post("/v1/payment_methods", VISA, &on).await;
    let connected_id = id_of(connected.ok());
    // Each sees only its own.
    assert_eq!(app.count("/v1/payment_methods", &on).await, 1);
    app.get(&format!("/v1/payment_methods/{}", id_of(&platform_pm)), &on)
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    app.get(&format!("/v1/payment_methods/{connected_id}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    // Another platform sees neither.
    let bearer = TestApp::bearer(&app.key2);
    let other = [("authorization", bearer.as_str())];
    app.get(
        &format!("/v1/payment_methods/{}", id_of(&platform_pm)),
        &other,
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert_eq!(app.count("/v1/payment_methods", &other).await, 0);
    // A live key sees no test object, and Stripe's test shortcuts don't exist in live mode.
    let live = TestApp::bearer(&app.live_key);
    let live = [("authorization", live.as_str())];
    assert_eq!(app.count("/v1/payment_methods", &live).await, 0);
    let cus = app.post("/v1/customers", "", &live).await;
    let cus = id_of(cus.ok());
    app.post(
        "/v1/payment_methods/pm_card_visa/attach",
        &format!("customer={cus}"),
        &live,
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
}

async fn pm_clone_into_connected_account(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap().to_string();
    let on = [("stripe-account", acct.as_str())];
    let cus = customer(&app).await;
    let pm = create(&app, VISA).await;
    let id = id_of(&pm);
    app.post(
        &format!("/v1/payment_methods/{id}/attach"),
        &format!("customer={cus}"),
        &[],
    )
    .await
    .ok();
    // Cloning needs the connected account, and the customer of an attached PaymentMethod.
    app.post(
        "/v1/payment_methods",
        &format!("payment_method={id}&customer={cus}"),
        &[],
    )
    .await
    .error(400, "invalid_request_error", None, Some("payment_method"));
    app.post("/v1/payment_methods", &format!("payment_method={id}"), &on)
        .await
        .error(400, "invalid_request_error", None, Some("customer"));
    let clone = app
        .post(
            "/v1/payment_methods",
            &format!("payment_method={id}&customer={cus}&metadata[from]=platform"),
            &on,
        )
        .await;
    let clone = clone.ok().clone();
    assert_pm_shape(&clone);
    assert_ne!(clone["id"], pm["id"]);
    assert!(clone["customer"].is_null());
    assert_eq!(clone["card"]["last4"], "4242");
    assert_eq!(clone["card"]["fingerprint"], pm["card"]["fingerprint"]);
    assert_eq!(clone["metadata"], json!({"from": "platform"}));
    assert_eq!(
        app.get(&format!("/v1/payment_methods/{}", id_of(&clone)), &on)
            .await
            .ok(),
        &clone
    );
    // The platform's stays attached.
    assert_eq!(
        app.get(&format!("/v1/payment_methods/{id}"), &[])
            .await
            .ok()["customer"],
        cus.as_str()
    );
}

/// Concurrent attaches of one PaymentMethod: exactly one wins, whatever the store.
async fn pm_concurrent_attach_has_one_winner(app: TestApp) {
    let customers = [
        customer(&app).await,
        customer(&app).await,
        customer(&app).await,
    ];
    for round in 0..3 {
        let id = id_of(&create(&app, VISA).await);
        let path = format!("/v1/payment_methods/{id}/attach");
        let attaches = customers.iter().map(|cus| {
            let (app, path) = (&app, path.clone());
            async move { app.post(&path, &format!("customer={cus}"), &[]).await }
        });
        let answers = join_all(attaches).await;
        let winners: Vec<&Value> = answers
            .iter()
            .filter(|resp| resp.status == 200)
            .map(|resp| &resp.body)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        for loser in answers.iter().filter(|resp| resp.status != 200) {
            loser.error(400, "invalid_request_error", None, None);
        }
        let stored = app.get(&format!("/v1/payment_methods/{id}"), &[]).await;
        assert_eq!(stored.ok()["customer"], winners[0]["customer"]);
    }
}

/// Polls every future to completion concurrently on this task (no extra dependency).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut results: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, future) in results.iter_mut().zip(set.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *slot = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("completed")).collect()
}

store_tests! {
    pm_create_from_card_details,
    pm_create_rejects_bad_cards,
    pm_create_from_test_tokens,
    pm_attach_detach_lifecycle,
    pm_attach_test_shortcuts,
    pm_update_requires_a_customer,
    pm_lists_filter_and_page,
    pm_isolated_between_accounts_and_platforms,
    pm_clone_into_connected_account,
    pm_concurrent_attach_has_one_winner,
}
