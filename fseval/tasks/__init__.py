"""Tasks as data: task and prompt files, rendering prompts, cutting answers out of generations."""
