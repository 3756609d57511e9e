//! The command-line client run as a user runs it: the built `sluice` binary against a real
//! `sluice serve` on a free port (or, for endpoints another part of the server provides, a
//! one-shot fake that records what the client sent).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod served;
use served::free_port;

const KEY: &str = "sk_test_clitests000000001";

type Server = served::Served;

impl Server {
    fn start(name: &str) -> Server {
        served::Served::new("cli", name, KEY)
    }

    /// Runs `sluice ARGS` pointed at this server through the environment, as a user would.
    fn cli(&self, args: &[&str]) -> Run {
        run_in(
            &self.dir,
            &[("SLUICE_API_BASE", &self.base), ("SLUICE_API_KEY", KEY)],
            args,
        )
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    fn no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("SLUICE_API_BASE")
        .env_remove("SLUICE_API_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

#[test]
fn resource_commands_create_read_update_and_list() {
    let server = Server::start("resources");
    let created = server
        .cli(&[
            "customers",
            "create",
            "-d",
            "name=Jenny Rosen",
            "-d",
            "email=jenny+1@example.com",
            "-d",
            "metadata[order]=6735",
            "-d",
            "address[line1]=1 Main St & Co",
        ])
        .ok()
        .json();
    let customer = id(&created);
    assert_eq!(created["email"], "jenny+1@example.com");
    assert_eq!(created["metadata"]["order"], "6735");
    assert_eq!(created["address"]["line1"], "1 Main St & Co");

    let updated = server
        .cli(&[
            "customers",
            "update",
            &customer,
            "-d",
            "metadata[tier]=gold",
            "-d",
            "description=VIP",
        ])
        .ok()
        .json();
    assert_eq!(updated["metadata"]["tier"], "gold");
    assert_eq!(updated["metadata"]["order"], "6735");
    assert_eq!(updated["description"], "VIP");

    let retrieved = server
        .cli(&["customers", "retrieve", &customer])
        .ok()
        .json();
    assert_eq!(retrieved["description"], "VIP");

    // A payment with the customer expanded both ways: --expand and -d "expand[]=...".
    let intent = server
        .cli(&[
            "payment_intents",
            "create",
            "-d",
            "amount=2000",
            "-d",
            "currency=usd",
            "-d",
            &format!("customer={customer}"),
            "-d",
            "payment_method=pm_card_visa",
            "-d",
            "confirm=true",
            "--expand",
            "customer",
        ])
        .ok()
        .json();
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["customer"]["id"], customer.as_str());
    let listed = server
        .cli(&[
            "payment_intents",
            "list",
            "-d",
            "limit=1",
            "-d",
            "expand[]=data.customer",
        ])
        .ok()
        .json();
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["data"][0]["id"], intent["id"]);
    assert_eq!(listed["data"][0]["customer"]["id"], customer.as_str());

    // `accounts retrieve` alone reads the platform's own account.
    let own = server.cli(&["accounts", "retrieve"]).ok().json();
    assert!(id(&own).starts_with("acct_"));

    // An idempotency key replays the first answer.
    let first = server
        .cli(&["customers", "create", "-d", "name=Once", "-i", "cli-key-1"])
        .ok()
        .json();
    let again = server
        .cli(&["customers", "create", "-d", "name=Once", "-i", "cli-key-1"])
        .ok()
        .json();
    assert_eq!(first["id"], again["id"]);
    let replay = server
        .cli(&[
            "customers",
            "create",
            "-d",
            "name=Once",
            "-i",
            "cli-key-1",
            "-s",
        ])
        .ok();
    assert_eq!(replay.json()["id"], first["id"]);
    assert!(replay.stderr.starts_with("HTTP 200\n"), "{}", replay.stderr);
    assert!(
        replay.stderr.contains("idempotent-replayed: true"),
        "{}",
        replay.stderr
    );

    let deleted = server.cli(&["customers", "delete", &customer]).ok().json();
    assert_eq!(deleted["deleted"], true);
}

#[test]
fn api_errors_go_to_stderr_with_exit_code_1() {
    let server = Server::start("errors");
    let missing = server.cli(&["customers", "retrieve", "cus_doesnotexist"]);
    assert_eq!(missing.code, Some(1));
    assert!(missing.stdout.is_empty(), "{}", missing.stdout);
    let error: Value = serde_json::from_str(&missing.stderr).expect("the error JSON on stderr");
    assert_eq!(error["error"]["code"], "resource_missing");

    let declined = server.cli(&[
        "payment_intents",
        "create",
        "-d",
        "amount=500",
        "-d",
        "currency=usd",
        "-d",
        "payment_method=pm_card_visa_chargeDeclined",
        "-d",
        "confirm=true",
    ]);
    assert_eq!(declined.code, Some(1));
    assert!(
        declined.stderr.contains("card_declined"),
        "{}",
        declined.stderr
    );

    let unknown_param = server.cli(&["customers", "create", "-d", "nonsense=1"]);
    assert_eq!(unknown_param.code, Some(1));
    assert!(
        unknown_param.stderr.contains("parameter_unknown"),
        "{}",
        unknown_param.stderr
    );

    let bad_key = run_in(
        &server.dir,
        &[("SLUICE_API_BASE", &server.base)],
        &[
            "customers",
            "list",
            "--api-key",
            "sk_test_wrongwrongwrong1234",
        ],
    );
    assert_eq!(bad_key.code, Some(1));
    assert!(
        bad_key.stderr.contains("Invalid API Key"),
        "{}",
        bad_key.stderr
    );
    assert!(
        !bad_key.stderr.contains("wrongwrongwrong"),
        "{}",
        bad_key.stderr
    );

    // Mistakes on the command line itself: clap's messages and usage, never a panic.
    let no_value = server.cli(&["customers", "create", "-d", "novalue"]);
    assert_ne!(no_value.code, Some(0));
    assert!(no_value.stderr.contains("key=value"), "{}", no_value.stderr);
    let unknown_resource = server.cli(&["potatoes", "list"]);
    assert_ne!(unknown_resource.code, Some(0));
    assert!(
        unknown_resource.stderr.contains("potatoes"),
        "{}",
        unknown_resource.stderr
    );
    let unknown_operation = server.cli(&["customers", "frobnicate"]);
    assert_ne!(unknown_operation.code, Some(0));
    assert!(
        unknown_operation.stderr.contains("frobnicate"),
        "{}",
        unknown_operation.stderr
    );
    let no_id = server.cli(&["customers", "retrieve"]);
    assert_ne!(no_id.code, Some(0));
    assert!(no_id.stderr.contains("<customer>"), "{}", no_id.stderr);
    for run in [&no_value, &unknown_resource, &unknown_operation, &no_id] {
        run.no_panic();
    }

    // Help at every level.
    let top = server.cli(&["--help"]).ok();
    assert!(top.stdout.contains("payment_intents"), "{}", top.stdout);
    assert!(top.stdout.contains("trigger"), "{}", top.stdout);
    let resource = server.cli(&["payment_intents", "--help"]).ok();
    for operation in [
        "create", "retrieve", "update", "list", "confirm", "capture", "cancel",
    ] {
        assert!(resource.stdout.contains(operation), "{}", resource.stdout);
    }
    let operation = server.cli(&["persons", "create", "--help"]).ok();
    assert!(
        operation.stdout.contains("/v1/accounts/{account}/persons"),
        "{}",
        operation.stdout
    );
    assert!(
        operation.stdout.contains("--stripe-account"),
        "{}",
        operation.stdout
    );
    assert!(
        !operation.stdout.contains(KEY),
        "the API key must never be printed"
    );
}

/// Onboards a custom account able to take charges, through the command line.
fn onboarded_account(server: &Server) -> String {
    let account = server
        .cli(&[
            "accounts",
            "create",
            "-d",
            "type=custom",
            "-d",
            "country=US",
            "-d",
            "business_type=individual",
            "-d",
            "capabilities[card_payments][requested]=true",
            "-d",
            "capabilities[transfers][requested]=true",
            "-d",
            "individual[first_name]=Cli",
            "-d",
            "individual[last_name]=Seller",
            "-d",
            "individual[email]=seller@example.com",
            "-d",
            "individual[phone]=0000000000",
            "-d",
            "individual[dob][day]=1",
            "-d",
            "individual[dob][month]=1",
            "-d",
            "individual[dob][year]=1901",
            "-d",
            "individual[address][line1]=address_full_match",
            "-d",
            "individual[address][city]=Austin",
            "-d",
            "individual[address][state]=TX",
            "-d",
            "individual[address][postal_code]=78701",
            "-d",
            "individual[id_number]=000000000",
            "-d",
            "individual[ssn_last_4]=0000",
            "-d",
            "business_profile[mcc]=5734",
            "-d",
            "business_profile[url]=https://example.com",
            "-d",
            "external_account=btok_us_verified",
            "-d",
            "tos_acceptance[date]=1700000000",
            "-d",
            "tos_acceptance[ip]=127.0.0.1",
        ])
        .ok()
        .json();
    assert_eq!(account["charges_enabled"], true, "{account}");
    id(&account)
}

#[test]
fn stripe_account_and_nested_resources() {
    let server = Server::start("connect");
    let account = onboarded_account(&server);

    let direct = server
        .cli(&[
            "payment_intents",
            "create",
            "--stripe-account",
            &account,
            "-d",
            "amount=1500",
            "-d",
            "currency=usd",
            "-d",
            "payment_method=pm_card_visa",
            "-d",
            "confirm=true",
        ])
        .ok()
        .json();
    assert_eq!(direct["status"], "succeeded");
    let in_account = server
        .cli(&[
            "payment_intents",
            "retrieve",
            &id(&direct),
            "--stripe-account",
            &account,
        ])
        .ok()
        .json();
    assert_eq!(in_account["id"], direct["id"]);
    // The platform does not see the connected account's direct charge as its own.
    let from_platform = server.cli(&["payment_intents", "retrieve", &id(&direct)]);
    assert_eq!(from_platform.code, Some(1), "{}", from_platform.stdout);

    let person = server
        .cli(&[
            "persons",
            "create",
            &account,
            "-d",
            "first_name=Jane",
            "-d",
            "last_name=Doe",
        ])
        .ok()
        .json();
    let persons = server.cli(&["persons", "list", &account]).ok().json();
    assert!(persons["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == person["id"]));
    let capability = server
        .cli(&["capabilities", "retrieve", &account, "transfers"])
        .ok()
        .json();
    assert_eq!(capability["id"], "transfers");
    let external = server
        .cli(&["external_accounts", "list", &account])
        .ok()
        .json();
    assert_eq!(external["object"], "list");

    // A reader that goes away (`| head`) ends the output quietly, without a panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["trigger", "charge.succeeded"])
        .env("SLUICE_API_BASE", &server.base)
        .env("SLUICE_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Raw requests for anything the table does not list.
    let raw = server.cli(&["get", "/v1/balance"]).ok().json();
    assert_eq!(raw["object"], "balance");
}

#[test]
fn fixture_files_chain_references_and_stop_at_the_first_failure() {
    let server = Server::start("fixtures");
    let fixture = r#"{
      "_meta": {"template_version": 0},
      "fixtures": [
        {"name": "customer", "path": "/v1/customers", "method": "post",
         "params": {"name": "Fixture Customer", "metadata": {"source": "${.env:SLUICE_CLI_TEST_SOURCE}"}}},
        {"name": "payment_method", "path": "/v1/payment_methods/pm_card_visa/attach", "method": "post",
         "params": {"customer": "${customer:id}"}},
        {"name": "payment_intent", "path": "/v1/payment_intents", "method": "post",
         "params": {"amount": 2000, "currency": "usd", "customer": "${customer:id}",
                    "payment_method": "${payment_method:id}", "confirm": true,
                    "metadata": {"order": "${.env:SLUICE_CLI_TEST_ORDER}"}}},
        {"name": "listed", "path": "/v1/payment_intents", "method": "get",
         "params": {"customer": "${customer:id}"}},
        {"name": "refund", "path": "/v1/refunds", "method": "post",
         "params": {"charge": "${listed:data.0.latest_charge}", "amount": 500}},
        {"name": "declined", "path": "/v1/payment_intents", "method": "post",
         "expected_error_type": "card_error",
         "params": {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa_chargeDeclined", "confirm": true}}
      ]
    }"#;
    std::fs::write(server.dir.join("flow.json"), fixture).unwrap();
    // `${.env:...}` reads the environment first, then ./.env.
    std::fs::write(
        server.dir.join(".env"),
        "SLUICE_CLI_TEST_ORDER=from-dotenv\n",
    )
    .unwrap();
    let run = run_in(
        &server.dir,
        &[
            ("SLUICE_API_BASE", &server.base),
            ("SLUICE_API_KEY", KEY),
            ("SLUICE_CLI_TEST_SOURCE", "from-env"),
        ],
        &["fixtures", "flow.json", "--override", "refund:amount=700"],
    )
    .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(
        lines[0].starts_with("Running fixture for: customer (POST /v1/customers) -> 200 cus_"),
        "{}",
        lines[0]
    );
    assert!(lines[4].contains("-> 200 re_"), "{}", lines[4]);
    assert!(
        lines[5].contains("402 card_error (expected)"),
        "{}",
        lines[5]
    );

    let intents = server
        .cli(&["payment_intents", "list", "-d", "limit=2"])
        .ok()
        .json();
    let paid = intents["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pi| pi["status"] == "succeeded")
        .expect("the fixture's payment")
        .clone();
    assert_eq!(paid["metadata"]["order"], "from-dotenv");
    let customer = server
        .cli(&["customers", "retrieve", paid["customer"].as_str().unwrap()])
        .ok()
        .json();
    assert_eq!(customer["metadata"]["source"], "from-env");
    let refunds = server
        .cli(&["refunds", "list", "-d", "limit=1"])
        .ok()
        .json();
    assert_eq!(
        refunds["data"][0]["amount"], 700,
        "--override changed the refund"
    );
    assert_eq!(refunds["data"][0]["charge"], paid["latest_charge"]);

    // A failing request stops the run: later fixtures do not run, the error is on stderr.
    let failing = r#"{"_meta": {"template_version": 0}, "fixtures": [
        {"name": "bad", "path": "/v1/customers/cus_missing", "method": "get"},
        {"name": "never", "path": "/v1/customers", "method": "post", "params": {"name": "Never"}}]}"#;
    std::fs::write(server.dir.join("failing.json"), failing).unwrap();
    let run = server.cli(&["fixtures", "failing.json"]);
    assert_eq!(run.code, Some(1));
    assert!(!run.stdout.contains("never"), "{}", run.stdout);
    assert!(
        run.stderr.contains("fixture `bad` failed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("404"), "{}", run.stderr);

    // A reference to nothing is a clear error too.
    let dangling =
        r#"{"fixtures": [{"name": "x", "path": "/v1/customers/${nothing:id}", "method": "get"}]}"#;
    std::fs::write(server.dir.join("dangling.json"), dangling).unwrap();
    let run = server.cli(&["fixtures", "dangling.json"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("no earlier fixture is named `nothing`"),
        "{}",
        run.stderr
    );

    let run = server.cli(&["fixtures", "absent.json"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("cannot read the fixture file"),
        "{}",
        run.stderr
    );
    run.no_panic();
}

#[test]
fn triggers_cause_real_objects() {
    let server = Server::start("triggers");
    let list = server.cli(&["trigger", "--list"]).ok();
    for event in [
        "payment_intent.succeeded",
        "charge.dispute.created",
        "transfer.created",
        "person.created",
    ] {
        assert!(list.stdout.contains(event), "{}", list.stdout);
    }

    let run = server.cli(&["trigger", "payment_intent.succeeded"]).ok();
    assert!(run.stdout.contains("Trigger succeeded"), "{}", run.stdout);
    let intents = server
        .cli(&["payment_intents", "list", "-d", "limit=1"])
        .ok()
        .json();
    assert_eq!(intents["data"][0]["status"], "succeeded");
    assert_eq!(intents["data"][0]["amount"], 2000);

    // The event itself, where this server records events (`/v1/events` comes with the events
    // work; until then the route answers 404 and there is nothing more to check).
    let events = server.cli(&["events", "list", "-d", "type=payment_intent.succeeded"]);
    if events.code == Some(0) {
        let data = events.json()["data"].clone();
        assert!(
            !data.as_array().unwrap().is_empty(),
            "no payment_intent.succeeded event"
        );
        assert_eq!(data[0]["data"]["object"]["id"], intents["data"][0]["id"]);
    }

    server
        .cli(&["trigger", "payment_intent.payment_failed"])
        .ok();
    let intents = server
        .cli(&["payment_intents", "list", "-d", "limit=1"])
        .ok()
        .json();
    assert_eq!(intents["data"][0]["status"], "requires_payment_method");

    server.cli(&["trigger", "charge.dispute.closed"]).ok();
    let disputes = server.cli(&["disputes", "list"]).ok().json();
    assert_eq!(disputes["data"][0]["status"], "lost");

    server.cli(&["trigger", "transfer.reversed"]).ok();
    let transfers = server
        .cli(&["transfers", "list", "-d", "limit=1"])
        .ok()
        .json();
    assert_eq!(transfers["data"][0]["reversed"], true);

    let run = server.cli(&["trigger", "person.created"]).ok();
    let account = run
        .stdout
        .split_whitespace()
        .find(|word| word.starts_with("acct_"))
        .expect("the account the trigger created")
        .to_string();
    let persons = server.cli(&["persons", "list", &account]).ok().json();
    assert_eq!(persons["data"].as_array().unwrap().len(), 1);

    server.cli(&["trigger", "application_fee.refunded"]).ok();
    let fees = server
        .cli(&["application_fees", "list", "-d", "limit=1"])
        .ok()
        .json();
    assert_eq!(fees["data"][0]["amount_refunded"], 123);

    // Payouts and the test clock: the payout is paid once the clock passes its arrival date.
    let before = server.cli(&["clock", "show"]).ok().json()["now"]
        .as_i64()
        .unwrap();
    let run = server.cli(&["trigger", "payout.paid"]).ok();
    let word = |prefix: &str| {
        run.stdout
            .split_whitespace()
            .find(|word| word.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {}", run.stdout))
            .trim_end_matches(['.', '`'])
            .to_string()
    };
    let (payout, owner) = (word("po_"), word("acct_"));
    let paid = server
        .cli(&["payouts", "retrieve", &payout, "--stripe-account", &owner])
        .ok()
        .json();
    assert_eq!(paid["status"], "paid", "{paid}");
    let after = server.cli(&["clock", "advance", "1h"]).ok().json();
    assert!(
        after["now"].as_i64().unwrap() >= before + 3 * 86_400 + 3_600,
        "{after}"
    );
    server.cli(&["trigger", "balance.available"]).ok();

    // --stripe-account: the payment happens in that connected account; --override edits it.
    let connected = onboarded_account(&server);
    server
        .cli(&[
            "trigger",
            "payment_intent.succeeded",
            "--stripe-account",
            &connected,
            "--override",
            "payment_intent:amount=4321",
        ])
        .ok();
    let theirs = server
        .cli(&[
            "payment_intents",
            "list",
            "-d",
            "limit=1",
            "--stripe-account",
            &connected,
        ])
        .ok()
        .json();
    assert_eq!(theirs["data"][0]["amount"], 4321);

    // For a trigger about a connected account, --stripe-account names the account to use
    // instead of a new one.
    let run = server
        .cli(&["trigger", "person.created", "--stripe-account", &connected])
        .ok();
    assert!(
        run.stdout
            .starts_with(&format!("Using {connected} for fixture: account\n")),
        "{}",
        run.stdout
    );
    let persons = server.cli(&["persons", "list", &connected]).ok().json();
    assert_eq!(persons["data"].as_array().unwrap().len(), 1, "{persons}");
    let unknown = server.cli(&["trigger", "invoice.paid"]);
    assert_eq!(unknown.code, Some(1));
    assert!(unknown.stderr.contains("--list"), "{}", unknown.stderr);
    let bad_override = server.cli(&["trigger", "charge.succeeded", "--override", "amount=1"]);
    assert_eq!(bad_override.code, Some(1));
    assert!(
        bad_override.stderr.contains("names no fixture"),
        "{}",
        bad_override.stderr
    );
}

#[test]
fn unreachable_server_and_missing_key_are_clear_errors() {
    let dir = served::temp_dir("cli", "offline");
    let closed = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["customers", "list"][..],
        &["trigger", "charge.succeeded"][..],
        &["clock", "show"][..],
    ] {
        let run = run_in(
            &dir,
            &[("SLUICE_API_BASE", &closed), ("SLUICE_API_KEY", KEY)],
            args,
        );
        assert_eq!(run.code, Some(1), "{args:?}");
        assert!(
            run.stderr.contains("cannot reach the Sluice server"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(&closed), "{}", run.stderr);
        run.no_panic();
    }
    let run = run_in(
        &dir,
        &[("SLUICE_API_BASE", &closed)],
        &["customers", "list"],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("no API key"), "{}", run.stderr);
    assert!(run.stderr.contains("SLUICE_API_KEY"), "{}", run.stderr);
    let run = run_in(
        &dir,
        &[("SLUICE_API_KEY", KEY)],
        &["customers", "list", "--api-base", "https://example.com"],
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("http://"), "{}", run.stderr);
    let run = run_in(&dir, &[], &["clock", "advance", "2 days", "--api-key", KEY]);
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("not a duration"), "{}", run.stderr);
    run.no_panic();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-request HTTP server that answers `body` and hands back what it received.
fn fake_server(body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut request_body = vec![0; length];
        reader.read_exact(&mut request_body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        format!("{head}\r\n{}", String::from_utf8_lossy(&request_body))
    });
    (base, handle)
}

#[test]
fn clock_and_resend_follow_their_contracts() {
    let dir = served::temp_dir("cli", "contracts");
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &["clock", "advance", "2d"],
            "POST /v1/test_helpers/clock/advance HTTP/1.1",
            "seconds=172800",
        ),
        (
            &["clock", "show"],
            "GET /v1/test_helpers/clock HTTP/1.1",
            "",
        ),
        (
            &[
                "events",
                "resend",
                "evt_123",
                "--webhook-endpoint",
                "we_456",
            ],
            "POST /v1/sluice/events/evt_123/resend HTTP/1.1",
            "webhook_endpoint=we_456",
        ),
    ];
    for (args, request_line, body) in cases {
        let (base, received) =
            fake_server(r#"{"object": "test_helpers.clock", "frozen_time": 1700172800}"#);
        let run = run_in(
            &dir,
            &[("SLUICE_API_BASE", &base), ("SLUICE_API_KEY", KEY)],
            args,
        )
        .ok();
        assert_eq!(run.json()["frozen_time"], 1700172800);
        let received = received.join().unwrap();
        assert!(received.starts_with(request_line), "{received}");
        assert!(received.to_ascii_lowercase().contains(&format!(
            "authorization: bearer {}",
            KEY.to_ascii_lowercase()
        )));
        assert!(
            received.ends_with(&format!("\r\n\r\n{body}")),
            "{received:?}"
        );
    }
    let missing = run_in(
        &dir,
        &[("SLUICE_API_KEY", KEY)],
        &["events", "resend", "evt_123"],
    );
    assert_ne!(missing.code, Some(0));
    assert!(
        missing.stderr.contains("--webhook-endpoint"),
        "{}",
        missing.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
