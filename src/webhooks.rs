//! The webhook dispatcher: delivers events to webhook endpoints, at least once.
//!
//! - New events are its queue (the feed, `feed.rs`): it reads them in id order from a cursor
//!   saved in the store, matches each to the endpoints that want it, and saves the cursor only
//!   past events whose deliveries all finished. It reads no further than the settled horizon
//!   (`Store::settled_event_bound`: writes still open may yet commit lower ids), so nothing
//!   committed is skipped, and after a restart or a crash it resumes at the cursor. Recording an
//!   event writes no row per delivery.
//! - The outbox holds what waits: retries, resends, and the deliveries of an endpoint that lags
//!   or fails (handed over so the feed moves on for the others). On start every row still there
//!   is found again; a row is removed only in the transaction that logs its last attempt.
//! - Each attempt is signed at send time (`Stripe-Signature: t=...,v1=...`, HMAC-SHA256 keyed
//!   with the whole `whsec_...` string, over `"{t}.{body}"`), so retries carry fresh signatures.
//! - A non-2xx answer, no answer within `timeout_ms`, or no connection is a failure: it is
//!   retried on Stripe's schedule (about 5 min, 30 min, 2 h, 4 h, 8 h, 16 h, then daily) until
//!   three days after the event, then dropped. `retry_base_ms` is the schedule's unit (one
//!   minute by default): tests shrink it to milliseconds to run days of retries in seconds.
//! - Endpoints are independent: at most `per_endpoint` attempts run at once for one endpoint,
//!   and a slow or dead endpoint delays only itself.
//! - An endpoint whose deliveries have all failed for nine days (in schedule units) is
//!   disabled, with a `sluice.webhook_endpoint.disabled` event on the platform.
//! - Retries run on wall time, not on a platform's test clock.
//! - Delivery never competes with the API on equal terms: `sluice serve` runs the dispatcher on
//!   its own runtime at a lower CPU priority, it reads in pages, and its bookkeeping writes take
//!   the writer's spare room (`Store::write_background`). Under a saturating load the events
//!   wait in the store and are delivered once the load eases; nothing is dropped.

mod feed;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;

use crate::domain::events::{self, Hub};
use crate::domain::webhook_endpoints::{self, Next, Outcome, Target};
use crate::domain::Error;
use crate::store::{DeliveryAttempt, OutboxEntry, Store};

/// Retry delays after the 1st, 2nd... failure, in units of `retry_base_ms`; the last repeats.
const RETRY_SCHEDULE: &[i64] = &[5, 30, 120, 240, 480, 960, 1440];
/// Stripe retries for three days (in schedule units: minutes by default).
const RETRY_WINDOW_UNITS: i64 = 3 * 24 * 60;
/// Continuous failure for this long disables an endpoint (Stripe warns, then disables, after
/// several days; nine in the notices it sends).
const DISABLE_AFTER_UNITS: i64 = 9 * 24 * 60;
/// How much of an endpoint's answer the delivery log keeps.
const EXCERPT_BYTES: usize = 1000;

#[derive(Debug, Clone)]
pub struct Config {
    pub retry_base_ms: u64,
    /// One attempt's limit: connecting, sending and reading the answer.
    pub timeout_ms: u64,
    pub per_endpoint: usize,
    pub max_in_flight: usize,
    /// Continuous failure for this many schedule units disables an endpoint.
    pub disable_after_units: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            retry_base_ms: 60_000,
            timeout_ms: 10_000,
            per_endpoint: 32,
            max_in_flight: 1024,
            disable_after_units: DISABLE_AFTER_UNITS,
        }
    }
}

impl Config {
    /// When the attempt after `failures` failures is due, or `None` once the window is over.
    pub fn next_attempt_ms(&self, failures: i64, created_ms: i64, now_ms: i64) -> Option<i64> {
        let index = (failures.max(1) - 1) as usize;
        let units = RETRY_SCHEDULE[index.min(RETRY_SCHEDULE.len() - 1)];
        let base = self.retry_base_ms as i64;
        let at = now_ms + units * base;
        (at <= created_ms + RETRY_WINDOW_UNITS * base).then_some(at)
    }

    fn disable_after_ms(&self) -> i64 {
        self.disable_after_units * self.retry_base_ms as i64
    }

    fn poll(&self) -> Duration {
        Duration::from_millis((self.retry_base_ms / 2).clamp(20, 1000))
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{payload}")>`, as Stripe signs.
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this cannot happen.
        return format!("t={timestamp}");
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    format!("t={timestamp},v1={hex}")
}

#[derive(Default)]
struct InFlight {
    /// Outbox rows with an attempt running.
    rows: HashSet<String>,
    /// Attempts of the feed running.
    feed_running: usize,
    /// Attempts running per endpoint, from the outbox and the feed.
    per_endpoint: HashMap<String, usize>,
    feed: feed::Feed,
}

impl InFlight {
    fn running(&self) -> usize {
        self.rows.len() + self.feed_running
    }

    /// An attempt to `endpoint` ended.
    fn release(&mut self, endpoint: &str) {
        if let Some(count) = self.per_endpoint.get_mut(endpoint) {
            *count -= 1;
            if *count == 0 {
                self.per_endpoint.remove(endpoint);
            }
        }
    }
}

/// Where an attempt's delivery came from.
#[derive(Debug, Clone)]
enum Source {
    /// An outbox row (a retry, a resend, a spilled delivery).
    Outbox,
    /// The feed (no row yet: the entry's id is empty); its cursor, if it moved, is saved with
    /// the attempt's record.
    Feed { cursor: Option<String> },
}

struct Dispatcher {
    store: Store,
    hub: Arc<Hub>,
    config: Config,
    client: Client<HttpConnector, Full<Bytes>>,
    in_flight: Mutex<InFlight>,
    finished: tokio::sync::Notify,
}

/// Starts the dispatcher on a runtime of its own (two workers: signing and HTTP of a thousand
/// attempts outrun one thread), below the API in the CPU scheduler's eyes: delivery is
/// background work, so on a saturated machine the API keeps its throughput and the outbox
/// absorbs the difference (it drains once the load eases). Every thread the runtime starts
/// (workers, blocking reads) inherits the lower priority of the thread that builds it.
pub fn spawn_background(store: Store, hub: Arc<Hub>, config: Config) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sluice-webhooks".into())
        .spawn(move || {
            lower_thread_priority();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("sluice-webhooks")
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "cannot start the webhook dispatcher");
                    return;
                }
            };
            runtime.block_on(async move {
                // `spawn` needs a runtime context; the dispatcher runs until the process ends.
                let _ = spawn(store, hub, config).await;
            });
        })
        .map(|_| ())
}

/// Nice 10 for the calling thread (on Linux a thread's nice value is its own): under contention
/// it gets about a tenth of the CPU an API worker gets.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who` 0 is the calling thread.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
        if result != 0 {
            tracing::warn!("cannot lower the webhook dispatcher's priority; it runs at the API's");
        }
    }
}

/// Starts the dispatcher on the current tokio runtime.
pub fn spawn(store: Store, hub: Arc<Hub>, config: Config) -> tokio::task::JoinHandle<()> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_millis(config.timeout_ms)));
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector);
    let dispatcher = Arc::new(Dispatcher {
        store,
        hub,
        config,
        client,
        in_flight: Mutex::new(InFlight::default()),
        finished: tokio::sync::Notify::new(),
    });
    tokio::spawn(async move { dispatcher.run().await })
}

impl Dispatcher {
    async fn run(self: Arc<Self>) {
        // The outbox is read on start, on the poll, when rows were queued for now (a resend, a
        // spill), and when an attempt ends while it had rows: not on every committed event,
        // which only the feed needs to hear about.
        let mut read_outbox = true;
        let mut outbox_had_rows = false;
        let mut next_poll = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_poll {
                read_outbox = true;
                next_poll = now + self.config.poll();
            }
            if read_outbox || self.hub.take_outbox_rows_queued() {
                match self.clone().start_due().await {
                    Ok(found) => outbox_had_rows = found,
                    Err(error) => {
                        tracing::warn!(error = %error.message, "webhook dispatcher cannot read the outbox");
                    }
                }
            }
            if let Err(error) = self.clone().follow_feed().await {
                tracing::warn!(error = %error.message, "webhook dispatcher cannot read new events");
            }
            tokio::select! {
                _ = self.hub.deliveries_due() => read_outbox = false,
                _ = self.finished.notified() => read_outbox = outbox_had_rows,
                _ = tokio::time::sleep_until(next_poll) => read_outbox = true,
            }
        }
    }

    /// Starts an attempt for every due row that fits the concurrency bounds; answers whether
    /// there were rows to look at (due now, or held back by the bounds).
    async fn start_due(self: Arc<Self>) -> Result<bool, Error> {
        let round = {
            let state = self.state();
            webhook_endpoints::Round {
                now_ms: events::wall_ms(),
                in_flight: state.rows.clone(),
                running: state.per_endpoint.clone(),
                per_endpoint: self.config.per_endpoint,
                room: self.config.max_in_flight.saturating_sub(state.running()),
            }
        };
        if round.room == 0 {
            return Ok(true);
        }
        let due = self
            .store
            .read(move |tx| webhook_endpoints::due_targets(tx, &round))
            .await?;
        let found = !due.is_empty();
        let mut abandoned = Vec::new();
        for (entry, next) in due {
            let target = match next {
                Next::Attempt(target) => target,
                Next::Abandon => {
                    abandoned.push(entry);
                    continue;
                }
            };
            {
                let mut state = self.state();
                if state.running() >= self.config.max_in_flight {
                    break;
                }
                let running = state
                    .per_endpoint
                    .get(&entry.endpoint)
                    .copied()
                    .unwrap_or(0);
                if state.rows.contains(&entry.id) || running >= self.config.per_endpoint {
                    continue;
                }
                state.rows.insert(entry.id.clone());
                *state
                    .per_endpoint
                    .entry(entry.endpoint.clone())
                    .or_default() += 1;
            }
            let dispatcher = self.clone();
            tokio::spawn(async move {
                let result = dispatcher.attempt(&entry, &target, Source::Outbox).await;
                {
                    let mut state = dispatcher.state();
                    state.rows.remove(&entry.id);
                    state.release(&entry.endpoint);
                    match result {
                        Ok(delivered) => state.feed.attempt_ended(&entry.endpoint, delivered),
                        Err(error) => {
                            tracing::warn!(error = %error.message, row = %entry.id, "webhook attempt not recorded; it will run again");
                        }
                    }
                }
                dispatcher.finished.notify_one();
            });
        }
        if !abandoned.is_empty() {
            self.store
                .write_background(move |tx| {
                    abandoned
                        .iter()
                        .try_for_each(|entry| webhook_endpoints::abandon(tx, entry))
                })
                .await?;
        }
        Ok(found)
    }

    /// Makes one attempt and records it; answers whether it delivered.
    async fn attempt(
        &self,
        entry: &OutboxEntry,
        target: &Target,
        source: Source,
    ) -> Result<bool, Error> {
        let attempted_ms = events::wall_ms();
        let started = Instant::now();
        let answer = self.post(target).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status_code, response_excerpt, error) = match answer {
            Ok((status, excerpt)) => (Some(i64::from(status)), Some(excerpt), None),
            Err(error) => (None, None, Some(error)),
        };
        let delivered = status_code.is_some_and(|code| (200..300).contains(&code));
        let outcome = if delivered {
            Outcome::Delivered
        } else {
            match self.config.next_attempt_ms(
                entry.attempts + 1,
                entry.created_ms,
                events::wall_ms(),
            ) {
                Some(at) => Outcome::RetryAt(at),
                None => Outcome::GaveUp,
            }
        };
        let attempt = DeliveryAttempt {
            event: entry.event.clone(),
            endpoint: entry.endpoint.clone(),
            attempted_ms,
            status_code,
            latency_ms,
            response_excerpt,
            error,
        };
        let recorder = self.hub.recorder();
        let events = recorder.clone();
        let disable_after_ms = self.config.disable_after_ms();
        let was_failing = target.was_failing;
        let entry = entry.clone();
        let saving = source.clone();
        self.store
            .write_background(move |tx| {
                webhook_endpoints::finish_attempt(
                    tx,
                    &entry,
                    &attempt,
                    outcome,
                    was_failing,
                    disable_after_ms,
                    &events,
                )?;
                if let Source::Feed {
                    cursor: Some(cursor),
                } = &saving
                {
                    tx.set_feed_cursor(cursor)?;
                }
                Ok::<_, Error>(())
            })
            .await?;
        recorder.publish();
        if let Source::Feed {
            cursor: Some(cursor),
        } = source
        {
            self.state().feed.saved(cursor);
        }
        Ok(delivered)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, InFlight> {
        // The state stays consistent across a panic (every change is a few plain assignments).
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads new events into the feed, hands what lagging endpoints cannot take to the outbox,
    /// and starts the deliveries that have room.
    async fn follow_feed(self: Arc<Self>) -> Result<(), Error> {
        if !self.state().feed.loaded() {
            let cursor = self
                .store
                .read(|tx| tx.feed_cursor().map_err(Error::from))
                .await?;
            let cursor = cursor.unwrap_or_else(|| self.store.settled_event_bound());
            self.state().feed.load(cursor);
        }
        let lagging = self.state().feed.take_lagging(Instant::now());
        self.spill(lagging).await?;
        loop {
            let next = self.state().feed.next_read();
            let Some(after) = next else {
                break;
            };
            let below = self.store.settled_event_bound();
            if after >= below {
                self.state().feed.read_through(&below);
                break;
            }
            let owing = self.hub.take_owing_below(&below);
            if self.state().feed.skips_to(&below, owing) {
                break;
            }
            let hub = self.hub.clone();
            let bound = below.clone();
            let page = self
                .store
                .read(move |tx| webhook_endpoints::feed_page(tx, &hub, &after, &bound, feed::PAGE))
                .await?;
            let outcome =
                self.state()
                    .feed
                    .add_page(page.events, page.last_read, events::wall_ms());
            self.forget_unreached(outcome.unreached).await?;
            self.spill(outcome.spill).await?;
            if page.read < feed::PAGE {
                self.state().feed.read_through(&below);
                break;
            }
        }
        self.start_feed_deliveries();
        let idle_save = {
            let state = self.state();
            state
                .feed
                .idle_cursor_to_save(state.feed_running, Instant::now())
        };
        if let Some(cursor) = idle_save {
            let saving = cursor.clone();
            self.store
                .write_background(move |tx| tx.set_feed_cursor(&saving).map_err(Error::from))
                .await?;
            self.state().feed.saved(cursor);
        }
        Ok(())
    }

    /// Hands deliveries to the outbox (due now); they count as finished for the feed once the
    /// rows are written.
    async fn spill(&self, spill: Vec<feed::Delivery>) -> Result<(), Error> {
        if spill.is_empty() {
            return Ok(());
        }
        let rows = feed::outbox_rows(&spill);
        let cursor = self.state().feed.cursor_to_save();
        let saving = cursor.clone();
        let written = self
            .store
            .write_background(move |tx| {
                webhook_endpoints::queue(tx, &rows)?;
                if let Some(cursor) = &saving {
                    tx.set_feed_cursor(cursor)?;
                }
                Ok::<_, Error>(())
            })
            .await;
        let mut state = self.state();
        if let Err(error) = written {
            spill
                .into_iter()
                .for_each(|delivery| state.feed.retry(delivery));
            return Err(error);
        }
        if let Some(cursor) = cursor {
            state.feed.saved(cursor);
        }
        for delivery in &spill {
            state.feed.finished(&delivery.entry.event);
        }
        drop(state);
        self.hub.outbox_rows_queued();
        Ok(())
    }

    /// Lowers `pending_webhooks` of events by the endpoints that will not take them any more.
    async fn forget_unreached(&self, unreached: Vec<(String, u64)>) -> Result<(), Error> {
        if unreached.is_empty() {
            return Ok(());
        }
        let events: Vec<String> = unreached.iter().map(|(event, _)| event.clone()).collect();
        self.store
            .write_background(move |tx| webhook_endpoints::forget_unreached(tx, &unreached))
            .await?;
        let mut state = self.state();
        events.iter().for_each(|event| state.feed.finished(event));
        Ok(())
    }

    /// Starts the feed's waiting deliveries that fit the concurrency bounds.
    fn start_feed_deliveries(self: &Arc<Self>) {
        let ready = {
            let mut state = self.state();
            let InFlight {
                rows,
                feed_running,
                per_endpoint,
                feed,
            } = &mut *state;
            let mut running = rows.len() + *feed_running;
            let (max_in_flight, limit) = (self.config.max_in_flight, self.config.per_endpoint);
            let ready = feed.take_ready(|endpoint| {
                if running >= max_in_flight {
                    return false;
                }
                match per_endpoint.get_mut(endpoint) {
                    Some(count) if *count >= limit => return false,
                    Some(count) => *count += 1,
                    None => {
                        per_endpoint.insert(endpoint.to_string(), 1);
                    }
                }
                running += 1;
                true
            });
            *feed_running += ready.len();
            ready
        };
        for delivery in ready {
            let dispatcher = self.clone();
            tokio::spawn(async move {
                let cursor = dispatcher.state().feed.cursor_to_save();
                let result = dispatcher
                    .attempt(&delivery.entry, &delivery.target, Source::Feed { cursor })
                    .await;
                {
                    let mut state = dispatcher.state();
                    state.feed_running -= 1;
                    state.release(&delivery.entry.endpoint);
                    match result {
                        Ok(delivered) => {
                            state
                                .feed
                                .attempt_ended(&delivery.entry.endpoint, delivered);
                            state.feed.finished(&delivery.entry.event);
                        }
                        Err(error) => {
                            tracing::warn!(error = %error.message, event = %delivery.entry.event, "webhook attempt not recorded; it will run again");
                            state.feed.retry(delivery);
                        }
                    }
                }
                dispatcher.finished.notify_one();
            });
        }
    }

    /// One POST; the answer's status and the start of its body, or why there was none.
    async fn post(&self, target: &Target) -> Result<(u16, String), String> {
        if !target.url.starts_with("http://") {
            return Err("only http:// endpoints can be reached from Sluice".to_string());
        }
        let timestamp = crate::domain::unix_now();
        let signature = signature_header(&target.secret, timestamp, &target.body);
        let request = hyper::Request::post(target.url.as_str())
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .header("stripe-signature", signature)
            .body(Full::new(target.body.clone()))
            .map_err(|e| format!("invalid request: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| describe_client_error(&e))?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut excerpt = Vec::new();
            // Read (and discard past the excerpt) the whole answer, so the connection is reusable.
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("reading the answer failed: {e}"))?;
                if let Some(data) = frame.data_ref() {
                    let room = EXCERPT_BYTES.saturating_sub(excerpt.len());
                    excerpt.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Ok::<_, String>((status, String::from_utf8_lossy(&excerpt).into_owned()))
        };
        match tokio::time::timeout(Duration::from_millis(self.config.timeout_ms), exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {} ms", self.config.timeout_ms)),
        }
    }
}

fn describe_client_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_stripe_reference() {
        // HMAC-SHA256("whsec_test", "1700000000.{}"), computed with Python's hmac module.
        assert_eq!(
            signature_header("whsec_test", 1_700_000_000, b"{}"),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn retries_back_off_and_stop_after_three_days() {
        let config = Config::default();
        let created = 0;
        assert_eq!(config.next_attempt_ms(1, created, 0), Some(5 * 60_000));
        assert_eq!(config.next_attempt_ms(2, created, 0), Some(30 * 60_000));
        assert_eq!(config.next_attempt_ms(20, created, 0), Some(24 * 3_600_000));
        let late = 3 * 24 * 3_600_000 - 60_000;
        assert_eq!(config.next_attempt_ms(20, created, late), None);
    }
}
