"""The disallowed-content check: what it must catch, and what it must leave alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkle_motion.errors import PlanPolicyViolation
from sparkle_motion.policy import check_text, find_disallowed, load_policy


@pytest.mark.parametrize(
    "text",
    [
        "NSFW",
        "an nsfw scene",
        "N.S.F.W.",
        "n s f w",
        "n-s-f-w version",
        "ｎｓｆｗ",  # fullwidth letters (NFKC)
        "P0RN",  # digits for letters
        "pörn",  # accents
        "Porn!",
        "pornographic imagery",
        "explicit sexes",  # phrase, plural
        "lots of GORE",
        "how to make a bomb",
        "Child Porn",
    ],
)
def test_catches(text: str) -> None:
    assert find_disallowed(text), text


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe United win the cup",
        "a cottage in Sussex",
        "Middlesex and Essex",
        "the therapist listens",
        "a careful analysis of grapes",
        "a cocktail party",
        "a nude lipstick advert",
        "the gorge at dawn",
        "Gorey, a town in Ireland",
        "pornstar martini",  # a cocktail; 'porn' only matches as a whole word
        "a lighthouse keeper befriends a whale",
        "bombay duck",
        "an old bomber jacket",
    ],
)
def test_leaves_alone(text: str) -> None:
    assert find_disallowed(text) == [], text


def test_violation_names_field_and_category() -> None:
    with pytest.raises(PlanPolicyViolation) as err:
        check_text("a movie with gore", "steps[3].prompt")
    assert err.value.field == "steps[3].prompt"
    assert err.value.details["category"] == "graphic_violence"
    assert "gore" in str(err.value)


def test_free_text_length_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    check_text("x" * 2000, "idea")
    with pytest.raises(PlanPolicyViolation, match="2,001 characters; the limit is 2,000"):
        check_text("x" * 2001, "idea")
    monkeypatch.setenv("SPARKLE_MAX_TEXT_LENGTH", "5000")
    check_text("x" * 4000, "idea")


def test_policy_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policy.yaml").write_text(
        "version: v1\ncategories:\n  brand:\n    action: reject\n    terms: [acme widgets]\n"
        "  mild:\n    action: warn\n    terms: [spooky]\n"
    )
    monkeypatch.setenv("SPARKLE_CONFIG_DIR", str(tmp_path))
    assert [m.category for m in find_disallowed("Buy ACME widgets now", load_policy())] == ["brand"]
    assert find_disallowed("nsfw", load_policy()) == []  # the file replaces the default
    decisions = check_text("a spooky house", "title")
    assert [d.action for d in decisions] == ["warn"]
    with pytest.raises(PlanPolicyViolation):
        check_text("acme widget", "title")
