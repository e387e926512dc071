"""Illustrated storyboard frames without a model: OpenMoji pictures over painted places.

``compose(prompt, seed, width, height)`` reads the prompt's subjects and how many of each
(``subjects``), its mood (``moods``), its place, time and weather (``settings``), paints the
place (``backgrounds``, ``paint``) and puts the pictures where they belong, sized for what
they are (``compose``); faces are redrawn for the mood (``faces``) and pictures the font
lacks are drawn from shapes (``shapes``). Pictures: OpenMoji (CC BY-SA 4.0), see
``glyphs.ATTRIBUTION``.
"""

from sparkle_motion.function_tools.images_sdxl.storyboard.compose import Frame, Placement, compose

__all__ = ["Frame", "Placement", "compose"]
