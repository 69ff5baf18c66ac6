"""Prometheus metrics: counted from the event bus, with gauges read at scrape time."""
