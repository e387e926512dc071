"""The offline planner's evaluation (issue 10), as tests: each idea of ``ideas.yaml`` must
give a movie that tells that idea, in its language, with pictures that show it.

The checks live in :mod:`tests.eval.evaluate` (``python -m tests.eval.evaluate`` prints the
table); each idea is planned and drawn once per session.
"""

from __future__ import annotations

import functools

import pytest

from tests.eval import evaluate

IDEAS = evaluate.load_ideas()


@functools.cache
def _result(index: int) -> evaluate.IdeaResult:
    return evaluate.evaluate_idea(IDEAS[index])


def _id(entry: dict) -> str:
    return entry["idea"][:40]


def test_the_set_is_the_issue_s() -> None:
    ideas = {e["idea"] for e in IDEAS}
    assert len(ideas) == len(IDEAS) >= 40
    assert {e["lang"] for e in IDEAS} >= {"en", "es", "zh"}
    must = {
        "a chef in Paris loses her sense of taste", "a robot learns to paint",
        "two kids build a treehouse and a storm comes", "一只小猫在月球上寻找朋友",
        "make a video about the history of the Roman Empire",
        "a lighthouse keeper befriends a whale", "a girl teaches her grandfather to skateboard",
        "three pirates lose their ship in a storm", "a shy ghost wants to join a birthday party",
        "a farmer's scarecrow comes to life", "two rival bakers must share one oven",
        "an astronaut's cat stows away to the moon", "how bees make honey",
        "un niño encuentra un dragón en el bosque", "小女孩在雨中等公共汽车",
    }  # fmt: skip
    assert must <= ideas


@pytest.mark.parametrize("check", evaluate.CHECKS)
@pytest.mark.parametrize("index", range(len(IDEAS)), ids=[_id(e) for e in IDEAS])
def test_idea(index: int, check: str) -> None:
    ok, detail = _result(index).checks[check]
    assert ok, f"{IDEAS[index]['idea']}: {detail}"


def test_no_two_ideas_share_more_than_two_sentences() -> None:
    results = [_result(i) for i in range(len(IDEAS))]
    pairs = evaluate.shared_sentences(results)
    assert not pairs, "\n".join(f"{a} / {b}: {common}" for a, b, common in pairs[:5])
