//! What a PostgreSQL batch writes once, just before it commits, instead of once per job:
//! running-balance changes and payout-candidate marks.
//!
//! Each payment adding its postings to the balance rows itself updated the platform's row of
//! its writer's shard once per payment: every update a new row version, each upsert a search
//! through the versions before it (a sixth of the server's time per payment). And each payment
//! to a connected account key-share-locked the account's payout-candidate row to note it: a
//! round trip per payment, and a multixact whenever two batches held the same row. Until the
//! batch writes them, the reads of those tables inside the batch take what is pending here
//! into account.
//!
//! Both are kept per level of rollback: the batch's finished jobs, the running job, and the
//! running command when it has a savepoint of its own, so that what a rollback undoes in the
//! database is forgotten here too.

use std::collections::{BTreeMap, BTreeSet};

use super::{BalanceSlice, LedgerTotal};

/// A running-balance row without its shard: ledger account, mode, currency, `available_on`.
pub(crate) type SliceKey = (String, bool, String, i64);
/// A payout candidate: platform, mode, connected account.
pub(crate) type MarkKey = (String, bool, String);

/// How two pending values for the same key make one.
pub(crate) trait Combine {
    fn combine(&mut self, other: Self);
}

/// Balance changes add up.
impl Combine for i64 {
    fn combine(&mut self, other: i64) {
        *self += other;
    }
}

/// The earliest moment an account has work for its payout schedule (`since`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Since(pub i64);

impl Combine for Since {
    fn combine(&mut self, other: Since) {
        self.0 = self.0.min(other.0);
    }
}

/// Whether a mark with `since` is already written (as early or earlier).
fn is_written(written: &BTreeMap<MarkKey, i64>, key: &MarkKey, since: Since) -> bool {
    written.get(key).is_some_and(|&noted| noted <= since.0)
}

#[derive(Debug)]
struct Levels<K, V> {
    batch: BTreeMap<K, V>,
    job: BTreeMap<K, V>,
    /// `Some` while a command with a savepoint of its own runs.
    command: Option<BTreeMap<K, V>>,
}

impl<K, V> Default for Levels<K, V> {
    fn default() -> Self {
        Levels {
            batch: BTreeMap::new(),
            job: BTreeMap::new(),
            command: None,
        }
    }
}

/// Amounts summed by key, in key order.
fn added_by_key<K: Ord>(
    stored: impl Iterator<Item = (K, i64)>,
    pending: impl Iterator<Item = (K, i64)>,
) -> BTreeMap<K, i64> {
    let mut sums = BTreeMap::new();
    for (key, amount) in stored.chain(pending) {
        *sums.entry(key).or_insert(0) += amount;
    }
    sums
}

fn combine_into<K: Ord, V: Combine>(into: &mut BTreeMap<K, V>, key: K, value: V) {
    match into.get_mut(&key) {
        Some(kept) => kept.combine(value),
        None => {
            into.insert(key, value);
        }
    }
}

fn merge<K: Ord, V: Combine>(into: &mut BTreeMap<K, V>, from: BTreeMap<K, V>) {
    for (key, value) in from {
        combine_into(into, key, value);
    }
}

impl<K: Ord, V: Combine> Levels<K, V> {
    fn is_empty(&self) -> bool {
        self.batch.is_empty()
            && self.job.is_empty()
            && self.command.as_ref().is_none_or(BTreeMap::is_empty)
    }

    fn add(&mut self, key: K, value: V) {
        let level = self.command.as_mut().unwrap_or(&mut self.job);
        combine_into(level, key, value);
    }

    fn begin_command(&mut self, own_savepoint: bool) {
        self.command = own_savepoint.then(BTreeMap::new);
    }

    fn end_command(&mut self, keep: bool) {
        match (self.command.take(), keep) {
            (Some(command), true) => merge(&mut self.job, command),
            (Some(_), false) | (None, true) => {}
            // It shared the job's savepoint: nothing had been written before it.
            (None, false) => self.job.clear(),
        }
    }

    fn end_job(&mut self, keep: bool) {
        let job = std::mem::take(&mut self.job);
        let command = self.command.take();
        if keep {
            merge(&mut self.batch, job);
            merge(&mut self.batch, command.unwrap_or_default());
        }
    }

    fn take_batch(&mut self) -> Vec<(K, V)> {
        std::mem::take(&mut self.batch).into_iter().collect()
    }

    /// The value of `key` over every level.
    fn combined(&self, key: &K) -> Option<V>
    where
        V: Copy,
    {
        let mut levels = [Some(&self.batch), Some(&self.job), self.command.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|level| level.get(key).copied());
        let mut value = levels.next()?;
        for other in levels {
            value.combine(other);
        }
        Some(value)
    }

    fn all(&self) -> impl Iterator<Item = (&K, &V)> {
        self.batch
            .iter()
            .chain(self.job.iter())
            .chain(self.command.iter().flatten())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    balances: Levels<SliceKey, i64>,
    marks: Levels<MarkKey, Since>,
    /// Marks a read inside the batch has already written, with the `since` written: the next
    /// such read skips them (a clock step's sweep of 500 accounts wrote every earlier account's
    /// mark again before each account's candidate row changed: 250 round trips per payout).
    /// Forgotten on any rollback, which may have undone them.
    written_marks: BTreeMap<MarkKey, i64>,
    /// The candidates marked since a read last wrote their marks (all pending ones after a
    /// rollback): a read looks only at these, not at every mark of the batch (a clock step's
    /// sweep reads several times per account; walking all its marks each time was 5-10% of
    /// Sluice's CPU in a PostgreSQL advance).
    marked_since_written: BTreeSet<MarkKey>,
}

impl Pending {
    /// Whether the running job has changes of its own (a command that begins then needs a
    /// savepoint of its own for its rollback to spare them).
    pub fn job_has_changes(&self) -> bool {
        !self.balances.job.is_empty() || !self.marks.job.is_empty()
    }

    /// Whether no balance change is pending.
    pub fn no_balance_change(&self) -> bool {
        self.balances.is_empty()
    }

    /// Adds sent postings, summed per slice (a slice that sums to zero still makes its row).
    pub fn add_postings<'a>(
        &mut self,
        slices: impl IntoIterator<Item = (&'a str, bool, &'a str, i64, i64)>,
    ) {
        for (account, livemode, currency, available_on, amount) in slices {
            let key = (
                account.to_string(),
                livemode,
                currency.to_string(),
                available_on,
            );
            self.balances.add(key, amount);
        }
    }

    /// Notes that `account` has work for its payout schedule from `since` on.
    pub fn mark(&mut self, platform: &str, livemode: bool, account: &str, since: i64) {
        let key = (platform.to_string(), livemode, account.to_string());
        self.marked_since_written.insert(key.clone());
        self.marks.add(key, Since(since));
    }

    pub fn begin_command(&mut self, own_savepoint: bool) {
        self.balances.begin_command(own_savepoint);
        self.marks.begin_command(own_savepoint);
    }

    /// A command ended; `keep` false: its changes were rolled back (with the job's, when it
    /// shared the job's savepoint: nothing had been written before it).
    pub fn end_command(&mut self, keep: bool) {
        self.balances.end_command(keep);
        self.marks.end_command(keep);
        if !keep {
            self.forget_written_marks();
        }
    }

    /// A job ended; `keep` false: rolled back to its savepoint.
    pub fn end_job(&mut self, keep: bool) {
        self.balances.end_job(keep);
        self.marks.end_job(keep);
        if !keep {
            self.forget_written_marks();
        }
    }

    /// A rollback may have undone what reads wrote: every pending mark is to be written again.
    fn forget_written_marks(&mut self) {
        self.written_marks.clear();
        self.marked_since_written = self.marks.all().map(|(key, _)| key.clone()).collect();
    }

    /// The balance changes the batch adds before it commits, in slice order (and forgets them).
    pub fn take_balance_changes(&mut self) -> Vec<(SliceKey, i64)> {
        self.balances.take_batch()
    }

    /// The marks the batch writes before it commits, in candidate order, but those a read has
    /// already written (and forgets them).
    pub fn take_marks(&mut self) -> Vec<(MarkKey, Since)> {
        let written = std::mem::take(&mut self.written_marks);
        self.marked_since_written.clear();
        let mut marks = self.marks.take_batch();
        marks.retain(|(key, since)| !is_written(&written, key, *since));
        marks
    }

    pub fn has_marks(&self) -> bool {
        !self.marks.is_empty()
    }

    /// Every pending mark, of every level, in candidate order, but those already written.
    /// Writing a mark twice changes nothing the second time, so they may be written before a
    /// read and kept (a rollback forgets what they were written with).
    pub fn unwritten_marks(&self) -> Vec<(MarkKey, Since)> {
        self.marked_since_written
            .iter()
            .filter_map(|key| Some((key, self.marks.combined(key)?)))
            .filter(|(key, since)| !is_written(&self.written_marks, key, *since))
            .map(|(key, since)| (key.clone(), since))
            .collect()
    }

    /// `marks` were written (by a read inside the batch).
    pub fn marks_written(&mut self, marks: &[(MarkKey, Since)]) {
        for (key, Since(since)) in marks {
            self.marked_since_written.remove(key);
            let written = self.written_marks.entry(key.clone()).or_insert(*since);
            *written = (*written).min(*since);
        }
    }

    /// The pending balance changes of the slices `wanted` picks; `None` if there are none.
    fn balance_changes<'a>(
        &'a self,
        wanted: impl Fn(&SliceKey) -> bool + 'a,
    ) -> Option<impl Iterator<Item = (&'a SliceKey, &'a i64)> + 'a> {
        let mut changes = self
            .balances
            .all()
            .filter(move |(key, _)| wanted(key))
            .peekable();
        changes.peek().is_some().then_some(changes)
    }

    /// `stored` (one ledger account's slices in `(currency, available_on)` order) with what is
    /// pending for that account added, in the same order.
    pub fn add_to_balance(
        &self,
        ledger_account: &str,
        livemode: bool,
        stored: Vec<BalanceSlice>,
    ) -> Vec<BalanceSlice> {
        let Some(pending) = self.balance_changes(|(account, mode, _, _)| {
            account == ledger_account && *mode == livemode
        }) else {
            return stored;
        };
        let stored = stored
            .into_iter()
            .map(|slice| ((slice.currency, slice.available_on), slice.amount));
        let pending = pending.map(|((_, _, currency, available_on), amount)| {
            ((currency.clone(), *available_on), *amount)
        });
        added_by_key(stored, pending)
            .into_iter()
            .map(|((currency, available_on), amount)| BalanceSlice {
                currency,
                available_on,
                amount,
            })
            .collect()
    }

    /// `stored` (non-zero totals per ledger account and currency of the accounts whose name
    /// starts with `prefix`) with what is pending added; totals that come to zero are left out.
    pub fn add_to_totals(
        &self,
        prefix: &str,
        livemode: bool,
        stored: Vec<LedgerTotal>,
    ) -> Vec<LedgerTotal> {
        let Some(pending) = self.balance_changes(|(account, mode, _, _)| {
            account.starts_with(prefix) && *mode == livemode
        }) else {
            return stored;
        };
        let stored = stored
            .into_iter()
            .map(|total| ((total.ledger_account, total.currency), total.amount));
        let pending = pending.map(|((account, _, currency, _), amount)| {
            ((account.clone(), currency.clone()), *amount)
        });
        added_by_key(stored, pending)
            .into_iter()
            .filter(|(_, amount)| *amount != 0)
            .map(|((ledger_account, currency), amount)| LedgerTotal {
                ledger_account,
                currency,
                amount,
            })
            .collect()
    }

    /// `stored` (connected accounts after `after_account` with a slice whose `available_on` is
    /// in `(from, up_to]`, in order, at most `limit`) with the accounts pending slices add.
    pub fn add_to_accounts_available(
        &self,
        livemode: bool,
        (from, up_to): (i64, i64),
        after_account: &str,
        limit: usize,
        mut stored: Vec<String>,
    ) -> Vec<String> {
        let floor = after_account.max("acct_");
        let Some(pending) = self.balance_changes(|(account, mode, _, available_on)| {
            *mode == livemode
                && *available_on > from
                && *available_on <= up_to
                && account.as_str() > floor
                && account.as_str() < "acct`"
        }) else {
            return stored;
        };
        stored.extend(pending.map(|((account, _, _, _), _)| account.clone()));
        stored.sort_unstable();
        stored.dedup();
        stored.truncate(limit);
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(currency: &str, available_on: i64, amount: i64) -> BalanceSlice {
        BalanceSlice {
            currency: currency.into(),
            available_on,
            amount,
        }
    }

    #[test]
    fn what_a_rollback_undoes_is_forgotten_and_the_rest_reaches_the_batch() {
        let mut pending = Pending::default();
        pending.add_postings([("acct_a", false, "usd", 10, 100)]);
        pending.end_job(true);
        // A job that fails: nothing of it stays.
        pending.add_postings([("acct_a", false, "usd", 10, 5)]);
        pending.end_job(false);
        // A command of its own inside a job: undone, then kept.
        pending.add_postings([("acct_a", false, "usd", 10, 1)]);
        pending.begin_command(true);
        pending.add_postings([("acct_a", false, "usd", 10, 1_000)]);
        pending.end_command(false);
        pending.begin_command(true);
        pending.add_postings([("acct_b", false, "eur", 20, 7)]);
        pending.end_command(true);
        pending.end_job(true);
        // A command sharing its job's savepoint: its rollback undoes the job's changes.
        pending.begin_command(false);
        pending.add_postings([("acct_a", false, "usd", 10, 50)]);
        pending.end_command(false);
        pending.end_job(true);
        assert_eq!(
            pending.take_balance_changes(),
            vec![
                (("acct_a".into(), false, "usd".into(), 10), 101),
                (("acct_b".into(), false, "eur".into(), 20), 7),
            ]
        );
        assert!(pending.no_balance_change());
    }

    #[test]
    fn reads_add_what_is_pending_in_every_level() {
        let mut pending = Pending::default();
        pending.add_postings([
            ("acct_a", false, "usd", 20, 30),
            ("acct_b", false, "usd", 20, 4),
        ]);
        pending.end_job(true);
        pending.add_postings([("acct_a", false, "eur", 10, 2)]);
        pending.begin_command(true);
        pending.add_postings([
            ("acct_a", false, "usd", 10, -5),
            ("acct_a", true, "usd", 10, 9),
        ]);
        let balance = pending.add_to_balance(
            "acct_a",
            false,
            vec![slice("usd", 10, 5), slice("usd", 30, 1)],
        );
        assert_eq!(
            balance,
            vec![
                slice("eur", 10, 2),
                slice("usd", 10, 0),
                slice("usd", 20, 30),
                slice("usd", 30, 1)
            ]
        );
        let total = |account: &str, currency: &str, amount: i64| LedgerTotal {
            ledger_account: account.into(),
            currency: currency.into(),
            amount,
        };
        assert_eq!(
            pending.add_to_totals("acct_", false, vec![total("acct_a", "usd", -25)]),
            vec![total("acct_a", "eur", 2), total("acct_b", "usd", 4)],
            "acct_a's usd comes to zero"
        );
        assert_eq!(
            pending.add_to_accounts_available(
                false,
                (15, 25),
                "",
                2,
                vec!["acct_0".into(), "acct_c".into()]
            ),
            vec!["acct_0".to_string(), "acct_a".to_string()]
        );
        assert_eq!(
            pending.add_to_accounts_available(false, (15, 25), "acct_a", 5, Vec::new()),
            vec!["acct_b".to_string()]
        );
    }

    #[test]
    fn marks_keep_the_earliest_since_and_are_all_read_until_the_batch_takes_them() {
        let mut pending = Pending::default();
        pending.mark("acct_p", false, "acct_b", 30);
        pending.mark("acct_p", false, "acct_b", 20);
        pending.end_job(true);
        pending.mark("acct_p", false, "acct_a", 50);
        pending.end_job(false);
        pending.begin_command(true);
        pending.mark("acct_p", false, "acct_b", 10);
        pending.mark("acct_p", false, "acct_c", 40);
        let key = |account: &str| ("acct_p".to_string(), false, account.to_string());
        assert_eq!(
            pending.unwritten_marks(),
            vec![(key("acct_b"), Since(10)), (key("acct_c"), Since(40))]
        );
        pending.end_command(false);
        pending.end_job(true);
        assert_eq!(pending.take_marks(), vec![(key("acct_b"), Since(20))]);
        assert!(pending.unwritten_marks().is_empty());
    }

    #[test]
    fn written_marks_are_skipped_until_a_rollback() {
        let mut pending = Pending::default();
        let key = |account: &str| ("acct_p".to_string(), false, account.to_string());
        pending.mark("acct_p", false, "acct_a", 30);
        let written = pending.unwritten_marks();
        pending.marks_written(&written);
        pending.mark("acct_p", false, "acct_b", 40);
        // acct_a is written; an earlier `since` for it is not.
        assert_eq!(pending.unwritten_marks(), vec![(key("acct_b"), Since(40))]);
        pending.mark("acct_p", false, "acct_a", 20);
        let written = pending.unwritten_marks();
        assert_eq!(
            written,
            vec![(key("acct_a"), Since(20)), (key("acct_b"), Since(40))]
        );
        pending.marks_written(&written);
        assert!(pending.unwritten_marks().is_empty());
        pending.end_job(true);
        // The batch's end writes nothing a read already wrote...
        assert!(pending.take_marks().is_empty());
        // ...and a rollback forgets what was written under it.
        pending.mark("acct_p", false, "acct_c", 10);
        let written = pending.unwritten_marks();
        pending.marks_written(&written);
        pending.end_job(true);
        pending.mark("acct_p", false, "acct_d", 10);
        pending.end_job(false);
        assert_eq!(pending.take_marks(), vec![(key("acct_c"), Since(10))]);
    }
}
