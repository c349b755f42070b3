//! Three Keysmith processes on one PostgreSQL database, on loopback: what a cluster must never
//! do (rotate twice, skip, show two current keys, serve a stale key set for long, fail reads
//! while the database is away), measured. Timings are printed (`--nocapture` shows them) and
//! recorded in `docs/benchmarks.md`; the bounds asserted are the issue's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth0::{BEARER, a0, create_connection};
use crate::generate;
use crate::postgres::{database, node_with};
use crate::support::{self, Server};

/// Settings every node of these tests has: no rate limit on key generation, and room to queue
/// the concurrent rotations of one test.
const NODE_ENV: [(&str, &str); 2] = [
    ("KEYSMITH_KEY_GENERATION_PER_MINUTE", "0"),
    ("KEYSMITH_KEY_GENERATION_QUEUE", "200"),
];

/// `n` nodes on `url`, their backends alternating, each with [`NODE_ENV`] and `env`.
fn nodes(url: &str, n: usize, env: &[(&str, &str)]) -> Vec<(tempfile::TempDir, Server)> {
    let backends = support::backends();
    let mut all: Vec<(&str, &str)> = NODE_ENV.to_vec();
    all.extend_from_slice(env);
    (0..n)
        .map(|i| node_with(url, backends[i % backends.len()], &all))
        .collect()
}

/// The rotation numbers each node's log reports for `connection` (`rotation=N` of its
/// `ring.rotate` lines), all nodes together.
fn logged_rotations(nodes: &[&Server], connection: &str) -> Vec<u64> {
    let owner = format!("owner=connection {connection} (signing keys)");
    let mut numbers: Vec<u64> = nodes
        .iter()
        .flat_map(|node| {
            node.log()
                .lines()
                .filter(|line| line.contains("keys rotated") && line.contains(&owner))
                .map(|line| {
                    line.split("rotation=")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("no rotation number in {line}"))
                })
                .collect::<Vec<u64>>()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// A connection's keys on `node`, as Auth0's API lists them.
fn connection_keys(node: &Server, connection: &str) -> Vec<Value> {
    let listed = a0(
        node,
        "GET",
        &format!("/connections/{connection}/keys"),
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.text());
    listed.json().as_array().unwrap().clone()
}

fn count_flag(keys: &[Value], flag: &str) -> usize {
    keys.iter().filter(|k| k[flag] == true).count()
}

/// The FusionAuth keys named for `connection`'s ring (every key a rotation made and kept).
fn keys_named_for(node: &Server, connection: &str) -> Vec<String> {
    let listed = node.call("GET", "/api/key", None).json();
    listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| {
            k["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("Connection {connection} ")))
        })
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The ring is whole: one current and one next key, at most one previous, and the
/// connection's keys in the key store are exactly the ring's (nothing half-written is left).
fn assert_ring_whole(node: &Server, connection: &str) -> Vec<Value> {
    let keys = connection_keys(node, connection);
    assert_eq!(count_flag(&keys, "current"), 1, "{keys:?}");
    assert_eq!(count_flag(&keys, "next"), 1, "{keys:?}");
    assert!(count_flag(&keys, "previous") <= 1, "{keys:?}");
    let mut in_ring: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let mut stored = keys_named_for(node, connection);
    in_ring.sort();
    stored.sort();
    assert_eq!(
        in_ring, stored,
        "the key store holds exactly the ring's keys"
    );
    keys
}

fn provision(node: &Server, connection: &str) {
    let made = a0(
        node,
        "POST",
        &format!("/connections/{connection}/keys"),
        Some(json!({"signing_alg": "ES256"})),
    );
    assert_eq!(made.status, 201, "{}", made.text());
}

fn jwks_etag(node: &Server) -> String {
    let jwks = node.call("GET", "/.well-known/jwks.json", None);
    assert_eq!(jwks.status, 200, "{}", jwks.text());
    jwks.header("etag").unwrap().to_owned()
}

/// Percentile `p` (0-100) of sorted durations, nearest rank.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// 3 nodes x 50 concurrent rotations of one connection: every rotation applied exactly once
/// (the nodes' logs report rotations 1 to 150, each once), every request answered 201 with a
/// key no other rotation made, and a reader on a third node never sees two current keys.
#[test]
fn three_nodes_apply_fifty_concurrent_rotations_each_exactly_once() {
    const PER_NODE: usize = 50;
    let Some((_db, url)) = database("concurrent rotations on three nodes") else {
        return;
    };
    let cluster = nodes(&url, 3, &[]);
    let servers: Vec<&Server> = cluster.iter().map(|(_, s)| s).collect();
    let connection = create_connection(servers[0], "raced", json!({}));
    provision(servers[0], &connection);

    let done = Arc::new(AtomicBool::new(false));
    let (kids, views) = std::thread::scope(|scope| {
        let watcher = {
            let (done, connection) = (done.clone(), connection.clone());
            let watched = servers[2];
            scope.spawn(move || {
                let mut views = 0;
                while !done.load(Ordering::Acquire) {
                    let keys = connection_keys(watched, &connection);
                    assert_eq!(count_flag(&keys, "current"), 1, "{keys:?}");
                    assert_eq!(count_flag(&keys, "next"), 1, "{keys:?}");
                    views += 1;
                }
                views
            })
        };
        let rotations: Vec<_> = servers
            .iter()
            .flat_map(|node| (0..PER_NODE).map(move |_| *node))
            .map(|node| {
                let path = format!("/api/v2/connections/{connection}/keys/rotate");
                scope.spawn(move || {
                    let rotated = node.raw("POST", &path, &[("Authorization", BEARER)], None);
                    assert_eq!(rotated.status, 201, "{}", rotated.text());
                    rotated.json()["kid"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        let kids: Vec<String> = rotations.into_iter().map(|r| r.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        (kids, watcher.join().unwrap())
    });
    let distinct: std::collections::BTreeSet<_> = kids.iter().collect();
    assert_eq!(
        distinct.len(),
        3 * PER_NODE,
        "each rotation made its own key"
    );
    let logged = logged_rotations(&servers, &connection);
    assert_eq!(
        logged,
        (1..=(3 * PER_NODE) as u64).collect::<Vec<_>>(),
        "rotations 1 to 150, each applied once, none skipped"
    );
    let keys = assert_ring_whole(servers[1], &connection);
    let next = keys.iter().find(|k| k["next"] == true).unwrap();
    assert!(kids.contains(&next["kid"].as_str().unwrap().to_owned()));
    eprintln!(
        "cluster: {} rotations from 3 nodes applied once each; {views} reads of the ring on a third node saw one current key",
        3 * PER_NODE
    );
}

/// After node A acknowledges a rotation, how long until B and C serve A's JWKS (the same
/// ETag: it is computed from the content). With notifications p99 < 1 s; with nodes that only
/// poll (`store_listen = false`, every second) p99 < 3 s.
#[test]
fn every_node_serves_a_rotation_within_a_second_and_within_three_without_notifications() {
    let Some((_db, url)) = database("JWKS convergence on three nodes") else {
        return;
    };
    for (listen, rounds, bound) in [
        ("true", 40, Duration::from_secs(1)),
        ("false", 15, Duration::from_secs(3)),
    ] {
        let cluster = nodes(&url, 3, &[("KEYSMITH_STORE_LISTEN", listen)]);
        let servers: Vec<&Server> = cluster.iter().map(|(_, s)| s).collect();
        let connection = create_connection(servers[0], &format!("converging-{listen}"), json!({}));
        provision(servers[0], &connection);
        let mut lags = Vec::new();
        for _ in 0..rounds {
            let rotated = a0(
                servers[0],
                "POST",
                &format!("/connections/{connection}/keys/rotate"),
                None,
            );
            assert_eq!(rotated.status, 201, "{}", rotated.text());
            let acknowledged = Instant::now();
            let expected = jwks_etag(servers[0]);
            for other in &servers[1..] {
                while jwks_etag(other) != expected {
                    assert!(
                        acknowledged.elapsed() < Duration::from_secs(10),
                        "a node still serves an old key set 10 s after a rotation"
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            lags.push(acknowledged.elapsed());
        }
        lags.sort();
        let (p50, p99, max) = (
            percentile(&lags, 50),
            percentile(&lags, 99),
            lags[lags.len() - 1],
        );
        eprintln!(
            "cluster: JWKS convergence on 2 other nodes, notifications {listen}: {rounds} rotations, p50 {p50:?}, p99 {p99:?}, max {max:?}"
        );
        assert!(p99 < bound, "p99 {p99:?} with notifications {listen}");
        // The same key set gives the same ETag (and body) on every node.
        let bodies: Vec<String> = servers
            .iter()
            .map(|s| s.call("GET", "/.well-known/jwks.json", None).text())
            .collect();
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    }
}

/// Rotation every 2 s for 60 s with the scheduler on all 3 nodes: 30 +- 1 rotations, each
/// applied by one node (rotation numbers each logged once), and the keys changed on schedule
/// (a key was current for exactly the period: rotations take effect when due).
#[test]
fn scheduled_rotation_every_two_seconds_on_three_nodes_rotates_thirty_times_a_minute() {
    let Some((_db, url)) = database("scheduled rotation on three nodes") else {
        return;
    };
    let cluster = nodes(
        &url,
        3,
        &[("KEYSMITH_ROTATION_CHECK_INTERVAL_SECONDS", "1")],
    );
    let servers: Vec<&Server> = cluster.iter().map(|(_, s)| s).collect();
    let connection = create_connection(
        servers[0],
        "scheduled",
        json!({"rotation_period_seconds": 2}),
    );
    provision(servers[0], &connection);
    let provisioned = Instant::now();
    // Rotations are due 2, 4, ... 60 s after provisioning; the 31st at 62 s.
    std::thread::sleep(Duration::from_secs(61).saturating_sub(provisioned.elapsed()));
    let logged = logged_rotations(&servers, &connection);
    let count = logged.len() as u64;
    eprintln!("cluster: {count} scheduled rotations in 60 s of a 2 s period on 3 nodes");
    assert!((29..=31).contains(&count), "{count} rotations: {logged:?}");
    assert_eq!(
        logged,
        (1..=count).collect::<Vec<_>>(),
        "each rotation applied by one node, none skipped"
    );
    let by_node: Vec<usize> = servers
        .iter()
        .map(|s| logged_rotations(&[s], &connection).len())
        .collect();
    eprintln!("cluster: rotations applied by each node: {by_node:?}");
    let keys = assert_ring_whole(servers[1], &connection);
    let since = |flag: &str| {
        let key = keys.iter().find(|k| k[flag] == true).unwrap();
        key["current_since"].as_str().unwrap().to_owned()
    };
    let (previous, current) = (since("previous"), since("current"));
    let millis = |iso: &str| -> i64 {
        // 2026-12-01T12:00:00.000Z: seconds and milliseconds are enough within a minute.
        let time = iso.split('T').nth(1).unwrap().trim_end_matches('Z');
        let parts: Vec<&str> = time.split(':').collect();
        let seconds: f64 = parts[2].parse().unwrap();
        (parts[0].parse::<i64>().unwrap() * 3600 + parts[1].parse::<i64>().unwrap() * 60) * 1000
            + (seconds * 1000.0).round() as i64
    };
    assert_eq!(
        (millis(&current) - millis(&previous)).rem_euclid(86_400_000),
        2000,
        "the current key became current exactly one period after the previous one ({previous} -> {current})"
    );
}

/// A node killed with SIGKILL while its rotation is written but not committed: the database
/// rolls it back, so the ring is entirely as before, nothing it wrote is left, and another
/// node rotates at once (no lock is left held). Then nodes are killed at random moments of a
/// stream of rotations: each time the ring is entirely old or entirely new.
#[test]
fn a_node_killed_mid_rotation_leaves_the_ring_entirely_old_or_entirely_new() {
    let Some((_db, url)) = database("a node killed mid-rotation") else {
        return;
    };
    let backends = support::backends();
    let mut env: Vec<(&str, &str)> = NODE_ENV.to_vec();
    let (_b_dir, survivor) = node_with(&url, backends[backends.len() - 1], &env);
    let connection = create_connection(&survivor, "killed", json!({}));
    provision(&survivor, &connection);
    let before = assert_ring_whole(&survivor, &connection);

    let pause = keysmith::server::FAILPOINT_RING_COMMIT_PAUSE_MS;
    env.push((pause, "30000"));
    let (_a_dir, paused) = node_with(&url, backends[0], &env);
    let addr = paused.addr.clone();
    let path = format!("/api/v2/connections/{connection}/keys/rotate");
    let rotation = std::thread::spawn(move || {
        support::try_http(&addr, "POST", &path, &[("Authorization", BEARER)], None)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !paused.log().contains("failpoint: ring change written") {
        assert!(Instant::now() < deadline, "never paused:\n{}", paused.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    paused.kill_9();
    assert!(rotation.join().unwrap().is_err(), "never acknowledged");
    assert_eq!(
        assert_ring_whole(&survivor, &connection),
        before,
        "the ring is entirely old"
    );
    let started = Instant::now();
    let rotated = a0(
        &survivor,
        "POST",
        &format!("/connections/{connection}/keys/rotate"),
        None,
    );
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the killed node's lock held the ring for {:?}",
        started.elapsed()
    );

    // Killed at moments spread over a stream of rotations: whatever committed is whole, every
    // acknowledged rotation is there, and at most one more (committed, then killed before it
    // answered).
    env.pop();
    let mut rotations = current_generation(&survivor, &connection) - 1;
    for round in 0..3u64 {
        let (_dir, victim) = node_with(&url, backends[0], &env);
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let (addr, path, counted) = (
            victim.addr.clone(),
            format!("/api/v2/connections/{connection}/keys/rotate"),
            acknowledged.clone(),
        );
        let stream = std::thread::spawn(move || {
            while let Ok(answer) =
                support::try_http(&addr, "POST", &path, &[("Authorization", BEARER)], None)
            {
                assert_eq!(answer.status, 201, "{}", answer.text());
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        // The kill lands a spread moment after the stream's first acknowledged rotation (a
        // fixed delay from start would race a slow machine's first key generation).
        let deadline = Instant::now() + Duration::from_secs(30);
        while acknowledged.load(Ordering::Relaxed) == 0 {
            assert!(
                Instant::now() < deadline,
                "no rotation acknowledged:\n{}",
                victim.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(37 + 97 * round));
        victim.kill_9();
        stream.join().unwrap();
        assert_ring_whole(&survivor, &connection);
        let acknowledged = acknowledged.load(Ordering::Relaxed) as u64;
        assert!(acknowledged > 0, "no rotation happened before the kill");
        let now = current_generation(&survivor, &connection) - 1;
        eprintln!(
            "cluster: kill {round}: {acknowledged} rotations acknowledged before SIGKILL, {} applied",
            now - rotations
        );
        assert!(
            (rotations + acknowledged..=rotations + acknowledged + 1).contains(&now),
            "{acknowledged} acknowledged after rotation {rotations}, but the ring is at rotation {now}"
        );
        rotations = now;
    }
    let rotated = a0(
        &survivor,
        "POST",
        &format!("/connections/{connection}/keys/rotate"),
        None,
    );
    assert_eq!(rotated.status, 201, "{}", rotated.text());
}

/// The generation of a connection's current key (`... #N` in its name): the ring has rotated
/// N-1 times (provisioning made keys 1 and 2).
fn current_generation(node: &Server, connection: &str) -> u64 {
    let keys = connection_keys(node, connection);
    let kid = keys
        .iter()
        .find(|k| k["current"] == true)
        .and_then(|k| k["kid"].as_str())
        .unwrap()
        .to_owned();
    let listed = node.call("GET", "/api/key", None).json();
    listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .and_then(|k| k["name"].as_str())
        .and_then(|name| name.rsplit('#').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no generation for kid {kid}"))
}

/// PostgreSQL stopped for 10 s under read load on 3 nodes: no JWKS, public-key, validate or
/// vend request fails (they are served from memory), and every node takes writes again within
/// 5 s of the database's return.
#[test]
fn a_ten_second_database_outage_under_read_load_fails_no_read() {
    let Some((mut db, url)) = database("a database outage under read load") else {
        return;
    };
    let cluster = nodes(&url, 3, &[]);
    let servers: Vec<&Server> = cluster.iter().map(|(_, s)| s).collect();
    let key = generate(
        servers[0],
        json!({"algorithm": "ES256", "name": "read-load"}),
    );
    let (id, kid) = (
        key["id"].as_str().unwrap().to_owned(),
        key["kid"].as_str().unwrap().to_owned(),
    );
    // Each node loads the key (signs and verifies once) and caches its documents.
    let token = |node: &Server| {
        let vended = node.call(
            "POST",
            "/api/jwt/vend",
            Some(json!({"keyId": id, "claims": {"sub": "load"}})),
        );
        assert_eq!(vended.status, 200, "{}", vended.text());
        vended.json()["token"].as_str().unwrap().to_owned()
    };
    let tokens: Vec<String> = servers.iter().map(|s| token(s)).collect();
    let reads = |node: &Server, token: &str| -> Vec<(&'static str, u16)> {
        let bearer = format!("Bearer {token}");
        vec![
            (
                "jwks",
                node.call("GET", "/.well-known/jwks.json", None).status,
            ),
            (
                "public keys",
                node.call("GET", "/api/jwt/public-key", None).status,
            ),
            (
                "public key",
                node.call("GET", &format!("/api/jwt/public-key?kid={kid}"), None)
                    .status,
            ),
            (
                "validate",
                node.raw(
                    "GET",
                    "/api/jwt/validate",
                    &[("Authorization", &bearer)],
                    None,
                )
                .status,
            ),
            (
                "vend",
                node.call(
                    "POST",
                    "/api/jwt/vend",
                    Some(json!({"keyId": id, "claims": {"sub": "load"}})),
                )
                .status,
            ),
        ]
    };
    for (node, token) in servers.iter().zip(&tokens) {
        assert!(reads(node, token).iter().all(|(_, s)| *s == 200));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, back) = std::thread::scope(|scope| {
        let readers: Vec<_> = servers
            .iter()
            .zip(&tokens)
            .map(|(node, token)| {
                let stop = stop.clone();
                scope.spawn(move || {
                    let mut answers: BTreeMap<(&'static str, u16), usize> = BTreeMap::new();
                    while !stop.load(Ordering::Acquire) {
                        for answer in reads(node, token) {
                            *answers.entry(answer).or_default() += 1;
                        }
                    }
                    answers
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        db.stop_immediately().unwrap();
        std::thread::sleep(Duration::from_secs(10));
        db.start_again().unwrap();
        let restarted = Instant::now();
        for (i, node) in servers.iter().enumerate() {
            loop {
                let write = node.call(
                    "POST",
                    "/api/key/generate",
                    Some(json!({"key": {"algorithm": "ES256", "name": format!("after-{i}")}})),
                );
                if write.status == 200 {
                    break;
                }
                assert_eq!(write.status, 503, "{}", write.text());
                assert!(
                    restarted.elapsed() < Duration::from_secs(5),
                    "node {i} takes no writes 5 s after the database came back"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let back = restarted.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Release);
        let mut answers: BTreeMap<(&'static str, u16), usize> = BTreeMap::new();
        for reader in readers {
            for (answer, n) in reader.join().unwrap() {
                *answers.entry(answer).or_default() += n;
            }
        }
        (answers, back)
    });
    eprintln!(
        "cluster: 10 s database outage under read load on 3 nodes: answers {answers:?}; every node took writes {back:?} after the database's return"
    );
    let failed: Vec<_> = answers.iter().filter(|((_, s), _)| *s != 200).collect();
    assert!(failed.is_empty(), "reads that failed: {failed:?}");
    for node in &servers {
        assert_eq!(node.call("GET", "/api/status", None).status, 200);
    }
}
