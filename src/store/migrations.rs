//! Schema versions for both backends. Each step runs once, in order, at start; the applied
//! versions are recorded in `schema_migrations`. Append new steps; never edit a released one.

pub const SQLITE: &[&str] = &[
    r#"
CREATE TABLE platforms (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    created INTEGER NOT NULL
);
CREATE TABLE api_keys (
    key_hash BLOB PRIMARY KEY,
    platform TEXT NOT NULL REFERENCES platforms(id),
    livemode INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE documents (
    id TEXT NOT NULL UNIQUE,
    object TEXT NOT NULL,
    platform TEXT NOT NULL,
    account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    created INTEGER NOT NULL,
    parent TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
CREATE INDEX documents_by_scope ON documents (platform, account, livemode, object, id);
CREATE INDEX documents_by_parent ON documents (parent, object, id) WHERE parent IS NOT NULL;
CREATE TABLE idempotency (
    scope TEXT NOT NULL UNIQUE,
    fingerprint BLOB NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    request_id TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX idempotency_by_created ON idempotency (created);
"#,
    r#"
CREATE TABLE ledger_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ledger_txn TEXT NOT NULL,
    balance_transaction TEXT,
    ledger_account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount INTEGER NOT NULL,
    available_on INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX ledger_entries_by_txn ON ledger_entries (ledger_txn);
CREATE INDEX ledger_entries_by_balance_transaction ON ledger_entries (balance_transaction) WHERE balance_transaction IS NOT NULL;
CREATE TABLE ledger_balances (
    ledger_account TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    currency TEXT NOT NULL,
    available_on INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (ledger_account, livemode, currency, available_on, shard)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE timers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE INDEX timers_by_due ON timers (platform, livemode, due_at, id);
CREATE TABLE payout_candidates (
    platform TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    account TEXT NOT NULL,
    since INTEGER NOT NULL,
    sweep_after TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (platform, livemode, account)
) WITHOUT ROWID;
-- Whose funds became available in a span of time (`balance.available`).
CREATE INDEX ledger_balances_by_available_on ON ledger_balances (livemode, available_on, ledger_account);
"#,
    r#"
CREATE TABLE webhook_outbox (
    id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    platform TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX webhook_outbox_by_due ON webhook_outbox (next_attempt_ms);
CREATE INDEX webhook_outbox_by_event ON webhook_outbox (event);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attempted_ms INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    response_excerpt TEXT,
    error TEXT
);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event, id);
CREATE INDEX webhook_deliveries_by_attempted ON webhook_deliveries (attempted_ms);
"#,
    // The outbox is written with every event, per endpoint: clustered on its (time-ordered) id,
    // a row costs two B-tree inserts instead of four. The dispatcher reads it per endpoint;
    // nothing looks rows up by event.
    r#"
CREATE TABLE webhook_outbox_clustered (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    platform TEXT NOT NULL,
    livemode INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO webhook_outbox_clustered
    SELECT id, event, endpoint, platform, livemode, attempts, next_attempt_ms, created_ms FROM webhook_outbox;
DROP TABLE webhook_outbox;
ALTER TABLE webhook_outbox_clustered RENAME TO webhook_outbox;
CREATE INDEX webhook_outbox_by_endpoint ON webhook_outbox (endpoint, next_attempt_ms);
"#,
    // Events are the webhook queue: the dispatcher follows them in id order from a cursor, and
    // the outbox holds only retries, resends and what a lagging endpoint could not take. Events
    // recorded before this step already have their outbox rows: the cursor starts after them.
    r#"
CREATE TABLE webhook_feed (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    after TEXT NOT NULL
);
INSERT INTO webhook_feed (singleton, after)
    SELECT 1, COALESCE(MAX(id), '') FROM documents WHERE id >= 'evt_' AND id < 'evt_~';
"#,
    // A parent's children in id order straight from the index: with `object` between `parent`
    // and `id`, a list of two kinds (an account's bank accounts and cards) sorted them in a
    // temporary B-tree on every call, a third of what the payout run spent finding a
    // destination. A parent has few children; their kind is checked on the row.
    r#"
DROP INDEX documents_by_parent;
CREATE INDEX documents_by_parent ON documents (parent, id) WHERE parent IS NOT NULL;
"#,
    // Only `sluice ledger verify` read postings by ledger transaction or by balance transaction,
    // and it reads them all: it sorts them instead. Each posting cost two more B-tree inserts
    // on every payment (twelve per destination charge).
    r#"
DROP INDEX IF EXISTS ledger_entries_by_txn;
DROP INDEX IF EXISTS ledger_entries_by_balance_transaction;
"#,
    // Lists by scope without the platform in the key: an account id belongs to one platform, and
    // the platform is checked on the row. Entries a quarter shorter split pages less often, and
    // index pages were over half of what a payment wrote to the WAL.
    r#"
DROP INDEX documents_by_scope;
CREATE INDEX documents_by_scope ON documents (account, livemode, object, id);
"#,
];

pub const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE platforms (
    id TEXT COLLATE "C" PRIMARY KEY,
    ordinal BIGINT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);
CREATE TABLE api_keys (
    key_hash BYTEA PRIMARY KEY,
    platform TEXT COLLATE "C" NOT NULL REFERENCES platforms(id),
    livemode BOOLEAN NOT NULL,
    kind TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE documents (
    id TEXT COLLATE "C" PRIMARY KEY,
    object TEXT NOT NULL,
    platform TEXT COLLATE "C" NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    livemode BOOLEAN NOT NULL,
    created BIGINT NOT NULL,
    parent TEXT COLLATE "C",
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    body JSONB NOT NULL
);
CREATE INDEX documents_by_scope ON documents (platform, account, livemode, object, id);
CREATE INDEX documents_by_parent ON documents (parent, object, id) WHERE parent IS NOT NULL;
CREATE TABLE idempotency (
    scope TEXT PRIMARY KEY,
    fingerprint BYTEA NOT NULL,
    status INTEGER NOT NULL,
    body BYTEA NOT NULL,
    request_id TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX idempotency_by_created ON idempotency (created);
"#,
    r#"
CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    ledger_txn TEXT COLLATE "C" NOT NULL,
    balance_transaction TEXT COLLATE "C",
    ledger_account TEXT COLLATE "C" NOT NULL,
    livemode BOOLEAN NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    available_on BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX ledger_entries_by_txn ON ledger_entries (ledger_txn);
CREATE INDEX ledger_entries_by_balance_transaction ON ledger_entries (balance_transaction) WHERE balance_transaction IS NOT NULL;
CREATE TABLE ledger_balances (
    ledger_account TEXT COLLATE "C" NOT NULL,
    livemode BOOLEAN NOT NULL,
    currency TEXT NOT NULL,
    available_on BIGINT NOT NULL,
    shard INTEGER NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (ledger_account, livemode, currency, available_on, shard)
);
"#,
    r#"
CREATE TABLE timers (
    id BIGSERIAL PRIMARY KEY,
    platform TEXT COLLATE "C" NOT NULL,
    livemode BOOLEAN NOT NULL,
    due_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT COLLATE "C" NOT NULL
);
CREATE INDEX timers_by_due ON timers (platform, livemode, due_at, id);
CREATE TABLE payout_candidates (
    platform TEXT COLLATE "C" NOT NULL,
    livemode BOOLEAN NOT NULL,
    account TEXT COLLATE "C" NOT NULL,
    since BIGINT NOT NULL,
    sweep_after TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (platform, livemode, account)
);
-- Whose funds became available in a span of time (`balance.available`).
CREATE INDEX ledger_balances_by_available_on ON ledger_balances (livemode, available_on, ledger_account);
"#,
    r#"
CREATE TABLE webhook_outbox (
    id TEXT COLLATE "C" PRIMARY KEY,
    event TEXT COLLATE "C" NOT NULL,
    endpoint TEXT COLLATE "C" NOT NULL,
    platform TEXT COLLATE "C" NOT NULL,
    livemode BOOLEAN NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX webhook_outbox_by_due ON webhook_outbox (next_attempt_ms);
CREATE INDEX webhook_outbox_by_event ON webhook_outbox (event);
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    event TEXT COLLATE "C" NOT NULL,
    endpoint TEXT COLLATE "C" NOT NULL,
    attempted_ms BIGINT NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    response_excerpt TEXT,
    error TEXT
);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event, id);
CREATE INDEX webhook_deliveries_by_attempted ON webhook_deliveries (attempted_ms);
"#,
    // The dispatcher reads the outbox per endpoint; nothing looks rows up by event.
    r#"
DROP INDEX IF EXISTS webhook_outbox_by_event;
DROP INDEX IF EXISTS webhook_outbox_by_due;
CREATE INDEX webhook_outbox_by_endpoint ON webhook_outbox (endpoint, next_attempt_ms);
"#,
    // See the embedded store's step 6.
    r#"
CREATE TABLE webhook_feed (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    after TEXT COLLATE "C" NOT NULL
);
INSERT INTO webhook_feed (singleton, after)
    SELECT 1, COALESCE(MAX(id), '') FROM documents WHERE id >= 'evt_' AND id < 'evt_~';
"#,
    // Bodies are stored as written (`json`: checked, kept as text). `jsonb` parsed every body into
    // its binary form on insert and printed it back on every read: two thirds of the server's
    // time per payment. The few queries that look inside a body work on `json` alike.
    r#"
ALTER TABLE documents ALTER COLUMN body TYPE json USING body::json;
"#,
    // See the embedded store's step 8.
    r#"
DROP INDEX IF EXISTS ledger_entries_by_txn;
DROP INDEX IF EXISTS ledger_entries_by_balance_transaction;
"#,
    // Documents up to a page long stay inline and uncompressed: events of 2 KB and more were
    // compressed on every insert and uncompressed on every read (5% of the server's time per
    // payment). Bodies are text: Sluice writes every one from a serialiser, and checking each
    // as `json` was another 3.5%; the few queries that look inside cast (`body::json`).
    // `object` compares bytewise, as the other key columns do, instead of by the locale.
    r#"
ALTER TABLE documents SET (toast_tuple_target = 8160);
ALTER TABLE documents ALTER COLUMN object TYPE TEXT COLLATE "C";
ALTER TABLE documents ALTER COLUMN body TYPE TEXT USING body::text;
"#,
    // See the embedded store's step 9.
    r#"
DROP INDEX IF EXISTS documents_by_scope;
CREATE INDEX documents_by_scope ON documents (account, livemode, object, id);
"#,
];
