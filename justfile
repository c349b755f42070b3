# Keysmith developer commands. `just` lists them. README's two commands stay plain cargo.

default:
    @just --list

# Install the Debian packages the build and tests need (needs root).
deps:
    bash scripts/install-deps.sh

# Install the Debian packages the load scripts need: wrk, curl, python3 (needs root).
bench-deps:
    bash scripts/install-bench-deps.sh

# Run the server on its embedded defaults.
run *ARGS:
    cargo run --release -- {{ARGS}}

# Every test, both backends compiled in (what CI runs).
test:
    cargo test --workspace

# The conformance suite against the aws-lc-rs backend only.
test-aws-lc:
    cargo test -p keysmith-tests --test conformance -- aws_lc::

# The conformance suite against the OpenSSL backend only.
test-openssl:
    cargo test -p keysmith-tests --test conformance -- openssl::

# Build each backend alone.
build-backends:
    cargo build --release -p keysmith --no-default-features --features aws-lc
    cargo build --release -p keysmith --no-default-features --features openssl

# Criterion benchmarks of both backends side by side.
bench *ARGS:
    cargo bench -p keysmith-benches -- {{ARGS}}

# A soak of the release build at half its measured capacity, with a table and a plot of every
# minute in target/soak/ (docs/reliability.md). BACKEND: aws-lc or openssl.
soak MINUTES="30" BACKEND="aws-lc":
    bash benches/soak/soak.sh --minutes {{MINUTES}} --backend {{BACKEND}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

fmt:
    cargo fmt --all

# What CI runs, on this machine.
ci:
    bash .ci/run
