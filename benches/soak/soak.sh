#!/usr/bin/env bash
# A soak: runs a release build of the server for a while at about half its measured capacity,
# with a steady mix of reads, validates, EC generates, deletes and junk requests, scheduled
# rotation every 10 s and an online backup every 5 minutes, and records every minute the
# errors, RSS, open file descriptors, metric series, audit rows, data-file size and p99 latency.
# It writes minutes.csv, minutes.md (the table), soak.svg (the plot) and summary.txt to the
# output directory, and exits non-zero on any error or an RSS drift after warm-up of 10 % or
# more (benches/soak/report.py).
# docs/reliability.md ("Soak") explains the mix, how the rate is held, and a 30-minute run.
#
#   bash benches/soak/soak.sh [--minutes N] [--backend aws-lc|openssl] [--out DIR]
#                             [--rate REQ_PER_S] [--connections N] [--backup-every MINUTES]
#
# Needs wrk (Debian package; `just bench-deps` installs it), curl and python3. Honours
# CARGO_TARGET_DIR. Run it under `nice` on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

minutes=30
backend=aws-lc
out=""
rate=""
connections=8
backup_every=5
usage() { sed -n '11,12p' "$0" | sed 's/^# *//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --backup-every) backup_every=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case $backend in aws-lc|openssl) ;; *) echo "--backend must be aws-lc or openssl" >&2; exit 2 ;; esac
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "--minutes must be a positive integer" >&2; exit 2; }
[[ $backup_every =~ ^[1-9][0-9]*$ ]] || { echo "--backup-every must be a positive integer" >&2; exit 2; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (just bench-deps installs wrk)" >&2; exit 1; }
done

# One binary with both backends; --backend chooses at run time.
echo "building the release binary (aws-lc and openssl)..." >&2
cargo build --release -q -p keysmith --features aws-lc,openssl
built=${CARGO_TARGET_DIR:-$root/target}/release/keysmith
out=${out:-$root/target/soak/$(date -u +%Y%m%dT%H%M%SZ)-$backend}
mkdir -p "$out/wrk" "$out/metrics"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
# A copy, so that a build in the same target directory during the soak changes nothing.
bin=$work/keysmith
cp "$built" "$bin"
data=$work/data
backups=$work/backups
mkdir -m 700 "$data" "$backups"
server=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
KEYSMITH_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export KEYSMITH_MASTER_KEY
key=$("$bin" api-key create --name soak --permission admin --data "$data" --backend "$backend" 2>/dev/null)

# Scheduled rotation of every connection and of the tenant's signing keys every 10 s, checked
# every second. Warnings only: an info line per change would fill the disk.
KEYSMITH_LOG=warn \
KEYSMITH_ROTATION_CONNECTION_PERIOD_SECONDS=10 \
KEYSMITH_ROTATION_TENANT_PERIOD_SECONDS=10 \
KEYSMITH_ROTATION_CHECK_INTERVAL_SECONDS=1 \
  "$bin" serve --bind "127.0.0.1:$port" --data "$data" --backend "$backend" >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -sf "$url/api/status" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "$url/api/status" >/dev/null || { echo "the server did not start; see $out/server.log" >&2; exit 1; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
auth=(-H "Authorization: $key")
bearer=(-H "Authorization: Bearer $key")
read_id=$(curl -sf -X POST "$url/api/key/generate" "${auth[@]}" \
  -d '{"key":{"algorithm":"ES256","name":"soak read target"}}' | json 'd["key"]["id"]')
token=$(curl -sf -X POST "$url/api/jwt/vend" "${auth[@]}" \
  -d "{\"claims\":{\"sub\":\"soak\"},\"keyId\":\"$read_id\",\"timeToLiveInSeconds\":$((minutes * 60 + 3600))}" | json 'd["token"]')
connection=$(curl -sf -X POST "$url/api/v2/connections" "${bearer[@]}" \
  -d '{"name":"soak","strategy":"samlp"}' | json 'd["id"]')
curl -sf -o /dev/null -X POST "$url/api/v2/connections/$connection/keys" "${bearer[@]}" -d '{"signing_alg":"ES256"}'
curl -sf -o /dev/null "$url/api/v2/keys/signing" "${bearer[@]}" # creates the tenant's keys

# One scrape and one audit search before the first minute: each route's series appear on its
# first answer, and the script's own requests should not look like growth in minute 2.
curl -sf -o /dev/null "${auth[@]}" "$url/metrics"
curl -sf -o /dev/null "${auth[@]}" "$url/api/system/audit-log/search?numberOfResults=1"

threads=$connections
ids_a=$work/ids-a
ids_b=$work/ids-b
: >"$ids_a"
# wrk with benches/soak/mix.lua for $1 seconds at $2 requests/s (0 = flat out); figures to $3.
drive() {
  KEY=$key READ_ID=$read_id TOKEN=$token RATE=$2 THREADS=$threads \
    IDS_IN=$ids_a IDS_OUT=$ids_b STATS_OUT=$3 \
    wrk -t"$threads" -c"$threads" -d"$1"s --timeout 5s -s benches/soak/mix.lua "$url" >/dev/null
  mv "$ids_b" "$ids_a"
}

if [ -z "$rate" ]; then
  drive 10 0 "$out/wrk/capacity.json"
  capacity=$(json 'int(d["requests"] * 1e6 / d["duration_us"])' <"$out/wrk/capacity.json")
  rate=$((capacity / 2))
  echo "capacity of the mix: $capacity req/s (10 s flat out, $threads connections); soaking at $rate req/s" >&2
else
  capacity=""
  echo "soaking at $rate req/s (given)" >&2
fi

scrape() { curl -sf "${auth[@]}" "$url/metrics"; }
audit_total() { curl -sf "${auth[@]}" "$url/api/system/audit-log/search?numberOfResults=1$1" | json 'd["total"]'; }

# An online backup through the real command, checked by restoring it into a scratch directory;
# only the newest two are kept.
backup() {
  local n=$1 file=$backups/backup-$1.redb started ended status=ok restored
  started=$(date +%s.%N)
  if "$bin" backup "$file" --url "$url" --api-key "$key" >/dev/null 2>>"$out/backup.log"; then
    ended=$(date +%s.%N)
    if restored=$("$bin" restore "$file" --data "$work/restore-$n" --backend "$backend" 2>>"$out/backup.log"); then
      restored=$(echo "$restored" | awk '{print $2}')
    else
      status=restore-failed restored=""
    fi
    rm -rf "$work/restore-$n"
  else
    ended=$(date +%s.%N) status=failed restored=""
  fi
  local size=0
  [ -f "$file" ] && size=$(stat -c %s "$file")
  echo "$n,$status,$(python3 -c "print(round($ended-$started,2))"),$size,$restored" >>"$out/backups.csv"
  # shellcheck disable=SC2012 # names are ours: backup-<minute>.redb
  ls -t "$backups"/backup-*.redb 2>/dev/null | tail -n +3 | xargs -r rm -f
}
echo "minute,status,seconds,bytes,keys" >"$out/backups.csv"

cat >"$out/run.txt" <<EOF
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
host_cores=$(nproc)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml || echo -dirty)
binary_sha256=$(sha256sum "$bin" | cut -c1-16)
backend=$backend
minutes=$minutes
connections=$connections
capacity=$capacity
rate=$rate
backup_every=$backup_every
EOF

echo "minute,requests,rate,p50_ms,p99_ms,max_ms,errors,server_5xx,missed,rss_mb,fds,threads,series,audit_rows,data_mb,keys,rotations,load" >"$out/minutes.csv"
prev_5xx=0
failed=0
backup_job=""
for minute in $(seq 1 "$minutes"); do
  if [ $((minute % backup_every)) -eq 0 ]; then
    (sleep 30; backup "$minute") &
    backup_job=$!
  fi
  drive 60 "$rate" "$out/wrk/minute-$minute.json"
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server died in minute $minute; see $out/server.log" >&2
    failed=1
    break
  fi
  # The audit searches first, so that the scrape already counts their series in minute 1.
  audit_rows=$(audit_total "") || audit_rows=""
  rotations=$(audit_total "&action=ring.rotate") || rotations=""
  metrics=$(scrape) || metrics=""
  printf '%s\n' "$metrics" >"$out/metrics/minute-$minute.txt"
  series=$(grep -cv -e '^#' -e '^$' <<<"$metrics" || true)
  server_5xx=$(awk '/^keysmith_http_request_duration_seconds_count/ && /status="5/ {s += $NF} END {print s + 0}' <<<"$metrics")
  keys=$(awk '/^keysmith_keys\{/ {s += $NF} END {print s + 0}' <<<"$metrics")
  rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status")
  fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l)
  server_threads=$(awk '/^Threads/ {print $2}' "/proc/$server/status")
  data_mb=$(python3 -c "import os; print(round(os.path.getsize('$data/keysmith.redb') / 1048576, 1))")
  python3 - "$out/wrk/minute-$minute.json" "$minute" "$((server_5xx - prev_5xx))" "$rss" "$fds" "$server_threads" "$series" \
    "$audit_rows" "$data_mb" "$keys" "$rotations" "$(cut -d' ' -f1 /proc/loadavg)" >>"$out/minutes.csv" <<'EOF'
import json, sys
w = json.load(open(sys.argv[1]))
minute, fivexx, rss, fds, threads, series, audit, data_mb, keys, rotations, load = sys.argv[2:]
errors = sum(w["bad"].values()) + w["socket_errors"] + w["timeouts"]
rate = w["requests"] * 1e6 / w["duration_us"]
print(",".join(str(v) for v in [minute, w["requests"], round(rate), round(w["p50_us"] / 1000, 2),
    round(w["p99_us"] / 1000, 2), round(w["max_us"] / 1000, 1), errors, fivexx, w["missed"], rss,
    fds, threads, series, audit, data_mb, keys, rotations, load]))
EOF
  prev_5xx=$server_5xx
  tail -n 1 "$out/minutes.csv" >&2
done
[ -z "$backup_job" ] || wait "$backup_job" || true

kill -TERM "$server"
server_status=0
wait "$server" || server_status=$?
server=""
{
  echo "server_exit=$server_status"
  echo "server_log_errors=$(grep -c -e ' ERROR ' -e 'panicked' "$out/server.log" || true)"
  echo "server_log_warnings=$(grep -c ' WARN ' "$out/server.log" || true)"
} >>"$out/run.txt"

python3 benches/soak/report.py "$out" || failed=1
echo "results in $out" >&2
exit "$failed"
