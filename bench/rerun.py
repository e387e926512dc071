"""Re-run benchmark: how long an unchanged ``sparkle-motion run`` takes, as a whole process.

    python bench/rerun.py [--runs 5] [--idea "an idea"] [--profile preview] [--keep]

A second run of an unchanged idea or plan file renders nothing (every step is cached), so
what is left is the process itself: starting Python, importing, planning (or reading the
plan file), validating, checking the cache. The yardstick is a bare ``sparkle-motion
--version`` measured in the same run, on the same machine, side by side (absolute times
on a shared machine mean little; the ratios are the result). Target: each re-run's median
within 4x the ``--version`` median.

In a temp folder with its own ``SPARKLE_HOME``, each command runs once to warm the caches
(the idea run writes the movie and its ``.plan.yaml``, which the plan-file run then uses),
then ``--runs`` timed rounds of: ``--version``, the idea re-run, the plan-file re-run, each
as a subprocess, interleaved so that a busy neighbour slows all three alike. Wall time and
CPU time (user+sys, children included) are both kept, CPU time being the steadier of the
two on a shared machine. Bytecode is written to the temp folder (``PYTHONPYCACHEPREFIX``),
as an installed package has it, even where the environment says
``PYTHONDONTWRITEBYTECODE``. One more run of each under
``PYTHONPROFILEIMPORTTIME`` counts the ``google.adk``/``google.genai`` modules it imports
(a re-run should import none).

Prints one table and writes bench/results/rerun.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
IDEA = "an idea"
TARGET_RATIO = 4.0


def _cli() -> list[str]:
    """The console script next to this Python, else ``python -m sparkle_motion.cli``."""
    script = Path(sys.executable).parent / "sparkle-motion"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "sparkle_motion.cli"]


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SPARKLE_HOME"] = str(work / "home")
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall time and CPU time of one subprocess (it must succeed), and its stderr."""
    cpu, started = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, cpu, proc.stderr


def _adk_modules(cmd: list[str], env: dict[str, str], cwd: Path) -> int:
    """How many google.adk / google.genai modules one run of ``cmd`` imports."""
    *_, stderr = _run(cmd, {**env, "PYTHONPROFILEIMPORTTIME": "1"}, cwd)
    names = (line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line)
    return sum(1 for n in names if n.startswith(("google.adk", "google.genai")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    parser.add_argument("--idea", default=IDEA)
    parser.add_argument(
        "--profile", default="preview", choices=["fixture", "preview"],
        help="preview (the default of `run`; its first run renders a real movie) or fixture",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temp workspace")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sparkle-rerun-"))
    env = _env(work)
    cli = _cli()
    movie = work / "idea.mp4"
    commands = {
        "version": [*cli, "--version"],
        "idea_rerun": [*cli, "run", args.idea, "--profile", args.profile, "-o", str(movie)],
        "plan_file_rerun": [*cli, "run", str(movie.with_suffix(".plan.yaml")),
                            "--profile", args.profile],
    }  # fmt: skip
    warm = {name: _run(cmd, env, work)[0] for name, cmd in commands.items()}
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            wall, used, _ = _run(cmd, env, work)
            seconds[name].append(wall)
            cpu[name].append(used)
    adk = {name: _adk_modules(cmd, env, work) for name, cmd in commands.items()}

    median = {name: statistics.median(v) for name, v in seconds.items()}
    median_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    base = median["version"]
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "conditions": {
            "idea": args.idea,
            "profile": args.profile,
            "runs": args.runs,
            "command": " ".join(Path(c).name if c.startswith("/") else c for c in cli),
            "bytecode": "cached (PYTHONPYCACHEPREFIX in the temp folder)",
        },
        "warm_up_seconds": warm,
        "seconds": seconds,
        "median_seconds": median,
        "ratio_to_version": {name: m / base for name, m in median.items()},
        "cpu_seconds": cpu,
        "median_cpu_seconds": median_cpu,
        "cpu_ratio_to_version": {name: m / median_cpu["version"] for name, m in median_cpu.items()},
        "adk_modules_imported": adk,
    }
    results["targets"] = {
        f"idea_rerun <= {TARGET_RATIO:g} x version": median["idea_rerun"] <= TARGET_RATIO * base,
        f"plan_file_rerun <= {TARGET_RATIO:g} x version": (
            median["plan_file_rerun"] <= TARGET_RATIO * base
        ),
        "re-runs import no google.adk/genai": adk["idea_rerun"] == adk["plan_file_rerun"] == 0,
    }
    _print_table(results)
    out = ROOT / "results" / "rerun.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT.parent)}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = results["conditions"]
    table = Table(title=f"bench/rerun.py — {c['runs']} runs each, profile {c['profile']}, "
                  f"idea {c['idea']!r}", title_justify="left")  # fmt: skip
    for col in ("command", "median s", "min s", "x --version", "CPU s", "CPU x", "ADK", "target"):
        table.add_column(col)
    labels = {
        "version": ("--version", ""),
        "idea_rerun": ("run IDEA, again", f"<= {TARGET_RATIO:g} x"),
        "plan_file_rerun": ("run PLAN.yaml, again", f"<= {TARGET_RATIO:g} x"),
    }
    for name, (label, target) in labels.items():
        table.add_row(
            label,
            f"{results['median_seconds'][name]:.2f}",
            f"{min(results['seconds'][name]):.2f}",
            f"{results['ratio_to_version'][name]:.2f}",
            f"{results['median_cpu_seconds'][name]:.2f}",
            f"{results['cpu_ratio_to_version'][name]:.2f}",
            str(results["adk_modules_imported"][name]),
            target,
        )
    Console(width=110).print(table)
    print("CPU: user+sys of the process and its children; ADK: google.adk/genai modules loaded")
    print("targets:", json.dumps(results["targets"]))


if __name__ == "__main__":
    sys.exit(main())
