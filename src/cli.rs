//! The command line: `sluice serve`, `sluice bench`, `sluice ledger verify`, and the client
//! commands that talk to a running server (`sluice <resource> <operation>`, `fixtures`, `trigger`,
//! `clock`, `listen`, `get`/`post`/`delete`; see `crate::client`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::domain::{platforms, unix_now};
use crate::store::Store;
use crate::wire::App;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "A self-hosted payments platform that speaks Stripe's Connect API v1"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Drive a running server with concurrent clients and print throughput and latency.
    Bench(crate::bench::BenchArgs),
    /// Operate on the ledger of a store (the server may be running).
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Run a fixture file (the Stripe CLI's format): requests in order, with references to
    /// earlier responses.
    Fixtures(crate::client::fixtures::FixturesArgs),
    /// Cause an event by making the API calls that produce it (`--list` shows the events).
    Trigger(crate::client::triggers::TriggerArgs),
    /// Show or advance the simulated test clock.
    Clock {
        #[command(subcommand)]
        command: crate::client::clock::ClockCommand,
    },
    /// Send a GET request to any API path.
    Get(crate::client::RawArgs),
    /// Send a POST request to any API path.
    Post(crate::client::RawArgs),
    /// Send a DELETE request to any API path.
    Delete(crate::client::RawArgs),
    /// Receive events as they happen and forward them to local URLs, signed (like `stripe listen`).
    Listen(crate::client::listen::ListenArgs),
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check every ledger invariant; exit 1 with a report if any fails.
    Verify(StoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Directory of the embedded store.
    #[arg(long, env = "SLUICE_DATA", default_value = ".sluice")]
    pub data: PathBuf,
    /// Use PostgreSQL instead of the embedded store.
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (stripe-mock's port, so existing SDK test setups work unchanged).
    #[arg(long, env = "SLUICE_ADDR", default_value = "127.0.0.1:12111")]
    pub addr: SocketAddr,
    /// Directory of the embedded store.
    #[arg(long, env = "SLUICE_DATA", default_value = ".sluice")]
    pub data: PathBuf,
    /// Use PostgreSQL instead of the embedded store (postgres://user:pass@host:port/db).
    #[arg(long, env = "SLUICE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Test secret key of platform 1 (repeat for platforms 2, 3, ...); applied on every start.
    #[arg(long = "secret-key", env = "SLUICE_SECRET_KEY", value_delimiter = ',')]
    pub secret_keys: Vec<String>,
    #[arg(long, env = "SLUICE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// A JSON price list (processing, dispute and instant payout fees); Stripe's US prices if absent.
    #[arg(long, env = "SLUICE_PRICING")]
    pub pricing: Option<PathBuf>,
    /// Unit of the webhook retry schedule (5, 30, 120, 240, 480, 960, then 1440 units, for up to
    /// 4320 units): one minute follows Stripe's schedule; tests shrink it.
    #[arg(long, env = "SLUICE_WEBHOOK_RETRY_BASE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_retry_base_ms: u64,
    /// How long one webhook attempt may take (connect, send, read the answer).
    #[arg(long, env = "SLUICE_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub webhook_timeout_ms: u64,
    /// Attempts running at once against one endpoint (its other deliveries wait their turn).
    #[arg(long, env = "SLUICE_WEBHOOK_PER_ENDPOINT", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub webhook_per_endpoint: u64,
}

/// The parser: the derived commands plus one command per API resource, built from
/// `crate::client::routes` (clap's derive cannot generate those from a table).
pub fn command() -> clap::Command {
    Cli::command()
        .subcommands(crate::client::resources::commands())
        .after_help(
            "API resources: `sluice <resource> <operation> --help`, \
             e.g. `sluice customers create --help`.",
        )
}

pub fn run() -> anyhow::Result<ExitCode> {
    let matches = command().get_matches();
    if let Some((name, resource_matches)) = matches.subcommand() {
        if let Some(resource) = crate::client::routes::find(name) {
            return crate::client::resources::run(resource, resource_matches);
        }
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(args) => crate::bench::run(args),
        Command::Ledger {
            command: LedgerCommand::Verify(args),
        } => verify_ledger(args),
        Command::Fixtures(args) => crate::client::fixtures::run_file(args),
        Command::Trigger(args) => crate::client::triggers::run(args),
        Command::Clock { command } => crate::client::clock::run(command),
        Command::Listen(args) => crate::client::listen::run(args),
        Command::Get(args) => crate::client::run_raw(crate::client::http::Method::Get, args),
        Command::Post(args) => crate::client::run_raw(crate::client::http::Method::Post, args),
        Command::Delete(args) => crate::client::run_raw(crate::client::http::Method::Delete, args),
    }
}

fn init_logging(format: LogFormat) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn check_secret_key(key: &str) -> anyhow::Result<()> {
    let valid = key.starts_with("sk_test_")
        && key.len() >= 16
        && key.len() <= 255
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        anyhow::bail!(
            "--secret-key must look like sk_test_ followed by at least 8 letters, digits or underscores"
        );
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    for key in &args.secret_keys {
        check_secret_key(key)?;
    }
    let pricing = match &args.pricing {
        Some(path) => crate::domain::pricing::Pricing::load(path)?,
        None => crate::domain::pricing::Pricing::default(),
    };
    let store = match &args.database_url {
        Some(url) => Store::open_postgres(url)?,
        None => Store::open_sqlite(&args.data)?,
    };
    let keys = args.secret_keys.clone();
    let made = store
        .write_blocking(move |tx| platforms::bootstrap(tx, &keys, unix_now()))
        .map_err(|e| anyhow::anyhow!("cannot prepare the platforms: {}", e.message))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|error| {
            if error.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!("cannot listen on {}: the address is already in use (is another server running?)", args.addr)
            } else {
                anyhow::anyhow!("cannot listen on {}: {error}", args.addr)
            }
        })?;
        let base = format!("http://{}", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        let app = App::configured(store.clone(), pricing, &base).await?;
        for report in &made {
            println!("Created platform {} ({}):", report.ordinal, report.platform);
            for (label, key) in &report.keys {
                println!("  {label}: {key}");
            }
        }
        println!("Sluice is listening on {base} (store: {})", store.kind());
        println!("  Python: stripe.api_base = \"{base}\"");
        spawn_maintenance(store.clone());
        app.spawn_scheduler();
        let dispatcher = crate::webhooks::Config {
            retry_base_ms: args.webhook_retry_base_ms,
            timeout_ms: args.webhook_timeout_ms,
            per_endpoint: args.webhook_per_endpoint as usize,
            ..Default::default()
        };
        crate::webhooks::spawn_background(store.clone(), app.hub.clone(), dispatcher)
            .context("cannot start the webhook dispatcher")?;
        let router = crate::api::router(app);
        crate::wire::server::serve(listener, router, shutdown_signal()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn verify_ledger(args: StoreArgs) -> anyhow::Result<ExitCode> {
    let store = match &args.database_url {
        Some(url) => Store::open_postgres(url)?,
        None => {
            if !args.data.join("sluice.db").exists() {
                anyhow::bail!(
                    "no store at {} (pass --data DIR or --database-url)",
                    args.data.display()
                );
            }
            Store::open_sqlite(&args.data)?
        }
    };
    let problems = store
        .write_blocking(|tx| tx.verify_ledger())
        .map_err(|e| anyhow::anyhow!("cannot verify the ledger: {e}"))?;
    if problems.is_empty() {
        println!("ledger verify: OK (every transaction sums to zero; balances equal their postings; every balance transaction matches its postings)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("ledger verify: {} problem(s)", problems.len());
    for problem in &problems {
        println!("  {problem}");
    }
    Ok(ExitCode::FAILURE)
}

/// Once an hour: forgets idempotency keys older than 24 hours, and events (with their delivery
/// logs) older than 30 days.
fn spawn_maintenance(store: Store) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            let cutoff = unix_now() - 24 * 3600;
            let pruned: Result<u64, crate::domain::Error> = store
                .write(move |tx| Ok(tx.idempotency_prune(cutoff)?))
                .await;
            if let Err(error) = pruned {
                tracing::warn!(error = %error.message, "idempotency pruning failed");
            }
            let now_ms = crate::domain::events::wall_ms();
            let pruned: Result<u64, crate::domain::Error> = store
                .write(move |tx| crate::domain::events::prune(tx, now_ms))
                .await;
            if let Err(error) = pruned {
                tracing::warn!(error = %error.message, "event pruning failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
