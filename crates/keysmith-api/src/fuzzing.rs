//! The request parsing of every route that reads a JSON body or a query string, as plain
//! functions for the fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! Each function runs what its handler runs between authorisation and the use case, calling
//! the same functions, and nothing else: no actix service, no permission check. Where the
//! handler's next step is a search, the search runs too, against the given service's store.

use actix_web::web;
use keysmith_core::{ConnectionFields, KeyService};
use keysmith_model::{AuditRecord, Key, KeyUse};

use crate::ApiError;
use crate::auth0::wire::{ConnectionChanges, KeysBody, NewConnection};
use crate::auth0::{self, Auth0Error};
use crate::fusionauth::wire::SearchRequestBody;
use crate::fusionauth::{jwt, keys, search, wire};
use crate::system::audit;

/// `POST /api/key/generate[/{id}]`: the key fields and the length.
pub fn generate_body(body: &[u8]) -> Result<(), ApiError> {
    keys::generate_fields(web::Bytes::copy_from_slice(body)).map(drop)
}

/// `POST /api/key/import[/{id}]` and `PUT /api/key/{id}`: the key fields.
pub fn key_body(body: &[u8]) -> Result<(), ApiError> {
    wire::key_fields(web::Bytes::copy_from_slice(body)).map(drop)
}

/// `POST /api/key/search`, searched in `service`: the page and the total.
pub fn key_search_body(service: &KeyService, body: &[u8]) -> Result<(Vec<Key>, u64), ApiError> {
    let fields = keys::parse_body::<SearchRequestBody>(body)?
        .search
        .unwrap_or_default();
    let page = service.keys().search(&search::search_request(&fields)?)?;
    Ok((page.keys, page.total))
}

/// The parameters actix's `web::Query<Vec<(String, String)>>` extractor gives a handler.
pub fn query_parameters(
    query_string: &str,
) -> Result<Vec<(String, String)>, actix_web::error::QueryPayloadError> {
    web::Query::<Vec<(String, String)>>::from_query(query_string).map(web::Query::into_inner)
}

/// `GET /api/key/search?...` with the [`query_parameters`], searched in `service`: the page and
/// the total.
pub fn key_search_query(
    service: &KeyService,
    parameters: Vec<(String, String)>,
) -> Result<(Vec<Key>, u64), ApiError> {
    let fields = search::search_fields_from_query(parameters)?;
    let page = service.keys().search(&search::search_request(&fields)?)?;
    Ok((page.keys, page.total))
}

/// `POST /api/key/{id}/sign` and `POST /api/key/{id}/verify`.
pub fn sign_body(body: &[u8]) -> Result<(), ApiError> {
    keys::parse_body::<jwt::SignRequest>(body).map(drop)
}

/// `POST /api/jwt/vend`: the request and its time to live.
pub fn vend_body(body: &[u8]) -> Result<(), ApiError> {
    jwt::vend_request(body).map(drop)
}

/// `GET /api/jwt/public-key?...`.
pub fn public_key_query(query_string: &str) -> Result<(), actix_web::error::QueryPayloadError> {
    web::Query::<jwt::PublicKeyQuery>::from_query(query_string).map(drop)
}

/// `GET /api/system/audit-log/search?...`, searched in `service`'s store.
pub fn audit_search_query(
    service: &KeyService,
    query_string: &str,
) -> Result<(Vec<AuditRecord>, u64), ApiError> {
    let query = audit::audit_query(audit::search_fields_from_query(query_string)?)?;
    search_audit(service, &query)
}

/// `POST /api/system/audit-log/search`, searched in `service`'s store.
pub fn audit_search_body(
    service: &KeyService,
    body: &[u8],
) -> Result<(Vec<AuditRecord>, u64), ApiError> {
    let fields = keys::parse_body::<audit::SearchBody>(body)?
        .search
        .unwrap_or_default();
    search_audit(service, &audit::audit_query(fields)?)
}

fn search_audit(
    service: &KeyService,
    query: &keysmith_model::AuditQuery,
) -> Result<(Vec<AuditRecord>, u64), ApiError> {
    Ok(service.search_audit(query)?)
}

/// `POST /api/v2/connections`, then `PATCH /api/v2/connections/{id}` (the two bodies read the
/// same fields): the first refusal, or the new connection's fields.
pub fn connection_body(body: &[u8]) -> Result<ConnectionFields, Auth0Error> {
    let created = auth0::wire::parse_body::<NewConnection>(body)?.into_fields()?;
    auth0::wire::parse_body::<ConnectionChanges>(body)?.into_fields()?;
    Ok(created)
}

/// `POST /api/v2/connections/{id}/keys` and `.../keys/rotate`: the key use.
pub fn connection_keys_body(body: &[u8]) -> Result<KeyUse, Auth0Error> {
    auth0::wire::parse_body::<KeysBody>(body)?.key_use()
}

/// `GET /api/v2/connections?...`: the page size and the page number.
pub fn connections_query(query_string: &str) -> Result<(usize, usize), Auth0Error> {
    auth0::connections::list_query(query_string).map(|(_, per_page, page)| (per_page, page))
}
