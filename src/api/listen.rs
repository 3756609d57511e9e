//! `GET /v1/sluice/listen`: the stream `sluice listen` reads (Sluice's extension).
//!
//! Contract:
//! - Authenticated with a platform's secret key; no `Stripe-Account` (the stream carries the
//!   platform's own events and all its connected accounts' events, in the key's mode).
//! - Optional `events[]`: event types to carry (`*` or omitted: all).
//! - The answer is `200` with `Content-Type: application/x-ndjson`, kept open: one JSON object
//!   per line, flushed as events commit. Lines by `object`:
//!   - first, once: `{"object": "sluice.listen_session", "secret": "whsec_...", "api_version",
//!     "livemode", "platform"}`: the session's signing secret (a new one per connection);
//!   - per event: `{"object": "sluice.listen_event", "id": "evt_...", "type", "connect": bool,
//!     "account": "acct_..." | null, "payload": "<the event JSON, exactly the bytes to POST>",
//!     "stripe_signature": "t=...,v1=..."}`: `stripe_signature` signs `payload` with the
//!     session secret at send time, so a client forwarding `payload` with that header to a
//!     local endpoint passes `stripe.Webhook.construct_event(payload, header, secret)` (a
//!     client that forwards later should re-sign with the secret);
//!   - `{"object": "sluice.heartbeat", "time": <unix seconds>}` every 15 seconds;
//!   - `{"object": "sluice.listen_lagged", "missed": n}` when the client read too slowly and
//!     `n` events were skipped (they stay in `/v1/events`).
//! - Only events committed after the connection opened are carried.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::domain::{event_types, events};
use crate::wire::{ApiError, ApiRequest, App};

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/v1/sluice/listen", get(listen))
}

const HEARTBEAT_SECONDS: u64 = 15;
/// Lines buffered for a slow reader before the broadcast side counts it as lagging.
const BUFFERED_LINES: usize = 256;

/// A response body fed line by line from a channel; it ends when the sender goes away.
struct Lines(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Lines {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|bytes| Ok(Frame::data(bytes))))
    }
}

fn line(value: serde_json::Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

async fn listen(
    State(app): State<Arc<App>>,
    mut request: ApiRequest,
) -> Result<Response, ApiError> {
    if request.caller.account != request.caller.platform {
        return Err(ApiError::forbidden(
            "account_invalid",
            "`sluice listen` streams the platform's events and its connected accounts': make this request without the Stripe-Account header.",
        ));
    }
    let wanted = request.params.string_list("events")?.unwrap_or_default();
    for (index, event_type) in wanted.iter().enumerate() {
        if event_type != "*" && !event_types::is_known(event_type) {
            return Err(ApiError::invalid_request(format!(
                "Invalid events[{index}]: `{event_type}` is not an event type."
            ))
            .with_param(format!("events[{index}]")));
        }
    }
    request.finish_params()?;
    let all = wanted.is_empty() || wanted.iter().any(|t| t == "*");
    let platform = request.caller.platform.clone();
    let livemode = request.caller.livemode;
    let secret = crate::ids::secret_token("whsec_", 24);
    let mut feed = app.hub.subscribe();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(BUFFERED_LINES);
    let first = line(json!({
        "object": "sluice.listen_session",
        "secret": secret,
        "api_version": events::API_VERSION,
        "livemode": livemode,
        "platform": platform,
    }));
    if sender.send(first).await.is_err() {
        return Err(ApiError::internal(
            "the listen stream closed before it started",
        ));
    }
    tokio::spawn(async move {
        let mut heartbeat =
            tokio::time::interval(std::time::Duration::from_secs(HEARTBEAT_SECONDS));
        heartbeat.tick().await;
        loop {
            let next = tokio::select! {
                _ = sender.closed() => return,
                _ = heartbeat.tick() => {
                    line(json!({"object": "sluice.heartbeat", "time": crate::domain::unix_now()}))
                }
                received = feed.recv() => match received {
                    Ok(event) => {
                        if event.platform != platform
                            || event.livemode != livemode
                            || !(all || wanted.iter().any(|t| t == event.event_type))
                        {
                            continue;
                        }
                        let signature = crate::webhooks::signature_header(
                            &secret,
                            crate::domain::unix_now(),
                            event.body.as_bytes(),
                        );
                        line(json!({
                            "object": "sluice.listen_event",
                            "id": event.id,
                            "type": event.event_type,
                            "connect": event.account.is_some(),
                            "account": event.account,
                            "payload": &*event.body,
                            "stripe_signature": signature,
                        }))
                    }
                    Err(RecvError::Lagged(missed)) => {
                        line(json!({"object": "sluice.listen_lagged", "missed": missed}))
                    }
                    Err(RecvError::Closed) => return,
                },
            };
            if sender.send(next).await.is_err() {
                return;
            }
        }
    });
    let mut response = (StatusCode::OK, Body::new(Lines(receiver))).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    Ok(response)
}
