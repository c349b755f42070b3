//! What Keysmith publishes anonymously: the JWKS and the public keys by kid.
//!
//! Nothing per key is held in memory. Both documents are written from the store, a page of
//! keys at a time, in insertion order ([`Publisher::write`]). When the two fit in
//! `published_cache_bytes` together they are kept as bytes until the next change, so most sets
//! are served from memory and a burst of writes costs one rebuild; a larger set is streamed
//! from the store on every request, in constant memory. A change bumps the version, which drops
//! the bytes: the store is the only source of truth, so nothing can drift from it.
//!
//! One issuer's JWKS is written the same way from the store's issuer index (in id order), and
//! kept per issuer until the next change while the kept issuer documents together fit in
//! `published_cache_bytes`; a document larger than that is streamed ([`IssuerJwks`]).

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use keysmith_crypto::jwk::{Jwk, JwkSet};
use keysmith_crypto::{KeyBackend, fingerprint, import, pem};
use keysmith_model::{HashAlgorithm, Key, KeyId, KeyUse};
use keysmith_store::KeyStore;
use serde_json::value::RawValue;

use crate::ServiceError;

/// The published documents, whole, as bytes.
#[derive(Debug, Default)]
pub struct Published {
    /// A [`JwkSet`], serialised: every RSA, EC and OKP key as a JWK, in insertion order; never
    /// HMAC keys, nor revoked or encryption ring keys.
    pub jwks_json: Vec<u8>,
    /// A strong ETag (quoted) computed from the content: the JWKS bytes and every published
    /// key's id, name and update time, so a rename changes it too. Every process serving the
    /// same keys gives the same one.
    pub jwks_etag: String,
    /// `{"publicKeys":{kid: SPKI PEM}}` with every key of the JWKS, in insertion order.
    pub public_keys_json: Vec<u8>,
}

/// A published document ([`Publisher::write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedDocument {
    /// The JWKS (`/.well-known/jwks.json`).
    Jwks,
    /// Every public key by kid (`/api/jwt/public-key`).
    PublicKeys,
}

/// How the published documents are served right now.
#[derive(Debug, Clone)]
pub enum PublishedAnswer {
    /// Whole, from memory.
    Whole(Arc<Published>),
    /// Too large to keep: write them with [`crate::KeyService::write_published`]. `etag` is
    /// computed from the keys, as a whole answer's is (the same on every node).
    Streamed {
        /// A strong ETag (quoted).
        etag: String,
    },
}

/// The JWKS of one key ring ([`crate::KeyService::ring_jwks`]): its current, next and
/// previous keys, never a revoked one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedJwks {
    /// A [`JwkSet`], serialised, in the ring's order: current, next, previous.
    pub json: Vec<u8>,
    /// A strong ETag (quoted) computed from `json` alone, so every node serving the same keys
    /// gives the same one.
    pub etag: String,
}

/// How one issuer's JWKS is served right now ([`crate::KeyService::issuer_jwks`]).
#[derive(Debug, Clone)]
pub enum IssuerJwks {
    /// Whole, from memory: `json` in the issuer's keys' id order; `etag` computed from the
    /// keys as the full JWKS's is (the same whether the document is kept or streamed).
    Whole(Arc<ScopedJwks>),
    /// Larger than `published_cache_bytes`: write it with
    /// [`crate::KeyService::write_issuer_jwks`].
    Streamed {
        /// A strong ETag (quoted).
        etag: String,
    },
}

/// What is published: every key, or the keys of one issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source<'a> {
    /// Every published key, in insertion order.
    All,
    /// The published keys whose `issuer` is exactly this, in id order.
    Issuer(&'a str),
}

/// The issuers' documents kept for one version.
#[derive(Debug, Default)]
struct IssuerCache {
    version: u64,
    entries: HashMap<String, IssuerJwks>,
    /// The bytes `entries` holds: issuers and whole documents.
    bytes: usize,
}

/// At most this many issuers' documents are kept at a time (each costs at least its entry).
const MAX_ISSUERS_KEPT: usize = 1024;

/// An empty JWKS: not kept per issuer (any string is an issuer without keys; they cost one
/// index read to answer).
const EMPTY_JWKS: &[u8] = b"{\"keys\":[]}";

/// The documents' version and the bytes kept for it.
#[derive(Debug)]
pub(crate) struct Publisher {
    /// Bumped after every committed change that may alter what is published.
    version: AtomicU64,
    cache: RwLock<Cache>,
    issuers: RwLock<IssuerCache>,
    /// One build at a time: requests after a change wait for it instead of each building.
    building: Mutex<()>,
    /// One build per issuer at a time, the same way (other issuers do not wait for it). An
    /// entry lives while a build or a waiter holds it, so the map does not grow with the
    /// issuers asked for.
    issuer_building: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    cache_bytes: usize,
}

#[derive(Debug, Default)]
struct Cache {
    /// The whole documents and the version they were built at.
    whole: Option<(u64, Arc<Published>)>,
    /// The version found too large to keep (streamed without trying again), with its ETag.
    too_large: Option<(u64, String)>,
}

/// The serialised JWK of `key`, or `None` for a key without one (HMAC).
fn jwk_of(backend: &dyn KeyBackend, key: &Key) -> Result<Option<Box<RawValue>>, ServiceError> {
    let Some(public_pem) = key
        .public_key
        .as_ref()
        .filter(|_| key.key_type.is_asymmetric())
    else {
        return Ok(None);
    };
    // A stored key was checked when it was stored: its structure is enough (fast on every
    // backend). A PEM of another shape goes to the backend.
    let public = match import::stored_public_key(public_pem) {
        Ok(public) => public,
        Err(_) => import::decode_public_key(backend, public_pem)?,
    };
    let mut jwk = Jwk::new(&public, &key.kid, key.algorithm, KeyUse::Signing);
    if let (Some(certificate), Some(info)) = (&key.certificate, &key.certificate_information) {
        let der = pem::decode(certificate)?;
        jwk = jwk.with_certificate(&der.contents, info);
    }
    serde_json::value::to_raw_value(&jwk)
        .map(Some)
        .map_err(ServiceError::internal)
}

/// What [`for_each_published`] calls with each key and its JWK; it answers whether to go on.
type Visit<'a> = dyn FnMut(&Key, Option<&RawValue>) -> Result<bool, ServiceError> + 'a;

/// Calls `visit` with every key of `source` that is published (not withdrawn from its ring)
/// and its JWK, in the source's order, reading the store a page at a time. `visit` answers
/// whether to go on; the result is whether every key was visited.
fn for_each_published(
    backend: &dyn KeyBackend,
    store: &dyn KeyStore,
    source: Source<'_>,
    visit: &mut Visit<'_>,
) -> Result<bool, ServiceError> {
    let withdrawn = crate::rings::withdrawn_keys(store)?;
    let mut published = |key: &Key| {
        if withdrawn.contains(&key.id) {
            return Ok(true);
        }
        visit(key, jwk_of(backend, key)?.as_deref())
    };
    match source {
        Source::All => crate::pages::for_each_key(store, &mut published),
        Source::Issuer(issuer) => {
            crate::pages::for_each_key_of_issuer(store, issuer, &mut published)
        }
    }
}

/// Writes one document as its keys come: the head, one member per key, the tail.
struct DocumentWriter<'a> {
    document: PublishedDocument,
    out: &'a mut dyn Write,
    members: u64,
}

impl<'a> DocumentWriter<'a> {
    fn start(document: PublishedDocument, out: &'a mut dyn Write) -> std::io::Result<Self> {
        out.write_all(match document {
            PublishedDocument::Jwks => b"{\"keys\":[",
            PublishedDocument::PublicKeys => b"{\"publicKeys\":{",
        })?;
        Ok(Self {
            document,
            out,
            members: 0,
        })
    }

    fn key(&mut self, key: &Key, jwk: Option<&RawValue>) -> std::io::Result<()> {
        // The public key is published exactly when the JWK is.
        let (Some(jwk), Some(public_pem)) = (jwk, &key.public_key) else {
            return Ok(());
        };
        if self.members > 0 {
            self.out.write_all(b",")?;
        }
        self.members += 1;
        match self.document {
            PublishedDocument::Jwks => self.out.write_all(jwk.get().as_bytes()),
            PublishedDocument::PublicKeys => {
                serde_json::to_writer(&mut *self.out, &key.kid)?;
                self.out.write_all(b":")?;
                serde_json::to_writer(&mut *self.out, public_pem).map_err(Into::into)
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        self.out.write_all(match self.document {
            PublishedDocument::Jwks => b"]}",
            PublishedDocument::PublicKeys => b"}}",
        })
    }
}

fn write_failed(err: std::io::Error) -> ServiceError {
    ServiceError::internal(err)
}

impl Publisher {
    /// A publisher that keeps the documents in memory while they fit in `cache_bytes`.
    pub(crate) fn new(cache_bytes: usize) -> Self {
        Self {
            version: AtomicU64::new(0),
            cache: RwLock::default(),
            issuers: RwLock::default(),
            building: Mutex::default(),
            issuer_building: Mutex::default(),
            cache_bytes,
        }
    }

    /// Records a committed change (a key added, renamed, deleted, restored, withdrawn): the
    /// next request writes the documents again.
    pub(crate) fn changed(&self) {
        // Bumped before the bytes are dropped: a build that read the old version cannot put
        // its bytes back as current (see `answer`).
        self.version.fetch_add(1, Ordering::AcqRel);
        let mut cache = match self.cache.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.whole = None;
        drop(cache);
        let mut issuers = match self.issuers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *issuers = IssuerCache::default();
    }

    fn cached(&self, version: u64) -> Option<PublishedAnswer> {
        let cache = match self.cache.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &cache.whole {
            Some((at, whole)) if *at == version => Some(PublishedAnswer::Whole(whole.clone())),
            _ => match &cache.too_large {
                Some((at, etag)) if *at == version => {
                    Some(PublishedAnswer::Streamed { etag: etag.clone() })
                }
                _ => None,
            },
        }
    }

    /// The public key of `kid` from the documents kept in memory: `None` when they are not
    /// kept (streamed, or dropped by a change), `Some(None)` when they do not list `kid`.
    /// Parses the document, so it is for when the store cannot answer.
    pub(crate) fn cached_public_key(&self, kid: &str) -> Option<Option<String>> {
        let PublishedAnswer::Whole(whole) = self.cached(self.version.load(Ordering::Acquire))?
        else {
            return None;
        };
        let document: serde_json::Value = serde_json::from_slice(&whole.public_keys_json).ok()?;
        Some(document["publicKeys"][kid].as_str().map(str::to_owned))
    }

    /// The answer kept for the current version, if any: reads no store and waits for no
    /// build (only for the moment a finished build takes to be kept).
    pub(crate) fn kept(&self) -> Option<PublishedAnswer> {
        self.cached(self.version.load(Ordering::Acquire))
    }

    /// The documents whole if they fit in the cache (built now if a change dropped them),
    /// otherwise an answer to stream.
    pub(crate) fn answer(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
    ) -> Result<PublishedAnswer, ServiceError> {
        // The version is read before the store: bytes built from a read that missed a change
        // carry the version before it, which that change has already left behind.
        if let Some(answer) = self.kept() {
            return Ok(answer);
        }
        let _building = match self.building.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let version = self.version.load(Ordering::Acquire);
        if let Some(answer) = self.cached(version) {
            return Ok(answer);
        }
        let built = build(backend, store, Source::All, self.cache_bytes)?;
        let mut cache = match self.cache.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current = self.version.load(Ordering::Acquire) == version;
        match built {
            Built::Whole(whole) => {
                let whole = Arc::new(whole);
                if current {
                    cache.whole = Some((version, whole.clone()));
                }
                Ok(PublishedAnswer::Whole(whole))
            }
            Built::TooLarge { etag } => {
                if current {
                    cache.too_large = Some((version, etag.clone()));
                }
                Ok(PublishedAnswer::Streamed { etag })
            }
        }
    }

    /// The documents whole, however large (the command line's export, tests).
    pub(crate) fn current(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
    ) -> Result<Arc<Published>, ServiceError> {
        if let PublishedAnswer::Whole(whole) = self.answer(backend, store)? {
            return Ok(whole);
        }
        match build(backend, store, Source::All, usize::MAX)? {
            Built::Whole(whole) => Ok(Arc::new(whole)),
            Built::TooLarge { .. } => Err(write_failed(std::io::Error::other(
                "no size limit was passed",
            ))),
        }
    }

    /// The JWKS of `issuer` kept for the current version, if any: reads no store.
    pub(crate) fn issuer_kept(&self, issuer: &str) -> Option<IssuerJwks> {
        let version = self.version.load(Ordering::Acquire);
        let cache = match self.issuers.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.version != version {
            return None;
        }
        cache.entries.get(issuer).cloned()
    }

    /// The JWKS of `issuer`: whole when it fits in the cache (built now if not kept), otherwise
    /// an answer to stream. Kept until the next change unless empty or the kept issuer
    /// documents would pass `published_cache_bytes` or [`MAX_ISSUERS_KEPT`].
    pub(crate) fn issuer_answer(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
        issuer: &str,
    ) -> Result<IssuerJwks, ServiceError> {
        if let Some(kept) = self.issuer_kept(issuer) {
            return Ok(kept);
        }
        let lock = self.issuer_lock(issuer);
        let answer = {
            let _building = match lock.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            match self.issuer_kept(issuer) {
                Some(kept) => Ok(kept),
                None => self.build_issuer(backend, store, issuer),
            }
        };
        self.release_issuer_lock(issuer, lock);
        answer
    }

    /// The build lock of `issuer`, shared by every request building it now.
    fn issuer_lock(&self, issuer: &str) -> Arc<Mutex<()>> {
        let mut locks = match self.issuer_building.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        locks.entry(issuer.to_owned()).or_default().clone()
    }

    /// Drops the build lock of `issuer` from the map when no other request holds it.
    fn release_issuer_lock(&self, issuer: &str, lock: Arc<Mutex<()>>) {
        let mut locks = match self.issuer_building.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Every clone is made and dropped under the map's lock, so the count is exact: 1 is
        // the map's own, and nobody else builds or waits.
        drop(lock);
        if locks
            .get(issuer)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(issuer);
        }
    }

    /// Builds the JWKS of `issuer` and keeps it (see [`Self::issuer_answer`]).
    fn build_issuer(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
        issuer: &str,
    ) -> Result<IssuerJwks, ServiceError> {
        // Read before the store, as in `answer`: bytes from a read that missed a change carry
        // the version that change has already left behind.
        let version = self.version.load(Ordering::Acquire);
        let (answer, size) = match build(backend, store, Source::Issuer(issuer), self.cache_bytes)?
        {
            Built::Whole(whole) => {
                let size = whole.jwks_json.len();
                let scoped = ScopedJwks {
                    json: whole.jwks_json,
                    etag: whole.jwks_etag,
                };
                (IssuerJwks::Whole(Arc::new(scoped)), size)
            }
            Built::TooLarge { etag } => (IssuerJwks::Streamed { etag }, 0),
        };
        if matches!(&answer, IssuerJwks::Whole(whole) if whole.json == EMPTY_JWKS) {
            return Ok(answer);
        }
        let mut cache = match self.issuers.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.version.load(Ordering::Acquire) != version {
            return Ok(answer);
        }
        if cache.version != version {
            *cache = IssuerCache {
                version,
                ..IssuerCache::default()
            };
        }
        let size = size + issuer.len();
        if cache.entries.len() < MAX_ISSUERS_KEPT
            && cache.bytes.saturating_add(size) <= self.cache_bytes
        {
            cache.bytes += size;
            cache.entries.insert(issuer.to_owned(), answer.clone());
        }
        Ok(answer)
    }

    /// Writes `document` of `source` to `out` from the store, a page of keys at a time: the
    /// memory it takes does not grow with the number of keys. Stops at the first failed write.
    /// One issuer's keys are published as a JWKS only.
    pub(crate) fn write(
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
        source: Source<'_>,
        document: PublishedDocument,
        out: &mut dyn Write,
    ) -> Result<(), ServiceError> {
        let mut writer = DocumentWriter::start(document, out).map_err(write_failed)?;
        for_each_published(backend, store, source, &mut |key, jwk| {
            writer.key(key, jwk).map_err(write_failed)?;
            Ok(true)
        })?;
        writer.finish().map_err(write_failed)
    }

    /// The JWKS of the published keys among `ids`, in that order (keys without a JWK are left
    /// out). Reads those keys from the store: O(ids), whatever the number of keys.
    pub(crate) fn subset(
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
        ids: &[KeyId],
    ) -> Result<ScopedJwks, ServiceError> {
        let mut jwks = Vec::new();
        for id in ids {
            if let Some(key) = store.get_key(id)?
                && let Some(jwk) = jwk_of(backend, &key)?
            {
                jwks.push(jwk);
            }
        }
        let keys: Vec<&RawValue> = jwks.iter().map(|jwk| &**jwk).collect();
        let json = serde_json::to_vec(&JwkSet { keys }).map_err(ServiceError::internal)?;
        let digest = backend.digest(HashAlgorithm::Sha256, &json)?;
        Ok(ScopedJwks {
            etag: format!("\"{}\"", fingerprint::base64url(&digest[..18])),
            json,
        })
    }
}

/// What [`build`] made.
enum Built {
    Whole(Published),
    /// The documents pass the limit: only their ETag was kept.
    TooLarge {
        etag: String,
    },
}

/// An ETag computed from the published keys alone, the same on every node that publishes the
/// same keys, whether it keeps the documents whole or streams them. It covers each key's id,
/// name, update time and JWK, in order; the input is digested a chunk at a time, so memory
/// stays bounded whatever the number of keys.
struct ContentTag<'a> {
    backend: &'a dyn KeyBackend,
    chunk: Vec<u8>,
    digests: Vec<u8>,
}

impl<'a> ContentTag<'a> {
    /// Input digested at a time.
    const CHUNK: usize = 64 * 1024;

    fn new(backend: &'a dyn KeyBackend) -> Self {
        Self {
            backend,
            chunk: Vec::new(),
            digests: Vec::new(),
        }
    }

    fn add(&mut self, key: &Key, jwk: Option<&RawValue>) -> Result<(), ServiceError> {
        self.chunk.extend_from_slice(key.id.as_bytes());
        self.chunk.extend_from_slice(key.name.as_bytes());
        self.chunk.push(0);
        self.chunk
            .extend_from_slice(&key.last_update_instant.to_be_bytes());
        if let Some(jwk) = jwk {
            self.chunk.extend_from_slice(jwk.get().as_bytes());
        }
        self.chunk.push(0);
        if self.chunk.len() >= Self::CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ServiceError> {
        let digest = self.backend.digest(HashAlgorithm::Sha256, &self.chunk)?;
        self.digests.extend_from_slice(&digest);
        self.chunk.clear();
        Ok(())
    }

    /// A strong ETag, quoted.
    fn finish(mut self) -> Result<String, ServiceError> {
        self.flush()?;
        let digest = self.backend.digest(HashAlgorithm::Sha256, &self.digests)?;
        Ok(format!("\"{}\"", fingerprint::base64url(&digest[..18])))
    }
}

/// The documents of `source` whole (for one issuer, its JWKS only: `public_keys_json` is
/// empty), or only their ETag as soon as together they pass `limit` bytes (the rest of the
/// keys are then read for the ETag alone).
fn build(
    backend: &dyn KeyBackend,
    store: &dyn KeyStore,
    source: Source<'_>,
    limit: usize,
) -> Result<Built, ServiceError> {
    let (mut jwks_json, mut public_keys_json) = (Vec::new(), Vec::new());
    let mut tag = ContentTag::new(backend);
    let mut jwks =
        DocumentWriter::start(PublishedDocument::Jwks, &mut jwks_json).map_err(write_failed)?;
    // Every key's public-key document only; one issuer's keys are published as a JWKS alone.
    let mut public_keys = match source {
        Source::All => Some(
            DocumentWriter::start(PublishedDocument::PublicKeys, &mut public_keys_json)
                .map_err(write_failed)?,
        ),
        Source::Issuer(_) => None,
    };
    // About the bytes written so far: what decides whether the documents are kept.
    let mut written = 0usize;
    for_each_published(backend, store, source, &mut |key, jwk| {
        // The ETag covers every published key's name and update time, so a rename changes it.
        tag.add(key, jwk)?;
        if written <= limit {
            jwks.key(key, jwk).map_err(write_failed)?;
            written = written.saturating_add(jwk.map_or(0, |jwk| jwk.get().len()));
            if let Some(public_keys) = &mut public_keys {
                public_keys.key(key, jwk).map_err(write_failed)?;
                written = written.saturating_add(
                    key.public_key
                        .as_ref()
                        .map_or(0, |pem| pem.len() + key.kid.len()),
                );
            }
        }
        Ok(true)
    })?;
    let etag = tag.finish()?;
    if written > limit {
        return Ok(Built::TooLarge { etag });
    }
    jwks.finish().map_err(write_failed)?;
    if let Some(public_keys) = public_keys {
        public_keys.finish().map_err(write_failed)?;
    }
    Ok(Built::Whole(Published {
        jwks_json,
        jwks_etag: etag,
        public_keys_json,
    }))
}
