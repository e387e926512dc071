"""The command line as a person uses it: real processes, real files, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sparkle_motion.validation import load_plan_file

SCRIPT = Path(sys.executable).parent / "sparkle-motion"


def cli(
    *args: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "sparkle_motion.cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=60,
    )


def test_plan_writes_a_valid_sensible_plan(tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    result = cli("plan", "a lighthouse keeper befriends a whale", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "Wrote" in result.stderr and "6 scenes" in result.stderr
    plan = load_plan_file(out).plan
    assert plan.title == "The lighthouse keeper and the whale"
    assert any("whale" in s.prompt for s in plan.steps if s.type == "image")
    # the same plan again as JSON, by file name
    out_json = tmp_path / "plan.json"
    assert cli("plan", "a lighthouse keeper befriends a whale", "-o", str(out_json)).returncode == 0
    assert json.loads(out_json.read_text())["id"] == plan.id


def test_plan_without_output_prints_yaml() -> None:
    result = cli("plan", "a fox befriends an owl")
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["steps"][0]["type"] == "image"


@pytest.mark.parametrize(
    ("idea", "code", "needle"),
    [("", 4, "idea: is empty"), ("   ", 4, "idea: is empty"), ("an nsfw movie", 5, "nsfw")],
)
def test_bad_ideas_are_one_red_line(idea: str, code: int, needle: str) -> None:
    result = cli("plan", idea)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("error:")
    assert "Traceback" not in result.stderr


def test_validate_good_and_broken_plans(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "title: Demo\nsteps:\n  - {id: pic, type: image, prompt: a calm sea}\n"
        "  - {id: say, type: tts, text: The sea is calm today.}\n"
    )
    result = cli("validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout and "2 steps" in result.stdout
    assert "warning:" in result.stderr  # ids were given but created_at and assemble_opts not

    broken = tmp_path / "broken.yaml"
    broken.write_text(good.read_text().replace("a calm sea}", "a calm sea, opts: {width: -5}}"))
    result = cli("validate", str(broken))
    assert result.returncode == 4
    (line,) = result.stderr.strip().splitlines()
    assert "broken.yaml: steps[0].opts.width: must be >= 64 (got -5)" in line

    unparsable = tmp_path / "bad.yaml"
    unparsable.write_text("title: Demo: Intro\nsteps: []\n")
    result = cli("validate", str(unparsable))
    assert result.returncode == 3 and "must be quoted" in result.stderr

    result = cli("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 3 and "does not exist" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert "Traceback" in cli("--debug", "validate", str(broken)).stderr


def test_schema_version_and_help() -> None:
    schema = json.loads(cli("schema").stdout)
    assert "steps" in schema["properties"]
    assert "discriminator" in json.dumps(schema)
    draft = json.loads(cli("schema", "--draft").stdout)
    assert "scenes" in draft["properties"]
    assert cli("--version").stdout.startswith("sparkle-motion ")
    for args in (["--help"], ["plan", "--help"], ["validate", "--help"], ["schema", "--help"]):
        result = cli(*args)
        assert result.returncode == 0 and "Usage" in result.stdout


def test_import_and_help_stay_light() -> None:
    code = (
        "import sys\n"
        "import sparkle_motion\n"
        "from typer.testing import CliRunner\n"
        "from sparkle_motion.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "heavy = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', "
        "'google.adk.agents', 'google.adk.runners', 'google.genai', 'diffusers', "
        "'transformers'))]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_voices_lists_the_catalog() -> None:
    result = cli("voices", "--provider", "espeak-local")
    assert result.returncode == 0, result.stderr
    for voice in ("narrator", "emma", "child"):
        assert voice in result.stdout
    assert "en-us+m3" in result.stdout and "fixture-local" not in result.stdout


def test_review_lists_and_decides(tmp_path: Path) -> None:
    env = {"SPARKLE_HOME": str(tmp_path / "home")}
    code = (
        "from sparkle_motion.adk_helpers import request_human_input\n"
        "from sparkle_motion.run_context import run_context\n"
        "with run_context(run_id='r1', step_id='pic'):\n"
        "    print(request_human_input(reason='nsfw 0.55', artifact_uri='file:///q.png'))\n"
    )
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=True)  # fmt: skip
    request_id = made.stdout.strip()
    listed = cli("review", env=env)
    assert "nsfw 0.55" in listed.stdout and "pic" in listed.stdout
    assert cli("review", request_id, env=env).returncode == 2  # neither approve nor reject
    decided = cli("review", request_id, "--reject", env=env)
    assert decided.returncode == 0 and "rejected" in decided.stdout
    assert "Nothing is waiting" in cli("review", env=env).stdout
