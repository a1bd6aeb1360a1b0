"""Tasks: problems, prompts, step splitting and the outcome check; `registry.get_task` builds one by name."""
