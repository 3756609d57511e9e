//! Stripe's wire conventions over HTTP (CONVENTIONS.md sections 2-9): authentication, form
//! decoding, headers, idempotency, lists, `expand` and `Stripe-Account`, against both stores.

mod common;

use axum::http::Method;
use base64::Engine;
use common::TestApp;

fn bearer(key: &str) -> String {
    TestApp::bearer(key)
}

fn assert_request_id(resp: &common::Resp) {
    let id = resp.header("request-id").unwrap_or_default();
    assert!(
        id.starts_with("req_") && id.len() > 8,
        "Request-Id `{id}` on a {} response",
        resp.status
    );
}

// --- authentication ------------------------------------------------------------------------------

async fn auth_missing_key_is_401(app: TestApp) {
    let resp = app.raw(Method::GET, "/v1/customers", "", &[]).await;
    resp.error(401, "invalid_request_error", None, None);
    assert!(
        resp.message().contains("You did not provide an API key"),
        "{}",
        resp.text
    );
    assert_request_id(&resp);
    // An empty bearer is no key either.
    let resp = app
        .raw(
            Method::GET,
            "/v1/customers",
            "",
            &[("authorization", "Bearer ")],
        )
        .await;
    resp.error(401, "invalid_request_error", None, None);
}

async fn auth_invalid_key_is_401_and_redacted(app: TestApp) {
    let key = "sk_test_doesNotExist0000000000abcd";
    let auth = bearer(key);
    let resp = app.get("/v1/customers", &[("authorization", &auth)]).await;
    resp.error(401, "invalid_request_error", None, None);
    let message = resp.message();
    assert!(message.contains("Invalid API Key provided"), "{message}");
    assert!(
        message.contains("sk_test_"),
        "names the kind of key: {message}"
    );
    assert!(message.contains("abcd"), "shows the last four: {message}");
    assert!(
        !resp.text.contains(key),
        "the full key is echoed: {message}"
    );
    assert!(
        !resp.text.contains("doesNotExist"),
        "key body echoed: {message}"
    );
    assert_request_id(&resp);

    // The same for a key sent with Basic auth, and for a scheme Stripe does not know.
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    );
    let resp = app.get("/v1/customers", &[("authorization", &basic)]).await;
    resp.error(401, "invalid_request_error", None, None);
    assert!(!resp.text.contains(key));
    let resp = app
        .get("/v1/customers", &[("authorization", "Token abc")])
        .await;
    resp.error(401, "invalid_request_error", None, None);
}

async fn auth_basic_with_key_as_username_works(app: TestApp) {
    let created = app.customer("name=Basic").await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", app.key))
    );
    let resp = app.get("/v1/customers", &[("authorization", &basic)]).await;
    assert_eq!(resp.ids(), vec![created["id"].as_str().unwrap()]);
    // `Basic <raw key>` is also allowed by the spec.
    let raw = format!("Basic {}", app.key);
    let resp = app.get("/v1/customers", &[("authorization", &raw)]).await;
    assert_eq!(resp.ids().len(), 1);
    // Lowercase scheme.
    let lower = format!("bearer {}", app.key);
    app.get("/v1/customers", &[("authorization", &lower)])
        .await
        .ok();
}

async fn auth_publishable_key_is_rejected(app: TestApp) {
    let auth = bearer(&app.publishable_key);
    let resp = app.get("/v1/customers", &[("authorization", &auth)]).await;
    assert!(
        resp.status == 401 || resp.status == 403,
        "a publishable key on a secret endpoint: {} {}",
        resp.status,
        resp.text
    );
    assert_eq!(resp.body["error"]["type"], "invalid_request_error");
    assert!(
        !resp.text.contains(&app.publishable_key),
        "the publishable key is echoed: {}",
        resp.text
    );
    let resp = app
        .post("/v1/customers", "name=x", &[("authorization", &auth)])
        .await;
    assert!(resp.status == 401 || resp.status == 403, "{}", resp.text);
    assert_eq!(app.count("/v1/customers", &[]).await, 0);
}

async fn auth_live_key_cannot_see_test_objects(app: TestApp) {
    let live = bearer(&app.live_key);
    let test_customer = app.customer("name=Test").await;
    assert_eq!(test_customer["livemode"], false);
    let id = test_customer["id"].as_str().unwrap();

    let resp = app
        .get(&format!("/v1/customers/{id}"), &[("authorization", &live)])
        .await;
    resp.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert_eq!(
        app.count("/v1/customers", &[("authorization", &live)])
            .await,
        0
    );
    let resp = app
        .post(
            &format!("/v1/customers/{id}"),
            "name=Hijack",
            &[("authorization", &live)],
        )
        .await;
    resp.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );

    // And the other way around.
    let live_customer = app
        .post("/v1/customers", "name=Live", &[("authorization", &live)])
        .await
        .ok()
        .clone();
    assert_eq!(live_customer["livemode"], true);
    let live_id = live_customer["id"].as_str().unwrap();
    app.get(&format!("/v1/customers/{live_id}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    assert_eq!(
        app.get("/v1/customers", &[]).await.ids(),
        vec![id.to_string()]
    );
    // A test connected account is not reachable with the live key.
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.get(
        "/v1/customers",
        &[("authorization", &live), ("stripe-account", acct)],
    )
    .await
    .error(403, "invalid_request_error", Some("account_invalid"), None);
    let resp = app
        .get(&format!("/v1/accounts/{acct}"), &[("authorization", &live)])
        .await;
    assert_eq!(resp.status, 403, "{}", resp.text);
}

async fn auth_second_platform_is_separate(app: TestApp) {
    let mine = app.customer("name=Mine").await;
    let other = bearer(&app.key2);
    assert_eq!(
        app.count("/v1/customers", &[("authorization", &other)])
            .await,
        0
    );
    let id = mine["id"].as_str().unwrap();
    app.get(&format!("/v1/customers/{id}"), &[("authorization", &other)])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    let own = app
        .get("/v1/account", &[("authorization", &other)])
        .await
        .ok()
        .clone();
    assert_eq!(own["id"], app.platform2.as_str());
}

// --- form decoding -------------------------------------------------------------------------------

async fn form_nested_brackets_and_arrays(app: TestApp) {
    let created = app
        .customer(
            "name=Nested&address[line1]=1+Main+St&address[city]=Springfield&address[country]=US\
             &shipping[name]=Ship+To&shipping[address][line1]=2+Side+St&shipping[phone]=555\
             &preferred_locales[]=en&preferred_locales[]=fr\
             &metadata[order]=42&metadata[0]=zero",
        )
        .await;
    assert_eq!(created["address"]["line1"], "1 Main St");
    assert_eq!(created["address"]["city"], "Springfield");
    assert_eq!(created["address"]["country"], "US");
    assert!(created["address"]["postal_code"].is_null());
    assert_eq!(created["shipping"]["name"], "Ship To");
    assert_eq!(created["shipping"]["phone"], "555");
    assert_eq!(created["shipping"]["address"]["line1"], "2 Side St");
    assert_eq!(
        created["preferred_locales"],
        serde_json::json!(["en", "fr"])
    );
    assert_eq!(
        created["metadata"],
        serde_json::json!({"order": "42", "0": "zero"})
    );

    // Indexed arrays (what the SDKs send), out of order.
    let indexed = app
        .customer("preferred_locales[1]=de&preferred_locales[0]=it")
        .await;
    assert_eq!(
        indexed["preferred_locales"],
        serde_json::json!(["it", "de"])
    );
}

async fn form_percent_encoded_brackets_and_spaces(app: TestApp) {
    let created = app
        .customer("metadata%5Bk%5D=v&name=Jenny+Rosen&description=a%20b%2Bc&email=x%40example.com")
        .await;
    assert_eq!(created["metadata"], serde_json::json!({"k": "v"}));
    assert_eq!(created["name"], "Jenny Rosen");
    assert_eq!(created["description"], "a b+c");
    assert_eq!(created["email"], "x@example.com");
    let id = created["id"].as_str().unwrap();

    // Python sends GET parameters with encoded brackets.
    let listed = app
        .get(
            "/v1/customers?limit=1&expand%5B%5D=data.default_source",
            &[],
        )
        .await;
    assert_eq!(listed.ids(), vec![id.to_string()]);
    // `expand[0]` and `expand[]` on a GET.
    app.get(&format!("/v1/customers/{id}?expand[0]=default_source"), &[])
        .await
        .ok();
    app.get(&format!("/v1/customers/{id}?expand[]=test_clock"), &[])
        .await
        .ok();
}

async fn form_empty_string_unsets(app: TestApp) {
    let created = app
        .customer("description=Something&name=N&metadata[a]=1&metadata[b]=2&metadata[c]=3")
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");

    let updated = app.post(&path, "description=&metadata[a]=", &[]).await;
    let updated = updated.ok();
    assert!(updated["description"].is_null(), "{updated}");
    assert_eq!(updated["name"], "N", "untouched fields stay");
    assert_eq!(updated["metadata"], serde_json::json!({"b": "2", "c": "3"}));

    let cleared = app.post(&path, "metadata=", &[]).await;
    assert_eq!(cleared.ok()["metadata"], serde_json::json!({}));

    let stored = app.get(&path, &[]).await;
    let stored = stored.ok();
    assert!(stored["description"].is_null());
    assert_eq!(stored["metadata"], serde_json::json!({}));
    assert_eq!(stored["name"], "N");
}

/// Sends a bad request, checks Stripe's error shape, and that no customer was made.
async fn rejected_without_effect(
    app: &TestApp,
    body: impl Into<axum::body::Body>,
    headers: &[(&str, &str)],
    status: u16,
    code: Option<&str>,
    param: Option<&str>,
) -> common::Resp {
    let before = app.count("/v1/customers", &[]).await;
    let resp = app.send(Method::POST, "/v1/customers", body, headers).await;
    resp.error(status, "invalid_request_error", code, param);
    assert_request_id(&resp);
    assert_eq!(
        app.count("/v1/customers", &[]).await,
        before,
        "a rejected request created something: {}",
        resp.text
    );
    resp
}

async fn form_malformed_bodies_are_400(app: TestApp) {
    app.customer("name=existing").await;
    // Invalid UTF-8, percent-encoded and raw.
    let resp = rejected_without_effect(&app, "name=%FF%FE", &[], 400, None, None).await;
    assert!(resp.message().contains("UTF-8"), "{}", resp.text);
    rejected_without_effect(&app, b"name=\xff\xfe".to_vec(), &[], 400, None, None).await;
    // A bad percent escape.
    rejected_without_effect(&app, "name=%zz", &[], 400, None, None).await;
    rejected_without_effect(&app, "name=abc%", &[], 400, None, None).await;
    // Malformed brackets.
    rejected_without_effect(&app, "metadata[k=v", &[], 400, None, None).await;
}

async fn form_unknown_parameters_are_named(app: TestApp) {
    let resp = rejected_without_effect(
        &app,
        "name=x&frobnicate=1",
        &[],
        400,
        Some("parameter_unknown"),
        Some("frobnicate"),
    )
    .await;
    assert!(resp.message().contains("frobnicate"), "{}", resp.text);
    rejected_without_effect(
        &app,
        "address[line1]=x&address[planet]=Mars",
        &[],
        400,
        Some("parameter_unknown"),
        Some("address[planet]"),
    )
    .await;
    rejected_without_effect(
        &app,
        "shipping[name]=n&shipping[address][line1]=l&shipping[address][zip]=1",
        &[],
        400,
        Some("parameter_unknown"),
        Some("shipping[address][zip]"),
    )
    .await;

    // Deeply nested, on an account update: nothing changes.
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let path = format!("/v1/accounts/{acct}");
    let resp = app
        .post(
            &path,
            "individual[first_name]=Jenny&individual[dob][yr]=1901",
            &[],
        )
        .await;
    resp.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("individual[dob][yr]"),
    );
    assert!(
        resp.message().contains("individual[dob][yr]"),
        "{}",
        resp.text
    );
    let stored = app.get(&path, &[]).await;
    assert!(
        stored.ok()["individual"].is_null() || stored.ok()["individual"]["first_name"].is_null(),
        "a rejected update changed the account: {}",
        stored.text
    );
    // Unknown parameters on a GET are rejected too.
    app.get("/v1/customers?colour=blue", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("colour"),
    );
}

async fn form_bad_integer_and_boolean(app: TestApp) {
    let resp = rejected_without_effect(
        &app,
        "balance=12abc",
        &[],
        400,
        Some("parameter_invalid_integer"),
        Some("balance"),
    )
    .await;
    assert!(resp.message().contains("12abc"), "{}", resp.text);
    rejected_without_effect(
        &app,
        "balance=1.5",
        &[],
        400,
        Some("parameter_invalid_integer"),
        Some("balance"),
    )
    .await;
    app.get("/v1/customers?limit=ten", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
        Some("limit"),
    );

    let before = app.count("/v1/accounts", &[]).await;
    let resp = app
        .post(
            "/v1/accounts",
            "type=custom&capabilities[card_payments][requested]=yes",
            &[],
        )
        .await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.body["error"]["type"], "invalid_request_error");
    assert_eq!(
        resp.body["error"]["param"],
        "capabilities[card_payments][requested]"
    );
    assert_eq!(app.count("/v1/accounts", &[]).await, before);
}

async fn form_json_body_is_rejected(app: TestApp) {
    let resp = rejected_without_effect(
        &app,
        r#"{"name":"json"}"#,
        &[("content-type", "application/json")],
        400,
        None,
        None,
    )
    .await;
    assert!(
        resp.message().contains("x-www-form-urlencoded"),
        "{}",
        resp.text
    );
    rejected_without_effect(
        &app,
        "--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nm\r\n--x--\r\n",
        &[("content-type", "multipart/form-data; boundary=x")],
        400,
        None,
        None,
    )
    .await;
    // A charset parameter is fine.
    let resp = app
        .post(
            "/v1/customers",
            "name=charset",
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
        )
        .await;
    assert_eq!(resp.ok()["name"], "charset");
    // A key sent both as a value and as a hash.
    rejected_without_effect(
        &app,
        "metadata[k]=v&metadata=",
        &[],
        400,
        None,
        Some("metadata"),
    )
    .await;
}

async fn form_body_over_one_mebibyte_is_413(app: TestApp) {
    let mut body = String::from("name=big&description=");
    body.push_str(&"a".repeat((1 << 20) + 10));
    let resp = rejected_without_effect(&app, body, &[], 413, None, None).await;
    assert!(
        resp.message().to_lowercase().contains("too large"),
        "{}",
        resp.text
    );
    // Just under the limit is read (and then judged on its merits: too long a description).
    let mut body = String::from("description=");
    body.push_str(&"a".repeat(6000));
    let resp = app.post("/v1/customers", &body, &[]).await;
    resp.error(400, "invalid_request_error", None, Some("description"));
}

// --- headers -------------------------------------------------------------------------------------

async fn headers_request_id_on_every_response(app: TestApp) {
    let ok = app.get("/v1/customers", &[]).await;
    ok.ok();
    assert_request_id(&ok);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let created = app.post("/v1/customers", "name=x", &[]).await;
    created.ok();
    assert_request_id(&created);
    assert_ne!(
        ok.header("request-id"),
        created.header("request-id"),
        "request ids are unique"
    );
    let missing = app.get("/v1/customers/cus_nope", &[]).await;
    missing.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert!(missing.message().contains("No such customer: 'cus_nope'"));
    assert_request_id(&missing);
    let unknown = app.get("/v1/nope", &[]).await;
    assert_request_id(&unknown);
    let unauthenticated = app.raw(Method::GET, "/v1/nope", "", &[]).await;
    assert_request_id(&unauthenticated);
    let bad = app.post("/v1/customers", "bogus=1", &[]).await;
    assert_request_id(&bad);
}

async fn headers_stripe_version_is_echoed(app: TestApp) {
    let resp = app.get("/v1/customers", &[]).await;
    assert_eq!(
        resp.header("stripe-version"),
        Some(sluice::wire::API_VERSION)
    );
    let resp = app
        .get("/v1/customers", &[("stripe-version", "2023-10-16")])
        .await;
    assert_eq!(resp.header("stripe-version"), Some("2023-10-16"));
    let resp = app
        .post(
            "/v1/customers",
            "name=v",
            &[("stripe-version", "2026-10-28.endive")],
        )
        .await;
    assert_eq!(resp.header("stripe-version"), Some("2026-10-28.endive"));
    // A version that is not a version is refused before anything runs.
    for bad in ["latest", "2023-13-45", "2023-08-16."] {
        let resp = app
            .post("/v1/customers", "name=bad", &[("stripe-version", bad)])
            .await;
        let error = resp.error(400, "invalid_request_error", None, None);
        assert!(
            error["message"].as_str().unwrap().contains(bad),
            "{}",
            resp.text
        );
        assert_request_id(&resp);
    }
    assert_eq!(app.count("/v1/customers", &[]).await, 1);
}

async fn headers_unknown_route_is_a_stripe_404(app: TestApp) {
    let resp = app.get("/v1/nope", &[]).await;
    let error = resp.error(404, "invalid_request_error", None, None);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (GET: /v1/nope)"),
        "{}",
        resp.text
    );
    // Unauthenticated requests to unknown routes get the same shape.
    let resp = app.raw(Method::POST, "/v1/nope/deeper", "", &[]).await;
    assert_eq!(resp.status, 404, "{}", resp.text);
    assert!(resp
        .message()
        .starts_with("Unrecognized request URL (POST: /v1/nope/deeper)"));
    // A known path with a method it does not take.
    let resp = app.send(Method::PUT, "/v1/customers", "name=x", &[]).await;
    resp.error(404, "invalid_request_error", None, None);
    assert!(
        resp.message()
            .starts_with("Unrecognized request URL (PUT: /v1/customers)"),
        "{}",
        resp.text
    );
    let resp = app.delete("/v1/customers", &[]).await;
    resp.error(404, "invalid_request_error", None, None);
    assert!(resp
        .message()
        .starts_with("Unrecognized request URL (DELETE: /v1/customers)"));
    let resp = app.send(Method::PATCH, "/v1/account", "", &[]).await;
    resp.error(404, "invalid_request_error", None, None);
    assert_eq!(app.count("/v1/customers", &[]).await, 0);
}

// --- idempotency ---------------------------------------------------------------------------------

async fn idempotency_replays_the_first_response(app: TestApp) {
    let headers = [("idempotency-key", "key-replay-1")];
    let first = app
        .post("/v1/customers", "name=Once&metadata[a]=1", &headers)
        .await;
    first.ok();
    assert_eq!(first.header("idempotency-key"), Some("key-replay-1"));
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = app
        .post("/v1/customers", "name=Once&metadata[a]=1", &headers)
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.text, first.text, "the replay is byte-identical");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        second.header("original-request"),
        first.header("request-id"),
        "Original-Request names the first request"
    );
    assert_ne!(second.header("request-id"), first.header("request-id"));
    assert_eq!(second.header("idempotency-key"), Some("key-replay-1"));
    assert_eq!(app.count("/v1/customers", &[]).await, 1);

    // An update replays too, even after the object changed since.
    let id = first.body["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");
    let update_headers = [("idempotency-key", "key-replay-2")];
    let upd = app.post(&path, "name=Two", &update_headers).await;
    upd.ok();
    app.post(&path, "name=Three", &[]).await.ok();
    let again = app.post(&path, "name=Two", &update_headers).await;
    assert_eq!(again.text, upd.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.get(&path, &[]).await.ok()["name"], "Three");
}

async fn idempotency_key_reuse_with_other_parameters_is_an_error(app: TestApp) {
    let headers = [("idempotency-key", "key-mismatch")];
    app.post("/v1/customers", "name=First", &headers).await.ok();
    let resp = app.post("/v1/customers", "name=Second", &headers).await;
    let error = resp.error(400, "idempotency_error", None, None);
    assert!(
        error["message"].as_str().unwrap().contains("key-mismatch"),
        "{}",
        resp.text
    );
    assert_request_id(&resp);
    // Same key on another endpoint.
    let resp = app.post("/v1/accounts", "type=custom", &headers).await;
    resp.error(400, "idempotency_error", None, None);
    assert_eq!(app.count("/v1/customers", &[]).await, 1);
    assert_eq!(app.count("/v1/accounts", &[]).await, 0);
}

async fn idempotency_is_scoped_to_the_target_account(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let key = ("idempotency-key", "key-scope");
    let platform = app.post("/v1/customers", "name=Same", &[key]).await;
    platform.ok();
    let connected = app
        .post(
            "/v1/customers",
            "name=Same",
            &[key, ("stripe-account", acct)],
        )
        .await;
    connected.ok();
    assert_eq!(connected.header("idempotent-replayed"), None);
    assert_ne!(platform.body["id"], connected.body["id"]);
    // Each scope replays its own.
    let again = app
        .post(
            "/v1/customers",
            "name=Same",
            &[key, ("stripe-account", acct)],
        )
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["id"], connected.body["id"]);
    // Another platform with the same key is another scope too.
    let other = bearer(&app.key2);
    let resp = app
        .post(
            "/v1/customers",
            "name=Same",
            &[key, ("authorization", &other)],
        )
        .await;
    resp.ok();
    assert_eq!(resp.header("idempotent-replayed"), None);
    // Live mode is its own scope as well.
    let live = bearer(&app.live_key);
    let resp = app
        .post(
            "/v1/customers",
            "name=Same",
            &[key, ("authorization", &live)],
        )
        .await;
    resp.ok();
    assert_eq!(resp.header("idempotent-replayed"), None);
    assert_eq!(resp.body["livemode"], true);
}

async fn idempotency_failed_validation_is_not_stored(app: TestApp) {
    let key = [("idempotency-key", "key-validation")];
    let bad = app.post("/v1/customers", "name=x&bogus=1", &key).await;
    bad.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("bogus"),
    );
    // The same bad request again is judged again (not replayed).
    let bad_again = app.post("/v1/customers", "name=x&bogus=1", &key).await;
    bad_again.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("bogus"),
    );
    assert_eq!(bad_again.header("idempotent-replayed"), None);
    // A corrected retry with the same key runs: nothing was stored for the key.
    let good = app.post("/v1/customers", "name=x", &key).await;
    good.ok();
    assert_eq!(good.header("idempotent-replayed"), None);
    // Now the key is taken: another (valid) body is a different request.
    let resp = app.post("/v1/customers", "name=y", &key).await;
    resp.error(400, "idempotency_error", None, None);
    assert_eq!(app.count("/v1/customers", &[]).await, 1);
    // A key longer than 255 characters is refused before anything runs.
    let long = "k".repeat(256);
    let resp = app
        .post("/v1/customers", "name=y", &[("idempotency-key", &long)])
        .await;
    resp.error(400, "invalid_request_error", None, None);
    assert_eq!(app.count("/v1/customers", &[]).await, 1);
}

/// Stripe stores the result of a request once its execution began, errors included, and replays
/// it (CONVENTIONS.md section 5: "even a 500, even a 402 decline").
async fn idempotency_replays_errors_after_execution_began(app: TestApp) {
    let key = [("idempotency-key", "key-error-replay")];
    let first = app.post("/v1/customers/cus_missing", "name=x", &key).await;
    first.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    let second = app.post("/v1/customers/cus_missing", "name=x", &key).await;
    assert_eq!(second.status, 404);
    assert_eq!(second.text, first.text);
    assert_eq!(
        second.header("idempotent-replayed"),
        Some("true"),
        "the stored 404 is replayed"
    );
    assert_eq!(
        second.header("original-request"),
        first.header("request-id")
    );
}

async fn idempotency_keys_on_get_have_no_effect(app: TestApp) {
    let key = [("idempotency-key", "key-get")];
    let first = app.get("/v1/customers", &key).await;
    first.ok();
    app.customer("name=between").await;
    let second = app.get("/v1/customers", &key).await;
    assert_eq!(second.header("idempotent-replayed"), None);
    assert_eq!(second.ids().len(), 1);
}

async fn idempotency_concurrent_requests_with_one_key(app: TestApp) {
    for round in 0..5 {
        let key = format!("key-concurrent-{round}");
        let headers = [("idempotency-key", key.as_str())];
        let body = format!("name=Racer{round}");
        let (a, b) = tokio::join!(
            app.post("/v1/customers", &body, &headers),
            app.post("/v1/customers", &body, &headers)
        );
        let (winner, other) = if a.status == 200 && a.header("idempotent-replayed").is_none() {
            (a, b)
        } else {
            (b, a)
        };
        winner.ok();
        assert_eq!(winner.header("idempotent-replayed"), None);
        match other.status {
            200 => {
                assert_eq!(
                    other.header("idempotent-replayed"),
                    Some("true"),
                    "{}",
                    other.text
                );
                assert_eq!(other.text, winner.text);
            }
            409 => {
                other.error(
                    409,
                    "idempotency_error",
                    Some("idempotency_key_in_use"),
                    None,
                );
                assert_eq!(other.header("stripe-should-retry"), Some("true"));
            }
            status => panic!("unexpected {status}: {}", other.text),
        }
        // A later retry replays.
        let later = app.post("/v1/customers", &body, &headers).await;
        assert_eq!(later.header("idempotent-replayed"), Some("true"));
        assert_eq!(later.body["id"], winner.body["id"]);
    }
    assert_eq!(app.count("/v1/customers", &[]).await, 5);
}

// --- lists ---------------------------------------------------------------------------------------

async fn create_customers(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let c = app.customer(&format!("name=c{i}")).await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn lists_limit_bounds_and_default(app: TestApp) {
    let ids = create_customers(&app, 12).await;
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let page = app.get("/v1/customers", &[]).await;
    let body = page.ok();
    assert_eq!(body["object"], "list");
    assert_eq!(body["url"], "/v1/customers");
    assert_eq!(body["has_more"], true);
    assert_eq!(
        page.ids(),
        newest_first[..10].to_vec(),
        "default 10, newest first"
    );
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec!["data", "has_more", "object", "url"]);

    for bad in ["0", "101", "-1"] {
        let resp = app.get(&format!("/v1/customers?limit={bad}"), &[]).await;
        resp.error(400, "invalid_request_error", None, Some("limit"));
    }
    let all = app.get("/v1/customers?limit=100", &[]).await;
    assert_eq!(all.ids(), newest_first);
    assert_eq!(all.body["has_more"], false);
    let one = app.get("/v1/customers?limit=1", &[]).await;
    assert_eq!(one.ids(), vec![newest_first[0].clone()]);
    assert_eq!(one.body["has_more"], true);
    let exact = app.get("/v1/customers?limit=12", &[]).await;
    assert_eq!(exact.ids().len(), 12);
    assert_eq!(exact.body["has_more"], false);
}

async fn lists_page_forward_and_back_without_gaps(app: TestApp) {
    let ids = create_customers(&app, 25).await;
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    // Forward with starting_after, as the SDKs auto-page.
    let mut seen = Vec::new();
    let mut url = "/v1/customers?limit=10".to_string();
    let mut pages = 0;
    loop {
        let page = app.get(&url, &[]).await;
        let page_ids = page.ids();
        assert_eq!(page.body["url"], "/v1/customers");
        pages += 1;
        seen.extend(page_ids.clone());
        if page.body["has_more"] == false {
            break;
        }
        url = format!(
            "/v1/customers?limit=10&starting_after={}",
            page_ids.last().unwrap()
        );
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first, "forward paging: no duplicates, no gaps");

    // Backward with ending_before from the oldest.
    let mut back = Vec::new();
    let mut cursor = newest_first.last().unwrap().clone();
    back.push(cursor.clone());
    let mut pages = 0;
    loop {
        let page = app
            .get(
                &format!("/v1/customers?limit=10&ending_before={cursor}"),
                &[],
            )
            .await;
        let page_ids = page.ids();
        pages += 1;
        // Each page is still newest first; it holds the objects just newer than the cursor.
        let mut expected_order = page_ids.clone();
        expected_order.sort_by(|a, b| b.cmp(a));
        assert_eq!(page_ids, expected_order, "pages are newest first");
        let mut reversed = page_ids.clone();
        reversed.reverse();
        back.extend(reversed);
        if page.body["has_more"] == false {
            break;
        }
        cursor = page_ids.first().unwrap().clone();
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    back.reverse();
    assert_eq!(
        back, newest_first,
        "backward paging: no duplicates, no gaps"
    );

    // The pages at the two ends.
    let last = app
        .get(
            &format!("/v1/customers?limit=10&starting_after={}", newest_first[19]),
            &[],
        )
        .await;
    assert_eq!(last.ids(), newest_first[20..].to_vec());
    assert_eq!(last.body["has_more"], false);
    let first = app
        .get(
            &format!("/v1/customers?limit=3&ending_before={}", newest_first[3]),
            &[],
        )
        .await;
    assert_eq!(first.ids(), newest_first[..3].to_vec());
    assert_eq!(first.body["has_more"], false);
    let mid = app
        .get(
            &format!("/v1/customers?limit=3&ending_before={}", newest_first[10]),
            &[],
        )
        .await;
    assert_eq!(mid.ids(), newest_first[7..10].to_vec());
    assert_eq!(mid.body["has_more"], true);

    // A cursor that names no object of this list is a bad parameter.
    for param in ["starting_after", "ending_before"] {
        let resp = app
            .get(&format!("/v1/customers?{param}=cus_doesnotexist"), &[])
            .await;
        let error = resp.error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some(param),
        );
        assert!(error["message"]
            .as_str()
            .unwrap()
            .contains("cus_doesnotexist"));
    }
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.get(&format!("/v1/customers?starting_after={acct}"), &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some("starting_after"),
        );
    let elsewhere = app
        .post(
            "/v1/customers",
            "name=elsewhere",
            &[("stripe-account", acct)],
        )
        .await;
    let elsewhere = elsewhere.ok()["id"].as_str().unwrap().to_string();
    app.get(&format!("/v1/customers?ending_before={elsewhere}"), &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some("ending_before"),
        );

    // Both cursors at once.
    let resp = app
        .get(
            &format!(
                "/v1/customers?starting_after={}&ending_before={}",
                newest_first[1], newest_first[5]
            ),
            &[],
        )
        .await;
    let error = resp.error(400, "invalid_request_error", None, Some("ending_before"));
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("starting_after"));
}

async fn lists_created_filters(app: TestApp) {
    // Two customers, then two more in a later second.
    let mut made: Vec<(String, i64)> = Vec::new();
    for i in 0..2 {
        let c = app.customer(&format!("name=early{i}")).await;
        made.push((
            c["id"].as_str().unwrap().into(),
            c["created"].as_i64().unwrap(),
        ));
    }
    let first_second = made[1].1;
    while sluice::domain::unix_now() <= first_second {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for i in 0..2 {
        let c = app.customer(&format!("name=late{i}")).await;
        made.push((
            c["id"].as_str().unwrap().into(),
            c["created"].as_i64().unwrap(),
        ));
    }
    let expect = |keep: &dyn Fn(i64) -> bool| -> Vec<String> {
        made.iter()
            .rev()
            .filter(|(_, created)| keep(*created))
            .map(|(id, _)| id.clone())
            .collect()
    };
    let late = made[3].1;
    assert!(late > made[0].1);

    let gte = app
        .get(&format!("/v1/customers?created[gte]={late}"), &[])
        .await;
    assert_eq!(gte.ids(), expect(&|c| c >= late));
    assert!(!gte.ids().is_empty());
    let lt = app
        .get(&format!("/v1/customers?created[lt]={late}"), &[])
        .await;
    assert_eq!(lt.ids(), expect(&|c| c < late));
    assert!(!lt.ids().is_empty());
    let gt = app
        .get(&format!("/v1/customers?created%5Bgt%5D={}", made[0].1), &[])
        .await;
    assert_eq!(gt.ids(), expect(&|c| c > made[0].1));
    let lte = app
        .get(&format!("/v1/customers?created[lte]={}", made[0].1), &[])
        .await;
    assert_eq!(lte.ids(), expect(&|c| c <= made[0].1));
    let exact = app.get(&format!("/v1/customers?created={late}"), &[]).await;
    assert_eq!(exact.ids(), expect(&|c| c == late));
    let range = app
        .get(
            &format!(
                "/v1/customers?created[gte]={}&created[lt]={}",
                made[0].1,
                late + 1
            ),
            &[],
        )
        .await;
    assert_eq!(range.ids().len(), 4);
    let none = app
        .get(&format!("/v1/customers?created[gt]={late}"), &[])
        .await;
    assert_eq!(none.ids(), Vec::<String>::new());
    assert_eq!(none.body["has_more"], false);

    // Filters combine with paging.
    let paged = app
        .get(
            &format!("/v1/customers?created[lt]={}&limit=1", late + 1),
            &[],
        )
        .await;
    assert_eq!(paged.ids(), vec![made[3].0.clone()]);
    assert_eq!(paged.body["has_more"], true);

    app.get("/v1/customers?created[gte]=yesterday", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            Some("created[gte]"),
        );
    app.get("/v1/customers?created[since]=1", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("created[since]"),
    );
}

// --- expand --------------------------------------------------------------------------------------

async fn expand_rejects_fields_that_cannot_expand(app: TestApp) {
    let c = app.customer("name=E&email=e@example.com").await;
    let id = c["id"].as_str().unwrap();
    let resp = app
        .get(&format!("/v1/customers/{id}?expand[]=email"), &[])
        .await;
    let error = resp.error(400, "invalid_request_error", None, Some("expand"));
    assert!(error["message"].as_str().unwrap().contains("email"));
    // Expandable but empty fields are fine and stay null.
    let resp = app
        .get(&format!("/v1/customers/{id}?expand[]=default_source"), &[])
        .await;
    assert!(resp.ok()["default_source"].is_null());

    // On a list the path starts with `data.`.
    let resp = app.get("/v1/customers?expand[]=default_source", &[]).await;
    let error = resp.error(400, "invalid_request_error", None, Some("expand"));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("data.default_source"),
        "suggests the data. form: {}",
        resp.text
    );
    app.get("/v1/customers?expand[]=data.default_source", &[])
        .await
        .ok();
    app.get("/v1/customers?expand[]=data.email", &[])
        .await
        .error(400, "invalid_request_error", None, Some("expand"));

    // On a create the failed expansion leaves nothing behind.
    let before = app.count("/v1/customers", &[]).await;
    let resp = app.post("/v1/customers", "name=x&expand[]=name", &[]).await;
    resp.error(400, "invalid_request_error", None, Some("expand"));
    assert_eq!(app.count("/v1/customers", &[]).await, before);
    // Too deep.
    app.get(&format!("/v1/customers/{id}?expand[]=a.b.c.d.e"), &[])
        .await
        .error(400, "invalid_request_error", None, Some("expand"));
}

async fn expand_capability_account(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let plain = app
        .get(&format!("/v1/accounts/{acct}/capabilities/transfers"), &[])
        .await;
    assert_eq!(plain.ok()["account"], acct);
    let expanded = app
        .get(
            &format!("/v1/accounts/{acct}/capabilities/transfers?expand[]=account"),
            &[],
        )
        .await;
    let body = expanded.ok();
    assert_eq!(body["account"]["id"], acct);
    assert_eq!(body["account"]["object"], "account");
    assert!(
        body["account"].get("_sluice").is_none(),
        "private fields leak through expand"
    );
}

// --- Stripe-Account ------------------------------------------------------------------------------

async fn stripe_account_scopes_objects(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let on = [("stripe-account", acct)];
    let platform_customer = app.customer("name=Platform").await;
    let connected_customer = app.post("/v1/customers", "name=Connected", &on).await;
    let connected_customer = connected_customer.ok().clone();
    let pid = platform_customer["id"].as_str().unwrap().to_string();
    let cid = connected_customer["id"].as_str().unwrap().to_string();

    assert_eq!(app.get("/v1/customers", &[]).await.ids(), vec![pid.clone()]);
    assert_eq!(app.get("/v1/customers", &on).await.ids(), vec![cid.clone()]);
    app.get(&format!("/v1/customers/{cid}"), &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.get(&format!("/v1/customers/{pid}"), &on).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.get(&format!("/v1/customers/{cid}"), &on).await.ok();
    // Nor can one scope update or delete the other's.
    app.post(&format!("/v1/customers/{pid}"), "name=x", &on)
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    app.delete(&format!("/v1/customers/{cid}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );

    // `GET /v1/account` answers for the account acted as.
    let own = app.get("/v1/account", &on).await;
    assert_eq!(own.ok()["id"], acct);
    // Naming the platform itself is the platform.
    let platform = app.platform.clone();
    let me = app
        .get("/v1/customers", &[("stripe-account", &platform)])
        .await;
    assert_eq!(me.ids(), vec![pid.clone()]);
    // A second connected account sees neither.
    let other = app.custom_account().await;
    let other_id = other["id"].as_str().unwrap();
    assert_eq!(
        app.count("/v1/customers", &[("stripe-account", other_id)])
            .await,
        0
    );
}

async fn stripe_account_of_another_platform_is_403(app: TestApp) {
    let other = bearer(&app.key2);
    let theirs = app
        .post("/v1/accounts", "type=custom", &[("authorization", &other)])
        .await
        .ok()
        .clone();
    let acct = theirs["id"].as_str().unwrap();
    for resp in [
        app.get("/v1/customers", &[("stripe-account", acct)]).await,
        app.post("/v1/customers", "name=x", &[("stripe-account", acct)])
            .await,
        app.get("/v1/customers", &[("stripe-account", "acct_doesnotexist")])
            .await,
        app.get("/v1/customers", &[("stripe-account", &app.platform2)])
            .await,
    ] {
        let error = resp.error(403, "invalid_request_error", Some("account_invalid"), None);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("does not have access"),
            "{}",
            resp.text
        );
        assert_request_id(&resp);
    }
    assert_eq!(
        app.count(
            "/v1/customers",
            &[("authorization", &other), ("stripe-account", acct)]
        )
        .await,
        0
    );
    // Their account is not ours to read either.
    let resp = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    resp.error(
        403,
        "invalid_request_error",
        Some("account_invalid"),
        Some("account"),
    );
    assert_eq!(app.count("/v1/accounts", &[]).await, 0);
}

async fn stripe_account_deleted_is_403(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    // Warm whatever caches the lookup.
    app.get("/v1/customers", &[("stripe-account", acct)])
        .await
        .ok();
    let deleted = app.delete(&format!("/v1/accounts/{acct}"), &[]).await;
    assert_eq!(
        deleted.ok(),
        &serde_json::json!({"id": acct, "object": "account", "deleted": true})
    );
    let resp = app.get("/v1/customers", &[("stripe-account", acct)]).await;
    resp.error(403, "invalid_request_error", Some("account_invalid"), None);
    let resp = app
        .post("/v1/customers", "name=ghost", &[("stripe-account", acct)])
        .await;
    resp.error(403, "invalid_request_error", Some("account_invalid"), None);
}

async fn stripe_account_cannot_manage_accounts(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let resp = app
        .post("/v1/accounts", "type=custom", &[("stripe-account", acct)])
        .await;
    assert_eq!(resp.status, 403, "{}", resp.text);
    assert_eq!(resp.body["error"]["type"], "invalid_request_error");
    assert_eq!(app.count("/v1/accounts", &[]).await, 1);
}

async fn stripe_account_in_live_mode(app: TestApp) {
    let live = bearer(&app.live_key);
    let account = app
        .post("/v1/accounts", "type=custom", &[("authorization", &live)])
        .await
        .ok()
        .clone();
    let acct = account["id"].as_str().unwrap();
    let created = app
        .post(
            "/v1/customers",
            "name=LiveConnected",
            &[("authorization", &live), ("stripe-account", acct)],
        )
        .await;
    assert_eq!(created.ok()["livemode"], true);
    // The test key does not reach a live connected account, nor list it.
    app.get("/v1/customers", &[("stripe-account", acct)])
        .await
        .error(403, "invalid_request_error", Some("account_invalid"), None);
    assert_eq!(app.count("/v1/accounts", &[]).await, 0);
    assert_eq!(
        app.count("/v1/accounts", &[("authorization", &live)]).await,
        1
    );
}

/// A server shutting down drops its store on a runtime thread; that must not panic (it does
/// as it once did with PostgreSQL: `postgres::Client::drop` blocks on its own runtime).
async fn store_drops_cleanly_on_a_runtime_thread(app: TestApp) {
    let mut app = app;
    app.customer("name=warm").await;
    app.get("/v1/customers", &[]).await.ok();
    app.drop_store_here();
}

store_tests! {
    auth_missing_key_is_401,
    auth_invalid_key_is_401_and_redacted,
    auth_basic_with_key_as_username_works,
    auth_publishable_key_is_rejected,
    auth_live_key_cannot_see_test_objects,
    auth_second_platform_is_separate,
    form_nested_brackets_and_arrays,
    form_percent_encoded_brackets_and_spaces,
    form_empty_string_unsets,
    form_malformed_bodies_are_400,
    form_unknown_parameters_are_named,
    form_bad_integer_and_boolean,
    form_json_body_is_rejected,
    form_body_over_one_mebibyte_is_413,
    headers_request_id_on_every_response,
    headers_stripe_version_is_echoed,
    headers_unknown_route_is_a_stripe_404,
    idempotency_replays_the_first_response,
    idempotency_key_reuse_with_other_parameters_is_an_error,
    idempotency_is_scoped_to_the_target_account,
    idempotency_failed_validation_is_not_stored,
    idempotency_replays_errors_after_execution_began,
    idempotency_keys_on_get_have_no_effect,
    idempotency_concurrent_requests_with_one_key,
    lists_limit_bounds_and_default,
    lists_page_forward_and_back_without_gaps,
    lists_created_filters,
    expand_rejects_fields_that_cannot_expand,
    expand_capability_account,
    stripe_account_scopes_objects,
    stripe_account_of_another_platform_is_403,
    stripe_account_deleted_is_403,
    stripe_account_cannot_manage_accounts,
    stripe_account_in_live_mode,
    store_drops_cleanly_on_a_runtime_thread,
}
