"""qa_qwen2vl FunctionTool: entrypoint.py (the spec's signature) and one module per backend."""
