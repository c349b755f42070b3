//! `/api/v2/keys/signing`: the tenant's signing keys: read, rotate, revoke.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use keysmith_core::RingKeyView;

use super::wire::{CertAndKid, KidPath, SigningKeyJson, all_json, cert_and_kid, signing_key_json};
use super::{Auth0Error, Reply, change_case, generating_use_case, use_case};
use crate::AppState;

/// The tenant's signing keys. Once the ring exists this is a read; the first call provisions it
/// (two key generations), so that call goes through the rate limit and the generation pool like
/// any generating request (429 with `Retry-After` when full).
pub(super) async fn tenant_signing_keys(state: &AppState) -> Result<Vec<RingKeyView>, Auth0Error> {
    let existing = use_case(state, Auth0Error::no_signing_key, |service| {
        service.tenant_keys().provisioned()
    })
    .await?;
    match existing {
        Some(views) => Ok(views),
        None => {
            generating_use_case(state, Auth0Error::no_signing_key, |service| {
                service.tenant_keys().list()
            })
            .await
        }
    }
}

#[utoipa::path(
    get, path = "/api/v2/keys/signing", tag = "signing-keys", operation_id = "getSigningKeys",
    responses(
        (status = 200, description = "The tenant's signing keys (made on first use).", body = Vec<SigningKeyJson>),
        Auth0Error
    )
)]
pub(super) async fn signing_keys(state: web::Data<AppState>) -> Reply {
    let views = tenant_signing_keys(&state).await?;
    let keys = all_json(&views, signing_key_json)?;
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(
    get, path = "/api/v2/keys/signing/{kid}", tag = "signing-keys", operation_id = "getSigningKey", params(KidPath),
    responses(
        (status = 200, description = "The key.", body = SigningKeyJson),
        (status = 404, description = "`inexistent_key`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn signing_key(state: web::Data<AppState>, path: web::Path<KidPath>) -> Reply {
    let view = tenant_signing_keys(&state)
        .await?
        .into_iter()
        .find(|view| view.key.kid == path.kid)
        .ok_or_else(Auth0Error::no_signing_key)?;
    Ok(HttpResponse::Ok().json(signing_key_json(&view)?))
}

#[utoipa::path(
    post, path = "/api/v2/keys/signing/rotate", tag = "signing-keys", operation_id = "rotateSigningKey",
    responses(
        (
            status = 201, description = "The new next key.", body = CertAndKid,
            links(
                ("getSigningKey" = (operation_id = "getSigningKey", parameters(("kid" = "$response.body#/kid")))),
                ("revokeSigningKey" = (operation_id = "revokeSigningKey", parameters(("kid" = "$response.body#/kid"))))
            )
        ),
        Auth0Error
    )
)]
pub(super) async fn rotate_signing_keys(state: web::Data<AppState>) -> Reply {
    let view = generating_use_case(&state, Auth0Error::no_signing_key, move |service| {
        service.tenant_keys().rotate()
    })
    .await?;
    cert_and_kid(StatusCode::CREATED, &view)
}

#[utoipa::path(
    put, path = "/api/v2/keys/signing/{kid}/revoke", tag = "signing-keys", operation_id = "revokeSigningKey",
    summary = "Revokes a previous key: it leaves the JWKS and never signs or verifies again.", params(KidPath),
    responses(
        (status = 200, description = "The revoked key.", body = CertAndKid),
        (status = 404, description = "`inexistent_key`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn revoke_signing_key(
    state: web::Data<AppState>,
    path: web::Path<KidPath>,
) -> Reply {
    tenant_signing_keys(&state).await?;
    let view = change_case(&state, Auth0Error::no_signing_key, move |service| {
        service.tenant_keys().revoke(&path.kid)
    })
    .await?;
    cert_and_kid(StatusCode::OK, &view)
}
