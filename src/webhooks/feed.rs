//! The feed's bookkeeping. New events are the dispatcher's queue: it reads them in id order from
//! a cursor and keeps, in memory, which deliveries wait for a slot of their endpoint and which
//! events still have deliveries unfinished. The cursor it saves only passes events whose every
//! delivery finished (delivered, or handed to the outbox), so a restart resumes at the first
//! event that may still owe one, and delivers it again at worst (at least once).
//!
//! An endpoint never holds the others back for long: the feed reads ahead only so far, and
//! deliveries that wait on a lagging endpoint (the head of its queue older than `SPILL_AFTER`,
//! or its last attempt failed) are handed to the outbox, where it is served at its own pace.
//!
//! Most events owe nothing (no endpoint wants them), and reading each one cost the server a
//! tenth of a core under load. Recording an event that owes deliveries notes its id in the hub
//! (`Hub::take_owing_below`); once the feed has read everything since its cursor, it passes
//! ranges with no noted id unread.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::domain::events::Owing;
use crate::domain::webhook_endpoints::{FeedEvent, Target};
use crate::ids;
use crate::store::OutboxEntry;

/// Events the feed asks the store for at once.
pub const PAGE: usize = 256;
/// Deliveries read and not yet started, at most, before the feed stops reading.
const READ_AHEAD: usize = 2048;
/// Events read and not yet finished, at most (bounds the memory of a slow drain).
const MAX_OPEN_EVENTS: usize = 8192;
/// A delivery that has waited this long for its endpoint goes to the outbox with the rest of
/// that endpoint's queue.
pub const SPILL_AFTER: Duration = Duration::from_secs(2);
/// An idle feed saves its cursor this often at most.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// One delivery the feed read: `entry` has no outbox row (its id is empty) until it is spilled.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub entry: OutboxEntry,
    pub target: Target,
    read_at: Instant,
}

/// What a page leaves to write: deliveries for the outbox, `pending_webhooks` to lower.
#[derive(Debug, Default)]
pub struct PageOutcome {
    pub spill: Vec<Delivery>,
    pub unreached: Vec<(String, u64)>,
}

#[derive(Debug, Default)]
pub struct Feed {
    loaded: bool,
    /// Every event up to here was read.
    read_to: String,
    /// Events read with deliveries, in id order, and how many of them are unfinished.
    open: BTreeMap<String, usize>,
    /// Every event up to here has all its deliveries finished.
    done_to: String,
    saved: String,
    saved_at: Option<Instant>,
    waiting: HashMap<String, VecDeque<Delivery>>,
    waiting_total: usize,
    /// Endpoints whose last attempt failed: what the feed reads for them goes to the outbox.
    failing: HashSet<String>,
    /// Every event up to a settled bound was read since the start: from then on, the feed
    /// skips what the hub's notes say owes nothing (events recorded before the start were
    /// never noted).
    caught_up: bool,
    /// Events up to here may owe deliveries (noted): read before skipping again.
    must_read_to: String,
}

impl Feed {
    pub fn loaded(&self) -> bool {
        self.loaded
    }

    /// Starts from the saved cursor.
    pub fn load(&mut self, cursor: String) {
        self.read_to = cursor.clone();
        self.done_to = cursor.clone();
        self.saved = cursor;
        self.loaded = true;
    }

    /// Whether the events between the read position and `settled` (a bound below which every
    /// write has ended) can be passed unread, given what was noted owing below it; if so, the
    /// read position moves there.
    pub fn skips_to(&mut self, settled: &str, owing: Owing) -> bool {
        match owing {
            Owing::Nothing => {}
            Owing::UpTo(last) => {
                if last > self.must_read_to {
                    self.must_read_to = last;
                }
            }
            Owing::Unknown => self.caught_up = false,
        }
        if !self.caught_up || self.read_to < self.must_read_to || self.read_to.as_str() >= settled {
            return false;
        }
        self.read_to = settled.to_string();
        self.advance();
        true
    }

    /// Every event below `settled` was read (a read came back short of a page, or there was
    /// nothing to read).
    pub fn read_through(&mut self, settled: &str) {
        if self.read_to.as_str() < settled {
            self.read_to = settled.to_string();
        }
        self.caught_up = true;
        self.advance();
    }

    /// Where the next read starts, if the feed has room for more.
    pub fn next_read(&self) -> Option<String> {
        (self.loaded && self.waiting_total < READ_AHEAD && self.open.len() < MAX_OPEN_EVENTS)
            .then(|| self.read_to.clone())
    }

    /// Takes a page read from `next_read`'s position: its deliveries wait for their endpoints,
    /// except those for failing endpoints, which are returned to be spilled, with the counts of
    /// `pending_webhooks` to lower (each finishes its event once written, like a delivery).
    pub fn add_page(
        &mut self,
        events: Vec<FeedEvent>,
        last_read: Option<String>,
        now_ms: i64,
    ) -> PageOutcome {
        let now = Instant::now();
        let mut outcome = PageOutcome::default();
        for event in events {
            let lowering = usize::from(event.unreached > 0);
            self.open
                .insert(event.id.clone(), event.targets.len() + lowering);
            if event.unreached > 0 {
                outcome.unreached.push((event.id.clone(), event.unreached));
            }
            for (endpoint, target) in event.targets {
                let delivery = Delivery {
                    entry: OutboxEntry {
                        id: String::new(),
                        event: event.id.clone(),
                        endpoint: endpoint.clone(),
                        platform: event.platform.clone(),
                        livemode: event.livemode,
                        attempts: 0,
                        next_attempt_ms: now_ms,
                        created_ms: now_ms,
                    },
                    target,
                    read_at: now,
                };
                // An endpoint known to fail waits in the outbox, at its own pace.
                if delivery.target.was_failing || self.failing.contains(&endpoint) {
                    outcome.spill.push(delivery);
                } else {
                    self.waiting
                        .entry(endpoint)
                        .or_default()
                        .push_back(delivery);
                    self.waiting_total += 1;
                }
            }
        }
        if let Some(last) = last_read {
            self.read_to = last;
        }
        self.advance();
        outcome
    }

    /// Takes the waiting deliveries whose endpoint `has_room` (asked once per delivery taken,
    /// oldest first per endpoint).
    pub fn take_ready(&mut self, mut has_room: impl FnMut(&str) -> bool) -> Vec<Delivery> {
        let mut ready = Vec::new();
        for (endpoint, queue) in self.waiting.iter_mut() {
            while !queue.is_empty() && has_room(endpoint) {
                ready.extend(queue.pop_front());
            }
        }
        self.waiting_total -= ready.len();
        self.waiting.retain(|_, queue| !queue.is_empty());
        ready
    }

    /// Takes the queues of lagging endpoints, with outbox ids given, to be spilled.
    pub fn take_lagging(&mut self, now: Instant) -> Vec<Delivery> {
        let failing = &self.failing;
        let lagging: Vec<String> = self
            .waiting
            .iter()
            .filter(|(endpoint, queue)| {
                failing.contains(*endpoint)
                    || queue
                        .front()
                        .is_some_and(|head| now.duration_since(head.read_at) >= SPILL_AFTER)
            })
            .map(|(endpoint, _)| endpoint.clone())
            .collect();
        let mut spill = Vec::new();
        for endpoint in lagging {
            if let Some(queue) = self.waiting.remove(&endpoint) {
                self.waiting_total -= queue.len();
                spill.extend(queue);
            }
        }
        spill
    }

    /// Puts a delivery whose attempt could not be recorded back at the head of its queue.
    pub fn retry(&mut self, delivery: Delivery) {
        self.waiting
            .entry(delivery.entry.endpoint.clone())
            .or_default()
            .push_front(delivery);
        self.waiting_total += 1;
    }

    /// One delivery of `event` finished: attempted and recorded, or spilled.
    pub fn finished(&mut self, event: &str) {
        if let Some(unfinished) = self.open.get_mut(event) {
            *unfinished = unfinished.saturating_sub(1);
        }
        self.advance();
    }

    /// What an attempt said of its endpoint (from the feed or the outbox).
    pub fn attempt_ended(&mut self, endpoint: &str, delivered: bool) {
        if delivered {
            self.failing.remove(endpoint);
        } else if !self.failing.contains(endpoint) {
            self.failing.insert(endpoint.to_string());
        }
    }

    fn advance(&mut self) {
        while let Some(entry) = self.open.first_entry() {
            if *entry.get() > 0 {
                return;
            }
            self.done_to = entry.remove_entry().0;
        }
        // Nothing open: every event read is finished, those without deliveries included.
        self.done_to.clone_from(&self.read_to);
    }

    /// The cursor to save with the next write, if it moved since the last save.
    pub fn cursor_to_save(&self) -> Option<String> {
        (self.loaded && self.done_to > self.saved).then(|| self.done_to.clone())
    }

    /// The cursor to save on its own: only when no delivery runs or waits (otherwise their
    /// writes carry it), and not more often than `SAVE_EVERY`.
    pub fn idle_cursor_to_save(&self, running: usize, now: Instant) -> Option<String> {
        let due = self
            .saved_at
            .is_none_or(|at| now.duration_since(at) >= SAVE_EVERY);
        (running == 0 && self.waiting_total == 0 && due)
            .then(|| self.cursor_to_save())
            .flatten()
    }

    pub fn saved(&mut self, cursor: String) {
        if cursor > self.saved {
            self.saved = cursor;
        }
        self.saved_at = Some(Instant::now());
    }
}

/// Spilled deliveries as outbox rows, due now.
pub fn outbox_rows(spill: &[Delivery]) -> Vec<OutboxEntry> {
    spill
        .iter()
        .map(|delivery| OutboxEntry {
            id: ids::new_id("whdel"),
            ..delivery.entry.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event(id: &str, endpoints: &[&str]) -> FeedEvent {
        FeedEvent {
            id: id.to_string(),
            platform: "acct_p".to_string(),
            livemode: false,
            targets: endpoints
                .iter()
                .map(|endpoint| {
                    let target = Target {
                        url: "http://127.0.0.1:1/".to_string(),
                        secret: "whsec_x".to_string(),
                        body: Bytes::from_static(b"{}"),
                        was_failing: false,
                    };
                    (endpoint.to_string(), target)
                })
                .collect(),
            unreached: 0,
        }
    }

    fn loaded() -> Feed {
        let mut feed = Feed::default();
        feed.load("evt_0".to_string());
        feed
    }

    #[test]
    fn the_cursor_passes_an_event_only_once_all_its_deliveries_finished() {
        let mut feed = loaded();
        let page = vec![event("evt_1", &["we_a", "we_b"]), event("evt_2", &["we_a"])];
        assert!(feed
            .add_page(page, Some("evt_3".into()), 0)
            .spill
            .is_empty());
        assert_eq!(feed.cursor_to_save(), None);
        let ready = feed.take_ready(|_| true);
        assert_eq!(ready.len(), 3);
        feed.finished("evt_2");
        feed.finished("evt_1");
        assert_eq!(feed.cursor_to_save(), None, "evt_1 still owes a delivery");
        feed.finished("evt_1");
        // evt_3 had no deliveries: nothing is open, so the cursor reaches what was read.
        assert_eq!(feed.cursor_to_save().as_deref(), Some("evt_3"));
        feed.saved("evt_3".into());
        assert_eq!(feed.cursor_to_save(), None);
    }

    #[test]
    fn a_lagging_or_failing_endpoint_is_spilled_and_the_others_are_not() {
        let mut feed = loaded();
        feed.add_page(vec![event("evt_1", &["we_a", "we_b"])], None, 0);
        // we_a has no room; we_b takes its delivery.
        let ready = feed.take_ready(|endpoint| endpoint == "we_b");
        assert_eq!(ready.len(), 1);
        assert!(feed.take_lagging(Instant::now()).is_empty());
        let spilled = feed.take_lagging(Instant::now() + SPILL_AFTER);
        assert_eq!(spilled.len(), 1);
        assert_eq!(spilled[0].entry.endpoint, "we_a");
        let rows = outbox_rows(&spilled);
        assert!(rows[0].id.starts_with("whdel_") && rows[0].attempts == 0);
        // Once an endpoint fails, what is read for it goes straight to the outbox.
        feed.attempt_ended("we_b", false);
        let spill = feed
            .add_page(vec![event("evt_2", &["we_a", "we_b"])], None, 0)
            .spill;
        assert_eq!(spill.len(), 1);
        assert_eq!(spill[0].entry.endpoint, "we_b");
        feed.attempt_ended("we_b", true);
        let spill = feed
            .add_page(vec![event("evt_3", &["we_b"])], None, 0)
            .spill;
        assert!(spill.is_empty());
    }

    #[test]
    fn an_event_whose_endpoints_are_gone_stays_open_until_its_count_is_lowered() {
        let mut feed = loaded();
        let gone = FeedEvent {
            unreached: 2,
            ..event("evt_1", &[])
        };
        let outcome = feed.add_page(vec![gone], Some("evt_1".into()), 0);
        assert_eq!(outcome.unreached, vec![("evt_1".to_string(), 2)]);
        assert_eq!(feed.cursor_to_save(), None);
        feed.finished("evt_1");
        assert_eq!(feed.cursor_to_save().as_deref(), Some("evt_1"));
    }

    #[test]
    fn reading_stops_while_too_much_waits() {
        let mut feed = loaded();
        let page: Vec<FeedEvent> = (0..READ_AHEAD)
            .map(|n| event(&format!("evt_{n:06}"), &["we_a"]))
            .collect();
        feed.add_page(page, None, 0);
        assert_eq!(feed.next_read(), None);
        feed.take_ready(|_| true);
        assert!(feed.next_read().is_some());
    }

    #[test]
    fn once_caught_up_the_feed_passes_unread_only_what_owes_nothing() {
        let mut feed = loaded();
        // Events from before the start were never noted: everything is read first.
        assert!(!feed.skips_to("evt_5", Owing::Nothing));
        feed.read_through("evt_5");
        assert!(feed.skips_to("evt_7", Owing::Nothing));
        assert_eq!(feed.next_read().as_deref(), Some("evt_7"));
        assert_eq!(feed.cursor_to_save().as_deref(), Some("evt_7"));
        // A noted event is read, even once the note was taken.
        assert!(!feed.skips_to("evt_9", Owing::UpTo("evt_8".into())));
        feed.add_page(vec![event("evt_8", &["we_a"])], Some("evt_8".into()), 0);
        assert!(feed.skips_to("evt_9", Owing::Nothing));
        assert_eq!(
            feed.cursor_to_save().as_deref(),
            Some("evt_7"),
            "evt_8 is open"
        );
        feed.take_ready(|_| true);
        feed.finished("evt_8");
        assert_eq!(feed.cursor_to_save().as_deref(), Some("evt_9"));
        // A noted event whose write was undone is not found: the short read passes it.
        assert!(!feed.skips_to("evt_b", Owing::UpTo("evt_a".into())));
        feed.read_through("evt_b");
        assert!(feed.skips_to("evt_c", Owing::Nothing));
        // Notes lost: everything is read until the feed has caught up again.
        assert!(!feed.skips_to("evt_d", Owing::Unknown));
        assert!(!feed.skips_to("evt_d", Owing::Nothing));
        feed.read_through("evt_d");
        assert!(feed.skips_to("evt_e", Owing::Nothing));
    }
}
