#!/usr/bin/env bash
# Installs the Debian packages the FIPS build needs, if they are missing: aws-lc-rs builds the
# FIPS-validated AWS-LC module (aws-lc-fips-sys) from source with CMake, Go (its build checks
# the module's integrity), and a C/C++ compiler. Only `--features fips` needs them, so the
# default list of scripts/install-deps.sh leaves them out.
set -euo pipefail
exec bash "$(dirname "$0")/install-deps.sh" cmake golang-go g++ perl make
