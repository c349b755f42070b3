//! The binary on a PostgreSQL store (`--store`): what is particular to it. The rest of the
//! suite runs on PostgreSQL too when `KS_E2E_STORE=postgres` (`.ci/run` does).

use std::process::Stdio;

use serde_json::json;

use crate::generate;
use crate::support::{self, API_KEY, Options, Server};
use keysmith_store::testing::postgres::TestPostgres;

const MASTER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// A database for the nodes of one test, on a server of its own.
pub(crate) fn database(what: &str) -> Option<(TestPostgres, String)> {
    let server = TestPostgres::start_or_skip(what)?;
    server.create_database("keysmith").unwrap();
    // Trust authentication ignores the password: it is here to prove it is never shown.
    let url = server
        .url("keysmith")
        .replace("keysmith@", "keysmith:hunter2-not-shown@");
    Some((server, url))
}

/// A node on the database at `url` (its data directory is never made: it has no data file).
fn node(url: &str, backend: &str) -> (tempfile::TempDir, Server) {
    node_with(url, backend, &[])
}

/// A node on the database at `url` with more `KEYSMITH_*` (or test failpoint) variables.
pub(crate) fn node_with(
    url: &str,
    backend: &str,
    env: &[(&str, &str)],
) -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().unwrap();
    let mut variables = vec![("KEYSMITH_MASTER_KEY".to_owned(), MASTER_KEY.to_owned())];
    variables.extend(env.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    let server = Server::start_in(
        &data.path().join("data"),
        backend,
        Options {
            api_key: Some(API_KEY.into()),
            env: variables,
            args: vec!["--store".into(), url.into()],
        },
    );
    assert!(!data.path().join("data").exists());
    (data, server)
}

#[test]
fn two_nodes_share_one_database_and_never_show_its_password() {
    let Some((_db, url)) = database("two nodes on PostgreSQL") else {
        return;
    };
    let backends = support::backends();
    let (_a_dir, a) = node(&url, backends[0]);
    let (_b_dir, b) = node(&url, backends[backends.len() - 1]);
    // B caches its key set, then A adds a key: B serves it within a second (notified).
    let jwks = |server: &Server| server.call("GET", "/.well-known/jwks.json", None).text();
    let before = jwks(&b);
    let key = generate(&a, json!({"algorithm": "ES256", "name": "shared"}));
    let kid = key["kid"].as_str().unwrap().to_owned();
    assert!(!before.contains(&kid));
    let added = std::time::Instant::now();
    while !jwks(&b).contains(&kid) {
        assert!(
            added.elapsed() < std::time::Duration::from_secs(1),
            "node B still serves a key set without the key node A added"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let id = key["id"].as_str().unwrap();
    // The other node reads it from the database, as stored.
    let read = b.call("GET", &format!("/api/key/{id}"), None);
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["key"], key);
    // Names are unique across nodes: the database refuses the second.
    let taken = b.call(
        "POST",
        "/api/key/generate",
        Some(json!({"key": {"algorithm": "ES256", "name": "shared"}})),
    );
    assert_eq!(taken.status, 400, "{}", taken.text());
    assert!(
        taken.text().contains("[duplicate]key.name"),
        "{}",
        taken.text()
    );
    // No data file, so no online backup: a clear refusal, not a server error.
    let backup = a.call("POST", "/api/system/backup", None);
    assert_eq!(backup.status, 400, "{}", backup.text());
    assert!(backup.text().contains("pg_dump"), "{}", backup.text());
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    for server in [&a, &b] {
        let log = server.log();
        assert!(
            log.contains(&format!("store=postgres 127.0.0.1:{port}/keysmith")),
            "{log}"
        );
        assert!(!log.contains("hunter2"), "{log}");
    }
}

#[test]
fn a_node_on_postgres_needs_a_master_key_and_offline_commands_refuse_the_store() {
    let Some((_db, url)) = database("PostgreSQL refusals") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let refused = Server::try_start_in(
        &data.path().join("data"),
        support::backends()[0],
        Options {
            api_key: Some(API_KEY.into()),
            env: Vec::new(),
            args: vec!["--store".into(), url.clone()],
        },
    );
    let Err((_, log)) = refused else {
        panic!("a node without a master key must not start");
    };
    assert!(
        log.contains("no master key") && log.contains("same on every node"),
        "{log}"
    );
    assert!(!log.contains("hunter2"), "{log}");
    assert!(
        !data.path().join("data").exists(),
        "no data directory is made for it"
    );

    let out = support::keysmith_command()
        .args(["key", "list", "--data"])
        .arg(data.path().join("data"))
        .env("KEYSMITH_STORE", &url)
        .env("KEYSMITH_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("PostgreSQL store") && err.contains("--url"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// The database goes away for a while: what the node holds in memory keeps being served,
/// writes answer 503 with `Retry-After` (never a 500), the status says why, and full service
/// comes back once the database does.
#[test]
fn a_database_outage_keeps_reads_from_memory_and_refuses_writes_with_retry_after() {
    let Some((mut db, url)) = database("a PostgreSQL outage") else {
        return;
    };
    let (_dir, node) = node(&url, support::backends()[0]);
    let key = generate(&node, json!({"algorithm": "ES256", "name": "before"}));
    let vend = || {
        node.call(
            "POST",
            "/api/jwt/vend",
            Some(json!({"keyId": key["id"], "claims": {"sub": "x"}})),
        )
    };
    assert_eq!(vend().status, 200);
    let jwks = node.call("GET", "/.well-known/jwks.json", None);
    assert_eq!(jwks.status, 200);

    db.stop_immediately().unwrap();
    let cached = node.call("GET", "/.well-known/jwks.json", None);
    assert_eq!((cached.status, cached.text()), (200, jwks.text()));
    assert_eq!(
        vend().status,
        200,
        "signing with a loaded key needs no database"
    );
    let write = node.call(
        "POST",
        "/api/key/generate",
        Some(json!({"key": {"algorithm": "ES256", "name": "during"}})),
    );
    assert_eq!(write.status, 503, "{}", write.text());
    assert_eq!(write.header("retry-after"), Some("5"));
    let body = json!({"name": "during", "strategy": "samlp"}).to_string();
    let auth0 = node.raw(
        "POST",
        "/api/v2/connections",
        &[
            ("Authorization", crate::auth0::BEARER),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(auth0.status, 503, "{}", auth0.text());
    assert!(auth0.header("retry-after").is_some());
    let status = node.call("GET", "/api/status", None);
    assert_eq!(status.status, 503);
    assert!(status.text().contains("unreachable"), "{}", status.text());
    assert!(!node.log().contains("hunter2"));

    db.start_again().unwrap();
    let back = std::time::Instant::now();
    loop {
        let write = node.call(
            "POST",
            "/api/key/generate",
            Some(json!({"key": {"algorithm": "ES256", "name": "after"}})),
        );
        if write.status == 200 {
            break;
        }
        assert_eq!(write.status, 503, "{}", write.text());
        assert!(
            back.elapsed() < std::time::Duration::from_secs(5),
            "not back within 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(node.call("GET", "/api/status", None).status, 200);
}

/// `keysmith api-key create` and `revoke` on the database: every node serving from it accepts
/// the new key, then refuses it, without a restart.
#[test]
fn api_keys_made_and_revoked_on_the_database_apply_on_every_node() {
    let Some((_db, url)) = database("API keys on PostgreSQL") else {
        return;
    };
    let backends = support::backends();
    let (_a_dir, a) = node(&url, backends[0]);
    let (_b_dir, b) = node(&url, backends[backends.len() - 1]);
    let cli = |args: &[&str]| {
        let out = support::keysmith_command()
            .args(args)
            .args(["--store", &url])
            .env("KEYSMITH_MASTER_KEY", MASTER_KEY)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
        (stdout, stderr)
    };
    let (made, said) = cli(&[
        "api-key",
        "create",
        "--name",
        "reader",
        "--permission",
        "read-only",
    ]);
    let key = made.trim().to_owned();
    assert!(said.contains("within seconds"), "{said}");
    let id = said
        .split("created API key ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let status_with = |server: &Server, key: &str| {
        server
            .raw("GET", "/api/key", &[("Authorization", key)], None)
            .status
    };
    let until = |server: &Server, expected: u16| {
        let started = std::time::Instant::now();
        while status_with(server, &key) != expected {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "not {expected} within 3 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    for server in [&a, &b] {
        until(server, 200);
        // Read-only: it may not write.
        let write = server.raw(
            "POST",
            "/api/key/generate",
            &[
                ("Authorization", &key),
                ("Content-Type", "application/json"),
            ],
            Some(br#"{"key":{"algorithm":"ES256","name":"nope"}}"#),
        );
        assert_eq!(write.status, 401);
    }
    cli(&["api-key", "revoke", &id]);
    for server in [&a, &b] {
        until(server, 401);
        // The node's own admin key still works.
        assert_eq!(status_with(server, API_KEY), 200);
    }
}

/// `keysmith migrate`: a data directory into PostgreSQL and back into a new data directory;
/// servers on each answer the same keys and sign with them, and a second copy into the
/// database is refused.
#[test]
fn migrate_moves_a_data_directory_into_postgres_and_back() {
    let Some((_db, url)) = database("keysmith migrate") else {
        return;
    };
    let backend = support::backends()[0];
    let temp = tempfile::tempdir().unwrap();
    let (first, second) = (temp.path().join("first"), temp.path().join("second"));
    let options = |env: Vec<(String, String)>, args: Vec<String>| Options {
        api_key: Some(API_KEY.into()),
        env,
        args,
    };
    let server = Server::start_in(&first, backend, options(Vec::new(), Vec::new()));
    for (i, alg) in ["ES256", "HS256", "Ed25519"].iter().enumerate() {
        generate(&server, json!({"algorithm": alg, "name": format!("m{i}")}));
    }
    generate(
        &server,
        json!({"algorithm": "RS256", "length": 2048, "name": "m3"}),
    );
    // The tenant's signing keys (a ring), provisioned by their first read.
    let signing = server.raw(
        "GET",
        "/api/v2/keys/signing",
        &[("Authorization", crate::auth0::BEARER)],
        None,
    );
    assert_eq!(signing.status, 200, "{}", signing.text());
    let listed = server.call("GET", "/api/key", None).json();
    assert!(server.stop().0.success());

    let migrate = |from: &str, to: &str, extra: &[&str]| {
        support::keysmith_command()
            .args(["migrate", "--from", from, "--to", to])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // The data directory's own key file seals its secrets: found beside it.
    let out = migrate(first.to_str().unwrap(), &url, &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("both stores hold the same records"), "{said}");
    assert!(!said.contains("hunter2"));

    let key_file = first.join("master.key").display().to_string();
    let on_postgres = Server::start_in(
        &temp.path().join("unused"),
        backend,
        options(
            vec![("KEYSMITH_MASTER_KEY_FILE".into(), key_file.clone())],
            vec!["--store".into(), url.clone()],
        ),
    );
    assert_eq!(on_postgres.call("GET", "/api/key", None).json(), listed);
    let id = listed["keys"][0]["id"].clone();
    let vend = on_postgres.call("POST", "/api/jwt/vend", Some(json!({"keyId": id})));
    assert_eq!(vend.status, 200, "{}", vend.text());
    drop(on_postgres);

    let again = migrate(first.to_str().unwrap(), &url, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // A new data directory has no key file: the key is named, as for the nodes.
    let out = migrate(
        &url,
        second.to_str().unwrap(),
        &["--master-key-file", &key_file],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = Server::start_in(
        &second,
        backend,
        options(
            vec![("KEYSMITH_MASTER_KEY_FILE".into(), key_file)],
            Vec::new(),
        ),
    );
    assert_eq!(back.call("GET", "/api/key", None).json(), listed);
    let vend = back.call("POST", "/api/jwt/vend", Some(json!({"keyId": id})));
    assert_eq!(vend.status, 200, "{}", vend.text());
}
