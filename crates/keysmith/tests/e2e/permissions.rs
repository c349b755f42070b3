//! Scoped API keys: every route × {no key, wrong key, read-only, scoped, admin}, and the
//! `keysmith api-key` commands end to end.

use keysmith_model::Family;
use keysmith_model::permissions::METHODS;

use crate::support::{API_KEY, Options, Server};
use crate::tokens;
use test_case::test_case;

const NO_SUCH_ID: &str = "00000000-0000-4000-8000-000000000000";

#[path = "../../../../tests/permission_matrix.rs"]
mod permission_matrix;

/// The keyed rows of the permission matrix: (method, path template, family).
fn routes() -> Vec<(&'static str, &'static str, &'static str)> {
    permission_matrix::keyed()
}

/// Every family a permission can name, from the model's own list (as is `METHODS`).
fn families() -> impl Iterator<Item = &'static str> {
    Family::NAMED.into_iter().map(Family::as_str)
}

/// The API key that holds exactly `family:method`.
fn scoped_key(family: &str, method: &str) -> String {
    format!("scoped-{family}-{method}-0123456789abcdef")
}

fn sha256_hex(backend: &str, key: &str) -> String {
    tokens::backend(backend)
        .digest(keysmith_model::HashAlgorithm::Sha256, key.as_bytes())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Spellings of `path` that a router may take for the same route: the path itself; one letter
/// of each literal segment percent-encoded (lower-case hex in even segments, upper-case in odd
/// ones, both for the last); a trailing slash; a doubled slash.
fn spellings(path: &str) -> Vec<(String, &'static str)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out = vec![(path.to_owned(), "plain")];
    for (index, segment) in segments.iter().enumerate() {
        let Some((at, letter)) = segment
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_ascii_alphabetic())
        else {
            continue;
        };
        let cases = if index == segments.len() - 1 {
            vec![false, true]
        } else {
            vec![index % 2 == 1]
        };
        for upper in cases {
            let hex = format!("{:02x}", letter as u32);
            let hex = if upper { hex.to_uppercase() } else { hex };
            let encoded = format!("{}%{hex}{}", &segment[..at], &segment[at + 1..]);
            let mut spelled = segments.clone();
            spelled[index] = &encoded;
            out.push((
                format!("/{}", spelled.join("/")),
                if upper {
                    "percent-encoded letter (upper-case hex)"
                } else {
                    "percent-encoded letter (lower-case hex)"
                },
            ));
        }
    }
    out.push((format!("{path}/"), "trailing slash"));
    let doubled = match segments.split_first() {
        Some((first, rest)) if !rest.is_empty() => format!("/{first}//{}", rest.join("/")),
        _ => format!("/{path}"),
    };
    out.push((doubled, "doubled slash"));
    out
}

/// Sends only the head of a request whose body is announced but never sent, and returns the
/// status: a route that checks the key before reading the body answers at once; one that
/// reads first would wait for the body (and the read would time out).
fn status_before_body(addr: &str, method: &str, path: &str, authorization: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 4096\r\nAuthorization: {authorization}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "{method} {path}: no answer before the body was sent ({other:?}): the body is read before the key is checked"
            ),
        }
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

// One backend: authorization is not the backend's (the in-process matrix test covers it too).
#[test_case("aws-lc" ; "aws_lc")]
fn every_route_checks_its_permission(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("keysmith.toml");
    let mut text = String::new();
    for family in families() {
        for method in METHODS {
            text.push_str(&format!(
                "[[api_keys]]\nname = \"{family}:{method}\"\nsha256 = \"{}\"\npermissions = [\"{family}:{method}\"]\n\n",
                sha256_hex(backend, &scoped_key(family, method))
            ));
        }
    }
    std::fs::write(&config, text).unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), config.display().to_string()],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);

    // The matrix covers every operation the OpenAPI document says needs a key, and only those.
    let document = server.raw("GET", "/api/openapi.json", &[], None).json();
    let mut keyed = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let needs_key = operation["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.get("apiKey").is_some() || r.get("bearer").is_some())
            });
            if needs_key {
                keyed.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut listed: Vec<(String, String)> = routes()
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    keyed.sort();
    listed.sort();
    assert_eq!(
        keyed, listed,
        "the permission matrix and the documented keyed operations differ"
    );

    let mut keys: Vec<(String, String, bool)> = Vec::new(); // (who, key, is admin)
    for family in families() {
        for method in METHODS {
            keys.push((
                format!("{family}:{method}"),
                scoped_key(family, method),
                false,
            ));
        }
    }
    keys.push(("admin".into(), API_KEY.into(), true));

    let mut unauthorised_successes = Vec::new();
    let mut wrongly_refused = Vec::new();
    let mut checked = 0;
    for &(method, template, family) in &routes() {
        let path = template
            .replace(
                "{id}",
                if template.contains("connections") {
                    "con_AAAAAAAAAAAAAAAA"
                } else {
                    NO_SUCH_ID
                },
            )
            .replace("{kid}", "no-such-kid")
            .replace("{issuer}", "no-such-issuer.example");
        let auth0 = template.starts_with("/api/v2");
        let header = |key: &str| {
            if auth0 {
                format!("Bearer {key}")
            } else {
                key.to_owned()
            }
        };
        let mut routed_encodings = 0;
        for (spelled, how) in spellings(&path) {
            let call = |authorization: Option<&str>| {
                let mut headers = vec![("Content-Type", "application/json")];
                if let Some(value) = authorization {
                    headers.push(("Authorization", value));
                }
                // Invalid JSON: a request that passes the check gets a 400 or 404, never a
                // change of state, and a refusal must come before the body is parsed.
                server.raw(method, &spelled, &headers, Some(b"{"))
            };
            let anonymous = call(None);
            match anonymous.status {
                401 => {}
                404 | 405 => {
                    // Not this route: every key gets the same answer as no key.
                    assert_ne!(how, "plain", "{method} {template} is not served");
                    for (who, key, _) in &keys {
                        let response = call(Some(&header(key)));
                        assert_eq!(
                            response.status,
                            anonymous.status,
                            "{method} {spelled} ({how}) with {who}: {}",
                            response.text()
                        );
                        checked += 1;
                    }
                    continue;
                }
                other => panic!("{method} {spelled} ({how}) without a key: {other}"),
            }
            if how.starts_with("percent") {
                routed_encodings += 1;
            }
            let wrong = call(Some(&header("wrong-key")));
            assert_eq!(
                wrong.status, 401,
                "{method} {spelled} ({how}) with a wrong key"
            );
            for (who, key, admin) in &keys {
                let may = *admin || (family != "*" && *who == format!("{family}:{method}"));
                let response = call(Some(&header(key)));
                let refused = matches!(response.status, 401 | 403);
                if refused && may {
                    wrongly_refused.push(format!(
                        "{method} {spelled} ({how}) with {who}: {}",
                        response.status
                    ));
                }
                if !refused && !may {
                    unauthorised_successes.push(format!(
                        "{method} {spelled} ({how}) with {who}: {} {}",
                        response.status,
                        response.text()
                    ));
                }
                if refused && auth0 {
                    assert_eq!(response.status, 403, "{method} {spelled} with {who}");
                    assert_eq!(response.json()["errorCode"], "insufficient_scope");
                } else if refused {
                    assert_eq!(response.status, 401);
                    assert!(response.body.is_empty(), "FusionAuth's 401 has no body");
                }
                checked += 1;
            }
        }
        assert!(
            routed_encodings > 0,
            "{method} {template}: no percent-encoded spelling reached the route, so the matrix proves nothing about them"
        );

        // A refused key is refused before its body is read.
        let refused_key = keys
            .iter()
            .find(|(who, _, admin)| !admin && !who.starts_with(&format!("{family}:")))
            .map(|(_, key, _)| key.clone())
            .unwrap();
        let status = status_before_body(&server.addr, method, &path, &header(&refused_key));
        assert_eq!(
            status,
            if auth0 { 403 } else { 401 },
            "{method} {template}: a refused key with an unsent body"
        );
    }
    eprintln!(
        "permission matrix on {backend}: {checked} requests, {} unauthorised successes, {} wrongly refused",
        unauthorised_successes.len(),
        wrongly_refused.len()
    );
    assert!(
        unauthorised_successes.is_empty() && wrongly_refused.is_empty(),
        "unauthorised successes: {unauthorised_successes:#?}\nwrongly refused: {wrongly_refused:#?}"
    );
    assert!(checked > routes().len() * keys.len() * 3, "{checked}");

    // Anonymous routes stay anonymous; /metrics needs a key unless metrics_anonymous is set.
    for (method, template) in permission_matrix::anonymous() {
        if template == "/api/jwt/validate" {
            continue; // 401 for a missing token is its contract; the token tests cover it.
        }
        let path = template
            .replace("{id}", "con_AAAAAAAAAAAAAAAA")
            .replace("{issuer}", "no-such-issuer.example");
        let status = server.raw(method, &path, &[], None).status;
        assert!(
            ![401, 403].contains(&status),
            "{method} {template}: {status}"
        );
    }
    for path in [
        "/api/status",
        "/.well-known/jwks.json",
        "/.well-known/jwks/signing-keys",
        "/api/jwt/public-key",
    ] {
        assert_eq!(server.raw("GET", path, &[], None).status, 200, "{path}");
    }
    assert_eq!(server.raw("GET", "/metrics", &[], None).status, 401);
}

fn keysmith(data: &std::path::Path, backend: &str, args: &[&str]) -> std::process::Output {
    crate::support::keysmith_command()
        .args(args)
        .arg("--data")
        .arg(data)
        .args(["--backend", backend])
        .output()
        .unwrap()
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn api_key_commands_round_trip(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    // First start creates the data file and its master key file.
    let server = Server::start_in(&data, backend, options.clone());
    let id = tokens::generate(&server, "ES256", None, "k")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(server.stop().0.success());

    let created = keysmith(
        &data,
        backend,
        &[
            "api-key",
            "create",
            "--name",
            "signer",
            "--permission",
            "sign:POST",
            "--permission",
            "keys:GET",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.len() >= 40, "{key}");
    assert!(
        !String::from_utf8_lossy(&created.stderr).contains(&key),
        "the key goes to stdout only"
    );

    let listed = keysmith(&data, backend, &["api-key", "list"]);
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(
        listing.contains("signer") && listing.contains("sign:POST"),
        "{listing}"
    );
    assert!(!listing.contains(&key));
    let key_id = listing
        .lines()
        .find(|l| l.contains("signer"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();

    let server = Server::start_in(&data, backend, options.clone());
    let as_key = |method: &str, path: &str, body: Option<&[u8]>| {
        server
            .raw(method, path, &[("Authorization", key.as_str())], body)
            .status
    };
    assert_eq!(as_key("GET", "/api/key", None), 200);
    assert_eq!(
        as_key(
            "POST",
            &format!("/api/key/{id}/sign"),
            Some(br#"{"payload":"aGk"}"#)
        ),
        200
    );
    assert_eq!(as_key("DELETE", &format!("/api/key/{id}"), None), 401);
    assert!(server.stop().0.success());

    let revoked = keysmith(&data, backend, &["api-key", "revoke", &key_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let again = keysmith(&data, backend, &["api-key", "revoke", &key_id]);
    assert!(!again.status.success(), "revoking twice says so");
    let bad = keysmith(
        &data,
        backend,
        &[
            "api-key",
            "create",
            "--name",
            "x",
            "--permission",
            "keys:FETCH",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid permission"));

    let server = Server::start_in(&data, backend, options);
    assert_eq!(
        server
            .raw("GET", "/api/key", &[("Authorization", key.as_str())], None)
            .status,
        401,
        "a revoked key is refused"
    );
}
