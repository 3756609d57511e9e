//! The PostgreSQL store. Writes go to two worker threads, each owning one connection; a worker
//! takes every queued command it can, runs them in one transaction (each in a savepoint once it
//! changes or locks something, see `run_batch`) and commits them together, as the embedded store
//! does, because one commit per payment caps throughput on a shared disk. Reads use a pool of
//! connections, one read-only transaction per command.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;

use super::pending::{MarkKey, Pending, Since};
use super::{
    migrations, ApiKeyRecord, BalanceSlice, Cursor, Deliver, DeliveryAttempt, Document, FieldValue,
    IdempotencyRecord, KeyKind, LedgerTotal, ListQuery, OutboxEntry, Posting, StoreError,
    StoreResult, Timer, Tx, Unsent, WriteJob, MAX_UNSENT,
};

/// Connections that run API writes, each a batch at a time. Two keep both of this machine's
/// cores busy while a batch waits on a round trip or its commit, and make batches twice the
/// size four made: what a batch writes once (its balance changes and marks, its commit) is
/// shared by more payments (payments 2,515-2,603/s against 2,239-2,355/s with four, p99 28-32
/// ms against 49-53 ms; one: 1,147-1,171/s).
const WRITERS: usize = 2;
const MAX_BATCH: usize = 64;

pub struct PgStore {
    config: Config,
    queue: Sender<WriteJob>,
    /// Background commands (webhook bookkeeping) run one per transaction on a connection of
    /// their own: batched with API commands, a delivery's lock on its event and a payment's on
    /// its account's rows met in opposite orders and deadlocked whole batches.
    background: Sender<WriteJob>,
    /// Read connections with the statements they have prepared (a prepare is a round trip).
    readers: Mutex<Vec<(Client, Statements)>>,
}

fn connect(config: &Config) -> StoreResult<Client> {
    Ok(config.connect(NoTls)?)
}

fn migrate(client: &mut Client) -> anyhow::Result<()> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)",
    )?;
    let mut tx = client.transaction()?;
    // One migrator at a time, even with several servers starting together.
    tx.batch_execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")?;
    let applied: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    for (index, step) in migrations::POSTGRES.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= applied {
            continue;
        }
        tx.batch_execute(step)
            .with_context(|| format!("applying migration {version}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied) VALUES ($1, extract(epoch from now())::bigint)",
            &[&version],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl PgStore {
    pub fn open(url: &str) -> anyhow::Result<PgStore> {
        let mut config: Config = url
            .parse()
            .context("the --database-url is not a valid PostgreSQL URL")?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let mut first = connect(&config).map_err(|error| {
            anyhow::anyhow!("cannot connect to PostgreSQL ({}): {error}", redact(url))
        })?;
        migrate(&mut first).context("cannot prepare the PostgreSQL schema")?;
        let mut clients = vec![first];
        for _ in 1..WRITERS {
            clients.push(connect(&config).context("cannot open a PostgreSQL connection")?);
        }
        let (queue, jobs) = crossbeam_channel::unbounded::<WriteJob>();
        for (index, client) in clients.into_iter().enumerate() {
            let jobs = jobs.clone();
            let config = config.clone();
            std::thread::Builder::new()
                .name(format!("sluice-pg-writer-{index}"))
                .spawn(move || run_writer(client, index as i32, config, jobs, MAX_BATCH))
                .context("cannot start a writer thread")?;
        }
        let (background, background_jobs) = crossbeam_channel::unbounded::<WriteJob>();
        let client = connect(&config).context("cannot open a PostgreSQL connection")?;
        let background_config = config.clone();
        std::thread::Builder::new()
            .name("sluice-pg-background".into())
            .spawn(move || {
                run_writer(
                    client,
                    WRITERS as i32,
                    background_config,
                    background_jobs,
                    1,
                )
            })
            .context("cannot start the background writer thread")?;
        Ok(PgStore {
            config,
            queue,
            background,
            readers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) async fn submit(&self, job: WriteJob) -> StoreResult<()> {
        self.queue.send(job).map_err(|_| StoreError::Closed)
    }

    pub(crate) fn submit_background(&self, job: WriteJob) -> StoreResult<()> {
        self.background.send(job).map_err(|_| StoreError::Closed)
    }

    /// Runs one job on its own connection, outside the writer threads (start-up, the CLI).
    pub(crate) fn run_blocking(&self, job: WriteJob) {
        let _ = self.queue.send(job);
    }

    pub(crate) fn read<T, E, F>(&self, command: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        let pooled = self.readers.lock().ok().and_then(|mut pool| pool.pop());
        let (mut client, mut statements) = match pooled {
            Some((client, statements)) if !client.is_closed() => (client, statements),
            _ => (
                connect(&self.config).map_err(E::from)?,
                Statements::default(),
            ),
        };
        let result = match client.build_transaction().read_only(true).start() {
            Ok(mut tx) => {
                let result = command(&mut PgTx {
                    raw: &mut tx,
                    statements: &mut statements,
                    writing: false,
                    unsent: &mut Unsent::default(),
                    pending: &mut Pending::default(),
                    savepoint_open: &mut false,
                    job_savepoint: false,
                    command: None,
                    wrote: false,
                    prefetched: HashMap::new(),
                });
                let _ = tx.rollback();
                result
            }
            Err(error) => Err(E::from(error.into())),
        };
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < super::READERS && !client.is_closed() {
                pool.push((client, statements));
            }
        }
        result
    }
}

impl Drop for PgStore {
    /// The `postgres` client blocks on its own runtime when dropped, which panics inside an
    /// async context (the server's shutdown): close the pooled connections on a plain thread.
    fn drop(&mut self) {
        let clients = match self.readers.lock() {
            Ok(mut pool) => std::mem::take(&mut *pool),
            Err(_) => return,
        };
        let _ = std::thread::spawn(move || drop(clients)).join();
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Set on every writer connection. Each statement a writer runs finds its rows by an index;
/// a prepared statement keeps the generic plan made at its sixth run, and a plan made while a
/// table was small (a fresh database) scanned it whole on every run as it grew: the flush's
/// change of documents took 20 ms to 380 ms a call in some clock advances, until an `ANALYZE`
/// that may never come in a short run. Without sequential scans to choose from, the plan
/// is the index's whatever the table's size then.
const WRITER_SESSION: &str = "SET enable_seqscan = off";

fn set_up_writer_session(client: &mut Client) {
    if let Err(error) = client.batch_execute(WRITER_SESSION) {
        tracing::error!(%error, "cannot set up a PostgreSQL writer session");
    }
}

fn run_writer(
    mut client: Client,
    shard: i32,
    config: Config,
    jobs: Receiver<WriteJob>,
    max_batch: usize,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(max_batch);
    let mut deliveries: Vec<Deliver> = Vec::with_capacity(max_batch);
    let mut statements = Statements::default();
    set_up_writer_session(&mut client);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if client.is_closed() {
            if let Ok(mut fresh) = connect(&config) {
                set_up_writer_session(&mut fresh);
                client = fresh;
                statements = Statements::default();
            }
        }
        let outcome = run_batch(
            &mut client,
            shard,
            &mut statements,
            &mut batch,
            &mut deliveries,
        );
        if let Err(error) = &outcome {
            tracing::error!(%error, "PostgreSQL batch failed; it is rolled back");
            // A failed prepare may have left statements that no longer exist server-side.
            statements = Statements::default();
        }
        for deliver in deliveries.drain(..) {
            deliver(outcome.clone().err());
        }
        // Jobs left in the batch never ran (the transaction could not start): fail them.
        for job in batch.drain(..) {
            let (_, deliver) = job(&mut FailingTx);
            deliver(Some(outcome.clone().err().unwrap_or(StoreError::Closed)));
        }
    }
}

/// Prepared statements of one connection, by SQL text: one round trip per query instead of two.
#[derive(Default)]
struct Statements {
    by_sql: HashMap<String, Statement>,
    /// The statement that sends a command's unsent rows, per combination of tables they are for.
    flush: [Option<Statement>; 8],
}

/// Which kinds of unsent rows a flush sends.
#[derive(Clone, Copy)]
struct FlushParts {
    docs: bool,
    updates: bool,
    postings: bool,
}

impl FlushParts {
    fn index(self) -> usize {
        usize::from(self.docs) | usize::from(self.updates) << 1 | usize::from(self.postings) << 2
    }

    /// One statement for every part: data-modifying `WITH` clauses run to completion whether or
    /// not anything reads them. The parts' rows are disjoint (a change to an unsent document is
    /// made in its unsent row), so it does not matter that they cannot see each other's.
    fn sql(self) -> String {
        let mut parts: Vec<&str> = Vec::with_capacity(4);
        if self.docs {
            parts.push(INSERT_DOCS);
        }
        if self.updates {
            parts.push(UPDATE_DOCS);
        }
        if self.postings {
            parts.push(INSERT_POSTINGS);
        }
        let mut sql = String::new();
        let mut offset = 0;
        let last = parts.len().saturating_sub(1);
        for (index, part) in parts.iter().enumerate() {
            let (renumbered, count) = renumber(part, offset);
            offset += count;
            if index < last {
                sql.push_str(if index == 0 { "WITH " } else { ", " });
                sql.push_str(&format!("part{index} AS ({renumbered})"));
            } else {
                sql.push(' ');
                sql.push_str(&renumbered);
            }
        }
        sql
    }
}

/// `sql` with every placeholder `$n` moved to `$(n + offset)`, and the highest `n` in it.
fn renumber(sql: &str, offset: usize) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: usize = rest[..digits].parse().unwrap_or(0);
        highest = highest.max(number);
        out.push_str(&(number + offset).to_string());
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, highest)
}

/// Bounds the cache; list queries vary by which filters are present.
const MAX_STATEMENTS: usize = 256;

impl Statements {
    fn get(&mut self, tx: &mut postgres::Transaction<'_>, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.by_sql.get(sql) {
            return Ok(statement.clone());
        }
        let statement = tx.prepare(sql)?;
        if self.by_sql.len() >= MAX_STATEMENTS {
            self.by_sql.clear();
        }
        self.by_sql.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    fn flush(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        parts: FlushParts,
    ) -> StoreResult<Statement> {
        let slot = &mut self.flush[parts.index()];
        if let Some(statement) = slot {
            return Ok(statement.clone());
        }
        let statement = tx.prepare(&parts.sql())?;
        *slot = Some(statement.clone());
        Ok(statement)
    }
}

/// Runs every job of a batch in one transaction, so one failing job leaves its batch-mates
/// intact: a job opens the savepoint `job` before the first statement of its that changes or
/// locks something, and rolls back to it if it fails. A job that only reads before its rows go
/// out (a payment) needs none: a round trip fewer. Releasing one job's savepoint and opening
/// the next go out as one round trip.
fn run_batch(
    client: &mut Client,
    shard: i32,
    statements: &mut Statements,
    batch: &mut Vec<WriteJob>,
    deliveries: &mut Vec<Deliver>,
) -> StoreResult<()> {
    let mut tx = client.transaction()?;
    let mut unsent = Unsent::default();
    let mut pending = Pending::default();
    let mut savepoint_open = false;
    while let Some(job) = pop_front(batch) {
        let mut pg = PgTx {
            raw: &mut tx,
            statements: &mut *statements,
            writing: true,
            unsent: &mut unsent,
            pending: &mut pending,
            savepoint_open: &mut savepoint_open,
            job_savepoint: false,
            command: None,
            wrote: false,
            prefetched: HashMap::new(),
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut pg)));
        // A command's rows go out last, in one statement; a failed or panicked command's never
        // do. Rows the server refuses fail the whole batch: each command's answer was made
        // believing them written (so they need no savepoint of the job's).
        let sent = match &outcome {
            Ok((true, _)) => pg.send_unsent(),
            _ => {
                pg.unsent.clear();
                Ok(())
            }
        };
        let kept = matches!(outcome, Ok((true, _)));
        pg.pending.end_job(kept);
        let undo = if pg.job_savepoint {
            "ROLLBACK TO SAVEPOINT job"
        } else {
            // Nothing of the job's went out but reads; had one failed, the transaction would
            // refuse this too (and a COMMIT would roll it back without a word).
            "SELECT 1"
        };
        match outcome {
            Ok((keep, deliver)) => {
                deliveries.push(deliver);
                sent?;
                if !keep {
                    tx.batch_execute(undo)?;
                }
            }
            Err(_) => {
                tracing::error!("a write command panicked; its changes are rolled back");
                tx.batch_execute(undo)?;
            }
        }
    }
    add_to_balances(&mut tx, statements, shard, pending.take_balance_changes())?;
    let marks = pending.take_marks();
    write_marks(
        &mut tx,
        statements,
        marks.iter().map(|(key, since)| (key, *since)),
    )?;
    tx.commit()?;
    Ok(())
}

/// Notes accounts as payout candidates from the marks' `since` on (an earlier one stays), one
/// account at a time: a key-share lock on a row already early enough lets batches note it side
/// by side (an upsert would lock it exclusively, whatever its WHERE says, and queue every batch
/// that pays the account behind the one before it until it commits) and still orders them
/// against a sweep, which locks it for update (see `payout_candidates_due`). Marks come in key
/// order, so batches lock rows in the same order.
fn write_marks<'k>(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    marks: impl IntoIterator<Item = (&'k MarkKey, Since)>,
) -> StoreResult<()> {
    for ((platform, livemode, account), Since(since)) in marks {
        let current = statements.get(tx, NOTED_CANDIDATE)?;
        let noted = tx
            .query_opt(&current, &[platform, livemode, account])?
            .map(|row| row.get::<_, i64>(0));
        if noted.is_some_and(|noted| noted <= since) {
            continue;
        }
        let statement = statements.get(tx, MARK_CANDIDATE)?;
        tx.execute(&statement, &[platform, livemode, account, &since])?;
    }
    Ok(())
}

/// Adds a batch's running-balance changes to this writer's shard of each row (see `Pending`).
fn add_to_balances(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    shard: i32,
    slices: Vec<((String, bool, String, i64), i64)>,
) -> StoreResult<()> {
    if slices.is_empty() {
        return Ok(());
    }
    let accounts: Vec<&str> = slices.iter().map(|(key, _)| key.0.as_str()).collect();
    let livemodes: Vec<bool> = slices.iter().map(|(key, _)| key.1).collect();
    let currencies: Vec<&str> = slices.iter().map(|(key, _)| key.2.as_str()).collect();
    let available_on: Vec<i64> = slices.iter().map(|(key, _)| key.3).collect();
    let amounts: Vec<i64> = slices.iter().map(|(_, amount)| *amount).collect();
    let statement = statements.get(tx, ADD_TO_BALANCES)?;
    tx.execute(
        &statement,
        &[
            &accounts,
            &livemodes,
            &currencies,
            &available_on,
            &shard,
            &amounts,
        ],
    )?;
    Ok(())
}

fn pop_front(batch: &mut Vec<WriteJob>) -> Option<WriteJob> {
    if batch.is_empty() {
        None
    } else {
        Some(batch.remove(0))
    }
}

/// Stands in for a transaction that could not start, so a job can still produce its answer.
struct FailingTx;

fn closed<T>() -> StoreResult<T> {
    Err(StoreError::Closed)
}

impl Tx for FailingTx {
    fn get(&mut self, _: &str) -> StoreResult<Option<Document>> {
        closed()
    }
    fn get_for_update(&mut self, _: &str) -> StoreResult<Option<Document>> {
        closed()
    }
    fn insert(&mut self, _: Document) -> StoreResult<()> {
        closed()
    }
    fn update(&mut self, _: &str, _: &str, _: bool) -> StoreResult<()> {
        closed()
    }
    fn list(&mut self, _: &ListQuery) -> StoreResult<Vec<Document>> {
        closed()
    }
    fn idempotency_get(&mut self, _: &str) -> StoreResult<Option<IdempotencyRecord>> {
        closed()
    }
    fn idempotency_put(&mut self, _: &IdempotencyRecord) -> StoreResult<()> {
        closed()
    }
    fn idempotency_prune(&mut self, _: i64) -> StoreResult<u64> {
        closed()
    }
    fn platforms(&mut self) -> StoreResult<Vec<String>> {
        closed()
    }
    fn insert_platform(&mut self, _: &str, _: i64, _: i64) -> StoreResult<()> {
        closed()
    }
    fn api_keys(&mut self) -> StoreResult<Vec<ApiKeyRecord>> {
        closed()
    }
    fn set_api_key(&mut self, _: &ApiKeyRecord, _: i64) -> StoreResult<()> {
        closed()
    }
    fn post(&mut self, _: &[Posting]) -> StoreResult<()> {
        closed()
    }
    fn balance(&mut self, _: &str, _: bool) -> StoreResult<Vec<BalanceSlice>> {
        closed()
    }
    fn lock_ledger_account(&mut self, _: &str, _: &str) -> StoreResult<()> {
        closed()
    }
    fn outbox_insert(&mut self, _: &OutboxEntry) -> StoreResult<()> {
        closed()
    }
    fn outbox_endpoints(&mut self) -> StoreResult<Vec<String>> {
        closed()
    }
    fn outbox_due(&mut self, _: &str, _: i64, _: usize) -> StoreResult<Vec<OutboxEntry>> {
        closed()
    }
    fn outbox_get(&mut self, _: &str) -> StoreResult<Option<OutboxEntry>> {
        closed()
    }
    fn outbox_reschedule(&mut self, _: &str, _: i64, _: i64) -> StoreResult<()> {
        closed()
    }
    fn outbox_remove(&mut self, _: &str) -> StoreResult<()> {
        closed()
    }
    fn delivery_insert(&mut self, _: &DeliveryAttempt) -> StoreResult<()> {
        closed()
    }
    fn deliveries(&mut self, _: &str) -> StoreResult<Vec<DeliveryAttempt>> {
        closed()
    }
    fn events_between(&mut self, _: &str, _: &str, _: usize) -> StoreResult<Vec<Document>> {
        closed()
    }
    fn feed_cursor(&mut self) -> StoreResult<Option<String>> {
        closed()
    }
    fn set_feed_cursor(&mut self, _: &str) -> StoreResult<()> {
        closed()
    }
    fn prune_events(&mut self, _: &str, _: i64) -> StoreResult<u64> {
        closed()
    }
    fn begin_command(&mut self) -> StoreResult<()> {
        closed()
    }
    fn end_command(&mut self, _: bool) -> StoreResult<()> {
        closed()
    }
    fn verify_ledger(&mut self) -> StoreResult<Vec<String>> {
        closed()
    }
    fn ledger_totals_with_prefix(&mut self, _: &str, _: bool) -> StoreResult<Vec<LedgerTotal>> {
        closed()
    }
    fn timers_add(&mut self, _: &[Timer]) -> StoreResult<()> {
        closed()
    }
    fn accounts_available_between(
        &mut self,
        _: bool,
        _: i64,
        _: i64,
        _: &str,
        _: usize,
    ) -> StoreResult<Vec<String>> {
        closed()
    }
    fn timers_due(&mut self, _: &str, _: bool, _: i64, _: usize) -> StoreResult<Vec<Timer>> {
        closed()
    }
    fn timers_remove(&mut self, _: &[i64]) -> StoreResult<()> {
        closed()
    }
    fn payout_candidate_mark(&mut self, _: &str, _: bool, _: &str, _: i64) -> StoreResult<()> {
        closed()
    }
    fn payout_candidates_due(
        &mut self,
        _: &str,
        _: bool,
        _: i64,
        _: &str,
        _: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        closed()
    }
    fn payout_candidate_set(
        &mut self,
        _: &str,
        _: bool,
        _: &str,
        _: i64,
        _: &str,
    ) -> StoreResult<()> {
        closed()
    }
}

struct PgTx<'a, 'b> {
    raw: &'a mut postgres::Transaction<'b>,
    statements: &'a mut Statements,
    /// In a write transaction, reads lock the rows they return (read, change, write back
    /// must not lose a concurrent writer's change).
    writing: bool,
    /// Rows written but not yet sent (see `Unsent`).
    unsent: &'a mut Unsent,
    /// Running-balance changes of sent postings and payout-candidate marks, written before the
    /// batch commits.
    pending: &'a mut Pending,
    /// Whether a savepoint `job` is open in the batch (this job's or an earlier one's).
    savepoint_open: &'a mut bool,
    /// Whether this job opened its savepoint (see `run_batch`).
    job_savepoint: bool,
    /// The command running inside the job (`begin_command`), if any, and whether it has a
    /// savepoint of its own. A command that begins before its job has written anything shares
    /// the job's savepoint: two round trips fewer per request.
    command: Option<bool>,
    /// Whether a statement that may have changed something went out since the job's savepoint.
    wrote: bool,
    /// Documents read ahead (`prefetch`), with whether they were locked, as the database held
    /// them then; an entry goes when its document's change is sent or a command is rolled
    /// back. Documents change only through the unsent rows (and event pruning, which nothing
    /// reads ahead).
    prefetched: HashMap<String, (Document, bool)>,
}

impl<'b> PgTx<'_, 'b> {
    /// The transaction, once every unsent row is in it: whatever runs next sees them.
    fn tx(&mut self) -> StoreResult<&mut postgres::Transaction<'b>> {
        self.flush()?;
        self.open_job_savepoint()?;
        self.wrote = true;
        Ok(self.raw)
    }

    /// Opens the job's savepoint, before its first statement that changes or locks something
    /// (in a write transaction; reads need none).
    fn open_job_savepoint(&mut self) -> StoreResult<()> {
        if self.job_savepoint || !self.writing {
            return Ok(());
        }
        self.raw.batch_execute(if *self.savepoint_open {
            "RELEASE SAVEPOINT job; SAVEPOINT job"
        } else {
            "SAVEPOINT job"
        })?;
        *self.savepoint_open = true;
        self.job_savepoint = true;
        Ok(())
    }

    /// Writes every pending mark before payout candidates are read or set here. The marks stay
    /// pending: written again before the batch commits, they change nothing, and a rollback of
    /// this job or command cannot lose those of the jobs before it.
    fn write_pending_marks(&mut self) -> StoreResult<()> {
        if !self.pending.has_marks() {
            return Ok(());
        }
        let marks = self.pending.unwritten_marks();
        if marks.is_empty() {
            return Ok(());
        }
        self.open_job_savepoint()?;
        self.wrote = true;
        write_marks(
            self.raw,
            self.statements,
            marks.iter().map(|(key, since)| (key, *since)),
        )?;
        self.pending.marks_written(&marks);
        Ok(())
    }

    /// A prepared statement that needs none of the unsent rows in the database: nothing is sent
    /// first.
    fn unflushed_statement(&mut self, sql: &str) -> StoreResult<Statement> {
        self.statements.get(self.raw, sql)
    }

    /// A document by id, as this command left it: unsent rows are read where they wait.
    fn get_doc(&mut self, sql: &str, id: &str, lock: bool) -> StoreResult<Option<Document>> {
        let (raw, statements) = (&mut *self.raw, &mut *self.statements);
        let prefetched = &self.prefetched;
        self.unsent.read_through(id, || {
            if let Some((doc, locked)) = prefetched.get(id) {
                if *locked || !lock {
                    return Ok(Some(doc.clone()));
                }
            }
            let statement = statements.get(raw, sql)?;
            Ok(raw
                .query_opt(&statement, &[&id])?
                .map(|row| doc_from_row(&row)))
        })
    }

    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        self.flush()?;
        self.statements.get(self.raw, sql)
    }

    /// Bounds what waits (and the searches `update` makes through it).
    fn flush_if_full(&mut self) -> StoreResult<()> {
        if self.unsent.len() >= MAX_UNSENT {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends the unsent rows before the command goes on (whatever it does next sees them).
    fn flush(&mut self) -> StoreResult<()> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        self.open_job_savepoint()?;
        self.send_unsent()
    }

    /// Sends the unsent rows, whatever their tables and number, as one statement: one round trip.
    fn send_unsent(&mut self) -> StoreResult<()> {
        let unsent = &*self.unsent;
        if unsent.is_empty() {
            return Ok(());
        }
        let parts = FlushParts {
            docs: !unsent.docs.is_empty(),
            updates: !unsent.updates.is_empty(),
            postings: !unsent.postings.is_empty(),
        };
        let statement = self.statements.flush(self.raw, parts)?;
        let docs = &unsent.docs;
        let ids: Vec<&str> = docs.iter().map(|doc| doc.id.as_str()).collect();
        let objects: Vec<&str> = docs.iter().map(|doc| doc.object).collect();
        let platforms: Vec<&str> = docs.iter().map(|doc| doc.platform.as_str()).collect();
        let accounts: Vec<&str> = docs.iter().map(|doc| doc.account.as_str()).collect();
        let livemodes: Vec<bool> = docs.iter().map(|doc| doc.livemode).collect();
        let created: Vec<i64> = docs.iter().map(|doc| doc.created).collect();
        let parents: Vec<Option<&str>> = docs.iter().map(|doc| doc.parent.as_deref()).collect();
        let deleted: Vec<bool> = docs.iter().map(|doc| doc.deleted).collect();
        let bodies: Vec<&str> = docs.iter().map(|doc| doc.body.as_str()).collect();
        let updates = &unsent.updates;
        let update_ids: Vec<&str> = updates.iter().map(|u| u.id.as_str()).collect();
        let update_bodies: Vec<&str> = updates.iter().map(|u| u.body.as_str()).collect();
        let update_deleted: Vec<bool> = updates.iter().map(|u| u.deleted).collect();
        let postings = &unsent.postings;
        let txns: Vec<&str> = postings.iter().map(|p| p.ledger_txn.as_str()).collect();
        let balance_transactions: Vec<Option<&str>> = postings
            .iter()
            .map(|p| p.balance_transaction.as_deref())
            .collect();
        let ledger_accounts: Vec<&str> =
            postings.iter().map(|p| p.ledger_account.as_str()).collect();
        let posting_livemodes: Vec<bool> = postings.iter().map(|p| p.livemode).collect();
        let currencies: Vec<&str> = postings.iter().map(|p| p.currency.as_str()).collect();
        let amounts: Vec<i64> = postings.iter().map(|p| p.amount).collect();
        let available_on: Vec<i64> = postings.iter().map(|p| p.available_on).collect();
        let posting_created: Vec<i64> = postings.iter().map(|p| p.created).collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(20);
        if parts.docs {
            params.extend_from_slice(&[
                &ids, &objects, &platforms, &accounts, &livemodes, &created, &parents, &deleted,
                &bodies,
            ]);
        }
        if parts.updates {
            params.extend_from_slice(&[&update_ids, &update_bodies, &update_deleted]);
        }
        if parts.postings {
            params.extend_from_slice(&[
                &txns,
                &balance_transactions,
                &ledger_accounts,
                &posting_livemodes,
                &currencies,
                &amounts,
                &available_on,
                &posting_created,
            ]);
        }
        self.raw.execute(&statement, &params)?;
        self.pending.add_postings(super::summed_by_slice(postings));
        for update in updates {
            self.prefetched.remove(&update.id);
        }
        self.unsent.clear();
        self.wrote = true;
        Ok(())
    }
}

const DOC_COLUMNS: &str = "id, object, platform, account, livemode, created, parent, deleted, body";
const GET_DOC: &str = "SELECT id, object, platform, account, livemode, created, parent, deleted, body FROM documents WHERE id = $1";
const GET_DOC_FOR_UPDATE: &str = "SELECT id, object, platform, account, livemode, created, parent, deleted, body FROM documents WHERE id = $1 FOR UPDATE";
const GET_DOCS: &str = "SELECT id, object, platform, account, livemode, created, parent, deleted, body FROM documents WHERE id = ANY($1)";
const GET_DOCS_FOR_UPDATE: &str = "SELECT id, object, platform, account, livemode, created, parent, deleted, body FROM documents WHERE id = ANY($1) ORDER BY id FOR UPDATE";
/// Only events have ids in `evt_...`: the range needs no look at `object`.
const EVENTS_BETWEEN: &str =
    "SELECT id, object, platform, account, livemode, created, parent, deleted, body
     FROM documents WHERE id > $1 AND id >= 'evt_' AND id < $2 ORDER BY id LIMIT $3";
const INSERT_DOCS: &str = "INSERT INTO documents (id, object, platform, account, livemode, created, parent, deleted, body)
     SELECT id, object, platform, account, livemode, created, parent, deleted, body
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::int8[], $7::text[], $8::bool[], $9::text[])
       AS rows (id, object, platform, account, livemode, created, parent, deleted, body)";
const INSERT_POSTINGS: &str = "INSERT INTO ledger_entries (ledger_txn, balance_transaction, ledger_account, livemode, currency, amount, available_on, created)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::int8[], $7::int8[], $8::int8[])";
/// Adds to this writer's shard of each balance slice (the rows come summed per slice).
const ADD_TO_BALANCES: &str =
    "INSERT INTO ledger_balances (ledger_account, livemode, currency, available_on, shard, amount)
     SELECT ledger_account, livemode, currency, available_on, $5, amount
     FROM UNNEST($1::text[], $2::bool[], $3::text[], $4::int8[], $6::int8[])
       AS rows (ledger_account, livemode, currency, available_on, amount)
     ON CONFLICT (ledger_account, livemode, currency, available_on, shard)
     DO UPDATE SET amount = ledger_balances.amount + EXCLUDED.amount";
/// See `write_marks`.
const NOTED_CANDIDATE: &str = "SELECT since FROM payout_candidates
     WHERE platform = $1 AND livemode = $2 AND account = $3 FOR KEY SHARE";
const MARK_CANDIDATE: &str =
    "INSERT INTO payout_candidates (platform, livemode, account, since) VALUES ($1, $2, $3, $4)
     ON CONFLICT (platform, livemode, account) DO UPDATE SET since = excluded.since
     WHERE payout_candidates.since > excluded.since";
/// `documents.id = ANY(...)` gives the planner the primary key to find the rows by. Without it
/// the generic plan of the prepared flush, made while the table was small, joined the
/// changes to a sequential scan of every document and kept doing so as the table grew: 83
/// scans of the whole table in a 2,000-account clock advance, 20 ms a flush.
const UPDATE_DOCS: &str = "UPDATE documents SET body = rows.body, deleted = rows.deleted
     FROM UNNEST($1::text[], $2::text[], $3::bool[]) AS rows (id, body, deleted)
     WHERE documents.id = rows.id AND documents.id = ANY($1::text[])";

fn outbox_from_row(row: &postgres::Row) -> OutboxEntry {
    let attempts: i32 = row.get(5);
    OutboxEntry {
        id: row.get(0),
        event: row.get(1),
        endpoint: row.get(2),
        platform: row.get(3),
        livemode: row.get(4),
        attempts: i64::from(attempts),
        next_attempt_ms: row.get(6),
        created_ms: row.get(7),
    }
}

fn doc_from_row(row: &postgres::Row) -> Document {
    let object: &str = row.get(1);
    Document {
        id: row.get(0),
        object: crate::domain::objects::intern(object),
        platform: row.get(2),
        account: row.get(3),
        livemode: row.get(4),
        created: row.get(5),
        parent: row.get(6),
        deleted: row.get(7),
        body: row.get(8),
    }
}

impl Tx for PgTx<'_, '_> {
    fn get(&mut self, id: &str) -> StoreResult<Option<Document>> {
        self.get_doc(GET_DOC, id, false)
    }

    fn get_for_update(&mut self, id: &str) -> StoreResult<Option<Document>> {
        if !self.writing {
            return self.get(id);
        }
        self.open_job_savepoint()?;
        self.get_doc(GET_DOC_FOR_UPDATE, id, true)
    }

    fn prefetch(&mut self, ids: &[&str], lock: bool) -> StoreResult<()> {
        let lock = lock && self.writing;
        let mut wanted: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| {
                self.prefetched
                    .get(*id)
                    .is_none_or(|(_, locked)| lock && !locked)
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // Locked in id order, as any other batch that locks several of them.
        wanted.sort_unstable();
        wanted.dedup();
        let sql = if lock {
            self.open_job_savepoint()?;
            GET_DOCS_FOR_UPDATE
        } else {
            GET_DOCS
        };
        let statement = self.statements.get(self.raw, sql)?;
        for row in self.raw.query(&statement, &[&wanted])? {
            let doc = doc_from_row(&row);
            self.prefetched.insert(doc.id.clone(), (doc, lock));
        }
        Ok(())
    }

    fn insert(&mut self, doc: Document) -> StoreResult<()> {
        self.unsent.docs.push(doc);
        self.flush_if_full()
    }

    fn update(&mut self, id: &str, body: &str, deleted: bool) -> StoreResult<()> {
        self.unsent.stage_update(id, body, deleted);
        self.flush_if_full()
    }

    fn list(&mut self, query: &ListQuery) -> StoreResult<Vec<Document>> {
        let mut values: Vec<Box<dyn ToSql + Sync>> = vec![
            Box::new(query.scope.platform.clone()),
            Box::new(query.scope.account.clone()),
            Box::new(query.scope.livemode),
        ];
        // Children of one parent (an account's external accounts) are few: they are found by
        // the parent alone, the scope checked on them. A prepared statement's generic plan,
        // with statistics from a smaller table, combined the parent's index with the scope's
        // and read every document of the scope (21 ms per payout run at 2,000 accounts); the
        // subquery's OFFSET keeps the scope's conditions out of it.
        let mut sql = match query.parent {
            Some(parent) => {
                values.push(Box::new(parent.to_string()));
                format!(
                    "SELECT {DOC_COLUMNS} FROM (SELECT {DOC_COLUMNS} FROM documents WHERE parent = $4 OFFSET 0) AS children"
                )
            }
            None => format!("SELECT {DOC_COLUMNS} FROM documents"),
        };
        sql.push_str(" WHERE platform = $1 AND account = $2 AND livemode = $3 AND NOT deleted");
        sql.push_str(" AND object IN (");
        for (index, object) in query.objects.iter().enumerate() {
            values.push(Box::new((*object).to_string()));
            sql.push_str(if index == 0 { "$" } else { ", $" });
            sql.push_str(&values.len().to_string());
        }
        sql.push(')');
        let mut bind = |sql: &mut String, clause: &str, value: Box<dyn ToSql + Sync>| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ${}", values.len()));
        };
        for (path, value) in query.filters {
            let text = match value {
                FieldValue::Text(text) => text.clone(),
                FieldValue::Bool(flag) => flag.to_string(),
                FieldValue::Int(number) => number.to_string(),
                FieldValue::AnyText(texts) => {
                    let path = path.replace('.', ",");
                    bind(
                        &mut sql,
                        &format!("body::json #>> '{{{path}}}' = ANY("),
                        Box::new(texts.clone()),
                    );
                    sql.push(')');
                    continue;
                }
            };
            let path = path.replace('.', ",");
            bind(
                &mut sql,
                &format!("body::json #>> '{{{path}}}' ="),
                Box::new(text),
            );
        }
        let range = query.created;
        for (clause, bound) in [
            ("created >", range.gt),
            ("created >=", range.gte),
            ("created <", range.lt),
            ("created <=", range.lte),
        ] {
            if let Some(bound) = bound {
                bind(&mut sql, clause, Box::new(bound));
            }
        }
        let ascending = match query.cursor {
            Cursor::First => false,
            Cursor::After(id) => {
                bind(&mut sql, "id <", Box::new(id.to_string()));
                false
            }
            Cursor::Before(id) => {
                bind(&mut sql, "id >", Box::new(id.to_string()));
                true
            }
        };
        sql.push_str(if ascending {
            " ORDER BY id ASC"
        } else {
            " ORDER BY id DESC"
        });
        sql.push_str(&format!(" LIMIT {}", query.limit));
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| value.as_ref()).collect();
        let statement = self.statement(&sql)?;
        let rows = self.tx()?.query(&statement, &refs)?;
        let mut docs: Vec<Document> = rows.iter().map(doc_from_row).collect();
        if ascending {
            docs.reverse();
        }
        Ok(docs)
    }

    fn idempotency_get(&mut self, scope: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let statement = self.unflushed_statement(
            "SELECT scope, fingerprint, status, body, request_id, created FROM idempotency WHERE scope = $1",
        )?;
        let row = self.raw.query_opt(&statement, &[&scope])?;
        Ok(row.map(|row| {
            let status: i32 = row.get(2);
            IdempotencyRecord {
                scope: row.get(0),
                fingerprint: row.get(1),
                status: status as u16,
                body: row.get(3),
                request_id: row.get(4),
                created: row.get(5),
            }
        }))
    }

    fn idempotency_put(&mut self, record: &IdempotencyRecord) -> StoreResult<()> {
        let status = record.status as i32;
        // The job's unsent rows go out with its flush, after this.
        let statement = self.unflushed_statement(
            "INSERT INTO idempotency (scope, fingerprint, status, body, request_id, created)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (scope) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
               body = EXCLUDED.body, request_id = EXCLUDED.request_id, created = EXCLUDED.created",
        )?;
        self.open_job_savepoint()?;
        self.wrote = true;
        self.raw.execute(
            &statement,
            &[
                &record.scope,
                &record.fingerprint,
                &status,
                &record.body,
                &record.request_id,
                &record.created,
            ],
        )?;
        Ok(())
    }

    fn idempotency_prune(&mut self, before: i64) -> StoreResult<u64> {
        Ok(self
            .tx()?
            .execute("DELETE FROM idempotency WHERE created < $1", &[&before])?)
    }

    fn platforms(&mut self) -> StoreResult<Vec<String>> {
        let rows = self
            .tx()?
            .query("SELECT id FROM platforms ORDER BY ordinal", &[])?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn insert_platform(&mut self, id: &str, ordinal: i64, created: i64) -> StoreResult<()> {
        self.tx()?.execute(
            "INSERT INTO platforms (id, ordinal, created) VALUES ($1, $2, $3)",
            &[&id, &ordinal, &created],
        )?;
        Ok(())
    }

    fn api_keys(&mut self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = self.tx()?.query(
            "SELECT key_hash, platform, livemode, kind FROM api_keys",
            &[],
        )?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let kind: &str = row.get(3);
                Some(ApiKeyRecord {
                    hash: row.get(0),
                    platform: row.get(1),
                    livemode: row.get(2),
                    kind: KeyKind::parse(kind)?,
                })
            })
            .collect())
    }

    fn set_api_key(&mut self, key: &ApiKeyRecord, created: i64) -> StoreResult<()> {
        let kind = key.kind.as_str();
        self.tx()?.execute(
            "DELETE FROM api_keys WHERE (platform = $1 AND livemode = $2 AND kind = $3) OR key_hash = $4",
            &[&key.platform, &key.livemode, &kind, &key.hash],
        )?;
        self.tx()?.execute(
            "INSERT INTO api_keys (key_hash, platform, livemode, kind, created) VALUES ($1, $2, $3, $4, $5)",
            &[&key.hash, &key.platform, &key.livemode, &kind, &created],
        )?;
        Ok(())
    }

    fn post(&mut self, postings: &[Posting]) -> StoreResult<()> {
        self.unsent.postings.extend_from_slice(postings);
        self.flush_if_full()
    }

    fn balance(&mut self, ledger_account: &str, livemode: bool) -> StoreResult<Vec<BalanceSlice>> {
        // Unsent postings of other ledger accounts cannot change this one's balance.
        if self
            .unsent
            .postings
            .iter()
            .any(|posting| posting.ledger_account == ledger_account)
        {
            self.flush()?;
        }
        let statement = self.unflushed_statement(
            "SELECT currency, available_on, SUM(amount)::bigint FROM ledger_balances
             WHERE ledger_account = $1 AND livemode = $2 GROUP BY currency, available_on ORDER BY currency, available_on",
        )?;
        let rows = self.raw.query(&statement, &[&ledger_account, &livemode])?;
        let stored = rows
            .iter()
            .map(|row| BalanceSlice {
                currency: row.get(0),
                available_on: row.get(1),
                amount: row.get(2),
            })
            .collect();
        Ok(self
            .pending
            .add_to_balance(ledger_account, livemode, stored))
    }

    fn ledger_totals_with_prefix(
        &mut self,
        prefix: &str,
        livemode: bool,
    ) -> StoreResult<Vec<LedgerTotal>> {
        let statement = self.statement(
            "SELECT ledger_account, currency, SUM(amount)::bigint FROM ledger_balances
             WHERE ledger_account >= $1 AND ledger_account < $1 || chr(1114111) AND livemode = $2
             GROUP BY ledger_account, currency HAVING SUM(amount) <> 0
             ORDER BY ledger_account, currency",
        )?;
        let rows = self.tx()?.query(&statement, &[&prefix, &livemode])?;
        let stored = rows
            .iter()
            .map(|row| LedgerTotal {
                ledger_account: row.get(0),
                currency: row.get(1),
                amount: row.get(2),
            })
            .collect();
        Ok(self.pending.add_to_totals(prefix, livemode, stored))
    }

    fn accounts_available_between(
        &mut self,
        livemode: bool,
        from: i64,
        up_to: i64,
        after_account: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let statement = self.statement(
            "SELECT DISTINCT ledger_account FROM ledger_balances
             WHERE livemode = $1 AND available_on > $2 AND available_on <= $3
               AND ledger_account > GREATEST($4, 'acct_') AND ledger_account < 'acct`'
             ORDER BY ledger_account LIMIT $5",
        )?;
        let rows = self.tx()?.query(
            &statement,
            &[&livemode, &from, &up_to, &after_account, &(limit as i64)],
        )?;
        let stored = rows.iter().map(|row| row.get(0)).collect();
        Ok(self.pending.add_to_accounts_available(
            livemode,
            (from, up_to),
            after_account,
            limit,
            stored,
        ))
    }

    fn timers_add(&mut self, timers: &[Timer]) -> StoreResult<()> {
        if timers.is_empty() {
            return Ok(());
        }
        // WITH ORDINALITY: the rows are numbered in the order given.
        let statement = self.statement(
            "INSERT INTO timers (platform, livemode, due_at, kind, target)
             SELECT platform, livemode, due_at, kind, target
             FROM UNNEST($1::text[], $2::bool[], $3::int8[], $4::text[], $5::text[])
               WITH ORDINALITY AS rows (platform, livemode, due_at, kind, target, position)
             ORDER BY position",
        )?;
        let platforms: Vec<&str> = timers.iter().map(|t| t.platform.as_str()).collect();
        let livemodes: Vec<bool> = timers.iter().map(|t| t.livemode).collect();
        let due_at: Vec<i64> = timers.iter().map(|t| t.due_at).collect();
        let kinds: Vec<&str> = timers.iter().map(|t| t.kind.as_str()).collect();
        let targets: Vec<&str> = timers.iter().map(|t| t.target.as_str()).collect();
        self.tx()?.execute(
            &statement,
            &[&platforms, &livemodes, &due_at, &kinds, &targets],
        )?;
        Ok(())
    }

    fn timers_due(
        &mut self,
        platform: &str,
        livemode: bool,
        up_to: i64,
        limit: usize,
    ) -> StoreResult<Vec<Timer>> {
        let statement = self.statement(
            "SELECT id, platform, livemode, due_at, kind, target FROM timers
             WHERE platform = $1 AND livemode = $2 AND due_at <= $3
             ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED",
        )?;
        let limit = limit as i64;
        let rows = self
            .tx()?
            .query(&statement, &[&platform, &livemode, &up_to, &limit])?;
        Ok(rows
            .iter()
            .map(|row| Timer {
                id: row.get(0),
                platform: row.get(1),
                livemode: row.get(2),
                due_at: row.get(3),
                kind: row.get(4),
                target: row.get(5),
            })
            .collect())
    }

    fn timers_remove(&mut self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let statement = self.statement("DELETE FROM timers WHERE id = ANY($1)")?;
        self.tx()?.execute(&statement, &[&ids])?;
        Ok(())
    }

    fn payout_candidate_mark(
        &mut self,
        platform: &str,
        livemode: bool,
        account: &str,
        since: i64,
    ) -> StoreResult<()> {
        // Written once per batch, before it commits (see `Pending`).
        self.pending.mark(platform, livemode, account, since);
        Ok(())
    }

    fn payout_candidates_due(
        &mut self,
        platform: &str,
        livemode: bool,
        up_to: i64,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        self.write_pending_marks()?;
        let statement = self.statement(
            "SELECT account, sweep_after FROM payout_candidates
             WHERE platform = $1 AND livemode = $2 AND account > $3 AND since <= $4
             ORDER BY account LIMIT $5 FOR UPDATE",
        )?;
        let limit = limit as i64;
        let rows = self
            .tx()?
            .query(&statement, &[&platform, &livemode, &after, &up_to, &limit])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn payout_candidate_set(
        &mut self,
        platform: &str,
        livemode: bool,
        account: &str,
        since: i64,
        sweep_after: &str,
    ) -> StoreResult<()> {
        self.write_pending_marks()?;
        let statement = self.statement(
            "UPDATE payout_candidates SET since = $4, sweep_after = $5
             WHERE platform = $1 AND livemode = $2 AND account = $3",
        )?;
        self.tx()?.execute(
            &statement,
            &[&platform, &livemode, &account, &since, &sweep_after],
        )?;
        Ok(())
    }

    fn outbox_insert(&mut self, entry: &OutboxEntry) -> StoreResult<()> {
        let statement = self.statement(
            "INSERT INTO webhook_outbox (id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )?;
        let attempts = entry.attempts as i32;
        self.tx()?.execute(
            &statement,
            &[
                &entry.id,
                &entry.event,
                &entry.endpoint,
                &entry.platform,
                &entry.livemode,
                &attempts,
                &entry.next_attempt_ms,
                &entry.created_ms,
            ],
        )?;
        Ok(())
    }

    fn outbox_endpoints(&mut self) -> StoreResult<Vec<String>> {
        let rows = self.tx()?.query(super::OUTBOX_ENDPOINTS, &[])?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn outbox_due(
        &mut self,
        endpoint: &str,
        now_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let limit = limit as i64;
        let rows = self.tx()?.query(
            "SELECT id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms
               FROM webhook_outbox
              WHERE endpoint = $1 AND next_attempt_ms <= $2
              ORDER BY next_attempt_ms LIMIT $3",
            &[&endpoint, &now_ms, &limit],
        )?;
        Ok(rows.iter().map(outbox_from_row).collect())
    }

    fn outbox_get(&mut self, id: &str) -> StoreResult<Option<OutboxEntry>> {
        let row = self.tx()?.query_opt(
            "SELECT id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms
               FROM webhook_outbox WHERE id = $1",
            &[&id],
        )?;
        Ok(row.as_ref().map(outbox_from_row))
    }

    fn outbox_reschedule(
        &mut self,
        id: &str,
        attempts: i64,
        next_attempt_ms: i64,
    ) -> StoreResult<()> {
        let attempts = attempts as i32;
        self.tx()?.execute(
            "UPDATE webhook_outbox SET attempts = $2, next_attempt_ms = $3 WHERE id = $1",
            &[&id, &attempts, &next_attempt_ms],
        )?;
        Ok(())
    }

    fn outbox_remove(&mut self, id: &str) -> StoreResult<()> {
        self.tx()?
            .execute("DELETE FROM webhook_outbox WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn delivery_insert(&mut self, attempt: &DeliveryAttempt) -> StoreResult<()> {
        let status = attempt.status_code.map(|code| code as i32);
        self.tx()?.execute(
            "INSERT INTO webhook_deliveries (event, endpoint, attempted_ms, status_code, latency_ms, response_excerpt, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &attempt.event,
                &attempt.endpoint,
                &attempt.attempted_ms,
                &status,
                &attempt.latency_ms,
                &attempt.response_excerpt,
                &attempt.error,
            ],
        )?;
        Ok(())
    }

    fn deliveries(&mut self, event: &str) -> StoreResult<Vec<DeliveryAttempt>> {
        let rows = self.tx()?.query(
            "SELECT event, endpoint, attempted_ms, status_code, latency_ms, response_excerpt, error
               FROM webhook_deliveries WHERE event = $1 ORDER BY id",
            &[&event],
        )?;
        Ok(rows
            .iter()
            .map(|row| {
                let status: Option<i32> = row.get(3);
                DeliveryAttempt {
                    event: row.get(0),
                    endpoint: row.get(1),
                    attempted_ms: row.get(2),
                    status_code: status.map(i64::from),
                    latency_ms: row.get(4),
                    response_excerpt: row.get(5),
                    error: row.get(6),
                }
            })
            .collect())
    }

    fn events_between(
        &mut self,
        after: &str,
        below: &str,
        limit: usize,
    ) -> StoreResult<Vec<Document>> {
        let statement = self.statement(EVENTS_BETWEEN)?;
        let limit = limit as i64;
        let rows = self.tx()?.query(&statement, &[&after, &below, &limit])?;
        Ok(rows.iter().map(doc_from_row).collect())
    }

    fn feed_cursor(&mut self) -> StoreResult<Option<String>> {
        let statement = self.statement("SELECT after FROM webhook_feed WHERE singleton = 1")?;
        Ok(self.tx()?.query_opt(&statement, &[])?.map(|row| row.get(0)))
    }

    fn set_feed_cursor(&mut self, after: &str) -> StoreResult<()> {
        let statement = self.statement(
            "INSERT INTO webhook_feed (singleton, after) VALUES (1, $1)
             ON CONFLICT (singleton) DO UPDATE SET after = excluded.after
             WHERE excluded.after > webhook_feed.after",
        )?;
        self.tx()?.execute(&statement, &[&after])?;
        Ok(())
    }

    fn prune_events(&mut self, before_event_id: &str, before_ms: i64) -> StoreResult<u64> {
        let removed = self.tx()?.execute(
            "DELETE FROM documents WHERE id >= 'evt_' AND id < $1 AND object = 'event'",
            &[&before_event_id],
        )?;
        self.tx()?.execute(
            "DELETE FROM webhook_outbox WHERE created_ms < $1",
            &[&before_ms],
        )?;
        self.tx()?.execute(
            "DELETE FROM webhook_deliveries WHERE attempted_ms < $1",
            &[&before_ms],
        )?;
        Ok(removed)
    }

    fn begin_command(&mut self) -> StoreResult<()> {
        let own_savepoint = self.wrote || !self.unsent.is_empty() || self.pending.job_has_changes();
        if own_savepoint {
            self.tx()?.batch_execute("SAVEPOINT command")?;
        }
        self.command = Some(own_savepoint);
        self.pending.begin_command(own_savepoint);
        Ok(())
    }

    fn end_command(&mut self, keep: bool) -> StoreResult<()> {
        let own_savepoint = self.command.take().unwrap_or(true);
        self.pending.end_command(keep);
        if keep {
            // Sharing the job's savepoint, the rows wait for the job's own flush.
            if own_savepoint {
                self.flush()?;
                self.raw.batch_execute("RELEASE SAVEPOINT command")?;
            }
            return Ok(());
        }
        self.unsent.clear();
        self.prefetched.clear();
        if own_savepoint {
            self.raw
                .batch_execute("ROLLBACK TO SAVEPOINT command; RELEASE SAVEPOINT command")?;
        } else if self.wrote {
            // The command began its job (nothing was written before it): rolling back to the
            // job's savepoint undoes exactly the command.
            self.raw.batch_execute("ROLLBACK TO SAVEPOINT job")?;
            self.wrote = false;
        }
        Ok(())
    }

    fn lock_ledger_account(&mut self, ledger_account: &str, currency: &str) -> StoreResult<()> {
        let key = format!("{ledger_account}:{currency}");
        // A lock changes no rows and needs none of the unsent ones.
        let statement =
            self.unflushed_statement("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")?;
        self.open_job_savepoint()?;
        self.raw.execute(&statement, &[&key])?;
        Ok(())
    }

    fn verify_ledger(&mut self) -> StoreResult<Vec<String>> {
        self.flush()?;
        // Its queries compare the stored rows: a batch's pending balance changes would show
        // as differences (`sluice ledger verify` runs alone, in a process of its own).
        if !self.pending.no_balance_change() {
            return Err(StoreError::Postgres(
                "the ledger is verified in a transaction of its own".into(),
            ));
        }
        let mut problems = Vec::new();
        for (sql, describe) in VERIFY_POSTGRES {
            for row in self.tx()?.query(*sql, &[])? {
                let fields: Vec<String> = (0..row.len())
                    .map(|i| {
                        row.try_get::<_, Option<String>>(i)
                            .map(|v| v.unwrap_or_else(|| "null".into()))
                            .or_else(|_| {
                                row.try_get::<_, Option<i64>>(i)
                                    .map(|v| v.map(|n| n.to_string()).unwrap_or_default())
                            })
                            .unwrap_or_default()
                    })
                    .collect();
                problems.push(format!("{describe}: {}", fields.join(" ")));
            }
        }
        Ok(problems)
    }
}

/// The ledger's invariants as queries that return the rows violating them.
const VERIFY_POSTGRES: &[(&str, &str)] = &[
    (
        "SELECT ledger_txn, currency, SUM(amount)::bigint FROM ledger_entries GROUP BY ledger_txn, currency HAVING SUM(amount) <> 0 LIMIT 100",
        "ledger transaction does not sum to zero (txn currency sum)",
    ),
    (
        "WITH e AS (SELECT ledger_account, livemode, currency, available_on, SUM(amount)::bigint AS amount FROM ledger_entries GROUP BY 1, 2, 3, 4),
              b AS (SELECT ledger_account, livemode, currency, available_on, SUM(amount)::bigint AS amount FROM ledger_balances GROUP BY 1, 2, 3, 4)
         SELECT COALESCE(e.ledger_account, b.ledger_account), COALESCE(e.currency, b.currency),
                COALESCE(e.available_on, b.available_on), COALESCE(e.amount, 0), COALESCE(b.amount, 0)
           FROM e FULL OUTER JOIN b
             ON b.ledger_account = e.ledger_account AND b.livemode = e.livemode AND b.currency = e.currency AND b.available_on = e.available_on
          WHERE COALESCE(e.amount, 0) <> COALESCE(b.amount, 0)
          LIMIT 100",
        "running balance differs from the sum of its postings (account currency available_on postings balance)",
    ),
    (
        "SELECT d.id, (d.body::json->>'net')::bigint, COALESCE(SUM(l.amount), 0)::bigint FROM documents d
           LEFT JOIN ledger_entries l ON l.balance_transaction = d.id
          WHERE d.object = 'balance_transaction'
          GROUP BY d.id
         HAVING COALESCE(SUM(l.amount), 0) <> (d.body::json->>'net')::bigint LIMIT 100",
        "balance transaction net differs from its postings (txn net postings)",
    ),
    (
        "SELECT id, (body::json->>'amount')::bigint, (body::json->>'fee')::bigint, (body::json->>'net')::bigint FROM documents
          WHERE object = 'balance_transaction'
            AND (body::json->>'amount')::bigint - (body::json->>'fee')::bigint <> (body::json->>'net')::bigint LIMIT 100",
        "balance transaction amount - fee != net (txn amount fee net)",
    ),
    (
        "SELECT DISTINCT l.balance_transaction FROM ledger_entries l
          WHERE l.balance_transaction IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = l.balance_transaction) LIMIT 100",
        "posting names a balance transaction that does not exist",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_moves_every_placeholder_and_counts_them() {
        assert_eq!(
            renumber("a = $1 AND b = ANY($2::text[]) AND c = $10", 3),
            ("a = $4 AND b = ANY($5::text[]) AND c = $13".to_string(), 10)
        );
        assert_eq!(
            renumber("no placeholders", 5),
            ("no placeholders".into(), 0)
        );
    }

    /// The flush's change of documents finds them by primary key in a generic plan made, in a
    /// writer's session, on a small table (a prepared statement keeps its generic plan while
    /// the table grows).
    /// Needs a PostgreSQL server (`SLUICE_TEST_DATABASE_URL`); skipped without one.
    #[test]
    fn the_flushs_document_changes_are_found_by_primary_key_in_a_generic_plan() {
        let Ok(url) = std::env::var("SLUICE_TEST_DATABASE_URL") else {
            eprintln!("skipped: SLUICE_TEST_DATABASE_URL is not set");
            return;
        };
        let mut client = Client::connect(&url, NoTls).expect("connect");
        // A temporary table shadows any `documents` for this session only.
        client
            .batch_execute(
                "CREATE TEMP TABLE documents (id TEXT COLLATE \"C\" PRIMARY KEY, body JSONB NOT NULL, deleted BOOLEAN NOT NULL);
                 INSERT INTO documents SELECT 'cus_' || n, '{}', false FROM generate_series(1, 500) AS n;
                 SET plan_cache_mode = force_generic_plan;",
            )
            .expect("prepare the table");
        client
            .batch_execute(WRITER_SESSION)
            .expect("the writer's session");
        let update = UPDATE_DOCS.replace("SET body = rows.body", "SET body = rows.body::jsonb");
        client
            .batch_execute(&format!(
                "PREPARE flush_update (text[], text[], bool[]) AS {update}"
            ))
            .expect("prepare the statement");
        let plan: Vec<String> = client
            .query(
                "EXPLAIN EXECUTE flush_update ('{cus_1}', '{\"{}\"}', '{f}')",
                &[],
            )
            .expect("explain")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("documents_pkey"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }

    /// Every combination of parts is one statement whose placeholders run from $1 without a gap,
    /// in the order `flush` binds its arrays.
    #[test]
    fn a_flush_is_one_statement_with_its_parts_placeholders_in_order() {
        for index in 1..8 {
            let parts = FlushParts {
                docs: index & 1 != 0,
                updates: index & 2 != 0,
                postings: index & 4 != 0,
            };
            assert_eq!(parts.index(), index);
            let sql = parts.sql();
            let expected = 9 * usize::from(parts.docs)
                + 3 * usize::from(parts.updates)
                + 8 * usize::from(parts.postings);
            let mut seen: Vec<usize> = sql
                .split('$')
                .skip(1)
                .map(|rest| {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    rest[..digits].parse().unwrap()
                })
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen, (1..=expected).collect::<Vec<_>>(), "{sql}");
            let statements =
                sql.matches("INSERT INTO").count() + sql.matches("UPDATE documents").count();
            let expected_statements =
                usize::from(parts.docs) + usize::from(parts.updates) + usize::from(parts.postings);
            assert_eq!(statements, expected_statements, "{sql}");
            assert_eq!(sql.starts_with("WITH "), statements > 1, "{sql}");
        }
    }
}
