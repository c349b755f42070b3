//! `/api/v2/connections`: list (with Auth0's paging and filters), create, read, update, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use keysmith_model::Connection;
use serde::{Deserialize, Serialize};

use super::wire::{ConnectionChanges, ConnectionJson, ConnectionPath, NewConnection, parse_body};
use super::{Auth0Error, Reply, change_case, use_case};
use crate::AppState;

/// `GET /api/v2/connections`' query string.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<usize>,
    /// Page number from 0.
    #[param(minimum = 0)]
    page: Option<i64>,
    /// Wrap the page with `start`, `limit` and `total`.
    include_totals: Option<bool>,
    /// Only the connection with this name.
    name: Option<String>,
    /// Only connections with this strategy.
    strategy: Option<String>,
    /// Accepted and ignored.
    fields: Option<String>,
    /// Accepted and ignored.
    include_fields: Option<bool>,
    /// Accepted and ignored.
    from: Option<String>,
    /// Checked (1 to 100) and otherwise ignored: Keysmith pages with `page`.
    #[param(minimum = 1, maximum = 100)]
    take: Option<i64>,
}

/// Auth0's largest page.
const MAX_PER_PAGE: usize = 100;

/// Reads and checks `GET /api/v2/connections`' query string: the query, the page size and the
/// page number.
pub(crate) fn list_query(query_string: &str) -> Result<(ListQuery, usize, usize), Auth0Error> {
    let query = web::Query::<ListQuery>::from_query(query_string)
        .map_err(|e| {
            let message = match e {
                actix_web::error::QueryPayloadError::Deserialize(cause) => cause.to_string(),
                _ => String::new(),
            };
            let detail = match crate::fusionauth::error::unknown_field(&message) {
                Some(field) => format!("Additional properties not allowed: {field}"),
                None => "a parameter has the wrong type".into(),
            };
            Auth0Error::new(
                StatusCode::BAD_REQUEST,
                "invalid_query_string",
                format!("Query validation error: {detail}"),
            )
        })?
        .into_inner();
    let _ = (&query.fields, query.include_fields, &query.from);
    let per_page = query.per_page.unwrap_or(50);
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Auth0Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_query_string",
            format!("Query validation error: per_page must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    if query
        .take
        .is_some_and(|take| take < 1 || take > MAX_PER_PAGE as i64)
    {
        return Err(Auth0Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_query_string",
            format!("Query validation error: take must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    let page = usize::try_from(query.page.unwrap_or(0)).map_err(|_| {
        Auth0Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_query_string",
            "Query validation error: page must be 0 or more",
        )
    })?;
    Ok((query, per_page, page))
}

#[utoipa::path(
    get, path = "/api/v2/connections", tag = "connections", operation_id = "getConnections", params(ListQuery),
    responses(
        (
            status = 200, description = "A page of connections, or with `include_totals` a page with totals.",
            body = ConnectionPage
        ),
        Auth0Error
    )
)]
pub(super) async fn list_connections(request: HttpRequest, state: web::Data<AppState>) -> Reply {
    let (query, per_page, page) = list_query(request.query_string())?;
    let all = use_case(&state, Auth0Error::no_connection, move |service| {
        service.connections().list()
    })
    .await?;
    let matching: Vec<&Connection> = all
        .iter()
        .filter(|c| query.name.as_ref().is_none_or(|n| &c.name == n))
        .filter(|c| query.strategy.as_ref().is_none_or(|s| &c.strategy == s))
        .collect();
    let start = page.saturating_mul(per_page);
    let shown: Vec<ConnectionJson<'_>> = matching
        .iter()
        .skip(start)
        .take(per_page)
        .map(|c| ConnectionJson::from(*c))
        .collect();
    let page = if query.include_totals == Some(true) {
        ConnectionPage::WithTotals {
            connections: shown,
            limit: per_page,
            start,
            total: matching.len(),
        }
    } else {
        ConnectionPage::Page(shown)
    };
    Ok(HttpResponse::Ok().json(page))
}

/// A page of connections: a bare array, or with `include_totals=true` an object.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum ConnectionPage<'a> {
    /// The page.
    Page(Vec<ConnectionJson<'a>>),
    // Fields in alphabetical order, and each connection's keys too (`alphabetical`): the order
    // the body had when it was built with `json!`.
    /// The page with totals.
    WithTotals {
        /// The page.
        #[serde(serialize_with = "crate::fusionauth::wire::alphabetical")]
        connections: Vec<ConnectionJson<'a>>,
        /// The page size.
        limit: usize,
        /// The offset of the first connection.
        start: usize,
        /// How many connections match.
        total: usize,
    },
}

#[utoipa::path(
    post, path = "/api/v2/connections", tag = "connections", operation_id = "createConnection",
    request_body(
        content = NewConnection, content_type = "application/json",
        example = json!({"name": "acme-saml", "strategy": "samlp"})
    ),
    responses(
        (
            status = 201, description = "The new connection.", body = ConnectionJson,
            links(
                ("getConnection" = (operation_id = "getConnection", parameters(("id" = "$response.body#/id")))),
                ("updateConnection" = (operation_id = "updateConnection", parameters(("id" = "$response.body#/id")))),
                ("getConnectionKeys" = (operation_id = "getConnectionKeys", parameters(("id" = "$response.body#/id")))),
                (
                    "postConnectionKeys" = (
                        operation_id = "postConnectionKeys", parameters(("id" = "$response.body#/id"))
                    )
                ),
                (
                    "rotateConnectionKeys" = (
                        operation_id = "rotateConnectionKeys", parameters(("id" = "$response.body#/id"))
                    )
                ),
                ("deleteConnection" = (operation_id = "deleteConnection", parameters(("id" = "$response.body#/id"))))
            )
        ),
        (status = 409, description = "A connection with this name exists.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn create_connection(state: web::Data<AppState>, body: web::Bytes) -> Reply {
    let fields = parse_body::<NewConnection>(&body)?.into_fields()?;
    let connection = change_case(&state, Auth0Error::no_connection, move |service| {
        service.connections().create(fields)
    })
    .await?;
    Ok(crate::middleware::audit::with_target(
        HttpResponse::Created().json(ConnectionJson::from(&connection)),
        connection.id.clone(),
    ))
}

#[utoipa::path(
    get, path = "/api/v2/connections/{id}", tag = "connections", operation_id = "getConnection", params(ConnectionPath),
    responses(
        (status = 200, description = "The connection.", body = ConnectionJson),
        (status = 404, description = "`inexistent_connection`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn get_connection(
    state: web::Data<AppState>,
    path: web::Path<ConnectionPath>,
) -> Reply {
    let connection = state
        .keys
        .connections()
        .get(&path.id)
        .map_err(|e| Auth0Error::from_service(e, Auth0Error::no_connection))?;
    Ok(HttpResponse::Ok().json(ConnectionJson::from(&connection)))
}

#[utoipa::path(
    patch, path = "/api/v2/connections/{id}", tag = "connections", operation_id = "updateConnection",
    summary = "Changes display fields; `name` and `strategy` cannot change.", params(ConnectionPath),
    request_body(content = Option<ConnectionChanges>, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated connection.", body = ConnectionJson),
        (status = 404, description = "`inexistent_connection`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn update_connection(
    state: web::Data<AppState>,
    path: web::Path<ConnectionPath>,
    body: web::Bytes,
) -> Reply {
    let fields = parse_body::<ConnectionChanges>(&body)?.into_fields()?;
    let connection = change_case(&state, Auth0Error::no_connection, move |service| {
        service.connections().update(&path.id, fields)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ConnectionJson::from(&connection)))
}

#[utoipa::path(
    delete, path = "/api/v2/connections/{id}", tag = "connections", operation_id = "deleteConnection",
    summary = "Deletes the connection with its keys, in one transaction.", params(ConnectionPath),
    responses(
        (status = 202, description = "Deleted. Empty body."),
        (status = 404, description = "`inexistent_connection`.", body = crate::auth0::error::Auth0ErrorBody),
        Auth0Error
    )
)]
pub(super) async fn delete_connection(
    state: web::Data<AppState>,
    path: web::Path<ConnectionPath>,
) -> Reply {
    change_case(&state, Auth0Error::no_connection, move |service| {
        service.connections().delete(&path.id)
    })
    .await?;
    // Auth0 answers 202: the deletion is done here by the time it answers.
    Ok(HttpResponse::Accepted().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde quotes a string of the wrong type in its message; serde's own words inside that
    /// string were taken for an unknown field's name, so the refusal echoed part of the value
    /// (seen while writing the `parse_request_body` fuzz target's check).
    #[test]
    fn a_refusal_names_an_unknown_field_but_never_quotes_a_value() {
        fn refusal<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> String {
            match parse_body::<T>(body) {
                Ok(_) => panic!("accepted {}", String::from_utf8_lossy(body)),
                Err(refusal) => refusal.to_string(),
            }
        }
        let quoted = br#"{"name": "ok", "is_domain_connection": "unknown field `hunter2`"}"#;
        let unknown = br#"{"name": "ok", "surprise": "s3cret-value"}"#;
        for (quoted, unknown) in [
            (
                refusal::<NewConnection>(quoted),
                refusal::<NewConnection>(unknown),
            ),
            (
                refusal::<ConnectionChanges>(quoted),
                refusal::<ConnectionChanges>(unknown),
            ),
        ] {
            assert!(!quoted.contains("hunter2"), "{quoted}");
            assert!(
                unknown.contains("Additional properties not allowed: surprise")
                    && !unknown.contains("s3cret"),
                "{unknown}"
            );
        }
    }

    #[test]
    fn a_query_refusal_names_an_unknown_parameter() {
        let Err(refusal) = list_query("per_page=10&surprise=1") else {
            panic!("accepted");
        };
        assert!(
            refusal
                .to_string()
                .contains("Additional properties not allowed: surprise"),
            "{refusal}"
        );
    }
}
