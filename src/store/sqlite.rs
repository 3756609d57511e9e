//! The embedded store. One writer thread owns the only write connection: it takes every queued
//! command, runs each in its own SAVEPOINT and commits the whole batch; a syncer thread makes
//! the batch's WAL durable with one fsync and only then answers each caller, while the writer
//! already runs the next batch. Throughput is not capped by the disk's fsync rate. Readers use
//! their own connections (WAL lets them run beside the writer).

use std::cell::Cell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};

use super::sqlite_checkpoint::WalRestart;
use super::{
    migrations, ApiKeyRecord, BalanceSlice, Cursor, DeliveryAttempt, Document, FieldValue,
    IdempotencyRecord, KeyKind, LedgerTotal, ListQuery, OutboxEntry, Posting, StoreError,
    StoreResult, Timer, Tx, Unsent, WriteJob, MAX_UNSENT,
};

/// Commands per commit at most: bounds the latency a batch adds and the size of one transaction.
const MAX_BATCH: usize = 512;
/// Background commands (webhook bookkeeping) a batch takes while API commands are waiting: the
/// API keeps the writer, and the background still moves.
const BACKGROUND_PER_BUSY_BATCH: usize = 8;

pub struct SqliteStore {
    path: PathBuf,
    queue: Sender<WriteJob>,
    background: Sender<WriteJob>,
    scheduled: Sender<WriteJob>,
    readers: Mutex<Vec<Connection>>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: an acknowledged commit survives power loss, not only a process crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(128);
    // 16 MiB holds the pages a batch of payments touches (the right edges of the indexes; the
    // operating system's cache keeps the rest). A larger cache costs more than it saves while the
    // database is under 1 GiB: B-tree balancing renumbers a page through the lock-byte page's
    // number, and the commit that follows then walks the whole page-cache hash table to drop
    // pages above the database's end. With 256 MiB that walk was a tenth of the writer's time
    // (payments: 191-198 us of writer CPU per payment against 173-176 us with 16 MiB; a 30-day
    // advance over 10,000 accounts no slower).
    conn.pragma_update(None, "cache_size", -16_384)?;
    // Every command runs in a savepoint; its statement journal spilled to a temporary file
    // (pwrite per page) cost a fifth of the writer's time in payment profiles.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)",
    )?;
    let applied: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    for (index, step) in migrations::SQLITE.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= applied {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(step)
            .with_context(|| format!("applying migration {version}"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied) VALUES (?1, strftime('%s','now'))",
            params![version],
        )?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStore {
    pub fn open(dir: &Path) -> anyhow::Result<SqliteStore> {
        super::sqlite_alloc::install();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        let path = dir.join("sluice.db");
        let mut writer = Connection::open(&path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        configure(&writer).with_context(|| {
            format!(
                "cannot write to the database {} (is the directory read-only or the disk full?)",
                path.display()
            )
        })?;
        migrate(&mut writer).with_context(|| {
            format!(
                "cannot prepare the database {} (read-only or full disk?)",
                path.display()
            )
        })?;
        // The writer checkpoints only a short tail, when the checkpoint thread says so (see
        // `sqlite_checkpoint`); its automatic checkpoint is a backstop.
        writer.pragma_update(
            None,
            "wal_autocheckpoint",
            super::sqlite_checkpoint::WRITER_AUTOCHECKPOINT_FRAMES,
        )?;
        let wal_restart = WalRestart::default();
        let checkpointer = Connection::open(&path)?;
        checkpointer.busy_timeout(std::time::Duration::from_secs(5))?;
        let database = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {} to sync it", path.display()))?;
        let passes = wal_restart.clone();
        std::thread::Builder::new()
            .name("sluice-checkpoint".into())
            .spawn(move || passes.run_passes(checkpointer, database))
            .context("cannot start the checkpoint thread")?;
        // The syncer makes each commit durable before it is acknowledged (see `run_syncer`).
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        let (committed, to_sync) = crossbeam_channel::unbounded::<Vec<super::Deliver>>();
        let wal_path = dir.join("sluice.db-wal");
        std::thread::Builder::new()
            .name("sluice-syncer".into())
            .spawn(move || run_syncer(wal_path, to_sync))
            .context("cannot start the WAL sync thread")?;
        let (queue, jobs) = crossbeam_channel::unbounded::<WriteJob>();
        let (background, background_jobs) = crossbeam_channel::unbounded::<WriteJob>();
        let (scheduled, scheduled_jobs) = crossbeam_channel::unbounded::<WriteJob>();
        let queues = WriterQueues {
            api: jobs,
            background: background_jobs,
            scheduled: scheduled_jobs,
            steps_turn: Cell::new(false),
        };
        std::thread::Builder::new()
            .name("sluice-writer".into())
            .spawn(move || run_writer(writer, queues, committed, wal_restart))
            .context("cannot start the writer thread")?;
        Ok(SqliteStore {
            path,
            queue,
            background,
            scheduled,
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Puts a command in the writer's inbox for its lane.
    pub(crate) fn submit(&self, job: WriteJob, lane: super::Lane) -> StoreResult<()> {
        let inbox = match lane {
            super::Lane::Api => &self.queue,
            super::Lane::Background => &self.background,
            super::Lane::Scheduled => &self.scheduled,
        };
        inbox.send(job).map_err(|_| StoreError::Closed)
    }

    fn reader(&self) -> StoreResult<Connection> {
        if let Some(conn) = self.readers.lock().ok().and_then(|mut pool| pool.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    pub(crate) fn read<T, E, F>(&self, command: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&mut dyn Tx) -> Result<T, E>,
    {
        let conn = self.reader().map_err(E::from)?;
        // A read transaction gives the command one consistent snapshot across its statements.
        run(&conn, "BEGIN").map_err(|e| E::from(e.into()))?;
        let result = command(&mut SqliteTx {
            conn: &conn,
            deferred: None,
        });
        let _ = run(&conn, "ROLLBACK");
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < super::READERS {
                pool.push(conn);
            }
        }
        result
    }
}

/// Runs one fixed statement from the prepared-statement cache: savepoints open and close around
/// every command, and parsing them each time showed in profiles.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Answers committed batches once the WAL holding them is on disk. The writer commits without
/// waiting for the disk (`synchronous=NORMAL`) and goes on with the next batch while this thread
/// syncs: no command is acknowledged before its commit is durable, as with `synchronous=FULL`,
/// but the writer no longer sits idle through every fsync.
fn run_syncer(wal_path: PathBuf, committed: Receiver<Vec<super::Deliver>>) {
    let mut wal: Option<std::fs::File> = None;
    let mut waiting: Vec<super::Deliver> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = committed.recv() {
        waiting.extend(first);
        while let Ok(more) = committed.try_recv() {
            waiting.extend(more);
        }
        if wal.is_none() {
            wal = std::fs::File::open(&wal_path).ok();
        }
        let synced = match &wal {
            Some(file) => file.sync_data().map_err(|error| error.to_string()),
            None => Err(format!("cannot open {}", wal_path.display())),
        };
        let failure = synced.err().map(|error| {
            tracing::error!(%error, "cannot sync the write-ahead log; the batch is not acknowledged");
            StoreError::Sqlite(format!("the write-ahead log could not be synced: {error}"))
        });
        for deliver in waiting.drain(..) {
            deliver(failure.clone());
        }
    }
}

/// The writer's inboxes: commands of API requests first, background commands in the room they
/// leave (see `BACKGROUND_PER_BUSY_BATCH`), and steps of scheduled work (a clock run), each in a
/// batch of its own.
struct WriterQueues {
    api: Receiver<WriteJob>,
    background: Receiver<WriteJob>,
    scheduled: Receiver<WriteJob>,
    /// API commands had the last batch while a step waited: the step goes next.
    steps_turn: Cell<bool>,
}

/// Which inbox woke the writer.
#[derive(PartialEq)]
enum Woke {
    Api,
    Background,
    Scheduled,
}

impl WriterQueues {
    /// The next batch, waiting for a first command; `false` once the inboxes are closed.
    ///
    /// A step of scheduled work can hold the writer for a tenth of a second or more, and API
    /// commands that share its batch wait for its commit. So a step never shares a batch with
    /// API commands, and when both wait they take turns: an API command waits for at most one
    /// step, and a step for at most one batch of API commands.
    fn next_batch(&self, batch: &mut Vec<WriteJob>) -> bool {
        let mut woke = None;
        if self.api.is_empty() && self.background.is_empty() && self.scheduled.is_empty() {
            let (job, inbox) = crossbeam_channel::select! {
                recv(self.api) -> job => (job, Woke::Api),
                recv(self.background) -> job => (job, Woke::Background),
                recv(self.scheduled) -> job => (job, Woke::Scheduled),
            };
            let Ok(job) = job else {
                return false;
            };
            batch.push(job);
            woke = Some(inbox);
        }
        let step_now = match woke {
            Some(Woke::Scheduled) => true,
            Some(Woke::Api) => false,
            _ if self.scheduled.is_empty() => false,
            _ if self.api.is_empty() || self.steps_turn.get() => match self.scheduled.try_recv() {
                Ok(job) => {
                    batch.push(job);
                    true
                }
                Err(_) => false,
            },
            _ => false,
        };
        let mut api_commands = usize::from(woke == Some(Woke::Api));
        if step_now {
            self.steps_turn.set(false);
        } else {
            while batch.len() < MAX_BATCH {
                match self.api.try_recv() {
                    Ok(job) => {
                        batch.push(job);
                        api_commands += 1;
                    }
                    Err(_) => break,
                }
            }
            self.steps_turn
                .set(api_commands > 0 && !self.scheduled.is_empty());
        }
        let share = if api_commands > 0 || step_now {
            BACKGROUND_PER_BUSY_BATCH
        } else {
            MAX_BATCH
        };
        for _ in 0..share.min(MAX_BATCH - batch.len()) {
            match self.background.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        true
    }
}

fn run_writer(
    conn: Connection,
    queues: WriterQueues,
    synced: Sender<Vec<super::Deliver>>,
    wal_restart: WalRestart,
) {
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut deliveries = Vec::with_capacity(MAX_BATCH);
    while queues.next_batch(&mut batch) {
        if batch.is_empty() {
            continue;
        }
        if let Err(error) = run(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(%error, "cannot begin a write transaction");
            // Run nothing: every caller hears the failure.
            let error = StoreError::from(error);
            for job in batch.drain(..) {
                let (_, deliver) = run_job(&conn, job, false);
                deliver(Some(error.clone()));
            }
            continue;
        }
        let mut poisoned = None;
        for job in batch.drain(..) {
            if poisoned.is_some() {
                // The transaction is lost: what is left of the batch hears so without running.
                let (_, deliver) = run_job(&conn, job, false);
                deliveries.push(deliver);
                continue;
            }
            match run_job(&conn, job, true) {
                (JobEnd::Done, deliver) => deliveries.push(deliver),
                (JobEnd::Poisoned(error), deliver) => {
                    deliveries.push(deliver);
                    poisoned = Some(error);
                }
            }
        }
        if let Some(error) = poisoned {
            tracing::error!(%error, "a command's rows could not be written; its batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            for deliver in deliveries.drain(..) {
                deliver(Some(error.clone()));
            }
            continue;
        }
        let outcome = run(&conn, "COMMIT").map_err(StoreError::from);
        if let Err(error) = &outcome {
            tracing::error!(%error, "group commit failed; the batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            for deliver in deliveries.drain(..) {
                deliver(outcome.clone().err());
            }
            continue;
        }
        let committed = std::mem::replace(&mut deliveries, Vec::with_capacity(MAX_BATCH));
        if let Err(unsent) = synced.send(committed) {
            for deliver in unsent.0 {
                deliver(Some(StoreError::Closed));
            }
        }
        wal_restart.run_if_due(&conn);
    }
}

/// How a command left the batch's transaction.
enum JobEnd {
    /// Its rows are in (or it was undone entirely).
    Done,
    /// Some of its rows are in and the rest could not be written, with no savepoint to undo
    /// them: the whole transaction must go.
    Poisoned(StoreError),
}

/// Runs one command inside the batch's transaction so that a failing command leaves its
/// batch-mates intact: its rows wait (`Deferred`) and are dropped if it fails, and a savepoint
/// is opened only when it does something else (see `SqliteTx::before_read`/`before_write`).
/// With `in_transaction` false (no transaction could begin, or the batch's was lost) the
/// command runs only to produce its answer, which the caller overrides with the error: it
/// writes nothing (outside a transaction each statement would commit on its own).
fn run_job(conn: &Connection, job: WriteJob, in_transaction: bool) -> (JobEnd, super::Deliver) {
    let mut deferred = Deferred {
        writes_refused: !in_transaction,
        ..Deferred::default()
    };
    let mut tx = SqliteTx {
        conn,
        deferred: Some(&mut deferred),
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tx)));
    let (keep, deliver) = match outcome {
        Ok(ended) => ended,
        Err(_) => {
            // The command panicked; its caller's channel is dropped and it sees a store error.
            tracing::error!("a write command panicked; its changes are rolled back");
            (false, Box::new(|_| {}) as super::Deliver)
        }
    };
    if !in_transaction {
        return (JobEnd::Done, deliver);
    }
    if keep {
        match deferred.execute(conn) {
            Ok(()) => {
                if deferred.savepoint {
                    let _ = run(conn, "RELEASE job");
                }
            }
            Err(error) if deferred.savepoint => {
                tracing::error!(%error, "a command's rows could not be written; it is rolled back");
                let _ = run(conn, "ROLLBACK TO job");
                let _ = run(conn, "RELEASE job");
                deliver(Some(error));
                return (JobEnd::Done, Box::new(|_| {}));
            }
            Err(error) => return (JobEnd::Poisoned(error), deliver),
        }
    } else if deferred.savepoint {
        let _ = run(conn, "ROLLBACK TO job");
        let _ = run(conn, "RELEASE job");
    }
    (JobEnd::Done, deliver)
}

/// What a write command wrote but SQLite has not yet received, and whether the command's
/// savepoint is open. A savepoint copies every database page the command changes into its
/// statement journal (in case it is rolled back): for a payment that was 8% of the writer's
/// instructions. Documents, document changes, postings and payout marks wait here instead and
/// are executed when the command ends well, so a failing command has nothing to undo. Reads see
/// them (a document by id and an account's balance from here; any other read executes them
/// first, under a savepoint); any other write opens the savepoint and executes them first.
#[derive(Default)]
struct Deferred {
    unsent: Unsent,
    /// Payout candidates noted (`payout_candidate_mark`): platform, livemode, account, since.
    marks: Vec<(String, bool, String, i64)>,
    /// Whether the job's savepoint is open.
    savepoint: bool,
    /// The command running inside the job (`begin_command`), if any, and whether its own
    /// savepoint is open; it opens with the job's, when the first rows are executed.
    command: Option<bool>,
    /// No transaction is open: the rows are never executed and other writes fail.
    writes_refused: bool,
}

impl Deferred {
    fn is_empty(&self) -> bool {
        self.unsent.is_empty() && self.marks.is_empty()
    }

    fn len(&self) -> usize {
        self.unsent.len() + self.marks.len()
    }

    fn refused() -> StoreError {
        StoreError::Sqlite("the write transaction could not be opened".into())
    }

    /// Opens the savepoints (if not yet open) and executes the waiting rows under them.
    fn execute_under_savepoint(&mut self, conn: &Connection) -> StoreResult<()> {
        self.open_savepoint(conn)?;
        self.execute(conn)
    }

    fn open_savepoint(&mut self, conn: &Connection) -> StoreResult<()> {
        if self.writes_refused {
            return Err(Deferred::refused());
        }
        if !self.savepoint {
            run(conn, "SAVEPOINT job")?;
            self.savepoint = true;
        }
        if self.command == Some(false) {
            run(conn, "SAVEPOINT command")?;
            self.command = Some(true);
        }
        Ok(())
    }

    /// Executes the waiting rows, in the order a reader could notice: documents, changes,
    /// postings, marks.
    fn execute(&mut self, conn: &Connection) -> StoreResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        if self.writes_refused {
            return Err(Deferred::refused());
        }
        let mut tx = SqliteTx {
            conn,
            deferred: None,
        };
        if !self.unsent.docs.is_empty() {
            insert_documents(conn, &self.unsent.docs)?;
        }
        if !self.unsent.updates.is_empty() {
            update_documents(
                conn,
                self.unsent
                    .updates
                    .iter()
                    .map(|update| (update.id.as_str(), update.body.as_str(), update.deleted)),
            )?;
        }
        if !self.unsent.postings.is_empty() {
            tx.post(&self.unsent.postings)?;
        }
        for (platform, livemode, account, since) in &self.marks {
            tx.payout_candidate_mark(platform, *livemode, account, *since)?;
        }
        self.unsent.clear();
        self.marks.clear();
        Ok(())
    }
}

fn outbox_from_row(row: &rusqlite::Row) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.get(0)?,
        event: row.get(1)?,
        endpoint: row.get(2)?,
        platform: row.get(3)?,
        livemode: row.get(4)?,
        attempts: row.get(5)?,
        next_attempt_ms: row.get(6)?,
        created_ms: row.get(7)?,
    })
}

/// Documents inserted by one statement: a statement's own work (opening the table and its
/// indexes, binding, resetting) was about a third of a document's insert.
const DOCS_PER_INSERT: usize = 16;

/// Inserts `docs` sixteen to a statement, the rest one by one, each statement taken from
/// rusqlite's cache once for all the rows it writes (taking and returning it per document cost
/// a payment 1.6% of the writer's instructions).
fn insert_documents(conn: &Connection, docs: &[Document]) -> StoreResult<()> {
    let mut chunks = docs.chunks_exact(DOCS_PER_INSERT);
    if chunks.len() > 0 {
        let mut statement = conn.prepare_cached(&INSERT_DOCUMENTS_BY_SIXTEEN)?;
        for chunk in chunks.by_ref() {
            for (index, doc) in chunk.iter().enumerate() {
                bind_document(&mut statement, index * 9, doc)?;
            }
            statement.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut statement = conn.prepare_cached(
            "INSERT INTO documents (id, object, platform, account, livemode, created, parent, deleted, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for doc in rest {
            bind_document(&mut statement, 0, doc)?;
            statement.raw_execute()?;
        }
    }
    Ok(())
}

/// The statement of `DOCS_PER_INSERT` documents, built once.
static INSERT_DOCUMENTS_BY_SIXTEEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; DOCS_PER_INSERT].join(", ");
    format!(
        "INSERT INTO documents (id, object, platform, account, livemode, created, parent, deleted, body) VALUES {rows}"
    )
});

/// Binds a document's columns to parameters `offset + 1 ..= offset + 9`.
fn bind_document(
    statement: &mut rusqlite::CachedStatement,
    offset: usize,
    doc: &Document,
) -> rusqlite::Result<()> {
    statement.raw_bind_parameter(offset + 1, &doc.id)?;
    statement.raw_bind_parameter(offset + 2, doc.object)?;
    statement.raw_bind_parameter(offset + 3, &doc.platform)?;
    statement.raw_bind_parameter(offset + 4, &doc.account)?;
    statement.raw_bind_parameter(offset + 5, doc.livemode)?;
    statement.raw_bind_parameter(offset + 6, doc.created)?;
    statement.raw_bind_parameter(offset + 7, &doc.parent)?;
    statement.raw_bind_parameter(offset + 8, doc.deleted)?;
    statement.raw_bind_parameter(offset + 9, &doc.body)?;
    Ok(())
}

/// Applies `(id, body, deleted)` changes with one prepared statement (see `insert_documents`).
fn update_documents<'a>(
    conn: &Connection,
    updates: impl IntoIterator<Item = (&'a str, &'a str, bool)>,
) -> StoreResult<()> {
    let mut statement =
        conn.prepare_cached("UPDATE documents SET body = ?2, deleted = ?3 WHERE id = ?1")?;
    for (id, body, deleted) in updates {
        statement.execute(params![id, body, deleted])?;
    }
    Ok(())
}

struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The running write command's waiting rows; `None` in a read transaction (and for the
    /// rows' own execution).
    deferred: Option<&'c mut Deferred>,
}

impl SqliteTx<'_> {
    /// Executes the waiting rows under the savepoint when the command has some and `needed`.
    fn execute_waiting_if(&mut self, needed: impl FnOnce(&Deferred) -> bool) -> StoreResult<()> {
        match self.deferred.as_deref_mut() {
            Some(deferred) if needed(deferred) => deferred.execute_under_savepoint(self.conn),
            _ => Ok(()),
        }
    }

    /// Before a read that could see the waiting rows: they are executed, under the savepoint.
    fn before_read(&mut self) -> StoreResult<()> {
        self.execute_waiting_if(|deferred| !deferred.is_empty())
    }

    /// After a row was put to wait: a long command executes its rows in runs.
    fn execute_if_full(&mut self) -> StoreResult<()> {
        self.execute_waiting_if(|deferred| deferred.len() >= MAX_UNSENT)
    }

    /// Before a write that does not wait: the savepoint opens (the command could still fail)
    /// and the waiting rows go first.
    fn before_write(&mut self) -> StoreResult<()> {
        self.execute_waiting_if(|_| true)
    }
}

const DOC_COLUMNS: &str = "id, object, platform, account, livemode, created, parent, deleted, body";
/// Only events have ids in `evt_...`: the range needs no look at `object`.
const EVENTS_BETWEEN: &str =
    "SELECT id, object, platform, account, livemode, created, parent, deleted, body
     FROM documents WHERE id > ?1 AND id >= 'evt_' AND id < ?2 ORDER BY id LIMIT ?3";

fn object_name(text: &str) -> &'static str {
    crate::domain::objects::intern(text)
}

fn doc_from_row(row: &rusqlite::Row) -> rusqlite::Result<Document> {
    let object: String = row.get(1)?;
    Ok(Document {
        id: row.get(0)?,
        object: object_name(&object),
        platform: row.get(2)?,
        account: row.get(3)?,
        livemode: row.get(4)?,
        created: row.get(5)?,
        parent: row.get(6)?,
        deleted: row.get(7)?,
        body: row.get(8)?,
    })
}

impl Tx for SqliteTx<'_> {
    fn get(&mut self, id: &str) -> StoreResult<Option<Document>> {
        let conn = self.conn;
        let fetch = || -> StoreResult<Option<Document>> {
            let mut statement = conn.prepare_cached(
                "SELECT id, object, platform, account, livemode, created, parent, deleted, body
                 FROM documents WHERE id = ?1",
            )?;
            Ok(statement.query_row([id], doc_from_row).optional()?)
        };
        match self.deferred.as_deref() {
            Some(deferred) => deferred.unsent.read_through(id, fetch),
            None => fetch(),
        }
    }

    fn get_for_update(&mut self, id: &str) -> StoreResult<Option<Document>> {
        // The single writer already excludes every other writer.
        self.get(id)
    }

    fn insert(&mut self, doc: Document) -> StoreResult<()> {
        if let Some(deferred) = self.deferred.as_deref_mut() {
            deferred.unsent.docs.push(doc);
            return self.execute_if_full();
        }
        insert_documents(self.conn, std::slice::from_ref(&doc))
    }

    fn update(&mut self, id: &str, body: &str, deleted: bool) -> StoreResult<()> {
        if let Some(deferred) = self.deferred.as_deref_mut() {
            deferred.unsent.stage_update(id, body, deleted);
            return self.execute_if_full();
        }
        update_documents(self.conn, [(id, body, deleted)])
    }

    fn list(&mut self, query: &ListQuery) -> StoreResult<Vec<Document>> {
        self.before_read()?;
        // Children of one parent (an account's external accounts) are few among many of their
        // kind in the scope: the planner, left alone, walks the whole scope.
        let index = if query.parent.is_some() {
            " INDEXED BY documents_by_parent"
        } else {
            ""
        };
        let mut sql = format!(
            "SELECT {DOC_COLUMNS} FROM documents{index} WHERE platform = ?1 AND account = ?2 AND livemode = ?3 AND deleted = 0"
        );
        let mut values: Vec<SqlValue> = vec![
            SqlValue::Text(query.scope.platform.clone()),
            SqlValue::Text(query.scope.account.clone()),
            SqlValue::Integer(query.scope.livemode as i64),
        ];
        sql.push_str(" AND object IN (");
        for (index, object) in query.objects.iter().enumerate() {
            values.push(SqlValue::Text((*object).to_string()));
            sql.push_str(if index == 0 { "?" } else { ", ?" });
            sql.push_str(&values.len().to_string());
        }
        sql.push(')');
        let mut bind = |sql: &mut String, clause: &str, value: SqlValue| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(parent) = query.parent {
            bind(&mut sql, "parent =", SqlValue::Text(parent.to_string()));
        }
        for (path, value) in query.filters {
            let value = match value {
                FieldValue::Text(text) => SqlValue::Text(text.clone()),
                // json_extract gives JSON booleans as 1 and 0.
                FieldValue::Bool(flag) => SqlValue::Integer(*flag as i64),
                FieldValue::Int(number) => SqlValue::Integer(*number),
                FieldValue::AnyText(texts) => {
                    // JSON text of the choices, matched with json_each: one bound parameter
                    // whatever their number.
                    let choices = serde_json::to_string(texts).unwrap_or_default();
                    bind(
                        &mut sql,
                        &format!("json_extract(body, '$.{path}') IN (SELECT value FROM json_each("),
                        SqlValue::Text(choices),
                    );
                    sql.push_str("))");
                    continue;
                }
            };
            bind(
                &mut sql,
                &format!("json_extract(body, '$.{path}') ="),
                value,
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
                bind(&mut sql, clause, SqlValue::Integer(bound));
            }
        }
        let ascending = match query.cursor {
            Cursor::First => false,
            Cursor::After(id) => {
                bind(&mut sql, "id <", SqlValue::Text(id.to_string()));
                false
            }
            Cursor::Before(id) => {
                bind(&mut sql, "id >", SqlValue::Text(id.to_string()));
                true
            }
        };
        sql.push_str(if ascending {
            " ORDER BY id ASC"
        } else {
            " ORDER BY id DESC"
        });
        sql.push_str(&format!(" LIMIT {}", query.limit));
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(values), doc_from_row)?;
        let mut docs = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if ascending {
            docs.reverse();
        }
        Ok(docs)
    }

    fn idempotency_get(&mut self, scope: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT scope, fingerprint, status, body, request_id, created FROM idempotency WHERE scope = ?1",
        )?;
        Ok(statement
            .query_row([scope], |row| {
                Ok(IdempotencyRecord {
                    scope: row.get(0)?,
                    fingerprint: row.get(1)?,
                    status: row.get(2)?,
                    body: row.get(3)?,
                    request_id: row.get(4)?,
                    created: row.get(5)?,
                })
            })
            .optional()?)
    }

    fn idempotency_put(&mut self, record: &IdempotencyRecord) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO idempotency (scope, fingerprint, status, body, request_id, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        statement.execute(params![
            record.scope,
            record.fingerprint,
            record.status,
            record.body,
            record.request_id,
            record.created
        ])?;
        Ok(())
    }

    fn ledger_totals_with_prefix(
        &mut self,
        prefix: &str,
        livemode: bool,
    ) -> StoreResult<Vec<LedgerTotal>> {
        self.before_read()?;
        let mut statement = self.conn.prepare_cached(
            // `+livemode`: without it the planner took the by-availability index on `livemode`
            // and read every balance of the mode (once per scheduler step, for every platform).
            "SELECT ledger_account, currency, SUM(amount) FROM ledger_balances
             WHERE ledger_account >= ?1 AND ledger_account < ?1 || char(1114111) AND +livemode = ?2
             GROUP BY ledger_account, currency HAVING SUM(amount) <> 0
             ORDER BY ledger_account, currency",
        )?;
        let rows = statement.query_map(params![prefix, livemode], |row| {
            Ok(LedgerTotal {
                ledger_account: row.get(0)?,
                currency: row.get(1)?,
                amount: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn accounts_available_between(
        &mut self,
        livemode: bool,
        from: i64,
        up_to: i64,
        after_account: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.before_read()?;
        let mut statement = self.conn.prepare_cached(
            "SELECT DISTINCT ledger_account FROM ledger_balances
             WHERE livemode = ?1 AND available_on > ?2 AND available_on <= ?3
               AND ledger_account > max(?4, 'acct_') AND ledger_account < 'acct`'
             ORDER BY ledger_account LIMIT ?5",
        )?;
        let rows = statement.query_map(
            params![livemode, from, up_to, after_account, limit as i64],
            |row| row.get(0),
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    fn timers_add(&mut self, timers: &[Timer]) -> StoreResult<()> {
        if timers.is_empty() {
            return Ok(());
        }
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "INSERT INTO timers (platform, livemode, due_at, kind, target) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for timer in timers {
            statement.execute(params![
                timer.platform,
                timer.livemode,
                timer.due_at,
                timer.kind,
                timer.target
            ])?;
        }
        Ok(())
    }

    fn timers_due(
        &mut self,
        platform: &str,
        livemode: bool,
        up_to: i64,
        limit: usize,
    ) -> StoreResult<Vec<Timer>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, platform, livemode, due_at, kind, target FROM timers
             WHERE platform = ?1 AND livemode = ?2 AND due_at <= ?3 ORDER BY due_at, id LIMIT ?4",
        )?;
        let rows =
            statement.query_map(params![platform, livemode, up_to, limit as i64], |row| {
                Ok(Timer {
                    id: row.get(0)?,
                    platform: row.get(1)?,
                    livemode: row.get(2)?,
                    due_at: row.get(3)?,
                    kind: row.get(4)?,
                    target: row.get(5)?,
                })
            })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn timers_remove(&mut self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.before_write()?;
        // One statement for the step's timers (a step runs hundreds): executed one by one they
        // were a twentieth of a clock advance's writer time.
        let mut list = String::with_capacity(ids.len() * 12 + 2);
        list.push('[');
        for (index, id) in ids.iter().enumerate() {
            if index > 0 {
                list.push(',');
            }
            let _ = write!(list, "{id}");
        }
        list.push(']');
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM timers WHERE id IN (SELECT value FROM json_each(?1))")?;
        statement.execute([list])?;
        Ok(())
    }

    fn payout_candidate_mark(
        &mut self,
        platform: &str,
        livemode: bool,
        account: &str,
        since: i64,
    ) -> StoreResult<()> {
        if let Some(deferred) = self.deferred.as_deref_mut() {
            let mark = (platform.to_string(), livemode, account.to_string(), since);
            deferred.marks.push(mark);
            return self.execute_if_full();
        }
        let mut statement = self.conn.prepare_cached(
            "INSERT INTO payout_candidates (platform, livemode, account, since) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (platform, livemode, account) DO UPDATE SET since = excluded.since
             WHERE payout_candidates.since > excluded.since",
        )?;
        statement.execute(params![platform, livemode, account, since])?;
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
        self.before_read()?;
        let mut statement = self.conn.prepare_cached(
            "SELECT account, sweep_after FROM payout_candidates
             WHERE platform = ?1 AND livemode = ?2 AND account > ?3 AND since <= ?4
             ORDER BY account LIMIT ?5",
        )?;
        let rows = statement.query_map(
            params![platform, livemode, after, up_to, limit as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn payout_candidate_set(
        &mut self,
        platform: &str,
        livemode: bool,
        account: &str,
        since: i64,
        sweep_after: &str,
    ) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "UPDATE payout_candidates SET since = ?4, sweep_after = ?5
             WHERE platform = ?1 AND livemode = ?2 AND account = ?3",
        )?;
        statement.execute(params![platform, livemode, account, since, sweep_after])?;
        Ok(())
    }

    fn idempotency_prune(&mut self, before: i64) -> StoreResult<u64> {
        self.before_write()?;
        let removed = self
            .conn
            .execute("DELETE FROM idempotency WHERE created < ?1", [before])?;
        Ok(removed as u64)
    }

    fn platforms(&mut self) -> StoreResult<Vec<String>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id FROM platforms ORDER BY ordinal")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    fn insert_platform(&mut self, id: &str, ordinal: i64, created: i64) -> StoreResult<()> {
        self.before_write()?;
        self.conn.execute(
            "INSERT INTO platforms (id, ordinal, created) VALUES (?1, ?2, ?3)",
            params![id, ordinal, created],
        )?;
        Ok(())
    }

    fn api_keys(&mut self) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT key_hash, platform, livemode, kind FROM api_keys")?;
        let rows = statement.query_map([], |row| {
            let kind: String = row.get(3)?;
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, kind))
        })?;
        let mut keys = Vec::new();
        for row in rows {
            let (hash, platform, livemode, kind) = row?;
            if let Some(kind) = KeyKind::parse(&kind) {
                keys.push(ApiKeyRecord {
                    hash,
                    platform,
                    livemode,
                    kind,
                });
            }
        }
        Ok(keys)
    }

    fn set_api_key(&mut self, key: &ApiKeyRecord, created: i64) -> StoreResult<()> {
        self.before_write()?;
        self.conn.execute(
            "DELETE FROM api_keys WHERE (platform = ?1 AND livemode = ?2 AND kind = ?3) OR key_hash = ?4",
            params![key.platform, key.livemode, key.kind.as_str(), key.hash],
        )?;
        self.conn.execute(
            "INSERT INTO api_keys (key_hash, platform, livemode, kind, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key.hash, key.platform, key.livemode, key.kind.as_str(), created],
        )?;
        Ok(())
    }

    fn post(&mut self, postings: &[Posting]) -> StoreResult<()> {
        if let Some(deferred) = self.deferred.as_deref_mut() {
            deferred.unsent.postings.extend_from_slice(postings);
            return self.execute_if_full();
        }
        let mut entry = self.conn.prepare_cached(
            "INSERT INTO ledger_entries (ledger_txn, balance_transaction, ledger_account, livemode, currency, amount, available_on, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut total = self.conn.prepare_cached(
            "INSERT INTO ledger_balances (ledger_account, livemode, currency, available_on, shard, amount)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)
             ON CONFLICT (ledger_account, livemode, currency, available_on, shard)
             DO UPDATE SET amount = amount + excluded.amount",
        )?;
        for posting in postings {
            entry.execute(params![
                posting.ledger_txn,
                posting.balance_transaction,
                posting.ledger_account,
                posting.livemode,
                posting.currency,
                posting.amount,
                posting.available_on,
                posting.created
            ])?;
        }
        // A payment's postings meet on a few slices (the platform's pending balance of the day
        // takes the charge and gives the transfer): each row is changed once.
        for (ledger_account, livemode, currency, available_on, amount) in
            super::summed_by_slice(postings)
        {
            total.execute(params![
                ledger_account,
                livemode,
                currency,
                available_on,
                amount
            ])?;
        }
        Ok(())
    }

    fn balance(&mut self, ledger_account: &str, livemode: bool) -> StoreResult<Vec<BalanceSlice>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT currency, available_on, SUM(amount) FROM ledger_balances
             WHERE ledger_account = ?1 AND livemode = ?2 GROUP BY currency, available_on ORDER BY currency, available_on",
        )?;
        let rows = statement.query_map(params![ledger_account, livemode], |row| {
            Ok(BalanceSlice {
                currency: row.get(0)?,
                available_on: row.get(1)?,
                amount: row.get(2)?,
            })
        })?;
        let mut slices = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if let Some(deferred) = self.deferred.as_deref() {
            add_waiting_postings(
                &mut slices,
                &deferred.unsent.postings,
                ledger_account,
                livemode,
            );
        }
        Ok(slices)
    }

    fn outbox_insert(&mut self, entry: &OutboxEntry) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "INSERT INTO webhook_outbox (id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        statement.execute(params![
            entry.id,
            entry.event,
            entry.endpoint,
            entry.platform,
            entry.livemode,
            entry.attempts,
            entry.next_attempt_ms,
            entry.created_ms
        ])?;
        Ok(())
    }

    fn outbox_endpoints(&mut self) -> StoreResult<Vec<String>> {
        let mut statement = self.conn.prepare_cached(super::OUTBOX_ENDPOINTS)?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn outbox_due(
        &mut self,
        endpoint: &str,
        now_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms
               FROM webhook_outbox
              WHERE endpoint = ?1 AND next_attempt_ms <= ?2
              ORDER BY next_attempt_ms LIMIT ?3",
        )?;
        let rows = statement.query_map(params![endpoint, now_ms, limit as i64], outbox_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn outbox_get(&mut self, id: &str) -> StoreResult<Option<OutboxEntry>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms
               FROM webhook_outbox WHERE id = ?1",
        )?;
        Ok(statement.query_row([id], outbox_from_row).optional()?)
    }

    fn outbox_reschedule(
        &mut self,
        id: &str,
        attempts: i64,
        next_attempt_ms: i64,
    ) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "UPDATE webhook_outbox SET attempts = ?2, next_attempt_ms = ?3 WHERE id = ?1",
        )?;
        statement.execute(params![id, attempts, next_attempt_ms])?;
        Ok(())
    }

    fn outbox_remove(&mut self, id: &str) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM webhook_outbox WHERE id = ?1")?;
        statement.execute([id])?;
        Ok(())
    }

    fn delivery_insert(&mut self, attempt: &DeliveryAttempt) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "INSERT INTO webhook_deliveries (event, endpoint, attempted_ms, status_code, latency_ms, response_excerpt, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        statement.execute(params![
            attempt.event,
            attempt.endpoint,
            attempt.attempted_ms,
            attempt.status_code,
            attempt.latency_ms,
            attempt.response_excerpt,
            attempt.error
        ])?;
        Ok(())
    }

    fn deliveries(&mut self, event: &str) -> StoreResult<Vec<DeliveryAttempt>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT event, endpoint, attempted_ms, status_code, latency_ms, response_excerpt, error
               FROM webhook_deliveries WHERE event = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map([event], |row| {
            Ok(DeliveryAttempt {
                event: row.get(0)?,
                endpoint: row.get(1)?,
                attempted_ms: row.get(2)?,
                status_code: row.get(3)?,
                latency_ms: row.get(4)?,
                response_excerpt: row.get(5)?,
                error: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn events_between(
        &mut self,
        after: &str,
        below: &str,
        limit: usize,
    ) -> StoreResult<Vec<Document>> {
        self.before_read()?;
        let mut statement = self.conn.prepare_cached(EVENTS_BETWEEN)?;
        let rows = statement.query_map(params![after, below, limit as i64], doc_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn feed_cursor(&mut self) -> StoreResult<Option<String>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT after FROM webhook_feed WHERE singleton = 1")?;
        Ok(statement.query_row([], |row| row.get(0)).optional()?)
    }

    fn set_feed_cursor(&mut self, after: &str) -> StoreResult<()> {
        self.before_write()?;
        let mut statement = self.conn.prepare_cached(
            "INSERT INTO webhook_feed (singleton, after) VALUES (1, ?1)
             ON CONFLICT (singleton) DO UPDATE SET after = excluded.after
             WHERE excluded.after > webhook_feed.after",
        )?;
        statement.execute([after])?;
        Ok(())
    }

    fn prune_events(&mut self, before_event_id: &str, before_ms: i64) -> StoreResult<u64> {
        self.before_write()?;
        let removed = self.conn.execute(
            "DELETE FROM documents WHERE id >= 'evt_' AND id < ?1 AND object = 'event'",
            [before_event_id],
        )?;
        self.conn.execute(
            "DELETE FROM webhook_outbox WHERE created_ms < ?1",
            [before_ms],
        )?;
        self.conn.execute(
            "DELETE FROM webhook_deliveries WHERE attempted_ms < ?1",
            [before_ms],
        )?;
        Ok(removed as u64)
    }

    fn begin_command(&mut self) -> StoreResult<()> {
        let Some(deferred) = self.deferred.as_deref_mut() else {
            return Ok(run(self.conn, "SAVEPOINT command")?);
        };
        if deferred.command.is_some() {
            return Err(StoreError::Sqlite("a command is already running".into()));
        }
        // What waits now is the job's, before the command: it goes in, so that what waits
        // when the command ends is the command's.
        if !deferred.is_empty() {
            deferred.execute_under_savepoint(self.conn)?;
        }
        deferred.command = Some(false);
        Ok(())
    }

    fn end_command(&mut self, keep: bool) -> StoreResult<()> {
        let Some(deferred) = self.deferred.as_deref_mut() else {
            if !keep {
                run(self.conn, "ROLLBACK TO command")?;
            }
            return Ok(run(self.conn, "RELEASE command")?);
        };
        let savepoint_open = deferred.command.take() == Some(true);
        if !keep {
            // Everything waiting is the command's (see `begin_command`).
            deferred.unsent.clear();
            deferred.marks.clear();
        }
        // Kept rows still waiting stay the job's, executed when it ends.
        if savepoint_open {
            if !keep {
                run(self.conn, "ROLLBACK TO command")?;
            }
            run(self.conn, "RELEASE command")?;
        }
        Ok(())
    }

    fn lock_ledger_account(&mut self, _ledger_account: &str, _currency: &str) -> StoreResult<()> {
        // One writer thread: every write transaction is already serialised.
        Ok(())
    }

    fn verify_ledger(&mut self) -> StoreResult<Vec<String>> {
        self.before_read()?;
        let mut problems = Vec::new();
        for (sql, describe) in VERIFY_SQLITE {
            let mut statement = self.conn.prepare(sql)?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let fields: Vec<String> = (0..row.as_ref().column_count())
                    .map(|i| match row.get_ref(i) {
                        Ok(rusqlite::types::ValueRef::Integer(n)) => n.to_string(),
                        Ok(rusqlite::types::ValueRef::Text(t)) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        Ok(rusqlite::types::ValueRef::Real(r)) => r.to_string(),
                        _ => "null".to_string(),
                    })
                    .collect();
                problems.push(format!("{describe}: {}", fields.join(" ")));
            }
        }
        Ok(problems)
    }
}

/// Adds `ledger_account`'s waiting postings to its balance slices as read from the database,
/// keeping the read's order (currency, then `available_on`).
fn add_waiting_postings(
    slices: &mut Vec<BalanceSlice>,
    waiting: &[Posting],
    ledger_account: &str,
    livemode: bool,
) {
    let mut added = false;
    for posting in waiting
        .iter()
        .filter(|p| p.ledger_account == ledger_account && p.livemode == livemode)
    {
        added = true;
        match slices
            .iter_mut()
            .find(|s| s.currency == posting.currency && s.available_on == posting.available_on)
        {
            Some(slice) => slice.amount += posting.amount,
            None => slices.push(BalanceSlice {
                currency: posting.currency.clone(),
                available_on: posting.available_on,
                amount: posting.amount,
            }),
        }
    }
    if added {
        slices.sort_by(|a, b| (&a.currency, a.available_on).cmp(&(&b.currency, b.available_on)));
    }
}

/// The ledger's invariants as queries that return the rows violating them.
const VERIFY_SQLITE: &[(&str, &str)] = &[
    (
        "SELECT ledger_txn, currency, SUM(amount) FROM ledger_entries GROUP BY ledger_txn, currency HAVING SUM(amount) <> 0 LIMIT 100",
        "ledger transaction does not sum to zero (txn currency sum)",
    ),
    (
        "WITH e AS (SELECT ledger_account, livemode, currency, available_on, SUM(amount) AS amount FROM ledger_entries GROUP BY 1, 2, 3, 4),
              b AS (SELECT ledger_account, livemode, currency, available_on, SUM(amount) AS amount FROM ledger_balances GROUP BY 1, 2, 3, 4)
         SELECT e.ledger_account, e.currency, e.available_on, e.amount, COALESCE(b.amount, 0) FROM e
           LEFT JOIN b ON b.ledger_account = e.ledger_account AND b.livemode = e.livemode AND b.currency = e.currency AND b.available_on = e.available_on
           WHERE COALESCE(b.amount, 0) <> e.amount
         UNION ALL
         SELECT b.ledger_account, b.currency, b.available_on, 0, b.amount FROM b
           LEFT JOIN e ON b.ledger_account = e.ledger_account AND b.livemode = e.livemode AND b.currency = e.currency AND b.available_on = e.available_on
           WHERE e.amount IS NULL AND b.amount <> 0
         LIMIT 100",
        "running balance differs from the sum of its postings (account currency available_on postings balance)",
    ),
    (
        "SELECT d.id, json_extract(d.body, '$.net'), COALESCE(SUM(l.amount), 0) FROM documents d
           LEFT JOIN ledger_entries l ON l.balance_transaction = d.id
          WHERE d.object = 'balance_transaction'
          GROUP BY d.id
         HAVING COALESCE(SUM(l.amount), 0) <> json_extract(d.body, '$.net') LIMIT 100",
        "balance transaction net differs from its postings (txn net postings)",
    ),
    (
        "SELECT id, json_extract(body, '$.amount'), json_extract(body, '$.fee'), json_extract(body, '$.net') FROM documents
          WHERE object = 'balance_transaction'
            AND json_extract(body, '$.amount') - json_extract(body, '$.fee') <> json_extract(body, '$.net') LIMIT 100",
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

    fn job() -> WriteJob {
        Box::new(|_| (true, Box::new(|_| {})))
    }

    fn all_queues() -> (
        Sender<WriteJob>,
        Sender<WriteJob>,
        Sender<WriteJob>,
        WriterQueues,
    ) {
        let (api, api_jobs) = crossbeam_channel::unbounded();
        let (background, background_jobs) = crossbeam_channel::unbounded();
        let (scheduled, scheduled_jobs) = crossbeam_channel::unbounded();
        let queues = WriterQueues {
            api: api_jobs,
            background: background_jobs,
            scheduled: scheduled_jobs,
            steps_turn: Cell::new(false),
        };
        (api, background, scheduled, queues)
    }

    #[test]
    fn a_scheduled_step_has_a_batch_of_its_own_and_takes_turns_with_the_api() {
        let (api, _background, scheduled, queues) = all_queues();
        for _ in 0..3 {
            scheduled.send(job()).unwrap();
        }
        for _ in 0..5 {
            api.send(job()).unwrap();
        }
        let mut batch = Vec::new();
        // API commands first, then a step alone, then the API commands that came meanwhile.
        assert!(queues.next_batch(&mut batch));
        assert_eq!(
            (batch.len(), queues.api.len(), queues.scheduled.len()),
            (5, 0, 3)
        );
        api.send(job()).unwrap();
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(
            (batch.len(), queues.api.len(), queues.scheduled.len()),
            (1, 1, 2)
        );
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(
            (batch.len(), queues.api.len(), queues.scheduled.len()),
            (1, 0, 2)
        );
        // With no API command waiting, steps go one per batch.
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!((batch.len(), queues.scheduled.len()), (1, 1));
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!((batch.len(), queues.scheduled.len()), (1, 0));
        // A step that wakes the writer runs alone too.
        scheduled.send(job()).unwrap();
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn api_commands_keep_the_writer_and_background_still_moves() {
        let (api, background, _scheduled, queues) = all_queues();
        for _ in 0..100 {
            api.send(job()).unwrap();
            background.send(job()).unwrap();
        }
        let mut batch = Vec::new();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(batch.len(), 100 + BACKGROUND_PER_BUSY_BATCH);
        assert_eq!(queues.background.len(), 100 - BACKGROUND_PER_BUSY_BATCH);
        // With no API command waiting, a batch takes all the background it can.
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(batch.len(), 100 - BACKGROUND_PER_BUSY_BATCH);
        assert!(queues.api.is_empty() && queues.background.is_empty());
        // Nor when the writer woke for a background command.
        for _ in 0..(BACKGROUND_PER_BUSY_BATCH + 5) {
            background.send(job()).unwrap();
        }
        batch.clear();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(batch.len(), BACKGROUND_PER_BUSY_BATCH + 5);
    }

    fn customer(id: &str) -> Document {
        Document {
            id: id.into(),
            object: "customer",
            platform: "acct_p".into(),
            account: "acct_p".into(),
            livemode: false,
            created: 1,
            parent: None,
            deleted: false,
            body: "{}".into(),
        }
    }

    fn posting(ledger_txn: &str, ledger_account: &str, amount: i64) -> Posting {
        Posting {
            ledger_txn: ledger_txn.into(),
            balance_transaction: None,
            ledger_account: ledger_account.into(),
            livemode: false,
            currency: "usd".into(),
            amount,
            available_on: 5,
            created: 1,
        }
    }

    fn customers(tx: &mut dyn Tx) -> StoreResult<Vec<String>> {
        let scope = super::super::Scope {
            platform: "acct_p".into(),
            account: "acct_p".into(),
            livemode: false,
        };
        let query = ListQuery {
            objects: &["customer"],
            scope: &scope,
            parent: None,
            created: Default::default(),
            cursor: Cursor::First,
            filters: &[],
            limit: 100,
        };
        Ok(tx.list(&query)?.into_iter().map(|doc| doc.id).collect())
    }

    /// Rows wait in memory and savepoints open only when needed: whichever way a command fails,
    /// none of its rows stay, and its reads see them while it runs.
    #[test]
    fn a_failed_command_leaves_none_of_its_rows() {
        let dir = std::env::temp_dir().join(crate::ids::new_id("sluice-deferred-test"));
        let store = super::super::Store::open_sqlite(&dir).unwrap();
        type Command = Box<dyn FnOnce(&mut dyn Tx) -> StoreResult<()> + Send>;
        let write = |command: Command| store.write_blocking(command);
        write(Box::new(|tx| {
            tx.insert(customer("cus_kept"))?;
            tx.post(&[posting("l1", "acct_a", 100), posting("l1", "acct_b", -100)])
        }))
        .unwrap();
        // Fails with its rows still waiting (no savepoint was opened).
        let failed = write(Box::new(|tx| {
            tx.insert(customer("cus_waiting"))?;
            tx.update("cus_kept", r#"{"changed":true}"#, false)?;
            tx.post(&[posting("l2", "acct_a", 7), posting("l2", "acct_b", -7)])?;
            // What waits is read back: the new document, the change and the balance.
            assert!(tx.get("cus_waiting")?.is_some());
            assert_eq!(tx.get("cus_kept")?.unwrap().body, r#"{"changed":true}"#);
            assert_eq!(tx.balance("acct_a", false)?[0].amount, 107);
            Err(StoreError::Closed)
        }));
        assert!(failed.is_err());
        // Fails after a list executed its rows under the savepoint.
        let failed = write(Box::new(|tx| {
            tx.insert(customer("cus_listed"))?;
            assert!(customers(tx)?.contains(&"cus_listed".to_string()));
            tx.insert(customer("cus_after_list"))?;
            Err(StoreError::Closed)
        }));
        assert!(failed.is_err());
        // A kept job whose commands fail: one with rows waiting, one whose rows a list executed.
        write(Box::new(|tx| {
            tx.insert(customer("cus_before_commands"))?;
            tx.begin_command()?;
            tx.insert(customer("cus_in_command"))?;
            tx.update("cus_before_commands", r#"{"changed":true}"#, false)?;
            tx.end_command(false)?;
            tx.begin_command()?;
            tx.insert(customer("cus_in_listed_command"))?;
            assert!(customers(tx)?.contains(&"cus_in_listed_command".to_string()));
            tx.post(&[posting("l3", "acct_a", 1), posting("l3", "acct_b", -1)])?;
            tx.end_command(false)?;
            tx.begin_command()?;
            tx.insert(customer("cus_in_kept_command"))?;
            tx.end_command(true)
        }))
        .unwrap();
        let (ids, before, balance, problems) = store
            .write_blocking(|tx| -> StoreResult<_> {
                Ok((
                    customers(tx)?,
                    tx.get("cus_before_commands")?.unwrap().body,
                    tx.balance("acct_a", false)?,
                    tx.verify_ledger()?,
                ))
            })
            .unwrap();
        let mut ids = ids;
        ids.sort();
        assert_eq!(
            ids,
            ["cus_before_commands", "cus_in_kept_command", "cus_kept"]
        );
        assert_eq!(before, "{}");
        assert_eq!(balance.len(), 1);
        assert_eq!(balance[0].amount, 100);
        assert!(problems.is_empty(), "{problems:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_writer_stops_when_its_inboxes_close() {
        let (api, background, scheduled, queues) = all_queues();
        background.send(job()).unwrap();
        let mut batch = Vec::new();
        assert!(queues.next_batch(&mut batch));
        assert_eq!(batch.len(), 1);
        drop((api, background, scheduled));
        batch.clear();
        assert!(!queues.next_batch(&mut batch));
    }
}
