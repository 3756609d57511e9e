//! Connected accounts over HTTP against both stores: `type` <-> controller, `/v1/account`,
//! updates (business profile, settings, ToS), rejection, deletion, the requirements engine with
//! Stripe's test values, capabilities, persons and external accounts.

mod common;

use common::TestApp;
use serde_json::{json, Value};

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
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

// --- creation: type and controller ---------------------------------------------------------------

#[track_caller]
fn assert_controller(account: &Value, payer: &str, losses: &str, collection: &str, dash: &str) {
    assert_eq!(
        account["controller"],
        json!({
            "fees": {"payer": payer},
            "is_controller": true,
            "losses": {"payments": losses},
            "requirement_collection": collection,
            "stripe_dashboard": {"type": dash},
            "type": "application"
        }),
        "controller of {}",
        account["id"]
    );
}

#[track_caller]
fn assert_account_shape(account: &Value) {
    let id = account["id"].as_str().unwrap();
    assert!(id.starts_with("acct_"), "id {id}");
    assert_eq!(account["object"], "account");
    for key in [
        "business_profile",
        "business_type",
        "capabilities",
        "charges_enabled",
        "controller",
        "country",
        "created",
        "default_currency",
        "details_submitted",
        "email",
        "external_accounts",
        "future_requirements",
        "metadata",
        "payouts_enabled",
        "requirements",
        "settings",
        "tos_acceptance",
        "type",
    ] {
        assert!(
            account.get(key).is_some(),
            "account has no `{key}`: {account}"
        );
    }
    assert!(
        account.get("_sluice").is_none(),
        "private fields leak: {account}"
    );
    assert!(account["created"].is_i64());
    assert_eq!(account["external_accounts"]["object"], "list");
    assert_eq!(
        account["external_accounts"]["url"],
        format!("/v1/accounts/{id}/external_accounts")
    );
    for list in ["currently_due", "eventually_due", "past_due", "errors"] {
        assert!(
            account["requirements"][list].is_array(),
            "requirements.{list}"
        );
    }
}

async fn account_types_map_to_controller(app: TestApp) {
    let custom = app.account("type=custom").await;
    assert_account_shape(&custom);
    assert_eq!(custom["type"], "custom");
    assert_controller(
        &custom,
        "application_custom",
        "application",
        "application",
        "none",
    );
    assert_eq!(custom["country"], "US");
    assert_eq!(custom["default_currency"], "usd");
    assert_eq!(custom["charges_enabled"], false);
    assert_eq!(custom["payouts_enabled"], false);
    assert_eq!(custom["details_submitted"], false);
    assert_eq!(custom["metadata"], json!({}));

    let express = app.account("type=express&country=FR").await;
    assert_eq!(express["type"], "express");
    assert_controller(
        &express,
        "application_express",
        "application",
        "stripe",
        "express",
    );
    assert_eq!(express["country"], "FR");
    assert_eq!(express["default_currency"], "eur");

    let standard = app.account("type=standard&country=gb").await;
    assert_eq!(standard["type"], "standard");
    assert_controller(&standard, "account", "stripe", "stripe", "full");
    assert_eq!(standard["country"], "GB");
    assert_eq!(standard["default_currency"], "gbp");

    // Retrieval answers the same.
    for account in [&custom, &express, &standard] {
        let id = id_of(account);
        let fetched = app.get(&format!("/v1/accounts/{id}"), &[]).await;
        assert_eq!(fetched.ok()["type"], account["type"]);
        assert_eq!(fetched.ok()["controller"], account["controller"]);
    }
    app.post("/v1/accounts", "type=platinum", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("type"),
    );
}

async fn account_controller_only_creation(app: TestApp) {
    let custom = app
        .account(
            "controller[fees][payer]=application&controller[losses][payments]=application\
             &controller[requirement_collection]=application\
             &controller[stripe_dashboard][type]=none",
        )
        .await;
    assert_eq!(custom["type"], "custom");
    assert_controller(&custom, "application", "application", "application", "none");

    let express = app
        .account(
            "controller[fees][payer]=application&controller[losses][payments]=application\
             &controller[stripe_dashboard][type]=express",
        )
        .await;
    assert_eq!(express["type"], "express");
    assert_eq!(express["controller"]["requirement_collection"], "stripe");

    // Defaults: a Standard-like account.
    let standard = app.account("controller[stripe_dashboard][type]=full").await;
    assert_eq!(standard["type"], "standard");
    assert_controller(&standard, "account", "stripe", "stripe", "full");

    // A combination with no legacy type.
    let none = app
        .account(
            "controller[fees][payer]=application&controller[losses][payments]=application\
             &controller[stripe_dashboard][type]=none",
        )
        .await;
    assert_eq!(none["type"], "none");

    // Combinations Stripe does not offer.
    let before = app.count("/v1/accounts", &[]).await;
    let resp = app
        .post(
            "/v1/accounts",
            "controller[requirement_collection]=application",
            &[],
        )
        .await;
    resp.error(
        400,
        "invalid_request_error",
        None,
        Some("controller[requirement_collection]"),
    );
    app.post(
        "/v1/accounts",
        "controller[stripe_dashboard][type]=platinum",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        None,
        Some("controller[stripe_dashboard][type]"),
    );
    app.post("/v1/accounts", "controller[fees][collector]=me", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("controller[fees][collector]"),
        );
    // Both `type` and `controller`.
    let resp = app
        .post(
            "/v1/accounts",
            "type=custom&controller[stripe_dashboard][type]=none",
            &[],
        )
        .await;
    let error = resp.error(400, "invalid_request_error", None, Some("controller"));
    assert!(error["message"].as_str().unwrap().contains("type"));
    assert_eq!(app.count("/v1/accounts", &[]).await, before);
}

async fn account_unknown_country_is_400(app: TestApp) {
    for country in ["XX", "ZZ"] {
        let resp = app
            .post(
                "/v1/accounts",
                &format!("type=custom&country={country}"),
                &[],
            )
            .await;
        let error = resp.error(400, "invalid_request_error", None, Some("country"));
        assert!(error["message"].as_str().unwrap().contains(country));
    }
    app.post("/v1/accounts", "type=custom&country=USA", &[])
        .await
        .error(400, "invalid_request_error", None, Some("country"));
    assert_eq!(app.count("/v1/accounts", &[]).await, 0);
    // `country` cannot change after creation.
    let account = app.account("type=custom&country=DE").await;
    app.post(
        &format!("/v1/accounts/{}", id_of(&account)),
        "country=FR",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("country"),
    );
}

async fn account_own_is_the_platform(app: TestApp) {
    let own = app.get("/v1/account", &[]).await;
    let own = own.ok();
    assert_account_shape(own);
    assert_eq!(own["id"], app.platform.as_str());
    assert_eq!(own["charges_enabled"], true);
    assert_eq!(own["payouts_enabled"], true);
    assert_eq!(own["controller"]["type"], "account");
    assert_eq!(own["controller"]["is_controller"], false);
    // The platform is not among its connected accounts, nor reachable as one.
    app.custom_account().await;
    let listed = app.get("/v1/accounts", &[]).await;
    assert!(!listed.ids().contains(&app.platform));
    assert_eq!(listed.ids().len(), 1);
    assert_eq!(listed.body["url"], "/v1/accounts");
    let resp = app
        .get(&format!("/v1/accounts/{}", app.platform), &[])
        .await;
    assert_ne!(resp.status, 200, "{}", resp.text);
}

async fn account_list_pages(app: TestApp) {
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(id_of(&app.account("type=express").await));
    }
    ids.reverse();
    let page = app.get("/v1/accounts?limit=3", &[]).await;
    assert_eq!(page.ids(), ids[..3].to_vec());
    assert_eq!(page.body["has_more"], true);
    for account in page.body["data"].as_array().unwrap() {
        assert_account_shape(account);
    }
    let rest = app
        .get(
            &format!("/v1/accounts?limit=3&starting_after={}", ids[2]),
            &[],
        )
        .await;
    assert_eq!(rest.ids(), ids[3..].to_vec());
    assert_eq!(rest.body["has_more"], false);
    app.get("/v1/accounts?limit=0", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("limit"),
    );
}

// --- updates -------------------------------------------------------------------------------------

async fn account_update_business_profile_and_settings(app: TestApp) {
    let account = app.account("type=custom&email=a%40example.com").await;
    assert_eq!(account["email"], "a@example.com");
    let path = format!("/v1/accounts/{}", id_of(&account));
    let updated = app
        .post(
            &path,
            "business_profile[name]=Cookie+Co&business_profile[url]=https%3A%2F%2Fcookies.example\
             &business_profile[mcc]=5812&business_profile[support_address][city]=Paris\
             &settings[payouts][schedule][interval]=weekly\
             &settings[payouts][schedule][weekly_anchor]=friday\
             &settings[payouts][schedule][delay_days]=minimum\
             &settings[payments][statement_descriptor]=COOKIES\
             &settings[dashboard][display_name]=Cookies&metadata[tier]=gold&email=",
            &[],
        )
        .await;
    let updated = updated.ok().clone();
    assert_eq!(updated["business_profile"]["name"], "Cookie Co");
    assert_eq!(
        updated["business_profile"]["url"],
        "https://cookies.example"
    );
    assert_eq!(updated["business_profile"]["mcc"], "5812");
    assert_eq!(
        updated["business_profile"]["support_address"]["city"],
        "Paris"
    );
    assert!(updated["business_profile"]["support_email"].is_null());
    let schedule = &updated["settings"]["payouts"]["schedule"];
    assert_eq!(schedule["interval"], "weekly");
    assert_eq!(schedule["weekly_anchor"], "friday");
    assert_eq!(
        schedule["delay_days"], 2,
        "`minimum` is the country's minimum"
    );
    assert_eq!(
        updated["settings"]["payments"]["statement_descriptor"],
        "COOKIES"
    );
    assert_eq!(updated["settings"]["dashboard"]["display_name"], "Cookies");
    // Untouched settings keep their defaults.
    assert_eq!(updated["settings"]["dashboard"]["timezone"], "Etc/UTC");
    assert_eq!(updated["metadata"], json!({"tier": "gold"}));
    assert!(updated["email"].is_null());
    assert_eq!(app.get(&path, &[]).await.ok(), &updated);

    // Monthly with an anchor, then a numeric delay.
    let monthly = app
        .post(
            &path,
            "settings[payouts][schedule][interval]=monthly\
             &settings[payouts][schedule][monthly_anchor]=15\
             &settings[payouts][schedule][delay_days]=7",
            &[],
        )
        .await;
    let schedule = &monthly.ok()["settings"]["payouts"]["schedule"];
    assert_eq!(schedule["interval"], "monthly");
    assert_eq!(schedule["monthly_anchor"], 15);
    assert_eq!(schedule["delay_days"], 7);

    // A delay shorter than the minimum, or nonsense, is refused and changes nothing.
    let before = app.get(&path, &[]).await.ok().clone();
    for form in [
        "settings[payouts][schedule][delay_days]=1",
        "settings[payouts][schedule][delay_days]=0",
        "settings[payouts][schedule][delay_days]=soon",
    ] {
        app.post(&path, form, &[]).await.error(
            400,
            "invalid_request_error",
            None,
            Some("settings[payouts][schedule][delay_days]"),
        );
    }
    app.post(&path, "settings[payouts][schedule][interval]=hourly", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            None,
            Some("settings[payouts][schedule][interval]"),
        );
    app.post(
        &path,
        "settings[payouts][schedule][interval]=weekly&settings[payouts][schedule][weekly_anchor]=someday",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        None,
        Some("settings[payouts][schedule][weekly_anchor]"),
    );
    app.post(
        &path,
        "settings[payouts][schedule][interval]=monthly&settings[payouts][schedule][monthly_anchor]=32",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        None,
        Some("settings[payouts][schedule][monthly_anchor]"),
    );
    app.post(&path, "business_profile[mcc]=12345", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            None,
            Some("business_profile[mcc]"),
        );
    app.post(&path, "settings[payouts][schedule][delay]=3", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("settings[payouts][schedule][delay]"),
        );
    assert_eq!(app.get(&path, &[]).await.ok(), &before);
}

/// Switching the payout interval drops the anchor of the old interval: Stripe shows
/// `weekly_anchor` only for weekly schedules and `monthly_anchor` only for monthly ones.
async fn account_schedule_interval_change_drops_old_anchor(app: TestApp) {
    let account = app.account("type=custom").await;
    let path = format!("/v1/accounts/{}", id_of(&account));
    app.post(
        &path,
        "settings[payouts][schedule][interval]=weekly&settings[payouts][schedule][weekly_anchor]=friday",
        &[],
    )
    .await
    .ok();
    let daily = app
        .post(&path, "settings[payouts][schedule][interval]=daily", &[])
        .await;
    let schedule = &daily.ok()["settings"]["payouts"]["schedule"];
    assert_eq!(schedule["interval"], "daily");
    assert!(
        schedule.get("weekly_anchor").is_none_or(Value::is_null),
        "a daily schedule still has a weekly_anchor: {schedule}"
    );
    let monthly = app
        .post(
            &path,
            "settings[payouts][schedule][interval]=monthly&settings[payouts][schedule][monthly_anchor]=3",
            &[],
        )
        .await;
    let weekly = app
        .post(&path, "settings[payouts][schedule][interval]=weekly", &[])
        .await;
    monthly.ok();
    let schedule = &weekly.ok()["settings"]["payouts"]["schedule"];
    assert!(
        schedule.get("monthly_anchor").is_none_or(Value::is_null),
        "a weekly schedule still has a monthly_anchor: {schedule}"
    );
}

async fn account_tos_acceptance(app: TestApp) {
    let custom = app.account("type=custom").await;
    let path = format!("/v1/accounts/{}", id_of(&custom));
    let accepted = app
        .post(
            &path,
            "tos_acceptance[date]=1700000000&tos_acceptance[ip]=8.8.8.8\
             &tos_acceptance[user_agent]=Mozilla%2F5.0",
            &[],
        )
        .await;
    let tos = &accepted.ok()["tos_acceptance"];
    assert_eq!(tos["date"], 1_700_000_000);
    assert_eq!(tos["ip"], "8.8.8.8");
    assert_eq!(tos["user_agent"], "Mozilla/5.0");
    app.post(&path, "tos_acceptance[date]=yesterday", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            Some("tos_acceptance[date]"),
        );

    // Stripe collects the terms of Express and Standard accounts itself.
    for kind in ["express", "standard"] {
        let account = app.account(&format!("type={kind}")).await;
        let path = format!("/v1/accounts/{}", id_of(&account));
        let resp = app
            .post(
                &path,
                "tos_acceptance[date]=1700000000&tos_acceptance[ip]=8.8.8.8&metadata[x]=y",
                &[],
            )
            .await;
        resp.error(400, "invalid_request_error", None, Some("tos_acceptance"));
        let stored = app.get(&path, &[]).await;
        assert!(stored.ok()["tos_acceptance"]["date"].is_null());
        assert_eq!(
            stored.ok()["metadata"],
            json!({}),
            "the whole update is refused"
        );
    }
    // Also at creation: nothing is created.
    let before = app.count("/v1/accounts", &[]).await;
    app.post(
        "/v1/accounts",
        "type=express&tos_acceptance[date]=1700000000",
        &[],
    )
    .await
    .error(400, "invalid_request_error", None, Some("tos_acceptance"));
    assert_eq!(app.count("/v1/accounts", &[]).await, before);
}

async fn account_business_type_guards(app: TestApp) {
    let account = app.account("type=custom&business_type=company").await;
    let path = format!("/v1/accounts/{}", id_of(&account));
    assert!(account["company"].is_object());
    app.post(&path, "individual[first_name]=Jenny", &[])
        .await
        .error(400, "invalid_request_error", None, Some("individual"));
    let named = app
        .post(&path, "company[name]=Acme&company[tax_id]=000000000", &[])
        .await;
    let company = &named.ok()["company"];
    assert_eq!(company["name"], "Acme");
    assert_eq!(company["tax_id_provided"], true);
    assert!(
        company.get("tax_id").is_none(),
        "the tax id is echoed: {company}"
    );
    assert!(company.get("tax_id_verification").is_none());
    app.post(&path, "business_type=sole_trader", &[])
        .await
        .error(400, "invalid_request_error", None, Some("business_type"));

    let individual = app.account("type=custom&business_type=individual").await;
    let path = format!("/v1/accounts/{}", id_of(&individual));
    app.post(&path, "company[name]=Acme", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("company"),
    );
}

// --- rejection and deletion ----------------------------------------------------------------------

async fn account_reject_with_reason(app: TestApp) {
    let account = app.custom_account().await;
    let acct = id_of(&account);
    let path = format!("/v1/accounts/{acct}/reject");
    app.post(&path, "", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("reason"),
    );
    app.post(&path, "reason=boredom", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("reason"),
    );
    let rejected = app.post(&path, "reason=fraud", &[]).await;
    let rejected = rejected.ok().clone();
    assert_account_shape(&rejected);
    assert_eq!(
        rejected["requirements"]["disabled_reason"],
        "rejected.fraud"
    );
    assert_eq!(rejected["charges_enabled"], false);
    assert_eq!(rejected["payouts_enabled"], false);
    for (_, status) in rejected["capabilities"].as_object().unwrap() {
        assert_eq!(status, "inactive");
    }
    // It stays rejected, and is still listed.
    let fetched = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    assert_eq!(
        fetched.ok()["requirements"]["disabled_reason"],
        "rejected.fraud"
    );
    let cap = app
        .get(
            &format!("/v1/accounts/{acct}/capabilities/card_payments"),
            &[],
        )
        .await;
    assert_eq!(cap.ok()["status"], "inactive");
    assert_eq!(app.get("/v1/accounts", &[]).await.ids(), vec![acct.clone()]);
    // Even the test values do not bring it back.
    let after = app
        .post(&format!("/v1/accounts/{acct}"), VERIFIED_INDIVIDUAL, &[])
        .await;
    assert_eq!(after.ok()["charges_enabled"], false);
    app.post("/v1/accounts/acct_nope/reject", "reason=other", &[])
        .await
        .error(
            403,
            "invalid_request_error",
            Some("account_invalid"),
            Some("account"),
        );
}

async fn account_delete(app: TestApp) {
    let keep = app.account("type=custom").await;
    let gone = app.account("type=custom").await;
    let acct = id_of(&gone);
    let path = format!("/v1/accounts/{acct}");
    let deleted = app.delete(&path, &[]).await;
    assert_eq!(
        deleted.ok(),
        &json!({"id": acct, "object": "account", "deleted": true})
    );
    assert_eq!(app.get("/v1/accounts", &[]).await.ids(), vec![id_of(&keep)]);
    for resp in [
        app.get(&path, &[]).await,
        app.post(&path, "metadata[a]=b", &[]).await,
        app.delete(&path, &[]).await,
        app.get(&format!("{path}/capabilities"), &[]).await,
        app.get(&format!("{path}/persons"), &[]).await,
        app.get(&format!("{path}/external_accounts"), &[]).await,
    ] {
        assert!(
            resp.status == 403 || resp.status == 404,
            "a deleted account answered {}: {}",
            resp.status,
            resp.text
        );
        assert_eq!(resp.body["error"]["type"], "invalid_request_error");
    }
    // Another platform cannot delete ours.
    let other = TestApp::bearer(&app.key2);
    let resp = app
        .delete(
            &format!("/v1/accounts/{}", id_of(&keep)),
            &[("authorization", &other)],
        )
        .await;
    resp.error(
        403,
        "invalid_request_error",
        Some("account_invalid"),
        Some("account"),
    );
    assert_eq!(app.count("/v1/accounts", &[]).await, 1);
}

// --- requirements --------------------------------------------------------------------------------

async fn account_requirements_test_values_enable_charges(app: TestApp) {
    let account = app.custom_account().await;
    let acct = id_of(&account);
    let due = strings(&account["requirements"]["currently_due"]);
    for field in [
        "business_profile.mcc",
        "business_profile.url",
        "external_account",
        "individual.dob.day",
        "individual.first_name",
        "individual.ssn_last_4",
        "tos_acceptance.date",
        "tos_acceptance.ip",
    ] {
        assert!(
            due.contains(&field.to_string()),
            "{field} is not due: {due:?}"
        );
    }
    assert_eq!(
        account["requirements"]["disabled_reason"],
        "requirements.past_due"
    );
    assert_eq!(account["capabilities"]["card_payments"], "inactive");
    assert_eq!(account["capabilities"]["transfers"], "inactive");
    assert_eq!(account["charges_enabled"], false);

    let updated = app
        .post(&format!("/v1/accounts/{acct}"), VERIFIED_INDIVIDUAL, &[])
        .await;
    let updated = updated.ok().clone();
    assert_account_shape(&updated);
    assert_eq!(
        updated["charges_enabled"], true,
        "{}",
        updated["requirements"]
    );
    assert_eq!(updated["payouts_enabled"], true);
    assert_eq!(updated["details_submitted"], true);
    assert_eq!(updated["requirements"]["currently_due"], json!([]));
    assert_eq!(updated["requirements"]["past_due"], json!([]));
    assert_eq!(updated["requirements"]["errors"], json!([]));
    assert!(updated["requirements"]["disabled_reason"].is_null());
    assert_eq!(
        updated["capabilities"],
        json!({"card_payments": "active", "transfers": "active"})
    );
    let individual = &updated["individual"];
    assert_eq!(individual["object"], "person");
    assert!(individual["id"].as_str().unwrap().starts_with("person_"));
    assert_eq!(individual["verification"]["status"], "verified");
    assert_eq!(individual["id_number_provided"], true);
    assert_eq!(individual["ssn_last_4_provided"], true);
    assert!(individual.get("id_number").is_none(), "{individual}");
    assert!(individual.get("ssn_last_4").is_none(), "{individual}");
    let text = updated.to_string();
    assert!(!text.contains("\"000000000\""), "the SSN is echoed: {text}");
    assert_eq!(
        individual["dob"],
        json!({"day": 1, "month": 1, "year": 1901})
    );
    let externals = &updated["external_accounts"];
    assert_eq!(externals["total_count"], 1);
    assert_eq!(externals["data"][0]["object"], "bank_account");
    assert_eq!(externals["data"][0]["default_for_currency"], true);
    assert_eq!(updated["tos_acceptance"]["date"], 1_700_000_000);

    // The stored account and its capabilities agree.
    let fetched = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    assert_eq!(fetched.ok(), &updated);
    let caps = app
        .get(&format!("/v1/accounts/{acct}/capabilities"), &[])
        .await;
    for cap in caps.ok()["data"].as_array().unwrap() {
        assert_eq!(cap["status"], "active", "{cap}");
        assert_eq!(cap["requirements"]["currently_due"], json!([]));
    }

    // The same in one create call.
    let form = format!(
        "type=custom&country=US&business_type=individual\
         &capabilities[card_payments][requested]=true&capabilities[transfers][requested]=true&{VERIFIED_INDIVIDUAL}"
    );
    let direct = app.account(&form).await;
    assert_eq!(
        direct["charges_enabled"], true,
        "{}",
        direct["requirements"]
    );
    assert_eq!(direct["payouts_enabled"], true);
}

async fn account_requirements_failing_test_values(app: TestApp) {
    // A date of birth other than the test values fails identity verification.
    let account = app.custom_account().await;
    let acct = id_of(&account);
    let failing = VERIFIED_INDIVIDUAL.replace("[year]=1901", "[year]=1950");
    let updated = app
        .post(&format!("/v1/accounts/{acct}"), &failing, &[])
        .await;
    let updated = updated.ok().clone();
    assert_eq!(updated["charges_enabled"], false);
    assert_eq!(updated["capabilities"]["card_payments"], "inactive");
    let requirements = &updated["requirements"];
    assert_eq!(requirements["disabled_reason"], "requirements.past_due");
    let due = strings(&requirements["currently_due"]);
    assert!(due.contains(&"individual.dob.day".to_string()), "{due:?}");
    let errors = requirements["errors"].as_array().unwrap();
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(
            error["code"], "verification_failed_keyed_identity",
            "{error}"
        );
        assert!(error["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(strings(&requirements["currently_due"])
            .contains(&error["requirement"].as_str().unwrap().to_string()));
    }
    assert!(errors
        .iter()
        .any(|e| e["requirement"] == "individual.dob.day"));
    assert_eq!(
        updated["individual"]["verification"]["status"],
        "unverified"
    );

    // A failing id number.
    let account = app.custom_account().await;
    let acct = id_of(&account);
    let failing = VERIFIED_INDIVIDUAL.replace("[id_number]=000000000", "[id_number]=111111111");
    let updated = app
        .post(&format!("/v1/accounts/{acct}"), &failing, &[])
        .await;
    let updated = updated.ok().clone();
    assert_eq!(updated["charges_enabled"], false);
    let errors = updated["requirements"]["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["requirement"] == "individual.id_number"
                && e["code"] == "verification_failed_id_number_match"),
        "{errors:?}"
    );
    let text = updated.to_string();
    assert!(
        !text.contains("111111111"),
        "the id number is echoed: {text}"
    );

    // Fixing the value clears the error.
    let fixed = app
        .post(
            &format!("/v1/accounts/{acct}"),
            "individual[id_number]=000000000",
            &[],
        )
        .await;
    assert_eq!(fixed.ok()["requirements"]["errors"], json!([]));
    assert_eq!(
        fixed.ok()["charges_enabled"],
        true,
        "{}",
        fixed.ok()["requirements"]
    );
}

async fn account_without_external_account_has_no_payouts(app: TestApp) {
    let account = app.custom_account().await;
    let acct = id_of(&account);
    let without = VERIFIED_INDIVIDUAL.replace("&external_account=btok_us_verified", "");
    let updated = app
        .post(&format!("/v1/accounts/{acct}"), &without, &[])
        .await;
    let updated = updated.ok().clone();
    assert_eq!(
        updated["charges_enabled"], true,
        "{}",
        updated["requirements"]
    );
    assert_eq!(updated["payouts_enabled"], false);
    assert_eq!(
        updated["requirements"]["currently_due"],
        json!(["external_account"])
    );
    let added = app
        .post(
            &format!("/v1/accounts/{acct}/external_accounts"),
            "external_account=btok_us_verified",
            &[],
        )
        .await;
    added.ok();
    let fetched = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    assert_eq!(fetched.ok()["payouts_enabled"], true);
    assert_eq!(fetched.ok()["requirements"]["currently_due"], json!([]));
}

// --- capabilities --------------------------------------------------------------------------------

async fn capabilities_list_retrieve_update(app: TestApp) {
    let account = app.custom_account().await;
    let acct = id_of(&account);
    let listed = app
        .get(&format!("/v1/accounts/{acct}/capabilities"), &[])
        .await;
    let body = listed.ok();
    assert_eq!(body["object"], "list");
    assert_eq!(body["url"], format!("/v1/accounts/{acct}/capabilities"));
    assert_eq!(body["has_more"], false);
    assert_eq!(listed.ids(), vec!["card_payments", "transfers"]);
    for cap in body["data"].as_array().unwrap() {
        assert_eq!(cap["object"], "capability");
        assert_eq!(cap["account"], acct.as_str());
        assert_eq!(cap["requested"], true);
        assert!(cap["requested_at"].is_i64());
        assert_eq!(cap["status"], "inactive");
        assert!(cap["requirements"]["currently_due"].is_array());
    }

    let path = format!("/v1/accounts/{acct}/capabilities/card_payments");
    let one = app.get(&path, &[]).await;
    assert_eq!(one.ok(), &body["data"][0]);

    // Never requested: shown as unrequested.
    let never = app
        .get(
            &format!("/v1/accounts/{acct}/capabilities/klarna_payments"),
            &[],
        )
        .await;
    let never = never.ok();
    assert_eq!(never["id"], "klarna_payments");
    assert_eq!(never["requested"], false);
    assert_eq!(never["status"], "unrequested");
    assert!(never["requested_at"].is_null());
    // Not a capability at all.
    app.get(
        &format!("/v1/accounts/{acct}/capabilities/teleportation"),
        &[],
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );

    // Unrequesting.
    let off = app.post(&path, "requested=false", &[]).await;
    let off = off.ok().clone();
    assert_eq!(off["id"], "card_payments");
    assert_eq!(off["requested"], false);
    assert!(off["requested_at"].is_null());
    assert_eq!(off["status"], "unrequested");
    assert_eq!(app.get(&path, &[]).await.ok(), &off);
    let account = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    assert!(
        account.ok()["capabilities"].get("card_payments").is_none(),
        "an unrequested capability is not listed on the account: {}",
        account.ok()["capabilities"]
    );
    // And requesting again.
    let on = app.post(&path, "requested=true", &[]).await;
    assert_eq!(on.ok()["requested"], true);
    assert!(on.ok()["requested_at"].is_i64());
    assert_eq!(on.ok()["status"], "inactive");
    // A new capability by update.
    let klarna = app
        .post(
            &format!("/v1/accounts/{acct}/capabilities/klarna_payments"),
            "requested=true",
            &[],
        )
        .await;
    assert_eq!(klarna.ok()["requested"], true);
    let listed = app
        .get(&format!("/v1/accounts/{acct}/capabilities"), &[])
        .await;
    assert_eq!(
        listed.ids(),
        vec!["card_payments", "klarna_payments", "transfers"]
    );
    app.post(&path, "requested=perhaps", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("requested"),
    );
    app.post(&path, "requested=true&status=active", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("status"),
        );
    // Unknown capabilities at account creation.
    app.post(
        "/v1/accounts",
        "type=custom&capabilities[teleportation][requested]=true",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("capabilities[teleportation]"),
    );
}

// --- persons -------------------------------------------------------------------------------------

async fn persons_crud_and_relationship_filter(app: TestApp) {
    let account = app.account("type=custom&business_type=company").await;
    let acct = id_of(&account);
    let base = format!("/v1/accounts/{acct}/persons");

    let owner = app
        .post(
            &base,
            "first_name=Olivia&last_name=Owner&relationship[owner]=true\
             &relationship[percent_ownership]=60&email=o%40example.com\
             &dob[day]=1&dob[month]=1&dob[year]=1901&id_number=000000000&metadata[k]=v",
            &[],
        )
        .await;
    let owner = owner.ok().clone();
    let owner_id = id_of(&owner);
    assert!(owner_id.starts_with("person_"));
    assert_eq!(owner["object"], "person");
    assert_eq!(owner["account"], acct.as_str());
    assert_eq!(owner["first_name"], "Olivia");
    assert_eq!(owner["relationship"]["owner"], true);
    assert_eq!(owner["relationship"]["percent_ownership"], 60.0);
    assert_eq!(owner["relationship"]["director"], false);
    assert_eq!(owner["id_number_provided"], true);
    assert!(owner.get("id_number").is_none());
    assert!(owner.get("_sluice").is_none());
    assert_eq!(owner["metadata"], json!({"k": "v"}));
    assert!(owner["created"].is_i64());

    let director = app
        .post(
            &base,
            "first_name=Dan&last_name=Director&relationship[director]=true",
            &[],
        )
        .await;
    let director_id = id_of(director.ok());
    let rep = app
        .post(
            &base,
            "first_name=Rita&relationship[representative]=true&relationship[executive]=true\
             &relationship[title]=CEO&relationship[owner]=true&relationship[percent_ownership]=40",
            &[],
        )
        .await;
    let rep_id = id_of(rep.ok());

    let path = format!("{base}/{owner_id}");
    assert_eq!(app.get(&path, &[]).await.ok(), &owner);
    let updated = app
        .post(
            &path,
            "last_name=Owner-Smith&metadata[k]=&phone=0000000000",
            &[],
        )
        .await;
    let updated = updated.ok().clone();
    assert_eq!(updated["last_name"], "Owner-Smith");
    assert_eq!(updated["first_name"], "Olivia");
    assert_eq!(updated["metadata"], json!({}));
    assert_eq!(updated["phone"], "0000000000");
    assert_eq!(app.get(&path, &[]).await.ok(), &updated);

    let all = app.get(&base, &[]).await;
    assert_eq!(all.body["url"], base.as_str());
    assert_eq!(
        all.ids(),
        vec![rep_id.clone(), director_id.clone(), owner_id.clone()]
    );
    let owners = app
        .get(&format!("{base}?relationship[owner]=true"), &[])
        .await;
    assert_eq!(owners.ids(), vec![rep_id.clone(), owner_id.clone()]);
    let directors = app
        .get(&format!("{base}?relationship[director]=true"), &[])
        .await;
    assert_eq!(directors.ids(), vec![director_id.clone()]);
    let reps = app
        .get(
            &format!("{base}?relationship[representative]=true&relationship[owner]=true"),
            &[],
        )
        .await;
    assert_eq!(reps.ids(), vec![rep_id.clone()]);
    let not_owners = app
        .get(&format!("{base}?relationship[owner]=false"), &[])
        .await;
    assert_eq!(not_owners.ids(), vec![director_id.clone()]);
    app.get(&format!("{base}?relationship[boss]=true"), &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("relationship[boss]"),
        );

    // The account now knows its representative.
    let company = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    let due = strings(&company.ok()["requirements"]["currently_due"]);
    assert!(
        !due.iter().any(|d| d.starts_with("representative.")),
        "{due:?}"
    );

    // Unknown fields, and persons of other accounts.
    app.post(&base, "first_name=X&favourite_colour=blue", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("favourite_colour"),
        );
    app.post(&base, "dob[yr]=1901", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_unknown"),
        Some("dob[yr]"),
    );
    assert_eq!(app.count(&base, &[]).await, 3);
    let other = app.account("type=custom&business_type=company").await;
    let other_base = format!("/v1/accounts/{}/persons", id_of(&other));
    app.get(&format!("{other_base}/{owner_id}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    assert_eq!(app.count(&other_base, &[]).await, 0);

    // Delete.
    let deleted = app.delete(&format!("{base}/{director_id}"), &[]).await;
    assert_eq!(
        deleted.ok(),
        &json!({"id": director_id, "object": "person", "deleted": true})
    );
    app.get(&format!("{base}/{director_id}"), &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.delete(&format!("{base}/{director_id}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    assert_eq!(app.get(&base, &[]).await.ids(), vec![rep_id, owner_id]);
}

/// The relationship filter must apply before the page is cut: `limit=2` over owners returns the
/// two newest owners even when newer non-owners exist.
async fn persons_relationship_filter_pages_correctly(app: TestApp) {
    let account = app.account("type=custom&business_type=company").await;
    let base = format!("/v1/accounts/{}/persons", id_of(&account));
    let mut owners = Vec::new();
    for i in 0..2 {
        let owner = app
            .post(
                &base,
                &format!("first_name=O{i}&relationship[owner]=true"),
                &[],
            )
            .await;
        owners.push(id_of(owner.ok()));
    }
    for i in 0..3 {
        app.post(
            &base,
            &format!("first_name=D{i}&relationship[director]=true"),
            &[],
        )
        .await
        .ok();
    }
    owners.reverse();
    let page = app
        .get(&format!("{base}?relationship[owner]=true&limit=2"), &[])
        .await;
    assert_eq!(page.ids(), owners, "{}", page.text);
    assert_eq!(page.body["has_more"], false);
}

// --- external accounts ---------------------------------------------------------------------------

async fn external_accounts_tokens_and_raw_details(app: TestApp) {
    let account = app.account("type=custom").await;
    let acct = id_of(&account);
    let base = format!("/v1/accounts/{acct}/external_accounts");

    let token = app
        .post(
            &base,
            "external_account=btok_us_verified&metadata[k]=v",
            &[],
        )
        .await;
    let bank = token.ok().clone();
    assert!(id_of(&bank).starts_with("ba_"));
    assert_eq!(bank["object"], "bank_account");
    assert_eq!(bank["account"], acct.as_str());
    assert_eq!(bank["country"], "US");
    assert_eq!(bank["currency"], "usd");
    assert_eq!(bank["last4"], "6789");
    assert_eq!(bank["routing_number"], "110000000");
    assert_eq!(
        bank["default_for_currency"], true,
        "the first of its currency"
    );
    assert_eq!(bank["metadata"], json!({"k": "v"}));
    assert!(
        bank["status"].is_string(),
        "bank_account.status is required: {bank}"
    );
    assert!(bank.get("_sluice").is_none(), "private fields leak: {bank}");
    assert!(bank.get("account_number").is_none());

    let raw = app
        .post(
            &base,
            "external_account[object]=bank_account&external_account[country]=US\
             &external_account[currency]=usd&external_account[routing_number]=110000000\
             &external_account[account_number]=000111111116\
             &external_account[account_holder_name]=Jenny+Rosen\
             &external_account[account_holder_type]=individual",
            &[],
        )
        .await;
    let raw = raw.ok().clone();
    assert!(id_of(&raw).starts_with("ba_"));
    assert_eq!(raw["last4"], "1116");
    assert_eq!(raw["account_holder_name"], "Jenny Rosen");
    assert_eq!(raw["account_holder_type"], "individual");
    assert_eq!(raw["default_for_currency"], false);
    assert!(
        !raw.to_string().contains("000111111116"),
        "the account number is echoed"
    );

    let debit = app
        .post(&base, "external_account=tok_visa_debit", &[])
        .await;
    let debit = debit.ok().clone();
    assert!(id_of(&debit).starts_with("card_"));
    assert_eq!(debit["object"], "card");
    assert_eq!(debit["funding"], "debit");
    assert_eq!(debit["brand"], "Visa");
    assert_eq!(debit["last4"], "5556");
    assert_eq!(debit["account"], acct.as_str());

    // Credit cards cannot receive payouts; unknown tokens are unknown.
    let before = app.count(&base, &[]).await;
    let resp = app.post(&base, "external_account=tok_visa", &[]).await;
    let error = resp.error(
        400,
        "invalid_request_error",
        Some("invalid_card_type"),
        Some("external_account"),
    );
    assert!(error["message"].as_str().unwrap().contains("debit"));
    app.post(&base, "external_account=btok_nope", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("resource_missing"),
            Some("external_account"),
        );
    app.post(&base, "", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("external_account"),
    );
    app.post(
        &base,
        "external_account[object]=bank_account&external_account[country]=US\
         &external_account[currency]=usd&external_account[account_number]=000123456789",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("external_account[routing_number]"),
    );
    app.post(
        &base,
        "external_account[object]=bank_account&external_account[country]=US\
         &external_account[currency]=usd&external_account[routing_number]=123\
         &external_account[account_number]=000123456789",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        Some("routing_number_invalid"),
        Some("external_account[routing_number]"),
    );
    assert_eq!(app.count(&base, &[]).await, before);

    // Lists, with the object filter; the account shows them too.
    let all = app.get(&base, &[]).await;
    assert_eq!(all.body["url"], base.as_str());
    assert_eq!(all.ids(), vec![id_of(&debit), id_of(&raw), id_of(&bank)]);
    let cards = app.get(&format!("{base}?object=card"), &[]).await;
    assert_eq!(cards.ids(), vec![id_of(&debit)]);
    let banks = app.get(&format!("{base}?object=bank_account"), &[]).await;
    assert_eq!(banks.ids(), vec![id_of(&raw), id_of(&bank)]);
    let fetched = app.get(&format!("/v1/accounts/{acct}"), &[]).await;
    assert_eq!(fetched.ok()["external_accounts"]["total_count"], 3);
    let one = app.get(&format!("{base}/{}", id_of(&bank)), &[]).await;
    assert_eq!(one.ok(), &bank);
}

async fn external_accounts_default_for_currency(app: TestApp) {
    let account = app.account("type=custom").await;
    let acct = id_of(&account);
    let base = format!("/v1/accounts/{acct}/external_accounts");
    let first = app
        .post(&base, "external_account=btok_us_verified", &[])
        .await;
    let first = id_of(first.ok());
    let second = app.post(&base, "external_account=btok_us", &[]).await;
    let second = id_of(second.ok());

    // Deleting the default for the default currency is refused.
    let resp = app.delete(&format!("{base}/{first}"), &[]).await;
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert_eq!(resp.body["error"]["type"], "invalid_request_error");
    assert!(resp.message().contains("default"), "{}", resp.text);
    assert_eq!(app.count(&base, &[]).await, 2);
    // Unsetting the default directly is refused too.
    app.post(
        &format!("{base}/{first}"),
        "default_for_currency=false",
        &[],
    )
    .await
    .error(
        400,
        "invalid_request_error",
        None,
        Some("default_for_currency"),
    );

    // Switch the default.
    let switched = app
        .post(
            &format!("{base}/{second}"),
            "default_for_currency=true",
            &[],
        )
        .await;
    assert_eq!(switched.ok()["default_for_currency"], true);
    let old = app.get(&format!("{base}/{first}"), &[]).await;
    assert_eq!(old.ok()["default_for_currency"], false);
    let defaults: Vec<String> = app.get(&base, &[]).await.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["default_for_currency"] == true)
        .map(id_of)
        .collect();
    assert_eq!(defaults, vec![second.clone()]);

    // A new one made default on creation takes over.
    let third = app
        .post(
            &base,
            "external_account=btok_us_verified&default_for_currency=true",
            &[],
        )
        .await;
    let third = id_of(third.ok());
    let second_now = app.get(&format!("{base}/{second}"), &[]).await;
    assert_eq!(second_now.ok()["default_for_currency"], false);

    // Now the first is deletable.
    let deleted = app.delete(&format!("{base}/{first}"), &[]).await;
    let deleted = deleted.ok();
    assert_eq!(deleted["id"], first.as_str());
    assert_eq!(deleted["object"], "bank_account");
    assert_eq!(deleted["deleted"], true);
    app.get(&format!("{base}/{first}"), &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    assert_eq!(app.get(&base, &[]).await.ids(), vec![third.clone(), second]);

    // Updates: allowed fields only.
    let renamed = app
        .post(
            &format!("{base}/{third}"),
            "account_holder_name=New+Name&metadata[a]=b",
            &[],
        )
        .await;
    assert_eq!(renamed.ok()["account_holder_name"], "New Name");
    assert_eq!(renamed.ok()["metadata"], json!({"a": "b"}));
    app.post(&format!("{base}/{third}"), "routing_number=110000000", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("routing_number"),
        );
    // Another account's external account is not found here.
    let other = app.account("type=custom").await;
    app.get(
        &format!("/v1/accounts/{}/external_accounts/{third}", id_of(&other)),
        &[],
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
}

async fn external_accounts_card_default_per_currency(app: TestApp) {
    let account = app.account("type=custom").await;
    let base = format!("/v1/accounts/{}/external_accounts", id_of(&account));
    let bank = app
        .post(&base, "external_account=btok_us_verified", &[])
        .await;
    let card = app
        .post(&base, "external_account=tok_visa_debit", &[])
        .await;
    assert_eq!(bank.ok()["default_for_currency"], true);
    assert_eq!(card.ok()["currency"], "usd");
    assert_eq!(
        card.ok()["default_for_currency"],
        false,
        "one default per currency"
    );
    // A euro account is the first of its currency.
    let euro = app.post(&base, "external_account=btok_de", &[]).await;
    assert_eq!(euro.ok()["currency"], "eur");
    assert_eq!(euro.ok()["default_for_currency"], true);
    // The default of a non-default currency may be deleted.
    let gone = app
        .delete(&format!("{base}/{}", id_of(euro.ok())), &[])
        .await;
    assert_eq!(gone.ok()["deleted"], true);
}

/// A connected account acting through `Stripe-Account` reaches itself only: never its sibling
/// accounts of the same platform, their persons, external accounts or capabilities.
async fn connected_account_cannot_reach_sibling_accounts(app: TestApp) {
    let a = id_of(&app.account("type=custom&business_type=company").await);
    let b_account = app.account("type=custom&business_type=company").await;
    let b = id_of(&b_account);
    let on = [("stripe-account", a.as_str())];
    // Itself: fine.
    assert_eq!(
        app.get(&format!("/v1/accounts/{a}"), &on).await.ok()["id"],
        a.as_str()
    );

    let denied = |resp: &common::Resp| {
        assert!(
            resp.status == 403 || resp.status == 404,
            "acting as {a}, a request on sibling {b} answered {}: {}",
            resp.status,
            resp.text
        );
        assert_eq!(resp.body["error"]["type"], "invalid_request_error");
    };
    denied(&app.get(&format!("/v1/accounts/{b}"), &on).await);
    denied(
        &app.post(&format!("/v1/accounts/{b}"), "metadata[x]=y", &on)
            .await,
    );
    denied(
        &app.post(&format!("/v1/accounts/{b}/reject"), "reason=fraud", &on)
            .await,
    );
    denied(
        &app.post(&format!("/v1/accounts/{b}/persons"), "first_name=x", &on)
            .await,
    );
    denied(&app.get(&format!("/v1/accounts/{b}/persons"), &on).await);
    denied(
        &app.post(
            &format!("/v1/accounts/{b}/external_accounts"),
            "external_account=btok_us",
            &on,
        )
        .await,
    );
    denied(
        &app.post(
            &format!("/v1/accounts/{b}/capabilities/klarna_payments"),
            "requested=true",
            &on,
        )
        .await,
    );
    denied(&app.delete(&format!("/v1/accounts/{b}"), &on).await);
    let listed = app.get("/v1/accounts", &on).await;
    if listed.status == 200 {
        assert!(
            !listed.ids().contains(&b),
            "{b} is listed to {a}: {}",
            listed.text
        );
    }

    // Nothing changed on b.
    let after = app.get(&format!("/v1/accounts/{b}"), &[]).await;
    assert_eq!(after.ok(), &b_account);
    assert_eq!(
        app.count(&format!("/v1/accounts/{b}/persons"), &[]).await,
        0
    );
    assert_eq!(
        app.count(&format!("/v1/accounts/{b}/external_accounts"), &[])
            .await,
        0
    );
}

/// `POST /v1/accounts/{id}/capabilities/{name}` with a name that is not a capability answers
/// like the `GET` of the same URL (404 resource_missing), not with a parameter the request
/// never had.
async fn capability_update_unknown_name_is_404(app: TestApp) {
    let acct = id_of(&app.custom_account().await);
    let path = format!("/v1/accounts/{acct}/capabilities/teleportation");
    app.get(&path, &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.post(&path, "requested=true", &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
}

/// A value rejected inside a hash names the parameter in full, as sent.
async fn individual_invalid_ssn_names_the_full_param(app: TestApp) {
    let acct = id_of(&app.custom_account().await);
    let path = format!("/v1/accounts/{acct}");
    app.post(&path, "individual[ssn_last_4]=12a4", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            None,
            Some("individual[ssn_last_4]"),
        );
    let stored = app.get(&path, &[]).await;
    assert!(
        stored.ok()["individual"].is_null()
            || stored.ok()["individual"]["ssn_last_4_provided"] == false
    );
    // On a person the same field is top-level.
    let company = id_of(&app.account("type=custom&business_type=company").await);
    app.post(
        &format!("/v1/accounts/{company}/persons"),
        "ssn_last_4=12a4",
        &[],
    )
    .await
    .error(400, "invalid_request_error", None, Some("ssn_last_4"));
}

/// Stripe validates what it can check without a network: a date of birth must be a date,
/// ownership a percentage, a currency a currency.
async fn account_and_person_values_are_validated(app: TestApp) {
    let company = id_of(&app.account("type=custom&business_type=company").await);
    let persons = format!("/v1/accounts/{company}/persons");
    let resp = app
        .post(&persons, "dob[day]=32&dob[month]=13&dob[year]=1901", &[])
        .await;
    assert_eq!(resp.status, 400, "dob 1901-13-32 accepted: {}", resp.text);
    assert!(resp.body["error"]["param"]
        .as_str()
        .is_some_and(|p| p.starts_with("dob")));
    let resp = app
        .post(&persons, "relationship[percent_ownership]=150", &[])
        .await;
    resp.error(
        400,
        "invalid_request_error",
        None,
        Some("relationship[percent_ownership]"),
    );
    assert_eq!(app.count(&persons, &[]).await, 0);
    let resp = app
        .post(
            &format!("/v1/accounts/{company}"),
            "default_currency=xyz",
            &[],
        )
        .await;
    resp.error(400, "invalid_request_error", None, Some("default_currency"));
}

store_tests! {
    account_types_map_to_controller,
    account_controller_only_creation,
    account_unknown_country_is_400,
    account_own_is_the_platform,
    account_list_pages,
    account_update_business_profile_and_settings,
    account_schedule_interval_change_drops_old_anchor,
    account_tos_acceptance,
    account_business_type_guards,
    account_reject_with_reason,
    account_delete,
    account_requirements_test_values_enable_charges,
    account_requirements_failing_test_values,
    account_without_external_account_has_no_payouts,
    capabilities_list_retrieve_update,
    persons_crud_and_relationship_filter,
    persons_relationship_filter_pages_correctly,
    external_accounts_tokens_and_raw_details,
    external_accounts_default_for_currency,
    external_accounts_card_default_per_currency,
    connected_account_cannot_reach_sibling_accounts,
    capability_update_unknown_name_is_404,
    individual_invalid_ssn_names_the_full_param,
    account_and_person_values_are_validated,
}
