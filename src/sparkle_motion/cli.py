"""The ``sparkle-motion`` command line.

Every command prints its result to stdout and talks to the person on stderr. Bad input
is one red line naming the field at fault, with a non-zero exit code (3 parse, 4 schema,
5 policy, 6 resources, 2 usage, 1 anything else); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sparkle_motion import __version__

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
_state = {"debug": False}


class PlanFormat(StrEnum):
    yaml = "yaml"
    json = "json"


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors into one red line and an exit code (a traceback only with --debug)."""
    from sparkle_motion.errors import SparkleError

    try:
        yield
    except SparkleError as exc:
        if _state["debug"]:
            err.print_exception()
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: still one line, the traceback is a flag away
        if _state["debug"]:
            err.print_exception()
        message = " ".join(str(exc).split()) or type(exc).__name__
        err.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {message} "
            "(run with --debug for the traceback)"
        )
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"sparkle-motion {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors.")
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


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _plan_summary(plan: object) -> str:
    from sparkle_motion.validation import estimate_speech_seconds, step_frames

    steps = plan.steps  # type: ignore[attr-defined]
    scenes = {s.scene for s in steps if s.scene}
    speech = sum(estimate_speech_seconds(s.text) for s in steps if s.type == "tts")
    frames = sum(step_frames(s) for s in steps)
    parts = [f"{len(steps)} steps"]
    if scenes:
        parts.append(f"{len(scenes)} scenes")
    parts.append(f"~{speech:.0f} s of narration")
    if frames:
        parts.append(f"{frames:,} video frames")
    return ", ".join(parts)


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
) -> None:
    """Write a MoviePlan for an idea.

    Example: sparkle-motion plan "a lighthouse keeper befriends a whale" -o plan.yaml
    """
    with _user_errors():
        from sparkle_motion.script_agent import generate_plan
        from sparkle_motion.validation import dump_plan

        started = time.perf_counter()
        movie = generate_plan(idea, model=model)
        elapsed = time.perf_counter() - started
        kind = (fmt.value if fmt else None) or (
            "json" if output and output.suffix.lower() == ".json" else "yaml"
        )
        text = dump_plan(movie, kind)
        summary = f"Planned [bold]{movie.title}[/bold]: {_plan_summary(movie)} ({elapsed:.1f} s)"
        if output is None:
            sys.stdout.write(text)
            err.print(summary)
            return
        _write_atomic(output, text)
        err.print(summary)
        err.print(f"Wrote {output}  (next: sparkle-motion validate {output})")


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
        runtime = sum(e.estimated_runtime_s for e in result.estimates)
        out.print(
            f"[green]✓[/green] {file} is valid: {_plan_summary(result.plan)}; "
            f"about {runtime:.0f} s to render on the {profile} profile"
        )
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/yellow] {warning}")


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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
