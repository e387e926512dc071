"""Full lip sync: upstream Wav2Lip's ``inference.py``, run as a subprocess.

Why a subprocess and not an import: ``inference.py`` parses ``sys.argv`` when imported,
picks the GPU itself (``cuda`` whenever torch sees one: no device flag), shells out to an
``ffmpeg`` found on PATH, and writes ``temp/`` into its working directory; its requirements
(an old librosa, opencv) do not belong in this environment either. There is no maintained
importable package. So a checkout at a pinned commit (``SPARKLE_WAV2LIP_DIR``, see
providers.WAV2LIP_COMMIT) runs under its own interpreter (``SPARKLE_WAV2LIP_PYTHON``,
default this one), through utils.run_command:

- in a fresh temporary working directory holding ``temp/``, the face (``face.mp4`` or
  ``face.png``) and the audio (``audio.wav``) under fixed names; ``inference.py`` is given
  by absolute path and the result copied out;
- with the bundled ffmpeg (imageio-ffmpeg) as ``ffmpeg`` first on its PATH;
- on the device chosen through ``CUDA_VISIBLE_DEVICES`` (``opts.gpu``; empty for the CPU);
- with flags built only from checked options (command.py), and only those the checkout has.

The checkpoint and the s3fd face detector are checked before anything runs (one line saying
what to get and where to put it; upstream would otherwise download s3fd by itself). A run
over ``timeout_s`` is killed with its process group; a crash is tried again after the one
backoff (an argparse error or a face that is not found is not); a failure's message ends
with the log tail. The result is re-encoded to the intermediate format at the movie's size
with Wav2Lip's audio, or the line's audio muxed in when Wav2Lip left none, and probed.

Wav2Lip's code and weights are for research and non-commercial use only: every result says
so (``licence``, ``commercial_use``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparkle_motion.errors import PlanSchemaError, SubprocessError, SubprocessTimeout
from sparkle_motion.function_tools.lipsync_wav2lip import command
from sparkle_motion.function_tools.lipsync_wav2lip.logs import RunLogs
from sparkle_motion.providers import WAV2LIP_COMMIT, Wav2LipSetup, wav2lip_setup
from sparkle_motion.types import DEFAULT_FPS
from sparkle_motion.utils.backoff import backoff_s
from sparkle_motion.utils.ffmpeg import (
    INTERMEDIATE_VIDEO_ARGS,
    TO_BT709,
    ffmpeg_exe,
    ffmpeg_version,
    probe,
)
from sparkle_motion.utils.run_command import SubprocessResult, run_command

PROVIDER_ID = "lipsync_wav2lip/full"
VERSION = f"1-{WAV2LIP_COMMIT[:12]}"
LICENCE = "research-only"
DEFAULT_TIMEOUT_S = 1800.0
STILLS = (".png", ".jpg", ".jpeg")  # what upstream reads as a still (by suffix)
OTHER_STILLS = (".webp", ".bmp")  # converted to PNG first
# failures that another attempt cannot fix (argparse's exit code is 2)
_DETERMINISTIC = ("Face not detected", "error: unrecognized arguments", "error: argument")
sleep: Callable[[float], None] = time.sleep  # tests replace it


def _number(opts: dict[str, Any], field: str, default: float, lo: float, hi: float) -> float:
    value = opts.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise PlanSchemaError(f"must be a number from {lo:g} to {hi:g}, not {value!r}",
                              field=f"opts.{field}", stage="step")  # fmt: skip
    return float(value)


def _input(path: Path, field: str, roots: list[Path]) -> Path:
    """A face or audio file, inside the workspace (or a folder the caller allows)."""
    resolved = Path(path).expanduser().resolve()
    if not any(resolved.is_relative_to(r) for r in roots):
        raise PlanSchemaError(
            f"{resolved} is outside the workspace", field=field, stage="step",
            hint="inputs must be published (or under SPARKLE_HOME) first",
        )  # fmt: skip
    if not resolved.is_file():
        raise PlanSchemaError(f"{resolved} does not exist", field=field, stage="step")
    return resolved


def _roots(opts: dict[str, Any]) -> list[Path]:
    from sparkle_motion.workspace import get_workspace

    roots = [get_workspace().root.resolve()]
    roots += [Path(p).expanduser().resolve() for p in opts.get("allowed_dirs") or []]
    return roots


def _device(opts: dict[str, Any]) -> tuple[str, str | None]:
    """(what the metadata says, CUDA_VISIBLE_DEVICES) from ``opts.gpu`` / ``opts.device``;
    neither given: the inherited CUDA_VISIBLE_DEVICES, and upstream takes the first GPU."""
    gpu = opts.get("gpu")
    if gpu is not None:
        if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
            raise PlanSchemaError(f"must be a GPU index (0, 1, ...), not {gpu!r}",
                                  field="opts.gpu", stage="step")  # fmt: skip
        return f"cuda:{gpu}", str(gpu)
    if not opts.get("device"):
        return "cuda", None
    device = str(opts["device"])
    if device == "cpu":
        return "cpu", ""
    index = device.partition(":")[2] or "0"
    if device.partition(":")[0] != "cuda" or not index.isdigit():
        raise PlanSchemaError(f"must be cpu or cuda[:N], not {device!r}",
                              field="opts.device", stage="step")  # fmt: skip
    return f"cuda:{index}", index


def _env(work: Path, cuda: str | None) -> dict[str, str]:
    """This environment, with the bundled ffmpeg first on PATH as ``ffmpeg`` and the GPU
    chosen; none of this interpreter's PYTHONPATH leaks into Wav2Lip's."""
    bin_dir = work / ".bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(ffmpeg_exe())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in (str(bin_dir), env.get("PATH", "")) if p)
    if cuda is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda
    return env


def _stage(face: Path, audio: Path, work: Path, logs: RunLogs) -> str:
    """Put the face and the audio into ``work`` under their fixed names; the face's name."""
    (work / "temp").mkdir()
    suffix = face.suffix.lower()
    if suffix in STILLS:
        name = command.FACE_STILL
        shutil.copyfile(face, work / name)  # cv2 reads a JPEG named .png by its content
    elif suffix in OTHER_STILLS:
        name = command.FACE_STILL
        _ffmpeg(["-i", str(face), "-frames:v", "1", str(work / name)], logs, "face to PNG")
    else:
        name = command.FACE_VIDEO
        shutil.copyfile(face, work / name)
    if audio.suffix.lower() == ".wav":
        shutil.copyfile(audio, work / command.AUDIO)
    else:
        _ffmpeg(["-i", str(audio), "-vn", "-c:a", "pcm_s16le", str(work / command.AUDIO)], logs,
                "audio to WAV")  # fmt: skip
    return name


def _ffmpeg(args: list[str], logs: RunLogs, what: str) -> SubprocessResult:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args]
    result = run_command(cmd, timeout_s=600, check=False)
    logs.add(result, what)
    if result.exit_code != 0 or result.timed_out:
        raise SubprocessError(f"ffmpeg ({what}) failed (exit {result.exit_code}): "
                              f"{result.tail(3)}", result=result)  # fmt: skip
    return result


def _transient(result: SubprocessResult) -> bool:
    text = result.stderr + result.stdout
    return result.exit_code != 2 and not any(mark in text for mark in _DETERMINISTIC)


def _infer(
    cmd: list[str], work: Path, env: dict[str, str], opts: dict[str, Any], logs: RunLogs
) -> SubprocessResult:
    """Run inference.py: killed with its group past the timeout; a crash tried again."""
    timeout_s = _number(opts, "timeout_s", DEFAULT_TIMEOUT_S, 1, 86400)
    retries = int(_number(opts, "retries", 1, 0, 5))
    base = _number(opts, "retry_backoff_base_s", 1.0, 0, 600)
    multiplier = _number(opts, "retry_backoff_multiplier", 2.0, 1, 10)
    jitter = _number(opts, "retry_jitter", 0.2, 0, 1)
    attempt = 0
    while True:
        attempt += 1
        result = run_command(cmd, cwd=work, timeout_s=timeout_s, retries=0, check=False, env=env)
        result.attempts = attempt
        logs.add(result, "wav2lip")
        if result.exit_code == 0 and not result.timed_out:
            return result
        where = f"logs: {logs.stderr_path}"
        if result.timed_out:  # a step-level retry (SubprocessTimeout is transient) may follow
            raise SubprocessTimeout(
                f"Wav2Lip did not finish within {timeout_s:g} s; stopped it and its "
                f"processes ({where})", result=result, details=logs.metadata(),
            )  # fmt: skip
        if attempt > retries or not _transient(result):
            raise SubprocessError(
                f"Wav2Lip failed (exit {result.exit_code}, attempt {attempt}): "
                f"{result.tail(3) or '(no output)'} ({where})", result=result,
                details=logs.metadata(),
            )  # fmt: skip
        (work / command.RESULT).unlink(missing_ok=True)  # the next attempt starts clean
        shutil.rmtree(work / "temp", ignore_errors=True)
        (work / "temp").mkdir()
        sleep(backoff_s(attempt, base_s=base, multiplier=multiplier, jitter=jitter))


def _finish(
    produced: Path, audio: Path, out_path: Path, opts: dict[str, Any], logs: RunLogs
) -> tuple[str, int]:
    """Re-encode Wav2Lip's result to the intermediate format at the movie's size; its audio
    kept, or the line's muxed in when it has none. Returns (audio source, fps)."""
    info = probe(produced)
    if not info.has_video:
        raise SubprocessError(f"Wav2Lip's result {produced.name} has no video stream "
                              f"(logs: {logs.stderr_path})")  # fmt: skip
    fps = round(float(opts.get("fps") or DEFAULT_FPS))
    duration = probe(audio).duration_s or info.duration_s or 1.0
    chain = [f"fps={fps}"]
    width, height = opts.get("width"), opts.get("height")
    if width and height:
        chain.append(f"scale={int(width)}:{int(height)}:force_original_aspect_ratio=increase,"
                     f"crop={int(width)}:{int(height)},setsar=1")  # fmt: skip
    else:
        chain.append("scale=trunc(iw/2)*2:trunc(ih/2)*2,setsar=1")  # x264 wants even sizes
    chain.append(TO_BT709)
    inputs = ["-i", str(produced)]
    if info.has_audio:
        source, audio_map = "wav2lip", "0:a:0"
    else:
        source, audio_map = "remuxed", "1:a:0"
        inputs += ["-i", str(audio)]
    args = [
        *inputs, "-filter_complex", f"[0:v]{','.join(chain)}[v]", "-map", "[v]",
        "-map", audio_map, *INTERMEDIATE_VIDEO_ARGS, "-c:a", "aac", "-b:a", "192k",
        "-flags:a", "+bitexact", "-t", f"{duration:.4f}", str(out_path),
    ]  # fmt: skip
    _ffmpeg(args, logs, "intermediate encode")
    return source, fps


def _checkout_commit(checkout: Path) -> str | None:
    """The checkout's HEAD commit, read from .git without running git (None if unknown)."""
    git = checkout / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref: "):
            ref = head[5:]
            loose = git / ref
            if loose.is_file():
                return loose.read_text(encoding="utf-8").strip()
            for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ")[0]
            return None
        return head or None
    except OSError:
        return None


def _check_face_detector(opts: dict[str, Any], setup: Wav2LipSetup) -> None:
    wanted = opts.get("face_det_checkpoint")
    if wanted is None:
        return
    root = Path(opts.get("models_root") or "/").expanduser()
    path = Path(wanted).expanduser()
    path = (path if path.is_absolute() else root / path).resolve()
    if path != setup.face_detector.resolve():
        raise PlanSchemaError(
            f"Wav2Lip reads its face detector only from {setup.face_detector}; put s3fd.pth "
            "there and leave this unset", field="opts.face_det_checkpoint", stage="step",
        )  # fmt: skip


def run(face: Path, audio: Path, out_path: Path, opts: dict[str, Any]) -> dict[str, Any]:
    """Lip-sync ``face`` (a clip or a still) to ``audio`` into ``out_path`` with Wav2Lip."""
    started = time.perf_counter()
    flags = command.flags_from_opts(opts)
    setup = wav2lip_setup(
        opts.get("wav2lip_dir"), opts.get("wav2lip_python"), opts.get("models_root"),
        opts.get("checkpoint_path"),
    )  # fmt: skip
    _check_face_detector(opts, setup)
    inference = setup.dir / "inference.py"
    command.check_supported(flags, command.supported_flags(inference.read_text(errors="replace")))
    roots = _roots(opts)
    face = _input(Path(face), "face_video", roots)
    audio = _input(Path(audio), "audio", roots)
    device, cuda = _device(opts)
    out_path = Path(out_path).expanduser().resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    logs = RunLogs(out_path)
    with tempfile.TemporaryDirectory(prefix="wav2lip-", dir=opts.get("work_dir")) as tmp:
        work = Path(tmp)
        face_name = _stage(face, audio, work, logs)
        cmd = command.build_command(
            setup.python, str(inference), str(setup.checkpoint), face_name, flags
        )
        result = _infer(cmd, work, _env(work, cuda), opts, logs)
        produced = work / command.RESULT
        if not produced.is_file():
            said = result.tail(3) or result.stdout[-300:]
            raise SubprocessError(
                f"Wav2Lip exited 0 but wrote no {command.RESULT}: {said} (logs: "
                f"{logs.stderr_path})", result=result, details=logs.metadata(),
            )  # fmt: skip
        audio_source, fps = _finish(produced, audio, out_path, opts, logs)
    info = probe(out_path)
    if not (info.has_video and info.has_audio):
        raise SubprocessError(f"the lip-synced clip {out_path.name} lacks its "
                              f"{'audio' if info.has_video else 'video'} stream")  # fmt: skip
    # upstream says which it used: "Using cuda for inference." / "Using cpu for inference."
    ran_on = "cpu" if "Using cpu for inference" in result.stdout else device
    if ran_on == "cuda":
        ran_on = "cuda:0"  # the first GPU it was shown
    commit = _checkout_commit(setup.dir)
    return {
        "duration_s": info.duration_s,
        "fps": fps,
        "width": info.width,
        "height": info.height,
        "simulated": False,
        "provider": PROVIDER_ID,
        "model_id": f"Wav2Lip/{setup.checkpoint.name}",
        "model_checkpoint": str(setup.checkpoint),
        "face_detector": str(setup.face_detector),
        "face_detector_path": str(setup.face_detector),
        "device": ran_on,
        "opts_snapshot": {
            "flags": cmd[cmd.index("--outfile") + 2 :],
            "timeout_s": _number(opts, "timeout_s", DEFAULT_TIMEOUT_S, 1, 86400),
            "retries": int(_number(opts, "retries", 1, 0, 5)),
            "cuda_visible_devices": cuda,
        },
        "command": cmd,
        "attempts": result.attempts,
        "audio": audio_source,
        "ffmpeg_version": ffmpeg_version(),
        "wav2lip_commit": commit,
        "wav2lip_pinned_commit": WAV2LIP_COMMIT,
        "licence": LICENCE,
        "commercial_use": False,
        "runtime_s": round(time.perf_counter() - started, 3),
        **logs.metadata(),
    }
