#!/usr/bin/env python3
"""Measures a running Keysmith filled by scale.sh; writes scale.md and scale.json to --out."""
import argparse
import http.client
import json
import statistics
import time
import urllib.parse


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Client:
    def __init__(self, base, api_key):
        url = urllib.parse.urlparse(base)
        self.host, self.port, self.api_key = url.hostname, url.port, api_key
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)

    def reconnect(self):
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)

    def call(self, method, path, body=None, auth=True):
        headers = {"Authorization": self.api_key} if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000


def timed(client, method, path, body=None, runs=5, auth=True):
    """(median ms, last status, last body size) over `runs` calls."""
    times, status, size = [], None, 0
    for _ in range(runs):
        status, data, ms = client.call(method, path, body, auth)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {data[:200]!r}")
        times.append(ms)
        size = len(data)
    return statistics.median(times), status, size


def main():
    parser = argparse.ArgumentParser()
    for name in ("base", "api-key", "backend", "out"):
        parser.add_argument(f"--{name}", required=True)
    for name in ("pid", "keys", "file-bytes"):
        parser.add_argument(f"--{name}", type=int, required=True)
    parser.add_argument("--started", type=float, required=True)
    parser.add_argument("--fill-seconds", type=float, required=True)
    parser.add_argument("--compact-seconds", type=float, default=0)
    parser.add_argument("--disk-bytes", type=int, default=0)
    args = parser.parse_args()

    # Startup: from spawning the process to the first 200 from /api/status.
    deadline = time.time() + 600
    while True:
        try:
            client = Client(args.base, args.api_key)
            status, _, _ = client.call("GET", "/api/status", auth=False)
            if status == 200:
                break
        except OSError:
            pass
        # An exited server stays a zombie until the script that started it reaps it.
        try:
            with open(f"/proc/{args.pid}/stat") as stat:
                exited = stat.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            exited = True
        if exited:
            raise SystemExit("the server exited before answering /api/status (see server.log)")
        if time.time() > deadline:
            raise SystemExit("the server never answered 200 on /api/status")
        time.sleep(0.02)
    startup_s = time.time() - args.started
    rss_start = rss_mib(args.pid)

    # The first JWKS and /metrics after start build what later calls reuse: both are shown.
    # Reading a large JWKS here takes longer than the server's keep-alive (5 s) after it has
    # written the last byte, so the call after one goes on a new connection.
    jwks_first_ms, _, _ = timed(client, "GET", "/.well-known/jwks.json", runs=1, auth=False)
    client.reconnect()
    metrics_first_ms, _, _ = timed(client, "GET", "/metrics", runs=1)
    jwks_times = []
    for _ in range(3):
        ms, _, jwks_bytes = timed(client, "GET", "/.well-known/jwks.json", runs=1, auth=False)
        jwks_times.append(ms)
        client.reconnect()
    jwks_ms = statistics.median(jwks_times)
    metrics_ms, _, _ = timed(client, "GET", "/metrics", runs=3)
    rss_after = rss_mib(args.pid)
    # Keys are named "s #1" … "s #N": "s #7*" matches 11,111 of 100,000 (and 111,111 of a
    # million); smaller fills page through "s #1*".
    search_path = "/api/key/search?name=s%20%237*&numberOfResults=25&startRow=5000"
    if args.keys < 80000:
        search_path = "/api/key/search?name=s%20%231*&numberOfResults=25&startRow=" + str(
            min(5000, max(args.keys // 20, 0)))
    # The first search counts its matches up to 10,000 for its total (docs/storage.md, "Bounded
    # totals"); the next page, then the same first page with accurateTotal, which counts every
    # match (and keeps the count for later pages of the same filters until the next commit).
    search_first_ms, _, _ = timed(client, "GET", search_path, runs=1)
    base, start = search_path.rsplit("startRow=", 1)
    next_page = f"{base}startRow={int(start) + 25}"
    search_ms, _, _ = timed(client, "GET", next_page)
    accurate_ms, _, _ = timed(client, "GET", search_path + "&accurateTotal=true", runs=1)
    deep = max(args.keys - 25, 0)
    last_page_ms, _, _ = timed(
        client, "POST", "/api/key/search",
        {"search": {"startRow": deep, "numberOfResults": 25}})
    type_ms, _, _ = timed(
        client, "POST", "/api/key/search",
        {"search": {"type": "EC", "startRow": 1000, "numberOfResults": 25}})
    _, body, _ = client.call("POST", "/api/key/search",
                             {"search": {"startRow": 0, "numberOfResults": 1}})
    first = json.loads(body)
    if first["total"] != args.keys:
        raise SystemExit(f"the store holds {first['total']} keys, not {args.keys}")
    key_id = first["keys"][0]["id"]
    get_ms = statistics.median(
        client.call("GET", f"/api/key/{key_id}")[2] for _ in range(200))
    # One relying party's keys among all the others: three keys generated with an issuer of
    # their own, its JWKS (first, built from the issuer index; then kept), then the keys
    # deleted again so that a later --reuse finds the store as filled.
    issued = []
    for n in range(3):
        status, body, _ = client.call("POST", "/api/key/generate", {
            "key": {"algorithm": "ES256", "name": f"scale issuer key {n}", "issuer": "rp.example"}})
        if status != 200:
            raise RuntimeError(f"generate with an issuer: {status} {body[:200]!r}")
        issued.append(json.loads(body)["key"]["id"])
    issuer_path = "/.well-known/jwks/issuers/rp.example"
    issuer_first_ms, _, issuer_bytes = timed(client, "GET", issuer_path, runs=1, auth=False)
    issuer_ms, _, _ = timed(client, "GET", issuer_path, runs=5, auth=False)
    _, body, _ = client.call("GET", issuer_path, auth=False)
    if len(json.loads(body)["keys"]) != 3:
        raise SystemExit(f"the issuer's JWKS holds {body[:200]!r}, not its three keys")
    # The same keys found by the search's issuer filter (the issuer index, then sorted by name).
    issuer_search_path = "/api/key/search?issuer=rp.example"
    issuer_search_ms, _, _ = timed(client, "GET", issuer_search_path, runs=5)
    _, body, _ = client.call("GET", issuer_search_path)
    if json.loads(body)["total"] != 3:
        raise SystemExit(f"the search by issuer found {body[:200]!r}, not its three keys")
    # The default issuer, which every filled key has: a page deep in name order, first and then
    # the next page (the issuer's count gives the total; each entry is checked on the issuer index).
    deep_issuer = min(5000, args.keys // 20)
    default_issuer_path = f"/api/key/search?issuer=keysmith&numberOfResults=25&startRow={deep_issuer}"
    default_issuer_first_ms, _, _ = timed(client, "GET", default_issuer_path, runs=1)
    default_issuer_ms, _, _ = timed(
        client, "GET", default_issuer_path.replace(f"startRow={deep_issuer}", f"startRow={deep_issuer + 25}"))
    _, body, _ = client.call("GET", default_issuer_path + "&accurateTotal=true")
    if json.loads(body)["total"] != args.keys:
        raise SystemExit(f"the default issuer's search found {body[:200]!r}, not {args.keys} keys")
    for key_id_issued in issued:
        status, body, _ = client.call("DELETE", f"/api/key/{key_id_issued}")
        if status != 200:
            raise RuntimeError(f"delete: {status} {body[:200]!r}")
    rss_end = rss_mib(args.pid)

    figures = {
        "backend": args.backend,
        "keys": args.keys,
        "fill_seconds": args.fill_seconds,
        "fill_keys_per_s": round(args.keys / args.fill_seconds) if args.fill_seconds else None,
        "startup_s": round(startup_s, 2),
        "rss_after_start_mib": round(rss_start),
        "rss_after_jwks_and_metrics_mib": round(rss_after),
        "rss_at_end_mib": round(rss_end),
        "search_name_prefix_first_ms": round(search_first_ms, 1),
        "search_name_prefix_ms": round(search_ms, 1),
        "search_name_prefix_accurate_ms": round(accurate_ms, 1),
        "search_last_page_ms": round(last_page_ms, 1),
        "search_type_ms": round(type_ms, 1),
        "metrics_first_ms": round(metrics_first_ms, 1),
        "metrics_ms": round(metrics_ms, 1),
        "jwks_first_ms": round(jwks_first_ms, 1),
        "jwks_ms": round(jwks_ms, 1),
        "jwks_bytes": jwks_bytes,
        "get_key_median_ms": round(get_ms, 2),
        "issuer_jwks_first_ms": round(issuer_first_ms, 2),
        "issuer_jwks_ms": round(issuer_ms, 2),
        "issuer_jwks_bytes": issuer_bytes,
        "search_issuer_ms": round(issuer_search_ms, 2),
        "search_default_issuer_first_ms": round(default_issuer_first_ms, 1),
        "search_default_issuer_ms": round(default_issuer_ms, 1),
        "data_file_bytes": args.file_bytes,
        "bytes_per_key": round(args.file_bytes / args.keys),
        "compact_seconds": args.compact_seconds,
        "disk_bytes_per_key_before_compaction": round(args.disk_bytes / args.keys)
        if args.disk_bytes else None,
    }
    rows = [
        ("offline bulk generation (`--no-compact`)", f"{figures['fill_keys_per_s']} keys/s"
         if figures["fill_keys_per_s"] else "(reused data)"),
        ("then `keysmith compact`", f"{figures['compact_seconds']} s"
         if figures["fill_keys_per_s"] else "(reused data)"),
        ("startup to a 200 from `/api/status`", f"{figures['startup_s']} s"),
        ("RSS after start", f"{figures['rss_after_start_mib']} MiB"),
        ("RSS after one JWKS and one `/metrics`", f"{figures['rss_after_jwks_and_metrics_mib']} MiB"),
        (f"search page `{search_path.split('?')[1]}` (first, then the next page, median of 5)",
         f"{figures['search_name_prefix_first_ms']} ms, then {figures['search_name_prefix_ms']} ms"),
        ("the same first page with `accurateTotal=true` (counts every match)",
         f"{figures['search_name_prefix_accurate_ms']} ms"),
        (f"search, last page (`startRow={deep}`)", f"{figures['search_last_page_ms']} ms"),
        ("search by type (`EC`, `startRow=1000`)", f"{figures['search_type_ms']} ms"),
        ("`/metrics` scrape (first, then median of 3)",
         f"{figures['metrics_first_ms']} ms, then {figures['metrics_ms']} ms"),
        ("JWKS (first, then median of 3)", f"{figures['jwks_bytes'] / 1e6:.1f} MB body, "
         f"{figures['jwks_first_ms']} ms, then {figures['jwks_ms']} ms"),
        ("`GET /api/key/{id}` (median of 200, one connection)", f"{figures['get_key_median_ms']} ms"),
        ("one issuer's JWKS, 3 keys (`/.well-known/jwks/issuers/rp.example`: first, then median of 5)",
         f"{figures['issuer_jwks_bytes']:,} B body, {figures['issuer_jwks_first_ms']} ms, "
         f"then {figures['issuer_jwks_ms']} ms"),
        ("search by issuer, 3 keys (`issuer=rp.example`, median of 5)", f"{figures['search_issuer_ms']} ms"),
        (f"search by the default issuer, every key (`issuer=keysmith&startRow={deep_issuer}`: first, "
         "then the next page, median of 5)",
         f"{figures['search_default_issuer_first_ms']} ms, then {figures['search_default_issuer_ms']} ms"),
        ("data file per key (after the compaction)", f"{figures['bytes_per_key']} bytes"),
        ("disk blocks per key before the compaction", f"{figures['disk_bytes_per_key_before_compaction']} bytes"
         if figures["disk_bytes_per_key_before_compaction"] else "(reused data)"),
        ("RSS at the end", f"{figures['rss_at_end_mib']} MiB"),
    ]
    table = [f"| figure at {args.keys:,} keys ({args.backend}) | measured |", "|---|---|"]
    table += [f"| {name} | {value} |" for name, value in rows]
    with open(f"{args.out}/scale.md", "w") as md:
        md.write("\n".join(table) + "\n")
    with open(f"{args.out}/scale.json", "w") as js:
        json.dump(figures, js, indent=2)


main()
