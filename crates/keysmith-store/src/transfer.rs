//! Moving everything a store holds to a store of the other engine (`keysmith migrate`): the
//! records as stored, secrets still sealed, in a stream both engines write and read.
//!
//! Invariants:
//! - A record crosses as its stored bytes: nothing is decrypted or re-encoded on the way, so
//!   the master keys of the source open the target.
//! - The target must be empty; the copy is one transaction on it (all or nothing).
//! - [`Digest`] of the source and of the target, each read back in one snapshot, must agree:
//!   the same records in the same order of kinds, keys in insertion order.

use crate::StoreError;

/// One stored record, as stored. Its `Debug` names the record and its byte counts, never the
/// bytes (a secret is sealed, but still not for a log line).
#[derive(Clone, PartialEq, Eq)]
pub enum Record {
    /// A live key (in insertion order): its record and its sealed private half.
    Key {
        /// The key's id.
        id: uuid::Uuid,
        /// The compact key record.
        record: Vec<u8>,
        /// The sealed private half (tag byte + bytes).
        secret: Option<Vec<u8>>,
    },
    /// A restorably deleted key.
    DeletedKey {
        /// The key's id.
        id: uuid::Uuid,
        /// The deleted-key record.
        record: Vec<u8>,
        /// The sealed private half, as it was stored.
        secret: Option<Vec<u8>>,
    },
    /// An Auth0 connection.
    Connection {
        /// Its id.
        id: String,
        /// Its record.
        record: Vec<u8>,
    },
    /// A key ring (its keys are among the live keys).
    Ring {
        /// The owner's storage key.
        owner: String,
        /// The ring record.
        record: Vec<u8>,
    },
    /// The hash of an admin API key.
    ApiKeyHash([u8; 32]),
    /// A scoped API key (hash and permissions).
    ApiKey {
        /// Its id.
        id: uuid::Uuid,
        /// Its record.
        record: Vec<u8>,
    },
    /// An audit record (its id inside).
    Audit {
        /// Its id.
        seq: u64,
        /// Its record.
        record: Vec<u8>,
    },
    /// The id of a master key stored secrets may be sealed under.
    MasterKeyInUse(Vec<u8>),
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<Vec<u8>>| s.as_ref().map(Vec::len);
        match self {
            Record::Key {
                id,
                record,
                secret: s,
            } => write!(
                f,
                "Key({id}, {} record bytes, sealed secret bytes {:?})",
                record.len(),
                secret(s)
            ),
            Record::DeletedKey {
                id,
                record,
                secret: s,
            } => write!(
                f,
                "DeletedKey({id}, {} record bytes, sealed secret bytes {:?})",
                record.len(),
                secret(s)
            ),
            Record::Connection { id, record } => {
                write!(f, "Connection({id}, {} bytes)", record.len())
            }
            Record::Ring { owner, record } => write!(f, "Ring({owner}, {} bytes)", record.len()),
            Record::ApiKeyHash(_) => f.write_str("ApiKeyHash"),
            Record::ApiKey { id, record } => write!(f, "ApiKey({id}, {} bytes)", record.len()),
            Record::Audit { seq, record } => write!(f, "Audit({seq}, {} bytes)", record.len()),
            Record::MasterKeyInUse(_) => f.write_str("MasterKeyInUse"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_debug_print_shows_no_bytes() {
        let record = Record::Key {
            id: uuid::Uuid::nil(),
            record: b"RECORD-BYTES".to_vec(),
            secret: Some(b"SEALED-SECRET".to_vec()),
        };
        let printed = format!("{record:?}");
        assert!(
            !printed.contains("82") && !printed.contains("SEALED"),
            "{printed}"
        );
        assert!(printed.contains("13"), "{printed}");
    }
}

/// What a store holds, counted by kind, with a digest of every record in export order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    /// Live keys.
    pub keys: u64,
    /// Restorably deleted keys.
    pub deleted_keys: u64,
    /// Connections.
    pub connections: u64,
    /// Key rings.
    pub rings: u64,
    /// API keys, admin hashes and scoped records.
    pub api_keys: u64,
    /// Audit records.
    pub audit_records: u64,
    /// SHA-256 of every record's kind, key and bytes, in export order (hex).
    pub sha256: String,
}

/// A store that can give up and take in every record ([`Record`]).
pub trait Transfer {
    /// Calls `visit` with every record, in one snapshot: master keys in use, live keys in
    /// insertion order, deleted keys, connections, rings, API keys, the audit trail in order.
    fn export(
        &self,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Stores `records` (in [`Transfer::export`]'s order) in one transaction. Refused, with
    /// nothing written, unless the store is empty.
    fn import(&self, records: &[Record]) -> Result<(), StoreError>;
}

/// Copies every record of `from` into the empty `to`, then checks both agree. Returns the
/// digest they share.
pub fn copy(from: &dyn Transfer, to: &dyn Transfer) -> Result<Digest, StoreError> {
    let mut records = Vec::new();
    from.export(&mut |record| {
        records.push(record);
        Ok(())
    })?;
    to.import(&records)?;
    let source = digest(from)?;
    let target = digest(to)?;
    if source != target {
        return Err(StoreError::Corrupt(format!(
            "the copy does not match its source (source {source:?}, copy {target:?}); the target keeps what was written"
        )));
    }
    Ok(source)
}

/// The counts and digest of what `store` holds.
pub fn digest(store: &dyn Transfer) -> Result<Digest, StoreError> {
    use sha2::Digest as _;
    let mut out = Digest::default();
    let mut hash = sha2::Sha256::new();
    let mut feed = |kind: &str, key: &[u8], bytes: &[&[u8]]| {
        for part in std::iter::once(kind.as_bytes())
            .chain([key])
            .chain(bytes.iter().copied())
        {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    };
    store.export(&mut |record| {
        match &record {
            Record::Key { id, record, secret } => {
                out.keys += 1;
                feed(
                    "key",
                    id.as_bytes(),
                    &[record, secret.as_deref().unwrap_or_default()],
                );
            }
            Record::DeletedKey { id, record, secret } => {
                out.deleted_keys += 1;
                feed(
                    "deleted",
                    id.as_bytes(),
                    &[record, secret.as_deref().unwrap_or_default()],
                );
            }
            Record::Connection { id, record } => {
                out.connections += 1;
                feed("connection", id.as_bytes(), &[record]);
            }
            Record::Ring { owner, record } => {
                out.rings += 1;
                feed("ring", owner.as_bytes(), &[record]);
            }
            Record::ApiKeyHash(hash) => {
                out.api_keys += 1;
                feed("api-key-hash", hash, &[]);
            }
            Record::ApiKey { id, record } => {
                out.api_keys += 1;
                feed("api-key", id.as_bytes(), &[record]);
            }
            Record::Audit { seq, record } => {
                out.audit_records += 1;
                feed("audit", &seq.to_be_bytes(), &[record]);
            }
            Record::MasterKeyInUse(id) => feed("master-key", id, &[]),
        }
        Ok(())
    })?;
    out.sha256 = keysmith_crypto::fingerprint::upper_hex(&hash.finalize()).to_lowercase();
    Ok(out)
}
