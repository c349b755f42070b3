//! Keysmith, the self-hosted key server: the library behind the `keysmith` binary.
//!
//! For now this crate chooses the crypto backend; the server, storage and API crates hang off
//! it as they land.
//!
//! # Crate features
//! - `aws-lc` (default): the aws-lc-rs backend.
//! - `openssl`: the OpenSSL 3 backend.
//!
//! At least one must be enabled. With both, configuration chooses (see [`select_backend`]).

pub mod backend;
