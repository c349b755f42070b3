"""Compares the peers' key generation medians (JSONL) with Keysmith's criterion medians.

Prints a markdown table, one row per algorithm, in ms, and "best Keysmith ÷ best peer" (≤ 1.00:
Keysmith's fastest backend is at least as fast as the fastest peer). See README.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALGORITHMS = ["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384", "P-521",
              "Ed25519", "HS256", "HS384", "HS512"]
PEERS = ["python", "java", "node"]  # column order; any other peer found is added after


def label_dirs(criterion, label):
    # Criterion 0.5-0.8 write <group with "/" made "_">/<function>/new/estimates.json;
    # the nested form is looked for too.
    return [criterion / f"generate_{label}", criterion / "generate" / label]


def read_criterion(criterion):
    """{label: {backend: median ns}} from every backend directory found; exits if a label has none."""
    if not criterion.is_dir():
        sys.exit(f"no criterion directory at {criterion}: run without --no-keysmith-run, or "
                 "`cargo bench -p keysmith-benches --bench crypto -- '^generate/'` first")
    results = {}
    for label in ALGORITHMS:
        found = {}
        for directory in label_dirs(criterion, label):
            if not directory.is_dir():
                continue
            for backend in sorted(p for p in directory.iterdir() if p.is_dir()):
                estimates = backend / "new" / "estimates.json"
                if estimates.is_file() and backend.name not in found:
                    found[backend.name] = json.loads(estimates.read_text())["median"]["point_estimate"]
        if not found:
            tried = " or ".join(str(d) for d in label_dirs(criterion, label))
            entries = sorted(p.name for p in criterion.iterdir())
            if (criterion / "generate").is_dir():
                entries += sorted(f"generate/{p.name}" for p in (criterion / "generate").iterdir())
            near = [e for e in entries if e.startswith("generate")] or entries[:40]
            sys.exit(f"no criterion results for generate/{label}: looked for "
                     f"<backend>/new/estimates.json under {tried}.\n"
                     f"{criterion} holds: {', '.join(near) or '(nothing)'}")
        results[label] = found
    return results


def newest_estimate(criterion):
    times = [p.stat().st_mtime for p in criterion.glob("generate*/**/new/estimates.json")]
    if not times:
        return "unknown"
    return datetime.datetime.fromtimestamp(max(times)).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def read_peers(paths):
    """({column: {label: median µs}}, {column: version string})"""
    medians, versions = {}, {}
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                column = row["peer"].split()[0].split("-")[0]
                medians.setdefault(column, {})[row["algorithm"]] = float(row["median_us"])
                versions[column] = f'{row["peer"]}, {row["samples"]} samples'
            except (ValueError, KeyError, IndexError) as e:
                sys.exit(f"{path}:{number}: not a peer result ({e}): {line}")
    return medians, versions


def ms(value):
    """Milliseconds to 3 significant figures, without exponents."""
    if value is None:
        return "—"
    if value <= 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(value)))
    return f"{float(f'{value:.3g}'):.{decimals}f}"


def machine():
    try:
        cores = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        cores = str(os.cpu_count())
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"{cores} cores (nproc), {cpu}, Linux {platform.release()}, {now}"


def report(criterion, peer_files):
    keysmith = read_criterion(criterion)
    backends = sorted({b for found in keysmith.values() for b in found})
    medians, versions = read_peers(peer_files)
    peers = PEERS + sorted(set(medians) - set(PEERS))
    lines = [
        f"Key generation, median per key in ms. Machine: {machine()}.",
        "",
        f"- Keysmith: criterion `generate/*` in {criterion} (newest result {newest_estimate(criterion)}); "
        f"backends found: {', '.join(backends)}",
    ]
    for peer in peers:
        lines.append(f"- {peer}: {versions.get(peer, 'no results')}")
    lines += [
        "",
        "| algorithm | " + " | ".join(backends + peers) + " | best Keysmith ÷ best peer |",
        "|---|" + "---:|" * (len(backends) + len(peers) + 1),
    ]
    slower, compared = [], 0
    for label in ALGORITHMS:
        ours = [keysmith[label].get(b) for b in backends]
        ours = [None if ns is None else ns / 1e6 for ns in ours]
        theirs = [medians.get(p, {}).get(label) for p in peers]
        theirs = [None if us is None else us / 1e3 for us in theirs]
        best_ours = min(v for v in ours if v is not None)
        known = [v for v in theirs if v is not None]
        ratio = "—"
        if known:
            compared += 1
            r = best_ours / min(known)
            ratio = f"{r:.2f}"
            if r > 1:
                slower.append(f"{label} ({ratio})")
        lines.append(f"| {label} | " + " | ".join(ms(v) for v in ours + theirs) + f" | {ratio} |")
    lines.append("")
    if not compared:
        lines.append("No peer results to compare.")
    elif slower:
        lines.append(f"Keysmith's best backend is slower than the best peer on {len(slower)} of "
                     f"{compared} algorithms: {', '.join(slower)}.")
    else:
        lines.append(f"Keysmith's best backend is at least as fast as the best peer on all "
                     f"{compared} algorithms compared.")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    default_criterion = Path(os.environ.get("CRITERION_HOME", target / "criterion"))
    parser.add_argument("--criterion-dir", type=Path, default=default_criterion)
    parser.add_argument("--jsonl", type=Path, action="append",
                        help=f"peer results, repeatable (default {ROOT / 'target/peers/peers.jsonl'})")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    table = report(args.criterion_dir, args.jsonl or [ROOT / "target/peers/peers.jsonl"])
    print(table, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
