//! JSON bodies written as they are sent: for documents that grow with the number of keys (the
//! key list, a JWKS too large to keep), so a response's memory does not.
//!
//! The body is written on a blocking thread (it reads the store) into chunks of
//! [`CHUNK_BYTES`], at most [`CHUNKS_IN_FLIGHT`] of them queued for the client: the writer
//! waits for a slow client. A write that fails part-way cuts the response short, so the client
//! sees a truncated body (invalid JSON), never a wrong one.

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use keysmith_core::ServiceError;

/// Bytes per chunk of a streamed body.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks in flight between the writing thread and the client.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A 200 `application/json` response whose body `write` writes on a blocking thread.
pub(crate) fn json_response<F>(write: F) -> HttpResponse
where
    F: FnOnce(&mut dyn std::io::Write) -> Result<(), ServiceError> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    actix_web::rt::task::spawn_blocking(move || {
        let mut out = ChunkSender {
            sender,
            chunk: Vec::with_capacity(CHUNK_BYTES),
        };
        let written = write(&mut out).and_then(|()| out.send().map_err(ServiceError::internal));
        if let Err(err) = written {
            if out.sender.is_closed() {
                tracing::debug!("the client left before the body was sent");
            } else {
                tracing::warn!(error = %err, "a streamed body could not be written whole");
                let _ = out
                    .sender
                    .blocking_send(Err(std::io::Error::other("cut short")));
            }
        }
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(chunks)
}

/// Sends what is written in chunks of [`CHUNK_BYTES`] to the response.
struct ChunkSender {
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    chunk: Vec<u8>,
}

impl ChunkSender {
    /// Sends the chunk so far (waiting while the client is behind); fails once it has left.
    fn send(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_BYTES));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
