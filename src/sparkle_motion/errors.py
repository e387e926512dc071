"""The error taxonomy: every failure a user or caller can see.

Each error has a stable machine-readable ``code`` (for HTTP bodies, logs and scripts), the
``field`` at fault where there is one, and a one-line human message. Interfaces print
``str(err)`` as one red line and exit with ``err.exit_code``; they never show a traceback
unless asked to (``--debug``).

``retryable`` tells production_agent's retry policy whether another attempt can help.
Errors pickle with every attribute, so a step that fails in another process (a process or
Ray executor) arrives in the scheduler as the same error.
"""

from __future__ import annotations

from typing import Any


class SparkleError(Exception):
    """Base of every error Sparkle Motion raises on purpose."""

    code: str = "sparkle_error"
    exit_code: int = 1
    retryable: bool = False
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        # One line, always: multi-line text from a library would break the CLI's promise.
        self.message = " ".join(str(message).split())
        self.field = field
        self.hint = hint
        self.details = dict(details or {})
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles as cls(*args), which loses keyword-only fields (field, hint,
        # model_key, ...) and fails for classes whose __init__ takes other arguments.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}" if self.field else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description, as HTTP bodies and memory events carry it."""
        return {
            "error_type": type(self).__name__,
            "code": self.code,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
        }


def _rebuild(cls: type[SparkleError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


# --------------------------------------------------------------------------- plans


class PlanError(SparkleError):
    """A MoviePlan (or the idea it came from) cannot be accepted."""

    code = "plan_error"
    http_status = 422


class PlanParseError(PlanError):
    """Stage 1: the text is not valid JSON/YAML, too large, or a YAML bomb."""

    code = "plan_parse"
    exit_code = 3
    http_status = 400


class PlanSchemaError(PlanError):
    """Stages 2–3: missing or invalid fields, bad references, cycles, unsafe paths."""

    code = "plan_schema"
    exit_code = 4

    def __init__(self, message: str, *, stage: str = "schema", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.stage = stage
        self.details.setdefault("stage", stage)


class PlanPolicyViolation(PlanError):
    """Stage 4: disallowed content or over-long free text."""

    code = "plan_policy"
    exit_code = 5


# The spec's production_agent section calls the same thing PolicyViolationError.
PolicyViolationError = PlanPolicyViolation


class PlanResourceError(PlanError):
    """Stage 5: the plan would exceed a configured budget (frames, steps, backlog)."""

    code = "plan_resource"
    exit_code = 6


class BacklogFullError(PlanResourceError):
    """The service's queue is full: the plan is fine, the moment is not. HTTP 503 with
    ``Retry-After`` (``details['retry_after_s']``), unlike a plan over budget (422)."""

    code = "backlog_full"
    retryable = True
    http_status = 503


# ------------------------------------------------------------------- providers, runtime


class ConfigError(SparkleError):
    """A configuration file or environment variable has an unusable value."""

    code = "config_error"
    exit_code = 2


class WorkspaceError(SparkleError):
    """The workspace (``SPARKLE_HOME``) or its database cannot be used: corrupt, read-only, full."""

    code = "workspace_error"
    exit_code = 1


class MissingDependencyError(SparkleError):
    """A provider needs a package, weights or credentials that are not here."""

    code = "missing_dependency"
    exit_code = 7
    http_status = 503


class ADKUnavailableError(MissingDependencyError):
    """google-adk, or the credentials an ADK-backed model needs, are missing."""

    code = "adk_unavailable"


class ProviderSelectionError(SparkleError):
    """No provider satisfies the request's constraints."""

    code = "provider_selection"


class RateLimitError(SparkleError):
    """A token bucket is empty and queueing is not allowed."""

    code = "rate_limited"
    retryable = True
    http_status = 429


class AuthError(SparkleError):
    """The service wants a token this request did not bring."""

    code = "unauthorized"
    exit_code = 2
    http_status = 401


class NotFoundError(SparkleError):
    """The service has no run, artifact or review with that id."""

    code = "not_found"
    exit_code = 2
    http_status = 404


class ArtifactError(SparkleError):
    """An artifact could not be published or read back intact."""

    code = "artifact_error"


# --------------------------------------------------------------------------------- TTS


class TTSError(SparkleError):
    code = "tts_error"


class TTSRetryableError(TTSError):
    """Transient: timeouts, 429s, 5xx. ``retry_after_s`` when the provider says."""

    code = "tts_retryable"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class TTSProviderUnavailable(TTSRetryableError):
    code = "tts_provider_unavailable"


class TTSServerError(TTSRetryableError):
    code = "tts_server_error"


class TTSQuotaExceeded(TTSError):
    """Do not retry on the same provider; fail over."""

    code = "tts_quota_exceeded"


class TTSInvalidInputError(TTSError):
    """Text or parameters the provider cannot speak; never retried."""

    code = "tts_invalid_input"
    http_status = 400


class TTSPolicyViolation(TTSError):
    code = "tts_policy"
    http_status = 422


# ------------------------------------------------------------------------------ models


class ModelError(SparkleError):
    code = "model_error"


class ModelOOMError(ModelError):
    """Out of memory while loading or running a model, with what was attempted."""

    code = "model_oom"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        model_key: str,
        weights: str | None = None,
        attempted_device_map: Any = None,
        peak_vram_mb: float | None = None,
        traceback_snippet: str = "",
        stage: str = "inference",
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.model_key = model_key
        self.weights = weights
        self.attempted_device_map = attempted_device_map
        self.peak_vram_mb = peak_vram_mb
        self.traceback_snippet = traceback_snippet
        self.stage = stage
        self.details.update(
            model_key=model_key,
            weights=weights,
            attempted_device_map=attempted_device_map,
            peak_vram_mb=peak_vram_mb,
            stage=stage,
        )


class ModelLoadTimeout(ModelError):
    code = "model_load_timeout"
    retryable = True


class ModelLoadError(ModelError):
    code = "model_load_error"


class ImagesBatchTimeout(ModelError, TimeoutError):
    """Every attempt of one images_sdxl batch ran past ``per_batch_timeout_s``.

    Not retryable: images_agent already retried the batch, and the caller's retries would
    multiply the attempts.
    """

    code = "images_batch_timeout"
    retryable = False


class ImagesSDXLTimeout(ModelError, TimeoutError):
    """The call ran past ``per_batch_timeout_s``; the pipeline was interrupted cooperatively."""

    code = "images_sdxl_timeout"
    retryable = True


class ImagesSDXLCancelled(ImagesSDXLTimeout):
    """``opts["cancel_event"]`` was set; the pipeline was interrupted cooperatively."""

    code = "images_sdxl_cancelled"
    retryable = False


class VideosWanCancelled(ModelError):
    """``opts["cancel"]`` was set during a videos_wan call; the pipeline stopped at the next
    denoising step (cooperative, through its step callback)."""

    code = "videos_wan_cancelled"
    retryable = False


# ------------------------------------------------------------------- media, processes


class AssemblyError(SparkleError):
    """The inputs cannot be assembled: unsafe or missing files, nothing to show, bad media."""

    code = "assembly_error"
    http_status = 422


class SubprocessError(SparkleError):
    """A command failed, timed out, or could not start (``result`` says what it did)."""

    code = "subprocess_error"

    def __init__(self, message: str, *, result: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.result = result


class SubprocessTimeout(SubprocessError):
    code = "subprocess_timeout"
    retryable = True


# -------------------------------------------------------------------------------- runs


class RunInterrupted(SparkleError):
    """The run was stopped (Ctrl-C); it can be finished with ``resume``."""

    code = "run_interrupted"
    exit_code = 130
    http_status = 409

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id} interrupted; finish it with: sparkle-motion resume {run_id}"
        )
        self.run_id = run_id


class StepWorkerLost(SparkleError):
    """The process or machine running a step went away mid-step (a killed Ray worker, a
    lost node); another attempt, elsewhere, can finish it."""

    code = "worker_lost"
    retryable = True


class RunStateError(SparkleError):
    """A run cannot be resumed: unknown, still alive, or already finished."""

    code = "run_state"
    exit_code = 2
    http_status = 409


class RunFailed(SparkleError):
    """``execute_plan(mode="run")`` on a run that did not succeed (``.result`` has why)."""

    code = "run_failed"

    def __init__(self, result: Any) -> None:
        super().__init__(f"run {result.run_id} failed: {result.summary}")
        self.result = result
