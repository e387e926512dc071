"""videos_agent: renders clips through videos_wan (in chunks) and lip sync through lipsync_wav2lip.

A shot is split into chunks (videos/chunks.py: 64 frames, 4 overlapping, no remainder under 8),
each rendered by one backend call with its own seed (derived from the step's seed and the chunk
index) and reassembled by ``trim`` or ``crossfade`` (videos/reassembly.py). Conditioning per mode:

- T2V (no keyframe): chunks are independent.
- I2V (a start frame): the first chunk starts from the start frame, each later chunk from the
  previous chunk's frame where it begins (the first frame of their overlap; its last frame when
  there is no overlap), so chunks render in order and the overlap shows the same instant twice.
- FLF2V (start and end frames): as I2V, and the last chunk ends on the end frame.

Failures are handled per chunk here (videos/attempts.py: transient retries, one shrunk retry on
the same device, another GPU, the CPU), not by production_agent's step-level OOM retry. Progress
goes out as CallbackEvents (``load``/``rendering``/``postprocess`` with ``chunk_index``,
``frame_index``, ``progress``, ``eta_s``, ``device``) to ``on_progress`` and the progress bus,
and as memory events at state changes. A rendered chunk is kept under the run's folder until the
shot is published, so a resumed run does not render it again.

Chunks render one after another in the step's one ``video`` slot (the executor's
``max_concurrent_video_chunk_renders`` budget is never exceeded), T2V's independent chunks
too: a diffusers pipeline keeps scheduler state on the instance, so two chunks cannot share
one loaded model, and a second copy would cost the memory chunking saves. A backend with
``ONE_PASS`` (fixture, preview) renders the whole shot in one call: same chunk plan, metadata
and progress (its frame reports are mapped onto the chunks).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparkle_motion.adk_helpers import publish_local, write_memory_event
from sparkle_motion.function_tools.lipsync_wav2lip import entrypoint as lipsync_entrypoint
from sparkle_motion.function_tools.videos_wan import entrypoint as wan_entrypoint
from sparkle_motion.progress import ProgressCallback, emit_progress
from sparkle_motion.run_context import current_run_context
from sparkle_motion.types import ArtifactRef, VideoOpts, Wav2LipOpts
from sparkle_motion.videos import attempts as ladder_mod
from sparkle_motion.videos.chunks import (
    Chunk,
    chunk_seed,
    plan_chunks,
    shrunk_length,
    snap_frames,
)
from sparkle_motion.videos.reassembly import Part, extract_frame, reassemble

_PROGRESS_EVERY_S = 0.5  # backend events in between are dropped (state changes never are)
sleep: Callable[[float], None] = time.sleep  # tests replace it


def _work_dir() -> Path:
    ctx = current_run_context()
    work = Path(ctx.work_dir) if ctx.work_dir else Path(tempfile.mkdtemp(prefix="sparkle-vid-"))
    work.mkdir(parents=True, exist_ok=True)
    return work


def _chunk_dir() -> Path:
    """Where rendered chunks wait for reassembly: the run's folder (kept for resume)."""
    ctx = current_run_context()
    if ctx.run_dir and ctx.step_id:
        path = Path(ctx.run_dir) / "chunks" / ctx.step_id
    else:
        path = _work_dir() / "chunks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def gpu_devices() -> list[tuple[str, int]]:
    """(device, free MB) of each GPU torch or NVML sees, most free first; none on CPU hosts."""
    from sparkle_motion.gpu_utils import report_memory

    found = [
        (name, stats.get("total_mb", 0) - stats.get("used_mb", 0))
        for name, stats in report_memory().items()
        if name.startswith("cuda")
    ]
    return sorted(found, key=lambda d: -d[1])


def conditioning(start_frames: list[Any], end_frames: list[Any]) -> str:
    if start_frames and end_frames:
        return "flf2v"
    return "i2v" if start_frames else "t2v"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Progress:
    """CallbackEvents for one shot: throttled backend events, every state change."""

    def __init__(self, callback: ProgressCallback | None, chunks: list[Chunk], total: int):
        self.ctx = current_run_context()
        self.callback = callback
        self.chunks = chunks
        self.total = max(1, total)  # frames rendered in all, overlaps included
        self.done = 0
        self.started = time.monotonic()
        self.last_sent = 0.0

    def chunk_of(self, frame: int) -> int:
        for c in self.chunks:
            if frame <= c.end - c.overlap_right or c is self.chunks[-1]:
                return c.index
        return self.chunks[-1].index

    def send(
        self, phase: str, chunk: int, frame: int, device: str | None, *, state: str = "",
        within: float = 0.0,
    ) -> None:  # fmt: skip
        now = time.monotonic()
        if not state and now - self.last_sent < _PROGRESS_EVERY_S:
            return
        self.last_sent = now
        progress = min(1.0, (self.done + within) / self.total)
        elapsed = now - self.started
        eta = elapsed / progress * (1 - progress) if progress > 0.01 else None
        n = len(self.chunks)
        message = f"chunk {chunk + 1}/{n}" + (f" {state}" if state else "")
        emit_progress(
            self.callback, plan_id=self.ctx.plan_id, run_id=self.ctx.run_id,
            step_id=self.ctx.step_id, phase=phase, progress=progress, message=message,
            chunk_index=chunk, frame_index=frame, num_frames=self.chunks[-1].end + 1,
            eta_s=round(eta, 1) if eta is not None else None, device=device,
        )  # fmt: skip
        if state:
            write_memory_event(
                "video_chunk",
                {"state": state, "chunk_index": chunk, "num_chunks": n, "device": device,
                 "progress": round(progress, 4)},
            )  # fmt: skip


class _Shot:
    """One render_video call: its options, backend, chunk store and records."""

    def __init__(self, module: Any, prompt: str, base: dict[str, Any], opts: VideoOpts):
        self.module = module
        self.prompt = prompt
        self.base = base
        self.opts = opts
        self.store = _chunk_dir()
        self.attempts: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.rendered = 0
        self.multiple = int(getattr(module, "FRAME_MULTIPLE", 1) or 1)
        self.frame_offset = int(getattr(module, "FRAME_OFFSET", 0) or 0)

    def _key(self, call: dict[str, Any], starts: list[Path], ends: list[Path]) -> str:
        what = {
            "backend": getattr(self.module, "PROVIDER_ID", getattr(self.module, "__name__", "")),
            "version": getattr(self.module, "VERSION", ""),
            "opts": {k: v for k, v in call.items() if k != "device"},
            "prompt": self.prompt, "starts": [_sha(p) for p in starts],
            "ends": [_sha(p) for p in ends],
        }  # fmt: skip
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()

    def piece(
        self, chunk: Chunk, starts: list[Path], ends: list[Path], seed: int, device: str,
        progress: _Progress, end_on_last: bool,
    ) -> Part:  # fmt: skip
        """One backend call for ``chunk``'s frames (snapped up to the backend's multiple)."""
        frames = snap_frames(chunk.num_frames, self.multiple, self.frame_offset)
        call = {**self.base, "num_frames": frames, "seed": seed, "device": device,
                "chunk_start_frame": chunk.start}  # fmt: skip
        skip = frames - chunk.num_frames if end_on_last else 0
        out = self.store / f"{self._key(call, starts, ends)[:32]}.mp4"
        said = out.with_suffix(".json")  # what the backend said about it
        if out.is_file() and said.is_file():  # rendered before this run was interrupted
            self.meta = json.loads(said.read_text(encoding="utf-8"))
            progress.done += frames
            return Part(chunk, out, skip, frames)

        def forward(event: dict) -> None:
            local = int(event.get("frame_index") or 0)
            within = float(event.get("progress") or 0.0) * frames
            progress.send(
                str(event.get("phase") or "rendering"), progress.chunk_of(chunk.start + local),
                chunk.start + min(local, chunk.num_frames - 1), device, within=within,
            )  # fmt: skip

        tmp = out.with_suffix(".part.mp4")
        self.meta = wan_entrypoint.run_wan_inference(
            starts, ends, self.prompt, call, tmp, on_progress=forward, module=self.module
        )
        said.write_text(json.dumps(self.meta, default=str), encoding="utf-8")
        tmp.replace(out)
        progress.done += frames
        self.rendered += frames
        return Part(chunk, out, skip, frames)

    def run_range(
        self, chunk: Chunk, starts: list[Path], ends: list[Path], seed: int, length: int | None,
        device: str, progress: _Progress, mode: str,
    ) -> Part:  # fmt: skip
        """``chunk`` in one call, or (after an OOM) in sub-chunks of ``length`` frames."""
        if length is None or length >= chunk.num_frames:
            return self.piece(chunk, starts, ends, seed, device, progress, bool(ends))
        subs = plan_chunks(
            chunk.num_frames, length, self.opts.chunk_overlap_frames,
            min(self.opts.min_chunk_frames, length), offset=chunk.start,
        )  # fmt: skip
        parts = self.sequence(subs, starts, ends, seed, device, progress, mode)
        out = self.store / f"{chunk.index}-{chunk.start}-{length}-{device}.mp4".replace(":", "")
        reassemble(parts, "trim", int(self.base["fps"]), out)
        return Part(chunk, out)

    def sequence(
        self, chunks: list[Chunk], starts: list[Path], ends: list[Path], seed: int,
        device: str, progress: _Progress, mode: str,
    ) -> list[Part]:  # fmt: skip
        """Consecutive pieces at one length on one device, conditioned per mode."""
        parts: list[Part] = []
        for c in chunks:
            first = self.condition(parts, c, starts, mode)
            last = ends if c is chunks[-1] else []
            parts.append(self.piece(c, first, last, chunk_seed(seed, c.index), device,
                                    progress, bool(last)))  # fmt: skip
        return parts

    def condition(self, parts: list[Part], c: Chunk, starts: list[Path], mode: str) -> list[Path]:
        """The start frame of chunk ``c``: the shot's, or the previous chunk's frame at c.start."""
        if mode == "t2v":
            return []
        if not parts:
            return starts
        prev = parts[-1]
        png = prev.path.with_name(f"{prev.path.stem}.f{c.start}.png")
        if not png.is_file():
            extract_frame(prev.path, prev.skip + c.start - prev.chunk.start, png)
        return [png]


def render_video(
    start_frames: list[Path | str],
    end_frames: list[Path | str],
    prompt: str,
    opts: VideoOpts | dict[str, Any],
    *,
    on_progress: ProgressCallback | None = None,
    backend: Any = None,
    proxy: bool = False,
) -> ArtifactRef:
    """Render a clip from keyframes (local paths) and a prompt; returns its ArtifactRef.

    Args:
        on_progress: receives CallbackEvents (default: the run context's callback).
        backend: a videos_wan backend module (default: the run context's provider's).
        proxy: only the movie shows the clip. A backend that can describe the shot as a
            camera move over its keyframe then writes a small proxy, and the clip's
            metadata carries the move (``move``, its keyframe published by sha256) for
            the assembler to render at full size.
    """
    opts = opts if isinstance(opts, VideoOpts) else VideoOpts.model_validate(opts)
    ctx = current_run_context()
    provider = ctx.providers.get("videos_wan", "fixture")
    module = backend or wan_entrypoint.backend_module(provider)
    from sparkle_motion.config import get_settings

    # tools read no configuration: the agent passes where local weights live
    base = {
        **opts.model_dump(exclude_none=True),
        "provider": provider,
        "models_root": str(get_settings().models_root),
    }
    width, height, fps, frames = wan_entrypoint.clip_shape(base)
    base.update(width=width, height=height, fps=fps, num_frames=frames)
    if proxy and getattr(module, "MOVES", False):
        base["proxy"] = True
    seed = int(opts.seed or 0)
    starts = [Path(p) for p in start_frames]
    ends = [Path(p) for p in end_frames]
    mode = conditioning(starts, ends)
    chunks = plan_chunks(
        frames, opts.chunk_length_frames, opts.chunk_overlap_frames, opts.min_chunk_frames
    )
    one_pass = bool(getattr(module, "ONE_PASS", False))
    units = [Chunk(0, 0, frames - 1, 0, 0)] if one_pass else chunks
    shot = _Shot(module, prompt, base, opts)
    total = sum(snap_frames(u.num_frames, shot.multiple, shot.frame_offset) for u in units)
    progress = _Progress(on_progress or ctx.on_progress, chunks, total)
    gpus = gpu_devices() if provider == "full" else []
    device = gpus[0][0] if gpus else "cpu"
    progress.send("load", 0, 0, device, state="started")
    shrunk = shrunk_length(
        opts.chunk_length_frames, opts.adaptive_shrink_factor, opts.min_chunk_frames
    )
    parts: list[Part] = []
    devices: list[str] = []
    from sparkle_motion.utils.backoff import backoff_from_settings

    for unit in units:
        first = shot.condition(parts, unit, starts, mode)
        last = ends if unit is units[-1] else []
        unit_seed = chunk_seed(seed, unit.index)
        label = progress.chunk_of(unit.start)
        progress.send("rendering", label, unit.start, device, state="started")
        other = next((name for name, _ in gpus if name != device), None)
        rungs = ladder_mod.ladder(device, shrunk, other, opts.allow_cpu_fallback)

        def attempt(
            rung: ladder_mod.Rung, unit: Chunk = unit, first=first, last=last, seed=unit_seed
        ) -> Part:
            if rung.length is not None or rung.device != device:
                progress.send("rendering", progress.chunk_of(unit.start), unit.start,
                              rung.device, state="retry")  # fmt: skip
            return shot.run_range(unit, first, last, seed, rung.length, rung.device,
                                  progress, mode)  # fmt: skip

        try:
            part, rung = ladder_mod.climb(
                rungs, attempt, chunk_index=unit.index, chunk_frames=unit.num_frames,
                max_retries=opts.max_retries_per_chunk,
                backoff=lambda n: backoff_from_settings(n, get_settings()), sleep=sleep,
                record=shot.attempts.append, model_key=f"videos_wan/{provider}",
            )  # fmt: skip
        except Exception:
            progress.send("rendering", label, unit.start, device, state="failed")
            raise
        parts.append(part)
        devices.append(rung.device)
        progress.send("rendering", progress.chunk_of(unit.end), unit.end, rung.device,
                      state="done")  # fmt: skip
    progress.send("postprocess", chunks[-1].index, frames - 1, device, state="reassembling")
    out = _work_dir() / "clip.mp4"
    reassemble(parts, opts.reassembly_mode, fps, out, moved=True)
    chunk_meta = []
    for c in chunks:
        unit_index = 0 if one_pass else c.index
        chunk_meta.append({**c.metadata(), "seed": chunk_seed(seed, unit_index),
                           "device": devices[unit_index]})  # fmt: skip
    meta = {
        **shot.meta, "num_frames": frames, "fps": fps, "width": width, "height": height,
        "duration_s": frames / fps, "seed": seed, "conditioning": mode,
        "chunk_length_frames": opts.chunk_length_frames,
        "chunk_overlap_frames": opts.chunk_overlap_frames,
        "reassembly_mode": opts.reassembly_mode, "one_pass": one_pass,
        "num_chunks": len(chunks), "chunks": chunk_meta, "attempts": shot.attempts,
        "rendered_frames": shot.rendered, "device": devices[-1],
        "cpu_fallback": "cpu" in devices and device != "cpu",
    }  # fmt: skip
    if meta.get("move"):  # the file is the backend's proxy, at its own size
        meta.update(width=shot.meta["width"], height=shot.meta["height"])
        meta["move"] = _published_move(meta["move"], one_pass)
    try:
        ref = publish_local(out, "video/mp4", meta)
    finally:
        out.unlink(missing_ok=True)
    shutil.rmtree(shot.store, ignore_errors=True)
    emit_progress(
        progress.callback, plan_id=ctx.plan_id, run_id=ctx.run_id, step_id=ctx.step_id,
        phase="postprocess", progress=1.0, message=f"chunk {len(chunks)}/{len(chunks)} done",
        chunk_index=chunks[-1].index, frame_index=frames - 1, device=devices[-1],
    )  # fmt: skip
    return ref


def _published_move(move: dict[str, Any], one_pass: bool) -> dict[str, Any]:
    """The backend's camera move with its keyframe published (by content: the assembler
    finds it by ``keyframe_sha256`` in whatever workspace the movie is made)."""
    if not one_pass:
        raise RuntimeError("a camera move describes one backend call, not a chunked shot")
    move = dict(move)
    keyframe = publish_local(
        Path(move.pop("keyframe")), move["keyframe_media_type"], {"kind": "keyframe"}
    )
    return {**move, "keyframe_uri": keyframe.artifact_uri, "keyframe_sha256": keyframe.sha256}


def lipsync(
    face_video: Path | str,
    audio: Path | str,
    opts: Wav2LipOpts | dict[str, Any] | None = None,
    *,
    size: tuple[int, int] | None = None,
) -> ArtifactRef:
    """Lip-sync a face clip (or still) to a narration WAV; returns the clip's ArtifactRef.

    What the backend's subprocesses printed (Wav2Lip, ffmpeg) is published beside the clip
    as one text artifact, named by the clip's ``logs_uri`` (the step record's too).

    Args:
        size: (width, height) of the movie, so the clip needs no rescaling later.
    """
    from sparkle_motion.config import get_settings

    opts = opts if isinstance(opts, Wav2LipOpts) else Wav2LipOpts.model_validate(opts or {})
    ctx = current_run_context()
    provider = ctx.providers.get("lipsync_wav2lip", "fixture")
    settings = get_settings()
    call_opts: dict[str, Any] = {**opts.model_dump(exclude_none=True), "provider": provider}
    if size:
        call_opts["width"], call_opts["height"] = size
    if provider == "full":
        from sparkle_motion.providers import wav2lip_setup

        # tools read no configuration: the agent says where the checkout and weights are
        call_opts["models_root"] = str(settings.models_root)
        call_opts.update(
            wav2lip_setup(
                models_root=settings.models_root, checkpoint=opts.checkpoint_path
            ).as_opts()
        )
        call_opts.setdefault("retry_backoff_base_s", settings.retry_backoff_base_s)
        call_opts.setdefault("retry_backoff_multiplier", settings.retry_backoff_multiplier)
        call_opts.setdefault("retry_jitter", settings.retry_jitter)
    out = _work_dir() / "lipsync.mp4"
    if provider == "full":
        call_opts["work_dir"] = str(out.parent)  # Wav2Lip's own folder: the run's temp
    try:
        meta = lipsync_entrypoint.run_wav2lip(face_video, audio, out, opts=call_opts)
        meta.update(_publish_logs(meta))
        return publish_local(out, "video/mp4", meta)
    finally:
        out.unlink(missing_ok=True)
        for suffix in (".stdout.log", ".stderr.log"):
            out.with_name(out.name + suffix).unlink(missing_ok=True)


def _publish_logs(meta: dict[str, Any]) -> dict[str, Any]:
    """Publish a backend's stdout/stderr log files (``stdout_path``/``stderr_path``): each on
    its own and both as one companion text, the ``logs_uri``; the metadata then names the
    published copies, not the work files."""
    paths = {k: Path(meta.pop(f"{k}_path")) for k in ("stdout", "stderr") if meta.get(f"{k}_path")}
    if not paths:
        return {}
    update: dict[str, Any] = {}
    parts = []
    for name, path in paths.items():
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        parts.append(f"===== {name} =====\n{text}")
        ref = publish_local(text.encode(), "text/plain", {"kind": "logs", "stream": name})
        update[f"{name}_uri"] = ref.artifact_uri
    combined = publish_local("\n".join(parts).encode(), "text/plain", {"kind": "logs"})
    update["logs_uri"] = combined.artifact_uri
    return update
