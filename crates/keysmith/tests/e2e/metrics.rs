//! `/metrics` in Prometheus' text format, parsed by the official Python client's parser when it
//! is installed.

use std::process::Command;

use serde_json::json;

use crate::support::{API_KEY, Options, Server};
use crate::tokens;
use test_case::test_case;

const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
for name in ("keysmith_keys", "keysmith_keys_expiring_soon", "keysmith_key_generation_seconds",
             "keysmith_http_request_duration_seconds", "keysmith_build_info",
             "keysmith_key_json_kept_bytes"):
    assert name in families, name
print("parsed", len(families), "families")
"#;

// One backend: the counters are not the backend's.
#[test_case("aws-lc" ; "aws_lc")]
fn metrics_count_requests_keys_and_generation(backend: &str) {
    let server = Server::start(backend);
    let m1 = tokens::generate(&server, "ES256", None, "m1");
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

    // One key read twice by id: encoded once, then answered from its kept JSON.
    for _ in 0..2 {
        let read = server.call(
            "GET",
            &format!("/api/key/{}", m1["id"].as_str().unwrap()),
            None,
        );
        assert_eq!(read.status, 200, "{}", read.text());
    }

    // A scrape needs a key with metrics:GET (the admin key has it) unless metrics_anonymous.
    assert_eq!(server.raw("GET", "/metrics", &[], None).status, 401);
    let scraped = server.raw("GET", "/metrics", &[("Authorization", API_KEY)], None);
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
        "keysmith_key_json_kept_keys 1",
        "keysmith_key_json_encoded_total 1",
        "keysmith_key_json_answered_kept_total 1",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    assert!(
        !text.contains("00000000-0000-4000"),
        "paths never become labels"
    );
    // Four changes (three generates and an import), each acknowledged by a group commit.
    let commits = counter(&text, "keysmith_store_commits_total");
    let changes = counter(&text, "keysmith_store_committed_changes_total");
    assert!(
        (1..=changes).contains(&commits) && changes >= 4,
        "{commits} commits, {changes} changes"
    );
    assert!(
        counter(&text, "keysmith_store_run_inserts_total") <= changes,
        "{text}"
    );
    assert!(text.contains("keysmith_store_writes_waiting 0"), "{text}");
    assert!(
        counter(&text, "keysmith_key_json_kept_bytes") > 1_000,
        "{text}"
    );

    if let Some(python) = crate::support::tool(
        "KS_FUSIONAUTH_PYTHON",
        "the prometheus_client parse of /metrics",
    ) {
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

/// Junk HTTP methods cannot grow the metric series (the method label is one of a fixed set
/// plus OTHER), and `metrics_anonymous` serves scrapes without a key.
// One backend: the counters are not the backend's.
#[test_case("openssl" ; "openssl")]
fn junk_methods_add_no_series_and_anonymous_scrapes_are_a_setting(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        &temp.path().join("data"),
        backend,
        Options {
            api_key: Some(API_KEY.into()),
            env: vec![("KEYSMITH_METRICS_ANONYMOUS".into(), "true".into())],
            ..Default::default()
        },
    );
    let series = || {
        let text = server.raw("GET", "/metrics", &[], None);
        assert_eq!(
            text.status, 200,
            "anonymous scrape with metrics_anonymous = true"
        );
        text.text()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.rsplit_once(' ').map_or(l, |(name, _)| name).to_owned())
            .collect::<std::collections::BTreeSet<String>>()
    };
    // One junk method first, so the OTHER series exist; two scrapes so the scrape's own
    // series exist.
    server.raw("FROB", "/api/key", &[("Authorization", API_KEY)], None);
    series();
    let before = series();
    for i in 0..50 {
        let method = format!("JUNK{i}");
        let answer = server.raw(&method, "/api/key", &[("Authorization", API_KEY)], None);
        assert_eq!(answer.status, 405, "{method}");
        server.raw(&method, "/no/such/route", &[], None);
    }
    let after = series();
    let added: Vec<_> = after.difference(&before).collect();
    assert!(
        added.iter().all(|s| !s.contains("JUNK")),
        "a junk method became a label: {added:?}"
    );
    assert!(
        added
            .iter()
            .all(|s| s.contains("route=\"unmatched\"") || s.contains("route=\"/api/key\"")),
        "{added:?}"
    );
    for i in 50..100 {
        let method = format!("JUNK{i}");
        server.raw(&method, "/api/key", &[("Authorization", API_KEY)], None);
        server.raw(&method, "/no/such/route", &[], None);
    }
    let last = series();
    assert_eq!(
        last,
        after,
        "50 more junk methods changed the series: {:?}",
        last.symmetric_difference(&after).collect::<Vec<_>>()
    );
    assert!(
        after.iter().any(|s| s.contains("method=\"OTHER\"")),
        "{after:?}"
    );
}

/// The value of the unlabelled counter `name` in a scrape (0 if it is not there).
pub(crate) fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}
