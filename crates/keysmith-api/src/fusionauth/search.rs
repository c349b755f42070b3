//! `/api/key/search`: FusionAuth's key search, by query string or by body.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use keysmith_core::SearchRequest;
use keysmith_model::Errors;

use super::parse_body;
use super::wire::{self, SearchFields, SearchRequestBody, SearchResponse};
use crate::{ApiError, AppState};

#[utoipa::path(
    post, path = "/api/key/search", tag = "keys", operation_id = "searchKeys",
    request_body(
        content = Option<crate::fusionauth::wire::SearchRequestBody>, content_type = "application/json",
        description = "Optional: no body searches with the defaults."
    ),
    responses(
        (status = 200, description = "One page of matching keys.", body = super::wire::SearchResponse),
        (status = 400, description = crate::fusionauth::error::INVALID, body = Errors),
        (status = 413, description = crate::fusionauth::error::TOO_LARGE),
        ApiError
    )
)]
pub(super) async fn search_by_body(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let fields = parse_body::<SearchRequestBody>(&body)?
        .search
        .unwrap_or_default();
    search(state, fields).await
}

#[utoipa::path(
    get, path = "/api/key/search", tag = "keys", operation_id = "searchKeysWithParameters",
    params(
        ("name" = Option<String>, Query, description = "Name; `*` matches any run of characters, case-insensitive."),
        ("type" = Option<String>, Query, description = "Key type: `RSA`, `EC`, `OKP`, `HMAC` or `AKP`; empty means any."),
        ("algorithm" = Option<String>, Query, description = "Algorithm, e.g. `ES256`; empty means any."),
        (
            "issuer" = Option<String>, Query,
            description = "Issuer, matched exactly and case-sensitively; empty means any (a Keysmith extension)."
        ),
        (
            "numberOfResults" = Option<u32>, Query, minimum = 1, maximum = 500,
            description = "Page size (default 25, at most `max_search_results`)."
        ),
        ("startRow" = Option<u64>, Query, description = "Offset of the first result."),
        ("orderBy" = Option<String>, Query, description = "`<field> ASC|DESC`, e.g. `name ASC`."),
        (
            "accurateTotal" = Option<bool>, Query,
            description = "Count every match for `total` (otherwise a filtered total stops at 10,000)."
        )
    ),
    responses(
        (status = 200, description = "One page of matching keys.", body = super::wire::SearchResponse),
        (status = 400, description = "A parameter is invalid.", body = Errors),
        ApiError
    )
)]
pub(super) async fn search_by_query(
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let fields = search_fields_from_query(query.into_inner())?;
    search(state, fields).await
}

/// The search criteria of a GET search's query parameters. FusionAuth's GET searches take the
/// fields bare or prefixed with `search.`; other parameters are ignored, as FusionAuth ignores
/// them.
pub(crate) fn search_fields_from_query(
    parameters: Vec<(String, String)>,
) -> Result<SearchFields, Errors> {
    let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in parameters {
        let field = name.strip_prefix("search.").unwrap_or(&name).to_owned();
        given.entry(field).or_default().push(value);
    }
    let mut errors = Errors::new();
    let fields = SearchFields {
        name: single_parameter(&mut given, "name", &mut errors),
        key_type: single_parameter(&mut given, "type", &mut errors),
        algorithm: single_parameter(&mut given, "algorithm", &mut errors),
        issuer: single_parameter(&mut given, "issuer", &mut errors),
        number_of_results: number_parameter(&mut given, "numberOfResults", &mut errors),
        start_row: number_parameter(&mut given, "startRow", &mut errors),
        order_by: single_parameter(&mut given, "orderBy", &mut errors),
        accurate_total: boolean_parameter(&mut given, "accurateTotal", &mut errors),
    };
    errors.into_result(fields)
}

/// A query parameter's one value. A repeated parameter is refused rather than silently taking
/// one of its values.
fn single_parameter(
    given: &mut BTreeMap<String, Vec<String>>,
    field: &str,
    errors: &mut Errors,
) -> Option<String> {
    let mut values = given.remove(field)?;
    if values.len() > 1 {
        errors.add_field(
            &format!("search.{field}"),
            keysmith_model::Reason::Invalid,
            format!("{field} is given more than once."),
        );
        return None;
    }
    values.pop()
}

/// A `true` or `false` query parameter.
fn boolean_parameter(
    given: &mut BTreeMap<String, Vec<String>>,
    field: &str,
    errors: &mut Errors,
) -> Option<bool> {
    match single_parameter(given, field, errors)?.as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.add_field(
                &format!("search.{field}"),
                keysmith_model::Reason::Invalid,
                format!("search.{field} must be true or false."),
            );
            None
        }
    }
}

/// A whole-number query parameter, read later by `wire::integer_field`. `numberOfResults=` is
/// not a number: a JSON body may send "" to mean absent, a query string leaves the parameter out.
fn number_parameter(
    given: &mut BTreeMap<String, Vec<String>>,
    field: &str,
    errors: &mut Errors,
) -> Option<serde_json::Value> {
    let value = single_parameter(given, field, errors)?;
    if value.trim().is_empty() {
        errors.add_field(
            &format!("search.{field}"),
            keysmith_model::Reason::Invalid,
            format!("search.{field} must be a whole number."),
        );
        return None;
    }
    Some(serde_json::Value::String(value))
}

async fn search(
    state: web::Data<AppState>,
    fields: SearchFields,
) -> Result<HttpResponse, ApiError> {
    let service = state.keys.clone();
    let page = web::block(move || -> Result<_, ApiError> {
        Ok(service.keys().search(&search_request(&fields)?)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(SearchResponse {
        keys: &page.keys,
        total: page.total,
        total_equal_to_actual: (!page.exact).then_some(false),
    }))
}

/// The use case's search request for `fields`: the page numbers must be whole numbers.
pub(crate) fn search_request(fields: &SearchFields) -> Result<SearchRequest<'_>, Errors> {
    let mut errors = Errors::new();
    let number_of_results = wire::integer_field(
        &mut errors,
        "search.numberOfResults",
        fields.number_of_results.as_ref(),
    );
    let start_row = wire::integer_field(&mut errors, "search.startRow", fields.start_row.as_ref());
    errors.into_result(SearchRequest {
        name: fields.name.as_deref(),
        key_type: fields.key_type.as_deref(),
        algorithm: fields.algorithm.as_deref(),
        issuer: fields.issuer.as_deref(),
        number_of_results,
        start_row,
        order_by: fields.order_by.as_deref(),
        accurate_total: fields.accurate_total.unwrap_or(false),
    })
}
