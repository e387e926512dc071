"""One run of a validated plan: records, inputs, the scheduler's hooks, the movie.

The runner owns everything with state: the run's row and heartbeat, the step records
(store, memory timeline, CallbackEvents), the plan's own input files, the step cache and
the steps' outputs. The scheduler (scheduler.py) owns the graph and the executor runs the
jobs; the runner answers the scheduler's hooks, so those two never touch the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sparkle_motion import cache, estimates
from sparkle_motion.adk_helpers import publish_local, write_memory_event
from sparkle_motion.config import Settings
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import ModelOOMError, RunInterrupted
from sparkle_motion.executors import Executor, make_executor
from sparkle_motion.production import dialogue, qa_loop, runs
from sparkle_motion.production.assembly import Assembly
from sparkle_motion.production.jobs import StepJob
from sparkle_motion.production.scheduler import RetryPolicy, Scheduler
from sparkle_motion.production.steps import Frame, effective_data, kind_of
from sparkle_motion.progress import ProgressCallback, emit_progress
from sparkle_motion.providers import provider_version
from sparkle_motion.run_context import current_run_context, run_context
from sparkle_motion.types import (
    ArtifactRef,
    Step,
    StepExecutionRecord,
    is_step_ref,
    step_ref_id,
)
from sparkle_motion.utils.backoff import backoff_from_settings
from sparkle_motion.utils.media import AUDIO_TYPES
from sparkle_motion.utils.run_command import kill_recorded_groups
from sparkle_motion.validation import PlanValidation, resolve_plan_path
from sparkle_motion.workspace import get_workspace

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    **AUDIO_TYPES,
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}
# what a step's record keeps of its first artifact's metadata
_RECORD_META = (
    "seed", "provider", "simulated", "duration_s", "fps", "num_frames",
    "chunk_length_frames", "sample_rate", "watermarked", "selection", "num_chunks",
    "cpu_fallback", "line_artifacts", "regenerations", "qa_loop", "quarantined",
)  # fmt: skip
_DONE = ("succeeded", "failed", "skipped")


class RunResult(BaseModel):
    """What a run did."""

    run_id: str
    plan_id: str
    status: Literal["succeeded", "failed", "interrupted"]
    summary: str
    records: list[StepExecutionRecord] = Field(default_factory=list)
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    movie: ArtifactRef | None = None
    subtitles: ArtifactRef | None = None  # the movie's .srt
    output_path: str | None = None
    duration_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    scorecard: dict[str, Any] | None = None  # movie.qa.json
    manifest: dict[str, Any] | None = None  # movie.manifest.json


def settings_executor(settings: Settings) -> Executor:
    """The executor ``settings.executor`` names, with the settings' slots."""
    slots = {
        "cpu": settings.effective_cpu_slots,
        "gpu": settings.gpu_slots,
        "image": settings.max_concurrent_image_renders,
        "video": settings.max_concurrent_video_chunk_renders,
    }
    return make_executor(settings.executor, slots)


def _now() -> datetime:
    return datetime.now(UTC)


def _one_line(exc: BaseException, limit: int = 500) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


class Runner:
    """Runs one validated plan to a movie (``run()``), or to a failed run with a summary."""

    def __init__(
        self,
        validation: PlanValidation,
        *,
        run_id: str,
        profile: str,
        providers: dict[str, str],
        settings: Settings,
        on_progress: ProgressCallback | None,
        output: Path | None,
        sleep: Callable[[float], None],
        resumed: bool,
        executor: Executor,
    ) -> None:
        self.validation = validation
        self.plan = validation.plan
        self.steps = {s.id: s for s in self.plan.steps}
        self.position = {s.id: i for i, s in enumerate(self.plan.steps)}
        self.frame = Frame.of(self.plan)
        self.run_id = run_id
        self.profile = profile
        self.providers = providers
        self.settings = settings
        self.on_progress = on_progress
        self.output = output
        self.sleep = sleep
        self.resumed = resumed
        self.executor = executor
        self.store = get_store(settings)
        self.ws = get_workspace(settings)
        self.run_dir = self.ws.run_dir(run_id)
        self.records: dict[str, StepExecutionRecord] = {}
        # a step's record is read and rewritten by the scheduler (its state) and by the
        # progress relay thread (its chunks): one lock, so a late chunk never undoes a finish
        self._records_lock = threading.RLock()
        self.outputs: dict[str, list[ArtifactRef]] = {}
        self.inputs: dict[tuple[str, str], ArtifactRef] = {}
        self.warnings: list[str] = []  # cached outputs found damaged and rendered again
        self.assembly = Assembly(self.plan, self.store, run_id, self.run_dir, providers)
        self.assembly.progress = lambda f, m: self._emit("assemble", m, f, "postprocess")

    # ----------------------------------------------------------- records

    def _emit(self, step_id: str | None, message: str, progress: float, phase: str) -> None:
        emit_progress(
            self.on_progress, plan_id=self.plan.id, run_id=self.run_id, step_id=step_id,
            phase=phase, progress=progress, message=message,
        )  # fmt: skip

    def _record(self, step_id: str, step_type: str, **fields: Any) -> StepExecutionRecord:
        with self._records_lock:
            record = self.records.get(step_id) or StepExecutionRecord(
                plan_id=self.plan.id, run_id=self.run_id, step_id=step_id, step_type=step_type,
                status="queued",
            )  # fmt: skip
            record = record.model_copy(update=fields)
            self.records[step_id] = record
            self.store.upsert_step_record(record)
        if record.status in _DONE:
            write_memory_event(
                "step_record", record.model_dump(mode="json"),
                plan_id=self.plan.id, run_id=self.run_id, step_id=step_id,
            )  # fmt: skip
        phase = "rendering" if record.status == "running" else "postprocess"
        progress = 1.0 if record.status in _DONE else 0.0
        label = "cached" if record.cache_hit and record.status == "succeeded" else record.status
        self._emit(step_id, label, progress, phase)
        return record

    # ------------------------------------------------------------ inputs

    def _import_inputs(self) -> None:
        """Copy the plan's own files (face videos, reference audio, the cast's reference
        clips) into the workspace."""
        base = self.validation.base_dir
        for speaker, member in (self.plan.cast or {}).items():
            if member.reference_audio:
                path = resolve_plan_path(member.reference_audio, base or Path.cwd())
                media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
                source = {"kind": "plan_input", "source": member.reference_audio}
                self.inputs[("cast", speaker)] = publish_local(path, media, source)
        for step in self.plan.steps:
            for field, value in step.input_refs():
                if is_step_ref(value):
                    continue
                path = resolve_plan_path(value, base or Path.cwd())
                media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
                with run_context(step_id=step.id):
                    ref = publish_local(path, media, {"kind": "plan_input", "source": value})
                self.inputs[(step.id, field)] = ref
        music = self.plan.assemble_opts.music
        if music:  # the movie's music bed: a plan file like any other, in the assembly key
            path = resolve_plan_path(music, base or Path.cwd())
            media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
            source = {"kind": "plan_input", "source": music}
            self.assembly.music = publish_local(path, media, source)

    def _inputs_of(self, step: Step) -> dict[str, ArtifactRef]:
        """Each input field of ``step`` -> the artifact it names (a step's first output; a
        dialogue's whole audio), and the reference clip of each speaker of its lines."""
        inputs = {
            field: self.outputs[step_ref_id(value)][0]
            if is_step_ref(value)
            else self.inputs[(step.id, field)]
            for field, value in step.input_refs()
        }
        for line in getattr(step, "lines", None) or []:
            ref = self.inputs.get(("cast", line.speaker or ""))
            if ref is not None:
                inputs[dialogue.REFERENCE_FIELD.format(speaker=line.speaker)] = ref
        return inputs

    # ------------------------------------------------- the scheduler's hooks

    def queued(self, step_id: str) -> None:
        self._record(step_id, self.steps[step_id].type, status="queued")

    def prepare(self, step_id: str) -> tuple[StepJob, list[ArtifactRef] | None]:
        """The step's job (key, provider, inputs resolved once) and a cache hit, if any."""
        step = self.steps[step_id]
        data, resolved = effective_data(step, self.frame, self.providers, self.plan)
        provider = kind_of(step).provider(self.providers)
        inputs = self._inputs_of(step)
        hashes: dict[str, list[str]] = {}
        for field, ref in inputs.items():
            hashes.setdefault(field.split("[")[0], []).append(ref.sha256 or ref.artifact_uri)
        key, qa_key = cache.cache_key(data, provider, hashes), self._qa_key(step)
        if qa_key is not None:  # a visual step: QA decides what it outputs
            key = cache.cache_key({**data, "qa": qa_key}, provider, hashes)
        for line in resolved.get("lines", []):  # a dialogue: each line cached on its own
            line["key"] = dialogue.line_key(line, provider, inputs)
            hit = cache.lookup(self.store, line["key"])
            line["cached"] = hit[0].model_dump(mode="json") if hit else None

        def lookup(key: str) -> list[ArtifactRef] | None:
            return cache.lookup(
                self.store, key,
                lambda why: self.warnings.append(f"{step_id}: {why}; rendered again"),
            )  # fmt: skip

        hit = lookup(key)
        rejected: list[str] = []
        while qa_key is not None and hit is not None and len(rejected) < 100:
            # a reviewer rejected the held output: render again with a new seed (its key
            # names the rejected outputs, so approving or rejecting is part of the key)
            states = qa_loop.review_states(self.store, qa_loop.held(hit))
            bad = [uri for uri, state in states.items() if state == "rejected"]
            if not bad:
                break
            rejected += bad
            opts = data["opts"]
            data = {**data, "opts": {**opts, "seed": qa_loop.rejected_seed(hit, opts["seed"])}}
            payload = {**data, "qa": qa_key, "review_rejected": rejected}
            key = cache.cache_key(payload, provider, hashes)
            hit = lookup(key)
        job = StepJob(
            step=step, data=data, resolved=resolved, inputs=inputs, cache_key=key,
            provider=provider, plan_id=self.plan.id, run_id=self.run_id,
            run_dir=str(self.run_dir), providers=dict(self.providers),
            tenant_id=current_run_context().tenant_id, qa=self.settings.qa.model_dump(),
        )  # fmt: skip
        if hit is not None:
            self._record(step_id, step.type, start_time=_now())
        return job, hit

    def _qa_key(self, step: Step) -> str | None:
        """The QA backend that checks a visual step's output (part of its cache key)."""
        if step.type not in qa_loop.VISUAL_TYPES or kind_of(step).tool is None:
            return None
        return provider_version("qa_qwen2vl", self.providers.get("qa_qwen2vl", "fixture"))

    def started(self, job: StepJob) -> None:
        fields: dict[str, Any] = {"status": "running", "attempts": job.attempt}
        if job.attempt == 1:
            fields["start_time"] = fields["started_at"] = _now()
        self._record(job.step_id, job.step.type, **fields)

    def succeeded(self, job: StepJob, refs: list[ArtifactRef], cache_hit: bool) -> None:
        step = job.step
        if not cache_hit:
            cache.remember(
                self.store, job.cache_key, refs, step_type=step.type, provider=job.provider
            )
            for line, ref in zip(job.resolved.get("lines", []), refs[1:], strict=False):
                if not line.get("cached"):
                    cache.remember(
                        self.store, line["key"], [ref], step_type="tts_line",
                        provider=job.provider,
                    )  # fmt: skip
            out_path = getattr(step, "out_path", None)
            if out_path and self.validation.base_dir is not None:
                target = resolve_plan_path(out_path, self.validation.base_dir)
                runs.copy_atomic(refs[0].path, target)
        self.outputs[job.step_id] = refs
        if not cache_hit:  # a scene may be complete now: encode its segments meanwhile
            self.assembly.encode_ahead(self.outputs)
        end = _now()
        record = self.records.get(job.step_id)
        start = record.start_time if record and record.start_time else end
        meta = refs[0].metadata if refs else {}
        lines = job.resolved.get("lines") or []
        extra = {"lines_cached": sum(bool(ln.get("cached")) for ln in lines)} if lines else {}
        self._record(
            job.step_id, step.type, status="succeeded", end_time=end, start_time=start,
            duration_s=(end - start).total_seconds(), cache_key=job.cache_key,
            cache_hit=cache_hit, artifact_uri=refs[0].artifact_uri if refs else None,
            artifact_uris=[r.artifact_uri for r in refs], model_id=meta.get("model_id"),
            device=meta.get("device"), progress_percent=100.0, last_progress_at=end,
            logs_uri=meta.get("logs_uri"),
            meta={k: v for k, v in meta.items() if k in _RECORD_META} | extra,
        )  # fmt: skip

    def retrying(self, job: StepJob, error: BaseException, next_job: StepJob) -> None:
        if isinstance(error, ModelOOMError):
            write_memory_event(
                "oom_retry", {"shrink": next_job.hints.get("shrink"), **error.to_dict()},
                plan_id=self.plan.id, run_id=self.run_id, step_id=job.step_id,
            )  # fmt: skip

    def failed(self, job: StepJob, error: BaseException) -> None:
        end = _now()
        record = self.records[job.step_id]
        self._record(
            job.step_id, job.step.type, status="failed", end_time=end,
            duration_s=(end - (record.start_time or end)).total_seconds(),
            error_type=getattr(error, "code", type(error).__name__),
            error_message=_one_line(error),
        )  # fmt: skip

    def skipped(self, step_id: str, because: str) -> None:
        self._record(step_id, self.steps[step_id].type, status="skipped", error_message=because)

    def message(self, message: Any) -> None:
        chunk = getattr(message, "chunk_index", None)
        with self._records_lock:
            record = self.records.get(getattr(message, "step_id", None) or "")
            if chunk is not None and record is not None and record.status == "running":
                done = chunk + 1 if str(message.message or "").endswith("done") else chunk
                record = record.model_copy(update={
                    "current_chunk": chunk, "completed_chunks": done,
                    "progress_percent": round(100 * message.progress, 1),
                    "last_progress_at": message.timestamp,
                })  # fmt: skip
                self.records[record.step_id] = record
                self.store.upsert_step_record(record)
        if self.on_progress is not None:
            try:
                self.on_progress(message)
            except Exception:  # a broken display must not break the run
                pass

    # ------------------------------------------------------------- the run

    def _schedule(self) -> tuple[set[str], set[str]]:
        executor = self.executor
        retry = RetryPolicy(
            self.settings.retry_max_attempts, lambda n: backoff_from_settings(n, self.settings)
        )
        try:
            result = Scheduler(self.plan, executor, self, retry, sleep=self.sleep).run()
        except BaseException:
            kill_recorded_groups(self.run_dir)
            executor.shutdown(wait=False)
            raise
        executor.shutdown(wait=True)
        return result

    def _assemble(self) -> tuple[ArtifactRef, ArtifactRef | None, list[str]]:
        """The movie, its subtitles and QA warnings: from the cache when nothing changed."""
        started = _now()
        self._record("assemble", "assemble", status="running", start_time=started)
        try:
            movie, srt, key, hit = self.assembly.movie(self.outputs)
            warnings = self.assembly.quality_check(movie, key)
        except Exception as exc:  # the record says so too (status must not stay "running")
            end = _now()
            self._record(
                "assemble", "assemble", status="failed", end_time=end,
                duration_s=(end - started).total_seconds(),
                error_type=getattr(exc, "code", type(exc).__name__), error_message=_one_line(exc),
            )  # fmt: skip
            raise
        end = _now()
        self._record(
            "assemble", "assemble", status="succeeded", end_time=end, cache_key=key,
            cache_hit=hit, duration_s=(end - started).total_seconds(),
            artifact_uri=movie.artifact_uri, progress_percent=100.0,
            logs_uri=self.assembly.logs_uri,
            meta={k: movie.metadata.get(k) for k in ("duration_s", "segment_cache")},
        )  # fmt: skip
        return movie, srt, warnings

    def _record_timings(self) -> None:
        """What this run's rendered work took, for the next estimate (never fails a run)."""
        try:
            estimates.record_run(self.store, self.profile, self.plan, list(self.records.values()))
        except Exception as exc:  # a locked or read-only database: estimates stay as they were
            self.warnings.append(f"could not record this run's timings: {_one_line(exc)}")

    def run(self) -> RunResult:
        started = time.perf_counter()
        payload = runs.run_payload(
            self.plan.to_json_dict(), self.profile, self.providers,
            self.validation.base_dir, self.output,
        )  # fmt: skip
        runs.sweep_dead_runs(self.store, self.settings, self.ws, keep=self.run_id)
        runs.open_run_row(
            self.store, self.run_id, self.plan.id, payload, self.profile, resumed=self.resumed
        )
        write_memory_event(
            "run_resumed" if self.resumed else "run_started",
            {"profile": self.profile, "providers": self.providers, "steps": len(self.plan.steps)},
            plan_id=self.plan.id, run_id=self.run_id,
        )  # fmt: skip
        beat = runs.Heartbeat(self.store, self.run_id, self.settings.heartbeat_interval_s).start()
        status: Literal["succeeded", "failed", "interrupted"] = "failed"
        movie = srt = None
        output_path = None
        summary = ""
        qa_warnings: list[str] = []
        scorecard = manifest = None
        try:
            with run_context(
                plan_id=self.plan.id, run_id=self.run_id, providers=self.providers,
                run_dir=str(self.run_dir), on_progress=self.on_progress,
            ):  # fmt: skip
                self._import_inputs()
                failed, skipped = self._schedule()
                if failed:
                    first = self.records[min(failed, key=self.position.__getitem__)]
                    summary = (
                        f"{len(failed)} step(s) failed, {len(skipped)} skipped; first: "
                        f"{first.step_id}: {first.error_message}"
                    )
                else:
                    movie, srt, qa_warnings = self._assemble()
                    scorecard, manifest = self.assembly.companions(movie, self.outputs, self.output)
                    if self.output is not None:
                        runs.copy_atomic(movie.path, self.output)
                        if srt is not None:
                            runs.copy_atomic(srt.path, self.output.with_suffix(".srt"))
                        output_path = str(self.output)
                    status = "succeeded"
                    summary = f"movie {output_path or movie.artifact_uri}"
                    self._record_timings()
        except KeyboardInterrupt:
            status = "interrupted"
            summary = "interrupted"
            self.store.update_run(self.run_id, status=status, summary=summary)
            raise RunInterrupted(self.run_id) from None
        except BaseException as exc:
            summary = " ".join(str(exc).split()) or type(exc).__name__
            raise
        finally:
            if status != "succeeded":  # segments encoded ahead for a movie not coming
                kill_recorded_groups(self.run_dir)
            self.assembly.close()
            beat.stop()
            self.store.update_run(
                self.run_id, status=status, summary=summary[:1000],
                output_uri=movie.artifact_uri if movie else None,
            )  # fmt: skip
            write_memory_event(
                "run_finished", {"status": status, "summary": summary},
                plan_id=self.plan.id, run_id=self.run_id,
            )  # fmt: skip
        artifacts = [r for sid in self.plan.topological_order() for r in self.outputs.get(sid, [])]
        if movie:
            artifacts.append(movie)
        return RunResult(
            run_id=self.run_id, plan_id=self.plan.id, status=status, summary=summary,
            records=list(self.records.values()), artifacts=artifacts, movie=movie,
            subtitles=srt, output_path=output_path, duration_s=time.perf_counter() - started,
            scorecard=scorecard, manifest=manifest,
            warnings=[
                *self.validation.warnings, *self.warnings, *self.assembly.warnings,
                *qa_warnings,
            ],
        )  # fmt: skip
