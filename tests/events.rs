//! `/v1/events` over HTTP against both stores: every change records an event in its own
//! transaction, with Stripe's shape (`data.object`, `previous_attributes` on updates, `request`,
//! `account` in connected accounts), and the list filters and cursors.

mod common;

use common::TestApp;
use serde_json::Value;

const EVENT_KEYS: &[&str] = &[
    "api_version",
    "created",
    "data",
    "id",
    "livemode",
    "object",
    "pending_webhooks",
    "request",
    "type",
];

async fn events(app: &TestApp, query: &str, headers: &[(&str, &str)]) -> Vec<Value> {
    let listed = app.get(&format!("/v1/events?{query}"), headers).await;
    listed.ok()["data"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn customer_events_have_stripes_shape(app: TestApp) {
    let created = app
        .post(
            "/v1/customers",
            "name=Jenny&email=jenny%40example.com",
            &[("Idempotency-Key", "make-jenny")],
        )
        .await;
    let customer = created.ok().clone();
    let request_id = created.header("request-id").unwrap().to_string();
    let id = customer["id"].as_str().unwrap();
    app.post(&format!("/v1/customers/{id}"), "name=Jen&phone=123", &[])
        .await
        .ok();
    // An update that changes nothing records nothing.
    app.post(&format!("/v1/customers/{id}"), "name=Jen", &[])
        .await
        .ok();
    app.delete(&format!("/v1/customers/{id}"), &[]).await.ok();

    let listed = events(&app, "", &[]).await;
    assert_eq!(
        types(&listed),
        ["customer.deleted", "customer.updated", "customer.created"]
    );
    for event in &listed {
        let mut keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys, EVENT_KEYS,
            "platform events carry no `account`: {event}"
        );
        assert_eq!(event["object"], "event");
        assert_eq!(event["livemode"], false);
        assert_eq!(event["pending_webhooks"], 0);
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert!(event["data"]["object"].get("_sluice").is_none());
    }
    let created_event = &listed[2];
    assert_eq!(created_event["data"]["object"], customer);
    assert!(created_event["data"].get("previous_attributes").is_none());
    assert_eq!(created_event["request"]["id"], request_id.as_str());
    assert_eq!(created_event["request"]["idempotency_key"], "make-jenny");

    let updated = &listed[1];
    assert_eq!(updated["data"]["object"]["name"], "Jen");
    assert_eq!(
        updated["data"]["previous_attributes"],
        serde_json::json!({"name": "Jenny", "phone": null})
    );
    assert_eq!(updated["request"]["idempotency_key"], Value::Null);
    assert_eq!(listed[0]["data"]["object"]["id"], id);

    // Retrieve answers the same event.
    let one = app
        .get(
            &format!("/v1/events/{}", updated["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(one.ok(), updated);

    // An idempotent replay executes nothing, so records nothing.
    app.post(
        "/v1/customers",
        "name=Jenny&email=jenny%40example.com",
        &[("Idempotency-Key", "make-jenny")],
    )
    .await
    .ok();
    // A failed request records nothing either.
    app.post("/v1/customers", "email=not-an-email", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("email_invalid"),
            Some("email"),
        );
    assert_eq!(events(&app, "", &[]).await.len(), 3);
}

async fn payment_events_follow_stripes_sequence(app: TestApp) {
    let paid = app
        .post(
            "/v1/payment_intents",
            "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true",
            &[],
        )
        .await;
    let intent = paid.ok().clone();
    let listed = events(&app, "", &[]).await;
    assert_eq!(
        types(&listed),
        [
            "payment_intent.succeeded",
            "charge.succeeded",
            "payment_intent.created"
        ]
    );
    assert_eq!(listed[0]["data"]["object"], intent);
    assert_eq!(listed[1]["data"]["object"]["id"], intent["latest_charge"]);
    assert_eq!(listed[1]["data"]["object"]["captured"], true);
    assert!(listed[1]["data"]["object"]["balance_transaction"].is_string());

    let declined = app
        .post(
            "/v1/payment_intents",
            "amount=1000&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true",
            &[],
        )
        .await;
    declined.error(402, "card_error", Some("card_declined"), None);
    let listed = events(&app, "limit=3", &[]).await;
    assert_eq!(
        types(&listed),
        [
            "payment_intent.payment_failed",
            "charge.failed",
            "payment_intent.created"
        ]
    );
    assert_eq!(
        listed[0]["data"]["object"]["status"],
        "requires_payment_method"
    );

    // Manual capture, then capture, then a refund.
    let held = app
        .post(
            "/v1/payment_intents",
            "amount=500&currency=usd&payment_method=pm_card_visa&confirm=true&capture_method=manual",
            &[],
        )
        .await;
    let held = held.ok().clone();
    let id = held["id"].as_str().unwrap();
    assert_eq!(
        types(&events(&app, "limit=1", &[]).await),
        ["payment_intent.amount_capturable_updated"]
    );
    app.post(&format!("/v1/payment_intents/{id}/capture"), "", &[])
        .await
        .ok();
    assert_eq!(
        types(&events(&app, "limit=2", &[]).await),
        ["payment_intent.succeeded", "charge.captured"]
    );
    app.post(
        "/v1/refunds",
        &format!("payment_intent={id}&amount=100"),
        &[],
    )
    .await
    .ok();
    let listed = events(&app, "limit=2", &[]).await;
    assert_eq!(types(&listed), ["charge.refunded", "refund.created"]);
    assert_eq!(listed[0]["data"]["object"]["amount_refunded"], 100);
}

async fn connected_account_events_carry_the_account(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let header = [("Stripe-Account", acct)];
    app.post("/v1/customers", "name=InAccount", &header)
        .await
        .ok();
    let inside = events(&app, "type=customer.created", &header).await;
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0]["account"], acct);
    assert_eq!(inside[0]["data"]["object"]["name"], "InAccount");
    // The platform's own list does not show its connected accounts' events.
    assert!(events(&app, "type=customer.created", &[]).await.is_empty());
    // Changes to the account itself are events in that account.
    app.post(&format!("/v1/accounts/{acct}"), "metadata[k]=v", &[])
        .await
        .ok();
    let updated = events(&app, "type=account.updated", &header).await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0]["account"], acct);
    assert_eq!(
        updated[0]["data"]["previous_attributes"]["metadata"],
        serde_json::json!({})
    );
    assert!(!events(&app, "type=capability.updated", &header)
        .await
        .is_empty());
    // Another platform never sees them.
    let key2 = format!("Bearer {}", app.key2);
    let other = app
        .get(
            &format!("/v1/events/{}", inside[0]["id"].as_str().unwrap()),
            &[("Authorization", key2.as_str())],
        )
        .await;
    other.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
}

/// Everything a US individual needs to be verified with Stripe's test values.
const VERIFIED_INDIVIDUAL: &str = "individual[first_name]=Jenny&individual[last_name]=Rosen\
    &individual[email]=jenny%40example.com&individual[phone]=0000000000\
    &individual[dob][day]=1&individual[dob][month]=1&individual[dob][year]=1901\
    &individual[address][line1]=address_full_match&individual[address][city]=San+Francisco\
    &individual[address][state]=CA&individual[address][postal_code]=94111\
    &individual[address][country]=US\
    &individual[id_number]=000000000&individual[ssn_last_4]=0000\
    &business_profile[mcc]=5734&business_profile[url]=https%3A%2F%2Fexample.com\
    &external_account=btok_us_verified\
    &tos_acceptance[date]=1700000000&tos_acceptance[ip]=127.0.0.1";

async fn connect_money_flows_record_their_events(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.post(&format!("/v1/accounts/{acct}"), VERIFIED_INDIVIDUAL, &[])
        .await
        .ok();
    let header = [("Stripe-Account", acct)];
    // Verification changed the account and its capabilities, in the account.
    let changed = types(&events(&app, "limit=100", &header).await).join(" ");
    for expected in [
        "account.updated",
        "capability.updated",
        "account.external_account.created",
    ] {
        assert!(
            changed.contains(expected),
            "{expected} missing from {changed}"
        );
    }

    // A destination charge with an application fee: the fee and the transfer are the
    // platform's events, around the charge.
    let intent = app
        .post(
            "/v1/payment_intents",
            &format!(
                "amount=1000&currency=usd&payment_method=pm_card_createDispute&confirm=true\
                 &application_fee_amount=123&transfer_data[destination]={acct}"
            ),
            &[],
        )
        .await;
    let intent = intent.ok().clone();
    let listed = events(&app, "limit=20", &[]).await;
    let seen = types(&listed);
    for expected in [
        "payment_intent.created",
        "application_fee.created",
        "transfer.created",
        "charge.succeeded",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "payment_intent.succeeded",
    ] {
        assert!(seen.contains(&expected), "{expected} missing from {seen:?}");
    }
    let transfer = listed
        .iter()
        .find(|e| e["type"] == "transfer.created")
        .unwrap();
    assert_eq!(transfer["data"]["object"]["destination"], acct);
    assert!(transfer.get("account").is_none());
    let fee = listed
        .iter()
        .find(|e| e["type"] == "application_fee.created")
        .unwrap();
    assert_eq!(fee["data"]["object"]["amount"], 123);

    // Disputes: evidence that wins reinstates the funds and closes the dispute.
    let dispute = listed
        .iter()
        .find(|e| e["type"] == "charge.dispute.created")
        .unwrap();
    assert_eq!(dispute["data"]["object"]["charge"], intent["latest_charge"]);
    let dispute_id = dispute["data"]["object"]["id"].as_str().unwrap();
    app.post(
        &format!("/v1/disputes/{dispute_id}"),
        "evidence[uncategorized_text]=winning_evidence",
        &[],
    )
    .await
    .ok();
    let after = types(&events(&app, "limit=3", &[]).await).join(" ");
    for expected in [
        "charge.dispute.updated",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ] {
        assert!(after.contains(expected), "{expected} missing from {after}");
    }

    // A refund that reverses the transfer and refunds the fee.
    app.post(
        "/v1/refunds",
        &format!(
            "payment_intent={}&reverse_transfer=true&refund_application_fee=true",
            intent["id"].as_str().unwrap()
        ),
        &[],
    )
    .await
    .ok();
    let refunded = types(&events(&app, "limit=10", &[]).await).join(" ");
    for expected in [
        "transfer.reversed",
        "application_fee.refunded",
        "refund.created",
        "charge.refunded",
    ] {
        assert!(
            refunded.contains(expected),
            "{expected} missing from {refunded}"
        );
    }
}

async fn list_filters_and_cursors(app: TestApp) {
    for n in 0..3 {
        app.customer(&format!("name=c{n}")).await;
    }
    let customer = app.customer("name=last").await;
    let id = customer["id"].as_str().unwrap();
    app.post(&format!("/v1/customers/{id}"), "name=changed", &[])
        .await
        .ok();
    assert_eq!(events(&app, "type=customer.created", &[]).await.len(), 4);
    assert_eq!(
        types(
            &events(
                &app,
                "types[]=customer.updated&types[]=customer.deleted",
                &[]
            )
            .await
        ),
        ["customer.updated"]
    );
    assert_eq!(events(&app, "type=customer.*", &[]).await.len(), 5);
    let all = events(&app, "", &[]).await;
    let page = events(&app, "limit=2", &[]).await;
    assert_eq!(page, all[..2]);
    let after = all[1]["id"].as_str().unwrap();
    let next = events(&app, &format!("limit=2&starting_after={after}"), &[]).await;
    assert_eq!(next, all[2..4]);
    let created = all[0]["created"].as_i64().unwrap();
    assert_eq!(
        events(&app, &format!("created[gt]={created}"), &[])
            .await
            .len(),
        0
    );
    assert_eq!(
        events(&app, &format!("created[lte]={created}"), &[])
            .await
            .len(),
        5
    );
    assert_eq!(events(&app, "delivery_success=true", &[]).await.len(), 5);

    app.get("/v1/events?type=a&types[]=b", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("types"),
    );
    app.get("/v1/events?colour=red", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("colour"),
    );
    app.get("/v1/events/evt_missing", &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.get("/v1/events?starting_after=evt_nope", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some("starting_after"),
        );
}

async fn events_older_than_thirty_days_are_pruned(app: TestApp) {
    app.customer("name=old").await;
    let store = app.store.clone().unwrap();
    let now_ms = sluice::domain::events::wall_ms();
    // Thirty days from now, today's events are the old ones.
    let later = now_ms + (sluice::domain::events::RETENTION_SECONDS + 1) * 1000;
    let pruned = store
        .write(move |tx| sluice::domain::events::prune(tx, later))
        .await
        .map_err(|e: sluice::domain::Error| e.message)
        .unwrap();
    assert_eq!(pruned, 1);
    let kept = store
        .write(move |tx| sluice::domain::events::prune(tx, now_ms))
        .await
        .map_err(|e: sluice::domain::Error| e.message)
        .unwrap();
    assert_eq!(kept, 0);
    assert!(events(&app, "", &[]).await.is_empty());
}

store_tests!(
    customer_events_have_stripes_shape,
    payment_events_follow_stripes_sequence,
    connected_account_events_carry_the_account,
    connect_money_flows_record_their_events,
    list_filters_and_cursors,
    events_older_than_thirty_days_are_pruned,
);
