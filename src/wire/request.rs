//! The extractor every API handler takes: authenticates the key, resolves `Stripe-Account`, reads
//! the parameters (query string, and the form body on POST) and the idempotency key.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{HeaderMap, Method, Request};
use base64::Engine;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use super::app::{App, Caller};
use super::error::ApiError;
use super::form;
use super::params::Params;
use crate::domain::{unix_now, Ctx};
use crate::store::Scope;

/// Bounds one request's body; Stripe's own limit is of this order.
pub const MAX_BODY_BYTES: usize = 1 << 20;
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Per-request facts the access log reads after the handler ran.
#[derive(Debug, Default)]
pub struct RequestLog {
    pub request_id: String,
    pub platform: std::sync::OnceLock<String>,
    pub account: std::sync::OnceLock<String>,
}

pub struct ApiRequest {
    pub caller: Caller,
    pub params: Params,
    pub expand: Vec<String>,
    pub idempotency_key: Option<String>,
    pub request_id: String,
    pub api_version: String,
    pub pricing: Arc<crate::domain::pricing::Pricing>,
    pub base_url: Arc<str>,
    /// The platform's test clock, seconds ahead of wall time.
    pub clock_offset: i64,
    /// Collects the events the request's command records.
    pub events: Arc<crate::domain::events::Recorder>,
    pub reserves: Arc<crate::domain::liability::Reserves>,
    /// Digest of method, path and parameters: a replayed key must carry the same request.
    pub fingerprint: Vec<u8>,
}

impl ApiRequest {
    /// Rejects any parameter the handler did not read.
    pub fn finish_params(&mut self) -> Result<(), ApiError> {
        std::mem::replace(&mut self.params, Params::new(Vec::new())).finish()
    }

    pub fn ctx(&self) -> Ctx {
        Ctx {
            scope: Scope {
                platform: self.caller.platform.clone(),
                account: self.caller.account.clone(),
                livemode: self.caller.livemode,
            },
            connected: self.caller.account != self.caller.platform,
            now: unix_now() + self.clock_offset,
            request_id: self.request_id.clone(),
            idempotency_key: self.idempotency_key.clone(),
            pricing: self.pricing.clone(),
            base_url: self.base_url.clone(),
            events: self.events.clone(),
            reserves: self.reserves.clone(),
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(|text| Some(text.trim())).map_err(|_| {
            ApiError::invalid_request(format!(
                "Invalid `{name}` header: it must be printable ASCII."
            ))
        }),
    }
}

/// The key from `Authorization: Bearer <key>` or `Basic base64(<key>:)` (or `Basic <key>`).
fn presented_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let missing = || {
        ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        )
    };
    let Some(value) = header(headers, "authorization")? else {
        return Err(missing());
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        match base64::engine::general_purpose::STANDARD.decode(rest) {
            Ok(decoded) => {
                let text = String::from_utf8(decoded).map_err(|_| invalid_key(""))?;
                text.split(':').next().unwrap_or_default().to_string()
            }
            // The spec also allows the raw key after `Basic`.
            Err(_) => rest.to_string(),
        }
    } else {
        return Err(ApiError::unauthorized(
            "Invalid Authorization header: use Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY') or Basic auth with the key as the username.",
        ));
    };
    if key.is_empty() {
        return Err(missing());
    }
    Ok(key)
}

/// Never echo a key: show its kind and last four characters, as Stripe does.
pub fn redact_key(key: &str) -> String {
    let prefix_end = [
        "sk_test_", "sk_live_", "pk_test_", "pk_live_", "rk_test_", "rk_live_",
    ]
    .iter()
    .find(|prefix| key.starts_with(**prefix))
    .map(|prefix| prefix.len())
    .unwrap_or(0);
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if key.len() <= prefix_end + 4 {
        format!("{}****", &key[..prefix_end])
    } else {
        format!("{}****{tail}", &key[..prefix_end])
    }
}

fn invalid_key(key: &str) -> ApiError {
    ApiError::unauthorized(format!("Invalid API Key provided: {}", redact_key(key)))
}

/// `YYYY-MM-DD`, optionally followed by `.name` (the newer release names).
fn valid_api_version(version: &str) -> bool {
    let (date, name) = version.split_once('.').unwrap_or((version, "x"));
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let mut parts = date.split('-');
    let number = |part: Option<&str>, digits: usize, range: std::ops::RangeInclusive<u32>| {
        part.filter(|p| p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|n| range.contains(&n))
    };
    name_ok
        && number(parts.next(), 4, 2011..=2100)
        && number(parts.next(), 2, 1..=12)
        && number(parts.next(), 2, 1..=31)
        && parts.next().is_none()
}

fn content_type_is_form(headers: &HeaderMap) -> bool {
    match headers.get("content-type").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => {
            let media = value.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/x-www-form-urlencoded") || media.is_empty()
        }
    }
}

impl FromRequest<Arc<App>> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request<Body>, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let log = parts.extensions.get::<Arc<RequestLog>>().cloned();
        let request_id = log
            .as_ref()
            .map(|l| l.request_id.clone())
            .unwrap_or_default();
        let headers = &parts.headers;

        let key = presented_key(headers)?;
        let mut caller = app.authenticate(&key).ok_or_else(|| invalid_key(&key))?;
        if let Some(log) = &log {
            let _ = log.platform.set(caller.platform.clone());
        }
        if let Some(account) = header(headers, "stripe-account")?.filter(|a| !a.is_empty()) {
            caller = app.act_as(caller, account).await?;
        }
        if let Some(log) = &log {
            let _ = log.account.set(caller.account.clone());
        }

        let api_version = match header(headers, "stripe-version")?.filter(|v| !v.is_empty()) {
            None => super::API_VERSION.to_string(),
            Some(version) if valid_api_version(version) => version.to_string(),
            Some(version) => {
                return Err(ApiError::invalid_request(format!(
                    "Invalid Stripe API version: {version}. Versions look like 2026-10-28 or 2026-10-28.endive."
                )))
            }
        };

        let idempotency_key = if parts.method == Method::POST {
            match header(headers, "idempotency-key")?.filter(|k| !k.is_empty()) {
                Some(key) if key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS => {
                    return Err(ApiError::invalid_request(format!(
                        "Invalid idempotency key: keys can be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters long."
                    )))
                }
                Some(key) => Some(key.to_string()),
                None => None,
            }
        } else {
            None
        };

        let body = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Err(ApiError::invalid_request(format!(
                    "Request body too large: the limit is {MAX_BODY_BYTES} bytes."
                ))
                .with_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE))
            }
        };
        if !body.is_empty() && !content_type_is_form(headers) {
            return Err(ApiError::invalid_request(
                "Invalid request: the body must be application/x-www-form-urlencoded.",
            ));
        }

        let mut tree = Vec::new();
        let query = parts.uri.query().unwrap_or_default();
        form::parse(query.as_bytes(), &mut tree)?;
        form::parse(&body, &mut tree)?;
        let mut params = Params::new(tree);
        let expand = params.string_list("expand")?.unwrap_or_default();

        let mut digest = Sha256::new();
        digest.update(parts.method.as_str().as_bytes());
        digest.update(b" ");
        digest.update(parts.uri.path().as_bytes());
        digest.update(b"?");
        digest.update(query.as_bytes());
        digest.update(b"\n");
        digest.update(&body);

        let clock_offset = app.clock_offset(&caller.platform, caller.livemode);
        Ok(ApiRequest {
            clock_offset,
            caller,
            params,
            expand,
            idempotency_key,
            request_id,
            api_version,
            pricing: app.pricing.clone(),
            base_url: app.base_url.clone(),
            events: app.hub.recorder(),
            reserves: app.reserves.clone(),
            fingerprint: digest.finalize().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_only_the_kind_and_last_four() {
        assert_eq!(redact_key("sk_test_abcdefgh1234"), "sk_test_****1234");
        assert_eq!(redact_key("nonsense"), "****ense");
        assert_eq!(redact_key("sk_test_1"), "sk_test_****");
    }

    #[test]
    fn api_versions_are_checked() {
        assert!(valid_api_version("2026-10-28.endive"));
        assert!(valid_api_version("2023-08-16"));
        assert!(!valid_api_version("1999-13-45"));
        assert!(!valid_api_version("2023-08-16."));
        assert!(!valid_api_version("latest"));
    }

    #[test]
    fn basic_auth_takes_the_username() {
        let mut headers = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("sk_test_x:");
        headers.insert("authorization", format!("Basic {encoded}").parse().unwrap());
        assert_eq!(presented_key(&headers).unwrap(), "sk_test_x");
        headers.insert("authorization", "Bearer sk_test_y".parse().unwrap());
        assert_eq!(presented_key(&headers).unwrap(), "sk_test_y");
    }
}
