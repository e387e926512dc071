"""FunctionTools: one package per tool, each with an ``entrypoint`` module (the spec's API)."""
