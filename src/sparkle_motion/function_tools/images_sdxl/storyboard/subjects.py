"""Words of an image prompt to pictures: synonyms, plurals, the emoji names, the font's cmap.

A word finds its picture in this order: the synonym table (story words the emoji names lack,
or name badly: keeper -> a standing person, sailor -> a person rowing a boat), then the
``emoji`` package's names and aliases (``whale``, ``polar bear``), each tried as written and
then as a singular. Every candidate must have a real glyph in OpenMoji's font (see
``glyphs.has_glyph``); a subject the font lacks falls back to the next candidate, and the
last candidate of a few (the lighthouse) is a picture drawn from shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import emoji

from sparkle_motion.function_tools.images_sdxl.storyboard.glyphs import has_glyph
from sparkle_motion.function_tools.images_sdxl.storyboard.shapes import DRAWERS

SHAPE = "shape:"  # a candidate drawn by ``shapes`` instead of the font
SHAPES = frozenset(DRAWERS)

# Story words -> candidate pictures (emoji names, or shape:NAME), first drawable wins.
# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    # people
    "person": ("person_standing",), "keeper": ("person_standing",),
    "people": ("people_holding_hands",), "friends": ("people_holding_hands",),
    "friend": ("person_standing",), "stranger": ("person_walking",),
    "traveller": ("person_walking",), "traveler": ("person_walking",),
    "explorer": ("person_walking",), "hiker": ("person_walking",),
    "wanderer": ("person_walking",), "hero": ("person_standing",),
    "heroine": ("woman_standing",), "human": ("person_standing",),
    "villager": ("person_standing",), "neighbour": ("person_standing",),
    "neighbor": ("person_standing",), "man": ("man_standing",), "woman": ("woman_standing",),
    "sailor": ("person_rowing_boat",), "rower": ("person_rowing_boat",),
    "fisherman": ("person_rowing_boat",), "fisher": ("person_rowing_boat",),
    "captain": ("pilot",), "pilot": ("pilot",), "pirate": ("pirate_flag",),
    "king": ("person_with_crown",), "queen": ("person_with_crown",), "prince": ("prince",),
    "princess": ("princess",), "knight": ("person_fencing",), "soldier": ("guard",),
    "wizard": ("mage",), "witch": ("woman_mage",), "sorcerer": ("mage",), "magician": ("mage",),
    "giant": ("troll",), "monster": ("alien_monster",), "yeti": ("gorilla",),
    "chef": ("cook",), "baker": ("cook",), "cook": ("cook",),
    "doctor": ("health_worker",), "nurse": ("health_worker",), "inventor": ("mechanic",),
    "clockmaker": ("mechanic",), "engineer": ("mechanic",), "mechanic": ("mechanic",),
    "musician": ("singer",), "painter": ("artist",), "thief": ("ninja",),
    "villain": ("supervillain",), "clown": ("clown_face",), "hunter": ("bow_and_arrow",),
    "mother": ("woman",), "mom": ("woman",), "mum": ("woman",), "father": ("man",),
    "dad": ("man",), "grandmother": ("old_woman",), "grandma": ("old_woman",),
    "granny": ("old_woman",), "grandfather": ("old_man",), "grandpa": ("old_man",),
    "kid": ("child",), "child": ("child",), "sister": ("girl",), "brother": ("boy",),
    "diver": ("person_swimming",), "swimmer": ("person_swimming",), "climber": ("person_climbing",),
    "mermaid": ("mermaid",), "merman": ("merman",), "cosmonaut": ("astronaut",),
    "scarecrow": ("shape:scarecrow", "farmer"), "gardener": ("farmer",),
    "woodcutter": ("axe",), "skier": ("skier",), "nomad": ("person_walking",),
    "class": ("student",), "robots": ("robot",), "android": ("robot",),
    "boyfriend": ("man_standing",), "girlfriend": ("woman_standing",),
    "dwarf": ("person_beard",), "pirate_captain": ("pirate_flag",),
    # animals
    "whale": ("spouting_whale",), "puppy": ("dog",), "kitten": ("cat",), "pony": ("horse",),
    "hen": ("chicken",), "cub": ("bear",), "seagull": ("bird",), "gull": ("bird",),
    "seahorse": ("tropical_fish",), "dinosaur": ("sauropod",), "squirrel": ("chipmunk",),
    "hare": ("rabbit",), "bunny": ("rabbit",), "toad": ("frog",), "mice": ("mouse",),
    "griffin": ("eagle",), "raven": ("black_bird",), "crow": ("black_bird",),
    "moth": ("butterfly",), "insect": ("lady_beetle",), "calf": ("cow",), "lamb": ("ewe",),
    "bull": ("ox",), "goldfish": ("fish",), "pet": ("dog",),
    # things in stories
    "lighthouse": ("lighthouse", "shape:lighthouse"), "barn": ("shape:barn", "hut"),
    "pyramid": ("shape:pyramid",), "spaceship": ("flying_saucer",), "ufo": ("flying_saucer",),
    "raft": ("canoe",), "boat": ("sailboat",), "plane": ("airplane",), "library": ("books",),
    "bakery": ("croissant",), "supermarket": ("shopping_cart",), "shop": ("convenience_store",),
    "clock": ("mantelpiece_clock",), "map": ("world_map",), "bottle": ("bottle_with_popping_cork",),
"letter": ("envelope",), "pearl": ("oyster",), "egg": ("egg",),
    "signal": ("satellite_antenna",), "box": ("package",), "treasure": ("gem_stone",),
    "magic": ("sparkles",), "sword": ("dagger",), "wand": ("magic_wand",),
    "lamp": ("diya_lamp",), "candle": ("candle",), "toy": ("teddy_bear",),
    "toys": ("teddy_bear",), "car": ("automobile",), "cars": ("automobile",),
    "planet": ("ringed_planet",), "planets": ("ringed_planet",), "meteor": ("comet",),
    "meteors": ("comet",), "moon": ("crescent_moon",), "sun": ("sun",), "stars": ("star",),
    "storm": ("cloud_with_lightning_and_rain",), "thunderstorm": ("cloud_with_lightning_and_rain",),
    "lightning": ("cloud_with_lightning",), "rain": ("cloud_with_rain",),
    "hail": ("cloud_with_rain",), "blizzard": ("cloud_with_snow",), "snowfall": ("snowflake",),
    "wind": ("wind_face",), "tree": ("deciduous_tree",), "trees": ("deciduous_tree",),
    "pine": ("evergreen_tree",), "flower": ("tulip",), "flowers": ("tulip",),
    "leaf": ("leaf_fluttering_in_wind",), "kelp": ("herb",), "net": ("fishing_pole",),
    "balloon": ("balloon",), "house": ("house",), "cottage": ("house_with_garden",),
    "home": ("house_with_garden",), "skyscraper": ("office_building",), "tower": ("Tokyo_tower",),
    "hotel": ("hotel",), "cafe": ("hot_beverage",), "café": ("hot_beverage",),
    "boulder": ("rock",), "cave": ("hole",),
    "smoke": ("dashing_away",), "current": ("cyclone",), "whirlpool": ("cyclone",),
    "feather": ("feather",), "violin": ("violin",), "book": ("open_book",), "books": ("books",),
}
# fmt: on

# Words that say where or when, what a picture looks like, or how: never subjects.
_STOP = frozenset(
    """
a an the and or of in on at to by for with from into onto over under above below across
through during before after around behind beside between among near far out up down off
is are was were be been it its this that these those who which while when where as so too
one two three four five six seven eight nine ten first last new old little tiny small big
great tall wide deep dark light bright soft warm cold cool calm quiet happy shy lonely
curious brave together side moment day night time place way life world end back top
going meeting sharing exploring caught huddled tired pushing bravely waiting holding
discovering studying sketching protecting rebuilding proudly showing finished half hard work
breaking crashing drifting sinking swaying falling tumbling streaking swirling rolling
winding rushing glowing buried cracked dry thick grey gray green red blue golden orange
yellow white black pink purple brown silver full still gentle rich clean flat layered
textured cut look lighting pastel palette illustration storybook watercolor watercolour
film cinematic depth field paper shapes vector outlines oil painting brushstrokes clay
animation render style photo photograph portrait landscape scene shot frame camera
wave waves ocean sea sky forest woods wood city street streets room kitchen bedroom attic
desert mountain mountains valley hill hills meadow coast shore beach bay harbor harbour
island river lake reef underwater space galaxy farm field fields garden village town
dawn sunrise sunset dusk twilight morning afternoon evening noon midday midnight hour
foggy stormy snowy rainy windy sunny cloudy misty winter summer spring autumn fall
cityscape skyline camping sand dunes dune stars' fly fire ice bow date watch wing
notes sound message eye eyes hand seat station heart window windows stone stones rocky building
buildings light sunlight moonlight shafts
""".split()
)
# Pictures that draw a whole scene (the background does that) or a sign, not a subject.
_NOT_SUBJECTS = frozenset("🌅🌄🌇🌆🌃🌌🏙🏞🏜🏝🎑🌁🏕🗾🌐🌍🌎🌏")

# where a picture belongs in the frame
SKY = frozenset(
    """
bird dove eagle black_bird bat butterfly honeybee dragon phoenix airplane helicopter rocket
flying_saucer satellite kite balloon parachute cloud cloud_with_rain cloud_with_snow
cloud_with_lightning cloud_with_lightning_and_rain sun crescent_moon full_moon star
glowing_star comet rainbow ghost fairy wind_face tornado cyclone high_voltage snowflake
sparkles owl parrot feather leaf_fluttering_in_wind shooting_star ringed_planet angel
""".split()
)
WATER = frozenset(
    """
spouting_whale whale dolphin shark fish tropical_fish blowfish octopus squid jellyfish seal
otter turtle shrimp lobster duck swan mermaid merman merperson sailboat canoe speedboat
motor_boat ship ferry person_rowing_boat person_surfing person_swimming orca coral water_wave
herb oyster
""".split()
)
LANDMARKS = frozenset(
    """
shape:lighthouse shape:barn shape:pyramid castle house house_with_garden derelict_house hut
tent church school hospital office_building factory Tokyo_tower Statue_of_Liberty bank hotel
stadium mosque volcano classical_building convenience_store department_store circus_tent
ferris_wheel windmill
""".split()
)
# Scenery: supporting props that only lead the frame when nothing else is named.
SCENERY = frozenset(
    """
cloud cloud_with_rain cloud_with_snow cloud_with_lightning cloud_with_lightning_and_rain sun
crescent_moon full_moon star glowing_star comet rainbow wind_face tornado cyclone
high_voltage snowflake sparkles deciduous_tree evergreen_tree palm_tree tulip sunflower
herb rock water_wave fog leaf_fluttering_in_wind dashing_away ringed_planet cactus coral
mushroom seedling shooting_star fire
""".split()
)

# Pictures OpenMoji paints standing in a patch of water, dried when put into a painted sea.
WET = frozenset(
    "sailboat speedboat motor_boat ship person_rowing_boat ferry person_swimming".split()
)
# Weather the background paints: a prop at most, never a character.
WEATHER = frozenset(
    """
cloud_with_rain cloud_with_snow cloud_with_lightning cloud_with_lightning_and_rain fog
snowflake dashing_away cyclone high_voltage tornado water_wave
""".split()
)

_IRREGULAR = {
    "mice": "mouse", "geese": "goose", "children": "child", "people": "person", "men": "man",
    "women": "woman", "teeth": "tooth", "feet": "foot", "oxen": "ox", "wolves": "wolf",
    "leaves": "leaf", "elves": "elf", "dwarves": "dwarf", "knives": "knife", "calves": "calf",
    "thieves": "thief", "halves": "half", "shelves": "shelf", "loaves": "loaf",
}  # fmt: skip
_TOKEN = re.compile(r"[a-zà-öø-ÿ][a-zà-öø-ÿ'’-]*")


@dataclass(frozen=True)
class Picture:
    """One drawable picture: an emoji glyph or a shape drawn by ``shapes``."""

    name: str  # emoji name ("spouting_whale") or "shape:lighthouse"
    chars: str | None  # the characters to draw; None for a shape

    @property
    def shape(self) -> str | None:
        """The shape's name, for a picture drawn from shapes."""
        return self.name.removeprefix(SHAPE) if self.name.startswith(SHAPE) else None

    @property
    def zone(self) -> str:
        """Where it belongs: sky, water, landmark or ground."""
        if self.name in LANDMARKS:
            return "landmark"
        if self.name in SKY:
            return "sky"
        return "water" if self.name in WATER else "ground"

    @property
    def scenery(self) -> bool:
        """A supporting prop (a cloud, a tree) rather than a subject."""
        return self.name in SCENERY


@dataclass(frozen=True)
class Match:
    """A word of the prompt and the picture it found."""

    word: str  # as written (lower case): "sailors"
    base: str  # the word the picture was found for: "sailor"
    picture: Picture
    position: int  # index of the word among the prompt's words


@cache
def _names() -> dict[str, str]:
    """Every emoji name and alias (lower case, ``_`` for spaces) -> drawable characters.

    Names win over aliases (``cat`` is the whole cat, not the alias on the cat's face), and
    fully-qualified forms over bare ones: the font's ligatures expect them.
    """
    index: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for chars, data in emoji.EMOJI_DATA.items():
        if any(0x1F3FB <= ord(c) <= 0x1F3FF for c in chars):  # skin-tone variants
            continue
        if not has_glyph(chars):
            continue
        qualified = data.get("status", 9) == 2
        for target, names in ((index, (data["en"],)), (aliases, data.get("alias", ()))):
            for name in names:
                key = name.strip(":").lower()
                if key not in target or qualified:
                    target[key] = chars
    return {**aliases, **index}


def _is_sign(chars: str) -> bool:
    """Flags, keycaps, letters, faces and signs: pictures that do not show a thing."""
    cps = [ord(c) for c in chars]
    if any(0x1F100 <= cp <= 0x1F2FF or cp == 0x20E3 or 0xE0000 <= cp <= 0xE007F for cp in cps):
        return True
    if 0x2648 <= cps[0] <= 0x2653 or 0x1F550 <= cps[0] <= 0x1F567:  # zodiac, clock faces
        return True
    en = emoji.EMOJI_DATA.get(chars, {}).get("en", "").lower()
    return chars in _NOT_SUBJECTS or any(
        part in en for part in ("face", "button", "flag", "sign", "symbol", "mark", "hand")
    )


@cache
def picture(name: str) -> Picture | None:
    """The drawable picture for an emoji name or ``shape:NAME``, or None if the font lacks it."""
    if name.startswith(SHAPE):
        return Picture(name, None) if name.removeprefix(SHAPE) in SHAPES else None
    chars = _names().get(name.lower())
    return Picture(name, chars) if chars else None


def singulars(word: str) -> list[str]:
    """``word`` and the singular forms it may be a plural of, most likely first."""
    word = word.lower().replace("’", "'")
    word = word.removesuffix("'s").removesuffix("'")
    out = [word]
    if word in _IRREGULAR:
        out.append(_IRREGULAR[word])
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        if word.endswith("ies"):
            out.append(word[:-3] + "y")
        if word.endswith("ves"):
            out += [word[:-3] + "f", word[:-3] + "fe"]
        if word.endswith(("ches", "shes", "xes", "sses", "zes", "oes")):
            out.append(word[:-2])
        out.append(word[:-1])
    return list(dict.fromkeys(out))


@cache
def lookup(word: str) -> tuple[str, Picture] | None:
    """The picture for one word (or ``_``-joined phrase): ``(base word, picture)`` or None."""
    for base in singulars(word):
        if base in SYNONYMS:
            for name in SYNONYMS[base]:
                pic = picture(name)
                if pic is not None:
                    return base, pic
            return None  # a synonym we know but cannot draw: no guessing from names
        if base in _STOP or len(base) < 3:
            continue
        chars = _names().get(base)
        if chars and not _is_sign(chars):
            return base, Picture(base, chars)
    return None


def words(prompt: str) -> list[str]:
    """The prompt's words, lower case, apostrophes kept for possessives."""
    return _TOKEN.findall(prompt.lower().replace("’", "'"))


def match(prompt: str) -> list[Match]:
    """Every word, two-three word phrase or emoji of ``prompt`` that has a picture, in order.

    Phrases come first ("polar bear" is one bear, not a pole and a bear); an emoji written
    in the prompt is its own picture; a picture found twice is kept once, at its first place.
    """
    tokens = words(prompt)
    found: list[Match] = _emoji_in(prompt)
    i = 0
    while i < len(tokens):
        hit: tuple[str, Picture] | None = None
        span = 1
        for n in (3, 2):
            if i + n <= len(tokens):
                phrase = "_".join(t.removesuffix("'s") for t in tokens[i : i + n])
                if phrase in SYNONYMS or phrase in _names():
                    hit = lookup(phrase)
                    if hit:
                        span = n
                        break
        if hit is None and tokens[i] not in _STOP:
            hit = lookup(tokens[i])
        if hit is not None:
            found.append(Match(" ".join(tokens[i : i + span]), hit[0], hit[1], i))
        i += span
    found.sort(key=lambda m: m.position)
    seen: set[str] = set()
    unique = []
    for m in found:
        if m.picture.name not in seen:
            seen.add(m.picture.name)
            unique.append(m)
    return unique


def _emoji_in(prompt: str) -> list[Match]:
    """Emoji written in the prompt that the font draws, placed among the prompt's words."""
    lowered = prompt.lower().replace("’", "'")
    out = []
    for item in emoji.emoji_list(prompt):
        chars = item["emoji"]
        if not has_glyph(chars) or _is_sign(chars):
            continue
        name = emoji.EMOJI_DATA.get(chars, {}).get("en", chars).strip(":")
        position = len(_TOKEN.findall(lowered[: item["match_start"]]))
        out.append(Match(chars, name, Picture(name, chars), position))
    return out


@dataclass(frozen=True)
class Cast:
    """Who and what a frame shows: 1-3 subjects (the first leads), landmarks, props."""

    subjects: tuple[Match, ...]
    landmarks: tuple[Match, ...]
    props: tuple[Match, ...]


def cast(prompt: str, max_subjects: int = 3) -> Cast:
    """Split a prompt's matches into lead subjects, landmarks and scenery props.

    The first matched word leads. In "a lighthouse keeper and a whale" the keeper leads,
    the lighthouse stands behind as a landmark (it names the keeper's kind, not a second
    character) and the whale follows; in "a detective penguin" the penguin leads for the
    same reason. Scenery (a cloud, the moon) is a subject only in the clause that names the
    lead ("the sun and the wind argue"); elsewhere it is a prop ("... under the stars").
    """
    found = match(prompt)
    clause = _clauses(prompt)
    lead_clause = clause[found[0].position] if found else -1
    landmarks = [m for m in found if m.picture.zone == "landmark"]
    actors: list[Match] = []
    props: list[Match] = []
    for m in found:
        if m.picture.zone == "landmark":
            continue
        if m.picture.scenery and (clause[m.position] != lead_clause or m.picture.name in WEATHER):
            props.append(m)
            continue
        if actors and actors[-1].position + len(actors[-1].word.split()) == m.position:
            actors.pop()  # "detective penguin": the first word describes the second
        actors.append(m)
    return Cast(tuple(actors[:max_subjects]), tuple(landmarks[:1]), tuple(props[:3]))


def _clauses(prompt: str) -> list[int]:
    """For each word of ``words(prompt)``, the index of its clause (split at , . ; : ! ?)."""
    out: list[int] = []
    for n, part in enumerate(re.split(r"[,.;:!?]", prompt.lower().replace("’", "'"))):
        out += [n] * len(_TOKEN.findall(part))
    return out
