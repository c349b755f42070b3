#!/usr/bin/env python3
"""Plots scale benchmark runs against the number of keys.

    python3 benches/scale/plot.py --out FILE.svg RUN.json [RUN.json ...]

Reads the scale.json of each run (written by measure.py), groups the runs by backend and writes
one self-contained SVG with four log-log panels: startup to a 200, RSS after JWKS and /metrics
(RSS after start dashed), the search pages, and bytes per key on disk, each with the issue's goal
as a grey line. Prints a markdown table with one row per run to stdout. scale.sh calls it last
with every target/scale/*/scale.json, so running it for 10,000, 100,000 and --million keys builds
the curve in target/scale/scale.svg (docs/scale.svg is a committed copy). Missing or null figures
(fill_keys_per_s of reused data) are skipped. Standard library only; the same runs give the same
bytes.
"""
import argparse
import json
import math
import os
import sys
import textwrap
from xml.sax.saxutils import escape

WIDTH = 900
PANEL_W = WIDTH // 2
PLOT_TOP = 30  # panel title above
PLOT_H = 190
PLOT_LEFT = 62  # y tick labels
PLOT_RIGHT = 22
PAD_PX = 10  # keeps points on the range's ends off the frame
LEGEND_ROW = 15
CHAR_PX = 6.0  # rough width of one 11 px sans-serif character

BACKEND_COLOURS = {"aws-lc": "#1f6fb4", "openssl": "#d0402b"}
OTHER_COLOURS = ["#2a9d3a", "#8e44ad", "#c98a00", "#555555"]
INK = "#222222"
SERIES_INK = "#444444"
GOAL_INK = "#9a9a9a"

# (title, goal, goal label, [(field, legend label, dashed, marker)])
PANELS = [
    ("startup to a 200 (s)", 1, "goal 1 s",
     [("startup_s", "startup to a 200", False, "circle")]),
    ("RSS after JWKS and /metrics (MiB)", 250, "goal 250 MiB",
     [("rss_after_jwks_and_metrics_mib", "after JWKS and /metrics", False, "circle"),
      ("rss_after_start_mib", "after start", True, "ring")]),
    ("search page (ms)", 5, "goal 5 ms",
     [("search_name_prefix_first_ms", "name prefix, first page", True, "diamond"),
      ("search_name_prefix_ms", "name prefix, next page", False, "circle"),
      ("search_type_ms", "by type", False, "square"),
      ("search_last_page_ms", "last page", True, "ring")]),
    ("bytes per key on disk", 2048, "goal 2048",
     [("bytes_per_key", "bytes per key", False, "circle")]),
]

TABLE_COLUMNS = [
    ("backend", None), ("keys", None), ("startup s", "startup_s"),
    ("RSS after start MiB", "rss_after_start_mib"),
    ("RSS after JWKS MiB", "rss_after_jwks_and_metrics_mib"),
    ("name-prefix first ms", "search_name_prefix_first_ms"),
    ("name-prefix next ms", "search_name_prefix_ms"), ("type search ms", "search_type_ms"),
    ("last page ms", "search_last_page_ms"), ("JWKS first/then ms", None),
    ("bytes per key", "bytes_per_key"), ("fill keys/s", "fill_keys_per_s"),
]


def fail(message):
    sys.exit(f"plot.py: {message}")


def number(run, field):
    """The figure as a float, or None when it is missing, null or not a finite number."""
    value = run.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def load(paths):
    runs = []
    for path in sorted(paths):
        try:
            with open(path, encoding="utf-8") as f:
                run = json.load(f)
        except OSError as error:
            fail(f"cannot read {path}: {error.strerror or error}")
        except (ValueError, UnicodeDecodeError) as error:
            fail(f"{path} is not JSON ({error})")
        if not isinstance(run, dict):
            fail(f"{path} is not a scale.json run (not a JSON object)")
        keys = run.get("keys")
        if not isinstance(run.get("backend"), str) or isinstance(keys, bool) \
                or not isinstance(keys, int) or keys < 1:
            fail(f"{path} is not a scale.json run (needs \"backend\" and a positive \"keys\")")
        runs.append((run["backend"], keys, path, run))
    runs.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(backend, keys, run) for backend, keys, _, run in runs]


def colours(backends):
    named = {b: c for b, c in BACKEND_COLOURS.items() if b in backends}
    others = [b for b in backends if b not in BACKEND_COLOURS]
    for i, backend in enumerate(others):
        named[backend] = OTHER_COLOURS[i % len(OTHER_COLOURS)]
    return named


def f1(value):
    return f"{value:.1f}"


def log_range(values):
    """(low, high) for a log axis: whole decades around the values, or a factor of 3 each side
    of a single value."""
    low, high = min(values), max(values)
    if low == high:
        return low / 3, high * 3
    return 10 ** math.floor(math.log10(low) + 1e-9), 10 ** math.ceil(math.log10(high) - 1e-9)


def decades(low, high):
    """Powers of ten in [low, high] as exponents, every k-th one when there are many."""
    first = math.ceil(math.log10(low) - 1e-9)
    last = math.floor(math.log10(high) + 1e-9)
    exponents = list(range(first, last + 1))
    step = max(1, math.ceil(len(exponents) / 7))
    return exponents[::step]


def minor_ticks(low, high):
    ticks = []
    for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        for m in range(2, 10):
            v = m * 10.0 ** e
            if low < v < high:
                ticks.append(v)
    return ticks


def keys_label(value):
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def plain_label(exponent):
    return str(10 ** exponent) if exponent >= 0 else f"{10.0 ** exponent:.{-exponent}f}"


def figure_text(run, field):
    """The figure as scale.json has it (an integer stays one), or "-" when it is missing."""
    if number(run, field) is None:
        return "-"
    return f"{run[field]:,}"


class Svg:
    def __init__(self):
        self.parts = []

    def add(self, text):
        self.parts.append(text)

    def text(self, x, y, content, size=11, anchor="start", weight=None, fill=INK):
        bold = f' font-weight="{weight}"' if weight else ""
        self.add(f'<text x="{f1(x)}" y="{f1(y)}" font-size="{size}" text-anchor="{anchor}"'
                 f'{bold} fill="{fill}">{escape(content)}</text>')

    def line(self, x1, y1, x2, y2, stroke, width=1.0, dash=None):
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{f1(x1)}" y1="{f1(y1)}" x2="{f1(x2)}" y2="{f1(y2)}" '
                 f'stroke="{stroke}" stroke-width="{width}"{dashed}/>')

    def marker(self, kind, x, y, colour, tooltip=None):
        title = f"<title>{escape(tooltip)}</title>" if tooltip else ""
        if kind == "square":
            shape = (f'<rect x="{f1(x - 3.2)}" y="{f1(y - 3.2)}" width="6.4" height="6.4" '
                     f'fill="{colour}"')
        elif kind == "diamond":
            points = " ".join(f"{f1(px)},{f1(py)}" for px, py in
                              ((x, y - 4.2), (x + 4.2, y), (x, y + 4.2), (x - 4.2, y)))
            shape = f'<polygon points="{points}" fill="{colour}"'
        elif kind == "ring":
            shape = (f'<circle cx="{f1(x)}" cy="{f1(y)}" r="3.2" fill="#ffffff" '
                     f'stroke="{colour}" stroke-width="1.5"')
        else:
            shape = f'<circle cx="{f1(x)}" cy="{f1(y)}" r="3.4" fill="{colour}"'
        self.add(shape + (f">{title}</{shape.split()[0][1:]}>" if title else "/>"))


def legend_entries(series, backends, colour_of):
    entries = [(label, SERIES_INK, dashed, marker) for _, label, dashed, marker in series]
    entries += [(backend, colour_of[backend], False, None) for backend in backends]
    return entries


def legend_layout(entries, width):
    """[(row, x offset, entry)] flowing left to right, wrapping at width; the backends' colours
    start a row of their own."""
    placed, row, x = [], 0, 0.0
    for i, entry in enumerate(entries):
        w = 24 + CHAR_PX * len(entry[0]) + 12
        first_backend = i > 0 and entry[3] is None and entries[i - 1][3] is not None
        if x > 0 and (x + w > width or first_backend):
            row, x = row + 1, 0.0
        placed.append((row, x, entry))
        x += w
    return placed


def draw_panel(svg, px, py, panel, runs, backends, colour_of, x_range):
    title, goal, goal_label, series = panel
    left, right = px + PLOT_LEFT, px + PANEL_W - PLOT_RIGHT
    top, bottom = py + PLOT_TOP, py + PLOT_TOP + PLOT_H

    # Per backend and series, the points in key order; figures that cannot go on a log axis
    # (missing, null, zero) are left out.
    lines = []
    values = [float(goal)]
    for backend in backends:
        for field, label, dashed, marker in series:
            points = []
            for run_backend, keys, run in runs:
                value = number(run, field)
                if run_backend == backend and value is not None and value > 0:
                    points.append((keys, value, figure_text(run, field)))
            if points:
                lines.append((backend, label, dashed, marker, points))
                values += [v for _, v, _ in points]
    y_low, y_high = log_range(values)
    x_low, x_high = x_range

    def sx(v):
        t = (math.log10(v) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low))
        return left + PAD_PX + t * (right - left - 2 * PAD_PX)

    def sy(v):
        t = (math.log10(v) - math.log10(y_low)) / (math.log10(y_high) - math.log10(y_low))
        return bottom - PAD_PX - t * (bottom - top - 2 * PAD_PX)

    svg.add('<g class="panel">')
    svg.text(px + PLOT_LEFT, py + 18, title, size=13, weight="bold")
    for v in minor_ticks(y_low, y_high):
        svg.line(left, sy(v), right, sy(v), "#f0f0f0")
    for v in minor_ticks(x_low, x_high):
        svg.line(sx(v), top, sx(v), bottom, "#f0f0f0")
    y_ticks = decades(y_low, y_high)
    for e in y_ticks:
        y = sy(10.0 ** e)
        svg.line(left, y, right, y, "#dddddd")
        svg.line(left - 4, y, left, y, INK)
        svg.text(left - 7, y + 4, plain_label(e), size=10, anchor="end")
    x_ticks = [(10.0 ** e, keys_label(10.0 ** e)) for e in decades(x_low, x_high)]
    if not x_ticks:  # a single run between two powers of ten: label it instead
        x_ticks = [(math.sqrt(x_low * x_high), keys_label(math.sqrt(x_low * x_high)))]
    for v, label in x_ticks:
        x = sx(v)
        svg.line(x, top, x, bottom, "#dddddd")
        svg.line(x, bottom, x, bottom + 4, INK)
        svg.text(x, bottom + 15, label, size=10, anchor="middle")
    svg.add(f'<rect x="{f1(left)}" y="{f1(top)}" width="{f1(right - left)}" '
            f'height="{f1(bottom - top)}" fill="none" stroke="#888888" stroke-width="1"/>')
    svg.text((left + right) / 2, bottom + 29, "keys (log scale)", size=10, anchor="middle",
             fill="#555555")

    gy = sy(float(goal))
    svg.line(left, gy, right, gy, GOAL_INK, width=0.8)
    svg.text(right - 3, gy - 3, goal_label, size=9, anchor="end", fill="#808080")

    for backend, label, dashed, marker, points in lines:
        colour = colour_of[backend]
        coords = " ".join(f"{f1(sx(k))},{f1(sy(v))}" for k, v, _ in points)
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        if len(points) > 1:
            svg.add(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                    f'stroke-width="1.6"{dash}/>')
        for k, v, shown in points:
            svg.marker(marker, sx(k), sy(v), colour, f"{backend}, {k:,} keys: {label} {shown}")
    if not lines:
        svg.text((left + right) / 2, top + 24, "no data", size=11, anchor="middle",
                 fill="#808080")

    legend_top = bottom + 46
    entries = legend_entries(series, [b for b in backends if any(l[0] == b for l in lines)],
                             colour_of)
    for row, dx, (label, colour, dashed, marker) in legend_layout(entries, right - left):
        x, y = left + dx, legend_top + row * LEGEND_ROW
        svg.line(x, y - 4, x + 18, y - 4, colour, width=1.6, dash="4,2" if dashed else None)
        if marker:
            svg.marker(marker, x + 9, y - 4, colour)
        svg.text(x + 24, y, label, size=11)
    svg.add("</g>")


def render(runs):
    backends = sorted({backend for backend, _, _ in runs})
    colour_of = colours(backends)
    x_range = log_range([float(keys) for _, keys, _ in runs])

    by_backend = {}
    for backend, keys, _ in runs:
        by_backend.setdefault(backend, []).append(f"{keys:,}")
    subtitle = "runs: " + "; ".join(
        f"{backend} at {', '.join(keys)} keys" for backend, keys in sorted(by_backend.items()))
    subtitle_lines = textwrap.wrap(subtitle, width=140, break_on_hyphens=False)
    header = 48 + 15 * len(subtitle_lines)

    legend_rows = 1
    for _, _, _, series in PANELS:
        layout = legend_layout(legend_entries(series, backends, colour_of),
                               PANEL_W - PLOT_LEFT - PLOT_RIGHT)
        legend_rows = max(legend_rows, layout[-1][0] + 1)
    panel_h = PLOT_TOP + PLOT_H + 46 + LEGEND_ROW * (legend_rows - 1) + 14
    height = header + 2 * panel_h

    svg = Svg()
    svg.add('<?xml version="1.0" encoding="UTF-8"?>')
    svg.add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">')
    svg.add(f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>')
    svg.text(PLOT_LEFT, 26, "Keysmith scale benchmark", size=18, weight="bold")
    for i, line in enumerate(subtitle_lines):
        svg.text(PLOT_LEFT, 46 + 15 * i, line, size=11, fill="#555555")
    for i, panel in enumerate(PANELS):
        px, py = (i % 2) * PANEL_W, header + (i // 2) * panel_h
        draw_panel(svg, px, py, panel, runs, backends, colour_of, x_range)
    svg.add("</svg>")
    return "\n".join(svg.parts) + "\n"


def table(runs):
    header = [name for name, _ in TABLE_COLUMNS]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for backend, keys, run in runs:
        cells = []
        for name, field in TABLE_COLUMNS:
            if name == "backend":
                cells.append(backend.replace("|", "\\|"))
            elif name == "keys":
                cells.append(f"{keys:,}")
            elif name == "JWKS first/then ms":
                cells.append(f"{figure_text(run, 'jwks_first_ms')} / "
                             f"{figure_text(run, 'jwks_ms')}")
            else:
                cells.append(figure_text(run, field))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(
        description="Plots scale benchmark runs (scale.json) against the number of keys.")
    parser.add_argument("--out", required=True, help="the SVG to write")
    parser.add_argument("runs", nargs="*", metavar="RUN.json")
    args = parser.parse_args()
    if not args.runs:
        fail("no runs given: pass one or more scale.json files")
    runs = load(args.runs)
    svg = render(runs)
    directory = os.path.dirname(args.out)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        out.write(svg)
    print(table(runs))


if __name__ == "__main__":
    main()
