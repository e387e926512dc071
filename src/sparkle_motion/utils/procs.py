"""Process identity: a pid plus the time the kernel started it, so a reused pid is not taken
for the process we recorded.

A pid alone is not an identity: after a process exits the kernel hands its number to the
next process that starts. Whoever records a pid to act on it later (a run's owner, the
process groups a run's children run in) records a *start token* with it: the process's
start time in clock ticks since boot (``/proc/<pid>/stat`` field 22) tagged with the boot
id, which no other process on this machine will ever share. Where there is no ``/proc``
(macOS) no token can be read; the callers then fall back to "the pid exists", which is what
they did before tokens existed. A zombie (exited, not yet reaped) counts as gone.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def proc_available() -> bool:
    """True where process start times can be read (Linux ``/proc``)."""
    return (_PROC / "self" / "stat").is_file()


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start ticks) of ``pid`` from ``/proc/<pid>/stat``; None if it cannot be read."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and ')', so split after the last ')'
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]  # field 3 (state) and field 22 (starttime)


def start_token(pid: int, *, zombie_ok: bool = False) -> str | None:
    """``pid``'s start token (boot id and start ticks), or None: no /proc, no such process,
    or a zombie (unless ``zombie_ok``). Safe in a file name."""
    stat = _stat(pid)
    if stat is None or (stat[0] in ("Z", "X") and not zombie_ok):
        return None
    boot = _boot_id()
    return f"{boot}-{stat[1]}" if boot else stat[1]


def pid_exists(pid: int | None) -> bool:
    """True while a process with this pid exists and is not a zombie."""
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    stat = _stat(pid)
    return stat is None or stat[0] not in ("Z", "X")


def is_same_process(pid: int | None, token: str | None) -> bool:
    """True while ``pid`` is still the process that had ``token`` when it was recorded.

    Without a recorded token (or without /proc) this is :func:`pid_exists`."""
    if not pid or pid < 0:
        return False
    if not token or not proc_available():
        return pid_exists(pid)
    return start_token(pid) == token
