//! The `keysmith` binary: parses the command line, loads settings, sets up logging, and runs
//! the server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use keysmith::settings::{LogFormat, Overrides, Settings};

#[derive(Parser, Debug)]
#[command(
    name = "keysmith",
    version,
    about = "A self-hosted key server, wire-compatible with FusionAuth's Keys API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Manage the master keys that seal the stored secrets.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Write a consistent snapshot of the data to FILE: from a running server with --url, or
    /// from a stopped server's data directory.
    Backup {
        /// The backup file to create (mode 0600; never overwritten).
        file: PathBuf,
        /// A running server (http://host:port or https://host:port); its admin API key comes
        /// from --api-key or KEYSMITH_API_KEY.
        #[arg(long)]
        url: Option<String>,
        /// The API key for --url.
        #[arg(long)]
        api_key: Option<String>,
        /// The CA certificate (PEM) to trust for an https --url.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Replace the data file with a backup (server stopped). The backup is checked first.
    Restore {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        args: ServeArgs,
    },
    /// Check the data file offline (server stopped): schema, master keys, every page's
    /// checksum, every record and secret, every ring. Exits non-zero if anything is damaged.
    Check(ServeArgs),
    /// Manage keys: offline on a stopped server's --data, or online with --url.
    Key {
        #[command(subcommand)]
        command: keysmith::key_cli::KeyAction,
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
        /// FusionAuth's JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        args: KeyDataArgs,
    },
    /// Manage scoped API keys kept in the data file (server stopped; restart it to apply).
    ApiKey {
        #[command(subcommand)]
        action: keysmith::api_keys::ApiKeyAction,
        #[command(flatten)]
        args: KeyDataArgs,
    },
}

#[derive(Subcommand, Debug)]
enum MasterKeyCommand {
    /// Writes a new master key file (mode 0600; never over an existing file).
    Generate {
        /// The file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-wraps every stored data key under the first configured master key, in one
    /// transaction. Run with the server stopped, the new key first and the old one after it.
    Rotate(ServeArgs),
}

#[derive(clap::Args, Debug, Clone, Default)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9011; env: KEYSMITH_BIND].
    #[arg(long)]
    bind: Option<String>,
    /// Data directory [default: ./data; env: KEYSMITH_DATA].
    #[arg(long)]
    data: Option<PathBuf>,
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

/// Where `keysmith key` and `keysmith api-key` find the data, accepted before or after their
/// subcommand.
#[derive(clap::Args, Debug, Clone, Default)]
struct KeyDataArgs {
    /// Data directory [default: ./data; env: KEYSMITH_DATA].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
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

impl From<KeyDataArgs> for ServeArgs {
    fn from(args: KeyDataArgs) -> Self {
        ServeArgs {
            data: args.data,
            config: args.config,
            backend: args.backend,
            master_key_file: args.master_key_file,
            log_format: args.log_format,
            ..ServeArgs::default()
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormatArg {
    Text,
    Json,
}

enum Action {
    Serve,
    Key {
        action: keysmith::key_cli::KeyAction,
        url: Option<String>,
        api_key: Option<String>,
        ca_file: Option<PathBuf>,
        json: bool,
    },
    Backup {
        file: PathBuf,
        url: Option<String>,
        api_key: Option<String>,
        ca_file: Option<PathBuf>,
    },
    Restore(PathBuf),
    Check,
    RotateMasterKey,
    ApiKey(keysmith::api_keys::ApiKeyAction),
}

fn main() -> ExitCode {
    // Before any thread exists: the arena cap applies to every thread the runtime starts.
    keysmith::malloc::cap_arenas();
    let cli = Cli::parse();
    let (action, args) = match cli.command {
        Some(Command::Serve(args)) => (Action::Serve, args),
        None => (Action::Serve, cli.serve),
        Some(Command::MasterKey(MasterKeyCommand::Rotate(args))) => (Action::RotateMasterKey, args),
        Some(Command::MasterKey(MasterKeyCommand::Generate { out })) => {
            return generate_master_key(&out);
        }
        Some(Command::Backup {
            file,
            url,
            api_key,
            ca_file,
            args,
        }) => (
            Action::Backup {
                file,
                url,
                api_key,
                ca_file,
            },
            args,
        ),
        Some(Command::Restore { file, args }) => (Action::Restore(file), args),
        Some(Command::Check(args)) => (Action::Check, args),
        Some(Command::Key {
            command,
            url,
            api_key,
            ca_file,
            json,
            args,
        }) => {
            let action = command;
            (
                Action::Key {
                    action,
                    url,
                    api_key,
                    ca_file,
                    json,
                },
                args.into(),
            )
        }
        Some(Command::ApiKey { action, args }) => (Action::ApiKey(action), args.into()),
    };
    let overrides = Overrides {
        bind: args.bind,
        data: args.data,
        backend: args.backend,
        log_format: args.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
        master_key_file: args.master_key_file,
    };
    let settings = match Settings::load(args.config.as_deref(), &overrides) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("keysmith: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let result = match action {
        Action::Serve => actix_web::rt::System::new().block_on(keysmith::server::run(settings)),
        Action::RotateMasterKey => keysmith::master_key::rotate_master_key(&settings),
        Action::ApiKey(action) => keysmith::api_keys::api_key_command(&settings, action),
        Action::Backup {
            file,
            url,
            api_key,
            ca_file,
        } => online_client(&settings, url, api_key, ca_file)
            .and_then(|client| keysmith::backup::backup(&settings, &file, client)),
        Action::Restore(file) => keysmith::backup::restore(&settings, &file),
        Action::Check => keysmith::check::run(&settings),
        Action::Key {
            action,
            url,
            api_key,
            ca_file,
            json,
        } => online_client(&settings, url, api_key, ca_file)
            .and_then(|client| keysmith::key_cli::run(&settings, action, client, json)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut message = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(error = %message, "keysmith stopped");
            eprintln!("keysmith: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The client for `--url`, with the API key from `--api-key` or the settings.
fn online_client(
    settings: &Settings,
    url: Option<String>,
    api_key: Option<String>,
    ca_file: Option<PathBuf>,
) -> Result<Option<keysmith::client::Client>, keysmith::error::ServerError> {
    let Some(url) = url else {
        return Ok(None);
    };
    let api_key = api_key.unwrap_or_else(|| settings.api_key.clone());
    keysmith::client::Client::new(&url, &api_key, ca_file)
        .map(Some)
        .map_err(|source| keysmith::error::ServerError::Client {
            url: keysmith::client::shown_url(&url),
            source,
        })
}

fn generate_master_key(out: &std::path::Path) -> ExitCode {
    let backend = match keysmith::backend::select_backend(None) {
        Ok(selected) => selected.backend,
        Err(err) => {
            eprintln!("keysmith: {err}");
            return ExitCode::FAILURE;
        }
    };
    match keysmith::master_key::create_key_file(out, &*backend) {
        Ok(key) => {
            println!("wrote master key {} to {}", key.id_hex(), out.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("keysmith: {err}");
            ExitCode::FAILURE
        }
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
