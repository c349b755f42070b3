//! `keysmith [serve]`, and the settings flags every command shares.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::error::ServerError;
use crate::settings::{LogFormat, Overrides, Settings, SettingsError};

/// Where the settings come from, and what they override: every flag of `serve`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9011; env: KEYSMITH_BIND].
    #[arg(long)]
    bind: Option<String>,
    /// Data directory [default: ./data; env: KEYSMITH_DATA].
    #[arg(long)]
    data: Option<PathBuf>,
    /// A PostgreSQL URL to keep the keys in, shared by many nodes, instead of the data file
    /// [env: KEYSMITH_STORE].
    #[arg(long, value_name = "postgres://USER@HOST:PORT/DATABASE")]
    store: Option<String>,
    /// A TOML file overriding the built-in defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Crypto backend: aws-lc or openssl [env: KEYSMITH_BACKEND].
    #[arg(long)]
    backend: Option<String>,
    /// Log format [env: KEYSMITH_LOG_FORMAT].
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// A file of master keys, one base64 key per line [env: KEYSMITH_MASTER_KEY_FILE].
    #[arg(long)]
    master_key_file: Option<PathBuf>,
}

impl ServeArgs {
    /// The settings: defaults, then `--config`, then `KEYSMITH_*`, then these flags.
    pub(super) fn load(self) -> Result<Settings, SettingsError> {
        let overrides = Overrides {
            bind: self.bind,
            data: self.data,
            store: self.store,
            backend: self.backend,
            log_format: self.log_format.map(LogFormat::from),
            master_key_file: self.master_key_file,
        };
        Settings::load(self.config.as_deref(), &overrides)
    }
}

/// Where `keysmith key` and `keysmith api-key` find the data, accepted before or after their
/// subcommand.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Data directory [default: ./data; env: KEYSMITH_DATA].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// A PostgreSQL store instead of the data file (`api-key` works on it; the commands that
    /// read the data file refuse it) [env: KEYSMITH_STORE].
    #[arg(long, global = true, value_name = "postgres://USER@HOST:PORT/DATABASE")]
    store: Option<String>,
    /// A TOML file overriding the built-in defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Crypto backend: aws-lc or openssl [env: KEYSMITH_BACKEND].
    #[arg(long, global = true)]
    backend: Option<String>,
    /// A file of master keys, one base64 key per line [env: KEYSMITH_MASTER_KEY_FILE].
    #[arg(long, global = true)]
    master_key_file: Option<PathBuf>,
    /// Log format [env: KEYSMITH_LOG_FORMAT].
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormatArg>,
}

impl From<DataArgs> for ServeArgs {
    fn from(args: DataArgs) -> Self {
        ServeArgs {
            data: args.data,
            config: args.config,
            backend: args.backend,
            master_key_file: args.master_key_file,
            log_format: args.log_format,
            bind: None,
            store: args.store,
        }
    }
}

/// `--log-format`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(format: LogFormatArg) -> Self {
        match format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Serves until SIGINT or SIGTERM.
pub(super) fn run(settings: Settings) -> Result<(), ServerError> {
    actix_web::rt::System::new().block_on(crate::server::run(settings))
}
