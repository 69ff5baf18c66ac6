"""Running executions: dispatcher, executors and the actions they run."""
