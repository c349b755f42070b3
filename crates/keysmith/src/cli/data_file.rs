//! `keysmith backup` and `keysmith restore` (`keysmith check` takes only the settings flags).

use std::path::PathBuf;

use super::{ServeArgs, ServerArgs};
use crate::error::ServerError;
use crate::settings::Settings;

/// `keysmith backup FILE [--url …]`.
#[derive(clap::Args, Debug)]
pub struct BackupCommand {
    /// The backup file to create (mode 0600; never overwritten).
    file: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    pub(super) args: ServeArgs,
}

impl BackupCommand {
    pub(super) fn run(self, settings: &Settings) -> Result<(), ServerError> {
        let client = self.server.client(settings)?;
        crate::backup::backup(settings, &self.file, client)
    }
}

/// `keysmith restore FILE`.
#[derive(clap::Args, Debug)]
pub struct RestoreCommand {
    /// The backup file.
    file: PathBuf,
    #[command(flatten)]
    pub(super) args: ServeArgs,
}

impl RestoreCommand {
    pub(super) fn run(self, settings: &Settings) -> Result<(), ServerError> {
        crate::backup::restore(settings, &self.file)
    }
}

/// `keysmith migrate --from A --to B`.
#[derive(clap::Args, Debug)]
pub struct MigrateCommand {
    /// Where the keys are: a data directory (its server stopped) or a PostgreSQL URL.
    #[arg(long)]
    from: String,
    /// Where to copy them: a data directory without a data file, or an empty PostgreSQL
    /// database (its schema is created).
    #[arg(long)]
    to: String,
    #[command(flatten)]
    pub(super) args: ServeArgs,
}

impl MigrateCommand {
    pub(super) fn run(self, settings: &Settings) -> Result<(), ServerError> {
        crate::migrate::run(settings, &self.from, &self.to)
    }
}
