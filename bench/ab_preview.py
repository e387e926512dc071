"""Before/after benchmark of one preview movie: two source trees, runs interleaved.

The "may not get slower by more than 5 %" checks of the issues compare two versions of the
code on a machine whose load changes from minute to minute. Runs are therefore interleaved
(before, after, before, after, ...), each in a fresh workspace, and both wall time and CPU
time (user + system of the run and everything it started) are reported: CPU time moves far
less with the machine's load than wall time. The movies' sha256 says whether the change
altered a single byte.

    python bench/ab_preview.py --before ../old-checkout --after . --pairs 3

Each tree is a checkout (its ``src`` goes first on PYTHONPATH); the interpreter is this one.
Prints one table and writes bench/results/ab-preview.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
IDEA = "a lighthouse keeper befriends a whale"


def one_run(tree: Path, idea: str, profile: str) -> dict[str, float | str]:
    """One fresh run of ``idea`` with ``tree``'s code: wall s, CPU s, the movie's sha256."""
    with tempfile.TemporaryDirectory(prefix="sparkle-ab-") as home:
        movie = Path(home) / "movie.mp4"
        env = {**os.environ, "SPARKLE_HOME": home, "PYTHONPATH": str(tree / "src")}
        cmd = [sys.executable, "-m", "sparkle_motion.cli", "run", idea, "--profile", profile,
               "-o", str(movie)]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: the run failed: {done.stderr.strip()[-500:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        sha = hashlib.sha256(movie.read_bytes()).hexdigest()
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "sha256": sha}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--after", type=Path, default=ROOT.parent, help="default: this one")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--idea", default=IDEA)
    parser.add_argument("--profile", default="preview")
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for i in range(args.pairs):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")  # alternate
        for side in order:
            runs[side].append(one_run(sides[side], args.idea, args.profile))
            print(f"{side} {i + 1}: {runs[side][-1]}", file=sys.stderr)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Preview movie, {args.pairs} interleaved pairs", title_justify="left")
    for column in ("", "wall s (median)", "CPU s (median)", "distinct movies"):
        table.add_column(column)
    summary: dict[str, dict] = {}
    for side, rows in runs.items():
        summary[side] = {
            "wall_s": statistics.median(r["wall_s"] for r in rows),
            "cpu_s": statistics.median(r["cpu_s"] for r in rows),
            "sha256": sorted({r["sha256"] for r in rows}),
        }
        s = summary[side]
        table.add_row(side, f"{s['wall_s']:.1f}", f"{s['cpu_s']:.1f}", str(len(s["sha256"])))
    ratio = {k: summary["after"][k] / summary["before"][k] for k in ("wall_s", "cpu_s")}
    table.add_row("after / before", f"{ratio['wall_s']:.3f}", f"{ratio['cpu_s']:.3f}",
                  "same bytes" if summary["after"]["sha256"] == summary["before"]["sha256"]
                  else "bytes differ")  # fmt: skip
    Console().print(table)
    out = ROOT / "results" / "ab-preview.json"
    out.parent.mkdir(exist_ok=True)
    result = {"runs": runs, "summary": summary, "after_over_before": ratio,
              "trees": {k: str(v) for k, v in sides.items()}}  # fmt: skip
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
