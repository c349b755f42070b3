#!/usr/bin/env bash
# Installs the Debian packages the load scripts need, if they are missing: wrk (the load
# generator of benches/http/*.sh and benches/soak/soak.sh), curl and python3 (set-up and
# figures). The build and the tests do not need them, so the default list of
# scripts/install-deps.sh leaves them out.
set -euo pipefail
exec bash "$(dirname "$0")/install-deps.sh" wrk curl python3
