"""Where a run's time went: ``estimates.breakdown`` and ``status RUN_ID --timings``, on a
real fixture run whose assembly records its stages."""

from __future__ import annotations

from typer.testing import CliRunner

from sparkle_motion.cli import app
from sparkle_motion.estimates import breakdown
from sparkle_motion.production_agent import run_plan
from sparkle_motion.types import StepExecutionRecord


def record(step_id: str, kind: str, seconds: float, cached: bool = False) -> StepExecutionRecord:
    return StepExecutionRecord(plan_id="p", step_id=step_id, step_type=kind, status="succeeded",
                               duration_s=seconds, cache_hit=cached)  # fmt: skip


def test_breakdown_sums_rendered_steps_per_kind_then_the_assembly_stages() -> None:
    records = [record("a", "image", 2.0), record("b", "image", 3.0, cached=True),
               record("c", "tts", 0.5), record("assemble", "assemble", 4.0)]  # fmt: skip
    stages = {"mux": 0.5, "audio": 1.0, "segments": 3.0, "check": 0.1}
    assert breakdown(records, stages) == [
        ("image", 2.0, "1 rendered, 1 from cache"),
        ("tts", 0.5, "1 rendered"),
        ("assembly", 4.0, "the movie"),
        ("  segments", 3.0, "of the assembly"),
        ("  audio", 1.0, "of the assembly"),
        ("  mux", 0.5, "of the assembly"),
        ("  check", 0.1, "of the assembly"),
    ]
    assert breakdown(records[:1], None) == [("image", 2.0, "1 rendered")]
    ahead = breakdown(records, stages, segments_ahead=3)
    assert ahead[3] == (
        "  segments",
        3.0,
        "of the assembly (3 encoded ahead, while steps rendered)",
    )


def test_status_timings_shows_where_a_real_run_went() -> None:
    plan = {
        "title": "Timings",
        "steps": [
            {"id": "img1", "type": "image", "prompt": "a fox", "opts": {"scene": "s1"}},
            {"id": "say1", "type": "tts", "text": "A fox runs.", "opts": {"scene": "s1"}},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8},
    }
    result = run_plan(plan, profile="fixture")
    stages = result.movie.metadata["stages_s"]
    assert set(stages) == {"segments", "audio", "mux", "check"}
    assert all(v >= 0 for v in stages.values())
    assert stages["segments"] <= result.movie.metadata["runtime_s"]
    shown = CliRunner().invoke(app, ["status", result.run_id, "--timings"], env={"COLUMNS": "120"})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0].startswith(f"Run {result.run_id}: ")
    names = [line.split()[0] for line in lines[2:-1]]
    assert names == ["image", "tts", "assembly", "segments", "audio", "mux", "check"]
    assert f"{stages['mux']:.2f}" in next(line for line in lines if line.split()[0] == "mux")
