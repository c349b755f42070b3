#!/usr/bin/env bash
# Installs the Debian packages the load scripts need, if they are missing: wrk (the load
# generator of benches/http/*.sh and benches/soak/soak.sh), curl and python3 (set-up and
# figures). The build and the tests do not need them, so scripts/install-deps.sh leaves them out.
set -euo pipefail
# command → Debian package
declare -A packages=([wrk]=wrk [curl]=curl [python3]=python3)
missing=()
for command in "${!packages[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${packages[$command]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "load-test tools present: ${!packages[*]}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
