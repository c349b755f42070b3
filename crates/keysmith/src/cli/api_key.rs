//! `keysmith api-key …`: scoped API keys in a stopped server's data file.

use super::DataArgs;
use crate::api_keys::ApiKeyAction;

/// `keysmith api-key <action>`.
#[derive(clap::Args, Debug)]
pub struct ApiKeyCommand {
    #[command(subcommand)]
    pub(super) action: ApiKeyAction,
    #[command(flatten)]
    pub(super) args: DataArgs,
}
