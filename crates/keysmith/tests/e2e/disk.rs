//! A failing disk under the real server (the `KS_FAILPOINT_STORAGE` test failpoint): a failed
//! write is answered 5xx, never 200; `/api/status` says 503 and why; after a few failures in a
//! row the server exits with code 74 for its supervisor; the restarted server has every
//! acknowledged key, whole, and `keysmith check` passes. Also: an online backup that would fill
//! the data disk is refused, and `keysmith check` finds a damaged file.

use std::time::Duration;

use serde_json::json;

use crate::support::{self, API_KEY, Options, Server};

fn options(env: &[(&str, &str)]) -> Options {
    Options {
        api_key: Some(API_KEY.into()),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    }
}

fn check(data: &std::path::Path, backend: &str) -> std::process::Output {
    support::keysmith_command()
        .args(["check", "--backend", backend, "--data"])
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn a_failing_disk_is_answered_5xx_reported_by_status_and_ends_the_process() {
    for backend in support::backends() {
        for fault in ["write:60", "sync:30", "set_len:2", "full:200000"] {
            let context = format!("[{backend}] KS_FAILPOINT_STORAGE={fault}");
            let temp = tempfile::tempdir().unwrap();
            let data = temp.path().join("data");
            let server = Server::start_in(
                &data,
                backend,
                options(&[
                    ("KS_FAILPOINT_STORAGE", fault),
                    ("KEYSMITH_STORAGE_FAILURES_BEFORE_EXIT", "3"),
                ]),
            );
            assert_eq!(server.call("GET", "/api/status", None).status, 200);
            let mut acknowledged = Vec::new();
            let mut failed = None;
            for i in 0..3_000 {
                let name = format!("disk-{i}");
                let response = server.call(
                    "POST",
                    "/api/key/generate",
                    Some(json!({"key": {"algorithm": "ES256", "name": name}})),
                );
                if response.status == 200 {
                    let key = response.json()["key"].clone();
                    acknowledged.push(key);
                } else {
                    assert!(
                        (500..600).contains(&response.status),
                        "{context}: a failed write answered {} {}",
                        response.status,
                        response.text()
                    );
                    failed = Some(name);
                    break;
                }
            }
            let failed = failed.unwrap_or_else(|| panic!("{context}: the fault never fired"));
            assert!(
                !acknowledged.is_empty(),
                "{context}: the fault fired at once"
            );
            // The process knows: status says why, until it is restarted.
            let status = server.call("GET", "/api/status", None);
            assert_eq!(status.status, 503, "{context}: {}", status.text());
            let reason = status.json()["reason"].as_str().unwrap_or("").to_owned();
            assert!(
                reason.contains("injected I/O fault")
                    || reason.contains("no space")
                    || reason.contains("previous I/O error"),
                "{context}: reason {reason:?}"
            );
            // Two more failed writes (a request and a status probe) make three: it exits.
            let again = server.call(
                "POST",
                "/api/key/generate",
                Some(json!({"key": {"algorithm": "ES256", "name": "after-failure"}})),
            );
            assert!((500..600).contains(&again.status), "{context}");
            let _ = support::try_http(&server.addr, "GET", "/api/status", &[], None);
            let (exit, log) = server.wait_for_exit(Duration::from_secs(20));
            assert_eq!(
                exit.and_then(|s| s.code()),
                Some(74),
                "{context}: the server did not exit with 74:\n{log}"
            );
            assert!(
                log.contains("exiting so that a supervisor restarts keysmith"),
                "{log}"
            );
            // Restarted on a good disk: every acknowledged key, whole; the failed one whole or absent.
            let server = Server::start_in(&data, backend, options(&[]));
            for key in &acknowledged {
                let id = key["id"].as_str().unwrap();
                let found = server.call("GET", &format!("/api/key/{id}"), None);
                assert_eq!(found.status, 200, "{context}: acknowledged key {id} lost");
                assert_eq!(found.json()["key"], *key, "{context}: key {id} changed");
            }
            let listed = server.call("GET", "/api/key", None).json()["keys"]
                .as_array()
                .unwrap()
                .len();
            assert!(
                listed == acknowledged.len() || listed == acknowledged.len() + 1,
                "{context}: {listed} keys after restart, {} acknowledged (the failed {failed} may or may not be there)",
                acknowledged.len()
            );
            server.stop();
            let checked = check(&data, backend);
            assert!(
                checked.status.success(),
                "{context}: keysmith check after the failure:\n{}{}",
                String::from_utf8_lossy(&checked.stdout),
                String::from_utf8_lossy(&checked.stderr)
            );
        }
    }
}

#[test]
fn an_online_backup_that_would_fill_the_data_disk_is_refused() {
    let backend = support::backends()[0];
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start_in(
        &data,
        backend,
        options(&[("KEYSMITH_BACKUP_RESERVE_BYTES", "1000000000000000000")]),
    );
    let response = server.call("POST", "/api/system/backup", None);
    assert_eq!(response.status, 507, "{}", response.text());
    let body = response.json();
    assert_eq!(body["generalErrors"][0]["code"], "[insufficientStorage]");
    assert!(
        body["generalErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("backup_reserve_bytes")
    );
    let staged: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup-"))
        .collect();
    assert!(staged.is_empty(), "a refused backup left {staged:?}");
    // With the default reserve the same server backs up.
    drop(server);
    let server = Server::start_in(&data, backend, options(&[]));
    assert_eq!(server.call("POST", "/api/system/backup", None).status, 200);
}

#[test]
fn keysmith_check_passes_a_whole_file_and_finds_a_damaged_one() {
    for backend in support::backends() {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        let server = Server::start_in(&data, backend, options(&[]));
        for i in 0..40 {
            let response = server.call(
                "POST",
                "/api/key/generate",
                Some(json!({"key": {"algorithm": "HS256", "name": format!("c{i}")}})),
            );
            assert_eq!(response.status, 200);
        }
        assert_eq!(
            crate::auth0::a0(&server, "GET", "/keys/signing", None).status,
            200
        );
        // Refused while the server runs.
        let busy = check(&data, backend);
        assert!(!busy.status.success());
        server.stop();
        let good = check(&data, backend);
        let shown = String::from_utf8_lossy(&good.stdout).into_owned();
        assert!(
            good.status.success(),
            "{shown}{}",
            String::from_utf8_lossy(&good.stderr)
        );
        assert!(shown.contains("records: 42 keys"), "{shown}");
        assert!(shown.contains("rings: 1 whole, 0 broken"), "{shown}");
        assert!(shown.contains("check passed"), "{shown}");
        // Damage one byte in every page past the header: the check must not pass (and not panic).
        let file = data.join("keysmith.redb");
        let mut bytes = std::fs::read(&file).unwrap();
        for page in (1..bytes.len() / 4096).map(|p| p * 4096 + 100) {
            bytes[page] ^= 0x5a;
        }
        std::fs::write(&file, &bytes).unwrap();
        let damaged = check(&data, backend);
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&damaged.stdout),
            String::from_utf8_lossy(&damaged.stderr)
        );
        assert_eq!(damaged.status.code(), Some(1), "{shown}");
        assert!(!shown.contains("panicked"), "{shown}");
        // A server told to check on open refuses the file, with a message, not a panic.
        let refused = Server::try_start_in(
            &data,
            backend,
            options(&[("KEYSMITH_CHECK_INTEGRITY_ON_OPEN", "true")]),
        );
        let Err((status, log)) = refused else {
            panic!("a server checking on open served a damaged file");
        };
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}
