//! Keeping the embedded store's WAL short without stalling the writer.
//!
//! The WAL can only restart from the top after a checkpoint has copied every frame in it back
//! into the database and synced the database file, at a moment when no frame is being added:
//! between two of the writer's transactions. When the writer did that on its own (SQLite's
//! automatic checkpoint, every 4,096 frames), it copied everything the background checkpoints
//! had not reached yet and synced all the database pages they had copied since the last
//! complete checkpoint (PASSIVE passes that stop short of the WAL's end do not sync): 60-80 ms
//! with every request of the next batch waiting, several times a second under load (a WAL
//! frame is a page, and a payment writes about fourteen). It set the payments' p99.
//!
//! Now the checkpoint thread copies and syncs, in PASSIVE passes beside the writer, and once
//! the WAL is long it raises `due` right after a pass, when only what was committed during that
//! pass is left. The writer then checkpoints that short tail between two batches (10-20 ms), and
//! its next transaction starts the WAL from the top. A longer WAL makes that rarer.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

/// A WAL this many frames long (pages of 4 KiB: 256 MiB, about a second of payments at full
/// load) is restarted. The file keeps its largest size. Each restart holds the writer while it
/// copies and syncs the tail: when the host's disk slows down (it drops from over 1 GB/s to about
/// 310 MB/s for tens of seconds at a time), those pauses set the p99. With 64 MiB, eight 20-s
/// segments on one store reached p99 26-30 ms in half of them; with 256 MiB it stayed under 20
/// ms in all sixteen of two runs.
const RESTART_FRAMES: i64 = 65_536;
/// The writer's own automatic checkpoint stays only as a backstop, should the checkpoint thread
/// be gone: it runs inside the commit that crosses it, on the writer, and copies the whole WAL.
/// One transaction of a clock advance over 10,000 accounts writes about 30,000 frames; with the
/// backstop at 32,768 frames its commit took 0.96 s instead of 0.25 s. At 1 GiB only a day's run
/// over some 80,000 accounts would reach it.
pub const WRITER_AUTOCHECKPOINT_FRAMES: i64 = 4 * RESTART_FRAMES;
/// Pause between two background passes: short, so that the writer's tail stays small.
const PASS_INTERVAL_MS: u64 = 50;
/// Passes skipped waiting for the writer's turn before the thread checkpoints anyway (an idle
/// writer takes no turn).
const IDLE_WRITER_PASSES: u32 = 20;

/// The flag the checkpoint thread raises and the writer lowers.
#[derive(Clone)]
pub struct WalRestart {
    due: Arc<AtomicBool>,
    restart_frames: i64,
}

impl Default for WalRestart {
    fn default() -> Self {
        WalRestart::new(RESTART_FRAMES)
    }
}

impl WalRestart {
    fn new(restart_frames: i64) -> Self {
        WalRestart {
            due: Arc::default(),
            restart_frames,
        }
    }

    /// Called by the writer between batches: checkpoints the tail if the checkpoint thread asked
    /// for it. A failure only leaves the WAL longer; the backstop still bounds it.
    pub fn run_if_due(&self, writer: &Connection) {
        if !self.due.load(Ordering::Acquire) {
            return;
        }
        if let Err(error) = passive_checkpoint(writer) {
            tracing::warn!(%error, "the writer's WAL checkpoint failed");
        }
        self.due.store(false, Ordering::Release);
    }

    /// The checkpoint thread's loop; ends with the process.
    pub fn run_passes(self, conn: Connection, database: File) {
        let mut waited_passes = 0;
        loop {
            std::thread::sleep(Duration::from_millis(PASS_INTERVAL_MS));
            // While the writer has not taken its turn, another pass would only race it for the
            // checkpoint lock; but an idle writer takes no turn, and then a pass copies all.
            if self.due.load(Ordering::Acquire) && waited_passes < IDLE_WRITER_PASSES {
                waited_passes += 1;
                continue;
            }
            waited_passes = 0;
            self.pass(&conn, &database);
        }
    }

    /// One background pass: copies what it can, syncs it, and raises the flag if the WAL is
    /// long.
    fn pass(&self, conn: &Connection, database: &File) {
        let frames = match passive_checkpoint(conn) {
            Ok(frames) => frames,
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed");
                return;
            }
        };
        // A pass that stops short of the WAL's end (the writer went on) leaves the pages it
        // copied unsynced; whoever completes the checkpoint must sync them all. Syncing them
        // here keeps that off the writer.
        if let Err(error) = database.sync_data() {
            tracing::warn!(%error, "cannot sync the database file after a checkpoint");
            return;
        }
        if frames >= self.restart_frames {
            self.due.store(true, Ordering::Release);
        }
    }
}

/// One PASSIVE checkpoint; returns how many frames the WAL holds.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Wal {
        dir: std::path::PathBuf,
        writer: Connection,
        checkpointer: Connection,
        database: File,
    }

    impl Drop for Wal {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn wal() -> Wal {
        let dir = std::env::temp_dir().join(crate::ids::new_id("sluice-checkpoint-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "synchronous", "NORMAL").unwrap();
        // Only the checkpoints under test run.
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE pages (body BLOB NOT NULL)")
            .unwrap();
        let checkpointer = Connection::open(&path).unwrap();
        let database = File::open(&path).unwrap();
        Wal {
            dir,
            writer,
            checkpointer,
            database,
        }
    }

    /// Commits `rows` rows of about a page each, a hundred per transaction.
    fn write(conn: &Connection, rows: usize) {
        for chunk in (0..rows).collect::<Vec<_>>().chunks(100) {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            for _ in chunk {
                conn.execute("INSERT INTO pages (body) VALUES (zeroblob(3000))", [])
                    .unwrap();
            }
            conn.execute_batch("COMMIT").unwrap();
        }
    }

    fn due(restart: &WalRestart) -> bool {
        restart.due.load(Ordering::Acquire)
    }

    /// Small enough for a quick test.
    const TEST_RESTART_FRAMES: i64 = 1_000;

    #[test]
    fn a_short_wal_is_left_to_the_pass_and_restarts_when_the_pass_copied_all() {
        let wal = wal();
        let restart = WalRestart::new(TEST_RESTART_FRAMES);
        write(&wal.writer, 200);
        restart.pass(&wal.checkpointer, &wal.database);
        assert!(!due(&restart), "a short WAL asked for the writer's turn");
        // The writer was idle through the pass, which copied every frame: its next
        // transaction starts the WAL from the top with no turn of its own.
        write(&wal.writer, 10);
        let frames = passive_checkpoint(&wal.checkpointer).unwrap();
        assert!(frames < 100, "the WAL did not restart: {frames} frames");
    }

    #[test]
    fn a_long_wal_starts_from_the_top_after_the_writers_turn() {
        let wal = wal();
        let restart = WalRestart::new(TEST_RESTART_FRAMES);
        write(&wal.writer, TEST_RESTART_FRAMES as usize + 100);
        // A reader's snapshot stops the pass where the writer was when the reader began, as
        // the writer's next commits do under load: what comes after is the writer's tail.
        let reader = Connection::open(wal.dir.join("test.db")).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM pages", [], |row| row.get(0))
            .unwrap();
        write(&wal.writer, 50);
        restart.pass(&wal.checkpointer, &wal.database);
        assert!(due(&restart));
        reader.execute_batch("COMMIT").unwrap();
        restart.run_if_due(&wal.writer);
        assert!(!due(&restart));
        write(&wal.writer, 10);
        let frames = passive_checkpoint(&wal.checkpointer).unwrap();
        assert!(frames < 100, "the WAL did not restart: {frames} frames");
        let rows: i64 = wal
            .writer
            .query_row("SELECT count(*) FROM pages", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, TEST_RESTART_FRAMES + 160);
    }
}
