//! Tokens: `/.well-known/jwks.json`, `/api/jwt/public-key`, `/api/jwt/vend`,
//! `/api/jwt/validate`; and Keysmith's scoped JWKS, `/.well-known/jwks/signing-keys`,
//! `/.well-known/jwks/connections/{id}` and `/.well-known/jwks/issuers/{issuer}`.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use keysmith_core::{
    IssuerJwks, Published, PublishedAnswer, PublishedDocument, ServiceError, TokenRejection,
};
use keysmith_model::{Errors, KeyUse, PublicKeys, RingOwner};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::routing::{Registrar, RouteSpec};
use crate::{ApiError, AppState};
use keysmith_model::Family;

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_jwks, _, _>(RouteSpec::anonymous(), jwks);
    routes.add::<__path_tenant_jwks, _, _>(RouteSpec::anonymous(), tenant_jwks);
    routes.add::<__path_connection_jwks, _, _>(RouteSpec::anonymous(), connection_jwks);
    routes.add::<__path_issuer_jwks, _, _>(RouteSpec::anonymous(), issuer_jwks);
    routes.add::<__path_public_key, _, _>(RouteSpec::anonymous(), public_key);
    routes.add::<__path_vend, _, _>(
        RouteSpec::fusionauth(Family::Sign).audited_use("jwt.vend"),
        vend,
    );
    routes.add::<__path_validate, _, _>(RouteSpec::anonymous(), validate);
}

/// Whether `If-None-Match` names `etag` (or is `*`). Weak comparison, as RFC 9110 §13.1.2
/// requires for If-None-Match.
fn matches_etag(request: &HttpRequest, etag: &str) -> bool {
    let Some(value) = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// The JWKS, from the in-memory snapshot: anonymous, with a strong ETag and `max-age`.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "jwt", operation_id = "retrieveJsonWebKeySet", security(()),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer.")),
    responses(
        (
            status = 200, description = "The JWKS, with a strong `ETag` and `Cache-Control: public, max-age`.",
            body = keysmith_crypto::jwk::JwkSet
        ),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn jwks(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(match published(&state).await? {
        PublishedAnswer::Whole(published) => {
            jwks_answer(&request, &state, &published.jwks_etag, || {
                kept_response(published.clone(), PublishedDocument::Jwks)
            })
        }
        PublishedAnswer::Streamed { etag } => jwks_answer(&request, &state, &etag, || {
            streamed_response(&state, PublishedDocument::Jwks)
        }),
    })
}

/// The published documents: answered inline when they are kept in memory and current;
/// otherwise built (or found too large to keep) on the blocking pool, since that reads the store.
async fn published(state: &AppState) -> Result<PublishedAnswer, ApiError> {
    if let Some(answer) = state.keys.published_kept() {
        return Ok(answer);
    }
    let service = state.keys.clone();
    Ok(web::block(move || service.published_answer()).await??)
}

/// One of the kept published documents as a body that shares their bytes: no copy of the
/// document is made for a request.
struct KeptDocument(Arc<Published>, PublishedDocument);

impl AsRef<[u8]> for KeptDocument {
    fn as_ref(&self) -> &[u8] {
        match self.1 {
            PublishedDocument::Jwks => &self.0.jwks_json,
            PublishedDocument::PublicKeys => &self.0.public_keys_json,
        }
    }
}

fn kept_response(published: Arc<Published>, document: PublishedDocument) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(web::Bytes::from_owner(KeptDocument(published, document)))
}

fn json_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

/// A JWKS answer: 304 when `If-None-Match` names `etag`, else `ok()`; `ETag` and
/// `Cache-Control: public, max-age` on both.
fn jwks_answer(
    request: &HttpRequest,
    state: &AppState,
    etag: &str,
    ok: impl FnOnce() -> HttpResponse,
) -> HttpResponse {
    let cache_control = format!("public, max-age={}", state.jwks_max_age_seconds);
    let mut response = if matches_etag(request, etag) {
        HttpResponse::NotModified().finish()
    } else {
        ok()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

/// A published document too large to keep, written from the store as it is sent.
fn streamed_response(state: &AppState, document: PublishedDocument) -> HttpResponse {
    let service = state.keys.clone();
    crate::streamed::json_response(move |out| service.write_published(document, out))
}

/// The JWKS of one key ring, or `{"keys":[]}` before the ring exists.
async fn ring_jwks_answer(
    request: &HttpRequest,
    state: &web::Data<AppState>,
    owner: RingOwner,
) -> Result<HttpResponse, ApiError> {
    let service = state.keys.clone();
    let scoped = web::block(move || service.ring_jwks(&owner)).await??;
    Ok(jwks_answer(request, state, &scoped.etag, || {
        json_response(scoped.json.clone())
    }))
}

/// The tenant's signing keys as a JWKS (current, next and previous; never revoked ones): what
/// a relying party that trusts only tokens signed with the tenant's signing keys fetches,
/// instead of every key in `/.well-known/jwks.json`. Anonymous. Keysmith only.
#[utoipa::path(
    get, path = "/.well-known/jwks/signing-keys", tag = "jwt", operation_id = "retrieveSigningKeysJwks",
    security(()),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer.")),
    responses(
        (
            status = 200,
            description = "The ring's JWKS (`{\"keys\":[]}` before the first use provisions it), with a strong `ETag` \
                           computed from the body and `Cache-Control: public, max-age`.",
            body = keysmith_crypto::jwk::JwkSet
        ),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn tenant_jwks(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    ring_jwks_answer(&request, &state, RingOwner::Tenant).await
}

/// `{id}` in `/.well-known/jwks/connections/{id}`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ConnectionJwksPath {
    /// The connection id.
    id: String,
}

/// One connection's signing keys as a JWKS (current, next and previous): what a relying party
/// of that connection alone fetches. Anonymous. Keysmith only.
#[utoipa::path(
    get, path = "/.well-known/jwks/connections/{id}", tag = "jwt", operation_id = "retrieveConnectionJwks",
    security(()),
    params(
        ConnectionJwksPath,
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer.")
    ),
    responses(
        (
            status = 200,
            description = "The connection's signing-key JWKS (`{\"keys\":[]}` before its keys are provisioned), \
                           with a strong `ETag` computed from the body and `Cache-Control: public, max-age`.",
            body = keysmith_crypto::jwk::JwkSet
        ),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag."),
        (status = 404, description = "No such connection (an empty body, as FusionAuth's 404s)."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn connection_jwks(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<ConnectionJwksPath>,
) -> Result<HttpResponse, ApiError> {
    let owner = RingOwner::connection(&path.id, KeyUse::Signing);
    ring_jwks_answer(&request, &state, owner).await
}

/// `{issuer}` in `/.well-known/jwks/issuers/{issuer}`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct IssuerJwksPath {
    /// The issuer given when the keys were generated (`key.issuer`), exactly, percent-encoded
    /// as a path segment (`/` as `%2F`).
    issuer: String,
}

/// The JWKS of the keys generated with one issuer: what a relying party that trusts that
/// issuer alone fetches, instead of every key in `/.well-known/jwks.json`. Exact issuer (case
/// counts), in the keys' id order, never HMAC keys nor keys withdrawn from a ring. Anonymous.
/// Keysmith only.
#[utoipa::path(
    get, path = "/.well-known/jwks/issuers/{issuer}", tag = "jwt", operation_id = "retrieveIssuerJwks",
    security(()),
    params(
        IssuerJwksPath,
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer.")
    ),
    responses(
        (
            status = 200,
            description = "The issuer's JWKS (`{\"keys\":[]}` for an issuer without keys), with a strong `ETag` \
                           computed from the keys and `Cache-Control: public, max-age`.",
            body = keysmith_crypto::jwk::JwkSet
        ),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn issuer_jwks(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<IssuerJwksPath>,
) -> Result<HttpResponse, ApiError> {
    let issuer = path.into_inner().issuer;
    let answer = match state.keys.issuer_jwks_kept(&issuer) {
        Some(kept) => kept,
        None => {
            let (service, issuer) = (state.keys.clone(), issuer.clone());
            web::block(move || service.issuer_jwks(&issuer)).await??
        }
    };
    Ok(match answer {
        IssuerJwks::Whole(whole) => jwks_answer(&request, &state, &whole.etag, || {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(web::Bytes::from_owner(KeptIssuerJwks(whole.clone())))
        }),
        IssuerJwks::Streamed { etag } => jwks_answer(&request, &state, &etag, || {
            let service = state.keys.clone();
            crate::streamed::json_response(move |out| service.write_issuer_jwks(&issuer, out))
        }),
    })
}

/// A kept issuer JWKS as a body that shares its bytes.
struct KeptIssuerJwks(Arc<keysmith_core::ScopedJwks>);

impl AsRef<[u8]> for KeptIssuerJwks {
    fn as_ref(&self) -> &[u8] {
        &self.0.json
    }
}

/// `GET /api/jwt/public-key`'s query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PublicKeyQuery {
    /// One key's kid.
    kid: Option<String>,
    /// FusionAuth's application id; Keysmith has no applications (404).
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// All public keys by kid, or one with `?kid=` (404 when unknown). Anonymous.
#[utoipa::path(
    get, path = "/api/jwt/public-key", tag = "jwt", operation_id = "retrieveJwtPublicKey", security(()),
    params(PublicKeyQuery),
    responses(
        (
            status = 200, description = "`{\"publicKey\"}` with `kid`, otherwise `{\"publicKeys\": {kid: PEM}}`.",
            body = keysmith_model::PublicKeys
        ),
        (status = 400, description = "The query string is malformed."),
        (status = 404, description = "No published key has this kid."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn public_key(
    state: web::Data<AppState>,
    query: web::Query<PublicKeyQuery>,
) -> Result<HttpResponse, ApiError> {
    if query.application_id.is_some() {
        // Keysmith has no applications, so no application has a key.
        return Err(ApiError::NotFound);
    }
    match query.kid.clone() {
        // Kept as bytes once per change of the published set while it fits in memory.
        None => Ok(match published(&state).await? {
            PublishedAnswer::Whole(published) => {
                kept_response(published, PublishedDocument::PublicKeys)
            }
            PublishedAnswer::Streamed { .. } => {
                streamed_response(&state, PublishedDocument::PublicKeys)
            }
        }),
        Some(kid) => {
            let service = state.keys.clone();
            let public_key = web::block(move || service.published_public_key(&kid))
                .await??
                .ok_or(ApiError::NotFound)?;
            Ok(HttpResponse::Ok().json(PublicKeys {
                public_key: Some(&public_key),
                public_keys: None,
            }))
        }
    }
}

/// The claims to sign, and with which key.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VendRequest {
    /// The JWT claims; `iat`, `exp` and `jti` are set by the server.
    #[schema(value_type = Option<Object>)]
    claims: Option<Value>,
    /// The signing key's id.
    #[schema(value_type = uuid::Uuid)]
    key_id: Option<String>,
    /// Seconds until `exp` (a number, or a string holding one).
    #[schema(schema_with = crate::fusionauth::wire::whole_number)]
    time_to_live_in_seconds: Option<Value>,
}

#[utoipa::path(
    post, path = "/api/jwt/vend", tag = "jwt", operation_id = "vendJwt",
    summary = "Signs the claims with a stored key and returns the token.",
    request_body(
        content = VendRequest, content_type = "application/json",
        example = json!({
            "keyId": "9d6dc0a5-3b1c-4a4e-8d6f-0c1f4c2d7a11", "claims": {"sub": "user-1"}, "timeToLiveInSeconds": 300
        })
    ),
    responses(
        (status = 200, description = "The token.", body = TokenBody),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn vend(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let (body, ttl) = vend_request(&body)?;
    let service = state.keys.clone();
    let key_id = body.key_id.clone().unwrap_or_default();
    let token = web::block(move || {
        service
            .tokens()
            .vend(body.key_id.as_deref(), body.claims.as_ref(), ttl)
    })
    .await??;
    Ok(crate::middleware::audit::with_target(
        HttpResponse::Ok().json(TokenBody { token }),
        key_id,
    ))
}

/// A vended token.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenBody {
    /// A compact JWS.
    token: String,
}

/// Reads a vend body: the request and its time to live, a whole number if given.
pub(crate) fn vend_request(body: &[u8]) -> Result<(VendRequest, Option<i64>), ApiError> {
    let body: VendRequest = crate::fusionauth::parse_body(body)?;
    let mut errors = Errors::new();
    let ttl = crate::fusionauth::wire::integer_field(
        &mut errors,
        "timeToLiveInSeconds",
        body.time_to_live_in_seconds.as_ref(),
    );
    errors.into_result((body, ttl)).map_err(ApiError::from)
}

/// 200 `{"jwt": claims}` for a valid token in `Authorization: Bearer`; 401 with an empty body
/// for anything else; 503 when the store is unreachable and the token's key is not loaded.
#[utoipa::path(
    get, path = "/api/jwt/validate", tag = "jwt", operation_id = "validateJwt", security(("jwt" = [])),
    responses(
        (
            status = 200, description = "The token verified with the key its `kid` names and is within its validity.",
            body = ClaimsBody
        ),
        (status = 401, description = "Any other token, or none. Empty body."),
        (status = 503, description = "The store (a shared database) is unreachable and the token's key is not loaded on this node: neither accepted nor refused. `Retry-After` says when to ask again. Empty body."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn validate(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(ApiError::Unauthorized)?
        .to_owned();
    let service = state.keys.clone();
    match web::block(move || service.tokens().validate(&token)).await? {
        Ok(jwt) => Ok(HttpResponse::Ok().json(ClaimsBody { jwt })),
        Err(TokenRejection::StoreUnavailable) => Err(ServiceError::Unavailable(
            "the store is unreachable and the token's key is not loaded on this node".into(),
        )
        .into()),
        Err(reason) => {
            tracing::debug!(?reason, "token refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// A valid token's claims.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ClaimsBody {
    jwt: Map<String, Value>,
}

/// `{"payload": base64url}` and `{"payload", "signature"}` bodies.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct SignRequest {
    /// The payload, base64url (no padding).
    pub payload: Option<String>,
    /// The signature to verify, base64url (no padding); only for verify.
    pub signature: Option<String>,
}
