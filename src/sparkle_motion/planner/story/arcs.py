"""The shape of each kind of story: its beats, the mood of each beat, its light and camera.

Every kind has seven beats, told in order: the setup shows what the idea starts from, the
inciting beat brings the idea's own event, effort and trouble come from that event, the turn
and the ending resolve it, and an epilogue looks back. A shorter movie keeps the setup,
the event, the trouble and the ending first. Moods are the storyboard's words ("looking
MOOD"): no happy face in a storm or a loss.
"""

from __future__ import annotations

BEATS = ("opening", "inciting", "effort", "trouble", "turn", "ending", "epilogue")
EXPLAINER_BEATS = ("intro", "part1", "part2", "part3", "part4", "recap")
# which beats a shorter movie keeps, in story order
KEEP_ORDER = (0, 1, 3, 5, 4, 2, 6)

MOODS: dict[str, tuple[str, ...]] = {
    "quest": ("curious", "determined", "curious", "worried", "surprised", "joyful", "joyful"),
    "loss": ("happy", "sad", "worried", "lonely", "determined", "calm", "calm"),
    "learning": ("curious", "determined", "tired", "sad", "determined", "proud", "proud"),
    "teaching": ("happy", "excited", "worried", "afraid", "determined", "proud", "proud"),
    "rivalry": ("proud", "determined", "angry", "tired", "surprised", "happy", "happy"),
    "friendship": ("lonely", "surprised", "curious", "worried", "happy", "joyful", "joyful"),
    "belonging": ("lonely", "worried", "afraid", "lonely", "surprised", "joyful", "joyful"),
    "disaster": ("calm", "afraid", "worried", "afraid", "determined", "calm", "calm"),
    "making": ("excited", "determined", "tired", "worried", "determined", "proud", "proud"),
    "transformation": ("calm", "surprised", "curious", "afraid", "happy", "joyful", "joyful"),
    "waiting": ("calm", "curious", "tired", "lonely", "surprised", "happy", "happy"),
    "fear": ("calm", "afraid", "worried", "afraid", "determined", "calm", "calm"),
    "journey": ("curious", "excited", "determined", "afraid", "determined", "proud", "proud"),
    "story": ("calm", "curious", "determined", "worried", "determined", "happy", "happy"),
    "explainer": ("curious", "curious", "calm", "curious", "calm", "happy", "happy"),
}
TIMES = ("in the early morning", "in soft daylight", "in the afternoon", "at night",
         "at dawn", "at golden sunset", "under the evening stars")  # fmt: skip
STORMY_NIGHT = "on a stormy night"  # the trouble of a story with no weather of its own
STORMY_KINDS = frozenset({"friendship", "journey", "quest", "transformation", "story"})
STORM_TIME = "under a dark stormy sky"
MOTIONS = ("zoom_in", "pan_right", "pan_left", "zoom_out", "pan_up", "zoom_out", "pan_down")


def beats_for(kind: str, count: int) -> list[int]:
    """Indices of the beats a movie of ``count`` scenes tells, in story order (an explainer
    has six parts, a story seven beats)."""
    count = max(1, min(count, len(EXPLAINER_BEATS) if kind == "explainer" else len(BEATS)))
    return sorted(KEEP_ORDER[:count])
