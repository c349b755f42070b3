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
