//! Property test of the ledger: seeded random sequences of charges (platform, destination,
//! direct), manual and partial captures, refunds (with `reverse_transfer` and
//! `refund_application_fee`), transfers, reversals and disputes across several connected
//! accounts. After each sequence the ledger's invariants hold (`verify_ledger`), every balance
//! the API shows equals its ledger account, and the money customers paid equals what the card
//! network account shows: nothing created, nothing lost.

mod common;

use common::TestApp;
use serde_json::Value;

/// xorshift64*: reproducible sequences without a dependency; the seed is in every message.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn amount(&mut self) -> i64 {
        50 + self.below(50_000) as i64
    }
}

const ONBOARD: &str = "type=custom&country=US&business_type=individual\
    &capabilities[card_payments][requested]=true&capabilities[transfers][requested]=true\
    &individual[first_name]=Jenny&individual[last_name]=Rosen&individual[email]=j%40example.com\
    &individual[phone]=0000000000&individual[dob][day]=1&individual[dob][month]=1&individual[dob][year]=1901\
    &individual[address][line1]=address_full_match&individual[address][city]=Austin\
    &individual[address][state]=TX&individual[address][postal_code]=78701\
    &individual[id_number]=000000000&individual[ssn_last_4]=0000\
    &business_profile[mcc]=5734&business_profile[url]=https%3A%2F%2Fexample.com\
    &external_account=btok_us_verified&tos_acceptance[date]=1700000000&tos_acceptance[ip]=127.0.0.1";

/// What the test's own model says customers paid in total (captures - refunds - chargebacks).
/// The app is shared by the sequences, so it starts from what the ledger held before.
#[derive(Default)]
struct Model {
    customers_net: i64,
    /// Captured charges with what can still be refunded: (charge id, Stripe-Account, remaining).
    charges: Vec<(String, Option<String>, i64)>,
    transfers: Vec<(String, i64)>,
}

async fn run_sequence(app: &TestApp, seed: u64, steps: usize) {
    let mut rng = Rng(seed | 1);
    let network_before = network_now(app).await;
    let mut model = Model {
        customers_net: -network_before,
        ..Default::default()
    };
    let mut accounts = Vec::new();
    for _ in 0..3 {
        let account = app.post("/v1/accounts", ONBOARD, &[]).await.ok().clone();
        assert_eq!(account["charges_enabled"], true, "seed {seed}: onboarding");
        accounts.push(account["id"].as_str().unwrap().to_string());
    }
    // Some available platform money, so transfers from the balance can succeed.
    let funded = pay(
        app,
        &mut model,
        "amount=100000&currency=usd&payment_method=pm_card_bypassPending&confirm=true",
        None,
    )
    .await;
    assert!(funded.is_some(), "seed {seed}: funding charge");

    for step in 0..steps {
        let account = accounts[rng.below(accounts.len() as u64) as usize].clone();
        let amount = rng.amount();
        let card = [
            "pm_card_visa",
            "pm_card_bypassPending",
            "pm_card_createDispute",
            "pm_card_chargeDeclined",
        ][rng.below(4) as usize];
        let context = format!("seed {seed} step {step}");
        match rng.below(8) {
            0 => {
                pay(
                    app,
                    &mut model,
                    &format!("amount={amount}&currency=usd&payment_method={card}&confirm=true"),
                    None,
                )
                .await;
            }
            1 => {
                let fee = rng.below(amount as u64 / 2) as i64;
                pay(app, &mut model, &format!(
                    "amount={amount}&currency=usd&payment_method={card}&confirm=true&application_fee_amount={fee}&transfer_data[destination]={account}"
                ), None).await;
            }
            2 => {
                let fee = rng.below(amount as u64 / 2) as i64;
                pay(app, &mut model, &format!("amount={amount}&currency=usd&payment_method={card}&confirm=true&application_fee_amount={fee}"), Some(&account)).await;
            }
            3 => {
                // Manual capture of part of the authorisation.
                let created = app.post("/v1/payment_intents", &format!("amount={amount}&currency=usd&payment_method=pm_card_visa&confirm=true&capture_method=manual"), &[]).await;
                let id = created.ok()["id"].as_str().unwrap().to_string();
                let capture = 50.max(amount - rng.below(amount as u64 / 2) as i64);
                let captured = app
                    .post(
                        &format!("/v1/payment_intents/{id}/capture"),
                        &format!("amount_to_capture={capture}"),
                        &[],
                    )
                    .await;
                let charge = captured.ok()["latest_charge"].as_str().unwrap().to_string();
                model.customers_net += capture;
                model.charges.push((charge, None, capture));
            }
            4 | 5 if !model.charges.is_empty() => {
                let index = rng.below(model.charges.len() as u64) as usize;
                let (charge, on, remaining) = model.charges[index].clone();
                if remaining <= 0 {
                    continue;
                }
                let refund = 1 + rng.below(remaining as u64) as i64;
                let mut form = format!("charge={charge}&amount={refund}");
                if rng.below(2) == 0 {
                    form.push_str("&refund_application_fee=true");
                }
                if on.is_none() && rng.below(2) == 0 {
                    form.push_str("&reverse_transfer=true");
                }
                let headers: Vec<(&str, &str)> = on
                    .as_deref()
                    .map(|a| vec![("Stripe-Account", a)])
                    .unwrap_or_default();
                let response = app.post("/v1/refunds", &form, &headers).await;
                if response.status == 200 {
                    model.customers_net -= refund;
                    model.charges[index].2 -= refund;
                } else {
                    // Refusals are fine (a disputed charge, a charge without a transfer to reverse).
                    assert_eq!(response.status, 400, "{context}: {:?}", response.body);
                }
            }
            6 => {
                let transfer = app
                    .post(
                        "/v1/transfers",
                        &format!("amount={}&currency=usd&destination={account}", amount / 10),
                        &[],
                    )
                    .await;
                if transfer.status == 200 {
                    model.transfers.push((
                        transfer.ok()["id"].as_str().unwrap().to_string(),
                        amount / 10,
                    ));
                } else {
                    assert_eq!(
                        transfer.body["error"]["code"], "balance_insufficient",
                        "{context}"
                    );
                }
            }
            _ if !model.transfers.is_empty() => {
                let index = rng.below(model.transfers.len() as u64) as usize;
                let (transfer, left) = model.transfers[index].clone();
                if left > 0 {
                    let part = 1 + rng.below(left as u64) as i64;
                    let reversal = app
                        .post(
                            &format!("/v1/transfers/{transfer}/reversals"),
                            &format!("amount={part}"),
                            &[],
                        )
                        .await;
                    assert_eq!(reversal.status, 200, "{context}: {:?}", reversal.body);
                    model.transfers[index].1 -= part;
                }
            }
            _ => {}
        }
        if std::env::var("SLUICE_DEBUG_SEQUENCE").is_ok() {
            let network = network_now(app).await;
            assert_eq!(-network, model.customers_net, "{context}");
        }
    }
    // Win or lose every open dispute: winning brings the money back from the network.
    let disputes = app.get("/v1/disputes?limit=100", &[]).await;
    for dispute in disputes.ok()["data"].as_array().unwrap().clone() {
        if dispute["status"] == "needs_response" {
            let evidence = if rng.below(2) == 0 {
                "winning_evidence"
            } else {
                "losing_evidence"
            };
            let updated = app
                .post(
                    &format!("/v1/disputes/{}", dispute["id"].as_str().unwrap()),
                    &format!("evidence[uncategorized_text]={evidence}"),
                    &[],
                )
                .await;
            if updated.ok()["status"] == "won" {
                model.customers_net += dispute["amount"].as_i64().unwrap();
            }
        }
    }
    check_invariants(app, seed, &accounts, &model).await;
}

/// The card network's ledger total (usd) right now: minus what customers paid so far.
async fn network_now(app: &TestApp) -> i64 {
    let store = app.store.clone().expect("the store");
    store
        .read(move |tx| -> Result<i64, sluice::store::StoreError> {
            Ok(tx
                .balance("operator:card_network", false)?
                .iter()
                .filter(|s| s.currency == "usd")
                .map(|s| s.amount)
                .sum())
        })
        .await
        .expect("read the ledger")
}

/// Confirms a payment; returns its charge id when it succeeded.
async fn pay(app: &TestApp, model: &mut Model, form: &str, on: Option<&str>) -> Option<String> {
    let headers: Vec<(&str, &str)> = on.map(|a| vec![("Stripe-Account", a)]).unwrap_or_default();
    let response = app.post("/v1/payment_intents", form, &headers).await;
    if response.status == 402 {
        return None;
    }
    let intent = response.ok().clone();
    let amount = intent["amount_received"].as_i64().unwrap();
    let charge = intent["latest_charge"].as_str().unwrap().to_string();
    model.customers_net += amount;
    // A disputed charge's money left with the chargeback; it comes back only if won.
    let charge_doc = app.get(&format!("/v1/charges/{charge}"), &headers).await;
    if charge_doc.ok()["disputed"] == true {
        let disputes = app
            .get(&format!("/v1/disputes?charge={charge}"), &headers)
            .await;
        let dispute = disputes.ok()["data"][0].clone();
        if dispute["status"] == "needs_response" {
            model.customers_net -= amount;
            if on.is_some() {
                // Settle a direct charge's dispute in its account now; the sweep sees the platform's.
                let lost = app
                    .post(
                        &format!("/v1/disputes/{}", dispute["id"].as_str().unwrap()),
                        "evidence[uncategorized_text]=losing_evidence",
                        &headers,
                    )
                    .await;
                assert_eq!(lost.ok()["status"], "lost");
            }
        }
    }
    model
        .charges
        .push((charge.clone(), on.map(str::to_string), amount));
    Some(charge)
}

/// The balances of every connected account of the platform.
async fn all_accounts(app: &TestApp) -> i64 {
    let listed = app.get("/v1/accounts?limit=100", &[]).await;
    let ids: Vec<String> = listed.ids();
    let store = app.store.clone().expect("the store");
    store
        .read(move |tx| -> Result<i64, sluice::store::StoreError> {
            let mut sum = 0;
            for id in &ids {
                sum += tx.balance(id, false)?.iter().map(|s| s.amount).sum::<i64>();
            }
            Ok(sum)
        })
        .await
        .expect("read the ledger")
}

fn total(balance: &Value) -> i64 {
    ["available", "pending"]
        .iter()
        .flat_map(|kind| balance[*kind].as_array().cloned().unwrap_or_default())
        .filter(|entry| entry["currency"] == "usd")
        .map(|entry| entry["amount"].as_i64().unwrap())
        .sum()
}

async fn check_invariants(app: &TestApp, seed: u64, accounts: &[String], model: &Model) {
    let store = app.store.clone().expect("the store");
    let platform = app.platform.clone();
    let ids: Vec<String> = accounts.to_vec();
    let (problems, ledger_totals, network, fees): (Vec<String>, Vec<i64>, i64, i64) = store
        .read(move |tx| -> Result<_, sluice::store::StoreError> {
            let problems = tx.verify_ledger()?;
            let sum = |tx: &mut dyn sluice::store::Tx,
                       account: &str|
             -> Result<i64, sluice::store::StoreError> {
                Ok(tx
                    .balance(account, false)?
                    .iter()
                    .filter(|s| s.currency == "usd")
                    .map(|s| s.amount)
                    .sum())
            };
            let mut totals = vec![sum(tx, &platform)?];
            for id in &ids {
                totals.push(sum(tx, id)?);
            }
            let network = sum(tx, "operator:card_network")?;
            // The platform's Connect reserve for its accounts' negative balances is its money
            // too, held aside.
            let reserved: i64 = tx
                .ledger_totals_with_prefix(&format!("reserve:{platform}:"), false)?
                .iter()
                .filter(|total| total.currency == "usd")
                .map(|total| total.amount)
                .sum();
            let fees = sum(tx, "operator:processing_fees")? + sum(tx, "operator:dispute_fees")?;
            Ok((problems, totals, network, fees + reserved))
        })
        .await
        .expect("read the ledger");
    assert!(
        problems.is_empty(),
        "seed {seed}: ledger invariants broken: {problems:#?}"
    );
    // The API shows exactly the ledger.
    let shown = total(app.get("/v1/balance", &[]).await.ok());
    assert_eq!(shown, ledger_totals[0], "seed {seed}: platform balance");
    for (index, account) in accounts.iter().enumerate() {
        let shown = total(
            app.get("/v1/balance", &[("Stripe-Account", account)])
                .await
                .ok(),
        );
        assert_eq!(
            shown,
            ledger_totals[index + 1],
            "seed {seed}: balance of {account}"
        );
    }
    // What customers paid is exactly what the network owes, and it all ended up somewhere.
    assert_eq!(
        -network, model.customers_net,
        "seed {seed}: customers' money"
    );
    // Everything customers ever paid sits in the platform's or an account's balance, or in the
    // operator's fees.
    assert_eq!(
        ledger_totals[0] + all_accounts(app).await + fees,
        -network,
        "seed {seed}: money conserved"
    );
}

async fn sequences(app: TestApp) {
    for seed in [7_u64, 42, 1234, 987_654_321, 31_337] {
        run_sequence(&app, seed, 30).await;
    }
}

/// Payments, transfers (some refused for want of balance) and refunds sent at once, so that on
/// PostgreSQL they share batches: a batch's balance changes wait until it commits, and a refused
/// job's must leave no trace. Afterwards every balance and invariant holds as for a sequence.
async fn concurrent_requests(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let network_before = network_now(&app).await;
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let account = app.post("/v1/accounts", ONBOARD, &[]).await.ok().clone();
        accounts.push(account["id"].as_str().unwrap().to_string());
    }
    let mut model = Model {
        customers_net: -network_before,
        ..Default::default()
    };
    pay(
        &app,
        &mut model,
        "amount=60000&currency=usd&payment_method=pm_card_bypassPending&confirm=true",
        None,
    )
    .await
    .expect("funding charge");
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..48_usize {
        let (app, account) = (app.clone(), accounts[index % 2].clone());
        tasks.spawn(async move {
            let amount = 1_000 + 37 * index as i64;
            if index % 3 == 2 {
                // 16 transfers of 5,000 and up from about 58,000 available: some are refused.
                let form = format!(
                    "amount={}&currency=usd&destination={account}",
                    5_000 + amount
                );
                let response = app.post("/v1/transfers", &form, &[]).await;
                let refused = response.status != 200;
                assert!(
                    !refused || response.body["error"]["code"] == "balance_insufficient",
                    "transfer: {}",
                    response.text
                );
                return (0, refused);
            }
            let form = format!(
                "amount={amount}&currency=usd&payment_method=pm_card_bypassPending&confirm=true\
                 &application_fee_amount={}&transfer_data[destination]={account}",
                amount / 10
            );
            let intent = app
                .post("/v1/payment_intents", &form, &[])
                .await
                .ok()
                .clone();
            if index % 3 == 1 {
                let refund = format!(
                    "payment_intent={}&amount={}&reverse_transfer=true",
                    intent["id"].as_str().unwrap(),
                    amount / 2
                );
                app.post("/v1/refunds", &refund, &[]).await.ok();
                return (amount - amount / 2, false);
            }
            (amount, false)
        });
    }
    let mut refused = 0;
    while let Some(outcome) = tasks.join_next().await {
        let (paid, was_refused) = outcome.expect("a request task panicked");
        model.customers_net += paid;
        refused += usize::from(was_refused);
    }
    assert!(
        (1..16).contains(&refused),
        "some transfers, not all, should have found the balance short: {refused}"
    );
    let balance = app.get("/v1/balance", &[]).await.ok().clone();
    let available = balance["available"][0]["amount"].as_i64().unwrap();
    assert!(available >= 0, "transfers overdrew the platform: {balance}");
    check_invariants(&app, 0, &accounts, &model).await;
}

store_tests!(sequences, concurrent_requests);
