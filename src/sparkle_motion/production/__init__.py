"""How a plan is produced; ``sparkle_motion.production_agent`` is its public face.

- steps.py: one table of step kinds (tool, slots, option defaults, how each is called);
- jobs.py: a step job, the data one attempt needs, and what runs it on the other side;
- scheduler.py: the DAG over an injected executor, retries, skipping after failures;
- runner.py: one run's records, inputs, cache, and the movie at the end;
- assembly.py: the assembler's inputs and cache key, the movie and its QA;
- runs.py: run rows, heartbeat, liveness, dead-run cleanup, status.
"""
