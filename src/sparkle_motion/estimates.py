"""How long a plan will take here, from what runs on this machine actually took.

A fixed table was 2-4x low on a 2-core laptop and silent about assembly, so estimates are
measured instead: every finished run records, per step kind and profile, seconds per unit of
work (an image's megapixels x steps/30, a 720p-equivalent video frame, a second of speech,
a second of movie for the assembly), how much the steps overlapped (their wall time over
their summed time), and how long speech came out against its word-count estimate. An
estimate is then the plan's units times the median of the last :data:`WINDOW` rates of each
kind, the steps' sum scaled by the measured overlap, plus the assembly. Until a kind has
been measured here it uses :data:`DEFAULT_RATES` (calibrated on a quiet 2-core machine), and
the estimate says so.

Units are computed from the plan alone (never from the output), so the same function both
records and predicts and its bias cancels out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparkle_motion.types import DEFAULT_HEIGHT, DEFAULT_IMAGE_SIZE, DEFAULT_WIDTH

if TYPE_CHECKING:
    from sparkle_motion.db.store import Store
    from sparkle_motion.types import MoviePlan, Step, StepExecutionRecord

WINDOW = 20  # the latest measurements per kind that count (machines and versions change)
WORDS_PER_SECOND = 2.5  # a narrator's pace: 150 words a minute

# seconds per unit of work, by profile and kind; "assemble" is per second of movie
DEFAULT_RATES: dict[str, dict[str, float]] = {
    "fixture": {"image": 0.02, "tts": 0.005, "video": 0.001, "lipsync": 0.01, "custom": 0.05,
                "assemble": 0.3},
    "preview": {"image": 0.8, "tts": 0.03, "video": 0.02, "lipsync": 0.05, "custom": 0.05,
                "assemble": 0.5},
    "full": {"image": 6.0, "tts": 0.5, "video": 2.5, "lipsync": 0.15, "custom": 0.05,
             "assemble": 0.5},
}  # fmt: skip
DEFAULT_OVERLAP = 0.6  # steps' wall time over their summed time, with the default slots


def speech_seconds(text: str) -> float:
    """Spoken length of ``text`` at a narrator's pace (150 words a minute)."""
    words = len(text.split()) or max(1, len(text) // 4)
    return words / WORDS_PER_SECOND


def work_units(step: Step) -> float:
    """A step's work in its kind's unit (see the module docstring)."""
    if step.type == "image":
        w = step.opts.width or DEFAULT_IMAGE_SIZE
        h = step.opts.height or DEFAULT_IMAGE_SIZE
        return step.count * (w * h) / (1024 * 1024) * ((step.opts.steps or 30) / 30)
    if step.type == "tts":
        return speech_seconds(step.spoken_text)
    if step.type == "video":
        w, h = step.opts.width or DEFAULT_WIDTH, step.opts.height or DEFAULT_HEIGHT
        return step.opts.num_frames * (w * h) / (1280 * 720)
    if step.type == "lipsync":
        return 24 * 4.0
    return 1.0


def movie_seconds(plan: MoviePlan) -> float:
    """The movie's length as the plan suggests it: its speech, else its clips, else 3 s a shot."""
    speech = sum(speech_seconds(s.spoken_text) for s in plan.steps if s.type == "tts")
    if speech:
        return speech
    clips = sum(s.opts.num_frames / (s.opts.fps or 24) for s in plan.steps if s.type == "video")
    return clips or 3.0 * max(1, len(plan.steps))


@dataclass
class Rates:
    """Seconds per unit for each kind under one profile, and where each figure came from."""

    profile: str
    per_unit: dict[str, float]
    overlap: float = DEFAULT_OVERLAP
    speech_ratio: float = 1.0  # actual speech seconds over the word-count estimate
    measured: dict[str, int] = field(default_factory=dict)  # kind -> measurements used

    @classmethod
    def defaults(cls, profile: str) -> Rates:
        return cls(profile, dict(DEFAULT_RATES.get(profile, DEFAULT_RATES["full"])))

    def of(self, kind: str) -> float:
        return self.per_unit.get(kind, self.per_unit.get("custom", 0.05))


def _median_rate(rows: list[dict[str, Any]]) -> float | None:
    rates = [r["seconds"] / r["units"] for r in rows if r["units"] > 0]
    return statistics.median(rates) if rates else None


def load_rates(store: Store | None, profile: str) -> Rates:
    """This machine's rates for ``profile``: measured where there are measurements."""
    rates = Rates.defaults(profile)
    if store is None:
        return rates
    for kind in (*rates.per_unit, "overlap", "speech"):
        rows = store.timings(profile=profile, kind=kind, limit=WINDOW)
        value = _median_rate(rows)
        if value is None:
            continue
        if kind == "overlap":
            rates.overlap = min(1.0, max(0.05, value))
        elif kind == "speech":
            rates.speech_ratio = value
        else:
            rates.per_unit[kind] = value
        rates.measured[kind] = len(rows)
    return rates


@dataclass
class PlanEstimate:
    """What a plan should take here: per step, the steps' wall time, the assembly, in all."""

    steps: dict[str, float]
    steps_wall_s: float
    assembly_s: float
    movie_s: float
    measured_runs: int  # runs behind the figures (0: some kind this plan uses is a guess)

    @property
    def total_s(self) -> float:
        return self.steps_wall_s + self.assembly_s


def estimate_plan(plan: MoviePlan, rates: Rates) -> PlanEstimate:
    """The plan's steps and assembly, timed with ``rates``."""
    steps = {s.id: rates.of(s.type) * work_units(s) for s in plan.steps}
    movie = movie_seconds(plan) * rates.speech_ratio
    kinds = {s.type for s in plan.steps} | {"assemble"}
    # one assembly per run: its count is the runs behind the figures, once every kind is in
    runs = rates.measured.get("assemble", 0) if all(k in rates.measured for k in kinds) else 0
    return PlanEstimate(
        steps=steps,
        steps_wall_s=sum(steps.values()) * rates.overlap,
        assembly_s=rates.of("assemble") * movie_seconds(plan),
        movie_s=movie,
        measured_runs=runs,
    )


def say_duration(seconds: float) -> str:
    """A duration as a person says it: "under a second", "about 40 s", "about 2 min"."""
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def basis(estimate: PlanEstimate) -> str:
    """Where an estimate comes from, in a few words."""
    n = estimate.measured_runs
    if n:
        return f"measured on this machine over {n} run" + ("" if n == 1 else "s")
    return "a first guess: runs here will refine it"


def record_run(
    store: Store, profile: str, plan: MoviePlan, records: list[StepExecutionRecord]
) -> int:
    """Record what this run's rendered (not cached) work took; returns how many timings."""
    steps = {s.id: s for s in plan.steps}
    rows: list[tuple[str, float, float]] = []
    spans = []
    total = 0.0
    for rec in records:
        step = steps.get(rec.step_id)
        seconds = rec.duration_s or 0.0
        if rec.status != "succeeded" or rec.cache_hit or seconds <= 0:
            continue
        if rec.step_id == "assemble":
            rows.append(("assemble", movie_seconds(plan), seconds))
            continue
        if step is None or (rec.meta or {}).get("lines_cached"):
            continue  # partly cached speech says nothing about a whole step
        rows.append((step.type, work_units(step), seconds))
        total += seconds
        if rec.start_time and rec.end_time:
            spans.append((rec.start_time, rec.end_time))
        spoken = (rec.meta or {}).get("duration_s")
        if step.type == "tts" and spoken:
            rows.append(("speech", work_units(step), float(spoken)))
    if len(spans) > 1 and total > 0:
        wall = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
        rows.append(("overlap", total, wall))
    for kind, units, seconds in rows:
        store.add_timing(profile, kind, units, seconds)
    return len(rows)


def breakdown(
    records: list[StepExecutionRecord],
    assembly_stages: dict[str, float] | None,
    segments_ahead: int = 0,
) -> list[tuple[str, float, str]]:
    """Where a run's time went, for ``status RUN_ID --timings`` and the bench: per step
    kind the summed seconds of the steps rendered (cached ones cost nothing), then the
    assembly and its stages (segments and audio overlap; ``segments_ahead`` were encoded
    while steps still rendered, so the stage only waited for the rest).
    ``(stage, seconds, note)`` rows."""
    rows: list[tuple[str, float, str]] = []
    kinds: dict[str, list[StepExecutionRecord]] = {}
    for r in records:
        if r.step_id != "assemble":
            kinds.setdefault(r.step_type, []).append(r)
    for kind, group in sorted(kinds.items()):
        rendered = [r for r in group if not r.cache_hit and r.duration_s is not None]
        cached = len(group) - len(rendered)
        note = f"{len(rendered)} rendered" + (f", {cached} from cache" if cached else "")
        rows.append((kind, sum(r.duration_s or 0.0 for r in rendered), note))
    assemble = next((r for r in records if r.step_id == "assemble"), None)
    if assemble is not None:
        note = "from cache" if assemble.cache_hit else "the movie"
        rows.append(("assembly", assemble.duration_s or 0.0, note))
        order = ("segments", "audio", "mux", "check")
        stages = assembly_stages or {}
        for stage in sorted(stages, key=lambda k: (order.index(k) if k in order else 9, k)):
            note = "of the assembly"
            if stage == "segments" and segments_ahead:
                note += f" ({segments_ahead} encoded ahead, while steps rendered)"
            rows.append((f"  {stage}", float(stages[stage]), note))
    return rows
