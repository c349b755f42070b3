//! The request deadline (`request_timeout_seconds`), and the one exception to it: a request
//! whose change has been handed to the store is answered when that change is done, never with
//! a timeout. A 503 therefore always means "nothing was changed"; a client that retries it
//! cannot make a change twice because the first answer was lost to a timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::BlockingError;
use actix_web::middleware::Next;
use actix_web::web;
use keysmith_core::{KeyCommit, ServiceError};

use crate::AppState;

tokio::task_local! {
    /// Set once the request's change has been handed to the blocking pool.
    static CHANGE_STARTED: Arc<AtomicBool>;
}

/// The middleware that bounds a request's time in the server: past the deadline, 503, unless
/// the request has started a change ([`change`]); then it waits for the change's answer.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = request
        .app_data::<web::Data<AppState>>()
        .map_or(std::time::Duration::from_secs(30), |s| s.request_timeout);
    let started = Arc::new(AtomicBool::new(false));
    let work = CHANGE_STARTED.scope(started.clone(), next.call(request));
    tokio::pin!(work);
    match tokio::time::timeout(limit, &mut work).await {
        Ok(response) => response,
        Err(_) if started.load(Ordering::Acquire) => {
            tracing::warn!(
                limit_seconds = limit.as_secs(),
                "request past its deadline; its change has started, so it is answered when the change is done"
            );
            work.await
        }
        Err(_) => {
            tracing::warn!(limit_seconds = limit.as_secs(), "request timed out");
            Err(actix_web::error::ErrorServiceUnavailable(
                "the request took too long",
            ))
        }
    }
}

/// Runs a use case that changes stored state on the blocking pool. From this call on, the
/// request is no longer cut off by its deadline: the work cannot be cancelled once handed over,
/// so the answer reports what it did.
///
/// The request's audit context goes with it: every write transaction the use case commits
/// carries its audit record ([`keysmith_core::audit::with_audit_context`]).
pub async fn change<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BlockingError> {
    // Outside a request (no deadline middleware) there is nothing to mark.
    let _ = CHANGE_STARTED.try_with(|started| started.store(true, Ordering::Release));
    let context = crate::middleware::audit::current_context();
    let (out, rows) = web::block(move || match context {
        Some(context) => keysmith_core::audit::with_audit_context(context, f),
        None => (f(), 0),
    })
    .await?;
    crate::middleware::audit::note_committed(rows);
    Ok(out)
}

/// The two ends of a change's answer that arrives after its group commit
/// ([`keysmith_core::Keys::store_queued`]), so that no thread waits for the commit: the
/// sender makes the store's callback, the receiver is awaited by [`committed`].
pub fn commit_answer() -> (CommitSender, tokio::sync::oneshot::Receiver<KeyCommit>) {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    (CommitSender(sender), receiver)
}

/// Sends a queued change's answer to the request that waits for it.
#[derive(Debug)]
pub struct CommitSender(tokio::sync::oneshot::Sender<KeyCommit>);

impl CommitSender {
    /// The store's callback (it runs on the writer thread and only sends). `keep` (such as
    /// the request's generation slot) is dropped once the answer is sent.
    pub fn on_commit(self, keep: impl Send + 'static) -> impl FnOnce(KeyCommit) + Send + 'static {
        move |answer| {
            // The request may be gone (dropped before it awaited the answer); the change
            // stands, published at its commit, and its audit rows are logged here instead.
            if let Err(Ok(committed)) = self.0.send(answer) {
                let _ = committed.log_audit();
            }
            drop(keep);
        }
    }
}

/// Waits for a queued change's answer and finishes it with `finish` (which returns the
/// output and the audit rows the commit carried, counted for the request's audit record).
pub async fn committed<U>(
    answer: tokio::sync::oneshot::Receiver<KeyCommit>,
    finish: impl FnOnce(KeyCommit) -> Result<(U, u64), ServiceError>,
) -> Result<U, ServiceError> {
    // Every path of the store answers; a lost answer (its writer died) is the server's fault.
    let answer = answer.await.map_err(ServiceError::internal)?;
    let (out, rows) = finish(answer)?;
    crate::middleware::audit::note_committed(rows);
    Ok(out)
}
