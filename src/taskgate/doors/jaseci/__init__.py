"""The Jaseci door (`/js/`): a Jaseci client starts, checks and waits on taskgate tasks, and
schedules walkers and sequences with Jaseci's schedule JSON (docs/jaseci.md)."""
