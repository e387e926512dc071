"""The HTTP service (``sparkle-motion serve``): FastAPI app, run pool, events, the page."""
