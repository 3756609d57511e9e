//! The wire layer: Stripe's HTTP conventions for every endpoint (auth, `Stripe-Account`, form
//! parameters, idempotency, errors, lists, `expand`), between axum and the domain.

pub mod app;
pub mod clock;
pub mod error;
pub mod expand;
pub mod expandable;
pub mod form;
pub mod list;
pub mod params;
pub mod request;
pub mod server;
pub mod shape;

pub use app::App;
pub use error::ApiError;
pub use params::{Params, Patch};
pub use request::ApiRequest;

/// The API version Sluice answers in when a request names none.
pub const API_VERSION: &str = "2026-10-28.endive";
