//! Tests that run the built `sluice` binary as an operator would: acknowledged writes survive
//! SIGKILL, and operator mistakes end in a clear message, never a panic trace.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod served;
use served::free_port;

const KEY: &str = "sk_test_processtests123";

fn temp_dir(name: &str) -> PathBuf {
    served::temp_dir("process", name)
}

fn start(data: &PathBuf, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--secret-key",
            KEY,
        ])
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts")
}

/// One HTTP/1.1 request on a fresh connection; returns status and body.
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

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(port, "GET", "/v1/customers?limit=1", "") {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server on port {port} did not become ready");
}

fn id_of(body: &str) -> String {
    let start = body.find("\"id\":\"").expect("an id") + 6;
    body[start..].split('"').next().unwrap().to_string()
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let data = temp_dir("kill");
    let port = free_port();
    let mut server = start(&data, port);
    wait_ready(port);
    // Writers keep going while the server is killed; every id acknowledged before must survive.
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0..400 {
                    match request(
                        port,
                        "POST",
                        "/v1/customers",
                        &format!("name=w{writer}n{n}"),
                    ) {
                        Ok((200, body)) => acknowledged.push(id_of(&body)),
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "some writes were acknowledged before the kill"
    );

    let port = free_port();
    let mut server = start(&data, port);
    wait_ready(port);
    for id in &acknowledged {
        let (status, body) = request(port, "GET", &format!("/v1/customers/{id}"), "").unwrap();
        assert_eq!(status, 200, "{id} was acknowledged but is gone: {body}");
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

fn run_to_end(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn operator_mistakes_are_clear_messages() {
    // A port in use.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = temp_dir("port");
    let (ok, stderr) = run_to_end(&["serve", "--addr", &addr, "--data", data.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&data);

    // An unreachable database.
    let port = free_port();
    let url = format!("postgres://nobody@127.0.0.1:{port}/none?connect_timeout=2");
    let (ok, stderr) = run_to_end(&["serve", "--addr", "127.0.0.1:0", "--database-url", &url]);
    assert!(!ok);
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A data directory that cannot be created.
    let (ok, stderr) = run_to_end(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data",
        "/proc/sluice-cannot-be-here",
    ]);
    assert!(!ok);
    assert!(stderr.contains("data directory"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A malformed secret key.
    let (ok, stderr) = run_to_end(&["serve", "--secret-key", "sk_live_nope"]);
    assert!(!ok);
    assert!(stderr.contains("--secret-key"), "{stderr}");
}
