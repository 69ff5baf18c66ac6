"""The service: start, abort, wait, tasks, keys and the event bus. Doors call only this."""
