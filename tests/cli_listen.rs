//! `sluice listen` run as a user runs it: the built binary against a real `sluice serve`,
//! forwarding to real local HTTP receivers, with events caused by real API calls.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

mod served;
use served::free_port;

const KEY: &str = "sk_test_listentests00000001";

type Server = served::Served;

impl Server {
    fn start(name: &str) -> Server {
        served::Served::new("listen", name, KEY)
    }

    fn command(&self, key: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("SLUICE_API_BASE", &self.base)
            .env("SLUICE_API_KEY", key);
        command
    }

    /// Runs `sluice ARGS` to completion; its stdout as JSON when it succeeded.
    fn cli(&self, args: &[&str]) -> Value {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(KEY, args).output().unwrap();
        let stdout = String::from_utf8_lossy(&stdout);
        assert!(
            status.success(),
            "sluice {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&stderr)
        );
        serde_json::from_str(&stdout).unwrap_or(Value::Null)
    }

    fn listen(&self, args: &[&str]) -> Listen {
        self.listen_with_key(KEY, args)
    }

    fn listen_with_key(&self, key: &str, args: &[&str]) -> Listen {
        let mut full = vec!["listen"];
        full.extend_from_slice(args);
        Listen::spawn(self.command(key, &full))
    }
}

/// A running `sluice listen`: its stdout and stderr lines as they come; killed when dropped.
struct Listen {
    child: Child,
    lines: Receiver<(bool, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Listen {
    fn spawn(mut command: Command) -> Listen {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for (is_stdout, pipe) in [
            (true, Box::new(out) as Box<dyn Read + Send>),
            (false, Box::new(err)),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    if sender.send((is_stdout, line)).is_err() {
                        return;
                    }
                }
            });
        }
        Listen {
            child,
            lines,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Waits for a line (stdout or stderr) that `matches`; panics with everything seen after
    /// 20 s. `None` when both pipes closed first.
    fn wait_for(&mut self, matches: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((is_stdout, line)) => {
                    if is_stdout {
                        self.stdout.push(line.clone());
                    } else {
                        self.stderr.push(line.clone());
                    }
                    if matches(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no matching line in time\nstdout:\n{}\nstderr:\n{}",
                    self.stdout.join("\n"),
                    self.stderr.join("\n")
                ),
            }
        }
    }

    /// The session's signing secret, from the `Ready!` line.
    fn ready(&mut self) -> String {
        let line = self
            .wait_for(|line| line.starts_with("Ready!"))
            .unwrap_or_else(|| panic!("listen ended before Ready!: {:?}", self.stderr));
        let secret = line
            .split_whitespace()
            .find(|word| word.starts_with("whsec_"))
            .expect("a whsec_ secret")
            .to_string();
        assert!(
            line.ends_with("(^C to quit)"),
            "the Stripe CLI's Ready! line: {line}"
        );
        secret
    }

    /// Waits for the process to end (20 s at most): its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        while self.wait_for(|_| false).is_some() {}
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "listen did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn event(&self) -> Value {
        serde_json::from_str(&self.body).expect("the forwarded body is JSON")
    }
}

/// A local HTTP endpoint that answers 200 to everything and records what it got.
struct Endpoint {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

fn endpoint() -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let record = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let record = record.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let mut headers = HashMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                    }
                }
                let length = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                assert!(request_line.starts_with("POST "), "{request_line}");
                record.lock().unwrap().push(Received {
                    path,
                    headers,
                    body: String::from_utf8(body).unwrap(),
                });
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    Endpoint { url, got }
}

impl Endpoint {
    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until an event of `event_type` arrived (and `accept`s it).
    fn wait_for(&self, event_type: &str, accept: impl Fn(&Value) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self
                .received()
                .into_iter()
                .find(|r| r.event()["type"] == event_type && accept(&r.event()))
            {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {event_type} at {}: {:?}",
                self.url,
                self.received()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Checks a `Stripe-Signature` header as the Stripe SDKs do: `v1` = HMAC-SHA256 of `t.payload`.
fn assert_signed(received: &Received, secret: &str) {
    let header = received
        .headers
        .get("stripe-signature")
        .expect("a Stripe-Signature header");
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.to_string()),
            Some(("v1", value)) => signatures.push(value.to_string()),
            _ => {}
        }
    }
    let timestamp = timestamp.expect("t= in the signature");
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - timestamp.parse::<i64>().unwrap();
    assert!(age.abs() < 300, "the signature is fresh: {header}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", received.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        signatures.contains(&expected),
        "the signature verifies with {secret}: {header}"
    );
    assert!(received
        .headers
        .get("content-type")
        .is_some_and(|v| v.starts_with("application/json")));
}

fn event_id(received: &Received) -> String {
    received.event()["id"].as_str().unwrap().to_string()
}

#[test]
fn forwards_signed_events_and_routes_connected_accounts_events() {
    let server = Server::start("forward");
    let platform = endpoint();
    let connect = endpoint();
    let hook = format!("{}/hook", platform.url);
    let connect_hook = format!("{}/connect-hook", connect.url);
    let mut listen = server.listen(&["--forward-to", &hook, "--forward-connect-to", &connect_hook]);
    let secret = listen.ready();
    assert!(secret.starts_with("whsec_"));

    // A platform event.
    let customer = server.cli(&["customers", "create", "-d", "email=listen@example.com"]);
    let customer_id = customer["id"].as_str().unwrap().to_string();
    let created = platform.wait_for("customer.created", |event| {
        event["data"]["object"]["id"] == customer_id.as_str()
    });
    assert_eq!(created.path, "/hook");
    assert_signed(&created, &secret);
    let evt = event_id(&created);
    listen.wait_for(|line| line.contains("--> customer.created") && line.contains(&evt));
    let answered = format!("<--  [200] POST {hook} [{evt}]");
    listen.wait_for(|line| line.contains(&answered));

    // A connected account's event goes to --forward-connect-to.
    let account = server.cli(&[
        "accounts",
        "create",
        "-d",
        "type=custom",
        "-d",
        "country=US",
    ]);
    let account_id = account["id"].as_str().unwrap().to_string();
    let connected_customer = server.cli(&[
        "customers",
        "create",
        "-d",
        "email=connected@example.com",
        "--stripe-account",
        &account_id,
    ]);
    let connected_customer_id = connected_customer["id"].as_str().unwrap().to_string();
    let in_account = connect.wait_for("customer.created", |event| {
        event["data"]["object"]["id"] == connected_customer_id.as_str()
    });
    assert_eq!(in_account.path, "/connect-hook");
    assert_eq!(in_account.event()["account"], account_id.as_str());
    assert_signed(&in_account, &secret);
    let connected_evt = event_id(&in_account);
    let answered = format!("<--  [200] POST {connect_hook} [{connected_evt}]");
    listen.wait_for(|line| line.contains(&answered));
    assert!(
        platform
            .received()
            .iter()
            .all(|r| r.event()["account"].is_null()),
        "only platform events reach --forward-to"
    );
    assert!(
        connect
            .received()
            .iter()
            .all(|r| r.event()["account"].is_string()),
        "only connected accounts' events reach --forward-connect-to"
    );

    // `sluice trigger`: a payment's events, each forwarded and printed.
    server.cli(&["trigger", "payment_intent.succeeded"]);
    let succeeded = platform.wait_for("payment_intent.succeeded", |_| true);
    assert_signed(&succeeded, &secret);
    let evt = event_id(&succeeded);
    listen.wait_for(|line| line.contains("--> payment_intent.succeeded") && line.contains(&evt));
    let answered = format!("<--  [200] POST {hook} [{evt}]");
    let line = listen.wait_for(|line| line.contains(&answered)).unwrap();
    // `2026-11-26 18:04:05  <--  [200] POST ...`
    let (date, _) = line.split_once("  <--").unwrap();
    assert_eq!(date.len(), "2026-11-26 18:04:05".len(), "{line}");
}

#[test]
fn connect_events_go_to_forward_to_without_forward_connect_to_and_events_filters() {
    let server = Server::start("filter");
    let hook = endpoint();
    let url = format!("{}/", hook.url);
    let mut listen = server.listen(&[
        "--forward-to",
        &url,
        "--events",
        "customer.updated,payment_intent.succeeded",
    ]);
    let secret = listen.ready();

    let account = server.cli(&[
        "accounts",
        "create",
        "-d",
        "type=custom",
        "-d",
        "country=US",
    ]);
    let account_id = account["id"].as_str().unwrap().to_string();
    let customer = server.cli(&["customers", "create", "--stripe-account", &account_id]);
    let customer_id = customer["id"].as_str().unwrap().to_string();
    server.cli(&[
        "customers",
        "update",
        &customer_id,
        "-d",
        "name=Updated",
        "--stripe-account",
        &account_id,
    ]);
    let updated = hook.wait_for("customer.updated", |_| true);
    assert_eq!(updated.event()["account"], account_id.as_str());
    assert_signed(&updated, &secret);

    server.cli(&["trigger", "payment_intent.succeeded"]);
    let succeeded = hook.wait_for("payment_intent.succeeded", |_| true);
    let evt = event_id(&succeeded);
    listen.wait_for(|line| line.contains(&format!("[200] POST {url} [{evt}]")));

    let types: Vec<Value> = hook
        .received()
        .iter()
        .map(|r| r.event()["type"].clone())
        .collect();
    assert!(
        types
            .iter()
            .all(|t| t == "customer.updated" || t == "payment_intent.succeeded"),
        "--events keeps only those types: {types:?}"
    );
    assert!(
        listen
            .stdout
            .iter()
            .filter(|line| line.contains("-->"))
            .all(|line| line.contains("customer.updated")
                || line.contains("payment_intent.succeeded")),
        "{:?}",
        listen.stdout
    );

    // The server goes away: listen says so and exits non-zero.
    drop(server);
    assert_eq!(listen.exit_code(), Some(1), "{:?}", listen.stderr);
    assert!(
        listen
            .stderr
            .iter()
            .any(|line| line.contains("listen stream")),
        "{:?}",
        listen.stderr
    );
}

#[test]
fn print_json_prints_one_event_json_per_line() {
    let server = Server::start("json");
    let mut listen = server.listen(&["--print-json"]);
    listen.ready();
    let customer = server.cli(&["customers", "create", "-d", "name=Json"]);
    let customer_id = customer["id"].as_str().unwrap().to_string();
    let line = listen
        .wait_for(|line| line.contains(&customer_id) && line.starts_with('{'))
        .unwrap();
    let event: Value = serde_json::from_str(&line).expect("one event JSON per line");
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "customer.created");
    assert!(
        listen.stdout.iter().all(|line| line.starts_with('{')),
        "with --print-json stdout is event JSON only: {:?}",
        listen.stdout
    );
}

#[test]
fn refused_and_unreachable_streams_exit_non_zero_with_a_clear_message() {
    let server = Server::start("errors");
    let mut bad_key = server.listen_with_key("sk_test_notakey000000000000", &[]);
    assert_eq!(bad_key.exit_code(), Some(1));
    let stderr = bad_key.stderr.join("\n");
    assert!(
        stderr.contains("refused the listen stream (401"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let mut bad_type = server.listen(&["--events", "customer.exploded"]);
    assert_eq!(bad_type.exit_code(), Some(1));
    let stderr = bad_type.stderr.join("\n");
    assert!(stderr.contains("customer.exploded"), "{stderr}");

    let mut bad_url = server.listen(&["--forward-to", "localhost:4242/hook"]);
    assert_eq!(bad_url.exit_code(), Some(1));
    let stderr = bad_url.stderr.join("\n");
    assert!(stderr.contains("--forward-to"), "{stderr}");

    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command
        .args([
            "listen",
            "--api-base",
            &format!("http://127.0.0.1:{}", free_port()),
        ])
        .env("SLUICE_API_KEY", KEY)
        .env_remove("SLUICE_API_BASE");
    let mut unreachable = Listen::spawn(command);
    assert_eq!(unreachable.exit_code(), Some(1));
    let stderr = unreachable.stderr.join("\n");
    assert!(
        stderr.contains("cannot reach the Sluice server"),
        "{stderr}"
    );
}
