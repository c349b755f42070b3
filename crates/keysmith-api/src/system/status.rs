//! `GET /api/status`: anonymous health check.

use actix_web::{HttpResponse, web};

use crate::routing::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_status, _, _>(RouteSpec::anonymous(), status);
}

/// 200 when the store answers and its writes succeed. 503 with the reason when the data file's
/// disk is failing: after a failed write the storage engine refuses every later write until the
/// file is reopened, so the probe tries one empty write (counted towards
/// `storage_failures_before_exit`) and the server leaves load balancers' rotation until it is
/// restarted. The healthy path is one read transaction, run inline like other point reads.
#[utoipa::path(
    get, path = "/api/status", tag = "system", operation_id = "retrieveSystemStatus", security(()),
    responses(
        (status = 200, description = "The store answers and takes writes.", body = StatusBody),
        (
            status = 503, description = "The data file's disk is failing: `status` is `failing` and `reason` says why.",
            body = StatusBody
        )
    )
)]
async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let failing = if state.keys.storage_failing() {
        let service = state.keys.clone();
        web::block(move || service.probe_storage()).await?
    } else {
        state.keys.storage_unreadable()
    };
    let fips = state.keys.backend().is_fips();
    Ok(match failing {
        None => HttpResponse::Ok().json(StatusBody {
            fips,
            reason: None,
            status: "ok",
        }),
        Some(reason) => HttpResponse::ServiceUnavailable().json(StatusBody {
            fips,
            reason: Some(reason),
            status: "failing",
        }),
    })
}

// Fields in alphabetical order: the order the body had when it was built with `json!`.
/// `{"fips": false, "status": "ok"}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StatusBody {
    /// Whether the crypto backend runs in a FIPS-validated mode (the `fips` build: aws-lc-rs on
    /// the FIPS-validated AWS-LC module).
    fips: bool,
    /// Why it is failing (only with `failing`): the storage engine's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// `ok`, or `failing` when the data file's disk is failing.
    status: &'static str,
}
