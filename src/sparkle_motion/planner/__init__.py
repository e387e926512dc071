"""Planning: the draft schema an LLM fills in, the built-in offline planner model, and the
prompt template with its few-shot examples."""

# Part of every plan-cache key (see planner/plan_cache.py): a cached plan is reused only
# while this is unchanged. Bump it with EVERY change that can change the plan written for
# the same idea: the offline planner (story.py, offline.py), the prompt (prompt.py), the
# draft-to-plan conversion (draft.py), script_agent's callbacks, or how a MoviePlan is
# normalised (types.py). A stale number serves yesterday's plan to today's code.
PLANNER_VERSION = "6"
