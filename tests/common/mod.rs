//! In-process harness for the HTTP integration tests: a fresh store per test (SQLite always,
//! PostgreSQL when `SLUICE_TEST_DATABASE_URL` is set), two bootstrapped platforms, and helpers
//! that drive the router with `tower::ServiceExt::oneshot` and decode Stripe-shaped answers.
//!
//! Every test body is an `async fn name(app: TestApp)`; `store_tests!` turns a list of them into
//! one `#[tokio::test]` per store (`sqlite::name`, `postgres::name`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use sluice::store::Store;
use tower::ServiceExt;

/// Test secret keys of the two platforms every test app has.
pub const KEY: &str = "sk_test_platformOne00000000000001";
pub const KEY2: &str = "sk_test_platformTwo00000000000002";
pub const PG_ENV: &str = "SLUICE_TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// Expands a list of `async fn name(app: TestApp)` into `sqlite::name` and `postgres::name`
/// tests. Attributes written before a name (`#[ignore = "..."]`) apply to both.
#[macro_export]
macro_rules! store_tests {
    ($( $(#[$attr:meta])* $name:ident ),* $(,)?) => {
        mod sqlite {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::common::spawn_app($crate::common::StoreKind::Sqlite).await;
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if !$crate::common::postgres_enabled() {
                        eprintln!("skipped: {} is not set", $crate::common::PG_ENV);
                        return;
                    }
                    let app = $crate::common::spawn_app($crate::common::StoreKind::Postgres).await;
                    super::$name(app).await;
                }
            )*
        }
    };
}

pub fn postgres_enabled() -> bool {
    std::env::var(PG_ENV).is_ok_and(|url| !url.is_empty())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// At most this many PostgreSQL-backed apps at once: each holds several connections.
fn pg_slots() -> Arc<tokio::sync::Semaphore> {
    static SLOTS: OnceLock<Arc<tokio::sync::Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(6)))
        .clone()
}

/// Removes what a test app made when the app goes away (also when the test panics).
enum Cleanup {
    Dir(PathBuf),
    Schema {
        url: String,
        schema: String,
        _slot: tokio::sync::OwnedSemaphorePermit,
    },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { url, schema, .. } => {
                // The sync PostgreSQL client refuses to run on a runtime thread: use a plain one.
                let url = url.clone();
                let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = std::thread::spawn(move || {
                    if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
                        let _ = client.batch_execute(&sql);
                    }
                })
                .join();
            }
        }
    }
}

/// The URL with `options=-csearch_path=<schema>` added, so every connection works in the schema.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

pub struct TestApp {
    router: axum::Router,
    /// The app's store, for checks below the API (the ledger's invariants).
    pub store: Option<Store>,
    pub kind: StoreKind,
    /// Platform 1's and platform 2's test secret keys.
    pub key: String,
    pub key2: String,
    /// Platform 1's other keys, as bootstrap printed them.
    pub live_key: String,
    pub publishable_key: String,
    /// Platform ids.
    pub platform: String,
    pub platform2: String,
    /// The app behind the router (its event hub starts dispatchers and listen streams).
    pub app: Option<Arc<sluice::wire::App>>,
    // Dropped after the router (fields drop in declaration order).
    _cleanup: Cleanup,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Dropping the last handle drops the store, and a PostgreSQL client may not be dropped
        // on a runtime thread (its close blocks): let the store go on a plain thread.
        let router = std::mem::replace(&mut self.router, axum::Router::new());
        let store = self.store.take();
        let app = self.app.take();
        let _ = std::thread::spawn(move || drop((router, store, app))).join();
    }
}

// The store's API returns the domain's error type, whatever its size.
#[allow(clippy::result_large_err)]
pub async fn spawn_app(kind: StoreKind) -> TestApp {
    let (store, cleanup) = match kind {
        StoreKind::Sqlite => {
            let dir = std::env::temp_dir().join(unique_name("sluice-it"));
            let open = dir.clone();
            let store = tokio::task::spawn_blocking(move || Store::open_sqlite(&open))
                .await
                .expect("join")
                .expect("open the SQLite store");
            (store, Cleanup::Dir(dir))
        }
        StoreKind::Postgres => {
            let slot = pg_slots().acquire_owned().await.expect("semaphore");
            let url = std::env::var(PG_ENV).expect("SLUICE_TEST_DATABASE_URL");
            let schema = unique_name("t").to_ascii_lowercase();
            let (admin_url, sql) = (url.clone(), format!("CREATE SCHEMA {schema}"));
            let scoped = with_search_path(&url, &schema);
            let schema_name = schema.clone();
            let store = tokio::task::spawn_blocking(move || {
                let mut client =
                    postgres::Client::connect(&admin_url, postgres::NoTls).expect("connect");
                client.batch_execute(&sql).expect("create the test schema");
                let store = Store::open_postgres(&scoped);
                // The migrations must have landed in the test's own schema.
                let table: Option<String> = client
                    .query_one(
                        &format!("SELECT to_regclass('{schema_name}.documents')::text"),
                        &[],
                    )
                    .expect("query the catalog")
                    .get(0);
                assert!(
                    table.is_some(),
                    "the store did not use schema {schema_name}"
                );
                store
            })
            .await
            .expect("join")
            .expect("open the PostgreSQL store");
            (
                store,
                Cleanup::Schema {
                    url,
                    schema,
                    _slot: slot,
                },
            )
        }
    };
    let keys = vec![KEY.to_string(), KEY2.to_string()];
    let made = store
        .write(move |tx| {
            sluice::domain::platforms::bootstrap(tx, &keys, sluice::domain::unix_now())
        })
        .await
        .map_err(|e: sluice::domain::Error| e.message)
        .expect("bootstrap the platforms");
    assert_eq!(made.len(), 2, "two platforms are made");
    let find = |label: &str| {
        made[0]
            .keys
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, key)| key.clone())
            .unwrap_or_else(|| panic!("bootstrap made no {label}"))
    };
    let live_key = find("live secret key");
    let publishable_key = find("test publishable key");
    let platform = made[0].platform.clone();
    let platform2 = made[1].platform.clone();
    let app = sluice::wire::App::new(store.clone())
        .await
        .expect("the app starts");
    TestApp {
        router: sluice::api::router(app.clone()),
        app: Some(app),
        store: Some(store),
        kind,
        key: KEY.to_string(),
        key2: KEY2.to_string(),
        live_key,
        publishable_key,
        platform,
        platform2,
        _cleanup: cleanup,
    }
}

/// One decoded response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {}: {}",
            self.status, self.text
        );
        &self.body
    }

    /// Asserts Stripe's error shape: status, `error.type`, and (when given) `code` and `param`.
    /// `None` for code or param means "absent or null". Returns the `error` object.
    #[track_caller]
    pub fn error(
        &self,
        status: u16,
        kind: &str,
        code: Option<&str>,
        param: Option<&str>,
    ) -> &Value {
        assert_eq!(self.status, status, "status of: {}", self.text);
        let error = &self.body["error"];
        assert!(error.is_object(), "no error object in: {}", self.text);
        assert_eq!(error["type"], kind, "error.type of: {}", self.text);
        assert_eq!(error["code"].as_str(), code, "error.code of: {}", self.text);
        assert_eq!(
            error["param"].as_str(),
            param,
            "error.param of: {}",
            self.text
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "error.message is empty in: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "content type of an error"
        );
        error
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }

    /// `data[*].id` of a list.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        self.ok()["data"]
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {}", self.text))
            .iter()
            .map(|item| item["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Percent-encodes one form component (spaces as `%20`, brackets kept readable elsewhere).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `key=value&...` with values encoded; keys are taken as written (`metadata[k]`).
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl TestApp {
    /// Drops the router, and with it the store, on the calling (runtime) thread, as a server
    /// does when it shuts down.
    pub fn drop_store_here(&mut self) {
        let router = std::mem::replace(&mut self.router, axum::Router::new());
        drop(router);
        drop(self.app.take());
    }

    /// Starts a webhook dispatcher on this app's store and event hub.
    pub fn start_dispatcher(
        &self,
        config: sluice::webhooks::Config,
    ) -> tokio::task::JoinHandle<()> {
        let app = self.app.as_ref().expect("the app is running");
        let store = self.store.clone().expect("the store is open");
        sluice::webhooks::spawn(store, app.hub.clone(), config)
    }

    /// A GET whose answer is returned unread (long-lived streams).
    pub async fn open_stream(&self, path: &str, key: &str) -> axum::response::Response {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .expect("a valid request");
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible")
    }

    /// Sends exactly what it is given (no default `Authorization`).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body.into()).expect("a valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// Sends with platform 1's key unless `headers` carry their own `Authorization`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let bearer = format!("Bearer {}", self.key);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        {
            all.push(("authorization", &bearer));
        }
        let has_body = method == Method::POST;
        if has_body
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            all.push(("content-type", "application/x-www-form-urlencoded"));
        }
        self.raw(method, path, body, &all).await
    }

    pub async fn post(&self, path: &str, form: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::POST, path, form.to_string(), headers)
            .await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::GET, path, Body::empty(), headers).await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::DELETE, path, Body::empty(), headers)
            .await
    }

    /// `Authorization` header value for a key.
    pub fn bearer(key: &str) -> String {
        format!("Bearer {key}")
    }

    /// Creates a customer (asserting success) and returns it.
    pub async fn customer(&self, form: &str) -> Value {
        self.post("/v1/customers", form, &[]).await.ok().clone()
    }

    /// The newest event of `event_type` the platform can list (asserting the list succeeds).
    pub async fn newest_event(&self, event_type: &str) -> Value {
        let path = format!("/v1/events?type={event_type}&limit=1");
        self.get(&path, &[]).await.ok()["data"][0].clone()
    }

    /// Creates a connected account (asserting success) and returns it.
    pub async fn account(&self, form: &str) -> Value {
        self.post("/v1/accounts", form, &[]).await.ok().clone()
    }

    /// A custom US individual account with `card_payments` and `transfers` requested.
    pub async fn custom_account(&self) -> Value {
        self.account(
            "type=custom&country=US&business_type=individual\
             &capabilities[card_payments][requested]=true&capabilities[transfers][requested]=true",
        )
        .await
    }

    /// How many objects a list endpoint holds (pages through at most 100).
    pub async fn count(&self, path: &str, headers: &[(&str, &str)]) -> usize {
        let separator = if path.contains('?') { '&' } else { '?' };
        let listed = self
            .get(&format!("{path}{separator}limit=100"), headers)
            .await;
        let ids = listed.ids();
        assert_eq!(listed.body["has_more"], false, "count() pages at most 100");
        ids.len()
    }
}
