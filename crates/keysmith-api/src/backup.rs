//! `POST /api/system/backup`: a consistent snapshot of the data file while serving (admin keys
//! only). The snapshot is one read transaction copied into a new redb file, which is sent and
//! then removed; secrets in it stay sealed under the master key.

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
    let path = state
        .backup_dir
        .join(format!(".backup-{}.redb", uuid::Uuid::new_v4()));
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
