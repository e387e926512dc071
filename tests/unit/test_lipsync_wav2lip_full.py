"""lipsync_wav2lip's full backend: the command it builds, the checks before it runs, and the
subprocess path against a stand-in ``inference.py`` written into a temporary checkout.

The stand-in parses the pinned commit's flags, writes ``temp/`` in its working directory
(failing if that is not a fresh folder of its own), and makes its result the way upstream
does: a shell command running ``ffmpeg`` from PATH (there is none on this machine's PATH
but the bundled one the backend puts there). Variants (a MODE file in the checkout): it
hangs with a child process, exits 1, fails once then succeeds, or leaves no audio.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from sparkle_motion.errors import (
    MissingDependencyError,
    PlanSchemaError,
    SubprocessError,
    SubprocessTimeout,
)
from sparkle_motion.function_tools.lipsync_wav2lip import command, full
from sparkle_motion.function_tools.lipsync_wav2lip.entrypoint import run_wav2lip
from sparkle_motion.providers import WAV2LIP_COMMIT, WAV2LIP_FACE_DETECTOR, wav2lip_setup
from sparkle_motion.utils.ffmpeg import ffmpeg_exe, probe
from sparkle_motion.utils.run_command import run_command

STAND_IN = textwrap.dedent(
    """
    import argparse, json, os, pathlib, shutil, subprocess, sys, time
    here = pathlib.Path(__file__).resolve().parent
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint_path", type=str, required=True)
    p.add_argument("--face", type=str, required=True)
    p.add_argument("--audio", type=str, required=True)
    p.add_argument("--outfile", type=str, default="results/result_voice.mp4")
    p.add_argument("--static", type=bool, default=False)
    p.add_argument("--fps", type=float, default=25.)
    p.add_argument("--pads", nargs="+", type=int, default=[0, 10, 0, 0])
    p.add_argument("--face_det_batch_size", type=int, default=16)
    p.add_argument("--wav2lip_batch_size", type=int, default=128)
    p.add_argument("--resize_factor", default=1, type=int)
    p.add_argument("--crop", nargs="+", type=int, default=[0, -1, 0, -1])
    p.add_argument("--box", nargs="+", type=int, default=[-1, -1, -1, -1])
    p.add_argument("--rotate", default=False, action="store_true")
    NOSMOOTH
    args = p.parse_args()
    mode = (here / "MODE").read_text().strip() if (here / "MODE").exists() else "ok"
    calls = here / "calls"
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    print("Using cpu for inference.")
    assert sorted(os.listdir(".")) == [".bin", "audio.wav", args.face, "temp"], os.listdir(".")
    open("temp/result.avi", "w").write("upstream writes here")
    (here / "seen.json").write_text(json.dumps({
        "args": vars(args), "cwd": os.getcwd(), "ffmpeg": os.path.realpath(shutil.which("ffmpeg")),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pythonpath": os.environ.get("PYTHONPATH"),
    }))
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (here / "child.pid").write_text(str(child.pid))
        time.sleep(600)
    if mode == "fail" or (mode == "flaky" and len(calls.read_text()) == 1):
        print("Traceback (most recent call last):", file=sys.stderr)
        print("RuntimeError: CUDA error: an illegal memory access", file=sys.stderr)
        sys.exit(1)
    if mode == "noface":
        print("ValueError: Face not detected! Ensure the video contains a face", file=sys.stderr)
        sys.exit(1)
    src = "-loop 1 -i " + args.face if args.face.endswith(".png") else "-i " + args.face
    audio = "-an" if mode == "noaudio" else "-i " + args.audio + " -map 0:v -map 1:a -c:a aac"
    subprocess.check_call(
        "ffmpeg -y -loglevel error " + src + " " + audio + " -t 1.2 -c:v libx264 "
        "-pix_fmt yuv420p " + args.outfile, shell=True)
    """
)


def write_checkout(root: Path, *, nosmooth: bool = True, s3fd: bool = True) -> Path:
    checkout = root / "Wav2Lip"
    (checkout / "face_detection/detection/sfd").mkdir(parents=True)
    flag = 'p.add_argument("--nosmooth", default=False, action="store_true")'
    (checkout / "inference.py").write_text(STAND_IN.replace("NOSMOOTH", flag if nosmooth else ""))
    if s3fd:
        (checkout / WAV2LIP_FACE_DETECTOR).write_bytes(b"not really s3fd")
    (checkout / ".git").mkdir()
    (checkout / ".git/HEAD").write_text(WAV2LIP_COMMIT + "\n")
    return checkout


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sparkle_home: Path) -> Path:
    repo = write_checkout(tmp_path)
    models = tmp_path / "models"
    (models / "wav2lip").mkdir(parents=True)
    (models / "wav2lip/wav2lip_gan.pth").write_bytes(b"not really a checkpoint")
    monkeypatch.setenv("SPARKLE_WAV2LIP_DIR", str(repo))
    monkeypatch.setenv("SPARKLE_WAV2LIP_PYTHON", sys.executable)
    monkeypatch.setenv("SPARKLE_MODELS_DIR", str(models))
    # no ffmpeg on PATH but the bundled one the backend puts there
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert run_command(["sh", "-c", "command -v ffmpeg"], check=False).exit_code != 0
    monkeypatch.setattr(full, "sleep", lambda s: None)
    return repo


@pytest.fixture
def media(sparkle_home: Path) -> dict[str, Path]:
    folder = sparkle_home / "inputs"
    folder.mkdir(parents=True)
    face, still, line = folder / "face.mp4", folder / "face.png", folder / "line.wav"
    run_command([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 "testsrc2=s=120x90:r=12:d=2", "-pix_fmt", "yuv420p", str(face)])  # fmt: skip
    run_command([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 "testsrc2=s=120x90:r=1:d=1", "-frames:v", "1", str(still)])  # fmt: skip
    run_command([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 "sine=f=440:r=16000:d=1.5", str(line)])  # fmt: skip
    return {"face": face, "still": still, "audio": line}


def seen(checkout: Path) -> dict:
    return json.loads((checkout / "seen.json").read_text())


# ------------------------------------------------------------------------ command


def cmd_for(**opts) -> list[str]:
    flags = command.flags_from_opts(opts)
    return command.build_command("py", "/w/inference.py", "/m/ck.pth", "face.mp4", flags)


BASE = ["py", "/w/inference.py", "--checkpoint_path", "/m/ck.pth", "--face", "face.mp4",
        "--audio", "audio.wav", "--outfile", "result.mp4"]  # fmt: skip


@pytest.mark.parametrize(
    ("opts", "flags"),
    [
        ({}, []),
        ({"pads": [0, 20, 0, 0]}, ["--pads", "0", "20", "0", "0"]),
        ({"resize_factor": 2}, ["--resize_factor", "2"]),
        ({"nosmooth": True}, ["--nosmooth"]),
        ({"nosmooth": False}, []),
        ({"crop": (0, -1, 10, 200)}, ["--crop", "0", "-1", "10", "200"]),
        ({"box": [5, 80, 10, 90]}, ["--box", "5", "80", "10", "90"]),
        ({"fps": 24}, ["--fps", "24"]),
        ({"fps": 12.5}, ["--fps", "12.5"]),
        ({"static": True}, ["--static", "True"]),
        ({"static": False}, []),
        ({"rotate": True}, ["--rotate"]),
        ({"face_det_batch_size": 4}, ["--face_det_batch_size", "4"]),
        ({"wav2lip_batch_size": 32}, ["--wav2lip_batch_size", "32"]),
        # what is not a Wav2Lip flag never reaches its command line
        ({"seed": 3, "scene": "a", "width": 160, "provider": "full", "verbose": True}, []),
    ],
)
def test_each_option_gives_its_flags_and_nothing_else(opts: dict, flags: list[str]) -> None:
    assert cmd_for(**opts) == BASE + flags


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        ({"pads": [0, 10, 0]}, "opts.pads"),
        ({"pads": [0, -1, 0, 0]}, "opts.pads"),
        ({"pads": ["0", "10", "0", "0"]}, "opts.pads"),
        ({"pads": "0 10 0 0; rm -rf /"}, "opts.pads"),
        ({"resize_factor": 0}, "opts.resize_factor"),
        ({"resize_factor": "2"}, "opts.resize_factor"),
        ({"resize_factor": True}, "opts.resize_factor"),
        ({"nosmooth": "yes"}, "opts.nosmooth"),
        ({"crop": [10, 5, 0, -1]}, "opts.crop"),
        ({"crop": [-1, -1, 0, -1]}, "opts.crop"),
        ({"box": [0, -1, 0, 10]}, "opts.box"),
        ({"fps": 0}, "opts.fps"),
        ({"fps": float("nan")}, "opts.fps"),
        ({"fps": "--outfile=/etc/passwd"}, "opts.fps"),
        ({"static": "False"}, "opts.static"),
        ({"wav2lip_batch_size": 10**6}, "opts.wav2lip_batch_size"),
    ],
)
def test_bad_values_are_refused_naming_the_field(opts: dict, field: str) -> None:
    with pytest.raises(PlanSchemaError) as caught:
        command.flags_from_opts(opts)
    assert caught.value.field == field
    assert "\n" not in str(caught.value) and str(caught.value).startswith(field + ": ")


def test_the_pinned_commits_flags_are_read_from_its_inference_py() -> None:
    have = command.supported_flags(STAND_IN.replace("NOSMOOTH", ""))
    assert "nosmooth" not in have and {"pads", "crop", "resize_factor", "fps"} <= have
    assert command.supported_flags(STAND_IN.replace("NOSMOOTH", """p.add_argument("--nosmooth")"""))
    assert have | {"nosmooth"} == command.PINNED_FLAGS
    with pytest.raises(PlanSchemaError, match=r"opts.nosmooth: .*has no --nosmooth"):
        command.check_supported(command.flags_from_opts({"nosmooth": True}), have)
    command.check_supported(command.flags_from_opts({"pads": [0, 1, 2, 3]}), have)


# ------------------------------------------------------------------------- checks


def test_missing_pieces_are_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkout: Path
) -> None:
    models = Path(os.environ["SPARKLE_MODELS_DIR"])
    assert wav2lip_setup().checkpoint == models / "wav2lip/wav2lip_gan.pth"

    def line() -> str:
        with pytest.raises(MissingDependencyError) as caught:
            wav2lip_setup()
        text = str(caught.value)
        assert "\n" not in text
        return text

    (models / "wav2lip/wav2lip_gan.pth").unlink()
    text = line()
    assert f"checkpoint at {models / 'wav2lip/wav2lip_gan.pth'}" in text
    assert "github.com/Rudrabha/Wav2Lip" in text
    (checkout / WAV2LIP_FACE_DETECTOR).unlink()
    text = line()
    assert f"s3fd face detector at {checkout / WAV2LIP_FACE_DETECTOR}" in text
    assert "s3fd-619a316812.pth" in text
    monkeypatch.setenv("SPARKLE_WAV2LIP_PYTHON", str(tmp_path / "nope/python"))
    assert "SPARKLE_WAV2LIP_PYTHON" in line() and "not an executable" in line()
    monkeypatch.setenv("SPARKLE_WAV2LIP_DIR", str(tmp_path / "elsewhere"))
    assert "has no inference.py" in line()
    monkeypatch.delenv("SPARKLE_WAV2LIP_DIR")
    text = line()
    assert "SPARKLE_WAV2LIP_DIR is not set" in text and WAV2LIP_COMMIT[:12] in text


def test_the_provider_check_says_the_same_before_any_run(
    monkeypatch: pytest.MonkeyPatch, checkout: Path
) -> None:
    from sparkle_motion.providers import check_providers

    check_providers({"lipsync_wav2lip": "full"})  # all there
    (checkout / WAV2LIP_FACE_DETECTOR).unlink()
    with pytest.raises(MissingDependencyError, match="s3fd face detector at"):
        check_providers({"lipsync_wav2lip": "full"})


def test_a_checkpoint_outside_the_models_root_is_refused(
    tmp_path: Path, checkout: Path, media: dict
) -> None:
    outside = tmp_path / "stray.pth"
    outside.write_bytes(b"x")
    for value in (str(outside), "../stray.pth"):
        with pytest.raises(PlanSchemaError, match=r"opts\.checkpoint_path: .*outside the models"):
            run_wav2lip(media["face"], media["audio"], tmp_path / "o.mp4",
                        opts={"provider": "full", "checkpoint_path": value})  # fmt: skip
    assert not (checkout / "calls").exists()


def test_inputs_outside_the_workspace_are_refused(tmp_path: Path, checkout: Path, media) -> None:
    stray = tmp_path / "stray.wav"
    stray.write_bytes(media["audio"].read_bytes())
    with pytest.raises(PlanSchemaError, match=r"^audio: .*outside the workspace"):
        run_wav2lip(media["face"], stray, tmp_path / "o.mp4", opts={"provider": "full"})
    assert not (checkout / "calls").exists()


def test_a_flag_the_checkout_lacks_is_refused_before_running(
    tmp_path: Path, checkout: Path, media: dict
) -> None:
    (checkout / "inference.py").write_text(STAND_IN.replace("NOSMOOTH", ""))
    with pytest.raises(PlanSchemaError, match=r"^opts\.nosmooth: "):
        run_wav2lip(media["face"], media["audio"], tmp_path / "o.mp4",
                    opts={"provider": "full", "nosmooth": True})  # fmt: skip
    assert not (checkout / "calls").exists()


# ----------------------------------------------------------------- the subprocess


def test_a_clip_is_synced_through_the_checkout(
    tmp_path: Path, checkout: Path, media: dict, sparkle_home: Path
) -> None:
    out = tmp_path / "out" / "talk.mp4"
    opts = {"provider": "full", "pads": [0, 20, 0, 0], "nosmooth": True, "resize_factor": 2,
            "device": "cpu", "width": 160, "height": 96, "fps": 12}  # fmt: skip
    meta = run_wav2lip(media["face"], media["audio"], out, opts=opts)
    info = probe(out)
    assert info.has_video and info.has_audio and (info.width, info.height) == (160, 96)
    assert info.duration_s == pytest.approx(1.2, abs=0.1)  # what the stand-in made
    assert meta["audio"] == "wav2lip" and meta["simulated"] is False
    got = seen(checkout)
    # upstream's ffmpeg call found the bundled ffmpeg; CUDA hidden for the CPU; no leak
    assert got["ffmpeg"] == os.path.realpath(ffmpeg_exe())
    assert got["cuda"] == "" and got["pythonpath"] is None
    assert got["args"]["pads"] == [0, 20, 0, 0] and got["args"]["nosmooth"] is True
    assert got["args"]["checkpoint_path"] == str(
        Path(os.environ["SPARKLE_MODELS_DIR"]) / "wav2lip/wav2lip_gan.pth"
    )
    # its own working directory, removed afterwards
    assert not Path(got["cwd"]).exists() and Path(got["cwd"]) != Path.cwd()
    assert meta["model_checkpoint"] == got["args"]["checkpoint_path"]
    assert meta["face_detector_path"] == str(checkout / WAV2LIP_FACE_DETECTOR)
    assert meta["device"] == "cpu" and meta["licence"] == "research-only"
    assert meta["commercial_use"] is False and meta["wav2lip_commit"] == WAV2LIP_COMMIT
    assert meta["ffmpeg_version"] and meta["duration_s"] == info.duration_s
    assert meta["opts_snapshot"]["flags"] == [
        "--pads", "0", "20", "0", "0", "--resize_factor", "2", "--nosmooth", "--fps", "12"
    ]  # fmt: skip
    stdout = Path(meta["stdout_path"]).read_text()
    assert Path(meta["stdout_path"]).parent == out.parent
    assert "Using cpu for inference." in stdout and "inference.py --checkpoint_path" in stdout


def test_a_still_face_and_the_gpu_flag(tmp_path: Path, checkout: Path, media: dict) -> None:
    meta = run_wav2lip(media["still"], media["audio"], tmp_path / "s.mp4",
                       opts={"provider": "full", "gpu": 1, "fps": 10})  # fmt: skip
    got = seen(checkout)
    assert got["args"]["face"] == "face.png" and got["args"]["fps"] == 10.0
    assert got["cuda"] == "1"
    assert meta["device"] == "cpu"  # what the run itself said it used
    assert probe(tmp_path / "s.mp4").has_audio


def test_a_result_without_audio_gets_the_lines_audio(
    tmp_path: Path, checkout: Path, media: dict
) -> None:
    (checkout / "MODE").write_text("noaudio")
    out = tmp_path / "n.mp4"
    meta = run_wav2lip(media["face"], media["audio"], out, opts={"provider": "full"})
    info = probe(out)
    assert meta["audio"] == "remuxed" and info.has_audio and info.has_video
    # cut to the line: 1.5 s of audio, 1.2 s of picture
    assert info.duration_s == pytest.approx(1.5, abs=0.1)


def test_a_hang_is_killed_with_its_process_group(
    tmp_path: Path, checkout: Path, media: dict
) -> None:
    (checkout / "MODE").write_text("hang")
    with pytest.raises(SubprocessTimeout) as caught:
        run_wav2lip(media["face"], media["audio"], tmp_path / "h.mp4",
                    opts={"provider": "full", "timeout_s": 3})  # fmt: skip
    assert "did not finish within 3 s" in str(caught.value)
    assert caught.value.retryable
    child = int((checkout / "child.pid").read_text())
    import time

    for _ in range(100):  # SIGKILL is delivered at once; the reaping by init may lag
        try:
            state = Path(f"/proc/{child}/stat").read_text().split(")")[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the stand-in's child survived the timeout")
    assert (checkout / "calls").read_text() == "x"  # a timeout is not retried here


def test_a_crash_fails_with_its_log_tail_and_keeps_the_logs(
    tmp_path: Path, checkout: Path, media: dict
) -> None:
    (checkout / "MODE").write_text("fail")
    out = tmp_path / "f.mp4"
    with pytest.raises(SubprocessError) as caught:
        run_wav2lip(media["face"], media["audio"], out, opts={"provider": "full", "retries": 1})
    text = str(caught.value)
    assert "exit 1, attempt 2" in text and "CUDA error: an illegal memory access" in text
    assert "\n" not in text
    assert (checkout / "calls").read_text() == "xx"  # tried again once
    stderr = Path(caught.value.details["stderr_path"]).read_text()
    assert stderr.count("CUDA error: an illegal memory access") == 2
    assert "attempt 1, exit 1" in stderr and "attempt 2, exit 1" in stderr


def test_a_face_that_is_not_found_is_not_tried_again(
    tmp_path: Path, checkout: Path, media: dict
) -> None:
    (checkout / "MODE").write_text("noface")
    with pytest.raises(SubprocessError, match="Face not detected"):
        run_wav2lip(media["face"], media["audio"], tmp_path / "x.mp4", opts={"provider": "full"})
    assert (checkout / "calls").read_text() == "x"


def test_a_transient_failure_is_retried_after_the_backoff(
    tmp_path: Path, checkout: Path, media: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(full, "sleep", waits.append)
    (checkout / "MODE").write_text("flaky")
    out = tmp_path / "r.mp4"
    meta = run_wav2lip(media["face"], media["audio"], out,
                       opts={"provider": "full", "retry_backoff_base_s": 0.5,
                             "retry_jitter": 0.0})  # fmt: skip
    assert meta["attempts"] == 2 and waits == [0.5]
    assert probe(out).has_audio
    stderr = Path(meta["stderr_path"]).read_text()
    assert "attempt 1, exit 1" in stderr and "attempt 2, exit 0" in stderr


# ------------------------------------------------------------- through the agent


def test_a_lipsync_step_publishes_its_logs(
    tmp_path: Path, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparkle_motion.production_agent import run_plan
    from sparkle_motion.types import uri_to_path

    plan = {
        "title": "Talk",
        "steps": [
            {"id": "face", "type": "image", "prompt": "a smiling keeper"},
            {"id": "hello", "type": "tts", "text": "Hello, fox."},
            {"id": "lip", "type": "lipsync", "face_video": "step:face", "audio": "step:hello",
             "opts": {"pads": [0, 16, 0, 0], "nosmooth": True, "box": [2, 60, 4, 80]}},
        ],
        "assemble_opts": {"width": 160, "height": 96, "fps": 8, "preset": "veryfast"},
    }  # fmt: skip
    result = run_plan(
        plan, profile="fixture", providers={"lipsync_wav2lip": "full"},
        output=tmp_path / "m.mp4", sleep=lambda s: None,
    )  # fmt: skip
    assert result.status == "succeeded", result.summary
    args = seen(checkout)["args"]  # the plan's options reached Wav2Lip as its flags
    assert args["pads"] == [0, 16, 0, 0] and args["nosmooth"] and args["box"] == [2, 60, 4, 80]
    assert args["face"] == "face.png" and args["static"] is False
    # its working folder was the run's own temp folder
    assert Path(seen(checkout)["cwd"]).parent.parts[-2:] == ("tmp", "lip")
    lip = next(r for r in result.records if r.step_id == "lip")
    assert lip.meta["provider"] == "lipsync_wav2lip/full" and lip.meta["simulated"] is False
    logs = uri_to_path(lip.logs_uri).read_text()
    assert "===== stdout =====" in logs and "Using cpu for inference." in logs
    assert "inference.py --checkpoint_path" in logs
    ref = next(a for a in result.artifacts if a.step_id == "lip")
    assert ref.metadata["logs_uri"] == lip.logs_uri
    assert uri_to_path(ref.metadata["stderr_uri"]).is_file()
    assert "stdout_path" not in ref.metadata  # the work file is gone; its copy is published
    assembled = next(r for r in result.records if r.step_id == "assemble")
    assert assembled.logs_uri and "ffmpeg" in uri_to_path(assembled.logs_uri).read_text()


# --------------------------------------------------------- sparkle-motion models


def models_cli(*args: str, env: dict | None = None):
    """``sparkle-motion models ...`` in a process of its own, as a person runs it."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "sparkle_motion.cli", "models", *args], capture_output=True,
        text=True, env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=60,
    )  # fmt: skip


def test_models_lists_the_full_backends_and_what_is_missing() -> None:
    done = models_cli()
    assert done.returncode == 0, done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}  # fmt: skip
    assert set(rows) == {"sdxl", "wan", "chatterbox", "wav2lip", "qwen2vl"}
    assert "missing" in rows["wav2lip"] and "wav2lip_gan.pth" in rows["wav2lip"]
    # under the table: the same one line a run would fail with
    assert "wav2lip: lipsync_wav2lip (full) needs a Wav2Lip checkout, and " in done.stdout


def test_models_wav2lip_says_where_to_get_and_put_the_weights(checkout: Path) -> None:
    models = Path(os.environ["SPARKLE_MODELS_DIR"])
    done = models_cli("wav2lip", env={"PATH": os.environ["PATH"]})
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "wav2lip (lipsync_wav2lip, full): installed" in text
    assert f"checkout {WAV2LIP_COMMIT}" in text
    assert f"saved as {models / 'wav2lip/wav2lip_gan.pth'}" in text
    assert f"saved as {checkout / WAV2LIP_FACE_DETECTOR}" in text
    assert "drive.google.com" in text and "s3fd-619a316812.pth" in text
    assert "non-commercial" in text
    rows = [line for line in models_cli().stdout.splitlines() if line.startswith("│ wav2lip")]
    assert "installed" in rows[0]
    (models / "wav2lip/wav2lip_gan.pth").unlink()
    text = models_cli("wav2lip").stdout
    assert "wav2lip (lipsync_wav2lip, full): missing: lipsync_wav2lip (full) needs the " in text


def test_models_refuses_an_unknown_name() -> None:
    done = models_cli("sora")
    assert done.returncode == 2
    assert "no model backend 'sora' (one of sdxl, wan, chatterbox, wav2lip, qwen2vl)" in done.stderr
