//! The audit middleware: who did what to which key, recorded for every route the route table
//! marks as audited. The search over the trail is `crate::system::audit`.
//!
//! Every authenticated mutation and every use of a private key is recorded, successes and
//! failures alike: time, the API key's id (never the key), the action, the target, the result
//! and the request id. Unauthenticated requests are not recorded (a flood of them must not fill
//! the trail).
//!
//! - A change the request commits carries its record in its own transaction: the permission
//!   check enters the request's audit context ([`changes_audited`]), [`crate::middleware::deadline::change`]
//!   takes it to the blocking thread, and the store appends the row (result `ok`, the target the
//!   store changed) before it commits. The change and its record commit together or not at all.
//! - A mutation that committed nothing (refused, failed, or a route that writes nothing, like a
//!   backup) is recorded after its response with its HTTP status, through the bounded queue.
//! - A use (sign, verify, vend) goes to [`keysmith_core::audit::AuditTrail::record_use`]:
//!   summed up per key and interval, one record per use, or nothing (`audit_uses`).

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpResponse, web};
use keysmith_core::audit::AuditContext;
use keysmith_model::{AuditRecord, epoch_millis_now};

use crate::AppState;
use crate::routing::spec::RouteSpec;

/// Who called: set by authorisation on the request's extensions.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

/// The request id: set by the request-id middleware on the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A target not in the path (a new key's id, the key a token was vended with): set by the
/// handler on the response's extensions.
#[derive(Clone, Debug)]
pub struct AuditTarget(pub String);

/// How many audit rows the request's committed changes carried: set on the request's
/// extensions when its handler is done.
#[derive(Clone, Copy, Debug)]
struct CommittedRows(u64);

/// The audit context of the request being handled, and the rows its changes committed.
#[derive(Debug)]
struct RequestChanges {
    context: Option<AuditContext>,
    committed: Cell<u64>,
}

tokio::task_local! {
    static REQUEST_CHANGES: Rc<RequestChanges>;
}

/// The audit context of an authorised request to a route that changes state.
pub(crate) fn change_context(
    spec: RouteSpec,
    actor: Option<&str>,
    request: &ServiceRequest,
) -> Option<AuditContext> {
    let action = spec.audit.filter(|_| !spec.audit_use)?;
    Some(AuditContext {
        actor: actor?.to_owned(),
        action: action.to_owned(),
        request_id: request.extensions().get::<RequestId>().map(|r| r.0.clone()),
    })
}

/// Runs a route's handler with its audit context, for [`crate::middleware::deadline::change`] to take to
/// the blocking thread; notes on the request how many audit rows its changes committed.
pub(crate) async fn changes_audited<B>(
    context: Option<AuditContext>,
    handler: impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let changes = Rc::new(RequestChanges {
        context,
        committed: Cell::new(0),
    });
    let response = REQUEST_CHANGES.scope(changes.clone(), handler).await?;
    response
        .request()
        .extensions_mut()
        .insert(CommittedRows(changes.committed.get()));
    Ok(response)
}

/// The audit context of the request this task is handling (`None` outside one).
pub(crate) fn current_context() -> Option<AuditContext> {
    REQUEST_CHANGES
        .try_with(|changes| changes.context.clone())
        .ok()
        .flatten()
}

/// Counts audit rows the request's changes committed.
pub(crate) fn note_committed(rows: u64) {
    let _ =
        REQUEST_CHANGES.try_with(|changes| changes.committed.set(changes.committed.get() + rows));
}

/// Names the audit target of a response whose target is not in its path.
pub(crate) fn with_target(mut response: HttpResponse, target: String) -> HttpResponse {
    response.extensions_mut().insert(AuditTarget(target));
    response
}

/// The middleware: `App::new().wrap(from_fn(audit::middleware))`, inside the request-id one.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(request).await?;
    let http = response.request();
    let Some(spec) = crate::routing::spec::matched_spec(http) else {
        return Ok(response);
    };
    let actor = http.extensions().get::<Actor>().cloned();
    let (Some(action), Some(actor), Some(state)) =
        (spec.audit, actor, http.app_data::<web::Data<AppState>>())
    else {
        return Ok(response);
    };
    let status = response.status();
    let committed = http
        .extensions()
        .get::<CommittedRows>()
        .map_or(0, |rows| rows.0);
    if !spec.audit_use && status.is_success() && committed > 0 {
        // Recorded in the change's own transaction.
        return Ok(response);
    }
    let target = response
        .response()
        .extensions()
        .get::<AuditTarget>()
        .map(|t| t.0.clone())
        .or_else(|| {
            let info = http.match_info();
            info.get("id")
                .or_else(|| info.get("kid"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let request_id = http.extensions().get::<RequestId>().map(|r| r.0.clone());
    if spec.audit_use {
        state
            .audit
            .record_use(action, &target, &actor.0, status.as_str(), request_id);
    } else {
        state.audit.record(AuditRecord {
            id: 0,
            at: epoch_millis_now(),
            actor: actor.0,
            action: action.to_owned(),
            target,
            result: status.as_u16().to_string(),
            request_id,
            uses: None,
        });
    }
    Ok(response)
}
