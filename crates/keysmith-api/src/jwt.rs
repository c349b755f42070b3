//! Tokens: `/.well-known/jwks.json`, `/api/jwt/public-key`, `/api/jwt/vend`,
//! `/api/jwt/validate`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use keysmith_model::Errors;
use serde::Deserialize;
use serde_json::Value;

use crate::{ApiError, AppState};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks))
        .route("/api/jwt/public-key", web::get().to(public_key))
        .route("/api/jwt/vend", web::post().to(vend))
        .route("/api/jwt/validate", web::get().to(validate));
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
async fn jwks(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let published = state.keys.published()?;
    let cache_control = format!("public, max-age={}", state.jwks_max_age_seconds);
    let mut response = if matches_etag(&request, &published.jwks_etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(published.jwks_json.clone())
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&published.jwks_etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct PublicKeyQuery {
    kid: Option<String>,
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// All public keys by kid, or one with `?kid=` (404 when unknown). Anonymous.
async fn public_key(
    state: web::Data<AppState>,
    query: web::Query<PublicKeyQuery>,
) -> Result<HttpResponse, ApiError> {
    let published = state.keys.published()?;
    if query.application_id.is_some() {
        // Keysmith has no applications, so no application has a key.
        return Err(ApiError::NotFound);
    }
    match &query.kid {
        None => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(published.public_keys_json.clone())),
        Some(kid) => {
            let pem = published.public_keys.get(kid).ok_or(ApiError::NotFound)?;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "publicKey": pem })))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendRequest {
    claims: Option<Value>,
    key_id: Option<String>,
    time_to_live_in_seconds: Option<Value>,
}

async fn vend(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let body: VendRequest = crate::keys::parse_body(&body)?;
    let mut errors = Errors::new();
    let ttl = crate::wire::integer_field(
        &mut errors,
        "timeToLiveInSeconds",
        body.time_to_live_in_seconds.as_ref(),
    );
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let service = state.keys.clone();
    let key_id = body.key_id.clone().unwrap_or_default();
    let token = web::block(move || service.vend(body.key_id.as_deref(), body.claims.as_ref(), ttl))
        .await??;
    Ok(crate::audit::with_target(
        HttpResponse::Ok().json(serde_json::json!({ "token": token })),
        key_id,
    ))
}

/// 200 `{"jwt": claims}` for a valid token in `Authorization: Bearer`; 401 with an empty body
/// for anything else.
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
    match web::block(move || service.validate(&token)).await? {
        Ok(claims) => Ok(HttpResponse::Ok().json(serde_json::json!({ "jwt": claims }))),
        Err(reason) => {
            tracing::debug!(?reason, "token refused");
            Err(ApiError::Unauthorized)
        }
    }
}

/// `{"payload": base64url}` and `{"payload", "signature"}` bodies.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SignRequest {
    pub payload: Option<String>,
    pub signature: Option<String>,
}
