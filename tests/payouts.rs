//! Payouts and negative balances over HTTP against both stores, where the conformance suite
//! cannot reach: an account whose losses the operator carries (`controller.losses.payments =
//! stripe`) is onboarded by Stripe, so this test accepts its terms of service in the store.

mod common;

use common::TestApp;
use serde_json::Value;

const DAY: i64 = 86_400;

/// A US individual verified with Stripe's test values (the terms are accepted separately).
const VERIFIED_INDIVIDUAL: &str = "individual[first_name]=Jenny&individual[last_name]=Rosen\
    &individual[email]=jenny%40example.com&individual[phone]=0000000000\
    &individual[dob][day]=1&individual[dob][month]=1&individual[dob][year]=1901\
    &individual[address][line1]=address_full_match&individual[address][city]=San+Francisco\
    &individual[address][state]=CA&individual[address][postal_code]=94111\
    &individual[address][country]=US\
    &individual[id_number]=000000000&individual[ssn_last_4]=0000\
    &business_profile[mcc]=5734&business_profile[url]=https%3A%2F%2Fexample.com\
    &external_account=btok_us_verified";

fn usd(balance: &Value, side: &str) -> i64 {
    balance[side]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["currency"] == "usd")
        .map(|entry| entry["amount"].as_i64().unwrap())
        .sum()
}

/// The `amount` of each object of a list.
fn amounts(list: &Value) -> Vec<i64> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["amount"].as_i64().unwrap())
        .collect()
}

async fn available(app: &TestApp, headers: &[(&str, &str)]) -> i64 {
    usd(app.get("/v1/balance", headers).await.ok(), "available")
}

async fn clock_now(app: &TestApp) -> i64 {
    app.get("/v1/test_helpers/clock", &[]).await.ok()["now"]
        .as_i64()
        .unwrap()
}

async fn advance_to_next_midnight(app: &TestApp) {
    let target = (clock_now(app).await / DAY + 1) * DAY + 60;
    app.post(
        "/v1/test_helpers/clock/advance",
        &format!("to={target}"),
        &[],
    )
    .await
    .ok();
}

/// A standard account (Stripe collects, the operator carries losses) made ready for payments.
async fn operator_liable_account(app: &TestApp) -> String {
    let account = app
        .account(&format!(
            "type=standard&country=US&business_type=individual&{VERIFIED_INDIVIDUAL}"
        ))
        .await;
    assert_eq!(account["controller"]["losses"]["payments"], "stripe");
    let id = account["id"].as_str().unwrap().to_string();
    // What the account holder would do on Stripe's hosted onboarding: accept the terms.
    let store = app.store.clone().expect("the store");
    let target = id.clone();
    store
        .write(move |tx| -> Result<(), sluice::store::StoreError> {
            let doc = tx.get(&target)?.expect("the account");
            let mut body: Value = serde_json::from_str(&doc.body).unwrap();
            body["tos_acceptance"]["date"] = Value::from(1_700_000_000);
            body["tos_acceptance"]["ip"] = Value::from("127.0.0.1");
            tx.update(&target, &body.to_string(), false)
        })
        .await
        .expect("accept the terms");
    let refreshed = app
        .post(
            &format!("/v1/accounts/{id}"),
            // Without a bank debit, what the account owes falls to the operator.
            "metadata[ready]=yes&settings[payouts][debit_negative_balances]=false",
            &[],
        )
        .await;
    let refreshed = refreshed.ok();
    assert_eq!(refreshed["charges_enabled"], true, "{refreshed}");
    assert_eq!(refreshed["payouts_enabled"], true, "{refreshed}");
    id
}

async fn operator_covers_what_a_stripe_liable_account_owes(app: TestApp) {
    let acct = operator_liable_account(&app).await;
    let on_account = [("stripe-account", acct.as_str())];
    let intent = app
        .post(
            "/v1/payment_intents",
            "amount=2000&currency=usd&payment_method=pm_card_bypassPending&confirm=true",
            &on_account,
        )
        .await;
    let intent = intent.ok()["id"].as_str().unwrap().to_string();
    let platform_before = available(&app, &[]).await;
    // The daily payout takes everything available.
    advance_to_next_midnight(&app).await;
    assert_eq!(available(&app, &on_account).await, 0);
    app.post(
        "/v1/refunds",
        &format!("payment_intent={intent}"),
        &on_account,
    )
    .await
    .ok();
    assert_eq!(available(&app, &on_account).await, -2000);
    let balance = app.get("/v1/balance", &[]).await;
    assert_eq!(
        usd(balance.ok(), "connect_reserved"),
        0,
        "not the platform's loss"
    );
    advance_to_next_midnight(&app).await;
    assert_eq!(available(&app, &on_account).await, 0);
    let covered = app
        .get("/v1/balance_transactions?type=adjustment", &on_account)
        .await;
    assert_eq!(amounts(covered.ok()), vec![2000]);
    assert_eq!(available(&app, &[]).await, platform_before);
    // The operator's loss account carries it, and the ledger still balances.
    let store = app.store.clone().expect("the store");
    let (problems, losses) = store
        .read(|tx| -> Result<_, sluice::store::StoreError> {
            let losses: i64 = tx
                .balance("operator:losses", false)?
                .iter()
                .map(|slice| slice.amount)
                .sum();
            Ok((tx.verify_ledger()?, losses))
        })
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(losses, -2000);
}

/// A verified custom account (the platform pays its fees, so Connect pricing applies) with the
/// default schedule: daily payouts.
async fn payable_custom_account(app: &TestApp) -> String {
    let account = app
        .account(&format!(
            "type=custom&country=US&business_type=individual\
             &capabilities[card_payments][requested]=true&capabilities[transfers][requested]=true\
             &tos_acceptance[date]=1700000000&tos_acceptance[ip]=127.0.0.1&{VERIFIED_INDIVIDUAL}"
        ))
        .await;
    assert_eq!(account["payouts_enabled"], true, "{account}");
    assert_eq!(account["controller"]["fees"]["payer"], "application_custom");
    account["id"].as_str().unwrap().to_string()
}

/// A day's work split over many transactions (two accounts at most in each) pays out exactly
/// what one transaction would: one payout per account, and the platform's Connect fees for the
/// day charged once, not once per transaction.
async fn a_day_run_in_small_steps_pays_out_and_charges_fees_once(app: TestApp) {
    let mut accounts = Vec::new();
    for _ in 0..3 {
        let acct = payable_custom_account(&app).await;
        app.post(
            "/v1/payment_intents",
            &format!(
                "amount=10000&currency=usd&payment_method=pm_card_bypassPending&confirm=true\
                 &transfer_data[destination]={acct}"
            ),
            &[],
        )
        .await
        .ok();
        assert_eq!(
            available(&app, &[("stripe-account", acct.as_str())]).await,
            10000
        );
        accounts.push(acct);
    }
    app.app.as_ref().expect("the app").set_clock_chunk(2);
    let since = clock_now(&app).await;
    let target = (since / DAY + 1) * DAY + 60;
    let advanced = app
        .post(
            "/v1/test_helpers/clock/advance",
            &format!("to={target}"),
            &[],
        )
        .await;
    let ran = advanced.ok()["ran"].clone();
    // Up to midnight: two steps for three accounts; then the minute after it.
    assert_eq!(ran["steps"], 3, "{ran}");
    assert_eq!(ran["payout_days"], 1, "{ran}");
    assert_eq!(ran["payouts_created"], 3, "{ran}");
    for acct in &accounts {
        let on_account = [("stripe-account", acct.as_str())];
        assert_eq!(available(&app, &on_account).await, 0);
        let payouts = app.get("/v1/payouts", &on_account).await;
        assert_eq!(amounts(payouts.ok()), vec![10000], "{acct}");
    }
    let fees = app
        .get(
            &format!("/v1/balance_transactions?type=stripe_fee&created[gte]={since}"),
            &[],
        )
        .await;
    let mut fees: Vec<(i64, String)> = fees.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|txn| {
            (
                txn["amount"].as_i64().unwrap(),
                txn["description"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    fees.sort();
    assert_eq!(fees.len(), 2, "{fees:?}");
    assert_eq!(fees[0].0, -600, "the active-account fee of three accounts");
    assert!(
        fees[0]
            .1
            .starts_with("Connect active account fees: 3 accounts"),
        "{fees:?}"
    );
    assert_eq!(
        fees[1].0,
        -3 * (25 + 25),
        "0.25% of 10000 plus 25 cents, three times"
    );
    assert!(
        fees[1].1.starts_with("Connect payout fees: 3 payouts on"),
        "{fees:?}"
    );
    let store = app.store.clone().expect("the store");
    let problems = store.read(|tx| tx.verify_ledger()).await.unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}

store_tests!(
    operator_covers_what_a_stripe_liable_account_owes,
    a_day_run_in_small_steps_pays_out_and_charges_fees_once
);
