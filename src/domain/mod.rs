//! The domain: Stripe's model as plain synchronous Rust over a store transaction. Nothing here
//! knows HTTP or SQL; handlers decode, call one function here, encode.

pub mod accounts;
pub mod address;
pub mod application_fees;
pub mod cards;
pub mod charges;
pub mod clock;
pub mod customers;
pub mod disputes;
pub mod docs;
pub mod error;
pub mod event_types;
pub mod events;
pub mod external_accounts;
pub mod json_member;
pub mod json_text;
pub mod ledger;
pub mod liability;
pub mod metadata;
pub mod money;
pub mod objects;
pub mod payment_intents;
pub mod payment_methods;
pub mod payouts;
pub mod persons;
pub mod platforms;
pub mod pricing;
pub mod refunds;
pub mod requirements;
pub mod scheduler;
pub mod transfers;
pub mod webhook_endpoints;

pub use error::{Error, ErrorKind, Result};

use crate::store::Scope;

/// Who is acting, where, and when: handed to every domain function.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The data this request may see and change: platform, mode, and the account it acts in.
    pub scope: Scope,
    /// Acting in a connected account through `Stripe-Account`.
    pub connected: bool,
    /// Unix seconds (the platform's clock in test mode, once test clocks exist).
    pub now: i64,
    pub request_id: String,
    pub idempotency_key: Option<String>,
    /// The operator's prices (processing, disputes, instant payouts).
    pub pricing: std::sync::Arc<pricing::Pricing>,
    /// Where this server is reached (`http://127.0.0.1:12111`), for links it hands out.
    pub base_url: std::sync::Arc<str>,
    /// Collects the events this command records, published once its transaction commits.
    pub events: std::sync::Arc<events::Recorder>,
    /// Which platforms may hold a Connect reserve (shared by the process).
    pub reserves: std::sync::Arc<liability::Reserves>,
}

impl Ctx {
    /// Refuses a request made in a connected account (`Stripe-Account`) for what only the
    /// platform has (`what`: "Transfers", "Application fees").
    pub fn require_platform(&self, what: &str) -> Result<()> {
        if self.connected {
            return Err(Error::new(
                ErrorKind::Permission,
                format!("{what} belong to the platform: make this request without the Stripe-Account header."),
            ));
        }
        Ok(())
    }

    /// Work the platform's clock runs (payout schedules, timers), acting in `account`.
    pub fn system(base: &Ctx, account: &str, now: i64) -> Ctx {
        Ctx {
            scope: Scope {
                platform: base.scope.platform.clone(),
                account: account.to_string(),
                livemode: base.scope.livemode,
            },
            connected: account != base.scope.platform,
            now,
            request_id: String::new(),
            idempotency_key: None,
            pricing: base.pricing.clone(),
            base_url: base.base_url.clone(),
            events: base.events.clone(),
            reserves: base.reserves.clone(),
        }
    }

    /// The scope of the platform's own objects (connected accounts live there).
    pub fn platform_scope(&self) -> Scope {
        Scope {
            platform: self.scope.platform.clone(),
            account: self.scope.platform.clone(),
            livemode: self.scope.livemode,
        }
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
