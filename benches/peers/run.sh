#!/usr/bin/env bash
# Key generation in three peers (Python cryptography, Node crypto, Java JCA) next to Keysmith's
# criterion medians (generate/*; aws-lc, the system's OpenSSL and the vendored OpenSSL 3.5):
# is Keysmith's best backend at least as fast as the best peer?
# Prints the table and writes target/peers/peers.md and target/peers/peers.jsonl. See README.md.
#
#   bash benches/peers/run.sh [--samples N] [--peers python,node,java] [--no-keysmith-run]
#                             [--criterion-dir DIR]
#
# Run it on an otherwise idle machine: no build, test or load generator at the same time.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/benches/peers
out=$root/target/peers
venv=$root/target/peers-venv
classes=$root/target/peers-java

samples=30
peers=python,node,java
keysmith_run=true
criterion_dir=${CRITERION_HOME:-${CARGO_TARGET_DIR:-$root/target}/criterion}
usage() { sed -n '6,7p' "$here/run.sh" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --samples) samples=$2; shift 2 ;;
    --peers) peers=$2; shift 2 ;;
    --no-keysmith-run) keysmith_run=false; shift ;;
    --criterion-dir) criterion_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $samples =~ ^[1-9][0-9]*$ ]] || { echo "--samples must be a positive integer" >&2; exit 2; }
for p in ${peers//,/ }; do
  case $p in python|node|java) ;; *) echo "unknown peer: $p (python, node, java)" >&2; exit 2 ;; esac
done
case $criterion_dir in /*) ;; *) criterion_dir=$caller/$criterion_dir ;; esac
want() { [[ ,$peers, == *,$1,* ]]; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t_start=$(now_ms)
step() { step_name=$1; step_t0=$(now_ms); echo "== $step_name"; }
step_done() {
  local t=$(( $(now_ms) - step_t0 ))
  printf '== %s: %d.%d s\n' "$step_name" $((t / 1000)) $((t % 1000 / 100))
}

failed=()
skip() { echo "$1 peer skipped: $2"; }

# Each peer prints one JSON line per algorithm; they go to the screen and to peers.jsonl.
run_peer() {
  local name=$1; shift
  step "$name peer ($samples samples)"
  if "$@" --samples "$samples" | tee -a "$out/peers.jsonl"; then
    step_done
  else
    echo "$name peer FAILED" >&2
    failed+=("$name")
  fi
}

# The venv is made once; pip re-checks the pins on every run (no download when they hold).
setup_python() {
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || return 1
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
}

# Compiles Gen.java with the JDK's javac, installing Debian's JDK if there is none.
# Sets java_bin, or java_skip to why not.
setup_java() {
  java_skip=""
  if ! command -v javac > /dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
      java_skip="no javac, and default-jdk-headless needs root and apt-get to install"
      return 0
    fi
    echo "no javac: installing Debian's default-jdk-headless"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q default-jdk-headless > /dev/null \
      || { apt-get update -q > /dev/null && apt-get install -y -q default-jdk-headless > /dev/null; } \
      || { java_skip="no javac, and apt-get install default-jdk-headless failed"; return 0; }
  fi
  local javac_bin
  javac_bin=$(readlink -f "$(command -v javac)")
  java_bin=$(dirname "$javac_bin")/java  # the runtime of the same JDK
  rm -rf "$classes" && mkdir -p "$classes" && "$javac_bin" -d "$classes" "$here/Gen.java"
}

mkdir -p "$out"
: > "$out/peers.jsonl"

if want python; then
  if ! command -v python3 > /dev/null; then
    skip python "python3 is not on PATH"
  else
    step "python setup ($venv)"
    if setup_python; then
      step_done
      run_peer python "$venv/bin/python" "$here/gen.py"
    else
      echo "python peer FAILED: could not install $here/requirements.txt" >&2
      failed+=(python)
    fi
  fi
fi

if want node; then
  if command -v node > /dev/null; then
    run_peer node node "$here/gen.mjs"
  else
    skip node "node is not on PATH"
  fi
fi

if want java; then
  step "java setup ($classes)"
  if setup_java; then
    step_done
    if [ -n "$java_skip" ]; then
      skip java "$java_skip"
    else
      run_peer java "$java_bin" -cp "$classes" Gen
    fi
  else
    echo "java peer FAILED: could not compile $here/Gen.java" >&2
    failed+=(java)
  fi
fi

if $keysmith_run; then
  step "keysmith: cargo bench -p keysmith-benches --bench crypto -- '^generate/'"
  cargo bench -p keysmith-benches --bench crypto -- '^generate/'
  step_done
  # The OpenSSL backend again on the vendored OpenSSL 3.5 (reported as openssl-vendored).
  step "keysmith: the same with --features openssl-vendored"
  cargo bench -p keysmith-benches --features openssl-vendored --bench crypto -- '^generate/'
  step_done
fi

step "compare ($criterion_dir)"
python3 "$here/compare.py" --criterion-dir "$criterion_dir" --jsonl "$out/peers.jsonl" \
  --out "$out/peers.md"
step_done
echo "wrote $out/peers.md and $out/peers.jsonl"

t=$(( $(now_ms) - t_start ))
printf '== total: %d s\n' $((t / 1000))
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed peers: ${failed[*]}" >&2
  exit 1
fi
