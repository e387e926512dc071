"""Where and when a frame happens, read from the prompt's setting, time and weather words."""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = (
    "underwater", "sea", "space", "forest", "castle", "city", "mountain", "desert", "farm",
    "room", "sky", "meadow",
)  # fmt: skip
# Words that point at a kind of place; earlier kinds win ties (underwater before sea).
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "underwater": ("underwater", "under the sea", "under the ocean", "beneath the waves",
                   "coral", "reef", "kelp", "seabed", "sea floor", "deep blue water"),
    "sea": ("sea", "ocean", "coast", "shore", "beach", "bay", "harbor", "harbour", "island",
            "lighthouse", "waves", "sailing", "pier", "cliff"),
    "space": ("outer space", "space", "planet", "planets", "galaxy", "mars", "orbit",
              "spaceship", "rocket", "nebula", "asteroid", "meteors", "moon's surface"),
    "forest": ("forest", "woods", "woodland", "trees", "jungle", "grove", "mossy"),
    "castle": ("castle", "kingdom", "palace", "tower", "throne"),
    "city": ("city", "street", "streets", "buildings", "skyline", "town", "downtown",
             "tokyo", "paris", "london", "new york", "traffic", "subway", "rooftop"),
    "mountain": ("mountain", "mountains", "peak", "peaks", "glacier", "valley below",
                 "slope", "summit", "mountainside", "cliffs"),
    "desert": ("desert", "dune", "dunes", "sand", "oasis", "pyramid", "cactus"),
    "farm": ("farm", "barn", "field", "fields", "fence", "tractor", "meadow farm", "orchard"),
    "room": ("room", "house", "home", "kitchen", "bedroom", "attic", "library", "indoors",
             "inside", "lamps", "books", "living room", "bakery", "workshop", "shop"),
    "sky": ("sky full", "clouds", "above the clouds", "in the sky", "into the sky", "flying",
            "balloon", "kite"),
    "meadow": ("meadow", "valley", "hills", "river", "garden", "field of flowers", "park"),
}  # fmt: skip
# (time, words), first match wins: the more specific phrases come first.
_TIMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bluehour", ("blue hour", "before sunrise", "before dawn", "predawn")),
    ("dawn", ("dawn", "sunrise", "first light", "daybreak", "first light breaks")),
    ("sunset", ("sunset", "sundown", "evening")),
    ("golden", ("late afternoon", "golden hour", "golden light")),
    ("dusk", ("dusk", "twilight", "nightfall")),
    ("night", ("night", "midnight", "moonlight", "moonlit", "starry", "stars", "dark sky")),
    ("morning", ("morning",)),
    ("day", ("afternoon", "noon", "midday", "daylight", "sunny", "bright", "day")),
)
_WEATHER: dict[str, tuple[str, ...]] = {
    "storm": ("storm", "stormy", "thunder", "lightning", "tempest", "hurricane"),
    "rain": ("rain", "rainy", "raining", "hail", "downpour", "drizzle", "flood"),
    "snow": ("snow", "snowy", "snowfall", "blizzard", "winter", "whiteout", "frost"),
    "fog": ("fog", "foggy", "mist", "misty", "haze", "smoke"),
}
TIMES = tuple(t for t, _ in _TIMES)


@dataclass(frozen=True)
class Setting:
    """A frame's place and light: kind of place, time of day, weather (may be empty)."""

    kind: str
    time: str
    weather: frozenset[str]
    surface: str | None = None  # "mars" or "moon": a space scene with ground to stand on
    named: bool = True  # False when no word named the place (the seed chose it)


def _count(text: str, phrases: tuple[str, ...]) -> int:
    return sum(len(re.findall(rf"\b{re.escape(p)}\b", text)) for p in phrases)


def read_setting(prompt: str, fallback: int = 0) -> Setting:
    """The setting a prompt describes; ``fallback`` picks a pleasant place when none is named."""
    text = " ".join(prompt.lower().replace("’", "'").split())
    scores = {kind: _count(text, words) for kind, words in _KIND_WORDS.items()}
    best = max(KINDS, key=lambda k: (scores[k], -KINDS.index(k)))
    named = scores[best] > 0
    if not named:
        best = ("meadow", "sea", "forest", "mountain", "sky", "desert")[fallback % 6]
    time = next((t for t, words in _TIMES if _count(text, words)), None)
    if time is None:
        time = ("day", "golden", "morning", "sunset", "day", "dawn")[(fallback // 6) % 6]
    weather = frozenset(w for w, words in _WEATHER.items() if _count(text, words))
    surface = None
    if best == "space":
        if _count(text, ("mars", "red planet")):
            surface = "mars"
        elif _count(text, ("on the moon", "moon's surface", "lunar")):
            surface = "moon"
    return Setting(best, time, weather, surface, named)
