"""Schedules: what a schedule is (`spec`), when it fires (`cron`, `solar`, `triggers`), what a
late check does with missed slots (`misfire`), and the loop that fires them (`loop`)."""
