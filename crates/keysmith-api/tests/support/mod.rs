//! The real app, in process: a temporary redb store, the aws-lc backend, the server's
//! middleware, and API keys with known permissions.

#![allow(dead_code)]

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Service as _;
use actix_web::http::header::HeaderMap;
use actix_web::test;
use futures_util::future::LocalBoxFuture;
use keysmith_api::middleware::auth::AcceptedKey;
use keysmith_api::middleware::limits::Limits;
use keysmith_api::{ApiKeys, AppState};
use keysmith_core::audit::AuditTrail;
use keysmith_core::{KeyService, ServiceConfig};
use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_model::Permissions;
use keysmith_store::{KeyStore, RedbStore};
use serde_json::Value;

/// Every permission.
pub(crate) const ADMIN: &str = "test-admin-key-0123456789abcdef";
/// `*:GET`.
pub(crate) const READ_ONLY: &str = "test-read-only-key-0123456789abcdef";
/// `sign:POST`.
pub(crate) const SIGNER: &str = "test-signer-key-0123456789abcdef";
/// `keys:GET|POST|PUT|DELETE`.
pub(crate) const KEYS: &str = "test-keys-key-0123456789abcdef";
/// `connections:GET`.
pub(crate) const CONNECTIONS_GET: &str = "test-connections-get-0123456789abcdef";
/// `metrics:GET`.
pub(crate) const METRICS: &str = "test-metrics-key-0123456789abcdef";
/// `audit:GET|POST`.
pub(crate) const AUDIT: &str = "test-audit-key-0123456789abcdef";

/// How to build the app.
pub(crate) struct Options {
    pub(crate) limits: Limits,
    pub(crate) metrics_enabled: bool,
    pub(crate) metrics_anonymous: bool,
    pub(crate) config: ServiceConfig,
    pub(crate) body_limit: usize,
    /// More accepted keys: (key, permission strings).
    pub(crate) extra_keys: Vec<(String, Vec<String>)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::unlimited(),
            metrics_enabled: true,
            metrics_anonymous: false,
            config: ServiceConfig::default(),
            body_limit: 64 * 1024,
            extra_keys: Vec::new(),
        }
    }
}

/// What the app answered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// FusionAuth's Errors JSON as `[code]field` strings (general errors as their code),
    /// sorted; asserts a 400 with a JSON body.
    pub(crate) fn error_codes(&self) -> Vec<String> {
        assert_eq!(self.status, 400, "expected 400: {}", self.text());
        assert!(
            self.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{:?}",
            self.headers
        );
        let json = self.json();
        let mut codes = Vec::new();
        if let Some(fields) = json["fieldErrors"].as_object() {
            for details in fields.values() {
                for d in details.as_array().expect("field error list") {
                    codes.push(d["code"].as_str().expect("code").to_owned());
                }
            }
        }
        if let Some(general) = json["generalErrors"].as_array() {
            for d in general {
                codes.push(d["code"].as_str().expect("code").to_owned());
            }
        }
        codes.sort();
        codes
    }

    /// Auth0's error shape: asserts the status and returns `errorCode`.
    pub(crate) fn auth0_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["statusCode"], u64::from(status), "{body}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
        body["errorCode"].as_str().expect("errorCode").to_owned()
    }
}

fn hash(backend: &dyn KeyBackend, key: &str) -> [u8; 32] {
    ApiKeys::hash(backend, key).expect("sha-256")
}

/// The app's state over a fresh store in `dir`.
pub(crate) fn state(dir: &std::path::Path, options: Options) -> AppState {
    let backend: Arc<dyn KeyBackend> = Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let master = MasterKey::generate(&*backend).expect("master key").0;
    let sealer = Arc::new(Envelope::new(backend.clone(), vec![master]).expect("envelope"));
    let data_file = dir.join("keysmith.redb");
    let store: Arc<dyn KeyStore> =
        Arc::new(RedbStore::open(&data_file, sealer).expect("open store"));
    let scoped = [
        (ADMIN, vec!["admin"]),
        (READ_ONLY, vec!["read-only"]),
        (SIGNER, vec!["sign:POST"]),
        (KEYS, vec!["keys:GET|POST|PUT|DELETE"]),
        (CONNECTIONS_GET, vec!["connections:GET"]),
        (METRICS, vec!["metrics:GET"]),
        (AUDIT, vec!["audit:GET|POST"]),
    ];
    let mut accepted: Vec<AcceptedKey> = scoped
        .iter()
        .map(|(key, permissions)| AcceptedKey {
            hash: hash(&*backend, key),
            permissions: Permissions::parse(permissions).expect("permissions"),
            actor: format!("api-key:test:{}", &key[5..12]),
        })
        .collect();
    for (n, (key, permissions)) in options.extra_keys.iter().enumerate() {
        accepted.push(AcceptedKey {
            hash: hash(&*backend, key),
            permissions: Permissions::parse(permissions).expect("permissions"),
            actor: format!("api-key:test:extra-{n}"),
        });
    }
    let api_keys = Arc::new(ApiKeys::new(accepted, backend.clone()));
    let service = KeyService::new(backend, store.clone(), options.config);
    AppState {
        keys: service,
        api_keys,
        jwks_max_age_seconds: 300,
        limits: Arc::new(options.limits),
        audit: Arc::new(AuditTrail::new(store)),
        request_timeout: Duration::from_secs(30),
        request_seconds: Arc::default(),
        metrics_enabled: options.metrics_enabled,
        metrics_anonymous: options.metrics_anonymous,
        backup: keysmith_api::system::backup::BackupSettings {
            data_file: Some(data_file),
            reserve_bytes: 0,
        },
        admin_enabled: false,
        admin_expiry_warning_days: 30,
    }
}

/// Calls the app in process.
type Caller = Box<dyn Fn(test::TestRequest) -> LocalBoxFuture<'static, Reply>>;

/// The app with the server's middleware, as `server.rs` builds it, over a temporary store.
pub(crate) struct TestApp {
    call: Caller,
    pub(crate) state: AppState,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// With every default (no limits, `/metrics` on behind a key).
    pub(crate) async fn new() -> Self {
        Self::with(Options::default()).await
    }

    pub(crate) async fn with(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let body_limit = options.body_limit;
        let state = state(dir.path(), options);
        let service =
            Rc::new(test::init_service(keysmith_api::app(state.clone(), body_limit)).await);
        let call: Caller = Box::new(move |request: test::TestRequest| {
            let service = service.clone();
            Box::pin(async move {
                let response = service
                    .call(request.to_request())
                    .await
                    .unwrap_or_else(|e| panic!("service error: {e}"));
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let body = test::read_body(response).await.to_vec();
                Reply {
                    status,
                    headers,
                    body,
                }
            })
        });
        TestApp {
            call,
            state,
            _dir: dir,
        }
    }

    /// Sends `request` as is.
    pub(crate) async fn send(&self, request: test::TestRequest) -> Reply {
        (self.call)(request).await
    }

    /// `method path` with FusionAuth's raw `Authorization: key` (none when `key` is empty)
    /// and a JSON body if given.
    pub(crate) async fn fa(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = request(method, path);
        if !key.is_empty() {
            request = request.insert_header(("Authorization", key));
        }
        if let Some(body) = body {
            request = request.set_json(body);
        }
        self.send(request).await
    }

    /// `method path` with a raw body (as JSON content).
    pub(crate) async fn raw(&self, method: &str, path: &str, key: &str, body: &str) -> Reply {
        let mut request = request(method, path)
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.to_owned());
        if !key.is_empty() {
            request = request.insert_header(("Authorization", key));
        }
        self.send(request).await
    }

    /// `method path` with Auth0's `Authorization: Bearer key` (none when `key` is empty).
    pub(crate) async fn a0(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = request(method, path);
        if !key.is_empty() {
            request = request.insert_header(("Authorization", format!("Bearer {key}")));
        }
        if let Some(body) = body {
            request = request.set_json(body);
        }
        self.send(request).await
    }

    /// Generates a key with the admin key and returns its JSON `key`.
    pub(crate) async fn generate(&self, body: Value) -> Value {
        let reply = self
            .fa("POST", "/api/key/generate", ADMIN, Some(body))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["key"].clone()
    }
}

pub(crate) fn request(method: &str, path: &str) -> test::TestRequest {
    test::TestRequest::default()
        .method(actix_web::http::Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
}
