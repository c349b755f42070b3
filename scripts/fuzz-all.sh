#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS (default 10) each, on the stable toolchain with no
# sanitizer; a crash, a failed check or a build failure fails. BUILD is `release` (the default,
# for long runs) or `dev`: the fuzz crate's dev profile (opt-level 1), which CI's ten-second
# smoke run uses (docs/fuzzing.md has its figures). Installs the pinned cargo-fuzz
# if it is missing. docs/fuzzing.md says what each target feeds to which function.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
case "${2:-release}" in
  release) build=--release ;;
  dev) build=--dev ;;
  *) echo "usage: $0 [SECONDS] [release|dev]" >&2; exit 2 ;;
esac
CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  cargo install cargo-fuzz --locked --force --version "$CARGO_FUZZ_VERSION"
fi
cd fuzz
targets=$(cargo fuzz list)
[ -n "$targets" ] || { echo "cargo fuzz list found no target" >&2; exit 1; }
for target in $targets; do
  mkdir -p "corpus/$target"
  cargo fuzz run "$build" --sanitizer none --debug-assertions "$target" "corpus/$target" "seeds/$target" \
    -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1
done
