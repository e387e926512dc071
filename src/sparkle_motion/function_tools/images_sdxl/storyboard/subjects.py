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
from dataclasses import dataclass, replace
from functools import cache

import emoji

from sparkle_motion.function_tools.images_sdxl.storyboard.glyphs import has_glyph
from sparkle_motion.function_tools.images_sdxl.storyboard.moods import read_mood
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
    "captain": ("pilot",), "pilot": ("pilot",), "pirate": ("man",),
    "pirate_captain": ("man",), "buccaneer": ("man",),
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
    "dwarf": ("person_beard",), "kids": ("child",), "children": ("child",),
    "schoolchildren": ("student",), "pupil": ("student",), "classmate": ("student",),
    "artist": ("artist",), "roman": ("man",), "romans": ("man",), "gladiator": ("man",),
    "legionary": ("man",), "centurion": ("man",), "roman_soldier": ("man",),
    "beekeeper": ("farmer",), "passenger": ("person_standing",), "commuter": ("person_standing",),
    # animals
    "whale": ("spouting_whale",), "puppy": ("dog",), "kitten": ("cat",), "pony": ("horse",),
    "hen": ("chicken",), "cub": ("bear",), "seagull": ("bird",), "gull": ("bird",),
    "seahorse": ("tropical_fish",), "dinosaur": ("sauropod",), "squirrel": ("chipmunk",),
    "hare": ("rabbit",), "bunny": ("rabbit",), "toad": ("frog",), "mice": ("mouse",),
    "griffin": ("eagle",), "raven": ("black_bird",), "crow": ("black_bird",),
    "moth": ("butterfly",), "insect": ("lady_beetle",), "calf": ("cow",), "lamb": ("ewe",),
    "bull": ("ox",), "goldfish": ("fish",), "pet": ("dog",), "bee": ("honeybee",),
    "bumblebee": ("honeybee",), "kitty": ("cat",), "doggy": ("dog",),
    # things in stories
    "lighthouse": ("lighthouse", "shape:lighthouse"), "barn": ("shape:barn", "hut"),
    "pyramid": ("shape:pyramid",), "spaceship": ("flying_saucer",), "ufo": ("flying_saucer",),
    "raft": ("canoe",), "boat": ("sailboat",), "ship": ("shape:sailing_ship", "ship"),
    "pirate_ship": ("shape:sailing_ship", "ship"), "galleon": ("shape:sailing_ship", "ship"),
    "eiffel_tower": ("shape:eiffel_tower", "Tokyo_tower"),
    "eiffel": ("shape:eiffel_tower", "Tokyo_tower"),
    "treehouse": ("shape:treehouse", "house"), "tree_house": ("shape:treehouse", "house"),
    "colosseum": ("shape:colosseum", "classical_building"),
    "coliseum": ("shape:colosseum", "classical_building"),
    "amphitheatre": ("shape:colosseum", "classical_building"),
    "temple": ("classical_building",), "ruins": ("classical_building",),
    "hive": ("shape:beehive", "honey_pot"), "beehive": ("shape:beehive", "honey_pot"),
    "honey": ("honey_pot",), "town": ("houses",), "village": ("houses",),
    "garden": ("potted_plant", "tulip"), "easel": ("shape:easel",), "canvas": ("shape:easel",),
    "picture": ("framed_picture",),
    "paintbrush": ("paintbrush",), "brush": ("paintbrush",), "paints": ("artist_palette",),
    "oven": ("shape:oven",), "stove": ("shape:oven",), "blackboard": ("shape:blackboard",),
    "chalkboard": ("shape:blackboard",), "whiteboard": ("shape:blackboard",),
    "earth": ("shape:earth",), "soup": ("pot_of_food",), "stew": ("pot_of_food",),
    "bowl": ("bowl_with_spoon",), "cake": ("birthday_cake",),
    "birthday_cake": ("birthday_cake",), "birthday": ("birthday_cake",),
    "cupcake": ("cupcake",), "present": ("wrapped_gift",),
    "presents": ("wrapped_gift",), "gift": ("wrapped_gift",), "confetti": ("party_popper",),
    "umbrella": ("umbrella", "closed_umbrella"), "parasol": ("umbrella",),
    "bus_stop": ("bus_stop",), "busstop": ("bus_stop",), "oak": ("deciduous_tree",),
    "oak_tree": ("deciduous_tree",), "board": ("wood",), "boards": ("wood",),
    "plank": ("wood",), "planks": ("wood",), "nailing": ("hammer",), "hammering": ("hammer",),
    "coins": ("coin",), "keys": ("key",), "bicycle": ("bicycle",),
    "bike": ("bicycle",), "plane": ("airplane",), "library": ("books",),
    "bakery": ("bread", "croissant"), "supermarket": ("shopping_cart",),
    "shop": ("convenience_store",),
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
island river lake reef underwater space galaxy farm field fields
smoking smoke smoky
dawn sunrise sunset dusk twilight morning afternoon evening noon midday midnight hour
foggy stormy snowy rainy windy sunny cloudy misty winter summer spring autumn fall
cityscape skyline camping sand dunes dune stars' fly fire ice bow date watch wing
notes sound message eye eyes hand seat station heart window windows stone stones rocky building
buildings light sunlight moonlight shafts
paris rome london tokyo crater craters moonscape surface lunar classroom party studio
interior bakery's inside beyond front behind looking feeling seems looks rain rainy
kitchen's ship's excited proud joyful surprised sad worried afraid angry determined
scared frightened terrified nervous anxious glad cheerful furious sleepy exhausted
astonished amazed unhappy gloomy alone focused peaceful relaxed thrilled delighted
couple pair few several group crowd many 3d 2d
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
shape:earth
""".split()
)
WATER = frozenset(
    """
spouting_whale whale dolphin shark fish tropical_fish blowfish octopus squid jellyfish seal
otter turtle shrimp lobster duck swan mermaid merman merperson sailboat canoe speedboat
motor_boat ship ferry person_rowing_boat person_surfing person_swimming orca coral water_wave
herb oyster shape:sailing_ship
""".split()
)
LANDMARKS = frozenset(
    """
shape:lighthouse shape:barn shape:pyramid castle house house_with_garden derelict_house hut
tent church school hospital office_building factory Tokyo_tower Statue_of_Liberty bank hotel
stadium mosque volcano classical_building convenience_store department_store circus_tent
ferris_wheel windmill shape:eiffel_tower shape:treehouse shape:colosseum hindu_temple
shinto_shrine school
""".split()
)
# Scenery: supporting props that only lead the frame when nothing else is named.
SCENERY = frozenset(
    """
cloud cloud_with_rain cloud_with_snow cloud_with_lightning cloud_with_lightning_and_rain sun
crescent_moon full_moon star glowing_star comet rainbow wind_face tornado cyclone
high_voltage snowflake sparkles deciduous_tree evergreen_tree palm_tree tulip sunflower
herb rock water_wave fog leaf_fluttering_in_wind dashing_away ringed_planet cactus coral
mushroom seedling shooting_star fire shape:earth
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

# How big a thing is beside a character (a person, an animal, a robot): so a key is never
# bigger than a robot. Characters are found by their code points (``is_character``); a thing
# not listed here is "small". Landmarks are "large" and drawn behind everyone.
SIZES = ("tiny", "small", "medium", "large")
_SIZE_OF: dict[str, str] = {
    name: size
    for size, names in (
        (
            "tiny",
            """key old_key spoon paintbrush pencil crayon coin ring hammer magic_wand dagger
            feather fork_and_knife fountain_pen pen lollipop gem_stone egg screwdriver wrench
            nut_and_bolt test_tube syringe candle match lipstick seedling honeybee bee
            four_leaf_clover leaf_fluttering_in_wind envelope scroll drop_of_blood cookie
            carrot sparkles chopsticks magnifying_glass_tilted_left round_pushpin
            wood herb mushroom butterfly lady_beetle""".split(),
        ),
        (
            "small",
            """birthday_cake shortcake cupcake open_book books umbrella closed_umbrella
            balloon wrapped_gift honey_pot pot_of_food bowl_with_spoon artist_palette croissant
            bread baguette_bread teddy_bear package bottle_with_popping_cork violin guitar
            trumpet saxophone banjo skateboard soccer_ball basketball mantelpiece_clock
            crystal_ball potted_plant tulip sunflower rose hibiscus bouquet framed_picture
            diya_lamp lantern flashlight camera telescope world_map kite globe_with_meridians
            party_popper confetti_ball hot_beverage teacup_without_handle cooking pie
            cup_with_straw laptop radio fishing_pole bow_and_arrow axe pick shovel
            bucket basket lantern toolbox satellite_antenna red_apple green_apple pizza
            snowflake fire rock water_wave compass hourglass_done alarm_clock
            sheaf_of_rice cactus herb coral spiral_shell oyster""".split(),
        ),
        (
            "medium",
            """shape:easel shape:oven shape:beehive shape:blackboard shape:scarecrow bicycle
            bus_stop chair couch_and_lamp bed door shopping_cart scooter motor_scooter
            kick_scooter canoe snowman snowman_without_snow christmas_tree tent piano
            automobile taxi sailboat motorcycle tractor racing_car fuel_pump
            deciduous_tree evergreen_tree palm_tree leafless_tree""".split(),
        ),
        (
            "large",
            """shape:sailing_ship ship ferry motor_boat speedboat bus train locomotive
            airplane rocket helicopter flying_saucer fire_engine""".split(),
        ),
    )
    for name in names
}
# Code points of living things and people: characters, drawn at full size and given a mood.
# fmt: off
_ALIVE = (
    (0x1F400, 0x1F43C), (0x1F466, 0x1F487), (0x1F46E, 0x1F482), (0x1F575, 0x1F575),
    (0x1F57A, 0x1F57A), (0x1F645, 0x1F64F), (0x1F6A3, 0x1F6A3), (0x1F6B4, 0x1F6B6),
    (0x1F3C3, 0x1F3C4), (0x1F3C7, 0x1F3CC), (0x1F47B, 0x1F47F), (0x1F916, 0x1F916),
    (0x1F921, 0x1F921), (0x1F926, 0x1F937), (0x1F938, 0x1F93E), (0x1F977, 0x1F977),
    (0x1F980, 0x1F99F), (0x1F9A3, 0x1F9AE), (0x1F9B8, 0x1F9B9), (0x1F9CC, 0x1F9CF),
    (0x1F9D1, 0x1F9DF), (0x1FAB0, 0x1FABF), (0x1FACE, 0x1FACF), (0x1F54A, 0x1F54A),
    (0x1F577, 0x1F577), (0x26F7, 0x26F7), (0x26F9, 0x26F9), (0x1FAC3, 0x1FAC5),
)
# fmt: on
_THINGS_ALIVE = frozenset("shape:scarecrow snowman snowman_without_snow".split())
# Pictures that already show several (a count of them is still one picture).
GROUPS = frozenset(
    """
people_holding_hands family men_holding_hands women_holding_hands kiss couple_with_heart
woman_and_man_holding_hands people_hugging busts_in_silhouette books houses
""".split()
)

# A group picture's one member, for a group whose number is said ("four friends").
_SINGLES = {
    "people_holding_hands": ("person_standing", "person"),
    "men_holding_hands": ("man_standing", "man"),
    "women_holding_hands": ("woman_standing", "woman"),
    "family": ("person_standing", "person"),
    "busts_in_silhouette": ("bust_in_silhouette",),
}

_IRREGULAR = {
    "mice": "mouse", "geese": "goose", "children": "child", "people": "person", "men": "man",
    "women": "woman", "teeth": "tooth", "feet": "foot", "oxen": "ox", "wolves": "wolf",
    "leaves": "leaf", "elves": "elf", "dwarves": "dwarf", "knives": "knife", "calves": "calf",
    "thieves": "thief", "halves": "half", "shelves": "shelf", "loaves": "loaf",
}  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9à-öø-ÿ][a-z0-9à-öø-ÿ'’-]*")


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
    def alive(self) -> bool:
        """A character: a person, an animal, a robot, a monster (it can have a mood)."""
        if self.name in _THINGS_ALIVE:
            return True
        if not self.chars:
            return False
        cp = ord(self.chars[0])
        return any(lo <= cp <= hi for lo, hi in _ALIVE)

    @property
    def size(self) -> str:
        """``character``, or how big a thing is: tiny, small, medium or large."""
        if self.name in _SIZE_OF:
            return _SIZE_OF[self.name]
        if self.alive:
            return "character"
        if self.zone == "landmark":
            return "large"
        return "small"

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
    count: int = 1  # how many the prompt names: "two kids" 2, "pirates" 2 (a plural), "a kid" 1
    number: bool = False  # whether the count was said ("three pirates"), not guessed


# Counts before a noun: "two kids", "3 bakers", "a pair of owls"; a plural says 2.
_NUMBERS = {
    w: n + 1
    for n, w in enumerate(
        "one two three four five six seven eight nine ten eleven twelve".split()
    )
} | {
    "couple": 2, "pair": 2, "both": 2, "twin": 2, "twins": 2, "few": 3, "several": 3,
    "group": 3, "handful": 3, "some": 3, "many": 4, "crowd": 4, "dozen": 12, "lots": 4,
}  # fmt: skip
_BREAKS = frozenset("a an the and or with to at in on by from for into onto 's".split())
MAX_COUNT = 12  # what a count is read as at most; ``compose`` draws fewer


def _count_before(tokens: list[str], i: int, matched: set[int]) -> int | None:
    """The number said just before token ``i`` ("two little kids"), or None."""
    j, steps = i - 1, 0
    while j >= 0 and steps < 3:
        t = tokens[j]
        if t.isdigit():
            return max(1, min(MAX_COUNT, int(t)))
        if t in _NUMBERS:
            return _NUMBERS[t]
        if j in matched or (t in _BREAKS and t != "of"):
            return None
        j, steps = j - 1, steps + 1
    return None


def is_plural(word: str, base: str) -> bool:
    """Whether ``word`` names several: "kids" (base "kid"), "mice", "robots"."""
    word = word.split()[-1].removesuffix("'s")
    if word in _IRREGULAR or (base != word and base in singulars(word)[1:]):
        return True
    return any(s in SYNONYMS or s in _names() for s in singulars(word)[1:])


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
                if phrase in _names() or any(f in SYNONYMS for f in singulars(phrase)):
                    hit = lookup(phrase)
                    if hit:
                        span = n
                        break
        if hit is None and tokens[i] not in _STOP and not tokens[i].isdigit():
            hit = lookup(tokens[i])
        if hit is not None:
            found.append(Match(" ".join(tokens[i : i + span]), hit[0], hit[1], i))
        i += span
    found.sort(key=lambda m: m.position)
    starts = {m.position for m in found}
    counted = []
    for m in found:
        said = _count_before(tokens, m.position, starts) if m.position < len(tokens) else None
        if m.picture.name in GROUPS and said is not None and said > 1:
            # "four friends": four people, each one picture (a group glyph shows two)
            single = next(
                (pic for name in _SINGLES.get(m.picture.name, ()) if (pic := picture(name))),
                None,
            )
            if single is not None:
                m = replace(m, picture=single)
        if m.picture.name in GROUPS:  # "friends" holding hands is one picture of several
            n = 1
        elif said is not None:
            n = said
        else:
            n = 2 if is_plural(m.word, m.base) else 1
        counted.append(replace(m, count=n, number=said is not None))
    unique: dict[str, Match] = {}
    for m in counted:  # a picture named twice is kept once, at its first place
        first = unique.get(m.picture.name)
        if first is None:
            unique[m.picture.name] = m
        elif m.number and not first.number:
            unique[m.picture.name] = replace(first, count=m.count, number=True)
    return list(unique.values())


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


# Words for doing something that name the tool it is done with ("nailing" -> a hammer): they
# do not describe the next word as "lighthouse" describes "keeper".
_DOINGS = frozenset(k for k in SYNONYMS if k.endswith("ing"))


@dataclass(frozen=True)
class Cast:
    """Who and what a frame shows: 1-3 subjects (the first leads), landmarks, props."""

    subjects: tuple[Match, ...]
    landmarks: tuple[Match, ...]
    props: tuple[Match, ...]
    mood: str | None = None  # how the characters look: "afraid" (see ``moods``)


def cast(prompt: str, max_subjects: int = 4) -> Cast:
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
        if (
            actors
            and actors[-1].position + len(actors[-1].word.split()) == m.position
            and not {actors[-1].base, m.base} & _DOINGS
        ):
            actors.pop()  # "detective penguin": the first word describes the second
        actors.append(m)
    return Cast(
        tuple(actors[:max_subjects]), tuple(landmarks[:1]), tuple(props[:3]), read_mood(prompt)
    )


def _clauses(prompt: str) -> list[int]:
    """For each word of ``words(prompt)``, the index of its clause (split at , . ; : ! ?)."""
    out: list[int] = []
    for n, part in enumerate(re.split(r"[,.;:!?]", prompt.lower().replace("’", "'"))):
        out += [n] * len(_TOKEN.findall(part))
    return out
