//! `GET /api/status`: anonymous health check.

use actix_web::{HttpResponse, web};

use crate::{ApiError, AppState};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/status", web::get().to(status));
}

/// 200 when the store answers; 500 otherwise. The check is one redb read transaction, run
/// inline like the other point reads (probes call this often).
async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .keys
        .store()
        .count()
        .map_err(|e| ApiError::from(keysmith_core::ServiceError::from(e)))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok" })))
}
