//! FusionAuth's Keys API: `/api/key...`.

use actix_web::{HttpRequest, HttpResponse, web};
use keysmith_core::{GenerateRequest, ImportRequest, SearchRequest};
use keysmith_model::{Errors, KeyId};
use serde::de::DeserializeOwned;

use crate::wire::{
    self, KeyRequest, KeyResponse, KeysResponse, SearchFields, SearchRequestBody, SearchResponse,
};
use crate::{ApiError, AppState};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/key").route(web::get().to(list)))
        .service(
            web::resource("/api/key/search")
                .route(web::get().to(search_by_query))
                .route(web::post().to(search_by_body)),
        )
        .service(web::resource("/api/key/generate").route(web::post().to(generate)))
        .service(web::resource("/api/key/generate/{id}").route(web::post().to(generate_with_id)))
        .service(web::resource("/api/key/import").route(web::post().to(import)))
        .service(web::resource("/api/key/import/{id}").route(web::post().to(import_with_id)))
        .service(web::resource("/api/key/deleted").route(web::get().to(deleted)))
        .service(web::resource("/api/key/{id}/restore").route(web::post().to(restore)))
        .service(web::resource("/api/key/{id}/sign").route(web::post().to(sign)))
        .service(web::resource("/api/key/{id}/verify").route(web::post().to(verify)))
        .service(
            web::resource("/api/key/{id}")
                .route(web::get().to(retrieve))
                .route(web::put().to(update))
                .route(web::delete().to(delete)),
        );
}

/// Parses a JSON body after authorisation, so an unauthenticated caller learns nothing.
pub(crate) fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::from_json_error(&actix_web::error::JsonPayloadError::Deserialize(e)))
}

/// 200 with the key; the audit trail takes the key's id as the target.
fn key_response(key: &keysmith_model::Key) -> HttpResponse {
    crate::audit::with_target(
        HttpResponse::Ok().json(KeyResponse { key }),
        key.id.to_string(),
    )
}

async fn list(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let service = state.keys.clone();
    let keys = web::block(move || service.list()).await??;
    Ok(HttpResponse::Ok().json(KeysResponse { keys: &keys }))
}

/// Keysmith's: keys deleted within the deletion window, each with `purgeInstant`.
async fn deleted(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let service = state.keys.clone();
    let deleted = web::block(move || service.deleted()).await??;
    let keys: Vec<serde_json::Value> = deleted
        .into_iter()
        .map(|(key, purge_at)| {
            let mut json = serde_json::to_value(&key).unwrap_or_default();
            if let Some(object) = json.as_object_mut() {
                object.insert("purgeInstant".into(), purge_at.into());
            }
            json
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": keys })))
}

/// Keysmith's: brings back a key deleted within the deletion window (404 once purged).
async fn restore(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = state.keys.parse_id(&path)?;
    let service = state.keys.clone();
    let key = web::block(move || service.restore(&id)).await??;
    Ok(key_response(&key))
}

async fn retrieve(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = state.keys.parse_id(&path)?;
    // A point read: one redb read transaction, no fsync, pages served from redb's cache. Run
    // inline: a hop to the blocking pool costs more than the read (see docs/benchmarks.md).
    let key = state.keys.retrieve(&id)?;
    Ok(key_response(&key))
}

async fn generate(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    generate_key(request, state, None, body).await
}

async fn generate_with_id(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    generate_key(request, state, Some(path.into_inner()), body).await
}

async fn generate_key(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = parse_optional_id(&state, id.as_deref())?;
    let fields = parse_body::<KeyRequest>(&body)?.key.unwrap_or_default();
    let mut errors = Errors::new();
    let length = wire::length_field(&mut errors, fields.length.as_ref());
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let slot = state.limits.generation_slot()?;
    let service = state.keys.clone();
    let key = web::block(move || {
        let _turn = slot.wait_turn();
        service.generate(
            id,
            &GenerateRequest {
                algorithm: fields.algorithm.as_deref(),
                name: fields.name.as_deref(),
                length,
                issuer: fields.issuer.as_deref(),
            },
        )
    })
    .await??;
    Ok(key_response(&key))
}

fn parse_optional_id(state: &AppState, id: Option<&str>) -> Result<Option<KeyId>, ApiError> {
    id.map(|text| state.keys.parse_id(text))
        .transpose()
        .map_err(ApiError::from)
}

async fn import(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    import_key(request, state, None, body).await
}

async fn import_with_id(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    import_key(request, state, Some(path.into_inner()), body).await
}

async fn import_key(
    request: HttpRequest,
    state: web::Data<AppState>,
    id: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = parse_optional_id(&state, id.as_deref())?;
    let fields = parse_body::<KeyRequest>(&body)?.key.unwrap_or_default();
    let service = state.keys.clone();
    let key = web::block(move || {
        service.import(
            id,
            &ImportRequest {
                algorithm: fields.algorithm.as_deref(),
                key_type: fields.key_type.as_deref(),
                name: fields.name.as_deref(),
                kid: fields.kid.as_deref(),
                certificate: fields.certificate.as_deref(),
                public_key: fields.public_key.as_deref(),
                private_key: fields.private_key.as_deref(),
                secret: fields.secret.as_deref(),
            },
        )
    })
    .await??;
    Ok(key_response(&key))
}

async fn update(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = state.keys.parse_id(&path)?;
    let fields = parse_body::<KeyRequest>(&body)?.key.unwrap_or_default();
    let service = state.keys.clone();
    let key = web::block(move || service.rename(&id, fields.name.as_deref())).await??;
    Ok(key_response(&key))
}

async fn delete(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = state.keys.parse_id(&path)?;
    let service = state.keys.clone();
    web::block(move || service.delete(&id)).await??;
    Ok(HttpResponse::Ok().finish())
}

async fn search_by_body(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let fields = parse_body::<SearchRequestBody>(&body)?
        .search
        .unwrap_or_default();
    search(state, fields).await
}

async fn search_by_query(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let mut fields = SearchFields::default();
    for (name, value) in query.into_inner() {
        // FusionAuth's GET searches take the fields bare or prefixed with `search.`.
        match name.strip_prefix("search.").unwrap_or(&name) {
            "name" => fields.name = Some(value),
            "type" => fields.key_type = Some(value),
            "algorithm" => fields.algorithm = Some(value),
            "numberOfResults" => fields.number_of_results = Some(serde_json::Value::String(value)),
            "startRow" => fields.start_row = Some(serde_json::Value::String(value)),
            "orderBy" => fields.order_by = Some(value),
            _ => {}
        }
    }
    search(state, fields).await
}

async fn search(
    state: web::Data<AppState>,
    fields: SearchFields,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Errors::new();
    let number_of_results = wire::integer_field(
        &mut errors,
        "search.numberOfResults",
        fields.number_of_results.as_ref(),
    );
    let start_row = wire::integer_field(&mut errors, "search.startRow", fields.start_row.as_ref());
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let service = state.keys.clone();
    let page = web::block(move || {
        service.search(&SearchRequest {
            name: fields.name.as_deref(),
            key_type: fields.key_type.as_deref(),
            algorithm: fields.algorithm.as_deref(),
            number_of_results,
            start_row,
            order_by: fields.order_by.as_deref(),
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(SearchResponse {
        keys: &page.keys,
        total: page.total,
    }))
}

/// Signs a payload with a stored key that never leaves the server.
async fn sign(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = state.keys.parse_id(&path)?;
    let body: crate::jwt::SignRequest = parse_body(&body)?;
    let service = state.keys.clone();
    let (signature, algorithm) =
        web::block(move || service.sign(&id, body.payload.as_deref())).await??;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "signature": signature, "algorithm": algorithm })))
}

/// Verifies a signature with a stored key.
async fn verify(
    request: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    state.api_keys.authorize(&request)?;
    let id = state.keys.parse_id(&path)?;
    let body: crate::jwt::SignRequest = parse_body(&body)?;
    let service = state.keys.clone();
    let valid =
        web::block(move || service.verify(&id, body.payload.as_deref(), body.signature.as_deref()))
            .await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "valid": valid })))
}
