"""The command line as a person uses it: real processes, real files, one-line errors."""

from __future__ import annotations

import json
import os
import re
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
    assert "TTS providers" in result.stdout and "available" in result.stdout  # espeak: here


def test_voices_says_which_providers_can_speak_here() -> None:
    result = cli("voices")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "chatterbox-pro" in text and "tier1" in text and "voice_clone" in text
    assert "SPARKLE_CHATTERBOX_PYTHON" in text.replace("│", "").replace(" ", "")  # not here
    assert "not built yet" in text  # adk-edge


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


HOSTILE = "\x1b]0;PWNED\x07\x1b[2J Title"


def test_rerunning_an_idea_runs_the_edited_plan(tmp_path: Path) -> None:
    idea, movie = "a fox befriends an owl", tmp_path / "movie.mp4"
    plan_file = tmp_path / "movie.plan.yaml"
    # the plan file as the tool writes it (`run` writes the same, then renders 21 steps)
    assert cli("plan", idea, "-o", str(plan_file)).returncode == 0
    same = cli("run", idea, "--profile", "fixture", "-o", str(movie), "--dry")
    assert same.returncode == 0 and "edited plan" not in same.stderr  # the planner's: no edit
    assert "21 steps" in same.stdout

    data = yaml.safe_load(plan_file.read_text())
    data["title"] = "My own fox"
    data["created_at"] = "2020-01-01T00:00:00Z"
    data["steps"] = data["steps"][:3]  # scene 1 only: picture, shot, narration
    data["steps"][1]["opts"]["num_frames"] = 24
    data["steps"][2]["text"] = "Zebras never edit plans."
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False))
    edited = plan_file.read_text()

    result = cli("run", idea, "--profile", "fixture", "-o", str(movie))
    assert result.returncode == 0, result.stderr
    assert f"Using your edited plan {plan_file} (plan again with --replan)" in result.stderr
    assert plan_file.read_text() == edited  # kept, byte for byte
    assert "Zebras never edit plans." in movie.with_suffix(".srt").read_text()  # and used
    assert "My own fox" in cli("status").stdout

    replanned = cli("run", idea, "--profile", "fixture", "-o", str(movie), "--replan", "--dry")
    assert replanned.returncode == 0, replanned.stderr
    assert "edited plan" not in replanned.stderr and "21 steps" in replanned.stdout
    assert plan_file.read_text() == edited  # a dry run writes nothing


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ("", "--output is empty"),
        (".", "is a folder"),
        ("{tmp}/", "is a folder"),
        ("{tmp}/plan.yaml", "not a movie"),
        ("{tmp}/notes.txt", "not a movie"),
        ("{tmp}/notes.txt/movie.mp4", "is a file, not a folder"),
        ("{tmp}/pipe.mp4", "not a regular file"),  # a FIFO; never /dev/null, which old
        # code run as root replaced with the movie
        ("/sys/movie.mp4", "cannot write in /sys"),
    ],
)
def test_bad_output_is_refused_before_any_work(tmp_path: Path, output: str, needle: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("title: Demo\nsteps:\n  - {id: say, type: tts, text: The sea is calm.}\n")
    (tmp_path / "notes.txt").write_text("mine")
    os.mkfifo(tmp_path / "pipe.mp4")

    def files() -> dict[str, bytes | None]:
        return {p.name: p.read_bytes() if p.is_file() else None for p in tmp_path.iterdir()}

    before = files()
    home = tmp_path / "sparkle-home"
    for target in (str(plan), "a fox befriends an owl"):
        result = cli("run", target, "--profile", "fixture", "-o", output.format(tmp=tmp_path),
                     cwd=tmp_path)  # fmt: skip
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --output"), lines
        assert needle in lines[0]
        assert files() == before  # nothing written
        assert not home.exists() or not list((home / "runs").iterdir())  # nothing planned or run


def test_failed_copy_leaves_no_temp_file(tmp_path: Path) -> None:
    from sparkle_motion.production.runs import copy_atomic

    src, dest = tmp_path / "made.mp4", tmp_path / "out" / "movie.mp4"
    src.write_bytes(b"movie" * 1000)
    (dest / "in-the-way").mkdir(parents=True)  # the copy is made, the rename fails
    with pytest.raises(OSError):
        copy_atomic(src, dest)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["movie.mp4"]


def test_terminal_escapes_never_reach_the_terminal(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump({"title": HOSTILE, "steps": [{"id": "say", "type": "tts", "text": "Hi."}]})
    )
    assert (
        "\\e]0;PWNED" in plan.read_text()
        or "\\x1b" in plan.read_text()
        or "\x1b" not in plan.read_text()
    )
    assert load_plan_file(plan).plan.title == "Title"
    result = cli("run", str(plan), "--profile", "fixture", "-o", str(tmp_path / "m.mp4"))
    assert result.returncode == 0, result.stderr
    for args in (("status",), ("run", str(plan), "--profile", "fixture", "--dry"),
                 ("validate", str(plan)), ("plan", HOSTILE + " a fox meets an owl")):  # fmt: skip
        shown = cli(*args)
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout + shown.stderr and "\x07" not in shown.stderr
    # data that reaches a print with an escape in it is shown, not obeyed
    odd = tmp_path / f"{HOSTILE}.yaml"
    odd.write_text(plan.read_text())
    for args in (("validate", str(odd)), ("run", f"missing{HOSTILE}.yaml")):
        shown = cli(*args)
        assert "\x1b" not in shown.stdout + shown.stderr and "\x07" not in shown.stderr
        assert "\\x1b]0;PWNED" in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    "content", [b"title: a\x00b\nsteps: []\n", b"title: T\x1b[2J\nsteps: []\n"]
)
def test_a_nul_byte_in_yaml_is_a_parse_error(tmp_path: Path, content: bytes) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(content)
    for args in (("validate", str(plan)), ("run", str(plan), "--profile", "fixture", "--dry")):
        result = cli(*args)
        assert result.returncode == 3, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "not valid YAML" in lines[0]


@pytest.mark.parametrize("target", ["{tmp}", "{tmp}/plans/", "/dev/null"])
def test_a_target_on_disk_that_is_no_plan_file_is_not_an_idea(tmp_path: Path, target: str) -> None:
    (tmp_path / "plans").mkdir()
    result = cli("run", target.format(tmp=tmp_path), "--profile", "fixture", "--dry")
    assert result.returncode == 3, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a plan file" in lines[0], lines
    assert "Dry run" not in result.stdout


def test_a_corrupt_database_is_one_line_naming_the_file(sparkle_home: Path) -> None:
    sparkle_home.mkdir(parents=True)
    db = sparkle_home / "sparkle.db"
    db.write_bytes(b"this is not a database, not at all" * 100)
    for args in (("status",), ("run", "a fox befriends an owl", "--profile", "fixture", "--dry")):
        result = cli(*args)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"error: cannot open the workspace database {db}")
        assert "SPARKLE_HOME" in lines[0] and "internal error" not in lines[0]


def test_an_unwritable_workspace_is_one_line_without_a_traceback(sparkle_home: Path) -> None:
    assert cli("status").returncode == 0  # the workspace exists
    llm = sparkle_home / "llm"
    llm.rmdir()
    llm.symlink_to("/sys")  # a folder nobody can write in: raw planner replies cannot be kept
    result = cli("plan", "a fox befriends an owl")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot use {llm}/"), lines
    assert "SPARKLE_HOME" in lines[0] and "Traceback" not in result.stderr


def test_plan_output_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    result = cli("plan", "a fox befriends an owl", "-o", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --output") and "folder" in lines[0]


def test_plan_never_replaces_an_edited_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.yaml"
    idea = "a lighthouse keeper befriends a whale"
    assert cli("plan", idea, "-o", str(target)).returncode == 0
    again = cli("plan", idea, "-o", str(target))  # the same plan again: fine
    assert again.returncode == 0, again.stderr
    edited = target.read_text().replace("title: ", "title: My ", 1)
    target.write_text(edited)
    refused = cli("plan", idea, "-o", str(target))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert target.read_text() == edited
    forced = cli("plan", idea, "-o", str(target), "--force")
    assert forced.returncode == 0 and target.read_text() != edited


def test_the_full_profile_lists_what_is_missing_once_before_any_step(tmp_path: Path) -> None:
    env = {"SPARKLE_HOME": str(tmp_path / "home"), "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_HUB_OFFLINE": "", "HF_HOME": str(tmp_path / "hf")}  # fmt: skip
    result = cli("run", "a lighthouse keeper befriends a whale", "--profile", "full",
                 "-o", str(tmp_path / "movie.mp4"), cwd=tmp_path, env=env)  # fmt: skip
    assert result.returncode == 7, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("Plan: ")]
    block = [line for line in lines if line.startswith("  - ")]
    assert lines[0].startswith("error: ") and "cannot run here" in lines[0]
    assert {b.split()[1] for b in block} >= {"images_sdxl", "videos_wan", "tts_chatterbox"}
    assert len(lines) == 1 + len(block), "nothing else: no library warnings, no hub retries"
    assert "HF_HUB_OFFLINE" not in result.stderr and "SPARKLE_MODELS_DIR" in result.stderr
    assert not (tmp_path / "movie.mp4").exists()


@pytest.mark.parametrize(
    "command",
    ["", "plan", "validate", "run", "resume", "status", "review", "voices", "models", "schema"],
)
def test_help_is_clean_at_80_columns(command: str) -> None:
    result = cli(*([command] if command else []), "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert all(len(line) <= 80 for line in text.splitlines())
    for noise in ("<bool>", "<str>", "<list[", "<path>", "``", "{"):
        assert noise not in text, f"{noise!r} in {command} --help"


def test_help_reflows_paragraphs_and_keeps_examples_on_their_lines() -> None:
    text = cli("run", "--help", env={"COLUMNS": "80"}).stdout
    lines = [line.strip() for line in text.splitlines()]
    assert 'sparkle-motion run "a lighthouse keeper befriends a whale" -o movie.mp4' in lines
    assert "sparkle-motion run plan.yaml --profile fixture --dry" in lines
    prose = " ".join(lines)
    assert "finished steps are cached, so running an unchanged plan again is instant" in prose
    assert not any(line in ("running", "changed.") for line in lines), "no stray broken lines"
    assert "Usage: sparkle-motion run [OPTIONS] TARGET" in prose


def test_status_keeps_run_ids_whole_and_each_run_on_one_line(tmp_path: Path) -> None:
    from sparkle_motion.db.store import Store
    from sparkle_motion.types import StepExecutionRecord

    home = tmp_path / "home"
    store = Store(home / "sparkle.db")
    long_error = "the storyboard could not draw " + "a very long reason " * 30
    plan = {"plan": {"title": "A fox befriends an owl in the deep dark wood of the north"}}
    ids = ["20261201-140102-ab12", "20261201-141503-cd34"]
    for run_id, state in zip(ids, ("failed", "succeeded"), strict=True):
        store.create_run(run_id, "p1", json.dumps(plan), "preview")
        summary = f"1 step(s) failed, 2 skipped; first: img3: {long_error}"
        store.update_run(run_id, status=state, summary=summary if state == "failed" else "ok",
                         owner_pid=None)  # fmt: skip
    store.upsert_step_record(StepExecutionRecord(
        run_id=ids[0], plan_id="p1", step_id="img3", step_type="image", status="failed",
        attempts=2, error_message=long_error,
    ))  # fmt: skip
    env = {"SPARKLE_HOME": str(home), "COLUMNS": "80"}
    listing = cli("status", env=env).stdout.splitlines()
    rows = [line for line in listing if line.startswith("2026")]
    assert [r.split()[0] for r in rows] == ids[::-1], "ids whole, newest first"
    assert len(rows) == 2 and all(len(r) <= 80 for r in rows)
    failed = next(r for r in rows if r.startswith(ids[0]))
    assert "1 step failed (img3) · A fox" in failed and failed.endswith("…")
    detail = cli("status", ids[0], env=env)
    assert detail.returncode == 0, detail.stderr
    assert detail.stdout.startswith(f"run {ids[0]} · failed")
    assert f"img3: {long_error.strip()}" in " ".join(detail.stderr.split())
    assert f"sparkle-motion resume {ids[0]}" in detail.stdout


def test_the_live_view_weights_the_assembly_and_shows_progress_not_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from io import StringIO

    from rich.console import Console

    from sparkle_motion import cli as cli_module
    from sparkle_motion.script_agent import generate_plan
    from sparkle_motion.types import CallbackEvent

    plan = generate_plan("a lighthouse keeper befriends a whale")
    screen = StringIO()
    monkeypatch.setattr(cli_module, "err", Console(file=screen, force_terminal=True, width=80))
    view = cli_module._ProgressView(plan, "preview")

    def event(step: str, message: str, progress: float = 0.0, **more: object) -> None:
        view(CallbackEvent(step_id=step, message=message, progress=progress, **more))

    def overall() -> float:
        task = view.progress.tasks[0]
        return task.completed / task.total

    with view:
        video = next(s.id for s in plan.steps if s.type == "video")
        event(video, "running")
        event(video, "chunk 2/3", 0.5, chunk_index=1, eta_s=12.0)
        row = view.progress.tasks[-1]
        assert row.fields["detail"] == "50% · ETA 12 s · chunk 2/3"
        assert 0 < overall() < 0.2, "half a video step moves the bar a little"
        for step in plan.steps:
            event(step.id, "running")
            event(step.id, "succeeded", 1.0)
        after_steps = overall()
        assert 0.2 < after_steps < 0.9, "the assembly is a real share of the work"
        assert view.progress.tasks[0].fields["detail"].startswith(f"{len(plan.steps)}/")
        event("assemble", "running")
        event("assemble", "segments 6/11 ready", 0.5)
        assert after_steps < overall() < 1
        row = view.progress.tasks[-1]
        assert "assembling" in row.description and "segments 6/11 ready" in row.fields["detail"]
        event("assemble", "succeeded", 1.0)
        assert overall() == pytest.approx(1.0)
    shown = screen.getvalue()
    assert not re.search(r" 0/1\b", shown) and "attempts" not in shown
