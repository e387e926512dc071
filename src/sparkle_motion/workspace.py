"""The workspace: where runs, artifacts and the database live (``SPARKLE_HOME``).

Layout (see docs/workspace.md)::

    <home>/sparkle.db          SQLite store (WAL): runs, step records, artifacts, events, ...
    <home>/blobs/ab/<sha256>.<ext>   content-addressed artifacts
    <home>/runs/<run_id>/      per-run working folders (temp files, logs, copied inputs)
    <home>/adk_artifacts/      ADK FileArtifactService root
    <home>/llm/                raw LLM outputs, kept for audit
    <home>/tmp/                temp files for atomic writes (same filesystem as blobs/)
    <home>/models/             default models root (SPARKLE_MODELS_DIR overrides)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sparkle_motion.config import Settings, get_settings

DB_FILENAME = "sparkle.db"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILENAME

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def adk_artifacts(self) -> Path:
        return self.root / "adk_artifacts"

    @property
    def llm_outputs(self) -> Path:
        return self.root / "llm"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def blob_path(self, sha256: str, suffix: str = "") -> Path:
        return self.blobs / sha256[:2] / f"{sha256}{suffix}"

    def ensure(self) -> Workspace:
        for folder in (
            self.root,
            self.blobs,
            self.runs,
            self.adk_artifacts,
            self.llm_outputs,
            self.tmp,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def get_workspace(settings: Settings | None = None) -> Workspace:
    """The workspace for the current settings, created if missing."""
    settings = settings or get_settings()
    return Workspace(Path(settings.home).expanduser().resolve()).ensure()
