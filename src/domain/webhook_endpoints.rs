//! Webhook endpoints (the platform's own: `connect=true` ones receive its connected accounts'
//! events) and the bookkeeping of deliveries to them. New events reach the dispatcher through
//! the feed (`feed_page`: events in id order, matched to endpoints as they are read); the outbox
//! holds what must wait (retries, resends, what a lagging endpoint could not take). Each attempt
//! is logged, a success lowers the event's `pending_webhooks`, a failure schedules the next try
//! in the outbox, and an endpoint that has failed continuously for days is disabled.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::docs::{self, NewDoc, PageRequest};
use super::events;
use super::metadata::{self, Metadata, MetadataChange};
use super::objects::{EVENT, WEBHOOK_ENDPOINT};
use super::{Ctx, Error, Result};
use crate::ids;
use crate::store::{DeliveryAttempt, OutboxEntry, Scope, Tx};
use bytes::Bytes;

const WHAT: &str = "webhook endpoint";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub object: String,
    pub api_version: Option<String>,
    pub application: Option<String>,
    pub created: i64,
    pub description: Option<String>,
    pub enabled_events: Vec<String>,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Shown once, in the answer to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub status: String,
    pub url: String,
    #[serde(rename = "_sluice", default)]
    pub private: Private,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Private {
    pub secret: String,
    pub connect: bool,
    /// Since when every delivery has failed (unix milliseconds); none while deliveries succeed.
    pub failing_since_ms: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub metadata: MetadataChange,
    /// Create only.
    pub connect: Option<bool>,
    /// Create only.
    pub api_version: Option<String>,
    /// Update only.
    pub disabled: Option<bool>,
}

fn public_view(endpoint: &WebhookEndpoint) -> Result<Value> {
    let mut value = serde_json::to_value(endpoint).map_err(|e| Error::invalid(e.to_string()))?;
    docs::strip_private(&mut value);
    Ok(value)
}

fn apply(endpoint: &mut WebhookEndpoint, changes: EndpointChanges) -> Result<()> {
    if let Some(url) = changes.url {
        endpoint.url = url;
    }
    if let Some(types) = changes.enabled_events {
        endpoint.enabled_events = types;
    }
    if let Some(description) = changes.description {
        endpoint.description = description;
    }
    if let Some(disabled) = changes.disabled {
        endpoint.status = if disabled { "disabled" } else { "enabled" }.to_string();
        if !disabled {
            // Re-enabled by hand: the failure streak starts over.
            endpoint.private.failing_since_ms = None;
        }
    }
    metadata::apply(&mut endpoint.metadata, changes.metadata)
}

pub fn create(tx: &mut dyn Tx, ctx: &Ctx, changes: EndpointChanges) -> Result<Value> {
    ctx.require_platform("Webhook endpoints")?;
    let secret = ids::secret_token("whsec_", 24);
    let mut endpoint = WebhookEndpoint {
        id: ids::new_id("we"),
        object: WEBHOOK_ENDPOINT.to_string(),
        api_version: changes.api_version.clone(),
        application: None,
        created: ctx.now,
        description: None,
        enabled_events: Vec::new(),
        livemode: ctx.scope.livemode,
        metadata: Metadata::new(),
        secret: None,
        status: "enabled".to_string(),
        url: String::new(),
        private: Private {
            secret: secret.clone(),
            connect: changes.connect.unwrap_or(false),
            failing_since_ms: None,
        },
    };
    apply(&mut endpoint, changes)?;
    let new = NewDoc {
        id: &endpoint.id,
        object: WEBHOOK_ENDPOINT,
        scope: &ctx.scope,
        parent: None,
    };
    docs::insert(tx, ctx, new, &endpoint)?;
    ctx.events.endpoints_changed();
    endpoint.secret = Some(secret);
    public_view(&endpoint)
}

pub fn retrieve(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    ctx.require_platform("Webhook endpoints")?;
    let (_, endpoint): (_, WebhookEndpoint) =
        docs::load(tx, &ctx.scope, WEBHOOK_ENDPOINT, WHAT, id)?;
    public_view(&endpoint)
}

pub fn update(tx: &mut dyn Tx, ctx: &Ctx, id: &str, changes: EndpointChanges) -> Result<Value> {
    ctx.require_platform("Webhook endpoints")?;
    let (_, mut endpoint): (_, WebhookEndpoint) =
        docs::load_for_update(tx, &ctx.scope, WEBHOOK_ENDPOINT, WHAT, id)?;
    apply(&mut endpoint, changes)?;
    docs::save(tx, id, &endpoint)?;
    ctx.events.endpoints_changed();
    public_view(&endpoint)
}

pub fn delete(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<Value> {
    ctx.require_platform("Webhook endpoints")?;
    let _: (_, WebhookEndpoint) =
        docs::load_for_update(tx, &ctx.scope, WEBHOOK_ENDPOINT, WHAT, id)?;
    let stub = json!({"id": id, "object": WEBHOOK_ENDPOINT, "deleted": true});
    docs::mark_deleted(tx, id, &stub)?;
    ctx.events.endpoints_changed();
    Ok(stub)
}

pub fn list(tx: &mut dyn Tx, ctx: &Ctx, page: &PageRequest) -> Result<(Vec<Value>, bool)> {
    ctx.require_platform("Webhook endpoints")?;
    let found = docs::page(tx, &ctx.scope, &[WEBHOOK_ENDPOINT], None, page)?;
    let mut data = Vec::with_capacity(found.docs.len());
    for doc in &found.docs {
        let endpoint: WebhookEndpoint = docs::from_json(doc)?;
        data.push(public_view(&endpoint)?);
    }
    Ok((data, found.has_more))
}

/// Queues `event` (one the caller may see) for `endpoint` again, whatever happened before: the
/// resend extension.
pub fn resend(tx: &mut dyn Tx, ctx: &Ctx, event_id: &str, endpoint_id: &str) -> Result<Value> {
    ctx.require_platform("Resending events")?;
    let platform = ctx.platform_scope();
    let (_, endpoint): (_, WebhookEndpoint) =
        docs::load(tx, &platform, WEBHOOK_ENDPOINT, WHAT, endpoint_id)
            .map_err(|e| e.param("webhook_endpoint"))?;
    // The event may live in any of the platform's accounts.
    let event_doc = tx
        .get(event_id)?
        .filter(|doc| {
            doc.object == EVENT
                && doc.platform == ctx.scope.platform
                && doc.livemode == ctx.scope.livemode
        })
        .ok_or_else(|| Error::no_such("event", event_id))?;
    let connected = event_doc.account != event_doc.platform;
    if endpoint.private.connect != connected {
        let message = if connected {
            format!("The event '{event_id}' happened in a connected account: only a Connect endpoint (`connect=true`) receives it.")
        } else {
            format!("The event '{event_id}' is the platform's own: a Connect endpoint (`connect=true`) does not receive it.")
        };
        return Err(Error::invalid_param("webhook_endpoint", message));
    }
    let now_ms = events::wall_ms();
    tx.outbox_insert(&OutboxEntry {
        id: ids::new_id("whdel"),
        event: event_id.to_string(),
        endpoint: endpoint_id.to_string(),
        platform: ctx.scope.platform.clone(),
        livemode: ctx.scope.livemode,
        attempts: 0,
        next_attempt_ms: now_ms,
        created_ms: now_ms,
    })?;
    let mut event: Value = docs::from_json(&event_doc)?;
    let pending = event["pending_webhooks"].as_i64().unwrap_or(0) + 1;
    event["pending_webhooks"] = Value::from(pending);
    docs::save(tx, event_id, &event)?;
    ctx.events.queued(1);
    Ok(event)
}

/// The delivery log of one event the caller may see (any of the platform's accounts).
pub fn deliveries(tx: &mut dyn Tx, ctx: &Ctx, event_id: &str) -> Result<Value> {
    ctx.require_platform("Delivery logs")?;
    tx.get(event_id)?
        .filter(|doc| {
            doc.object == EVENT
                && doc.platform == ctx.scope.platform
                && doc.livemode == ctx.scope.livemode
        })
        .ok_or_else(|| Error::no_such("event", event_id))?;
    let attempts: Vec<Value> = tx
        .deliveries(event_id)?
        .into_iter()
        .map(|attempt| {
            json!({
                "object": "webhook_delivery_attempt",
                "event": attempt.event,
                "webhook_endpoint": attempt.endpoint,
                "attempted_at_ms": attempt.attempted_ms,
                "status_code": attempt.status_code,
                "latency_ms": attempt.latency_ms,
                "response_excerpt": attempt.response_excerpt,
                "error": attempt.error,
                "succeeded": attempt.status_code.is_some_and(|code| (200..300).contains(&code)),
            })
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": attempts,
        "has_more": false,
        "url": format!("/v1/sluice/events/{event_id}/deliveries"),
    }))
}

/// What the dispatcher needs to make one attempt.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub secret: String,
    /// The event as stored; shared by its deliveries to every endpoint.
    pub body: Bytes,
    /// The endpoint was failing when the attempt started: its record changes whatever happens.
    pub was_failing: bool,
}

/// What to do with an outbox row the dispatcher picked.
#[derive(Debug, Clone)]
pub enum Next {
    Attempt(Target),
    /// Nothing left to do (the endpoint was deleted or disabled, or the event pruned): drop
    /// the row with `abandon`.
    Abandon,
}

/// An endpoint as the dispatcher needs it; `None` when it takes no deliveries any more.
type Reachable = Option<(String, String, bool)>;

/// What the dispatcher holds when it looks for work: taken before the read starts, so that a
/// row whose attempt finished after it is seen as that attempt left it.
#[derive(Debug, Default)]
pub struct Round {
    pub now_ms: i64,
    /// Rows with an attempt running.
    pub in_flight: HashSet<String>,
    /// Attempts running per endpoint.
    pub running: HashMap<String, usize>,
    /// Attempts one endpoint may have running.
    pub per_endpoint: usize,
    /// Attempts that may start in all.
    pub room: usize,
}

/// The rows to attempt now, each with what to do with it, read in one snapshot: one read per
/// round of the dispatcher, not one per attempt. Only rows that fit the bounds are loaded.
pub fn due_targets(tx: &mut dyn Tx, round: &Round) -> Result<Vec<(OutboxEntry, Next)>> {
    let mut picked = Vec::new();
    for endpoint in tx.outbox_endpoints()? {
        let running = round.running.get(&endpoint).copied().unwrap_or(0);
        let wanted = round
            .per_endpoint
            .saturating_sub(running)
            .min(round.room - picked.len());
        if wanted == 0 {
            continue;
        }
        // Its rows in flight come back too: ask for enough to see past them.
        let due = tx.outbox_due(&endpoint, round.now_ms, wanted + running)?;
        let mut fresh = due
            .into_iter()
            .filter(|entry| !round.in_flight.contains(&entry.id))
            .take(wanted)
            .peekable();
        if fresh.peek().is_none() {
            continue;
        }
        let reachable = reachable(tx, &endpoint)?;
        for entry in fresh {
            let next = match (&reachable, tx.get(&entry.event)?) {
                (Some((url, secret, was_failing)), Some(event)) => Next::Attempt(Target {
                    url: url.clone(),
                    secret: secret.clone(),
                    body: Bytes::from(event.body),
                    was_failing: *was_failing,
                }),
                _ => Next::Abandon,
            };
            picked.push((entry, next));
        }
    }
    Ok(picked)
}

/// What one read of the feed found.
#[derive(Debug)]
pub struct FeedPage {
    /// The events some endpoint takes, in id order.
    pub events: Vec<FeedEvent>,
    /// The last event read (wanted or not): the next read starts after it.
    pub last_read: Option<String>,
    /// Events read: fewer than asked means the feed has caught up.
    pub read: usize,
}

/// One event the feed read, with the endpoints that take it.
#[derive(Debug)]
pub struct FeedEvent {
    pub id: String,
    pub platform: String,
    pub livemode: bool,
    pub targets: Vec<(String, Target)>,
    /// Endpoints its `pending_webhooks` counts that no longer take it: lowered by `unreached`.
    pub unreached: u64,
}

/// The feed's next page: events after `after` and below `below` (at most `limit`), each with
/// the enabled endpoints that want it and existed before it, and the last id read (events no
/// endpoint wants are read and left out).
pub fn feed_page(
    tx: &mut dyn Tx,
    hub: &events::Hub,
    after: &str,
    below: &str,
    limit: usize,
) -> Result<FeedPage> {
    let docs = tx.events_between(after, below, limit)?;
    let read = docs.len();
    let last_read = docs.last().map(|doc| doc.id.clone());
    let mut endpoints: HashMap<String, Reachable> = HashMap::new();
    let mut page = Vec::new();
    for doc in docs {
        if doc.object != EVENT {
            continue;
        }
        let head: EventHead = serde_json::from_str(&doc.body)
            .map_err(|e| crate::store::StoreError::Corrupt(doc.id.clone(), e.to_string()))?;
        let routes = hub.routes(tx, &doc.platform, doc.livemode)?;
        let connected = doc.account != doc.platform;
        let body = Bytes::from(doc.body);
        let mut targets = Vec::new();
        for route in routes.iter() {
            if !route.wants(&head.event_type, connected) || !made_before(&route.endpoint, &doc.id) {
                continue;
            }
            if !endpoints.contains_key(&route.endpoint) {
                let found = reachable(tx, &route.endpoint)?;
                endpoints.insert(route.endpoint.clone(), found);
            }
            if let Some(Some((url, secret, was_failing))) = endpoints.get(&route.endpoint) {
                let target = Target {
                    url: url.clone(),
                    secret: secret.clone(),
                    body: body.clone(),
                    was_failing: *was_failing,
                };
                targets.push((route.endpoint.clone(), target));
            }
        }
        // Endpoints counted when the event was recorded and gone (deleted, disabled) since.
        let unreached = head.pending_webhooks.saturating_sub(targets.len() as u64);
        if !targets.is_empty() || unreached > 0 {
            page.push(FeedEvent {
                id: doc.id,
                platform: doc.platform,
                livemode: doc.livemode,
                targets,
                unreached,
            });
        }
    }
    Ok(FeedPage {
        events: page,
        last_read,
        read,
    })
}

/// The part of a stored event the feed routes by.
#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    event_type: String,
    pending_webhooks: u64,
}

/// Whether the object `earlier` was created before `later` (ids are time-ordered after their
/// prefix): an endpoint receives only the events that happened after it was created.
fn made_before(earlier: &str, later: &str) -> bool {
    let order = |id| str::split_once(id, '_').map(|(_, order)| order);
    order(earlier) < order(later)
}

/// Queues deliveries in the outbox (the feed hands over what a lagging endpoint cannot take).
pub fn queue(tx: &mut dyn Tx, entries: &[OutboxEntry]) -> Result<()> {
    for entry in entries {
        tx.outbox_insert(entry)?;
    }
    Ok(())
}

fn reachable(tx: &mut dyn Tx, endpoint_id: &str) -> Result<Reachable> {
    let Some(doc) = tx.get(endpoint_id)? else {
        return Ok(None);
    };
    if doc.deleted {
        return Ok(None);
    }
    let endpoint: WebhookEndpoint = docs::from_json(&doc)?;
    if endpoint.status != "enabled" {
        return Ok(None);
    }
    let was_failing = endpoint.private.failing_since_ms.is_some();
    Ok(Some((endpoint.url, endpoint.private.secret, was_failing)))
}

/// How an attempt ended, as the dispatcher decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; try again at this time (unix milliseconds).
    RetryAt(i64),
    /// Failed, and the retry window is over.
    GaveUp,
}

/// Records an attempt and its consequences in one transaction. `entry` is an outbox row (a
/// retry, a resend, a spilled delivery), or, with an empty id, a first attempt the feed made:
/// it has no row yet, and a failure queues its retry in the outbox. `disable_after_ms`: how long
/// an endpoint may fail continuously before it is disabled.
pub fn finish_attempt(
    tx: &mut dyn Tx,
    entry: &OutboxEntry,
    attempt: &DeliveryAttempt,
    outcome: Outcome,
    was_failing: bool,
    disable_after_ms: i64,
    recorder: &std::sync::Arc<events::Recorder>,
) -> Result<()> {
    let queued = !entry.id.is_empty();
    if queued {
        // The row may be gone: pruned, or finished by an earlier run of this same attempt.
        let Some(current) = tx.outbox_get(&entry.id)? else {
            return Ok(());
        };
        if current.attempts != entry.attempts {
            // Another run of this row already recorded its attempt.
            return Ok(());
        }
    }
    tx.delivery_insert(attempt)?;
    match outcome {
        Outcome::Delivered | Outcome::GaveUp => {
            if queued {
                tx.outbox_remove(&entry.id)?;
            }
            lower_pending(tx, &entry.event)?;
        }
        Outcome::RetryAt(at_ms) if queued => {
            tx.outbox_reschedule(&entry.id, entry.attempts + 1, at_ms)?
        }
        Outcome::RetryAt(at_ms) => tx.outbox_insert(&OutboxEntry {
            id: ids::new_id("whdel"),
            attempts: entry.attempts + 1,
            next_attempt_ms: at_ms,
            ..entry.clone()
        })?,
    }
    // What the attempt tells of its endpoint: when it started failing, and whether it has failed
    // long enough to be disabled. A delivery to a healthy endpoint changes nothing of it: the common case reads no endpoint.
    if outcome == Outcome::Delivered && !was_failing {
        return Ok(());
    }
    let Some(doc) = tx.get_for_update(&attempt.endpoint)? else {
        return Ok(());
    };
    if doc.deleted {
        return Ok(());
    }
    let mut endpoint: WebhookEndpoint = docs::from_json(&doc)?;
    match (outcome, endpoint.private.failing_since_ms) {
        (Outcome::Delivered, None) => {}
        (Outcome::Delivered, Some(_)) => {
            endpoint.private.failing_since_ms = None;
            docs::save(tx, &doc.id, &endpoint)?;
        }
        (_, None) => {
            endpoint.private.failing_since_ms = Some(attempt.attempted_ms);
            docs::save(tx, &doc.id, &endpoint)?;
        }
        (_, Some(since)) => {
            if endpoint.status == "enabled" && attempt.attempted_ms - since >= disable_after_ms {
                let before = public_view(&endpoint)?;
                endpoint.status = "disabled".to_string();
                docs::save(tx, &doc.id, &endpoint)?;
                recorder.endpoints_changed();
                let ctx = Ctx {
                    scope: Scope {
                        platform: doc.platform.clone(),
                        account: doc.platform.clone(),
                        livemode: doc.livemode,
                    },
                    connected: false,
                    now: super::unix_now(),
                    request_id: String::new(),
                    idempotency_key: None,
                    pricing: Default::default(),
                    base_url: std::sync::Arc::from(""),
                    events: recorder.clone(),
                    reserves: Default::default(),
                };
                // Stripe tells the account by email; here it is an event on the platform (never
                // delivered to webhooks).
                events::record_update(
                    tx,
                    &ctx,
                    "sluice.webhook_endpoint.disabled",
                    &before,
                    &endpoint,
                )?;
            }
        }
    }
    Ok(())
}

/// Drops an outbox row that has nothing left to deliver (see `due_targets`).
pub fn abandon(tx: &mut dyn Tx, entry: &OutboxEntry) -> Result<()> {
    if tx.outbox_get(&entry.id)?.is_some() {
        tx.outbox_remove(&entry.id)?;
        lower_pending(tx, &entry.event)?;
    }
    Ok(())
}

fn lower_pending(tx: &mut dyn Tx, event_id: &str) -> Result<()> {
    lower_pending_by(tx, event_id, 1)
}

fn lower_pending_by(tx: &mut dyn Tx, event_id: &str, by: u64) -> Result<()> {
    let Some(doc) = tx.get_for_update(event_id)? else {
        return Ok(());
    };
    let mut event: Value = docs::from_json(&doc)?;
    let pending = event["pending_webhooks"].as_u64().unwrap_or(0);
    event["pending_webhooks"] = Value::from(pending.saturating_sub(by));
    docs::save(tx, event_id, &event)
}

/// Lowers `pending_webhooks` of events by what no endpoint will deliver any more (see
/// `FeedEvent::unreached`).
pub fn forget_unreached(tx: &mut dyn Tx, unreached: &[(String, u64)]) -> Result<()> {
    unreached
        .iter()
        .try_for_each(|(event, by)| lower_pending_by(tx, event, *by))
}
