"""Soak: runs of one plan in one workspace, interrupted at 20 points drawn with a fixed seed
(kill -9, SIGSTOP, Ctrl-C), each followed by resume. Every movie must end in the reference
bytes, with no temp file left behind and nothing of the run still running."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.integration.test_runs import cli, plan_data, write_plan

from sparkle_motion.db.store import Store

SEED = 20261201
POINTS = 20
KINDS = ("kill", "stop", "interrupt")


def _leftovers(home: Path) -> list[str]:
    """Temp files a finished run must not leave: step and assembly work files, the parts of
    publishing and of segment encodes."""
    found = [p for p in (home / "runs").glob("*/tmp/**/*") if p.is_file()]
    found += [p for p in (home / "tmp").glob("**/*") if p.is_file()]
    found += list((home / "cache").glob("**/.*.part*"))
    return sorted(str(p.relative_to(home)) for p in found)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _forget_cache(store: Store, home: Path) -> None:
    """Make the next run do the work again (the blobs stay: same bytes, same addresses)."""
    with store.connect() as conn:
        conn.execute("DELETE FROM step_cache")
    for seg in (home / "cache" / "segments").glob("*"):
        if seg.is_file():
            seg.unlink()


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _newest(store: Store) -> str | None:
    runs = store.list_runs(limit=1)
    return runs[0]["run_id"] if runs else None


def _started(store: Store, before: str | None) -> str:
    """The run a command just started, once its record exists (the newest run is no longer
    ``before``; counting runs does not work: list_runs returns 20 at most)."""
    deadline = time.monotonic() + 30
    while (newest := _newest(store)) == before or newest is None:
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)
    return newest


def _run_span(store: Store, home: Path, plan: Path, movie: Path, env: dict) -> float:
    """Seconds an uninterrupted run takes from its record to its exit: the signals are
    drawn as fractions of it, so they fall inside runs on a fast machine and a slow one."""
    _forget_cache(store, home)
    before = _newest(store)
    proc = cli("run", str(plan), "--profile", "fixture", "-o", str(movie), env=env)
    _started(store, before)
    began = time.monotonic()
    code, err = _finish(proc)
    assert code == 0, err
    return time.monotonic() - began


@pytest.mark.slow
def test_interrupted_runs_resume_to_the_same_bytes(tmp_path: Path, sparkle_home: Path) -> None:
    plan = write_plan(tmp_path, plan_data(2))
    config = tmp_path / "config"
    config.mkdir()
    (config / "sparkle.yaml").write_text("heartbeat_interval_s: 0.2\nstale_heartbeat_s: 1.0\n")
    env = {"SPARKLE_CONFIG_DIR": str(config), "SPARKLE_FIXTURE_DELAY_S": "0.3"}
    reference = tmp_path / "reference.mp4"
    code, err = _finish(
        cli("run", str(plan), "--profile", "fixture", "-o", str(reference),
            env={**env, "SPARKLE_HOME": str(tmp_path / "reference-home")})
    )  # fmt: skip
    assert code == 0, err
    want = reference.read_bytes()

    store = Store(sparkle_home / "sparkle.db")
    rng = random.Random(SEED)
    movie = tmp_path / "movie.mp4"
    seen: dict[str, int] = dict.fromkeys(KINDS, 0)
    span = _run_span(store, sparkle_home, plan, movie, env)
    assert movie.read_bytes() == want
    resumes = 0
    point = tries = 0
    while point < POINTS:  # a run that finished before its signal is not a point: draw again
        tries += 1
        assert tries <= 2 * POINTS, f"only {point} of {tries} signals came while a run ran"
        kind = rng.choice(KINDS)
        at = rng.uniform(0.05, 0.95) * span
        _forget_cache(store, sparkle_home)
        before = _newest(store)
        proc = cli("run", str(plan), "--profile", "fixture", "-o", str(movie), env=env)
        run_id = _started(store, before)
        time.sleep(at)
        if proc.poll() is None:
            seen[kind] += 1
            point += 1
            if kind == "kill":
                os.killpg(proc.pid, signal.SIGKILL)
            elif kind == "interrupt":
                os.killpg(proc.pid, signal.SIGINT)
            else:  # suspended past the heartbeat's staleness: still its owner's run
                os.killpg(proc.pid, signal.SIGSTOP)
                try:
                    time.sleep(1.5)
                    code, err = _finish(cli("resume", run_id, env=env), timeout=60)
                    # (stopped while it was already exiting: refused as finished)
                    done = store.get_run(run_id)["status"] == "succeeded"
                    refusal = "already finished" if done else "still running"
                    assert code == 2 and refusal in err, (point, code, err)
                finally:
                    os.killpg(proc.pid, signal.SIGCONT)
        code, err = _finish(proc)
        if store.get_run(run_id)["status"] != "succeeded":  # else the signal came at exit
            assert code in (-signal.SIGKILL, 130), (point, kind, code, err)
            resumes += 1
            code, err = _finish(cli("resume", run_id, "-o", str(movie), env=env))
            assert code == 0, (point, kind, err)
        assert movie.read_bytes() == want, (point, kind, at)
        assert _leftovers(sparkle_home) == [], (point, kind)
        assert not _group_alive(proc.pid), (point, kind)
    assert all(seen.values()), seen  # the seed draws every kind of interruption
    print(
        f"soak: {POINTS} points {seen} in {tries} runs, {resumes} resumes, same bytes, no leftovers"
    )
