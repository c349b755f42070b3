# Keysmith developer commands. `just` lists them. README's two commands stay plain cargo.

default:
    @just --list

# Install the Debian packages the build and tests need (needs root).
deps:
    bash scripts/install-deps.sh

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

# The kill -9 loop at full length on both backends (docs/reliability.md): CYCLES cycles each,
# printing the figures. More cargo arguments after CYCLES, e.g. `just kill-loop 70 --release`.
kill-loop CYCLES="70" *ARGS:
    KS_KILL_CYCLES={{CYCLES}} cargo test {{ARGS}} -p keysmith --features aws-lc,openssl --test e2e -- crash::kill_9_loop --nocapture

# Build each backend alone.
build-backends:
    cargo build --release -p keysmith --no-default-features --features aws-lc
    cargo build --release -p keysmith --no-default-features --features openssl

# The power-loss and I/O-fault sweeps over every fault point (cargo test runs a bounded sweep).
reliability-sweep:
    KS_SWEEP=full cargo test -p keysmith-core --test power_loss -- --nocapture

# Criterion benchmarks of both backends side by side.
bench *ARGS:
    cargo bench -p keysmith-benches -- {{ARGS}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

fmt:
    cargo fmt --all

# What CI runs, on this machine.
ci:
    bash .ci/run
