//! `sluice bench`: a load generator for a running server. Each client keeps one HTTP/1.1
//! connection and sends requests back to back; the figures printed are requests per second and
//! latency percentiles over the measured window (after a warm-up).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::ValueEnum;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Workload {
    /// POST /v1/customers
    Customers,
    /// GET /v1/customers?limit=10
    ListCustomers,
    /// POST /v1/payment_intents confirm=true: a destination charge with an application fee to
    /// a connected account the bench onboards first
    Payments,
    /// The payout schedules: onboards `--accounts` connected accounts (daily payouts), gives each
    /// pending funds, then times one test clock advance of `--advance-days` (use a platform of
    /// its own: the clock is the platform's)
    ClockPayouts,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One form POST; the answer's status and JSON body.
async fn post(
    sender: &mut Sender,
    addr: &str,
    key: &str,
    path: &str,
    body: String,
) -> anyhow::Result<(hyper::StatusCode, serde_json::Value)> {
    let request = Request::post(path)
        .header("host", addr)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// Onboards a custom account with Stripe's test values, so destination charges can reach it.
async fn onboard_destination(addr: &str, key: &str) -> anyhow::Result<String> {
    let mut sender = connect(addr).await?;
    onboard(&mut sender, addr, key).await
}

async fn onboard(sender: &mut Sender, addr: &str, key: &str) -> anyhow::Result<String> {
    let body = [
        "type=custom",
        "country=US",
        "business_type=individual",
        "capabilities[card_payments][requested]=true",
        "capabilities[transfers][requested]=true",
        "individual[first_name]=Bench",
        "individual[last_name]=Seller",
        "individual[email]=bench%40example.com",
        "individual[phone]=0000000000",
        "individual[dob][day]=1",
        "individual[dob][month]=1",
        "individual[dob][year]=1901",
        "individual[address][line1]=address_full_match",
        "individual[address][city]=Austin",
        "individual[address][state]=TX",
        "individual[address][postal_code]=78701",
        "individual[id_number]=000000000",
        "individual[ssn_last_4]=0000",
        "business_profile[mcc]=5734",
        "business_profile[url]=https%3A%2F%2Fexample.com",
        "external_account=btok_us_verified",
        "tos_acceptance[date]=1700000000",
        "tos_acceptance[ip]=127.0.0.1",
    ]
    .join("&");
    let (status, account) = post(sender, addr, key, "/v1/accounts", body).await?;
    if !status.is_success() || account["charges_enabled"] != true {
        anyhow::bail!("could not onboard the bench's connected account ({status}): {account}");
    }
    Ok(account["id"].as_str().unwrap_or_default().to_string())
}

/// The clock-payouts workload: setup with `clients` connections, then one timed advance.
async fn clock_payouts(args: &BenchArgs, addr: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let per_client = args.accounts.div_ceil(args.clients.max(1));
    let mut handles = Vec::new();
    for index in 0..args.clients.max(1) {
        let (addr, key) = (addr.to_string(), args.api_key.clone());
        let count = per_client.min(args.accounts.saturating_sub(index * per_client));
        handles.push(tokio::spawn(async move {
            let mut sender = connect(&addr).await?;
            for _ in 0..count {
                let account = onboard(&mut sender, &addr, &key).await?;
                let body = format!(
                    "amount=2000&currency=usd&payment_method=pm_card_visa&confirm=true&transfer_data[destination]={account}"
                );
                let (status, intent) =
                    post(&mut sender, &addr, &key, "/v1/payment_intents", body).await?;
                if !status.is_success() {
                    anyhow::bail!("a setup payment failed ({status}): {intent}");
                }
            }
            anyhow::Ok(())
        }));
    }
    for handle in handles {
        handle.await.context("a setup task failed")??;
    }
    println!(
        "setup: {} accounts with daily payouts and pending funds in {:.1}s",
        args.accounts,
        started.elapsed().as_secs_f64()
    );
    let mut sender = connect(addr).await?;
    let timed = Instant::now();
    let (status, state) = post(
        &mut sender,
        addr,
        &args.api_key,
        "/v1/test_helpers/clock/advance",
        format!("seconds={}", args.advance_days * 86_400),
    )
    .await?;
    let seconds = timed.elapsed().as_secs_f64();
    if !status.is_success() {
        anyhow::bail!("the clock advance failed ({status}): {state}");
    }
    let payouts = state["ran"]["payouts_created"].as_u64().unwrap_or(0);
    println!(
        "workload=ClockPayouts accounts={} advance={}d total={:.2}s payouts={} payouts_per_s={:.0} ran={}",
        args.accounts,
        args.advance_days,
        seconds,
        payouts,
        payouts as f64 / seconds,
        state["ran"]
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[arg(
        long,
        env = "SLUICE_API_BASE",
        default_value = "http://127.0.0.1:12111"
    )]
    pub api_base: String,
    #[arg(long, env = "SLUICE_API_KEY", hide_env_values = true)]
    pub api_key: String,
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    pub warmup_secs: u64,
    #[arg(long, value_enum, default_value = "customers")]
    pub workload: Workload,
    /// clock-payouts: how many connected accounts to pay out.
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// clock-payouts: how far to advance the clock.
    #[arg(long, default_value_t = 30)]
    pub advance_days: i64,
    /// Webhook endpoints (all events) to attach for the run, pointing at a receiver the bench
    /// runs; after the load it waits for the outbox to drain and prints the delivery rate.
    #[arg(long, default_value_t = 0)]
    pub webhook_endpoints: usize,
}

/// A local webhook receiver: answers 200 at once and counts what arrives, and when.
#[derive(Default)]
struct Receiver {
    received: std::sync::atomic::AtomicU64,
    span: std::sync::Mutex<Option<(Instant, Instant)>>,
}

impl Receiver {
    fn note(&self) {
        self.received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = Instant::now();
        if let Ok(mut span) = self.span.lock() {
            let first = span.map_or(now, |(first, _)| first);
            *span = Some((first, now));
        }
    }

    fn count(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn start_receiver() -> anyhow::Result<(std::sync::Arc<Receiver>, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    let receiver = std::sync::Arc::new(Receiver::default());
    let counter = receiver.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            let _ = request.into_body().collect().await;
                            counter.note();
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((receiver, url))
}

/// Attaches `count` endpoints for every event; returns their ids.
async fn attach_endpoints(
    addr: &str,
    key: &str,
    url: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let mut sender = connect(addr).await?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let body = format!("url={url}&enabled_events[]=*&connect=false");
        let (status, endpoint) =
            post(&mut sender, addr, key, "/v1/webhook_endpoints", body).await?;
        if !status.is_success() {
            anyhow::bail!("cannot create a webhook endpoint ({status}): {endpoint}");
        }
        ids.push(endpoint["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(ids)
}

async fn detach_endpoints(addr: &str, key: &str, ids: &[String]) -> anyhow::Result<()> {
    let mut sender = connect(addr).await?;
    for id in ids {
        let request = Request::delete(format!("/v1/webhook_endpoints/{id}"))
            .header("host", addr)
            .header("authorization", format!("Bearer {key}"))
            .body(Full::new(Bytes::new()))?;
        sender.ready().await?;
        sender
            .send_request(request)
            .await?
            .into_body()
            .collect()
            .await?;
    }
    Ok(())
}

/// Waits until nothing has arrived for two seconds (at most two minutes), then prints what the
/// dispatcher delivered and how fast.
async fn report_deliveries(receiver: &Receiver, load_ended: Instant) {
    let at_load_end = receiver.count();
    let mut last = at_load_end;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2)
        && load_ended.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = receiver.count();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    let span = receiver.span.lock().ok().and_then(|span| *span);
    let (seconds, drained) = span.map_or((0.0, 0.0), |(first, last)| {
        (
            (last - first).as_secs_f64(),
            last.saturating_duration_since(load_ended).as_secs_f64(),
        )
    });
    // After the load the dispatcher has the machine to itself: its own rate.
    let after_load = receiver.count() - at_load_end;
    println!(
        "webhooks: delivered={} over {:.2}s: {:.0} deliveries/s; outbox drained {:.2}s after the load ended ({} deliveries then: {:.0}/s)",
        receiver.count(),
        seconds,
        receiver.count() as f64 / seconds.max(f64::EPSILON),
        drained,
        after_load,
        after_load as f64 / drained.max(f64::EPSILON),
    );
}

struct ClientReport {
    latencies_us: Vec<u32>,
    errors: u64,
}

fn host_port(base: &str) -> anyhow::Result<String> {
    let rest = base
        .strip_prefix("http://")
        .context("--api-base must start with http://")?;
    Ok(rest.trim_end_matches('/').to_string())
}

#[allow(clippy::too_many_arguments)]
async fn client(
    addr: String,
    key: String,
    workload: Workload,
    destination: String,
    warmup_until: Instant,
    stop_at: Instant,
    index: usize,
) -> anyhow::Result<ClientReport> {
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut report = ClientReport {
        latencies_us: Vec::with_capacity(1 << 16),
        errors: 0,
    };
    let auth = format!("Bearer {key}");
    let mut sequence = 0u64;
    loop {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        sequence += 1;
        let request = match workload {
            Workload::Customers => Request::post("/v1/customers")
                .header("host", &addr)
                .header("authorization", &auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(format!(
                    "email=bench{index}-{sequence}%40example.com&name=Bench+Client&metadata[run]=bench"
                ))))?,
            Workload::Payments => Request::post("/v1/payment_intents")
                .header("host", &addr)
                .header("authorization", &auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(format!(
                    "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true&application_fee_amount=123&transfer_data[destination]={destination}&metadata[order]={index}-{sequence}"
                ))))?,
            Workload::ListCustomers | Workload::ClockPayouts => {
                Request::get("/v1/customers?limit=10")
                    .header("host", &addr)
                    .header("authorization", &auth)
                    .body(Full::new(Bytes::new()))?
            }
        };
        sender.ready().await?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        let elapsed = started.elapsed();
        if started >= warmup_until {
            if ok {
                report
                    .latencies_us
                    .push(elapsed.as_micros().min(u32::MAX as u128) as u32);
            } else {
                report.errors += 1;
            }
        }
    }
    Ok(report)
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let addr = host_port(&args.api_base)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Workload::ClockPayouts = args.workload {
        runtime.block_on(clock_payouts(&args, &addr))?;
        return Ok(ExitCode::SUCCESS);
    }
    let measured = Duration::from_secs(args.duration_secs);
    let (latencies, errors) = runtime.block_on(async {
        let destination = match args.workload {
            Workload::Payments => onboard_destination(&addr, &args.api_key).await?,
            _ => String::new(),
        };
        let webhooks = if args.webhook_endpoints > 0 {
            let (receiver, url) = start_receiver().await?;
            let ids = attach_endpoints(&addr, &args.api_key, &url, args.webhook_endpoints).await?;
            Some((receiver, ids))
        } else {
            None
        };
        let start = Instant::now();
        let warmup_until = start + Duration::from_secs(args.warmup_secs);
        let stop_at = warmup_until + measured;
        let mut handles = Vec::with_capacity(args.clients);
        for index in 0..args.clients {
            handles.push(tokio::spawn(client(
                addr.clone(),
                args.api_key.clone(),
                args.workload,
                destination.clone(),
                warmup_until,
                stop_at,
                index,
            )));
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        for handle in handles {
            let report = handle.await.context("a client task failed")??;
            latencies.extend(report.latencies_us);
            errors += report.errors;
        }
        if let Some((receiver, ids)) = webhooks {
            report_deliveries(&receiver, Instant::now()).await;
            detach_endpoints(&addr, &args.api_key, &ids).await?;
        }
        anyhow::Ok((latencies, errors))
    })?;
    let mut sorted = latencies;
    sorted.sort_unstable();
    let seconds = measured.as_secs_f64();
    println!(
        "workload={:?} clients={} duration={}s ok={} errors={} throughput={:.0} req/s p50={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        args.workload,
        args.clients,
        args.duration_secs,
        sorted.len(),
        errors,
        sorted.len() as f64 / seconds,
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        percentile(&sorted, 0.999),
        percentile(&sorted, 1.0),
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
