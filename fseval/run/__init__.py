"""The run: the loop over tasks, shot counts and trials, and what it needs (demos, batching, storage, processes)."""
