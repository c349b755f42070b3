//! Key rings: Auth0 connections and their keys, the tenant's signing keys, rotation
//! (on request and on schedule) and revocation.
//!
//! Ring keys are ordinary keys in the key store. Each change to a ring (provision, rotate,
//! revoke) generates its new keys first, outside any transaction, and then applies the pure
//! rule of [`KeyRing`] inside one store transaction to whatever ring is committed at that
//! moment. Concurrent rotations therefore serialise: each moves the ring exactly one step.

use std::collections::HashSet;

use keysmith_model::ring::key_use_name;
use keysmith_model::{
    Algorithm, Errors, Key, KeyId, KeyRing, KeyType, KeyUse, Reason, RingError, RingKey, RingOwner,
    RingRole, epoch_millis_now,
};
use keysmith_store::{KeyStore, RingChange, StoreError, StoredKey};

use crate::{Connections, KeyService, ServiceError};

/// The `signing_alg` values Auth0 accepts for connection keys.
pub const CONNECTION_SIGNING_ALGS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Key ring settings: scheduled rotation and the tenant's algorithm.
#[derive(Clone, Debug)]
pub struct RotationPolicy {
    /// Rotation period of connections that set none, in seconds; 0 = never.
    pub connection_period_seconds: u64,
    /// Rotation period of the tenant's signing keys, in seconds; 0 = never.
    pub tenant_period_seconds: u64,
    /// The algorithm of the tenant's signing keys (Auth0: RS256).
    pub tenant_signing_alg: Algorithm,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            connection_period_seconds: 0,
            tenant_period_seconds: 0,
            tenant_signing_alg: Algorithm::RS256,
        }
    }
}

/// One ring key as the Auth0 endpoints show it.
#[derive(Clone, Debug)]
pub struct RingKeyView {
    /// The stored key (certificate, algorithm, kid).
    pub key: Key,
    /// Its place in the ring.
    pub slot: RingKey,
    /// current, next, previous or revoked.
    pub role: RingRole,
    /// Signing or encryption.
    pub key_use: KeyUse,
}

/// Why a ring was rotated, for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationReason {
    /// An API call.
    Requested,
    /// The rotation period elapsed.
    Scheduled,
}

impl RotationReason {
    fn as_str(self) -> &'static str {
        match self {
            RotationReason::Requested => "requested",
            RotationReason::Scheduled => "scheduled",
        }
    }
}

/// The keys that are stored but withdrawn ([`RingOwner::withdraws`]): revoked keys and
/// encryption keys.
pub(crate) fn withdrawn_keys(store: &dyn KeyStore) -> Result<HashSet<KeyId>, ServiceError> {
    let mut out = HashSet::new();
    for (owner, ring) in store.rings()? {
        for (key, role) in ring.keys() {
            if owner.withdraws(role) {
                out.insert(key.id);
            }
        }
    }
    Ok(out)
}

/// Whether the key `id` is withdrawn ([`RingOwner::withdraws`]).
pub(crate) fn is_withdrawn(store: &dyn KeyStore, id: &KeyId) -> Result<bool, StoreError> {
    Ok(store
        .ring_of_key(id)?
        .is_some_and(|(owner, role)| owner.withdraws(role)))
}

fn parse_signing_alg(text: Option<&str>, key_use: KeyUse) -> Result<Option<Algorithm>, Errors> {
    let Some(text) = text else {
        return Ok(None);
    };
    let allowed: &[Algorithm] = match key_use {
        KeyUse::Signing => &CONNECTION_SIGNING_ALGS,
        KeyUse::Encryption => &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
    };
    match allowed.iter().find(|a| a.as_str() == text) {
        Some(alg) => Ok(Some(*alg)),
        None => Err(Errors::field(
            "signing_alg",
            Reason::Invalid,
            format!(
                "signing_alg must be one of {} for {} keys",
                allowed
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                key_use_name(key_use)
            ),
        )),
    }
}

/// The name of a ring's `number`th key. Numbers come from the committed ring inside the
/// change's transaction, so they are unique even under concurrent rotations.
fn ring_key_name(owner: &RingOwner, number: u64) -> String {
    match owner {
        RingOwner::Tenant => format!("Tenant signing key #{number}"),
        RingOwner::Connection { id, key_use } => {
            format!("Connection {id} {} key #{number}", key_use_name(*key_use))
        }
    }
}

fn is_due(ring: &KeyRing, period_seconds: u64, now_millis: i64) -> bool {
    scheduled_at(ring, period_seconds, now_millis).is_some()
}

/// When a scheduled rotation of `ring` that commits at `now_millis` takes effect, or `None` if
/// it is not due. On schedule, the keys change at the moment their period ended, not when the
/// scheduler (checking every few seconds, on any node) got to them: the schedule does not drift
/// by the check interval, so a 2 s period rotates 30 times a minute. A rotation missed by a
/// whole period or more (every node was down) is caught up once, from now, and the next comes
/// a full period later.
fn scheduled_at(ring: &KeyRing, period_seconds: u64, now_millis: i64) -> Option<i64> {
    let period = i64::try_from(period_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    let due = ring.current.current_since?.saturating_add(period);
    if period == 0 || due > now_millis {
        return None;
    }
    Some(if now_millis - due < period {
        due
    } else {
        now_millis
    })
}

impl KeyService {
    /// The committed ring of `owner` with its keys, read in one transaction.
    fn ring_snapshot(&self, owner: &RingOwner) -> Result<Option<Vec<RingKeyView>>, ServiceError> {
        Ok(self
            .store()
            .ring_keys(owner)?
            .map(|(ring, keys)| ring_views(owner, &ring, keys)))
    }

    /// A new ring key for `owner`, named after it.
    fn new_ring_key(
        &self,
        owner: &RingOwner,
        issuer: &str,
        algorithm: Algorithm,
        number: u64,
    ) -> Result<StoredKey, ServiceError> {
        let name = ring_key_name(owner, number);
        let length = (algorithm.key_type() == KeyType::Rsa).then_some(2048);
        self.build_asymmetric(KeyId::random(), algorithm, length, name, issuer.to_owned())
    }

    /// Applies one ring change and publishes its outcome.
    fn commit_ring_change(
        &self,
        owner: &RingOwner,
        mut records: Vec<StoredKey>,
        change: impl FnOnce(
            Option<&KeyRing>,
            &mut [StoredKey],
        ) -> Result<(KeyRing, Vec<KeyId>), StoreError>
        + Send,
    ) -> Result<(KeyRing, Vec<Key>), ServiceError> {
        let committed = self.store().change_ring(
            owner,
            Box::new(move |old| {
                let (ring, delete) = change(old, &mut records)?;
                Ok(RingChange {
                    ring,
                    insert: records,
                    delete,
                })
            }),
        )?;
        for id in &committed.delete {
            self.loaded.forget(id);
        }
        for (slot, role) in committed.ring.keys() {
            if owner.withdraws(role) {
                self.loaded.forget(&slot.id);
            }
        }
        self.published_changed();
        let inserted = committed.insert.into_iter().map(|r| r.key).collect();
        Ok((committed.ring, inserted))
    }

    fn provision_ring(
        &self,
        owner: &RingOwner,
        issuer: &str,
        algorithm: Algorithm,
    ) -> Result<(KeyRing, Vec<Key>), ServiceError> {
        let generated = vec![
            self.new_ring_key(owner, issuer, algorithm, 1)?,
            self.new_ring_key(owner, issuer, algorithm, 2)?,
        ];
        self.commit_ring_change(owner, generated, move |old, records| {
            if old.is_some() {
                return Err(StoreError::Ring(RingError::AlreadyProvisioned));
            }
            let [current, next] = records else {
                return Err(StoreError::Corrupt("provisioning needs two keys".into()));
            };
            let slot = |r: &StoredKey| RingKey::fresh(r.key.id, r.key.kid.clone());
            Ok((
                KeyRing::provision(algorithm, slot(current), slot(next), epoch_millis_now()),
                Vec::new(),
            ))
        })
    }

    /// Rotates the ring of `owner` once. With `only_if_due`, the rotation happens only if the
    /// committed ring's current key has been current for at least that many seconds (checked
    /// inside the transaction, so a rotation that commits meanwhile is not doubled), and takes
    /// effect when it was due ([`scheduled_at`]).
    fn rotate_ring(
        &self,
        owner: &RingOwner,
        issuer: &str,
        signing_alg: Option<Algorithm>,
        reason: RotationReason,
        only_if_due: Option<u64>,
    ) -> Result<RingKeyView, ServiceError> {
        let committed = self
            .store()
            .ring(owner)?
            .ok_or(StoreError::Ring(RingError::NotProvisioned))?;
        let algorithm = signing_alg.unwrap_or(committed.signing_alg);
        let generated =
            vec![self.new_ring_key(owner, issuer, algorithm, committed.keys_made() + 1)?];
        let keeps_revoked = *owner == RingOwner::Tenant;
        let owner_for_name = owner.clone();
        // The store's clock (the database's, for many nodes), read before the change.
        let now = self.store().now_millis()?;
        let (ring, inserted) = self.commit_ring_change(owner, generated, move |old, records| {
            let old = old.ok_or(StoreError::Ring(RingError::NotProvisioned))?;
            let effective = match only_if_due {
                Some(period) => {
                    scheduled_at(old, period, now).ok_or(StoreError::Ring(RingError::NotDue))?
                }
                None => now,
            };
            let [record] = records else {
                return Err(StoreError::Corrupt("a rotation needs one key".into()));
            };
            record.key.name = ring_key_name(&owner_for_name, old.keys_made() + 1);
            let (mut ring, left) = old.rotate(
                RingKey::fresh(record.key.id, record.key.kid.clone()),
                algorithm,
                effective,
            );
            let mut delete = Vec::new();
            if let Some(mut left) = left {
                if keeps_revoked {
                    // The tenant keeps its old keys listed, revoked, until they are deleted.
                    left.revoked_at = Some(now);
                    ring.revoked.push(left);
                } else {
                    delete.push(left.id);
                }
            }
            Ok((ring, delete))
        })?;
        tracing::info!(
            target: "keysmith::audit",
            action = "ring.rotate",
            owner = %owner,
            reason = reason.as_str(),
            rotation = ring.rotations,
            current_kid = %ring.current.kid,
            next_kid = %ring.next.kid,
            "keys rotated"
        );
        // Built from what this rotation committed: later rotations may already have moved on.
        let key = inserted.into_iter().next().ok_or_else(|| {
            ServiceError::internal(StoreError::Corrupt("a rotation stored no key".into()))
        })?;
        Ok(RingKeyView {
            key,
            slot: ring.next.clone(),
            role: RingRole::Next,
            key_use: key_use_of(owner),
        })
    }

    /// Rotates every ring whose period has elapsed, once each: a ring whose current key is
    /// several periods old (the server was down) is rotated once, and its next rotation is a
    /// full period later. Returns the rings rotated, each with its new next kid. Failures are
    /// logged and skipped, so one bad ring does not stop the others.
    pub fn rotate_due(&self) -> Vec<(RingOwner, String)> {
        let rings = match self.store().rings() {
            Ok(rings) => rings,
            Err(err) => {
                tracing::error!(error = %err, "scheduled rotation: could not list key rings");
                return Vec::new();
            }
        };
        let policy = &self.config().rotation;
        // Due by the store's clock, so nodes whose clocks differ agree on what is due.
        let now = match self.store().now_millis() {
            Ok(now) => now,
            Err(err) => {
                tracing::error!(error = %err, "scheduled rotation: could not read the store's clock");
                return Vec::new();
            }
        };
        let mut rotated = Vec::new();
        for (owner, ring) in rings {
            let (period, issuer) = match &owner {
                RingOwner::Tenant => (
                    policy.tenant_period_seconds,
                    self.config().default_issuer.clone(),
                ),
                RingOwner::Connection { id, .. } => match self.store().connection(id) {
                    Ok(Some(c)) => (
                        c.rotation_period_seconds
                            .unwrap_or(policy.connection_period_seconds),
                        c.name,
                    ),
                    _ => continue,
                },
            };
            if !is_due(&ring, period, now) {
                continue;
            }
            match self.rotate_ring(
                &owner,
                &issuer,
                None,
                RotationReason::Scheduled,
                Some(period),
            ) {
                Ok(view) => rotated.push((owner, view.key.kid)),
                Err(ServiceError::Invalid(_)) => {} // no longer due: a rotation committed meanwhile
                Err(err) => {
                    tracing::error!(owner = %owner, error = %err, "scheduled rotation failed");
                }
            }
        }
        rotated
    }
}

impl Connections<'_> {
    /// A connection's ring keys: signing keys, then encryption keys.
    pub fn keys(&self, id: &str) -> Result<Vec<RingKeyView>, ServiceError> {
        self.get(id)?;
        let mut out = Vec::new();
        for key_use in [KeyUse::Signing, KeyUse::Encryption] {
            let owner = RingOwner::connection(id, key_use);
            out.extend(self.core.ring_snapshot(&owner)?.unwrap_or_default());
        }
        Ok(out)
    }

    /// Provisions a connection's ring: a current and a next key. A conflict if keys exist.
    pub fn provision(
        &self,
        id: &str,
        signing_alg: Option<&str>,
        key_use: KeyUse,
    ) -> Result<Vec<RingKeyView>, ServiceError> {
        let algorithm = parse_signing_alg(signing_alg, key_use)?.unwrap_or(Algorithm::RS256);
        let connection = self.get(id)?;
        let owner = RingOwner::connection(id, key_use);
        if self.core.store().ring(&owner)?.is_some() {
            return Err(StoreError::Ring(RingError::AlreadyProvisioned).into());
        }
        let (ring, keys) = self
            .core
            .provision_ring(&owner, &connection.name, algorithm)?;
        tracing::info!(target: "keysmith::audit", action = "ring.provision", owner = %owner, kid = %ring.current.kid, next_kid = %ring.next.kid, "keys provisioned");
        Ok(ring_views(&owner, &ring, keys))
    }

    /// Rotates a connection's ring one step; returns the new next key.
    pub fn rotate(
        &self,
        id: &str,
        signing_alg: Option<&str>,
        key_use: KeyUse,
    ) -> Result<RingKeyView, ServiceError> {
        let algorithm = parse_signing_alg(signing_alg, key_use)?;
        let connection = self.get(id)?;
        let owner = RingOwner::connection(id, key_use);
        self.core.rotate_ring(
            &owner,
            &connection.name,
            algorithm,
            RotationReason::Requested,
            None,
        )
    }
}

impl KeyService {
    /// The tenant's signing keys: list, rotate and revoke them.
    pub fn tenant_keys(&self) -> TenantSigningKeys<'_> {
        TenantSigningKeys { core: self }
    }
}

/// The tenant signing key use cases (Auth0's `/api/v2/keys/signing`): list, read, rotate and
/// revoke the tenant's signing keys, provisioned on first use. A view of the shared
/// [`KeyService`].
#[derive(Clone, Copy, Debug)]
pub struct TenantSigningKeys<'a> {
    core: &'a KeyService,
}

impl TenantSigningKeys<'_> {
    /// The tenant's ring, provisioned on first use.
    fn tenant_ring(&self) -> Result<KeyRing, ServiceError> {
        if let Some(ring) = self.core.store().ring(&RingOwner::Tenant)? {
            return Ok(ring);
        }
        let algorithm = self.core.config().rotation.tenant_signing_alg;
        let issuer = self.core.config().default_issuer.clone();
        match self
            .core
            .provision_ring(&RingOwner::Tenant, &issuer, algorithm)
        {
            Ok((ring, _)) => {
                tracing::info!(target: "keysmith::audit", action = "ring.provision", owner = %RingOwner::Tenant, kid = %ring.current.kid, "tenant signing keys provisioned");
                Ok(ring)
            }
            // Another request provisioned it first.
            Err(ServiceError::Conflict(_)) => {
                self.core.store().ring(&RingOwner::Tenant)?.ok_or_else(|| {
                    ServiceError::internal(StoreError::Corrupt("tenant ring vanished".into()))
                })
            }
            Err(other) => Err(other),
        }
    }

    /// The tenant's signing keys: current, next, previous, then revoked keys.
    pub fn list(&self) -> Result<Vec<RingKeyView>, ServiceError> {
        self.tenant_ring()?;
        self.core.ring_snapshot(&RingOwner::Tenant)?.ok_or_else(|| {
            ServiceError::internal(StoreError::Corrupt("tenant ring vanished".into()))
        })
    }

    /// The tenant's signing keys if its ring exists, `None` before the first use provisions
    /// it: a read that never generates.
    pub fn provisioned(&self) -> Result<Option<Vec<RingKeyView>>, ServiceError> {
        self.core.ring_snapshot(&RingOwner::Tenant)
    }

    /// One of the tenant's signing keys, by kid.
    pub fn get(&self, kid: &str) -> Result<RingKeyView, ServiceError> {
        self.list()?
            .into_iter()
            .find(|v| v.key.kid == kid)
            .ok_or(ServiceError::NotFound)
    }

    /// Rotates the tenant's ring one step; returns the new next key.
    pub fn rotate(&self) -> Result<RingKeyView, ServiceError> {
        self.tenant_ring()?;
        let issuer = self.core.config().default_issuer.clone();
        self.core.rotate_ring(
            &RingOwner::Tenant,
            &issuer,
            None,
            RotationReason::Requested,
            None,
        )
    }

    /// Revokes a tenant signing key; only the previous key can be revoked.
    pub fn revoke(&self, kid: &str) -> Result<RingKeyView, ServiceError> {
        self.tenant_ring()?;
        let now = epoch_millis_now();
        let kid_owned = kid.to_owned();
        self.core
            .commit_ring_change(&RingOwner::Tenant, Vec::new(), move |old, _| {
                let old = old.ok_or(StoreError::Ring(RingError::NotProvisioned))?;
                Ok((
                    old.revoke(&kid_owned, now).map_err(StoreError::Ring)?,
                    Vec::new(),
                ))
            })?;
        tracing::info!(target: "keysmith::audit", action = "ring.revoke", owner = %RingOwner::Tenant, kid = %kid, "signing key revoked");
        self.get(kid)
    }
}

fn key_use_of(owner: &RingOwner) -> KeyUse {
    match owner {
        RingOwner::Tenant => KeyUse::Signing,
        RingOwner::Connection { key_use, .. } => *key_use,
    }
}

/// Pairs a ring's slots with its keys' records (`keys` in [`KeyRing::keys`] order).
fn ring_views(owner: &RingOwner, ring: &KeyRing, keys: Vec<Key>) -> Vec<RingKeyView> {
    ring.keys()
        .zip(keys)
        .map(|((slot, role), key)| RingKeyView {
            key,
            slot: slot.clone(),
            role,
            key_use: key_use_of(owner),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_current_since(since: i64) -> KeyRing {
        let slot = |n| RingKey::fresh(KeyId(uuid::Uuid::from_u128(n)), format!("kid-{n}"));
        KeyRing::provision(Algorithm::ES256, slot(1), slot(2), since)
    }

    #[test]
    fn a_scheduled_rotation_takes_effect_when_due_unless_a_whole_period_was_missed() {
        let ring = ring_current_since(10_000);
        // 2 s period: due at 12,000.
        assert_eq!(scheduled_at(&ring, 2, 11_999), None);
        assert_eq!(scheduled_at(&ring, 2, 12_000), Some(12_000));
        // Found late by the scheduler: still on schedule, so the period does not drift.
        assert_eq!(scheduled_at(&ring, 2, 13_999), Some(12_000));
        // Missed by a whole period: caught up once, from now.
        assert_eq!(scheduled_at(&ring, 2, 14_000), Some(14_000));
        assert_eq!(scheduled_at(&ring, 2, 99_000), Some(99_000));
        // A period of 0 is never due.
        assert_eq!(scheduled_at(&ring, 0, 99_000), None);
        assert!(is_due(&ring, 2, 12_000) && !is_due(&ring, 2, 11_000));
    }
}
