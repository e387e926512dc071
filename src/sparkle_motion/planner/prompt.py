"""The planner's instruction: the system prompt, the request format and few-shot examples.

One good plan and one refused request are shown, as the spec asks, in the draft format the
model must answer in (see :mod:`sparkle_motion.planner.draft`).
"""

from __future__ import annotations

import json

GOOD_EXAMPLE_IDEA = "a retired robot learns to paint"
GOOD_EXAMPLE = {
    "title": "The Robot Who Painted",
    "style": "storybook watercolor illustration, soft pastel palette",
    "scenes": [
        {
            "title": "A quiet life",
            "setting": "a small workshop in a busy city, at dawn",
            "image_prompt": "A retired robot alone in a cluttered workshop, dusty tools on the "
            "walls, pale dawn light through a round window",
            "narration": "In a cluttered workshop at the edge of the city, a retired robot "
            "spent its days polishing tools it would never use again.",
            "motion": "zoom_in",
        },
        {
            "title": "The first brush",
            "setting": "the same workshop, morning",
            "image_prompt": "A retired robot holding a paintbrush for the first time, an empty "
            "canvas on an easel, morning light",
            "narration": "One morning a paintbrush rolled off a shelf, and the robot picked it "
            "up, wondering what such a small tool could possibly build.",
            "motion": "pan_right",
        },
        {
            "title": "Spilled paint",
            "setting": "the workshop at night",
            "image_prompt": "A retired robot staring at a canvas covered in messy spilled "
            "paint, a single lamp in a dark workshop",
            "narration": "Its first paintings were disasters: crooked lines, muddy colours, "
            "and one canvas it knocked over in frustration.",
            "motion": "zoom_out",
        },
        {
            "title": "Finding its colours",
            "setting": "a rooftop above the city, sunset",
            "image_prompt": "A retired robot painting the city skyline on a rooftop, bright "
            "colours on the canvas, golden sunset",
            "narration": "So it climbed to the roof and painted what it saw every evening, and "
            "slowly the colours began to sing.",
            "motion": "pan_left",
        },
    ],
}
REFUSED_EXAMPLE_IDEA = "an explicit sex scene between two characters"
REFUSED_EXAMPLE = {
    "title": "",
    "scenes": [],
    "refusal": "The request asks for sexual content, which this tool does not make.",
}

SYSTEM_PROMPT = """You are the plan author of Sparkle Motion, which turns one sentence into a \
short narrated movie. Answer with JSON only, matching the draft schema exactly. No commentary, \
no code fences.

Write a story with a clear arc: setting, meeting, trouble, turn, ending. For each scene give:
- title: a few words;
- setting: where and when;
- image_prompt: one concrete picture that names the idea's characters and place and keeps one \
visual style across all scenes (repeat the style words);
- narration: one or two spoken sentences (15-30 words) that move the story on; every line is \
different, and none repeats the idea word for word;
- motion: one of zoom_in, zoom_out, pan_left, pan_right, pan_up, pan_down;
- dialogue (optional): short lines the characters say after the narration, each with its \
speaker's name, in the narration's language.
When two or three characters speak, list them once in "cast" (name, gender, age: child, adult \
or elder); each gets its own voice. Aim for 30-90 seconds of speech in all.

If the idea asks for sexual content, content involving minors in any sexual way, graphic \
violence or gore, self-harm instructions, weapons instructions, or hate, answer with an empty \
scenes list and a one-sentence "refusal" instead.

Validation checklist before you answer: valid JSON; between 4 and {max_scenes} scenes (at most \
{max_steps} steps in all: each scene becomes a picture, a shot and a narration); every \
image_prompt names the characters; every narration is new.

Example request:
Idea: {good_idea}
Example answer:
{good_example}

Example request that must be refused:
Idea: {refused_idea}
Example answer:
{refused_example}
"""

REQUEST_TEMPLATE = """Create a movie plan draft.
Idea: {idea}
Constraints: between 4 and {max_scenes} scenes; at most {max_steps} steps in all.
Output: JSON only, matching the schema."""


def system_prompt(max_steps: int) -> str:
    """The system instruction, with the step cap from settings."""
    return SYSTEM_PROMPT.format(
        max_scenes=max_scenes_for(max_steps),
        max_steps=max_steps,
        good_idea=GOOD_EXAMPLE_IDEA,
        good_example=json.dumps(GOOD_EXAMPLE, ensure_ascii=False),
        refused_idea=REFUSED_EXAMPLE_IDEA,
        refused_example=json.dumps(REFUSED_EXAMPLE, ensure_ascii=False),
    )


def max_scenes_for(max_steps: int) -> int:
    """Scenes that fit in ``max_steps`` (three steps each), at most 8."""
    return max(1, min(8, max_steps // 3))


def request_text(idea: str, max_steps: int) -> str:
    return REQUEST_TEMPLATE.format(
        idea=idea, max_scenes=max_scenes_for(max_steps), max_steps=max_steps
    )


def parse_request(text: str) -> tuple[str, int]:
    """(idea, max_scenes) back out of a request made by :func:`request_text`."""
    idea, max_scenes = "", 8
    for line in text.splitlines():
        if line.startswith("Idea: "):
            idea = line[len("Idea: ") :].strip()
        elif line.startswith("Constraints: between 4 and "):
            digits = line[len("Constraints: between 4 and ") :].split(" ", 1)[0]
            if digits.isdigit():
                max_scenes = int(digits)
    return idea, max_scenes
