//! Key rings: the current, next and previous keys of one owner (an Auth0 connection, for one
//! key use, or the tenant), and the pure rules for provisioning, rotating and revoking them.
//!
//! Invariants every [`KeyRing`] keeps (checked by [`KeyRing::check`]):
//! - exactly one current and one next key, at most one previous key;
//! - no key appears twice (across current, next, previous and revoked);
//! - the current key has `current_since`; the previous key has `current_since` and
//!   `current_until`; revoked keys have `revoked_at`.
//!
//! Rotation is a pure function of the ring, so the store can apply it inside one transaction
//! to whatever ring is committed at that moment: concurrent rotations serialise, each moving
//! the ring exactly one step.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Algorithm, KeyId, KeyUse};

/// Who a ring belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RingOwner {
    /// The tenant's signing keys (`/api/v2/keys/signing`).
    Tenant,
    /// One use of an Auth0 connection's keys (`/api/v2/connections/{id}/keys`).
    Connection {
        /// The connection id (`con_...`).
        id: String,
        /// Signing or encryption.
        key_use: KeyUse,
    },
}

impl RingOwner {
    /// The connection's signing or encryption ring.
    pub fn connection(id: &str, key_use: KeyUse) -> Self {
        RingOwner::Connection {
            id: id.to_owned(),
            key_use,
        }
    }

    /// A stable text form, used as a storage key: `tenant`, `connection:<id>:<use>`.
    pub fn storage_key(&self) -> String {
        match self {
            RingOwner::Tenant => "tenant".to_owned(),
            RingOwner::Connection { id, key_use } => {
                format!("connection:{id}:{}", key_use_name(*key_use))
            }
        }
    }

    /// Parses [`RingOwner::storage_key`].
    pub fn from_storage_key(text: &str) -> Option<Self> {
        if text == "tenant" {
            return Some(RingOwner::Tenant);
        }
        let rest = text.strip_prefix("connection:")?;
        let (id, key_use) = rest.rsplit_once(':')?;
        let key_use = match key_use {
            "signing" => KeyUse::Signing,
            "encryption" => KeyUse::Encryption,
            _ => return None,
        };
        Some(RingOwner::connection(id, key_use))
    }

    /// Whether a key in `role` of this ring is withdrawn: never published, never signing or
    /// verifying. Revoked keys are; so is every key of an encryption ring (not a token key).
    pub fn withdraws(&self, role: RingRole) -> bool {
        role == RingRole::Revoked
            || matches!(
                self,
                RingOwner::Connection {
                    key_use: KeyUse::Encryption,
                    ..
                }
            )
    }

    /// The connection id, for connection rings.
    pub fn connection_id(&self) -> Option<&str> {
        match self {
            RingOwner::Tenant => None,
            RingOwner::Connection { id, .. } => Some(id),
        }
    }
}

impl fmt::Display for RingOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingOwner::Tenant => f.write_str("the tenant's signing keys"),
            RingOwner::Connection { id, key_use } => {
                write!(f, "connection {id} ({} keys)", key_use_name(*key_use))
            }
        }
    }
}

/// Auth0's `key_use` word.
pub fn key_use_name(key_use: KeyUse) -> &'static str {
    match key_use {
        KeyUse::Signing => "signing",
        KeyUse::Encryption => "encryption",
    }
}

/// The place a key holds in its ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RingRole {
    /// Signs now.
    Current,
    /// Signs after the next rotation; already published so verifiers can fetch it in advance.
    Next,
    /// Signed until the last rotation; still published so tokens it signed still verify.
    Previous,
    /// Withdrawn: never published, never used to sign; kept so it can be listed.
    Revoked,
}

impl RingRole {
    /// The word: `current`, `next`, `previous`, `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            RingRole::Current => "current",
            RingRole::Next => "next",
            RingRole::Previous => "previous",
            RingRole::Revoked => "revoked",
        }
    }

    /// Whether a key in this role is in use: it may sign or must still verify.
    pub fn is_live(self) -> bool {
        self != RingRole::Revoked
    }
}

/// One key in a ring.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingKey {
    /// The key's id in the key store.
    pub id: KeyId,
    /// Its kid.
    pub kid: String,
    /// When it became current, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_since: Option<i64>,
    /// When it stopped being current, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_until: Option<i64>,
    /// When it was revoked, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

impl RingKey {
    /// A key that has not been current yet.
    pub fn fresh(id: KeyId, kid: String) -> Self {
        RingKey {
            id,
            kid,
            current_since: None,
            current_until: None,
            revoked_at: None,
        }
    }
}

/// Why a ring operation was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The owner already has keys (provisioning twice).
    AlreadyProvisioned,
    /// The owner has no keys yet (rotating before provisioning).
    NotProvisioned,
    /// The connection does not exist (or was deleted meanwhile).
    NoSuchConnection,
    /// No key in the ring has this kid.
    NoSuchKey,
    /// Only the previous key can be revoked; this one is current or next.
    NotRevocable(RingRole),
    /// A scheduled rotation found the ring already rotated within its period.
    NotDue,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::AlreadyProvisioned => f.write_str("keys already exist"),
            RingError::NotProvisioned => f.write_str("there are no keys yet"),
            RingError::NoSuchConnection => f.write_str("the connection does not exist"),
            RingError::NoSuchKey => f.write_str("the key does not exist"),
            RingError::NotDue => f.write_str("the keys are not due for rotation"),
            RingError::NotRevocable(role) => write!(
                f,
                "the {} key cannot be revoked; rotate first, then revoke it as the previous key",
                role.as_str()
            ),
        }
    }
}

impl std::error::Error for RingError {}

/// The keys of one owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRing {
    /// The algorithm of the keys the next rotation generates.
    pub signing_alg: Algorithm,
    /// How many rotations it has had.
    pub rotations: u64,
    /// The current key.
    pub current: RingKey,
    /// The next key.
    pub next: RingKey,
    /// The previous key, after the first rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<RingKey>,
    /// Revoked keys, oldest first (the tenant's; connection keys are deleted instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<RingKey>,
}

impl KeyRing {
    /// A new ring: `current` becomes current at `now`.
    pub fn provision(
        signing_alg: Algorithm,
        mut current: RingKey,
        next: RingKey,
        now_millis: i64,
    ) -> Self {
        current.current_since = Some(now_millis);
        KeyRing {
            signing_alg,
            rotations: 0,
            current,
            next,
            previous: None,
            revoked: Vec::new(),
        }
    }

    /// One rotation: next becomes current, current becomes previous, and `new_next` is next.
    /// Returns the new ring and the key that left it (the old previous), if any.
    pub fn rotate(
        &self,
        new_next: RingKey,
        signing_alg: Algorithm,
        now_millis: i64,
    ) -> (KeyRing, Option<RingKey>) {
        let mut previous = self.current.clone();
        previous.current_until = Some(now_millis);
        let mut current = self.next.clone();
        current.current_since = Some(now_millis);
        let ring = KeyRing {
            signing_alg,
            rotations: self.rotations + 1,
            current,
            next: new_next,
            previous: Some(previous),
            revoked: self.revoked.clone(),
        };
        (ring, self.previous.clone())
    }

    /// How many keys this ring has had: two at provisioning and one per rotation. Numbers the
    /// key names.
    pub fn keys_made(&self) -> u64 {
        self.rotations + 2
    }

    /// Revokes the key with `kid`. Only the previous key can be revoked; revoking a revoked key
    /// again changes nothing.
    pub fn revoke(&self, kid: &str, now_millis: i64) -> Result<KeyRing, RingError> {
        match self.role_of_kid(kid) {
            None => Err(RingError::NoSuchKey),
            Some(RingRole::Revoked) => Ok(self.clone()),
            Some(RingRole::Previous) => {
                let mut ring = self.clone();
                if let Some(mut key) = ring.previous.take() {
                    key.revoked_at = Some(now_millis);
                    ring.revoked.push(key);
                }
                Ok(ring)
            }
            Some(role) => Err(RingError::NotRevocable(role)),
        }
    }

    /// Every key with its role: current, next, previous, then revoked.
    pub fn keys(&self) -> impl Iterator<Item = (&RingKey, RingRole)> {
        [
            Some((&self.current, RingRole::Current)),
            Some((&self.next, RingRole::Next)),
            self.previous.as_ref().map(|k| (k, RingRole::Previous)),
        ]
        .into_iter()
        .flatten()
        .chain(self.revoked.iter().map(|k| (k, RingRole::Revoked)))
    }

    /// The role of the key with `kid`.
    pub fn role_of_kid(&self, kid: &str) -> Option<RingRole> {
        self.keys().find(|(k, _)| k.kid == kid).map(|(_, r)| r)
    }

    /// The role of the key with `id`.
    pub fn role_of(&self, id: &KeyId) -> Option<RingRole> {
        self.keys().find(|(k, _)| k.id == *id).map(|(_, r)| r)
    }

    /// A key of this ring leaving the store: refused with its role if it is live (current, next
    /// or previous); a revoked key is dropped from the ring and its slot returned (to put it
    /// back if the deletion is undone); a key not in the ring changes nothing.
    pub fn release(&mut self, id: &KeyId) -> Result<Option<RingKey>, RingRole> {
        match self.role_of(id) {
            Some(role) if role.is_live() => Err(role),
            _ => {
                let slot = self.revoked.iter().find(|k| k.id == *id).cloned();
                self.forget_revoked(id);
                Ok(slot)
            }
        }
    }

    /// Drops a revoked key (it was deleted from the store). Returns whether it was here.
    pub fn forget_revoked(&mut self, id: &KeyId) -> bool {
        let before = self.revoked.len();
        self.revoked.retain(|k| k.id != *id);
        before != self.revoked.len()
    }

    /// Puts back a revoked key that [`KeyRing::forget_revoked`] dropped (its deletion was
    /// undone), in `revoked_at` order. The caller checks the result with [`KeyRing::check`].
    pub fn restore_revoked(&mut self, key: RingKey) {
        let at = self
            .revoked
            .iter()
            .position(|k| k.revoked_at > key.revoked_at)
            .unwrap_or(self.revoked.len());
        self.revoked.insert(at, key);
    }

    /// Checks the invariants in the module documentation.
    pub fn check(&self) -> Result<(), &'static str> {
        let mut ids: Vec<&KeyId> = self.keys().map(|(k, _)| &k.id).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        if ids.len() != count {
            return Err("a key appears twice in its ring");
        }
        if self.current.current_since.is_none() {
            return Err("the current key has no current_since");
        }
        if let Some(previous) = &self.previous
            && (previous.current_since.is_none() || previous.current_until.is_none())
        {
            return Err("the previous key lacks current_since or current_until");
        }
        if self.revoked.iter().any(|k| k.revoked_at.is_none()) {
            return Err("a revoked key has no revoked_at");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u128) -> RingKey {
        RingKey::fresh(KeyId(uuid::Uuid::from_u128(n)), format!("kid{n}"))
    }

    #[test]
    fn owner_storage_key_round_trips() {
        for owner in [
            RingOwner::Tenant,
            RingOwner::connection("con_abc", KeyUse::Signing),
            RingOwner::connection("con_abc", KeyUse::Encryption),
        ] {
            assert_eq!(
                RingOwner::from_storage_key(&owner.storage_key()),
                Some(owner)
            );
        }
        assert_eq!(RingOwner::from_storage_key("connection:x:other"), None);
    }

    #[test]
    fn rotation_moves_every_key_one_step() {
        let ring = KeyRing::provision(Algorithm::RS256, key(1), key(2), 10);
        let (ring, left) = ring.rotate(key(3), Algorithm::ES256, 20);
        assert_eq!(left, None);
        assert_eq!(ring.current.id, key(2).id);
        assert_eq!(ring.current.current_since, Some(20));
        let previous = ring.previous.clone().unwrap();
        assert_eq!(previous.id, key(1).id);
        assert_eq!(
            (previous.current_since, previous.current_until),
            (Some(10), Some(20))
        );
        assert_eq!(ring.signing_alg, Algorithm::ES256);
        let (ring, left) = ring.rotate(key(4), Algorithm::ES256, 30);
        assert_eq!(left.map(|k| k.id), Some(key(1).id));
        assert_eq!(ring.rotations, 2);
        ring.check().unwrap();
    }

    #[test]
    fn only_the_previous_key_can_be_revoked() {
        let ring = KeyRing::provision(Algorithm::RS256, key(1), key(2), 10);
        assert_eq!(
            ring.revoke("kid1", 11),
            Err(RingError::NotRevocable(RingRole::Current))
        );
        assert_eq!(
            ring.revoke("kid2", 11),
            Err(RingError::NotRevocable(RingRole::Next))
        );
        assert_eq!(ring.revoke("nope", 11), Err(RingError::NoSuchKey));
        let (ring, _) = ring.rotate(key(3), Algorithm::RS256, 20);
        let revoked = ring.revoke("kid1", 21).unwrap();
        assert_eq!(revoked.previous, None);
        assert_eq!(revoked.role_of_kid("kid1"), Some(RingRole::Revoked));
        assert_eq!(revoked.revoke("kid1", 22).unwrap(), revoked);
        revoked.check().unwrap();
    }

    #[test]
    fn a_forgotten_revoked_key_comes_back_in_revocation_order() {
        let ring = KeyRing::provision(Algorithm::RS256, key(1), key(2), 10);
        let (ring, _) = ring.rotate(key(3), Algorithm::RS256, 20);
        let ring = ring.revoke("kid1", 21).unwrap();
        let (ring, _) = ring.rotate(key(4), Algorithm::RS256, 30);
        let full = ring.revoke("kid2", 31).unwrap();
        let mut ring = full.clone();
        let first = ring.revoked[0].clone();
        assert!(ring.forget_revoked(&first.id));
        ring.restore_revoked(first);
        assert_eq!(ring, full);
        ring.check().unwrap();
    }

    proptest! {
        #[test]
        fn any_sequence_of_rotations_and_revocations_keeps_the_invariants(
            ops in proptest::collection::vec(any::<bool>(), 0..40)
        ) {
            let mut ring = KeyRing::provision(Algorithm::RS256, key(0), key(1), 0);
            let mut next_id = 2u128;
            for (step, rotate) in ops.into_iter().enumerate() {
                let now = i64::try_from(step).unwrap() + 1;
                if rotate {
                    let before = ring.clone();
                    let (after, left) = ring.rotate(key(next_id), Algorithm::RS256, now);
                    next_id += 1;
                    prop_assert_eq!(&after.current.id, &before.next.id);
                    prop_assert_eq!(after.previous.as_ref().map(|k| &k.id), Some(&before.current.id));
                    prop_assert_eq!(left.map(|k| k.id), before.previous.map(|k| k.id));
                    ring = after;
                } else if let Some(previous) = ring.previous.clone() {
                    ring = ring.revoke(&previous.kid, now).unwrap();
                }
                prop_assert!(ring.check().is_ok());
            }
        }
    }
}
