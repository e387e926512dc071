"""The client side of the Chatterbox worker: one long-lived process, its own process group.

:class:`WorkerEngine` starts ``chatterbox_worker.py`` under another interpreter, asks it to
load the model once, then sends it one sentence at a time (protocol: see
:mod:`.chatterbox_worker`). It is what the gpu_utils model pool holds for the full
backend, so a run starts one worker and keeps it warm between lines; evicting the pool
entry (or the process exiting) stops it.

Failures are the TTS taxonomy's, so tts_agent can fail over: a worker that exits, or does
not answer within the timeout (it is then killed with its whole process group), is
``TTSProviderUnavailable``; a request it refuses as bad input is ``TTSInvalidInputError``.
Ctrl-C while waiting kills the worker's group before the interrupt goes on, so nothing is
left behind.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from sparkle_motion.errors import ModelOOMError, TTSInvalidInputError, TTSProviderUnavailable

START_TIMEOUT_S = 120.0  # interpreter start and imports
_EOF = object()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's process group and reap it (idempotent)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def _read_stdout(stream: Any, lines: queue.Queue[Any], stderr: collections.deque[str]) -> None:
    try:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                lines.put(json.loads(line))
            except json.JSONDecodeError:
                stderr.append(f"(not protocol) {line[:200]}")
    except (OSError, ValueError):
        pass
    lines.put(_EOF)


def _read_stderr(stream: Any, stderr: collections.deque[str]) -> None:
    try:
        for line in stream:
            stderr.append(line.rstrip())
    except (OSError, ValueError):
        pass


class WorkerEngine:
    """A running Chatterbox worker with its model loaded (see the module docstring)."""

    def __init__(
        self,
        python: str,
        script: str | Path,
        *,
        variant: str,
        model: str | None,
        device: str,
        load_timeout_s: float,
        line_timeout_s: float,
    ) -> None:
        self.python, self.script = python, str(script)
        self.line_timeout_s = line_timeout_s
        self.watermarked = True  # Chatterbox's Perth watermark, until the worker says otherwise
        self._lock = threading.Lock()
        self._next_id = 0
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._lines: queue.Queue[Any] = queue.Queue()
        try:
            self.proc = subprocess.Popen(
                [python, "-u", self.script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                bufsize=1,
                start_new_session=True,  # its own process group: killed as one
            )
        except OSError as exc:
            raise TTSProviderUnavailable(
                f"could not start the Chatterbox worker with {python}: {exc}"
            ) from None
        # the pool entry (this object) going away stops the worker; so does our exit
        self._finalizer = weakref.finalize(self, _kill_group, self.proc)
        # the readers hold the streams, never this object (so the pool can let it go)
        threading.Thread(
            target=_read_stdout, args=(self.proc.stdout, self._lines, self._stderr),
            daemon=True, name="chatterbox-out",
        ).start()  # fmt: skip
        threading.Thread(
            target=_read_stderr, args=(self.proc.stderr, self._stderr),
            daemon=True, name="chatterbox-err",
        ).start()  # fmt: skip
        ready = self._wait(START_TIMEOUT_S, "start")
        if ready.get("event") != "ready":
            self.close()
            raise TTSProviderUnavailable(f"the Chatterbox worker said {ready!r} instead of ready")
        self.pid = int(ready.get("pid") or self.proc.pid)
        loaded = self.request(
            {"op": "load", "variant": variant, "model": model, "device": device},
            timeout_s=load_timeout_s,
        )
        self.sample_rate = int(loaded["sample_rate"])
        self.device = str(loaded.get("device") or device)
        self.model_id = str(loaded.get("model_id") or model)

    def _tail(self) -> str:
        lines = [s for s in self._stderr if s.strip()]
        return " | ".join(lines[-3:])[-400:]

    def _wait(self, timeout_s: float, what: str) -> dict[str, Any]:
        try:
            item = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            self.close(kill=True)
            raise TTSProviderUnavailable(
                f"the Chatterbox worker did not answer ({what}) within {timeout_s:g} s; stopped it"
            ) from None
        except BaseException:  # Ctrl-C (KeyboardInterrupt) or a cancelled thread
            self.close(kill=True)
            raise
        if item is _EOF:
            code = self.proc.wait()
            tail = self._tail()
            self.close(kill=True)
            raise TTSProviderUnavailable(
                f"the Chatterbox worker exited (code {code}) during {what}"
                + (f": {tail}" if tail else "")
            )
        return item

    # ---------------------------------------------------------------------------- requests

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, payload: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its reply; failures as the TTS taxonomy's."""
        with self._lock:
            if not self.alive:
                raise TTSProviderUnavailable("the Chatterbox worker is not running")
            self._next_id += 1
            rid = self._next_id
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"id": rid, **payload}) + "\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):
                self._wait(1.0, payload.get("op", "request"))  # reports the exit
                raise TTSProviderUnavailable("the Chatterbox worker closed its input") from None
            while True:
                reply = self._wait(timeout_s, str(payload.get("op")))
                if reply.get("id") == rid:
                    break
        if reply.get("ok"):
            return reply
        message = f"Chatterbox: {reply.get('error', 'failed')}"
        kind = reply.get("kind")
        if kind == "invalid_input":
            raise TTSInvalidInputError(message)
        if kind == "oom":
            raise ModelOOMError(message, model_key="chatterbox", stage=str(payload.get("op")))
        raise TTSProviderUnavailable(message)

    def generate(self, text: str, *, out_dir: Path, **kw: Any) -> np.ndarray:
        """One sentence, spoken; float32 mono samples at :attr:`sample_rate`."""
        out_dir.mkdir(parents=True, exist_ok=True)
        raw = out_dir / f"chatterbox-{os.getpid()}-{threading.get_ident()}.f32"
        try:
            reply = self.request(
                {"op": "generate", "text": text, "out": str(raw), **kw},
                timeout_s=self.line_timeout_s,
            )
            samples = np.fromfile(raw, dtype="<f4")
        finally:
            raw.unlink(missing_ok=True)
        self.watermarked = bool(reply.get("watermarked", True))
        return samples.astype(np.float32)

    def close(self, *, kill: bool = False) -> None:
        """Stop the worker: ask it to quit (unless ``kill``), then kill its group."""
        if not kill and self.alive:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self._finalizer()
