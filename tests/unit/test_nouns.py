"""English nouns for the offline planner: plurals, singulars, a/an."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sparkle_motion.planner.story.nouns import a, plural, singular


@pytest.mark.parametrize(
    ("one", "many"),
    [("kid", "kids"), ("mouse", "mice"), ("child", "children"), ("wolf", "wolves"),
     ("city", "cities"), ("box", "boxes"), ("person", "people"), ("sheep", "sheep"),
     ("sense of taste", "senses of taste"), ("Baker", "Bakers")],
)  # fmt: skip
def test_plural_and_back(one: str, many: str) -> None:
    assert plural(one) == many
    if " " not in one:
        assert singular(many) == one.lower()


def test_a_word_that_is_no_plural_stays() -> None:
    assert [singular(w) for w in ("bus", "glass", "princess", "news", "kid")] == [
        "bus", "glass", "princess", "news", "kid",
    ]  # fmt: skip


def test_articles_follow_the_sound() -> None:
    assert [a(w) for w in ("owl", "unicorn", "hour", "European", "one-eyed cat", "8-year-old",
                           "ghost", "astronaut's cat")] == [
        "an owl", "a unicorn", "an hour", "a European", "a one-eyed cat", "an 8-year-old",
        "a ghost", "an astronaut's cat",
    ]  # fmt: skip


def test_planning_loads_no_typeguard() -> None:
    """inflect instrumented itself with typeguard on import (~2 s a plan): it is gone."""
    code = (
        "import sys\nfrom sparkle_motion.planner.story import write_draft\n"
        "write_draft('two kids build a treehouse')\n"
        "print('typeguard' in sys.modules, 'inflect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
