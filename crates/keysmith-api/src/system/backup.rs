//! `POST /api/system/backup`: a consistent snapshot of the data file while serving (admin keys
//! only). The snapshot is one read transaction copied into a new redb file, which is streamed
//! from disk in chunks (never held whole in memory) and removed once sent or abandoned; secrets
//! in it stay sealed under the master key.
//!
//! The snapshot is written next to the data file, so it must never fill that disk: a backup is
//! refused (507) unless the free space exceeds the data file's size (a snapshot is never larger)
//! plus `backup_reserve_bytes`.

use std::io::Read as _;
use std::path::PathBuf;

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};

use crate::routing::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

/// Bytes read from the snapshot file per chunk of the response.
pub const CHUNK_BYTES: usize = 256 * 1024;

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_backup, _, _>(RouteSpec::admin_only().audited("system.backup"), backup);
}

/// The snapshot file being sent. Dropping it (the response is done, or the client went away)
/// removes the file.
struct Snapshot {
    file: std::fs::File,
    path: PathBuf,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The next chunk of `snapshot`, read on the blocking pool; `None` at the end of the file.
async fn next_chunk(
    mut snapshot: Snapshot,
) -> Option<(Result<Bytes, std::io::Error>, Option<Snapshot>)> {
    let read = web::block(move || {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let read = snapshot.file.read(&mut buffer)?;
        buffer.truncate(read);
        Ok::<_, std::io::Error>((snapshot, buffer))
    })
    .await;
    match read {
        Ok(Ok((_, buffer))) if buffer.is_empty() => None,
        Ok(Ok((snapshot, buffer))) => Some((Ok(Bytes::from(buffer)), Some(snapshot))),
        Ok(Err(e)) => Some((Err(e), None)),
        Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
    }
}

#[utoipa::path(
    post, path = "/api/system/backup", tag = "system", operation_id = "backup",
    summary = "A consistent snapshot of the data file, taken while serving.",
    responses(
        (
            status = 200, description = "The snapshot: a redb file, its secrets still sealed under the master key.",
            content_type = "application/octet-stream", body = Vec<u8>
        ),
        (
            status = 400, body = keysmith_model::Errors,
            description = "The keys are in PostgreSQL, not in a data file (`[notAllowed]backup`): back the database up with its own tools."
        ),
        (
            status = 507, body = keysmith_model::Errors,
            description = "Too little free space beside the data file for a snapshot (`[insufficientStorage]`); nothing was written."
        ),
        ApiError
    )
)]
async fn backup(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let service = state.keys.clone();
    let Some(data_file) = state.backup.data_file.clone() else {
        return Err(ApiError::BadRequest(keysmith_model::Errors::general(
            keysmith_model::Reason::NotAllowed,
            "backup",
            "This server keeps its keys in PostgreSQL, not in a data file: back the database up with pg_dump or a base backup.",
        )));
    };
    let reserve = state.backup.reserve_bytes;
    let dir = data_file
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .to_owned();
    let path = dir.join(format!(".backup-{}.redb", uuid::Uuid::new_v4()));
    web::block(move || room_for_snapshot(&data_file, &dir, reserve)).await??;
    let (snapshot, length) = web::block(move || {
        let opened = service.snapshot_to(&path).and_then(|_| {
            let file = std::fs::File::open(&path).map_err(keysmith_core::ServiceError::internal)?;
            let length = file
                .metadata()
                .map_err(keysmith_core::ServiceError::internal)?
                .len();
            Ok((file, length))
        });
        match opened {
            Ok((file, length)) => Ok((Snapshot { file, path }, length)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    })
    .await??;
    let chunks = futures_util::stream::unfold(Some(snapshot), |snapshot| async move {
        next_chunk(snapshot?).await
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"keysmith-backup.redb\"",
        ))
        .body(SizedStream::new(length, chunks)))
}

/// Where online backups are written, and the free space they must leave.
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// The data file; snapshots are written in its directory, then sent and removed. `None`
    /// when the keys are in PostgreSQL: there is no data file, and a backup is refused (400)
    /// with a message that says to back the database up with PostgreSQL's tools.
    pub data_file: Option<std::path::PathBuf>,
    /// Free space a backup must leave on the data disk, in bytes.
    pub reserve_bytes: u64,
}

/// Refuses a snapshot that could leave less than `reserve` bytes free on the data disk.
fn room_for_snapshot(
    data_file: &std::path::Path,
    dir: &std::path::Path,
    reserve: u64,
) -> Result<(), ApiError> {
    let unreadable = |e: std::io::Error| ApiError::from(keysmith_core::ServiceError::internal(e));
    let needed = std::fs::metadata(data_file).map_err(unreadable)?.len();
    let stats = rustix::fs::statvfs(dir).map_err(|e| unreadable(e.into()))?;
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    if free < needed.saturating_add(reserve) {
        tracing::warn!(
            free,
            needed,
            reserve,
            "online backup refused: too little free space on the data disk"
        );
        return Err(ApiError::InsufficientStorage(format!(
            "The data disk has {free} bytes free; a backup needs up to {needed} bytes (the data \
             file's size) and must leave {reserve} bytes free (backup_reserve_bytes). Free some \
             space, or take the backup offline to another disk (keysmith backup FILE with the \
             server stopped)."
        )));
    }
    Ok(())
}
