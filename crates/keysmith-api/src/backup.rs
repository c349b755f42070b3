//! `POST /api/system/backup`: a consistent snapshot of the data file while serving (admin keys
//! only). The snapshot is one read transaction copied into a new redb file, which is sent and
//! then removed; secrets in it stay sealed under the master key.
//!
//! The snapshot is written next to the data file, so it must never fill that disk: a backup is
//! refused (507) unless the free space exceeds the data file's size (a snapshot is never larger)
//! plus `backup_reserve_bytes`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::routes::{Registrar, RouteSpec};
use crate::{ApiError, AppState};

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_backup, _, _>(RouteSpec::admin_only().audited("system.backup"), backup);
}

#[utoipa::path(post, path = "/api/system/backup", tag = "system", operation_id = "backup",
    summary = "A consistent snapshot of the data file, taken while serving.",
    responses((status = 200, description = "The snapshot: a redb file, its secrets still sealed under the master key.", content_type = "application/octet-stream", body = Vec<u8>), crate::openapi::Refusals))]
async fn backup(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.keys.store().clone();
    let data_file = state.backup.data_file.clone();
    let reserve = state.backup.reserve_bytes;
    let dir = data_file
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .to_owned();
    let path = dir.join(format!(".backup-{}.redb", uuid::Uuid::new_v4()));
    web::block(move || room_for_snapshot(&data_file, &dir, reserve)).await??;
    let bytes = web::block(move || {
        let result = store
            .snapshot_to(&path, &mut |_, _| {})
            .map_err(keysmith_core::ServiceError::from)
            .and_then(|_| std::fs::read(&path).map_err(keysmith_core::ServiceError::internal));
        let _ = std::fs::remove_file(&path);
        result
    })
    .await??;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"keysmith-backup.redb\"",
        ))
        .body(bytes))
}

/// Where online backups are written, and the free space they must leave.
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// The data file; snapshots are written in its directory, then sent and removed.
    pub data_file: std::path::PathBuf,
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
            "The data disk has {free} bytes free; a backup needs up to {needed} bytes (the data file's size) and must leave {reserve} bytes free (backup_reserve_bytes). Free some space, or take the backup offline to another disk (keysmith backup FILE with the server stopped)."
        )));
    }
    Ok(())
}
