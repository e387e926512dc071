"""Sparkle Motion: one sentence in, a finished short movie out.

Importing the package is cheap: heavy modules (ADK runtime, torch, diffusers) load only
inside the code that needs them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sparkle-motion")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
