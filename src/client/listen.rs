//! `sluice listen`: reads the server's event stream (`GET /v1/sluice/listen`, see
//! `crate::api::listen` for the contract) and forwards each event to local URLs, as the Stripe
//! CLI's `stripe listen` does.
//!
//! - Prints `Ready! Your webhook signing secret is whsec_... (^C to quit)`, then per event a
//!   `-->` line and, per forward, a `<--` line with the answer's status (or why it failed).
//!   Times are UTC.
//! - Platform events go to `--forward-to`; connected accounts' events (`connect: true`) to
//!   `--forward-connect-to`, or to `--forward-to` when that is absent.
//! - Each forward is a `POST` of the event's exact bytes with `Content-Type: application/json`
//!   and a `Stripe-Signature` signed at forward time with the session's secret, bounded by
//!   `FORWARD_TIMEOUT_SECS`. Forwards run one after another on their own task, so a slow local
//!   endpoint never stops the stream from being read.
//! - Exits 1 when the server refuses the stream (bad key, unknown event type: the API error is
//!   printed) or when the stream ends or goes silent (the server went away).

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use super::http::{split_http_url, Client, Method, Request, Response};
use super::ClientArgs;

/// How long one forward may take (connect, send, read the answer), as the Stripe CLI.
const FORWARD_TIMEOUT_SECS: u64 = 10;
/// The server sends a heartbeat every 15 s: three missed ones mean the connection is gone.
const SILENCE_SECS: u64 = 45;
/// How long the server may take to answer the stream's request itself.
const OPEN_TIMEOUT_SECS: u64 = 30;

/// `sluice listen`.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Forward events to this local URL (http://localhost:4242/webhook); without it (and without
    /// --forward-connect-to) events are only printed.
    #[arg(short = 'f', long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// Forward connected accounts' events to this URL instead of --forward-to.
    #[arg(short = 'c', long, value_name = "URL")]
    pub forward_connect_to: Option<String>,
    /// Only these event types (comma-separated, e.g. payment_intent.succeeded,charge.refunded).
    #[arg(short = 'e', long, value_name = "TYPES", value_delimiter = ',')]
    pub events: Vec<String>,
    /// Print each event's JSON on stdout, one per line (the other lines go to stderr).
    #[arg(long)]
    pub print_json: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A local URL events are forwarded to.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    authority: String,
    path: String,
}

impl Target {
    fn parse(flag: &str, raw: &str) -> anyhow::Result<Target> {
        let url = raw.trim().to_string();
        let (authority, path) = split_http_url(&url)
            .map_err(|reason| anyhow::anyhow!("{flag} `{raw}` is not usable: {reason}"))?;
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        Ok(Target {
            url,
            authority,
            path,
        })
    }
}

#[derive(Debug, Deserialize)]
struct Line {
    object: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    event_type: Option<String>,
    #[serde(default)]
    connect: bool,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    missed: Option<u64>,
}

/// One event to forward.
struct Forward {
    id: String,
    payload: String,
    target: Target,
}

/// Where the lines of the session go: with --print-json stdout carries only event JSON.
#[derive(Clone, Copy)]
struct Output {
    print_json: bool,
}

impl Output {
    fn status(self, text: &str) {
        if self.print_json {
            eprintln!("{text}");
        } else {
            out!("{text}");
        }
    }
}

pub fn run(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let forward_to = args
        .forward_to
        .as_deref()
        .map(|raw| Target::parse("--forward-to", raw))
        .transpose()?;
    let forward_connect_to = args
        .forward_connect_to
        .as_deref()
        .map(|raw| Target::parse("--forward-connect-to", raw))
        .transpose()?;
    let client = args.client.connect()?;
    let mut request = Request::new(Method::Get, "/v1/sluice/listen");
    for event_type in args
        .events
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        request
            .params
            .push(("events[]".to_string(), event_type.to_string()));
    }
    let output = Output {
        print_json: args.print_json,
    };
    client.block_on(listen(
        &client,
        &request,
        forward_to,
        forward_connect_to,
        output,
    ))
}

async fn listen(
    client: &Client,
    request: &Request,
    forward_to: Option<Target>,
    forward_connect_to: Option<Target>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let response =
        tokio::time::timeout(Duration::from_secs(OPEN_TIMEOUT_SECS), client.open(request))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
            "the server at {} did not answer GET /v1/sluice/listen within {OPEN_TIMEOUT_SECS} s",
            client.base()
        )
            })??;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    if status != 200 {
        let bytes = tokio::time::timeout(Duration::from_secs(OPEN_TIMEOUT_SECS), body.collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let answer = Response {
            status,
            headers: Vec::new(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        match answer.error_summary() {
            Some((kind, message)) => eprintln!(
                "sluice: error: the server refused the listen stream ({status} {kind}): {message}"
            ),
            None => eprintln!(
                "sluice: error: the server refused the listen stream ({status}): {}",
                answer.body.trim()
            ),
        }
        return Ok(ExitCode::FAILURE);
    }

    let (queue, pending) = tokio::sync::mpsc::unbounded_channel::<Forward>();
    let mut secret: Option<String> = None;
    let mut forwarder: Option<tokio::task::JoinHandle<()>> = None;
    let mut buffer: Vec<u8> = Vec::new();
    let mut pending = Some(pending);
    let ended = loop {
        let frame = match tokio::time::timeout(Duration::from_secs(SILENCE_SECS), body.frame())
            .await
        {
            Err(_) => {
                break format!(
                    "no data from the server at {} for {SILENCE_SECS} s (not even a heartbeat)",
                    client.base()
                )
            }
            Ok(None) => break format!("the server at {} closed the listen stream", client.base()),
            Ok(Some(Err(error))) => {
                break format!(
                    "lost the listen stream from {} ({error}): did the server go away?",
                    client.base()
                )
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(newline) = buffer.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = buffer.drain(..=newline).collect();
            let raw = String::from_utf8_lossy(&raw);
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let line: Line = match serde_json::from_str(raw) {
                Ok(line) => line,
                Err(error) => {
                    eprintln!("sluice: warning: ignoring a line of the stream that is not understood ({error})");
                    continue;
                }
            };
            match line.object.as_str() {
                "sluice.listen_session" => {
                    let Some(session_secret) = line.secret else {
                        continue;
                    };
                    output.status(&format!(
                        "Ready! Your webhook signing secret is {session_secret} (^C to quit)"
                    ));
                    if let Some(pending) = pending.take() {
                        forwarder = Some(tokio::spawn(forward_all(
                            pending,
                            session_secret.clone(),
                            output,
                        )));
                    }
                    secret = Some(session_secret);
                }
                "sluice.listen_event" => {
                    let (Some(id), Some(payload)) = (line.id, line.payload) else {
                        continue;
                    };
                    let event_type = line.event_type.unwrap_or_default();
                    if output.print_json {
                        let compact = serde_json::from_str::<serde_json::Value>(&payload)
                            .map(|value| value.to_string())
                            .unwrap_or_else(|_| payload.clone());
                        out!("{compact}");
                    } else {
                        out!("{}   --> {event_type} [{id}]", timestamp());
                    }
                    let target = if line.connect {
                        forward_connect_to.as_ref().or(forward_to.as_ref())
                    } else {
                        forward_to.as_ref()
                    };
                    if let (Some(target), Some(_)) = (target, &secret) {
                        let _ = queue.send(Forward {
                            id,
                            payload,
                            target: target.clone(),
                        });
                    }
                }
                "sluice.listen_lagged" => {
                    eprintln!(
                        "sluice: warning: {} event(s) were skipped because they were read too slowly (they stay in /v1/events; `sluice events resend` delivers one to an endpoint)",
                        line.missed.unwrap_or(0)
                    );
                }
                _ => {} // heartbeats, and objects a newer server may add
            }
        }
    };
    // What was received is still forwarded before exiting.
    drop(queue);
    if let Some(forwarder) = forwarder {
        let _ = forwarder.await;
    }
    eprintln!("sluice: error: {ended}");
    Ok(ExitCode::FAILURE)
}

async fn forward_all(
    mut pending: tokio::sync::mpsc::UnboundedReceiver<Forward>,
    secret: String,
    output: Output,
) {
    while let Some(forward) = pending.recv().await {
        let result = tokio::time::timeout(
            Duration::from_secs(FORWARD_TIMEOUT_SECS),
            post(&forward, &secret),
        )
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {FORWARD_TIMEOUT_SECS} s")));
        let Forward { id, target, .. } = &forward;
        let line = match result {
            Ok(status) => format!(
                "{}  <--  [{status}] POST {} [{id}]",
                timestamp(),
                target.url
            ),
            Err(reason) => format!(
                "{}  <--  [ERROR] POST {} [{id}]: {reason}",
                timestamp(),
                target.url
            ),
        };
        output.status(&line);
    }
}

/// POSTs one event; the answer's status, or why there is none.
async fn post(forward: &Forward, secret: &str) -> Result<u16, String> {
    let target = &forward.target;
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => error.to_string(),
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| error.to_string())?;
    tokio::spawn(connection);
    let signature = crate::webhooks::signature_header(
        secret,
        crate::domain::unix_now(),
        forward.payload.as_bytes(),
    );
    let request = hyper::Request::builder()
        .method("POST")
        .uri(&target.path)
        .header("host", &target.authority)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header("stripe-signature", signature)
        .body(Full::new(Bytes::from(forward.payload.clone())))
        .map_err(|error| format!("cannot build the request: {error}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    // The answer is read to the end so the endpoint sees a well-behaved client; its content
    // does not matter.
    let _ = response.into_body().collect().await;
    Ok(status)
}

/// `2026-11-26 18:04:05` (UTC).
fn timestamp() -> String {
    format_time(crate::domain::unix_now())
}

fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = crate::domain::payouts::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_like_the_stripe_cli() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_716_245), "2026-11-26 18:04:05");
    }

    #[test]
    fn targets_need_http_and_get_a_path() {
        let target = Target::parse("--forward-to", "http://localhost:4242/webhook").unwrap();
        assert_eq!(target.authority, "localhost:4242");
        assert_eq!(target.path, "/webhook");
        let target = Target::parse("--forward-to", "http://localhost").unwrap();
        assert_eq!(target.authority, "localhost:80");
        assert_eq!(target.path, "/");
        let target = Target::parse("--forward-to", "http://localhost:3000?x=1").unwrap();
        assert_eq!(target.path, "/?x=1");
        let error = Target::parse("--forward-to", "localhost:4242").unwrap_err();
        assert!(error.to_string().contains("--forward-to"), "{error}");
        assert!(Target::parse("--forward-to", "https://example.com/hook").is_err());
    }
}
