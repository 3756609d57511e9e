//! Which ids are settled: every write transaction holds a mark taken before it made any id, so
//! an id below the oldest open mark belongs to a write that has ended (committed or undone).
//! Readers that follow a table in id order (the webhook feed follows events) stop there: on
//! PostgreSQL several writers commit out of id order, and reading past an open write would skip
//! the ids it has yet to commit.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::ids;

#[derive(Debug, Default)]
pub struct Horizon {
    open: Mutex<BTreeSet<u64>>,
}

/// Held by one write from before it runs until its fate is known; dropping it ends the write.
#[derive(Debug)]
pub struct OpenWrite {
    horizon: Arc<Horizon>,
    mark: u64,
}

impl Horizon {
    pub fn open(self: &Arc<Self>) -> OpenWrite {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Taken under the lock, so `settled` never sees a mark later than one not yet listed.
        let mark = ids::mark();
        open.insert(mark);
        OpenWrite {
            horizon: self.clone(),
            mark,
        }
    }

    /// Every id below this mark (see `ids::first_id_of`) was made by a write that has ended.
    pub fn settled(&self) -> u64 {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = ids::mark();
        open.first().map_or(now, |oldest| now.min(*oldest))
    }
}

impl Drop for OpenWrite {
    fn drop(&mut self) {
        let mut open = self
            .horizon
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.remove(&self.mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_write_holds_the_horizon_below_its_ids() {
        let horizon = Arc::new(Horizon::default());
        let before = ids::new_id("evt");
        let write = horizon.open();
        let inside = ids::new_id("evt");
        let settled = ids::first_id_of("evt", horizon.settled());
        assert!(
            before < settled && settled < inside,
            "{before} {settled} {inside}"
        );
        drop(write);
        let settled = ids::first_id_of("evt", horizon.settled());
        assert!(inside < settled, "{inside} {settled}");
    }
}
