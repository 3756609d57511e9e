//! The built `sluice` binary keeps its webhook promise across a crash: events queued for an
//! endpoint that is down are still delivered (at least once, correctly signed) after the server
//! is SIGKILLed and restarted, on the embedded store and (when `SLUICE_TEST_DATABASE_URL` is
//! set) on PostgreSQL.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

mod served;
use served::free_port;

const KEY: &str = "sk_test_webhookcrash123";

enum Backend {
    Sqlite(PathBuf),
    Postgres {
        admin: String,
        url: String,
        schema: String,
    },
}

impl Backend {
    fn args(&self) -> Vec<String> {
        match self {
            Backend::Sqlite(dir) => vec!["--data".into(), dir.display().to_string()],
            Backend::Postgres { url, .. } => vec!["--database-url".into(), url.clone()],
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Backend::Postgres { admin, schema, .. } => {
                if let Ok(mut client) = postgres::Client::connect(admin, postgres::NoTls) {
                    let _ =
                        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}

fn start(backend: &Backend, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--secret-key",
            KEY,
            "--webhook-retry-base-ms",
            "5",
            "--webhook-timeout-ms",
            "1000",
        ])
        .args(backend.args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((status, body))
}

fn json(port: u16, method: &str, path: &str, body: &str) -> Value {
    let (status, text) = request(port, method, path, body).expect("the server answers");
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(port, "GET", "/v1/customers?limit=1", "") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server on port {port} did not become ready");
}

fn signed_correctly(signature: &str, body: &str, secret: &str) -> bool {
    let mut timestamp = "";
    let mut candidates = Vec::new();
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t,
            Some(("v1", v)) => candidates.push(v.to_string()),
            _ => {}
        }
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    candidates.contains(&expected)
}

/// A minimal HTTP/1.1 receiver on `port`: records `(Stripe-Signature, body)` and answers 200.
fn receive_on(port: u16, received: Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the receiver's port is free");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let received = received.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                // Serve every request of a kept-alive connection.
                loop {
                    let mut length = 0usize;
                    let mut signature = String::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let header = line.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap_or(0),
                                "stripe-signature" => signature = value.trim().to_string(),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    received
                        .lock()
                        .unwrap()
                        .push((signature, String::from_utf8_lossy(&body).into_owned()));
                    let stream = reader.get_mut();
                    if stream
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

fn queued_events_survive_a_crash(backend: Backend) {
    let receiver_port = free_port();
    let port = free_port();
    let mut server = start(&backend, port);
    wait_ready(port);
    // The receiver is down: its port refuses connections until it starts.
    let url = format!("http%3A%2F%2F127.0.0.1%3A{receiver_port}%2Fhook");
    let hook = json(
        port,
        "POST",
        "/v1/webhook_endpoints",
        &format!("url={url}&enabled_events[]=customer.created&enabled_events[]=customer.updated"),
    );
    let secret = hook["secret"].as_str().unwrap().to_string();
    for n in 0..15 {
        let customer = json(port, "POST", "/v1/customers", &format!("name=c{n}"));
        let id = customer["id"].as_str().unwrap();
        json(port, "POST", &format!("/v1/customers/{id}"), "name=again");
    }
    // Let a few attempts fail, then crash with deliveries pending.
    std::thread::sleep(Duration::from_millis(300));
    server.kill().expect("SIGKILL");
    server.wait().unwrap();

    let port = free_port();
    let mut server = start(&backend, port);
    wait_ready(port);
    let listed = json(port, "GET", "/v1/events?limit=100", "");
    let expected: HashSet<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "customer.created" || e["type"] == "customer.updated")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 30);
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pending_webhooks"] == 1),
        "deliveries were still pending at the crash"
    );

    let received = Arc::new(Mutex::new(Vec::new()));
    receive_on(receiver_port, received.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: HashSet<String> = received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, body)| serde_json::from_str::<Value>(body).ok())
            .filter_map(|event| event["id"].as_str().map(str::to_string))
            .collect();
        if expected.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events arrived after the restart",
            expected.intersection(&got).count(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (signature, body) in received.lock().unwrap().iter() {
        assert!(
            signed_correctly(signature, body, &secret),
            "bad signature {signature}"
        );
    }
    // Every event ends with nothing pending.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = json(
            port,
            "GET",
            "/v1/events?limit=100&delivery_success=true",
            "",
        );
        if listed["data"].as_array().unwrap().len() == 30 {
            break;
        }
        assert!(Instant::now() < deadline, "events still pending: {listed}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn queued_webhooks_survive_sigkill_on_sqlite() {
    let dir = std::env::temp_dir().join(format!(
        "sluice-webhook-crash-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    queued_events_survive_a_crash(Backend::Sqlite(dir));
}

#[test]
fn queued_webhooks_survive_sigkill_on_postgres() {
    let Ok(admin) = std::env::var("SLUICE_TEST_DATABASE_URL") else {
        eprintln!("skipped: SLUICE_TEST_DATABASE_URL is not set");
        return;
    };
    if admin.is_empty() {
        return;
    }
    let schema = format!("crash_{}_{}", std::process::id(), free_port());
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create the schema");
    let separator = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{separator}options=-csearch_path%3D{schema}");
    queued_events_survive_a_crash(Backend::Postgres { admin, url, schema });
}
