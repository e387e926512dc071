"""run_command: no shell, captured output, retries, process-group kill on timeout."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sparkle_motion.errors import SparkleError
from sparkle_motion.utils.procs import start_token
from sparkle_motion.utils.run_command import (
    SubprocessError,
    SubprocessTimeout,
    kill_recorded_groups,
    run_command,
)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], within_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_captures_stdout_and_stderr_separately(tmp_path: Path) -> None:
    result = run_command(["sh", "-c", "echo out; echo err >&2; pwd"], cwd=tmp_path)
    assert result.exit_code == 0 and result.attempts == 1 and not result.timed_out
    assert result.stdout.splitlines() == ["out", str(tmp_path)]
    assert result.stderr == "err\n"
    assert result.cmd == ["sh", "-c", "echo out; echo err >&2; pwd"]
    assert result.duration_s >= 0


def test_no_shell_interpretation_of_arguments(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    arg = f"$(touch {marker}); `touch {marker}` | ; && > {marker}"
    result = run_command(["printf", "%s", arg])
    assert result.stdout == arg
    assert not marker.exists()


def test_nonzero_exit_raises_with_stderr_tail() -> None:
    script = "echo first >&2; echo second >&2; echo the real cause >&2; exit 7"
    with pytest.raises(SubprocessError) as err:
        run_command(["sh", "-c", script], retries=0)
    assert isinstance(err.value, SparkleError) and err.value.code == "subprocess_error"
    assert "exit 7" in str(err.value) and "the real cause" in str(err.value)
    assert err.value.result is not None and err.value.result.exit_code == 7
    assert err.value.result.attempts == 1


def test_check_false_returns_the_failed_result() -> None:
    result = run_command(["sh", "-c", "exit 3"], retries=0, check=False)
    assert result.exit_code == 3


def test_retries_a_failed_command(tmp_path: Path) -> None:
    flag = tmp_path / "second-time"
    script = f'if [ -e "{flag}" ]; then echo ok; else touch "{flag}"; exit 5; fi'
    result = run_command(["sh", "-c", script], retries=1)
    assert result.exit_code == 0 and result.attempts == 2 and result.stdout == "ok\n"

    flag.unlink()
    with pytest.raises(SubprocessError, match="exit 5"):
        run_command(["sh", "-c", script], retries=0)


def test_retries_are_bounded(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = f'echo x >> "{counter}"; exit 1'
    with pytest.raises(SubprocessError) as err:
        run_command(["sh", "-c", script], retries=2)
    assert counter.read_text().count("x") == 3
    assert err.value.result is not None and err.value.result.attempts == 3


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # a shell with a background grandchild: killing only the shell would leave it running
    script = f'sleep 30 & echo $! > "{pids}"; echo $$ >> "{pids}"; sleep 30'
    with pytest.raises(SubprocessTimeout) as err:
        run_command(["sh", "-c", script], timeout_s=0.5, retries=0)
    assert err.value.code == "subprocess_timeout" and err.value.retryable
    assert err.value.result is not None and err.value.result.timed_out
    children = [int(x) for x in pids.read_text().split()]
    assert len(children) == 2
    assert _wait_gone(children) == []


def test_pgid_marker_exists_only_while_running(tmp_path: Path) -> None:
    record = tmp_path / "pgids" / "pg"
    seen = tmp_path / "seen"
    script = f'ls "{record.parent}" > "{seen}"'
    run_command(["sh", "-c", script], pgid_file=record)
    names = seen.read_text().split()
    assert len(names) == 1 and names[0].startswith("pg.")
    assert list(record.parent.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
def test_a_recycled_pgid_is_left_alone(tmp_path: Path) -> None:
    """A marker whose group leader has another start time names a process that reused the
    number: it is not the run's and must survive; the recorded one is killed."""
    import subprocess

    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    ours = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        tokens = [start_token(p.pid) for p in (stranger, ours)]
        assert all(tokens)
        pgids = tmp_path / "pgids"
        pgids.mkdir()
        wrong = str(tokens[0]).rsplit("-", 1)[0] + "-1"  # same boot, another start
        (pgids / f"pg.{stranger.pid}.{wrong}").write_text(str(stranger.pid))
        (pgids / f"pg.{ours.pid}.{tokens[1]}").write_text(str(ours.pid))
        assert kill_recorded_groups(tmp_path) == 1
        assert ours.wait(timeout=5) == -9
        assert stranger.poll() is None, "an unrelated process with a reused pgid was killed"
        assert list(pgids.iterdir()) == []
    finally:
        for proc in (stranger, ours):
            proc.kill()
            proc.wait()


def test_refuses_nul_bytes_and_non_lists() -> None:
    with pytest.raises(SubprocessError, match="NUL"):
        run_command(["echo", "a\x00b"])
    with pytest.raises(SubprocessError, match="non-empty list"):
        run_command([])
    with pytest.raises(SubprocessError, match="non-empty list"):
        run_command(["echo", 3])  # type: ignore[list-item]


def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(SubprocessError, match="cannot start"):
        run_command([f"/nonexistent/prog-{os.getpid()}"])


def test_on_line_streams_stdout_while_the_child_runs(tmp_path: Path) -> None:
    flag = tmp_path / "heard"
    # the child waits for the file the callback writes on its first line: only a live
    # stream lets it finish before the timeout
    script = (
        "import os, sys, time\n"
        "print('ready', flush=True)\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.02)\n"
        "print('done', flush=True)\n"
    )
    heard: list[str] = []

    def on_line(line: str) -> None:
        heard.append(line)
        flag.write_text("yes")

    result = run_command(["python3", "-c", script], timeout_s=20, retries=0, on_line=on_line)
    assert heard == ["ready", "done"]
    assert result.stdout == "ready\ndone\n", "stdout is still captured whole"


def test_on_line_keeps_the_timeout_kill(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f'sleep 30 & echo $! > "{pids}"; echo started; sleep 30'
    heard: list[str] = []
    with pytest.raises(SubprocessTimeout):
        run_command(["sh", "-c", script], timeout_s=0.5, retries=0, on_line=heard.append)
    assert heard == ["started"]
    assert _wait_gone([int(pids.read_text())]) == []
