//! Webhooks against a receiver on loopback: events raised while the receiver is down, the
//! server killed with SIGKILL and started again, the receiver back after 30 s (answering 503 at
//! first), then every event delivered once, in order, signed (checked by the `openssl` command
//! line), and nothing sent again after a further restart.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_case::test_case;

use crate::auth0::a0;
use crate::support::{self, API_KEY, Options, Server};

const SECRET: &str = "webhook-secret-0123456789abcdef-0123";

/// One request the receiver answered 200.
#[derive(Clone, Debug)]
struct Delivery {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP receiver on a port of its own. For `down_for` it is down: it closes every
/// connection without reading or answering (as a proxy with no backend does). Then it answers
/// 503 to its first `refuse` requests, and 200 to the rest. It holds its port throughout, so
/// nothing else can take it while it is down.
struct Receiver {
    port: u16,
    delivered: Arc<Mutex<Vec<Delivery>>>,
    dropped: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(down_for: Duration, refuse: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let up_at = Instant::now() + down_for;
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let dropped = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, lost, count, stopped) = (
            delivered.clone(),
            dropped.clone(),
            refused.clone(),
            stop.clone(),
        );
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                if Instant::now() < up_at {
                    lost.fetch_add(1, Ordering::SeqCst);
                    drop(stream);
                    continue;
                }
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let Some(delivery) = read_request(&mut stream) else {
                    continue;
                };
                let status = if count.load(Ordering::SeqCst) < refuse {
                    count.fetch_add(1, Ordering::SeqCst);
                    "503 Service Unavailable"
                } else {
                    sink.lock().unwrap().push(delivery);
                    "200 OK"
                };
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Self {
            port,
            delivered,
            dropped,
            refused,
            stop,
            thread: Some(thread),
        }
    }

    fn delivered(&self) -> Vec<Delivery> {
        self.delivered.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Delivery> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buffer[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next()?.to_owned();
    let mut headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    headers.insert(":request".into(), request_line);
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buffer[..n]);
    }
    Some(Delivery { headers, body })
}

/// The HMAC-SHA256 of `message` under the secret, hex, by the `openssl` command line.
fn openssl_hmac(message: &[u8]) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", SECRET, "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn config(dir: &Path, port: u16, extra: &str) -> Options {
    let path = dir.join("keysmith.toml");
    std::fs::write(
        &path,
        format!(
            "webhook_retry_max_seconds = 2\nwebhook_expiry_check_seconds = 1\n{extra}\n\
             [[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{port}/hooks/keysmith\"\n\
             secret = \"{SECRET}\"\n\
             events = [\"key.expiring\", \"key.rotated\", \"key.revoked\", \"key.deleted\"]\n"
        ),
    )
    .unwrap();
    Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), path.display().to_string()],
        ..Default::default()
    }
}

/// Raises one event of each kind (two rotations); returns the ids they are about.
fn raise_events(server: &Server, temp: &Path) -> (String, String, String) {
    let generated = server.call(
        "POST",
        "/api/key/generate",
        Some(json!({"key": {"algorithm": "ES256", "name": "to delete"}})),
    );
    assert_eq!(generated.status, 200, "{}", generated.text());
    let deleted = generated.json()["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{deleted}"), None)
            .status,
        200
    );

    // A certificate that expires tomorrow, inside the 30-day window.
    let (cert, _) = support::openssl_certificate(temp, 1);
    let imported = server.call(
        "POST",
        "/api/key/import",
        Some(json!({"key": {"name": "expiring soon", "certificate": std::fs::read_to_string(cert).unwrap()}})),
    );
    assert_eq!(imported.status, 200, "{}", imported.text());
    let expiring = imported.json()["key"]["id"].as_str().unwrap().to_owned();

    let connection = a0(
        server,
        "POST",
        "/connections",
        Some(json!({"name": "hooked", "strategy": "samlp"})),
    );
    assert_eq!(connection.status, 201, "{}", connection.text());
    let connection = connection.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/connections/{connection}/keys");
    assert_eq!(a0(server, "POST", &path, None).status, 201);
    let rotated = a0(server, "POST", &format!("{path}/rotate"), None);
    assert_eq!(rotated.status, 201, "{}", rotated.text());

    let first = a0(server, "GET", "/keys/signing", None).json();
    let first = first
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == true)
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(a0(server, "POST", "/keys/signing/rotate", None).status, 201);
    let revoked = a0(
        server,
        "PUT",
        &format!("/keys/signing/{first}/revoke"),
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    (deleted, expiring, connection)
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn events_survive_a_down_receiver_and_a_kill_and_arrive_once_signed(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // Down for 30 s from now; then two 503s before it takes events.
    let receiver = Receiver::start(Duration::from_secs(30), 2);
    let port = receiver.port;
    let server = Server::start_in(&data, backend, config(temp.path(), port, ""));
    let (deleted, expiring, connection) = raise_events(&server, temp.path());
    // The expiry check runs every second: wait until its record is in the trail.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server
        .call(
            "GET",
            "/api/system/audit-log/search?action=key.expiring",
            None,
        )
        .json()["total"]
        != 1
    {
        assert!(
            Instant::now() < deadline,
            "no key.expiring record:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no delivery attempted while the receiver is down:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.log().contains("webhook not delivered"),
        "{}",
        server.log()
    );
    server.kill_9();

    // A new process on the same data, while the receiver is still down.
    let server = Server::start_in(&data, backend, config(temp.path(), port, ""));
    let deadline = Instant::now() + Duration::from_secs(90);
    while receiver.delivered().len() < 5 {
        assert!(
            Instant::now() < deadline,
            "{} of 5 events delivered:\n{}",
            receiver.delivered().len(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing more arrives: each event once.
    std::thread::sleep(Duration::from_secs(3));
    let delivered = receiver.delivered();
    assert_eq!(receiver.refused.load(Ordering::SeqCst), 2);
    println!(
        "{backend}: {} attempts while down, 2 answered 503, {} delivered",
        receiver.dropped.load(Ordering::SeqCst),
        delivered.len()
    );
    let events: Vec<&str> = delivered
        .iter()
        .map(|d| d.headers["keysmith-event"].as_str())
        .collect();
    let mut sorted = events.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "key.deleted",
            "key.expiring",
            "key.revoked",
            "key.rotated",
            "key.rotated"
        ],
        "{events:?}"
    );
    let ids: Vec<u64> = delivered
        .iter()
        .map(|d| d.headers["webhook-id"].parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in trail order, once each: {ids:?}"
    );

    for delivery in &delivered {
        assert_eq!(
            delivery.headers[":request"],
            "POST /hooks/keysmith HTTP/1.1"
        );
        assert_eq!(delivery.headers["content-type"], "application/json");
        // Keysmith-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
        let signature = &delivery.headers["keysmith-signature"];
        let (t, v1) = signature
            .strip_prefix("t=")
            .and_then(|s| s.split_once(",v1="))
            .unwrap_or_else(|| panic!("{signature}"));
        assert_eq!(t, delivery.headers["webhook-timestamp"]);
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(&delivery.body);
        assert_eq!(
            v1,
            openssl_hmac(&signed),
            "signature of {}",
            delivery.headers["webhook-id"]
        );
        let text = String::from_utf8_lossy(&delivery.body);
        assert!(
            !text.contains("PRIVATE") && !text.contains(SECRET),
            "{text}"
        );
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(body["event"], delivery.headers["keysmith-event"].as_str());
        assert_eq!(body["id"], delivery.headers["webhook-id"].as_str());
        match body["event"].as_str().unwrap() {
            "key.deleted" => assert_eq!(body["target"], deleted.as_str()),
            "key.expiring" => {
                assert_eq!(body["target"], expiring.as_str());
                assert_eq!(body["key"]["name"], "expiring soon");
                let expires = body["key"]["expirationInstant"].as_i64().unwrap();
                let now = keysmith_model::epoch_millis_now();
                assert!(expires > now && expires < now + 2 * 86_400_000, "{body}");
            }
            "key.rotated" => assert!(
                body["target"] == connection.as_str() || body["action"] == "signing-keys.rotate",
                "{body}"
            ),
            "key.revoked" => assert_eq!(body["action"], "signing-keys.revoke"),
            other => panic!("unexpected event {other}"),
        }
    }

    // A clean restart sends nothing again; a new event after it is sent once.
    server.stop();
    let server = Server::start_in(&data, backend, config(temp.path(), port, ""));
    let generated = server.call(
        "POST",
        "/api/key/generate",
        Some(json!({"key": {"algorithm": "ES256", "name": "after restart"}})),
    );
    let id = generated.json()["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{id}"), None)
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.delivered().len() < 6 {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let after = receiver.delivered();
    assert_eq!(
        after.len(),
        6,
        "nothing delivered twice: {:?}",
        after
            .iter()
            .map(|d| &d.headers["webhook-id"])
            .collect::<Vec<_>>()
    );
    let last: Value = serde_json::from_slice(&after[5].body).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["target"].as_str()),
        (Some("key.deleted"), Some(id.as_str()))
    );
}

#[test]
fn a_misconfigured_webhook_stops_the_start_with_its_name_and_field() {
    let temp = tempfile::tempdir().unwrap();
    for (extra_hook, expected) in [
        (
            "events = [\"key.exploded\"]",
            "webhooks \"bad\": unknown event \"key.exploded\"",
        ),
        (
            "secret = \"short\"",
            "webhooks \"bad\": secret must be at least 32 characters",
        ),
        (
            "url = \"ftp://example.com/\"",
            "webhooks \"bad\": url must start with http:// or https://",
        ),
        (
            "url = \"http://user:pw@example.com/\"",
            "webhooks \"bad\": url must not carry credentials",
        ),
    ] {
        let mut hook = BTreeMap::from([
            ("name", "\"bad\"".to_owned()),
            ("url", "\"http://127.0.0.1:9/\"".to_owned()),
            ("secret", format!("\"{SECRET}\"")),
            ("events", "[\"key.deleted\"]".to_owned()),
        ]);
        let (field, value) = extra_hook.split_once(" = ").unwrap();
        hook.insert(field, value.to_owned());
        let body: String = hook.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let path = temp.path().join("bad.toml");
        std::fs::write(&path, format!("[[webhooks]]\n{body}")).unwrap();
        let options = Options {
            api_key: Some(API_KEY.into()),
            args: vec!["--config".into(), path.display().to_string()],
            ..Default::default()
        };
        let Err((status, log)) = Server::try_start_in(&temp.path().join("data"), "aws-lc", options)
        else {
            panic!("started with {extra_hook}");
        };
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{log}");
        assert!(log.contains(expected), "{extra_hook}: {log}");
        assert!(!log.contains("pw@"), "{log}");
    }
}
