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
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LogFormatArg {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        None => cli.serve,
    };
    let overrides = Overrides {
        bind: args.bind,
        data: args.data,
        backend: args.backend,
        log_format: args.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
    };
    let settings = match Settings::load(args.config.as_deref(), &overrides) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("keysmith: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let result = actix_web::rt::System::new().block_on(keysmith::server::run(settings));
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
