"""Schedules in the core: defining and changing them (`service`), writing one schedule's row
(`changes`), when one fires next (`slots`), and firing what is due (`firing`)."""
