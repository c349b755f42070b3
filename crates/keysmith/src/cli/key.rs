//! `keysmith key …`: offline on a stopped server's data, or online with `--url`.

use super::{DataArgs, ServerArgs};
use crate::error::ServerError;
use crate::key_cli::KeyAction;
use crate::settings::Settings;

/// `keysmith key <action> [--url …] [--json]`.
#[derive(clap::Args, Debug)]
pub struct KeyCommand {
    #[command(subcommand)]
    action: KeyAction,
    #[command(flatten)]
    server: ServerArgs,
    /// FusionAuth's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    pub(super) args: DataArgs,
}

impl KeyCommand {
    pub(super) fn run(self, settings: &Settings) -> Result<(), ServerError> {
        let client = self.server.client(settings)?;
        crate::key_cli::run(settings, self.action, client, self.json)
    }
}
