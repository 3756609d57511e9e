//! `/v1/customers` over HTTP against both stores: the full Stripe shape, CRUD, deletion stubs,
//! metadata rules and limits.

mod common;

use common::{encode, TestApp};
use serde_json::{json, Value};

/// Every property Sluice renders for a customer (Stripe's non-includable ones).
const CUSTOMER_KEYS: &[&str] = &[
    "address",
    "balance",
    "created",
    "currency",
    "default_source",
    "delinquent",
    "description",
    "discount",
    "email",
    "id",
    "invoice_prefix",
    "invoice_settings",
    "livemode",
    "metadata",
    "name",
    "next_invoice_sequence",
    "object",
    "phone",
    "preferred_locales",
    "shipping",
    "tax_exempt",
    "test_clock",
];

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

#[track_caller]
fn assert_customer_shape(customer: &Value) {
    assert_eq!(keys(customer), CUSTOMER_KEYS, "customer properties");
    let id = customer["id"].as_str().unwrap();
    assert!(id.starts_with("cus_") && id.len() > 10, "id {id}");
    assert_eq!(customer["object"], "customer");
    assert_eq!(customer["livemode"], false);
    let created = customer["created"].as_i64().expect("created is an integer");
    let now = sluice::domain::unix_now();
    assert!(
        (now - 60..=now + 1).contains(&created),
        "created {created}, now {now}"
    );
    assert!(customer["metadata"].is_object());
    assert!(customer["balance"].is_i64());
    assert!(customer["delinquent"].is_boolean());
    assert!(customer["preferred_locales"].is_array());
    assert!(customer["invoice_settings"].is_object());
    let prefix = customer["invoice_prefix"].as_str().unwrap();
    assert!(
        !prefix.is_empty() && prefix.len() <= 12,
        "invoice_prefix {prefix}"
    );
    assert!(["none", "exempt", "reverse"].contains(&customer["tax_exempt"].as_str().unwrap()));
}

async fn customer_create_has_the_full_shape(app: TestApp) {
    let empty = app.customer("").await;
    assert_customer_shape(&empty);
    for field in [
        "address",
        "currency",
        "default_source",
        "description",
        "discount",
        "email",
        "name",
        "phone",
        "shipping",
        "test_clock",
    ] {
        assert!(empty[field].is_null(), "{field} of an empty customer");
    }
    assert_eq!(empty["balance"], 0);
    assert_eq!(empty["metadata"], json!({}));
    assert_eq!(empty["tax_exempt"], "none");
    assert_eq!(empty["preferred_locales"], json!([]));
    assert_eq!(empty["next_invoice_sequence"], 1);

    let full = app
        .customer(
            "name=Jenny+Rosen&email=jenny.rosen%40example.com&description=VIP&phone=%2B15555550100\
             &balance=-500&tax_exempt=exempt&invoice_prefix=JENNY01\
             &address[line1]=510+Townsend+St&address[city]=San+Francisco&address[state]=CA\
             &address[postal_code]=94103&address[country]=US\
             &metadata[order_id]=6735&preferred_locales[0]=en-US",
        )
        .await;
    assert_customer_shape(&full);
    assert_eq!(full["name"], "Jenny Rosen");
    assert_eq!(full["email"], "jenny.rosen@example.com");
    assert_eq!(full["description"], "VIP");
    assert_eq!(full["phone"], "+15555550100");
    assert_eq!(full["balance"], -500);
    assert_eq!(full["tax_exempt"], "exempt");
    assert_eq!(full["invoice_prefix"], "JENNY01");
    assert_eq!(
        full["address"],
        json!({"city": "San Francisco", "country": "US", "line1": "510 Townsend St",
               "line2": null, "postal_code": "94103", "state": "CA"})
    );
    assert_eq!(full["metadata"], json!({"order_id": "6735"}));
    assert_eq!(full["preferred_locales"], json!(["en-US"]));
    assert_ne!(full["id"], empty["id"]);

    // What was answered is what is stored.
    let id = full["id"].as_str().unwrap();
    let fetched = app.get(&format!("/v1/customers/{id}"), &[]).await;
    assert_eq!(fetched.ok(), &full);
    // And what lists show.
    let listed = app.get("/v1/customers?limit=1", &[]).await;
    assert_eq!(&listed.ok()["data"][0], &full);
}

async fn customer_update_changes_only_what_is_given(app: TestApp) {
    let created = app
        .customer("name=Old&email=old%40example.com&metadata[keep]=1&metadata[change]=a")
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");
    let updated = app
        .post(
            &path,
            "email=new%40example.com&metadata[change]=b&metadata[add]=c&address[city]=Paris",
            &[],
        )
        .await;
    let updated = updated.ok().clone();
    assert_customer_shape(&updated);
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["created"], created["created"]);
    assert_eq!(updated["name"], "Old");
    assert_eq!(updated["email"], "new@example.com");
    assert_eq!(
        updated["metadata"],
        json!({"keep": "1", "change": "b", "add": "c"})
    );
    assert_eq!(updated["address"]["city"], "Paris");
    // An address update merges into the current address.
    let merged = app.post(&path, "address[line1]=1+Rue", &[]).await;
    assert_eq!(merged.ok()["address"]["city"], "Paris");
    assert_eq!(merged.ok()["address"]["line1"], "1 Rue");
    // `address=` clears it.
    let cleared = app.post(&path, "address=&name=", &[]).await;
    assert!(cleared.ok()["address"].is_null());
    assert!(cleared.ok()["name"].is_null());
    assert_eq!(app.get(&path, &[]).await.ok(), cleared.ok());
    // An empty update changes nothing and still answers the customer.
    let same = app.post(&path, "", &[]).await;
    assert_eq!(same.ok(), cleared.ok());

    // Invalid values are rejected with the parameter named.
    app.post(&path, "tax_exempt=sometimes", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("tax_exempt"),
    );
    let long = "x".repeat(257);
    app.post(&path, &format!("name={long}"), &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("name"),
    );
    app.post(&path, "shipping[phone]=1", &[]).await.error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("shipping[name]"),
    );
    assert_eq!(app.get(&path, &[]).await.ok(), cleared.ok());
}

async fn customer_missing_is_a_404(app: TestApp) {
    for resp in [
        app.get("/v1/customers/cus_doesnotexist", &[]).await,
        app.post("/v1/customers/cus_doesnotexist", "name=x", &[])
            .await,
        app.delete("/v1/customers/cus_doesnotexist", &[]).await,
    ] {
        let error = resp.error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
        assert_eq!(error["message"], "No such customer: 'cus_doesnotexist'");
    }
    // An account id is not a customer id.
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.get(&format!("/v1/customers/{acct}"), &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
}

async fn customer_delete_leaves_a_stub(app: TestApp) {
    let keep = app.customer("name=Keep").await;
    let gone = app.customer("name=Gone").await;
    let id = gone["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");

    let deleted = app.delete(&path, &[]).await;
    assert_eq!(
        deleted.ok(),
        &json!({"id": id, "object": "customer", "deleted": true})
    );
    // Retrieving a deleted customer answers the stub (200), as Stripe does.
    let fetched = app.get(&path, &[]).await;
    assert_eq!(
        fetched.ok(),
        &json!({"id": id, "object": "customer", "deleted": true})
    );
    // It is gone from lists, and cannot be updated or deleted again.
    assert_eq!(
        app.get("/v1/customers", &[]).await.ids(),
        vec![keep["id"].as_str().unwrap().to_string()]
    );
    app.post(&path, "name=Back", &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.delete(&path, &[]).await.error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    // The deleted customer is not a valid paging cursor target for anything odd either:
    // paging from it still works.
    let page = app
        .get(&format!("/v1/customers?starting_after={id}"), &[])
        .await;
    assert_eq!(page.ids(), vec![keep["id"].as_str().unwrap().to_string()]);
}

async fn customer_list_shape(app: TestApp) {
    let empty = app.get("/v1/customers", &[]).await;
    assert_eq!(
        empty.ok(),
        &json!({"object": "list", "data": [], "has_more": false, "url": "/v1/customers"})
    );
    let a = app.customer("name=A").await;
    let b = app.customer("name=B").await;
    let listed = app.get("/v1/customers", &[]).await;
    assert_eq!(
        listed.ids(),
        vec![
            b["id"].as_str().unwrap().to_string(),
            a["id"].as_str().unwrap().to_string()
        ]
    );
    for customer in listed.ok()["data"].as_array().unwrap() {
        assert_customer_shape(customer);
    }
}

/// Sends a metadata update that must be refused, and checks nothing changed.
async fn metadata_rejected(app: &TestApp, path: &str, form: &str, param: &str) {
    let before = app.get(path, &[]).await.ok().clone();
    let resp = app.post(path, form, &[]).await;
    let error = resp.error(400, "invalid_request_error", None, Some(param));
    assert!(
        error["message"].as_str().unwrap().contains("metadata"),
        "{}",
        resp.text
    );
    assert_eq!(
        app.get(path, &[]).await.ok(),
        &before,
        "a rejected update changed the customer"
    );
}

async fn customer_metadata_limits(app: TestApp) {
    // At the limits: 50 keys, 40-character keys, 500-character values.
    let mut at_limit: Vec<String> = (0..49).map(|i| format!("metadata[k{i}]=v")).collect();
    let key40 = "k".repeat(40);
    let value500 = "v".repeat(500);
    at_limit.push(format!("metadata[{key40}]={value500}"));
    let created = app.customer(&at_limit.join("&")).await;
    assert_eq!(created["metadata"].as_object().unwrap().len(), 50);
    assert_eq!(created["metadata"][&key40], value500.as_str());
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");

    // A 51st key, on update.
    metadata_rejected(&app, &path, "metadata[one_more]=x", "metadata").await;
    // Replacing one key with another keeps 50: fine.
    let swapped = app
        .post(&path, "metadata[k0]=&metadata[other]=x", &[])
        .await;
    assert_eq!(swapped.ok()["metadata"].as_object().unwrap().len(), 50);
    // A 41-character key, and a 501-character value.
    let key41 = "k".repeat(41);
    metadata_rejected(
        &app,
        &path,
        &format!("metadata[{key41}]=x"),
        &format!("metadata[{key41}]"),
    )
    .await;
    metadata_rejected(
        &app,
        &path,
        &format!("metadata[k1]={}", "v".repeat(501)),
        "metadata[k1]",
    )
    .await;
    // Characters, not bytes, are counted.
    let wide = "é".repeat(500);
    let ok = app
        .post(&path, &format!("metadata[k1]={}", encode(&wide)), &[])
        .await;
    assert_eq!(ok.ok()["metadata"]["k1"], wide.as_str());
    // Nested metadata is not a string.
    let resp = app.post(&path, "metadata[a][b]=c", &[]).await;
    resp.error(400, "invalid_request_error", None, Some("metadata[a]"));
    // `metadata=x` (not a hash) is refused.
    let resp = app.post(&path, "metadata=x", &[]).await;
    resp.error(400, "invalid_request_error", None, Some("metadata"));

    // On create: nothing is stored.
    let before = app.count("/v1/customers", &[]).await;
    let too_many: Vec<String> = (0..51).map(|i| format!("metadata[k{i}]=v")).collect();
    for form in [
        too_many.join("&"),
        format!("metadata[{key41}]=x"),
        format!("metadata[k]={}", "v".repeat(501)),
    ] {
        let resp = app.post("/v1/customers", &form, &[]).await;
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert_eq!(resp.body["error"]["type"], "invalid_request_error");
        assert!(resp.body["error"]["param"]
            .as_str()
            .unwrap()
            .starts_with("metadata"));
    }
    assert_eq!(app.count("/v1/customers", &[]).await, before);
}

async fn customer_in_connected_account(app: TestApp) {
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let on = [("stripe-account", acct)];
    let created = app.post("/v1/customers", "name=Connected", &on).await;
    let created = created.ok().clone();
    assert_customer_shape(&created);
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/customers/{id}");
    let updated = app.post(&path, "email=c%40example.com", &on).await;
    assert_eq!(updated.ok()["email"], "c@example.com");
    let deleted = app.delete(&path, &on).await;
    assert_eq!(deleted.ok()["deleted"], true);
    assert_eq!(app.count("/v1/customers", &on).await, 0);
}

/// Concurrent creates all commit (the stores batch them) and each answer is its own object.
async fn customer_concurrent_creates(app: TestApp) {
    let creates = (0..20).map(|i| {
        let app = &app;
        async move { app.post("/v1/customers", &format!("name=c{i}"), &[]).await }
    });
    let created = join_all(creates).await;
    let mut ids: Vec<String> = created
        .iter()
        .map(|resp| resp.ok()["id"].as_str().unwrap().to_string())
        .collect();
    for (i, resp) in created.iter().enumerate() {
        assert_eq!(resp.body["name"], format!("c{i}"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert_eq!(app.count("/v1/customers", &[]).await, 20);
}

/// Concurrent updates of one object are serialised: each acknowledged metadata key lands
/// (no lost update between read and write of the document).
async fn customer_concurrent_updates_are_not_lost(app: TestApp) {
    let id = app.customer("name=target").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/customers/{id}");
    for round in 0..3 {
        let updates = (0..12).map(|i| {
            let (app, path) = (&app, path.clone());
            async move {
                app.post(&path, &format!("metadata[r{round}k{i}]=v"), &[])
                    .await
            }
        });
        for resp in join_all(updates).await {
            resp.ok();
        }
    }
    let stored = app.get(&path, &[]).await;
    let kept = stored.ok()["metadata"].as_object().unwrap().len();
    assert_eq!(kept, 36, "acknowledged updates were lost: {}", stored.text);
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

/// Stripe refuses a malformed customer email with `email_invalid`.
async fn customer_invalid_email_is_rejected(app: TestApp) {
    let resp = app.post("/v1/customers", "email=notanemail", &[]).await;
    resp.error(
        400,
        "invalid_request_error",
        Some("email_invalid"),
        Some("email"),
    );
    assert_eq!(app.count("/v1/customers", &[]).await, 0);
}

async fn customer_list_filters_by_email(app: TestApp) {
    let a = app.customer("email=a%40example.com&name=A1").await;
    app.customer("email=b%40example.com").await;
    let a2 = app.customer("email=a%40example.com&name=A2").await;
    app.customer("").await;
    let listed = app.get("/v1/customers?email=a%40example.com", &[]).await;
    assert_eq!(
        listed.ids(),
        vec![
            a2["id"].as_str().unwrap().to_string(),
            a["id"].as_str().unwrap().to_string()
        ]
    );
    assert_eq!(listed.body["url"], "/v1/customers");
    // An exact match only, and it pages.
    let none = app.get("/v1/customers?email=a%40example", &[]).await;
    assert!(none.ids().is_empty());
    let first = app
        .get("/v1/customers?email=a%40example.com&limit=1", &[])
        .await;
    assert_eq!(first.ids(), vec![a2["id"].as_str().unwrap().to_string()]);
    assert_eq!(first.body["has_more"], true);
    let second = app
        .get(
            &format!(
                "/v1/customers?email=a%40example.com&limit=1&starting_after={}",
                a2["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(second.ids(), vec![a["id"].as_str().unwrap().to_string()]);
    assert_eq!(second.body["has_more"], false);
    assert_eq!(app.count("/v1/customers", &[]).await, 4);
}

store_tests! {
    customer_create_has_the_full_shape,
    customer_update_changes_only_what_is_given,
    customer_missing_is_a_404,
    customer_delete_leaves_a_stub,
    customer_list_shape,
    customer_list_filters_by_email,
    customer_metadata_limits,
    customer_in_connected_account,
    customer_concurrent_creates,
    customer_concurrent_updates_are_not_lost,
    customer_invalid_email_is_rejected,
}
