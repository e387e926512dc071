"""The offline planner's storyteller: an idea in one sentence to a scene-by-scene draft.

No model and no network: a small grammar finds the idea's characters (who, whom, where),
a setting table gives the place, its weather and its troubles, and beat templates tell a
five-part arc (setting, meeting, trouble, turn, ending), stretched to 4-8 scenes. Every
choice is made from a hash of the idea, so the same idea always gives the same story.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from sparkle_motion.planner.draft import PlanDraft, SceneDraft

DETERMINERS = {"a", "an", "the", "one", "some", "my", "his", "her", "their", "our", "this", "that"}
PREPOSITIONS = {
    "in", "on", "at", "under", "across", "through", "during", "from", "to", "near", "with",
    "by", "beyond", "inside", "above", "below", "into", "onto", "over", "after", "before",
    "around", "behind", "among", "for", "of", "about", "without", "within", "along", "toward",
    "towards", "upon",
}  # fmt: skip
NUMBER_WORDS = {"two", "three", "four", "five", "few", "many", "several"}
OBJECT_PREPOSITIONS = {"for", "with", "to", "about", "after"}
PLACE_VERBS = {"explore", "visit", "cross", "climb", "travel", "journey", "sail", "walk", "leave"}
CLAUSE_WORDS = {"who", "that", "which", "and", "but", "while", "when", "where", "because", "so"}
LEADING_FRAMES = (
    "a story about", "a story of", "the story of", "a tale about", "a tale of", "a film about",
    "a movie about", "a short film about", "a video about", "an animation about", "story of",
    "make a movie about", "make a film about", "tell the story of",
)  # fmt: skip
# fmt: off
VERBS = (
    "adopt", "argue", "ask", "battle", "become", "befriend", "bake", "build", "carry", "catch",
    "chase", "climb", "collect", "cook", "cross", "dance", "defeat", "deliver", "discover",
    "dream", "draw", "drive", "escape", "explore", "face", "fall", "feed", "fight", "find",
    "fix", "fly", "follow", "forget", "grow", "guard", "help", "hide", "hunt", "invent", "join",
    "journey", "learn", "leave", "lose", "love", "meet", "miss", "open", "paint", "play",
    "protect", "race", "raise", "read", "repair", "rescue", "return", "ride", "run", "save",
    "search", "sail", "see", "seek", "share", "sing", "sleep", "solve", "steal", "swim", "teach",
    "tame", "tell", "trade", "train", "travel", "trick", "visit", "wait", "wake", "walk", "want",
    "watch", "win", "wish", "write",
)
# fmt: on
_VERB_FORMS: dict[str, str] = {}
for _v in VERBS:
    _VERB_FORMS[_v] = _v
    if _v.endswith("y") and _v[-2] not in "aeiou":
        _VERB_FORMS[_v[:-1] + "ies"] = _v
    elif _v.endswith(("s", "sh", "ch", "x", "o")):
        _VERB_FORMS[_v + "es"] = _v
    else:
        _VERB_FORMS[_v + "s"] = _v
_VERB_FORMS.update({"is": "be", "has": "have", "goes": "go", "does": "do", "gets": "get",
                    "makes": "make", "takes": "take", "becomes": "become", "finds": "find",
                    "sets": "set", "keeps": "keep", "gives": "give", "comes": "come",
                    "sees": "see", "flies": "fly", "tries": "try"})  # fmt: skip

# Who can be met: people, animals, creatures, and what stories personify.
ANIMATE = frozenset(
    """
person man woman boy girl child kid baby friend friends keeper king queen prince princess
knight wizard witch fairy elf giant troll dwarf ghost ghosts monster robot robots android
alien aliens astronaut pilot sailor pirate captain fisherman farmer baker chef cook
doctor nurse teacher student detective musician painter artist scientist inventor
explorer traveller traveler hunter soldier soldiers thief dancer singer clown grandmother
grandfather grandma grandpa mother father mom dad sister brother family neighbour
neighbor stranger girlfriend boyfriend villain hero heroine mermaid yeti vampire zombie
dragon dragons unicorn phoenix griffin whale dolphin shark octopus fish crab turtle seal
penguin seagull otter fox wolf bear cub deer owl rabbit hare mouse mice rat squirrel
hedgehog badger raccoon cat kitten dog puppy horse pony donkey cow pig sheep goat chicken
hen duck goose bird birds eagle crow parrot snail sloth frog toad bee butterfly ant
spider lion tiger elephant giraffe monkey gorilla panda kangaroo camel snake lizard
dinosaur squid jellyfish seahorse moon sun wind star stars cloud tree scarecrow snowman
""".split()
)
MAKING_VERBS = frozenset({"build", "invent", "repair", "fix", "cook", "bake", "open", "paint",
                          "write", "draw", "make"})  # fmt: skip

# theme per verb: (how the bond grows, how it ends)
THEMES: dict[str, tuple[str, str]] = {
    "befriend": ("friendship", "friends"),
    "meet": ("friendship", "friends"),
    "love": ("friendship", "friends"),
    "help": ("friendship", "friends"),
    "adopt": ("friendship", "family"),
    "tame": ("trust", "friends"),
    "rescue": ("rescue", "safe"),
    "save": ("rescue", "safe"),
    "protect": ("rescue", "safe"),
    "find": ("friendship", "friends"),
    "discover": ("friendship", "friends"),
    "search": ("discovery", "found"),
    "seek": ("discovery", "found"),
    "explore": ("discovery", "found"),
    "fight": ("rivalry", "peace"),
    "battle": ("rivalry", "peace"),
    "defeat": ("rivalry", "peace"),
    "race": ("rivalry", "peace"),
    "chase": ("rivalry", "peace"),
    "lose": ("loss", "found"),
    "miss": ("loss", "found"),
    "learn": ("learning", "grown"),
    "teach": ("learning", "grown"),
    "build": ("making", "made"),
    "invent": ("making", "made"),
    "repair": ("making", "made"),
    "fix": ("making", "made"),
    "cook": ("making", "made"),
    "bake": ("making", "made"),
}


@dataclass(frozen=True)
class Setting:
    key: str
    place: str  # narration: "on a rocky stretch of coast"
    visual: str  # image prompt: "a rocky coast with a tall lighthouse and a wide sea"
    trouble: tuple[str, ...]  # "a storm rolled in from the open sea"
    trouble_visual: tuple[str, ...]
    mystery: str  # something to find when the idea names no one to meet
    keywords: frozenset[str] = field(default_factory=frozenset)


def _kw(words: str) -> frozenset[str]:
    return frozenset(words.split())


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "underwater",
        "deep under the sea",
        "deep blue water with coral, swaying kelp and shafts of light from above",
        ("a dark current swept through the reef", "a fishing net drifted down over the reef"),
        ("a dark swirling current over the reef", "a fishing net sinking through blue water"),
        "a pearl that glowed",
        _kw("underwater coral reef submarine mermaid diver seahorse jellyfish kelp"),
    ),
    Setting(
        "sea",
        "on a rocky stretch of coast beside the sea",
        "a rocky coast by the open sea, waves breaking on dark stones",
        ("a storm rolled in from the open sea", "a thick fog swallowed the bay"),
        ("crashing waves under a stormy sky", "thick grey fog over the water"),
        "a bottle with a message",
        _kw(
            "sea ocean whale whales lighthouse boat ship sailor fisherman fish island beach "
            "shore pirate harbor harbour mermaid dolphin shark octopus submarine wave waves "
            "seagull crab turtle coast bay"
        ),
    ),
    Setting(
        "forest",
        "deep in an old green forest",
        "an old green forest with tall trees and mossy stones",
        ("the path vanished beneath a sudden snowfall", "a wildfire glowed beyond the hills"),
        ("a blizzard between the dark trees", "orange smoke drifting through the trees"),
        "a hidden door",
        _kw(
            "forest woods wood fox owl bear deer tree trees elf wolf mushroom rabbit "
            "squirrel hedgehog woodcutter hunter badger"
        ),
    ),
    Setting(
        "space",
        "far out among the stars",
        "outer space with glowing planets and a field of stars",
        ("a meteor shower battered the little ship", "the engines sputtered and went quiet"),
        ("meteors streaking past a small spaceship", "a dark spaceship drifting in space"),
        "a strange signal",
        _kw(
            "space astronaut planet mars moon star stars alien aliens rocket spaceship "
            "galaxy satellite comet cosmonaut"
        ),
    ),
    Setting(
        "castle",
        "in a kingdom of high stone castles",
        "a stone castle on a green hill under a wide sky",
        ("a dragon's shadow fell across the kingdom", "the castle gates were locked by a spell"),
        ("a great shadow over the castle walls", "glowing magic around the castle gate"),
        "an old map",
        _kw(
            "castle knight dragon dragons princess prince king queen wizard witch kingdom "
            "unicorn fairy giant troll"
        ),
    ),
    Setting(
        "city",
        "in a busy city of tall buildings",
        "a busy city street with tall buildings and glowing windows",
        ("the power failed and the whole city went dark", "a traffic jam froze every street"),
        ("a dark city skyline at night", "crowded streets full of cars"),
        "a lost key",
        _kw(
            "city street streets robot robots taxi subway skyscraper cafe detective "
            "tokyo paris london york town downtown apartment bus train police"
        ),
    ),
    Setting(
        "mountain",
        "high in the snowy mountains",
        "snowy mountain peaks above a quiet valley",
        ("an avalanche thundered down the slope", "a blizzard hid the trail"),
        ("snow tumbling down a mountainside", "a whiteout on the mountain trail"),
        "a glowing cave",
        _kw("mountain mountains snow yeti climber glacier skier ski peak valley goat"),
    ),
    Setting(
        "desert",
        "across a wide golden desert",
        "golden sand dunes under a blazing sun",
        ("a sandstorm rose on the horizon", "the last well ran dry"),
        ("a wall of swirling sand", "a cracked dry well in the sand"),
        "a buried door",
        _kw("desert camel sand dune dunes pyramid oasis cactus scorpion nomad"),
    ),
    Setting(
        "farm",
        "on a small farm at the edge of a village",
        "a small red farm with fields, a barn and a wooden fence",
        ("a hailstorm flattened the fields", "the river flooded the lower meadow"),
        ("hail falling over the fields", "floodwater across the meadow"),
        "a golden egg",
        _kw(
            "farm village cow cows chicken chickens barn tractor farmer pig pigs sheep "
            "horse goat field fields garden gardener scarecrow"
        ),
    ),
    Setting(
        "home",
        "in a cosy little house on a quiet street",
        "a cosy house with warm lamps, books and a garden",
        ("a power cut plunged the house into darkness", "a leak flooded the kitchen floor"),
        ("a dark room lit by one candle", "water across a kitchen floor"),
        "a locked box",
        _kw(
            "house home kitchen room bedroom grandmother grandfather grandma grandpa cat "
            "kitten puppy family mother father baby attic toy toys"
        ),
    ),
    Setting(
        "sky",
        "high above the clouds",
        "a bright sky full of soft clouds above green hills",
        ("a thunderstorm rolled across the sky", "the wind died and the sky fell silent"),
        ("lightning among dark clouds", "still clouds in a grey sky"),
        "a glowing feather",
        _kw("sky bird birds balloon kite cloud clouds pilot plane airplane eagle wings"),
    ),
)
GENERIC = Setting(
    "meadow", "in a quiet valley between green hills",
    "a quiet green valley with rolling hills and a winding river",
    ("a storm rolled in over the hills", "the river rose and swept the bridge away"),
    ("dark storm clouds over green hills", "a broken bridge over a rushing river"),
    "a curious map",
)  # fmt: skip

STYLES = (
    "storybook watercolor illustration, soft pastel palette",
    "warm cinematic film still, gentle depth of field",
    "paper cut-out illustration, layered textured shapes",
    "bright flat vector illustration, clean outlines",
    "oil painting with rich textured brushstrokes",
    "soft 3D clay animation look, pastel lighting",
)
TIMES = {
    "opening": "at dawn",
    "meeting": "in soft morning light",
    "bonding": "on a bright afternoon",
    "discovery": "in late afternoon light",
    "trouble": "under a stormy night sky",
    "setback": "in the cold blue hour before sunrise",
    "turn": "as the first light breaks",
    "ending": "at golden sunset",
}
MOTIONS = {
    "opening": "zoom_in",
    "meeting": "pan_right",
    "bonding": "pan_left",
    "discovery": "zoom_in",
    "trouble": "zoom_out",
    "setback": "pan_down",
    "turn": "pan_up",
    "ending": "zoom_out",
}
BEATS_BY_COUNT = {
    4: ("opening", "meeting", "trouble", "ending"),
    5: ("opening", "meeting", "trouble", "turn", "ending"),
    6: ("opening", "meeting", "bonding", "trouble", "turn", "ending"),
    7: ("opening", "meeting", "bonding", "discovery", "trouble", "turn", "ending"),
    8: ("opening", "meeting", "bonding", "discovery", "trouble", "setback", "turn", "ending"),
}


# ------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Character:
    words: tuple[str, ...]  # "lighthouse keeper"
    proper: bool = False
    plural: bool = False
    definite: bool = False  # written with "the": "the moon" stays "the moon"

    @property
    def name(self) -> str:
        return " ".join(self.words)

    @property
    def the(self) -> str:
        return self.name if self.proper or self.plural else f"the {self.name}"

    @property
    def a(self) -> str:
        if self.proper or self.plural:
            return self.name
        if self.definite:
            return self.the
        article = "an" if self.name[:1].lower() in "aeiou" else "a"
        return f"{article} {self.name}"

    @property
    def The(self) -> str:
        text = self.the
        return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Idea:
    text: str
    hero: Character
    other: Character | None
    verb: str | None  # base form: "befriend"
    place: str | None  # the idea's own "where", e.g. "on mars"
    setting: Setting
    latin: bool
    thing: Character | None = None  # an object the story turns on ("a raft", "a bakery")


def clean_idea(text: str) -> str:
    """The idea as one tidy line: NFC, single spaces, no wrapping quotes or final stop."""
    text = unicodedata.normalize("NFC", text)
    text = " ".join(text.split())
    text = text.strip(" \"'“”‘’«»")
    return text.rstrip(" .!?;:,")


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big")


def _pick(options: tuple[str, ...] | list[str], *key: str) -> str:
    return options[_hash(*key) % len(options)]


_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*|\d+")


def _is_plural(word: str) -> bool:
    w = word.lower()
    return w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3


def _character(tokens: list[str], originals: list[str], first_index: int) -> Character | None:
    words = list(tokens)
    orig = list(originals)
    definite = bool(words) and words[0] == "the"
    if words and words[0] in NUMBER_WORDS and len(words) > 1:  # "two friends"
        return Character(tuple(words[:4]), plural=True)
    while words and words[0] in DETERMINERS:
        words.pop(0)
        orig.pop(0)
    if not words:
        return None
    words, orig = words[:4], orig[:4]
    proper = any(o[:1].isupper() for i, o in enumerate(orig) if first_index + i > 0) or (
        first_index == 0
        and tokens[0] not in DETERMINERS
        and orig[0][:1].isupper()
        and not _is_plural(words[-1])
    )
    shown = tuple(o if proper else w for o, w in zip(orig, words, strict=True))
    plural = not proper and _is_plural(words[-1])
    return Character(shown, proper=proper, plural=plural, definite=definite)


def _choose_setting(words: set[str], idea: str) -> Setting:
    if "under the sea" in idea or "underwater" in idea or "under the ocean" in idea:
        return SETTINGS[0]
    scores = [(len(s.keywords & words), -i, s) for i, s in enumerate(SETTINGS)]
    best = max(scores, key=lambda t: (t[0], t[1]))
    return best[2] if best[0] > 0 else GENERIC


def analyse(idea_text: str) -> Idea:
    """Find the hero, the other character, the verb and the place of an idea."""
    text = clean_idea(idea_text)
    lowered = text.lower()
    for frame in LEADING_FRAMES:
        if lowered.startswith(frame + " "):
            text = text[len(frame) + 1 :]
            lowered = text.lower()
            break
    originals = _WORD.findall(text)
    tokens = [t.lower().replace("’", "'") for t in originals]
    latin_letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    latin = latin_letters >= max(3, len(text.replace(" ", "")) // 2)
    setting = _choose_setting(set(tokens), lowered)
    if not latin or not tokens:
        # Narration speaks of "our hero"; the pictures carry the idea's own words.
        hero = Character(("the hero of our story",), proper=True)
        return Idea(text, hero, None, None, None, setting, latin=False)

    verb_at = next(
        (i for i, t in enumerate(tokens) if i > 0 and t in _VERB_FORMS and tokens[i - 1] not in
         DETERMINERS), None,
    )  # fmt: skip
    if verb_at is None:
        # "a cat and a dog" / "dragons": characters only
        parts = _split_on(tokens, {"and", "with"})
        hero_tokens = parts[0]
        other_tokens = parts[1] if len(parts) > 1 else []
        hero_stop = _until(hero_tokens, PREPOSITIONS | CLAUSE_WORDS)
        hero = _character(hero_stop, originals[: len(hero_stop)], 0) or Character(("traveller",))
        other = None
        if other_tokens:
            start = len(hero_tokens) + 1
            stop = _until(other_tokens, PREPOSITIONS | CLAUSE_WORDS)
            other = _character(stop, originals[start : start + len(stop)], start)
        return Idea(text, hero, other, None, _place(tokens, originals), setting, latin=True)

    subject = tokens[:verb_at]
    if "who" in subject or "that" in subject:  # "a boy who ..." -> hero is before "who"
        cut = min(subject.index(w) for w in ("who", "that") if w in subject)
        subject = subject[:cut]
    subject = _until(subject, PREPOSITIONS | CLAUSE_WORDS)
    hero = _character(subject, originals[: len(subject)], 0) or Character(("traveller",))
    verb = _VERB_FORMS[tokens[verb_at]]
    rest = tokens[verb_at + 1 :]
    offset = verb_at + 1
    if rest[:2] == ["in", "love"]:  # "falls in love with the moon"
        verb, rest, offset = "love", rest[2:], offset + 2
    if rest and rest[0] in PREPOSITIONS and rest[0] not in OBJECT_PREPOSITIONS:
        # "walks through the woods with a fox": the object comes after with/for/to
        later = next((i for i, t in enumerate(rest) if t in OBJECT_PREPOSITIONS), None)
        rest, offset = ([], offset) if later is None else (rest[later:], offset + later)
    direct = True
    if rest and rest[0] in OBJECT_PREPOSITIONS:
        direct = False
        if rest[0] == "to" and len(rest) > 1 and rest[1] in VERBS:  # "learns to fly"
            rest = []
        rest, offset = rest[1:], offset + 1
    obj = _until(rest, (PREPOSITIONS | CLAUSE_WORDS) - {"of"})
    other = _character(obj, originals[offset : offset + len(obj)], offset) if obj else None
    place = _place(tokens, originals)
    if other and direct and verb in PLACE_VERBS:  # "explores Tokyo": a place, not a companion
        place = place or f"in {other.the}"
        other = None
    if other and other.name.lower() in {"home", "way", "it", "them"}:
        other = None
    thing = None
    if other and other.words[-1].lower() not in ANIMATE and not other.proper:
        thing, other = other, None
    return Idea(text, hero, other, verb, place, setting, latin=True, thing=thing)


def _split_on(tokens: list[str], words: set[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for t in tokens:
        if t in words and parts[-1]:
            parts.append([])
        else:
            parts[-1].append(t)
    return [p for p in parts if p]


def _until(tokens: list[str], stop: set[str]) -> list[str]:
    out: list[str] = []
    for t in tokens:
        if t in stop and out:
            break
        if t not in stop:
            out.append(t)
    return out


def _place(tokens: list[str], originals: list[str]) -> str | None:
    """The idea's own "where": the first in/on/under/... phrase, as written."""
    for i, t in enumerate(tokens):
        if tokens[i : i + 2] == ["in", "love"]:
            continue
        if t in {"in", "on", "under", "beneath", "inside", "across", "above"} and i + 1 < len(
            tokens
        ):
            phrase = [originals[i]]
            for o, w in zip(originals[i + 1 :], tokens[i + 1 :], strict=True):
                if w in CLAUSE_WORDS or (w in PREPOSITIONS and len(phrase) > 1):
                    break
                phrase.append(o)
                if len(phrase) >= 6:
                    break
            if len(phrase) >= 2:
                return (
                    " ".join(phrase).lower() if not phrase[-1][:1].isupper() else " ".join(phrase)
                )
    return None


# ------------------------------------------------------------------------ writing

NARRATION: dict[str, tuple[str, ...]] = {
    "opening": (
        "{place_cap}, {hero_a} kept to a quiet routine. Each day brought the same weather, "
        "the same chores, and nothing new at all.",
        "Every day {place}, {hero_the} followed the same careful routine. Life was content, "
        "but a little lonely, and tomorrow always looked like today.",
        "{place_cap} lived {hero_a}. The days were calm and ordinary, and nobody expected "
        "them to change.",
    ),
    "meeting": (
        "Then one morning something unexpected appeared: {other_a}, as surprised to see "
        "{hero_the} as {hero_the} was to see it.",
        "One bright morning, {hero_the} noticed {other_a} nearby. Neither of them moved at "
        "first; they simply looked at each other and waited.",
        "It began with a sound no one had heard before. There, close enough to touch, was "
        "{other_a}, watching {hero_the} with curious eyes.",
    ),
    "meeting_alone": (
        "Then one morning {hero_the} found something that did not belong: {mystery}. It "
        "waited there, as if it had been left on purpose.",
        "One bright morning, while going about the usual chores, {hero_the} spotted "
        "{mystery}, and curiosity won over caution.",
    ),
    "meeting_make": (
        "One morning {hero_the} decided to {verb} {mystery}, though nobody {place} had ever "
        "tried such a thing before.",
        "It started as a sketch on the back of an envelope: {mystery}. By noon, {hero_the} "
        "had made up their mind to {verb} it.",
    ),
    "bonding_make": (
        "Day after day, {hero_the} worked on {mystery_the}, learning from every mistake and "
        "starting again each morning.",
    ),
    "discovery_make": (
        "Piece by piece, {mystery_the} took shape, and curious neighbours began to stop and watch.",
    ),
    "trouble_make": (
        "But one night {trouble}, and all the work on {mystery_the} was suddenly in danger.",
    ),
    "setback_alone": (
        "By the grey hour before dawn, {hero_the} was tired, cold and close to giving up.",
    ),
    "turn_make": (
        "At first light {hero_the} started again, stronger and wiser, and this time "
        "{mystery_the} held.",
    ),
    "bonding": (
        "Day after day they came back to the same spot. Slowly, without a single word in "
        "common, {hero_the} and {other_the} learned each other's ways.",
        "Little by little, the two of them became used to each other. They shared quiet "
        "afternoons that neither wanted to end.",
    ),
    "bonding_alone": (
        "Day after day, {hero_the} studied {mystery_the}. Every clue went into a worn "
        "notebook, sketched with care.",
    ),
    "discovery": (
        "Together they found something no one else had seen. It was a secret corner of the "
        "world, hidden in plain sight all along.",
        "They explored further than ever before. The world was far larger, and far "
        "stranger, than {hero_the} had imagined.",
    ),
    "discovery_alone": (
        "The trail led further than {hero_the} had ever been, to a place hidden in plain "
        "sight for years.",
    ),
    "trouble": (
        "But one night {trouble}, and everything they had built was suddenly in danger.",
        "Then, without warning, {trouble}. For the first time, {hero_the} felt truly afraid.",
    ),
    "trouble_alone": (
        "But one night {trouble}, and {hero_the} was suddenly alone with no one to turn to.",
    ),
    "setback": (
        "By the grey hour before dawn, hope was running out. It seemed that the night would "
        "never end.",
        "They tried everything they knew, and nothing worked. The cold crept closer, and "
        "the way home disappeared.",
    ),
    "turn": (
        "It was {other_the} who found the way through, and {hero_the} who trusted it. "
        "Side by side, they made it to safety just as the sky began to clear.",
        "When all seemed lost, {hero_the} remembered what {other_the} had taught, and "
        "together they turned the danger around.",
    ),
    "turn_alone": (
        "Remembering every clue from {mystery_the}, {hero_the} found the courage to keep "
        "going, and at last the danger passed.",
    ),
    "ending": (
        "{ending_line} And on quiet evenings, {hero_the} still smiles at the memory of the "
        "day it all began.",
        "{ending_line} The days are calm again, but they are never ordinary anymore.",
    ),
}
ENDINGS: dict[str, str] = {
    "friends": "From that day on, {hero_the} and {other_the} were the best of friends.",
    "family": "From that day on, {hero_the} and {other_the} were family.",
    "safe": "{hero_The} had kept {other_the} safe, and neither of them ever forgot it.",
    "found": "What had been lost was found, and {hero_the} knew exactly where it belonged.",
    "peace": "The rivalry was over, and {hero_the} and {other_the} found peace at last.",
    "grown": "{hero_The} had learned more in one season than in all the years before.",
    "made": "{mystery_The} still stands today, and everyone who sees it knows who made it.",
    "alone": "{hero_The} kept {mystery_the} close, a reminder that the world still holds wonders.",
}
ACTIONS: dict[str, str] = {
    "opening": "{hero_pic} going about a quiet day",
    "meeting": "{hero_pic} and {other_a} meeting for the first time",
    "bonding": "{hero_pic} and {other_a} side by side, sharing a quiet moment",
    "discovery": "{hero_pic} and {other_a} exploring a hidden place",
    "trouble": "{hero_pic} and {other_a} caught in {trouble_visual}",
    "setback": "{hero_pic} and {other_a} huddled together, tired and cold",
    "turn": "{hero_pic} and {other_a} bravely pushing through together",
    "ending": "{hero_pic} and {other_a} together, calm and happy",
}
ACTIONS_ALONE: dict[str, str] = {
    "opening": "{hero_pic} going about a quiet day",
    "meeting": "{hero_pic} discovering {mystery}",
    "bonding": "{hero_pic} studying {mystery}",
    "discovery": "{hero_pic} exploring a hidden place",
    "trouble": "{hero_pic} caught in {trouble_visual}",
    "setback": "{hero_pic} tired and cold, waiting for dawn",
    "turn": "{hero_pic} bravely pushing forward",
    "ending": "{hero_pic} calm and happy, holding {mystery}",
}
ACTIONS_MAKE: dict[str, str] = {
    "meeting": "{hero_pic} sketching plans for {mystery}",
    "bonding": "{hero_pic} hard at work on {mystery}",
    "discovery": "{hero_pic} beside {mystery}, half finished",
    "trouble": "{hero_pic} protecting {mystery} from {trouble_visual}",
    "turn": "{hero_pic} rebuilding {mystery} at first light",
    "ending": "{hero_pic} proudly showing {mystery}, finished",
}
TITLES = {
    "opening": "A quiet life",
    "meeting": "An unexpected meeting",
    "bonding": "Getting to know each other",
    "discovery": "A hidden world",
    "trouble": "Trouble arrives",
    "setback": "The darkest hour",
    "turn": "The turn",
    "ending": "Together",
}


def scene_count(idea: Idea, max_scenes: int) -> int:
    """4-8 scenes: more for richer ideas, never above ``max_scenes``."""
    words = len(idea.text.split())
    base = 5 if words <= 3 else 6 if words <= 12 else 7 if words <= 30 else 8
    base += _hash(idea.text, "scenes") % 2 if base < 8 else 0
    return max(1, min(base, max_scenes, 8))


def _slots(idea: Idea, beat: str) -> dict[str, str]:
    s = idea.setting
    if idea.thing:
        mystery, mystery_the = idea.thing.a, idea.thing.the
    else:
        article, _, rest = s.mystery.partition(" ")
        mystery = s.mystery
        mystery_the = f"the {rest}" if article in ("a", "an") else mystery
    place = idea.place or s.place
    name = idea.text if len(idea.text) <= 48 else idea.text[:45].rstrip() + "…"
    slots = {
        "hero_pic": idea.hero.a if idea.latin else f"“{name}”",
        "hero_a": idea.hero.a,
        "hero_the": idea.hero.the,
        "hero_The": idea.hero.The,
        "place": place,
        "place_cap": place[:1].upper() + place[1:],
        "trouble": _pick(s.trouble, idea.text, "trouble"),
        "trouble_visual": _pick(s.trouble_visual, idea.text, "trouble"),
        "mystery": mystery,
        "mystery_the": mystery_the,
        "mystery_The": mystery_the[:1].upper() + mystery_the[1:],
        "verb": idea.verb or "make",
    }
    if idea.other:
        slots.update(other_a=idea.other.a, other_the=idea.other.the)
    return slots


def _mode(idea: Idea) -> str:
    """How the story goes: with someone to meet, making something, or alone."""
    if idea.other:
        return "with"
    return "make" if idea.thing and idea.verb in MAKING_VERBS else "alone"


def _narration(idea: Idea, beat: str, slots: dict[str, str]) -> str:
    mode = _mode(idea)
    keys = {"with": [beat], "make": [f"{beat}_make", f"{beat}_alone", beat]}.get(
        mode, [f"{beat}_alone", beat]
    )
    key = next(k for k in keys if k in NARRATION)
    if beat == "ending":
        theme = {"make": "made", "alone": "alone"}.get(mode) or THEMES.get(
            idea.verb or "", ("friendship", "friends")
        )[1]
        slots = {**slots, "ending_line": ENDINGS[theme].format(**slots)}
    template = _pick(NARRATION[key], idea.text, beat)
    return template.format(**slots)


def _image_prompt(idea: Idea, beat: str, style: str, slots: dict[str, str]) -> str:
    mode = _mode(idea)
    actions = {"with": ACTIONS, "alone": ACTIONS_ALONE}.get(mode) or {
        **ACTIONS_ALONE,
        **ACTIONS_MAKE,
    }
    action = actions[beat].format(**slots)
    where = idea.setting.visual if not idea.place else f"{idea.place}, {idea.setting.visual}"
    return f"{style}. {action[:1].upper() + action[1:]}, {where}, {TIMES[beat]}."


def title_for(idea: Idea) -> str:
    title = f"{idea.hero.The} and {idea.other.the}" if idea.other and idea.latin else idea.text
    title = title if len(title) <= 80 else title[:77].rstrip() + "…"
    return title[:1].upper() + title[1:]


def write_draft(idea_text: str, *, max_scenes: int = 8) -> PlanDraft:
    """A deterministic scene-by-scene draft for ``idea_text``."""
    idea = analyse(idea_text)
    n = scene_count(idea, max_scenes)
    beats = BEATS_BY_COUNT.get(n) or BEATS_BY_COUNT[4][:n]
    style = _pick(STYLES, idea.text, "style")
    scenes = []
    for beat in beats:
        slots = _slots(idea, beat)
        scenes.append(
            SceneDraft(
                title=TITLES[beat],
                setting=f"{idea.place or idea.setting.place}, {TIMES[beat]}",
                image_prompt=_image_prompt(idea, beat, style, slots),
                narration=_narration(idea, beat, slots),
                motion=MOTIONS[beat],
            )
        )
    return PlanDraft(title=title_for(idea), style=style, scenes=scenes)
