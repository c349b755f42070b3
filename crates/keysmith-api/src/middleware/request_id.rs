//! A request id on every request: in the tracing span, and echoed in `X-Request-Id`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;

/// The response header that carries the request id.
pub const HEADER: &str = "x-request-id";

/// A process-unique id: a random 64-bit prefix chosen at start-up and a counter, as 32 hex
/// characters. Unique without a system call per request (a v4 UUID reads the OS RNG).
fn next_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    format!(
        "{prefix:016x}{:016x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The middleware: `App::new().wrap(from_fn(request_id::middleware))`.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = next_id();
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.path());
    let started = Instant::now();
    actix_web::HttpMessage::extensions_mut(&request)
        .insert(crate::middleware::audit::RequestId(id.clone()));
    let mut response = next.call(request).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_us = started.elapsed().as_micros() as u64,
            "request handled"
        );
    });
    Ok(response)
}
