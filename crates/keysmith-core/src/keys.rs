//! The shared core, [`KeyService`], and the key use cases, [`Keys`].

use std::sync::Arc;

use keysmith_crypto::CertificateParams;
use keysmith_crypto::certificate;
use keysmith_crypto::dn::AttributeValue;
use keysmith_crypto::import::{self, ImportInput};
use keysmith_crypto::{CertificateFields, KeyBackend, fingerprint, jwk};
use keysmith_model::validate::{self, GenerateSpec};
use keysmith_model::{
    Algorithm, CertificateInformation, Errors, HashAlgorithm, Key, KeyId, KeyType, MAX_NAME_LENGTH,
    Reason, epoch_millis_now,
};
use keysmith_store::{Committed, KeyStore, StoreError, StoredKey};

use crate::ServiceConfig;
use crate::published::{
    IssuerJwks, Published, PublishedAnswer, PublishedDocument, Publisher, Source,
};
use crate::tokens::LoadedKeys;

/// What to generate: algorithm, name, length and certificate fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenerateRequest<'a> {
    /// `key.algorithm`.
    pub algorithm: Option<&'a str>,
    /// `key.name`.
    pub name: Option<&'a str>,
    /// `key.length`.
    pub length: Option<u32>,
    /// `key.issuer`.
    pub issuer: Option<&'a str>,
}

/// A generated key not yet stored ([`Keys::make`]); its private half is redacted from `Debug`.
#[derive(Debug)]
pub struct MadeKey {
    record: StoredKey,
}

/// The answer to a queued key ([`Keys::store_queued`]): committed, with audit rows to log, or
/// the store's error.
pub type KeyCommit = Result<Committed<()>, StoreError>;

/// The log line of a stored new key (ids and algorithm only).
fn log_generated(key: &Key) {
    tracing::info!(target: "keysmith::audit", action = "generate", key.id = %key.id, key.algorithm = %key.algorithm, "key generated");
}

/// A made key queued for the store's commit ([`Keys::store_queued`]), not yet durable: only
/// [`QueuedKey::finish`] gives its key back, with the commit's answer.
#[derive(Debug)]
#[must_use = "a queued key is finished by QueuedKey::finish"]
pub struct QueuedKey {
    key: Key,
}

impl QueuedKey {
    /// Finishes [`Keys::store_queued`] with the commit's answer: logs the key (published at
    /// its commit). Returns it with the number of audit rows its commit carried.
    pub fn finish(self, committed: KeyCommit) -> Result<(Key, u64), ServiceError> {
        let ((), audit_rows) = committed?.log_audit();
        log_generated(&self.key);
        Ok((self.key, audit_rows))
    }
}

/// What to import: PEM material, name, kid and secret.
#[derive(Clone, Copy, Default)]
pub struct ImportRequest<'a> {
    /// `key.algorithm`; inferred when absent.
    pub algorithm: Option<&'a str>,
    /// `key.type`.
    pub key_type: Option<&'a str>,
    /// `key.name`.
    pub name: Option<&'a str>,
    /// `key.kid`.
    pub kid: Option<&'a str>,
    /// `key.certificate`.
    pub certificate: Option<&'a str>,
    /// `key.publicKey`.
    pub public_key: Option<&'a str>,
    /// `key.privateKey`.
    pub private_key: Option<&'a str>,
    /// `key.secret`.
    pub secret: Option<&'a str>,
}

impl std::fmt::Debug for ImportRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("algorithm", &self.algorithm)
            .field("key_type", &self.key_type)
            .field("name", &self.name)
            .field("kid", &self.kid)
            .field("certificate", &self.certificate.map(str::len))
            .field("public_key", &self.public_key.map(str::len))
            .field("private_key", &keysmith_model::redacted(&self.private_key))
            .field("secret", &keysmith_model::redacted(&self.secret))
            .finish()
    }
}

/// The shared core of the use cases, over one backend and one store: cheap to clone. The use
/// cases are its services: [`keys`](Self::keys), [`tokens`](Self::tokens),
/// [`connections`](Self::connections) and [`tenant_keys`](Self::tenant_keys).
#[derive(Debug, Clone)]
pub struct KeyService {
    backend: Arc<dyn KeyBackend>,
    store: Arc<dyn KeyStore>,
    config: ServiceConfig,
    pub(crate) published: Arc<Publisher>,
    pub(crate) loaded: Arc<LoadedKeys>,
    /// The JSON of recently read keys ([`Keys::retrieve_json`]).
    key_json: Arc<crate::key_json::KeyJson>,
    /// Key generation time (the crypto, with the self-signed certificate), by algorithm and
    /// backend.
    generation_seconds: Arc<crate::metrics::HistogramVec>,
    /// RSA pairs made ahead of need (`None`: every RSA key is made on request).
    rsa_pool: Option<Arc<crate::rsa_pool::RsaPool>>,
}

/// A key id given as text (a UUID).
pub(crate) fn parse_key_id(text: &str) -> Result<KeyId, Errors> {
    text.parse()
        .map_err(|_| Errors::field("keyId", Reason::Invalid, "The key id must be a UUID."))
}

impl KeyService {
    /// A service over `backend` and `store`.
    pub fn new(
        backend: Arc<dyn KeyBackend>,
        store: Arc<dyn KeyStore>,
        config: ServiceConfig,
    ) -> Self {
        let rsa_pool =
            crate::rsa_pool::RsaPool::start(backend.clone(), config.rsa_pool).map(Arc::new);
        let service = Self {
            backend,
            store,
            published: Arc::new(Publisher::new(config.published_cache_bytes)),
            config,
            loaded: Arc::default(),
            key_json: Arc::default(),
            generation_seconds: Arc::default(),
            rsa_pool,
        };
        // Another node's change (a shared database) drops what this one cached of the store.
        let (published, loaded) = (service.published.clone(), service.loaded.clone());
        let watched = service.store.watch_changes(Arc::new(move || {
            published.changed();
            loaded.clear();
        }));
        if let Err(err) = watched {
            tracing::error!(
                error = %keysmith_store::error_chain(&err),
                "cannot follow other nodes' changes: cached keys may go stale"
            );
        }
        service
    }

    /// The crypto backend.
    pub fn backend(&self) -> &Arc<dyn KeyBackend> {
        &self.backend
    }

    /// The RSA pool's figures per pooled size, for `/metrics` (empty when there is no pool).
    pub fn rsa_pool_stats(&self) -> Vec<crate::RsaPoolStats> {
        self.rsa_pool
            .as_ref()
            .map(|pool| pool.stats())
            .unwrap_or_default()
    }

    /// Key generation durations, for `/metrics`.
    pub fn generation_seconds(&self) -> &crate::metrics::HistogramVec {
        &self.generation_seconds
    }

    /// The settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// What is published anonymously (JWKS, public keys), as of the last committed change,
    /// whole, however large the set (for the command line and tests; the server asks
    /// [`Self::published_answer`]).
    pub fn published(&self) -> Result<Arc<Published>, ServiceError> {
        self.published.current(&*self.backend, &*self.store)
    }

    /// The published documents whole when they fit in `published_cache_bytes`, otherwise an
    /// answer to stream with [`Self::write_published`].
    pub fn published_answer(&self) -> Result<PublishedAnswer, ServiceError> {
        self.published.answer(&*self.backend, &*self.store)
    }

    /// The JSON kept of keys read by id, and how reads were answered since start.
    pub fn key_json_stats(&self) -> crate::KeyJsonStats {
        self.key_json.stats()
    }

    /// [`Self::published_answer`] if it is kept in memory and current, else `None`: it reads
    /// no store and waits for no build, so an async handler may call it inline.
    pub fn published_kept(&self) -> Option<PublishedAnswer> {
        self.published.kept()
    }

    /// Writes a published document from the store, a page of keys at a time (memory does not
    /// grow with the number of keys). Stops at the first failed write.
    pub fn write_published(
        &self,
        document: PublishedDocument,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ServiceError> {
        Publisher::write(&*self.backend, &*self.store, Source::All, document, out)
    }

    /// The JWKS of the published keys whose `issuer` is exactly `issuer` (the issuer given
    /// when they were generated), in id order, for relying parties that trust one issuer:
    /// whole when it fits in `published_cache_bytes`, otherwise an answer to stream with
    /// [`Self::write_issuer_jwks`]. `{"keys":[]}` for an issuer without keys. Reads the
    /// store's issuer index: the cost is that of the issuer's keys, whatever the others.
    pub fn issuer_jwks(&self, issuer: &str) -> Result<IssuerJwks, ServiceError> {
        self.published
            .issuer_answer(&*self.backend, &*self.store, issuer)
    }

    /// [`Self::issuer_jwks`] if it is kept in memory and current, else `None`: reads no store,
    /// so an async handler may call it inline.
    pub fn issuer_jwks_kept(&self, issuer: &str) -> Option<IssuerJwks> {
        self.published.issuer_kept(issuer)
    }

    /// Writes the JWKS of `issuer` from the store, a page of keys at a time (memory does not
    /// grow with the number of keys). Stops at the first failed write.
    pub fn write_issuer_jwks(
        &self,
        issuer: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ServiceError> {
        Publisher::write(
            &*self.backend,
            &*self.store,
            Source::Issuer(issuer),
            PublishedDocument::Jwks,
            out,
        )
    }

    /// The SPKI PEM of the published key with `kid`: `None` for an unknown kid, an HMAC key or
    /// a key withdrawn from its ring (revoked, or an encryption key). Read from the store; while
    /// the store is unreachable, from the published documents this node keeps in memory.
    pub fn published_public_key(&self, kid: &str) -> Result<Option<String>, ServiceError> {
        // Any of the three reads may be the one that meets an outage.
        match self.stored_public_key(kid) {
            Err(StoreError::Unavailable(why)) => self
                .published
                .cached_public_key(kid)
                .ok_or(ServiceError::Unavailable(why)),
            answer => Ok(answer?),
        }
    }

    fn stored_public_key(&self, kid: &str) -> Result<Option<String>, StoreError> {
        let Some(id) = self.store.id_by_kid(kid)? else {
            return Ok(None);
        };
        let Some(key) = self.store.get_key(&id)? else {
            return Ok(None);
        };
        if key.key_type == keysmith_model::KeyType::Hmac
            || crate::rings::is_withdrawn(&*self.store, &id)?
        {
            return Ok(None);
        }
        Ok(key.public_key)
    }

    /// The JWKS of the ring of `owner` (its current, next and previous keys), for relying
    /// parties that trust one connection or the tenant's signing keys rather than every key.
    /// Empty (`{"keys":[]}`) if the owner has no ring yet; a connection that does not exist is
    /// [`ServiceError::NotFound`].
    pub fn ring_jwks(
        &self,
        owner: &keysmith_model::RingOwner,
    ) -> Result<crate::published::ScopedJwks, ServiceError> {
        if let Some(id) = owner.connection_id()
            && self.store.connection(id)?.is_none()
        {
            return Err(ServiceError::NotFound);
        }
        let published: Vec<KeyId> = self
            .store
            .ring(owner)?
            .iter()
            .flat_map(|ring| ring.keys())
            .filter(|(_, role)| *role != keysmith_model::RingRole::Revoked)
            .map(|(key, _)| key.id)
            .collect();
        Publisher::subset(&*self.backend, &*self.store, &published)
    }

    /// Records a committed change to the keys (added, renamed, deleted, restored, withdrawn
    /// from a ring): the published documents are written again at the next request.
    pub(crate) fn published_changed(&self) {
        self.published.changed();
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Parses a path id (`[invalid]keyId` when it is not a UUID).
    pub fn parse_id(&self, text: &str) -> Result<KeyId, ServiceError> {
        Ok(parse_key_id(text)?)
    }

    /// The key use cases: generate, import, read, rename, delete, restore and search keys.
    pub fn keys(&self) -> Keys<'_> {
        Keys { core: self }
    }

    /// A new asymmetric key with FusionAuth's self-signed certificate (kid = its SHA-1
    /// thumbprint), ready to store, and its public key.
    pub(crate) fn build_asymmetric(
        &self,
        id: KeyId,
        algorithm: Algorithm,
        length: Option<u32>,
        name: String,
        issuer: String,
    ) -> Result<StoredKey, ServiceError> {
        let now = epoch_millis_now();
        let mut key = Key::new(id, algorithm, name, now);
        let params = certificate::fusionauth_params(
            &id,
            &issuer,
            now / 1000,
            self.config.certificate_validity_years,
        );
        let started = std::time::Instant::now();
        let (generated, fields, info) = self.create_with_certificate(algorithm, length, &params)?;
        self.generation_seconds.observe(
            &[algorithm.as_str(), self.backend.name()],
            started.elapsed().as_secs_f64(),
        );
        let public = generated.public.ok_or_else(|| {
            ServiceError::internal(keysmith_crypto::Error::rejected("no public key"))
        })?;
        key.kid = info.sha1_thumbprint.clone();
        fill_asymmetric(&mut key, &public, Some((&fields, info)), true);
        key.issuer = Some(issuer);
        let record = StoredKey {
            key,
            private: Some(generated.private),
        };
        Ok(record)
    }

    fn create_with_certificate(
        &self,
        algorithm: Algorithm,
        length: Option<u32>,
        params: &CertificateParams<'_>,
    ) -> Result<certificate::Certified, ServiceError> {
        let pooled = match (&self.rsa_pool, length) {
            (Some(pool), Some(bits)) if algorithm.key_type() == KeyType::Rsa => pool.take(bits),
            _ => None,
        };
        let made = match pooled {
            Some(pair) => certificate::certify(&*self.backend, algorithm, pair, params),
            None => certificate::create_with_certificate(&*self.backend, algorithm, length, params),
        };
        made.map_err(|e| match e {
            keysmith_crypto::Error::Rejected(message) => {
                ServiceError::Invalid(Errors::field("key.issuer", Reason::Invalid, message))
            }
            other => ServiceError::from(other),
        })
    }
}

/// The key use cases (FusionAuth's `/api/key`): generate, import, read, rename, delete,
/// restore and search keys. A view of the shared [`KeyService`].
#[derive(Clone, Copy, Debug)]
pub struct Keys<'a> {
    pub(crate) core: &'a KeyService,
}

impl Keys<'_> {
    /// Generates a key: RSA/EC/OKP/AKP with FusionAuth's self-signed certificate (kid = its SHA-1
    /// thumbprint), or an HMAC secret (kid = 10 random hex characters). [`Self::make`] then
    /// [`Self::store`].
    pub fn generate(
        &self,
        id: Option<KeyId>,
        request: &GenerateRequest<'_>,
    ) -> Result<Key, ServiceError> {
        let made = self.make(id, request)?;
        self.store(made)
    }

    /// The CPU-bound half of [`Self::generate`]: validates the request and makes the key and
    /// its certificate, storing nothing. A caller that bounds concurrent generations bounds
    /// this half only, so that the durable half of many requests can share one commit.
    pub fn make(
        &self,
        id: Option<KeyId>,
        request: &GenerateRequest<'_>,
    ) -> Result<MadeKey, ServiceError> {
        let spec = validate::generate_spec(
            request.algorithm,
            request.length,
            request.name,
            request.issuer,
        );
        let (mut spec, mut errors) = match spec {
            Ok(spec) => (Some(spec), Errors::new()),
            Err(errors) => (None, errors),
        };
        let before = errors.field_errors.len();
        self.check_field_lengths(
            &mut errors,
            &[("key.name", request.name), ("key.issuer", request.issuer)],
        );
        if errors.field_errors.len() > before {
            spec = None;
        }
        if let Some(algorithm) = spec.as_ref().map(|s| s.algorithm)
            && !self.core.backend.supports(algorithm)
        {
            errors.add_field(
                "key.algorithm",
                Reason::NotAllowed,
                format!(
                    "{algorithm} is not available on this server's {} backend ({}): ML-DSA needs the aws-lc backend or OpenSSL 3.5 or newer.",
                    self.core.backend.name(),
                    self.core.backend.library()
                ),
            );
            spec = None;
        }
        self.check_unique(
            &mut errors,
            id.as_ref(),
            spec.as_ref().map(|s| s.name.as_str()),
            None,
        )?;
        let spec = errors.require(spec)?;
        let GenerateSpec {
            algorithm,
            length,
            name,
            issuer,
        } = spec;
        let id = id.unwrap_or_else(KeyId::random);
        let record = if algorithm.key_type() == KeyType::Hmac {
            let now = epoch_millis_now();
            let mut key = Key::new(id, algorithm, name, now);
            let started = std::time::Instant::now();
            let generated = self.core.backend.generate(algorithm, None)?;
            self.core.generation_seconds.observe(
                &[algorithm.as_str(), self.core.backend.name()],
                started.elapsed().as_secs_f64(),
            );
            key.kid = self.random_kid()?;
            StoredKey {
                key,
                private: Some(generated.private),
            }
        } else {
            let issuer = issuer.unwrap_or_else(|| self.core.config.default_issuer.clone());
            self.core
                .build_asymmetric(id, algorithm, length, name, issuer)?
        };
        Ok(MadeKey { record })
    }

    /// Stores made keys all or none in one change ([`keysmith_store::KeyRecords::insert_many`]),
    /// and publishes them: for bulk generation, where one change per key would cost a queue
    /// hand-off per key.
    pub fn store_many(&self, made: Vec<MadeKey>) -> Result<Vec<Key>, ServiceError> {
        let records: Vec<StoredKey> = made.into_iter().map(|m| m.record).collect();
        self.core.store.insert_many(&records)?;
        self.core.published_changed();
        Ok(records.into_iter().map(|r| r.key).collect())
    }

    /// The durable half of [`Self::generate`]: stores a made key (uniqueness is checked again
    /// in the store's transaction) and publishes it. Returns after the commit.
    pub fn store(&self, made: MadeKey) -> Result<Key, ServiceError> {
        self.core.store.insert(&made.record)?;
        let key = made.record.key;
        log_generated(&key);
        self.core.published_changed();
        Ok(key)
    }

    /// [`Self::store`] that returns before the commit: queues the made key for the store's
    /// next group commit and calls `on_commit` (perhaps on the store's writer thread, so it
    /// must only hand the answer on) once it is done. A caller waiting asynchronously holds no
    /// thread meanwhile; it finishes with [`QueuedKey::finish`].
    ///
    /// The key is published at its commit, before `on_commit` runs, so the JWKS shows it even
    /// if the caller never finishes (its request dropped).
    pub fn store_queued(
        &self,
        made: MadeKey,
        on_commit: impl FnOnce(KeyCommit) + Send + 'static,
    ) -> QueuedKey {
        let published = self.core.published.clone();
        self.core.store.insert_then(
            &made.record,
            Box::new(move |committed: KeyCommit| {
                if committed.is_ok() {
                    published.changed();
                }
                on_commit(committed);
            }),
        );
        QueuedKey {
            key: made.record.key,
        }
    }

    /// Refuses names, kids and issuers longer than the configured limit (FusionAuth's 255 is
    /// checked by validation; an operator may set a lower one).
    fn check_field_lengths(&self, errors: &mut Errors, fields: &[(&str, Option<&str>)]) {
        let max = self.core.config.max_field_length;
        for (field, text) in fields {
            if text.is_some_and(|t| {
                let count = t.trim().chars().count();
                count > max && count <= MAX_NAME_LENGTH
            }) {
                errors.add_field(
                    field,
                    Reason::TooLong,
                    format!("{field} is longer than {max} characters."),
                );
            }
        }
    }

    fn random_kid(&self) -> Result<String, ServiceError> {
        let mut bytes = [0u8; 5];
        self.core.backend.fill_random(&mut bytes)?;
        Ok(fingerprint::upper_hex(&bytes).to_lowercase())
    }

    /// Reports a taken id or name (and kid) alongside the other field errors.
    fn check_unique(
        &self,
        errors: &mut Errors,
        id: Option<&KeyId>,
        name: Option<&str>,
        kid: Option<&str>,
    ) -> Result<(), ServiceError> {
        let taken = [
            (
                "key.id",
                "id",
                id.map(|id| self.core.store.contains(id)).transpose()?,
            ),
            (
                "key.name",
                "name",
                name.map(|n| self.core.store.id_by_name(n).map(|o| o.is_some()))
                    .transpose()?,
            ),
            (
                "key.kid",
                "kid",
                kid.map(|k| self.core.store.id_by_kid(k).map(|o| o.is_some()))
                    .transpose()?,
            ),
        ];
        for (field, what, taken) in taken {
            if taken == Some(true) {
                errors.add_field(
                    field,
                    Reason::Duplicate,
                    format!("A key with this {what} already exists."),
                );
            }
        }
        Ok(())
    }

    /// Imports a key: certificate, public key, private key, a pair, or an HMAC secret.
    pub fn import(
        &self,
        id: Option<KeyId>,
        request: &ImportRequest<'_>,
    ) -> Result<Key, ServiceError> {
        let mut errors = Errors::new();
        let name = validate::required_text(&mut errors, "key.name", request.name, MAX_NAME_LENGTH);
        let kid = validate::kid_field(&mut errors, "key.kid", request.kid);
        let algorithm =
            validate::algorithm_field(&mut errors, "key.algorithm", request.algorithm, false);
        let key_type = validate::key_type_field(&mut errors, "key.type", request.key_type);
        self.check_field_lengths(
            &mut errors,
            &[("key.name", request.name), ("key.kid", request.kid)],
        );
        self.check_unique(&mut errors, id.as_ref(), name.as_deref(), kid.as_deref())?;
        // Oversized material is refused before it is parsed at all.
        let mut too_long = false;
        for (field, text) in [
            ("key.certificate", request.certificate),
            ("key.publicKey", request.public_key),
            ("key.privateKey", request.private_key),
            ("key.secret", request.secret),
        ] {
            if text.is_some_and(|t| t.len() > self.core.config.max_pem_bytes) {
                too_long = true;
                errors.add_field(
                    field,
                    Reason::TooLong,
                    format!(
                        "{field} is longer than {} bytes.",
                        self.core.config.max_pem_bytes
                    ),
                );
            }
        }
        if too_long {
            return Err(ServiceError::Invalid(errors));
        }
        let input = ImportInput {
            algorithm,
            key_type,
            certificate: request.certificate,
            public_key: request.public_key,
            private_key: request.private_key,
            secret: request.secret,
        };
        let material = match import::import(&*self.core.backend, &input) {
            Ok(material) => Some(material),
            Err(more) => {
                for (field, details) in more.field_errors {
                    errors
                        .field_errors
                        .entry(field)
                        .or_default()
                        .extend(details);
                }
                errors.general_errors.extend(more.general_errors);
                None
            }
        };
        let (name, material) = match (name, material) {
            (Some(name), Some(material)) if errors.is_empty() => (name, material),
            _ => return Err(ServiceError::Invalid(errors)),
        };
        let now = epoch_millis_now();
        let id = id.unwrap_or_else(KeyId::random);
        let mut key = Key::new(id, material.algorithm, name, now);
        if let Some(public) = &material.public_key {
            let certificate = match &material.certificate {
                Some(fields) => Some((
                    fields,
                    certificate::information(&*self.core.backend, fields)?,
                )),
                None => None,
            };
            key.kid = match (&kid, &certificate) {
                (Some(kid), _) => kid.clone(),
                (None, Some((_, info))) => info.sha1_thumbprint.clone(),
                (None, None) => {
                    let input = jwk::thumbprint_input(&public.components);
                    fingerprint::base64url(
                        &self
                            .core
                            .backend
                            .digest(HashAlgorithm::Sha256, input.as_bytes())?,
                    )
                }
            };
            key.issuer = material.certificate.as_ref().map(certificate_issuer);
            fill_asymmetric(&mut key, public, certificate, material.private.is_some());
        } else {
            key.kid = match kid {
                Some(kid) => kid,
                None => self.random_kid()?,
            };
        }
        if let Err(invariant) = key.check_invariants() {
            return Err(ServiceError::internal(std::io::Error::other(invariant)));
        }
        self.core.store.insert(&StoredKey {
            key: key.clone(),
            private: material.private,
        })?;
        tracing::info!(target: "keysmith::audit", action = "import", key.id = %key.id, key.algorithm = %key.algorithm, "key imported");
        self.core.published_changed();
        Ok(key)
    }

    /// One key.
    pub fn retrieve(&self, id: &KeyId) -> Result<Key, ServiceError> {
        self.core.store.get_key(id)?.ok_or(ServiceError::NotFound)
    }

    /// The JSON of [`Self::retrieve`]'s key (the bytes `serde_json::to_vec` makes of it). The
    /// record is read every time; the JSON made from it is kept for the next read of the same
    /// record (`key_json.rs`), so a key read over and over is not encoded again.
    pub fn retrieve_json(&self, id: &KeyId) -> Result<Arc<[u8]>, ServiceError> {
        let record = self
            .core
            .store
            .key_record(id)?
            .ok_or(ServiceError::NotFound)?;
        self.core.key_json.of(*id, record)
    }

    /// Every key, in insertion order.
    pub fn list(&self) -> Result<Vec<Key>, ServiceError> {
        Ok(self.core.store.list()?)
    }

    /// Writes `{"keys":[...]}` with every key, oldest first (the bytes of serialising
    /// [`Self::list`]), reading the store a page of keys at a time: the memory it takes does
    /// not grow with the number of keys. Stops at the first failed write.
    pub fn write_list(&self, out: &mut dyn std::io::Write) -> Result<(), ServiceError> {
        let written = |result: std::io::Result<()>| result.map_err(ServiceError::internal);
        written(out.write_all(b"{\"keys\":["))?;
        let mut first = true;
        crate::pages::for_each_key(&*self.core.store, &mut |key| {
            if !first {
                written(out.write_all(b","))?;
            }
            first = false;
            serde_json::to_writer(&mut *out, key).map_err(ServiceError::internal)?;
            Ok(true)
        })?;
        written(out.write_all(b"]}"))
    }

    /// Renames a key; every other field of the request is ignored (FusionAuth changes only the
    /// name on update).
    pub fn rename(&self, id: &KeyId, name: Option<&str>) -> Result<Key, ServiceError> {
        let mut errors = Errors::new();
        let checked = validate::required_text(&mut errors, "key.name", name, MAX_NAME_LENGTH);
        self.check_field_lengths(&mut errors, &[("key.name", name)]);
        let name = errors.require(checked)?;
        if let Some(owner) = self.core.store.id_by_name(&name)?
            && owner != *id
        {
            return Err(Errors::field(
                "key.name",
                Reason::Duplicate,
                "A key with this name already exists.",
            )
            .into());
        }
        let key = self
            .core
            .store
            .rename(id, &name, epoch_millis_now())?
            .ok_or(ServiceError::NotFound)?;
        tracing::info!(target: "keysmith::audit", action = "update", key.id = %key.id, "key renamed");
        self.core.published_changed();
        Ok(key)
    }

    /// Deletes a key: at once and for good, or, with a deletion window, restorably until the
    /// window ends. Either way it stops being served at once.
    pub fn delete(&self, id: &KeyId) -> Result<(), ServiceError> {
        let window = self.core.config.deletion_window_seconds;
        let deleted = if window == 0 {
            self.core.store.delete(id)?
        } else {
            let window_ms = i64::try_from(window.saturating_mul(1000)).unwrap_or(i64::MAX);
            self.core
                .store
                .delete_restorably(id, epoch_millis_now().saturating_add(window_ms))?
        };
        self.core.loaded.forget(id);
        self.core.published_changed();
        if !deleted {
            return Err(ServiceError::NotFound);
        }
        tracing::info!(target: "keysmith::audit", action = "delete", key.id = %id, restorable_for_seconds = window, "key deleted");
        Ok(())
    }

    /// Brings back a key deleted within the deletion window, in the state it was deleted in:
    /// a revoked ring key comes back revoked in its ring (withdrawn: not published, not usable).
    pub fn restore(&self, id: &KeyId) -> Result<Key, ServiceError> {
        let key = self.core.store.restore(id)?.ok_or(ServiceError::NotFound)?;
        tracing::info!(target: "keysmith::audit", action = "restore", key.id = %id, "key restored");
        self.core.published_changed();
        Ok(key)
    }

    /// The keys that can still be restored, with the instant each will be purged.
    pub fn deleted(&self) -> Result<Vec<(Key, i64)>, ServiceError> {
        Ok(self.core.store.deleted_keys()?)
    }

    /// Purges the deleted keys whose window has ended. Returns their ids.
    pub fn purge_deleted(&self) -> Result<Vec<KeyId>, ServiceError> {
        Ok(self.core.store.purge_deleted(epoch_millis_now())?)
    }
}

use crate::ServiceError;

/// The common name of a certificate's issuer, FusionAuth's `issuer` for an imported
/// certificate; the whole DN when it has no common name.
fn certificate_issuer(fields: &CertificateFields) -> String {
    fields
        .issuer
        .iter()
        .flatten()
        .find(|a| a.oid == "2.5.4.3")
        .and_then(|a| match &a.value {
            AttributeValue::Text(text) => Some(text.clone()),
            AttributeValue::Der(_) => None,
        })
        .unwrap_or_else(|| keysmith_crypto::dn::format_rfc4514(&fields.issuer))
}

/// Fills the fields only asymmetric keys have.
fn fill_asymmetric(
    key: &mut Key,
    public: &keysmith_crypto::PublicKeyInfo,
    certificate: Option<(&CertificateFields, CertificateInformation)>,
    has_private_key: bool,
) {
    key.public_key = Some(public.to_pem());
    key.length = Some(public.length);
    key.has_private_key = Some(has_private_key);
    if let Some((fields, info)) = certificate {
        key.certificate = Some(fields.to_pem());
        key.expiration_instant = Some(info.valid_to);
        key.certificate_information = Some(info);
    }
}
