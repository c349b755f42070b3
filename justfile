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

# The end-to-end suites that serve from the store, each server on a PostgreSQL store of its own
# (as CI; needs the Debian postgresql package, scripts/install-deps.sh).
test-postgres:
    KS_E2E_STORE=postgres cargo test -p keysmith --features aws-lc,openssl --test e2e -- admin:: audit:: auth0:: clients:: deletion:: keys:: limits:: metrics:: openapi:: permissions:: postgres:: tokens::

# The conformance suite on the OpenSSL backend built against the vendored OpenSSL 3.5 (as CI).
test-openssl-vendored:
    cargo test -p keysmith-tests --no-default-features --features openssl-vendored --test conformance

# The FIPS build (docs/security.md, "FIPS"): installs CMake, Go and a C/C++ compiler (needs
# root), runs the conformance suite on aws-lc-rs over the FIPS-validated AWS-LC module (as CI),
# and builds the binary with it.
test-fips:
    bash scripts/install-fips-deps.sh
    cargo test -p keysmith-tests --no-default-features --features fips --test conformance
    cargo build --release -p keysmith --no-default-features --features fips

# The kill -9 loop at full length on both backends (docs/reliability.md): CYCLES cycles each,
# printing the figures. More cargo arguments after CYCLES, e.g. `just kill-loop 70 --release`.
kill-loop CYCLES="70" *ARGS:
    KS_KILL_CYCLES={{CYCLES}} cargo test {{ARGS}} -p keysmith --features aws-lc,openssl --test e2e -- crash::kill_9_loop --nocapture

# Build each backend alone (release).
build-backends:
    cargo build --release -p keysmith --no-default-features --features aws-lc
    cargo build --release -p keysmith --no-default-features --features openssl
    cargo build --release -p keysmith --no-default-features --features openssl-vendored

# As CI checks: each backend builds alone, no failpoint in a non-test build, none without one.
backends-alone:
    bash scripts/check-backends.sh

# As CI checks: licenses, bans (ring: no build of any target may compile it) and sources
# (deny.toml); installs the pinned cargo-deny.
deny:
    bash scripts/check-deny.sh

# The power-loss and I/O-fault sweeps over every fault point (cargo test runs a bounded sweep).
reliability-sweep:
    KS_SWEEP=full cargo test -p keysmith-core --test power_loss -- --nocapture

# Criterion benchmarks of both backends side by side.
bench *ARGS:
    cargo bench -p keysmith-benches -- {{ARGS}}

# The fuzz targets (cargo-fuzz; libFuzzer on the stable toolchain, see docs/fuzzing.md).
fuzz-list:
    cd fuzz && cargo fuzz list

# Fuzz one target for SECONDS: seeds from fuzz/seeds/TARGET, the corpus grows in fuzz/corpus/TARGET.
fuzz TARGET SECONDS="60":
    mkdir -p fuzz/corpus/{{TARGET}}
    cd fuzz && cargo fuzz run --sanitizer none --debug-assertions {{TARGET}} corpus/{{TARGET}} seeds/{{TARGET}} -- -max_total_time={{SECONDS}} -timeout=10 -print_final_stats=1

# Fuzz every target for SECONDS each, one after the other; stops at the first crash (CI: 10).
fuzz-all SECONDS="1800":
    bash scripts/fuzz-all.sh {{SECONDS}}

# A soak of the release build at half its measured capacity, with a table and a plot of every
# minute in target/soak/ (docs/reliability.md). BACKEND: aws-lc or openssl.
soak MINUTES="30" BACKEND="aws-lc":
    bash benches/soak/soak.sh --minutes {{MINUTES}} --backend {{BACKEND}}

# The scale benchmark: fill KEYS keys, serve them, measure what grows with the store
# (docs/benchmarks.md, "Scale"). More arguments after KEYS, e.g. `just scale 100000 --reuse`.
scale KEYS="100000" BACKEND="aws-lc" *ARGS:
    bash benches/scale/scale.sh --keys {{KEYS}} --backend {{BACKEND}} {{ARGS}}

# Formatting, module structure and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    python3 scripts/module-cycles.py
    cargo clippy --workspace --all-targets -- -D warnings

fmt:
    cargo fmt --all

# What CI runs, on this machine.
ci:
    bash .ci/run
