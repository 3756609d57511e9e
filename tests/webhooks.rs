//! `/v1/webhook_endpoints` and delivery, against both stores, with a real HTTP receiver on a
//! local port: signatures, Connect and platform routing, `enabled_events`, retries after errors
//! and timeouts, `pending_webhooks`, the delivery log, resend, disabling, and the listen stream.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::TestApp;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::Sha256;

/// What the receiver answers, in order; 200 once the script is used up.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Answers 200 after this long (longer than the dispatcher waits).
    Slow(Duration),
}

#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    signature: String,
    body: String,
    status: u16,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Delivery>>,
    script: Mutex<VecDeque<Reply>>,
    always: Mutex<Option<u16>>,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let reply = state.script.lock().unwrap().pop_front();
    let always = *state.always.lock().unwrap();
    let status = match (reply, always) {
        (Some(Reply::Slow(wait)), _) => {
            tokio::time::sleep(wait).await;
            200
        }
        (Some(Reply::Status(status)), _) => status,
        (None, Some(status)) => status,
        (None, None) => 200,
    };
    state.received.lock().unwrap().push(Delivery {
        path: uri.path().to_string(),
        signature: headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ReceiverState::default());
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn script(&self, replies: &[Reply]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(replies.iter().copied());
    }

    fn answer_always(&self, status: u16) {
        *self.state.always.lock().unwrap() = Some(status);
    }

    fn received(&self, path: &str) -> Vec<Delivery> {
        self.state
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.path == path)
            .cloned()
            .collect()
    }

    /// The events `path` accepted (2xx), in arrival order.
    fn delivered(&self, path: &str) -> Vec<Value> {
        self.received(path)
            .into_iter()
            .filter(|d| d.status < 300)
            .map(|d| serde_json::from_str(&d.body).unwrap())
            .collect()
    }

    async fn wait_delivered(&self, path: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let delivered = self.delivered(path);
            if delivered.len() >= count {
                return delivered;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {count} delivered; received {:?}",
                delivered.len(),
                self.received(path)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks a `Stripe-Signature` as the SDKs do: any `v1` matching HMAC-SHA256(secret, "t.body").
fn verify(signature: &str, body: &str, secret: &str) {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_string()),
            Some(("v1", v)) => signatures.push(v.to_string()),
            _ => {}
        }
    }
    let timestamp = timestamp.expect("a timestamp");
    let age = sluice::domain::unix_now() - timestamp.parse::<i64>().unwrap();
    assert!(age.abs() < 300, "signed {age} s ago");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        signatures.contains(&expected),
        "no v1 matches in {signature}"
    );
}

fn fast_dispatcher() -> sluice::webhooks::Config {
    sluice::webhooks::Config {
        retry_base_ms: 10,
        timeout_ms: 300,
        ..Default::default()
    }
}

async fn endpoint(app: &TestApp, form: &str) -> Value {
    app.post("/v1/webhook_endpoints", form, &[])
        .await
        .ok()
        .clone()
}

async fn event(app: &TestApp, id: &str, headers: &[(&str, &str)]) -> Value {
    app.get(&format!("/v1/events/{id}"), headers)
        .await
        .ok()
        .clone()
}

async fn wait_pending_zero(app: &TestApp, id: &str, headers: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let event = event(app, id, headers).await;
        if event["pending_webhooks"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "still pending: {event}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn endpoint_crud_and_errors(app: TestApp) {
    let made = endpoint(
        &app,
        "url=https%3A%2F%2Fexample.com%2Fhook&enabled_events[]=charge.succeeded&enabled_events[]=customer.created\
         &description=main&metadata[team]=payments&api_version=2024-06-20",
    )
    .await;
    let id = made["id"].as_str().unwrap();
    assert!(id.starts_with("we_"));
    assert_eq!(made["object"], "webhook_endpoint");
    assert_eq!(made["status"], "enabled");
    assert_eq!(made["url"], "https://example.com/hook");
    assert_eq!(made["description"], "main");
    assert_eq!(made["api_version"], "2024-06-20");
    assert_eq!(made["metadata"]["team"], "payments");
    assert_eq!(
        made["enabled_events"],
        serde_json::json!(["charge.succeeded", "customer.created"])
    );
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(made.get("_sluice").is_none());

    let fetched = app
        .get(&format!("/v1/webhook_endpoints/{id}"), &[])
        .await
        .ok()
        .clone();
    assert!(fetched.get("secret").is_none(), "the secret is shown once");
    let updated = app
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            "disabled=true&enabled_events[]=*&description=",
            &[],
        )
        .await
        .ok()
        .clone();
    assert_eq!(updated["status"], "disabled");
    assert_eq!(updated["enabled_events"], serde_json::json!(["*"]));
    assert_eq!(updated["description"], Value::Null);
    let enabled = app
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            "disabled=false",
            &[],
        )
        .await;
    assert_eq!(enabled.ok()["status"], "enabled");
    assert_eq!(app.get("/v1/webhook_endpoints", &[]).await.ids(), [id]);
    let deleted = app
        .delete(&format!("/v1/webhook_endpoints/{id}"), &[])
        .await;
    assert_eq!(deleted.ok()["deleted"], true);
    app.get(&format!("/v1/webhook_endpoints/{id}"), &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
    assert!(app.get("/v1/webhook_endpoints", &[]).await.ids().is_empty());

    let post = |form: &'static str| app.post("/v1/webhook_endpoints", form, &[]);
    post("enabled_events[]=*").await.error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("url"),
    );
    post("url=http%3A%2F%2Fexample.com").await.error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        Some("enabled_events"),
    );
    post("url=ftp%3A%2F%2Fexample.com&enabled_events[]=*")
        .await
        .error(
            400,
            "invalid_request_error",
            Some("url_invalid"),
            Some("url"),
        );
    post("url=not-a-url&enabled_events[]=*").await.error(
        400,
        "invalid_request_error",
        Some("url_invalid"),
        Some("url"),
    );
    post("url=http%3A%2F%2Fexample.com&enabled_events[]=charge.succeeded&enabled_events[]=charge.exploded")
        .await
        .error(400, "invalid_request_error", None, Some("enabled_events[1]"));
    post("url=http%3A%2F%2Fexample.com&enabled_events[]=*&api_version=yesterday")
        .await
        .error(400, "invalid_request_error", None, Some("api_version"));
    post("url=http%3A%2F%2Fexample.com&enabled_events[]=*&colour=red")
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
            Some("colour"),
        );
    // Nothing of the failed attempts was written.
    assert!(app.get("/v1/webhook_endpoints", &[]).await.ids().is_empty());

    // Platform keys only.
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.post(
        "/v1/webhook_endpoints",
        "url=http%3A%2F%2Fexample.com&enabled_events[]=*",
        &[("Stripe-Account", acct)],
    )
    .await
    .error(403, "invalid_request_error", None, None);
    app.get("/v1/webhook_endpoints", &[("Stripe-Account", acct)])
        .await
        .error(403, "invalid_request_error", None, None);
}

async fn deliveries_are_signed_and_routed(app: TestApp) {
    let receiver = Receiver::start().await;
    let all = endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=*",
            common::encode(&receiver.url("/all"))
        ),
    )
    .await;
    let created_only = endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/created"))
        ),
    )
    .await;
    let connect = endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created&connect=true",
            common::encode(&receiver.url("/connect"))
        ),
    )
    .await;
    let _dispatcher = app.start_dispatcher(fast_dispatcher());

    let customer = app.customer("name=Ann").await;
    let id = customer["id"].as_str().unwrap();
    app.post(&format!("/v1/customers/{id}"), "name=Anna", &[])
        .await
        .ok();
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.post("/v1/customers", "name=Inside", &[("Stripe-Account", acct)])
        .await
        .ok();

    let to_all = receiver.wait_delivered("/all", 2).await;
    let mut types: Vec<&str> = to_all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(types, ["customer.created", "customer.updated"]);
    let to_created = receiver.wait_delivered("/created", 1).await;
    assert_eq!(to_created[0]["data"]["object"]["id"], id);
    let to_connect = receiver.wait_delivered("/connect", 1).await;
    assert_eq!(to_connect[0]["account"], acct);
    assert_eq!(to_connect[0]["data"]["object"]["name"], "Inside");

    for (path, endpoint) in [
        ("/all", &all),
        ("/created", &created_only),
        ("/connect", &connect),
    ] {
        let secret = endpoint["secret"].as_str().unwrap();
        for delivery in receiver.received(path) {
            verify(&delivery.signature, &delivery.body, secret);
        }
    }
    // Nothing else arrives: platform endpoints never see connected accounts' events, and the
    // Connect endpoint saw only the type it selected.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.delivered("/all").len(), 2);
    assert_eq!(receiver.delivered("/created").len(), 1);
    assert_eq!(receiver.delivered("/connect").len(), 1);

    let created_event = to_created[0]["id"].as_str().unwrap();
    // Each delivery carries the count at its sending: the other endpoint may be done already.
    let pending = to_created[0]["pending_webhooks"].as_i64().unwrap();
    assert!(
        (1..=2).contains(&pending),
        "two endpoints wanted it: {pending}"
    );
    wait_pending_zero(&app, created_event, &[]).await;
    let inside_event = to_connect[0]["id"].as_str().unwrap();
    wait_pending_zero(&app, inside_event, &[("Stripe-Account", acct)]).await;
}

/// An endpoint receives the events recorded while it exists and takes deliveries: one created
/// later does not get older events, and one deleted before its delivery releases the event's
/// `pending_webhooks`.
async fn events_go_to_the_endpoints_of_their_time(app: TestApp) {
    let receiver = Receiver::start().await;
    let form = |path: &str| {
        format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url(path))
        )
    };
    let gone = endpoint(&app, &form("/gone")).await;
    endpoint(&app, &form("/stays")).await;
    let before = app.customer("name=Before").await;
    let before_event = app.newest_event("customer.created").await;
    assert_eq!(before_event["data"]["object"]["id"], before["id"]);
    assert_eq!(before_event["pending_webhooks"], 2);
    let gone_id = gone["id"].as_str().unwrap();
    app.delete(&format!("/v1/webhook_endpoints/{gone_id}"), &[])
        .await
        .ok();
    endpoint(&app, &form("/late")).await;
    let _dispatcher = app.start_dispatcher(fast_dispatcher());

    let before_id = before_event["id"].as_str().unwrap();
    wait_pending_zero(&app, before_id, &[]).await;
    let stays = receiver.wait_delivered("/stays", 1).await;
    assert_eq!(stays[0]["id"], before_id);
    app.customer("name=After").await;
    let late = receiver.wait_delivered("/late", 1).await;
    assert_eq!(late[0]["data"]["object"]["name"], "After");
    receiver.wait_delivered("/stays", 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.delivered("/gone").is_empty());
    assert_eq!(receiver.delivered("/late").len(), 1);
}

async fn failing_endpoint_is_retried_until_it_answers(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Status(500), Reply::Status(503)]);
    let hook = endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/flaky"))
        ),
    )
    .await;
    let _dispatcher = app.start_dispatcher(fast_dispatcher());
    app.customer("name=Retry").await;
    let delivered = receiver.wait_delivered("/flaky", 1).await;
    let attempts = receiver.received("/flaky");
    assert_eq!(
        attempts.iter().map(|d| d.status).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    let secret = hook["secret"].as_str().unwrap();
    for attempt in &attempts {
        verify(&attempt.signature, &attempt.body, secret);
    }
    let event_id = delivered[0]["id"].as_str().unwrap();
    wait_pending_zero(&app, event_id, &[]).await;
    let log = app
        .get(&format!("/v1/sluice/events/{event_id}/deliveries"), &[])
        .await
        .ok()
        .clone();
    let log = log["data"].as_array().unwrap();
    assert_eq!(
        log.iter()
            .map(|a| a["status_code"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [500, 503, 200]
    );
    assert_eq!(
        log.iter()
            .map(|a| a["succeeded"] == true)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    for attempt in log {
        assert_eq!(attempt["webhook_endpoint"], hook["id"]);
        assert!(attempt["latency_ms"].as_i64().unwrap() >= 0);
        assert!(attempt["attempted_at_ms"].as_i64().unwrap() > 0);
    }
}

async fn slow_endpoint_times_out_and_blocks_no_one(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.script(&[Reply::Slow(Duration::from_millis(1500))]);
    endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/slow"))
        ),
    )
    .await;
    endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/fast"))
        ),
    )
    .await;
    let _dispatcher = app.start_dispatcher(fast_dispatcher());
    let started = Instant::now();
    app.customer("name=Slow").await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the API never waits for endpoints"
    );
    receiver.wait_delivered("/fast", 1).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the fast endpoint was served while the slow one hung"
    );
    let delivered = receiver.wait_delivered("/slow", 1).await;
    let event_id = delivered[0]["id"].as_str().unwrap();
    wait_pending_zero(&app, event_id, &[]).await;
    let log = app
        .get(&format!("/v1/sluice/events/{event_id}/deliveries"), &[])
        .await
        .ok()
        .clone();
    let timed_out: Vec<&Value> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status_code"].is_null())
        .collect();
    assert_eq!(timed_out.len(), 1, "{log}");
    assert!(timed_out[0]["error"]
        .as_str()
        .unwrap()
        .contains("timed out"));
}

async fn retries_stop_after_three_days(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/never"))
        ),
    )
    .await;
    // Three days of Stripe's schedule in 1 ms units: 4.3 seconds.
    let config = sluice::webhooks::Config {
        retry_base_ms: 1,
        ..fast_dispatcher()
    };
    let _dispatcher = app.start_dispatcher(config);
    let customer = app.customer("name=Never").await;
    let event = app.newest_event("customer.created").await;
    let event_id = event["id"].as_str().unwrap().to_string();
    assert_eq!(event["data"]["object"]["id"], customer["id"]);
    assert_eq!(event["pending_webhooks"], 1);
    // Given up: nothing pending any more, every attempt logged: the first and seven retries.
    wait_pending_zero(&app, &event_id, &[]).await;
    let log = app
        .get(&format!("/v1/sluice/events/{event_id}/deliveries"), &[])
        .await
        .ok()
        .clone();
    let attempts = log["data"].as_array().unwrap();
    assert_eq!(attempts.len(), 8, "{log}");
    assert!(attempts.iter().all(|a| a["status_code"] == 500));
    let first = attempts[0]["attempted_at_ms"].as_i64().unwrap();
    let last = attempts[7]["attempted_at_ms"].as_i64().unwrap();
    // Retries after 5, 30, 120, 240, 480, 960 and 1440 units; one more would come after 4320.
    assert!(last - first >= 3275, "{}", last - first);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received("/never").len(), 8);
}

async fn resend_queues_an_event_again(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/resend"))
        ),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let _dispatcher = app.start_dispatcher(fast_dispatcher());
    app.customer("name=Again").await;
    let first = receiver.wait_delivered("/resend", 1).await;
    let event_id = first[0]["id"].as_str().unwrap();
    wait_pending_zero(&app, event_id, &[]).await;
    let resent = app
        .post(
            &format!("/v1/sluice/events/{event_id}/resend"),
            &format!("webhook_endpoint={hook_id}"),
            &[],
        )
        .await;
    assert_eq!(resent.ok()["pending_webhooks"], 1);
    let both = receiver.wait_delivered("/resend", 2).await;
    assert_eq!(both[1]["id"], event_id);
    wait_pending_zero(&app, event_id, &[]).await;

    app.post(&format!("/v1/sluice/events/{event_id}/resend"), "", &[])
        .await
        .error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            Some("webhook_endpoint"),
        );
    app.post(
        &format!("/v1/sluice/events/{event_id}/resend"),
        "webhook_endpoint=we_nope",
        &[],
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("webhook_endpoint"),
    );
    app.post(
        "/v1/sluice/events/evt_nope/resend",
        &format!("webhook_endpoint={hook_id}"),
        &[],
    )
    .await
    .error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
    );
    app.get("/v1/sluice/events/evt_nope/deliveries", &[])
        .await
        .error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
        );
}

async fn endpoint_failing_for_days_is_disabled(app: TestApp) {
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    let hook = endpoint(
        &app,
        &format!(
            "url={}&enabled_events[]=customer.created",
            common::encode(&receiver.url("/down"))
        ),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    // Nine days of failure, in 10 ms units: 200 ms here.
    let config = sluice::webhooks::Config {
        disable_after_units: 20,
        ..fast_dispatcher()
    };
    let _dispatcher = app.start_dispatcher(config);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        app.customer("name=Down").await;
        let hook = app
            .get(&format!("/v1/webhook_endpoints/{hook_id}"), &[])
            .await
            .ok()
            .clone();
        if hook["status"] == "disabled" {
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {hook}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let notices = app
        .get("/v1/events?type=sluice.webhook_endpoint.disabled", &[])
        .await
        .ok()
        .clone();
    let notices = notices["data"].as_array().unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["data"]["object"]["id"], hook_id.as_str());
    assert_eq!(
        notices[0]["data"]["previous_attributes"],
        serde_json::json!({"status": "enabled"})
    );
    assert_eq!(notices[0]["request"]["id"], Value::Null);
    // A disabled endpoint gets no new events.
    let before = receiver.received("/down").len();
    let customer = app.customer("name=AfterDisable").await;
    let event = app.newest_event("customer.created").await;
    assert_eq!(event["data"]["object"]["id"], customer["id"]);
    assert_eq!(event["pending_webhooks"], 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received("/down").len(), before);
}

async fn read_line(body: &mut axum::body::Body, buffer: &mut Vec<u8>) -> Value {
    loop {
        if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            return serde_json::from_slice(&line).unwrap();
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("a line within 10 s")
            .expect("the stream is open")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            buffer.extend_from_slice(data);
        }
    }
}

async fn listen_streams_committed_events(app: TestApp) {
    let response = app.open_stream("/v1/sluice/listen", &app.key).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    let session = read_line(&mut body, &mut buffer).await;
    assert_eq!(session["object"], "sluice.listen_session");
    let secret = session["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));

    let customer = app.customer("name=Heard").await;
    let line = read_line(&mut body, &mut buffer).await;
    assert_eq!(line["object"], "sluice.listen_event");
    assert_eq!(line["type"], "customer.created");
    assert_eq!(line["connect"], false);
    let payload = line["payload"].as_str().unwrap();
    verify(line["stripe_signature"].as_str().unwrap(), payload, &secret);
    let event: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(event["data"]["object"]["id"], customer["id"]);

    // Connected accounts' events come through too, marked; other platforms' never do.
    let key2 = format!("Bearer {}", app.key2);
    app.post(
        "/v1/customers",
        "name=Elsewhere",
        &[("Authorization", key2.as_str())],
    )
    .await
    .ok();
    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    app.post("/v1/customers", "name=Inside", &[("Stripe-Account", acct)])
        .await
        .ok();
    loop {
        let line = read_line(&mut body, &mut buffer).await;
        assert_eq!(line["object"], "sluice.listen_event");
        let event: Value = serde_json::from_str(line["payload"].as_str().unwrap()).unwrap();
        assert_ne!(event["data"]["object"]["name"], "Elsewhere");
        if line["type"] == "customer.created" {
            assert_eq!(line["connect"], true);
            assert_eq!(line["account"], acct);
            assert_eq!(event["data"]["object"]["name"], "Inside");
            break;
        }
    }

    // Deleting a connected account tells its Connect listeners the platform lost access.
    app.delete(&format!("/v1/accounts/{acct}"), &[]).await.ok();
    loop {
        let line = read_line(&mut body, &mut buffer).await;
        if line["type"] == "account.application.deauthorized" {
            assert_eq!(line["account"], acct);
            let event: Value = serde_json::from_str(line["payload"].as_str().unwrap()).unwrap();
            assert_eq!(event["data"]["object"]["object"], "application");
            assert_eq!(event["data"]["object"]["id"], app.platform.as_str());
            break;
        }
    }

    let account = app.custom_account().await;
    let acct = account["id"].as_str().unwrap();
    let refused = app
        .get("/v1/sluice/listen", &[("Stripe-Account", acct)])
        .await;
    refused.error(403, "invalid_request_error", Some("account_invalid"), None);
    app.get("/v1/sluice/listen?events[]=nope", &[]).await.error(
        400,
        "invalid_request_error",
        None,
        Some("events[0]"),
    );
}

/// Payments under concurrency while their events are delivered to three endpoints: no command
/// fails (on PostgreSQL a delivery's bookkeeping batched with payments once deadlocked whole
/// batches), and every payment's event reaches every endpoint.
async fn payments_and_deliveries_run_side_by_side(app: TestApp) {
    let receiver = Receiver::start().await;
    let paths = ["/a", "/b", "/c"];
    for path in paths {
        let url = common::encode(&receiver.url(path));
        endpoint(&app, &format!("url={url}&enabled_events[]=*")).await;
    }
    let _dispatcher = app.start_dispatcher(fast_dispatcher());
    let pay = || async {
        let form = "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true";
        let answer = app.post("/v1/payment_intents", form, &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    };
    const ROUNDS: usize = 20;
    for _ in 0..ROUNDS {
        tokio::join!(pay(), pay(), pay(), pay(), pay(), pay(), pay(), pay());
    }
    let payments = ROUNDS * 8;
    let deadline = Instant::now() + Duration::from_secs(30);
    for path in paths {
        loop {
            let succeeded: std::collections::HashSet<String> = receiver
                .delivered(path)
                .into_iter()
                .filter(|event| event["type"] == "payment_intent.succeeded")
                .map(|event| event["id"].as_str().unwrap_or_default().to_string())
                .collect();
            if succeeded.len() == payments {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {payments} payments' events delivered",
                succeeded.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

store_tests!(
    endpoint_crud_and_errors,
    deliveries_are_signed_and_routed,
    events_go_to_the_endpoints_of_their_time,
    failing_endpoint_is_retried_until_it_answers,
    slow_endpoint_times_out_and_blocks_no_one,
    retries_stop_after_three_days,
    resend_queues_an_event_again,
    endpoint_failing_for_days_is_disabled,
    listen_streams_committed_events,
    payments_and_deliveries_run_side_by_side,
);
