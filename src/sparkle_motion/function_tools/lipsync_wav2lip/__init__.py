"""lipsync_wav2lip FunctionTool: entrypoint.py (the spec's signature) and one module per backend."""
