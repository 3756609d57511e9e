//! The HTTP server: hyper with title-case response headers (some Python HTTP clients read
//! `Request-Id` case-sensitively), a request id and one access-log line per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::request::RequestLog;
use crate::ids;

/// Gives every request an id, returns it as `Request-Id`, and logs the request when it ends.
pub async fn access_log(mut request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let log = Arc::new(RequestLog {
        request_id: ids::new_id("req"),
        ..Default::default()
    });
    request.extensions_mut().insert(log.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&log.request_id) {
        response.headers_mut().insert("request-id", value);
    }
    let status = response.status().as_u16();
    tracing::info!(
        request_id = %log.request_id,
        method = %method,
        path = %path,
        status,
        latency_us = started.elapsed().as_micros() as u64,
        platform = log.platform.get().map(String::as_str).unwrap_or("-"),
        account = log.account.get().map(String::as_str).unwrap_or("-"),
        "request"
    );
    response
}

/// Serves `router` (which carries `access_log`) on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.title_case_headers(true).keep_alive(true);
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
