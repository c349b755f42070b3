//! Nothing acknowledged is lost: the key service driven by a seeded random mix of every kind of
//! change, over a simulated disk that loses power at a chosen sync (the writes since the last
//! sync lost, or torn) or fails a chosen write, `set_len` or sync. After each fault the store
//! is reopened and compared with what was acknowledged before it:
//! - every acknowledged change is there, byte for byte; nothing acknowledged as deleted is back;
//! - the one change that was in flight is either wholly there or wholly absent;
//! - every secret opens, every ring has its current and next keys, redb's integrity check
//!   passes, and the store takes writes again.
//!
//! `cargo test` sweeps a bounded set of fault points on both backends; `just reliability-sweep`
//! (`KS_SWEEP=full`) sweeps every one. A failure prints the seed and the fault point; rerun one
//! with `KS_SWEEP_SEED`.

// Test code: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use keysmith_core::{
    ConnectionFields, GenerateRequest, ImportRequest, KeyService, RotationPolicy, ServiceConfig,
    ServiceError,
};
use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_model::{Algorithm, ApiKeyRecord, KeyId, KeyUse};
use keysmith_store::prelude::*;
use keysmith_store::testing::{FaultPlan, FaultyBackend, IoCall, Loss, SimulatedDisk, SplitMix};
use keysmith_store::{KeyStore, RedbStore, error_chain};
use serde_json::{Value, json};

mod common;
use common::backends;

fn full_sweep() -> bool {
    std::env::var("KS_SWEEP").is_ok_and(|v| v == "full")
}

/// One change the workload makes.
#[derive(Clone, Debug)]
enum Op {
    Generate { algorithm: Algorithm, name: String },
    ImportSecret { name: String, secret: String },
    ImportPrivate { name: String, pem: String },
    Rename { id: KeyId, name: String },
    Delete { id: KeyId },
    Restore { id: KeyId },
    CreateConnection { name: String },
    Provision { connection: String },
    RotateConnection { connection: String },
    RotateTenant,
    RevokeTenant { kid: String },
    AddApiKey { id: uuid::Uuid },
    RemoveApiKey { id: uuid::Uuid },
    RotateMasterKey,
}

/// Everything a client can observe in the store, one entry per record, as JSON.
#[derive(Clone, Debug, Default, PartialEq)]
struct Observed {
    entries: BTreeMap<String, Value>,
    /// Ring storage key → the ids of every key in the ring (any role).
    ring_members: BTreeMap<String, BTreeSet<String>>,
}

impl Observed {
    fn read(store: &dyn KeyStore) -> Result<Self, String> {
        let mut seen = Observed::default();
        for key in store.list().map_err(|e| e.to_string())? {
            let stored = store
                .get(&key.id)
                .map_err(|e| format!("key {}: {e}", key.id))?
                .ok_or_else(|| format!("key {} is listed but cannot be read", key.id))?;
            let private = stored.private.as_ref().map(|p| hex(p.expose()));
            seen.entries.insert(
                format!("key:{}", key.id),
                json!({"key": stored.key, "private": private}),
            );
        }
        for (key, purge_at) in store.deleted_keys().map_err(|e| e.to_string())? {
            seen.entries.insert(
                format!("deleted:{}", key.id),
                json!({"key": key, "purgeAt": purge_at}),
            );
        }
        for (owner, ring) in store.rings().map_err(|e| e.to_string())? {
            let members = ring.keys().map(|(k, _)| k.id.to_string()).collect();
            seen.ring_members.insert(owner.storage_key(), members);
            seen.entries
                .insert(format!("ring:{}", owner.storage_key()), json!(ring));
        }
        for connection in store.connections().map_err(|e| e.to_string())? {
            seen.entries
                .insert(format!("connection:{}", connection.id), json!(connection));
        }
        for record in store.api_key_records().map_err(|e| e.to_string())? {
            seen.entries
                .insert(format!("apikey:{}", record.id), json!(record));
        }
        Ok(seen)
    }

    fn key_ids(&self, prefix: &str) -> Vec<String> {
        self.entries
            .keys()
            .filter_map(|k| k.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }

    /// Whole rings: current and next keys present as live keys with the ring's kids.
    fn check_rings(&self) -> Result<(), String> {
        for (name, ring) in &self.entries {
            if !name.starts_with("ring:") {
                continue;
            }
            for role in ["current", "next"] {
                let id = ring[role]["id"]
                    .as_str()
                    .ok_or(format!("{name}: no {role} key"))?;
                let key = self
                    .entries
                    .get(&format!("key:{id}"))
                    .ok_or(format!("{name}: its {role} key {id} is missing"))?;
                if key["key"]["kid"] != ring[role]["kid"] {
                    return Err(format!("{name}: its {role} key has another kid"));
                }
            }
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `op`, in flight when the fault came, may explain a difference in `entry` between
/// what was acknowledged before it (`before`) and what was recovered (`after`).
fn in_flight_may_change(op: &Op, entry: &str, before: &Observed, after: &Observed) -> bool {
    let new_record_named = |prefix: &str, field: &[&str], name: &str| {
        entry.starts_with(prefix)
            && !before.entries.contains_key(entry)
            && after.entries.get(entry).is_some_and(|v| {
                field
                    .iter()
                    .try_fold(v, |v, f| v.get(*f))
                    .is_some_and(|n| n == name)
            })
    };
    let ring_change = |owner: &str| {
        let ring = format!("ring:{owner}");
        entry == ring || {
            let members = |o: &Observed| o.ring_members.get(owner).cloned().unwrap_or_default();
            let id = entry
                .strip_prefix("key:")
                .or_else(|| entry.strip_prefix("deleted:"));
            id.is_some_and(|id| members(before).contains(id) || members(after).contains(id))
        }
    };
    match op {
        Op::Generate { name, .. }
        | Op::ImportSecret { name, .. }
        | Op::ImportPrivate { name, .. } => new_record_named("key:", &["key", "name"], name),
        Op::Rename { id, .. } => entry == format!("key:{id}"),
        Op::Delete { id } | Op::Restore { id } => {
            entry == format!("key:{id}")
                || entry == format!("deleted:{id}")
                || entry.starts_with("ring:")
        }
        Op::CreateConnection { name } => new_record_named("connection:", &["name"], name),
        Op::Provision { connection } | Op::RotateConnection { connection } => ring_change(
            &keysmith_model::RingOwner::connection(connection, KeyUse::Signing).storage_key(),
        ),
        Op::RotateTenant | Op::RevokeTenant { .. } => {
            ring_change(&keysmith_model::RingOwner::Tenant.storage_key())
        }
        Op::AddApiKey { id } | Op::RemoveApiKey { id } => entry == format!("apikey:{id}"),
        // Re-sealing changes no plaintext.
        Op::RotateMasterKey => false,
    }
}

/// The open store and the service over it.
struct World {
    store: Arc<RedbStore>,
    service: KeyService,
}

struct Harness {
    backend: Arc<dyn KeyBackend>,
    /// PKCS#8 PEMs to import (RSA keys are slow to make, so a few are made once).
    rsa_pems: Vec<String>,
}

fn config() -> ServiceConfig {
    ServiceConfig {
        deletion_window_seconds: 3_600,
        rotation: RotationPolicy {
            tenant_signing_alg: Algorithm::ES256,
            ..RotationPolicy::default()
        },
        ..ServiceConfig::default()
    }
}

fn pkcs8_pem(backend: &dyn KeyBackend, algorithm: Algorithm) -> String {
    let length = (algorithm == Algorithm::RS256).then_some(2048);
    let generated = backend.generate(algorithm, length).unwrap();
    let private = generated.private;
    keysmith_crypto::pem::encode(
        "PRIVATE KEY",
        private.expose(),
        keysmith_crypto::pem::LineEnding::Lf,
    )
}

impl Harness {
    fn new(backend: Arc<dyn KeyBackend>) -> Self {
        let rsa_pems = (0..2)
            .map(|_| pkcs8_pem(&*backend, Algorithm::RS256))
            .collect();
        Harness { backend, rsa_pems }
    }

    fn sealer(&self, masters: &[[u8; 32]]) -> Arc<Envelope> {
        let keys = masters
            .iter()
            .map(|bytes| MasterKey::from_bytes(&*self.backend, bytes).unwrap())
            .collect();
        Arc::new(Envelope::new(self.backend.clone(), keys).unwrap())
    }

    fn open(
        &self,
        disk: &SimulatedDisk,
        plan: &Arc<FaultPlan>,
        masters: &[[u8; 32]],
    ) -> Result<World, String> {
        let store = RedbStore::open_with_backend(
            FaultyBackend::new(disk.clone(), plan.clone()),
            self.sealer(masters),
        )
        .map_err(|e| format!("open: {}", error_chain(&e)))?;
        Ok(self.world(store))
    }

    fn world(&self, store: RedbStore) -> World {
        let store = Arc::new(store);
        let service = KeyService::new(self.backend.clone(), store.clone(), config());
        World { store, service }
    }

    /// Picks the next change from what is observed now.
    fn choose(&self, random: &mut SplitMix, seen: &Observed, step: usize) -> Op {
        let pick = |random: &mut SplitMix, list: Vec<String>| -> Option<String> {
            (!list.is_empty()).then(|| list[random.below(list.len() as u64) as usize].clone())
        };
        let keys = seen.key_ids("key:");
        let connections = seen.key_ids("connection:");
        let name = format!("k{step}-{}", random.below(1_000));
        loop {
            let op = match random.below(20) {
                0..=4 => Op::Generate {
                    algorithm: [
                        Algorithm::ES256,
                        Algorithm::ES384,
                        Algorithm::Ed25519,
                        Algorithm::HS256,
                        Algorithm::HS512,
                    ][random.below(5) as usize],
                    name: name.clone(),
                },
                5 => Op::ImportSecret {
                    name: name.clone(),
                    secret: format!("secret-{}", random.next_u64()),
                },
                6 => Op::ImportPrivate {
                    name: name.clone(),
                    pem: if random.below(3) == 0 {
                        self.rsa_pems[random.below(2) as usize].clone()
                    } else {
                        pkcs8_pem(&*self.backend, Algorithm::ES256)
                    },
                },
                7 | 8 => match pick(random, keys.clone()) {
                    // Sometimes to a taken name: an acknowledged refusal.
                    Some(id) => Op::Rename {
                        id: id.parse().unwrap(),
                        name: if random.below(4) == 0 {
                            pick(random, keys.clone())
                                .and_then(|other| {
                                    seen.entries[&format!("key:{other}")]["key"]["name"]
                                        .as_str()
                                        .map(str::to_owned)
                                })
                                .unwrap_or(name.clone())
                        } else {
                            format!("{name}-renamed")
                        },
                    },
                    None => continue,
                },
                9 | 10 => match pick(random, keys.clone()) {
                    Some(id) => Op::Delete {
                        id: id.parse().unwrap(),
                    },
                    None => continue,
                },
                11 => match pick(random, seen.key_ids("deleted:")) {
                    Some(id) => Op::Restore {
                        id: id.parse().unwrap(),
                    },
                    None => continue,
                },
                12 => Op::CreateConnection { name: name.clone() },
                13 => match pick(random, connections.clone()) {
                    Some(connection) => Op::Provision { connection },
                    None => continue,
                },
                14 => match pick(random, connections.clone()) {
                    Some(connection) => Op::RotateConnection { connection },
                    None => continue,
                },
                15 => Op::RotateTenant,
                16 => {
                    let tenant = keysmith_model::RingOwner::Tenant.storage_key();
                    match seen.entries.get(&format!("ring:{tenant}")) {
                        Some(ring) if ring["previous"]["kid"].is_string() => Op::RevokeTenant {
                            kid: ring["previous"]["kid"].as_str().unwrap().to_owned(),
                        },
                        _ => continue,
                    }
                }
                17 => Op::AddApiKey {
                    id: uuid::Uuid::from_u64_pair(random.next_u64(), random.next_u64()),
                },
                18 => match pick(random, seen.key_ids("apikey:")) {
                    Some(id) => Op::RemoveApiKey {
                        id: id.parse().unwrap(),
                    },
                    None => continue,
                },
                _ => Op::RotateMasterKey,
            };
            return op;
        }
    }

    /// Applies `op`. `Err` carries the service's error (a refusal or a storage failure).
    fn apply(&self, world: &World, op: &Op) -> Result<(), ServiceError> {
        let service = &world.service;
        match op {
            Op::Generate { algorithm, name } => service
                .keys()
                .generate(
                    None,
                    &GenerateRequest {
                        algorithm: Some(algorithm.as_str()),
                        name: Some(name),
                        ..GenerateRequest::default()
                    },
                )
                .map(drop),
            Op::ImportSecret { name, secret } => service
                .keys()
                .import(
                    None,
                    &ImportRequest {
                        algorithm: Some("HS256"),
                        name: Some(name),
                        secret: Some(secret),
                        ..ImportRequest::default()
                    },
                )
                .map(drop),
            Op::ImportPrivate { name, pem } => service
                .keys()
                .import(
                    None,
                    &ImportRequest {
                        name: Some(name),
                        private_key: Some(pem),
                        ..ImportRequest::default()
                    },
                )
                .map(drop),
            Op::Rename { id, name } => service.keys().rename(id, Some(name)).map(drop),
            Op::Delete { id } => service.keys().delete(id),
            Op::Restore { id } => service.keys().restore(id).map(drop),
            Op::CreateConnection { name } => service
                .connections()
                .create(ConnectionFields {
                    name: Some(name.clone()),
                    strategy: Some("auth0".into()),
                    ..ConnectionFields::default()
                })
                .map(drop),
            Op::Provision { connection } => service
                .connections()
                .provision(connection, Some("ES256"), KeyUse::Signing)
                .map(drop),
            Op::RotateConnection { connection } => service
                .connections()
                .rotate(connection, None, KeyUse::Signing)
                .map(drop),
            Op::RotateTenant => service.tenant_keys().rotate().map(drop),
            Op::RevokeTenant { kid } => service.tenant_keys().revoke(kid).map(drop),
            Op::AddApiKey { id } => Ok(world.store.add_api_key_record(&ApiKeyRecord {
                id: *id,
                name: format!("ci-{id}"),
                sha256: hex(&id.as_u128().to_be_bytes()).repeat(2),
                permissions: vec!["keys:GET".into()],
                created_at: 1_700_000_000_000,
            })?),
            Op::RemoveApiKey { id } => world
                .store
                .remove_api_key_record(id)
                .map(drop)
                .map_err(Into::into),
            // Handled by `run`: it closes and reopens the store.
            Op::RotateMasterKey => unreachable!("run rotates the master key itself"),
        }
    }
}

/// How a run ends: the fault came during `in_flight`, after `acknowledged` was observed.
struct Interrupted {
    in_flight: Op,
    acknowledged: Observed,
    masters: Vec<[u8; 32]>,
    /// The error the in-flight change answered with.
    answer: String,
}

/// Where the fault is injected.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The power goes at this sync (counted from the first change).
    PowerLoss { sync: u64, loss: Loss },
    /// This call fails once (counted from the first change).
    Io { call: IoCall, nth: u64 },
    /// The disk fills once the file has grown by this many bytes.
    DiskFull { grow: u64 },
}

/// What a run did: the interruption, if the fault came, and the fault points it passed.
struct RunEnd {
    interrupted: Option<Interrupted>,
    /// Syncs, and calls of each `IoCall`, made after the first open.
    syncs: u64,
    calls: Vec<(IoCall, u64)>,
    /// How much the file grew.
    grown: u64,
}

/// Runs `ops` changes from `seed` until the fault interrupts one.
fn run(
    harness: &Harness,
    seed: u64,
    ops: usize,
    disk: &SimulatedDisk,
    fault: Option<Fault>,
) -> Result<RunEnd, String> {
    let plan = FaultPlan::new();
    let mut masters = vec![[seed as u8; 32]];
    let mut world = Some(harness.open(disk, &plan, &masters)?);
    let syncs_at_start = disk.syncs();
    let len_at_start = disk.file_len();
    let calls_at_start: Vec<(IoCall, u64)> =
        IoCall::ALL.iter().map(|&c| (c, plan.calls(c))).collect();
    match fault {
        Some(Fault::PowerLoss { sync, .. }) => disk.cut_power_at_sync(syncs_at_start + sync),
        Some(Fault::Io { call, nth }) => plan.fail(call, nth),
        Some(Fault::DiskFull { grow }) => plan.set_capacity(disk.file_len() + grow),
        None => {}
    }
    let end = |interrupted, disk: &SimulatedDisk| RunEnd {
        interrupted,
        grown: disk.file_len().saturating_sub(len_at_start),
        syncs: disk.syncs() - syncs_at_start,
        calls: calls_at_start
            .iter()
            .map(|&(c, n)| (c, plan.calls(c) - n))
            .collect(),
    };
    let mut random = SplitMix(seed);
    let mut acknowledged = Observed::read(&*world.as_ref().unwrap().store)?;
    let mut closed_with_fault = false;
    for step in 0..ops {
        let op = harness.choose(&mut random, &acknowledged, step);
        let answer = match &op {
            Op::RotateMasterKey => {
                // As `keysmith master-key rotate` does: a new sealing key, the old ones still
                // configured, every sealed value re-wrapped in one transaction.
                let mut bytes = [0u8; 32];
                for chunk in bytes.chunks_mut(8) {
                    chunk.copy_from_slice(&random.next_u64().to_le_bytes());
                }
                masters.insert(0, bytes);
                drop(world.take());
                // A fault in closing (redb's clean-shutdown write) loses nothing: the next open
                // repairs. The workload goes on, its one fault spent.
                closed_with_fault = !disk.powered_off() && plan.fired();
                match harness.open(disk, &plan, &masters) {
                    Ok(reopened) => {
                        let answer = reopened.store.rewrap_secrets().map(drop);
                        world = Some(reopened);
                        answer.map_err(ServiceError::from)
                    }
                    Err(e) => Err(ServiceError::internal(std::io::Error::other(e))),
                }
            }
            op => harness.apply(world.as_ref().unwrap(), op),
        };
        let faulted = disk.powered_off() || (plan.fired() && !closed_with_fault);
        match answer {
            Err(err) if faulted => {
                // The store must now refuse every write until it is reopened, and say so.
                if let (false, Some(world)) = (disk.powered_off(), &world) {
                    check_fails_closed(world)?;
                }
                drop(world);
                return Ok(end(
                    Some(Interrupted {
                        in_flight: op,
                        acknowledged,
                        masters,
                        answer: error_chain(&err),
                    }),
                    disk,
                ));
            }
            Ok(()) if faulted => {
                return Err(format!(
                    "{op:?} was acknowledged although the disk failed under it"
                ));
            }
            Ok(()) => acknowledged = Observed::read(&*world.as_ref().unwrap().store)?,
            Err(ServiceError::Internal(cause)) => {
                return Err(format!(
                    "{op:?} failed with no fault injected: {}",
                    error_chain(&*cause)
                ));
            }
            Err(_refused) => {
                let now = Observed::read(&*world.as_ref().unwrap().store)?;
                if now != acknowledged {
                    return Err(format!("{op:?} was refused but changed the store"));
                }
            }
        }
    }
    drop(world);
    Ok(end(None, disk))
}

/// After an I/O failure the store refuses writes (redb latches the error) and reports it.
fn check_fails_closed(world: &World) -> Result<(), String> {
    let health = world.store.health();
    if !health.is_failing() {
        return Err(format!(
            "a failed write left the store reporting {health:?}"
        ));
    }
    if world.store.probe_write().is_ok() {
        // Faults in a sync the commit did not depend on may leave redb writable; then the
        // health must have recovered too.
        if world.store.health().is_failing() {
            return Err("a write succeeded but the store still reports failing".into());
        }
    }
    Ok(())
}

/// Reopens what survived and checks it against what was acknowledged.
fn check_recovery(
    harness: &Harness,
    survivor: SimulatedDisk,
    interrupted: &Interrupted,
) -> Result<(), String> {
    let plan = FaultPlan::new();
    let mut store = RedbStore::open_with_backend(
        FaultyBackend::new(survivor, plan),
        harness.sealer(&interrupted.masters),
    )
    .map_err(|e| {
        format!(
            "the store does not open after the fault: {}",
            error_chain(&e)
        )
    })?;
    match store.check_integrity() {
        Ok(true) => {}
        other => return Err(format!("redb's integrity check after reopening: {other:?}")),
    }
    let world = harness.world(store);
    let recovered = Observed::read(&*world.store)
        .map_err(|e| format!("a record or secret cannot be read back: {e}"))?;
    recovered.check_rings()?;
    let before = &interrupted.acknowledged;
    let names: BTreeSet<&String> = before
        .entries
        .keys()
        .chain(recovered.entries.keys())
        .collect();
    for entry in names {
        let (was, is) = (before.entries.get(entry), recovered.entries.get(entry));
        if was == is || in_flight_may_change(&interrupted.in_flight, entry, before, &recovered) {
            continue;
        }
        return Err(match (was, is) {
            (Some(_), None) => format!("{entry} was acknowledged and is lost"),
            (None, Some(_)) => format!("{entry} came back or appeared from nowhere"),
            _ => format!("{entry} differs from what was acknowledged:\n was {was:?}\n is  {is:?}"),
        });
    }
    // And the store takes changes again.
    world
        .service
        .keys()
        .generate(
            None,
            &GenerateRequest {
                algorithm: Some("ES256"),
                name: Some("after-recovery"),
                ..GenerateRequest::default()
            },
        )
        .map_err(|e| format!("no write after recovery: {}", error_chain(&e)))?;
    Ok(())
}

fn seeds() -> Vec<u64> {
    match std::env::var("KS_SWEEP_SEED") {
        Ok(seed) => vec![seed.parse().expect("KS_SWEEP_SEED is a number")],
        Err(_) if full_sweep() => (1..=3).collect(),
        Err(_) => vec![1],
    }
}

/// The number of changes in one run.
fn workload_len() -> usize {
    if full_sweep() { 80 } else { 40 }
}

/// Fault points 1..=total, or a spread of at most `bounded` of them.
fn points(total: u64, bounded: u64) -> Vec<u64> {
    if full_sweep() || total <= bounded {
        (1..=total).collect()
    } else {
        (0..bounded).map(|i| 1 + i * total / bounded).collect()
    }
}

/// Sweeps the faults `fault_of(k)` for the fault points k that a clean run of each seed
/// passes (`count` reads them from the clean run), on both backends.
fn sweep(
    what: &str,
    count: impl Fn(&RunEnd) -> u64,
    fault_of: impl Fn(u64) -> Vec<Fault>,
    bounded: u64,
) {
    let mut figures = Vec::new();
    for (name, backend) in backends() {
        let harness = Harness::new(backend);
        for seed in seeds() {
            let clean = run(&harness, seed, workload_len(), &SimulatedDisk::new(), None)
                .unwrap_or_else(|e| panic!("[{name}] seed {seed}, no fault: {e}"));
            assert!(clean.interrupted.is_none());
            let counted = count(&clean);
            let mut checked = 0;
            for k in points(counted, bounded) {
                for fault in fault_of(k) {
                    let disk = SimulatedDisk::new();
                    let context = format!(
                        "[{name}] seed {seed}, {fault:?} (rerun with KS_SWEEP_SEED={seed} KS_SWEEP=full)"
                    );
                    let ended = run(&harness, seed, workload_len(), &disk, Some(fault))
                        .unwrap_or_else(|e| panic!("{context}: {e}"));
                    let Some(interrupted) = ended.interrupted else {
                        continue;
                    };
                    let survivor = match fault {
                        Fault::PowerLoss { loss, .. } => disk.after_power_loss(loss),
                        // The process restarts; the machine kept its power.
                        Fault::Io { .. } | Fault::DiskFull { .. } => disk.restarted(),
                    };
                    check_recovery(&harness, survivor, &interrupted).unwrap_or_else(|e| {
                        panic!(
                            "{context}: in flight {:?} (answered {}): {e}",
                            interrupted.in_flight, interrupted.answer
                        )
                    });
                    checked += 1;
                }
            }
            figures.push(format!(
                "{name} seed {seed}: {counted} {what}, {checked} faults checked"
            ));
        }
    }
    println!("{what}: {}", figures.join("; "));
}

#[test]
fn power_loss_at_any_sync_loses_nothing_acknowledged() {
    sweep(
        "syncs",
        |clean| clean.syncs,
        |k| {
            vec![
                Fault::PowerLoss {
                    sync: k,
                    loss: Loss::Clean,
                },
                Fault::PowerLoss {
                    sync: k,
                    loss: Loss::Torn(k.wrapping_mul(7919)),
                },
            ]
        },
        24,
    );
}

#[test]
fn a_failed_write_set_len_or_sync_half_writes_nothing() {
    for call in IoCall::ALL {
        sweep(
            &format!("{call:?} calls"),
            move |clean| {
                clean
                    .calls
                    .iter()
                    .find(|(c, _)| *c == call)
                    .map_or(0, |(_, n)| *n)
            },
            move |k| vec![Fault::Io { call, nth: k }],
            12,
        );
    }
}

#[test]
fn a_full_disk_half_writes_nothing() {
    // A fault point per 4 KiB page the workload grows the file by.
    sweep(
        "pages of growth",
        |clean| clean.grown / 4096,
        |k| vec![Fault::DiskFull { grow: k * 4096 }],
        12,
    );
}
