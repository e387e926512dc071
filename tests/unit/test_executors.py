"""The executor seam: what the scheduler submits crosses a process boundary intact."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from sparkle_motion import errors
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ConfigError, ModelOOMError, SparkleError
from sparkle_motion.executors import make_executor
from sparkle_motion.executors.local import LocalExecutor
from sparkle_motion.executors.process import ProcessExecutor
from sparkle_motion.production_agent import run_plan

SLOTS = {"cpu": 2, "gpu": 1, "image": 4, "video": 2}
PARENT_PID = os.getpid()


def small_plan() -> dict:
    return {
        "title": "Seam",
        "steps": [
            {"id": "img", "type": "image", "prompt": "a fox in the snow", "opts": {"scene": "a"}},
            {"id": "vid", "type": "video", "start_frames": ["step:img"],
             "opts": {"scene": "a", "num_frames": 8}},
            {"id": "say", "type": "tts", "text": "The fox waits.", "opts": {"scene": "a"}},
            {"id": "face", "type": "image", "prompt": "a smiling keeper", "opts": {"scene": "b"}},
            {"id": "hello", "type": "tts", "text": "Hello, fox.", "opts": {"scene": "b"}},
            {"id": "lip", "type": "lipsync", "face_video": "step:face", "audio": "step:hello",
             "opts": {"scene": "b"}},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8, "preset": "veryfast"},
    }  # fmt: skip


_HANDLERS: dict[int, object] = {}


class _Relay:
    """A picklable channel: it names its handler, which stays in this process."""

    def __init__(self, key: int) -> None:
        self.key = key

    def put(self, message: object) -> None:
        _HANDLERS[self.key](message)  # type: ignore[operator]


class PicklingExecutor(LocalExecutor):
    """Threads, but every submitted function must survive pickle (as for a process)."""

    submitted = 0

    def submit(self, fn, resources):  # type: ignore[no-untyped-def]
        type(self).submitted += 1
        return super().submit(pickle.loads(pickle.dumps(fn)), resources)

    @contextmanager
    def channel(self, handler):  # type: ignore[no-untyped-def]
        _HANDLERS[id(handler)] = handler
        try:
            yield _Relay(id(handler))
        finally:
            _HANDLERS.pop(id(handler), None)


def sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_what_the_scheduler_submits_pickles(tmp_path: Path) -> None:
    PicklingExecutor.submitted = 0
    events: list = []
    result = run_plan(
        small_plan(), profile="fixture", output=tmp_path / "m.mp4",
        executor=PicklingExecutor(SLOTS), on_progress=events.append,
    )  # fmt: skip
    assert result.status == "succeeded", result.summary
    assert PicklingExecutor.submitted == 6
    # images_agent's own batch events came back over the channel
    assert any(e.step_id == "img" and e.message == "images 1/1" for e in events)


def test_process_executor_gives_the_same_movie(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = {}
    for name in ("local", "process"):
        monkeypatch.setenv("SPARKLE_HOME", str(tmp_path / f"home-{name}"))
        events: list = []
        result = run_plan(
            small_plan(), profile="fixture", output=tmp_path / f"{name}.mp4",
            executor=make_executor(name, SLOTS), on_progress=events.append,
        )  # fmt: skip
        assert result.status == "succeeded", result.summary
        outcomes[name] = (
            [(a.step_id, a.sha256) for a in result.artifacts[:-1]],
            sha(tmp_path / f"{name}.mp4"),
            sorted(r.step_id for r in result.records if r.status == "succeeded"),
        )
        assert {e.step_id for e in events if e.message == "succeeded"} >= {"img", "lip"}
    assert outcomes["local"] == outcomes["process"]


def test_a_worker_process_error_arrives_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkle_motion import images_agent

    def always_oom(*a, **k):
        raise ModelOOMError("out of memory", model_key="wan2.1", stage="inference")

    monkeypatch.setattr(images_agent, "render", always_oom)  # forked workers see it
    result = run_plan(
        small_plan(), profile="fixture", executor=ProcessExecutor(SLOTS), sleep=lambda s: None
    )
    img = next(r for r in result.records if r.step_id == "img")
    assert result.status == "failed" and "first: img: out of memory" in result.summary
    assert img.status == "failed" and img.attempts == 2 and img.error_type == "model_oom"
    retry = get_store().memory_events(event_type="oom_retry")[0]["payload"]
    assert retry["details"]["model_key"] == "wan2.1" and retry["shrink"] == 0.5


def test_progress_events_come_back_from_workers() -> None:
    events: list = []
    executor = ProcessExecutor(SLOTS)
    try:
        with executor.channel(events.append) as channel:
            future = executor.submit(_Putter(channel), frozenset({"cpu"}))
            assert future.result(timeout=60) == ("sent", True)
    finally:
        executor.shutdown()
    assert events == ["one", "two"]  # all of them, in order, once the channel closes


def _nothing() -> None:
    return None


class _Putter:
    def __init__(self, channel) -> None:  # type: ignore[no-untyped-def]
        self.channel = channel

    def __call__(self) -> tuple[str, bool]:
        import os

        self.channel.put("one")
        self.channel.put("two")
        return "sent", os.getpid() != PARENT_PID


def test_slots_are_held_and_freed() -> None:
    executor = ProcessExecutor({"cpu": 1, "gpu": 1, "image": 1})
    try:
        assert executor.can_run(frozenset({"cpu", "image"}))
        future = executor.submit(_nothing, frozenset({"cpu", "image"}))
        future.result(timeout=60)
        assert executor.peak["image"] == 1
        deadline = time.monotonic() + 10  # the done callback frees them just after the result
        while not executor.can_run(frozenset({"cpu", "image"})) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert executor.can_run(frozenset({"cpu", "image"}))
    finally:
        executor.shutdown()


def test_unknown_executor_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"unknown executor 'ray2'.*local, process"):
        make_executor("ray2", SLOTS)
    monkeypatch.setenv("SPARKLE_EXECUTOR", "ray2")
    with pytest.raises(ConfigError, match="SPARKLE_EXECUTOR"):
        run_plan(small_plan(), profile="fixture")
    assert get_store().list_runs() == []  # refused before the run was recorded


@pytest.mark.parametrize(
    "error",
    [
        ModelOOMError("CUDA out of memory", model_key="sdxl", weights="w", stage="load"),
        errors.PlanSchemaError("bad", field="steps[0].id", stage="step", hint="fix it"),
        errors.TTSRetryableError("429", retry_after_s=2.5),
        errors.RunInterrupted("20261201-000000-abcd"),
        errors.SubprocessTimeout("too slow", result={"exit_code": -9}),
    ],
)
def test_errors_pickle_with_every_field(error: SparkleError) -> None:
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error) and back.to_dict() == error.to_dict()
    assert back.__dict__ == error.__dict__
