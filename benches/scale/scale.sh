#!/usr/bin/env bash
# The scale benchmark (issue 14): fills N keys offline with the CLI, then starts the release
# server on them and measures what grows with the store: startup to a 200, RSS, a deep search
# page, the JWKS, a /metrics scrape, GET of one key, durable generate over HTTP, and bytes per
# key on disk. Writes scale.md (the table) and scale.json to the output directory and prints the
# table. docs/benchmarks.md ("Scale") records runs.
#
#   bash benches/scale/scale.sh [--keys N] [--million] [--backend aws-lc|openssl] [--out DIR]
#                               [--reuse | --data-from DIR]
#
# --reuse keeps an existing filled data directory in DIR (filling 1,000,000 keys takes a while);
# --data-from DIR copies a filled data directory instead of filling (the file format is the same
# on both backends, so one fill serves both).
# Last, it draws the plot of every run under target/scale with benches/scale/plot.py:
# target/scale/scale.svg (each figure against the number of keys, one curve per backend) and
# target/scale/scale-runs.md (one table row per run), so running it for 10,000, 100,000 and
# --million keys builds the curve. docs/scale.svg is a copy of that plot, committed with the runs
# in docs/benchmarks.md.
# Needs curl and python3; wrk (`just bench-deps`) for the generate figure, which is left out
# without it. Honours CARGO_TARGET_DIR. Run it under `nice` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

keys=100000
backend=aws-lc
out=""
reuse=false
data_from=""
usage() { sed -n '8,9p' "$0" | sed 's/^# *//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --keys) keys=$2; shift 2 ;;
    --million) keys=1000000; shift ;;
    --backend) backend=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --reuse) reuse=true; shift ;;
    --data-from) data_from=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case $backend in aws-lc|openssl) ;; *) echo "--backend must be aws-lc or openssl" >&2; exit 2 ;; esac
[[ $keys =~ ^[1-9][0-9]*$ ]] || { echo "--keys must be a positive integer" >&2; exit 2; }
out=${out:-$root/target/scale/$backend-$keys}
mkdir -p "$out"
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=$target_dir/release/keysmith
data=$out/data
api_key=scale-benchmark-api-key-0123456789
export KEYSMITH_API_KEY=$api_key KEYSMITH_LOG=warn

echo "building the release binary"
cargo build --release -q -p keysmith --features aws-lc,openssl

# ---- fill ----
fill_seconds=0
compact_seconds=0
disk_bytes=0
if $reuse && [ -f "$data/keysmith.redb" ]; then
  echo "reusing $data"
elif [ -n "$data_from" ]; then
  echo "copying $data_from"
  rm -rf "$data"
  cp -a "$data_from" "$data"
else
  rm -rf "$data"
  mkdir -p "$data"
  # Offline commands need the master key a server's first start would write.
  "$bin" master-key generate --out "$data/master.key" > /dev/null
  echo "filling $keys ES256 keys offline (one call, named s #<n>)"
  started=$(date +%s.%N)
  "$bin" key generate --data "$data" --backend "$backend" --algorithm ES256 \
    --name "s" --count "$keys" --json --no-compact > /dev/null
  fill_seconds=$(python3 -c "import time; print(round(time.time() - $started, 1))")
  # What the fill costs on disk (redb leaves unwritten space in the file), then the compaction
  # that returns the file's unused length, timed on its own.
  disk_bytes=$(( $(stat -c %b "$data/keysmith.redb") * $(stat -c %B "$data/keysmith.redb") ))
  started=$(date +%s.%N)
  "$bin" compact --data "$data" > /dev/null
  compact_seconds=$(python3 -c "import time; print(round(time.time() - $started, 1))")
fi
file_bytes=$(stat -c %s "$data/keysmith.redb")

# ---- serve and measure ----
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
started=$(date +%s.%N)
# The full JWKS of a million keys is 685 MB: its first build reads every record for its ETag
# before the first byte, which from a cold page cache can outlast the default 30 s request
# timeout (a 503 in a run on 2026-12-03). The benchmark times it rather than cutting it off.
KEYSMITH_REQUEST_TIMEOUT_SECONDS=600 \
  "$bin" serve --data "$data" --backend "$backend" --bind "127.0.0.1:$port" > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait 2>/dev/null' EXIT

python3 "$root/benches/scale/measure.py" \
  --base "http://127.0.0.1:$port" --pid "$server" --api-key "$api_key" --started "$started" \
  --keys "$keys" --backend "$backend" --file-bytes "$file_bytes" --fill-seconds "$fill_seconds" \
  --compact-seconds "$compact_seconds" --disk-bytes "$disk_bytes" \
  --out "$out"

# Last, on a copy of the data: the generated keys must not change a later --reuse.
if command -v wrk > /dev/null; then
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$out/data-generate"
  cp -a "$data" "$out/data-generate"
  # A queue deep enough that every connection waits for its turn: this measures durable
  # throughput, not admission control (the default queue answers the surplus 503 at once).
  KEYSMITH_KEY_GENERATION_QUEUE=1024 \
    "$bin" serve --data "$out/data-generate" --backend "$backend" --bind "127.0.0.1:$port" \
    >> "$out/server.log" 2>&1 &
  server=$!
  until curl -sf "http://127.0.0.1:$port/api/status" > /dev/null; do sleep 0.1; done
  echo "durable ES256 generate over HTTP: wrk -t1 -c64 -d10s"
  KEY=$api_key ALG=ES256 PREFIX=scale wrk -t1 -c64 -d10s --latency \
    -s "$root/benches/http/generate.lua" "http://127.0.0.1:$port/api/key/generate" \
    > "$out/generate.txt"
  grep -E "  50%|  99%|Non-2xx" "$out/generate.txt" || true
  python3 - "$out/generate.txt" "$out/scale.md" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests, seconds = re.search(r"(\d+) requests in ([\d.]+)s", text).groups()
failed = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
ok = int(requests) - (int(failed.group(1)) if failed else 0)
p99 = re.search(r"  99%\s+(\S+)", text).group(1)
row = f"| durable ES256 generate over HTTP, 64 connections | {ok / float(seconds):.0f} keys/s, p99 {p99} |"
with open(sys.argv[2], "a") as md:
    md.write(row + "\n")
PY
  rm -rf "$out/data-generate"
else
  echo "wrk not installed: no generate figure (just bench-deps)"
fi
echo
cat "$out/scale.md"

# The plot and table of every run so far (a run written with --out elsewhere is not among them).
runs=("$root"/target/scale/*/scale.json)
if [ -e "${runs[0]}" ]; then
  echo
  python3 "$root/benches/scale/plot.py" --out "$root/target/scale/scale.svg" "${runs[@]}" \
    | tee "$root/target/scale/scale-runs.md"
  echo "plot of ${#runs[@]} runs: $root/target/scale/scale.svg; table: $root/target/scale/scale-runs.md"
else
  echo "no runs under $root/target/scale: no plot"
fi
