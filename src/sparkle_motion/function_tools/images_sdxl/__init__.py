"""images_sdxl FunctionTool: entrypoint.py (the spec's signature) and one module per backend."""
