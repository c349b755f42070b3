//! Tokens: JWT vend and validate, and signing with keys that never leave the server.
//!
//! Every key is bound to exactly one algorithm (RFC 8725 §3.1): a token is accepted only if its
//! header names the `kid` of a stored key and exactly that key's algorithm. `alg: none`, an
//! algorithm other than the key's, an HMAC header on an RSA key (the classic confusion), an
//! unknown kid, a bad signature, a malformed or truncated token and an expired one all fail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keysmith_crypto::{SigningKey, VerifyingKey, VerifyingMaterial, fingerprint, import};
use keysmith_model::{Errors, Key, KeyId, KeyType, PrivateMaterial, Reason, epoch_millis_now};
use serde_json::{Map, Value};

use keysmith_store::StoreError;

use crate::{KeyService, ServiceError};

/// The largest payload `sign` and `verify` accept, in bytes (before base64url).
pub const MAX_SIGN_PAYLOAD: usize = 32 * 1024;
/// The largest token `validate` looks at, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A key record with its loaded signing or verifying key.
type Loaded<T> = (Key, Arc<T>);

/// Loaded keys, kept because loading is the expensive part (OpenSSL 3 decodes PKCS#8 in
/// ~0.4 ms). Stored keys never change except their name, so an entry stays valid until its key
/// is deleted, which removes it.
#[derive(Default)]
pub(crate) struct LoadedKeys {
    signers: Mutex<HashMap<KeyId, Loaded<dyn SigningKey>>>,
    verifiers: Mutex<HashMap<KeyId, Loaded<dyn VerifyingKey>>>,
}

impl std::fmt::Debug for LoadedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoadedKeys")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The most keys each of the signer and verifier caches holds. Validation is anonymous, so a
/// caller could otherwise make the server load every stored key: past this, a new entry
/// replaces an arbitrary one (a key used again is loaded again: ~0.4 ms on OpenSSL, µs on aws-lc).
const LOADED_KEYS_CAP: usize = 4096;

/// Caches `entry` for `id`, evicting an arbitrary entry when the cache is full.
fn cache_bounded<V>(map: &Mutex<HashMap<KeyId, V>>, id: KeyId, entry: V) {
    let mut map = lock(map);
    if map.len() >= LOADED_KEYS_CAP
        && !map.contains_key(&id)
        && let Some(victim) = map.keys().next().copied()
    {
        map.remove(&victim);
    }
    map.insert(id, entry);
}

impl LoadedKeys {
    pub(crate) fn forget(&self, id: &KeyId) {
        lock(&self.signers).remove(id);
        lock(&self.verifiers).remove(id);
    }

    /// Drops every loaded key (the store changed in a way this process did not see).
    pub(crate) fn clear(&self) {
        lock(&self.signers).clear();
        lock(&self.verifiers).clear();
    }

    /// The id of the loaded verifier whose key has `kid`: how a node validates tokens while
    /// its store is unreachable. A scan of at most [`LOADED_KEYS_CAP`] entries.
    fn verifier_id_by_kid(&self, kid: &str) -> Option<KeyId> {
        lock(&self.verifiers)
            .iter()
            .find(|(_, (key, _))| key.kid == kid)
            .map(|(id, _)| *id)
    }
}

/// Why a token was refused. Never shown to the caller; logged at debug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not three base64url parts of JSON, or too long.
    Malformed,
    /// The header names no kid, or one no stored key has.
    UnknownKid,
    /// The store is unreachable and the token's key is not loaded here: the token may be
    /// valid, so it is neither accepted nor refused (503).
    StoreUnavailable,
    /// The header's `alg` is not the key's algorithm (includes `none`).
    AlgorithmMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed (beyond the allowed clock skew).
    Expired,
    /// `nbf` is in the future (beyond the allowed clock skew).
    NotYetValid,
}

impl KeyService {
    /// The token use cases: vend and validate JWTs, sign and verify payloads.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { core: self }
    }
}

/// The token use cases: vend and validate JWTs, sign and verify payloads with keys that never
/// leave the server. A view of the shared [`KeyService`].
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    core: &'a KeyService,
}

impl Tokens<'_> {
    fn signer(&self, id: &KeyId) -> Result<(Key, Arc<dyn SigningKey>), ServiceError> {
        if let Some(entry) = lock(&self.core.loaded.signers).get(id) {
            return Ok(entry.clone());
        }
        let stored = self.core.store().get(id)?.ok_or(ServiceError::NotFound)?;
        let Some(private) = &stored.private else {
            return Err(Errors::field(
                "keyId",
                Reason::Invalid,
                "The key has no private key, so it cannot sign.",
            )
            .into());
        };
        let signer: Arc<dyn SigningKey> = Arc::from(
            self.core
                .backend()
                .signing_key(stored.key.algorithm, private)?,
        );
        let entry = (stored.key, signer);
        cache_bounded(&self.core.loaded.signers, *id, entry.clone());
        self.confirm_still_stored(id)?;
        Ok(entry)
    }

    fn verifier(&self, id: &KeyId) -> Result<(Key, Arc<dyn VerifyingKey>), ServiceError> {
        if let Some(entry) = lock(&self.core.loaded.verifiers).get(id) {
            return Ok(entry.clone());
        }
        // The record only: its sealed private half stays sealed unless it is an HMAC secret.
        let key = self
            .core
            .store()
            .get_key(id)?
            .ok_or(ServiceError::NotFound)?;
        let verifier: Arc<dyn VerifyingKey> = Arc::from(self.verifying_key(&key)?);
        let entry = (key, verifier);
        cache_bounded(&self.core.loaded.verifiers, *id, entry.clone());
        self.confirm_still_stored(id)?;
        Ok(entry)
    }

    /// Loads a verifier from the key's public material: its public key, else its certificate.
    /// Only an HMAC key, whose secret is its verifying key, has its sealed secret opened.
    fn verifying_key(&self, key: &Key) -> Result<Box<dyn VerifyingKey>, ServiceError> {
        let backend = &**self.core.backend();
        let public = match (&key.public_key, &key.certificate) {
            (Some(pem), _) => Some(import::decode_public_key(backend, pem)?),
            (None, Some(pem)) => Some(import::decode_certificate(backend, pem)?.public_key),
            (None, None) => None,
        };
        if let Some(public) = public {
            return Ok(backend.verifying_key(
                key.algorithm,
                VerifyingMaterial::PublicKey(&public.spki_der),
            )?);
        }
        if key.key_type != KeyType::Hmac {
            return Err(ServiceError::internal(std::io::Error::other(
                "asymmetric key without a public key or certificate",
            )));
        }
        let stored = self
            .core
            .store()
            .get(&key.id)?
            .ok_or(ServiceError::NotFound)?;
        match &stored.private {
            Some(PrivateMaterial::HmacSecret(secret)) => Ok(backend.verifying_key(
                key.algorithm,
                VerifyingMaterial::HmacSecret(secret.expose()),
            )?),
            _ => Err(ServiceError::internal(std::io::Error::other(
                "HMAC key without its secret",
            ))),
        }
    }

    /// A delete or revocation that committed while the key was being loaded must not leave it
    /// cached: both forget cached keys after their commit, and this check after caching
    /// catches one that committed before it.
    fn confirm_still_stored(&self, id: &KeyId) -> Result<(), ServiceError> {
        let outcome = if self.core.store().contains(id)? {
            self.check_not_withdrawn(id)
        } else {
            Err(ServiceError::NotFound)
        };
        if outcome.is_err() {
            self.core.loaded.forget(id);
        }
        outcome
    }

    /// Refuses withdrawn keys ([`keysmith_model::RingOwner::withdraws`]): revoked keys and
    /// encryption keys neither sign nor verify tokens.
    fn check_not_withdrawn(&self, id: &KeyId) -> Result<(), ServiceError> {
        match self.core.store().ring_of_key(id)? {
            Some((owner, role)) if owner.withdraws(role) => {
                let message = if role == keysmith_model::RingRole::Revoked {
                    "The key is revoked: it no longer signs or verifies."
                } else {
                    "The key is an encryption key: it does not sign or verify tokens."
                };
                Err(Errors::field("keyId", Reason::NotAllowed, message).into())
            }
            _ => Ok(()),
        }
    }

    /// Vends a JWT signed by key `key_id` with `claims` plus `iat`, `exp` and
    /// `jti`; the header has the key's `alg`, its `kid` and `typ: JWT`.
    pub fn vend(
        &self,
        key_id: Option<&str>,
        claims: Option<&Value>,
        ttl_seconds: Option<i64>,
    ) -> Result<String, ServiceError> {
        let mut errors = Errors::new();
        let id = match key_id.map(str::trim).filter(|s| !s.is_empty()) {
            None => {
                errors.add_field(
                    "keyId",
                    Reason::Blank,
                    "keyId is required: the id of the key to sign with.",
                );
                None
            }
            Some(text) => match text.parse::<KeyId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.add_field("keyId", Reason::Invalid, "keyId must be a UUID.");
                    None
                }
            },
        };
        let mut payload = match claims {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                errors.add_field("claims", Reason::Invalid, "claims must be a JSON object.");
                Map::new()
            }
        };
        let ttl = ttl_seconds.unwrap_or(self.core.config().jwt_default_ttl_seconds);
        if !(1..=self.core.config().jwt_max_ttl_seconds).contains(&ttl) {
            errors.add_field(
                "timeToLiveInSeconds",
                Reason::Invalid,
                format!(
                    "timeToLiveInSeconds must be between 1 and {}.",
                    self.core.config().jwt_max_ttl_seconds
                ),
            );
        }
        let id = errors.require(id)?;
        let (key, signer) = self.signer(&id).map_err(|e| match e {
            ServiceError::NotFound => {
                Errors::field("keyId", Reason::Invalid, "No key has this id.").into()
            }
            other => other,
        })?;
        let now = epoch_millis_now() / 1000;
        payload.insert("iat".into(), now.into());
        payload.insert("exp".into(), (now + ttl).into());
        payload.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        let header =
            serde_json::json!({ "alg": key.algorithm.jws_name(), "kid": key.kid, "typ": "JWT" });
        let signing_input = format!(
            "{}.{}",
            fingerprint::base64url(&serde_json::to_vec(&header).map_err(ServiceError::internal)?),
            fingerprint::base64url(&serde_json::to_vec(&payload).map_err(ServiceError::internal)?)
        );
        let signature = signer.sign(signing_input.as_bytes())?;
        tracing::info!(target: "keysmith::audit", action = "vend", key.id = %key.id, "token vended");
        Ok(format!(
            "{signing_input}.{}",
            fingerprint::base64url(&signature)
        ))
    }

    /// Validates a token: its claims if it is signed by the stored key its header
    /// names, with exactly that key's algorithm, and is within `exp`/`nbf` (allowing the
    /// configured clock skew).
    pub fn validate(&self, token: &str) -> Result<Map<String, Value>, TokenRejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenRejection::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        let decode_object = |part: &str| -> Result<Map<String, Value>, TokenRejection> {
            let bytes = fingerprint::from_base64url(part).ok_or(TokenRejection::Malformed)?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(TokenRejection::Malformed),
            }
        };
        let header = decode_object(header_b64)?;
        let signature =
            fingerprint::from_base64url(signature_b64).ok_or(TokenRejection::Malformed)?;
        if header.contains_key("crit") || header.get("b64").is_some() {
            return Err(TokenRejection::Malformed); // no extensions are understood
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(TokenRejection::UnknownKid)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(TokenRejection::AlgorithmMismatch)?;
        let id = match self.core.store().id_by_kid(kid) {
            Ok(id) => id.ok_or(TokenRejection::UnknownKid)?,
            // A key loaded here still verifies while the store is away (another node's change
            // made meanwhile is learnt, and the cache dropped, once it is back).
            Err(StoreError::Unavailable(_)) => self
                .core
                .loaded
                .verifier_id_by_kid(kid)
                .ok_or(TokenRejection::StoreUnavailable)?,
            Err(_) => return Err(TokenRejection::UnknownKid),
        };
        let (key, verifier) = self.verifier(&id).map_err(|err| match err {
            ServiceError::Unavailable(_) => TokenRejection::StoreUnavailable,
            _ => TokenRejection::UnknownKid,
        })?;
        if key.kid != kid {
            return Err(TokenRejection::UnknownKid);
        }
        if alg != key.algorithm.jws_name() {
            return Err(TokenRejection::AlgorithmMismatch);
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !verifier.verify(signing_input.as_bytes(), &signature) {
            return Err(TokenRejection::BadSignature);
        }
        let claims = decode_object(payload_b64)?;
        let now = epoch_millis_now() / 1000;
        let skew = self.core.config().jwt_clock_skew_seconds;
        let number = |name: &str| {
            claims
                .get(name)
                .map(|v| v.as_f64().ok_or(TokenRejection::Malformed))
                .transpose()
        };
        if let Some(exp) = number("exp")?
            && (now as f64) > exp + skew as f64
        {
            return Err(TokenRejection::Expired);
        }
        if let Some(nbf) = number("nbf")?
            && (now as f64) < nbf - skew as f64
        {
            return Err(TokenRejection::NotYetValid);
        }
        Ok(claims)
    }

    /// Signs: a signature of `payload` (base64url) with the key, which never
    /// leaves the server. Returns the signature (base64url, JWS form) and the algorithm.
    pub fn sign(
        &self,
        id: &KeyId,
        payload_b64: Option<&str>,
    ) -> Result<(String, keysmith_model::Algorithm), ServiceError> {
        let payload = sign_payload(payload_b64)?;
        let (key, signer) = self.signer(id)?;
        let signature = signer.sign(&payload)?;
        tracing::info!(target: "keysmith::audit", action = "sign", key.id = %key.id, "payload signed");
        Ok((fingerprint::base64url(&signature), key.algorithm))
    }

    /// Verifies: whether `signature` (base64url) is the key's signature of
    /// `payload` (base64url).
    pub fn verify(
        &self,
        id: &KeyId,
        payload_b64: Option<&str>,
        signature_b64: Option<&str>,
    ) -> Result<bool, ServiceError> {
        let payload = sign_payload(payload_b64)?;
        let signature = match signature_b64.map(fingerprint::from_base64url) {
            Some(Some(bytes)) => bytes,
            Some(None) => {
                return Err(Errors::field(
                    "signature",
                    Reason::Invalid,
                    "signature must be base64url without padding.",
                )
                .into());
            }
            None => {
                return Err(
                    Errors::field("signature", Reason::Blank, "signature is required.").into(),
                );
            }
        };
        let (_, verifier) = self.verifier(id)?;
        Ok(verifier.verify(&payload, &signature))
    }
}

fn sign_payload(payload_b64: Option<&str>) -> Result<Vec<u8>, Errors> {
    let text = payload_b64.ok_or_else(|| {
        Errors::field("payload", Reason::Blank, "payload is required (base64url).")
    })?;
    let too_long = || {
        Errors::field(
            "payload",
            Reason::TooLong,
            format!("payload may be at most {MAX_SIGN_PAYLOAD} bytes."),
        )
    };
    // Refuse oversized text before decoding it, then check the exact decoded size.
    if text.len() > MAX_SIGN_PAYLOAD.div_ceil(3) * 4 {
        return Err(too_long());
    }
    let payload = fingerprint::from_base64url(text).ok_or_else(|| {
        Errors::field(
            "payload",
            Reason::Invalid,
            "payload must be base64url without padding.",
        )
    })?;
    if payload.len() > MAX_SIGN_PAYLOAD {
        return Err(too_long());
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use keysmith_crypto::KeyBackend;
    use keysmith_crypto::envelope::{Envelope, MasterKey};
    use keysmith_store::RedbStore;

    use crate::{GenerateRequest, KeyService, ServiceConfig};

    #[test]
    fn the_loaded_key_caches_are_bounded() {
        let cache = std::sync::Mutex::new(std::collections::HashMap::new());
        let id = |n: u128| keysmith_model::KeyId(uuid::Uuid::from_u128(n));
        for n in 0..(super::LOADED_KEYS_CAP as u128 + 100) {
            super::cache_bounded(&cache, id(n), n);
        }
        let map = cache.lock().unwrap();
        assert_eq!(map.len(), super::LOADED_KEYS_CAP);
        assert_eq!(
            map.get(&id(super::LOADED_KEYS_CAP as u128 + 99)),
            Some(&(super::LOADED_KEYS_CAP as u128 + 99)),
            "the newest is kept"
        );
        drop(map);
        // Caching a key that is there already evicts nothing.
        super::cache_bounded(&cache, id(super::LOADED_KEYS_CAP as u128 + 99), 0);
        assert_eq!(cache.lock().unwrap().len(), super::LOADED_KEYS_CAP);
    }

    fn service(path: &Path, backend: &Arc<dyn KeyBackend>) -> KeyService {
        let master = MasterKey::from_bytes(&**backend, &[7u8; 32]).unwrap();
        let sealer = Arc::new(Envelope::new(backend.clone(), vec![master]).unwrap());
        let store = RedbStore::open(path, sealer).unwrap();
        KeyService::new(backend.clone(), Arc::new(store), ServiceConfig::default())
    }

    /// Damages a key's sealed secret in the data file, as a bad disk sector would: the record
    /// and its public key are intact, the secret can no longer be opened.
    fn damage_sealed_secret(path: &Path, id: &keysmith_model::KeyId) {
        use redb::ReadableTable as _;
        const SECRETS: redb::TableDefinition<u128, &[u8]> =
            redb::TableDefinition::new("key_secrets");
        let db = redb::Database::open(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut secrets = txn.open_table(SECRETS).unwrap();
            let mut sealed = secrets
                .get(id.0.as_u128())
                .unwrap()
                .unwrap()
                .value()
                .to_vec();
            let last = sealed.len() - 1;
            sealed[last] ^= 0x01;
            secrets.insert(id.0.as_u128(), sealed.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    /// Verification uses public material only: with a generated key's sealed secret damaged
    /// on disk (so opening it fails), signing fails, while validating a token and verifying a
    /// signature made before still succeed. Before, the verifier was loaded from the record
    /// with its secret opened, so both failed too.
    #[test]
    fn verification_never_opens_the_sealed_secret() {
        let backends: [Arc<dyn KeyBackend>; 2] = [
            Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new()),
            Arc::new(keysmith_crypto_openssl::OpenSslBackend::new()),
        ];
        for backend in backends {
            for (algorithm, length) in [("ES256", None), ("RS256", Some(2048)), ("Ed25519", None)] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("keysmith.redb");
                let payload = "c2lnbmVkIGJ5IGtleXNtaXRo";
                let (id, token, signature) = {
                    let service = service(&path, &backend);
                    let key = service
                        .keys()
                        .generate(
                            None,
                            &GenerateRequest {
                                algorithm: Some(algorithm),
                                name: Some("verify-only"),
                                length,
                                issuer: None,
                            },
                        )
                        .unwrap();
                    let tokens = service.tokens();
                    let token = tokens.vend(Some(&key.id.to_string()), None, None).unwrap();
                    let (signature, _) = tokens.sign(&key.id, Some(payload)).unwrap();
                    (key.id, token, signature)
                };
                damage_sealed_secret(&path, &id);

                let service = service(&path, &backend);
                let tokens = service.tokens();
                let context = format!("{} {algorithm}", backend.name());
                assert!(tokens.validate(&token).is_ok(), "{context}");
                assert!(
                    tokens.verify(&id, Some(payload), Some(&signature)).unwrap(),
                    "{context}"
                );
                assert!(
                    tokens.sign(&id, Some(payload)).is_err(),
                    "{context}: the damaged secret still opened, so the test proves nothing"
                );
            }
        }
    }
}
