//! The SQL floor of a 30-day advance on the embedded store: how many automatic payouts per
//! second SQLite alone allows on this machine when a payout is stored the way Sluice stores it
//! (documents with their two indexes, postings, balance slices, timers), with no domain work at
//! all. It executes only the statements one payout's life must run, with bodies of the real
//! sizes written in advance: no JSON is built or parsed, no savepoint is opened, no commit waits
//! for a sync, the WAL is never checkpointed while it runs. Sluice's own advance can only be
//! slower; a target above this figure needs another storage model or another machine.
//!
//! Per account, as `domain::scheduler` runs it, in steps of 500 (one commit each):
//! - announcement: read the account and its balance; write `balance.available`;
//! - payout: read the account, its unswept balance transactions, its external accounts and its
//!   balance; write two postings and their balance slices, the balance transaction, the payout,
//!   `payout.created`, the swept transaction's new body, the candidate's new cursor, two timers;
//! - in transit: read the payout, write it back, `payout.updated`, delete the timer;
//! - paid: read the payout, write it back, `payout.updated`, `payout.paid`,
//!   `payout.reconciliation_completed`, delete the timer.
//!
//! `scripts/payout-sql-floor.sh` builds the database with `sluice bench` and runs this on it.
//!
//!     cargo run --release --example payout_sql_floor -- DATABASE [--without-events]

use std::time::Instant;

use rusqlite::{params, Connection};

const STEP: usize = 500;
const DAY_SECONDS: i64 = 86_400;
/// Body sizes of a 10,000-account advance's documents (`avg(length(body))` by object).
const EVENT_BYTES: usize = 1_016;
const PAYOUT_BYTES: usize = 651;
const BALANCE_TRANSACTION_BYTES: usize = 386;

const GET: &str = "SELECT account, body FROM documents WHERE id = ?1";
const INSERT_DOCUMENT: &str = "INSERT INTO documents (id, object, platform, account, livemode, created, parent, deleted, body)
     VALUES (?1, ?2, ?3, ?4, 0, ?5, NULL, 0, ?6)";
const UPDATE_DOCUMENT: &str = "UPDATE documents SET body = ?2, deleted = 0 WHERE id = ?1";
const BALANCE: &str = "SELECT currency, available_on, SUM(amount) FROM ledger_balances
     WHERE ledger_account = ?1 AND livemode = 0 GROUP BY currency, available_on ORDER BY currency, available_on";

struct Floor {
    conn: Connection,
    platform: String,
    events: bool,
    now: i64,
    next_id: u64,
    event_body: String,
    payout_body: String,
    balance_transaction_body: String,
}

type Result<T> = rusqlite::Result<T>;

impl Floor {
    /// Ids in creation order, like Sluice's time-ordered ones.
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_9{:021}", self.next_id)
    }

    fn read_document(&self, id: &str) -> Result<(String, String)> {
        self.conn
            .prepare_cached(GET)?
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
    }

    fn insert_document(&mut self, object: &str, account: &str) -> Result<String> {
        let (prefix, body) = match object {
            "event" => ("evt", &self.event_body),
            "payout" => ("po", &self.payout_body),
            _ => ("txn", &self.balance_transaction_body),
        };
        let body = body.clone();
        let id = self.new_id(prefix);
        self.conn.prepare_cached(INSERT_DOCUMENT)?.execute(params![
            id,
            object,
            self.platform,
            account,
            self.now,
            body
        ])?;
        Ok(id)
    }

    fn event(&mut self, account: &str) -> Result<()> {
        if self.events {
            self.insert_document("event", account)?;
        }
        Ok(())
    }

    fn balance_slices(&self, account: &str) -> Result<usize> {
        let mut statement = self.conn.prepare_cached(BALANCE)?;
        let slices = statement.query_map([account], |row| row.get::<_, i64>(2))?;
        Ok(slices.count())
    }

    fn announce(&mut self, account: &str) -> Result<()> {
        self.read_document(account)?;
        self.balance_slices(account)?;
        self.event(account)
    }

    fn pay_out(&mut self, account: &str, sweep_after: &str) -> Result<String> {
        self.read_document(account)?;
        let unswept: Vec<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, body FROM documents WHERE platform = ?1 AND account = ?2 AND livemode = 0 AND deleted = 0
                 AND object IN ('balance_transaction') AND id > ?3 ORDER BY id DESC LIMIT 100",
            )?
            .query_map(params![self.platform, account, sweep_after], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_>>()?;
        let external_accounts = self
            .conn
            .prepare_cached(
                "SELECT body FROM documents INDEXED BY documents_by_parent WHERE platform = ?1 AND account = ?1
                 AND livemode = 0 AND deleted = 0 AND object IN ('bank_account', 'card') AND parent = ?2
                 ORDER BY id DESC LIMIT 100",
            )?
            .query_map(params![self.platform, account], |row| row.get::<_, String>(0))?
            .count();
        let (Some(swept), 1) = (unswept.first(), external_accounts) else {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        };
        self.balance_slices(account)?;
        let balance_transaction = self.new_id("txn");
        let ledger_txn = self.new_id("ltx");
        for (ledger_account, amount) in [(account, -1_912_i64), ("op_payouts_in_transit", 1_912)] {
            self.conn
                .prepare_cached(
                    "INSERT INTO ledger_entries (ledger_txn, balance_transaction, ledger_account, livemode, currency, amount, available_on, created)
                     VALUES (?1, ?2, ?3, 0, 'usd', ?4, ?5, ?5)",
                )?
                .execute(params![ledger_txn, balance_transaction, ledger_account, amount, self.now])?;
            self.conn
                .prepare_cached(
                    "INSERT INTO ledger_balances (ledger_account, livemode, currency, available_on, shard, amount)
                     VALUES (?1, 0, 'usd', ?2, 0, ?3)
                     ON CONFLICT (ledger_account, livemode, currency, available_on, shard)
                     DO UPDATE SET amount = amount + excluded.amount",
                )?
                .execute(params![ledger_account, self.now, amount])?;
        }
        self.insert_document("balance_transaction", account)?;
        let payout = self.insert_document("payout", account)?;
        self.event(account)?;
        let swept_body = format!("{} ", swept.1);
        self.conn
            .prepare_cached(UPDATE_DOCUMENT)?
            .execute(params![swept.0, swept_body])?;
        self.conn
            .prepare_cached(
                "UPDATE payout_candidates SET since = ?3, sweep_after = ?4
                 WHERE platform = ?1 AND livemode = 0 AND account = ?2",
            )?
            .execute(params![self.platform, account, i64::MAX, swept.0])?;
        for (kind, due_at) in [
            ("in_transit", self.now + 3_600),
            ("settle", self.now + DAY_SECONDS),
        ] {
            self.conn
                .prepare_cached(
                    "INSERT INTO timers (platform, livemode, due_at, kind, target) VALUES (?1, 0, ?2, ?3, ?4)",
                )?
                .execute(params![self.platform, due_at, kind, payout])?;
        }
        Ok(payout)
    }

    /// Runs the timers due by `due_by` in steps; each changes its payout and records `events`.
    fn lifecycle_step(&mut self, due_by: i64, events: usize) -> Result<()> {
        loop {
            self.conn.execute_batch("BEGIN")?;
            let due: Vec<(i64, String)> = self
                .conn
                .prepare_cached(
                    "SELECT id, target FROM timers WHERE platform = ?1 AND livemode = 0 AND due_at <= ?2
                     ORDER BY due_at, id LIMIT ?3",
                )?
                .query_map(params![self.platform, due_by, STEP as i64], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<Result<_>>()?;
            if due.is_empty() {
                return self.conn.execute_batch("COMMIT");
            }
            for (_, payout) in &due {
                let (account, body) = self.read_document(payout)?;
                let changed = format!("{body} ");
                self.conn
                    .prepare_cached(UPDATE_DOCUMENT)?
                    .execute(params![payout, changed])?;
                for _ in 0..events {
                    self.event(&account)?;
                }
            }
            let ran: Vec<String> = due.iter().map(|(id, _)| id.to_string()).collect();
            self.conn
                .prepare_cached("DELETE FROM timers WHERE id IN (SELECT value FROM json_each(?1))")?
                .execute([format!("[{}]", ran.join(","))])?;
            self.conn.execute_batch("COMMIT")?;
        }
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: payout_sql_floor DATABASE [--without-events]");
        std::process::exit(2);
    };
    let events = args.next().as_deref() != Some("--without-events");
    let conn = Connection::open(&path)?;
    // As the store's writer has it (`store::sqlite`), minus the sync its syncer thread does.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.set_prepared_statement_cache_capacity(128);
    // From a checkpointed database, as the server's checkpoint thread keeps it.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let (platform, now): (String, i64) = conn.query_row(
        "SELECT platform, since FROM payout_candidates WHERE since < ?1 LIMIT 1",
        [i64::MAX],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let candidates: Vec<(String, String)> = conn
        .prepare(
            "SELECT account, sweep_after FROM payout_candidates WHERE platform = ?1 AND livemode = 0 ORDER BY account",
        )?
        .query_map([&platform], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_>>()?;
    let mut floor = Floor {
        conn,
        platform,
        events,
        now,
        next_id: 0,
        event_body: "e".repeat(EVENT_BYTES),
        payout_body: "p".repeat(PAYOUT_BYTES),
        balance_transaction_body: "b".repeat(BALANCE_TRANSACTION_BYTES),
    };
    let started = Instant::now();
    for step in candidates.chunks(STEP) {
        floor.conn.execute_batch("BEGIN")?;
        for (account, _) in step {
            floor.announce(account)?;
        }
        floor.conn.execute_batch("COMMIT")?;
    }
    let mut payouts = 0;
    for step in candidates.chunks(STEP) {
        floor.conn.execute_batch("BEGIN")?;
        for (account, sweep_after) in step {
            floor.pay_out(account, sweep_after)?;
            payouts += 1;
        }
        floor.conn.execute_batch("COMMIT")?;
    }
    let created = started.elapsed();
    floor.lifecycle_step(now + 3_600, 1)?;
    floor.lifecycle_step(now + DAY_SECONDS, 3)?;
    let total = started.elapsed();
    println!(
        "sql floor: events={} payouts={payouts} created_in={:.3}s total={:.3}s payouts_per_s={:.0}",
        if events { "six per payout" } else { "none" },
        created.as_secs_f64(),
        total.as_secs_f64(),
        payouts as f64 / total.as_secs_f64()
    );
    Ok(())
}
