"""The Butler-compatible door: `/v4/...` as Butler's clients and load scripts call it."""
