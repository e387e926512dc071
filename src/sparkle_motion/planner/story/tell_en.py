"""English sentences for each kind of story, beat by beat.

Every sentence carries the idea's own words through slots (the subject as written, the
verb phrase retold in the past, the object, the place), so two ideas rarely share a
sentence. A variant is used only when every slot it names has words for this idea; among
those, a hash of the idea picks one. The templates never paste a fragment into a slot of
another kind: {vp} is always a verb phrase, {obj} always a noun phrase.
"""

from __future__ import annotations

import re

from sparkle_motion.planner.story.english import cap

# kind -> six beats -> variants; each variant is one or two sentences
STORIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "loss": (
        (
            "{Where}, {A} treasured {obj} more than anything.",
            "{A} never imagined a day without {obj}.",
        ),
        ("Then one day {S} {vp}.",),
        ("{S} searched everywhere and tried everything, but {obj_the} did not come back.",),
        ("Without {obj_the}, nothing felt right, and the days of {S} grew grey and quiet.",),
        ("Then {S} noticed that losing {obj_the} had not taken everything away.",),
        (
            "{S} never forgot {obj_the}, but learned to live without it and found joy again.",
            "In time {S} made peace with what was lost, and smiled again.",
        ),
    ),
    "quest": (
        (
            "{Where}, {A} woke up with a question that would not go away.",
            "{A} had always wondered about something just out of reach.",
        ),
        ("So {S} set out to {vp_base}.",),
        ("{S} looked high and low, asking everyone along the way for a clue.",),
        ("But night fell, the trail went cold, and {S} {be} alone and worried.",),
        ("Then a small sign appeared, and {S} followed it with new hope.",),
        ("At last {S} {vp_found}, and the long search was worth every step.",),
    ),
    "learning": (
        (
            "{Where}, {A} wanted to {skill} more than anything, but had never even tried.",
            "{A} wanted to {skill} more than anything, but had never even tried.",
        ),
        (
            "One morning {S} made up {pos} mind to learn to {skill} {skill_rest}.",
            "So {S} decided to learn to {skill} {skill_rest}, however long it took.",
        ),
        (
            "The first tries went badly: {S} {skill_past} clumsily and got it wrong again.",
            "{S} started with {tools}, and the first tries went badly.",
        ),
        ("Some laughed, and {S} almost gave up on learning to {skill}.",),
        ("But {S} kept practising every day, and {skill_ing} got a little easier each time.",),
        ("At last {S} could really {skill}, and nothing had ever felt better.",),
    ),
    "teaching": (
        (
            "{Where}, {A} loved to {skill} more than anything.",
            "{A} loved to {skill} more than anything.",
        ),
        ("One day {S} decided to {vp_base}.",),
        ("{Other} wobbled and worried at first, so {S} showed {other_them} every step slowly.",),
        ("Then {other} fell, and for a moment {other_they} wanted to quit.",),
        ("{S} held out a hand and said, “Try once more, slowly.”",),
        ("By the end of the summer, {other} could {skill} too, and {S} {be} a proud teacher.",),
    ),
    "rivalry": (
        (
            "{Where}, {pair} had never agreed on anything.",
            "{pair} had never agreed on anything and always wanted to be first.",
        ),
        ("Then came the day when {S} {vp}.",),
        ("{rule} Neither would give an inch, and {pair} pushed harder every hour.",),
        ("Halfway through, {pair} were so busy beating each other that everything went wrong.",),
        ("For a moment {pair} stopped, looked at each other, and laughed.",),
        (
            "In the end {pair} learned they could {vp_base_together} together, and the rivalry "
            "turned into respect.",
        ),
    ),
    "friendship": (
        (
            "{Where}, {A} lived a quiet life and often felt alone.",
            "{A} lived a quiet life and often felt alone.",
        ),
        ("Then one day {S} met {other_a}.",),
        ("At first {S} and {other} kept their distance, unsure of each other.",),
        ("Then a wild night came, and {S} and {other} needed each other.",),
        ("{S} and {other} helped each other through it, side by side.",),
        (
            "{group} {vp_the}, and from then on neither was ever lonely again.",
            "So {S} {vp_the}, and neither was ever lonely again.",
        ),
    ),
    "belonging": (
        ("{Where}, {A} {vp}, but did not know how.", "{A} {vp}, but did not know how."),
        ("When the day came, {S} {be} too nervous to go in.",),
        ("At first {S} hid in a corner, too shy to say hello.",),
        ("Everyone seemed busy, and {S} felt more alone than ever.",),
        ("Then someone smiled and waved, and {S} took a brave step forward.",),
        ("So {S} got to {vp_base_after}, and it was the best day of all.",),
    ),
    "making": (
        (
            "{Where}, {A} had a plan: {they} would {vp_base}.",
            "{A} had a plan: {they} would {vp_base}.",
        ),
        (
            "{S} began with {tools}, working slowly and carefully.",
            "{S} began at once, working slowly and carefully.",
        ),
        ("Day after day {S} worked on {obj_the}, learning from every mistake.",),
        (
            "Then {second}, and all the work on {obj_the} was in danger.",
            "Then one night {obj_the} was nearly ruined, and {S} {be} close to giving up.",
        ),
        ("{S} tried again, and this time {obj_the} came together piece by piece.",),
        ("At last {S} {vp_the}, and everyone nearby came to admire the work.",),
    ),
    "transformation": (
        (
            "{Where}, {A} stood still day after day, watching the world go by.",
            "{A} stood still day after day, watching the world go by.",
        ),
        ("Then one strange night {S} {vp}.",),
        (
            "{S} took a first wobbly step and stared at everything as if seeing it for the "
            "first time.",
        ),
        ("But {witness} did not know what to think, and {S} felt afraid of being sent away.",),
        ("So {S} showed {witness} how much good a living {head} could do.",),
        ("Now {S} is glad to be alive, and every day is a new adventure.",),
    ),
    "fear": (
        ("{Where}, {A} had one big worry.", "{A} had one big worry that would not go away."),
        ("{S} {vp}, and every warm morning made it worse.",),
        ("{S} tried to hide from {obj_the}, but there was nowhere to go.",),
        ("When {obj_the} rose high at last, {S} shook with fear.",),
        ("Then a friend showed {S} that {obj_the} was not an enemy, only a change.",),
        ("{S} faced {obj_the} at last and was not afraid anymore.",),
    ),
    "journey": (
        ("{Where}, {A} dreamed of faraway places.", "{A} dreamed of faraway places."),
        ("One day {S} {vp}.",),
        ("The way was long, and {S} {be} far from everything {they} knew.",),
        ("Halfway there, trouble struck, and {S} {be} afraid of never getting home.",),
        ("{S} held on, kept going, and found the way again.",),
        ("At last {S} reached {destination} and looked around, proud of every mile.",),
    ),
    "disaster": (
        ("Life in {place_the} was calm, and nobody there was thinking about {hazards}.",),
        ("Then one night {S} {vp_the}.",),
        ("The people of {place_the} grabbed what they could and hurried to higher ground.",),
        ("{S} raged all night, and {place_the} held its breath.",),
        ("Neighbours helped neighbours, and everyone in {place_the} reached safety.",),
        (
            "Afterwards the people of {place_the} rebuilt their homes together, and {S} became "
            "a story they still tell.",
        ),
    ),
    "waiting": (
        ("{Where}, {A} had somewhere to be.", "{A} had somewhere to be."),
        ("So {S} {vp}.",),
        ("Minutes passed, then more minutes, and {S} kept waiting.",),
        ("{S} grew cold and tired, and began to wonder if it would ever come.",),
        ("Then, far away, a light appeared.",),
        ("The long wait was over, and {S} smiled all the way home.",),
    ),
    "nominal": (
        ("This is a little story about {A}.",),
        ("One morning, {S} set out to see what the day would bring.",),
        ("The way was new and strange, and {S} kept going, step by step.",),
        ("Then clouds gathered, and {S} had to find shelter before the rain.",),
        ("When the sky cleared, {S} found the way again, a little braver than before.",),
        ("By evening {S} was home, with a story worth telling about {A}.",),
    ),
    "story": (
        ("{Where}, {A} was about to have an unusual day.", "{A} was about to have an unusual day."),
        ("That day {S} {vp}.",),
        ("It was harder than {S} had expected, but {they} kept going.",),
        ("Then something went wrong, and {S} {be} worried.",),
        ("{S} thought hard and found a way through.",),
        ("In the end {S} {vp_the}, and the day ended well.",),
    ),
}
# fmt: on

EXPLAINERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "history": (
        (
            "This short film is about {topic}. It was planned offline, with no facts to check, "
            "so it names the parts of the story of {subject} in general terms.",
        ),
        ("First, where {subject} began, and the world {subject} began in.",),
        ("Next, how {subject} grew and changed over the years.",),
        ("Then, the people who lived with {subject}, and what their days were like.",),
        ("Last, what {subject} left behind, and why people still talk about it.",),
        (
            "So that is {topic}: a beginning, a time of change, and a legacy. The dates and "
            "names are for a real model, or a good book, to fill in.",
        ),
    ),
    "how": (
        (
            "This short film shows how {how_subject} {how_vp}, in general terms only: it was "
            "planned offline, with no facts to check.",
        ),
        ("First, who or what takes part when {how_subject} {how_vp}.",),
        ("Next, what is needed before {how_the} can {how_base}.",),
        ("Then the steps, one after another, by which {how_subject} {how_vp}.",),
        ("Last, what comes out of it, and why {how_subject} {how_vp} at all.",),
        (
            "So that is how {how_subject} {how_vp}: who takes part, what is needed, the steps, "
            "and the result. A real model, or a good book, can fill in the details of {topic}.",
        ),
    ),
    "topic": (
        (
            "This short film is about {topic}. It was planned offline, with no facts to check, "
            "so it names the parts of {topic} in general terms.",
        ),
        ("First, what {topic} is, and where it is found.",),
        ("Next, the main parts of {topic}, one by one.",),
        ("Then, how those parts of {topic} work together.",),
        ("Last, why {topic} matters to people.",),
        (
            "So that is {topic}: what it is, its parts, how they fit, and why it matters. The "
            "details are for a real model, or a good book, to fill in.",
        ),
    ),
}

# a second sentence for the setup: the calm before the idea's event
PRELUDES = (
    "Nobody could have guessed what was about to happen to {S}.",
    "Days came and went, each much like the one before, for {S}.",
    "Little did {S} know how much was about to change.",
)
TITLES: dict[str, tuple[str, ...]] = {
    "story": ("The beginning", "{Event}", "Trying", "Trouble", "The turn", "The end"),
    "explainer": ("What this is about", "Part one", "Part two", "Part three", "Part four",
                  "Recap"),
}  # fmt: skip

_SLOT = re.compile(r"\{(\w+)\}")


def _value(name: str, slots: dict[str, str]) -> str:
    """{name} as is; {Name} (when no slot is spelled so) capitalises the slot {name}."""
    if name in slots:
        return slots[name]
    return cap(slots.get(name.lower(), ""))


OPTIONAL = frozenset({"skill_rest", "particle", "rule"})


def _fits(template: str, slots: dict[str, str]) -> bool:
    return all(n in OPTIONAL or _value(n, slots) for n in _SLOT.findall(template))


def fill(template: str, slots: dict[str, str]) -> str:
    """The template with its slots filled; {Name} capitalises the slot {name}."""

    text = _SLOT.sub(lambda m: _value(m.group(1), slots), template)
    text = " ".join(text.split()).replace(" ,", ",").replace(" .", ".")
    # every sentence starts with a capital letter
    return re.sub(r"(^|[.!?”]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def choose(variants: tuple[str, ...], slots: dict[str, str], pick: int) -> str:
    usable = [v for v in variants if _fits(v, slots)]
    if not usable:
        return ""
    return fill(usable[pick % len(usable)], slots)


def sentences(kind: str, slots: dict[str, str], beat: int, pick: int) -> str:
    if kind == "explainer":
        table = EXPLAINERS["history" if slots.get("history") else
                           "how" if slots.get("how_vp") else "topic"]  # fmt: skip
    else:
        table = STORIES.get(kind, STORIES["story"])
    text = choose(table[beat], slots, pick)
    if not text:
        text = choose(STORIES["story"][beat], slots, pick)
    # (a disaster's subject is the flood or the volcano: no "little did the flood know")
    if beat == 0 and kind not in {"explainer", "nominal", "disaster"}:
        text = f"{text} {choose(PRELUDES, slots, pick // 7)}"
    return text


def title(kind: str, beat: int, slots: dict[str, str]) -> str:
    names = TITLES["explainer" if kind == "explainer" else "story"]
    return fill(names[beat], {**slots, "event": slots.get("event_title", "The day it began")})


def movie_title(idea) -> str:
    s = idea.slots
    if idea.kind == "explainer":
        text = s.get("topic", idea.text)
    elif s.get("pair") and idea.kind in {"friendship", "rivalry"}:
        text = s["pair"]
    elif s.get("obj_the") and idea.kind in {"loss", "quest", "making", "fear"}:
        # "The girl, her grandmother and the bread", not "... and ... and ..."
        who = s["S"].replace(" and ", ", ", s["S"].count(" and "))
        text = f"{who} and {s['obj_the']}"
    elif s.get("other") and idea.kind == "teaching":
        text = f"{s['S']} and {s['other']}"
    else:
        text = s.get("S") or idea.text
    text = text if len(text) <= 80 else text[:77].rstrip() + "…"
    return cap(text)
