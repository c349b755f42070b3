//! The audit middleware and the audit-log search API.
//!
//! Every authenticated mutation and every use of a private key is recorded, successes and
//! failures alike: time, the API key's id (never the key), the action, the target, the result
//! and the request id. Unauthenticated requests are not recorded (a flood of them must not fill
//! the trail).
//!
//! - A change the request commits carries its record in its own transaction: the permission
//!   check enters the request's audit context ([`changes_audited`]), [`crate::deadline::change`]
//!   takes it to the blocking thread, and the store appends the row (result `ok`, the target the
//!   store changed) before it commits. The change and its record commit together or not at all.
//! - A mutation that committed nothing (refused, failed, or a route that writes nothing, like a
//!   backup) is recorded after its response with its HTTP status, through the bounded queue.
//! - A use (sign, verify, vend) goes to [`keysmith_core::audit::AuditTrail::record_use`]:
//!   summed up per key and interval, one record per use, or nothing (`audit_uses`).

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, web};
use keysmith_core::audit::AuditContext;
use keysmith_model::{AuditQuery, AuditRecord, Family, epoch_millis_now};
use serde::{Deserialize, Serialize};

use crate::keys::parse_body;
use crate::routes::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

/// Who called: set by authorisation on the request's extensions.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

/// The request id: set by the request-id middleware on the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A target not in the path (a new key's id, the key a token was vended with): set by the
/// handler on the response's extensions.
#[derive(Clone, Debug)]
pub struct AuditTarget(pub String);

/// How many audit rows the request's committed changes carried: set on the request's
/// extensions when its handler is done.
#[derive(Clone, Copy, Debug)]
struct CommittedRows(u64);

/// The audit context of the request being handled, and the rows its changes committed.
#[derive(Debug)]
struct RequestChanges {
    context: Option<AuditContext>,
    committed: Cell<u64>,
}

tokio::task_local! {
    static REQUEST_CHANGES: Rc<RequestChanges>;
}

/// The audit context of an authorised request to a route that changes state.
pub(crate) fn change_context(
    spec: RouteSpec,
    actor: Option<&str>,
    request: &ServiceRequest,
) -> Option<AuditContext> {
    let action = spec.audit.filter(|_| !spec.audit_use)?;
    Some(AuditContext {
        actor: actor?.to_owned(),
        action: action.to_owned(),
        request_id: request.extensions().get::<RequestId>().map(|r| r.0.clone()),
    })
}

/// Runs a route's handler with its audit context, for [`crate::deadline::change`] to take to
/// the blocking thread; notes on the request how many audit rows its changes committed.
pub(crate) async fn changes_audited<B>(
    context: Option<AuditContext>,
    handler: impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let changes = Rc::new(RequestChanges {
        context,
        committed: Cell::new(0),
    });
    let response = REQUEST_CHANGES.scope(changes.clone(), handler).await?;
    response
        .request()
        .extensions_mut()
        .insert(CommittedRows(changes.committed.get()));
    Ok(response)
}

/// The audit context of the request this task is handling (`None` outside one).
pub(crate) fn current_context() -> Option<AuditContext> {
    REQUEST_CHANGES
        .try_with(|changes| changes.context.clone())
        .ok()
        .flatten()
}

/// Counts audit rows the request's changes committed.
pub(crate) fn note_committed(rows: u64) {
    let _ =
        REQUEST_CHANGES.try_with(|changes| changes.committed.set(changes.committed.get() + rows));
}

/// Names the audit target of a response whose target is not in its path.
pub(crate) fn with_target(mut response: HttpResponse, target: String) -> HttpResponse {
    response.extensions_mut().insert(AuditTarget(target));
    response
}

/// The middleware: `App::new().wrap(from_fn(audit::middleware))`, inside the request-id one.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(request).await?;
    let http = response.request();
    let Some(spec) = crate::routes::matched_spec(http) else {
        return Ok(response);
    };
    let actor = http.extensions().get::<Actor>().cloned();
    let (Some(action), Some(actor), Some(state)) =
        (spec.audit, actor, http.app_data::<web::Data<AppState>>())
    else {
        return Ok(response);
    };
    let status = response.status();
    let committed = http
        .extensions()
        .get::<CommittedRows>()
        .map_or(0, |rows| rows.0);
    if !spec.audit_use && status.is_success() && committed > 0 {
        // Recorded in the change's own transaction.
        return Ok(response);
    }
    let target = response
        .response()
        .extensions()
        .get::<AuditTarget>()
        .map(|t| t.0.clone())
        .or_else(|| {
            let info = http.match_info();
            info.get("id")
                .or_else(|| info.get("kid"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let request_id = http.extensions().get::<RequestId>().map(|r| r.0.clone());
    if spec.audit_use {
        state
            .audit
            .record_use(action, &target, &actor.0, status.as_str(), request_id);
    } else {
        state.audit.record(AuditRecord {
            id: 0,
            at: epoch_millis_now(),
            actor: actor.0,
            action: action.to_owned(),
            target,
            result: status.as_u16().to_string(),
            request_id,
            uses: None,
        });
    }
    Ok(response)
}

// ---- search: FusionAuth's audit-log search shape ----

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

#[utoipa::path(get, path = "/api/system/audit-log/search", tag = "system", operation_id = "searchAuditLogsWithParameters",
    params(SearchFields),
    responses((status = 200, description = "One page of records, newest first.", body = SearchResponse),
        (status = 400, description = "A parameter is invalid.", body = keysmith_model::Errors), crate::openapi::Refusals))]
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

#[utoipa::path(post, path = "/api/system/audit-log/search", tag = "system", operation_id = "searchAuditLogs",
    request_body(content = Option<SearchBody>, content_type = "application/json", description = "Optional: no body searches with the defaults."),
    responses((status = 200, description = "One page of records, newest first.", body = SearchResponse), crate::openapi::Invalid, crate::openapi::Refusals))]
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
    let store = state.keys.store().clone();
    let (records, total) = web::block(move || store.search_audit(&query))
        .await?
        .map_err(|e| ApiError::from(keysmith_core::ServiceError::from(e)))?;
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
