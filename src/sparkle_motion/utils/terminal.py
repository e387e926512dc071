"""Text that reaches a terminal: control characters dropped on input, made visible on output.

Titles, ideas and narration are display text. An escape sequence in one (``ESC ] 0;...BEL``
retitles the window, ``ESC [ 2J`` clears it) is never something a person meant to write, and
printed raw it drives the reader's terminal. So input loses whole escape sequences and lone
C0/C1 control characters (:func:`strip_control`), and every string the command line prints
from plan or run data shows whatever still got through as ``\\xNN`` (:func:`visible`): a run
stored before this rule, an error message quoting a file, a path.
"""

from __future__ import annotations

import re

# Whole sequences first, so that the payload of an OSC title ("0;PWNED") goes with its ESC.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      (?:\x1b\]|\x9d) [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)?    # OSC ... BEL or ST
    | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]) [^\x1b\x9c]* (?:\x1b\\|\x9c)?  # DCS/SOS/PM/APC ... ST
    | (?:\x1b\[|\x9b) [0-?]* [\x20-/]* [@-~]?                  # CSI
    | \x1b [\x20-/]* [0-~]?                                     # any other ESC sequence
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control(text: str) -> bool:
    """True when ``text`` holds any C0 or C1 control character (tab and newline included)."""
    return _CONTROL.search(text) is not None


def strip_control(text: str, *, keep: str = "") -> str:
    """``text`` without escape sequences and control characters, except those in ``keep``."""
    if not has_control(text):
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else "", text)


def one_line(text: str) -> str:
    """Display text for one line: escapes dropped, tabs and line breaks become spaces."""
    if not has_control(text):
        return text
    cleaned = strip_control(text, keep="\t\n\r\v\f")
    return re.sub(r"[\t\n\r\v\f]+", " ", cleaned).strip()


def visible(text: str) -> str:
    """``text`` with every control character written out as ``\\xNN``: safe to print."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
