//! Sluice: a self-hosted payments platform that speaks Stripe's Connect API v1.
#![recursion_limit = "256"]

pub mod api;
pub mod bench;
pub mod cli;
pub mod client;
pub mod domain;
pub mod ids;
pub mod store;
pub mod webhooks;
pub mod wire;
