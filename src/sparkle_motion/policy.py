"""Content policy: a disallowed-content check on free text, and the free-text length cap.

Text is normalised before matching (NFKC, casefold, accents removed, "n.s.f.w" or "n s f w"
joined into one word, digits used as letters undone), then terms match whole words or
phrases only, so "N.S.F.W" is caught and "Scunthorpe" or "Sussex" are not. Terms live in
``configs/policy.yaml`` (replaceable through ``SPARKLE_CONFIG_DIR``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkle_motion.config import Settings, config_path, get_settings, load_yaml
from sparkle_motion.errors import ConfigError, PlanPolicyViolation
from sparkle_motion.types import MoviePlan, PolicyDecision

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
_SYMBOL_LETTERS = re.compile(r"(?<=[^\W\d_])[@$](?=[^\W\d_])|^[@$](?=[^\W\d_])")
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Policy:
    """Terms by category, as token tuples, and the allowed phrases."""

    categories: dict[str, tuple[str, tuple[tuple[str, ...], ...]]]
    allow: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class PolicyMatch:
    category: str
    action: str
    term: str


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """Normalised word tokens of ``text`` (see the module docstring)."""
    text = _strip_accents(unicodedata.normalize("NFKC", text).casefold())
    text = _SYMBOL_LETTERS.sub(lambda m: "a" if m.group() == "@" else "s", text)
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    for tok in tokens:
        if any(c.isdigit() for c in tok) and any(c.isalpha() for c in tok):
            tok = tok.translate(_LEET)
        out.append(tok)
    return out


def _join_spelled_out(tokens: list[str]) -> list[str]:
    """Join runs of two or more one-letter tokens: ["n","s","f","w"] -> ["nsfw"]."""
    out: list[str] = []
    run: list[str] = []
    for tok in [*tokens, ""]:
        if len(tok) == 1 and tok.isalpha():
            run.append(tok)
            continue
        if len(run) >= 2:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if tok:
            out.append(tok)
    return out


def _contains(tokens: list[str], phrase: tuple[str, ...]) -> int:
    """Index where ``phrase`` starts in ``tokens`` (singular or plural last word), or -1."""
    n = len(phrase)
    last = phrase[-1]
    forms = {last, last + "s", last + "es"}
    if last.endswith("s") and len(last) > 3:
        forms.add(last[:-1])
    head = list(phrase[:-1])
    for i in range(len(tokens) - n + 1):
        if tokens[i + n - 1] in forms and tokens[i : i + n - 1] == head:
            return i
    return -1


def _remove_allowed(tokens: list[str], allow: tuple[tuple[str, ...], ...]) -> list[str]:
    for phrase in allow:
        while (i := _contains(tokens, phrase)) >= 0:
            tokens = [*tokens[:i], "\x00", *tokens[i + len(phrase) :]]
    return tokens


def find_disallowed(text: str, policy: Policy | None = None) -> list[PolicyMatch]:
    """Every policy term found in ``text``."""
    policy = policy or load_policy()
    base = _remove_allowed(tokenize(text), policy.allow)
    variants = [base]
    joined = _join_spelled_out(base)
    if joined != base:
        variants.append(joined)
    found: list[PolicyMatch] = []
    for category, (action, terms) in policy.categories.items():
        for term in terms:
            if any(_contains(tokens, term) >= 0 for tokens in variants):
                found.append(PolicyMatch(category, action, " ".join(term)))
    return found


def _phrase(term: Any, source: Path) -> tuple[str, ...]:
    tokens = tuple(tokenize(str(term)))
    if not tokens:
        raise ConfigError(f"{source}: empty policy term {term!r}")
    return tokens


@functools.lru_cache(maxsize=8)
def _load_policy_file(path: str, mtime: float) -> Policy:
    import yaml

    source = Path(path)
    try:
        data = load_yaml(source.read_text(encoding="utf-8")) or {}
        categories = {
            name: (
                str(spec.get("action", "reject")),
                tuple(_phrase(t, source) for t in spec.get("terms", [])),
            )
            for name, spec in (data.get("categories") or {}).items()
        }
        allow = tuple(_phrase(t, source) for t in data.get("allow", []))
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{source} is not a valid policy file: {exc}") from None
    for name, (action, _) in categories.items():
        if action not in ("reject", "warn"):
            raise ConfigError(f"{source}: category {name} has action {action!r} (reject|warn)")
    return Policy(categories=categories, allow=allow)


def load_policy(settings: Settings | None = None) -> Policy:
    """The policy from ``configs/policy.yaml`` (or its override in SPARKLE_CONFIG_DIR)."""
    path = config_path("policy.yaml", settings)
    return _load_policy_file(str(path), path.stat().st_mtime)


# ------------------------------------------------------------------------- plans


def plan_text_fields(plan: MoviePlan) -> Iterator[tuple[str, str, bool]]:
    """(field, text, check_terms) for every free-text field of a plan.

    Negative prompts are length-checked only: they name what to avoid ("nsfw, blurry").
    """
    yield "title", plan.title, True
    if plan.description:
        yield "description", plan.description, True
    for key, member in (plan.cast or {}).items():
        if member.name:
            yield f"cast.{key}.name", member.name, True
    for i, step in enumerate(plan.steps):
        where = f"steps[{i}]"
        if step.title:
            yield f"{where}.title", step.title, True
        for name in ("prompt", "text"):
            value = getattr(step, name, None)
            if value:
                yield f"{where}.{name}", value, True
        for j, line in enumerate(getattr(step, "lines", None) or []):
            yield f"{where}.lines[{j}].text", line.text, True
        opts = step.opts
        for name in ("prompt_2",):
            value = getattr(opts, name, None)
            if value:
                yield f"{where}.opts.{name}", value, True
        for name in ("negative_prompt", "negative_prompt_2"):
            value = getattr(opts, name, None)
            if value:
                yield f"{where}.opts.{name}", value, False
        if step.type == "custom":
            for key, value in (opts.model_extra or {}).items():
                if isinstance(value, str):
                    yield f"{where}.opts.{key}", value, True


def check_text(
    text: str,
    field: str,
    *,
    settings: Settings | None = None,
    policy: Policy | None = None,
    check_terms: bool = True,
) -> list[PolicyDecision]:
    """Policy decisions for one text; raises PlanPolicyViolation on the first rejection.

    Args:
        text: the free text (a prompt, a narration line, the idea).
        field: where it sits, named in the error (``steps[2].prompt``).
        check_terms: False for negative prompts (length only).
    """
    settings = settings or get_settings()
    if len(text) > settings.max_text_length:
        raise PlanPolicyViolation(
            f"is {len(text):,} characters; the limit is {settings.max_text_length:,}",
            field=field,
            hint="shorten it, or raise SPARKLE_MAX_TEXT_LENGTH",
            details={"category": "text_too_long"},
        )
    if not check_terms:
        return []
    decisions: list[PolicyDecision] = []
    for match in find_disallowed(text, policy or load_policy(settings)):
        decision = PolicyDecision(
            field=field,
            action="reject" if match.action == "reject" else "warn",
            category=match.category,
            term=match.term,
            message=f"contains disallowed content ({match.category}: {match.term!r})",
        )
        if decision.action == "reject":
            raise PlanPolicyViolation(decision.message, field=field, details=decision.model_dump())
        decisions.append(decision)
    return decisions


def check_plan_policy(plan: MoviePlan, settings: Settings | None = None) -> list[PolicyDecision]:
    """Stage 4: every free-text field of ``plan``; raises on the first rejection."""
    settings = settings or get_settings()
    policy = load_policy(settings)
    decisions: list[PolicyDecision] = []
    for field, text, terms in plan_text_fields(plan):
        decisions += check_text(text, field, settings=settings, policy=policy, check_terms=terms)
    return decisions
