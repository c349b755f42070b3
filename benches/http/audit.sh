#!/usr/bin/env bash
# The audit trail under a vend load: vends at full speed with wrk against a release build and
# samples the server's RSS and the data file's size every 10 s (docs/benchmarks.md).
#   bash benches/http/audit.sh <keysmith binary> <seconds> <port> [VAR=value ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$1; secs=$2; port=$3; shift 3
data=$(mktemp -d)
key=bench-api-key
env KEYSMITH_API_KEY=$key KEYSMITH_LOG=warn "$@" "$bin" serve --bind 127.0.0.1:$port --data "$data" --backend aws-lc 2>/tmp/audit-bench-server.log &
server=$!
trap 'kill $server 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT
sleep 1
id=$(curl -s -X POST http://127.0.0.1:$port/api/key/generate -H "Authorization: $key" \
  -d '{"key":{"algorithm":"ES256","name":"bench target"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["id"])')
rss() { awk '/VmRSS/{print $2/1024 " MB"}' /proc/$server/status; }
size() { du -m --apparent-size "$data/keysmith.redb" | cut -f1; }
echo "start: rss $(rss), data file $(size) MB"
(for i in $(seq 1 $((secs/10))); do sleep 10; echo "t=$((i*10))s rss $(rss) data $(size) MB"; done) &
sampler=$!
KEY=$key KEY_ID=$id wrk -t1 -c64 -d${secs}s --latency -s benches/http/vend.lua http://127.0.0.1:$port/api/jwt/vend | grep -E "requests in|Requests/sec|  99%|Non-2xx"
wait $sampler || true
echo "end: rss $(rss), data file $(size) MB"
curl -s -H "Authorization: $key" http://127.0.0.1:$port/metrics | grep -E "^keysmith_audit_dropped_total" || true
curl -s -H "Authorization: $key" "http://127.0.0.1:$port/api/system/audit-log/search?action=jwt.vend&numberOfResults=1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("jwt.vend audit records:", d["total"])'
