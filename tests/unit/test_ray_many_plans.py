"""Many plans on one Ray cluster: two runs from two driver processes share its GPUs.

The service runs each plan in a child process and ``sparkle-motion run`` is a process too,
so each is its own Ray driver. Both drivers here join the session's local Ray instance
(tests/conftest.py: 2 CPUs, 2 fake GPUs) and run a plan of image steps made GPU-class
(the fixture backends run on the CPU; the driver marks image steps as holding the ``gpu``
slot, so they go to the GPU actors) that hold their GPU for ``SPARKLE_FIXTURE_DELAY_S``.
Each step, on the actor, writes when it held the GPU; the plans' step records in the shared
store say when each plan started and when its last GPU step ended. Within the window where
both plans had ready steps, each must have had at least 40 % of the GPU time used.

Run as a script, this module is one such driver (``python test_ray_many_plans.py NAME ...``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

# the warm-up below travels to Ray's workers by value (this module is not on their path)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SLOTS = {"cpu": 2, "gpu": 2, "image": 4, "video": 2}
STEPS = 12  # image steps per plan
HOLD_S = 0.4  # how long each holds its GPU


def gpu_plan(name: str) -> dict:
    steps = [
        {"id": f"img{n}", "type": "image", "prompt": f"plan {name}: a lighthouse, shot {n}",
         "opts": {"scene": f"s{n}"}}
        for n in range(STEPS)
    ]  # fmt: skip
    return {
        "title": f"Plan {name}",
        "steps": steps,
        "assemble_opts": {"width": 64, "height": 64, "fps": 4, "preset": "veryfast"},
    }


# ----------------------------------------------------------------- the driver process


class _Timed:
    """Wraps a step job: on the worker, writes ``plan step start end pid`` (wall clock)
    once the step ran, so the test sees when each step really held its GPU."""

    def __init__(self, fn: Any, plan: str, log: str) -> None:
        from sparkle_motion.executors.ray import model_of

        self.fn, self.plan, self.log = fn, plan, log
        self.model_key = model_of(fn)

    def __call__(self) -> Any:
        started = time.time()
        result = self.fn()
        with open(self.log, "a") as f:
            f.write(f"{self.plan} {self.fn.args[0].step_id} {started} {time.time()} "
                    f"{os.getpid()}\n")  # fmt: skip
        return result


def _drive(name: str, log: str, ready: str, go: str) -> None:
    """One driver: image steps on GPUs; start when ``go`` exists; print the run's id."""
    from sparkle_motion.executors.ray import RayExecutor
    from sparkle_motion.production import steps
    from sparkle_motion.production_agent import run_plan

    original = steps.StepKind.resources

    def gpu_images(self: Any, providers: dict[str, str]) -> frozenset[str]:
        held = original(self, providers)
        return (held - {"cpu"}) | {"gpu"} if self.type == "image" else held

    steps.StepKind.resources = gpu_images  # type: ignore[method-assign]

    class TimedExecutor(RayExecutor):
        def submit(self, fn, resources):  # type: ignore[no-untyped-def]
            if "gpu" in resources:
                fn = _Timed(fn, name, log)
            return super().submit(fn, resources)

    executor = TimedExecutor(SLOTS)
    Path(ready).touch()
    deadline = time.monotonic() + 120
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    result = run_plan(gpu_plan(name), profile="fixture", executor=executor)
    print(json.dumps({"run_id": result.run_id, "status": result.status}), flush=True)


# ------------------------------------------------------------------------ the test


def _warm() -> int:
    """What a GPU actor imports for its first image step, done before the clock (a
    long-lived cluster's actors are warm; a cold one's first step would count as GPU time
    of whichever plan came first)."""
    import sparkle_motion.function_tools.images_sdxl.fixture
    import sparkle_motion.images_agent
    import sparkle_motion.production.jobs  # noqa: F401

    time.sleep(1.0)  # held long enough that the second call goes to the other actor
    return os.getpid()


def warm_gpu_actors() -> set[int]:
    from sparkle_motion.executors.ray import RayExecutor

    executor = RayExecutor(SLOTS)
    try:
        futures = [executor.submit(_warm, frozenset({"gpu"})) for _ in range(2)]
        return {f.result(timeout=120) for f in futures}
    finally:
        executor.shutdown()


def gpu_shares(records: dict[str, list], holds: list[tuple[str, float, float]]) -> dict:
    """Each plan's share of the GPU time used while both had ready steps.

    ``records``: each plan's GPU step records (their steps are ready from the first one's
    start); ``holds``: (plan, start, end) of each step's time on a GPU."""
    begin = max(min(r.start_time.timestamp() for r in recs) for recs in records.values())
    end = min(max(r.end_time.timestamp() for r in recs) for recs in records.values())
    busy = dict.fromkeys(records, 0.0)
    for plan, start, stop in holds:
        busy[plan] += max(0.0, min(stop, end) - max(start, begin))
    total = sum(busy.values())
    return {
        "window_s": end - begin,
        "shares": {plan: (b / total if total else 0.0) for plan, b in busy.items()},
    }


@pytest.fixture
def drivers_env(ray_cluster: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    from sparkle_motion.executors.ray_actors import release_actors

    src = str(Path(__file__).resolve().parents[2] / "src")
    yield {
        **os.environ,
        "RAY_ADDRESS": ray_cluster,
        "SPARKLE_HOME": str(tmp_path / "home"),  # one workspace and store, as in a studio
        "SPARKLE_FIXTURE_DELAY_S": str(HOLD_S),
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    release_actors(ray)  # detached: they would outlive the session's cluster if it is not ours


def test_two_plans_from_two_drivers_share_the_gpus(
    drivers_env: dict[str, str], tmp_path: Path
) -> None:
    from sparkle_motion.db.store import Store

    log, go = tmp_path / "holds", tmp_path / "go"
    actors = warm_gpu_actors()
    assert len(actors) == 2
    procs = {}
    for name in ("a", "b"):
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, name, str(log), str(tmp_path / f"ready-{name}"),
             str(go)],
            env=drivers_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{n}").exists() for n in procs):
        assert time.monotonic() < deadline, "the drivers did not connect in two minutes"
        assert all(p.poll() is None for p in procs.values()), [
            p.communicate()[1][-2000:] for p in procs.values() if p.poll() is not None
        ]
        time.sleep(0.05)
    go.touch()  # both plans submitted together
    runs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]
        runs[name] = json.loads(out.strip().splitlines()[-1])
        assert runs[name]["status"] == "succeeded"

    store = Store(Path(drivers_env["SPARKLE_HOME"]) / "sparkle.db")
    records = {}
    for name, run in runs.items():
        recs = [r for r in store.step_records(run_id=run["run_id"]) if r.step_type == "image"]
        assert len(recs) == STEPS and all(r.status == "succeeded" for r in recs), [
            (r.step_id, r.status, r.attempts, r.error_message) for r in recs
        ]
        records[name] = recs
    lines = [line.split() for line in log.read_text().splitlines()]
    assert sorted((p, s) for p, s, *_ in lines) == sorted(
        (n, f"img{i}") for n in runs for i in range(STEPS)
    )
    assert {int(pid) for *_, pid in lines} <= actors  # the cluster's two GPU actors, shared
    holds = [(p, float(start), float(end)) for p, _, start, end, _ in lines]
    measured = gpu_shares(records, holds)
    print("two plans:", measured)
    assert measured["window_s"] > 0
    for name, share in measured["shares"].items():
        assert share >= 0.40, (name, measured)


def test_gpu_shares_counts_only_the_window_where_both_had_ready_steps() -> None:
    class R:
        def __init__(self, start: float, end: float) -> None:
            from datetime import UTC, datetime

            self.start_time = datetime.fromtimestamp(start, UTC)
            self.end_time = datetime.fromtimestamp(end, UTC)

    records = {"a": [R(0, 4), R(0, 10)], "b": [R(2, 6), R(5, 20)]}
    holds = [("a", 0, 5), ("a", 5, 10), ("b", 5, 8), ("b", 8, 20)]
    # window 2..10: a held 3 + 5, b held 3 + 2
    got = gpu_shares(records, holds)
    assert got["window_s"] == 8
    assert got["shares"] == pytest.approx({"a": 8 / 13, "b": 5 / 13})


if __name__ == "__main__":
    _drive(*sys.argv[1:5])
