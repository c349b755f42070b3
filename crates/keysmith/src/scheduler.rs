//! The background task that purges deleted keys and rotates due key rings.

use std::time::Duration;

use keysmith_core::KeyService;
use keysmith_core::audit::scheduled;

/// The background task that purges deleted keys whose window has ended and rotates key rings
/// when their period has passed. It checks once at
/// start (catching up, once, on rotations missed while the server was down) and then every
/// `interval`.
pub(crate) struct RotationScheduler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl RotationScheduler {
    /// Each purge and rotation records its audit row (actor `scheduler`) in its own transaction.
    pub(crate) fn start(service: KeyService, interval: Duration) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            loop {
                if let Err(err) = scheduled("key.purge", || service.keys().purge_deleted()) {
                    tracing::error!(error = %err, "could not purge deleted keys");
                }
                scheduled("ring.rotate", || service.rotate_due());
                match stopped.recv_timeout(interval) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        });
        Self { stop, thread }
    }

    /// Stops the task and waits for it (and its store reference) to end.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = actix_web::rt::task::spawn_blocking(move || thread.join()).await;
    }
}
