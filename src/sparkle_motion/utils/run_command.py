"""Run a subprocess safely: no shell, logs captured, process-group kill on timeout, retries.

Every child starts in its own session (process group), so a timeout or a cancelled run
kills it and everything it spawned. When ``pgid_file`` is given the group id is recorded
there while the child runs, so that ``resume`` can kill what a killed run left behind.

A recorded group id may since have been reused by an unrelated process (the run was killed
long ago, its children exited, the pids came round again), so the marker also names the
group leader's start token (:mod:`sparkle_motion.utils.procs`), and a group is killed only
while its leader is still the process that was recorded. The token is in the marker's name,
not its content, so markers written before tokens existed (content: the pgid) still read.

``on_line`` streams the child's stdout line by line while it runs (e.g. ffmpeg's
``-progress pipe:1``), called on the caller's thread so run context and progress stay
where they were; the whole stdout is still captured for the result.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sparkle_motion.errors import SubprocessError, SubprocessTimeout
from sparkle_motion.utils.procs import proc_available, start_token


@dataclass
class SubprocessResult:
    """What a command did (the spec's SubprocessResult)."""

    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    cmd: list[str] = field(default_factory=list)
    attempts: int = 1
    timed_out: bool = False

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr, for one-line error messages."""
        return " | ".join(self.stderr.strip().splitlines()[-lines:])


def _check_cmd(cmd: list[str]) -> list[str]:
    if not cmd or not all(isinstance(part, str) for part in cmd):
        raise SubprocessError("a command must be a non-empty list of strings (no shell)")
    if any("\x00" in part for part in cmd):
        raise SubprocessError("a command argument contains a NUL byte")
    return cmd


def kill_process_group(pgid: int) -> bool:
    """SIGKILL a process group; True if it existed."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _still_ours(pgid: int, token: str | None) -> bool:
    """True when group ``pgid`` is still the one recorded with its leader's ``token``."""
    if not token or not proc_available():
        return True  # nothing to check against: a marker from before tokens, or no /proc
    current = start_token(pgid, zombie_ok=True)
    if current is None:
        # the leader is gone; while any member of its group lives the kernel does not hand
        # the number out again, so whatever still answers to this pgid is the run's own
        return True
    return current == token


def kill_recorded_groups(run_dir: Path) -> int:
    """Kill every process group recorded under ``run_dir`` (by ``pgid_file``) that is still
    the one recorded, and forget them all; returns how many were killed."""
    killed = 0
    for marker in (Path(run_dir) / "pgids").glob("pg.*"):
        parts = marker.name.split(".", 2)
        token = parts[2] if len(parts) == 3 else None
        try:
            pgid = int(marker.read_text())
            if pgid > 1 and _still_ours(pgid, token):
                killed += kill_process_group(pgid)
        except (ValueError, OSError):
            pass
        marker.unlink(missing_ok=True)
    return killed


def _wait_streaming(
    proc: subprocess.Popen, timeout_s: float, on_line: Callable[[str], None], sink
) -> None:
    """Wait for ``proc`` while handing each stdout line to ``on_line`` on this thread."""
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            sink.write(raw)
            lines.put(raw)
        lines.put(None)

    reader = threading.Thread(target=pump, name="run-command-stdout", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
        try:
            raw = lines.get(timeout=min(left, 0.25))
        except queue.Empty:
            continue
        if raw is None:
            break
        on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
    reader.join()
    proc.stdout.close()
    proc.wait(timeout=max(0.1, deadline - time.monotonic()))


def _wait(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for ``proc`` to exit; at ``timeout_s`` a timer kills its process group. True if
    it did. (``Popen.wait(timeout)`` polls with sleeps of up to 50 ms, so every command ended
    up to 50 ms after its process did; a blocking wait returns at once.)"""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        kill_process_group(proc.pid)

    timer = threading.Timer(timeout_s, expire)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()
    finally:
        timer.cancel()
    return expired.is_set()


def _run_once(
    cmd: list[str],
    cwd: Path | None,
    timeout_s: float,
    pgid_file: Path | None,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> SubprocessResult:
    started = time.perf_counter()
    with (
        tempfile.TemporaryFile(mode="w+b") as out,
        tempfile.TemporaryFile(mode="w+b") as err,
    ):
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if on_line else out,
                stderr=err,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise SubprocessError(f"cannot start {cmd[0]}: {exc.strerror or exc}") from None
        marker = None
        if pgid_file is not None:
            pgid_file.parent.mkdir(parents=True, exist_ok=True)
            token = start_token(proc.pid, zombie_ok=True)
            name = f"{pgid_file.name}.{proc.pid}" + (f".{token}" if token else "")
            marker = pgid_file.with_name(name)
            marker.write_text(str(proc.pid))
        timed_out = False
        try:
            if on_line is None:
                timed_out = _wait(proc, timeout_s)
            else:
                _wait_streaming(proc, timeout_s, on_line, out)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_process_group(proc.pid)
            proc.wait()
        except BaseException:
            kill_process_group(proc.pid)
            proc.wait()
            raise
        finally:
            if marker is not None:
                marker.unlink(missing_ok=True)
        out.seek(0)
        err.seek(0)
        return SubprocessResult(
            exit_code=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            duration_s=time.perf_counter() - started,
            cmd=list(cmd),
            timed_out=timed_out,
        )


def run_command(
    cmd: list[str],
    cwd: Path | str | None = None,
    timeout_s: float = 600,
    retries: int = 1,
    *,
    check: bool = True,
    pgid_file: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> SubprocessResult:
    """Run ``cmd`` and return its result (the spec's ``run_command``).

    Args:
        cmd: program and arguments; never passed through a shell.
        cwd: working directory.
        timeout_s: the whole process group is killed when this passes.
        retries: extra attempts after a timeout or a non-zero exit.
        check: raise SubprocessError / SubprocessTimeout when the last attempt fails.
        pgid_file: record the child's process group here while it runs (for resume);
            by default under the current run's folder, when there is a run.
        on_line: called with each stdout line as it arrives, on this thread.
        env: the child's whole environment (default: this process's).
    """
    _check_cmd(cmd)
    if pgid_file is None:
        from sparkle_motion.run_context import current_run_context

        run_dir = current_run_context().run_dir
        if run_dir:
            pgid_file = Path(run_dir) / "pgids" / "pg"
    result: SubprocessResult | None = None
    for attempt in range(1, max(1, retries + 1) + 1):
        result = _run_once(cmd, Path(cwd) if cwd else None, timeout_s, pgid_file, on_line, env)
        result.attempts = attempt
        if result.exit_code == 0 and not result.timed_out:
            return result
        if attempt > retries:
            break
    assert result is not None
    if check:
        name = Path(cmd[0]).name
        if result.timed_out:
            raise SubprocessTimeout(f"{name} did not finish within {timeout_s:g} s", result=result)
        raise SubprocessError(
            f"{name} failed (exit {result.exit_code}): {result.tail(3)}", result=result
        )
    return result
