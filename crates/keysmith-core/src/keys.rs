//! The key use cases.

use std::sync::Arc;

use keysmith_crypto::CertificateParams;
use keysmith_crypto::certificate;
use keysmith_crypto::dn::AttributeValue;
use keysmith_crypto::import::{self, ImportInput};
use keysmith_crypto::{CertificateFields, KeyBackend, fingerprint, jwk};
use keysmith_model::search::{DEFAULT_NUMBER_OF_RESULTS, SearchQuery, SortField};
use keysmith_model::validate::{self, GenerateSpec};
use keysmith_model::{
    Algorithm, CertificateInformation, Errors, HashAlgorithm, Key, KeyId, KeyType, MAX_NAME_LENGTH,
    Reason, epoch_millis_now,
};
use keysmith_store::{KeyStore, SearchPage, StoredKey};

use crate::published::{Published, Publisher};
use crate::tokens::LoadedKeys;

/// Settings the use cases need.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The issuer (certificate common name) of generated keys when the request names none.
    pub default_issuer: String,
    /// Validity of generated certificates, in years (FusionAuth: 10).
    pub certificate_validity_years: u32,
    /// The most keys one search may return.
    pub max_search_results: usize,
    /// Lifetime of a vended JWT when the request gives none, in seconds.
    pub jwt_default_ttl_seconds: i64,
    /// The longest lifetime a vend request may ask for, in seconds.
    pub jwt_max_ttl_seconds: i64,
    /// Clock skew allowed when checking `exp` and `nbf`, in seconds.
    pub jwt_clock_skew_seconds: i64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            default_issuer: "keysmith".into(),
            certificate_validity_years: certificate::DEFAULT_VALIDITY_YEARS,
            max_search_results: 500,
            jwt_default_ttl_seconds: 3600,
            jwt_max_ttl_seconds: 366 * 86_400,
            jwt_clock_skew_seconds: 60,
        }
    }
}

/// `POST /api/key/generate` fields.
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

/// `POST /api/key/import` fields.
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

/// Search criteria as FusionAuth's `search` object carries them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchRequest<'a> {
    /// Name pattern.
    pub name: Option<&'a str>,
    /// Key type.
    pub key_type: Option<&'a str>,
    /// Algorithm.
    pub algorithm: Option<&'a str>,
    /// Page size (default 25).
    pub number_of_results: Option<i64>,
    /// Offset (default 0).
    pub start_row: Option<i64>,
    /// `field [ASC|DESC]` (default `name ASC`).
    pub order_by: Option<&'a str>,
}

/// The key use cases over one backend and one store.
#[derive(Debug, Clone)]
pub struct KeyService {
    backend: Arc<dyn KeyBackend>,
    store: Arc<dyn KeyStore>,
    config: ServiceConfig,
    published: Arc<Publisher>,
    pub(crate) loaded: Arc<LoadedKeys>,
}

/// The id of a FusionAuth request path (`/api/key/{keyId}`).
pub fn parse_key_id(text: &str) -> Result<KeyId, Errors> {
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
        Self {
            backend,
            store,
            config,
            published: Arc::default(),
            loaded: Arc::default(),
        }
    }

    /// The crypto backend.
    pub fn backend(&self) -> &Arc<dyn KeyBackend> {
        &self.backend
    }

    /// The settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// What is published anonymously (JWKS, public keys), as of the last committed change.
    pub fn published(&self) -> Result<Arc<Published>, ServiceError> {
        self.published.current(&*self.backend)
    }

    /// Loads every stored key into the published set. Called once at start-up; afterwards
    /// every committed change updates it.
    pub fn publish(&self) -> Result<(), ServiceError> {
        self.published.load_all(&*self.backend, &*self.store)
    }

    /// Publishes a newly stored key. The key stands even if this fails (it would then be
    /// missing from the JWKS until the next start), so a failure is logged, not returned.
    fn publish_added(&self, key: &Key, public: Option<&keysmith_crypto::PublicKeyInfo>) {
        if let Err(err) = self
            .published
            .added(&*self.backend, &*self.store, key, public)
        {
            tracing::error!(error = %err, key.id = %key.id, "could not publish the key");
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Parses a path id (`[invalid]keyId` when it is not a UUID).
    pub fn parse_id(&self, text: &str) -> Result<KeyId, ServiceError> {
        Ok(parse_key_id(text)?)
    }

    /// Generates a key: RSA/EC/OKP with FusionAuth's self-signed certificate (kid = its SHA-1
    /// thumbprint), or an HMAC secret (kid = 10 random hex characters).
    pub fn generate(
        &self,
        id: Option<KeyId>,
        request: &GenerateRequest<'_>,
    ) -> Result<Key, ServiceError> {
        let spec = validate::generate_spec(
            request.algorithm,
            request.length,
            request.name,
            request.issuer,
        );
        let (spec, mut errors) = match spec {
            Ok(spec) => (Some(spec), Errors::new()),
            Err(errors) => (None, errors),
        };
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
        let now = epoch_millis_now();
        let mut key = Key::new(id, algorithm, name, now);
        let (private, public) = if algorithm.key_type() == KeyType::Hmac {
            let generated = self.backend.generate(algorithm, None)?;
            key.kid = self.random_kid()?;
            (generated.private, None)
        } else {
            let issuer = issuer.unwrap_or_else(|| self.config.default_issuer.clone());
            let params = certificate::fusionauth_params(
                &id,
                &issuer,
                now / 1000,
                self.config.certificate_validity_years,
            );
            let (generated, fields, info) =
                self.create_with_certificate(algorithm, length, &params)?;
            let public = generated.public.ok_or_else(|| {
                ServiceError::internal(keysmith_crypto::Error::rejected("no public key"))
            })?;
            key.kid = info.sha1_thumbprint.clone();
            fill_asymmetric(&mut key, &public, Some((&fields, info)), true);
            key.issuer = Some(issuer);
            (generated.private, Some(public))
        };
        self.store.insert(&StoredKey {
            key: key.clone(),
            private: Some(private),
        })?;
        tracing::info!(target: "keysmith::audit", action = "generate", key.id = %key.id, key.algorithm = %key.algorithm, "key generated");
        self.publish_added(&key, public.as_ref());
        Ok(key)
    }

    fn create_with_certificate(
        &self,
        algorithm: Algorithm,
        length: Option<u32>,
        params: &CertificateParams<'_>,
    ) -> Result<
        (
            keysmith_crypto::GeneratedKey,
            CertificateFields,
            CertificateInformation,
        ),
        ServiceError,
    > {
        certificate::create_with_certificate(&*self.backend, algorithm, length, params).map_err(
            |e| match e {
                keysmith_crypto::Error::Rejected(message) => {
                    ServiceError::Invalid(Errors::field("key.issuer", Reason::Invalid, message))
                }
                other => ServiceError::from(other),
            },
        )
    }

    fn random_kid(&self) -> Result<String, ServiceError> {
        let mut bytes = [0u8; 5];
        self.backend.fill_random(&mut bytes)?;
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
                id.map(|id| self.store.contains(id)).transpose()?,
            ),
            (
                "key.name",
                "name",
                name.map(|n| self.store.id_by_name(n).map(|o| o.is_some()))
                    .transpose()?,
            ),
            (
                "key.kid",
                "kid",
                kid.map(|k| self.store.id_by_kid(k).map(|o| o.is_some()))
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
        self.check_unique(&mut errors, id.as_ref(), name.as_deref(), kid.as_deref())?;
        let input = ImportInput {
            algorithm,
            key_type,
            certificate: request.certificate,
            public_key: request.public_key,
            private_key: request.private_key,
            secret: request.secret,
        };
        let material = match import::import(&*self.backend, &input) {
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
                Some(fields) => Some((fields, certificate::information(&*self.backend, fields)?)),
                None => None,
            };
            key.kid = match (&kid, &certificate) {
                (Some(kid), _) => kid.clone(),
                (None, Some((_, info))) => info.sha1_thumbprint.clone(),
                (None, None) => {
                    let input = jwk::thumbprint_input(&public.components);
                    fingerprint::base64url(
                        &self
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
        self.store.insert(&StoredKey {
            key: key.clone(),
            private: material.private,
        })?;
        tracing::info!(target: "keysmith::audit", action = "import", key.id = %key.id, key.algorithm = %key.algorithm, "key imported");
        self.publish_added(&key, material.public_key.as_ref());
        Ok(key)
    }

    /// One key.
    pub fn retrieve(&self, id: &KeyId) -> Result<Key, ServiceError> {
        self.store.get_key(id)?.ok_or(ServiceError::NotFound)
    }

    /// Every key, in insertion order.
    pub fn list(&self) -> Result<Vec<Key>, ServiceError> {
        Ok(self.store.list()?)
    }

    /// Renames a key; every other field of the request is ignored (FusionAuth changes only the
    /// name on update).
    pub fn rename(&self, id: &KeyId, name: Option<&str>) -> Result<Key, ServiceError> {
        let mut errors = Errors::new();
        let name = validate::required_text(&mut errors, "key.name", name, MAX_NAME_LENGTH);
        let name = errors.require(name)?;
        if let Some(owner) = self.store.id_by_name(&name)?
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
            .store
            .rename(id, &name, epoch_millis_now())?
            .ok_or(ServiceError::NotFound)?;
        tracing::info!(target: "keysmith::audit", action = "update", key.id = %key.id, "key renamed");
        self.published.renamed(&key);
        Ok(key)
    }

    /// Deletes a key.
    pub fn delete(&self, id: &KeyId) -> Result<(), ServiceError> {
        let deleted = self.store.delete(id)?;
        self.loaded.forget(id);
        self.published.removed(id);
        if !deleted {
            return Err(ServiceError::NotFound);
        }
        tracing::info!(target: "keysmith::audit", action = "delete", key.id = %id, "key deleted");
        Ok(())
    }

    /// One page of matching keys and the total.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchPage, ServiceError> {
        let query = self.search_query(request)?;
        Ok(self.store.search(&query)?)
    }

    fn search_query(&self, request: &SearchRequest<'_>) -> Result<SearchQuery, Errors> {
        let mut errors = Errors::new();
        let algorithm =
            validate::algorithm_field(&mut errors, "search.algorithm", request.algorithm, false);
        let key_type = validate::key_type_field(&mut errors, "search.type", request.key_type);
        let max = self.config.max_search_results;
        let number_of_results = match request.number_of_results {
            None => DEFAULT_NUMBER_OF_RESULTS.min(max),
            Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => {
                usize::try_from(n).unwrap_or(max)
            }
            Some(_) => {
                errors.add_field(
                    "search.numberOfResults",
                    Reason::Invalid,
                    format!("numberOfResults must be between 1 and {max}."),
                );
                0
            }
        };
        let start_row = match request.start_row {
            None => 0,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                errors.add_field(
                    "search.startRow",
                    Reason::Invalid,
                    "startRow cannot be negative.",
                );
                0
            }
        };
        let (order_by, descending) = match request.order_by.map(str::trim).filter(|s| !s.is_empty())
        {
            None => (SortField::Name, false),
            Some(text) => {
                let mut words = text.split_whitespace();
                let field = words.next().and_then(SortField::parse);
                let direction = match words.next().map(str::to_ascii_uppercase).as_deref() {
                    None | Some("ASC") => Some(false),
                    Some("DESC") => Some(true),
                    Some(_) => None,
                };
                match (field, direction, words.next()) {
                    (Some(field), Some(descending), None) => (field, descending),
                    _ => {
                        errors.add_field(
                            "search.orderBy",
                            Reason::Invalid,
                            "orderBy is a field (algorithm, expiration, id, insertInstant, name, type) optionally followed by ASC or DESC.",
                        );
                        (SortField::Name, false)
                    }
                }
            }
        };
        let name = request
            .name
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        errors.into_result(SearchQuery {
            name,
            key_type,
            algorithm,
            order_by,
            descending,
            start_row,
            number_of_results,
        })
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
