#!/usr/bin/env bash
# RSA generate latency over HTTP with and without the RSA pool (`rsa_pool_*` settings), one
# client, one request at a time: per backend and size, the median and the slowest of N requests,
# first on a server without a pool, then on one whose pool is full before the first request.
# docs/benchmarks.md records a run.
#   bash benches/http/rsa_pool.sh [requests per size, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
requests=${1:-20}
cargo build --release -q -p keysmith --features aws-lc,openssl
echo "### $(nproc) cores, $requests sequential POST /api/key/generate per row (ms)"
printf '%-8s %-5s %16s %16s\n' backend bits "no pool: median/max" "pool: median/max"
for backend in aws-lc openssl; do
  declare -A row=()
  for pool in off on; do
    data=$(mktemp -d)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    env=(KEYSMITH_API_KEY=bench KEYSMITH_LOG=warn)
    if [ "$pool" = on ]; then
      # Enough ready pairs that no request of the run finds its size empty.
      env+=(KEYSMITH_RSA_POOL_2048="$requests" KEYSMITH_RSA_POOL_3072="$requests" KEYSMITH_RSA_POOL_4096="$requests")
    fi
    env "${env[@]}" target/release/keysmith serve --bind "127.0.0.1:$port" --data "$data" \
      --backend "$backend" > /dev/null 2>&1 &
    server=$!
    out=$(python3 - "$port" "$requests" "$pool" <<'EOF'
import json, statistics, sys, time, urllib.request
port, n, pool = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
def call(method, path, body=None):
    request = urllib.request.Request(base + path, method=method, data=body and json.dumps(body).encode(),
                                     headers={"Authorization": "bench", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.read().decode()
deadline = time.time() + 30
while True:
    try:
        call("GET", "/api/status"); break
    except Exception:
        if time.time() > deadline: raise
        time.sleep(0.05)
if pool == "on":
    deadline = time.time() + 1800
    while True:
        metrics = call("GET", "/metrics")
        ready = [l for l in metrics.splitlines() if l.startswith("keysmith_rsa_pool_ready{")]
        if len(ready) == 3 and all(int(l.split()[-1]) >= n for l in ready): break
        if time.time() > deadline: sys.exit("the pool did not fill")
        time.sleep(0.5)
for bits in (2048, 3072, 4096):
    times = []
    for i in range(n):
        started = time.perf_counter()
        call("POST", "/api/key/generate", {"key": {"algorithm": "RS256", "length": bits, "name": f"r{bits}-{i}"}})
        times.append((time.perf_counter() - started) * 1000)
    print(bits, f"{statistics.median(times):.1f}/{max(times):.1f}")
if pool == "on":
    metrics = call("GET", "/metrics")
    missed = sum(int(l.split()[-1]) for l in metrics.splitlines() if l.startswith("keysmith_rsa_pool_missed_total{"))
    if missed: sys.exit(f"{missed} requests found the pool empty")
EOF
)
    kill $server; wait $server 2>/dev/null || true; rm -rf "$data"
    while read -r bits figure; do row[$bits,$pool]=$figure; done <<< "$out"
  done
  for bits in 2048 3072 4096; do
    printf '%-8s %-5s %16s %16s\n' "$backend" "$bits" "${row[$bits,off]}" "${row[$bits,on]}"
  done
done
