#!/usr/bin/env bash
# Installs the Debian packages Keysmith builds and tests with, if they are missing:
# the OpenSSL headers for the openssl backend, perl and make to build the vendored OpenSSL
# (feature openssl-vendored), the openssl command line the conformance suite checks every
# artifact with, Chromium for the Key Master page's browser test, and PostgreSQL, whose server
# the PostgreSQL engine's tests start themselves (keysmith-store's testing::postgres), and groff,
# which renders the generated man page in the CLI's test.
set -euo pipefail
# Arguments name other packages instead (scripts/install-bench-deps.sh passes the load tools).
if [ $# -gt 0 ]; then
  packages=("$@")
else
  packages=(pkg-config libssl-dev perl make openssl chromium postgresql groff-base)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
