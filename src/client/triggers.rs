//! `sluice trigger EVENT`: causes a real event by running real API calls from a fixture built into
//! the binary (`triggers/<event>.json`), never by writing an event directly.

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::json;

use super::fixtures::{FixtureFile, Rewrites, Runner};
use super::references::EnvSource;
use super::ClientArgs;

/// What `--stripe-account` means for a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Payments and refunds: every request runs as that account (direct charges).
    AnyAccount,
    /// The trigger works on a connected account (accounts, persons, transfers, payouts...): its
    /// fixture `account` creates one, or `--stripe-account` names one to use instead. Its requests
    /// name the account in their path or in their own `Stripe-Account` header.
    ConnectedAccount,
    /// Like `ConnectedAccount`, but the trigger deletes the account, so it always makes its own:
    /// `--stripe-account` is refused rather than deleting an account someone named.
    NewConnectedAccount,
}

/// The fixture that creates the connected account of a `Scope::ConnectedAccount` trigger.
const ACCOUNT_FIXTURE: &str = "account";

pub struct Trigger {
    pub event: &'static str,
    pub fixture: &'static str,
    pub scope: Scope,
}

macro_rules! trigger {
    ($event:literal, $scope:ident) => {
        Trigger {
            event: $event,
            fixture: include_str!(concat!("triggers/", $event, ".json")),
            scope: Scope::$scope,
        }
    };
}

pub static TRIGGERS: &[Trigger] = &[
    trigger!("account.application.deauthorized", NewConnectedAccount),
    trigger!("account.external_account.created", ConnectedAccount),
    trigger!("account.external_account.deleted", ConnectedAccount),
    trigger!("account.external_account.updated", ConnectedAccount),
    trigger!("account.updated", ConnectedAccount),
    trigger!("application_fee.created", ConnectedAccount),
    trigger!("application_fee.refunded", ConnectedAccount),
    trigger!("balance.available", AnyAccount),
    trigger!("capability.updated", ConnectedAccount),
    trigger!("charge.captured", AnyAccount),
    trigger!("charge.dispute.closed", AnyAccount),
    trigger!("charge.dispute.created", AnyAccount),
    trigger!("charge.dispute.funds_reinstated", AnyAccount),
    trigger!("charge.dispute.funds_withdrawn", AnyAccount),
    trigger!("charge.dispute.updated", AnyAccount),
    trigger!("charge.failed", AnyAccount),
    trigger!("charge.refunded", AnyAccount),
    trigger!("charge.succeeded", AnyAccount),
    trigger!("charge.updated", AnyAccount),
    trigger!("customer.created", AnyAccount),
    trigger!("customer.deleted", AnyAccount),
    trigger!("customer.updated", AnyAccount),
    trigger!("payment_intent.amount_capturable_updated", AnyAccount),
    trigger!("payment_intent.canceled", AnyAccount),
    trigger!("payment_intent.created", AnyAccount),
    trigger!("payment_intent.payment_failed", AnyAccount),
    trigger!("payment_intent.requires_action", AnyAccount),
    trigger!("payment_intent.succeeded", AnyAccount),
    trigger!("payout.canceled", ConnectedAccount),
    trigger!("payout.created", ConnectedAccount),
    trigger!("payout.failed", ConnectedAccount),
    trigger!("payout.paid", ConnectedAccount),
    trigger!("payout.updated", ConnectedAccount),
    trigger!("person.created", ConnectedAccount),
    trigger!("person.deleted", ConnectedAccount),
    trigger!("person.updated", ConnectedAccount),
    trigger!("refund.created", AnyAccount),
    trigger!("refund.updated", AnyAccount),
    trigger!("transfer.created", ConnectedAccount),
    trigger!("transfer.reversed", ConnectedAccount),
    trigger!("transfer.updated", ConnectedAccount),
];

pub fn find(event: &str) -> Option<&'static Trigger> {
    TRIGGERS.iter().find(|trigger| trigger.event == event)
}

/// `sluice trigger EVENT`.
#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// The event to cause (see --list).
    pub event: Option<String>,
    /// List the events that can be triggered.
    #[arg(long)]
    pub list: bool,
    /// Cause the event in this connected account (sends Stripe-Account).
    #[arg(long, value_name = "ACCOUNT")]
    pub stripe_account: Option<String>,
    #[command(flatten)]
    pub rewrites: Rewrites,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn print_list() {
    out!("Events sluice trigger can cause:");
    for trigger in TRIGGERS {
        let scope = match trigger.scope {
            Scope::AnyAccount => "",
            Scope::ConnectedAccount => "  (in a new connected account, or --stripe-account's)",
            Scope::NewConnectedAccount => "  (deletes a new connected account)",
        };
        out!("  {}{scope}", trigger.event);
    }
}

pub fn run(args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let Some(event) = args.event.as_deref().filter(|_| !args.list) else {
        print_list();
        return Ok(ExitCode::SUCCESS);
    };
    let Some(trigger) = find(event) else {
        anyhow::bail!(
            "`{event}` cannot be triggered: `sluice trigger --list` shows the events that can (or run your own fixture file with `sluice fixtures FILE`)"
        );
    };
    let mut file =
        FixtureFile::parse(trigger.fixture, &format!("the built-in fixture of {event}"))?;
    args.rewrites.apply(&mut file)?;
    let client = args.client.connect()?;
    let mut runner = Runner {
        client: &client,
        stripe_account: None,
        given: HashMap::new(),
        env: EnvSource::from_working_dir(),
    };
    if trigger.scope == Scope::NewConnectedAccount && args.stripe_account.is_some() {
        anyhow::bail!(
            "{event} deletes the connected account it works on, so it always creates its own: run it without --stripe-account"
        );
    }
    match (trigger.scope, args.stripe_account) {
        (Scope::ConnectedAccount, Some(account)) => {
            runner
                .given
                .insert(ACCOUNT_FIXTURE.to_string(), json!({ "id": account }));
        }
        (_, account) => runner.stripe_account = account,
    }
    let responses = runner
        .run(&file, &args.rewrites.skips)
        .map_err(|error| anyhow::anyhow!("trigger {event} failed: {error:#}"))?;
    // Events that happen in a connected account are listed in that account.
    // ... unless the trigger deleted it.
    let created_account = responses
        .get(ACCOUNT_FIXTURE)
        .filter(|_| trigger.scope != Scope::NewConnectedAccount)
        .and_then(|account| account.get("id"))
        .and_then(serde_json::Value::as_str);
    match runner.stripe_account.as_deref().or(created_account) {
        Some(account) => out!(
            "Trigger succeeded! See the events with `sluice events list` (the platform's) and `sluice events list --stripe-account {account}`."
        ),
        None => out!("Trigger succeeded! See the events with `sluice events list`."),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in fixture parses and refers only to fixtures that run before it.
    #[test]
    fn built_in_fixtures_are_well_formed() {
        let mut events = std::collections::HashSet::new();
        for trigger in TRIGGERS {
            assert!(events.insert(trigger.event), "{} twice", trigger.event);
            let file = FixtureFile::parse(trigger.fixture, trigger.event).unwrap();
            assert!(!file.fixtures.is_empty(), "{}", trigger.event);
            let mut seen: Vec<&str> = Vec::new();
            for fixture in &file.fixtures {
                let text = serde_json::to_string(&fixture.params).unwrap()
                    + &fixture.path
                    + &serde_json::to_string(&fixture.headers).unwrap();
                for reference in text.split("${").skip(1) {
                    let name = reference.split(':').next().unwrap();
                    assert!(
                        name == ".env" || seen.contains(&name),
                        "{}: `{}` refers to `{name}` before it runs",
                        trigger.event,
                        fixture.name
                    );
                }
                seen.push(&fixture.name);
            }
            if trigger.scope != Scope::AnyAccount {
                assert_eq!(file.fixtures[0].name, ACCOUNT_FIXTURE, "{}", trigger.event);
            }
        }
    }
}
