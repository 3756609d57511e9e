//! The store: documents (Stripe objects as JSON with the few columns lists filter on), platforms
//! and their API keys, and idempotency records. Two backends behind one synchronous `Tx` trait, so
//! domain functions run unchanged on either: the embedded SQLite store (one writer thread with
//! group commit, a pool of readers) and PostgreSQL.

mod horizon;
pub mod migrations;
mod pending;
pub mod postgres;
pub mod sqlite;
mod sqlite_alloc;
mod sqlite_checkpoint;

use std::sync::Arc;

use thiserror::Error;

#[derive(Debug, Error, Clone)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(String),
    #[error("postgres: {0}")]
    Postgres(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("stored document {0} is not valid JSON: {1}")]
    Corrupt(String, String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Sqlite(error.to_string())
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(error: ::postgres::Error) -> Self {
        StoreError::Postgres(error.to_string())
    }
}

/// One stored Stripe object.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub object: &'static str,
    /// The platform whose data this is.
    pub platform: String,
    /// The account the object lives in: the platform itself, or one of its connected accounts.
    /// A connected account's own document lives in its platform.
    pub account: String,
    pub livemode: bool,
    pub created: i64,
    /// The object this one hangs under (a person's account, a payment method's customer).
    pub parent: Option<String>,
    pub deleted: bool,
    pub body: String,
}

/// Who may see a document: a platform, in one mode, acting in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub platform: String,
    pub account: String,
    pub livemode: bool,
}

impl Document {
    pub fn visible_to(&self, scope: &Scope) -> bool {
        self.platform == scope.platform
            && self.account == scope.account
            && self.livemode == scope.livemode
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreatedRange {
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Bool(bool),
    Int(i64),
    /// Any of these texts (`types[]` on events).
    AnyText(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor<'a> {
    First,
    After(&'a str),
    Before(&'a str),
}

/// A page of one kind of object in one scope, newest first.
#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    /// Object types to include (external accounts mix `bank_account` and `card`).
    pub objects: &'a [&'static str],
    pub scope: &'a Scope,
    pub parent: Option<&'a str>,
    pub created: CreatedRange,
    pub cursor: Cursor<'a>,
    /// Only documents whose JSON field (a dotted path from code, never from a request) has
    /// this value: `email` on customers, `relationship.owner` on persons.
    pub filters: &'a [(&'static str, FieldValue)],
    /// Rows to fetch; callers ask for one more than they show to learn `has_more`.
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// Platform, mode, target account and the client's key, joined.
    pub scope: String,
    pub fingerprint: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub hash: Vec<u8>,
    pub platform: String,
    pub livemode: bool,
    pub kind: KeyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "secret" => Some(KeyKind::Secret),
            "publishable" => Some(KeyKind::Publishable),
            _ => None,
        }
    }
}

/// One event still to be delivered to one webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: String,
    pub event: String,
    pub endpoint: String,
    pub platform: String,
    pub livemode: bool,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (unix milliseconds, wall time).
    pub next_attempt_ms: i64,
    pub created_ms: i64,
}

/// One attempt to deliver an event to an endpoint, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub event: String,
    pub endpoint: String,
    pub attempted_ms: i64,
    /// The endpoint's HTTP status; none when no answer came (refused, timed out).
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One line of a ledger transaction. Postings of one `ledger_txn` sum to zero per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub ledger_txn: String,
    /// The balance transaction (`txn_`) whose `net` this posting is, when it has one.
    pub balance_transaction: Option<String>,
    /// A Stripe account's balance (`acct_...`) or an operator account (`operator:...`).
    pub ledger_account: String,
    pub livemode: bool,
    pub currency: String,
    pub amount: i64,
    /// When the amount counts as available rather than pending (unix seconds).
    pub available_on: i64,
    pub created: i64,
}

/// Document writes and ledger postings a write command has made but the database has not yet
/// received. On PostgreSQL each row as its own statement was a round trip: they go out together,
/// in one statement. On SQLite a command that only adds and changes documents and posts
/// needs no savepoint while its rows wait (see `sqlite::Deferred`). A document is in at most one
/// of `docs` and `updates` (a change to an unsent one changes it there).
/// Rows that may wait unsent, at most: a long command (a clock advance) sends them in runs.
pub(crate) const MAX_UNSENT: usize = 256;

#[derive(Default)]
pub(crate) struct Unsent {
    pub docs: Vec<Document>,
    pub updates: Vec<Update>,
    pub postings: Vec<Posting>,
}

pub(crate) struct Update {
    pub id: String,
    pub body: String,
    pub deleted: bool,
}

impl Unsent {
    pub fn clear(&mut self) {
        self.docs.clear();
        self.updates.clear();
        self.postings.clear();
    }

    pub fn len(&self) -> usize {
        self.docs.len() + self.updates.len() + self.postings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stage_update(&mut self, id: &str, body: &str, deleted: bool) {
        if let Some(doc) = self.docs.iter_mut().find(|doc| doc.id == id) {
            body.clone_into(&mut doc.body);
            doc.deleted = deleted;
        } else if let Some(update) = self.updates.iter_mut().find(|u| u.id == id) {
            body.clone_into(&mut update.body);
            update.deleted = deleted;
        } else {
            self.updates.push(Update {
                id: id.to_string(),
                body: body.to_string(),
                deleted,
            });
        }
    }

    /// Document `id` as the command left it: an unsent new one, or the stored one (`fetch`)
    /// with the command's unsent change to it.
    pub fn read_through<E>(
        &self,
        id: &str,
        fetch: impl FnOnce() -> Result<Option<Document>, E>,
    ) -> Result<Option<Document>, E> {
        if let Some(doc) = self.docs.iter().find(|doc| doc.id == id) {
            return Ok(Some(doc.clone()));
        }
        let mut stored = fetch()?;
        if let Some(doc) = stored.as_mut() {
            if let Some(update) = self.updates.iter().find(|u| u.id == doc.id) {
                update.body.clone_into(&mut doc.body);
                doc.deleted = update.deleted;
            }
        }
        Ok(stored)
    }
}

/// Postings summed per balance slice (ledger account, mode, currency, `available_on`), in slice
/// order: one change per running-balance row. A slice whose postings cancel out is kept.
pub(crate) fn summed_by_slice(postings: &[Posting]) -> Vec<(&str, bool, &str, i64, i64)> {
    let mut slices: Vec<(&str, bool, &str, i64, i64)> = postings
        .iter()
        .map(|p| {
            (
                p.ledger_account.as_str(),
                p.livemode,
                p.currency.as_str(),
                p.available_on,
                p.amount,
            )
        })
        .collect();
    slices.sort_unstable_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
    slices.dedup_by(|later, kept| {
        let same = (later.0, later.1, later.2, later.3) == (kept.0, kept.1, kept.2, kept.3);
        if same {
            kept.4 += later.4;
        }
        same
    });
    slices
}

/// A ledger account's total for one currency and one availability date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceSlice {
    pub currency: String,
    pub available_on: i64,
    pub amount: i64,
}

/// Work that falls due at a moment of a platform's clock (a payout reaching the bank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub id: i64,
    pub platform: String,
    pub livemode: bool,
    pub due_at: i64,
    /// What to do (`payout.in_transit`, `payout.settle`), read by the scheduler.
    pub kind: String,
    /// The object it concerns.
    pub target: String,
}

/// `since` of an account with nothing to pay out until new money arrives.
pub const NOTHING_DUE: i64 = i64::MAX;

/// A ledger account's total in one currency, over all availability dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTotal {
    pub ledger_account: String,
    pub currency: String,
    pub amount: i64,
}

/// Everything a command may do inside its transaction.
pub trait Tx {
    fn get(&mut self, id: &str) -> StoreResult<Option<Document>>;
    /// Reads a document the command is about to change, locking it against concurrent writers
    /// until the transaction ends (PostgreSQL; the embedded store's one writer needs no lock).
    fn get_for_update(&mut self, id: &str) -> StoreResult<Option<Document>>;
    /// Reads documents the job is about to read one by one (`lock`: and change), in one round
    /// trip where the store is far away (PostgreSQL): a clock step reads its 500 payouts or
    /// accounts so, not in 500 round trips. Later reads of them within the job take them from
    /// what was read here. The embedded store, in process, reads each when asked.
    fn prefetch(&mut self, _ids: &[&str], _lock: bool) -> StoreResult<()> {
        Ok(())
    }
    fn insert(&mut self, doc: Document) -> StoreResult<()>;
    /// Replaces the body (and the deleted flag) of an existing document.
    fn update(&mut self, id: &str, body: &str, deleted: bool) -> StoreResult<()>;
    fn list(&mut self, query: &ListQuery) -> StoreResult<Vec<Document>>;

    fn idempotency_get(&mut self, scope: &str) -> StoreResult<Option<IdempotencyRecord>>;
    fn idempotency_put(&mut self, record: &IdempotencyRecord) -> StoreResult<()>;
    /// Forgets records created before `before` (unix seconds); returns how many.
    fn idempotency_prune(&mut self, before: i64) -> StoreResult<u64>;

    /// Platform ids in the order they were made (the first is the default platform).
    fn platforms(&mut self) -> StoreResult<Vec<String>>;
    fn insert_platform(&mut self, id: &str, ordinal: i64, created: i64) -> StoreResult<()>;
    fn api_keys(&mut self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Replaces the platform's keys of that mode and kind with this one.
    fn set_api_key(&mut self, key: &ApiKeyRecord, created: i64) -> StoreResult<()>;

    /// Appends postings and adds them to the running balances (in this writer's own shard, so
    /// concurrent writers never contend for one balance row).
    fn post(&mut self, postings: &[Posting]) -> StoreResult<()>;
    /// A ledger account's totals by currency and availability date.
    fn balance(&mut self, ledger_account: &str, livemode: bool) -> StoreResult<Vec<BalanceSlice>>;
    /// Serialises debits of one ledger account until the transaction ends (PostgreSQL runs
    /// writers in parallel; the embedded store has one writer and needs nothing).
    fn lock_ledger_account(&mut self, ledger_account: &str, currency: &str) -> StoreResult<()>;
    /// Checks every ledger invariant; returns one line per violation.
    fn verify_ledger(&mut self) -> StoreResult<Vec<String>>;
    /// Stripe accounts (`acct_...`, of every platform) with postings that become available in
    /// `(from, up_to]`: at most `limit`, in id order after `after_account`.
    fn accounts_available_between(
        &mut self,
        livemode: bool,
        from: i64,
        up_to: i64,
        after_account: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
    /// Non-zero totals of the ledger accounts whose name starts with `prefix`.
    fn ledger_totals_with_prefix(
        &mut self,
        prefix: &str,
        livemode: bool,
    ) -> StoreResult<Vec<LedgerTotal>>;

    /// Schedules work, every timer in one statement (`id`s are ignored: the store numbers
    /// timers, in the order given).
    fn timers_add(&mut self, timers: &[Timer]) -> StoreResult<()>;
    /// A platform's timers due at or before `up_to`, oldest first.
    fn timers_due(
        &mut self,
        platform: &str,
        livemode: bool,
        up_to: i64,
        limit: usize,
    ) -> StoreResult<Vec<Timer>>;
    /// Removes timers that ran (a scheduler step's page of them at once: one round trip on
    /// PostgreSQL).
    fn timers_remove(&mut self, ids: &[i64]) -> StoreResult<()>;

    /// Notes that `account`'s balance may have something to pay out from `since` on (keeps the
    /// earliest moment when the account is already noted).
    fn payout_candidate_mark(
        &mut self,
        platform: &str,
        livemode: bool,
        account: &str,
        since: i64,
    ) -> StoreResult<()>;
    /// Accounts noted with `since <= up_to`, in id order after `after`, each with where its
    /// last sweep stopped. Their notes stay locked until the transaction ends, so the sweep
    /// reads each account's balance after them: a payment that found a note already early
    /// enough (and so left it alone) has then either committed, its funds visible to the sweep,
    /// or waits for the sweep and notes again.
    fn payout_candidates_due(
        &mut self,
        platform: &str,
        livemode: bool,
        up_to: i64,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Records a sweep: where it stopped, and when the account next has something to pay out
    /// (`NOTHING_DUE`: not until new money arrives).
    fn payout_candidate_set(
        &mut self,
        platform: &str,
        livemode: bool,
        account: &str,
        since: i64,
        sweep_after: &str,
    ) -> StoreResult<()>;

    /// Queues an event for one endpoint.
    fn outbox_insert(&mut self, entry: &OutboxEntry) -> StoreResult<()>;
    /// The endpoints that have queued entries, due or not.
    fn outbox_endpoints(&mut self) -> StoreResult<Vec<String>>;
    /// `endpoint`'s entries due by `now_ms`, soonest first.
    fn outbox_due(
        &mut self,
        endpoint: &str,
        now_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>>;
    fn outbox_get(&mut self, id: &str) -> StoreResult<Option<OutboxEntry>>;
    fn outbox_reschedule(
        &mut self,
        id: &str,
        attempts: i64,
        next_attempt_ms: i64,
    ) -> StoreResult<()>;
    fn outbox_remove(&mut self, id: &str) -> StoreResult<()>;
    fn delivery_insert(&mut self, attempt: &DeliveryAttempt) -> StoreResult<()>;
    /// Events (any platform) with ids after `after` and below `below`, in id order.
    fn events_between(
        &mut self,
        after: &str,
        below: &str,
        limit: usize,
    ) -> StoreResult<Vec<Document>>;
    /// Where the webhook feed stands: every event up to this id has been delivered or queued
    /// in the outbox (`None` before the first is saved).
    fn feed_cursor(&mut self) -> StoreResult<Option<String>>;
    fn set_feed_cursor(&mut self, after: &str) -> StoreResult<()>;
    /// Every logged attempt to deliver `event`, oldest first.
    fn deliveries(&mut self, event: &str) -> StoreResult<Vec<DeliveryAttempt>>;
    /// Forgets events whose id is below `before_event_id` (ids are time-ordered), with their
    /// queued deliveries and the delivery log older than `before_ms`; returns the events removed.
    fn prune_events(&mut self, before_event_id: &str, before_ms: i64) -> StoreResult<u64>;

    /// Opens a nested savepoint around one command, so its changes can be undone while the
    /// record of its answer (idempotency) still commits.
    fn begin_command(&mut self) -> StoreResult<()>;
    /// Closes the savepoint, keeping or undoing the command's changes.
    fn end_command(&mut self, keep: bool) -> StoreResult<()>;
}

/// A command queued for the writer: it runs inside a savepoint and returns whether its changes
/// stand, plus how to answer its caller once the batch's fate is known.
pub(crate) type WriteJob = Box<dyn FnOnce(&mut dyn Tx) -> (bool, Deliver) + Send>;
pub(crate) type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;

/// Wraps a typed command into a job and the receiver of its answer. From the moment it runs
/// until its answer is delivered, the job is an open write on `horizon` (a job waiting in a
/// queue has made no id yet, and holds nothing back).
fn make_job<T, E, F>(
    command: F,
    horizon: Arc<horizon::Horizon>,
) -> (WriteJob, tokio::sync::oneshot::Receiver<Result<T, E>>)
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let job: WriteJob = Box::new(move |tx: &mut dyn Tx| {
        let open = horizon.open();
        let result = command(tx);
        let keep = result.is_ok();
        let deliver: Deliver = Box::new(move |commit_error: Option<StoreError>| {
            drop(open);
            let answer = match commit_error {
                // The batch did not commit: nothing this command did stands.
                Some(error) => Err(E::from(error)),
                None => result,
            };
            let _ = sender.send(answer);
        });
        (keep, deliver)
    });
    (job, receiver)
}

/// Which of the writer's inboxes a command goes to (see `write`, `write_background`,
/// `write_scheduled`).
#[derive(Clone, Copy)]
pub(crate) enum Lane {
    Api,
    Background,
    Scheduled,
}

/// A queued write's answer, once its changes are durable (`Store::write_scheduled`).
pub struct PendingWrite<T, E> {
    receiver: tokio::sync::oneshot::Receiver<Result<T, E>>,
}

impl<T, E: From<StoreError>> PendingWrite<T, E> {
    pub async fn answer(self) -> Result<T, E> {
        self.receiver
            .await
            .unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }
}

/// Read transactions running at once, at most: each holds a pooled connection, and a read past
/// the pool would open (and close) a connection of its own, which cost a third of the CPU of
/// webhook delivery in profiles (on PostgreSQL it is a new server process each time).
pub(crate) const READERS: usize = 8;

/// The distinct endpoints of the outbox, one index seek each (a loose index scan: the outbox
/// can hold millions of rows for a handful of endpoints).
const OUTBOX_ENDPOINTS: &str = "WITH RECURSIVE queued(endpoint) AS (
        SELECT MIN(endpoint) FROM webhook_outbox
        UNION ALL
        SELECT (SELECT MIN(endpoint) FROM webhook_outbox WHERE endpoint > queued.endpoint)
          FROM queued WHERE queued.endpoint IS NOT NULL
    )
    SELECT endpoint FROM queued WHERE endpoint IS NOT NULL";

#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    read_slots: Arc<tokio::sync::Semaphore>,
    horizon: Arc<horizon::Horizon>,
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(Box<postgres::PgStore>),
}

impl Store {
    pub fn open_sqlite(dir: &std::path::Path) -> anyhow::Result<Store> {
        Ok(Store::new(Backend::Sqlite(sqlite::SqliteStore::open(dir)?)))
    }

    pub fn open_postgres(url: &str) -> anyhow::Result<Store> {
        Ok(Store::new(Backend::Postgres(Box::new(
            postgres::PgStore::open(url)?,
        ))))
    }

    fn new(backend: Backend) -> Store {
        Store {
            backend: Arc::new(backend),
            read_slots: Arc::new(tokio::sync::Semaphore::new(READERS)),
            horizon: Arc::default(),
        }
    }

    /// Every event id below this one belongs to a write that has ended: reading events in id
    /// order up to here skips none that a running write will still commit.
    pub fn settled_event_bound(&self) -> String {
        crate::ids::first_id_of(
            crate::domain::objects::EVENT_ID_PREFIX,
            self.horizon.settled(),
        )
    }

    /// Whether writes run one at a time in the order they were queued (the embedded store's
    /// single writer), so that queued commands never wait on each other's locks.
    pub fn writes_in_queue_order(&self) -> bool {
        matches!(&*self.backend, Backend::Sqlite(_))
    }

    pub fn kind(&self) -> &'static str {
        match &*self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs a command in a write transaction; answers only once its changes are durable.
    pub async fn write<T, E, F>(&self, command: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.submit_write(command, Lane::Api).await
    }

    /// `write` for work no request waits on (webhook bookkeeping): on the embedded store it
    /// yields the writer to API commands, taking a small share of each busy batch; on
    /// PostgreSQL it runs apart from them, one command per transaction.
    pub async fn write_background<T, E, F>(&self, command: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.submit_write(command, Lane::Background).await
    }

    /// Queues a step of scheduled work (a clock run's) and returns once it is queued, with its
    /// answer still to come (`PendingWrite::answer`): a caller can queue the next step behind
    /// it, and the writer runs that one while this one's commit is made durable. Steps queued
    /// one after another by one caller run in that order on the embedded store, each in a batch
    /// of its own, taking turns with API commands; on PostgreSQL they run as API commands do,
    /// and may run at once on different connections (`writes_in_queue_order`).
    pub async fn write_scheduled<T, E, F>(&self, command: F) -> Result<PendingWrite<T, E>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.queue_write(command, Lane::Scheduled).await
    }

    async fn submit_write<T, E, F>(&self, command: F, lane: Lane) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.queue_write(command, lane).await?.answer().await
    }

    async fn queue_write<T, E, F>(&self, command: F, lane: Lane) -> Result<PendingWrite<T, E>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (job, receiver) = make_job(command, self.horizon.clone());
        match &*self.backend {
            Backend::Sqlite(store) => store.submit(job, lane)?,
            Backend::Postgres(store) => match lane {
                Lane::Api | Lane::Scheduled => store.submit(job).await?,
                Lane::Background => store.submit_background(job)?,
            },
        }
        Ok(PendingWrite { receiver })
    }

    /// Runs a command in a read-only transaction (a consistent snapshot).
    pub async fn read<T, E, F>(&self, command: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let Ok(slot) = self.read_slots.clone().acquire_owned().await else {
            return Err(E::from(StoreError::Closed));
        };
        let backend = self.backend.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            match &*backend {
                Backend::Sqlite(store) => store.read(command),
                Backend::Postgres(store) => store.read(command),
            }
        })
        .await;
        joined.unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }

    /// The same as `write`, for code outside the async runtime (start-up, the CLI).
    pub fn write_blocking<T, E, F>(&self, command: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (job, receiver) = make_job(command, self.horizon.clone());
        match &*self.backend {
            Backend::Sqlite(store) => store.submit(job, Lane::Api)?,
            Backend::Postgres(store) => store.run_blocking(job),
        }
        receiver
            .blocking_recv()
            .unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }
}
