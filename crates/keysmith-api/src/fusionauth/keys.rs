//! FusionAuth's Keys API: `/api/key...`.

use actix_web::{HttpResponse, web};
use keysmith_core::{GenerateRequest, ImportRequest, ServiceError};
use keysmith_model::{Errors, Family, KeyId};
use serde::de::DeserializeOwned;

use super::search::{
    __path_search_by_body, __path_search_by_query, search_by_body, search_by_query,
};
use super::wire::{self, KeyPath, KeyResponse};
use crate::routing::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

/// Fixed paths before `/api/key/{id}`: actix tries routes in registration order.
pub(crate) fn configure(routes: &mut impl Registrar) {
    let keys = || RouteSpec::fusionauth(Family::Keys);
    let uses = || RouteSpec::fusionauth(Family::Sign);
    // The router tries paths in this order. Every fixed path under /api/key/ comes before
    // /api/key/{id}, which would match it too; {id} matches one segment, so it cannot shadow
    // the longer paths after it, and the most read path is matched after the fewest patterns.
    routes.add::<__path_list, _, _>(keys(), list);
    routes.add::<__path_search_by_query, _, _>(keys(), search_by_query);
    routes.add::<__path_search_by_body, _, _>(keys(), search_by_body);
    routes.add::<__path_generate, _, _>(keys().audited("key.generate"), generate);
    routes.add::<__path_import, _, _>(keys().audited("key.import"), import);
    routes.add::<__path_deleted, _, _>(keys(), deleted);
    routes.add::<__path_retrieve, _, _>(keys(), retrieve);
    routes.add::<__path_update, _, _>(keys().audited("key.update"), update);
    routes.add::<__path_delete, _, _>(keys().audited("key.delete"), delete);
    routes.add::<__path_generate_with_id, _, _>(keys().audited("key.generate"), generate_with_id);
    routes.add::<__path_import_with_id, _, _>(keys().audited("key.import"), import_with_id);
    routes.add::<__path_restore, _, _>(keys().audited("key.restore"), restore);
    routes.add::<__path_sign, _, _>(uses().audited_use("key.sign"), sign);
    routes.add::<__path_verify, _, _>(uses().audited_use("key.verify"), verify);
}

/// Parses a JSON body after authorisation, so an unauthenticated caller learns nothing.
pub(crate) fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !wire::is_json_object(body) {
        return Err(ApiError::BadRequest(Errors::general(
            keysmith_model::Reason::Invalid,
            "",
            "The request body must be a JSON object.",
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::from_json_error(&actix_web::error::JsonPayloadError::Deserialize(e)))
}

/// 200 with the key; the audit trail takes the key's id as the target.
fn key_response(key: &keysmith_model::Key) -> HttpResponse {
    crate::middleware::audit::with_target(
        HttpResponse::Ok().json(KeyResponse { key }),
        key.id.to_string(),
    )
}

#[utoipa::path(get, path = "/api/key", tag = "keys", operation_id = "retrieveKeys",
    summary = "Every key.",
    responses((status = 200, description = "Every key, oldest first.", body = super::wire::KeysResponse), ApiError))]
async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Streamed from the store as it is written: a million keys are a 1.5 GB body.
    let service = state.keys.clone();
    Ok(crate::streamed::json_response(move |out| {
        service.keys().write_list(out)
    }))
}

/// Keysmith's: keys deleted within the deletion window, each with `purgeInstant`.
#[utoipa::path(
    get, path = "/api/key/deleted", tag = "keys", operation_id = "retrieveDeletedKeys",
    responses(
        (
            status = 200, description = "`{\"keys\": [...]}`: each key with `purgeInstant`, epoch milliseconds.",
            body = DeletedKeysBody
        ),
        ApiError
    )
)]
async fn deleted(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let service = state.keys.clone();
    let deleted = web::block(move || service.keys().deleted()).await??;
    let keys = deleted
        .iter()
        .map(|(key, purge_instant)| DeletedKey {
            key,
            purge_instant: *purge_instant,
        })
        .collect();
    Ok(HttpResponse::Ok().json(DeletedKeysBody { keys }))
}

/// Keys in the deletion window.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeletedKeysBody<'a> {
    // Every object's keys in alphabetical order: the order they had when the body was built
    // with `json!`.
    /// Each a key object with `purgeInstant`, epoch milliseconds.
    #[serde(serialize_with = "wire::alphabetical")]
    keys: Vec<DeletedKey<'a>>,
}

/// A key in the deletion window.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeletedKey<'a> {
    // Described as an object: `Key`'s schema allows no other property, so an `allOf` of it
    // and `purgeInstant` would match nothing.
    /// Every field of the key (see `Key`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    key: &'a keysmith_model::Key,
    /// When the key is purged for good, epoch milliseconds.
    purge_instant: i64,
}

/// Keysmith's: brings back a key deleted within the deletion window (404 once purged).
#[utoipa::path(post, path = "/api/key/{id}/restore", tag = "keys", operation_id = "restoreKey", params(KeyPath),
    responses((status = 200, description = "The restored key.", body = super::wire::KeyResponse),
        (status = 400, description = "The id is not a UUID, or a live key now has its name or kid.", body = Errors),
        (status = 404, description = "No deleted key with this id (or it was purged)."), ApiError))]
async fn restore(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = state.keys.parse_id(&path.id)?;
    let service = state.keys.clone();
    let key = crate::middleware::deadline::change(move || service.keys().restore(&id)).await??;
    Ok(key_response(&key))
}

#[utoipa::path(get, path = "/api/key/{id}", tag = "keys", operation_id = "retrieveKey",
    summary = "One key.", params(KeyPath),
    responses((status = 200, description = "The key.", body = super::wire::KeyResponse),
        (status = 400, description = "The id is not a UUID.", body = Errors),
        (status = 404, description = "No such key."), ApiError))]
async fn retrieve(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = state.keys.parse_id(&path.id)?;
    // A point read: one redb read transaction, no fsync, pages served from redb's cache. Run
    // inline: a hop to the blocking pool costs more than the read (see docs/benchmarks.md).
    // The key's JSON is kept while its record is unchanged (`Keys::retrieve_json`).
    let key = state.keys.keys().retrieve_json(&id)?;
    let mut body = Vec::with_capacity(key.len() + 9);
    body.extend_from_slice(b"{\"key\":");
    body.extend_from_slice(&key);
    body.push(b'}');
    Ok(crate::middleware::audit::with_target(
        HttpResponse::Ok()
            .content_type(actix_web::http::header::ContentType::json())
            .body(body),
        id.to_string(),
    ))
}

#[utoipa::path(
    post, path = "/api/key/generate", tag = "keys", operation_id = "generateKey",
    summary = "Generates a key pair (with a self-signed certificate) or an HMAC secret.",
    request_body(
        content = crate::fusionauth::wire::KeyRequest, content_type = "application/json",
        example = json!({"key": {"algorithm": "ES256", "name": "Token signing key", "issuer": "acme.com"}})
    ),
    responses(
        (status = 200, description = "The new key.", body = super::wire::KeyResponse),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn generate(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    generate_key(state, None, body).await
}

#[utoipa::path(
    post, path = "/api/key/generate/{id}", tag = "keys", operation_id = "generateKeyWithId",
    summary = "Generates a key with the given id.", params(KeyPath),
    request_body(content = crate::fusionauth::wire::KeyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new key.", body = super::wire::KeyResponse),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn generate_with_id(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    generate_key(state, Some(path.into_inner().id), body).await
}

async fn generate_key(
    state: web::Data<AppState>,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_optional_id(&state, id.as_deref())?;
    let (fields, length) = generate_fields(body)?;
    let slot = state.limits.generation_slot()?;
    let service = state.keys.clone();
    let (on_commit, committed) = crate::middleware::deadline::commit_answer();
    let queued = crate::middleware::deadline::change(move || {
        // The turn bounds the CPU work only: the durable half waits for a group commit with
        // the other requests' keys, asynchronously (no thread is held until the commit), and
        // the slot, dropped with the answer, bounds the requests in flight.
        let made = {
            let _turn = slot.wait_turn();
            service.keys().make(
                id,
                &GenerateRequest {
                    algorithm: fields.algorithm.as_deref(),
                    name: fields.name.as_deref(),
                    length,
                    issuer: fields.issuer.as_deref(),
                },
            )?
        };
        Ok::<_, ServiceError>(service.keys().store_queued(made, on_commit.on_commit(slot)))
    })
    .await??;
    let key =
        crate::middleware::deadline::committed(committed, |answer| queued.finish(answer)).await?;
    Ok(key_response(&key))
}

/// Reads a generate body: the key fields and the length, a whole number if given.
pub(crate) fn generate_fields(
    body: web::Bytes,
) -> Result<(wire::KeyFields, Option<u32>), ApiError> {
    let fields = wire::key_fields(body)?;
    let mut errors = Errors::new();
    let length = wire::length_field(&mut errors, fields.length.as_ref());
    Ok(errors.into_result((fields, length))?)
}

fn parse_optional_id(state: &AppState, id: Option<&str>) -> Result<Option<KeyId>, ApiError> {
    id.map(|text| state.keys.parse_id(text))
        .transpose()
        .map_err(ApiError::from)
}

#[utoipa::path(
    post, path = "/api/key/import", tag = "keys", operation_id = "importKey",
    summary = "Imports a certificate, public key, key pair or HMAC secret.",
    request_body(
        content = crate::fusionauth::wire::KeyRequest, content_type = "application/json",
        example = json!({
            "key": {
                "algorithm": "HS256", "name": "Shared secret",
                "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMg=="
            }
        })
    ),
    responses(
        (status = 200, description = "The imported key.", body = super::wire::KeyResponse),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn import(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    import_key(state, None, body).await
}

#[utoipa::path(
    post, path = "/api/key/import/{id}", tag = "keys", operation_id = "importKeyWithId",
    summary = "Imports a key with the given id.", params(KeyPath),
    request_body(content = crate::fusionauth::wire::KeyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The imported key.", body = super::wire::KeyResponse),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn import_with_id(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    import_key(state, Some(path.into_inner().id), body).await
}

async fn import_key(
    state: web::Data<AppState>,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_optional_id(&state, id.as_deref())?;
    let fields = wire::key_fields(body)?;
    // Parsing and checking key material is backend work an importer chooses: it takes a place
    // in the generation pool like a generation (503 with Retry-After when full).
    let slot = state.limits.generation_slot()?;
    let service = state.keys.clone();
    let key = crate::middleware::deadline::change(move || {
        let _turn = slot.wait_turn();
        service.keys().import(
            id,
            &ImportRequest {
                algorithm: fields.algorithm.as_deref(),
                key_type: fields.key_type.as_deref(),
                name: fields.name.as_deref(),
                kid: fields.kid.as_deref(),
                certificate: fields.certificate.as_deref(),
                public_key: fields.public_key.as_deref(),
                private_key: fields.private_key.as_deref().map(String::as_str),
                secret: fields.secret.as_deref().map(String::as_str),
            },
        )
    })
    .await??;
    Ok(key_response(&key))
}

#[utoipa::path(
    put, path = "/api/key/{id}", tag = "keys", operation_id = "updateKey",
    summary = "Renames a key (the name is the only field that can change).", params(KeyPath),
    request_body(content = crate::fusionauth::wire::KeyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The renamed key.", body = super::wire::KeyResponse),
        (status = 404, description = "No such key."),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn update(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = state.keys.parse_id(&path.id)?;
    // Only the name changes; the other fields are ignored, but one that breaks the documented
    // schema (a `length` that is no whole number) still makes the request malformed.
    let (fields, _ignored_length) = generate_fields(body)?;
    let service = state.keys.clone();
    let key = crate::middleware::deadline::change(move || {
        service.keys().rename(&id, fields.name.as_deref())
    })
    .await??;
    Ok(key_response(&key))
}

#[utoipa::path(
    delete, path = "/api/key/{id}", tag = "keys", operation_id = "deleteKey",
    summary = "Deletes a key (into the deletion window when one is configured).", params(KeyPath),
    responses(
        (
            status = 200, description = "Deleted. Empty body.",
            links(("restoreKey" = (operation_id = "restoreKey", parameters(("id" = "$request.path.id")))))
        ),
        (
            status = 400,
            description = "The id is not a UUID, or the key is a connection's or the tenant's current, next or \
                previous key (`[inUse]keyId`).",
            body = Errors
        ),
        (status = 404, description = "No such key."),
        ApiError
    )
)]
async fn delete(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = state.keys.parse_id(&path.id)?;
    let service = state.keys.clone();
    crate::middleware::deadline::change(move || service.keys().delete(&id)).await??;
    Ok(HttpResponse::Ok().finish())
}

/// Signs a payload with a stored key that never leaves the server.
#[utoipa::path(
    post, path = "/api/key/{id}/sign", tag = "keys", operation_id = "signWithKey",
    summary = "Signs a payload with a stored private key or secret, which never leaves the server.", params(KeyPath),
    request_body(content = super::jwt::SignRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The signature.", body = SignatureBody),
        (status = 404, description = "No such key."),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn sign(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = state.keys.parse_id(&path.id)?;
    let body: super::jwt::SignRequest = parse_body(&body)?;
    let service = state.keys.clone();
    let (signature, algorithm) =
        web::block(move || service.tokens().sign(&id, body.payload.as_deref())).await??;
    Ok(HttpResponse::Ok().json(SignatureBody {
        algorithm,
        signature,
    }))
}

/// Verifies a signature with a stored key.
#[utoipa::path(
    post, path = "/api/key/{id}/verify", tag = "keys", operation_id = "verifyWithKey", params(KeyPath),
    request_body(content = super::jwt::SignRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Whether the signature verifies.", body = VerifiedBody),
        (status = 404, description = "No such key."),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn verify(
    state: web::Data<AppState>,
    path: web::Path<KeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = state.keys.parse_id(&path.id)?;
    let body: super::jwt::SignRequest = parse_body(&body)?;
    let service = state.keys.clone();
    let valid = web::block(move || {
        service
            .tokens()
            .verify(&id, body.payload.as_deref(), body.signature.as_deref())
    })
    .await??;
    Ok(HttpResponse::Ok().json(VerifiedBody { valid }))
}

// Fields in alphabetical order: the order the body had when it was built with `json!`.
/// A signature over the payload.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SignatureBody {
    /// The key's algorithm, as a JWS `alg`.
    algorithm: keysmith_model::Algorithm,
    /// base64url without padding.
    signature: String,
}

/// Whether the signature verified.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct VerifiedBody {
    valid: bool,
}
