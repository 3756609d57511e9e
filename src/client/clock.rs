//! `sluice clock show` and `sluice clock advance 2d`: the platform's simulated test clock
//! (`GET /v1/test_helpers/clock`, `POST /v1/test_helpers/clock/advance seconds=N`).

use std::process::ExitCode;

use clap::Subcommand;

use super::http::{Method, Request};
use super::{duration, print_response, ClientArgs};

pub const CLOCK_PATH: &str = "/v1/test_helpers/clock";
pub const ADVANCE_PATH: &str = "/v1/test_helpers/clock/advance";

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Show the test clock's current time.
    Show {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Move the test clock forward: funds become available, payout schedules run.
    Advance {
        /// How far: 30s, 15m, 2h, 2d, 1w, or combined (1d12h).
        #[arg(
            value_parser = duration::parse_secs,
            value_name = "DURATION",
            required_unless_present = "to_unix_secs"
        )]
        duration_secs: Option<u64>,
        /// Or to this time (unix seconds).
        #[arg(
            long = "to",
            value_name = "UNIX_SECS",
            conflicts_with = "duration_secs"
        )]
        to_unix_secs: Option<i64>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

pub fn run(command: ClockCommand) -> anyhow::Result<ExitCode> {
    let (client_args, request) = match command {
        ClockCommand::Show { client } => (client, Request::new(Method::Get, CLOCK_PATH)),
        ClockCommand::Advance {
            duration_secs,
            to_unix_secs,
            client,
        } => {
            let mut request = Request::new(Method::Post, ADVANCE_PATH);
            let param = match (duration_secs, to_unix_secs) {
                (_, Some(to)) => ("to", to.to_string()),
                (Some(seconds), None) => ("seconds", seconds.to_string()),
                (None, None) => {
                    anyhow::bail!("say how far: `sluice clock advance 2d` or --to UNIX_SECS")
                }
            };
            request.params.push((param.0.to_string(), param.1));
            (client, request)
        }
    };
    let client = client_args.connect()?;
    let response = client.send(&request)?;
    Ok(print_response(&response))
}
