//! Keysmith, the self-hosted key server: the library behind the `keysmith` binary.
//!
//! `main.rs` calls [`cli::main`], which parses the command line, loads the settings, sets up
//! logging and runs one command: serve ([`server::run`]), or keys, API keys, master keys,
//! backup, restore, check. Everything it does is here so that tests can do the same.
//!
//! - [`backend`] chooses the crypto backend compiled in (by cargo features) and configured.
//! - [`settings`] reads the built-in defaults, an optional file and `KEYSMITH_*` variables.
//! - [`server`] opens the data file, sets up API keys, the rotation scheduler and the HTTP API;
//!   [`master_key`], [`tls`] and [`data_lock`] are the parts it opens first.
//! - [`cli`] holds the clap types, one file per command group;
//!   [`key_cli`], [`api_keys`], [`backup`] and [`check`] are what the commands do; [`client`] is the small HTTP client
//!   behind their `--url`.
//! - [`webhooks`] POSTs key events read from the audit trail to the configured receivers.
//! - [`malloc`] caps glibc's malloc arenas at start and trims them while serving.
//!
//! # Crate features
//! - `aws-lc` (default): the aws-lc-rs backend.
//! - `openssl`: the OpenSSL 3 backend.
//! - `failpoints`: test failpoints read from the environment (`KS_FAILPOINT_*`), for crash
//!   tests. Only `cargo test` turns it on; a release build ignores those variables.
//!
//! At least one must be enabled. With both, configuration chooses (see
//! [`backend::select_backend`]).

pub mod api_keys;
pub mod backend;
pub mod backup;
pub mod bulk;
pub mod check;
pub mod cli;
pub mod client;
pub mod compact;
pub mod data;
pub mod data_lock;
pub mod error;
pub mod key_cli;
pub mod key_output;
pub mod malloc;
pub mod master_key;
pub mod migrate;
mod scheduler;
pub mod server;
pub mod settings;
pub mod tls;
pub mod webhooks;
