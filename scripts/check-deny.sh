#!/usr/bin/env bash
# cargo-deny on licenses, bans (ring among them) and sources, per deny.toml. Installs the
# pinned cargo-deny if it is missing. Advisories need the RustSec database, which this
# machine cannot fetch: run `cargo deny check advisories` where it can.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DENY_VERSION=0.18.9
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  cargo install cargo-deny --locked --force --version "$CARGO_DENY_VERSION"
fi
# cargo-deny reads the metadata of every target (Windows crates too), which a build for this
# machine never downloads: fetch them from the lock file first.
cargo fetch --locked
cargo deny --offline check licenses bans sources
