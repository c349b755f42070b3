//! `GET /metrics`: Prometheus text format, names prefixed `keysmith_`. Needs an API key with
//! `metrics:GET` unless `metrics_anonymous` is set; `metrics_enabled = false` turns it off
//! (404). A scrape reads counters kept current by each write, so its cost does not grow with
//! the number of keys.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use keysmith_core::metrics::{render_counter, render_counters, render_gauges};
use keysmith_model::epoch_millis_now;

use crate::routing::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

/// Keys expiring within this many days are counted in `keysmith_keys_expiring_soon`.
pub const EXPIRING_SOON_DAYS: i64 = 30;

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_metrics, _, _>(RouteSpec::scrape(), metrics);
}

/// The method as a metric label: one of a fixed set, so no client can add series by
/// sending methods of its own.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

/// Times every request by route pattern (not path: ids would explode the series), method
/// (a fixed set) and status.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let response = next.call(request).await?;
    let http = response.request();
    if let Some(state) = http.app_data::<web::Data<AppState>>() {
        let route = http.match_pattern().unwrap_or_else(|| "unmatched".into());
        state.request_seconds.observe(
            &[
                route.as_str(),
                method_label(http.method()),
                response.status().as_str(),
            ],
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

#[utoipa::path(
    get, path = "/metrics", tag = "system", operation_id = "metrics",
    responses(
        (
            status = 200, description = "Prometheus text format, names prefixed `keysmith_`.",
            content_type = "text/plain; version=0.0.4", body = String
        ),
        (status = 401, description = "No API key with `metrics:GET` (and `metrics_anonymous` is off)."),
        (status = 404, description = "`metrics_enabled = false`."),
        (status = 500, description = "An unexpected failure.")
    )
)]
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.metrics_enabled {
        return Err(ApiError::NotFound);
    }
    let soon = epoch_millis_now() + EXPIRING_SOON_DAYS * 86_400_000;
    // A few rows kept current by every write (not a scan of the keys), read inline.
    let census = state.keys.census(soon)?;
    let by_kind: Vec<(Vec<String>, u64)> = census
        .by_kind
        .into_iter()
        .map(|(key_type, algorithm, count)| (vec![key_type, algorithm], count))
        .collect();
    let mut out = String::new();
    render_gauges(
        &mut out,
        "keysmith_build_info",
        "The running build: version and crypto backend.",
        &["version", "backend"],
        &[(
            vec![
                env!("CARGO_PKG_VERSION").to_owned(),
                state.keys.backend().name().to_owned(),
            ],
            1,
        )],
    );
    render_gauges(
        &mut out,
        "keysmith_keys",
        "Stored keys by type and algorithm.",
        &["type", "algorithm"],
        &by_kind,
    );
    render_gauges(
        &mut out,
        "keysmith_keys_expiring_soon",
        "Keys whose certificate expires within 30 days (or has expired).",
        &[],
        &[(Vec::new(), census.expiring)],
    );
    state.keys.generation_seconds().render(
        &mut out,
        "keysmith_key_generation_seconds",
        "Time to generate a key (with its self-signed certificate), by algorithm and backend.",
        &["algorithm", "backend"],
    );
    state.request_seconds.render(
        &mut out,
        "keysmith_http_request_duration_seconds",
        "HTTP requests by route, method and status: count and latency.",
        &["route", "method", "status"],
    );
    render_counter(
        &mut out,
        "keysmith_audit_dropped_total",
        "Audit records dropped (queue full, too many keys used in one interval, or not writable) \
         since start.",
        state.audit.dropped(),
    );
    let commits = state.keys.store().commit_stats();
    render_counter(
        &mut out,
        "keysmith_store_commits_total",
        "Durable transactions the group-commit writer committed since start.",
        commits.commits,
    );
    render_counter(
        &mut out,
        "keysmith_store_committed_changes_total",
        "Changes those transactions carried (divided by the commits: the mean batch size).",
        commits.changes,
    );
    render_counter(
        &mut out,
        "keysmith_store_run_inserts_total",
        "Key inserts among those changes applied in runs of two or more (each table opened once \
         per run).",
        commits.run_inserts,
    );
    render_gauges(
        &mut out,
        "keysmith_store_writes_waiting",
        "Changes queued for the group-commit writer or being applied, not yet answered.",
        &[],
        &[(Vec::new(), commits.waiting)],
    );
    let key_json = state.keys.key_json_stats();
    render_gauges(
        &mut out,
        "keysmith_key_json_kept_bytes",
        "Bytes of key records and their JSON kept for reads of a key by id.",
        &[],
        &[(Vec::new(), key_json.kept_bytes)],
    );
    render_gauges(
        &mut out,
        "keysmith_key_json_kept_keys",
        "Keys whose JSON is kept for reads by id.",
        &[],
        &[(Vec::new(), key_json.kept_keys)],
    );
    render_counter(
        &mut out,
        "keysmith_key_json_answered_kept_total",
        "Reads of a key by id answered with its kept JSON (its record unchanged) since start.",
        key_json.answered_kept,
    );
    render_counter(
        &mut out,
        "keysmith_key_json_encoded_total",
        "Reads of a key by id that encoded its JSON (none kept, or its record changed) since start.",
        key_json.encoded,
    );
    let pool = state.keys.rsa_pool_stats();
    if !pool.is_empty() {
        let series = |value: fn(&keysmith_core::RsaPoolStats) -> u64| -> Vec<(Vec<String>, u64)> {
            pool.iter()
                .map(|size| (vec![size.bits.to_string()], value(size)))
                .collect()
        };
        render_gauges(
            &mut out,
            "keysmith_rsa_pool_ready",
            "RSA pairs made ahead of need and ready now, by modulus size.",
            &["bits"],
            &series(|size| size.ready),
        );
        render_gauges(
            &mut out,
            "keysmith_rsa_pool_target",
            "RSA pairs the pool keeps ready when full, by modulus size.",
            &["bits"],
            &series(|size| size.target),
        );
        render_counters(
            &mut out,
            "keysmith_rsa_pool_taken_total",
            "RSA keys made from a ready pair since start, by modulus size.",
            &["bits"],
            &series(|size| size.taken),
        );
        render_counters(
            &mut out,
            "keysmith_rsa_pool_missed_total",
            "RSA keys that found no ready pair of their size and made their own since start.",
            &["bits"],
            &series(|size| size.missed),
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}
