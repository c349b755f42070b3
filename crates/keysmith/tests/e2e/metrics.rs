//! `/metrics` in Prometheus' text format, parsed by the official Python client's parser when it
//! is installed.

use std::process::Command;

use serde_json::json;

use crate::support::Server;
use crate::tokens;

const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
for name in ("keysmith_keys", "keysmith_keys_expiring_soon", "keysmith_key_generation_seconds",
             "keysmith_http_request_duration_seconds", "keysmith_build_info"):
    assert name in families, name
print("parsed", len(families), "families")
"#;

pub fn metrics_count_requests_keys_and_generation(backend: &str) {
    let server = Server::start(backend);
    tokens::generate(&server, "ES256", None, "m1");
    tokens::generate(&server, "ES256", None, "m2");
    tokens::generate(&server, "HS256", None, "m3");
    // A certificate that expires tomorrow, made by the openssl command line.
    let temp = tempfile::tempdir().unwrap();
    let (cert, _) = crate::support::openssl_certificate(temp.path(), 1);
    let imported = server.call(
        "POST",
        "/api/key/import",
        Some(json!({"key": {"name": "soon", "certificate": std::fs::read_to_string(&cert).unwrap()}})),
    );
    assert_eq!(imported.status, 200, "{}", imported.text());
    assert_eq!(
        server
            .call("GET", "/api/key/00000000-0000-4000-8000-000000000000", None)
            .status,
        404
    );

    let scraped = server.raw("GET", "/metrics", &[], None);
    assert_eq!(scraped.status, 200);
    assert!(
        scraped
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = scraped.text();
    for expected in [
        "keysmith_keys{type=\"EC\",algorithm=\"ES256\"} 3",
        "keysmith_keys{type=\"HMAC\",algorithm=\"HS256\"} 1",
        "keysmith_keys_expiring_soon 1",
        &format!(
            "keysmith_key_generation_seconds_count{{algorithm=\"ES256\",backend=\"{}\"}} 2",
            tokens::backend(backend).name()
        ),
        "keysmith_http_request_duration_seconds_count{route=\"/api/key/generate\",method=\"POST\",status=\"200\"} 3",
        "keysmith_http_request_duration_seconds_count{route=\"/api/key/{id}\",method=\"GET\",status=\"404\"} 1",
        "keysmith_build_info{version=",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    assert!(
        !text.contains("00000000-0000-4000"),
        "paths never become labels"
    );

    if let Some(python) = std::env::var_os("KS_FUSIONAUTH_PYTHON") {
        use std::io::Write as _;
        let mut child = Command::new(python)
            .args(["-c", PARSE])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "prometheus_client could not parse /metrics: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
