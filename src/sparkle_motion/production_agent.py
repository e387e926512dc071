"""production_agent: executes a MoviePlan as a dependency graph and assembles the movie.

``execute_plan(plan, mode="dry")`` validates the plan (policy first) and returns the spec's
simulate_execution_report without calling any tool. ``mode="run"`` (or :func:`run_plan`,
which returns more) runs every step:

- steps run as soon as the steps they reference are done, concurrently under resource
  slots (image and video slots, GPU and CPU slots), fed to an executor as slots free up;
- a step whose cache key already has published artifacts is not run again (see cache.py);
- failures are retried with the spec's policy (3 attempts, 1 s base, x2, 20 % jitter) when
  transient; one out-of-memory error earns one retry with a shrink hint; a step that fails
  for good skips its dependents and the run ends ``failed`` with a one-line summary;
- every step emits StepExecutionRecords (store + memory timeline) and CallbackEvents;
- the run is recorded with its owner pid and a heartbeat, so :func:`resume_run` can finish
  a run that was killed, redoing no finished step.

This module is the public face; the machinery is in ``sparkle_motion/production/``: the
table of step kinds (steps.py), the step job that crosses to an executor (jobs.py), the DAG
scheduler (scheduler.py), one run (runner.py), the movie (assembly.py) and run rows,
liveness and resume (runs.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sparkle_motion import estimates
from sparkle_motion.adk_helpers import write_memory_event
from sparkle_motion.config import Settings, get_settings
from sparkle_motion.db.store import get_store
from sparkle_motion.errors import (
    PlanPolicyViolation,
    PlanResourceError,
    RunFailed,
    RunInterrupted,
    RunStateError,
)
from sparkle_motion.executors import Executor
from sparkle_motion.production import runs
from sparkle_motion.production.runner import Runner, RunResult, settings_executor
from sparkle_motion.production.steps import kind_of
from sparkle_motion.progress import ProgressCallback
from sparkle_motion.providers import check_providers, resolve_providers
from sparkle_motion.types import (
    VISUAL_STEP_TYPES,
    ArtifactRef,
    MoviePlan,
    SimulatedStep,
    SimulationReport,
    StepExecutionRecord,
    uri_to_path,
)
from sparkle_motion.validation import PlanValidation, validate_plan
from sparkle_motion.workspace import get_workspace

__all__ = [
    "ProgressCallback",
    "RunFailed",
    "RunInterrupted",
    "RunResult",
    "RunStateError",
    "execute_plan",
    "movie_path",
    "new_run_id",
    "queue_run",
    "resume_run",
    "run_is_live",
    "run_plan",
    "run_status",
    "simulate_execution_report",
]

new_run_id = runs.new_run_id
run_is_live = runs.run_is_live


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


def _validated(
    plan: MoviePlan | dict | str | PlanValidation,
    settings: Settings,
    profile: str,
    base_dir: Path | str | None,
) -> PlanValidation:
    """A plan validated once: a PlanValidation is taken as it is (the caller just made it)."""
    if isinstance(plan, PlanValidation):
        return plan
    return _validate(plan, settings, profile, Path(base_dir) if base_dir else None)


def simulate_execution_report(
    validation: PlanValidation, providers: dict[str, str], rates: estimates.Rates | None = None
) -> SimulationReport:
    """The dry run's report: invocation graph, estimates, simulated URIs; calls no tool.

    ``rates``: this machine's measured rates (estimates.load_rates); default: first guesses.
    The summary's runtime is the run's wall time, assembly included."""
    plan = validation.plan
    deps = plan.dependencies()
    profile = validation.estimates[0].profile if validation.estimates else "preview"
    timed = estimates.estimate_plan(plan, rates or estimates.Rates.defaults(profile))
    steps, records = [], []
    for est, step in zip(validation.estimates, plan.steps, strict=True):
        est = est.model_copy(update={"estimated_runtime_s": round(timed.steps[step.id], 3)})
        kind = kind_of(step)
        uri = f"file:///simulated/{plan.id}/{step.id}{kind.suffix}"
        provider = providers.get(kind.tool, "handler") if kind.tool else "handler"
        steps.append(
            SimulatedStep(
                step_id=step.id, step_type=step.type, provider=provider,
                depends_on=deps[step.id], estimated_runtime_s=est.estimated_runtime_s,
                estimated_gpu_memory_mb=est.estimated_gpu_memory_mb, simulated_artifact_uri=uri,
            )
        )  # fmt: skip
        records.append(
            StepExecutionRecord(
                plan_id=plan.id, step_id=step.id, step_type=step.type, status="simulated",
                artifact_uri=uri, memory_hint_mb=est.estimated_gpu_memory_mb,
            )
        )  # fmt: skip
    gpu_s = sum(s.estimated_runtime_s for s in steps if s.estimated_gpu_memory_mb)
    return SimulationReport(
        plan_id=plan.id,
        steps=steps,
        invocation_graph={**deps, "assemble": [s.id for s in plan.steps]},
        resource_summary={
            "total_estimated_runtime_s": round(timed.total_s, 3),
            "estimated_steps_s": round(timed.steps_wall_s, 3),
            "estimated_assembly_s": round(timed.assembly_s, 3),
            "measured_runs": timed.measured_runs,
            "total_estimated_gpu_hours": round(gpu_s / 3600, 4),
        },
        policy_decisions=validation.policy,
        records=records,
        warnings=validation.warnings,
    )


def _check_backlog(plan: MoviePlan, settings: Settings) -> None:
    """Refuse a plan that would push the process-wide step backlog over its limit.

    A run hands the executor at most as many steps as it has slots (the rest wait in the
    run, in plan order), so a plan adds at most its first wave to the backlog.
    """
    from sparkle_motion.executors.slots import backlog

    first_wave = min(len(plan.steps), settings.effective_cpu_slots + settings.gpu_slots)
    waiting = backlog()
    if waiting + first_wave > settings.step_queue_backlog_limit:
        raise PlanResourceError(
            f"{waiting} steps are waiting and this plan would add {first_wave}; the backlog "
            f"limit is {settings.step_queue_backlog_limit}",
            hint="try again when current runs finish, or raise step_queue_backlog_limit",
        )


def _accepted(
    plan: MoviePlan | dict | str | PlanValidation,
    profile: str | None,
    providers: dict[str, str] | None,
    base_dir: Path | str | None,
    settings: Settings,
) -> tuple[str, dict[str, str], PlanValidation]:
    """A plan a run may start from: its profile, chosen providers and validation, every
    provider it needs checked up front."""
    profile = profile or settings.profile
    chosen = resolve_providers(profile, providers, settings)
    validation = _validated(plan, settings, profile, base_dir)
    check_providers(chosen, plan_weights(validation.plan))
    return profile, chosen, validation


def run_plan(
    plan: MoviePlan | dict | str | PlanValidation,
    *,
    profile: str | None = None,
    providers: dict[str, str] | None = None,
    output: Path | str | None = None,
    on_progress: ProgressCallback | None = None,
    base_dir: Path | str | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    executor: Executor | None = None,
) -> RunResult:
    """Execute a plan for real and assemble its movie.

    Args:
        plan: a MoviePlan, its data, JSON/YAML text, or the PlanValidation the caller
            already made (it is not validated again).
        profile: fixture, preview or full (default: settings.profile).
        providers: per-tool profile overrides (``{"images_sdxl": "full"}``).
        output: also copy the movie (and its .srt) here.
        base_dir: the plan file's folder (relative paths in the plan resolve there).
        executor: where steps run (default: ``settings.executor``, threads).
    """
    settings = settings or get_settings()
    profile, chosen, validation = _accepted(plan, profile, providers, base_dir, settings)
    _check_backlog(validation.plan, settings)
    runner = Runner(
        validation, run_id=run_id or new_run_id(), profile=profile, providers=chosen,
        settings=settings, on_progress=on_progress, output=Path(output) if output else None,
        sleep=sleep, resumed=False, executor=executor or settings_executor(settings),
    )  # fmt: skip
    return runner.run()


def queue_run(
    plan: MoviePlan | dict | str | PlanValidation,
    *,
    profile: str | None = None,
    providers: dict[str, str] | None = None,
    base_dir: Path | str | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
) -> tuple[str, PlanValidation]:
    """Accept a plan for a later start: validate it, check its providers, and record a
    ``queued`` run row that :func:`resume_run` starts in whichever process claims it (a
    service's worker). What :func:`run_plan` would refuse is refused here, at once, but for
    the backlog: the service counts its own queue."""
    settings = settings or get_settings()
    profile, chosen, validation = _accepted(plan, profile, providers, base_dir, settings)
    run_id = run_id or new_run_id()
    payload = runs.run_payload(
        validation.plan.to_json_dict(), profile, chosen,
        Path(base_dir) if base_dir else None, None, providers,
    )  # fmt: skip
    store = get_store(settings)
    store.create_run(
        run_id, validation.plan.id, payload, profile,
        owner_started=runs.owner_identity()["owner_started"], status="queued",
    )  # fmt: skip
    return run_id, validation


def plan_weights(plan: MoviePlan) -> dict[str, list[str | None]]:
    """Per tool, the weights the plan's steps name (None: the backend's default), so the
    provider check asks about exactly those, once, before any step runs."""
    tools = {"image": "images_sdxl", "video": "videos_wan"}
    found: dict[str, list[str | None]] = {}
    for step in plan.steps:
        if step.type in VISUAL_STEP_TYPES:
            found["qa_qwen2vl"] = [None]  # every visual step is inspected (default weights)
        if step.type in tools:
            refs = found.setdefault(tools[step.type], [])
            refs.append(str(step.opts.model_id) if step.opts.model_id else None)
            refiner = getattr(step.opts, "refiner_model_id", None)
            if refiner:
                refs.append(str(refiner))
    return found


def execute_plan(
    plan: MoviePlan | dict | str | PlanValidation,
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
        validation = _validated(plan, settings, profile, kwargs.get("base_dir"))
        rates = estimates.load_rates(get_store(settings), profile)
        return simulate_execution_report(validation, chosen, rates)
    if mode != "run":
        raise ValueError("mode must be 'dry' or 'run'")
    result = run_plan(plan, on_progress=on_progress, **kwargs)
    if result.status != "succeeded":
        raise RunFailed(result)
    return result.artifacts


def resume_run(
    run_id: str,
    *,
    on_progress: ProgressCallback | None = None,
    output: Path | str | None = None,
    settings: Settings | None = None,
    sleep: Callable[[float], None] = time.sleep,
    executor: Executor | None = None,
) -> RunResult:
    """Finish a run that was killed or failed: clean up what it left, redo no finished step.

    The plan is validated again: its files may have changed since the run started."""
    import json

    settings = settings or get_settings()
    store = get_store(settings)
    row = runs.resumable_row(store, run_id, settings)
    runs.claim_run(store, row)  # from here on this process is the run's one owner
    try:
        saved = json.loads(row["plan_json"])
        ws = get_workspace(settings)
        runs.clean_dead_run(
            run_id, row["plan_id"], ws.run_dir(run_id), ws.tmp, ws.root / "cache" / "segments"
        )
        base_dir = saved["base_dir"]
        validation = _validate(saved["plan"], settings, saved["profile"], _opt_path(base_dir))
        runner = Runner(
            validation, run_id=run_id, profile=saved["profile"], providers=saved["providers"],
            settings=settings, on_progress=on_progress,
            output=Path(output) if output else _opt_path(saved.get("output")), sleep=sleep,
            resumed=True, executor=executor or settings_executor(settings),
        )  # fmt: skip
    except BaseException:
        # nothing ran: the run is as it was (a later resume may try again)
        store.update_run(run_id, status=row["status"], summary=row["summary"])
        raise
    return runner.run()


def _opt_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def run_status(
    run_id: str | None = None, settings: Settings | None = None
) -> list[dict[str, Any]] | dict[str, Any]:
    """Recent runs (newest first), or one run's row with ``live`` and its step records."""
    settings = settings or get_settings()
    return runs.run_status(get_store(settings), settings, run_id)


def movie_path(result: RunResult) -> Path | None:
    if result.output_path:
        return Path(result.output_path)
    return uri_to_path(result.movie.artifact_uri) if result.movie else None
