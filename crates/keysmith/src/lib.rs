//! Keysmith, the self-hosted key server: the library behind the `keysmith` binary.
//!
//! The binary only parses its command line and calls [`server::run`]; everything it does is
//! here so that tests and other front ends can do the same.
//!
//! - [`backend`] chooses the crypto backend compiled in (by cargo features) and configured.
//! - [`settings`] reads the built-in defaults, an optional file and `KEYSMITH_*` variables.
//! - [`server`] opens the data file, sets up API keys and serves the HTTP API.
//!
//! # Crate features
//! - `aws-lc` (default): the aws-lc-rs backend.
//! - `openssl`: the OpenSSL 3 backend.
//! - `failpoints`: test failpoints read from the environment (`KS_FAILPOINT_*`), for crash
//!   tests. Only `cargo test` turns it on; a release build ignores those variables.
//!
//! At least one must be enabled. With both, configuration chooses (see
//! [`backend::select_backend`]).

pub mod backend;
pub mod backup;
pub mod check;
pub mod client;
pub mod data_lock;
pub mod key_cli;
pub mod malloc;
pub mod master_key;
pub mod server;
pub mod settings;
pub mod tls;
