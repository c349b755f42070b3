//! `/api/v2/connections/{id}/keys`: a connection's key ring: read, provision, rotate.

use actix_web::{HttpResponse, web};

use super::wire::{
    ConnectionKeyJson, ConnectionPath, KeysBody, all_json, connection_key_json, parse_body,
};
use super::{Auth0Error, Reply, generating_use_case, use_case};
use crate::AppState;

#[utoipa::path(
    get, path = "/api/v2/connections/{id}/keys", tag = "connections", operation_id = "getConnectionKeys",
    params(ConnectionPath),
    responses(
        (
            status = 200, description = "The connection's current, next and previous keys (signing, then encryption).",
            body = Vec<ConnectionKeyJson>
        ),
        (status = 404, description = "`inexistent_connection`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn connection_keys(
    state: web::Data<AppState>,
    path: web::Path<ConnectionPath>,
) -> Reply {
    let views = use_case(&state, Auth0Error::no_connection, move |service| {
        service.connections().keys(&path.id)
    })
    .await?;
    let keys = all_json(&views, connection_key_json)?;
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(
    post, path = "/api/v2/connections/{id}/keys", tag = "connections", operation_id = "postConnectionKeys",
    summary = "Provisions the current and next keys.", params(ConnectionPath),
    request_body(content = Option<KeysBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "The current and next keys.", body = Vec<ConnectionKeyJson>),
        (status = 404, description = "`inexistent_connection`.", body = crate::auth0::error::Auth0ErrorBody),
        (
            status = 409, description = "The connection already has keys of this use.",
            body = crate::auth0::error::Auth0ErrorBody
        ),
        Auth0Error
    )
)]
pub(super) async fn provision_connection_keys(
    state: web::Data<AppState>,
    path: web::Path<ConnectionPath>,
    body: web::Bytes,
) -> Reply {
    let body = parse_body::<KeysBody>(&body)?;
    let key_use = body.key_use()?;
    let views = generating_use_case(&state, Auth0Error::no_connection, move |service| {
        service
            .connections()
            .provision(&path.id, body.signing_alg(), key_use)
    })
    .await?;
    let keys = all_json(&views, connection_key_json)?;
    Ok(HttpResponse::Created().json(keys))
}

#[utoipa::path(
    post, path = "/api/v2/connections/{id}/keys/rotate", tag = "connections", operation_id = "rotateConnectionKeys",
    summary = "Next becomes current, current becomes previous, the old previous is retired, and a new next is made: \
        one transaction.",
    params(ConnectionPath), request_body(content = Option<KeysBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new next key.", body = ConnectionKeyJson),
        (status = 404, description = "`inexistent_connection`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn rotate_connection_keys(
    state: web::Data<AppState>,
    path: web::Path<ConnectionPath>,
    body: web::Bytes,
) -> Reply {
    let body = parse_body::<KeysBody>(&body)?;
    let key_use = body.key_use()?;
    let view = generating_use_case(&state, Auth0Error::no_connection, move |service| {
        service
            .connections()
            .rotate(&path.id, body.signing_alg(), key_use)
    })
    .await?;
    Ok(HttpResponse::Created().json(connection_key_json(&view)?))
}
