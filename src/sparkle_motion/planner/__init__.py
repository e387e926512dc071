"""Planning: the draft schema an LLM fills in, the built-in offline planner model, and the
prompt template with its few-shot examples."""
