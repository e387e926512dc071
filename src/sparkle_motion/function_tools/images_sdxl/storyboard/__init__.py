"""Illustrated storyboard frames without a model: OpenMoji pictures over painted places.

``compose(prompt, seed, width, height)`` reads the prompt's subjects (``subjects``), its
place, time and weather (``settings``), paints the place (``backgrounds``, ``paint``) and
puts the pictures where they belong (``compose``); pictures the font lacks are drawn from
shapes (``shapes``). Pictures: OpenMoji (CC BY-SA 4.0), see ``glyphs.ATTRIBUTION``.
"""

from sparkle_motion.function_tools.images_sdxl.storyboard.compose import Frame, Placement, compose

__all__ = ["Frame", "Placement", "compose"]
