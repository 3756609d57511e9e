//! A small blocking HTTP/1.1 client for the command line, over hyper's connection API on a
//! current-thread runtime: one connection per request, `http://` only, Stripe's headers.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::form::{self, Pair};

/// Generous: advancing the test clock runs every payout schedule that comes due on the way.
const REQUEST_TIMEOUT_SECS: u64 = 120;
const CONNECT_TIMEOUT_SECS: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--api-base `{0}` is not usable: {1}")]
    InvalidBase(String, &'static str),
    #[error("cannot reach the Sluice server at {base}: {reason} (is `sluice serve` running there? set --api-base or SLUICE_API_BASE)")]
    Unreachable { base: String, reason: String },
    #[error("the server at {base} did not answer {method} {path} within {seconds} s")]
    Timeout {
        base: String,
        method: String,
        path: String,
        seconds: u64,
    },
    #[error("HTTP exchange with {base} failed: {reason}")]
    Exchange { base: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }

    /// Fixture files write methods in any case (`post`, `GET`).
    pub fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// One API call: the path starts with `/v1/`; parameters go in the query string for GET and
/// DELETE and in the body for POST, as the SDKs do.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub params: Vec<Pair>,
    pub stripe_account: Option<String>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            params: Vec::new(),
            stripe_account: None,
            idempotency_key: None,
            stripe_version: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The body pretty-printed when it is JSON, as received otherwise.
    pub fn pretty(&self) -> String {
        match self.json() {
            Some(value) => {
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| self.body.clone())
            }
            None => self.body.clone(),
        }
    }

    /// `error.type` and `error.message` of a Stripe error body, when it is one.
    pub fn error_summary(&self) -> Option<(String, String)> {
        let json = self.json()?;
        let error = json.get("error")?;
        let kind = error.get("type").and_then(Value::as_str).unwrap_or("error");
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        Some((kind.to_string(), message.to_string()))
    }
}

/// Where the server is: `http://host[:port][/prefix]`.
#[derive(Debug, Clone)]
struct Base {
    display: String,
    authority: String,
    path_prefix: String,
}

fn parse_base(raw: &str) -> Result<Base, ClientError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let (authority, path_prefix) = split_http_url(trimmed).map_err(|reason| {
        ClientError::InvalidBase(
            raw.to_string(),
            if reason == HTTPS {
                "https is not supported by the command line; use the server's http:// address"
            } else {
                reason
            },
        )
    })?;
    Ok(Base {
        display: trimmed.to_string(),
        authority,
        path_prefix,
    })
}

const HTTPS: &str = "https is not supported by the command line";

/// `http://host[:port][/path]` as (`host:port`, with 80 when absent; `/path`, maybe empty), or
/// why the URL is not one the command line can use.
pub(crate) fn split_http_url(url: &str) -> Result<(String, String), &'static str> {
    if url.starts_with("https://") {
        return Err(HTTPS);
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or("it must start with http://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err("it needs a host (and optionally a port), e.g. http://127.0.0.1:12111");
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.contains(']'))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

pub struct Client {
    base: Base,
    api_key: String,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(api_base: &str, api_key: &str) -> anyhow::Result<Client> {
        let base = parse_base(api_base)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Client {
            base,
            api_key: api_key.to_string(),
            runtime,
        })
    }

    pub fn base(&self) -> &str {
        &self.base.display
    }

    pub fn send(&self, request: &Request) -> Result<Response, ClientError> {
        let seconds = REQUEST_TIMEOUT_SECS;
        let exchange = self.exchange(request);
        self.runtime.block_on(async {
            match tokio::time::timeout(Duration::from_secs(seconds), exchange).await {
                Ok(result) => result,
                Err(_) => Err(ClientError::Timeout {
                    base: self.base.display.clone(),
                    method: request.method.as_str().to_string(),
                    path: request.path.clone(),
                    seconds,
                }),
            }
        })
    }

    /// Runs `future` on the client's runtime (for commands that drive their own async work, like
    /// `sluice listen` reading a stream).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    async fn exchange(&self, request: &Request) -> Result<Response, ClientError> {
        let response = self.open(request).await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| self.broken(error.to_string()))?
            .to_bytes();
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    fn broken(&self, reason: String) -> ClientError {
        ClientError::Exchange {
            base: self.base.display.clone(),
            reason,
        }
    }

    /// Sends `request` and returns as soon as the status and headers arrived: the body is read
    /// by the caller, frame by frame for a stream (must run on this client's runtime, see
    /// `block_on`). No overall timeout: the caller bounds what it waits for.
    pub async fn open(
        &self,
        request: &Request,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            base: self.base.display.clone(),
            reason,
        };
        let broken = |reason: String| ClientError::Exchange {
            base: self.base.display.clone(),
            reason,
        };
        let connect = tokio::net::TcpStream::connect(&self.base.authority);
        let stream = tokio::time::timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS), connect)
            .await
            .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT_SECS} s")))?
            .map_err(|error| unreachable(describe_io(&error)))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| broken(error.to_string()))?;
        tokio::spawn(connection);

        let encoded = form::encode(&request.params);
        let mut target = format!("{}{}", self.base.path_prefix, request.path);
        let body = match request.method {
            Method::Post => encoded,
            Method::Get | Method::Delete => {
                if !encoded.is_empty() {
                    target.push(if target.contains('?') { '&' } else { '?' });
                    target.push_str(&encoded);
                }
                String::new()
            }
        };
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(&target)
            .header("host", &self.base.authority)
            .header("authorization", format!("Bearer {}", self.api_key))
            .header(
                "user-agent",
                concat!("Sluice-CLI/", env!("CARGO_PKG_VERSION")),
            )
            .header("accept", "application/json");
        if request.method == Method::Post {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
        }
        if let Some(account) = &request.stripe_account {
            builder = builder.header("stripe-account", account);
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(version) = &request.stripe_version {
            builder = builder.header("stripe-version", version);
        }
        let http_request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| broken(format!("cannot build the request: {error}")))?;
        sender
            .send_request(http_request)
            .await
            .map_err(|error| broken(error.to_string()))
    }
}

fn describe_io(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_need_http_and_get_a_default_port() {
        let base = parse_base("http://127.0.0.1:12111/").unwrap();
        assert_eq!(base.authority, "127.0.0.1:12111");
        assert_eq!(base.path_prefix, "");
        let base = parse_base("http://localhost/sluice").unwrap();
        assert_eq!(base.authority, "localhost:80");
        assert_eq!(base.path_prefix, "/sluice");
        assert!(parse_base("https://api.example.com").is_err());
        assert!(parse_base("127.0.0.1:12111").is_err());
        assert!(parse_base("http://").is_err());
    }

    #[test]
    fn methods_parse_in_any_case() {
        assert_eq!(Method::parse("post"), Some(Method::Post));
        assert_eq!(Method::parse("Get"), Some(Method::Get));
        assert_eq!(Method::parse("patch"), None);
    }
}
