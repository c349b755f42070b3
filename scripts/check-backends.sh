#!/usr/bin/env bash
# Builds each backend alone, checks that a non-test build carries no test failpoint, and that a
# build with no backend fails with its compile_error!. CI runs it; so does `just backends-alone`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p keysmith --no-default-features --features openssl
cargo build -p keysmith --no-default-features --features aws-lc
# Test failpoints are compiled only for `cargo test`: the binary just built (a non-test build,
# the release build's features) must not even contain the variable's name.
if grep -q KS_FAILPOINT target/debug/keysmith; then
  echo "a non-test build of keysmith contains the test failpoints" >&2
  exit 1
fi
if cargo build -p keysmith --no-default-features 2>/dev/null; then
  echo "a build with no backend must fail with compile_error!" >&2
  exit 1
fi
echo "each backend builds alone; no failpoint in a non-test build; no backend, no build"
