//! Backup while serving, offline backup, and restore: checked, atomic, and refused while a
//! server runs or under the wrong master key.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use serde_json::json;

use crate::support::{self, API_KEY, Options, Server};
use crate::tokens;
use test_case::test_case;

fn options(master: &[u8; 32]) -> Options {
    Options {
        api_key: Some(API_KEY.into()),
        env: vec![(
            "KEYSMITH_MASTER_KEY".into(),
            base64::engine::general_purpose::STANDARD.encode(master),
        )],
        ..Default::default()
    }
}

fn keysmith(master: &[u8; 32], args: &[&str], data: Option<&Path>) -> std::process::Output {
    let mut command = crate::support::keysmith_command();
    command.args(args);
    if let Some(data) = data {
        command.arg("--data").arg(data);
    }
    command.env(
        "KEYSMITH_MASTER_KEY",
        base64::engine::general_purpose::STANDARD.encode(master),
    );
    command.output().unwrap()
}

fn key_ids(server: &Server) -> BTreeSet<String> {
    server.call("GET", "/api/key", None).json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn backup_while_serving_and_restore(backend: &str) {
    let master = [0x5Au8; 32];
    let temp = tempfile::tempdir().unwrap();
    let (live, restored, file) = (
        temp.path().join("live"),
        temp.path().join("restored"),
        temp.path().join("backup.redb"),
    );
    let server = Server::start_in(&live, backend, options(&master));
    let signer = tokens::generate(&server, "ES256", None, "signer");
    tokens::generate(&server, "HS256", None, "mac");
    let connection = crate::auth0::create_connection(&server, "backed-up", json!({}));
    let provisioned = crate::auth0::a0(
        &server,
        "POST",
        &format!("/connections/{connection}/keys"),
        Some(json!({"signing_alg": "ES256"})),
    );
    assert_eq!(provisioned.status, 201);

    // A writer keeps generating while the backup is taken.
    let addr = server.addr.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..40 {
            let body = format!(r#"{{"key":{{"algorithm":"HS256","name":"during-{i}"}}}}"#);
            support::http(
                &addr,
                "POST",
                "/api/key/generate",
                &[("Authorization", API_KEY)],
                Some(body.as_bytes()),
            );
        }
    });
    let url = format!("http://{}", server.addr);
    let taken = keysmith(
        &master,
        &[
            "backup",
            file.to_str().unwrap(),
            "--url",
            &url,
            "--api-key",
            API_KEY,
        ],
        None,
    );
    writer.join().unwrap();
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Not over an existing file, and not with a key that is not an admin key.
    let again = keysmith(
        &master,
        &[
            "backup",
            file.to_str().unwrap(),
            "--url",
            &url,
            "--api-key",
            API_KEY,
        ],
        None,
    );
    assert!(!again.status.success());
    let wrong = keysmith(
        &master,
        &[
            "backup",
            temp.path().join("x.redb").to_str().unwrap(),
            "--url",
            &url,
            "--api-key",
            "nope",
        ],
        None,
    );
    assert!(!wrong.status.success());

    // Restore into a live server's directory is refused.
    let busy = keysmith(&master, &["restore", file.to_str().unwrap()], Some(&live));
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    let live_ids = key_ids(&server);
    assert!(server.stop().0.success());

    // Under a wrong master key: refused, nothing written.
    let refused = keysmith(
        &[0x11; 32],
        &["restore", file.to_str().unwrap()],
        Some(&restored),
    );
    assert!(!refused.status.success());
    assert!(!restored.join("keysmith.redb").exists());

    // Restored: a consistent state (every key whole), the signer still signs, the ring is there.
    let done = keysmith(
        &master,
        &["restore", file.to_str().unwrap()],
        Some(&restored),
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let server = Server::start_in(&restored, backend, options(&master));
    let ids = key_ids(&server);
    assert!(
        ids.is_subset(&live_ids),
        "the backup holds only keys that existed"
    );
    assert!(ids.contains(signer["id"].as_str().unwrap()));
    for id in &ids {
        let one = server.call("GET", &format!("/api/key/{id}"), None);
        assert_eq!(one.status, 200);
    }
    let id = signer["id"].as_str().unwrap();
    let signed = server.call(
        "POST",
        &format!("/api/key/{id}/sign"),
        Some(json!({"payload": "aGk"})),
    );
    assert_eq!(signed.status, 200, "{}", signed.text());
    let keys = crate::auth0::a0(
        &server,
        "GET",
        &format!("/connections/{connection}/keys"),
        None,
    );
    assert_eq!(keys.json().as_array().unwrap().len(), 2);
    assert!(server.stop().0.success());

    // Offline backup of a stopped server, restored over an existing directory.
    let offline = temp.path().join("offline.redb");
    let taken = keysmith(&master, &["backup", offline.to_str().unwrap()], Some(&live));
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let done = keysmith(
        &master,
        &["restore", offline.to_str().unwrap()],
        Some(&restored),
    );
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let server = Server::start_in(&restored, backend, options(&master));
    assert_eq!(key_ids(&server), live_ids);
}

/// Holds the data directory's lock the way `keysmith restore` and a server do.
fn hold_data_dir_lock(data: &Path) -> std::fs::File {
    std::fs::create_dir_all(data).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(data.join("keysmith.lock"))
        .unwrap();
    file.lock().unwrap();
    file
}

/// A restore and a server never work on the same directory at once: while the lock is held (as
/// restore holds it from its check to its swap, and a server for its life) a server start and
/// a restore are refused. (A restore refused by a running server is in
/// `backup_while_serving_and_restore`.)
// One backend: the data directory lock is not the backend's.
#[test_case("aws-lc" ; "aws_lc")]
fn restore_and_a_server_start_exclude_each_other(backend: &str) {
    let master = [0x6Bu8; 32];
    let temp = tempfile::tempdir().unwrap();
    let (live, fresh, file) = (
        temp.path().join("live"),
        temp.path().join("fresh"),
        temp.path().join("backup.redb"),
    );
    let server = Server::start_in(&live, backend, options(&master));
    tokens::generate(&server, "ES256", None, "kept");
    assert!(server.stop().0.success());
    let taken = keysmith(&master, &["backup", file.to_str().unwrap()], Some(&live));
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );

    let lock = hold_data_dir_lock(&live);
    let Err((status, log)) = Server::try_start_in(&live, backend, options(&master)) else {
        panic!("a server started while the data directory was locked");
    };
    assert!(status.is_some_and(|s| !s.success()));
    assert!(
        log.contains("in use") && log.contains("keysmith.lock"),
        "{log}"
    );
    drop(lock);

    let lock = hold_data_dir_lock(&fresh);
    let refused = keysmith(&master, &["restore", file.to_str().unwrap()], Some(&fresh));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("in use") && stderr.contains("keysmith.lock"),
        "{stderr}"
    );
    assert!(!fresh.join("keysmith.redb").exists(), "nothing restored");
    drop(lock);

    let done = keysmith(&master, &["restore", file.to_str().unwrap()], Some(&fresh));
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let server = Server::start_in(&fresh, backend, options(&master));
    assert_eq!(key_ids(&server).len(), 1);
    let server2 = Server::start_in(&live, backend, options(&master));
    assert!(server2.stop().0.success());
    assert!(server.stop().0.success());
}

/// The `.backup-*` snapshot files left in a data directory.
fn snapshot_files(data: &Path) -> Vec<String> {
    std::fs::read_dir(data)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".backup-"))
        .collect()
}

/// The snapshot is streamed from its file with its length (not read whole into memory), and
/// the file is removed once sent, and also when the client goes away half-way.
/// Waits (at most 30 s) until no snapshot file is left in `data`.
fn wait_for_no_snapshot(data: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !snapshot_files(data).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "a sent backup's snapshot stayed: {:?}",
            snapshot_files(data)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// One backend: streaming a file is not the backend's.
#[test_case("openssl" ; "openssl")]
fn a_backup_is_streamed_and_its_file_removed(backend: &str) {
    use std::io::{Read as _, Write as _};

    let master = [0x5Bu8; 32];
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("live");
    let server = Server::start_in(&data, backend, options(&master));
    for i in 0..240 {
        tokens::generate(&server, "ES256", None, &format!("streamed {i}"));
    }
    let whole = support::http(
        &server.addr,
        "POST",
        "/api/system/backup",
        &[("Authorization", API_KEY)],
        None,
    );
    assert_eq!(whole.status, 200);
    assert!(
        whole.body.len() > 256 * 1024,
        "a snapshot of {} bytes is one chunk (256 KiB)",
        whole.body.len()
    );
    assert_eq!(
        whole.header("content-length"),
        Some(whole.body.len().to_string().as_str())
    );
    assert_eq!(&whole.body[..9], b"redb\x1A\x0A\xA9\x0D\x0A", "a redb file");
    // The file goes when the server reads past its end, which can come just after the client
    // has every byte (the length is known): wait for it, within a bound.
    wait_for_no_snapshot(&data);

    // A client that reads the head and a little of the body, then hangs up.
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /api/system/backup HTTP/1.1\r\nHost: {}\r\nAuthorization: {API_KEY}\r\nContent-Length: 0\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut some = [0u8; 4096];
    let read = stream.read(&mut some).unwrap();
    assert!(String::from_utf8_lossy(&some[..read]).starts_with("HTTP/1.1 200"));
    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !snapshot_files(&data).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the snapshot of an abandoned backup stayed: {:?}",
            snapshot_files(&data)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The server serves on, and a later backup is whole.
    let again = support::http(
        &server.addr,
        "POST",
        "/api/system/backup",
        &[("Authorization", API_KEY)],
        None,
    );
    assert_eq!(again.status, 200);
    wait_for_no_snapshot(&data);
}
