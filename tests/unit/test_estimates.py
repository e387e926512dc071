"""Estimates from this machine: recorded timings in, estimates within reach of the truth out.

A "machine" here is a set of true rates (seconds per unit of each kind) and an overlap; a run
on it is a list of step records whose durations follow those rates with some noise, written
into the store through ``record_run`` exactly as the runner does. No test times anything.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from sparkle_motion import estimates
from sparkle_motion.db.store import get_store
from sparkle_motion.types import MoviePlan, StepExecutionRecord
from sparkle_motion.validation import build_plan

# a slow machine: three to five times the first guesses, steps overlapping by half
TRUE = {"image": 3.1, "tts": 0.12, "video": 0.09, "lipsync": 0.2, "custom": 0.05,
        "assemble": 1.9}  # fmt: skip
TRUE_OVERLAP = 0.5


def plan_of(scenes: int, frames: int, words: int) -> MoviePlan:
    steps = []
    for i in range(scenes):
        steps += [
            {"id": f"img{i}", "type": "image", "prompt": f"shot {i}", "opts": {"seed": i}},
            {"id": f"vid{i}", "type": "video", "prompt": f"shot {i}",
             "start_frames": [f"step:img{i}"], "opts": {"num_frames": frames, "seed": i}},
            {"id": f"say{i}", "type": "tts", "text": " ".join(["word"] * words)},
        ]  # fmt: skip
    return build_plan({"title": f"plan {scenes}/{frames}/{words}", "steps": steps})


def true_run(plan: MoviePlan, rng: random.Random) -> tuple[list[StepExecutionRecord], float]:
    """The records of one run on the slow machine, and its true wall time."""
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    records, total = [], 0.0
    for step in plan.steps:
        seconds = TRUE[step.type] * estimates.work_units(step) * rng.uniform(0.85, 1.15)
        total += seconds
        meta = {"duration_s": estimates.work_units(step) * 0.9} if step.type == "tts" else {}
        records.append(
            StepExecutionRecord(
                plan_id=plan.id, step_id=step.id, step_type=step.type, status="succeeded",
                duration_s=seconds, start_time=t0, end_time=t0 + timedelta(seconds=seconds),
                meta=meta,
            )
        )  # fmt: skip
    wall = total * TRUE_OVERLAP
    records[-1] = records[-1].model_copy(update={"end_time": t0 + timedelta(seconds=wall)})
    assembly = TRUE["assemble"] * estimates.movie_seconds(plan) * rng.uniform(0.9, 1.1)
    end = t0 + timedelta(seconds=wall + assembly)
    records.append(
        StepExecutionRecord(
            plan_id=plan.id, step_id="assemble", step_type="assemble", status="succeeded",
            duration_s=assembly, start_time=t0 + timedelta(seconds=wall), end_time=end,
        )
    )  # fmt: skip
    return records, wall + assembly


def test_after_three_runs_the_fourth_is_estimated_within_30_percent() -> None:
    store = get_store()
    rng = random.Random(7)
    fourth = plan_of(6, 96, 20)
    _, truth = true_run(fourth, random.Random(99))
    first_guess = estimates.estimate_plan(fourth, estimates.load_rates(store, "preview"))
    assert first_guess.measured_runs == 0
    assert abs(first_guess.total_s / truth - 1) > 0.3, "the machine differs from the guesses"

    for plan in (plan_of(3, 48, 30), plan_of(5, 120, 12), plan_of(8, 64, 25)):
        records, _ = true_run(plan, rng)
        assert estimates.record_run(store, "preview", plan, records) > 0

    rates = estimates.load_rates(store, "preview")
    guess = estimates.estimate_plan(fourth, rates)
    assert guess.measured_runs == 3
    assert abs(guess.total_s / truth - 1) <= 0.3, (guess.total_s, truth)
    assert guess.assembly_s > 0 and guess.steps_wall_s > 0, "assembly is part of the estimate"
    assert rates.overlap == pytest.approx(TRUE_OVERLAP, rel=0.2)
    assert rates.speech_ratio == pytest.approx(0.9)
    assert estimates.basis(guess) == "measured on this machine over 3 runs"
    other = estimates.load_rates(store, "full")
    assert other.measured == {}, "each profile has its own measurements"


def test_cached_failed_and_partly_cached_work_is_not_recorded() -> None:
    store = get_store()
    plan = plan_of(1, 48, 10)
    records, _ = true_run(plan, random.Random(1))
    image, video, speech, assemble = records
    cached = [
        image.model_copy(update={"cache_hit": True}),
        video.model_copy(update={"status": "failed"}),
        speech.model_copy(update={"meta": {"lines_cached": 2, "duration_s": 3.0}}),
        assemble.model_copy(update={"cache_hit": True}),
    ]
    assert estimates.record_run(store, "preview", plan, cached) == 0
    assert estimates.load_rates(store, "preview").measured == {}


def test_only_the_latest_measurements_count() -> None:
    store = get_store()
    for seconds in [100.0] * 30 + [1.0] * estimates.WINDOW:
        store.add_timing("preview", "image", 1.0, seconds)
    assert estimates.load_rates(store, "preview").of("image") == 1.0


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.4, "under a second"), (44.6, "about 45 s"), (130, "about 2 min"), (9000, "about 2.5 h")],
)
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert estimates.say_duration(seconds) == said
