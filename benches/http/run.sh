#!/usr/bin/env bash
# HTTP benchmarks of the real server against a trivial actix-web endpoint, over loopback, with
# wrk (Debian package `wrk`). Results go to stdout; docs/benchmarks.md records a run.
#   bash benches/http/run.sh [aws-lc|openssl]
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-aws-lc}
duration=${DURATION:-10s}
command -v wrk >/dev/null || { echo "install wrk: just bench-deps (Debian package wrk)" >&2; exit 1; }
cargo build --release -q -p keysmith --features aws-lc,openssl
cargo build --release -q -p keysmith-benches --bin ceiling
data=$(mktemp -d)
key=bench-api-key
# A generation queue deep enough for 64 connections: this measures durable throughput, not
# admission control (the default queue answers the surplus 503 at once).
KEYSMITH_KEY_GENERATION_QUEUE=1024 KEYSMITH_API_KEY=$key KEYSMITH_LOG=warn target/release/keysmith serve --bind 127.0.0.1:9311 --data "$data" --backend "$backend" &
server=$!
target/release/ceiling 127.0.0.1:9312 &
ceiling=$!
trap 'kill $server $ceiling 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT
sleep 1
id=$(curl -s -X POST http://127.0.0.1:9311/api/key/generate -H "Authorization: $key" \
  -d '{"key":{"algorithm":"ES256","name":"bench target"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])')
# A realistic JWKS: six published keys (about 9 KB of JSON with their x5c certificates).
for spec in 'RS256","length":2048' 'RS256","length":2048' 'ES256"' 'ES384"' 'Ed25519"'; do
  curl -s -o /dev/null -X POST http://127.0.0.1:9311/api/key/generate -H "Authorization: $key" \
    -d "{\"key\":{\"name\":\"jwks $RANDOM$RANDOM\",\"algorithm\":\"$spec}}"
done
echo "JWKS size: $(curl -s http://127.0.0.1:9311/.well-known/jwks.json | wc -c) bytes"
echo "### backend $backend, $(nproc) cores, wrk -t1 -c64 -d$duration"
echo "--- ceiling: GET /ping (trivial actix-web endpoint)"
wrk -t1 -c64 -d"$duration" --latency http://127.0.0.1:9312/ping | grep -E "Requests/sec|  50%|  99%"
echo "--- GET /api/key/{id}"
wrk -t1 -c64 -d"$duration" --latency -H "Authorization: $key" "http://127.0.0.1:9311/api/key/$id" | grep -E "Requests/sec|  50%|  99%|Non-2xx"
echo "--- GET /.well-known/jwks.json (anonymous, in-memory snapshot)"
wrk -t1 -c64 -d"$duration" --latency "http://127.0.0.1:9311/.well-known/jwks.json" | grep -E "Requests/sec|  50%|  99%|Non-2xx"
etag=$(curl -s -D - -o /dev/null http://127.0.0.1:9311/.well-known/jwks.json | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
echo "--- GET /.well-known/jwks.json with If-None-Match (304)"
wrk -t1 -c64 -d"$duration" --latency -H "If-None-Match: $etag" "http://127.0.0.1:9311/.well-known/jwks.json" | grep -E "Requests/sec|  50%|  99%"
for alg in ES256 Ed25519; do
  kid=$(curl -s -X POST http://127.0.0.1:9311/api/key/generate -H "Authorization: $key" \
    -d "{\"key\":{\"algorithm\":\"$alg\",\"name\":\"vend $alg\"}}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])')
  echo "--- POST /api/jwt/vend $alg"
  KEY=$key KEY_ID=$kid wrk -t1 -c64 -d"$duration" --latency -s benches/http/vend.lua http://127.0.0.1:9311/api/jwt/vend | grep -E "Requests/sec|  50%|  99%|Non-2xx"
done
commits() { curl -s -H "Authorization: $key" http://127.0.0.1:9311/metrics | awk '/^keysmith_store_commits_total/{c=$2} /^keysmith_store_committed_changes_total/{n=$2} END{print c, n}'; }
for alg in ES256 HS256; do
  read -r c0 n0 < <(commits)
  echo "--- POST /api/key/generate $alg (durable; concurrent requests share group commits)"
  KEY=$key ALG=$alg PREFIX=$backend wrk -t1 -c64 -d"$duration" --latency -s benches/http/generate.lua http://127.0.0.1:9311/api/key/generate | grep -E "Requests/sec|  50%|  99%|Non-2xx"
  read -r c1 n1 < <(commits)
  echo "    commits: $((c1 - c0)), changes: $((n1 - n0)), mean batch: $(python3 -c "print(round(($n1 - $n0) / max(1, $c1 - $c0), 1))")"
done
