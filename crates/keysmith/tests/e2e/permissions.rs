//! Scoped API keys: every route × {no key, wrong key, read-only, scoped, admin}, and the
//! `keysmith api-key` commands end to end.

use crate::support::{API_KEY, Options, Server};
use crate::tokens;

const READ_ONLY: &str = "read-only-key-0123456789";
const SCOPED: &str = "token-service-key-0123456789";
const NO_SUCH_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Every route that needs a key: method, path, and whether the read-only and the scoped
/// (`keys:GET|POST` and `sign:POST`) keys may call it. Written out by hand, not derived from
/// the server's own rule.
const ROUTES: &[(&str, &str, bool, bool)] = &[
    ("GET", "/api/key", true, true),
    ("GET", "/api/key/{id}", true, true),
    ("GET", "/api/key/search?name=x", true, true),
    ("POST", "/api/key/search", false, true),
    ("POST", "/api/key/generate", false, true),
    ("POST", "/api/key/generate/{id}", false, true),
    ("POST", "/api/key/import", false, true),
    ("POST", "/api/key/import/{id}", false, true),
    ("PUT", "/api/key/{id}", false, false),
    ("DELETE", "/api/key/{id}", false, false),
    ("GET", "/api/key/deleted", true, true),
    ("POST", "/api/key/{id}/restore", false, true),
    ("POST", "/api/key/{id}/sign", false, true),
    ("POST", "/api/key/{id}/verify", false, true),
    ("POST", "/api/jwt/vend", false, true),
    ("GET", "/api/v2/connections", true, false),
    ("POST", "/api/v2/connections", false, false),
    ("GET", "/api/v2/connections/{con}", true, false),
    ("PATCH", "/api/v2/connections/{con}", false, false),
    ("DELETE", "/api/v2/connections/{con}", false, false),
    ("GET", "/api/v2/connections/{con}/keys", true, false),
    ("POST", "/api/v2/connections/{con}/keys", false, false),
    (
        "POST",
        "/api/v2/connections/{con}/keys/rotate",
        false,
        false,
    ),
    ("GET", "/api/v2/keys/signing", true, false),
    ("GET", "/api/v2/keys/signing/{kid}", true, false),
    ("POST", "/api/v2/keys/signing/rotate", false, false),
    ("PUT", "/api/v2/keys/signing/{kid}/revoke", false, false),
    ("GET", "/api/system/audit-log/search", true, false),
    ("POST", "/api/system/audit-log/search", false, false),
    ("POST", "/api/system/backup", false, false),
];

fn sha256_hex(backend: &str, key: &str) -> String {
    tokens::backend(backend)
        .digest(keysmith_model::HashAlgorithm::Sha256, key.as_bytes())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn every_route_checks_its_permission(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("keysmith.toml");
    std::fs::write(
        &config,
        format!(
            "[[api_keys]]\nname = \"monitoring\"\nsha256 = \"{}\"\npermissions = [\"read-only\"]\n\n\
             [[api_keys]]\nname = \"token service\"\nsha256 = \"{}\"\npermissions = [\"keys:GET|POST\", \"vend\"]\n",
            sha256_hex(backend, READ_ONLY),
            sha256_hex(backend, SCOPED)
        ),
    )
    .unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), config.display().to_string()],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);

    // The matrix covers every operation the OpenAPI document says needs a key.
    let document = server.raw("GET", "/api/openapi.json", &[], None).json();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let needs_key = operation["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.get("apiKey").is_some() || r.get("bearer").is_some())
            });
            let method = method.to_uppercase();
            let in_matrix = ROUTES.iter().any(|&(m, template, _, _)| {
                m == method
                    && template.split('?').next()
                        == Some(
                            path.replace("/connections/{id}", "/connections/{con}")
                                .as_str(),
                        )
            });
            assert!(
                !needs_key || in_matrix,
                "{method} {path} needs a key but is not in the permission matrix"
            );
        }
    }

    let mut checked = 0;
    for &(method, template, read_only_may, scoped_may) in ROUTES {
        let path = template
            .replace("{id}", NO_SUCH_ID)
            .replace("{con}", "con_AAAAAAAAAAAAAAAA")
            .replace("{kid}", "no-such-kid");
        let auth0 = path.starts_with("/api/v2");
        for (who, key, may) in [
            ("no key", None, false),
            ("a wrong key", Some("wrong-key"), false),
            ("the read-only key", Some(READ_ONLY), read_only_may),
            ("the scoped key", Some(SCOPED), scoped_may),
            ("the admin key", Some(API_KEY), true),
        ] {
            let header = key.map(|k| {
                if auth0 {
                    format!("Bearer {k}")
                } else {
                    k.to_owned()
                }
            });
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(header) = &header {
                headers.push(("Authorization", header.as_str()));
            }
            let response = server.raw(method, &path, &headers, Some(b"{}"));
            let denied = matches!(response.status, 401 | 403);
            assert_eq!(
                !denied,
                may,
                "{method} {template} with {who}: {} {}",
                response.status,
                response.text()
            );
            if denied && auth0 {
                let expected = if key.is_some() && key != Some("wrong-key") {
                    403
                } else {
                    401
                };
                assert_eq!(response.status, expected, "{method} {template} with {who}");
                if expected == 403 {
                    assert_eq!(response.json()["errorCode"], "insufficient_scope");
                }
            } else if denied {
                assert_eq!(response.status, 401);
                assert!(response.body.is_empty(), "FusionAuth's 401 has no body");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * 5);

    // Anonymous routes stay anonymous.
    for path in [
        "/api/status",
        "/.well-known/jwks.json",
        "/api/jwt/public-key",
    ] {
        assert_eq!(server.raw("GET", path, &[], None).status, 200, "{path}");
    }
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

pub fn api_key_commands_round_trip(backend: &str) {
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
