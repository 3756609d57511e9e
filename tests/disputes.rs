//! `/v1/disputes` over HTTP against both stores: the dispute test cards open disputes on the
//! account that owns the charge; the amount and the $15.00 dispute fee leave its balance at once
//! and come back when the dispute is won; evidence, metadata, submit and close.

mod common;

use common::TestApp;
use serde_json::{json, Value};

const DISPUTE_FEE: i64 = 1500;
/// The processing fee of a $10.00 charge (2.9% + 30 cents).
const FEE_1000: i64 = 59;

const EVIDENCE_FIELDS: &[&str] = &[
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
];

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

/// `(available, pending)` in usd of the platform (no header) or of a connected account.
async fn balance(app: &TestApp, headers: &[(&str, &str)]) -> (i64, i64) {
    let balance = app.get("/v1/balance", headers).await.ok().clone();
    let usd = |side: &str| -> i64 {
        balance[side]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["currency"] == "usd")
            .map(|entry| entry["amount"].as_i64().unwrap())
            .sum()
    };
    (usd("available"), usd("pending"))
}

/// Confirms a $10.00 PaymentIntent with `pm` (asserting success); returns it.
async fn pay(app: &TestApp, pm: &str, extra: &str, headers: &[(&str, &str)]) -> Value {
    let form = format!("amount=1000&currency=usd&payment_method={pm}&confirm=true{extra}");
    let intent = app.post("/v1/payment_intents", &form, headers).await;
    let intent = intent.ok().clone();
    assert_eq!(intent["status"], "succeeded", "{intent}");
    intent
}

/// The one dispute of a charge, listed where the charge lives.
async fn dispute_of(app: &TestApp, charge: &str, headers: &[(&str, &str)]) -> Value {
    let listed = app
        .get(&format!("/v1/disputes?charge={charge}"), headers)
        .await;
    let data = listed.ok()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "one dispute on {charge}: {}", listed.text);
    data[0].clone()
}

#[track_caller]
fn assert_adjustment(txn: &Value, amount: i64, fee: i64, dispute: &str, category: &str) {
    assert_eq!(txn["object"], "balance_transaction");
    assert_eq!(txn["type"], "adjustment");
    assert_eq!(txn["reporting_category"], category);
    assert_eq!(
        (&txn["amount"], &txn["fee"], &txn["net"]),
        (&json!(amount), &json!(fee), &json!(amount - fee)),
        "{txn}"
    );
    assert_eq!(
        txn["fee_details"],
        json!([{"amount": fee, "application": null, "currency": "usd", "description": "Dispute fee", "type": "stripe_fee"}])
    );
    assert_eq!(txn["source"], dispute);
    assert_eq!(txn["currency"], "usd");
    // Withdrawn and reinstated at once.
    assert_eq!(txn["status"], "available", "{txn}");
    assert!(txn["available_on"].as_i64().unwrap() <= sluice::domain::unix_now());
}

#[track_caller]
fn assert_dispute_shape(dispute: &Value) {
    let id = dispute["id"].as_str().unwrap();
    assert!(id.starts_with("du_"), "{id}");
    assert_eq!(dispute["object"], "dispute");
    assert_eq!(dispute["livemode"], false);
    assert!(dispute.get("_sluice").is_none(), "private parts shown");
    let evidence = dispute["evidence"].as_object().unwrap();
    let mut keys: Vec<&str> = evidence.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, EVIDENCE_FIELDS);
    let details = &dispute["evidence_details"];
    let created = dispute["created"].as_i64().unwrap();
    let due_by = details["due_by"].as_i64().unwrap();
    assert!(
        due_by >= created + 7 * 86_400 && due_by < created + 8 * 86_400,
        "due_by {due_by}, created {created}"
    );
    assert!(details["has_evidence"].is_boolean());
    assert!(details["past_due"].is_boolean());
    assert!(details["submission_count"].is_i64());
    assert_eq!(dispute["payment_method_details"]["type"], "card");
    assert_eq!(dispute["payment_method_details"]["card"]["brand"], "visa");
    assert!(dispute["payment_method_details"]["card"]["network_reason_code"].is_null());
    assert!(dispute["metadata"].is_object());
    assert!(dispute["balance_transactions"].is_array());
}

async fn dispute_card_withdraws_the_amount_and_the_fee(app: TestApp) {
    let before = balance(&app, &[]).await;
    let intent = pay(&app, "pm_card_createDispute", "", &[]).await;
    let charge = intent["latest_charge"].as_str().unwrap();
    let dispute = dispute_of(&app, charge, &[]).await;
    assert_dispute_shape(&dispute);
    let id = dispute["id"].as_str().unwrap();
    assert_eq!(
        (
            &dispute["amount"],
            &dispute["currency"],
            &dispute["reason"],
            &dispute["status"]
        ),
        (
            &json!(1000),
            &json!("usd"),
            &json!("fraudulent"),
            &json!("needs_response")
        )
    );
    assert_eq!(dispute["charge"], charge);
    assert_eq!(dispute["payment_intent"], intent["id"]);
    assert_eq!(dispute["is_charge_refundable"], false);
    assert_eq!(dispute["evidence_details"]["submission_count"], 0);
    assert_eq!(dispute["evidence_details"]["has_evidence"], false);
    let txns = dispute["balance_transactions"].as_array().unwrap();
    assert_eq!(txns.len(), 1);
    assert_adjustment(&txns[0], -1000, DISPUTE_FEE, id, "dispute");
    assert_eq!(
        txns[0]["description"],
        format!("Chargeback withdrawal for {charge}")
    );
    // The balance transaction is the platform's, as stored.
    let txn_id = txns[0]["id"].as_str().unwrap();
    let stored = app
        .get(&format!("/v1/balance_transactions/{txn_id}"), &[])
        .await;
    assert_eq!(stored.ok(), &txns[0]);
    let by_source = app
        .get(&format!("/v1/balance_transactions?source={id}"), &[])
        .await;
    assert_eq!(by_source.ids(), vec![txn_id.to_string()]);

    let charged = app.get(&format!("/v1/charges/{charge}"), &[]).await;
    assert_eq!(charged.ok()["disputed"], true);
    let got = app.get(&format!("/v1/disputes/{id}"), &[]).await;
    assert_eq!(got.ok(), &dispute);
    let by_intent = app
        .get(
            &format!(
                "/v1/disputes?payment_intent={}",
                intent["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(by_intent.ids(), vec![id.to_string()]);
    assert_eq!(by_intent.body["url"], "/v1/disputes");

    // The charge's 941 is pending; the withdrawal left the available balance at once.
    let after = balance(&app, &[]).await;
    assert_eq!(after.0 - before.0, -1000 - DISPUTE_FEE);
    assert_eq!(after.1 - before.1, 1000 - FEE_1000);
}

async fn winning_evidence_reinstates_the_funds(app: TestApp) {
    let before = balance(&app, &[]).await;
    let intent = pay(&app, "pm_card_createDispute", "", &[]).await;
    let charge = intent["latest_charge"].as_str().unwrap();
    let id = dispute_of(&app, charge, &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let won = app
        .post(
            &format!("/v1/disputes/{id}"),
            "evidence[uncategorized_text]=winning_evidence&evidence[customer_name]=Jenny+Rosen",
            &[],
        )
        .await;
    let won = won.ok().clone();
    assert_dispute_shape(&won);
    assert_eq!(won["status"], "won");
    assert_eq!(won["evidence"]["uncategorized_text"], "winning_evidence");
    assert_eq!(won["evidence"]["customer_name"], "Jenny Rosen");
    assert_eq!(won["evidence_details"]["submission_count"], 1);
    assert_eq!(won["evidence_details"]["has_evidence"], true);
    assert_eq!(won["evidence_details"]["past_due"], false);
    let txns = won["balance_transactions"].as_array().unwrap();
    assert_eq!(txns.len(), 2);
    assert_adjustment(&txns[0], -1000, DISPUTE_FEE, &id, "dispute");
    assert_adjustment(&txns[1], 1000, -DISPUTE_FEE, &id, "dispute_reversal");
    assert_eq!(
        txns[1]["description"],
        format!("Chargeback reversal for {charge}")
    );
    let stored = app
        .get(
            &format!(
                "/v1/balance_transactions/{}",
                txns[1]["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(stored.ok(), &txns[1]);
    assert_eq!(app.get(&format!("/v1/disputes/{id}"), &[]).await.ok(), &won);
    // Back where the charge left the platform.
    let after = balance(&app, &[]).await;
    assert_eq!(after.0 - before.0, 0);
    assert_eq!(after.1 - before.1, 1000 - FEE_1000);

    // A closed dispute takes no more evidence, and cannot be closed.
    app.post(
        &format!("/v1/disputes/{id}"),
        "evidence[uncategorized_text]=more",
        &[],
    )
    .await
    .error(400, "invalid_request_error", None, None);
    app.post(&format!("/v1/disputes/{id}"), "submit=true", &[])
        .await
        .error(400, "invalid_request_error", None, None);
    app.post(&format!("/v1/disputes/{id}/close"), "", &[])
        .await
        .error(400, "invalid_request_error", None, None);
    // Its metadata still changes.
    let tagged = app
        .post(&format!("/v1/disputes/{id}"), "metadata[case]=42", &[])
        .await;
    assert_eq!(tagged.ok()["metadata"], json!({"case": "42"}));
    assert_eq!(tagged.ok()["status"], "won");
    assert_eq!(balance(&app, &[]).await, after);
}

async fn losing_evidence_and_close_lose(app: TestApp) {
    let before = balance(&app, &[]).await;
    let first = pay(&app, "pm_card_createDispute", "", &[]).await;
    let first = dispute_of(&app, first["latest_charge"].as_str().unwrap(), &[]).await;
    let id = first["id"].as_str().unwrap();
    let lost = app
        .post(
            &format!("/v1/disputes/{id}"),
            "evidence[uncategorized_text]=losing_evidence&submit=true",
            &[],
        )
        .await;
    assert_eq!(lost.ok()["status"], "lost");
    assert_eq!(
        lost.ok()["balance_transactions"].as_array().unwrap().len(),
        1
    );
    assert_eq!(lost.ok()["evidence_details"]["submission_count"], 1);

    let second = pay(&app, "pm_card_createDisputeProductNotReceived", "", &[]).await;
    let second = dispute_of(&app, second["latest_charge"].as_str().unwrap(), &[]).await;
    assert_eq!(second["reason"], "product_not_received");
    let id = second["id"].as_str().unwrap();
    let closed = app.post(&format!("/v1/disputes/{id}/close"), "", &[]).await;
    assert_dispute_shape(closed.ok());
    assert_eq!(closed.ok()["status"], "lost");
    assert_eq!(closed.ok()["evidence_details"]["submission_count"], 0);
    assert_eq!(
        closed.ok()["balance_transactions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.post(&format!("/v1/disputes/{id}/close"), "", &[])
        .await
        .error(400, "invalid_request_error", None, None);

    // Two charges of 941 pending; two withdrawals of 2500, never returned.
    let after = balance(&app, &[]).await;
    assert_eq!(after.0 - before.0, 2 * (-1000 - DISPUTE_FEE));
    assert_eq!(after.1 - before.1, 2 * (1000 - FEE_1000));
}

async fn evidence_staged_then_submitted(app: TestApp) {
    let intent = pay(&app, "pm_card_createDispute", "", &[]).await;
    let dispute = dispute_of(&app, intent["latest_charge"].as_str().unwrap(), &[]).await;
    let path = format!("/v1/disputes/{}", dispute["id"].as_str().unwrap());
    let staged = app
        .post(
            &path,
            "evidence[customer_name]=Jenny+Rosen&evidence[product_description]=A+test+product\
             &metadata[case]=7&submit=false",
            &[],
        )
        .await;
    let staged = staged.ok().clone();
    assert_eq!(staged["status"], "needs_response");
    assert_eq!(staged["evidence"]["customer_name"], "Jenny Rosen");
    assert_eq!(staged["evidence"]["product_description"], "A test product");
    assert_eq!(staged["metadata"], json!({"case": "7"}));
    assert_eq!(staged["evidence_details"]["has_evidence"], true);
    assert_eq!(staged["evidence_details"]["submission_count"], 0);
    assert_eq!(app.get(&path, &[]).await.ok(), &staged);

    // Metadata alone submits nothing.
    let tagged = app.post(&path, "metadata[more]=1", &[]).await;
    assert_eq!(tagged.ok()["status"], "needs_response");
    assert_eq!(tagged.ok()["evidence_details"]["submission_count"], 0);

    // Unsetting a field; other evidence submitted: under review.
    let submitted = app
        .post(&path, "evidence[customer_name]=&submit=true", &[])
        .await;
    let submitted = submitted.ok().clone();
    assert_eq!(submitted["status"], "under_review");
    assert!(submitted["evidence"]["customer_name"].is_null());
    assert_eq!(submitted["evidence_details"]["has_evidence"], true);
    assert_eq!(submitted["evidence_details"]["submission_count"], 1);

    // Evidence may be submitted again while under review.
    let won = app
        .post(&path, "evidence[uncategorized_text]=winning_evidence", &[])
        .await;
    assert_eq!(won.ok()["status"], "won");
    assert_eq!(won.ok()["evidence_details"]["submission_count"], 2);
    assert_eq!(
        won.ok()["evidence"]["product_description"],
        "A test product"
    );
}

async fn inquiries_move_no_money_until_escalated(app: TestApp) {
    let before = balance(&app, &[]).await;
    let intent = pay(&app, "pm_card_createDisputeInquiry", "", &[]).await;
    let charge = intent["latest_charge"].as_str().unwrap();
    let inquiry = dispute_of(&app, charge, &[]).await;
    assert_dispute_shape(&inquiry);
    assert_eq!(inquiry["status"], "warning_needs_response");
    assert_eq!(inquiry["reason"], "general");
    assert_eq!(inquiry["is_charge_refundable"], true);
    assert_eq!(inquiry["balance_transactions"], json!([]));
    let charged = app.get(&format!("/v1/charges/{charge}"), &[]).await;
    assert_eq!(charged.ok()["disputed"], true);
    let after = balance(&app, &[]).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (0, 1000 - FEE_1000)
    );

    // Other evidence: under review, still no money.
    let path = format!("/v1/disputes/{}", inquiry["id"].as_str().unwrap());
    let reviewed = app
        .post(&path, "evidence[product_description]=A+test+product", &[])
        .await;
    assert_eq!(reviewed.ok()["status"], "warning_under_review");
    // Closing an inquiry ends it without a chargeback.
    let closed = app.post(&format!("{path}/close"), "", &[]).await;
    assert_eq!(closed.ok()["status"], "warning_closed");
    assert_eq!(closed.ok()["balance_transactions"], json!([]));
    assert_eq!(balance(&app, &[]).await, after);

    // Winning an inquiry closes it, losing one too (no chargeback follows).
    for (evidence, status) in [
        ("winning_evidence", "warning_closed"),
        ("losing_evidence", "warning_closed"),
    ] {
        let intent = pay(&app, "pm_card_createDisputeInquiry", "", &[]).await;
        let inquiry = dispute_of(&app, intent["latest_charge"].as_str().unwrap(), &[]).await;
        let path = format!("/v1/disputes/{}", inquiry["id"].as_str().unwrap());
        let done = app
            .post(
                &path,
                &format!("evidence[uncategorized_text]={evidence}"),
                &[],
            )
            .await;
        assert_eq!(done.ok()["status"], status, "{evidence}");
        assert_eq!(done.ok()["balance_transactions"], json!([]));
    }
    let settled = balance(&app, &[]).await;
    assert_eq!(settled.0, after.0);

    // Escalated: a chargeback, withdrawn at once; then won.
    let intent = pay(&app, "pm_card_createDisputeInquiry", "", &[]).await;
    let inquiry = dispute_of(&app, intent["latest_charge"].as_str().unwrap(), &[]).await;
    let id = inquiry["id"].as_str().unwrap();
    let escalated = app
        .post(
            &format!("/v1/disputes/{id}"),
            "evidence[uncategorized_text]=escalate_inquiry_evidence",
            &[],
        )
        .await;
    let escalated = escalated.ok().clone();
    assert_eq!(escalated["status"], "needs_response");
    assert_eq!(escalated["is_charge_refundable"], false);
    let txns = escalated["balance_transactions"].as_array().unwrap();
    assert_eq!(txns.len(), 1);
    assert_adjustment(&txns[0], -1000, DISPUTE_FEE, id, "dispute");
    let withdrawn = balance(&app, &[]).await;
    assert_eq!(withdrawn.0 - settled.0, -1000 - DISPUTE_FEE);
    let won = app
        .post(
            &format!("/v1/disputes/{id}"),
            "evidence[uncategorized_text]=winning_evidence",
            &[],
        )
        .await;
    assert_eq!(won.ok()["status"], "won");
    assert_eq!(balance(&app, &[]).await.0, settled.0);
}

async fn direct_charge_disputes_debit_the_connected_account(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let on_account = [("stripe-account", acct)];
    let platform_before = balance(&app, &[]).await;
    let intent = pay(&app, "pm_card_createDispute", "", &on_account).await;
    let charge = intent["latest_charge"].as_str().unwrap();
    let dispute = dispute_of(&app, charge, &on_account).await;
    let id = dispute["id"].as_str().unwrap();
    assert_eq!(dispute["status"], "needs_response");
    assert_adjustment(
        &dispute["balance_transactions"][0],
        -1000,
        DISPUTE_FEE,
        id,
        "dispute",
    );
    // The dispute lives on the connected account only.
    app.get(&format!("/v1/disputes/{id}"), &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert_eq!(app.count("/v1/disputes", &[]).await, 0);
    // A custom account: the platform pays the processing fee, not the dispute; but it is liable
    // for the account's losses, so it reserves what the account's whole balance is short of.
    let platform_after = (platform_before.0, platform_before.1 - FEE_1000);
    assert_eq!(
        balance(&app, &on_account).await,
        (-1000 - DISPUTE_FEE, 1000)
    );
    assert_eq!(
        balance(&app, &[]).await,
        (platform_after.0 - DISPUTE_FEE, platform_after.1)
    );

    let won = app
        .post(
            &format!("/v1/disputes/{id}"),
            "evidence[uncategorized_text]=winning_evidence",
            &on_account,
        )
        .await;
    assert_eq!(won.ok()["status"], "won");
    assert_adjustment(
        &won.ok()["balance_transactions"][1],
        1000,
        -DISPUTE_FEE,
        id,
        "dispute_reversal",
    );
    assert_eq!(balance(&app, &on_account).await, (0, 1000));
    assert_eq!(balance(&app, &[]).await, platform_after);
}

async fn destination_charge_disputes_debit_the_platform(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.post(&format!("/v1/accounts/{acct}"), VERIFIED_INDIVIDUAL, &[])
        .await
        .ok();
    let on_account = [("stripe-account", acct)];
    let before = balance(&app, &[]).await;
    let intent = pay(
        &app,
        "pm_card_createDispute",
        &format!("&transfer_data[destination]={acct}"),
        &[],
    )
    .await;
    let charge = intent["latest_charge"].as_str().unwrap();
    let dispute = dispute_of(&app, charge, &[]).await;
    assert_adjustment(
        &dispute["balance_transactions"][0],
        -1000,
        DISPUTE_FEE,
        dispute["id"].as_str().unwrap(),
        "dispute",
    );
    assert_eq!(
        app.count(&format!("/v1/disputes?charge={charge}"), &on_account)
            .await,
        0
    );
    // The transfer stands: the account keeps its 1000, the platform pays for the dispute.
    let charged = app.get(&format!("/v1/charges/{charge}"), &[]).await;
    let transfer = charged.ok()["transfer"].as_str().unwrap().to_string();
    let transfer = app.get(&format!("/v1/transfers/{transfer}"), &[]).await;
    assert_eq!(transfer.ok()["amount_reversed"], 0);
    assert_eq!(balance(&app, &on_account).await, (0, 1000));
    let after = balance(&app, &[]).await;
    assert_eq!(after.0 - before.0, -1000 - DISPUTE_FEE);
    assert_eq!(after.1 - before.1, -FEE_1000);
}

async fn legacy_charges_and_manual_capture_open_disputes_when_captured(app: TestApp) {
    // A captured legacy charge.
    let charged = app
        .post(
            "/v1/charges",
            "amount=1000&currency=usd&source=tok_createDispute",
            &[],
        )
        .await;
    let charge = charged.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(
        dispute_of(&app, &charge, &[]).await["status"],
        "needs_response"
    );

    // An uncaptured one: no dispute until it is captured.
    let held = app
        .post(
            "/v1/charges",
            "amount=1000&currency=usd&source=tok_createDispute&capture=false",
            &[],
        )
        .await;
    let held = held.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.count(&format!("/v1/disputes?charge={held}"), &[]).await,
        0
    );
    app.post(&format!("/v1/charges/{held}/capture"), "", &[])
        .await
        .ok();
    assert_eq!(dispute_of(&app, &held, &[]).await["amount"], 1000);

    // A PaymentIntent captured later, for part of its amount.
    let intent = app
        .post(
            "/v1/payment_intents",
            "amount=1000&currency=usd&payment_method=pm_card_createDispute&confirm=true\
             &capture_method=manual",
            &[],
        )
        .await;
    let intent = intent.ok().clone();
    assert_eq!(intent["status"], "requires_capture");
    let charge = intent["latest_charge"].as_str().unwrap();
    assert_eq!(
        app.count(&format!("/v1/disputes?charge={charge}"), &[])
            .await,
        0
    );
    let pi = intent["id"].as_str().unwrap();
    app.post(
        &format!("/v1/payment_intents/{pi}/capture"),
        "amount_to_capture=600",
        &[],
    )
    .await
    .ok();
    let dispute = dispute_of(&app, charge, &[]).await;
    assert_eq!(dispute["amount"], 600);
    assert_eq!(dispute["payment_intent"], pi);
    assert_adjustment(
        &dispute["balance_transactions"][0],
        -600,
        DISPUTE_FEE,
        dispute["id"].as_str().unwrap(),
        "dispute",
    );

    // Ordinary cards open none.
    let intent = pay(&app, "pm_card_visa", "", &[]).await;
    let charge = intent["latest_charge"].as_str().unwrap();
    assert_eq!(
        app.count(&format!("/v1/disputes?charge={charge}"), &[])
            .await,
        0
    );
    let charged = app.get(&format!("/v1/charges/{charge}"), &[]).await;
    assert_eq!(charged.ok()["disputed"], false);
}

async fn list_filters_and_parameters(app: TestApp) {
    let first = pay(&app, "pm_card_createDispute", "", &[]).await;
    let second = pay(&app, "pm_card_createDisputeInquiry", "", &[]).await;
    let first = dispute_of(&app, first["latest_charge"].as_str().unwrap(), &[]).await;
    let second = dispute_of(&app, second["latest_charge"].as_str().unwrap(), &[]).await;
    let all = app.get("/v1/disputes", &[]).await;
    assert_eq!(
        all.ids(),
        vec![
            second["id"].as_str().unwrap().to_string(),
            first["id"].as_str().unwrap().to_string()
        ]
    );
    assert_eq!(all.body["object"], "list");
    assert_eq!(all.body["has_more"], false);
    let paged = app.get("/v1/disputes?limit=1", &[]).await;
    assert_eq!(
        paged.ids(),
        vec![second["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(paged.body["has_more"], true);
    let later = first["created"].as_i64().unwrap() + 3600;
    assert_eq!(
        app.count(&format!("/v1/disputes?created[gt]={later}"), &[])
            .await,
        0
    );
    assert_eq!(app.count("/v1/disputes?charge=ch_none", &[]).await, 0);
    // Another platform sees none of them.
    let other = TestApp::bearer(&app.key2);
    assert_eq!(
        app.count("/v1/disputes", &[("authorization", &other)])
            .await,
        0
    );
    app.get(
        &format!("/v1/disputes/{}", first["id"].as_str().unwrap()),
        &[("authorization", &other)],
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );

    let path = format!("/v1/disputes/{}", first["id"].as_str().unwrap());
    app.get("/v1/disputes?colour=red", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("colour"),
    );
    app.post(&path, "evidence[favourite_colour]=red", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("evidence[favourite_colour]"),
        );
    app.post(&path, "submit=maybe", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("submit"),
    );
    let long = "x".repeat(20_001);
    app.post(&path, &format!("evidence[uncategorized_text]={long}"), &[])
        .await
        .error(
            400,
            "invalid_request_error",
            None,
            Some("evidence[uncategorized_text]"),
        );
    app.post(&format!("{path}/close"), "colour=red", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("colour"),
        );
    app.post("/v1/disputes/du_missing/close", "", &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    // Nothing above changed the dispute.
    assert_eq!(app.get(&path, &[]).await.ok(), &first);

    // expand[] on a dispute.
    let expanded = app
        .get(
            &format!("{path}?expand[]=charge&expand[]=payment_intent"),
            &[],
        )
        .await;
    assert_eq!(expanded.ok()["charge"]["object"], "charge");
    assert_eq!(expanded.ok()["charge"]["disputed"], true);
    assert!(expanded.ok()["charge"].get("_sluice").is_none());
    assert_eq!(expanded.ok()["payment_intent"]["object"], "payment_intent");
}

store_tests! {
    dispute_card_withdraws_the_amount_and_the_fee,
    winning_evidence_reinstates_the_funds,
    losing_evidence_and_close_lose,
    evidence_staged_then_submitted,
    inquiries_move_no_money_until_escalated,
    direct_charge_disputes_debit_the_connected_account,
    destination_charge_disputes_debit_the_platform,
    legacy_charges_and_manual_capture_open_disputes_when_captured,
    list_filters_and_parameters,
}
