//! The ceiling for HTTP benchmarks: a trivial actix-web endpoint with the same server settings
//! as Keysmith (same framework version, workers, request-id middleware left out on purpose so
//! it is a true floor of per-request cost). Run: `ceiling 127.0.0.1:9090`.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9090".into());
    HttpServer::new(|| {
        App::new().route(
            "/ping",
            web::get().to(|| async { HttpResponse::Ok().json(serde_json_value()) }),
        )
    })
    .bind(bind)?
    .run()
    .await
}

fn serde_json_value() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([("status", "ok")])
}
