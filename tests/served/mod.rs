//! The built `sluice serve` as a child process, for the tests that run the binary as a user or
//! an operator does. Each test file uses the part it needs.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An empty directory of this test's own under the system's temp directory.
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sluice-{prefix}-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until something accepts connections on `port` (at most 20 s).
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server on port {port} did not become ready");
}

/// A `sluice serve` on the embedded store for one test, with one platform whose test secret
/// key is `key`; killed and its data removed when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
}

impl Served {
    pub fn new(prefix: &str, name: &str, key: &str) -> Served {
        let dir = temp_dir(prefix, name);
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--secret-key",
                key,
            ])
            .arg("--data")
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let served = Served {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        wait_listening(port);
        served
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
