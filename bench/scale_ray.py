"""Scale-out benchmark: a 200-step plan of fake GPU steps on 1, 2, 4 and 8 logical GPUs.

    python bench/scale_ray.py [--steps 200] [--work-s 0.1] [--load-s 1.0] [--gpus 1,2,4,8]
    python bench/scale_ray.py --two-plans [--steps 100] [--work-s 0.2] [--gpus 2,4]

Each step holds a (logical) GPU for ``--work-s`` seconds of simulated inference, after
a simulated model load of ``--load-s`` on first use in its process (``--pool``: through
sparkle_motion's model pool, telemetry included); steps alternate between two models.
The steps are fed as the scheduler feeds them (as slots free up, in plan order) to:

- the local executor with one GPU slot (one machine, one GPU): the baseline;
- the Ray executor on a fresh local Ray instance with N logical GPUs (its GPU actors
  started before the clock, as a long-lived cluster's are).

Per N: wall time, speed-up vs the local executor and vs ideal (total GPU work / N + one
load per model per GPU), GPU busy fraction (time steps held a GPU / (wall x N)), model
loads per GPU, and the executor's overhead per step: (Ray wall - local wall) / steps on
zero-work steps. Prints one table and writes bench/results/scale_ray.json.

``--two-plans``: many plans on one cluster. Two driver processes (as the service's run
processes and ``sparkle-motion run`` are) join one local Ray instance with N logical GPUs
and each feeds a plan of ``--steps`` fake GPU steps, together (its GPU actors warm). Per N:
each plan's share of the GPU time used while both had ready steps (from its first submit
to the earlier of the two plans' last step ends), the GPU busy fraction in that window, and
each plan's wall time. Writes bench/results/scale_ray-two-plans.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))
MODELS = ("fake-sdxl", "fake-wan")
RESOURCES = frozenset({"gpu", "image"})


def _fake_load(request: Any) -> object:
    """Simulated model load: its cost, and one line (this process's pid) per load."""
    path, load_s = request.weights.rsplit("|", 1)
    time.sleep(float(load_s))
    with open(path, "a") as f:
        f.write(f"{os.getpid()} {request.model_key}\n")
    return object()


class FakeGpuStep:
    """A step of ``model``: a simulated load on first use in its process, then ``work_s`` of
    simulated inference. ``pool``: load through sparkle_motion's model pool (with its
    telemetry), else a marker file per process and model stands for the resident model."""

    def __init__(
        self, model: str, work_s: float, load_s: float, loads: str, pool: bool = False
    ) -> None:
        self.model_key, self.work_s, self.load_s, self.loads = model, work_s, load_s, loads
        self.pool = pool

    def __call__(self) -> float:
        started = time.perf_counter()
        if self.pool:
            from sparkle_motion.gpu_utils import model_context

            weights = f"{self.loads}|{self.load_s}"
            with model_context(self.model_key, weights=weights, loader=_fake_load, device="cpu"):
                time.sleep(self.work_s)
        elif self.load_s or self.work_s:
            resident = Path(f"{self.loads}.{os.getpid()}.{self.model_key}")
            if not resident.exists():
                _fake_load(type("R", (), {"weights": f"{self.loads}|{self.load_s}",
                                          "model_key": self.model_key}))  # fmt: skip
                resident.touch()
            time.sleep(self.work_s)
        return time.perf_counter() - started  # how long the step held its GPU


def _nothing() -> int:
    return os.getpid()


def run_steps(executor: Any, fns: list) -> tuple[float, float]:
    """Feed ``fns`` as the scheduler does; (wall seconds, summed GPU-held seconds)."""
    started = time.perf_counter()
    todo, running, held = list(fns), set(), 0.0
    while todo or running:
        while todo and executor.can_run(RESOURCES):
            running.add(executor.submit(todo.pop(0), RESOURCES))
        done, running = wait(running, timeout=600, return_when=FIRST_COMPLETED)
        for fut in done:
            held += fut.result()
    return time.perf_counter() - started, held


class Timed:
    """Wraps a step: returns when (wall clock) it held its GPU."""

    def __init__(self, fn: FakeGpuStep) -> None:
        self.fn, self.model_key = fn, fn.model_key

    def __call__(self) -> tuple[float, float]:
        started = time.time()
        self.fn()
        return started, time.time()


def drive(steps: int, work_s: float, ready: str, go: str, out: str) -> None:
    """One of the two drivers: ``steps`` fake GPU steps on the cluster at RAY_ADDRESS."""
    from sparkle_motion.executors.ray import RayExecutor

    executor = RayExecutor({"cpu": 2, "gpu": 1, "image": 1000})  # gpu: the cluster's
    fns = [Timed(f) for f in plan(steps, work_s, 0.0, Path(out + ".loads"))]
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.002)
    first = time.time()
    todo, running, holds = list(fns), set(), []
    while todo or running:
        while todo and executor.can_run(RESOURCES):
            running.add(executor.submit(todo.pop(0), RESOURCES))
        done, running = wait(running, timeout=600, return_when=FIRST_COMPLETED)
        holds += [fut.result() for fut in done]
    executor.shutdown()
    Path(out).write_text(json.dumps({"first_submit": first, "holds": holds}))


def shares(plans: dict[str, dict]) -> dict[str, Any]:
    """Each plan's share of the GPU time used while both had ready steps."""
    begin = max(p["first_submit"] for p in plans.values())
    end = min(max(e for _, e in p["holds"]) for p in plans.values())
    busy = {
        name: sum(max(0.0, min(e, end) - max(s, begin)) for s, e in p["holds"])
        for name, p in plans.items()
    }
    total = sum(busy.values()) or 1.0
    return {"window_s": end - begin, "busy": busy,
            "shares": {n: round(b / total, 3) for n, b in busy.items()}}  # fmt: skip


def _driver(tmp: Path, n: int, name: str, go: Path, address: str, args: Any) -> Any:
    import subprocess

    return subprocess.Popen(
        [sys.executable, __file__, "--driver", str(tmp / f"ready-{n}-{name}"), str(go),
         str(tmp / f"out-{n}-{name}.json"), "--steps", str(args.steps),
         "--work-s", str(args.work_s)],
        env={**os.environ, "RAY_ADDRESS": address},
    )  # fmt: skip


def two_plans(args: argparse.Namespace) -> None:
    import ray

    from sparkle_motion.executors.ray import RayExecutor, runtime_env
    from sparkle_motion.executors.ray_actors import release_actors

    tmp = Path(tempfile.mkdtemp(prefix="scale-ray-two-"))
    os.environ["SPARKLE_HOME"] = str(tmp / "home")
    rows = []
    for n in [int(g) for g in args.gpus.split(",")]:
        ray.init(
            num_cpus=2, num_gpus=n, include_dashboard=False, log_to_driver=False,
            runtime_env=runtime_env(),
        )  # fmt: skip
        try:
            address = ray.get_runtime_context().gcs_address
            executor = RayExecutor({"cpu": 2, "gpu": n, "image": 1000})
            run_steps(executor, [FakeGpuStep(MODELS[0], 0.5, 0.0, str(tmp / "w"))] * n)
            executor.shutdown()  # the actors are warm, as a long-lived cluster's are
            go = tmp / f"go-{n}"
            procs = {name: _driver(tmp, n, name, go, address, args) for name in ("a", "b")}
            while not all((tmp / f"ready-{n}-{name}").exists() for name in procs):
                time.sleep(0.05)
            go.touch()
            for proc in procs.values():
                proc.wait(timeout=600)
            plans = {name: json.loads((tmp / f"out-{n}-{name}.json").read_text()) for name in procs}
        finally:
            release_actors(ray)
            ray.shutdown()
        measured = shares(plans)
        walls = {
            name: round(max(e for _, e in p["holds"]) - p["first_submit"], 2)
            for name, p in plans.items()
        }
        window = measured["window_s"]
        rows.append({
            "gpus": n, "window_s": round(window, 2), "share_a": measured["shares"]["a"],
            "share_b": measured["shares"]["b"],
            "busy": round(sum(measured["busy"].values()) / (window * n), 3),
            "wall_a_s": walls["a"], "wall_b_s": walls["b"],
            "alone_ideal_s": round(args.steps * args.work_s / n, 2),
        })  # fmt: skip
        print(rows[-1], flush=True)
    print(f"\ntwo plans of {args.steps} steps x {args.work_s}s, submitted together")
    head = ("GPUs", "window s", "share a", "share b", "busy", "wall a s", "wall b s",
            "one plan alone, ideal s")  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(v) for v in r.values()))
    out = ROOT / "results" / "scale_ray-two-plans.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


def plan(
    steps: int, work_s: float, load_s: float, loads: Path, pool: bool = False
) -> list[FakeGpuStep]:
    return [FakeGpuStep(MODELS[i % 2], work_s, load_s, str(loads), pool) for i in range(steps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--work-s", type=float, default=0.1)
    parser.add_argument("--load-s", type=float, default=1.0)
    parser.add_argument("--gpus", default="1,2,4,8")
    parser.add_argument(
        "--pool", action="store_true", help="load through the model pool (and its telemetry)"
    )
    parser.add_argument(
        "--two-plans", action="store_true", help="two plans from two drivers, together"
    )
    parser.add_argument("--driver", nargs=3, help=argparse.SUPPRESS)  # ready go out
    args = parser.parse_args()
    if args.driver:
        return drive(args.steps, args.work_s, *args.driver)
    if args.two_plans:
        return two_plans(args)

    import ray

    from sparkle_motion.executors.local import LocalExecutor
    from sparkle_motion.executors.ray import RayExecutor, runtime_env

    os.environ.pop("RAY_ADDRESS", None)
    tmp = Path(tempfile.mkdtemp(prefix="scale-ray-"))
    os.environ["SPARKLE_HOME"] = str(tmp / "home")
    slots = {"cpu": 2, "image": 1000}

    def local(work_s: float, load_s: float, tag: str) -> float:
        executor = LocalExecutor({**slots, "gpu": 1})
        try:
            fns = plan(args.steps, work_s, load_s, tmp / tag, args.pool)
            return run_steps(executor, fns)[0]
        finally:
            executor.shutdown()

    local_wall = local(args.work_s, args.load_s, "local-loads")
    local_zero = local(0.0, 0.0, "local-zero")
    rows = []
    for n in [int(g) for g in args.gpus.split(",")]:
        ray.init(
            num_cpus=2, num_gpus=n, include_dashboard=False, log_to_driver=False,
            runtime_env=runtime_env(),
        )  # fmt: skip
        executor = RayExecutor({**slots, "gpu": n})
        try:
            warm = time.perf_counter()
            run_steps(executor, [_nothing] * n)  # start the GPU actors, one per GPU
            warm = time.perf_counter() - warm
            loads = tmp / f"ray-loads-{n}"
            fns = plan(args.steps, args.work_s, args.load_s, loads, args.pool)
            wall, held = run_steps(executor, fns)
            zero_wall, _ = run_steps(executor, plan(args.steps, 0.0, 0.0, tmp / "zero"))
        finally:
            executor.shutdown()
            ray.shutdown()  # its actors die with it (the next instance's pool starts empty)
        per_gpu = Counter(line.split()[0] for line in loads.read_text().splitlines())
        per_model_gpu = Counter(tuple(line.split()) for line in loads.read_text().splitlines())
        ideal = args.steps * args.work_s / n + len(MODELS) * args.load_s
        rows.append({
            "gpus": n, "wall_s": round(wall, 2), "ideal_s": round(ideal, 2),
            "of_ideal": round(ideal / wall, 3), "speedup_vs_local": round(local_wall / wall, 2),
            "busy": round(held / (wall * n), 3), "loads_per_gpu": sorted(per_gpu.values()),
            "max_loads_per_model_per_gpu": max(per_model_gpu.values()),
            "overhead_ms_per_step": round(1000 * (zero_wall - local_zero) / args.steps, 2),
            "actor_start_s": round(warm, 2),
        })  # fmt: skip
        print(rows[-1], flush=True)

    how = "through the model pool" if args.pool else "resident per process"
    print(f"\n{args.steps} steps x {args.work_s}s work, {args.load_s}s load per model "
          f"(2 models, {how})")  # fmt: skip
    print(f"local executor, 1 GPU: {local_wall:.2f}s; zero-work steps {local_zero:.3f}s")
    head = ("GPUs", "wall s", "ideal s", "of ideal", "vs local", "busy", "loads/GPU",
            "loads/model/GPU", "overhead ms/step", "actor start s")  # fmt: skip
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(r[k]) for k in (
            "gpus", "wall_s", "ideal_s", "of_ideal", "speedup_vs_local", "busy",
            "loads_per_gpu", "max_loads_per_model_per_gpu", "overhead_ms_per_step",
            "actor_start_s",
        )))  # fmt: skip
    out = ROOT / "results" / f"scale_ray{'-pool' if args.pool else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "local_wall_s": local_wall,
                               "local_zero_s": local_zero, "rows": rows}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
