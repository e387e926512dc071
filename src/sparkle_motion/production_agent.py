"""production_agent: executes a MoviePlan as a dependency graph and assembles the movie.

``execute_plan(plan, mode="dry")`` validates the plan (policy first) and returns the spec's
simulate_execution_report without calling any tool. ``mode="run"`` (or :func:`run_plan`,
which returns more) runs every step:

- steps run as soon as the steps they reference are done, concurrently under resource
  slots (image and video slots, GPU and CPU slots), fed to the executor as slots free up;
- a step whose cache key already has published artifacts is not run again (see cache.py);
- failures are retried with the spec's policy (3 attempts, 1 s base, x2, 20 % jitter) when
  transient; one out-of-memory error earns one retry with a shrink hint; a step that fails
  for good skips its dependents and the run ends ``failed`` with a one-line summary;
- every step emits StepExecutionRecords (store + memory timeline) and CallbackEvents;
- the run is recorded with its owner pid and a heartbeat, so :func:`resume_run` can finish
  a run that was killed, redoing no finished step.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import tenacity
from pydantic import BaseModel, Field

from sparkle_motion import cache
from sparkle_motion.adk_helpers import publish_local, write_memory_event
from sparkle_motion.config import Settings, get_settings
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import (
    ModelOOMError,
    PlanPolicyViolation,
    PlanResourceError,
    SparkleError,
)
from sparkle_motion.executors.local import LocalExecutor
from sparkle_motion.providers import check_providers, resolve_providers
from sparkle_motion.run_context import current_run_context, run_context
from sparkle_motion.types import (
    ArtifactRef,
    CallbackEvent,
    MoviePlan,
    NarrationInput,
    SimulatedStep,
    SimulationReport,
    StepExecutionRecord,
    VisualInput,
    is_step_ref,
    step_ref_id,
    uri_to_path,
)
from sparkle_motion.utils.run_command import kill_recorded_groups
from sparkle_motion.validation import PlanValidation, resolve_plan_path, validate_plan
from sparkle_motion.workspace import get_workspace

ProgressCallback = Callable[[CallbackEvent], None]
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
}
ASSEMBLER_VERSION = "assemble_ffmpeg@3"
_TOOL_OF_STEP = {
    "image": "images_sdxl",
    "tts": "tts_chatterbox",
    "video": "videos_wan",
    "lipsync": "lipsync_wav2lip",
}


class RunInterrupted(SparkleError):
    """The run was stopped (Ctrl-C); it can be finished with ``resume``."""

    code = "run_interrupted"
    exit_code = 130

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id} interrupted; finish it with: sparkle-motion resume {run_id}"
        )
        self.run_id = run_id


class RunStateError(SparkleError):
    """A run cannot be resumed: unknown, still alive, or already finished."""

    code = "run_state"
    exit_code = 2


class RunResult(BaseModel):
    """What a run did."""

    run_id: str
    plan_id: str
    status: Literal["succeeded", "failed", "interrupted"]
    summary: str
    records: list[StepExecutionRecord] = Field(default_factory=list)
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    movie: ArtifactRef | None = None
    output_path: str | None = None
    duration_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)


class RunFailed(SparkleError):
    """``execute_plan(mode="run")`` on a run that did not succeed (``.result`` has why)."""

    code = "run_failed"

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"run {result.run_id} failed: {result.summary}")
        self.result = result


def new_run_id() -> str:
    """A short id that sorts by start time: ``20261125-080102-3f9a``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ validation


def _validate(
    plan: MoviePlan | dict | str, settings: Settings, profile: str, base_dir: Path | None
) -> PlanValidation:
    """All five stages; a policy violation is also written to the memory timeline."""
    try:
        return validate_plan(plan, settings=settings, profile=profile, base_dir=base_dir)
    except PlanPolicyViolation as exc:
        plan_id = plan.id if isinstance(plan, MoviePlan) else None
        write_memory_event("policy_violation", exc.to_dict(), plan_id=plan_id)
        raise


# ------------------------------------------------------------------- dry run


def simulate_execution_report(
    validation: PlanValidation, providers: dict[str, str]
) -> SimulationReport:
    """The dry run's report: invocation graph, estimates, simulated URIs; calls no tool."""
    plan = validation.plan
    deps = plan.dependencies()
    suffix = {"image": ".png", "tts": ".wav", "video": ".mp4", "lipsync": ".mp4"}
    steps, records = [], []
    for est, step in zip(validation.estimates, plan.steps, strict=True):
        uri = f"file:///simulated/{plan.id}/{step.id}{suffix.get(step.type, '.bin')}"
        steps.append(
            SimulatedStep(
                step_id=step.id,
                step_type=step.type,
                provider=providers.get(_TOOL_OF_STEP.get(step.type, ""), "handler"),
                depends_on=deps[step.id],
                estimated_runtime_s=est.estimated_runtime_s,
                estimated_gpu_memory_mb=est.estimated_gpu_memory_mb,
                simulated_artifact_uri=uri,
            )
        )
        records.append(
            StepExecutionRecord(
                plan_id=plan.id,
                step_id=step.id,
                step_type=step.type,
                status="simulated",
                artifact_uri=uri,
                memory_hint_mb=est.estimated_gpu_memory_mb,
            )
        )
    total = sum(s.estimated_runtime_s for s in steps)
    gpu_s = sum(s.estimated_runtime_s for s in steps if s.estimated_gpu_memory_mb)
    return SimulationReport(
        plan_id=plan.id,
        steps=steps,
        invocation_graph={**deps, "assemble": [s.id for s in plan.steps]},
        resource_summary={
            "total_estimated_runtime_s": round(total, 3),
            "total_estimated_gpu_hours": round(gpu_s / 3600, 4),
        },
        policy_decisions=validation.policy,
        records=records,
        warnings=validation.warnings,
    )


# ---------------------------------------------------------------------- runner


def _effective_step_data(
    step: Any, plan: MoviePlan, providers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The step with its options after defaults and inheritance from the movie.

    A narration also carries the catalog's settings for its voice under the chosen provider
    (outside ``opts``): retuning a voice in tts_providers.yaml re-renders its lines.
    """
    data = step.model_dump(mode="json", exclude_none=True)
    opts = data.setdefault("opts", {})
    # renderers want multiples of 8; the assembler fits pictures to the movie's exact size
    width, height = (max(64, -(-d // 8) * 8) for d in plan.assemble_opts.size())
    fps = plan.assemble_opts.fps
    if step.type == "image":
        opts.setdefault("width", width)
        opts.setdefault("height", height)
        opts["num_images"] = step.count
    elif step.type == "video":
        opts.setdefault("width", width)
        opts.setdefault("height", height)
        opts.setdefault("fps", fps)
    elif step.type == "lipsync":
        opts.setdefault("fps", fps)
        opts["size"] = [width, height]
    if step.type != "custom":
        opts.setdefault("seed", cache.derived_seed(data))
    if step.type == "tts" and providers:
        from sparkle_motion import voices

        provider = voices.provider_for(step.opts.provider or providers.get("tts_chatterbox", ""))
        data["voice_settings"] = voices.provider_voice(step.voice.id, provider)
    return data


def _provider_version(step_type: str, providers: dict[str, str]) -> str:
    """The backend a step runs on, as ``id@version`` (custom handlers: ``handler@1``)."""
    from sparkle_motion.providers import provider_version

    tool = _TOOL_OF_STEP.get(step_type)
    return provider_version(tool, providers.get(tool, "fixture")) if tool else "handler@1"


class _Backoff(tenacity.wait.wait_base):
    """The spec's backoff: base x multiplier^(attempt-1), +/- jitter (fraction)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        n = retry_state.attempt_number
        base = self.s.retry_backoff_base_s * self.s.retry_backoff_multiplier ** (n - 1)
        return max(0.0, base * (1 + random.uniform(-self.s.retry_jitter, self.s.retry_jitter)))


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, SparkleError):
        return exc.retryable
    return isinstance(exc, TimeoutError | ConnectionError)


class _Runner:
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
    ) -> None:
        self.validation = validation
        self.plan = validation.plan
        self.steps = {s.id: s for s in self.plan.steps}
        self.run_id = run_id
        self.profile = profile
        self.providers = providers
        self.settings = settings
        self.on_progress = on_progress
        self.output = output
        self.sleep = sleep
        self.resumed = resumed
        self.store = get_store(settings)
        self.ws = get_workspace(settings)
        self.run_dir = self.ws.run_dir(run_id)
        self.records: dict[str, StepExecutionRecord] = {}
        self.outputs: dict[str, list[ArtifactRef]] = {}
        self.inputs: dict[tuple[str, str], ArtifactRef] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.qa_warnings: list[str] = []

    # ----------------------------------------------------------- records

    def _emit(self, step_id: str | None, message: str, progress: float, phase: str) -> None:
        if self.on_progress is None:
            return
        event = CallbackEvent(
            plan_id=self.plan.id,
            run_id=self.run_id,
            step_id=step_id,
            progress=progress,
            phase=phase,  # type: ignore[arg-type]
            message=message,
        )
        try:
            self.on_progress(event)
        except Exception:  # a broken display must not break the run
            pass

    def _record(self, step_id: str, step_type: str, **fields: Any) -> StepExecutionRecord:
        with self._lock:
            record = self.records.get(step_id) or StepExecutionRecord(
                plan_id=self.plan.id, run_id=self.run_id, step_id=step_id, step_type=step_type,
                status="queued",
            )  # fmt: skip
            record = record.model_copy(update=fields)
            self.records[step_id] = record
        self.store.upsert_step_record(record)
        if record.status in ("succeeded", "failed", "skipped"):
            write_memory_event(
                "step_record",
                record.model_dump(mode="json"),
                plan_id=self.plan.id,
                run_id=self.run_id,
                step_id=step_id,
            )
        phase = "rendering" if record.status == "running" else "postprocess"
        progress = 1.0 if record.status in ("succeeded", "failed", "skipped") else 0.0
        label = "cached" if record.cache_hit and record.status == "succeeded" else record.status
        self._emit(step_id, label, progress, phase)
        return record

    # ---------------------------------------------------------- run rows

    def _start_run_row(self) -> None:
        payload = json.dumps(
            {
                "plan": self.plan.to_json_dict(),
                "profile": self.profile,
                "providers": self.providers,
                "base_dir": str(self.validation.base_dir) if self.validation.base_dir else None,
                "output": str(self.output) if self.output else None,
            }
        )
        if self.resumed:
            self.store.update_run(
                self.run_id, status="running", owner_pid=os.getpid(),
                owner_host=socket.gethostname(), heartbeat_at=time.time(),
            )  # fmt: skip
        else:
            self.store.create_run(self.run_id, self.plan.id, payload, self.profile)
        write_memory_event(
            "run_resumed" if self.resumed else "run_started",
            {"profile": self.profile, "providers": self.providers, "steps": len(self.plan.steps)},
            plan_id=self.plan.id,
            run_id=self.run_id,
        )

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval_s):
            try:
                self.store.update_run(self.run_id, heartbeat_at=time.time())
            except Exception:
                pass

    # ------------------------------------------------------------- inputs

    def _import_inputs(self) -> None:
        """Copy the plan's own files (face videos, reference audio) into the workspace."""
        base = self.validation.base_dir
        for step in self.plan.steps:
            for field, value in step.input_refs():
                if is_step_ref(value):
                    continue
                path = resolve_plan_path(value, base or Path.cwd())
                media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
                with run_context(step_id=step.id):
                    ref = publish_local(path, media, {"kind": "plan_input", "source": value})
                self.inputs[(step.id, field)] = ref

    def _input_ref(self, step_id: str, field: str, value: str) -> ArtifactRef:
        if is_step_ref(value):
            return self.outputs[step_ref_id(value)][0]
        return self.inputs[(step_id, field)]

    def _input_hashes(self, step: Any) -> dict[str, list[str]]:
        hashes: dict[str, list[str]] = {}
        for field, value in step.input_refs():
            ref = self._input_ref(step.id, field, value)
            hashes.setdefault(field.split("[")[0], []).append(ref.sha256 or ref.artifact_uri)
        return hashes

    # ------------------------------------------------------------- steps

    def _resources(self, step: Any) -> frozenset[str]:
        tool = _TOOL_OF_STEP.get(step.type)
        device = "gpu" if tool and self.providers.get(tool) == "full" else "cpu"
        extra = {"image": {"image"}, "video": {"video"}}.get(step.type, set())
        return frozenset({device, *extra})

    def _cache_lookup(self, key: str) -> list[ArtifactRef] | None:
        hit = self.store.get_cache(key)
        if not hit:
            return None
        refs = [ArtifactRef.model_validate(a) for a in hit["artifacts"]]
        return refs if refs and cache.artifacts_intact(refs) else None

    def _call(self, step: Any, data: dict[str, Any]) -> list[ArtifactRef]:
        from sparkle_motion import images_agent, tts_agent, videos_agent
        from sparkle_motion.types import ImagesOpts, TTSOpts, VideoOpts, Wav2LipOpts

        opts = dict(data.get("opts", {}))
        if step.type == "image":
            return images_agent.render(step.prompt, ImagesOpts.model_validate(opts))
        if step.type == "tts":
            prompt_path = None
            if step.opts.audio_prompt_path:
                ref = self._input_ref(
                    step.id, "opts.audio_prompt_path", step.opts.audio_prompt_path
                )
                prompt_path = ref.path
            opts.pop("audio_prompt_path", None)
            return [
                tts_agent.synthesize(
                    step.text, step.voice, TTSOpts.model_validate(opts), audio_prompt=prompt_path
                )
            ]
        if step.type == "video":
            starts = [
                self._input_ref(step.id, f"start_frames[{i}]", v).path
                for i, v in enumerate(step.start_frames)
            ]
            ends = [
                self._input_ref(step.id, f"end_frames[{i}]", v).path
                for i, v in enumerate(step.end_frames)
            ]
            return [videos_agent.render_video(starts, ends, step.prompt, VideoOpts(**opts))]
        if step.type == "lipsync":
            face = self._input_ref(step.id, "face_video", step.face_video).path
            audio = self._input_ref(step.id, "audio", step.audio).path
            size = tuple(opts.pop("size"))
            ref = videos_agent.lipsync(face, audio, Wav2LipOpts(**opts), size=size)
            if step.out_path and self.validation.base_dir is not None:
                target = resolve_plan_path(step.out_path, self.validation.base_dir)
                _copy_atomic(ref.path, target)
            return [ref]
        return self._call_custom(step, opts)

    def _call_custom(self, step: Any, opts: dict[str, Any]) -> list[ArtifactRef]:
        from sparkle_motion.handlers import get_handler

        handler = get_handler(step.handler)
        inputs = {f: self._input_ref(step.id, f, v).path for f, v in step.input_refs()}
        result = handler(
            step=step, opts=opts, inputs=inputs, work_dir=Path(current_run_context().work_dir)
        )
        if result is None:
            return []
        refs = result if isinstance(result, list) else [result]
        return [r if isinstance(r, ArtifactRef) else ArtifactRef.model_validate(r) for r in refs]

    def _execute(
        self, step_id: str, data: dict[str, Any], key: str, provider: str
    ) -> list[ArtifactRef]:
        """Run one step with retries (in a worker thread)."""
        step = self.steps[step_id]
        work = self.run_dir / "tmp" / step_id
        work.mkdir(parents=True, exist_ok=True)
        started = _now()
        self._record(step_id, step.type, status="running", start_time=started, started_at=started)
        state: dict[str, Any] = {"hints": {}, "oom_retried": False, "attempts": 0}

        def classify(exc: BaseException) -> bool:
            if isinstance(exc, ModelOOMError) and not state["oom_retried"]:
                state["oom_retried"] = True
                shrink = getattr(step.opts, "adaptive_shrink_factor", 0.5)
                state["hints"] = {"shrink": shrink}
                write_memory_event(
                    "oom_retry", {"shrink": shrink, **exc.to_dict()},
                    plan_id=self.plan.id, run_id=self.run_id, step_id=step_id,
                )  # fmt: skip
                return True
            return _is_transient(exc) and not isinstance(exc, ModelOOMError)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.retry_max_attempts),
            wait=_Backoff(self.settings),
            retry=tenacity.retry_if_exception(classify),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    state["attempts"] += 1
                    self._record(step_id, step.type, attempts=state["attempts"])
                    with run_context(
                        step_id=step_id, work_dir=str(work), hints=dict(state["hints"])
                    ):
                        refs = self._call(step, data)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.store.put_cache(
            key,
            step_type=step.type,
            provider=provider,
            artifacts=[r.model_dump(mode="json") for r in refs],
        )
        return refs

    def _finish_step(self, step_id: str, refs: list[ArtifactRef], key: str, hit: bool) -> None:
        step = self.steps[step_id]
        self.outputs[step_id] = refs
        end = _now()
        record = self.records.get(step_id)
        start = record.start_time if record and record.start_time else end
        meta = refs[0].metadata if refs else {}
        self._record(
            step_id, step.type, status="succeeded", end_time=end, start_time=start,
            duration_s=(end - start).total_seconds(), cache_key=key, cache_hit=hit,
            artifact_uri=refs[0].artifact_uri if refs else None,
            artifact_uris=[r.artifact_uri for r in refs], model_id=meta.get("model_id"),
            device=meta.get("device"), progress_percent=100.0, last_progress_at=end,
            meta={k: v for k, v in meta.items() if k in ("seed", "provider", "simulated",
                  "duration_s", "fps", "num_frames", "chunk_length_frames", "sample_rate")},
        )  # fmt: skip

    # ------------------------------------------------------------ the loop

    def _schedule(self) -> tuple[set[str], set[str]]:
        """Feed ready steps to the executor as slots free up; returns (failed, skipped).

        Each step is looked at once when it becomes ready (its cache key and lookup), and
        ready steps wait in per-resource queues in plan order, so a 1,000-step plan costs
        linear bookkeeping.
        """
        import heapq

        deps = self.plan.dependencies()
        users: dict[str, list[str]] = {sid: [] for sid in deps}
        for sid, ds in deps.items():
            for d in set(ds):
                users[d].append(sid)
        waiting = {sid: len(set(ds)) for sid, ds in deps.items()}
        position = {sid: i for i, sid in enumerate(deps)}
        failed: set[str] = set()
        skipped: set[str] = set()
        queues: dict[frozenset[str], list[tuple[int, str, dict, str, str]]] = {}
        running: dict[Future, tuple[str, str]] = {}
        executor = LocalExecutor(
            {
                "cpu": self.settings.effective_cpu_slots,
                "gpu": self.settings.gpu_slots,
                "image": self.settings.max_concurrent_image_renders,
                "video": self.settings.max_concurrent_video_chunk_renders,
            }
        )
        for sid in deps:
            self._record(sid, self.steps[sid].type, status="queued")

        def settle(sid: str, ok: bool) -> None:
            """A step is done: release its users (or skip them, and theirs, if it failed)."""
            todo = [(sid, ok)]
            while todo:
                done_id, done_ok = todo.pop()
                for user in users[done_id]:
                    if user in skipped:
                        continue
                    if not done_ok:
                        skipped.add(user)
                        self._record(
                            user, self.steps[user].type, status="skipped",
                            error_message=f"skipped: step {done_id} did not finish",
                        )  # fmt: skip
                        todo.append((user, False))
                        continue
                    waiting[user] -= 1
                    if waiting[user] == 0:
                        fresh.append(user)

        def drain() -> None:
            """Key and look up each newly ready step; cache hits finish on the spot."""
            while fresh:
                sid = fresh.popleft()
                step = self.steps[sid]
                data = _effective_step_data(step, self.plan, self.providers)
                provider = _provider_version(step.type, self.providers)
                key = cache.cache_key(data, provider, self._input_hashes(step))
                hit = self._cache_lookup(key)
                if hit is not None:
                    self._record(sid, step.type, start_time=_now())
                    self._finish_step(sid, hit, key, True)
                    settle(sid, True)
                    continue
                queue = queues.setdefault(self._resources(step), [])
                heapq.heappush(queue, (position[sid], sid, data, key, provider))

        fresh = deque(sid for sid in deps if waiting[sid] == 0)
        try:
            while True:
                drain()
                for resources, queue in queues.items():
                    while queue and executor.can_run(resources):
                        _, sid, data, key, provider = heapq.heappop(queue)
                        fut = executor.submit(
                            lambda s=sid, d=data, k=key, p=provider: self._execute(s, d, k, p),
                            resources,
                        )
                        running[fut] = (sid, key)
                if not running:
                    break
                done, _ = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    sid, key = running.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        self._finish_step(sid, fut.result(), key, False)
                        settle(sid, True)
                        continue
                    failed.add(sid)
                    end = _now()
                    record = self.records[sid]
                    self._record(
                        sid, self.steps[sid].type, status="failed", end_time=end,
                        duration_s=(end - (record.start_time or end)).total_seconds(),
                        error_type=getattr(exc, "code", type(exc).__name__),
                        error_message=" ".join(str(exc).split())[:500] or type(exc).__name__,
                    )  # fmt: skip
                    settle(sid, False)
        except BaseException:
            kill_recorded_groups(self.run_dir)
            executor.shutdown(wait=False)
            raise
        executor.shutdown(wait=True)
        return failed, skipped

    # --------------------------------------------------------- assembly

    def _assembly_inputs(self) -> tuple[list[VisualInput], dict[str, Any]]:
        clips: list[VisualInput] = []
        narration: list[NarrationInput] = []
        for step in self.plan.steps:
            refs = self.outputs.get(step.id) or []
            if not refs:
                continue
            ref = refs[0]
            meta = ref.metadata
            if step.type == "tts":
                narration.append(
                    NarrationInput(
                        step_id=step.id, uri=ref.artifact_uri, text=step.text,
                        duration_s=float(meta.get("duration_s") or 0.001),
                        sentences=meta.get("sentences") or [],
                    )
                )  # fmt: skip
                continue
            if not ref.media_type.startswith(("image/", "video/")):
                continue
            if ref.metadata.get("quarantined"):
                # waiting for a human (request_human_input): never shown until approved
                self.qa_warnings.append(f"{step.id}: image held for review, left out of the movie")
                continue
            audio_step = None
            if step.type == "lipsync" and is_step_ref(step.audio):
                audio_step = step_ref_id(step.audio)
            clips.append(
                VisualInput(
                    step_id=step.id, step_type=step.type, uri=ref.artifact_uri,
                    media_type=ref.media_type, duration_s=meta.get("duration_s"),
                    fps=meta.get("fps"), has_audio=step.type == "lipsync",
                    audio_step_id=audio_step,
                )
            )  # fmt: skip
        return clips, {"narration": narration}

    def _assemble_movie(self, clips: list[VisualInput], audio: dict[str, Any]) -> ArtifactRef:
        from sparkle_motion.function_tools.assemble_ffmpeg.entrypoint import assemble_clips

        def progress(fraction: float, message: str) -> None:
            self._emit("assemble", message, fraction, "postprocess")

        out = self.run_dir / "movie.mp4"
        return assemble_clips(
            self.plan, clips, audio, out, self.plan.assemble_opts, on_progress=progress
        )

    def _assembly_key(self) -> str:
        """What the movie depends on: the steps as planned, the movie's options, the bytes
        of every step output, and the assembler (ffmpeg) version."""
        from sparkle_motion.utils.ffmpeg import ffmpeg_version

        outputs = {sid: [r.sha256 for r in refs] for sid, refs in sorted(self.outputs.items())}
        payload = {
            "steps": [s.model_dump(mode="json", exclude_none=True) for s in self.plan.steps],
            "assemble_opts": self.plan.assemble_opts.model_dump(mode="json"),
            "outputs": outputs,
            "assembler": f"{ASSEMBLER_VERSION}/{ffmpeg_version()}",
        }
        return "assemble:" + cache.cache_key(payload, ASSEMBLER_VERSION, {})

    def _quality_check(self, movie: ArtifactRef, assembly_key: str) -> list[str]:
        """QA of the finished movie, scene by scene; cached with the movie, so an unchanged
        re-run does not decode it again. Returns warnings with the time of each problem."""
        from sparkle_motion.function_tools.qa_qwen2vl import entrypoint as qa
        from sparkle_motion.types import QAReport

        provider = self.providers.get("qa_qwen2vl", "fixture")
        key = f"qa:{provider}:{assembly_key}"
        hit = self._cache_lookup(key)
        if hit is not None:
            report = QAReport.model_validate_json(hit[0].path.read_text(encoding="utf-8"))
        else:
            scenes = movie.metadata.get("scenes") or []
            segments = [(s["start_s"], s["start_s"] + s["duration_s"]) for s in scenes]
            opts = {
                "provider": provider,
                "target_lufs": self.plan.assemble_opts.loudness_lufs,
                "expected_duration_s": movie.metadata.get("duration_s"),
            }
            report = qa.inspect_movie(movie.path, segments or None, opts=opts)
            if report is None:
                return []
            ref = publish_local(
                report.model_dump_json(indent=2).encode(), "application/json",
                {"kind": "qa_report", "movie": movie.artifact_uri},
            )  # fmt: skip
            self.store.put_cache(
                key, step_type="qa", provider=provider, artifacts=[ref.model_dump(mode="json")]
            )
            write_memory_event(
                "qa_report",
                {"ok": report.ok, "flags": report.global_flags, "uri": ref.artifact_uri},
                plan_id=self.plan.id, run_id=self.run_id,
            )  # fmt: skip
        return qa.report_warnings(report, provider) if not report.ok else []

    def _assemble(self) -> tuple[ArtifactRef, ArtifactRef | None]:
        """The movie and its subtitles: from the cache when nothing they depend on changed."""
        started = _now()
        self._record("assemble", "assemble", status="running", start_time=started)
        key = self._assembly_key()
        hit = self._cache_lookup(key)
        if hit is not None:
            movie, srt = hit[0], (hit[1] if len(hit) > 1 else None)
        else:
            clips, audio = self._assembly_inputs()
            movie = self._assemble_movie(clips, audio)
            srt_file = Path(movie.metadata.get("srt_path") or "")
            srt = None
            if srt_file.is_file():
                srt = publish_local(srt_file, "application/x-subrip", {"kind": "subtitles"})
            self.store.put_cache(
                key, step_type="assemble", provider=ASSEMBLER_VERSION,
                artifacts=[r.model_dump(mode="json") for r in (movie, srt) if r is not None],
            )  # fmt: skip
        self.qa_warnings = self._quality_check(movie, key)
        end = _now()
        self._record(
            "assemble", "assemble", status="succeeded", end_time=end, cache_key=key,
            cache_hit=hit is not None, duration_s=(end - started).total_seconds(),
            artifact_uri=movie.artifact_uri, progress_percent=100.0,
            meta={k: movie.metadata.get(k) for k in ("duration_s", "segment_cache")},
        )  # fmt: skip
        return movie, srt

    # -------------------------------------------------------------- run

    def run(self) -> RunResult:
        started = time.perf_counter()
        self._start_run_row()
        beat = threading.Thread(target=self._heartbeat, name="sparkle-heartbeat", daemon=True)
        beat.start()
        status: Literal["succeeded", "failed", "interrupted"] = "failed"
        movie = None
        output_path = None
        summary = ""
        try:
            with run_context(
                plan_id=self.plan.id, run_id=self.run_id, providers=self.providers,
                run_dir=str(self.run_dir), on_progress=self.on_progress,
            ):  # fmt: skip
                self._import_inputs()
                failed, skipped = self._schedule()
                if failed:
                    first = self.records[sorted(failed, key=self._position)[0]]
                    summary = (
                        f"{len(failed)} step(s) failed, {len(skipped)} skipped; first: "
                        f"{first.step_id}: {first.error_message}"
                    )
                else:
                    movie, srt = self._assemble()
                    if self.output is not None:
                        _copy_atomic(movie.path, self.output)
                        if srt is not None:
                            _copy_atomic(srt.path, self.output.with_suffix(".srt"))
                        output_path = str(self.output)
                    status = "succeeded"
                    summary = f"movie {output_path or movie.artifact_uri}"
        except KeyboardInterrupt:
            status = "interrupted"
            summary = "interrupted"
            self.store.update_run(self.run_id, status=status, summary=summary)
            raise RunInterrupted(self.run_id) from None
        except BaseException as exc:
            summary = " ".join(str(exc).split()) or type(exc).__name__
            raise
        finally:
            self._stop.set()
            self.store.update_run(
                self.run_id, status=status, summary=summary[:1000],
                output_uri=movie.artifact_uri if movie else None,
            )  # fmt: skip
            write_memory_event(
                "run_finished", {"status": status, "summary": summary},
                plan_id=self.plan.id, run_id=self.run_id,
            )  # fmt: skip
        records = [self.records[k] for k in self.records]
        artifacts = [r for sid in self.plan.topological_order() for r in self.outputs.get(sid, [])]
        if movie:
            artifacts.append(movie)
        return RunResult(
            run_id=self.run_id, plan_id=self.plan.id, status=status, summary=summary,
            records=records, artifacts=artifacts, movie=movie, output_path=output_path,
            duration_s=time.perf_counter() - started,
            warnings=[*self.validation.warnings, *self.qa_warnings],
        )  # fmt: skip

    def _position(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.plan.steps) if s.id == step_id)


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _check_backlog(plan: MoviePlan, settings: Settings) -> None:
    """Refuse a plan that would push the process-wide step backlog over its limit.

    A run hands the executor at most as many steps as it has slots (the rest wait in the
    run, in plan order), so a plan adds at most its first wave to the backlog.
    """
    from sparkle_motion.executors.local import backlog

    first_wave = min(len(plan.steps), settings.effective_cpu_slots + settings.gpu_slots)
    waiting = backlog()
    if waiting + first_wave > settings.step_queue_backlog_limit:
        raise PlanResourceError(
            f"{waiting} steps are waiting and this plan would add {first_wave}; the backlog "
            f"limit is {settings.step_queue_backlog_limit}",
            hint="try again when current runs finish, or raise step_queue_backlog_limit",
        )


# ------------------------------------------------------------------ public API


def run_plan(
    plan: MoviePlan | dict | str,
    *,
    profile: str | None = None,
    providers: dict[str, str] | None = None,
    output: Path | str | None = None,
    on_progress: ProgressCallback | None = None,
    base_dir: Path | str | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Execute a plan for real and assemble its movie.

    Args:
        plan: a MoviePlan, its data, or JSON/YAML text.
        profile: fixture, preview or full (default: settings.profile).
        providers: per-tool profile overrides (``{"images_sdxl": "full"}``).
        output: also copy the movie (and its .srt) here.
        base_dir: the plan file's folder (relative paths in the plan resolve there).
    """
    settings = settings or get_settings()
    profile = profile or settings.profile
    chosen = resolve_providers(profile, providers, settings)
    validation = _validate(plan, settings, profile, Path(base_dir) if base_dir else None)
    check_providers(chosen)
    _check_backlog(validation.plan, settings)
    runner = _Runner(
        validation, run_id=run_id or new_run_id(), profile=profile, providers=chosen,
        settings=settings, on_progress=on_progress, output=Path(output) if output else None,
        sleep=sleep, resumed=False,
    )  # fmt: skip
    return runner.run()


def execute_plan(
    plan: MoviePlan | dict | str,
    *,
    mode: Literal["dry", "run"] = "dry",
    on_progress: ProgressCallback | None = None,
    **kwargs: Any,
) -> SimulationReport | list[ArtifactRef]:
    """The spec's entry point: ``dry`` returns the simulate_execution_report; ``run``
    executes and returns the step artifacts followed by the movie (see :func:`run_plan`)."""
    if mode == "dry":
        settings = kwargs.get("settings") or get_settings()
        profile = kwargs.get("profile") or settings.profile
        chosen = resolve_providers(profile, kwargs.get("providers"), settings)
        base_dir = kwargs.get("base_dir")
        validation = _validate(plan, settings, profile, Path(base_dir) if base_dir else None)
        return simulate_execution_report(validation, chosen)
    if mode != "run":
        raise ValueError("mode must be 'dry' or 'run'")
    result = run_plan(plan, on_progress=on_progress, **kwargs)
    if result.status != "succeeded":
        raise RunFailed(result)
    return result.artifacts


# --------------------------------------------------------------------- resume


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_is_live(row: dict[str, Any], settings: Settings) -> bool:
    """True while the run's owner is alive and still beating."""
    fresh = (time.time() - (row.get("heartbeat_at") or 0)) < settings.stale_heartbeat_s
    same_host = row.get("owner_host") == socket.gethostname()
    if same_host:
        return _pid_alive(row.get("owner_pid")) and fresh
    return fresh


def resume_run(
    run_id: str,
    *,
    on_progress: ProgressCallback | None = None,
    output: Path | str | None = None,
    settings: Settings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Finish a run that was killed or failed: clean up what it left, redo no finished step."""
    settings = settings or get_settings()
    store = get_store(settings)
    row = store.get_run(run_id)
    if row is None:
        raise RunStateError(f"no run {run_id!r} in this workspace (see sparkle-motion status)")
    if row["status"] == "succeeded":
        raise RunStateError(f"run {run_id} already finished: {row['summary']}")
    if row["status"] == "running" and run_is_live(row, settings):
        raise RunStateError(
            f"run {run_id} is still running (pid {row['owner_pid']}); it cannot be resumed "
            "while its owner is alive"
        )
    saved = json.loads(row["plan_json"])
    ws = get_workspace(settings)
    run_dir = ws.run_dir(run_id)
    cleaned = _clean_dead_run(run_dir, ws.tmp)
    write_memory_event("run_cleanup", cleaned, plan_id=row["plan_id"], run_id=run_id)
    validation = _validate(saved["plan"], settings, saved["profile"], _opt_path(saved["base_dir"]))
    runner = _Runner(
        validation, run_id=run_id, profile=saved["profile"], providers=saved["providers"],
        settings=settings, on_progress=on_progress,
        output=Path(output) if output else _opt_path(saved.get("output")), sleep=sleep,
        resumed=True,
    )  # fmt: skip
    return runner.run()


def _opt_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _clean_dead_run(run_dir: Path, ws_tmp: Path) -> dict[str, int]:
    """Kill the process groups a dead run left and remove its temp files."""
    killed = kill_recorded_groups(run_dir)
    removed = 0
    tmp = run_dir / "tmp"
    if tmp.exists():
        removed += sum(1 for p in tmp.rglob("*") if p.is_file())
        shutil.rmtree(tmp, ignore_errors=True)
    cutoff = time.time() - 600  # another live run may be mid-publish: spare recent files
    for part in ws_tmp.glob("publish-*.part"):
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)
            removed += 1
    for part in run_dir.glob(".*.part*"):
        part.unlink(missing_ok=True)
        removed += 1
    return {"killed_process_groups": killed, "removed_files": removed}


def run_status(
    run_id: str | None = None, settings: Settings | None = None
) -> list[dict[str, Any]] | dict[str, Any]:
    """Recent runs (newest first), or one run's row with ``live`` and its step records."""
    settings = settings or get_settings()
    store = get_store(settings)
    if run_id is None:
        return store.list_runs()
    row = store.get_run(run_id)
    if row is None:
        raise RunStateError(f"no run {run_id!r} in this workspace")
    live = row["status"] == "running" and run_is_live(row, settings)
    return {**row, "live": live, "records": store.step_records(run_id=run_id)}


def movie_path(result: RunResult) -> Path | None:
    if result.output_path:
        return Path(result.output_path)
    return uri_to_path(result.movie.artifact_uri) if result.movie else None
