"""Starting tasks: the one way every door and every trigger starts them.

- `request`: what a start asks for and what it answers (the types the doors speak).
- `resolve`: selectors to tasks, with the start filter and the caller's allow-list applied.
- `plan`: one or several requests checked and written in the caller's transaction.
- `service`: `StartService`, which commits starts (together when they arrive together),
  replays idempotency keys, waits when asked, and hands the new executions to the executor.
"""
