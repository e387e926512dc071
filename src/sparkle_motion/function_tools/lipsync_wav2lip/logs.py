"""What a lip-sync backend's subprocesses printed, kept in two files beside its output.

Every command a backend runs (Wav2Lip's inference.py and each ffmpeg pass, every attempt)
is appended to ``<out>.stdout.log`` and ``<out>.stderr.log`` under a ``$ command`` header
with its attempt, exit code and duration, so a failed sync can be read after the fact.
videos_agent publishes them as the step's companion artifact (its ``logs_uri``).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from sparkle_motion.utils.run_command import SubprocessResult


class RunLogs:
    """The two log files of one backend call (created on the first :meth:`add`)."""

    def __init__(self, out_path: Path) -> None:
        out_path = Path(out_path)
        self.stdout_path = out_path.with_name(out_path.name + ".stdout.log")
        self.stderr_path = out_path.with_name(out_path.name + ".stderr.log")
        for path in (self.stdout_path, self.stderr_path):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")

    def add(self, result: SubprocessResult, what: str = "") -> None:
        state = "timed out" if result.timed_out else f"exit {result.exit_code}"
        header = (
            f"$ {shlex.join(result.cmd)}\n# {what + ', ' if what else ''}attempt "
            f"{result.attempts}, {state}, {result.duration_s:.2f} s\n"
        )
        for path, text in ((self.stdout_path, result.stdout), (self.stderr_path, result.stderr)):
            with path.open("a", encoding="utf-8") as f:
                f.write(header + text + ("" if not text or text.endswith("\n") else "\n"))

    def metadata(self) -> dict[str, Any]:
        """``stdout_path``/``stderr_path`` and their file URIs (the spec's log URIs)."""
        return {
            "stdout_path": str(self.stdout_path),
            "stderr_path": str(self.stderr_path),
            "stdout_uri": self.stdout_path.resolve().as_uri(),
            "stderr_uri": self.stderr_path.resolve().as_uri(),
        }
