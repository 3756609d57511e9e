//! Events: every state change of a resource records one `event` document in the same store
//! transaction as the change, with `pending_webhooks` counting the endpoints that want it (the
//! webhook dispatcher reads events themselves as its queue: see `webhooks`). After the
//! transaction commits, the wire layer publishes what was recorded (`Recorder::publish`): the
//! `sluice listen` stream hears it and the webhook dispatcher wakes up.
//!
//! Calling it from a resource module:
//! ```ignore
//! events::record(tx, ctx, "payout.created", &payout)?;                 // in ctx's account
//! events::record_update(tx, ctx, "payout.updated", &before, &payout)?; // with previous_attributes
//! events::record_in(tx, ctx, Some("acct_..."), "account.updated", &account, None)?;
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use serde_json::{Map, Value};

use super::docs::{self, PageRequest};
use super::objects::{EVENT, EVENT_ID_PREFIX, WEBHOOK_ENDPOINT};
use super::{json_text, Ctx, Error, Result};
use crate::ids;
use crate::store::{Cursor, ListQuery, Scope, StoreError, Tx};

/// Events are kept (and retrievable) this long, as Stripe guarantees.
pub const RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// The API version events are rendered in.
pub const API_VERSION: &str = crate::wire::API_VERSION;

/// Events no endpoint can select (Sluice's own notices, such as an endpoint being disabled):
/// they are listed and streamed, never delivered.
pub const SLUICE_PREFIX: &str = "sluice.";

/// What a webhook endpoint wants, as event recording needs it (cached per platform and mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub endpoint: String,
    /// Connected accounts' events (true) or the platform's own (false).
    pub connect: bool,
    /// `*` or the selected types.
    pub enabled_events: Vec<String>,
}

impl Route {
    pub fn wants(&self, event_type: &str, in_connected_account: bool) -> bool {
        self.connect == in_connected_account
            && !event_type.starts_with(SLUICE_PREFIX)
            && self
                .enabled_events
                .iter()
                .any(|selected| selected == "*" || selected == event_type)
    }
}

/// An event once its transaction committed, as the listen stream carries it.
#[derive(Debug, Clone)]
pub struct Published {
    pub id: String,
    pub platform: String,
    pub livemode: bool,
    /// The connected account it happened in; none for the platform's own events.
    pub account: Option<String>,
    pub event_type: &'static str,
    /// The event JSON, as `/v1/events/{id}` shows it at creation.
    pub body: Arc<str>,
}

/// A platform's endpoints per mode (`[test, live]`), once loaded.
type ModeRoutes = [Option<Arc<Vec<Route>>>; 2];

/// Shared by every request: the cache of webhook endpoints and the feeds of committed events.
pub struct Hub {
    routes: RwLock<HashMap<String, ModeRoutes>>,
    /// Bumped on every endpoint change, so a reload that raced a change is not cached.
    generation: AtomicU64,
    feed: tokio::sync::broadcast::Sender<Arc<Published>>,
    /// Wakes the webhook dispatcher when events that owe deliveries (or outbox rows) committed.
    deliveries_due: tokio::sync::Notify,
    /// Outbox rows due now were queued (a resend, a spill): the dispatcher reads the outbox.
    outbox_rows_queued: std::sync::atomic::AtomicBool,
    /// Events recorded with deliveries owed that the feed has not yet heard of (see `Owing`).
    owing: Mutex<OwingNotes>,
}

/// The ids of recorded events that owe deliveries, noted before their transaction ends: the
/// webhook feed reads only the ranges that hold one, instead of every event, when no endpoint
/// wants most of them. Past `MAX_OWING_NOTES` (a feed that cannot keep up) the ids are dropped
/// and the feed reads everything until it has caught up.
#[derive(Debug, Default)]
struct OwingNotes {
    ids: std::collections::BTreeSet<String>,
    overflowed: bool,
}

const MAX_OWING_NOTES: usize = 65_536;

/// What the feed must read below a settled bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owing {
    /// No event below it owes a delivery, beyond those the feed was told of before.
    Nothing,
    /// Events up to this id do.
    UpTo(String),
    /// Not known: read every event.
    Unknown,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            routes: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            // Listeners that fall this far behind skip ahead (they are told how many they lost).
            feed: tokio::sync::broadcast::channel(4096).0,
            deliveries_due: tokio::sync::Notify::new(),
            outbox_rows_queued: std::sync::atomic::AtomicBool::new(false),
            owing: Mutex::new(OwingNotes::default()),
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// A recorder for one command.
    pub fn recorder(self: &Arc<Hub>) -> Arc<Recorder> {
        Arc::new(Recorder {
            hub: self.clone(),
            recorded: Mutex::new(Vec::new()),
            deliveries: AtomicU64::new(0),
            outbox_rows: AtomicU64::new(0),
            endpoints_changed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Published>> {
        self.feed.subscribe()
    }

    /// Resolves once outbox rows were added since the last call (or right away if they were).
    pub async fn deliveries_due(&self) {
        self.deliveries_due.notified().await
    }

    pub fn wake_dispatcher(&self) {
        self.deliveries_due.notify_one();
    }

    /// Rows due now were queued in the outbox: the dispatcher's next round reads it.
    pub fn outbox_rows_queued(&self) {
        self.outbox_rows_queued.store(true, Ordering::SeqCst);
        self.wake_dispatcher();
    }

    /// Whether rows were queued since the last call.
    pub fn take_outbox_rows_queued(&self) -> bool {
        self.outbox_rows_queued.swap(false, Ordering::SeqCst)
    }

    fn owing_notes(&self) -> std::sync::MutexGuard<'_, OwingNotes> {
        // Two plain fields: consistent across a panic.
        self.owing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An event that owes deliveries was recorded (its transaction may still be undone).
    fn note_owing(&self, id: &str) {
        let mut notes = self.owing_notes();
        if notes.overflowed {
            return;
        }
        if notes.ids.len() >= MAX_OWING_NOTES {
            notes.ids.clear();
            notes.overflowed = true;
            return;
        }
        notes.ids.insert(id.to_string());
    }

    /// Takes the notes below `settled` (every write that made an id below it has ended, so
    /// every owing event below it was noted before this call).
    pub fn take_owing_below(&self, settled: &str) -> Owing {
        let mut notes = self.owing_notes();
        if std::mem::take(&mut notes.overflowed) {
            notes.ids.clear();
            return Owing::Unknown;
        }
        let later = notes.ids.split_off(settled);
        let taken = std::mem::replace(&mut notes.ids, later);
        match taken.into_iter().next_back() {
            Some(last) => Owing::UpTo(last),
            None => Owing::Nothing,
        }
    }

    pub fn invalidate_routes(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut routes) = self.routes.write() {
            routes.clear();
        }
    }

    /// The endpoints of a platform in one mode, from the cache or (once) from the store.
    pub fn routes(
        &self,
        tx: &mut dyn Tx,
        platform: &str,
        livemode: bool,
    ) -> Result<Arc<Vec<Route>>> {
        let mode = usize::from(livemode);
        let cached = self
            .routes
            .read()
            .ok()
            .and_then(|routes| routes.get(platform).and_then(|modes| modes[mode].clone()));
        if let Some(found) = cached {
            return Ok(found);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = Arc::new(load_routes(tx, platform, livemode)?);
        if let Ok(mut routes) = self.routes.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                routes.entry(platform.to_string()).or_default()[mode] = Some(loaded.clone());
            }
        }
        Ok(loaded)
    }
}

/// Enough for every endpoint of a platform (Stripe allows 16 per mode).
const MAX_ENDPOINTS: usize = 1000;

fn load_routes(tx: &mut dyn Tx, platform: &str, livemode: bool) -> Result<Vec<Route>> {
    let scope = Scope {
        platform: platform.to_string(),
        account: platform.to_string(),
        livemode,
    };
    let query = ListQuery {
        objects: &[WEBHOOK_ENDPOINT],
        scope: &scope,
        parent: None,
        created: Default::default(),
        cursor: Cursor::First,
        filters: &[],
        limit: MAX_ENDPOINTS,
    };
    let mut routes = Vec::new();
    for doc in tx.list(&query)? {
        let endpoint: Value = docs::from_json(&doc)?;
        if endpoint["status"] != "enabled" {
            continue;
        }
        routes.push(Route {
            endpoint: doc.id.clone(),
            connect: endpoint[docs::PRIVATE]["connect"] == true,
            enabled_events: endpoint["enabled_events"]
                .as_array()
                .map(|types| {
                    types
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(routes)
}

/// Collects what one command records, to publish once (and only if) its transaction commits.
pub struct Recorder {
    hub: Arc<Hub>,
    recorded: Mutex<Vec<Published>>,
    /// Deliveries the command's events owe (or queued by hand): the dispatcher is woken for them.
    deliveries: AtomicU64,
    /// Outbox rows the command queued by hand (a resend).
    outbox_rows: AtomicU64,
    endpoints_changed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// A recorder of its own, for code that runs outside the API (tests, start-up).
    pub fn detached() -> Arc<Recorder> {
        Hub::new().recorder()
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The command's changes were undone: forget what it recorded.
    pub fn discard(&self) {
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.clear();
        }
        self.deliveries.store(0, Ordering::SeqCst);
        self.outbox_rows.store(0, Ordering::SeqCst);
    }

    /// Called once the command's transaction committed.
    pub fn publish(&self) {
        if self.endpoints_changed.swap(false, Ordering::SeqCst) {
            self.hub.invalidate_routes();
        }
        if self.outbox_rows.swap(0, Ordering::SeqCst) > 0 {
            self.hub.outbox_rows_queued();
        }
        if self.deliveries.swap(0, Ordering::SeqCst) > 0 {
            self.hub.wake_dispatcher();
        }
        let recorded = match self.recorded.lock() {
            Ok(mut recorded) => std::mem::take(&mut *recorded),
            Err(_) => return,
        };
        for event in recorded {
            // No listener is not an error.
            let _ = self.hub.feed.send(Arc::new(event));
        }
    }

    /// This command queued `rows` outbox rows outside `record` (a resend).
    pub fn queued(&self, rows: u64) {
        self.outbox_rows.fetch_add(rows, Ordering::SeqCst);
    }

    /// A webhook endpoint was created, changed or deleted by this command.
    pub fn endpoints_changed(&self) {
        self.hub.invalidate_routes();
        self.endpoints_changed.store(true, Ordering::SeqCst);
    }
}

/// Records `event_type` for `object` (a resource after the change) in the account `ctx` acts in.
pub fn record<T: Serialize + Any>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    event_type: &'static str,
    object: &T,
) -> Result<()> {
    record_in(tx, ctx, None, event_type, object, None)
}

/// Records a `*.updated` event with the old values of the top-level fields that changed; records
/// nothing when nothing visible changed.
pub fn record_update<B: Serialize + Any, A: Serialize + Any>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    event_type: &'static str,
    before: &B,
    after: &A,
) -> Result<()> {
    record_update_in(tx, ctx, None, event_type, before, after)
}

/// `record_update` for an event in `account` (see `record_in`).
pub fn record_update_in<B: Serialize + Any, A: Serialize + Any>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: Option<&str>,
    event_type: &'static str,
    before: &B,
    after: &A,
) -> Result<()> {
    let before = as_json(before)?;
    let after = as_json(after)?;
    let Some(previous) = previous_attributes(&before, &after) else {
        return Ok(());
    };
    emit(
        tx,
        ctx,
        account,
        event_type,
        Object::Value(&after),
        Some(Attributes::Members(&previous)),
    )
}

/// Records an event in `account` (a connected account's id, or the platform's; `None`: the
/// account `ctx` acts in), with `previous_attributes` when given.
pub fn record_in<T: Serialize + Any>(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: Option<&str>,
    event_type: &'static str,
    object: &T,
    previous: Option<Map<String, Value>>,
) -> Result<()> {
    let object = as_json(object)?;
    let previous = previous.as_ref().map(Attributes::Members);
    emit(
        tx,
        ctx,
        account,
        event_type,
        Object::Value(&object),
        previous,
    )
}

/// Records an event in `account` (as `record_in`) for a resource given as its JSON text,
/// without its private part, and `previous_attributes` as an object's text: a stored document
/// changed by `json_member::Members::edit` goes into its events without being parsed.
pub fn record_text_in(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: Option<&str>,
    event_type: &'static str,
    object: &str,
    previous: Option<&str>,
) -> Result<()> {
    emit(
        tx,
        ctx,
        account,
        event_type,
        Object::Text(object),
        previous.map(Attributes::Text),
    )
}

/// The resource an event carries.
#[derive(Clone, Copy)]
enum Object<'a> {
    /// Its private part is left out when written.
    Value(&'a Value),
    /// Already without its private part.
    Text(&'a str),
}

/// An event's `previous_attributes`.
#[derive(Clone, Copy)]
enum Attributes<'a> {
    Members(&'a Map<String, Value>),
    Text(&'a str),
}

/// The resource as JSON: borrowed when it already is JSON (payments keep their documents as
/// `Value`s, and cloning one costs as much as serialising it), converted otherwise. Its private
/// part is left out when the event is written.
fn as_json<T: Serialize + Any>(value: &T) -> Result<Cow<'_, Value>> {
    if let Some(json) = (value as &dyn Any).downcast_ref::<Value>() {
        return Ok(Cow::Borrowed(json));
    }
    serde_json::to_value(value)
        .map(Cow::Owned)
        .map_err(|e| Error::from(StoreError::Corrupt("event".into(), e.to_string())))
}

/// The top-level fields whose value differs, with their old values; `None` if none do. The
/// private part never counts.
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Map<String, Value>> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return None;
    };
    let mut changed = Map::new();
    for (key, old) in before {
        if key != docs::PRIVATE && after.get(key) != Some(old) {
            changed.insert(key.clone(), old.clone());
        }
    }
    for key in after.keys() {
        if key != docs::PRIVATE && !before.contains_key(key) {
            changed.insert(key.clone(), Value::Null);
        }
    }
    (!changed.is_empty()).then_some(changed)
}

/// What an event stores: Stripe's members, in Stripe's order.
struct EventText<'a> {
    id: &'a str,
    /// The connected account's id, for events of connected accounts.
    account: Option<&'a str>,
    created: i64,
    object: Object<'a>,
    previous_attributes: Option<Attributes<'a>>,
    livemode: bool,
    pending_webhooks: u64,
    request_id: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    event_type: &'a str,
}

impl EventText<'_> {
    /// The event's JSON text, written in one pass.
    fn write(&self) -> String {
        let optional = |out: &mut String, text: Option<&str>| match text {
            Some(text) => json_text::write_str(out, text),
            None => out.push_str("null"),
        };
        let mut out = String::with_capacity(2048);
        out.push_str("{\"id\":");
        json_text::write_str(&mut out, self.id);
        out.push_str(",\"object\":\"event\"");
        if let Some(account) = self.account {
            out.push_str(",\"account\":");
            json_text::write_str(&mut out, account);
        }
        out.push_str(",\"api_version\":");
        json_text::write_str(&mut out, API_VERSION);
        let _ = write!(out, ",\"created\":{},\"data\":{{\"object\":", self.created);
        match self.object {
            Object::Value(Value::Object(fields)) => {
                json_text::write_object_without(&mut out, fields, Some(docs::PRIVATE))
            }
            Object::Value(value) => json_text::write_value(&mut out, value),
            Object::Text(text) => out.push_str(text),
        }
        match self.previous_attributes {
            Some(Attributes::Members(previous)) => {
                out.push_str(",\"previous_attributes\":");
                json_text::write_object_without(&mut out, previous, None);
            }
            Some(Attributes::Text(previous)) => {
                out.push_str(",\"previous_attributes\":");
                out.push_str(previous);
            }
            None => {}
        }
        let _ = write!(
            out,
            "}},\"livemode\":{},\"pending_webhooks\":{},\"request\":{{\"id\":",
            self.livemode, self.pending_webhooks
        );
        optional(&mut out, self.request_id);
        out.push_str(",\"idempotency_key\":");
        optional(&mut out, self.idempotency_key);
        out.push_str("},\"type\":");
        json_text::write_str(&mut out, self.event_type);
        out.push('}');
        out
    }
}

pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn emit(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    account: Option<&str>,
    event_type: &'static str,
    object: Object,
    previous: Option<Attributes>,
) -> Result<()> {
    let platform = &ctx.scope.platform;
    let account = account.unwrap_or(&ctx.scope.account);
    let connected = account != platform;
    let routes = ctx.events.hub.routes(tx, platform, ctx.scope.livemode)?;
    let id = ids::new_id(EVENT_ID_PREFIX);
    // The dispatcher's feed reads the event itself; no row per delivery is written here.
    let pending = routes
        .iter()
        .filter(|r| r.wants(event_type, connected))
        .count() as u64;
    // Changes the server makes on its own (schedules, deliveries) carry no request.
    let request_id = (!ctx.request_id.is_empty()).then_some(ctx.request_id.as_str());
    let body = EventText {
        id: &id,
        account: connected.then_some(account),
        created: ctx.now,
        object,
        previous_attributes: previous,
        livemode: ctx.scope.livemode,
        pending_webhooks: pending,
        request_id,
        idempotency_key: ctx.idempotency_key.as_deref(),
        event_type,
    }
    .write();
    // Only a listen stream reads the body after commit: copy it only while one is open.
    let streamed = (ctx.events.hub.feed.receiver_count() > 0).then(|| body.clone());
    tx.insert(crate::store::Document {
        id: id.clone(),
        object: EVENT,
        platform: platform.clone(),
        account: account.to_string(),
        livemode: ctx.scope.livemode,
        created: ctx.now,
        parent: None,
        deleted: false,
        body,
    })?;
    if pending > 0 {
        ctx.events.hub.note_owing(&id);
        ctx.events.deliveries.fetch_add(pending, Ordering::SeqCst);
    }
    let Some(event_body) = streamed else {
        return Ok(());
    };
    if let Ok(mut recorded) = ctx.events.recorded.lock() {
        recorded.push(Published {
            id,
            platform: platform.clone(),
            livemode: ctx.scope.livemode,
            account: connected.then(|| account.to_string()),
            event_type,
            body: Arc::from(event_body),
        });
    }
    Ok(())
}

/// One event the caller may see.
pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    let (_, event) = docs::load::<Value>(tx, &ctx.scope, EVENT, "event", id)?;
    Ok(event)
}

/// One page of the caller's events, newest first (`page.filters` may hold `type`).
pub fn list(tx: &mut dyn Tx, ctx: &Ctx, page: &PageRequest) -> Result<(Vec<Value>, bool)> {
    let found = docs::page(tx, &ctx.scope, &[EVENT], None, page)?;
    let data = found
        .docs
        .iter()
        .map(docs::from_json)
        .collect::<Result<Vec<Value>>>()?;
    Ok((data, found.has_more))
}

/// Forgets events older than the retention period (with their deliveries); returns how many.
pub fn prune(tx: &mut dyn Tx, now_ms: i64) -> Result<u64> {
    let cutoff_ms = now_ms - RETENTION_SECONDS * 1000;
    let before = ids::first_id_at(EVENT_ID_PREFIX, cutoff_ms.max(0) as u64);
    Ok(tx.prune_events(&before, cutoff_ms)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_text_is_stripes_event_in_member_order() {
        let object =
            json!({"id": "ch_1", "amount": 1000, "_sluice": {"secret": true}, "note": "a\"b"});
        let previous = json!({"amount": 900});
        let mut text = EventText {
            id: "evt_1",
            account: Some("acct_1"),
            created: 1_700_000_000,
            object: Object::Value(&object),
            previous_attributes: previous.as_object().map(Attributes::Members),
            livemode: false,
            pending_webhooks: 2,
            request_id: Some("req_1"),
            idempotency_key: None,
            event_type: "charge.updated",
        };
        let expected = json!({
            "id": "evt_1", "object": "event", "account": "acct_1", "api_version": API_VERSION,
            "created": 1_700_000_000,
            "data": {"object": {"id": "ch_1", "amount": 1000, "note": "a\"b"}, "previous_attributes": {"amount": 900}},
            "livemode": false, "pending_webhooks": 2,
            "request": {"id": "req_1", "idempotency_key": null}, "type": "charge.updated"
        });
        assert_eq!(text.write(), serde_json::to_string(&expected).unwrap());
        // The same resource and previous attributes given as text.
        let object_text = r#"{"id":"ch_1","amount":1000,"note":"a\"b"}"#;
        text.object = Object::Text(object_text);
        text.previous_attributes = Some(Attributes::Text(r#"{"amount":900}"#));
        assert_eq!(text.write(), serde_json::to_string(&expected).unwrap());
        // A platform's own event has no `account`; a change made by the server has no request.
        text.account = None;
        text.previous_attributes = None;
        text.request_id = None;
        let expected = json!({
            "id": "evt_1", "object": "event", "api_version": API_VERSION, "created": 1_700_000_000,
            "data": {"object": {"id": "ch_1", "amount": 1000, "note": "a\"b"}},
            "livemode": false, "pending_webhooks": 2,
            "request": {"id": null, "idempotency_key": null}, "type": "charge.updated"
        });
        assert_eq!(text.write(), serde_json::to_string(&expected).unwrap());
    }

    #[test]
    fn previous_attributes_hold_old_values_of_changed_top_level_fields() {
        let before = json!({"a": 1, "b": {"c": 1}, "d": "same", "gone": true});
        let after = json!({"a": 2, "b": {"c": 2}, "d": "same", "new": 1});
        let previous = previous_attributes(&before, &after).unwrap();
        assert_eq!(
            Value::Object(previous),
            json!({"a": 1, "b": {"c": 1}, "gone": true, "new": null})
        );
        assert!(previous_attributes(&before, &before).is_none());
        let private = json!({"a": 1, "_sluice": {"x": 1}});
        assert!(previous_attributes(&private, &json!({"a": 1, "_sluice": {"x": 2}})).is_none());
    }

    #[test]
    fn routes_match_by_account_kind_and_type() {
        let route = Route {
            endpoint: "we_1".into(),
            connect: false,
            enabled_events: vec!["charge.succeeded".into()],
        };
        assert!(route.wants("charge.succeeded", false));
        assert!(!route.wants("charge.succeeded", true));
        assert!(!route.wants("charge.failed", false));
        let all = Route {
            enabled_events: vec!["*".into()],
            connect: true,
            ..route
        };
        assert!(all.wants("charge.failed", true));
        assert!(!all.wants("sluice.webhook_endpoint.disabled", true));
    }

    #[test]
    fn the_hub_hands_over_owing_notes_below_a_settled_bound_once() {
        let hub = Hub::new();
        for id in ["evt_3", "evt_1", "evt_7"] {
            hub.note_owing(id);
        }
        assert_eq!(hub.take_owing_below("evt_5"), Owing::UpTo("evt_3".into()));
        assert_eq!(hub.take_owing_below("evt_5"), Owing::Nothing);
        assert_eq!(hub.take_owing_below("evt_8"), Owing::UpTo("evt_7".into()));
        for n in 0..=MAX_OWING_NOTES {
            hub.note_owing(&format!("evt_{n:08}"));
        }
        assert_eq!(hub.take_owing_below("evt_9"), Owing::Unknown);
        assert_eq!(hub.take_owing_below("evt_9"), Owing::Nothing);
    }
}
