//! Auth0's Management API for connections, connection keys and tenant signing keys:
//! `/api/v2/...`, with Auth0's bearer authentication, status codes and error shape.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use keysmith_core::{ConnectionFields, KeyService, RingKeyView, ServiceError};
use keysmith_crypto::pem::LineEnding;
use keysmith_crypto::{pem, pkcs7};
use keysmith_model::ring::key_use_name;
use keysmith_model::{Connection, Errors, Family, KeyUse, RingRole};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::AppState;
use crate::routes::{Registrar, RouteSpec};

/// Fixed paths before parameterised ones: actix tries routes in registration order.
pub(crate) fn configure(routes: &mut impl Registrar) {
    let connections = || RouteSpec::auth0(Family::Connections);
    let tenant = || RouteSpec::auth0(Family::SigningKeys);
    routes.add::<__path_list_connections, _, _>(connections(), list_connections);
    routes.add::<__path_create_connection, _, _>(
        connections().audited("connection.create"),
        create_connection,
    );
    routes.add::<__path_get_connection, _, _>(connections(), get_connection);
    routes.add::<__path_update_connection, _, _>(
        connections().audited("connection.update"),
        update_connection,
    );
    routes.add::<__path_delete_connection, _, _>(
        connections().audited("connection.delete"),
        delete_connection,
    );
    routes.add::<__path_connection_keys, _, _>(connections(), connection_keys);
    routes.add::<__path_provision_connection_keys, _, _>(
        connections().audited("connection.keys.provision"),
        provision_connection_keys,
    );
    routes.add::<__path_rotate_connection_keys, _, _>(
        connections().audited("connection.keys.rotate"),
        rotate_connection_keys,
    );
    routes.add::<__path_signing_keys, _, _>(tenant(), signing_keys);
    routes.add::<__path_rotate_signing_keys, _, _>(
        tenant().audited("signing-keys.rotate"),
        rotate_signing_keys,
    );
    routes.add::<__path_signing_key, _, _>(tenant(), signing_key);
    routes.add::<__path_revoke_signing_key, _, _>(
        tenant().audited("signing-keys.revoke"),
        revoke_signing_key,
    );
}

// ---- errors ----

/// An error in Auth0's shape: `{statusCode, error, message, errorCode}`.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct Auth0Error {
    status: StatusCode,
    message: String,
    error_code: &'static str,
    retry_after_seconds: Option<u64>,
}

impl Auth0Error {
    fn new(status: StatusCode, error_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
            retry_after_seconds: None,
        }
    }

    fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("Payload validation error: {}", message.into()),
        )
    }

    /// 401: no `Authorization: Bearer` header.
    pub(crate) fn missing_authentication() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing_authentication",
            "Missing authentication",
        )
    }

    /// 401: a bearer token that is no API key.
    pub(crate) fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "Invalid token")
    }

    /// 403: an API key without permission for this route.
    pub(crate) fn insufficient_scope(family: &str, method: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Insufficient scope, expected any of: {family}:{method}"),
        )
    }

    fn no_connection() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "inexistent_connection",
            "The connection does not exist",
        )
    }

    fn no_signing_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "inexistent_key",
            "The signing key does not exist",
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests. Check the Retry-After header",
            )
        }
    }

    /// Maps a use-case error; `not_found` is the 404 of the resource the route names.
    fn from_service(err: ServiceError, not_found: fn() -> Self) -> Self {
        match err {
            ServiceError::NotFound => not_found(),
            ServiceError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            ServiceError::Invalid(errors) if errors.field_errors.is_empty() => Self::new(
                StatusCode::BAD_REQUEST,
                "operation_not_allowed",
                messages(&errors),
            ),
            ServiceError::Invalid(errors) => Self::invalid_body(messages(&errors)),
            other => {
                match &other {
                    ServiceError::Internal(cause) => crate::error::log_internal(&**cause),
                    _ => crate::error::log_internal(&other),
                }
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "Internal error",
                )
            }
        }
    }
}

fn messages(errors: &Errors) -> String {
    errors
        .general_errors
        .iter()
        .chain(errors.field_errors.values().flatten())
        .map(|d| d.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<actix_web::error::BlockingError> for Auth0Error {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::from_service(ServiceError::internal(err), Self::no_connection)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Auth0ErrorBody<'a> {
    status_code: u16,
    error: &'a str,
    message: &'a str,
    error_code: &'a str,
}

impl ResponseError for Auth0Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(Auth0ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
            error_code: self.error_code,
        })
    }
}

type Reply = Result<HttpResponse, Auth0Error>;

/// Runs a use case that generates keys: it needs a place in the generation pool (429 with
/// `Retry-After` when full) and a token from the rate limit.
async fn generating_use_case<T: Send + 'static>(
    state: &AppState,
    not_found: fn() -> Auth0Error,
    f: impl FnOnce(KeyService) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Auth0Error> {
    state.limits.check_key_generation()?;
    let slot = state
        .limits
        .generation_slot()
        .map_err(|full| Auth0Error::too_many_requests(full.retry_after_seconds))?;
    change_case(state, not_found, move |service| {
        let _turn = slot.wait_turn();
        f(service)
    })
    .await
}

/// Runs a use case that changes stored state, as [`use_case`] does, past the request
/// deadline once started ([`crate::deadline::change`]).
async fn change_case<T: Send + 'static>(
    state: &AppState,
    not_found: fn() -> Auth0Error,
    f: impl FnOnce(KeyService) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Auth0Error> {
    let service = state.keys.clone();
    crate::deadline::change(move || f(service))
        .await?
        .map_err(|e| Auth0Error::from_service(e, not_found))
}

/// Runs a use case on the blocking pool; its "not found" is the route's `not_found`.
async fn use_case<T: Send + 'static>(
    state: &AppState,
    not_found: fn() -> Auth0Error,
    f: impl FnOnce(KeyService) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Auth0Error> {
    let service = state.keys.clone();
    web::block(move || f(service))
        .await?
        .map_err(|e| Auth0Error::from_service(e, not_found))
}

// ---- authentication and parsing ----

/// Parses an optional JSON body (the SDK sends none for some calls): an empty body is absent;
/// anything else, whitespace alone included, must be a JSON object. Messages name an unknown
/// field but never echo a value: connection options can hold secrets.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, Auth0Error> {
    if body.is_empty() {
        return Ok(T::default());
    }
    if !crate::wire::is_json_object(body) {
        return Err(Auth0Error::invalid_body("the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let detail = match crate::error::unknown_field(&e.to_string()) {
            Some(field) => format!("Additional properties not allowed: {field}"),
            None => format!("the body {}", crate::error::json_error_position(&e)),
        };
        Auth0Error::invalid_body(detail)
    })
}

// ---- wire shapes ----

/// Epoch milliseconds as ISO-8601 UTC with milliseconds, as Auth0 writes timestamps.
pub fn iso8601(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => String::new(),
    }
}

/// A connection's fields, on create and update (documented as `NewConnection` and
/// `ConnectionChanges`). Options whose names say they hold a secret are refused.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionBody {
    name: Option<String>,
    strategy: Option<String>,
    display_name: Option<String>,
    options: Option<Map<String, Value>>,
    metadata: Option<Map<String, Value>>,
    enabled_clients: Option<Vec<String>>,
    realms: Option<Vec<String>>,
    is_domain_connection: Option<bool>,
    rotation_period_seconds: Option<u64>,
    // Accepted and ignored, as Auth0 fields Keysmith has no use for.
    #[serde(default)]
    show_as_button: Option<bool>,
}

impl ConnectionBody {
    pub(crate) fn into_fields(self) -> Result<ConnectionFields, Auth0Error> {
        let _ = self.show_as_button;
        if let Some(metadata) = &self.metadata
            && metadata.values().any(|v| !v.is_string())
        {
            return Err(Auth0Error::invalid_body("metadata values must be strings"));
        }
        if let Some(path) = self
            .options
            .as_ref()
            .and_then(|o| secret_like_option(o, "options"))
        {
            return Err(Auth0Error::invalid_body(format!(
                "{path} looks like a secret; Keysmith does not keep connection secrets (it only needs the connection's keys)"
            )));
        }
        Ok(ConnectionFields {
            name: self.name,
            strategy: self.strategy,
            display_name: self.display_name,
            options: self.options,
            metadata: self.metadata,
            enabled_clients: self.enabled_clients,
            realms: self.realms,
            is_domain_connection: self.is_domain_connection,
            rotation_period_seconds: self.rotation_period_seconds,
        })
    }
}

/// The path of the first option whose name says it holds a secret (`client_secret`, passwords,
/// private keys), at any depth. Such options are refused rather than stored and echoed back.
fn secret_like_option(options: &Map<String, Value>, prefix: &str) -> Option<String> {
    options.iter().find_map(|(name, value)| {
        let lower = name.to_ascii_lowercase();
        let path = format!("{prefix}.{name}");
        if ["secret", "password", "private"]
            .iter()
            .any(|w| lower.contains(w))
        {
            Some(path)
        } else if let Value::Object(inner) = value {
            secret_like_option(inner, &path)
        } else {
            None
        }
    })
}

/// A connection.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Connection)]
pub(crate) struct ConnectionJson<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    strategy: &'a str,
    #[schema(value_type = Object)]
    options: &'a Map<String, Value>,
    #[schema(value_type = HashMap<String, String>)]
    metadata: &'a Map<String, Value>,
    enabled_clients: &'a [String],
    realms: &'a [String],
    is_domain_connection: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_seconds: Option<u64>,
}

impl<'a> From<&'a Connection> for ConnectionJson<'a> {
    fn from(c: &'a Connection) -> Self {
        ConnectionJson {
            id: &c.id,
            name: &c.name,
            display_name: c.display_name.as_deref(),
            strategy: &c.strategy,
            options: &c.options,
            metadata: &c.metadata,
            enabled_clients: &c.enabled_clients,
            realms: &c.realms,
            is_domain_connection: c.is_domain_connection,
            rotation_period_seconds: c.rotation_period_seconds,
        }
    }
}

/// The certificate facts both key shapes carry.
struct CertificateJson {
    cert: String,
    pkcs7: String,
    fingerprint: String,
    thumbprint: String,
    subject_dn: String,
}

fn certificate_json(view: &RingKeyView) -> Result<CertificateJson, Auth0Error> {
    let internal = |what: &str| {
        Auth0Error::from_service(
            ServiceError::internal(std::io::Error::other(format!(
                "ring key {} has no {what}",
                view.key.id
            ))),
            Auth0Error::no_connection,
        )
    };
    let cert = view
        .key
        .certificate
        .clone()
        .ok_or_else(|| internal("certificate"))?;
    let info = view
        .key
        .certificate_information
        .as_ref()
        .ok_or_else(|| internal("certificate information"))?;
    let der = pem::decode(&cert).map_err(|_| internal("readable certificate"))?;
    Ok(CertificateJson {
        pkcs7: pkcs7::certs_only_pem(&[&der.contents], LineEnding::Lf),
        fingerprint: info.sha1_fingerprint.clone(),
        thumbprint: info.sha1_fingerprint.replace(':', ""),
        subject_dn: info.subject.clone(),
        cert,
    })
}

/// A connection key, as Auth0 shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ConnectionKey)]
struct ConnectionKeyJson {
    kid: String,
    cert: String,
    pkcs: String,
    current: bool,
    next: bool,
    previous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_since: Option<String>,
    fingerprint: String,
    thumbprint: String,
    algorithm: &'static str,
    key_use: &'static str,
    subject_dn: String,
}

fn connection_key_json(view: &RingKeyView) -> Result<ConnectionKeyJson, Auth0Error> {
    let c = certificate_json(view)?;
    Ok(ConnectionKeyJson {
        kid: view.key.kid.clone(),
        cert: c.cert,
        pkcs: c.pkcs7,
        current: view.role == RingRole::Current,
        next: view.role == RingRole::Next,
        previous: view.role == RingRole::Previous,
        current_since: view.slot.current_since.map(iso8601),
        fingerprint: c.fingerprint,
        thumbprint: c.thumbprint,
        algorithm: view.key.algorithm.jws_name(),
        key_use: key_use_name(view.key_use),
        subject_dn: c.subject_dn,
    })
}

/// A tenant signing key, as Auth0 shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SigningKey)]
struct SigningKeyJson {
    kid: String,
    cert: String,
    pkcs7: String,
    current: bool,
    next: bool,
    previous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_until: Option<String>,
    fingerprint: String,
    thumbprint: String,
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

fn signing_key_json(view: &RingKeyView) -> Result<SigningKeyJson, Auth0Error> {
    let c = certificate_json(view)?;
    Ok(SigningKeyJson {
        kid: view.key.kid.clone(),
        cert: c.cert,
        pkcs7: c.pkcs7,
        current: view.role == RingRole::Current,
        next: view.role == RingRole::Next,
        previous: view.role == RingRole::Previous,
        current_since: view.slot.current_since.map(iso8601),
        current_until: view.slot.current_until.map(iso8601),
        fingerprint: c.fingerprint,
        thumbprint: c.thumbprint,
        revoked: view.role == RingRole::Revoked,
        revoked_at: view.slot.revoked_at.map(iso8601),
    })
}

/// Every view in one shape, or the first failure.
fn all_json<T>(
    views: &[RingKeyView],
    shape: fn(&RingKeyView) -> Result<T, Auth0Error>,
) -> Result<Vec<T>, Auth0Error> {
    views.iter().map(shape).collect()
}

/// A key's certificate (PEM) and kid.
#[derive(Serialize, utoipa::ToSchema)]
struct CertAndKid<'a> {
    cert: &'a str,
    kid: &'a str,
}

fn cert_and_kid(status: StatusCode, view: &RingKeyView) -> Reply {
    let cert = view.key.certificate.as_deref().unwrap_or_default();
    Ok(crate::audit::with_target(
        HttpResponse::build(status).json(CertAndKid {
            cert,
            kid: &view.key.kid,
        }),
        view.key.kid.clone(),
    ))
}

// ---- connections ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    per_page: Option<usize>,
    page: Option<i64>,
    include_totals: Option<bool>,
    name: Option<String>,
    strategy: Option<String>,
    fields: Option<String>,
    include_fields: Option<bool>,
    from: Option<String>,
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
            let detail = match crate::error::unknown_field(&message) {
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

#[utoipa::path(get, path = "/api/v2/connections", tag = "connections", operation_id = "getConnections",
    params(("per_page" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 1 to 100 (default 50)."),
        ("page" = Option<i64>, Query, minimum = 0, description = "Page number from 0."),
        ("include_totals" = Option<bool>, Query, description = "Wrap the page with `start`, `limit` and `total`."),
        ("name" = Option<String>, Query, description = "Only the connection with this name."),
        ("strategy" = Option<String>, Query, description = "Only connections with this strategy."),
        ("fields" = Option<String>, Query, description = "Accepted and ignored."),
        ("include_fields" = Option<bool>, Query, description = "Accepted and ignored."),
        ("from" = Option<String>, Query, description = "Accepted and ignored."),
        ("take" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Checked (1 to 100) and otherwise ignored: Keysmith pages with `page`.")),
    responses((status = 200, description = "A page of connections, or with `include_totals` a page with totals.", body = crate::openapi::ConnectionPage), crate::openapi::Auth0Refusals))]
async fn list_connections(request: HttpRequest, state: web::Data<AppState>) -> Reply {
    let (query, per_page, page) = list_query(request.query_string())?;
    let all = use_case(&state, Auth0Error::no_connection, move |service| {
        service.connections()
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
    if query.include_totals == Some(true) {
        Ok(HttpResponse::Ok().json(serde_json::json!({
            "connections": shown,
            "start": start,
            "limit": per_page,
            "total": matching.len(),
        })))
    } else {
        Ok(HttpResponse::Ok().json(shown))
    }
}

#[utoipa::path(post, path = "/api/v2/connections", tag = "connections", operation_id = "createConnection",
    request_body(content = crate::openapi::NewConnection, content_type = "application/json",
        example = json!({"name": "acme-saml", "strategy": "samlp"})),
    responses((status = 201, description = "The new connection.", body = ConnectionJson,
        links(("getConnection" = (operation_id = "getConnection", parameters(("id" = "$response.body#/id")))),
            ("updateConnection" = (operation_id = "updateConnection", parameters(("id" = "$response.body#/id")))),
            ("getConnectionKeys" = (operation_id = "getConnectionKeys", parameters(("id" = "$response.body#/id")))),
            ("postConnectionKeys" = (operation_id = "postConnectionKeys", parameters(("id" = "$response.body#/id")))),
            ("rotateConnectionKeys" = (operation_id = "rotateConnectionKeys", parameters(("id" = "$response.body#/id")))),
            ("deleteConnection" = (operation_id = "deleteConnection", parameters(("id" = "$response.body#/id")))))),
        (status = 409, description = "A connection with this name exists.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn create_connection(state: web::Data<AppState>, body: web::Bytes) -> Reply {
    let fields = parse_body::<ConnectionBody>(&body)?.into_fields()?;
    let connection = change_case(&state, Auth0Error::no_connection, move |service| {
        service.create_connection(fields)
    })
    .await?;
    Ok(crate::audit::with_target(
        HttpResponse::Created().json(ConnectionJson::from(&connection)),
        connection.id.clone(),
    ))
}

#[utoipa::path(get, path = "/api/v2/connections/{id}", tag = "connections", operation_id = "getConnection", params(("id" = String, Path, description = "The connection id, `con_` and 16 alphanumerics.")),
    responses((status = 200, description = "The connection.", body = ConnectionJson), (status = 404, description = "`inexistent_connection`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn get_connection(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let connection = state
        .keys
        .connection(&path)
        .map_err(|e| Auth0Error::from_service(e, Auth0Error::no_connection))?;
    Ok(HttpResponse::Ok().json(ConnectionJson::from(&connection)))
}

#[utoipa::path(patch, path = "/api/v2/connections/{id}", tag = "connections", operation_id = "updateConnection",
    summary = "Changes display fields; `name` and `strategy` cannot change.", params(("id" = String, Path, description = "The connection id, `con_` and 16 alphanumerics.")),
    request_body(content = Option<crate::openapi::ConnectionChanges>, content_type = "application/json"),
    responses((status = 200, description = "The updated connection.", body = ConnectionJson), (status = 404, description = "`inexistent_connection`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn update_connection(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let fields = parse_body::<ConnectionBody>(&body)?.into_fields()?;
    let connection = change_case(&state, Auth0Error::no_connection, move |service| {
        service.update_connection(&path, fields)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ConnectionJson::from(&connection)))
}

#[utoipa::path(delete, path = "/api/v2/connections/{id}", tag = "connections", operation_id = "deleteConnection",
    summary = "Deletes the connection with its keys, in one transaction.", params(("id" = String, Path, description = "The connection id, `con_` and 16 alphanumerics.")),
    responses((status = 202, description = "Deleted. Empty body."), (status = 404, description = "`inexistent_connection`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn delete_connection(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    change_case(&state, Auth0Error::no_connection, move |service| {
        service.delete_connection(&path)
    })
    .await?;
    // Auth0 answers 202: the deletion is done here by the time it answers.
    Ok(HttpResponse::Accepted().finish())
}

// ---- connection keys ----

/// Which keys: `signing_alg` (default RS256) and `key_use` (`signing`, the default, or `encryption`, RSA only).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    #[schema(value_type = Option<crate::openapi::ConnectionSigningAlg>)]
    signing_alg: Option<String>,
    /// Keysmith's: `signing` (default) or `encryption`.
    #[schema(value_type = Option<crate::openapi::KeyUseName>)]
    key_use: Option<String>,
}

impl KeysBody {
    pub(crate) fn key_use(&self) -> Result<KeyUse, Auth0Error> {
        match self.key_use.as_deref() {
            None | Some("signing") => Ok(KeyUse::Signing),
            Some("encryption") => Ok(KeyUse::Encryption),
            Some(_) => Err(Auth0Error::invalid_body(
                "key_use must be signing or encryption",
            )),
        }
    }
}

#[utoipa::path(get, path = "/api/v2/connections/{id}/keys", tag = "connections", operation_id = "getConnectionKeys", params(("id" = String, Path, description = "The connection id, `con_` and 16 alphanumerics.")),
    responses((status = 200, description = "The connection's current, next and previous keys (signing, then encryption).", body = Vec<ConnectionKeyJson>), (status = 404, description = "`inexistent_connection`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn connection_keys(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let views = use_case(&state, Auth0Error::no_connection, move |service| {
        service.connection_keys(&path)
    })
    .await?;
    let keys = all_json(&views, connection_key_json)?;
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(post, path = "/api/v2/connections/{id}/keys", tag = "connections", operation_id = "postConnectionKeys",
    summary = "Provisions the current and next keys.", params(("id" = String, Path, description = "The connection id, `con_` and 16 alphanumerics.")),
    request_body(content = Option<KeysBody>, content_type = "application/json"),
    responses((status = 201, description = "The current and next keys.", body = Vec<ConnectionKeyJson>), (status = 404, description = "`inexistent_connection`.", body = crate::openapi::Auth0ErrorDoc),
        (status = 409, description = "The connection already has keys of this use.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn provision_connection_keys(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let body = parse_body::<KeysBody>(&body)?;
    let key_use = body.key_use()?;
    let views = generating_use_case(&state, Auth0Error::no_connection, move |service| {
        service.provision_connection_keys(&path, body.signing_alg.as_deref(), key_use)
    })
    .await?;
    let keys = all_json(&views, connection_key_json)?;
    Ok(HttpResponse::Created().json(keys))
}

#[utoipa::path(post, path = "/api/v2/connections/{id}/keys/rotate", tag = "connections", operation_id = "rotateConnectionKeys",
    summary = "Next becomes current, current becomes previous, the old previous is retired, and a new next is made: one transaction.", params(("id" = String, Path, description = "The connection id, `con_` and 16 alphanumerics.")),
    request_body(content = Option<KeysBody>, content_type = "application/json"),
    responses((status = 201, description = "The new next key.", body = ConnectionKeyJson), (status = 404, description = "`inexistent_connection`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn rotate_connection_keys(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Reply {
    let body = parse_body::<KeysBody>(&body)?;
    let key_use = body.key_use()?;
    let view = generating_use_case(&state, Auth0Error::no_connection, move |service| {
        service.rotate_connection_keys(&path, body.signing_alg.as_deref(), key_use)
    })
    .await?;
    Ok(HttpResponse::Created().json(connection_key_json(&view)?))
}

// ---- tenant signing keys ----

/// The tenant's signing keys. Once the ring exists this is a read; the first call provisions it
/// (two key generations), so that call goes through the rate limit and the generation pool like
/// any generating request (429 with `Retry-After` when full).
async fn tenant_signing_keys(state: &AppState) -> Result<Vec<RingKeyView>, Auth0Error> {
    let existing = use_case(state, Auth0Error::no_signing_key, |service| {
        service.provisioned_tenant_keys()
    })
    .await?;
    match existing {
        Some(views) => Ok(views),
        None => {
            generating_use_case(state, Auth0Error::no_signing_key, |service| {
                service.tenant_keys()
            })
            .await
        }
    }
}

#[utoipa::path(get, path = "/api/v2/keys/signing", tag = "signing-keys", operation_id = "getSigningKeys",
    responses((status = 200, description = "The tenant's signing keys (made on first use).", body = Vec<SigningKeyJson>), crate::openapi::Auth0Refusals))]
async fn signing_keys(state: web::Data<AppState>) -> Reply {
    let views = tenant_signing_keys(&state).await?;
    let keys = all_json(&views, signing_key_json)?;
    Ok(HttpResponse::Ok().json(keys))
}

#[utoipa::path(get, path = "/api/v2/keys/signing/{kid}", tag = "signing-keys", operation_id = "getSigningKey", params(("kid" = String, Path, description = "The key's kid.")),
    responses((status = 200, description = "The key.", body = SigningKeyJson), (status = 404, description = "`inexistent_key`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn signing_key(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    let view = tenant_signing_keys(&state)
        .await?
        .into_iter()
        .find(|view| view.key.kid == *path)
        .ok_or_else(Auth0Error::no_signing_key)?;
    Ok(HttpResponse::Ok().json(signing_key_json(&view)?))
}

#[utoipa::path(post, path = "/api/v2/keys/signing/rotate", tag = "signing-keys", operation_id = "rotateSigningKey",
    responses((status = 201, description = "The new next key.", body = CertAndKid,
        links(("getSigningKey" = (operation_id = "getSigningKey", parameters(("kid" = "$response.body#/kid")))),
            ("revokeSigningKey" = (operation_id = "revokeSigningKey", parameters(("kid" = "$response.body#/kid")))))), crate::openapi::Auth0Refusals))]
async fn rotate_signing_keys(state: web::Data<AppState>) -> Reply {
    let view = generating_use_case(&state, Auth0Error::no_signing_key, move |service| {
        service.rotate_tenant_keys()
    })
    .await?;
    cert_and_kid(StatusCode::CREATED, &view)
}

#[utoipa::path(put, path = "/api/v2/keys/signing/{kid}/revoke", tag = "signing-keys", operation_id = "revokeSigningKey",
    summary = "Revokes a previous key: it leaves the JWKS and never signs or verifies again.", params(("kid" = String, Path, description = "The key's kid.")),
    responses((status = 200, description = "The revoked key.", body = CertAndKid), (status = 404, description = "`inexistent_key`.", body = crate::openapi::Auth0ErrorDoc), crate::openapi::Auth0Refusals))]
async fn revoke_signing_key(state: web::Data<AppState>, path: web::Path<String>) -> Reply {
    tenant_signing_keys(&state).await?;
    let view = change_case(&state, Auth0Error::no_signing_key, move |service| {
        service.revoke_tenant_key(&path)
    })
    .await?;
    cert_and_kid(StatusCode::OK, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde quotes a string of the wrong type in its message; serde's own words inside that
    /// string were taken for an unknown field's name, so the refusal echoed part of the value
    /// (seen while writing the `parse_request_body` fuzz target's check).
    #[test]
    fn a_refusal_names_an_unknown_field_but_never_quotes_a_value() {
        let refusal = |body: &[u8]| match parse_body::<ConnectionBody>(body) {
            Ok(_) => panic!("accepted {}", String::from_utf8_lossy(body)),
            Err(refusal) => refusal.to_string(),
        };
        let quoted =
            refusal(br#"{"name": "ok", "is_domain_connection": "unknown field `hunter2`"}"#);
        assert!(!quoted.contains("hunter2"), "{quoted}");
        let unknown = refusal(br#"{"name": "ok", "surprise": "s3cret-value"}"#);
        assert!(
            unknown.contains("Additional properties not allowed: surprise")
                && !unknown.contains("s3cret"),
            "{unknown}"
        );
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
