"""tts_chatterbox FunctionTool: entrypoint.py (the spec's signature) and one module per backend."""
