"""Per-category scores read back from a Qwen2-VL answer, whatever it wrapped them in.

A model asked for "one JSON object and nothing else" still writes prose around it, code
fences, single quotes, trailing commas, Python's True/None, percentages or keys without the
``_confidence`` suffix. :func:`parse_answer` finds the first object that reads as one after
those repairs and keeps the asked categories' numbers. A category it cannot find is
*missing*, never zero: the backend escalates such a frame to a person instead of approving
a picture nobody judged. Pure: text in, numbers out.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_MAX_CHARS = 20_000  # an answer is max_new_tokens long; this bounds the object search
_MAX_STARTS = 64
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class ParsedAnswer:
    """What one answer said: ``scores`` of the asked categories found, ``missing`` the rest,
    ``extra`` other numeric keys (kept for the record, never scored)."""

    scores: dict[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)
    found_json: bool = False

    @property
    def complete(self) -> bool:
        return self.found_json and not self.missing


def _objects(text: str) -> Iterator[str]:
    """Balanced ``{...}`` substrings, outermost first, in order (quotes respected), from
    the first ``_MAX_STARTS`` opening braces (an answer of braces stays cheap)."""
    starts = [i for i, c in enumerate(text) if c == "{"][:_MAX_STARTS]
    for start in starts:
        depth, quote, escaped = 0, "", False
        for end in range(start, len(text)):
            c = text[end]
            if quote:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : end + 1]
                    break


def _load(candidate: str) -> dict[str, Any] | None:
    """The object, after the usual repairs; None when it does not read."""
    fixed = _TRAILING_COMMA.sub(r"\1", candidate)
    try:
        value = json.loads(fixed)
    except ValueError:
        try:
            # single quotes, True/False/None: a Python literal
            value = ast.literal_eval(fixed)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _number(value: Any) -> float | None:
    """A confidence in [0, 1]: numbers, numeric strings, percentages (``"85%"`` or 85);
    None for anything else (``1.5``, ``"high"``, ``true``)."""
    if isinstance(value, bool) or value is None:
        return None
    percent = False
    if isinstance(value, str):
        m = _NUMBER.match(value)
        if not m:
            return None
        value, percent = float(m[1]), bool(m[2])
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    number = float(value)
    if percent or (1.0 < number <= 100.0 and number.is_integer()):
        number /= 100.0  # "85%" or 85: a percentage; 1.5 stays unreadable
    return number if 0.0 <= number <= 1.0 else None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _flatten(obj: dict[str, Any]) -> dict[str, Any]:
    """Nested objects (``{"scores": {...}}``) lifted to the top; the top wins a clash."""
    flat: dict[str, Any] = {}
    for value in obj.values():
        if isinstance(value, dict):
            for inner, v in _flatten(value).items():
                flat.setdefault(inner, v)
    for key, value in obj.items():
        if not isinstance(value, dict):
            flat[_key(key)] = value
    return flat


def _category(key: str, categories: Sequence[str]) -> str | None:
    for name in categories:
        if key in (name, name.removesuffix("_confidence"), name.removesuffix("_score")):
            return name
    return None


def parse_answer(text: str, categories: Sequence[str]) -> ParsedAnswer:
    """The asked ``categories``' scores in ``text``: the first JSON-like object (fenced
    blocks first) that holds at least one of them; every category otherwise missing."""
    text = (text or "")[:_MAX_CHARS]
    fenced = [m.group(1) for m in _FENCE.finditer(text)]
    found_json = False
    for source in [*fenced, text]:
        for candidate in _objects(source):
            obj = _load(candidate)
            if obj is None:
                continue
            found_json = True
            scores: dict[str, float] = {}
            extra: dict[str, float] = {}
            for key, value in _flatten(obj).items():
                number = _number(value)
                if number is None:
                    continue
                name = _category(key, categories)
                if name is None:
                    extra[key] = number
                else:
                    scores.setdefault(name, number)
            if scores:
                missing = tuple(c for c in categories if c not in scores)
                return ParsedAnswer(scores, missing, extra, True)
    return ParsedAnswer({}, tuple(categories), {}, found_json)
