//! `GET /api/status`: anonymous health check.

use actix_web::{HttpResponse, web};

use crate::routes::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_status, _, _>(RouteSpec::anonymous(), status);
}

/// 200 when the store answers; 500 otherwise. The check is one redb read transaction, run
/// inline like the other point reads (probes call this often).
#[utoipa::path(get, path = "/api/status", tag = "system", operation_id = "retrieveSystemStatus", security(()),
    responses((status = 200, description = "The store answers.", body = crate::openapi::StatusBody),
        (status = 500, description = "The store does not answer.")))]
async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .keys
        .store()
        .count()
        .map_err(|e| ApiError::from(keysmith_core::ServiceError::from(e)))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })))
}
