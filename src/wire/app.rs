//! The shared state of the API and the two ways a handler runs a domain command: `read` (a
//! snapshot) and `write` (one transaction, with Stripe's idempotency guarantees).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use super::expand;
use super::request::ApiRequest;
use crate::domain::objects::ACCOUNT;
use crate::domain::{self, platforms, Ctx};
use crate::store::{IdempotencyRecord, KeyKind, Store, Tx};

/// Held while a platform clock's scheduled work runs.
pub(crate) type ClockRun = Arc<tokio::sync::Mutex<()>>;

/// Who a request acts as, once its key and `Stripe-Account` are checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub platform: String,
    pub livemode: bool,
    /// The platform itself, or the connected account named by `Stripe-Account`.
    pub account: String,
}

#[derive(Debug, Clone)]
struct KeyInfo {
    platform: String,
    livemode: bool,
    kind: KeyKind,
}

pub struct App {
    pub store: Store,
    pub pricing: Arc<crate::domain::pricing::Pricing>,
    /// Where clients reach this server, for links in responses (3D Secure pages).
    pub base_url: Arc<str>,
    /// The webhook endpoint cache and the feeds of committed events.
    pub hub: Arc<crate::domain::events::Hub>,
    /// Which platforms may hold a Connect reserve.
    pub reserves: Arc<crate::domain::liability::Reserves>,
    keys: RwLock<HashMap<[u8; 32], KeyInfo>>,
    /// Connected accounts known to exist: id -> (platform, livemode). Accounts never change
    /// platform, so only deletion has to evict.
    connected: RwLock<HashMap<String, (String, bool)>>,
    in_flight: Mutex<HashSet<String>>,
    /// Each platform's test clock: seconds ahead of wall time (the store keeps them too).
    clock_offsets: RwLock<HashMap<String, i64>>,
    /// One catch-up at a time per platform clock (an advance waits for the ticker's).
    pub(crate) clock_runs: Mutex<HashMap<(String, bool), ClockRun>>,
    /// The most scheduled work one transaction of a clock run does (`scheduler::CHUNK`).
    pub(crate) clock_chunk: AtomicUsize,
}

/// Removes an idempotency key from the in-flight set when its request ends, however it ends.
struct InFlight<'a> {
    app: &'a App,
    scope: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.app.in_flight.lock() {
            set.remove(&self.scope);
        }
    }
}

enum Outcome {
    Fresh(Vec<u8>),
    /// An error answer whose transaction commits: it carries kept changes (a decline) or the
    /// idempotency record that will replay it.
    Failed(ApiError),
    Replay(IdempotencyRecord),
}

impl App {
    pub async fn new(store: Store) -> anyhow::Result<Arc<App>> {
        Self::configured(
            store,
            crate::domain::pricing::Pricing::default(),
            "http://127.0.0.1:12111",
        )
        .await
    }

    pub async fn configured(
        store: Store,
        pricing: crate::domain::pricing::Pricing,
        base_url: &str,
    ) -> anyhow::Result<Arc<App>> {
        let app = Arc::new(App {
            store,
            pricing: Arc::new(pricing),
            base_url: Arc::from(base_url),
            hub: crate::domain::events::Hub::new(),
            reserves: Default::default(),
            keys: RwLock::new(HashMap::new()),
            connected: RwLock::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            clock_offsets: RwLock::new(HashMap::new()),
            clock_runs: Mutex::new(HashMap::new()),
            clock_chunk: AtomicUsize::new(crate::domain::scheduler::CHUNK),
        });
        app.reload_keys().await?;
        app.load_clocks().await?;
        Ok(app)
    }

    /// How far a platform's clock is ahead of wall time (always 0 in live mode).
    pub fn clock_offset(&self, platform: &str, livemode: bool) -> i64 {
        if livemode {
            return 0;
        }
        self.clock_offsets
            .read()
            .ok()
            .and_then(|offsets| offsets.get(platform).copied())
            .unwrap_or(0)
    }

    pub fn set_clock_offset(&self, platform: &str, offset_seconds: i64) {
        if let Ok(mut offsets) = self.clock_offsets.write() {
            offsets.insert(platform.to_string(), offset_seconds);
        }
    }

    async fn load_clocks(&self) -> anyhow::Result<()> {
        let offsets = self
            .store
            .read(|tx: &mut dyn Tx| -> domain::Result<Vec<(String, i64)>> {
                let mut offsets = Vec::new();
                for platform in tx.platforms()? {
                    let state = domain::clock::load(tx, &platform, false, false)?;
                    offsets.push((platform, state.offset_seconds));
                }
                Ok(offsets)
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot load the test clocks: {}", e.message))?;
        for (platform, offset) in offsets {
            self.set_clock_offset(&platform, offset);
        }
        Ok(())
    }

    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        let records = self
            .store
            .read(|tx: &mut dyn Tx| tx.api_keys())
            .await
            .map_err(|e| anyhow::anyhow!("cannot load API keys: {e}"))?;
        let mut keys = HashMap::with_capacity(records.len());
        for record in records {
            let Ok(hash) = <[u8; 32]>::try_from(record.hash.as_slice()) else {
                continue;
            };
            keys.insert(
                hash,
                KeyInfo {
                    platform: record.platform,
                    livemode: record.livemode,
                    kind: record.kind,
                },
            );
        }
        if let Ok(mut slot) = self.keys.write() {
            *slot = keys;
        }
        Ok(())
    }

    /// Looks a key up by its SHA-256 digest. Timing can reveal nothing of the key itself: the
    /// comparison runs on digests, and a digest does not lead back to its key.
    pub fn authenticate(&self, key: &str) -> Option<Caller> {
        let digest = platforms::key_digest(key);
        let keys = self.keys.read().ok()?;
        let info = keys.get(&digest)?;
        if info.kind != KeyKind::Secret {
            return None;
        }
        let mode_matches = key.starts_with(if info.livemode {
            "sk_live_"
        } else {
            "sk_test_"
        }) || !key.starts_with("sk_");
        mode_matches.then(|| Caller {
            platform: info.platform.clone(),
            livemode: info.livemode,
            account: info.platform.clone(),
        })
    }

    /// Resolves `Stripe-Account`: the platform itself, or one of its connected accounts in the
    /// key's mode; anything else is 403 `account_invalid`.
    pub async fn act_as(&self, caller: Caller, account: &str) -> Result<Caller, ApiError> {
        if account == caller.platform {
            return Ok(caller);
        }
        let denied = || {
            ApiError::forbidden(
                "account_invalid",
                format!("The provided key does not have access to account '{account}' (or that account does not exist). Application access may have been revoked."),
            )
        };
        let known = self
            .connected
            .read()
            .ok()
            .and_then(|map| map.get(account).cloned());
        let owner = match known {
            Some(owner) => Some(owner),
            None => {
                let id = account.to_string();
                let found = self
                    .store
                    .read(move |tx: &mut dyn Tx| -> Result<_, ApiError> {
                        Ok(tx.get(&id)?.filter(|doc| {
                            doc.object == ACCOUNT && !doc.deleted && doc.account == doc.platform
                        }))
                    })
                    .await?;
                found.map(|doc| {
                    let owner = (doc.platform.clone(), doc.livemode);
                    if let Ok(mut map) = self.connected.write() {
                        map.insert(doc.id, owner.clone());
                    }
                    owner
                })
            }
        };
        match owner {
            Some((platform, livemode))
                if platform == caller.platform && livemode == caller.livemode =>
            {
                Ok(Caller {
                    account: account.to_string(),
                    ..caller
                })
            }
            _ => Err(denied()),
        }
    }

    /// Completes or fails a PaymentIntent's 3D Secure step from the customer's page: the client
    /// secret authorises it, not an API key. Returns where to send the customer next.
    pub async fn authenticate_intent(
        &self,
        id: &str,
        secret: &str,
        approve: bool,
    ) -> Result<Option<String>, ApiError> {
        let (id, secret) = (id.to_string(), secret.to_string());
        let pricing = self.pricing.clone();
        let reserves = self.reserves.clone();
        let offsets = self
            .clock_offsets
            .read()
            .map(|offsets| offsets.clone())
            .unwrap_or_default();
        let recorder = self.hub.recorder();
        let events = recorder.clone();
        let result = self
            .store
            .write(move |tx: &mut dyn Tx| -> Result<Option<String>, ApiError> {
                let doc = tx
                    .get(&id)?
                    .filter(|doc| doc.object == crate::domain::objects::PAYMENT_INTENT)
                    .ok_or_else(|| ApiError::from(domain::Error::no_such("payment_intent", &id)))?;
                let stored: serde_json::Value = domain::docs::from_json(&doc)?;
                let ctx = Ctx {
                    scope: crate::store::Scope {
                        platform: doc.platform.clone(),
                        account: doc.account.clone(),
                        livemode: doc.livemode,
                    },
                    connected: doc.account != doc.platform,
                    now: domain::unix_now()
                        + if doc.livemode {
                            0
                        } else {
                            offsets.get(&doc.platform).copied().unwrap_or(0)
                        },
                    request_id: crate::ids::new_id("req"),
                    idempotency_key: None,
                    pricing,
                    base_url: Arc::from(""),
                    events,
                    reserves,
                };
                tx.begin_command()?;
                let outcome =
                    domain::payment_intents::authenticate(tx, &ctx, &id, &secret, approve);
                let keep = match &outcome {
                    Ok(_) => true,
                    Err(error) => error.keep_changes,
                };
                tx.end_command(keep)?;
                if !keep {
                    ctx.events.discard();
                }
                match outcome {
                    Ok(_) => Ok(stored["_sluice"]["return_url"].as_str().map(str::to_string)),
                    // A decline after authentication is recorded on the intent; the page says so.
                    Err(error) if error.keep_changes => {
                        Ok(stored["_sluice"]["return_url"].as_str().map(str::to_string))
                    }
                    Err(error) => Err(error.into()),
                }
            })
            .await;
        if result.is_ok() {
            recorder.publish();
        }
        result
    }

    pub fn forget_account(&self, id: &str) {
        if let Ok(mut map) = self.connected.write() {
            map.remove(id);
        }
    }

    fn claim(&self, scope: &str) -> Option<InFlight<'_>> {
        let mut set = self.in_flight.lock().ok()?;
        set.insert(scope.to_string()).then(|| InFlight {
            app: self,
            scope: scope.to_string(),
        })
    }

    /// Runs a read-only command and renders its result (with `expand`).
    pub async fn read<T, F>(&self, request: ApiRequest, command: F) -> Response
    where
        T: Serialize + Send + 'static,
        F: FnOnce(&mut dyn Tx, &Ctx) -> domain::Result<T> + Send + 'static,
    {
        let ctx = request.ctx();
        let expand = request.expand.clone();
        let result = self
            .store
            .read(move |tx: &mut dyn Tx| -> Result<Vec<u8>, ApiError> {
                let value = command(tx, &ctx)?;
                expand::render(tx, &ctx, &value, &expand)
            })
            .await;
        respond(&request, result.map(Outcome::Fresh))
    }

    /// Runs a command in one write transaction. With an `Idempotency-Key`, the first response is
    /// stored in that same transaction and replayed for every retry carrying the same request.
    pub async fn write<T, F>(&self, request: ApiRequest, command: F) -> Response
    where
        T: Serialize + Send + 'static,
        F: FnOnce(&mut dyn Tx, &Ctx) -> domain::Result<T> + Send + 'static,
    {
        let ctx = request.ctx();
        let recorder = ctx.events.clone();
        let scope = request.idempotency_key.as_ref().map(|key| {
            format!(
                "{}:{}:{}:{key}",
                ctx.scope.platform,
                if ctx.scope.livemode { "live" } else { "test" },
                ctx.scope.account
            )
        });
        let _guard = match &scope {
            Some(scope) => match self.claim(scope) {
                Some(guard) => Some(guard),
                None => return respond(&request, Err(ApiError::idempotency_in_flight())),
            },
            None => None,
        };
        let expand = request.expand.clone();
        let fingerprint = request.fingerprint.clone();
        let request_id = request.request_id.clone();
        let result = self
            .store
            .write(move |tx: &mut dyn Tx| -> Result<Outcome, ApiError> {
                if let Some(scope) = &scope {
                    if let Some(record) = tx.idempotency_get(scope)? {
                        if record.fingerprint != fingerprint {
                            return Err(ApiError::idempotency(format!(
                                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
                                ctx.idempotency_key.as_deref().unwrap_or_default()
                            )));
                        }
                        return Ok(Outcome::Replay(record));
                    }
                }
                tx.begin_command()?;
                let (keep, answer) = match command(tx, &ctx) {
                    Ok(value) => match expand::render(tx, &ctx, &value, &expand) {
                        Ok(body) => (true, Ok(body)),
                        Err(error) => (false, Err(error)),
                    },
                    Err(error) => (error.keep_changes, Err(ApiError::from(error))),
                };
                tx.end_command(keep)?;
                if !keep {
                    ctx.events.discard();
                }
                let (status, body, outcome) = match answer {
                    Ok(body) => (200, body.clone(), Outcome::Fresh(body)),
                    // Server faults are transient: store nothing, so a retry runs again.
                    Err(error) if error.status.is_server_error() => return Err(error),
                    Err(error) => {
                        if scope.is_none() && !keep {
                            return Err(error);
                        }
                        let body = serde_json::to_vec(&error.body()).unwrap_or_default();
                        (error.status.as_u16(), body, Outcome::Failed(error))
                    }
                };
                if let Some(scope) = scope {
                    // Stored once execution began, errors included (Stripe's promise).
                    tx.idempotency_put(&IdempotencyRecord {
                        scope,
                        fingerprint,
                        status,
                        body,
                        request_id,
                        created: ctx.now,
                    })?;
                }
                Ok(outcome)
            })
            .await;
        if result.is_ok() {
            recorder.publish();
        }
        respond(&request, result)
    }
}

fn respond(request: &ApiRequest, result: Result<Outcome, ApiError>) -> Response {
    let mut response = match result {
        Ok(Outcome::Fresh(body)) => json_response(StatusCode::OK, body),
        Ok(Outcome::Failed(error)) => error.into_response(),
        Ok(Outcome::Replay(record)) => {
            let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
            let mut response = json_response(status, record.body);
            let headers = response.headers_mut();
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            if let Ok(original) = HeaderValue::from_str(&record.request_id) {
                headers.insert("original-request", original);
            }
            response
        }
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    if let Ok(version) = HeaderValue::from_str(&request.api_version) {
        headers.insert("stripe-version", version);
    }
    if let Some(key) = request
        .idempotency_key
        .as_deref()
        .and_then(|k| HeaderValue::from_str(k).ok())
    {
        headers.insert("idempotency-key", key);
    }
    response
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
