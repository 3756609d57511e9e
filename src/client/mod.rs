//! The command-line client: everything that talks to a running server over HTTP.
//!
//! - `http`: the HTTP/1.1 client; `form`: Stripe's form encoding on the sending side;
//! - `routes` + `resources`: `sluice <resource> <operation>`, generated from one table;
//! - `fixtures` + `references`: Stripe-CLI-format fixture files; `triggers`: the built-in ones;
//! - `duration` + `clock`: the test clock;
//! - `listen`: `sluice listen`, forwarding the server's event stream to local URLs.

/// `println!` that tolerates a closed stdout (`sluice customers list | head -3`): the reader is
/// gone, so there is nobody to tell, and `println!` would panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}

/// `print!` with the same tolerance, flushed so a line in progress shows while a request runs.
macro_rules! out_partial {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}

pub mod clock;
pub mod duration;
pub mod fixtures;
pub mod form;
pub mod http;
pub mod listen;
pub mod references;
pub mod resources;
pub mod routes;
pub mod triggers;

use std::process::ExitCode;

use anyhow::Context;

use http::{Client, Method, Request, Response};

/// Where the server is and how to authenticate; shared by every client command.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Secret API key of the platform (sk_test_...).
    #[arg(long, env = "SLUICE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Base URL of the server.
    #[arg(
        long,
        env = "SLUICE_API_BASE",
        default_value = "http://127.0.0.1:12111"
    )]
    pub api_base: String,
}

impl ClientArgs {
    pub fn connect(&self) -> anyhow::Result<Client> {
        let key = self
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .context("no API key: pass --api-key sk_test_... or set SLUICE_API_KEY")?;
        Client::new(&self.api_base, key)
    }
}

/// Options of a single API call, shared by the resource commands and `sluice get|post|delete`.
#[derive(Debug, Clone, clap::Args)]
pub struct RequestOptions {
    /// A parameter, key=value; brackets nest (-d "metadata[order]=6735", -d "expand[]=customer").
    #[arg(short = 'd', long = "data", value_name = "KEY=VALUE", value_parser = form::parse_data_arg)]
    pub data: Vec<form::Pair>,
    /// A field to expand in the response (repeatable).
    #[arg(short = 'e', long = "expand", value_name = "PATH")]
    pub expand: Vec<String>,
    /// Idempotency key of a POST (replaying it returns the first answer).
    #[arg(
        short = 'i',
        long = "idempotency-key",
        visible_alias = "idempotency",
        value_name = "KEY"
    )]
    pub idempotency_key: Option<String>,
    /// Act as this connected account (sends Stripe-Account).
    #[arg(long, value_name = "ACCOUNT")]
    pub stripe_account: Option<String>,
    /// API version to request (sends Stripe-Version).
    #[arg(long, value_name = "VERSION")]
    pub stripe_version: Option<String>,
    /// Print the response's status and headers (Request-Id, Idempotent-Replayed...) on stderr.
    #[arg(short = 's', long)]
    pub show_headers: bool,
}

impl RequestOptions {
    pub fn request(&self, method: Method, path: String) -> Request {
        let mut request = Request::new(method, path);
        request.params = self.data.clone();
        request.params.extend(
            self.expand
                .iter()
                .map(|path| ("expand[]".to_string(), path.clone())),
        );
        request.stripe_account = self.stripe_account.clone();
        request.idempotency_key = self.idempotency_key.clone();
        request.stripe_version = self.stripe_version.clone();
        request
    }
}

/// Prints the status line and headers on stderr, keeping stdout pure JSON for scripts.
pub fn print_headers(response: &Response) {
    eprintln!("HTTP {}", response.status);
    for (name, value) in &response.headers {
        eprintln!("{name}: {value}");
    }
    eprintln!();
}

/// Prints an answer the way every client command does: pretty JSON on stdout when it succeeded,
/// on stderr with exit code 1 when the API answered with an error.
pub fn print_response(response: &Response) -> ExitCode {
    if response.is_success() {
        out!("{}", response.pretty());
        ExitCode::SUCCESS
    } else {
        eprintln!("{}", response.pretty());
        ExitCode::FAILURE
    }
}

/// `sluice get|post|delete PATH`: one request to any path, for what the table does not list.
#[derive(Debug, clap::Args)]
pub struct RawArgs {
    /// Path of the request, e.g. /v1/customers/cus_123 (the /v1 may be left out).
    pub path: String,
    #[command(flatten)]
    pub options: RequestOptions,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub fn run_raw(method: Method, args: RawArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.connect()?;
    let path = if args.path.starts_with("/v1/") {
        args.path.clone()
    } else {
        format!("/v1/{}", args.path.trim_start_matches('/'))
    };
    let response = client.send(&args.options.request(method, path))?;
    if args.options.show_headers {
        print_headers(&response);
    }
    Ok(print_response(&response))
}
