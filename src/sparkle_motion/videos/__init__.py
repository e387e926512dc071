"""videos_agent's parts: the chunk plan (``chunks``, pure), reassembly and frame grabs
(``reassembly``, ffmpeg) and the per-chunk failure ladder (``attempts``).

``sparkle_motion.videos_agent`` puts them together; nothing here imports an agent.
"""
