//! Keysmith's test kit: the conformance suite that every crypto backend must pass, and helpers
//! that drive tools nobody here wrote (the `openssl` command line).
//!
//! The suite is written once, as functions taking `&dyn KeyBackend`; `tests/conformance.rs`
//! instantiates it per backend, so test names show the backend (`aws_lc::...`, `openssl::...`).

// Test support: a failed step must fail the test loudly, so unwrap/expect/panic are the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;
pub mod fixtures;
pub mod openssl_cli;
pub mod sealing;
