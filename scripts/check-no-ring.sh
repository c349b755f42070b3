#!/usr/bin/env bash
# No build of any target compiles `ring`: crypto comes from aws-lc-rs and OpenSSL only.
# Cargo.lock may list ring as an optional dependency nobody enables (rustls-webpki's); what
# matters is what the tree prints. `cargo deny check bans` (deny.toml) checks the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
ring_users=$(cargo tree --workspace -e normal,build,dev --target all -i ring 2>/dev/null || true)
if [ -n "$ring_users" ]; then
  echo "$ring_users" >&2
  echo "ring is in the dependency tree" >&2
  exit 1
fi
echo "no ring in the dependency tree"
