#!/usr/bin/env python3
"""The soak's report: reads what benches/soak/soak.sh wrote to DIR (minutes.csv, backups.csv,
run.txt, wrk/*.json) and writes minutes.md (the table), soak.svg (one small panel per figure,
drawn here with the standard library only) and summary.txt. Exits 1 when the soak failed: any
unexpected status or socket error, any 5xx, a failed backup, a server that died or did not stop
cleanly, or an RSS drift after warm-up of 10 % or more (see rss_drift).

    python3 benches/soak/report.py DIR
"""

import csv
import json
import sys
from pathlib import Path

RSS_DRIFT_LIMIT = 10.0

# (column, title, unit) of each panel, in reading order.
PANELS = [
    ("rate", "requests/s", ""),
    ("p99_ms", "p99 latency", "ms"),
    ("errors", "errors (+ server 5xx)", ""),
    ("rss_mb", "RSS", "MB"),
    ("fds", "open file descriptors", ""),
    ("series", "metric series", ""),
    ("audit_rows", "audit rows", ""),
    ("data_mb", "data file", "MB"),
]

COLUMNS = [
    ("minute", "min"),
    ("requests", "requests"),
    ("rate", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("errors", "errors"),
    ("server_5xx", "5xx"),
    ("missed", "missed slots"),
    ("rss_mb", "RSS MB"),
    ("fds", "fds"),
    ("threads", "threads"),
    ("series", "series"),
    ("audit_rows", "audit rows"),
    ("data_mb", "data MB"),
    ("keys", "keys"),
    ("rotations", "rotations"),
    ("load", "load"),
]


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() else value


def rss_drift(rss):
    """The RSS drift after warm-up, in percent: the mean of the last `window` minutes against the
    mean of the `window` minutes right after the warm-up (the first third of the run, at least
    one minute; none in a run of two minutes). In the warm-up redb's page cache fills up to `store_cache_bytes` and the
    allocator reaches its working size: growth there is not drift. The window (up to five
    minutes) evens out the allocator's minute-to-minute swings."""
    n = len(rss)
    if n < 2:
        return None, 0, 0
    warmup = max(1, n // 3) if n >= 3 else 0
    window = max(1, min(5, (n - warmup) // 2))
    reference = sum(rss[warmup:warmup + window]) / window
    last = sum(rss[n - window:]) / window
    return (last - reference) / reference * 100, window, warmup


def read_run(directory):
    run = {}
    path = directory / "run.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            run[name] = value
    return run


def svg_plot(rows, title):
    """Eight small panels, four by two: a polyline per figure over the minutes."""
    width, height = 300, 150
    left, right, top, bottom = 48, 12, 26, 26
    cols = 4
    panels_high = (len(PANELS) + cols - 1) // cols
    total_w, total_h = cols * width, panels_high * height + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{total_w}" height="{total_h}" fill="white"/>',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    minutes = [number(r["minute"]) for r in rows]
    x_max = max(minutes) if minutes else 1
    for index, (column, name, unit) in enumerate(PANELS):
        ox = (index % cols) * width
        oy = 30 + (index // cols) * height
        values = [number(r[column]) for r in rows]
        if column == "errors":
            values = [
                (number(r["errors"]) or 0) + (number(r["server_5xx"]) or 0) for r in rows
            ]
        points = [(m, v) for m, v in zip(minutes, values) if v is not None]
        y_max = max([v for _, v in points] + [0])
        y_max = y_max * 1.15 if y_max > 0 else 1.15
        plot_w = width - left - right
        plot_h = height - top - bottom

        def sx(m, ox=ox, plot_w=plot_w):
            return ox + left + (plot_w * (m - 1) / (x_max - 1) if x_max > 1 else plot_w / 2)

        def sy(v, oy=oy, plot_h=plot_h, y_max=y_max):
            return oy + top + plot_h - plot_h * v / y_max

        label = f"{name} ({unit})" if unit else name
        last = points[-1][1] if points else "n/a"
        parts.append(f'<text x="{ox + left}" y="{oy + 16}" font-weight="bold">{escape(label)}'
                     f'<tspan font-weight="normal" fill="#555"> last {last}</tspan></text>')
        parts.append(f'<rect x="{ox + left}" y="{oy + top}" width="{plot_w}" height="{plot_h}" '
                     f'fill="none" stroke="#bbb"/>')
        for fraction in (0, 0.5, 1):
            v = y_max / 1.15 * fraction if fraction else 0
            y = sy(v)
            parts.append(f'<text x="{ox + left - 4}" y="{y + 4:.1f}" text-anchor="end" '
                         f'fill="#555">{format_tick(v)}</text>')
            if fraction:
                parts.append(f'<line x1="{ox + left}" y1="{y:.1f}" x2="{ox + left + plot_w}" '
                             f'y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{ox + left}" y="{oy + height - 8}" fill="#555">1</text>')
        parts.append(f'<text x="{ox + left + plot_w}" y="{oy + height - 8}" text-anchor="end" '
                     f'fill="#555">minute {x_max}</text>')
        if points:
            line = " ".join(f"{sx(m):.1f},{sy(v):.1f}" for m, v in points)
            colour = "#c0392b" if column == "errors" else "#1f5fa8"
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                         f'stroke-width="1.6"/>')
            if len(points) == 1:
                m, v = points[0]
                parts.append(f'<circle cx="{sx(m):.1f}" cy="{sy(v):.1f}" r="2.5" '
                             f'fill="{colour}"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def format_tick(v):
    if v >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.1f}"


def escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    directory = Path(sys.argv[1])
    with open(directory / "minutes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    backups = []
    if (directory / "backups.csv").exists():
        with open(directory / "backups.csv", newline="") as f:
            backups = list(csv.DictReader(f))
    run = read_run(directory)

    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---:" for _ in COLUMNS) + "|"
    table = [header, rule]
    for r in rows:
        table.append("| " + " | ".join(str(r[c]) for c, _ in COLUMNS) + " |")
    (directory / "minutes.md").write_text("\n".join(table) + "\n")

    title = (f"Keysmith soak: {run.get('backend', '?')}, {len(rows)} min at "
             f"{run.get('rate', '?')} req/s, {run.get('date', '')}")
    (directory / "soak.svg").write_text(svg_plot(rows, title))

    def column(name):
        return [v for v in (number(r[name]) for r in rows) if v is not None]

    requests = sum(column("requests"))
    errors = sum(column("errors"))
    fivexx = sum(column("server_5xx"))
    missed = sum(column("missed"))
    rss = column("rss_mb")
    raw_drift = (rss[-1] - rss[0]) / rss[0] * 100 if rss and rss[0] else None
    drift, window, warmup = rss_drift(rss)
    fds, series, p99 = column("fds"), column("series"), column("p99_ms")
    audit, data_mb, rate = column("audit_rows"), column("data_mb"), column("rate")
    backup_failures = [b for b in backups if b["status"] != "ok"]
    statuses = {}
    for path in sorted((directory / "wrk").glob("minute-*.json")):
        for status, count in json.loads(path.read_text())["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count

    failures = []
    if errors:
        failures.append(f"{errors} unexpected responses or socket errors")
    if fivexx:
        failures.append(f"{fivexx} responses with a 5xx status")
    if drift is None:
        failures.append("too few minutes for an RSS drift")
    elif abs(drift) >= RSS_DRIFT_LIMIT:
        failures.append(f"RSS drift {drift:+.1f} % after warm-up (limit {RSS_DRIFT_LIMIT:.0f} %)")
    if backup_failures:
        failures.append(f"{len(backup_failures)} failed backups")
    if run.get("server_exit", "0") != "0":
        failures.append(f"the server exited with status {run.get('server_exit')}")
    if run.get("server_log_errors", "0") != "0":
        failures.append(f"{run.get('server_log_errors')} ERROR or panic lines in server.log")
    expected = number(run.get("minutes"))
    if expected and len(rows) < expected:
        failures.append(f"only {len(rows)} of {expected} minutes ran")

    def span(values, unit=""):
        return f"{min(values)}–{max(values)}{unit}" if values else "n/a"

    lines = [
        f"soak: {run.get('backend')} backend, {len(rows)} min, commit {run.get('commit')}, "
        f"{run.get('date')}, {run.get('host_cores')} cores, load at start {run.get('load_at_start')}",
        f"rate: {run.get('rate')} req/s asked"
        + (f" (half of {run.get('capacity')} req/s measured)" if run.get("capacity") else "")
        + f", {span(rate)} req/s held per minute, {missed} missed slots, "
          f"{run.get('connections')} connections",
        f"requests: {requests:,}; unexpected: {errors}; 5xx: {fivexx}",
        "statuses: " + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items())),
        (f"RSS: {rss[0]} MB in minute 1, {rss[-1]} MB in the last minute ({raw_drift:+.1f} %); "
         f"drift after the {warmup}-minute warm-up: {drift:+.1f} % (mean of minutes "
         f"{warmup + 1}–{warmup + window} against the last {window})")
        if drift is not None else "RSS: too few minutes for a drift",
        f"open fds: {span(fds)}; metric series: {span(series)}",
        f"p99 per minute: {span(p99, ' ms')}",
        f"audit rows: {span(audit)}; data file: {span(data_mb, ' MB')}",
        f"backups: {len(backups)}, failed {len(backup_failures)}"
        + (f" ({', '.join(b['seconds'] + ' s' for b in backups)})" if backups else ""),
        f"server: exit {run.get('server_exit')}, {run.get('server_log_errors')} error lines, "
        f"{run.get('server_log_warnings')} warnings",
        "result: " + ("FAIL: " + "; ".join(failures) if failures else "pass"),
    ]
    (directory / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
