"""What the planner understood of an idea, in a shape every language shares.

Each language's reader (english.py, spanish.py, chinese.py) fills in an :class:`Idea`: the
kind of story, the event, the cast with counts, the things and places the pictures must
show (as lexicon concepts, so they can be drawn in English), and the slots its own teller
writes sentences with. Nothing here depends on a language library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# the kinds of story (arcs.py tells each one)
KINDS = (
    "quest", "loss", "learning", "teaching", "rivalry", "friendship", "disaster", "making",
    "transformation", "waiting", "fear", "journey", "explainer", "story",
)  # fmt: skip

MAKING = ("build", "make", "bake", "cook", "repair", "fix", "plant", "paint", "invent",
          "write", "grow", "sew", "draw", "open")  # fmt: skip
JOURNEY = ("sail", "travel", "stow", "cross", "journey", "fly", "walk", "drive", "ride",
           "visit", "climb", "swim", "run", "escape")  # fmt: skip
# English event lemma -> kind of story
KIND_OF_EVENT: dict[str, str] = {
    **dict.fromkeys(("search", "seek", "look", "hunt", "solve", "find", "explore"), "quest"),
    **dict.fromkeys(("lose", "miss", "forget"), "loss"),
    **dict.fromkeys(("learn", "want", "practise", "practice", "try"), "learning"),
    "teach": "teaching",
    **dict.fromkeys(("race", "compete", "win", "beat", "fight", "battle", "challenge"), "rivalry"),
    **dict.fromkeys(("befriend", "meet", "join", "become", "love", "help"), "friendship"),
    **dict.fromkeys(MAKING, "making"),
    **dict.fromkeys(("come", "turn", "transform"), "transformation"),
    "wait": "waiting",
    **dict.fromkeys(("fear", "be_afraid", "dread"), "fear"),
    **dict.fromkeys(JOURNEY, "journey"),
    **dict.fromkeys(("reach", "wake", "flood", "erupt", "strike", "hit"), "disaster"),
}


@dataclass(frozen=True)
class Figure:
    """Someone or something the pictures draw: a lexicon concept and how many."""

    concept: str
    count: int = 1  # 0: some (a plural without a number)


@dataclass(frozen=True)
class Idea:
    text: str
    lang: str  # en, es, zh
    kind: str
    event: str  # English lemma of the idea's event ("lose", "paint")
    cast: tuple[Figure, ...]  # the characters, hero first
    things: tuple[Figure, ...] = ()  # objects the story turns on, and the tools its event needs
    places: tuple[str, ...] = ()  # place concepts, the idea's own first
    weather: str | None = None  # a trouble of weather the idea names ("storm")
    night: bool = False
    slots: dict[str, str] = field(default_factory=dict)  # the teller's words, in the language

    def __post_init__(self) -> None:
        # each reader collects figures and places as it meets them: keep each once, in the
        # order first named (the hero first), as tuples
        for name in ("cast", "things", "places"):
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))
