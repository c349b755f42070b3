//! kill -9 loops against the real binary. Eight writers mix every kind of change (generate and
//! import of every key type, rename, delete, connections and their key rings, the tenant's
//! signing keys) while the server is killed with SIGKILL at a random moment; some restarts are
//! killed again while the server starts. After each restart everything acknowledged is checked
//! against a model of what the writers were told:
//!
//! - every acknowledged key is listed with the same kid and content (everything but its name and
//!   `lastUpdateInstant`, hashed), under its acknowledged name, and a sample signs (checked with
//!   the acknowledged public key, the imported HMAC secret, or the key's earlier signature);
//! - every acknowledged delete stays deleted, and no key appears that nobody was told about;
//! - every ring is whole: exactly the generations its acknowledged rotations made, one current
//!   and one next key (and the previous one), every ring key stored and nothing else of it.
//!
//! A change whose answer never arrived is in doubt: it may have committed or not, and what the
//! restarted server shows is adopted (and must stay that way from then on).
//!
//! `KS_KILL_CYCLES` sets the cycles per backend (default [`CI_CYCLES`]; `just kill-loop` runs
//! 70), `KS_KILL_SEED` the seed (printed with the figures, so a failure can be replayed as far
//! as timing allows).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keysmith_crypto::{KeyBackend, VerifyingMaterial};
use keysmith_model::{Algorithm, HashAlgorithm};
use serde_json::{Value, json};

use crate::auth0::BEARER;
use crate::support::{self, API_KEY, Options, Response, Server};
use test_case::test_case;

/// Cycles per backend when `KS_KILL_CYCLES` is not set: what CI runs.
const CI_CYCLES: usize = 6;
/// Concurrent writers.
const WRITERS: usize = 8;
/// What every sign check signs.
const PAYLOAD: &[u8] = b"kill -9 loop";
/// Connections each writer keeps (each with one signing ring).
const CONNECTIONS_PER_WRITER: usize = 2;
/// Keys of each writer signed after a restart besides the ones touched in the last cycle.
const OLDER_KEYS_SIGNED: usize = 4;
/// Acknowledged deletes of each writer re-read (404) after a restart besides the last cycle's.
const OLDER_DELETES_READ: usize = 4;

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn kill_9_loop_keeps_every_acknowledged_write(backend: &str) {
    let cycles = std::env::var("KS_KILL_CYCLES")
        .ok()
        .map(|v| v.parse::<usize>().expect("KS_KILL_CYCLES is a number"))
        .unwrap_or(CI_CYCLES);
    let seed = std::env::var("KS_KILL_SEED")
        .ok()
        .map(|v| v.parse::<u64>().expect("KS_KILL_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let total = kill_9_loop(backend, cycles, seed).acknowledged();
    println!("kill-9 loop: {total} acknowledged writes on {backend} (seed {seed})");
}

/// A first start killed while it writes the master key file must not leave a data directory
/// that never starts again (a key file without a key).
#[test]
fn a_first_start_killed_while_writing_the_master_key_starts_again() {
    let backend = support::backends()[0];
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let plain = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let mut paused = plain.clone();
    paused.env.push((
        keysmith::master_key::FAILPOINT_KEY_FILE_PAUSE_MS.into(),
        "30000".into(),
    ));
    let starting = Server::spawn_in(&data, backend, paused);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !starting
        .log()
        .contains("failpoint: writing the master key file")
    {
        assert!(
            Instant::now() < deadline,
            "the first start never reached the failpoint:\n{}",
            starting.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    starting.kill_9();

    let server = Server::try_start_in(&data, backend, plain.clone())
        .unwrap_or_else(|(status, log)| panic!("the next start failed ({status:?}):\n{log}"));
    let key = crate::generate(&server, json!({"algorithm": "ES256", "name": "after"}));
    let id = key["id"].as_str().unwrap().to_owned();
    assert!(server.stop().0.success());
    // The key file written by that start is the one the data is sealed under.
    let server = Server::start_in(&data, backend, plain);
    let signed = server.call(
        "POST",
        &format!("/api/key/{id}/sign"),
        Some(json!({"payload": URL_SAFE_NO_PAD.encode(PAYLOAD)})),
    );
    assert_eq!(signed.status, 200, "{}", signed.text());
}

/// kill -9 during `keysmith key generate --count`: every key the command printed (it prints a
/// chunk only after its commit) is stored; chunks commit whole, each key with its audit row (so
/// the stored count is a multiple of the chunk size and equals the audit rows); the file checks.
/// On both backends: the keys are each backend's.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn kill_9_during_bulk_generation_keeps_every_printed_key(backend: &str) {
    use std::io::Read as _;
    const CHUNK: usize = 256;
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let made = support::keysmith_command()
        .args(["master-key", "generate", "--out"])
        .arg(data.join("master.key"))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut child = support::keysmith_command()
        .args([
            "key",
            "generate",
            "--algorithm",
            "ES256",
            "--name",
            "bulk",
            "--count",
            "1000000",
        ])
        .args(["--json", "--backend", backend, "--data"])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let printed = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (printed, mut stdout) = (printed.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                printed.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        })
    };
    // Kill once two chunks have been printed, at a moment that varies with the run.
    let deadline = Instant::now() + Duration::from_secs(120);
    while printed_ids(&printed.lock().unwrap()).len() < 2 * CHUNK {
        assert!(
            Instant::now() < deadline,
            "the command printed too little in 120 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(u64::from(std::process::id() % 200)));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let printed = printed_ids(&printed.lock().unwrap());

    let checked = support::keysmith_command()
        .args(["check", "--backend", backend, "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let server = Server::start_in(
        &data,
        backend,
        Options {
            api_key: Some(API_KEY.into()),
            ..Default::default()
        },
    );
    let stored: BTreeSet<String> = server.call("GET", "/api/key", None).json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = printed.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} printed keys are not stored: {lost:?}",
        lost.len()
    );
    assert_eq!(
        stored.len() % CHUNK,
        0,
        "{} keys: a chunk committed in part",
        stored.len()
    );
    let audit = server
        .call(
            "GET",
            "/api/system/audit-log/search?action=key.generate&numberOfResults=1",
            None,
        )
        .json();
    assert_eq!(
        audit["total"].as_u64(),
        Some(stored.len() as u64),
        "one audit row per key"
    );
    println!(
        "bulk kill -9 [{backend}]: {} keys printed, {} stored",
        printed.len(),
        stored.len()
    );
}

/// The ids in a prefix of `{"keys":[…]}` output (a key cut off after its id still counts: it
/// is printed only once committed).
fn printed_ids(output: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(output);
    text.match_indices("\"id\":\"")
        .filter_map(|(at, marker)| text.get(at + marker.len()..at + marker.len() + 36))
        .filter(|id| id.len() == 36 && !id.contains('"'))
        .map(str::to_owned)
        .collect()
}

// ---- the loop ----

/// Runs `cycles` kill -9 cycles on `backend` on one data directory, and returns the figures.
/// Fails (with the figures, the seed and what went wrong) as soon as a check finds a fault.
fn kill_9_loop(backend: &str, cycles: usize, seed: u64) -> Totals {
    println!("kill-9 loop [{backend}]: {cycles} cycles, seed {seed} (KS_KILL_SEED)");
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        // Rotations are part of the mix: no rate limit on them.
        env: vec![("KEYSMITH_KEY_GENERATION_PER_MINUTE".into(), "0".into())],
        ..Default::default()
    };
    let local = crate::tokens::backend(backend);
    let rsa_pool: Arc<Vec<String>> = Arc::new(
        (0..2)
            .map(|_| private_pem(&*local, Algorithm::RS256, Some(2048)))
            .collect(),
    );
    let mut rng = Rng::new(seed ^ fnv(backend));
    let mut writers: Vec<Writer> = (0..WRITERS).map(Writer::new).collect();
    let tenant = Arc::new(Mutex::new(TenantModel::default()));
    let mut totals = Totals::default();
    // The restarts killed again while starting: spread over the run, about one in five.
    let double_kills = (cycles / 5).max(1).min(cycles);
    let binary = binary_stamp();
    // Each cycle starts the server and checks what the last one was told; the last start only
    // checks, and stops the server cleanly.
    for cycle in 0..=cycles {
        assert_eq!(
            binary_stamp(),
            binary,
            "the keysmith binary changed during the loop (a build in the same target directory?)"
        );
        let started = Instant::now();
        let server = Server::try_start_in(&data, backend, options.clone()).unwrap_or_else(
            |(status, log)| {
                totals.restart_failures += 1;
                fail(
                    &totals,
                    backend,
                    seed,
                    &format!("cycle {cycle}: the server did not start ({status:?}):\n{log}"),
                )
            },
        );
        let last_restart = started.elapsed();
        if cycle > 0 {
            totals.longest_restart = totals.longest_restart.max(last_restart);
            let findings = verify(&server, &*local, &mut writers, &tenant, &mut rng);
            totals.add(&findings);
            if findings.faults() > 0 {
                fail(
                    &totals,
                    backend,
                    seed,
                    &format!(
                        "after the kill of cycle {}:\n{}\nserver log:\n{}",
                        cycle - 1,
                        findings.details.join("\n"),
                        tail(&server.log())
                    ),
                );
            }
        }
        if cycle == cycles {
            let (status, _) = server.stop();
            assert!(status.success(), "clean exit after the loop: {status:?}");
            break;
        }

        // Writers until a SIGKILL at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = writers
            .drain(..)
            .map(|mut writer| {
                let addr = server.addr.clone();
                let (stop, tenant, rsa_pool, local) = (
                    stop.clone(),
                    tenant.clone(),
                    rsa_pool.clone(),
                    local.clone(),
                );
                let mut rng = Rng::new(rng.next());
                std::thread::spawn(move || {
                    writer.run(&addr, &stop, &tenant, &rsa_pool, &*local, &mut rng);
                    writer
                })
            })
            .collect();
        let writing = Duration::from_millis(300 + rng.below(2201));
        std::thread::sleep(writing);
        // The group-commit counters, read while the writers write (so the kill comes in the
        // middle of batched commits).
        let scraped = server.raw("GET", "/metrics", &[("Authorization", API_KEY)], None);
        if scraped.status == 200 {
            let text = scraped.text();
            totals.commits += crate::metrics::counter(&text, "keysmith_store_commits_total");
            totals.batched_changes +=
                crate::metrics::counter(&text, "keysmith_store_committed_changes_total");
        }
        server.kill_9();
        totals.writing += writing;
        stop.store(true, Ordering::SeqCst);
        writers = threads.into_iter().map(|t| t.join().unwrap()).collect();
        totals.cycles += 1;
        let mut errors = Vec::new();
        for writer in &mut writers {
            totals.take_counts(&mut writer.counts);
            errors.append(&mut writer.errors);
        }
        {
            let mut tenant = tenant.lock().unwrap();
            totals.take_counts(&mut tenant.acknowledged);
            errors.append(&mut tenant.errors);
        }
        if !errors.is_empty() {
            totals.server_errors += errors.len() as u64;
            fail(
                &totals,
                backend,
                seed,
                &format!("cycle {cycle}: unexpected answers:\n{}", errors.join("\n")),
            );
        }

        // Some restarts are killed again while the server starts (recovering the data file,
        // loading keys, binding): at a random moment within the time the last start took.
        if (cycle + 1) * double_kills / cycles > cycle * double_kills / cycles {
            let starting = Server::spawn_in(&data, backend, options.clone());
            let within = last_restart.as_millis().max(20) as u64;
            std::thread::sleep(Duration::from_millis(rng.below(within + 1)));
            if starting.log().contains("keysmith listening") {
                totals.double_kills_after_listening += 1;
            }
            starting.kill_9();
            totals.double_kills += 1;
        }
    }
    println!("{}", totals.summary(backend, seed));
    // Eight writers share the writer: some commit must have carried more than one change, or
    // this loop did not test batched commits at all.
    assert!(
        totals.batched_changes > totals.commits,
        "no commit carried more than one change: {} commits, {} changes",
        totals.commits,
        totals.batched_changes
    );
    totals
}

/// When the binary under test was last written: a build in the same target directory during
/// the loop would swap it between restarts.
fn binary_stamp() -> std::time::SystemTime {
    std::fs::metadata(env!("CARGO_BIN_EXE_keysmith"))
        .and_then(|m| m.modified())
        .unwrap()
}

fn fail(totals: &Totals, backend: &str, seed: u64, what: &str) -> ! {
    panic!(
        "{}\n{what}\n(replay with KS_KILL_SEED={seed})",
        totals.summary(backend, seed)
    )
}

/// The last 60 lines of a server log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

// ---- figures ----

#[derive(Debug, Default)]
struct Counts {
    /// Acknowledged writes by operation.
    acknowledged: BTreeMap<&'static str, u64>,
    /// Changes sent whose answer never arrived.
    in_doubt: u64,
    /// Changes refused as over capacity (503/429: nothing changed).
    refused: u64,
}

#[derive(Debug, Default)]
struct Findings {
    lost: u64,
    altered: u64,
    resurrected: u64,
    unopenable: u64,
    broken_rings: u64,
    signed: u64,
    /// Keys stored at the check.
    stored: u64,
    details: Vec<String>,
}

impl Findings {
    fn faults(&self) -> u64 {
        self.lost + self.altered + self.resurrected + self.unopenable + self.broken_rings
    }

    fn lost(&mut self, what: String) {
        self.lost += 1;
        self.details.push(format!("LOST: {what}"));
    }

    fn altered(&mut self, what: String) {
        self.altered += 1;
        self.details.push(format!("ALTERED: {what}"));
    }

    fn resurrected(&mut self, what: String) {
        self.resurrected += 1;
        self.details.push(format!("RESURRECTED: {what}"));
    }

    fn unopenable(&mut self, what: String) {
        self.unopenable += 1;
        self.details.push(format!("UNOPENABLE: {what}"));
    }

    fn broken_ring(&mut self, what: String) {
        self.broken_rings += 1;
        self.details.push(format!("BROKEN RING: {what}"));
    }
}

#[derive(Debug, Default)]
struct Totals {
    cycles: u64,
    counts: Counts,
    findings: Findings,
    restart_failures: u64,
    /// Answers no request should get (a 500, or a 4xx to a change the model says is valid).
    server_errors: u64,
    double_kills: u64,
    double_kills_after_listening: u64,
    longest_restart: Duration,
    /// Time the writers had before the kills.
    writing: Duration,
    /// Group commits and the changes they carried, scraped from `/metrics` before each kill.
    commits: u64,
    batched_changes: u64,
}

impl Totals {
    fn acknowledged(&self) -> u64 {
        self.counts.acknowledged.values().sum()
    }

    fn take_counts(&mut self, counts: &mut Counts) {
        let counts = std::mem::take(counts);
        for (op, n) in counts.acknowledged {
            *self.counts.acknowledged.entry(op).or_default() += n;
        }
        self.counts.in_doubt += counts.in_doubt;
        self.counts.refused += counts.refused;
    }

    fn add(&mut self, findings: &Findings) {
        let mine = &mut self.findings;
        mine.lost += findings.lost;
        mine.altered += findings.altered;
        mine.resurrected += findings.resurrected;
        mine.unopenable += findings.unopenable;
        mine.broken_rings += findings.broken_rings;
        mine.signed += findings.signed;
        mine.stored = findings.stored;
    }

    fn summary(&self, backend: &str, seed: u64) -> String {
        let by_op: Vec<String> = self
            .counts
            .acknowledged
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect();
        let f = &self.findings;
        format!(
            "kill-9 loop [{backend}]: cycles={} acknowledged={} ({}) writes_per_second={:.0} \
             in_doubt={} refused={} \
             lost={} altered={} resurrected={} unopenable={} broken_rings={} \
             restart_failures={} server_errors={} signed={} double_kills={} ({} after listening) \
             keys_stored={} longest_restart={}ms commits={} changes_per_commit={:.2} seed={seed}",
            self.cycles,
            self.acknowledged(),
            by_op.join(" "),
            self.acknowledged() as f64 / self.writing.as_secs_f64().max(0.001),
            self.counts.in_doubt,
            self.counts.refused,
            f.lost,
            f.altered,
            f.resurrected,
            f.unopenable,
            f.broken_rings,
            self.restart_failures,
            self.server_errors,
            f.signed,
            self.double_kills,
            self.double_kills_after_listening,
            f.stored,
            self.longest_restart.as_millis(),
            self.commits,
            self.batched_changes as f64 / self.commits.max(1) as f64,
        )
    }
}

// ---- the model ----

/// A key as it was acknowledged (or adopted after an in-doubt change showed up).
#[derive(Clone, Debug)]
struct KnownKey {
    name: String,
    kid: String,
    /// SHA-256 of the key object without `name` and `lastUpdateInstant`.
    hash: Vec<u8>,
    algorithm: String,
    /// The acknowledged public key (asymmetric keys).
    public_key: Option<String>,
    /// An imported HMAC secret (the test knows it).
    secret: Option<String>,
    /// Whether the key has a private half or secret (it must sign).
    signs: bool,
    /// The first signature of [`PAYLOAD`] seen from a generated HMAC key: HMAC is deterministic,
    /// so every later one must be the same.
    hmac_signature: Option<String>,
}

/// What an import sent that the answer does not give back.
#[derive(Clone, Debug)]
struct ImportFacts {
    secret: Option<String>,
    signs: bool,
}

/// A change sent whose answer never arrived.
#[derive(Clone, Debug)]
enum Doubt {
    /// A generate or import: by id when the request named one, else by name.
    Create {
        id: Option<String>,
        name: String,
        import: Option<ImportFacts>,
    },
    Rename {
        id: String,
        to: String,
    },
    Delete {
        id: String,
    },
    Connection {
        name: String,
    },
}

/// A ring as its acknowledged changes left it: the number of keys it has had (`#1`…`#N`), and
/// the kid and certificate of each it was told about.
#[derive(Clone, Debug, Default)]
struct RingModel {
    generations: u64,
    keys: BTreeMap<u64, (String, String)>,
}

#[derive(Clone, Debug)]
struct ConnectionModel {
    id: String,
    name: String,
    ring: RingModel,
    /// A provisioning or rotation in doubt.
    in_doubt: bool,
}

#[derive(Debug, Default)]
struct TenantModel {
    /// `None` until the ring was acknowledged (the first `GET /api/v2/keys/signing`).
    ring: Option<RingModel>,
    /// A provisioning or rotation in doubt.
    in_doubt: bool,
    acknowledged: Counts,
    errors: Vec<String>,
}

/// One writer's share of the model: it alone changes its keys and connections, so what it was
/// told is exact.
#[derive(Debug)]
struct Writer {
    index: usize,
    serial: u64,
    keys: BTreeMap<String, KnownKey>,
    /// Keys whose delete was acknowledged (or confirmed after a delete in doubt): id → kid.
    deleted: BTreeMap<String, String>,
    /// Ids and names of creates, and names of renames and connections, that were in doubt and
    /// did not commit: they must never appear.
    never: BTreeSet<String>,
    doubts: Vec<Doubt>,
    connections: Vec<ConnectionModel>,
    /// Keys created, renamed or adopted since the last check, and deletes acknowledged since.
    touched: BTreeSet<String>,
    touched_deletes: BTreeSet<String>,
    counts: Counts,
    errors: Vec<String>,
}

/// The answer to one request, told apart by whether the server could have acted on it.
enum Outcome {
    Answered(Response),
    /// The connection was refused: nothing was sent.
    NotSent,
    /// Sent, but no whole answer came back: it may or may not have committed.
    InDoubt,
}

fn send(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Outcome {
    let auth = if path.starts_with("/api/v2/") {
        BEARER
    } else {
        API_KEY
    };
    let body = body.map(|b| b.to_string().into_bytes());
    let headers = [
        ("Authorization", auth),
        ("Content-Type", "application/json"),
    ];
    match support::try_http(addr, method, path, &headers, body.as_deref()) {
        Ok(response) => {
            let whole = response
                .header("content-length")
                .and_then(|l| l.parse::<usize>().ok())
                .is_none_or(|l| l == response.body.len());
            if whole {
                Outcome::Answered(response)
            } else {
                Outcome::InDoubt
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::NotSent,
        Err(_) => Outcome::InDoubt,
    }
}

/// What a writer does next.
#[derive(Clone, Copy, Debug)]
enum Op {
    Generate,
    GenerateRsa,
    Import,
    Rename,
    Delete,
    /// Create a connection, provision its ring, or rotate it, whichever is next.
    Connection,
    RotateTenant,
}

const MIX: [(Op, u64); 7] = [
    (Op::Generate, 34),
    (Op::GenerateRsa, 1),
    (Op::Import, 14),
    (Op::Rename, 14),
    (Op::Delete, 12),
    (Op::Connection, 9),
    (Op::RotateTenant, 2),
];

/// Algorithms generated in the common case (RSA is [`Op::GenerateRsa`]: slow to make).
const FAST: [&str; 7] = [
    "ES256", "ES384", "ES512", "Ed25519", "HS256", "HS384", "HS512",
];
const RSA: [&str; 6] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
/// Connection signing algorithms, RSA ones rarer.
const RING_ALGS: [&str; 6] = ["ES256", "ES384", "ES256", "ES384", "RS256", "PS256"];

impl Writer {
    fn new(index: usize) -> Self {
        Writer {
            index,
            serial: 0,
            keys: BTreeMap::new(),
            deleted: BTreeMap::new(),
            never: BTreeSet::new(),
            doubts: Vec::new(),
            connections: Vec::new(),
            touched: BTreeSet::new(),
            touched_deletes: BTreeSet::new(),
            counts: Counts::default(),
            errors: Vec::new(),
        }
    }

    fn fresh_name(&mut self, what: &str) -> String {
        self.serial += 1;
        format!("w{}-{}-{what}", self.index, self.serial)
    }

    fn ack(&mut self, op: &'static str) {
        *self.counts.acknowledged.entry(op).or_default() += 1;
    }

    fn unexpected(&mut self, what: &str, response: &Response) {
        self.errors.push(format!(
            "writer {}: {what}: {} {}",
            self.index,
            response.status,
            response.text()
        ));
    }

    /// Changes things until the server dies under it (or `stop`).
    fn run(
        &mut self,
        addr: &str,
        stop: &AtomicBool,
        tenant: &Mutex<TenantModel>,
        rsa_pool: &[String],
        local: &dyn KeyBackend,
        rng: &mut Rng,
    ) {
        let weights: u64 = MIX.iter().map(|(_, w)| w).sum();
        while !stop.load(Ordering::SeqCst) {
            let mut pick = rng.below(weights);
            let mut op = Op::Generate;
            for (candidate, weight) in MIX {
                if pick < weight {
                    op = candidate;
                    break;
                }
                pick -= weight;
            }
            let alive = match op {
                Op::Generate => {
                    let algorithm = *rng.pick(&FAST);
                    self.generate(addr, algorithm, local, rng)
                }
                Op::GenerateRsa => {
                    let algorithm = *rng.pick(&RSA);
                    self.generate(addr, algorithm, local, rng)
                }
                Op::Import => self.import(addr, rsa_pool, local, rng),
                Op::Rename => self.rename(addr, rng),
                Op::Delete => self.delete(addr, rng),
                Op::Connection => self.connection(addr, rng),
                Op::RotateTenant => rotate_tenant(addr, tenant),
            };
            if !alive {
                return;
            }
        }
    }

    /// Handles the answer to a create (generate or import); false when the server is gone.
    fn created(
        &mut self,
        sent: Outcome,
        op: &'static str,
        id: Option<String>,
        name: String,
        import: Option<ImportFacts>,
        local: &dyn KeyBackend,
    ) -> bool {
        match sent {
            Outcome::Answered(r) if r.status == 200 => {
                let key = r.json()["key"].clone();
                let mut known = known_key(&key, local);
                if let Some(facts) = &import {
                    known.secret = facts.secret.clone();
                    known.signs = facts.signs;
                }
                let id = key["id"].as_str().unwrap().to_owned();
                if known.name != name {
                    self.errors
                        .push(format!("{op} {name} answered with the name {}", known.name));
                }
                self.touched.insert(id.clone());
                self.keys.insert(id, known);
                self.ack(op);
                true
            }
            Outcome::Answered(r) if r.status == 503 => {
                self.counts.refused += 1;
                std::thread::sleep(Duration::from_millis(20));
                true
            }
            Outcome::Answered(r) => {
                self.unexpected(&format!("{op} {name}"), &r);
                self.doubts.push(Doubt::Create { id, name, import });
                true
            }
            Outcome::NotSent => false,
            Outcome::InDoubt => {
                self.counts.in_doubt += 1;
                self.doubts.push(Doubt::Create { id, name, import });
                false
            }
        }
    }

    fn generate(
        &mut self,
        addr: &str,
        algorithm: &str,
        local: &dyn KeyBackend,
        rng: &mut Rng,
    ) -> bool {
        let name = self.fresh_name(algorithm);
        let mut body = json!({"key": {"algorithm": algorithm, "name": name}});
        if algorithm.starts_with("RS") || algorithm.starts_with("PS") {
            body["key"]["length"] = json!(2048);
        }
        // Half with an id of the test's choosing (`/generate/{id}`), so a generate in doubt can
        // be looked up by id as well as by name.
        let id = (rng.below(2) == 0).then(|| uuid_of(rng));
        let path = match &id {
            Some(id) => format!("/api/key/generate/{id}"),
            None => "/api/key/generate".to_owned(),
        };
        let sent = send(addr, "POST", &path, Some(&body));
        self.created(sent, "generate", id, name, None, local)
    }

    fn import(
        &mut self,
        addr: &str,
        rsa_pool: &[String],
        local: &dyn KeyBackend,
        rng: &mut Rng,
    ) -> bool {
        let (body, facts, name) = match rng.below(8) {
            // Private keys made here: EC and Ed25519 are quick to make.
            0..=2 => {
                let algorithm = *rng.pick(&[
                    Algorithm::ES256,
                    Algorithm::ES384,
                    Algorithm::ES512,
                    Algorithm::Ed25519,
                ]);
                let name = self.fresh_name(&format!("import-{}", algorithm.as_str()));
                let body = json!({"key": {"name": name, "algorithm": algorithm.as_str(), "privateKey": private_pem(local, algorithm, None)}});
                (
                    body,
                    ImportFacts {
                        secret: None,
                        signs: true,
                    },
                    name,
                )
            }
            // An RSA private key from the pool, under a kid of its own (kids are unique).
            3 => {
                let name = self.fresh_name("import-RS256");
                let body = json!({"key": {"name": name, "algorithm": "RS256", "kid": format!("{name}-kid"), "privateKey": rng.pick(rsa_pool)}});
                (
                    body,
                    ImportFacts {
                        secret: None,
                        signs: true,
                    },
                    name,
                )
            }
            // HMAC secrets the test knows.
            4 | 5 => {
                let (algorithm, bytes) = *rng.pick(&[("HS256", 32), ("HS384", 48), ("HS512", 64)]);
                let name = self.fresh_name(&format!("import-{algorithm}"));
                let secret: String = (0..bytes)
                    .map(|_| char::from(b'a' + rng.below(26) as u8))
                    .collect();
                let body = json!({"key": {"name": name, "algorithm": algorithm, "secret": secret}});
                (
                    body,
                    ImportFacts {
                        secret: Some(secret),
                        signs: true,
                    },
                    name,
                )
            }
            // Public halves only: a public key, or FusionAuth's example certificate.
            6 => {
                let name = self.fresh_name("import-public");
                let generated = local.generate(Algorithm::ES256, None).unwrap();
                let body =
                    json!({"key": {"name": name, "publicKey": generated.public.unwrap().to_pem()}});
                (
                    body,
                    ImportFacts {
                        secret: None,
                        signs: false,
                    },
                    name,
                )
            }
            _ => {
                let name = self.fresh_name("import-certificate");
                let body = json!({"key": {"name": name, "kid": format!("{name}-kid"), "certificate": crate::FA_CERT}});
                (
                    body,
                    ImportFacts {
                        secret: None,
                        signs: false,
                    },
                    name,
                )
            }
        };
        let id = (rng.below(2) == 0).then(|| uuid_of(rng));
        let path = match &id {
            Some(id) => format!("/api/key/import/{id}"),
            None => "/api/key/import".to_owned(),
        };
        let sent = send(addr, "POST", &path, Some(&body));
        self.created(sent, "import", id, name, Some(facts), local)
    }

    /// A random key of this writer's, or `None` if it has none.
    fn any_key(&self, rng: &mut Rng) -> Option<String> {
        if self.keys.is_empty() {
            return None;
        }
        let n = rng.below(self.keys.len() as u64) as usize;
        self.keys.keys().nth(n).cloned()
    }

    fn rename(&mut self, addr: &str, rng: &mut Rng) -> bool {
        let Some(id) = self.any_key(rng) else {
            return true;
        };
        let to = self.fresh_name("renamed");
        let body = json!({"key": {"name": to}});
        match send(addr, "PUT", &format!("/api/key/{id}"), Some(&body)) {
            Outcome::Answered(r) if r.status == 200 => {
                let key = r.json()["key"].clone();
                if key["name"] != to.as_str() || key["id"] != id.as_str() {
                    self.errors
                        .push(format!("rename of {id} to {to} answered {key}"));
                }
                self.keys.get_mut(&id).unwrap().name = to;
                self.touched.insert(id);
                self.ack("rename");
                true
            }
            Outcome::Answered(r) => {
                self.unexpected(&format!("rename {id} to {to}"), &r);
                self.doubts.push(Doubt::Rename { id, to });
                true
            }
            Outcome::NotSent => false,
            Outcome::InDoubt => {
                self.counts.in_doubt += 1;
                self.doubts.push(Doubt::Rename { id, to });
                false
            }
        }
    }

    fn delete(&mut self, addr: &str, rng: &mut Rng) -> bool {
        let Some(id) = self.any_key(rng) else {
            return true;
        };
        match send(addr, "DELETE", &format!("/api/key/{id}"), None) {
            Outcome::Answered(r) if r.status == 200 => {
                let known = self.keys.remove(&id).unwrap();
                self.touched.remove(&id);
                self.touched_deletes.insert(id.clone());
                self.deleted.insert(id, known.kid);
                self.ack("delete");
                true
            }
            Outcome::Answered(r) => {
                self.unexpected(&format!("delete {id}"), &r);
                self.doubts.push(Doubt::Delete { id });
                true
            }
            Outcome::NotSent => false,
            Outcome::InDoubt => {
                self.counts.in_doubt += 1;
                self.doubts.push(Doubt::Delete { id });
                false
            }
        }
    }

    /// Creates a connection, provisions its ring, or rotates it, whichever is next.
    fn connection(&mut self, addr: &str, rng: &mut Rng) -> bool {
        if self.connections.len() < CONNECTIONS_PER_WRITER {
            let name = self.fresh_name("connection");
            let body = json!({"name": name, "strategy": "samlp"});
            return match send(addr, "POST", "/api/v2/connections", Some(&body)) {
                Outcome::Answered(r) if r.status == 201 => {
                    let id = r.json()["id"].as_str().unwrap().to_owned();
                    self.connections.push(ConnectionModel {
                        id,
                        name,
                        ring: RingModel::default(),
                        in_doubt: false,
                    });
                    self.ack("connection");
                    true
                }
                Outcome::Answered(r) => {
                    self.unexpected(&format!("create connection {name}"), &r);
                    // Not retried: `name` stays taken if it did commit.
                    self.doubts.push(Doubt::Connection { name });
                    false
                }
                Outcome::NotSent => false,
                Outcome::InDoubt => {
                    self.counts.in_doubt += 1;
                    self.doubts.push(Doubt::Connection { name });
                    false
                }
            };
        }
        let index = rng.below(self.connections.len() as u64) as usize;
        let connection = self.connections[index].clone();
        if connection.in_doubt {
            return true;
        }
        let alg = *rng.pick(&RING_ALGS);
        if connection.ring.generations == 0 {
            let path = format!("/api/v2/connections/{}/keys", connection.id);
            let body = json!({"signing_alg": alg});
            return match send(addr, "POST", &path, Some(&body)) {
                Outcome::Answered(r) if r.status == 201 => {
                    let keys = r.json();
                    let keys = keys.as_array().unwrap();
                    let ring = &mut self.connections[index].ring;
                    for (generation, flag) in [(1, "current"), (2, "next")] {
                        let key = keys.iter().find(|k| k[flag] == true).unwrap();
                        ring.keys.insert(generation, ring_key_facts(key));
                    }
                    ring.generations = 2;
                    self.ack("provision");
                    true
                }
                Outcome::Answered(r) if r.status == 429 => {
                    self.counts.refused += 1;
                    std::thread::sleep(Duration::from_millis(20));
                    true
                }
                Outcome::Answered(r) => {
                    self.unexpected(&format!("provision {}", connection.id), &r);
                    self.connections[index].in_doubt = true;
                    false
                }
                Outcome::NotSent => false,
                Outcome::InDoubt => {
                    self.counts.in_doubt += 1;
                    self.connections[index].in_doubt = true;
                    false
                }
            };
        }
        let path = format!("/api/v2/connections/{}/keys/rotate", connection.id);
        // Mostly with no body (as the SDK sends it), sometimes changing the algorithm.
        let body = (rng.below(4) == 0).then(|| json!({"signing_alg": alg}));
        match send(addr, "POST", &path, body.as_ref()) {
            Outcome::Answered(r) if r.status == 201 => {
                let key = r.json();
                let ring = &mut self.connections[index].ring;
                ring.generations += 1;
                ring.keys.insert(ring.generations, ring_key_facts(&key));
                self.ack("rotate");
                true
            }
            Outcome::Answered(r) if r.status == 429 => {
                self.counts.refused += 1;
                std::thread::sleep(Duration::from_millis(20));
                true
            }
            Outcome::Answered(r) => {
                self.unexpected(&format!("rotate {}", connection.id), &r);
                self.connections[index].in_doubt = true;
                false
            }
            Outcome::NotSent => false,
            Outcome::InDoubt => {
                self.counts.in_doubt += 1;
                self.connections[index].in_doubt = true;
                false
            }
        }
    }
}

/// Provisions (first use) or rotates the tenant's signing keys. The tenant model's lock is held
/// across the request, so the writers' tenant changes are told in order.
fn rotate_tenant(addr: &str, tenant: &Mutex<TenantModel>) -> bool {
    let mut tenant = tenant.lock().unwrap();
    if tenant.in_doubt {
        return true;
    }
    let (method, path, expected) = match tenant.ring {
        None => ("GET", "/api/v2/keys/signing", 200),
        Some(_) => ("POST", "/api/v2/keys/signing/rotate", 201),
    };
    match send(addr, method, path, None) {
        Outcome::Answered(r) if r.status == expected => {
            let answer = r.json();
            match &mut tenant.ring {
                None => {
                    let keys = answer.as_array().unwrap();
                    let mut ring = RingModel {
                        generations: 2,
                        ..Default::default()
                    };
                    for (generation, flag) in [(1, "current"), (2, "next")] {
                        let key = keys.iter().find(|k| k[flag] == true).unwrap();
                        ring.keys.insert(generation, ring_key_facts(key));
                    }
                    tenant.ring = Some(ring);
                }
                Some(ring) => {
                    ring.generations += 1;
                    ring.keys.insert(ring.generations, ring_key_facts(&answer));
                }
            }
            *tenant
                .acknowledged
                .acknowledged
                .entry("tenant")
                .or_default() += 1;
            true
        }
        Outcome::Answered(r) if r.status == 429 => {
            tenant.acknowledged.refused += 1;
            true
        }
        Outcome::Answered(r) => {
            tenant
                .errors
                .push(format!("{method} {path}: {} {}", r.status, r.text()));
            tenant.in_doubt = true;
            false
        }
        Outcome::InDoubt => {
            tenant.acknowledged.in_doubt += 1;
            tenant.in_doubt = true;
            false
        }
        Outcome::NotSent => false,
    }
}

/// A ring key's kid and certificate, from an Auth0 answer.
fn ring_key_facts(key: &Value) -> (String, String) {
    (
        key["kid"].as_str().unwrap().to_owned(),
        key["cert"].as_str().unwrap().to_owned(),
    )
}

/// What the model keeps of a key object.
fn known_key(key: &Value, local: &dyn KeyBackend) -> KnownKey {
    KnownKey {
        name: key["name"].as_str().unwrap().to_owned(),
        kid: key["kid"].as_str().unwrap().to_owned(),
        hash: content_hash(key, local),
        algorithm: key["algorithm"].as_str().unwrap().to_owned(),
        public_key: key["publicKey"].as_str().map(str::to_owned),
        secret: None,
        signs: key["type"] == "HMAC" || key["hasPrivateKey"] == true,
        hmac_signature: None,
    }
}

/// SHA-256 of everything in a key object that no change may touch: all but the name and
/// `lastUpdateInstant`.
fn content_hash(key: &Value, local: &dyn KeyBackend) -> Vec<u8> {
    let mut fixed = key.as_object().unwrap().clone();
    fixed.remove("name");
    fixed.remove("lastUpdateInstant");
    local
        .digest(
            HashAlgorithm::Sha256,
            Value::Object(fixed).to_string().as_bytes(),
        )
        .unwrap()
}

// ---- the check after a restart ----

/// Checks everything the writers were told against the restarted server, and adopts what the
/// server shows for changes in doubt.
fn verify(
    server: &Server,
    local: &dyn KeyBackend,
    writers: &mut [Writer],
    tenant: &Mutex<TenantModel>,
    rng: &mut Rng,
) -> Findings {
    let mut findings = Findings::default();
    let listing = server.call("GET", "/api/key", None);
    if listing.status != 200 {
        findings.unopenable(format!(
            "GET /api/key: {} {}",
            listing.status,
            listing.text()
        ));
        return findings;
    }
    let mut listed: HashMap<String, Value> = HashMap::new();
    let mut by_name: HashMap<String, String> = HashMap::new();
    for key in listing.json()["keys"].as_array().unwrap() {
        let id = key["id"].as_str().unwrap().to_owned();
        by_name.insert(key["name"].as_str().unwrap().to_owned(), id.clone());
        listed.insert(id, key.clone());
    }
    findings.stored = listed.len() as u64;
    let connections = server.raw(
        "GET",
        "/api/v2/connections?per_page=100",
        &[("Authorization", BEARER)],
        None,
    );
    assert_eq!(connections.status, 200, "{}", connections.text());
    let connections: HashMap<String, String> = connections
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Keys and connections the checks below account for; any other is one nobody was told about.
    let mut accounted: BTreeSet<String> = BTreeSet::new();
    let mut accounted_connections: BTreeSet<String> = BTreeSet::new();

    for writer in writers.iter_mut() {
        resolve_doubts(
            writer,
            &listed,
            &by_name,
            &connections,
            local,
            &mut findings,
        );
        for (id, known) in &writer.keys {
            accounted.insert(id.clone());
            let Some(key) = listed.get(id) else {
                findings.lost(format!(
                    "{} ({id}, kid {}) was acknowledged",
                    known.name, known.kid
                ));
                continue;
            };
            if key["kid"] != known.kid.as_str() || content_hash(key, local) != known.hash {
                findings.altered(format!(
                    "{id}: listed as {key}, acknowledged with kid {}",
                    known.kid
                ));
            }
            if key["name"] != known.name.as_str() {
                findings.altered(format!(
                    "{id}: named {}, acknowledged as {}",
                    key["name"], known.name
                ));
            }
        }
        // (Each key found here is reported once: it counts as accounted for below.)
        for (id, kid) in &writer.deleted {
            if listed.contains_key(id) {
                findings.resurrected(format!("{id} (kid {kid}): its delete was acknowledged"));
                accounted.insert(id.clone());
            }
        }
        for gone in &writer.never {
            let id = by_name.get(gone).unwrap_or(gone);
            if listed.contains_key(id) || connections.contains_key(gone) {
                findings.resurrected(format!(
                    "{gone}: a change in doubt that an earlier restart showed absent"
                ));
                accounted.insert(id.clone());
            }
        }
        for connection in &mut writer.connections {
            if connections.get(&connection.name) != Some(&connection.id) {
                findings.lost(format!(
                    "connection {} ({}) was acknowledged",
                    connection.name, connection.id
                ));
            }
            accounted_connections.insert(connection.id.clone());
            let path = format!("/api/v2/connections/{}/keys", connection.id);
            check_ring(
                server,
                local,
                &RingOwner {
                    what: format!("connection {}", connection.id),
                    prefix: format!("Connection {} signing key #", connection.id),
                    roles_path: path,
                    keeps_old: false,
                },
                &mut connection.ring,
                std::mem::take(&mut connection.in_doubt),
                &listed,
                &mut accounted,
                &mut findings,
            );
        }
    }
    for (name, id) in &connections {
        if !accounted_connections.contains(id) {
            findings.resurrected(format!(
                "connection {name} ({id}): nobody was told about it"
            ));
        }
    }

    {
        let mut tenant = tenant.lock().unwrap();
        let in_doubt = std::mem::take(&mut tenant.in_doubt);
        let owner = RingOwner {
            what: "the tenant".into(),
            prefix: "Tenant signing key #".into(),
            roles_path: "/api/v2/keys/signing".into(),
            keeps_old: true,
        };
        let stored = listed
            .values()
            .any(|k| k["name"].as_str().unwrap().starts_with(&owner.prefix));
        // Asking for the tenant's keys makes them: only asked once they were made.
        if tenant.ring.is_some() || stored {
            let mut ring = tenant.ring.take().unwrap_or_default();
            check_ring(
                server,
                local,
                &owner,
                &mut ring,
                in_doubt,
                &listed,
                &mut accounted,
                &mut findings,
            );
            tenant.ring = (ring.generations > 0).then_some(ring);
        }
    }

    for (id, key) in &listed {
        if !accounted.contains(id) {
            findings.resurrected(format!("{key}: a key nobody was told about"));
        }
    }

    // Every key touched in the last cycle, and a few older ones, is read alone and signs;
    // every delete of the last cycle, and a few older ones, is read and still 404.
    for writer in writers.iter_mut() {
        let mut sample: BTreeSet<String> = std::mem::take(&mut writer.touched);
        for _ in 0..OLDER_KEYS_SIGNED {
            if let Some(id) = writer.any_key(rng) {
                sample.insert(id);
            }
        }
        for id in sample {
            if let (Some(known), Some(key)) = (writer.keys.get_mut(&id), listed.get(&id)) {
                check_key_works(server, local, &id, known, key, &mut findings);
            }
        }
        let mut deletes: BTreeSet<String> = std::mem::take(&mut writer.touched_deletes);
        let older: Vec<&String> = writer.deleted.keys().collect();
        for _ in 0..OLDER_DELETES_READ.min(older.len()) {
            deletes.insert(older[rng.below(older.len() as u64) as usize].clone());
        }
        for id in deletes.into_iter().filter(|id| !listed.contains_key(id)) {
            let response = server.call("GET", &format!("/api/key/{id}"), None);
            match response.status {
                404 => {}
                500 => findings.unopenable(format!("GET /api/key/{id} (deleted): 500")),
                _ => findings.resurrected(format!(
                    "GET /api/key/{id} after its acknowledged delete: {} {}",
                    response.status,
                    response.text()
                )),
            }
        }
    }
    findings
}

/// Settles each change in doubt by what the restarted server shows, which must then stay.
fn resolve_doubts(
    writer: &mut Writer,
    listed: &HashMap<String, Value>,
    by_name: &HashMap<String, String>,
    connections: &HashMap<String, String>,
    local: &dyn KeyBackend,
    findings: &mut Findings,
) {
    for doubt in std::mem::take(&mut writer.doubts) {
        match doubt {
            Doubt::Create { id, name, import } => {
                let found = match &id {
                    Some(id) => listed.get(id),
                    None => by_name.get(&name).and_then(|id| listed.get(id)),
                };
                match found {
                    Some(key) => {
                        if key["name"] != name.as_str() {
                            findings.altered(format!("a create in doubt of {name} shows {key}"));
                        }
                        let mut known = known_key(key, local);
                        if let Some(facts) = import {
                            known.secret = facts.secret;
                            known.signs = facts.signs;
                        }
                        let id = key["id"].as_str().unwrap().to_owned();
                        writer.touched.insert(id.clone());
                        writer.keys.insert(id, known);
                    }
                    None => {
                        writer.never.extend(id);
                        writer.never.insert(name);
                    }
                }
            }
            Doubt::Rename { id, to } => {
                if let (Some(known), Some(key)) = (writer.keys.get_mut(&id), listed.get(&id)) {
                    if key["name"] == to.as_str() {
                        known.name = to;
                    } else {
                        writer.never.insert(to);
                    }
                    writer.touched.insert(id);
                }
            }
            Doubt::Delete { id } => {
                if !listed.contains_key(&id)
                    && let Some(known) = writer.keys.remove(&id)
                {
                    writer.touched.remove(&id);
                    writer.touched_deletes.insert(id.clone());
                    writer.deleted.insert(id, known.kid);
                }
            }
            Doubt::Connection { name } => match connections.get(&name) {
                Some(id) => writer.connections.push(ConnectionModel {
                    id: id.clone(),
                    name,
                    ring: RingModel::default(),
                    in_doubt: false,
                }),
                None => {
                    writer.never.insert(name);
                }
            },
        }
    }
}

/// Whose ring, how its keys are named, where its roles are read, and whether keys that leave
/// it stay stored (the tenant's, revoked) or are deleted (a connection's).
struct RingOwner {
    what: String,
    prefix: String,
    roles_path: String,
    keeps_old: bool,
}

/// One ring: exactly the generations its acknowledged changes made (one step more if a change
/// was in doubt), each acknowledged key unchanged, one current and one next key (and the
/// previous one), every ring key stored and nothing else of it; its current key signs. Adopts
/// what the server shows for a change in doubt.
#[allow(clippy::too_many_arguments)]
fn check_ring(
    server: &Server,
    local: &dyn KeyBackend,
    owner: &RingOwner,
    ring: &mut RingModel,
    in_doubt: bool,
    listed: &HashMap<String, Value>,
    accounted: &mut BTreeSet<String>,
    findings: &mut Findings,
) {
    let what = &owner.what;
    // The ring's keys in the store, by number.
    let mut stored: BTreeMap<u64, &Value> = BTreeMap::new();
    for key in listed.values() {
        if let Some(number) = key["name"].as_str().unwrap().strip_prefix(&owner.prefix) {
            accounted.insert(key["id"].as_str().unwrap().to_owned());
            stored.insert(number.parse().unwrap(), key);
        }
    }
    let newest = stored.keys().next_back().copied().unwrap_or(0);
    let acknowledged = ring.generations;
    let possible: &[u64] = match (in_doubt, acknowledged) {
        (false, g) => &[g],
        (true, 0) => &[0, 2],
        (true, g) => &[g, g + 1],
    };
    if !possible.contains(&newest) {
        let message = format!(
            "{what}: {acknowledged} keys acknowledged{}, the newest stored is #{newest}",
            if in_doubt {
                " (one change in doubt)"
            } else {
                ""
            }
        );
        if newest < acknowledged {
            findings.lost(message);
        } else {
            findings.resurrected(message);
        }
        return;
    }
    if newest == 0 {
        return;
    }
    let window: Vec<u64> = if owner.keeps_old {
        (1..=newest).collect()
    } else {
        (newest.saturating_sub(2).max(1)..=newest).collect()
    };
    let numbers: Vec<u64> = stored.keys().copied().collect();
    if numbers != window {
        findings.broken_ring(format!(
            "{what}: stores keys {numbers:?}, a ring at #{newest} is {window:?}"
        ));
        return;
    }
    let response = server.raw("GET", &owner.roles_path, &[("Authorization", BEARER)], None);
    if response.status != 200 {
        findings.broken_ring(format!(
            "{what}: GET {}: {} {}",
            owner.roles_path,
            response.status,
            response.text()
        ));
        return;
    }
    let roles = response.json();
    let roles: Vec<&Value> = roles
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k.get("key_use").is_none_or(|u| u == "signing"))
        .collect();
    let kid_of = |n: u64| stored[&n]["kid"].as_str().unwrap();
    let with = |flag: &str| -> Vec<&str> {
        roles
            .iter()
            .filter(|k| k[flag] == true)
            .map(|k| k["kid"].as_str().unwrap())
            .collect()
    };
    let mut expected_roles = vec![
        ("current", vec![kid_of(newest - 1)]),
        ("next", vec![kid_of(newest)]),
        (
            "previous",
            if newest >= 3 {
                vec![kid_of(newest - 2)]
            } else {
                vec![]
            },
        ),
    ];
    if owner.keeps_old {
        expected_roles.push((
            "revoked",
            (1..newest.saturating_sub(2)).map(kid_of).collect(),
        ));
    }
    for (flag, expected) in &expected_roles {
        let mut shown = with(flag);
        shown.sort_unstable();
        let mut expected = expected.clone();
        expected.sort_unstable();
        if shown != expected {
            findings.broken_ring(format!(
                "{what}: {flag} keys {shown:?}, the store says {expected:?}"
            ));
        }
    }
    if roles.len() as u64 != window.len() as u64 {
        findings.broken_ring(format!(
            "{what}: lists {} keys, the store has {}",
            roles.len(),
            window.len()
        ));
    }
    let cert_of = |kid: &str| {
        roles
            .iter()
            .find(|k| k["kid"] == kid)
            .and_then(|k| k["cert"].as_str())
            .map(str::to_owned)
    };
    for (number, (kid, cert)) in &ring.keys {
        match stored.get(number) {
            Some(key) => {
                if key["kid"] != kid.as_str() || cert_of(kid).as_ref() != Some(cert) {
                    findings.altered(format!(
                        "{what}: key #{number} acknowledged as kid {kid}, stored as {}",
                        key["kid"]
                    ));
                }
            }
            None => {
                // Rotated out (a connection's ring deletes the key): it must be gone.
                if listed.values().any(|k| k["kid"] == kid.as_str()) {
                    findings.resurrected(format!(
                        "{what}: key #{number} ({kid}) left the ring and is still stored"
                    ));
                }
            }
        }
    }
    // Adopt what a change in doubt left, so it must stay from now on.
    ring.generations = newest;
    for number in window {
        let kid = kid_of(number);
        if let Some(cert) = cert_of(kid) {
            ring.keys.entry(number).or_insert((kid.to_owned(), cert));
        }
    }
    // The current key signs, checked with its stored public key.
    let current = stored[&(newest - 1)];
    let id = current["id"].as_str().unwrap();
    let mut known = known_key(current, local);
    check_key_works(server, local, id, &mut known, current, findings);
}

/// Reads the key alone (it must equal its listing) and, if it has a private half, signs with
/// it; the signature is checked with the acknowledged public key, the imported HMAC secret, or
/// (a generated HMAC key) the key's first signature. A key without one must refuse to sign.
fn check_key_works(
    server: &Server,
    local: &dyn KeyBackend,
    id: &str,
    known: &mut KnownKey,
    listed: &Value,
    findings: &mut Findings,
) {
    let one = server.call("GET", &format!("/api/key/{id}"), None);
    match one.status {
        200 if one.json()["key"] == *listed => {}
        200 => findings.altered(format!(
            "GET /api/key/{id} shows {}, the listing {listed}",
            one.text()
        )),
        404 => findings.lost(format!("GET /api/key/{id}: 404, but it is listed")),
        status => findings.unopenable(format!("GET /api/key/{id}: {status} {}", one.text())),
    }
    let payload = URL_SAFE_NO_PAD.encode(PAYLOAD);
    let signed = server.call(
        "POST",
        &format!("/api/key/{id}/sign"),
        Some(json!({ "payload": payload })),
    );
    if !known.signs {
        if signed.status != 400 {
            findings.unopenable(format!(
                "{id} has no private half, and sign answered {} {}",
                signed.status,
                signed.text()
            ));
        }
        return;
    }
    if signed.status != 200 {
        findings.unopenable(format!(
            "{} ({id}, {}) cannot sign: {} {}",
            known.name,
            known.algorithm,
            signed.status,
            signed.text()
        ));
        return;
    }
    findings.signed += 1;
    let signature = signed.json()["signature"].as_str().unwrap().to_owned();
    let bytes = URL_SAFE_NO_PAD.decode(&signature).unwrap();
    let algorithm: Algorithm = known.algorithm.parse().unwrap();
    let valid = if let Some(pem) = &known.public_key {
        let public = keysmith_crypto::import::decode_public_key(local, pem).unwrap();
        local
            .verifying_key(algorithm, VerifyingMaterial::PublicKey(&public.spki_der))
            .unwrap()
            .verify(PAYLOAD, &bytes)
    } else if let Some(secret) = &known.secret {
        local
            .verifying_key(algorithm, VerifyingMaterial::HmacSecret(secret.as_bytes()))
            .unwrap()
            .verify(PAYLOAD, &bytes)
    } else {
        // A generated HMAC key: HMAC is deterministic, so it must sign as it did before.
        known.hmac_signature.get_or_insert(signature.clone()) == &signature
    };
    if !valid {
        findings.unopenable(format!(
            "{} ({id}, {}): its signature does not verify with what was acknowledged",
            known.name, known.algorithm
        ));
    }
}

// ---- small helpers ----

fn private_pem(local: &dyn KeyBackend, algorithm: Algorithm, length: Option<u32>) -> String {
    let generated = local.generate(algorithm, length).unwrap();
    keysmith_crypto::pem::encode(
        "PRIVATE KEY",
        generated.private.expose(),
        keysmith_crypto::pem::LineEnding::Lf,
    )
}

/// A random version-4 UUID.
fn uuid_of(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// SplitMix64: small, seedable, good enough to choose operations and moments.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}
