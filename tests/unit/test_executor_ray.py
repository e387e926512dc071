"""The Ray executor: the same movie as the local executor, a killed worker retried by the
scheduler, progress events while a step runs, GPU steps on GPUs, and a stop that cancels.

Every test here joins the session's one local Ray instance (tests/conftest.py: 2 CPUs and
2 fake GPUs), so Ray's start-up is paid once; the module skips where Ray is not installed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from sparkle_motion.errors import StepWorkerLost  # noqa: E402
from sparkle_motion.executors import make_executor  # noqa: E402
from sparkle_motion.executors.ray import RayExecutor  # noqa: E402
from sparkle_motion.production_agent import run_plan  # noqa: E402

# the helpers below travel to Ray's workers by value (this module is not on their path)
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SLOTS = {"cpu": 2, "gpu": 2, "image": 4, "video": 2}


@pytest.fixture(autouse=True)
def _cluster(ray_cluster: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    return ray_cluster


def plan_of_40_steps() -> dict:
    """Six scenes of image, video, two lines and a lip-synced face, and two stills: 40."""
    steps: list[dict] = []
    for n in range(6):
        s = f"s{n}"
        steps += [
            {"id": f"img{n}", "type": "image", "prompt": f"a fox in the snow, shot {n}",
             "opts": {"scene": s}},
            {"id": f"vid{n}", "type": "video", "start_frames": [f"step:img{n}"],
             "opts": {"scene": s, "num_frames": 8}},
            {"id": f"say{n}", "type": "tts", "text": f"The fox waits, time {n}.",
             "opts": {"scene": s}},
            {"id": f"face{n}", "type": "image", "prompt": f"a smiling keeper {n}",
             "opts": {"scene": s}},
            {"id": f"hello{n}", "type": "tts", "text": f"Hello, fox number {n}.",
             "opts": {"scene": s}},
            {"id": f"lip{n}", "type": "lipsync", "face_video": f"step:face{n}",
             "audio": f"step:hello{n}", "opts": {"scene": s}},
        ]  # fmt: skip
    for n in range(2):
        steps += [
            {"id": f"still{n}", "type": "image", "prompt": f"the sea at dawn {n}",
             "opts": {"scene": f"end{n}"}},
            {"id": f"end{n}", "type": "tts", "text": f"The end, part {n}.",
             "opts": {"scene": f"end{n}"}},
        ]  # fmt: skip
    assert len(steps) == 40
    return {
        "title": "Forty",
        "steps": steps,
        "assemble_opts": {"width": 160, "height": 96, "fps": 8, "preset": "veryfast"},
    }


def small_plan() -> dict:
    plan = plan_of_40_steps()
    plan["steps"] = plan["steps"][:6]
    return plan


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_forty_steps_give_the_same_movie_as_the_local_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = {}
    for name in ("local", "ray"):
        monkeypatch.setenv("SPARKLE_HOME", str(tmp_path / f"home-{name}"))
        events: list = []
        result = run_plan(
            plan_of_40_steps(), profile="fixture", output=tmp_path / f"{name}.mp4",
            executor=make_executor(name, SLOTS), on_progress=events.append,
        )  # fmt: skip
        assert result.status == "succeeded", result.summary
        outcomes[name] = (
            [(a.step_id, a.sha256) for a in result.artifacts[:-1]],
            sha(tmp_path / f"{name}.mp4"),
        )
        done = {r.step_id for r in result.records if r.status == "succeeded"}
        assert len(done) == 41  # the 40 steps and the assembly
        # the agents' own events came back from the workers, for every image step
        assert {e.step_id for e in events if e.message == "images 1/1"} == {
            s["id"] for s in plan_of_40_steps()["steps"] if s["type"] == "image"
        }
    assert outcomes["local"] == outcomes["ray"]


class _DieOnce:
    """Wraps a step job: the first attempt of ``step_id`` kills its own Ray worker from
    inside the image tool (mid-step); the pid it killed goes to ``marker``."""

    def __init__(self, fn, step_id: str, marker: str) -> None:  # type: ignore[no-untyped-def]
        self.fn, self.step_id, self.marker = fn, step_id, marker

    def __call__(self):  # type: ignore[no-untyped-def]
        from sparkle_motion import images_agent

        job = self.fn.args[0]
        original = images_agent.render

        def dying(*args, **kwargs):  # type: ignore[no-untyped-def]
            if job.step_id == self.step_id and not os.path.exists(self.marker):
                Path(self.marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)

        images_agent.render = dying
        try:
            return self.fn()
        finally:
            images_agent.render = original


class KillingRayExecutor(RayExecutor):
    def __init__(self, slots: dict[str, int], step_id: str, marker: Path) -> None:
        super().__init__(slots)
        self.step_id, self.marker = step_id, str(marker)

    def submit(self, fn, resources):  # type: ignore[no-untyped-def]
        return super().submit(_DieOnce(fn, self.step_id, self.marker), resources)


def test_a_killed_worker_is_retried_by_the_scheduler(tmp_path: Path) -> None:
    marker = tmp_path / "killed-pid"
    result = run_plan(
        small_plan(), profile="fixture", output=tmp_path / "m.mp4", sleep=lambda s: None,
        executor=KillingRayExecutor(SLOTS, "face0", marker),
    )  # fmt: skip
    assert result.status == "succeeded", result.summary
    killed = int(marker.read_text())
    assert killed != os.getpid()  # the worker died, not this process
    records = {r.step_id: r for r in result.records}
    assert records["face0"].attempts == 2 and records["face0"].status == "succeeded"
    assert records["img0"].attempts == 1 and records["lip0"].status == "succeeded"
    assert sha(tmp_path / "m.mp4") == result.movie.sha256  # type: ignore[union-attr]


class _OtherWorkspace:
    """Wraps a step job: after the step, its image is changed on the worker's side, as on a
    node whose SPARKLE_HOME is not the shared one."""

    def __init__(self, fn) -> None:  # type: ignore[no-untyped-def]
        self.fn = fn

    def __call__(self):  # type: ignore[no-untyped-def]
        refs = self.fn()
        if self.fn.args[0].step.type == "image":
            with open(refs[0].path, "ab") as f:
                f.write(b"not what was hashed")
        return refs


class OtherWorkspaceExecutor(RayExecutor):
    def submit(self, fn, resources):  # type: ignore[no-untyped-def]
        return super().submit(_OtherWorkspace(fn), resources)


def test_artifacts_are_hash_checked_on_arrival(tmp_path: Path) -> None:
    result = run_plan(
        small_plan(), profile="fixture", sleep=lambda s: None,
        executor=OtherWorkspaceExecutor(SLOTS),
    )  # fmt: skip
    records = {r.step_id: r for r in result.records}
    assert result.status == "failed"
    assert records["img0"].status == "failed" and records["img0"].error_type == "artifact_error"
    assert "SPARKLE_HOME" in (records["img0"].error_message or "")
    assert records["vid0"].status == "skipped"  # nothing used the damaged image
    assert records["say0"].status == "succeeded"  # a step without images arrived intact


def test_a_lost_worker_is_a_retryable_error() -> None:
    executor = RayExecutor(SLOTS)
    try:
        future = executor.submit(_die, frozenset({"cpu"}))
        with pytest.raises(StepWorkerLost, match="Ray worker") as caught:
            future.result(timeout=120)
        assert caught.value.retryable and caught.value.code == "worker_lost"
    finally:
        executor.shutdown()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _TalkThenWait:
    """Puts a message, then waits (up to a minute) for the driver to have received it."""

    def __init__(self, channel, seen: str) -> None:  # type: ignore[no-untyped-def]
        self.channel, self.seen = channel, seen

    def __call__(self) -> tuple[bool, int]:
        self.channel.put("hello")
        deadline = time.monotonic() + 60
        while not os.path.exists(self.seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.channel.put("bye")
        return os.path.exists(self.seen), os.getpid()


def test_progress_reaches_the_driver_while_the_step_runs(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    events: list = []

    def handler(message: str) -> None:
        events.append(message)
        seen.touch()

    executor = RayExecutor(SLOTS)
    try:
        with executor.channel(handler) as channel:
            future = executor.submit(_TalkThenWait(channel, str(seen)), frozenset({"cpu"}))
            arrived_while_running, pid = future.result(timeout=120)
    finally:
        executor.shutdown()
    assert arrived_while_running  # not held back until the step (or the channel) ended
    assert pid != os.getpid()
    assert events == ["hello", "bye"]  # all of them, in order, once the channel closes


def _gpu_ids() -> list:
    import ray

    return [str(g) for g in ray.get_gpu_ids()]


def test_gpu_steps_hold_a_gpu_and_cpu_steps_none() -> None:
    executor = RayExecutor(SLOTS)
    try:
        gpu = executor.submit(_gpu_ids, frozenset({"gpu", "image"})).result(timeout=120)
        cpu = executor.submit(_gpu_ids, frozenset({"cpu", "image"})).result(timeout=120)
    finally:
        executor.shutdown()
    assert len(gpu) == 1 and cpu == []
    assert executor.slots["gpu"] == 2 and executor.slots["cpu"] == 2  # the cluster's size


def _sleep_long() -> str:
    time.sleep(300)
    return "finished"


def test_a_stopping_run_cancels_its_running_tasks() -> None:
    executor = RayExecutor(SLOTS)
    future = executor.submit(_sleep_long, frozenset({"cpu"}))
    time.sleep(1.0)  # let it start (the result does not depend on it)
    executor.shutdown(wait=False)
    with pytest.raises(Exception) as caught:
        future.result(timeout=60)
    assert "cancel" in type(caught.value).__name__.lower()
    assert executor.can_run(frozenset({"cpu"}))  # its slot came back


# ------------------------------------------------------------------ model affinity


def _count_load(request):  # type: ignore[no-untyped-def]
    """A fake loader: one line per load (this process's pid) in the file named as weights."""
    with open(request.weights, "a") as f:
        f.write(f"{os.getpid()}\n")
    return object()


class _FakeGpuStep:
    """A GPU step of ``model_key`` that loads its model through the worker's model pool."""

    def __init__(
        self, model_key: str, loads: str, die_marker: str | None = None, hold_s: float = 0.0
    ) -> None:
        self.model_key, self.loads, self.die_marker = model_key, loads, die_marker
        self.hold_s = hold_s

    def __call__(self) -> int:
        from sparkle_motion.gpu_utils import model_context

        if self.die_marker and not os.path.exists(self.die_marker):
            Path(self.die_marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        with model_context(self.model_key, weights=self.loads, loader=_count_load, device="cpu"):
            time.sleep(self.hold_s)
            return os.getpid()


def _run_all(executor: RayExecutor, fns: list) -> list:
    """Submit like the scheduler: as slots free up, in order; each one's result."""
    from concurrent.futures import FIRST_COMPLETED, wait

    resources = frozenset({"gpu", "image"})
    todo, running, results = list(enumerate(fns)), {}, {}
    while todo or running:
        while todo and executor.can_run(resources):
            i, fn = todo.pop(0)
            running[executor.submit(fn, resources)] = i
        done, _ = wait(list(running), timeout=120, return_when=FIRST_COMPLETED)
        assert done, "no step finished in two minutes"
        for fut in done:
            results[running.pop(fut)] = fut.result()
    return [results[i] for i in range(len(fns))]


def test_ten_image_steps_on_two_gpus_load_the_model_at_most_twice(tmp_path: Path) -> None:
    loads = tmp_path / "loads"
    executor = RayExecutor(SLOTS)
    try:
        pids = _run_all(executor, [_FakeGpuStep("fake-sdxl-a", str(loads)) for _ in range(10)])
    finally:
        executor.shutdown()
    loaded_in = loads.read_text().split()
    assert 1 <= len(loaded_in) <= 2  # plain GPU tasks would load it in each fresh worker
    assert len(set(loaded_in)) == len(loaded_in)  # once per GPU's actor
    assert set(map(int, loaded_in)) == set(pids)  # where the steps ran, not in this process
    assert os.getpid() not in pids


def test_a_dead_gpu_actor_fails_its_step_and_the_retry_runs_elsewhere(tmp_path: Path) -> None:
    loads, marker = tmp_path / "loads", tmp_path / "died"
    executor = RayExecutor(SLOTS)
    try:
        first = executor.submit(
            _FakeGpuStep("fake-sdxl-b", str(loads), str(marker)), frozenset({"gpu"})
        )
        with pytest.raises(StepWorkerLost):
            first.result(timeout=120)
        again = executor.submit(
            _FakeGpuStep("fake-sdxl-b", str(loads), str(marker)), frozenset({"gpu"})
        )
        pid = again.result(timeout=120)
    finally:
        executor.shutdown()
    assert pid != int(marker.read_text())  # a live actor ran the retry
    assert loads.read_text().split() == [str(pid)]  # the dead actor never loaded it


class _HoldGpu:
    """A GPU step that marks when it started, then holds its GPU for five minutes."""

    def __init__(self, started: str) -> None:
        self.started = started

    def __call__(self) -> str:
        Path(self.started).touch()
        time.sleep(300)
        return "finished"


def test_a_stopping_run_leaves_the_shared_gpu_actors_to_the_other_runs(tmp_path: Path) -> None:
    """The GPU actors serve every run: a run that stops marks its queued call cancelled
    (the actor skips it) without stopping the actor, where another run's step is running,
    and stops an actor only to stop its own running step."""
    gpu = frozenset({"gpu"})
    other, stopping = RayExecutor(SLOTS), RayExecutor(SLOTS)
    running = [other.submit(_HoldGpu(str(tmp_path / f"s{i}")), gpu) for i in range(2)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"s{i}").exists() for i in range(2)):  # both actors busy
        assert time.monotonic() < deadline
        time.sleep(0.05)
    queued = stopping.submit(_HoldGpu(str(tmp_path / "q")), gpu)
    stopping.shutdown(wait=False)
    time.sleep(1.0)
    assert not any(f.done() for f in running)  # the other run's steps still run
    other.shutdown(wait=False)  # its own running steps: their actors stop
    for future in [*running, queued]:
        with pytest.raises(Exception) as caught:
            future.result(timeout=60)
        assert isinstance(caught.value, StepWorkerLost) or "cancel" in repr(caught.value).lower()
    assert not (tmp_path / "q").exists()  # the stopped run's queued step never ran
    after = RayExecutor(SLOTS)
    try:  # the GPUs are free again (the stopped steps would hold them for five minutes)
        assert len(after.submit(_gpu_ids, gpu).result(timeout=120)) == 1
    finally:
        after.shutdown()


def test_a_second_driver_uses_the_models_the_first_one_loaded(tmp_path: Path) -> None:
    """The actors belong to the cluster: a run in another process (here: this process with
    its view of the actors forgotten) asks them what they hold and loads nothing again."""
    from sparkle_motion.executors.ray_actors import actor_pool

    gpu = frozenset({"gpu"})
    x, y = tmp_path / "loads-x", tmp_path / "loads-y"
    first = RayExecutor(SLOTS)
    try:  # at once: one model on each GPU's actor
        both = [first.submit(_FakeGpuStep(f"fake-{m.name}", str(m), hold_s=1.0), gpu)
                for m in (x, y)]  # fmt: skip
        x_pid, y_pid = (f.result(timeout=120) for f in both)
    finally:
        first.shutdown()
    assert x_pid != y_pid
    actor_pool().forget()  # a new driver knows nothing of the actors
    second = RayExecutor(SLOTS)
    try:
        again = second.submit(_FakeGpuStep(f"fake-{y.name}", str(y)), gpu).result(timeout=120)
    finally:
        second.shutdown()
    assert again == y_pid  # where the model was (a fresh driver would pick the first actor)
    assert y.read_text().split() == [str(y_pid)]  # loaded once, by the first run
