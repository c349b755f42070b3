//! `/admin`: the Key Master page, embedded in the binary (no CDN, works offline). The page is
//! static; it signs in with an API key kept in `sessionStorage` and calls the ordinary API.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::AppState;

const HTML: &str = include_str!("../assets/admin.html");
const JS: &str = include_str!("../assets/admin.js");
const CSS: &str = include_str!("../assets/admin.css");

/// Only this origin's own files and API; no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(redirect))
        .route("/admin/", web::get().to(page))
        .route("/admin/admin.js", web::get().to(script))
        .route("/admin/admin.css", web::get().to(style))
        .route("/admin/settings.json", web::get().to(settings));
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

async fn redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/admin/"))
        .finish()
}

async fn page(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/html; charset=utf-8", HTML)
}

async fn script(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/javascript; charset=utf-8", JS)
}

async fn style(state: web::Data<AppState>) -> HttpResponse {
    asset(&state, "text/css; charset=utf-8", CSS)
}

async fn settings(state: web::Data<AppState>) -> HttpResponse {
    if !state.admin_enabled {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok().json(serde_json::json!({
        "expiryWarningDays": state.admin_expiry_warning_days
    }))
}
