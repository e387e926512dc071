"""A step job: one attempt of one step, as data that can cross a process boundary.

The scheduler hands executors a :class:`StepJob` and a channel, never a closure over the
runner (which holds locks, the SQLite store and the caller's callbacks). :func:`run_job`
is what runs on the other side, in a thread, a worker process or a Ray worker: it sets up
the run context the agents read, calls the step's kind (production/steps.py) and sends the
agents' progress events back over the channel. Everything that writes the run's records
and the cache stays with the runner.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sparkle_motion.config import QASettings
from sparkle_motion.production import qa_loop
from sparkle_motion.production.steps import kind_of
from sparkle_motion.run_context import run_context
from sparkle_motion.types import ArtifactRef, CallbackEvent, Step


class Channel(Protocol):
    """Where a job sends its progress events (picklable where jobs leave the process)."""

    def put(self, message: Any) -> None: ...


@dataclass(frozen=True)
class StepJob:
    """Everything one attempt of a step needs, and nothing that cannot be pickled."""

    step: Step
    data: dict[str, Any]  # the step with effective options (what its cache key hashes)
    resolved: dict[str, Any]  # decided once for the step (e.g. the narration's voice)
    inputs: dict[str, ArtifactRef]  # input field -> the artifact it names
    cache_key: str
    provider: str  # id@version
    plan_id: str
    run_id: str
    run_dir: str
    providers: dict[str, str]
    tenant_id: str = "local"
    attempt: int = 1
    hints: dict[str, Any] = field(default_factory=dict)  # e.g. {"shrink": 0.5} after an OOM
    qa: dict[str, int] = field(default_factory=dict)  # the QA loop's limits (qa_loop.py)

    @property
    def step_id(self) -> str:
        return self.step.id or ""


def run_job(job: StepJob, channel: Channel | None = None) -> list[ArtifactRef]:
    """Run one attempt of ``job.step`` here; returns its artifacts (errors propagate)."""
    work = Path(job.run_dir) / "tmp" / job.step_id
    work.mkdir(parents=True, exist_ok=True)

    def forward(event: CallbackEvent) -> None:
        if channel is not None:
            channel.put(event)

    try:
        with run_context(
            plan_id=job.plan_id, run_id=job.run_id, step_id=job.step_id,
            tenant_id=job.tenant_id, providers=dict(job.providers), run_dir=job.run_dir,
            work_dir=str(work), hints=dict(job.hints), on_progress=forward,
        ):  # fmt: skip
            opts = dict(job.data.get("opts", {}))
            kind = kind_of(job.step)
            if kind.tool is None or job.step.type not in qa_loop.VISUAL_TYPES:
                return kind.call(job.step, opts, job.inputs, job.resolved)
            return qa_loop.render_checked(
                job.step.type, str(getattr(job.step, "prompt", "") or ""), opts, job.inputs,
                lambda o: kind.call(job.step, o, job.inputs, job.resolved),
                qa_provider=job.providers.get("qa_qwen2vl", "fixture"),
                run_dir=job.run_dir, **(job.qa or QASettings().model_dump()),
            )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
