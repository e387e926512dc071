"""The per-chunk failure ladder, in the spec's order of precedence.

1. A transient failure (a retryable SparkleError, a timeout) is retried on the same rung up
   to ``max_retries_per_chunk`` times, waiting the one backoff formula between tries.
2. Out of memory: one adaptive retry at ``chunk_length_frames × adaptive_shrink_factor``
   (never below ``min_chunk_frames``) on the same device;
3. then the same on another GPU with more free memory, if there is one;
4. then on the CPU when ``allow_cpu_fallback`` (the step's metadata says ``cpu_fallback``);
5. else the chunk fails: a one-line ModelOOMError with the last device, peak VRAM and a
   log excerpt. Every attempt is recorded (``attempt_index``,
   ``attempt_chunk_length_frames``, ``device``, ``outcome``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparkle_motion.errors import ModelOOMError, SparkleError


@dataclass(frozen=True)
class Rung:
    length: int | None  # None: the whole chunk in one call
    device: str


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ModelOOMError):
        return False
    if isinstance(exc, SparkleError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)


def ladder(device: str, shrunk: int, other_gpu: str | None, allow_cpu: bool) -> list[Rung]:
    """The rungs tried in order: whole chunk, shrunk, shrunk on another GPU, shrunk on CPU."""
    rungs = [Rung(None, device), Rung(shrunk, device)]
    if other_gpu and other_gpu != device:
        rungs.append(Rung(shrunk, other_gpu))
    if allow_cpu and device != "cpu":
        rungs.append(Rung(shrunk, "cpu"))
    return rungs


def climb(
    rungs: list[Rung],
    attempt: Callable[[Rung], Any],
    *,
    chunk_index: int,
    chunk_frames: int,
    max_retries: int,
    backoff: Callable[[int], float],
    sleep: Callable[[float], None],
    record: Callable[[dict[str, Any]], None],
    model_key: str,
) -> tuple[Any, Rung]:
    """Run ``attempt`` up the ladder; returns its result and the rung that succeeded."""
    index = 0
    last_oom: ModelOOMError | None = None
    for rung in rungs:
        tries = 0
        while True:
            index += 1
            entry = {
                "chunk_index": chunk_index, "attempt_index": index,
                "attempt_chunk_length_frames": min(rung.length or chunk_frames, chunk_frames),
                "device": rung.device,
            }  # fmt: skip
            try:
                result = attempt(rung)
            except ModelOOMError as exc:
                record({**entry, "outcome": "oom", "error": exc.message[:300]})
                last_oom = exc
                break  # the next rung
            except Exception as exc:
                if not is_transient(exc) or tries >= max_retries:
                    record({**entry, "outcome": "failed", "error": str(exc)[:300]})
                    raise
                record({**entry, "outcome": "transient", "error": str(exc)[:300]})
                tries += 1
                sleep(backoff(tries))
                continue
            record({**entry, "outcome": "succeeded"})
            return result, rung
    last = rungs[-1].device
    raise ModelOOMError(
        f"chunk {chunk_index} ran out of memory on every device tried (last: {last})",
        model_key=model_key,
        peak_vram_mb=last_oom.peak_vram_mb if last_oom else None,
        traceback_snippet=(last_oom.traceback_snippet if last_oom else "")[-2000:],
        details={
            "chunk_index": chunk_index,
            "last_device": last,
            "failure_reason": "OOM",
            "log_excerpt": _excerpt(last_oom),
        },
    )


def _excerpt(exc: ModelOOMError | None) -> str:
    if exc is None:
        return ""
    return (exc.traceback_snippet or exc.message)[-800:]
