"""A small ctypes binding to libespeak-ng, as shipped by the ``espeakng-loader`` wheel.

No apt package and no ``espeak-ng`` program are needed: the wheel carries the shared library
and its ``espeak-ng-data``. espeak keeps all of its state in globals (current voice,
parameters, the one synth callback), so every call into it holds one process-wide lock and
the library is initialised once per process.

espeak also carries state from one synthesis to the next that no API resets (the phase of
its pitch flutter, among others), so the same text spoken twice in one process gives
slightly different samples. To keep preview runs byte-identical, :func:`synthesize` runs
each synthesis in a child forked from a helper process that has initialised espeak and
never spoken: every synthesis starts from the same state. A crash inside espeak then kills
only that child. Where ``fork`` is unavailable, synthesis runs in this process instead.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

SAMPLE_RATE = 22050  # what espeak-ng synthesises at; checked at initialisation
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
CHILD_TIMEOUT_S = 120.0  # one synthesis; espeak speaks hundreds of times faster than this

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
# espeak_PARAMETER
_RATE, _VOLUME, _PITCH, _RANGE, _PUNCTUATION, _CAPITALS = 1, 2, 3, 4, 5, 6
# espeak_EVENT_TYPE
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE = 0, 1, 2
_KINDS = {_EV_WORD: "word", _EV_SENTENCE: "sentence"}


class EspeakError(RuntimeError):
    """espeak-ng refused a call (library missing, unknown voice, synthesis failed)."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class Mark:
    """A word or sentence event: where it is in the text (characters) and in the audio."""

    kind: str  # "word" | "sentence"
    text_position: int  # 1-based character offset into the text, as espeak reports it
    length: int  # characters (0 for sentences)
    audio_s: float


@dataclass
class Speech:
    """Samples of one synthesis (int16, mono, :data:`SAMPLE_RATE`) and its word marks."""

    samples: np.ndarray
    sample_rate: int
    marks: list[Mark] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


# ------------------------------------------------------------------ the library, in-process

_LOCK = threading.RLock()
_lib: ctypes.CDLL | None = None
_libc = ctypes.CDLL(None)
_version = ""
_variants_dir = Path()
_chunks: list[np.ndarray] = []
_marks: list[Mark] = []
_voice_checks: dict[str, bool] = {}


@_CALLBACK
def _on_synth(wav: Any, count: int, events: Any) -> int:
    # Runs inside espeak_Synth on the calling thread, with _LOCK held by that thread.
    if count > 0 and wav:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
    i = 0
    while events and events[i].type != _EV_LIST_TERMINATED:
        ev = events[i]
        kind = _KINDS.get(ev.type)
        if kind is not None:
            _marks.append(Mark(kind, ev.text_position, ev.length, ev.audio_position / 1000.0))
        i += 1
    return 0


def _load() -> ctypes.CDLL:
    global _lib, _version, _variants_dir
    if _lib is not None:
        return _lib
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = Path(espeakng_loader.get_data_path())
    except (ImportError, OSError, RuntimeError) as exc:
        raise EspeakError(
            f"espeak-ng is not available ({exc}); pip install espeakng-loader"
        ) from exc
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint),
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_Info.restype = ctypes.c_char_p
    # espeak wants the folder that *contains* espeak-ng-data.
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data.parent).encode(), 0)
    if rate != SAMPLE_RATE:
        raise EspeakError(f"espeak-ng failed to initialise (returned {rate})")
    lib.espeak_SetSynthCallback(_on_synth)
    _version = (lib.espeak_Info(None) or b"").decode(errors="replace").split()[0]
    _variants_dir = data / "voices" / "!v"
    _lib = lib
    return lib


def version() -> str:
    """The library's version, e.g. ``1.52.0``."""
    with _LOCK:
        _load()
        return _version


def has_variant(variant: str) -> bool:
    """Whether ``variant`` (the part after ``+``, e.g. ``f3``) is one of espeak's variants."""
    with _LOCK:
        _load()
        return bool(variant) and "/" not in variant and (_variants_dir / variant).is_file()


def has_voice(name: str) -> bool:
    """Whether espeak can select the voice ``name`` (e.g. ``en-us+f3``, ``cmn``)."""
    _, plus, variant = name.partition("+")
    if plus and not has_variant(variant):
        return False  # espeak would silently ignore an unknown variant
    with _LOCK:
        known = _voice_checks.get(name)
        if known is None:
            lib = _load()
            known = _voice_checks[name] = lib.espeak_SetVoiceByName(name.encode()) == _EE_OK
            # Selecting a voice queues an event that only a synthesis delivers; a few dozen
            # undelivered ones fill espeak's event list and the next synthesis loses its
            # word marks, so deliver (and drop) it now.
            lib.espeak_Synth(b"\0", 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            _chunks.clear()
            _marks.clear()
        return known


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, value)))


def synthesize_here(
    text: str, voice: str, *, rate_wpm: float = 175, pitch: int = 50, pitch_range: int = 50
) -> Speech:
    """Like :func:`synthesize`, in this process (its samples depend on earlier syntheses)."""
    data = text.encode("utf-8")
    with _LOCK:
        lib = _load()
        if not has_voice(voice) or lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise EspeakError(f"espeak-ng has no voice {voice!r}")
        # Setting a voice resets the parameters, so they are set after it, every time.
        for param, value in (
            (_RATE, _clamp(rate_wpm, MIN_RATE_WPM, MAX_RATE_WPM)),
            (_PITCH, _clamp(pitch, 0, 100)),
            (_RANGE, _clamp(pitch_range, 0, 100)),
            (_VOLUME, 100),
            (_PUNCTUATION, 0),
            (_CAPITALS, 0),
        ):
            lib.espeak_SetParameter(param, value, 0)
        _chunks.clear()
        _marks.clear()
        # Breath noise comes from espeak's own generator and from libc rand(): seed both.
        lib.espeak_ng_SetRandSeed(1)
        _libc.srand(1)
        try:
            err = lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if err == _EE_OK:
                err = lib.espeak_Synchronize()
            if err != _EE_OK:
                raise EspeakError(f"espeak-ng synthesis failed (error {err})")
            samples = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
            return Speech(samples.astype(np.int16, copy=False), SAMPLE_RATE, list(_marks))
        finally:
            _chunks.clear()
            _marks.clear()


# ---------------------------------------------------- the helper process (fork per synthesis)


def _frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    body = len(head).to_bytes(4, "little") + head + payload
    return len(body).to_bytes(8, "little") + body


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def _read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    body = _read_exact(stream, int.from_bytes(_read_exact(stream, 8), "little"))
    size = int.from_bytes(body[:4], "little")
    return json.loads(body[4 : 4 + size]), body[4 + size :]


def _child(request: dict[str, Any], out_fd: int) -> None:
    try:
        speech = synthesize_here(**request)
        header = {"marks": [[m.kind, m.text_position, m.length, m.audio_s] for m in speech.marks]}
        payload = speech.samples.astype("<i2").tobytes()
    except Exception as exc:  # reported to the parent, which raises it there
        header, payload = {"error": str(exc)}, b""
    data = _frame(header, payload)
    while data:
        data = data[os.write(out_fd, data) :]


def _run_child(request: dict[str, Any]) -> bytes:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: speak, write, leave without running any cleanup of the helper
        code = 0
        try:
            os.close(read_fd)
            _child(request, write_fd)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    parts: list[bytes] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    timed_out = False
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = pipe.read(1 << 20)
            if not chunk:
                break
            parts.append(chunk)
    _, status = os.waitpid(pid, 0)
    data = b"".join(parts)
    if timed_out:
        return _frame({"error": f"espeak-ng took longer than {CHILD_TIMEOUT_S:.0f} s"})
    if not data or status != 0:
        why = f"signal {-os.waitstatus_to_exitcode(status)}" if os.WIFSIGNALED(status) else status
        return _frame({"error": f"espeak-ng crashed on this text ({why})"})
    return data


def _serve() -> None:
    """The helper's loop: one framed request in on stdin, one framed answer out on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _load()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            request, _ = _read_frame(stdin)
        except EOFError:
            return  # the parent has gone
        stdout.write(_run_child(request))
        stdout.flush()


class _Helper:
    """The parent's handle on the helper process; one per process, started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0  # the process that started it: a forked copy of this process needs its own
        self.broken = False

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(
            [sys.executable, "-S", __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.proc, self.pid = proc, os.getpid()
        return proc

    def call(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        with self.lock:
            for attempt in range(2):
                proc = self.proc if self.pid == os.getpid() else None
                if proc is None or proc.poll() is not None:
                    proc = self._start()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(_frame(request))
                    proc.stdin.flush()
                    return _read_frame(proc.stdout)
                except (OSError, EOFError, ValueError):
                    self.close()
                    if attempt:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and self.pid == os.getpid():
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_HELPER = _Helper()
atexit.register(_HELPER.close)


def synthesize(
    text: str, voice: str, *, rate_wpm: float = 175, pitch: int = 50, pitch_range: int = 50
) -> Speech:
    """Speak plain ``text`` (UTF-8, no SSML, no phoneme input) with espeak voice ``voice``.

    The same arguments always give the same samples (see the module's docstring).

    Args:
        voice: an espeak voice name, optionally with a variant (``en-us+f3``).
        rate_wpm: words per minute, clamped to espeak's 80..450.
        pitch: base pitch 0..100 relative to the voice (50 = the voice's own).
        pitch_range: intonation range 0..100 (0 = monotone).

    Raises:
        EspeakError: the voice is unknown, or the synthesis failed or crashed.
    """
    if not has_voice(voice):
        raise EspeakError(f"espeak-ng has no voice {voice!r}")
    request = {
        "text": text,
        "voice": voice,
        "rate_wpm": rate_wpm,
        "pitch": pitch,
        "pitch_range": pitch_range,
    }
    if not hasattr(os, "fork") or _HELPER.broken:
        return synthesize_here(**request)
    try:
        header, payload = _HELPER.call(request)
    except (OSError, EOFError, ValueError):
        _HELPER.broken = True  # cannot run the helper here: speak in-process from now on
        return synthesize_here(**request)
    if "error" in header:
        raise EspeakError(header["error"])
    samples = np.frombuffer(payload, dtype="<i2").astype(np.int16)
    marks = [
        Mark(kind, int(pos), int(length), float(t)) for kind, pos, length, t in header["marks"]
    ]
    return Speech(samples, SAMPLE_RATE, marks)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
