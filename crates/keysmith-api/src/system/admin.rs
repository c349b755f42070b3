//! `/admin`: the Key Master page, embedded in the binary (no CDN, works offline). The page is
//! static; it signs in with an API key kept in `sessionStorage` and calls the ordinary API.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::AppState;
use crate::routing::{Registrar, RouteSpec};

const HTML: &str = include_str!("../../assets/admin.html");
const JS: &str = include_str!("../../assets/admin.js");
const CSS: &str = include_str!("../../assets/admin.css");

/// Only this origin's own files and API; no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
    img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_redirect, _, _>(RouteSpec::anonymous(), redirect);
    routes.add::<__path_page, _, _>(RouteSpec::anonymous(), page);
    routes.add::<__path_script, _, _>(RouteSpec::anonymous(), script);
    routes.add::<__path_style, _, _>(RouteSpec::anonymous(), style);
    routes.add::<__path_settings, _, _>(RouteSpec::anonymous(), settings);
}

fn asset(state: &AppState, content_type: &str, body: &'static str) -> HttpResponse {
    if !state.admin_enabled {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[utoipa::path(get, path = "/admin", tag = "admin", operation_id = "adminRedirect", security(()),
    responses((status = 301, description = "To `/admin/`.")))]
async fn redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/admin/"))
        .finish()
}

#[utoipa::path(
    get, path = "/admin/", tag = "admin", operation_id = "adminPage", security(()),
    responses(
        (status = 200, description = "The Key Master page.", content_type = "text/html", body = String),
        (status = 404, description = "`admin_enabled = false`.")
    )
)]
async fn page(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/html; charset=utf-8", HTML)
}

#[utoipa::path(
    get, path = "/admin/admin.js", tag = "admin", operation_id = "adminScript", security(()),
    responses(
        (status = 200, description = "The page's script.", content_type = "text/javascript", body = String),
        (status = 404, description = "`admin_enabled = false`.")
    )
)]
async fn script(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/javascript; charset=utf-8", JS)
}

#[utoipa::path(
    get, path = "/admin/admin.css", tag = "admin", operation_id = "adminStyle", security(()),
    responses(
        (status = 200, description = "The page's style sheet.", content_type = "text/css", body = String),
        (status = 404, description = "`admin_enabled = false`.")
    )
)]
async fn style(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/css; charset=utf-8", CSS)
}

#[utoipa::path(
    get, path = "/admin/settings.json", tag = "admin", operation_id = "adminSettings", security(()),
    responses(
        (status = 200, description = "The page's settings.", body = AdminSettingsBody),
        (status = 404, description = "`admin_enabled = false`.")
    )
)]
async fn settings(state: web::Data<AppState>) -> HttpResponse {
    if !state.admin_enabled {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok().json(AdminSettingsBody {
        expiry_warning_days: state.admin_expiry_warning_days,
    })
}

/// The admin page's settings.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminSettingsBody {
    /// Keys expiring within this many days are highlighted.
    expiry_warning_days: u32,
}
