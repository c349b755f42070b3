//! `/api/system/audit-log/search`: the audit trail in FusionAuth's audit-log search shape.

use actix_web::{HttpRequest, HttpResponse, web};
use keysmith_model::{AuditQuery, AuditRecord, Family};
use serde::{Deserialize, Serialize};

use crate::fusionauth::parse_body;
use crate::routing::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

/// Audit-log search criteria (all optional).
#[derive(Deserialize, Default, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[schema(as = AuditLogSearchCriteria)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchFields {
    action: Option<String>,
    text: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    /// Offset of the first record.
    start_row: Option<usize>,
    /// Page size, 1 to 500 (default 25).
    #[param(minimum = 1, maximum = 500)]
    #[schema(minimum = 1, maximum = 500)]
    number_of_results: Option<usize>,
}

/// `{"search": {...}}`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = AuditLogSearchRequest)]
pub(crate) struct SearchBody {
    pub(crate) search: Option<SearchFields>,
}

/// One audit record in FusionAuth's audit-log shape; `data` is Keysmith's record.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditLog)]
#[serde(rename_all = "camelCase")]
struct AuditLogJson<'a> {
    id: u64,
    insert_instant: i64,
    insert_user: &'a str,
    message: String,
    data: &'a AuditRecord,
}

/// One page of audit records.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditLogSearchResult)]
#[serde(rename_all = "camelCase")]
struct SearchResponse<'a> {
    audit_logs: Vec<AuditLogJson<'a>>,
    total: u64,
}

/// The largest page.
const MAX_RESULTS: usize = 500;

pub(crate) fn configure(routes: &mut impl Registrar) {
    let audit = RouteSpec::fusionauth(Family::Audit);
    routes.add::<__path_search_by_query, _, _>(audit, search_by_query);
    routes.add::<__path_search_by_body, _, _>(audit, search_by_body);
}

#[utoipa::path(
    get, path = "/api/system/audit-log/search", tag = "system", operation_id = "searchAuditLogsWithParameters",
    params(SearchFields),
    responses(
        (status = 200, description = "One page of records, newest first.", body = SearchResponse),
        (status = 400, description = "A parameter is invalid.", body = keysmith_model::Errors),
        ApiError
    )
)]
async fn search_by_query(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    search(&state, search_fields_from_query(request.query_string())?).await
}

/// The search criteria of a GET search's query string.
pub(crate) fn search_fields_from_query(query_string: &str) -> Result<SearchFields, ApiError> {
    web::Query::<SearchFields>::from_query(query_string)
        .map(web::Query::into_inner)
        .map_err(|_| {
            ApiError::BadRequest(keysmith_model::Errors::general(
                keysmith_model::Reason::Invalid,
                "",
                "The query string does not match the search fields.",
            ))
        })
}

#[utoipa::path(
    post, path = "/api/system/audit-log/search", tag = "system", operation_id = "searchAuditLogs",
    request_body(
        content = Option<SearchBody>, content_type = "application/json",
        description = "Optional: no body searches with the defaults."
    ),
    responses(
        (status = 200, description = "One page of records, newest first.", body = SearchResponse),
        (status = 400, description = crate::fusionauth::error::INVALID, body = keysmith_model::Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
async fn search_by_body(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let fields = parse_body::<SearchBody>(&body)?.search.unwrap_or_default();
    search(&state, fields).await
}

/// The store's query for the search criteria.
pub(crate) fn audit_query(fields: SearchFields) -> Result<AuditQuery, ApiError> {
    let number_of_results = fields.number_of_results.unwrap_or(25);
    if !(1..=MAX_RESULTS).contains(&number_of_results) {
        return Err(ApiError::BadRequest(keysmith_model::Errors::field(
            "search.numberOfResults",
            keysmith_model::Reason::Invalid,
            format!("numberOfResults must be between 1 and {MAX_RESULTS}."),
        )));
    }
    Ok(AuditQuery {
        action: fields.action.filter(|a| !a.is_empty()),
        text: fields.text.filter(|t| !t.is_empty()),
        start: fields.start,
        end: fields.end,
        start_row: fields.start_row.unwrap_or(0),
        number_of_results,
    })
}

async fn search(state: &AppState, fields: SearchFields) -> Result<HttpResponse, ApiError> {
    let query = audit_query(fields)?;
    let service = state.keys.clone();
    let (records, total) = web::block(move || service.search_audit(&query)).await??;
    let audit_logs = records
        .iter()
        .map(|r| AuditLogJson {
            id: r.id,
            insert_instant: r.at,
            insert_user: &r.actor,
            message: format!("{} {} → {}", r.action, r.target, r.result),
            data: r,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SearchResponse { audit_logs, total }))
}
