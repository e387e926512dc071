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
              "spaceship", "rocket", "nebula", "asteroid", "meteors", "moon's surface",
              "on the moon", "crater", "craters", "lunar", "moonscape", "surface of the moon"),
    "forest": ("forest", "woods", "woodland", "trees", "jungle", "grove", "mossy"),
    "castle": ("castle", "kingdom", "palace", "tower", "throne", "colosseum", "coliseum",
               "rome", "roman", "romans", "temple", "ruins", "ancient"),
    "city": ("city", "street", "streets", "buildings", "skyline", "town", "downtown",
             "tokyo", "paris", "london", "new york", "traffic", "subway", "rooftop",
             "bus stop", "sidewalk", "pavement", "eiffel tower", "roof", "rooftops"),
    "mountain": ("mountain", "mountains", "peak", "peaks", "glacier", "valley below",
                 "slope", "summit", "mountainside", "cliffs"),
    "desert": ("desert", "dune", "dunes", "sand", "oasis", "pyramid", "cactus"),
    "farm": ("farm", "barn", "field", "fields", "fence", "tractor", "meadow farm", "orchard",
             "village", "cottages"),
    "room": ("room", "house", "home", "kitchen", "bedroom", "attic", "library", "indoors",
             "inside", "lamps", "books", "living room", "bakery", "workshop", "shop",
             "classroom", "school", "studio", "party", "birthday party", "beyond the window",
             "through the window", "out of the window", "oven", "easel", "blackboard"),
    "sky": ("sky full", "clouds", "above the clouds", "in the sky", "into the sky", "flying",
            "balloon", "kite"),
    "meadow": ("meadow", "valley", "hill", "hills", "river", "garden", "field of flowers",
               "park"),
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
# A room's kind, read from its words (the first that a prompt names wins).
_INTERIORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("classroom", ("classroom", "school", "class", "lesson", "blackboard", "chalkboard")),
    ("party", ("party", "birthday", "celebration", "balloons")),
    ("studio", ("studio", "easel", "canvas", "atelier", "paintbrush")),
    ("bakery", ("bakery", "baker", "bakers", "bread", "loaves")),
    ("kitchen", ("kitchen", "oven", "stove", "cooking", "soup", "recipe", "chef", "cook")),
)
# Kinds whose own words say "indoors" more surely than a city's name says outdoors.
_INDOOR = ("kitchen", "classroom", "studio", "bakery", "bedroom", "living room", "attic",
           "beyond the window", "through the window", "inside", "indoors")  # fmt: skip
# Places with a landmark of their own: place -> (words, the landmark's picture)
PLACES: dict[str, tuple[tuple[str, ...], str]] = {
    "paris": (("paris", "eiffel tower", "france"), "shape:eiffel_tower"),
    "rome": (("rome", "roman", "romans", "colosseum", "coliseum"), "shape:colosseum"),
    "tokyo": (("tokyo",), "Tokyo_tower"),
    "new york": (("new york", "manhattan"), "Statue_of_Liberty"),
    "egypt": (("egypt", "cairo", "pharaoh"), "shape:pyramid"),
}


@dataclass(frozen=True)
class Setting:
    """A frame's place and light: kind of place, time of day, weather (may be empty)."""

    kind: str
    time: str
    weather: frozenset[str]
    surface: str | None = None  # "mars" or "moon": a space scene with ground to stand on
    named: bool = True  # False when no word named the place (the seed chose it)
    interior: str | None = None  # a room's kind: kitchen, bakery, classroom, studio, party
    place: str | None = None  # a place with a landmark of its own: paris, rome, moon ...
    words: tuple[str, ...] = ()  # the prompt's words that chose the place, room and weather


def _count(text: str, phrases: tuple[str, ...]) -> int:
    return sum(len(re.findall(rf"\b{re.escape(p)}\b", text)) for p in phrases)


def read_setting(prompt: str, fallback: int = 0) -> Setting:
    """The setting a prompt describes; ``fallback`` picks a pleasant place when none is named."""
    text = " ".join(prompt.lower().replace("’", "'").split())
    scores = {kind: _count(text, words) for kind, words in _KIND_WORDS.items()}
    best = max(KINDS, key=lambda k: (scores[k], -KINDS.index(k)))
    if _count(text, _INDOOR):  # "her kitchen in Paris" is a kitchen (Paris in the window)
        best = "room"
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
        elif _count(
            text,
            (
                "on the moon",
                "moon's surface",
                "lunar",
                "crater",
                "craters",
                "moonscape",
                "surface of the moon",
            ),
        ):
            surface = "moon"
    interior = None
    if best == "room":
        interior = next((k for k, words in _INTERIORS if _count(text, words)), None)
    place = next((p for p, (words, _) in PLACES.items() if _count(text, words)), None)
    if surface:
        place = surface
    words = [w for w in _KIND_WORDS[best] if named and _count(text, (w,))]
    words += [w for k, ws in _INTERIORS if k == interior for w in ws if _count(text, (w,))]
    words += [w for k in sorted(weather) for w in _WEATHER[k] if _count(text, (w,))]
    if place and place in PLACES:
        words += [w for w in PLACES[place][0] if _count(text, (w,))]
    elif surface:
        words.append(surface)
    return Setting(
        best, time, weather, surface, named, interior, place, tuple(dict.fromkeys(words))
    )
