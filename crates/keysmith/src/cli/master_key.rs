//! `keysmith master-key generate|rotate`.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::ServeArgs;
use crate::error::ServerError;
use crate::settings::Settings;

/// `keysmith master-key …`.
#[derive(Subcommand, Debug)]
pub enum MasterKeyCommand {
    /// Writes a new master key file (mode 0600; never over an existing file).
    Generate {
        /// The file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wraps every stored data key under the first configured master key, in one
    /// transaction, the new key first and the old one after it. On a data file, run it with
    /// the server stopped; on a PostgreSQL store (--store), once every node has the new key.
    Rotate(ServeArgs),
}

impl MasterKeyCommand {
    pub(super) fn settings_args(&self) -> ServeArgs {
        match self {
            MasterKeyCommand::Generate { .. } => ServeArgs::default(),
            MasterKeyCommand::Rotate(args) => args.clone(),
        }
    }

    pub(super) fn run(self, settings: &Settings) -> Result<(), ServerError> {
        match self {
            MasterKeyCommand::Generate { out } => generate(&out),
            MasterKeyCommand::Rotate(_) => crate::master_key::rotate_master_key(settings),
        }
    }
}

/// Writes a new master key file with the default backend; needs no settings.
pub(super) fn generate(out: &Path) -> Result<(), ServerError> {
    let backend = crate::backend::select_backend(None)?.backend;
    let key = crate::master_key::create_key_file(out, &*backend)?;
    println!("wrote master key {} to {}", key.id_hex(), out.display());
    Ok(())
}
