"""The movie: what the assembler is given, its cache key, the assembly and the movie's QA.

The movie is cached like a step: its key covers the steps as planned, the movie's options,
the bytes of every step output and the assembler's version, so an unchanged re-run reuses
the movie (and its QA report) without decoding or encoding anything.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sparkle_motion import cache
from sparkle_motion.adk_helpers import publish_local, write_memory_event
from sparkle_motion.db.store import Store
from sparkle_motion.scenes import lipsync_audio_step
from sparkle_motion.types import (
    DEFAULT_NUM_FRAMES,
    ArtifactRef,
    CameraMove,
    MoviePlan,
    NarrationInput,
    VisualInput,
)

_SHA256 = re.compile(r"[0-9a-f]{64}")
ASSEMBLER_VERSION = "assemble_ffmpeg@8"  # 7: the mix measured by the R128 meter; 8: aac fast
Progress = Callable[[float, str], None]


def held_steps(
    plan: MoviePlan, outputs: dict[str, list[ArtifactRef]], approved: frozenset[str] | set[str]
) -> set[str]:
    """Steps held for human review: an output quarantined by QA and not approved by a
    reviewer, or made from a held step's output (a clip of a held picture) and not itself
    approved."""
    deps = plan.dependencies()
    held: set[str] = set()
    for step_id in plan.topological_order():
        refs = outputs.get(step_id) or []
        if any(r.artifact_uri in approved for r in refs if r.metadata.get("quarantined")):
            continue
        own = any(r.metadata.get("quarantined") for r in refs)
        if own or any(d in held for d in deps.get(step_id, [])):
            held.add(step_id)
    return held


def assembly_inputs(
    plan: MoviePlan,
    outputs: dict[str, list[ArtifactRef]],
    approved: frozenset[str] | set[str] = frozenset(),
) -> tuple[list[VisualInput], dict[str, Any], list[str]]:
    """(visuals, audio, warnings) for the assembler, from the steps' outputs in plan order.

    A picture or clip held for human review (quarantined by QA, or made from one) is left
    out, with a warning, until a reviewer approves it (``approved``: artifact URIs).
    """
    clips: list[VisualInput] = []
    narration: list[NarrationInput] = []
    warnings: list[str] = []
    held = held_steps(plan, outputs, approved)
    for step in plan.steps:
        refs = outputs.get(step.id) or []
        if not refs:
            continue
        ref = refs[0]
        meta = ref.metadata
        if step.type == "tts":
            narration.append(
                NarrationInput(
                    step_id=step.id, uri=ref.artifact_uri, text=step.spoken_text,
                    duration_s=float(meta.get("duration_s") or 0.001),
                    sentences=meta.get("sentences") or [],
                )
            )  # fmt: skip
            continue
        if not ref.media_type.startswith(("image/", "video/")):
            continue
        if step.id in held:
            # waiting for a human (request_human_input): never shown until approved
            what = "image" if step.type == "image" else "clip"
            warnings.append(f"{step.id}: {what} held for review, left out of the movie")
            continue
        move = camera_move(meta.get("move"))
        if meta.get("move") and move is None:
            warnings.append(f"{step.id}: the keyframe of its camera move is gone; its proxy shows")
        clips.append(
            VisualInput(
                step_id=step.id, step_type=step.type, uri=ref.artifact_uri,
                media_type=ref.media_type, duration_s=meta.get("duration_s"),
                fps=meta.get("fps"), has_audio=step.type == "lipsync",
                audio_step_id=lipsync_audio_step(step), move=move,
            )
        )  # fmt: skip
    return clips, {"narration": narration}, warnings


def camera_move(move: Any) -> CameraMove | None:
    """A clip's camera move (its ``move`` metadata, videos_agent.py) for the assembler, its
    keyframe found by content in this workspace; None when there is none, or no keyframe."""
    from sparkle_motion.artifacts import suffix_for
    from sparkle_motion.workspace import get_workspace

    if not isinstance(move, dict) or not _SHA256.fullmatch(str(move.get("keyframe_sha256"))):
        return None
    media_type = str(move.get("keyframe_media_type") or "image/png")
    path = get_workspace().blob_path(str(move["keyframe_sha256"]), suffix_for(media_type))
    if not path.is_file():
        return None
    try:
        return CameraMove(
            keyframe=path.as_uri(), media_type=media_type, motion=move["motion"],
            travel=move["travel"], frames=move["frames"], fps=move["fps"],
        )  # fmt: skip
    except (KeyError, ValueError):  # not a move this version wrote
        return None


def _qa_measurements() -> Path:
    """Where the movie's QA keeps its segments' picture measurements."""
    from sparkle_motion.workspace import get_workspace

    return get_workspace().root / "cache" / "qa-pictures"


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    """Work done ahead only to save time later: if it fails, the later step does it."""
    try:
        fn(*args)
    except Exception:
        pass


def stand_ins(
    plan: MoviePlan, done: set[str]
) -> tuple[list[VisualInput], list[NarrationInput]] | None:
    """What the steps not in ``done`` will give the assembler, as planned (media type and
    length; no file), or None when that cannot be known (a custom step is still to run)."""
    visuals: list[VisualInput] = []
    lines: list[NarrationInput] = []
    fps = plan.assemble_opts.fps
    for step in plan.steps:
        if step.id in done:
            continue
        uri = f"pending:{step.id}"
        if step.type == "tts":
            text = step.spoken_text or "..."
            lines.append(NarrationInput(step_id=step.id, uri=uri, text=text, duration_s=1.0))
        elif step.type == "image":
            visuals.append(
                VisualInput(step_id=step.id, step_type="image", uri=uri, media_type="image/png")
            )
        elif step.type in ("video", "lipsync"):
            opts = getattr(step, "opts", None)
            frames = getattr(opts, "num_frames", None) or DEFAULT_NUM_FRAMES
            seconds = frames / (getattr(opts, "fps", None) or fps)
            visuals.append(
                VisualInput(
                    step_id=step.id, step_type=step.type, uri=uri, media_type="video/mp4",
                    duration_s=seconds, has_audio=step.type == "lipsync",
                    audio_step_id=lipsync_audio_step(step),
                )
            )  # fmt: skip
        else:
            return None
    return visuals, lines


def assembly_key(
    plan: MoviePlan,
    outputs: dict[str, list[ArtifactRef]],
    music: ArtifactRef | None = None,
    reviews: dict[str, str] | None = None,
) -> str:
    """What the movie depends on: the steps as planned, the movie's options, the bytes
    of every step output (and of the music), the assembler (ffmpeg) version, and the
    reviewers' decisions on held outputs (``reviews``: uri -> status; approving one puts it
    into the movie)."""
    from sparkle_motion.utils.ffmpeg import ffmpeg_version

    by_step = {sid: [r.sha256 for r in refs] for sid, refs in sorted(outputs.items())}
    payload = {
        "steps": [s.model_dump(mode="json", exclude_none=True) for s in plan.steps],
        "assemble_opts": plan.assemble_opts.model_dump(mode="json"),
        "outputs": by_step,
        "assembler": f"{ASSEMBLER_VERSION}/{ffmpeg_version()}",
    }
    if music is not None:
        payload["music"] = music.sha256
    if reviews:  # only when something is held: the key of a movie without holds stays
        payload["reviews"] = dict(sorted(reviews.items()))
    return "assemble:" + cache.cache_key(payload, ASSEMBLER_VERSION, {})


_ENCODE_SHARE = 0.92  # of the assembly's progress; the movie's QA check is the rest


class Assembly:
    """Assembles one run's movie and checks it, through the cache."""

    def __init__(
        self, plan: MoviePlan, store: Store, run_id: str, run_dir: Path, providers: dict[str, str]
    ) -> None:
        self.plan = plan
        self.store = store
        self.run_id = run_id
        self.run_dir = run_dir
        self.providers = providers
        self.warnings: list[str] = []
        self.progress: Progress = lambda fraction, message: None
        self.logs_uri: str | None = None  # what the assembly's ffmpeg commands printed
        self.music: ArtifactRef | None = None  # the plan's music bed, once imported
        self.reviews: dict[str, str] = {}  # held output uri -> its review's status
        self.in_movie: set[str] = set()  # the steps whose output the movie shows
        self._encoder: Any = None  # the run's SegmentEncoder, once a segment can be encoded
        self._ahead: ThreadPoolExecutor | None = None
        self._latest: dict[str, list[ArtifactRef]] | None = None
        self._ahead_lock = threading.Lock()
        self._qa_ahead: ThreadPoolExecutor | None = None  # segments' QA measured ahead

    # ------------------------------------------------- segments ahead of the assembly

    def encode_ahead(self, outputs: dict[str, list[ArtifactRef]]) -> None:
        """A step finished: start encoding the segments whose inputs now all exist, in the
        background, while the run renders the rest (the assembly then finds them done or
        waits for them). Never fails the run: the assembly does whatever is left."""
        with self._ahead_lock:
            pending = self._latest is not None
            self._latest = dict(outputs)
            if pending:  # a look is already queued: it takes the newest outputs
                return
            if self._ahead is None:
                self._ahead = ThreadPoolExecutor(1, thread_name_prefix="segments-ahead")
            self._ahead.submit(contextvars.copy_context().run, self._look_ahead)

    def _look_ahead(self) -> None:
        from sparkle_motion.function_tools.assemble_ffmpeg import entrypoint

        with self._ahead_lock:
            outputs, self._latest = self._latest or {}, None
            if self._encoder is None:
                self._encoder = entrypoint.SegmentEncoder()
        try:
            planned = stand_ins(self.plan, set(outputs))
            if planned is None:
                return
            clips, audio, _warnings, _reviews = self._inputs(outputs)
            at = {s.id: i for i, s in enumerate(self.plan.steps)}
            visuals = sorted([*clips, *planned[0]], key=lambda v: at[v.step_id])
            lines = sorted([*audio["narration"], *planned[1]], key=lambda n: at[n.step_id])
            started = entrypoint.encode_ready_segments(
                self.plan, visuals, {**audio, "narration": lines}, self.plan.assemble_opts,
                pending=frozenset(s.id for s in self.plan.steps if s.id not in outputs),
                encoder=self._encoder, work_dir=self._work_dir,
            )  # fmt: skip
        except Exception:
            return
        run = contextvars.copy_context()  # the run's (its process groups, its logs)
        for seg in started:  # its QA measurement as soon as it is encoded
            seg.encoded.add_done_callback(
                functools.partial(self._measure_ahead, seg.key, seg.path, run)
            )

    def _measure_ahead(
        self, key: str, path: Path, run: contextvars.Context, encoded: Future[None]
    ) -> None:
        """A segment encoded ahead: measure its pictures for the movie's QA now, on one
        thread of their own, so the QA after the assembly only reads them."""
        from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa

        provider = self.providers.get("qa_qwen2vl", "fixture")
        if encoded.cancelled() or encoded.exception() is not None:
            return
        if not qa.checks_movies(provider):
            return
        with self._ahead_lock:
            if self._qa_ahead is None:
                self._qa_ahead = ThreadPoolExecutor(1, thread_name_prefix="qa-ahead")
            pool = self._qa_ahead
        try:
            pool.submit(
                run.copy().run, _quietly, qa.measure_segment, provider, path, key,
                _qa_measurements(),
            )  # fmt: skip
        except RuntimeError:  # closed: the run is over
            pass

    def close(self) -> None:
        """Stop looking ahead; encodes and measurements not started are dropped, running
        ones end."""
        with self._ahead_lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.shutdown(wait=True, cancel_futures=True)
        if self._encoder is not None:
            self._encoder.close(wait=True)
        self._drain_measurements(cancel=True)

    def _drain_measurements(self, *, cancel: bool = False) -> None:
        with self._ahead_lock:
            pool, self._qa_ahead = self._qa_ahead, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=cancel)

    @property
    def _work_dir(self) -> Path:
        return self.run_dir / "tmp" / "assemble"  # a dead run's resume removes what is left

    def _inputs(
        self, outputs: dict[str, list[ArtifactRef]]
    ) -> tuple[list[VisualInput], dict[str, Any], list[str], dict[str, str]]:
        """(visuals, audio, warnings, review states of held outputs) for the assembler."""
        from sparkle_motion.production import qa_loop

        held = [uri for refs in outputs.values() for uri in qa_loop.held(refs)]
        reviews = qa_loop.review_states(self.store, held)
        approved = {u for u, state in reviews.items() if state == "approved"}
        clips, audio, warnings = assembly_inputs(self.plan, outputs, approved)
        if self.music is not None:
            audio |= {"music": self.music.artifact_uri, "music_media_type": self.music.media_type}
        return clips, audio, warnings, reviews

    def _assemble_movie(self, clips: list[VisualInput], audio: dict[str, Any]) -> ArtifactRef:
        """The assemble_ffmpeg FunctionTool over the steps' outputs."""
        from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import assemble_clips

        out = self.run_dir / "movie.mp4"
        opts = self.plan.assemble_opts
        with self._ahead_lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:  # the last look ahead has started what it can
            ahead.shutdown(wait=True)
        return assemble_clips(
            self.plan, clips, audio, out, opts, work_dir=self._work_dir,
            on_progress=lambda f, m: self.progress(f * _ENCODE_SHARE, m),
            keep_failed_work=os.environ.get("SPARKLE_DEBUG") == "1",  # --debug sets it
            encoder=self._encoder,
        )  # fmt: skip

    def movie(
        self, outputs: dict[str, list[ArtifactRef]]
    ) -> tuple[ArtifactRef, ArtifactRef | None, str, bool]:
        """(movie, subtitles, cache key, cache hit)."""
        from sparkle_motion.production import qa_loop

        held = [uri for refs in outputs.values() for uri in qa_loop.held(refs)]
        clips, audio, warnings, self.reviews = self._inputs(outputs)
        states = {u: self.reviews.get(u, "pending") for u in held}
        key = assembly_key(self.plan, outputs, self.music, states)
        self.warnings += warnings
        self.in_movie = {c.step_id for c in clips}

        def compute() -> list[ArtifactRef]:
            movie = self._assemble_movie(clips, audio)
            refs = [movie]
            srt_file = Path(movie.metadata.get("srt_path") or "")
            if srt_file.is_file():
                refs.append(publish_local(srt_file, "application/x-subrip", {"kind": "subtitles"}))
            log_file = Path(movie.metadata.get("log_path") or "")
            if log_file.is_file():
                refs.append(publish_local(log_file, "text/plain", {"kind": "logs"}))
            # published: the blobs are the movie now, the run folder keeps no second copy
            for written in (Path(movie.metadata.get("out_path") or ""), srt_file, log_file):
                if written.is_file() and written != movie.path:
                    written.unlink()
            return refs

        refs, hit = cache.cached(
            self.store, key, compute, step_type="assemble", provider=ASSEMBLER_VERSION,
            on_damaged=lambda why: self.warnings.append(f"movie: {why}; assembled again"),
        )  # fmt: skip
        kinds = {r.metadata.get("kind"): r for r in refs[1:]}
        logs = kinds.get("logs")
        self.logs_uri = logs.artifact_uri if logs is not None else None
        return refs[0], kinds.get("subtitles"), key, hit

    def quality_check(self, movie: ArtifactRef, assembly_key: str) -> list[str]:
        """QA of the finished movie, scene by scene, cached with the movie. Returns
        warnings with the time of each problem."""
        from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa
        from sparkle_motion.types import QAReport

        provider = self.providers.get("qa_qwen2vl", "fixture")
        self.progress(_ENCODE_SHARE, "checking the movie (QA)")

        def compute() -> list[ArtifactRef]:
            self._drain_measurements()  # the segments measured ahead are kept by now
            scenes = movie.metadata.get("scenes") or []
            segments = [(s["start_s"], s["start_s"] + s["duration_s"]) for s in scenes]
            opts = {
                "provider": provider,
                "target_lufs": self.plan.assemble_opts.loudness_lufs,
                "expected_duration_s": movie.metadata.get("duration_s"),
                **(self._qa_pieces(movie) if qa.checks_movies(provider) else {}),
            }
            report = qa.inspect_movie(movie.path, segments or None, opts=opts)
            if report is None:
                return []
            ref = publish_local(
                report.model_dump_json(indent=2).encode(), "application/json",
                {"kind": "qa_report", "movie": movie.artifact_uri},
            )  # fmt: skip
            write_memory_event(
                "qa_report",
                {"ok": report.ok, "flags": report.global_flags, "uri": ref.artifact_uri},
                plan_id=self.plan.id, run_id=self.run_id,
            )  # fmt: skip
            return [ref]

        refs, _hit = cache.cached(
            self.store, f"qa:{provider}:{assembly_key}", compute, step_type="qa",
            provider=provider,
            on_damaged=lambda why: self.warnings.append(f"QA report: {why}; checked again"),
        )  # fmt: skip
        if not refs:
            return []
        report = QAReport.model_validate_json(refs[0].path.read_text(encoding="utf-8"))
        return qa.report_warnings(report, provider) if not report.ok else []

    @staticmethod
    def _qa_pieces(movie: ArtifactRef) -> dict[str, Any]:
        """The movie's segment files for its QA (``pieces``, ``fps``, ``measure_cache``), so
        QA decodes only the segments it has not measured before; nothing (QA decodes the whole
        movie) when a segment file is missing or no longer the one the movie was joined from."""
        from sparkle_motion.utils.seal import SidecarSeals, check

        meta = movie.metadata
        folder = (meta.get("segment_cache") or {}).get("dir")
        segments = meta.get("segments") or []
        if not folder or not segments or not meta.get("fps"):
            return {}
        seals = SidecarSeals()
        pieces = []
        for seg in segments:
            if not all(k in seg for k in ("start_frame", "frames", "key")):
                return {}
            path = Path(folder) / f"{seg['key']}.mp4"
            if check(path, seals) is not None:  # one stat while its seal holds
                return {}
            pieces.append(
                {"path": str(path), **{k: seg[k] for k in ("start_frame", "frames", "key")}}
            )
        return {"pieces": pieces, "fps": meta["fps"], "measure_cache": str(_qa_measurements())}

    def companions(
        self, movie: ArtifactRef, outputs: dict[str, list[ArtifactRef]], beside: Path | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The movie's QA scorecard and provenance manifest, written to the run's folder
        and beside the copy at ``beside`` (``x.mp4`` -> ``x.qa.json``, ``x.manifest.json``)."""
        from sparkle_motion.production import manifest, scorecard

        qa_provider = self.providers.get("qa_qwen2vl", "fixture")
        card = scorecard.build(
            self.plan, outputs, self.reviews, self.in_movie, run_id=self.run_id,
            qa_provider=qa_provider,
        )  # fmt: skip
        made = manifest.build(self.plan, outputs, self.providers, movie, self.run_id)
        places = [(self.run_dir, "movie")] + ([(beside.parent, beside.stem)] if beside else [])
        for folder, stem in places:
            scorecard.write_json(folder / f"{stem}.qa.json", card)
            scorecard.write_json(folder / f"{stem}.manifest.json", made)
        return card, made
