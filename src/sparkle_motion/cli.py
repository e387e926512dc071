"""The ``sparkle-motion`` command line.

Every command prints its result to stdout and talks to the person on stderr. Bad input
is one red line naming the field at fault, with a non-zero exit code (3 parse, 4 schema,
5 policy, 6 resources, 2 usage, 1 anything else); ``--debug`` shows the traceback.

Everything printed from plan or run data goes through :func:`_safe`: a title, step id,
summary, path or error message is shown, never obeyed as rich markup or a terminal escape.
The movie path (``-o``) is checked before any planning or rendering, and ``run`` never
replaces a plan file the person edited (``--replan`` does, on purpose).
"""

from __future__ import annotations

import inspect
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from sparkle_motion import __version__

if TYPE_CHECKING:
    from rich.progress import TaskID

    from sparkle_motion.production_agent import RunResult
    from sparkle_motion.types import CallbackEvent, MoviePlan, SimulationReport
    from sparkle_motion.validation import PlanValidation

app = typer.Typer(
    name="sparkle-motion",
    help=(
        "Turn one sentence into a finished short movie.\n\n"
        'Start with [bold]sparkle-motion plan "a lighthouse keeper befriends a whale" '
        "-o plan.yaml[/bold], read or edit the plan, and check it with "
        "[bold]sparkle-motion validate plan.yaml[/bold]. Planning needs no GPU, key or "
        "network: the built-in offline planner writes the story unless "
        "SPARKLE_PLANNER_MODEL names a real LLM (gemini-..., openai/..., ollama_chat/...)."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
_state: dict[str, Any] = {"debug": False}


class PlanFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class Aspect(StrEnum):
    landscape = "16:9"
    portrait = "9:16"
    square = "1:1"


class Subtitles(StrEnum):
    soft = "soft"
    burned = "burned"
    none = "none"


def _music_option(music: Path | None, plan_dir: Path) -> str | None:
    """--music as a path in the plan's folder (refused outside it, naming the field)."""
    if music is None:
        return None
    from sparkle_motion.planner.reshape import music_in_plan_folder

    return music_in_plan_folder(music, plan_dir)


def _safe(value: object) -> str:
    """Data as printable text: rich markup escaped, control characters shown as ``\\xNN``."""
    from rich.markup import escape

    from sparkle_motion.utils.terminal import visible

    return escape(visible(str(value)))


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _environment_error(exc: Exception) -> str | None:
    """One line for a database or file the workspace cannot use; None for anything else."""
    import errno
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        from sparkle_motion.db.store import database_error

        return str(database_error(_database_path(), exc))
    # Only a file that cannot be written or used: a missing input or program stays a bug report.
    if not isinstance(exc, OSError) or not exc.filename:
        return None
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        way_out = "free some disk space, or set SPARKLE_HOME to a folder on another disk"
        verb = "write"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        way_out = "make it writable, or set SPARKLE_HOME to a writable folder"
        verb = "write" if exc.errno == errno.EROFS else "use"
    else:
        return None
    return f"cannot {verb} {exc.filename} ({reason}): {way_out}"


def _database_path() -> Path:
    from sparkle_motion.config import get_settings
    from sparkle_motion.workspace import DB_FILENAME

    try:
        return Path(get_settings().home).expanduser().resolve() / DB_FILENAME
    except Exception:  # the settings themselves are broken: still name the file
        return Path("$SPARKLE_HOME") / DB_FILENAME


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors into one red line and an exit code (a traceback only with --debug)."""
    from sparkle_motion.errors import SparkleError

    try:
        yield
    except SparkleError as exc:
        if _state["debug"]:
            err.print_exception()
        label = "[yellow]stopped:[/yellow]" if exc.exit_code == 130 else "[red]error:[/red]"
        run_id = getattr(exc, "run_id", None)
        if exc.exit_code == 130 and run_id:  # two short lines: a terminal never cuts the id
            _say_stopped(run_id)
        else:
            err.print(f"{label} {_safe(exc)}", markup=True)
        for line in exc.details.get("missing", ()):  # the provider check's one block
            err.print(f"  - {_safe(line)}")
        _state["said_stopped"] = exc.exit_code == 130
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: still one line, the traceback is a flag away
        if _state["debug"]:
            err.print_exception()
        known = _environment_error(exc)
        if known is not None:  # a corrupt database, a full or read-only workspace
            err.print(f"[red]error:[/red] {_safe(_one_line(known))}")
            raise typer.Exit(1) from None
        message = _one_line(exc) or type(exc).__name__
        err.print(
            f"[red]internal error:[/red] {_safe(type(exc).__name__)}: {_safe(message)} "
            "(run with --debug for the traceback)"
        )
        raise typer.Exit(1) from None


# Ctrl-C stops a run at once: the run records itself interrupted and says how to resume.
# A render thread may still be finishing a frame or an encode, and Python waits for such
# threads before it exits; past this grace the process ends anyway, its children killed.
CTRL_C_GRACE_S = 1.2


def _say_stopped(run_id: str) -> None:
    err.print(f"[yellow]stopped:[/yellow] run {_safe(run_id)} was interrupted.")
    err.print(f"Finish it with: sparkle-motion resume {_safe(run_id)}")


class _CtrlC:
    """While a run renders: the first Ctrl-C interrupts it (KeyboardInterrupt, as usual) and
    arms a timer that ends the process if it has not ended within :data:`CTRL_C_GRACE_S`."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.previous: Any = None
        self.armed = False

    def __enter__(self) -> _CtrlC:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _interrupt(self, signum: int, frame: Any) -> None:
        if not self.armed:
            import threading

            self.armed = True
            _state["stopping_run"] = self.run_id
            timer = threading.Timer(CTRL_C_GRACE_S, self._end)
            timer.daemon = True
            timer.start()
        raise KeyboardInterrupt

    def _end(self) -> None:
        """Still here after the grace: leave the run resumable, nothing of it running."""
        try:
            import shutil

            from sparkle_motion.db.store import get_store
            from sparkle_motion.utils.run_command import kill_recorded_groups
            from sparkle_motion.workspace import get_workspace

            run_dir = get_workspace().run_dir(self.run_id)
            kill_recorded_groups(run_dir)
            shutil.rmtree(run_dir / "tmp", ignore_errors=True)  # what the busy thread wrote
            store = get_store()
            row = store.get_run(self.run_id)
            if row and row["status"] == "running" and row["owner_pid"] == os.getpid():
                store.update_run(self.run_id, status="interrupted", summary="interrupted")
        except Exception:  # ending now matters more than the bookkeeping: resume cleans up
            pass
        if not _state.get("said_stopped"):
            _say_stopped(self.run_id)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


@contextmanager
def _debug_env() -> Iterator[None]:
    """With --debug, SPARKLE_DEBUG=1 while a run renders: a failed assembly then keeps its
    work folder (with ffmpeg.log) and its error names it."""
    if not _state["debug"] or os.environ.get("SPARKLE_DEBUG") == "1":
        yield
        return
    os.environ["SPARKLE_DEBUG"] = "1"
    try:
        yield
    finally:
        os.environ.pop("SPARKLE_DEBUG", None)


def _version(value: bool) -> None:
    if value:
        out.print(f"sparkle-motion {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show full tracebacks for errors; a failed assembly keeps its work folder.",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Turn one sentence into a finished short movie."""
    _state["debug"] = debug or os.environ.get("SPARKLE_DEBUG") == "1"
    if not _state["debug"]:
        # ADK logs a failed callback with its whole traceback before re-raising it; the
        # error still reaches the person, as one line, through _user_errors.
        import logging

        logging.getLogger("google_adk").setLevel(logging.CRITICAL)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all; the temp file beside it never outlives a failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


MOVIE_SUFFIXES = (".mp4", ".mov", ".mkv")
PLAN_SUFFIXES = (".yaml", ".yml", ".json")


def _check_output(value: str | None) -> Path | None:
    """The movie path, refused in one line before any work when it cannot become a movie.

    A folder, an empty name, a name that is not a movie (.mp4, .mov, .mkv; so never the plan
    file), something that is not a regular file, or a folder that cannot be written to.
    """
    from sparkle_motion.errors import ConfigError

    if value is None:
        return None
    if not value.strip():
        raise ConfigError("--output is empty: name the movie file, e.g. -o movie.mp4")
    path = Path(value).expanduser().resolve()
    shown = _safe(value)
    if value.endswith(("/", os.sep)) or path.is_dir():
        raise ConfigError(
            f"--output {shown} is a folder: name the movie file in it, "
            f"e.g. -o {_safe(path / 'movie.mp4')}"
        )
    if path.exists() and not path.is_file():
        raise ConfigError(f"--output {shown} is not a regular file: name a movie file instead")
    if path.suffix.lower() not in MOVIE_SUFFIXES:
        what = "is an existing file, not a movie" if path.exists() else "is not a movie file name"
        raise ConfigError(
            f"--output {shown} {what}: name a new .mp4, .mov or .mkv file, "
            f"e.g. -o {_safe(path.with_suffix('.mp4').name)}"
        )
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"--output {shown}: {_safe(folder)} is a file, not a folder")
    try:  # the one sure test of "can write here" (permissions, read-only disks, root)
        import tempfile

        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"--output {shown}: cannot write in {_safe(folder)} "
            f"({_safe(exc.strerror or exc)}): choose a writable folder"
        ) from None
    return path


def _on_disk(target: str) -> os.stat_result | None:
    """What ``target`` names on disk, if anything (an idea usually names nothing)."""
    if not target.strip():
        return None
    try:
        return os.stat(target)
    except (OSError, ValueError):  # missing, a name too long, a NUL in an idea
        return None


def _comparable(data: object) -> object:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k != "created_at"}
    return data


def _is_edited(plan_file: Path, plan: MoviePlan) -> bool:
    """True when ``plan_file`` exists and says something else than the planner's plan.

    Content is compared, not bytes, and ``created_at`` is ignored: a plan file the tool
    wrote for this idea is not an edit, any other content is (a broken file included).
    """
    import yaml

    from sparkle_motion.errors import ConfigError, PlanParseError
    from sparkle_motion.validation import dump_plan, parse_plan_text

    if not os.path.lexists(plan_file):
        return False
    if not plan_file.is_file():
        raise ConfigError(
            f"{_safe(plan_file)} is in the way of the plan file and is not a file: "
            "move it, or choose another --output"
        )
    try:
        theirs = parse_plan_text(plan_file.read_bytes(), fmt="yaml", source=plan_file.name)
    except PlanParseError:
        return True
    ours = yaml.safe_load(dump_plan(plan))
    return _comparable(theirs) != _comparable(ours)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _plan_summary(plan: MoviePlan, speech_ratio: float = 1.0) -> str:
    from sparkle_motion.estimates import speech_seconds
    from sparkle_motion.validation import step_frames

    steps = plan.steps
    scenes = {s.scene for s in steps if s.scene}
    speech = sum(speech_seconds(s.spoken_text) for s in steps if s.type == "tts") * speech_ratio
    frames = sum(step_frames(s) for s in steps)
    parts = [_count(len(steps), "step")]
    if scenes:
        parts.append(_count(len(scenes), "scene"))
    if speech:
        parts.append(f"about {speech:.0f} s of speech")
    if frames:
        parts.append(_count(frames, "video frame"))
    return ", ".join(parts)


def _speech_ratio(profile: str | None = None) -> float:
    """How long speech came out here against its word count (1.0 before any run)."""
    from sparkle_motion.config import get_settings
    from sparkle_motion.db.store import get_store
    from sparkle_motion.estimates import load_rates

    try:
        return load_rates(get_store(), profile or get_settings().profile).speech_ratio
    except Exception:  # an unreadable workspace: the plain word-count estimate
        return 1.0


def _render_estimate(plan: MoviePlan, profile: str, overrides: list[str] | None = None) -> str:
    """ "about 2 min to render on the preview profile (...)", or why that profile cannot run."""
    from sparkle_motion import estimates
    from sparkle_motion.db.store import get_store
    from sparkle_motion.production_agent import plan_weights
    from sparkle_motion.providers import parse_overrides, provider_problems, resolve_providers

    chosen = resolve_providers(profile, parse_overrides(overrides))
    problems = provider_problems(chosen, plan_weights(plan))
    if problems:
        return (
            f"the {profile} profile cannot run here ({_count(len(problems), 'provider')} "
            f"missing; `sparkle-motion run --profile {profile}` lists what to install)"
        )
    try:
        rates = estimates.load_rates(get_store(), profile)
    except Exception:  # an unreadable workspace: validating needs no store, so guess
        rates = estimates.Rates.defaults(profile)
    timed = estimates.estimate_plan(plan, rates)
    return (
        f"{estimates.say_duration(timed.total_s)} to render on the {profile} profile, "
        f"assembly included ({estimates.basis(timed)})"
    )


def _note_offline_explainer(idea: str, model: str | None) -> None:
    """One line when the offline planner wrote an explainer: it outlines, it has no facts."""
    from sparkle_motion.planner.models import is_deterministic, model_name
    from sparkle_motion.planner.story import is_explainer

    if is_deterministic(model_name(model)) and is_explainer(idea):
        err.print(
            "[yellow]note:[/yellow] offline the planner has no facts: this explainer only "
            "outlines the topic; a real model (--model) writes the content"
        )


@app.command()
def plan(
    idea: Annotated[str, typer.Argument(help="The movie in one sentence.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the plan here (.yaml, .yml or .json); default: print YAML.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Planner model: offline-planner (default), gemini-2.5-flash, "
            "openai/gpt-4o-mini, ollama_chat/llama3 ... (env SPARKLE_PLANNER_MODEL).",
        ),
    ] = None,
    fmt: Annotated[
        PlanFormat | None,
        typer.Option("--format", help="yaml or json; default from the file name."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace --output even when it holds something else (an edit)."
        ),
    ] = False,
    aspect: Annotated[
        Aspect | None,
        typer.Option("--aspect", help="The movie's shape: 16:9 (default), 9:16 or 1:1."),
    ] = None,
) -> None:
    """Write a MoviePlan for an idea.

    An existing --output is replaced only when it holds this same plan: an edited plan (or
    any other file) is kept unless --force says otherwise.
    Example: sparkle-motion plan "a lighthouse keeper befriends a whale" -o plan.yaml
    """
    with _user_errors():
        from sparkle_motion.errors import ConfigError
        from sparkle_motion.script_agent import generate_plan
        from sparkle_motion.validation import dump_plan

        if output is not None and (output.is_dir() or (output.exists() and not output.is_file())):
            raise ConfigError(
                f"--output {_safe(output)} is a folder or not a regular file: "
                "name the plan file, e.g. -o plan.yaml"
            )
        started = time.perf_counter()
        movie = generate_plan(idea, model=model)
        if aspect is not None:
            from sparkle_motion.planner.reshape import reshape

            movie = reshape(movie, aspect=aspect.value)
        elapsed = time.perf_counter() - started
        _note_offline_explainer(idea, model)
        kind = (fmt.value if fmt else None) or (
            "json" if output and output.suffix.lower() == ".json" else "yaml"
        )
        text = dump_plan(movie, kind)
        summary = (
            f"Planned [bold]{_safe(movie.title)}[/bold]: "
            f"{_plan_summary(movie, _speech_ratio())}; planned in {elapsed:.1f} s"
        )
        if output is None:
            sys.stdout.write(text)
            err.print(summary)
            return
        if not force and _is_edited(output, movie):
            raise ConfigError(
                f"--output {_safe(output)} already holds another plan or file (your edits?): "
                "name another file, or add --force to replace it"
            )
        _write_atomic(output, text)
        err.print(summary)
        err.print(f"Wrote {_safe(output)}  (next: sparkle-motion validate {_safe(output)})")


@app.command()
def validate(
    file: Annotated[
        Path, typer.Argument(help="A plan file (.yaml, .yml or .json).", show_default=False)
    ],
    profile: Annotated[
        str,
        typer.Option(help="Provider profile for the estimates: fixture, preview or full."),
    ] = "preview",
) -> None:
    """Check a plan in five stages: parse, schema, steps, policy, resources.

    Relative paths in the plan are resolved against the plan file's folder and must stay
    inside it. Prints a summary and any warnings; exits non-zero on the first problem.
    """
    with _user_errors():
        from sparkle_motion.errors import PlanError
        from sparkle_motion.validation import load_plan_file

        try:
            result = load_plan_file(file, profile=profile)
        except PlanError as exc:
            exc.message = f"{file.name}: " + (f"{exc.field}: " if exc.field else "") + exc.message
            exc.field = None
            raise
        out.print(
            f"[green]✓[/green] {_safe(file)} is valid: "
            f"{_plan_summary(result.plan, _speech_ratio(profile))}; "
            f"{_safe(_render_estimate(result.plan, profile))}"
        )
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/yellow] {_safe(warning)}")


class _ProgressView:
    """Live progress on stderr: an overall bar weighted by what each part should take here
    (estimates.py: steps and the assembly, so the bar does not sit near the end while the
    movie is assembled), with an ETA, and one line per running step with its own progress
    (a video's chunk k/n, the assembly's stages)."""

    def __init__(self, plan: MoviePlan | dict, profile: str | None = None) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        self.weights = _progress_weights(plan, profile)
        # fixed columns: a long message never squeezes the bars; it is cut at the end instead
        label = min(26, max(len("  assembling"), *(len(k) + 2 for k in self.weights)))
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", table_column=Column(width=label, no_wrap=True)),
            BarColumn(bar_width=20),
            TimeElapsedColumn(),
            TextColumn(
                "{task.fields[detail]}",
                table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
            ),
            console=err,
            transient=True,
            expand=True,
        )
        self.total = sum(self.weights.values()) or 1.0
        self.steps = len(self.weights) - 1  # the assembly is not a step
        self.lines: dict[str, TaskID] = {}
        self.done: dict[str, float] = {}  # step -> weight completed
        self.finished = 0
        self.started = time.monotonic()
        self.overall = self.progress.add_task(
            "[bold]movie[/bold]", total=self.total, detail=self._overall_detail(0)
        )
        self.counts = {"cached": 0, "failed": 0, "skipped": 0}

    def __enter__(self) -> _ProgressView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def _overall_detail(self, completed: float) -> str:
        parts = [f"{self.finished}/{self.steps} steps"]
        elapsed = time.monotonic() - self.started
        if 0 < completed < self.total and elapsed > 2:
            # the weights are this machine's estimated seconds: what is left of them, slowed
            # down (never sped up) by how far behind the estimate the run is so far
            behind = min(3.0, max(1.0, elapsed / completed))
            parts.append(f"ETA {_short_duration((self.total - completed) * behind)}")
        return " · ".join(parts)

    def _advance(self, step: str, fraction: float) -> None:
        weight = self.weights.get(step, 0.0)
        self.done[step] = max(self.done.get(step, 0.0), weight * min(1.0, max(0.0, fraction)))
        completed = sum(self.done.values())
        self.progress.update(
            self.overall, completed=completed, detail=self._overall_detail(completed)
        )

    def __call__(self, event: CallbackEvent) -> None:
        step = event.step_id or "?"
        message = event.message or ""
        if message == "running" and step not in self.lines:
            label = "assembling" if step == "assemble" else _safe(step)
            self.lines[step] = self.progress.add_task(f"  {label}", total=1, detail="")
        elif message in ("succeeded", "cached", "failed", "skipped"):
            if message in self.counts:
                self.counts[message] += 1
            task = self.lines.pop(step, None)
            if task is not None:
                self.progress.remove_task(task)
            if step != "assemble":
                self.finished += 1
            self._advance(step, 1.0)
            if message in ("failed", "skipped"):
                self.progress.console.print(f"[red]{message}:[/red] {_safe(step)}")
        elif step in self.lines and (event.chunk_index is not None or step == "assemble"):
            eta = f" · ETA {_short_duration(event.eta_s)}" if event.eta_s else ""
            self.progress.update(
                self.lines[step],
                completed=event.progress,
                detail=f"{event.progress:.0%}{eta} · {_safe(message)}",
            )
            self._advance(step, event.progress)


def _short_duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _progress_weights(plan: MoviePlan | dict, profile: str | None) -> dict[str, float]:
    """Seconds each step and the assembly should take here (1 each when unknown)."""
    try:
        from sparkle_motion import estimates
        from sparkle_motion.config import get_settings
        from sparkle_motion.db.store import get_store
        from sparkle_motion.validation import build_plan

        movie = plan if not isinstance(plan, dict) else build_plan(plan)
        rates = estimates.load_rates(get_store(), profile or get_settings().profile)
        timed = estimates.estimate_plan(movie, rates)
        weights = {sid: s * rates.overlap for sid, s in timed.steps.items()}
        weights["assemble"] = timed.assembly_s
        return {k: max(v, 0.01) for k, v in weights.items()}
    except Exception:  # a plan the estimator cannot read: every part counts the same
        steps = plan["steps"] if isinstance(plan, dict) else [s.id for s in plan.steps]
        ids = [s["id"] if isinstance(s, dict) else s for s in steps]
        return dict.fromkeys([*ids, "assemble"], 1.0)


def _slug(text: str) -> str:
    """A title as a file name stem, in its own script (utils/filenames.py)."""
    from sparkle_motion.utils.filenames import slug

    return slug(text, "movie")


def _finish(result: RunResult) -> None:
    run_id = result.run_id
    if result.status != "succeeded":
        err.print(f"[red]error:[/red] run {_safe(run_id)} failed: {_safe(result.summary)}")
        err.print(f"Fix the cause, then finish it with: sparkle-motion resume {_safe(run_id)}")
        raise typer.Exit(1)
    from sparkle_motion.production_agent import movie_path

    path = movie_path(result)
    meta = result.movie.metadata if result.movie else {}  # the assembler measured it
    records = [r for r in result.records if r.step_id != "assemble"]
    cached = sum(1 for r in records if r.cache_hit)
    details = []
    if meta.get("duration_s"):
        details.append(f"{meta['duration_s']:.1f} s")
    if meta.get("width"):
        details.append(f"{meta['width']}x{meta['height']}")
    details.append(f"{len(records)} steps" + (f", {cached} from cache" if cached else ""))
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {_safe(warning)}")
    out.print(
        f"[green]✓[/green] Movie: {_safe(path)} ({_safe(', '.join(details))}) · run {_safe(run_id)}"
    )
    made = result.manifest or {}
    if made.get("commercial_use") is False:  # the last line: easy to see, easy to grep
        steps = ", ".join(made.get("not_for_commercial_use") or [])
        out.print(
            f"[yellow]warning:[/yellow] not for commercial use: research-only weights in "
            f"{_safe(steps)} (see the .manifest.json beside the movie)"
        )


# where a run's steps run, on `run` and `resume` alike
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where steps run: local (default), process, or ray (RAY_ADDRESS or a local Ray).",
    ),
]


@app.command()
def run(
    target: Annotated[
        str,
        typer.Argument(
            help="An idea in quotes, or a plan file (.yaml, .yml, .json).", show_default=False
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Where to write the movie (.mp4, .mov, .mkv); default: <title>.mp4.",
        ),
    ] = None,
    dry: Annotated[
        bool, typer.Option("--dry", help="Validate and estimate only; render nothing.")
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Providers: fixture (instant test media), preview (CPU, default) or full (GPU)."
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="Override one tool's profile, e.g. --provider images_sdxl=full (repeatable).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Planner model when TARGET is an idea.")
    ] = None,
    replan: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="Plan the idea again, replacing the plan file beside the movie even if edited.",
        ),
    ] = False,
    aspect: Annotated[
        Aspect | None,
        typer.Option("--aspect", help="The movie's shape: 16:9 (default), 9:16 or 1:1."),
    ] = None,
    music: Annotated[
        Path | None,
        typer.Option(
            "--music",
            help="Music under the voice (ducked while it speaks): a file in the plan's folder.",
        ),
    ] = None,
    subtitles: Annotated[
        Subtitles | None,
        typer.Option(
            "--subtitles", help="soft (a track, the default), burned (into the picture) or none."
        ),
    ] = None,
    executor: ExecutorOption = None,
) -> None:
    """Make a movie from an idea or a plan file.

    Steps run as a graph, in parallel where they can; finished steps are cached, so running
    an unchanged plan again is instant and an edited plan redoes only what changed.

    Examples:
      sparkle-motion run "a lighthouse keeper befriends a whale" -o movie.mp4
      sparkle-motion run plan.yaml --profile fixture --dry

    An idea's plan is written beside the movie (movie.plan.yaml) for you to edit; running
    the idea again runs your edited plan, and --replan plans it afresh.
    """
    _use_executor(executor)
    with _user_errors():
        import stat

        from sparkle_motion.errors import PlanError, PlanParseError
        from sparkle_motion.production_agent import execute_plan, run_plan
        from sparkle_motion.providers import parse_overrides
        from sparkle_motion.validation import dump_plan, load_plan_file

        overrides = parse_overrides(provider)
        movie = _check_output(output)  # before any planning or rendering
        path = Path(target)
        on_disk = _on_disk(target)
        if on_disk is not None and not stat.S_ISREG(on_disk.st_mode):
            kind = "a folder" if stat.S_ISDIR(on_disk.st_mode) else "not a regular file"
            raise PlanParseError(
                f"{_safe(target)} is not a plan file ({kind}): give a .yaml, .yml or .json "
                "plan, or an idea in quotes"
            )
        is_file = path.suffix.lower() in PLAN_SUFFIXES or on_disk is not None
        planned: MoviePlan | PlanValidation
        if is_file:
            if on_disk is None:
                raise PlanParseError(f"{_safe(target)} does not exist or is not a file")
            planned = load_plan_file(path, profile=profile)  # validated once, here
            plan = planned.plan
            if aspect is not None or music is not None or subtitles is not None:
                from sparkle_motion.planner.reshape import reshape
                from sparkle_motion.validation import validate_plan

                plan = reshape(
                    plan,
                    aspect=aspect.value if aspect else None,
                    music=_music_option(music, path.parent),
                    subtitles=subtitles.value if subtitles else None,
                )
                planned = validate_plan(plan, base_dir=path.parent, profile=profile)
        else:
            from sparkle_motion.planner.reshape import reshape
            from sparkle_motion.script_agent import generate_plan

            plan = planned = generate_plan(target, model=model)  # run_plan validates it
            _note_offline_explainer(target, model)
            beside = movie or Path(f"{_slug(plan.title)}.mp4").resolve()
            plan_file = beside.with_suffix(".plan.yaml")
            shape = {
                "aspect": aspect.value if aspect else None,
                "music": _music_option(music, plan_file.parent),
                "subtitles": subtitles.value if subtitles else None,
            }
            raw, plan = plan, reshape(plan, **shape)
            planned = plan
            # a plan file the planner wrote (in any shape) is not an edit
            if not replan and _is_edited(plan_file, plan) and _is_edited(plan_file, raw):
                try:
                    planned = load_plan_file(plan_file, profile=profile)
                except PlanError as exc:
                    exc.message = f"{plan_file.name}: {exc.message}"
                    exc.hint = exc.hint or "your edited plan: fix it, or plan again with --replan"
                    raise
                plan = planned.plan
                if any(v is not None for v in shape.values()):  # the options win over the file
                    from sparkle_motion.validation import validate_plan

                    plan = reshape(plan, **shape)
                    planned = validate_plan(plan, base_dir=plan_file.parent, profile=profile)
                err.print(f"Using your edited plan {_safe(plan_file)} (plan again with --replan)")
            elif not dry:
                _check_output(str(beside))  # the default movie path, before the plan file
                _write_atomic(plan_file, dump_plan(plan))
                err.print(
                    f"Plan: {_safe(plan_file)}  "
                    f"(edit it and run it again: sparkle-motion run {_safe(plan_file)})"
                )
            movie = movie or beside
        if dry:
            report = execute_plan(planned, mode="dry", profile=profile, providers=overrides)
            _print_dry_report(report)  # type: ignore[arg-type]
            from sparkle_motion.config import get_settings

            line = _render_estimate(plan, profile or get_settings().profile, provider)
            out.print(f"{_safe(line[:1].upper() + line[1:])}.")
            return
        movie = movie or _check_output(f"{_slug(plan.title)}.mp4")
        from sparkle_motion.production_agent import new_run_id

        run_id = new_run_id()
        with _CtrlC(run_id), _ProgressView(plan, profile) as view, _debug_env():
            result = run_plan(
                planned,
                base_dir=None if is_file or music is None else plan_file.parent,
                profile=profile,
                providers=overrides,
                output=movie,
                on_progress=view,
                run_id=run_id,
            )
        _finish(result)


def _print_dry_report(report: SimulationReport) -> None:
    from rich.table import Table

    table = Table(title=f"Dry run of plan {_safe(report.plan_id)}", title_justify="left")
    for column in ("step", "type", "provider", "needs", "est. time", "GPU MiB"):
        table.add_column(column)
    for s in report.steps:
        table.add_row(
            _safe(s.step_id),
            _safe(s.step_type),
            _safe(s.provider),
            _safe(", ".join(s.depends_on) or "-"),
            f"{s.estimated_runtime_s:.1f} s",
            str(s.estimated_gpu_memory_mb or "-"),
        )
    out.print(table, soft_wrap=False)  # tables fit the terminal
    out.print(f"{_count(len(report.steps), 'step')}; nothing was rendered.")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {_safe(warning)}")


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish (see: sparkle-motion status).")],
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="Where to write the movie.")
    ] = None,
    executor: ExecutorOption = None,
) -> None:
    """Finish a run that was stopped or killed, redoing no finished step."""
    _use_executor(executor)
    with _user_errors():
        from sparkle_motion.production_agent import resume_run, run_status

        movie = _check_output(output)
        row = run_status(run_id)
        view = _ProgressView(_saved_plan(row), row.get("profile"))
        with _CtrlC(run_id), view, _debug_env():
            result = resume_run(run_id, on_progress=view, output=movie)
        _finish(result)


def _use_executor(name: str | None) -> None:
    """``--executor``: the same as SPARKLE_EXECUTOR, for this process and its settings."""
    if name:
        import os

        os.environ["SPARKLE_EXECUTOR"] = name


def _saved_plan(row: dict) -> dict:
    """The plan a run row recorded."""
    import json

    return json.loads(row["plan_json"])["plan"]


@app.command()
def status(
    run_id: Annotated[
        str | None, typer.Argument(help="A run id; without it, the latest runs.")
    ] = None,
    timings: Annotated[
        bool,
        typer.Option("--timings", help="With RUN_ID: where the run's time went, stage by stage."),
    ] = False,
) -> None:
    """List recent runs, or show one run's steps (--timings: where its time went)."""
    with _user_errors():
        from datetime import datetime

        from rich.table import Table

        from sparkle_motion.production_agent import run_status

        if run_id is None:
            rows = run_status()
            if not rows:
                out.print('No runs yet. Start one with: sparkle-motion run "an idea"')
                return
            # one line per run at any width: the id (the handle) is never cut, the rest is
            table = Table(box=None, show_edge=False, pad_edge=False, title="Runs, newest first",
                          title_justify="left")  # fmt: skip
            widest = max(len(r["run_id"]) for r in rows)
            table.add_column("run", no_wrap=True, min_width=widest)
            table.add_column("status", no_wrap=True, min_width=11)
            table.add_column("started", no_wrap=True, min_width=11)
            table.add_column("movie", no_wrap=True)
            room = max(10, out.width - widest - 11 - 11 - 3 * 2)  # the columns and their gaps
            for row in rows:
                started = datetime.fromtimestamp(row["created_at"]).strftime("%m-%d %H:%M")
                title = _saved_plan(row).get("title", "")
                what = title if row["status"] == "succeeded" else _run_line(row, title)
                what = what if len(what) <= room else what[: room - 1] + "…"
                table.add_row(_safe(row["run_id"]), _safe(row["status"]), started, _safe(what))
            out.print(table, soft_wrap=False)  # tables fit the terminal
            out.print("Details of one run: sparkle-motion status RUN_ID")
            return
        info = run_status(run_id)
        if timings:
            _print_timings(info)
            return
        state = "running (live)" if info["live"] else info["status"]
        title = _saved_plan(info).get("title", "")
        started = datetime.fromtimestamp(info["created_at"]).strftime("%Y-%m-%d %H:%M")
        out.print(f"run {_safe(run_id)} · {_safe(state)} · {_safe(title)} · started {started}")
        table = Table(box=None, show_edge=False, pad_edge=False)
        records = info["records"]
        widest = max((len(r.step_id) for r in records), default=4)
        table.add_column("step", no_wrap=True, min_width=widest)
        for column, width in (("type", 8), ("status", 9), ("tries", 5), ("time", 7)):
            table.add_column(column, no_wrap=True, min_width=width)
        table.add_column("output", no_wrap=True, overflow="ellipsis", ratio=1)
        failures = []
        for r in records:
            if r.error_message:
                failures.append(r)
                detail = "error: see below"
            else:
                detail = _record_output(r)
            took = f"{r.duration_s:.1f} s" if r.duration_s is not None else ""
            table.add_row(
                _safe(r.step_id), _safe(r.step_type), _safe(r.status), str(r.attempts or ""),
                took, _safe(detail),
            )  # fmt: skip
        out.print(table, soft_wrap=False)  # tables fit the terminal
        for r in failures:
            err.print(f"[red]{_safe(r.step_id)}:[/red] {_safe(r.error_message)}")
        _print_scorecard(run_id)
        if info["status"] in ("failed", "interrupted") and not info["live"]:
            out.print(f"Finish it with: sparkle-motion resume {_safe(run_id)}")


def _print_timings(info: dict) -> None:
    """``status RUN_ID --timings``: per step kind, the assembly and its stages."""
    from rich.table import Table

    from sparkle_motion.db.store import get_store
    from sparkle_motion.estimates import breakdown

    records = info["records"]
    meta: dict = {}
    movie = next((r for r in records if r.step_id == "assemble" and r.artifact_uri), None)
    if movie is not None:
        found = get_store().artifacts(uri=movie.artifact_uri)
        meta = found[0]["metadata"] if found else {}
    wall = max(0.0, (info.get("updated_at") or 0) - (info.get("created_at") or 0))
    table = Table(box=None, show_edge=False, pad_edge=False,
                  title=f"Run {_safe(info['run_id'])}: {wall:.1f} s",
                  title_justify="left")  # fmt: skip
    for column in ("stage", "seconds", "of the run", "what"):
        table.add_column(column, no_wrap=True)
    for stage, seconds, note in breakdown(
        records, meta.get("stages_s"), meta.get("segments_ahead") or 0
    ):
        share = f"{100 * seconds / wall:.0f} %" if wall else ""
        table.add_row(_safe(stage), f"{seconds:.2f}", share, _safe(note))
    out.print(table, soft_wrap=False)
    out.print("Steps run side by side, so their seconds add up to more than the run's.")


def _record_output(record: Any) -> str:
    """What a step made, in words: "cached · preview · 11.6 s"."""
    meta = record.meta or {}
    parts = ["cached"] if record.cache_hit else []
    if meta.get("provider"):
        parts.append(str(meta["provider"]))
    if meta.get("num_frames"):
        parts.append(_count(int(meta["num_frames"]), "frame"))
    elif meta.get("duration_s"):
        parts.append(f"{float(meta['duration_s']):.1f} s")
    return " · ".join(parts)


def _run_line(row: dict, title: str) -> str:
    """A run that did not finish, in a few words, the why first: "1 step failed (img3) · A cat"."""
    import re

    summary = " ".join((row.get("summary") or "").split())
    found = re.match(r"(\d+) step\(s\) failed, (\d+) skipped; first: ([^:]+):", summary)
    if found:
        n = int(found[1])
        summary = f"{_count(n, 'step')} failed ({found[3]})"
    return f"{summary} · {title}" if summary else title


def _print_scorecard(run_id: str) -> None:
    """The run's QA scorecard (movie.qa.json): per shot its decision, attempts and faults."""
    from rich.table import Table

    from sparkle_motion.production import scorecard
    from sparkle_motion.workspace import get_workspace

    card = scorecard.read(get_workspace().run_dir(run_id))
    if card is None:
        out.print("QA scorecard: none yet (written with the movie)")
        return
    table = Table(
        title=f"QA scorecard ({_safe(card['qa_provider'])})", title_justify="left", box=None,
        show_edge=False, pad_edge=False,
    )  # fmt: skip
    for column in ("shot", "type", "decision", "attempts", "seeds", "faults", "in movie"):
        table.add_column(column)
    for s in card["shots"]:
        table.add_row(
            _safe(s["step_id"]), _safe(s["type"]), _safe(s["decision"]), str(s["attempts"]),
            _safe(", ".join(str(x) for x in s["seeds"])), _safe(", ".join(s["flags"]) or "-"),
            "yes" if s["in_movie"] else "no",
        )  # fmt: skip
    out.print(table, soft_wrap=False)


@app.command()
def voices(
    provider: Annotated[
        str | None,
        typer.Option(help="Only this provider (e.g. espeak-local, fixture-local)."),
    ] = None,
) -> None:
    """List the TTS providers (tier, features, whether they can speak here) and the voices a
    plan's narration can use (``voice: emma``)."""
    with _user_errors():
        from rich.table import Table

        from sparkle_motion.tts_agent import BACKENDS
        from sparkle_motion.voices import list_available_voices, load_catalog

        catalog = load_catalog()
        ptable = Table(title="TTS providers", title_justify="left")
        for column in ("provider", "tier", "profile", "features", "watermark", "here"):
            # names never cut: a feature wraps between names, a provider id not at all
            ptable.add_column(
                column, no_wrap=column == "provider", min_width=15 * (column == "features")
            )
        notes: list[str] = []
        for pid, p in catalog.providers.items():
            if provider is not None and pid != provider:
                continue
            if not p.available or p.profile is None:
                here = "not built yet"
            else:
                missing = BACKENDS.missing(pid, p)
                here = "available" if missing is None else "missing (below)"
                if missing is not None:  # a long install line: under the table, unwrapped
                    notes.append(f"{pid}: {missing}")
            ptable.add_row(
                *(
                    _safe(x)
                    for x in (
                        pid, p.tier, p.profile or "-", ", ".join(p.features) or "-",
                        "yes" if p.watermarking else "no", here,
                    )
                )
            )  # fmt: skip
        out.print(ptable)
        for note in notes:
            out.print(_safe(note), soft_wrap=True, highlight=False)
        table = Table(title="Voices (configs/tts_providers.yaml)", title_justify="left")
        for column in ("voice", "provider", "speaks as", "languages", "about"):
            table.add_column(column)
        for v in list_available_voices(provider):
            about = catalog.voices[v.voice_id].description or v.display_name
            langs = ", ".join(v.language_codes[:4]) + ("…" if len(v.language_codes) > 4 else "")
            table.add_row(
                *(
                    _safe(x)
                    for x in (v.voice_id, v.provider, v.provider_voice_id or "", langs, about)
                )
            )
        out.print(table, soft_wrap=False)  # tables fit the terminal


@app.command()
def review(
    request_id: Annotated[
        int | None, typer.Argument(help="A review request to decide; without it, list them.")
    ] = None,
    approve: Annotated[bool, typer.Option("--approve", help="Approve the artifact.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the artifact.")] = False,
) -> None:
    """List artifacts held for human review (quarantined by QA), or approve/reject one."""
    with _user_errors():
        from rich.table import Table

        from sparkle_motion.db.store import get_store
        from sparkle_motion.errors import ConfigError

        store = get_store()
        if request_id is None:
            pending = store.review_requests(status="pending")
            if not pending:
                out.print("Nothing is waiting for review.")
                return
            table = Table(title="Waiting for review", title_justify="left")
            for column in ("id", "run", "step", "reason", "artifact"):
                table.add_column(column)
            for r in pending:
                table.add_row(
                    str(r["id"]), _safe(r["run_id"] or ""), _safe(r["step_id"] or ""),
                    _safe(r["reason"]), _safe(r["artifact_uri"] or ""),
                )  # fmt: skip
            out.print(table, soft_wrap=False)  # tables fit the terminal
            return
        if approve == reject:
            raise ConfigError("say --approve or --reject")
        if not store.review_requests(id=request_id):
            raise ConfigError(f"no review request {request_id}")
        store.resolve_review_request(request_id, "approved" if approve else "rejected")
        out.print(f"review request {request_id}: {'approved' if approve else 'rejected'}")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _one_ray_for_all_runs() -> None:
    """With the Ray executor and no cluster address, the server starts one local Ray and
    gives its address to every run's process: they share its GPU actors (and take turns),
    instead of each starting a Ray of its own with all the GPUs."""
    from sparkle_motion.config import get_settings

    settings = get_settings()
    if settings.executor != "ray" or os.environ.get("RAY_ADDRESS"):
        return
    from sparkle_motion.executors.ray import ensure_ray

    ray = ensure_ray(settings.effective_cpu_slots, settings.gpu_slots)
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    err.print(f"Ray: a local instance for this server's runs ({os.environ['RAY_ADDRESS']})")


def _check_port(host: str, port: int) -> None:
    """A port another program holds is one line, before anything starts."""
    import socket

    from sparkle_motion.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {_safe(host)}:{port}: {exc.strerror or exc}",
                field="--port",
                hint="another program uses it: pick another with --port",
            ) from None


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; another than loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Runs at once (each in a process of its own).", min=1)
    ] = 1,
    executor: ExecutorOption = None,
) -> None:
    """Serve the studio page and the HTTP API (OpenAPI at /docs).

    Open http://127.0.0.1:8000 to type an idea, watch it being made, play it, edit a line
    and re-run, and approve what QA held back. Runs survive a restart: a run the server was
    making when it stopped is marked interrupted and its Resume button finishes it.

    Set SPARKLE_API_TOKEN to require 'Authorization: Bearer <token>' on every API route;
    listening beyond this machine (--host 0.0.0.0) needs it.
    """
    with _user_errors():
        from sparkle_motion.errors import ConfigError
        from sparkle_motion.service.app import TOKEN_ENV, create_app

        if not _is_loopback(host) and not os.environ.get(TOKEN_ENV):
            raise ConfigError(
                f"--host {_safe(host)} would let other machines in without a token",
                field="--host",
                hint=f"set {TOKEN_ENV} to a secret, or serve on 127.0.0.1",
            )
        _check_port(host, port)
        _use_executor(executor)
        _one_ray_for_all_runs()
        import uvicorn

        api = create_app(workers=workers)
        err.print(f"Sparkle Motion studio: http://{_safe(host)}:{port}  (Ctrl-C stops it)")
        uvicorn.run(api, host=host, port=port, log_level="warning")


@app.command()
def models(
    name: Annotated[
        str | None,
        typer.Argument(help="One backend (sdxl, wan, chatterbox, wav2lip, qwen2vl) in detail."),
    ] = None,
) -> None:
    """Which full-profile model backends are installed here, and where their weights go
    (nothing is downloaded). Example: sparkle-motion models wav2lip"""
    with _user_errors():
        from rich.table import Table

        from sparkle_motion.errors import ConfigError
        from sparkle_motion.providers import MODEL_BACKENDS, model_status, wav2lip_instructions

        if name is not None and name not in MODEL_BACKENDS:
            raise ConfigError(f"no model backend {name!r} (one of {', '.join(MODEL_BACKENDS)})")
        if name is not None:
            status = model_status(name)
            state = "installed" if status.problem is None else f"missing: {status.problem}"
            out.print(f"{_safe(name)} ({_safe(status.tool)}, full): {_safe(state)}",
                      soft_wrap=True, highlight=False)  # fmt: skip
            lines = wav2lip_instructions() if name == "wav2lip" else [f"weights: {status.weights}"]
            for line in lines:
                out.print(_safe(line), soft_wrap=True, highlight=False)
            return
        table = Table(title="Full-profile model backends", title_justify="left")
        for column in ("model", "tool", "here", "weights go"):
            table.add_column(column, no_wrap=column in ("model", "tool", "here"))
        notes: list[str] = []
        for key in MODEL_BACKENDS:
            status = model_status(key)
            here = "installed" if status.problem is None else "missing (below)"
            if status.problem is not None:
                notes.append(f"{key}: {status.problem}")
            table.add_row(*(_safe(x) for x in (key, status.tool, here, status.weights)))
        out.print(table)
        for note in notes:  # long install lines: under the table, unwrapped
            out.print(_safe(note), soft_wrap=True, highlight=False)


@app.command()
def schema(
    draft: Annotated[
        bool, typer.Option("--draft", help="The slim draft schema given to LLM planners.")
    ] = False,
) -> None:
    """Print the MoviePlan JSON Schema."""
    with _user_errors():
        import json

        if draft:
            from sparkle_motion.planner.draft import PlanDraft

            data = PlanDraft.model_json_schema()
        else:
            from sparkle_motion.types import MoviePlan

            data = MoviePlan.model_json_schema()
        sys.stdout.write(json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------------------------ help text

_METAVARS = {
    "output": "FILE", "music": "FILE", "provider": "TOOL=PROFILE", "model": "MODEL",
    "profile": "NAME",
}  # fmt: skip


def _reflow(doc: str | None) -> str | None:
    """A docstring as help: lines of a paragraph joined (the terminal wraps them at its own
    width), indented lines (examples) kept on their own, RST ``code`` shown as `code`."""
    if not doc:
        return doc
    paragraphs = []
    for block in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in block.splitlines():
            if line.startswith("  ") or not lines or lines[-1].startswith("  "):
                lines.append(line)
            else:
                lines[-1] = f"{lines[-1]} {line.strip()}"
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs).replace("``", "`")


def _plain_help() -> None:
    """Help that reads like a man page at 80 columns. Typer labels every parameter with its
    Python type (``<bool>`` on flags, ``<list[str]>``) and braces required arguments; here
    flags stand bare, values show a NAME, arguments their name in capitals, and docstrings
    reflow instead of breaking where the source wrapped them."""
    from typer import core

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar:
            return self.metavar
        label = core.TyperOption.display_type(self, ctx).strip("<>")
        if "|" in label:  # choices: yaml|json
            return label.removeprefix("list[").removesuffix("]")
        return _METAVARS.get(self.name or "", (self.name or "value").upper())

    def argument_usage(self: Any) -> str:
        name = (self.name or "arg").upper() + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    if hasattr(core.TyperOption, "display_type_rich"):
        core.TyperOption.display_type_rich = option_type
    if hasattr(core.TyperArgument, "_usage_display_name"):
        core.TyperArgument._usage_display_name = argument_usage
        core.TyperArgument._rich_display_name = argument_usage
    if hasattr(core.TyperArgument, "display_type_rich"):
        core.TyperArgument.display_type_rich = lambda self, ctx: None
    for info in app.registered_commands:
        if info.help is None and info.callback is not None:
            info.help = _reflow(info.callback.__doc__)


_plain_help()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
