//! HTTPS with the TLS stack of each backend, checked by clients nobody here wrote: Python's
//! `ssl` module (OpenSSL underneath) and, when installed, Auth0's official SDK over https.

use std::process::Command;

use crate::support::{API_KEY, Options, Server};
use test_case::test_case;

const PROBE: &str = r#"
import json, ssl, sys, urllib.request
ca, url, key = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
with urllib.request.urlopen(url + "/api/status", context=context) as r:
    assert r.status == 200, r.status
request = urllib.request.Request(url + "/api/key/generate", method="POST",
    data=json.dumps({"key": {"algorithm": "ES256", "name": "over-tls"}}).encode(),
    headers={"Authorization": key, "Content-Type": "application/json"})
with urllib.request.urlopen(request, context=context) as r:
    assert json.load(r)["key"]["algorithm"] == "ES256"
import socket
with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as raw:
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        print("tls", tls.version())
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
"#;

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn https_with_the_backends_tls_stack(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let (cert, key) = crate::support::openssl_certificate(temp.path(), 1);
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_TLS_CERTIFICATE".into(), cert.clone()),
            ("KEYSMITH_TLS_PRIVATE_KEY".into(), key.clone()),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let expected = if backend == "openssl" {
        "tls=\"openssl\""
    } else {
        "tls=\"rustls (aws-lc-rs)\""
    };
    assert!(server.log().contains(expected), "{}", server.log());
    let url = format!("https://{}", server.addr);

    let probe = Command::new("python3")
        .args(["-c", PROBE, &cert, &url, API_KEY])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&probe.stdout),
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(String::from_utf8_lossy(&probe.stdout).contains("tls TLSv1."));

    // Plain HTTP on the TLS port gets no answer.
    let plain = crate::support::try_http(&server.addr, "GET", "/api/status", &[], None);
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status != 200));

    // Auth0's official SDK over https (its Node sibling only speaks https).
    if let Some(python) = crate::support::tool("KS_FUSIONAUTH_PYTHON", "auth0-python over https") {
        let script = format!(
            "{}/../../tests/python/auth0_client_check.py",
            env!("CARGO_MANIFEST_DIR")
        );
        let output = Command::new(python)
            .args([&script, &format!("{url}/api/v2"), API_KEY])
            .env("SSL_CERT_FILE", &cert)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(!server.log().contains("PRIVATE KEY"));
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn a_half_configured_tls_refuses_to_start(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let (cert, _) = crate::support::openssl_certificate(temp.path(), 1);
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![("KEYSMITH_TLS_CERTIFICATE".into(), cert)],
        ..Default::default()
    };
    let Err((_, log)) = Server::try_start_in(&temp.path().join("data"), backend, options) else {
        panic!("started with a certificate and no key");
    };
    assert!(log.contains("must be set together"), "{log}");
}
