//! Running a platform's clock: catching scheduled work up to the clock's time (after an advance,
//! and every second on wall time from a background task).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{ApiError, App};
use crate::domain::events::Recorder;
use crate::domain::scheduler::{self, Report};
use crate::domain::{self, Ctx};
use crate::store::{PendingWrite, Scope, Tx};

/// How often the background task catches every platform's clock up with wall time.
const TICK_MS: u64 = 1_000;
/// Steps of one run queued at once on the embedded store: the running one and the next.
const STEPS_QUEUED: usize = 2;

type QueuedStep = (PendingWrite<(bool, Report), ApiError>, Arc<Recorder>);

impl App {
    fn clock_ctx(&self, platform: &str, livemode: bool) -> Ctx {
        let now = domain::unix_now() + self.clock_offset(platform, livemode);
        Ctx {
            scope: Scope {
                platform: platform.to_string(),
                account: platform.to_string(),
                livemode,
            },
            connected: false,
            now,
            request_id: String::new(),
            idempotency_key: None,
            pricing: self.pricing.clone(),
            base_url: self.base_url.clone(),
            events: self.hub.recorder(),
            reserves: self.reserves.clone(),
        }
    }

    /// Runs, in order and in steps of bounded work (each its own transaction), everything that
    /// fell due on the platform's clock since the last run.
    pub async fn catch_up(&self, platform: &str, livemode: bool) -> Result<Report, ApiError> {
        let run = self.clock_run(platform, livemode);
        let _running = run.lock().await;
        self.catch_up_locked(platform, livemode).await
    }

    /// Sets the most scheduled work (timers run, accounts announced or swept) one transaction
    /// of a clock run does. Smaller holds the writer for less time at once and takes more
    /// commits; tests use it to run a day in several steps.
    pub fn set_clock_chunk(&self, chunk: usize) {
        self.clock_chunk.store(chunk.max(1), Ordering::Relaxed);
    }

    fn clock_run(&self, platform: &str, livemode: bool) -> Arc<tokio::sync::Mutex<()>> {
        let mut runs = self
            .clock_runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        runs.entry((platform.to_string(), livemode))
            .or_default()
            .clone()
    }

    async fn catch_up_locked(&self, platform: &str, livemode: bool) -> Result<Report, ApiError> {
        let started = std::time::Instant::now();
        let ran = self.run_steps(platform, livemode).await?;
        if ran.did_work() {
            // What operators watch: a day's payout run, and how long it held the clock.
            tracing::info!(
                %platform,
                livemode,
                steps = ran.steps,
                timers_run = ran.timers_run,
                payouts_created = ran.payouts_created,
                balances_available = ran.balances_available,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "scheduled work ran"
            );
        }
        Ok(ran)
    }

    async fn run_steps(&self, platform: &str, livemode: bool) -> Result<Report, ApiError> {
        let base = self.clock_ctx(platform, livemode);
        let up_to = base.now;
        let mut report = Report::default();
        // The first step alone: on a platform's first run it creates the clock's record, which
        // a second step running beside it on PostgreSQL would create too.
        let mut queued = VecDeque::from([self.queue_step(&base, up_to).await?]);
        // On PostgreSQL a queued step would wait on another connection for the running one's
        // lock on the clock, holding up the rest of that connection's batch.
        let steps_queued = if self.store.writes_in_queue_order() {
            STEPS_QUEUED
        } else {
            1
        };
        let mut failure = None;
        while let Some((next, recorder)) = queued.pop_front() {
            let (more, step) = match next.answer().await {
                Ok(answer) => answer,
                Err(error) => {
                    // What is queued behind still runs; its answers are awaited all the same.
                    failure.get_or_insert(error);
                    continue;
                }
            };
            recorder.publish();
            report.add(&step);
            // Once the run is finished, what is still queued finds so (`scheduler::step`) and
            // does nothing. Until then one step waits behind the running one, so that the
            // writer goes on to it while the running one's commit is made durable: 0.5 s of a
            // 30-day advance over 10,000 accounts was spent waiting on the disk between steps.
            while more && failure.is_none() && queued.len() < steps_queued {
                match self.queue_step(&base, up_to).await {
                    Ok(step) => queued.push_back(step),
                    Err(error) => {
                        failure = Some(error);
                    }
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// Queues one step (its own transaction), with the recorder of its events, which the
    /// caller publishes once the step is durable.
    async fn queue_step(&self, base: &Ctx, up_to: i64) -> Result<QueuedStep, ApiError> {
        let recorder = self.hub.recorder();
        let chunk = self.clock_chunk.load(Ordering::Relaxed);
        let base = Ctx {
            events: recorder.clone(),
            ..base.clone()
        };
        let pending = self
            .store
            .write_scheduled(move |tx: &mut dyn Tx| -> Result<(bool, Report), ApiError> {
                let mut step = Report::default();
                let more = scheduler::step(tx, &base, up_to, chunk, &mut step)?;
                Ok((more, step))
            })
            .await?;
        Ok((pending, recorder))
    }

    /// Keeps every platform's scheduled work caught up with its clock, for as long as the
    /// server runs.
    pub fn spawn_scheduler(self: &Arc<Self>) {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let platforms = match app
                    .store
                    .read(|tx: &mut dyn Tx| -> Result<Vec<String>, ApiError> {
                        Ok(tx.platforms()?)
                    })
                    .await
                {
                    Ok(platforms) => platforms,
                    Err(error) => {
                        tracing::warn!(error = %error.message, "scheduler: cannot list platforms");
                        continue;
                    }
                };
                for platform in platforms {
                    for livemode in [false, true] {
                        // A clock an advance is running is caught up by that advance.
                        let run = app.clock_run(&platform, livemode);
                        let Ok(_running) = run.try_lock() else {
                            continue;
                        };
                        if let Err(error) = app.catch_up_locked(&platform, livemode).await {
                            tracing::error!(%platform, livemode, error = %error.message, "scheduler: a step failed");
                        }
                    }
                }
            }
        });
    }
}
