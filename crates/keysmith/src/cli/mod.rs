//! The command line: one file per command group, each a clap type that runs itself.
//!
//! `keysmith` with no command serves. Every command but `master-key generate` loads the
//! settings from its flags (defaults, then `--config`, then `KEYSMITH_*`, then flags), sets up
//! logging, and runs; an error is printed with its chain of causes and exits non-zero.

mod api_key;
mod data_file;
mod key;
mod master_key;
mod reference;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::ServerError;
use crate::settings::{LogFormat, Settings};

pub use api_key::ApiKeyCommand;
pub use data_file::{BackupCommand, MigrateCommand, RestoreCommand};
pub use key::KeyCommand;
pub use master_key::MasterKeyCommand;
pub use serve::{DataArgs, LogFormatArg, ServeArgs};

/// `keysmith [COMMAND]`.
#[derive(Parser, Debug)]
#[command(
    name = "keysmith",
    version,
    about = "A self-hosted key server, wire-compatible with FusionAuth's Keys API"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Every command.
#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Manage the master keys that seal the stored secrets.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Write a consistent snapshot of the data to FILE: from a running server with --url, or
    /// from a stopped server's data directory.
    Backup(BackupCommand),
    /// Replace the data file with a backup (server stopped). The backup is checked first.
    Restore(RestoreCommand),
    /// Check the data file offline (server stopped): schema, master keys, every page's
    /// checksum, every record and secret, every ring. Exits non-zero if anything is damaged.
    Check(ServeArgs),
    /// Give the data file's free space back to the file system (server stopped). Records and
    /// secrets are left exactly as they are.
    Compact(ServeArgs),
    /// Manage keys: offline on a stopped server's --data, or online with --url.
    Key(KeyCommand),
    /// Manage scoped API keys kept in the data file (server stopped; restart it to apply).
    ApiKey(ApiKeyCommand),
    /// Copy every key, ring, connection, API key and audit record between a data directory and
    /// a PostgreSQL database (either way), secrets still sealed, into an empty target; the
    /// copy is checked against its source.
    Migrate(MigrateCommand),
    /// Apply the schema migrations the PostgreSQL store (--store) lacks, then exit: for
    /// operators who run them as their own step and start the nodes with store_migrate = false.
    /// Needs no master key.
    MigrateSchema(ServeArgs),
    /// Print the shell completion script for SHELL, e.g. `keysmith completions bash >
    /// /etc/bash_completion.d/keysmith`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page keysmith(1); with --dir, write it and one page per command there.
    Man {
        /// An existing directory for keysmith.1, keysmith-serve.1, keysmith-key-generate.1, …
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// The flags this command's settings come from.
    fn settings_args(&self) -> ServeArgs {
        match self {
            Command::Serve(args)
            | Command::Check(args)
            | Command::Compact(args)
            | Command::MigrateSchema(args) => args.clone(),
            Command::MasterKey(command) => command.settings_args(),
            Command::Backup(command) => command.args.clone(),
            Command::Restore(command) => command.args.clone(),
            Command::Key(command) => command.args.clone().into(),
            Command::ApiKey(command) => command.args.clone().into(),
            Command::Migrate(command) => command.args.clone(),
            Command::Completions { .. } | Command::Man { .. } => ServeArgs::default(),
        }
    }

    fn run(self, settings: Settings) -> Result<(), ServerError> {
        match self {
            Command::Serve(_) => serve::run(settings),
            Command::MasterKey(command) => command.run(&settings),
            Command::Backup(command) => command.run(&settings),
            Command::Restore(command) => command.run(&settings),
            Command::Check(_) => crate::check::run(&settings),
            Command::Compact(_) => crate::compact::run(&settings),
            Command::Key(command) => command.run(&settings),
            Command::ApiKey(command) => crate::api_keys::api_key_command(&settings, command.action),
            Command::Migrate(command) => command.run(&settings),
            Command::MigrateSchema(_) => crate::migrate::migrate_schema(&settings),
            Command::Completions { shell } => reference::completions(shell),
            Command::Man { dir } => reference::man(dir.as_deref()),
        }
    }
}

/// Parses the command line and runs the command: what `main` does.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    // Needs no settings: it only writes a new key file.
    if let Command::MasterKey(MasterKeyCommand::Generate { out }) = &command {
        return exit_code(master_key::generate(out));
    }
    // Nor do these: they print what the command line itself defines.
    match &command {
        Command::Completions { shell } => return exit_code(reference::completions(*shell)),
        Command::Man { dir } => return exit_code(reference::man(dir.as_deref())),
        _ => {}
    }
    let settings = match command.settings_args().load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("keysmith: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    exit_code(command.run(settings))
}

/// Success, or the error with its causes logged and printed, and a failure.
fn exit_code(result: Result<(), ServerError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let message = with_causes(&err);
            tracing::error!(error = %message, "keysmith stopped");
            eprintln!("keysmith: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `err` and each of its sources, joined by `: `.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A running server for commands that can work online (`--url`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// A running server (http://host:port or https://host:port); API key from --api-key or
    /// KEYSMITH_API_KEY.
    #[arg(long, global = true)]
    url: Option<String>,
    /// The API key for --url.
    #[arg(long, global = true)]
    api_key: Option<String>,
    /// The CA certificate (PEM) to trust for an https --url.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
}

impl ServerArgs {
    /// The client for `--url` (none without it), with the API key from `--api-key` or the
    /// settings.
    fn client(self, settings: &Settings) -> Result<Option<crate::client::Client>, ServerError> {
        let Some(url) = self.url else {
            return Ok(None);
        };
        let api_key = self.api_key.unwrap_or_else(|| settings.api_key.clone());
        crate::client::Client::new(&url, &api_key, self.ca_file)
            .map(Some)
            .map_err(|source| ServerError::Client {
                url: crate::client::shown_url(&url),
                source,
            })
    }
}

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match settings.log_format {
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}
