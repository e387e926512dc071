"""Licences: the one table of what each backend's weights and packaged assets allow.

The provenance manifest (production/manifest.py) reads it. A backend may say more about
one output than the table can (``metadata["licence"]``, ``metadata["commercial_use"]``,
e.g. the Wav2Lip full backend's ``research-only`` weights); its metadata wins. Kept small on
purpose: one row per (tool, profile) whose output reaches a movie, one per packaged asset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RESEARCH_ONLY = "research-only"


@dataclass(frozen=True)
class Licence:
    name: str
    commercial_use: bool
    source: str | None = None  # where the weights or assets come from

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


OWN = Licence("Apache-2.0 (sparkle-motion's own code, no model)", True)
UNKNOWN = Licence("unknown", True)

# (tool, profile) -> what its outputs may be used for
TOOLS: dict[tuple[str, str], Licence] = {
    ("images_sdxl", "full"): Licence(
        "CreativeML Open RAIL++-M", True, "stabilityai/stable-diffusion-xl-base-1.0"
    ),
    ("images_sdxl", "preview"): Licence("CC BY-SA 4.0 (OpenMoji pictures)", True, "OpenMoji"),
    ("videos_wan", "full"): Licence("Apache-2.0", True, "Wan-AI (Wan 2.x)"),
    ("videos_wan", "preview"): OWN,
    ("tts_chatterbox", "full"): Licence("MIT", True, "ResembleAI/chatterbox"),
    ("tts_chatterbox", "preview"): Licence("GPL-3.0 (eSpeak NG; its speech is yours)", True),
    ("lipsync_wav2lip", "full"): Licence(RESEARCH_ONLY, False, "Rudrabha/Wav2Lip (LRS2)"),
    ("lipsync_wav2lip", "preview"): OWN,
}

# packaged assets a movie may carry
ASSETS: dict[str, dict[str, str]] = {
    "openmoji": {"name": "OpenMoji", "licence": "CC BY-SA 4.0", "url": "https://openmoji.org"},
    "espeak-ng": {
        "name": "eSpeak NG",
        "licence": "GPL-3.0",
        "url": "https://github.com/espeak-ng/espeak-ng",
    },
    "noto-cjk": {
        "name": "Noto Sans CJK",
        "licence": "OFL-1.1",
        "url": "https://github.com/notofonts/noto-cjk",
    },
}


def licence_of(tool: str | None, profile: str | None, meta: dict[str, Any]) -> Licence:
    """The licence of one step's output: its metadata's word, else the table's."""
    if tool is None:
        row = Licence("custom handler (yours)", True)
    elif profile == "fixture":
        row = Licence("test media (fixture)", True)
    else:
        row = TOOLS.get((tool, profile or ""), UNKNOWN)
    name = str(meta.get("licence") or meta.get("license") or row.name)
    commercial = meta.get("commercial_use")
    if not isinstance(commercial, bool):
        commercial = row.commercial_use and name != RESEARCH_ONLY
    return Licence(name, commercial, row.source)
