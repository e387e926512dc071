"""Whole runs as a person makes them: the CLI, a killed run resumed, concurrent runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.media import decode_audio, integrated_loudness, sound_onsets, subtitle_cues

from sparkle_motion.db.store import Store
from sparkle_motion.errors import PlanSchemaError
from sparkle_motion.production_agent import RunStateError, resume_run, run_plan
from sparkle_motion.utils.ffmpeg import probe

SCRIPT = Path(sys.executable).parent / "sparkle-motion"
# each run goes over the local (threads) and the process executor (the CLI's too)
pytestmark = pytest.mark.usefixtures("executor")


def plan_data(n_scenes: int = 3, tag: str = "") -> dict:
    lines = [
        "The keeper climbs the stairs. The lamp is cold tonight.",
        "A whale sings below the cliff: a long, low song!",
        "By morning, they are friends; the sea is calm again.",
        "The end of the story.",
    ]
    steps = []
    for i in range(1, n_scenes + 1):
        steps += [
            {
                "id": f"img{i}",
                "type": "image",
                "prompt": f"keeper and whale {i}{tag}",
                "opts": {"scene": f"s{i}"},
            },
            {
                "id": f"vid{i}",
                "type": "video",
                "start_frames": [f"step:img{i}"],
                "opts": {"scene": f"s{i}", "num_frames": 24},
            },
            {
                "id": f"say{i}",
                "type": "tts",
                "text": lines[(i - 1) % len(lines)],
                "opts": {"scene": f"s{i}"},
            },
        ]
    return {"title": f"Keeper {tag}", "steps": steps,
            "assemble_opts": {"width": 320, "height": 180, "fps": 12, "preset": "veryfast"}}  # fmt: skip


def write_plan(folder: Path, data: dict, name: str = "plan.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sparkle_motion.cli"]
    return subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, start_new_session=True, **kw,
    )  # fmt: skip


def test_fixture_run_makes_a_correct_movie(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, plan_data(3))
    movie = tmp_path / "movie.mp4"
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(movie))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Movie:" in out and str(movie) in out
    info = probe(movie)
    assert info.has_video and info.has_audio and (info.width, info.height) == (320, 180)
    assert info.subtitle_streams == 1 and movie.with_suffix(".srt").is_file()
    # duration: the narration total plus a pad per scene, within one frame
    from sparkle_motion.function_tools.tts_chatterbox.fixture import (
        SENTENCE_GAP_S,
        WORD_GAP_S,
        WORD_S,
    )

    data = plan_data(3)
    speech = 0.0
    for step in data["steps"]:
        if step["type"] == "tts":
            from sparkle_motion.function_tools.tts_chatterbox.fixture import split_sentences

            sentences = split_sentences(step["text"])
            words = sum(len(s.split()) for s in sentences)
            speech += words * (WORD_S + WORD_GAP_S) + len(sentences) * SENTENCE_GAP_S
    expected = speech + 3 * 0.6
    assert abs(info.duration_s - expected) <= 1 / 12 + 0.05
    # subtitles start where each sentence's sound starts (within 100 ms)
    samples = decode_audio(movie)
    onsets = sound_onsets(samples, min_gap_s=0.3)
    cues = subtitle_cues(movie)
    assert len(cues) == 4  # one per sentence
    for start, _end, _text in cues:
        assert min(abs(start - o) for o in onsets) <= 0.1, (start, onsets)
    assert cues[1][2] == "The lamp is cold tonight."
    assert abs(integrated_loudness(movie) - (-16.0)) <= 1.0


def test_same_plan_twice_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_plan(plan_data(2), profile="fixture", output=tmp_path / "a.mp4")
    monkeypatch.setenv("SPARKLE_HOME", str(tmp_path / "other-home"))
    second = run_plan(plan_data(2), profile="fixture", output=tmp_path / "b.mp4")
    assert first.status == second.status == "succeeded"
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_resume_after_kill_redoes_no_finished_step(tmp_path: Path, sparkle_home: Path) -> None:
    plan = write_plan(tmp_path, plan_data(3))
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(tmp_path / "movie.mp4"),
               env={"SPARKLE_FIXTURE_DELAY_S": "0.3", "SPARKLE_CPU_SLOTS": "1"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")

    def finished() -> list:
        runs = store.list_runs()
        if not runs:
            return []
        return [r for r in store.step_records(run_id=runs[0]["run_id"]) if r.status == "succeeded"]

    _wait_for(lambda: len(finished()) >= 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {r.step_id for r in finished()}
    run_id = store.list_runs()[0]["run_id"]
    assert store.get_run(run_id)["status"] == "running"  # it never got to say otherwise
    assert 3 <= len(done_before) < 9

    result = resume_run(run_id)
    assert result.status == "succeeded", result.summary
    records = {r.step_id: r for r in result.records}
    for sid in done_before:
        assert records[sid].cache_hit, f"{sid} was redone"
    assert all(not records[s].cache_hit for s in records if s not in done_before | {"assemble"})
    assert not list((sparkle_home / "runs" / run_id / "pgids").glob("pg.*"))
    # the resumed movie has the same bytes as an uninterrupted run
    fresh = run_plan(plan_data(3), profile="fixture", output=tmp_path / "fresh.mp4")
    assert (tmp_path / "movie.mp4").read_bytes() == (tmp_path / "fresh.mp4").read_bytes()
    assert fresh.status == "succeeded"


def test_resuming_a_live_run_is_refused(tmp_path: Path, sparkle_home: Path) -> None:
    plan = write_plan(tmp_path, plan_data(2))
    proc = cli("run", str(plan), "--profile", "fixture",
               env={"SPARKLE_FIXTURE_DELAY_S": "2", "SPARKLE_CPU_SLOTS": "1"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")
    try:
        _wait_for(lambda: bool(store.list_runs()))
        run_id = store.list_runs()[0]["run_id"]
        with pytest.raises(RunStateError, match="still running"):
            resume_run(run_id)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with pytest.raises(RunStateError, match="no run"):
        resume_run("19990101-000000-dead")


def test_two_runs_at_once_on_one_workspace(tmp_path: Path) -> None:
    procs = [
        cli("run", str(write_plan(tmp_path / f"p{i}", plan_data(2, tag=f" v{i}"))), "--profile",
            "fixture", "-o", str(tmp_path / f"m{i}.mp4"))
        for i in range(2)
    ]  # fmt: skip
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    assert probe(tmp_path / "m0.mp4").has_audio and probe(tmp_path / "m1.mp4").has_audio


@pytest.mark.executors("local")  # validation refuses it: no step runs
def test_unsafe_paths_write_nothing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x")
    folder = tmp_path / "project"
    data = plan_data(1)
    data["steps"].append(
        {"id": "lip", "type": "lipsync", "face_video": "../outside.mp4", "audio": "step:say1"}
    )
    write_plan(folder, data)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(PlanSchemaError, match=r"\.\."):
        run_plan(data, profile="fixture", base_dir=folder)
    data["steps"][-1]["face_video"] = "-i.mp4"
    with pytest.raises(PlanSchemaError, match="starts with '-'"):
        run_plan(data, profile="fixture", base_dir=folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path, sparkle_home: Path) -> None:
    plan = write_plan(tmp_path, plan_data(2))
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(tmp_path / "m.mp4"),
               env={"SPARKLE_FIXTURE_DELAY_S": "0.5", "SPARKLE_CPU_SLOTS": "1"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")
    _wait_for(lambda: bool(store.list_runs()) and any(
        r.status == "succeeded" for r in store.step_records(run_id=store.list_runs()[0]["run_id"])
    ))  # fmt: skip
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    run_id = store.list_runs()[0]["run_id"]
    assert proc.returncode == 130
    assert f"sparkle-motion resume {run_id}" in err and "Traceback" not in err
    assert store.get_run(run_id)["status"] == "interrupted"
    resumed = cli("resume", run_id)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "Movie:" in out and (tmp_path / "m.mp4").is_file()


@pytest.mark.executors("local")
def test_a_run_keeps_one_copy_of_its_movie(tmp_path: Path, sparkle_home: Path) -> None:
    result = run_plan(plan_data(1), profile="fixture", output=tmp_path / "m.mp4")
    assert result.status == "succeeded", result.summary
    run_dir = sparkle_home / "runs" / result.run_id
    assert not [p.name for p in run_dir.rglob("*") if p.suffix in (".mp4", ".srt")]
    assert result.movie is not None and result.movie.path.is_file()
    assert (tmp_path / "m.mp4").read_bytes() == result.movie.path.read_bytes()


def _killed_run(tmp_path: Path, sparkle_home: Path, steps_done: int = 2) -> str:
    """A fixture run killed with kill -9 after ``steps_done`` steps: its id."""
    plan = write_plan(tmp_path, plan_data(2))
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(tmp_path / "movie.mp4"),
               env={"SPARKLE_FIXTURE_DELAY_S": "0.3", "SPARKLE_CPU_SLOTS": "1"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")
    _wait_for(lambda: bool(store.list_runs()) and sum(
        r.status == "succeeded" for r in store.step_records(run_id=store.list_runs()[0]["run_id"])
    ) >= steps_done)  # fmt: skip
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return store.list_runs()[0]["run_id"]


@pytest.mark.executors("local")
def test_a_stopped_run_is_not_taken_for_dead(
    tmp_path: Path, sparkle_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP (Ctrl-Z) silences the owner's heartbeat past ``stale_heartbeat_s``: the run is
    still its owner's, resume is refused, and after SIGCONT the owner finishes it."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sparkle.yaml").write_text("stale_heartbeat_s: 0.5\nheartbeat_interval_s: 0.1\n")
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(config))
    plan = write_plan(tmp_path, plan_data(2))
    movie = tmp_path / "movie.mp4"
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(movie),
               env={"SPARKLE_FIXTURE_DELAY_S": "0.3", "SPARKLE_CPU_SLOTS": "1"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")
    try:
        _wait_for(lambda: bool(store.list_runs()) and any(
            r.status == "succeeded"
            for r in store.step_records(run_id=store.list_runs()[0]["run_id"])
        ))  # fmt: skip
        run_id = store.list_runs()[0]["run_id"]
        os.killpg(proc.pid, signal.SIGSTOP)
        time.sleep(1.5)  # three times the heartbeat lease
        assert time.time() - store.get_run(run_id)["heartbeat_at"] > 0.5
        with pytest.raises(RunStateError, match="still running"):
            resume_run(run_id)
        status = cli("status", run_id)
        out, _err = status.communicate(timeout=120)
        assert f"run {run_id} · running (live)" in out
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert store.get_run(run_id)["status"] == "succeeded" and probe(movie).has_audio


@pytest.mark.executors("local")
def test_two_resumes_of_one_dead_run_one_wins(tmp_path: Path, sparkle_home: Path) -> None:
    """Two ``resume`` started at once on the same killed run: exactly one runs it, the other
    is refused with one line and exit 2; ``status`` showed the killed run as dead."""
    run_id = _killed_run(tmp_path, sparkle_home)
    shown = cli("status", run_id)
    out, _err = shown.communicate(timeout=120)
    assert f"run {run_id} · dead" in out
    slow = {"SPARKLE_FIXTURE_DELAY_S": "1", "SPARKLE_CPU_SLOTS": "1"}  # both start while open
    resumes = [cli("resume", run_id, env=slow) for _ in range(2)]
    results = [(*p.communicate(timeout=300), p.returncode) for p in resumes]
    codes = sorted(code for _out, _err, code in results)
    assert codes == [0, 2], results
    (_out, refusal, _code) = next(r for r in results if r[2] == 2)
    assert len(refusal.strip().splitlines()) == 1, refusal
    assert "already finished" not in refusal  # both were started while the run was open
    assert "cannot be resumed" in refusal
    assert Store(sparkle_home / "sparkle.db").get_run(run_id)["status"] == "succeeded"
    assert probe(tmp_path / "movie.mp4").has_audio


@pytest.mark.executors("local")
def test_ctrl_c_gives_the_prompt_back_while_a_step_still_works(
    tmp_path: Path, sparkle_home: Path
) -> None:
    # every fixture step sleeps 30 s: the run must not wait for the one under way
    plan = write_plan(tmp_path, plan_data(1))
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(tmp_path / "m.mp4"),
               env={"SPARKLE_FIXTURE_DELAY_S": "30"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")
    _wait_for(lambda: bool(store.list_runs()) and any(
        r.status == "running" for r in store.step_records(run_id=store.list_runs()[0]["run_id"])
    ))  # fmt: skip
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    _out, err = proc.communicate(timeout=25)
    assert time.monotonic() - sent < 15, "it waited for the 30 s step"
    run_id = store.list_runs()[0]["run_id"]
    assert proc.returncode == 130 and f"sparkle-motion resume {run_id}" in err
    assert err.count("stopped:") == 1 and "Traceback" not in err
    assert store.get_run(run_id)["status"] == "interrupted"
    tmp = sparkle_home / "runs" / run_id / "tmp"
    assert not [p for p in tmp.rglob("*") if p.is_file()]  # Ctrl-C cleans its own


@pytest.mark.executors("local")
def test_the_next_run_cleans_what_a_killed_run_left(tmp_path: Path, sparkle_home: Path) -> None:
    from sparkle_motion.utils.procs import start_token

    plan = write_plan(tmp_path, plan_data(3))
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(tmp_path / "movie.mp4"),
               env={"SPARKLE_FIXTURE_DELAY_S": "0.3", "SPARKLE_CPU_SLOTS": "1"})  # fmt: skip
    store = Store(sparkle_home / "sparkle.db")
    _wait_for(lambda: bool(store.list_runs()) and any(
        r.status == "succeeded" for r in store.step_records(run_id=store.list_runs()[0]["run_id"])
    ))  # fmt: skip
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    dead = store.list_runs()[0]["run_id"]
    run_dir = sparkle_home / "runs" / dead
    # what a render of the dead run would have left: a child still running, a temp file
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    (run_dir / "pgids").mkdir(parents=True, exist_ok=True)
    (run_dir / "pgids" / f"pg.{child.pid}.{start_token(child.pid)}").write_text(str(child.pid))
    (run_dir / "tmp" / "img9").mkdir(parents=True, exist_ok=True)
    (run_dir / "tmp" / "img9" / "frame.png").write_bytes(b"half")
    try:
        other = run_plan(plan_data(1, tag=" other"), profile="fixture")
        assert other.status == "succeeded"
        assert child.wait(timeout=10) == -signal.SIGKILL
        assert not [p for p in (run_dir / "tmp").rglob("*") if p.is_file()]
        assert store.get_run(dead)["status"] == "interrupted"
        assert resume_run(dead).status == "succeeded"  # still resumable
    finally:
        if child.poll() is None:
            child.kill()
