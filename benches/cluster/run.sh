#!/usr/bin/env bash
# Throughput of one and of three Keysmith nodes on one PostgreSQL database (this machine, over
# loopback), with wrk: durable ES256 generates and ES256 vends, beside one node on the data file.
# PostgreSQL comes from the Debian package (scripts/install-deps.sh), started here in a temporary
# directory on a free port with its defaults (synchronous_commit on: every acknowledged change
# is durable). docs/benchmarks.md records a run.
#   bash benches/cluster/run.sh [aws-lc|openssl]
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-aws-lc}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-60}
command -v wrk >/dev/null || { echo "install wrk: bash scripts/install-bench-deps.sh" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "install PostgreSQL: bash scripts/install-deps.sh" >&2; exit 1; }
cargo build --release -q -p keysmith --features aws-lc,openssl

work=$(mktemp -d)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$bin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
as_pg "$bin/pg_ctl" -s -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$bin/pg_ctl" -s -D "$work/pg" -m fast stop || true
  rm -rf "$work"
}
trap cleanup EXIT
key=bench-api-key
master=AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=

# start_node PORT [STORE_URL]: a node on the database (or on a data file without one).
start_node() {
  local port=$1 store=${2:-}
  local args=(serve --bind "127.0.0.1:$port" --data "$work/data-$port" --backend "$backend")
  [ -n "$store" ] && args+=(--store "$store")
  KEYSMITH_KEY_GENERATION_QUEUE=1024 KEYSMITH_KEY_GENERATION_PER_MINUTE=0 KEYSMITH_API_KEY=$key \
    KEYSMITH_MASTER_KEY=$master KEYSMITH_LOG=warn target/release/keysmith "${args[@]}" &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/status" >/dev/null && return; sleep 0.1; done
  echo "node on port $port did not start" >&2; exit 1
}

# run_wrk SCRIPT PATH PORT...: wrk on every port at once, the connections split between them;
# prints the summed requests/s and each node's p99.
run_wrk() {
  local script=$1 path=$2; shift 2
  local per=$((connections / $#)) out=() runs=() port
  for port in "$@"; do
    out+=("$work/wrk-$port")
    KEY=$key KEY_ID=${KEY_ID:-} ALG=ES256 PREFIX="p$port-$RANDOM" \
      wrk -t1 -c"$per" -d"$duration" --latency -s "$script" "http://127.0.0.1:$port$path" >"$work/wrk-$port" &
    runs+=($!)
  done
  wait "${runs[@]}"
  python3 - "${out[@]}" <<'PY'
import re, sys
total, p99s, non2xx = 0.0, [], 0
for path in sys.argv[1:]:
    text = open(path).read()
    total += float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p99s.append(re.search(r"\s99%\s+(\S+)", text).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx += int(m.group(1)) if m else 0
print(f"    {total:,.0f} requests/s in all; p99 per node {', '.join(p99s)}; non-2xx {non2xx}")
PY
}

vend_target() {
  curl -s -X POST "http://127.0.0.1:$1/api/key/generate" -H "Authorization: $key" \
    -d "{\"key\":{\"algorithm\":\"ES256\",\"name\":\"vend $1 $RANDOM\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])'
}

echo "### backend $backend, $(nproc) cores, PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), wrk -t1 -c$connections -d$duration in all"
start_node 9411
echo "--- 1 node, data file: POST /api/key/generate ES256"
run_wrk benches/http/generate.lua /api/key/generate 9411
KEY_ID=$(vend_target 9411) && export KEY_ID
echo "--- 1 node, data file: POST /api/jwt/vend ES256"
run_wrk benches/http/vend.lua /api/jwt/vend 9411
unset KEY_ID

as_pg "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres keysmith
url="postgres://postgres@127.0.0.1:$pg_port/keysmith?sslmode=disable"
start_node 9421 "$url"
pg_stats() {
  as_pg "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d keysmith -At -c \
    "SELECT 'transactions committed ' || xact_commit || ', rolled back ' || xact_rollback || ' (serialization retries and refusals)' FROM pg_stat_database WHERE datname = 'keysmith'"
}
echo "--- 1 node, PostgreSQL: POST /api/key/generate ES256"
run_wrk benches/http/generate.lua /api/key/generate 9421
echo "    $(pg_stats)"
KEY_ID=$(vend_target 9421) && export KEY_ID
echo "--- 1 node, PostgreSQL: POST /api/jwt/vend ES256"
run_wrk benches/http/vend.lua /api/jwt/vend 9421
start_node 9422 "$url"
start_node 9423 "$url"
echo "--- 3 nodes, PostgreSQL: POST /api/jwt/vend ES256 (one key, loaded on each node)"
run_wrk benches/http/vend.lua /api/jwt/vend 9421 9422 9423
unset KEY_ID
echo "--- 3 nodes, PostgreSQL: POST /api/key/generate ES256"
run_wrk benches/http/generate.lua /api/key/generate 9421 9422 9423
echo "    $(pg_stats) since the database was made"
